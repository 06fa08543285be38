"""`<Record>`, as Twilio's reference describes it (twilio.com/docs/voice/twiml/record): a beep (`playBeep`, default
true), then the caller's voice until they are silent for `timeout` seconds (default 5; 0: silence never ends it),
press a key of `finishOnKey` (default any of 1234567890*#), reach `maxLength` (default 3600 s, 120 s when
transcribed) or hang up. Twilio then requests `action` (default: the document's own URL) with RecordingUrl,
RecordingSid, RecordingDuration (before trimming) and Digits (the finish key, or 'hangup'); the verbs after a
`<Record>` are never reached. The caller's hang-up still requests `action`; what it answers is not executed.

Twilio's current reference says silent recordings are saved by default, so silence still requests `action` (the
older reference had Twilio skip an empty recording and fall through to the next verb). `recordingStatusCallback`
gets AccountSid, CallSid, RecordingSid, RecordingUrl, RecordingStatus, RecordingDuration (after `trim`, default
trim-silence), RecordingChannels (1) and RecordingSource (RecordVerb), for the `recordingStatusCallbackEvent`s
asked (in-progress, completed: the default). With `transcribe="true"`, recordings of more than 2 and less than 120
seconds are transcribed and `transcribeCallback` gets TranscriptionText (the words the caller said),
TranscriptionStatus, TranscriptionSid, TranscriptionUrl, RecordingSid and RecordingUrl with the standard parameters;
outside those lengths Twilio only logs a warning. The callbacks are posted before the action here (Twilio posts them
when the recording is processed, usually after it).

The caller's turn at a `<Record>`: `say` (speech, about 2.5 words a second), `press` (keys: a finish key ends the
recording, others are recorded tones), `speak(wav)` (an audio file, measured), `silence`, `hang_up`. After speech or
keys the caller falls silent: with a `timeout` that ends the recording, without one it goes on (`call.waiting`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from ivr.testing.sim.exchange import recording_url, sid
from ivr.testing.sim.grammar import flag, number
from ivr.testing.sim.model import Event, Recorder, Recording, Scope, Source
from ivr.testing.sim.transport import join

if TYPE_CHECKING:
    from ivr.testing.sim.call import Call

WORDS_PER_SECOND = 2.5
TRANSCRIBED = (2, 120)  # seconds: Twilio transcribes recordings longer than 2 s and shorter than 120 s


def start(call: Call, verb: ET.Element, rest: list[ET.Element], url: str, scope: Scope) -> bool:
    transcribe = flag(verb.get("transcribe"), False)
    callback = verb.get("recordingStatusCallback")
    recorder = Recorder(
        action=join(url, verb.get("action") or url), method=verb.get("method", "POST").upper(), rest=rest, url=url,
        scope=scope, kind="record", input=frozenset({"dtmf", "speech"}),
        finish_on_key=verb.get("finishOnKey", "1234567890*#"), timeout=number(verb.get("timeout"), 5),
        max_length=number(verb.get("maxLength"), 120 if transcribe else 3600, 1, 86400),
        trim=verb.get("trim", "trim-silence"), transcribe=transcribe,
        transcribe_callback=join(url, verb.get("transcribeCallback", "")) if verb.get("transcribeCallback") else None,
        status_callback=join(url, callback) if callback else None,
        status_method=verb.get("recordingStatusCallbackMethod", "POST").upper(),
        status_events=frozenset(verb.get("recordingStatusCallbackEvent", "completed").replace(",", " ").split()),
        sid=sid("RE"))
    beep = "plays a beep and records" if flag(verb.get("playBeep"), True) else "records"
    call.transcript.append(Event("twilio", f"{beep} the caller (maxLength {recorder.max_length} s, timeout "
                                           f"{recorder.timeout} s, finishOnKey {recorder.finish_on_key!r})"))
    if "in-progress" in recorder.status_events:
        _status(call, recorder, "in-progress", 0)
    call.waiting = recorder
    return True


def speech(call: Call, recorder: Recorder, text: str) -> None:
    recorder.parts.append(("speech", text, max(1, round(len(text.split()) / WORDS_PER_SECOND))))
    _then_silent(call, recorder)


def keys(call: Call, recorder: Recorder, pressed: str) -> None:
    for key in pressed:
        if key in recorder.finish_on_key:
            _end(call, recorder, key, "the caller pressed " + key)
            return
        recorder.parts.append(("keys", key, 0))
    _then_silent(call, recorder)


def audio(call: Call, recorder: Recorder, path: str, seconds: int) -> None:
    recorder.parts.append(("audio", path, seconds))
    _then_silent(call, recorder)


def silence(call: Call, recorder: Recorder) -> None:
    if recorder.timeout:
        _end(call, recorder, "", f"{recorder.timeout} s of silence", silent=recorder.timeout)
    else:  # nothing ends it but maxLength
        _end(call, recorder, "", f"maxLength {recorder.max_length} s", silent=recorder.max_length)


def hung_up(call: Call, recorder: Recorder) -> None:
    _end(call, recorder, "hangup", "the caller hung up")


def _then_silent(call: Call, recorder: Recorder) -> None:
    """The caller stops: the recording ends after `timeout` seconds of silence, or at maxLength, else goes on."""
    if _spoken(recorder) >= recorder.max_length:
        _end(call, recorder, "", f"maxLength {recorder.max_length} s")
    elif recorder.timeout:
        _end(call, recorder, "", f"{recorder.timeout} s of silence", silent=recorder.timeout)
    else:
        call.waiting = recorder


def _spoken(recorder: Recorder) -> int:
    return sum(seconds for _, _, seconds in recorder.parts)


def _end(call: Call, recorder: Recorder, digits: str, why: str, silent: int = 0) -> None:
    spoken = min(_spoken(recorder), recorder.max_length)
    duration = min(spoken + silent, recorder.max_length)
    kinds = [kind for kind, _, _ in recorder.parts]
    source: Source = "speech" if "speech" in kinds else "audio" if "audio" in kinds else "keys" if kinds else "silence"
    said = " ".join(what for kind, what, _ in recorder.parts if kind == source) if kinds else ""
    if source == "keys":
        said = said.replace(" ", "")
    rec_sid = recorder.sid
    url = recording_url(call.sim.account_sid, rec_sid)
    transcription = _transcribe(call, recorder, source, said, duration, url)
    call.seconds += duration
    call.recordings.append(Recording(url, rec_sid, duration, digits, source, said, transcription))
    call.transcript.append(Event("twilio", f"the recording ends ({why}): {duration} s, {url}"))
    if "completed" in recorder.status_events:
        _status(call, recorder, "completed", spoken if recorder.trim == "trim-silence" else duration)
    fields = {"RecordingUrl": url, "RecordingSid": rec_sid, "RecordingDuration": str(duration)}
    if digits:
        fields["Digits"] = digits
    if call.ended:  # the caller hung up: Twilio still requests the action; what it answers is not executed
        call._post(recorder.action, recorder.method, fields, action=True)
    else:
        call._fetch(recorder.action, recorder.method, fields, recorder.scope)


def _status(call: Call, recorder: Recorder, status: str, duration: int) -> None:
    if recorder.status_callback:
        rec_sid = recorder.sid
        call._post(recorder.status_callback, recorder.status_method, {}, only={
            "AccountSid": call.sim.account_sid, "CallSid": call.sid, "RecordingSid": rec_sid,
            "RecordingUrl": recording_url(call.sim.account_sid, rec_sid), "RecordingStatus": status,
            "RecordingDuration": str(duration), "RecordingChannels": "1", "RecordingSource": "RecordVerb"})


def _transcribe(call: Call, recorder: Recorder, source: str, said: str, duration: int, url: str) -> str | None:
    if not recorder.transcribe:
        return None
    if not TRANSCRIBED[0] < duration < TRANSCRIBED[1]:
        call.transcript.append(Event("twilio", f"warning: a {duration} s recording is not transcribed (Twilio "
                                               f"transcribes {TRANSCRIBED[0]}-{TRANSCRIBED[1]} s)"))
        return None
    text = said if source == "speech" else ""  # the simulator has no recogniser for audio files
    if recorder.transcribe_callback:
        tr_sid = sid("TR")
        call._post(recorder.transcribe_callback, "POST", {
            "TranscriptionSid": tr_sid, "TranscriptionText": text,
            "TranscriptionStatus": "completed" if text else "failed",
            "TranscriptionUrl": f"https://api.twilio.com/2010-04-01/Accounts/{call.sim.account_sid}/Transcriptions/"
                                f"{tr_sid}", "RecordingSid": recorder.sid, "RecordingUrl": url})
    return text or None
