"""Recorded caller audio: decode it, pick the caller's channel, resample it, split it into utterances, find DTMF.

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

`split` finds the caller's turns by energy in the speech band (250-3500 Hz) relative to the recording's *own*
noise floor, because phone lines are never silent: a fixed threshold that works on a clean file hears line noise
as speech, or misses speech at 5 dB SNR. Speech starts at Otsu's split between the quiet and loud frame levels
(at least a few dB over the floor, a low percentile), and goes on down to halfway there. A turn that is key
tones becomes digits (see `ivr.speech.dtmf`) instead of speech. A recording may also be a directory of per-turn clips.
"""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import warnings
import wave
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

import numpy as np
import numpy.typing as npt

from ivr.errors import AudioError
from ivr.speech import dtmf
from ivr.speech.dtmf import Tone
from ivr.speech.wav import ULAW, mu_law_codes, mu_law_wav, read_wav

with warnings.catch_warnings():  # pydub imports audioop, deprecated since Python 3.11 (audioop-lts on 3.13+)
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError

__all__ = ["CALLER_CHANNEL", "FORMATS", "RECOGNISER_RATE", "ULAW", "Audio", "AudioError", "Batch", "Splitting",
           "Tone", "Utterance", "clip_utterance", "detect_dtmf", "load", "load_all", "mu_law_codes", "recording",
           "save", "split"]

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


def _clips(directory: Path) -> list[Path]:
    """A directory's audio clips in name order, numbers compared as numbers (turn2 before turn10)."""
    def key(p: Path) -> list[tuple[int, int | str]]:
        return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", p.name.lower())]
    return sorted((p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in FORMATS), key=key)


# -- splitting --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Utterance:
    """One turn of the caller: when it starts and ends in the recording (seconds, before padding), its audio
    (padded), and the keys pressed when it is key tones. A per-turn clip with nothing in it is silence."""

    start: float
    end: float
    audio: Audio = field(repr=False)
    digits: str | None = None
    silent: bool = False

    @property
    def kind(self) -> str:
        return "silence" if self.silent else "dtmf" if self.digits is not None else "speech"


@dataclass(frozen=True)
class Splitting:
    """How `split` decides (times in seconds, levels in dB)."""

    min_speech: float = 0.12  # shorter bursts are clicks and noise, not words
    min_silence: float = 0.6  # pauses inside a sentence are shorter; turns are further apart
    key_gap: float = 1.0  # key presses closer than this are one entry (people key in numbers slowly)
    padding: float = 0.3  # audio kept around each utterance for the recogniser: weak ends (the "s" of "yes" is
    # mostly above the phone band) and never more than half the least pause, so clips of two turns cannot overlap
    floor_percentile: float = 10.0  # the noise floor: this percentile of the frame energies
    min_contrast: float = 6.0  # speech stands at least this far above the floor, or there is none
    min_start: float = 3.0  # speech starts at least this far above the floor ...
    stay: float = 0.5  # ... and goes on down to this fraction of the way from the floor to where it starts
    dynamic_range: float = 45.0  # the floor is taken to be at most this far below the loudest frame


FRAME, HOP, BAND = 0.02, 0.01, (250.0, 3500.0)


def band_energy_db(samples: FloatArray, rate: int) -> npt.NDArray[np.float64]:
    """Energy (dB) in the speech band of 20 ms frames every 10 ms, smoothed over 50 ms."""
    n, hop = round(FRAME * rate), round(HOP * rate)
    x = np.pad(samples.astype(np.float64), (0, max(0, n - len(samples))))
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop] * np.hanning(n)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    band = (freqs >= BAND[0]) & (freqs <= BAND[1])
    power = (np.abs(np.fft.rfft(frames, axis=1)[:, band]) ** 2).sum(axis=1) / n
    power = np.convolve(power, np.ones(5) / 5, mode="same")
    return 10 * np.log10(power + 1e-12)


def otsu(db: npt.NDArray[np.float64]) -> float:
    """The level that best splits frame energies into two classes (noise, speech): Otsu's threshold."""
    counts, edges = np.histogram(db, bins=max(8, int((db.max() - db.min()) / 0.5)))
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(counts)[:-1]
    w1 = len(db) - w0
    s0 = np.cumsum(counts * centres)[:-1]
    m0, m1 = s0 / np.maximum(w0, 1), (float((counts * centres).sum()) - s0) / np.maximum(w1, 1)
    return float(edges[1:-1][np.argmax(w0 * w1 * (m0 - m1) ** 2)])


