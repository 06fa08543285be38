"""What a recogniser heard: the `Transcriber` protocol every engine follows, the frozen `Transcript` it returns,
and the helpers engines share (16 kHz PCM, a model's identity for the cache, checking a model directory).

A transcriber hears one utterance and returns a `Transcript`: the text, a confidence in 0..1 (None when nothing
was heard), word timings, and the engine and model that made it. The *phrases* are what the prompt accepts (a
`<Gather>`'s hints); each engine (`ivr.speech.vosk`, `ivr.speech.whisper`) uses them as IVR recognisers do.
`ivr.speech.choose.get_transcriber` picks one, and `ivr.speech.cache` remembers what it heard.
"""

from __future__ import annotations

import io
import math
import wave
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from ivr.errors import SttError
from ivr.speech.audio import Audio

T = TypeVar("T")

RATE = 16000
Pcm16 = npt.NDArray[np.int16]
#: what a transcriber hears: an `ivr.speech.audio.Audio` (any rate), 16 kHz mono int16 samples, or a 16 kHz mono
#: 16-bit PCM WAV file's bytes
AudioInput = Audio | Pcm16 | bytes
ENGINES = ("vosk", "whisper")
#: how a transcript marks speech outside the grammar (a no-match for the flow, not silence)
UNKNOWN = "[unk]"
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
class Alternative:
    """One text an engine weighed for an utterance: its log-probability given the audio (nats, the decoder's own
    score read without any bias toward the prompt's phrases) and how it was found, as `source:rank` tags:
    `free:0` the best of a free decoding, `hotwords:1` the second best of one biased toward the phrases,
    `hotwords30:0` the biased decoding of Whisper's 30 s window, `phrase` an accepted phrase on its own,
    `alike` a heard span replaced by the phrase it sounds like. `ivr.speech.decide` turns them into a decision."""

    text: str
    score: float
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Transcript:
    """What an engine heard in one utterance. Empty text: nothing was said (the flow hears silence).
    `alternatives`: every text weighed against the audio, when the engine weighs (Whisper at a prompt with
    phrases); empty otherwise."""

    text: str
    confidence: float | None = None
    words: tuple[Word, ...] = ()
    engine: str = ""
    model: str = ""
    alternatives: tuple[Alternative, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Transcript:
        """The transcript `to_json` wrote; ValueError (or KeyError, TypeError) on anything else."""
        text, engine, model = (_typed(data[k], str) for k in ("text", "engine", "model"))
        words = tuple(Word(_typed(w["word"], str), _number(w["start"]), _number(w["end"]),
                           _number(w["confidence"], True)) for w in _typed(data["words"], list))
        alternatives = tuple(
            Alternative(_typed(a["text"], str), _score(a["score"]),
                        tuple(_typed(s, str) for s in _typed(a["sources"], list)))
            for a in _typed(data.get("alternatives", []), list))
        return cls(text, _number(data["confidence"], True), words, engine, model, alternatives)


def _typed(value: Any, kind: type[T]) -> T:
    if not isinstance(value, kind):
        raise ValueError(f"{value!r} is not a {kind.__name__}")
    return value


def _score(value: Any) -> float:
    """A log-probability: a finite number or minus infinity (a text the decoder rules out)."""
    if value == -math.inf:
        return -math.inf
    return float(_number(value))


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


class Wrapper:
    """A transcriber around another (`inner`), with its engine, model and identity: a cache, a memo."""

    def __init__(self, inner: Transcriber) -> None:
        self.inner = inner

    @property
    def engine(self) -> str:
        return self.inner.engine

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def identity(self) -> str:
        return self.inner.identity


def pcm16(audio: AudioInput) -> Pcm16:
    """16 kHz mono int16 samples of `audio` (an `Audio` is resampled; samples and WAV bytes must be 16 kHz)."""
    if isinstance(audio, Audio):
        return audio.resample(RATE).pcm16()
    if isinstance(audio, bytes | bytearray | memoryview):
        return _wav16(bytes(audio))
    samples = np.asarray(audio)
    if samples.dtype != np.int16 or samples.ndim != 1:
        raise SttError(f"audio samples must be a 1-D int16 array at {RATE} Hz (mono); got {samples.dtype} of "
                       f"shape {samples.shape}: read files with ivr.speech.audio.load")
    return samples


def _wav16(data: bytes) -> Pcm16:
    try:
        with wave.open(io.BytesIO(data)) as w:
            rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise SttError(f"audio bytes are not a PCM WAV file ({exc}): read other files with "
                       "ivr.speech.audio.load") from None
    if (rate, channels, width) != (RATE, 1, 2):
        raise SttError(f"WAV audio must be {RATE} Hz mono 16-bit PCM; got {rate} Hz, {channels} channel(s), "
                       f"{8 * width}-bit: read it with ivr.speech.audio.load, which resamples")
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
