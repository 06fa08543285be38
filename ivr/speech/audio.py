"""Recorded caller audio: decode it, pick the caller's channel, resample it, save it.

The only module that imports pydub (which decodes MP3, FLAC, OGG and unusual WAVs with ffmpeg). WAV in PCM,
float, mu-law and A-law is read by `ivr.speech.wav` directly, which is faster and tells a truncated file (the header
promises more audio than the file holds) from a short one; for the other formats ffprobe's promised length does.
Everything a person can get wrong with a file is an `AudioError` naming the file; `load_all` goes on past bad
files and reports them.

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
import json
import math
import re
import subprocess
import warnings
import wave
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

import numpy as np
import numpy.typing as npt

from ivr.errors import AudioError
from ivr.speech.wav import ULAW, mu_law_codes, mu_law_wav, read_wav

with warnings.catch_warnings():  # pydub imports audioop, deprecated since Python 3.11 (audioop-lts on 3.13+)
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError

__all__ = ["CALLER_CHANNEL", "FORMATS", "RECOGNISER_RATE", "ULAW", "Audio", "AudioError", "Batch", "clips",
           "load", "load_all", "mu_law_codes", "save"]

FloatArray = npt.NDArray[np.float32]
T = TypeVar("T")

FORMATS = (".flac", ".mp3", ".ogg", ".wav")
CALLER_CHANNEL = 0  # Twilio dual-channel recordings: the parent call (the caller, on an inbound call) comes first
RECOGNISER_RATE = 16000


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

    @cached_property
    def samples(self) -> FloatArray:
        if self.picked is not None:
            return self.tracks[self.picked]
        if len(self.tracks) == 1:
            return self.tracks[0]
        mixed: FloatArray = np.mean(self.tracks, axis=0, dtype=np.float32)
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
        if not 0 <= n < self.channels:
            have = "1 channel (0)" if self.channels == 1 else f"{self.channels} channels (0-{self.channels - 1})"
            raise AudioError(f"{self.source}: no channel {n}: the file has {have}")
        return Audio(self.tracks, self.sample_rate, self.source, n)

    def resample(self, rate: int = RECOGNISER_RATE) -> Audio:
        """Every channel at `rate` Hz (band-limited: nothing above the lower rate's Nyquist frequency survives)."""
        if rate == self.sample_rate:
            return self
        return Audio(tuple(_resample(t, self.sample_rate, rate) for t in self.tracks), rate, self.source, self.picked)

    def cut(self, start: float, end: float) -> Audio:
        """The part from `start` to `end` seconds (mono: the samples only)."""
        a, b = max(0, round(start * self.sample_rate)), max(0, round(end * self.sample_rate))
        return Audio.mono(self.samples[a:b].copy(), self.sample_rate, self.name)

    def pcm16(self) -> npt.NDArray[np.int16]:
        return (np.clip(self.samples, -1.0, 32767 / 32768) * 32768).round().astype(np.int16)

    def to_wav_bytes(self) -> bytes:
        """`samples` as a mono 16-bit PCM WAV file, at this rate."""
        out = io.BytesIO()
        with wave.open(out, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self.sample_rate)
            w.writeframes(self.pcm16().tobytes())
        return out.getvalue()


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


# -- reading ----------------------------------------------------------------------------------------------------

def load(path: str | Path) -> Audio:
    """Decode a WAV (PCM, float, mu-law, A-law), MP3, FLAC or OGG file; every problem is an `AudioError`."""
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
        data = path.read_bytes()
    except OSError as exc:
        raise AudioError(f"{name}: cannot read: {exc.strerror}") from None
    if not data:
        raise AudioError(f"{name}: empty file (0 bytes)")
    tracks, rate = (read_wav(data, name) if suffix == ".wav" else None) or _decode(path, suffix)
    if not len(tracks[0]):
        raise AudioError(f"{name}: no audio in the file (0 samples)")
    return Audio(tracks, rate, name)


def _decode(path: Path, suffix: str) -> tuple[tuple[FloatArray, ...], int]:
    """ffprobe for the codec and the length the container promises, then pydub (ffmpeg) to decode."""
    name, kind = str(path), suffix[1:].upper()
    try:
        probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a", "-show_entries",
                                "stream=codec_name:format=duration", "-of", "json", name],
                               capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise AudioError(f"{name}: reading {kind} needs ffmpeg, which is not installed (Debian: apt-get install "
                         "ffmpeg)") from None
    info = json.loads(probe.stdout or "{}")
    streams = info.get("streams") or []
    if probe.returncode or not streams:
        reason = _ffmpeg_reason(probe.stderr, name) if probe.returncode else "no audio stream"
        raise AudioError(f"{name}: corrupt, or not a valid {kind} file (ffmpeg: {reason})")
    try:
        segment = AudioSegment.from_file(name, codec=streams[0]["codec_name"])
    except CouldntDecodeError as exc:
        reason = _ffmpeg_reason(str(exc), name)
        raise AudioError(f"{name}: corrupt, or not a valid {kind} file (ffmpeg: {reason})") from None
    pcm = np.array(segment.get_array_of_samples(), dtype=np.float32) / 2.0 ** (8 * segment.sample_width - 1)
    frames = pcm.astype(np.float32).reshape(-1, segment.channels)
    held, promised = len(frames) / segment.frame_rate, _float(info.get("format", {}).get("duration", ""))
    if promised is not None and promised - held > max(0.25, 0.05 * promised):  # MP3 encoders pad up to ~0.1 s
        raise AudioError(f"{name}: truncated: the {kind} header promises {promised:.2f} s of audio but only "
                         f"{held:.2f} s decode")
    return tuple(np.ascontiguousarray(frames[:, c]) for c in range(segment.channels)), int(segment.frame_rate)


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _ffmpeg_reason(stderr: str, name: str) -> str:
    """ffmpeg's own words for what is wrong: its last line about the file, else its last error line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    about = [line.removeprefix(f"{name}: ") for line in lines if line.startswith(f"{name}: ")]
    errors = [re.sub(r"^\[[^]]*\]\s*", "", line) for line in lines if line.startswith("[") or "rror" in line]
    return (about or errors or ["ffmpeg could not read it"])[-1]


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