def _regions(active: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[first, last] frame of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], active.astype(np.int8), [0]))))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _merge(spans: Iterable[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start - merged[-1][1] < gap:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def speech_spans(samples: FloatArray, rate: int, how: Splitting = Splitting(),
                 ignore: Sequence[tuple[float, float]] = ()) -> list[tuple[float, float]]:
    """(start, end) seconds of the speech in mono `samples`, outside the `ignore` spans (key tones)."""
    db = band_energy_db(samples, rate)
    keep = np.ones(len(db), bool)  # the frames that are neither key tones nor their spill
    for start, end in ignore:
        keep[max(0, int(start / HOP)):max(0, int(end / HOP) + 1)] = False
    if not keep.any():
        return []
    top = float(db[keep].max())
    db = np.maximum(db, top - how.dynamic_range)  # digital silence is no floor to measure from
    floor = float(np.percentile(db[keep], how.floor_percentile))
    if np.percentile(db[keep], 99) - floor < how.min_contrast:
        return []
    start = max(otsu(db[keep]), floor + how.min_start)
    loud, quiet = (db > start) & keep, (db > floor + how.stay * (start - floor)) & keep
    # hysteresis: a run of `quiet` frames is speech when some frame of it is `loud`, or when it is close to one
    # that is (the weak first syllable of "cancel" at 5 dB SNR)
    runs = [(a * HOP, b * HOP + FRAME, bool(loud[a:b + 1].any())) for a, b in _regions(quiet)]
    strong = [(s, e) for s, e, is_loud in runs if is_loud]
    near = how.min_silence / 2
    weak = [(s, e) for s, e, is_loud in runs
            if not is_loud and any(s - near < se and ss < e + near for ss, se in strong)]
    return [(s, e) for s, e in _merge(strong + weak, how.min_silence) if e - s >= how.min_speech]


def detect_dtmf(audio: Audio) -> list[Tone]:
    """The key presses in `audio` (Goertzel at 8 kHz; see `ivr.speech.dtmf`), each once, in order."""
    return dtmf.tones(audio.resample(dtmf.RATE).samples)


def split(audio: Audio, how: Splitting = Splitting()) -> list[Utterance]:
    """The caller's utterances in `audio`, in order: speech, or key presses (a run of tones less than
    `how.key_gap` apart), each with `how.padding` seconds of audio around it."""
    narrow = audio.resample(dtmf.RATE)  # the phone band is all a caller's side needs, and DTMF is found at 8 kHz
    keys = dtmf.tones(narrow.samples)
    margin = 0.06  # a tone's smoothed energy spills this far beyond it
    spans = speech_spans(narrow.samples, narrow.sample_rate, how, [(t.start - margin, t.end + margin) for t in keys])
    found: list[tuple[float, float, str | None]] = [(s, e, None) for s, e in spans]
    for start, end in _merge(((t.start, t.end) for t in keys), how.key_gap):
        found.append((start, end, "".join(t.key for t in keys if start <= t.start and t.end <= end)))
    return [Utterance(s, e, audio.cut(max(0.0, s - how.padding), min(audio.duration, e + how.padding)), digits)
            for s, e, digits in sorted(found, key=lambda f: f[0])]


def clip_utterance(audio: Audio, how: Splitting = Splitting()) -> Utterance:
    """A per-turn clip as one utterance: its keys if it is key tones, silence if nothing stands out of its noise,
    else speech (all of the clip)."""
    found = split(audio, how)
    if not found:
        return Utterance(0.0, audio.duration, audio, silent=True)
    keys = [u for u in found if u.digits is not None]
    if keys and all(u.digits is not None for u in found):
        return Utterance(found[0].start, found[-1].end, audio, "".join(u.digits or "" for u in keys))
    return Utterance(found[0].start, found[-1].end, audio)


def recording(path: str | Path, channel: int | None = CALLER_CHANNEL, how: Splitting = Splitting()) -> list[Utterance]:
    """The caller's turns in a recording: a file split by silence, or a directory of per-turn clips (in name
    order, one turn each). `channel`: the caller's channel (None: the mix of all channels)."""
    path = Path(path)
    if path.is_dir():
        clips = _clips(path)
        if not clips:
            raise AudioError(f"{path}: no audio clips ({', '.join(FORMATS)}) in this directory")
        return [clip_utterance(_pick(load(clip), channel), how) for clip in clips]
    return split(_pick(load(path), channel), how)


def _pick(audio: Audio, channel: int | None) -> Audio:
    return audio if channel is None else audio.channel(channel)


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
