"""Recorded caller audio: open it, pick the caller's channel, resample it, save it, a part at a time.

The only module that imports pydub (which writes MP3, FLAC and OGG with ffmpeg). Files are read by
`ivr.speech.wav`: WAV in PCM, float, mu-law and A-law directly, its header checked before anything is allocated,
a truncated file (the header promises more audio than the file holds) told from a short one; the other formats
(and WAV encodings it does not know) through ffmpeg, into a temporary WAV file read the same way. Everything a
person can get wrong with a file is an `AudioError` naming the file; `load_all` goes on past bad files and
reports them.

A long call is never decoded whole on the way to its turns: `open_audio` gives an `AudioFile`, which reads the
picked channel a part at a time, and `windows` resamples it a window at a time (what `ivr.speech.split` reads),
so memory does not grow with the call's length (bench/long_recording_memory.py). `load` decodes a whole file.

An `Audio` is a frozen value: every channel of the source as float32 in [-1, 1], the rate, where it came from,
and which channel is "the" samples. Twilio's dual-channel recordings put the two legs of a call in separate
channels, the first channel holding the parent call: for a call *to* the IVR, that is the caller (the inbound
track), and the second channel is what the IVR and any agent said; conference recordings likewise put the first
participant in the first channel. So the caller is usually channel 0 (`CALLER_CHANNEL`); `--caller-channel`
picks another. A mono file's only channel is the caller's side.

Splitting a recording into the caller's turns is `ivr.speech.split`.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
import wave
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO, Generic, NamedTuple, Protocol, TypeVar, overload

import numpy as np
import numpy.typing as npt

from ivr.errors import AudioError
from ivr.speech.wav import ULAW, WavHeader, decode, mu_law_codes, mu_law_wav, read_frames, read_header

with warnings.catch_warnings():  # pydub imports audioop, deprecated since Python 3.11 (audioop-lts on 3.13+)
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    from pydub import AudioSegment

__all__ = ["CALLER_CHANNEL", "FORMATS", "RECOGNISER_RATE", "ULAW", "Audio", "AudioError", "AudioFile", "Batch",
           "Sound", "clips", "load", "load_all", "mu_law_codes", "open_audio", "save", "windows"]

FloatArray = npt.NDArray[np.float32]
T = TypeVar("T")

FORMATS = (".flac", ".mp3", ".ogg", ".wav")
CALLER_CHANNEL = 0  # Twilio dual-channel recordings: the parent call (the caller, on an inbound call) comes first
RECOGNISER_RATE = 16000
PART = 1 << 18  # frames decoded at a time: 33 s at 8 kHz
WHOLE = 1 << 20  # samples resampled in one FFT; longer ones a window at a time (the same within -50 dB)


class Sound(Protocol):
    """What `ivr.speech.split` reads: the picked channel a part at a time, and the audio of a span."""

    @property
    def sample_rate(self) -> int: ...
    @property
    def frames(self) -> int: ...
    @property
    def name(self) -> str: ...
    def part(self, start: int, count: int) -> FloatArray: ...
    def cut(self, start: float, end: float) -> Audio: ...


@dataclass(frozen=True, eq=False)
class Audio:
    """Audio as a value: `tracks` holds every channel of the source (float32, [-1, 1]); `samples` is the picked
    channel, or the only one, or (no channel picked) the mean of all of them."""

    tracks: tuple[FloatArray, ...]
    sample_rate: int
    source: str = "<audio>"
    picked: int | None = None

    def __post_init__(self) -> None:
        for track in self.tracks:
            track.setflags(write=False)

    @classmethod
    def mono(cls, samples: npt.ArrayLike, sample_rate: int, source: str = "<audio>") -> Audio:
        return cls((np.array(samples, dtype=np.float32),), sample_rate, source)  # a copy: it becomes read-only

    @property
    def channels(self) -> int:
        return len(self.tracks)

    @property
    def frames(self) -> int:
        return len(self.tracks[0]) if self.tracks else 0

    @cached_property
    def samples(self) -> FloatArray:
        if self.picked is not None:
            return self.tracks[self.picked]
        if len(self.tracks) == 1:
            return self.tracks[0]
        mixed = self.tracks[0].copy()  # summed in place: no stack of every channel
        for track in self.tracks[1:]:
            mixed += track
        mixed /= len(self.tracks)
        mixed.setflags(write=False)
        return mixed

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def name(self) -> str:
        return self.source if self.picked is None else f"{self.source} (channel {self.picked})"

    def channel(self, n: int) -> Audio:
        """The same audio with channel `n` (0-based) as its samples."""
        _has_channel(self.source, self.channels, n)
        return Audio(self.tracks, self.sample_rate, self.source, n)

    def part(self, start: int, count: int) -> FloatArray:
        return self.samples[max(0, start):max(0, start + count)]

    def resample(self, rate: int = RECOGNISER_RATE) -> Audio:
        """Every channel at `rate` Hz (band-limited: nothing above the lower rate's Nyquist frequency survives)."""
        if rate == self.sample_rate:
            return self
        return Audio(tuple(resample(t, self.sample_rate, rate) for t in self.tracks), rate, self.source, self.picked)

    def cut(self, start: float, end: float) -> Audio:
        """The part from `start` to `end` seconds (mono: the samples only)."""
        a, b = max(0, round(start * self.sample_rate)), max(0, round(end * self.sample_rate))
        return Audio.mono(self.samples[a:b], self.sample_rate, self.name)

    def pcm16(self) -> npt.NDArray[np.int16]:
        out = np.empty(len(self.samples), np.int16)
        for a in range(0, len(out), PART):  # a part at a time: no float copies of the whole
            out[a:a + PART] = (np.clip(self.samples[a:a + PART], -1.0, 32767 / 32768) * 32768).round()
        return out

    def to_wav_bytes(self) -> bytes:
        """`samples` as a mono 16-bit PCM WAV file, at this rate."""
        out = io.BytesIO()
        with wave.open(out, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self.sample_rate)
            w.writeframes(self.pcm16().tobytes())
        return out.getvalue()


def _has_channel(source: str, channels: int, n: int) -> None:
    if not 0 <= n < channels:
        have = "1 channel (0)" if channels == 1 else f"{channels} channels (0-{channels - 1})"
        raise AudioError(f"{source}: no channel {n}: the file has {have}")


class AudioFile:
    """A recording opened to be read a part at a time: its header checked, nothing decoded until asked for. A
    `Sound`; `whole()` decodes every channel. Made by `open_audio`; close it (or use it in a `with`)."""

    def __init__(self, source: str, file: BinaryIO, header: WavHeader, picked: int | None = None) -> None:
        self.source, self.file, self.header, self.picked = source, file, header, picked

    @property
    def sample_rate(self) -> int:
        return self.header.rate

    @property
    def frames(self) -> int:
        return self.header.frames

    @property
    def channels(self) -> int:
        return self.header.channels

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    @property
    def name(self) -> str:
        return self.source if self.picked is None else f"{self.source} (channel {self.picked})"

    def channel(self, n: int) -> AudioFile:
        """The same file with channel `n` (0-based) as its samples."""
        _has_channel(self.source, self.channels, n)
        return AudioFile(self.source, self.file, self.header, n)

    def part(self, start: int, count: int) -> FloatArray:
        """Frames `start` to `start + count` (as many as there are) of the picked channel, or of the mix."""
        block = read_frames(self.file, self.header, start, count)
        if self.picked is not None or self.channels == 1:
            return np.ascontiguousarray(block[:, self.picked or 0])
        mixed: FloatArray = block.mean(axis=1, dtype=np.float32)
        return mixed

    def cut(self, start: float, end: float) -> Audio:
        """The part from `start` to `end` seconds (mono: the samples only)."""
        a, b = max(0, round(start * self.sample_rate)), max(0, round(end * self.sample_rate))
        return Audio.mono(self.part(a, b - a), self.sample_rate, self.name)

    def whole(self) -> Audio:
        """Every channel, decoded (float32, a part at a time into one array)."""
        out = np.empty((self.channels, self.frames), np.float32)
        for a in range(0, self.frames, PART):
            out[:, a:a + PART] = read_frames(self.file, self.header, a, PART).T
        return Audio(tuple(out), self.sample_rate, self.source, self.picked)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> AudioFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fast_length(n: int) -> int:
    """The least 2^a 3^b 5^c >= n: FFT lengths with large prime factors are up to 20x slower."""
    best, p2 = 2 * max(n, 1), 1
    while p2 < 2 * n:
        p3 = p2
        while p3 < 2 * n:
            p5 = p3
            while p5 < n:
                p5 *= 5
            best = min(best, p5)
            p3 *= 3
        p2 *= 2
    return best


def _resample(x: FloatArray, old: int, new: int) -> FloatArray:
    """FFT resampling: keep the spectrum below both Nyquist frequencies, nothing else (no aliasing, no images).
    The input is padded with silence to k * old/g samples (g: the rates' gcd), k a fast FFT length, so that the
    output has exactly k * new/g."""
    m = round(len(x) * new / old)
    if len(x) == 0 or m == 0:
        return np.zeros(m, np.float32)
    g = math.gcd(old, new)
    k = fast_length(-(-len(x) // (old // g)))
    n_in, n_out = k * (old // g), k * (new // g)
    spectrum = np.fft.rfft(x.astype(np.float64), n_in)
    kept = np.zeros(n_out // 2 + 1, np.complex128)
    n = min(len(kept), len(spectrum))
    kept[:n] = spectrum[:n]
    return (np.fft.irfft(kept, n_out)[:m] * (n_out / n_in)).astype(np.float32)


def resample(x: FloatArray, old: int, new: int) -> FloatArray:
    """`x` at `new` Hz instead of `old`: one FFT up to `WHOLE` samples, else a window at a time (`windows`)."""
    if len(x) <= WHOLE:
        return _resample(x, old, new)
    out = np.empty(round(len(x) * new / old), np.float32)
    for w in windows(lambda a, n: x[a:a + n], len(x), old, new, own=30.0, margin=1.0):
        out[w.start:w.end] = w.samples[w.start - w.offset:w.end - w.offset]
    return out


class Window(NamedTuple):
    """Samples `offset` onwards of a sound at some rate; the window's own part is `start` to `end` (the rest is
    context, as the next and previous windows have their own part)."""

    start: int
    end: int
    offset: int
    samples: FloatArray


def windows(part: Callable[[int, int], FloatArray], frames: int, old: int, new: int, own: float, margin: float,
            align: int = 1) -> Iterator[Window]:
    """The `frames` samples `part(start, count)` reads, at `new` Hz instead of `old`, a window at a time: own
    parts of about `own` seconds with `margin` seconds of context either side, each resampled on its own: a
    second of context keeps the result within -50 dB of one FFT over the whole (white noise, the worst case:
    an ideal low-pass reaches far). Own parts start at multiples of `align` samples at `new` Hz, so that frames
    of a hop dividing `align` fall alike in every window."""
    g = math.gcd(old, new)
    step = math.lcm(new // g, align)
    size, context = step * max(1, round(own * new / step)), step * max(1, math.ceil(margin * new / step))
    total = round(frames * new / old)
    for start in range(0, total, size):
        first = max(0, start - context) * old // new  # exact: multiples of new/g at `new` are of old/g at `old`
        last = min(frames, (start + size + context) * old // new)
        x = part(first, last - first)
        yield Window(start, min(start + size, total), first * new // old, x if old == new else _resample(x, old, new))


# -- reading ----------------------------------------------------------------------------------------------------

def open_audio(path: str | Path, longest: float | None = None) -> AudioFile:
    """Open a WAV (PCM, float, mu-law, A-law), MP3, FLAC or OGG file to read it a part at a time, its header
    checked; `longest`: the most seconds it may hold (default: `ivr.speech.wav.longest_seconds()`). Every
    problem is an `AudioError`."""
    path = Path(path)
    name = str(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise AudioError(f"{name}: is a directory, not an audio file")
    if not path.exists():
        raise AudioError(f"{name}: no such file")
    if suffix not in FORMATS:
        what = f"format {suffix!r}" if suffix else "file (no extension)"
        raise AudioError(f"{name}: unsupported audio {what}; supported: {', '.join(FORMATS)}")
    try:
        file: BinaryIO = path.open("rb")
    except OSError as exc:
        raise AudioError(f"{name}: cannot read: {exc.strerror}") from None
    try:
        size = os.fstat(file.fileno()).st_size
        if not size:
            raise AudioError(f"{name}: empty file (0 bytes)")
        header = read_header(file, size, name, longest) if suffix == ".wav" else None
        if header is None or not header.decoded:
            file.close()
            file, header = decode(path, suffix[1:].upper(), longest)
        if not header.frames:
            raise AudioError(f"{name}: no audio in the file (0 samples)")
    except BaseException:
        file.close()
        raise
    return AudioFile(name, file, header)


def load(path: str | Path, longest: float | None = None) -> Audio:
    """Decode a whole WAV (PCM, float, mu-law, A-law), MP3, FLAC or OGG file; every problem is an `AudioError`."""
    with open_audio(path, longest) as file:
        return file.whole()


def clips(directory: Path) -> list[Path]:
    """A directory's audio clips in name order, numbers compared as numbers (turn2 before turn10)."""
    def key(p: Path) -> list[tuple[int, int | str]]:
        return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", p.name.lower())]
    return sorted((p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in FORMATS), key=key)


# -- many files, and writing --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Batch(Generic[T]):
    """What a batch made of each file that worked, and the error of each that did not."""

    done: tuple[tuple[str, T], ...]
    failed: tuple[AudioError, ...]

    @property
    def ok(self) -> bool:
        return not self.failed


@overload
def load_all(paths: Iterable[str | Path]) -> Batch[Audio]: ...
@overload
def load_all(paths: Iterable[str | Path], read: Callable[[Path], T]) -> Batch[T]: ...


def load_all(paths: Iterable[str | Path], read: Callable[[Path], Any] = load) -> Batch[Any]:
    """`read` (default: `load`; or `recording`) each path; a bad file is reported and the batch goes on."""
    done: list[tuple[str, Any]] = []
    failed: list[AudioError] = []
    for path in paths:
        try:
            done.append((str(path), read(Path(path))))
        except AudioError as exc:
            failed.append(exc)
    return Batch(tuple(done), tuple(failed))


def save(audio: Audio, path: str | Path, mu_law: bool = False) -> Path:
    """Write `audio.samples` (mono) by the file's extension: WAV (16-bit PCM, or 8-bit G.711 mu-law as Twilio
    records calls), MP3, FLAC or OGG (Vorbis)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise AudioError(f"{path}: unsupported audio format {suffix!r}; supported: {', '.join(FORMATS)}")
    if mu_law and suffix != ".wav":
        raise AudioError(f"{path}: mu-law is a WAV encoding; name the file .wav")
    if suffix == ".wav":
        path.write_bytes(mu_law_wav(audio.samples, audio.sample_rate) if mu_law else audio.to_wav_bytes())
        return path
    segment = AudioSegment(audio.pcm16().tobytes(), sample_width=2, frame_rate=audio.sample_rate, channels=1)
    codec = {".mp3": "libmp3lame", ".flac": "flac", ".ogg": "libvorbis"}[suffix]
    segment.export(str(path), format=suffix[1:], codec=codec).close()
    return path
