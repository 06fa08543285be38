"""A recording split into the caller's turns: speech by energy against the line's own noise floor, key tones as
digits, or a directory of per-turn clips.

`split` finds the caller's turns by energy in the speech band (250-3500 Hz) relative to the recording's *own*
noise floor, because phone lines are never silent: a fixed threshold that works on a clean file hears line noise
as speech, or misses speech at 5 dB SNR. Speech starts at Otsu's split between the quiet and loud frame levels
(at least a few dB over the floor, a low percentile), and goes on down to halfway there. A turn that is key
tones becomes digits (see `ivr.speech.dtmf`) instead of speech. A recording may also be a directory of per-turn
clips, one turn each.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ivr.errors import AudioError
from ivr.speech import dtmf
from ivr.speech.audio import CALLER_CHANNEL, FORMATS, Audio, FloatArray, clips, load
from ivr.speech.dtmf import Tone


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


#: a turn is clipped when this share of its samples sit at full scale (a line driven into distortion)
CLIPPED_SHARE, CLIP_LEVEL = 0.002, 0.9
#: a turn whose speech is quieter than this (RMS, dB below full scale) is near-silent: the recogniser hears noise
NEAR_SILENT_DB = -45.0
#: Twilio's `<Gather>` hears at most a minute of speech
GATHER_MAX_SPEECH = 60.0


def trouble(turn: Utterance, longest: float) -> list[str]:
    """What is wrong with a spoken turn's audio, in words: clipped, near-silent, or much longer than the prompt
    allows (`longest`: seconds of speech the prompt's longest accepted answer could take). Empty when nothing is."""
    found: list[str] = []
    samples = turn.audio.samples
    if not len(samples):
        return found
    peak = float(np.abs(samples).max())
    at_peak = float(np.mean(np.abs(samples) >= 0.99 * peak)) if peak >= CLIP_LEVEL else 0.0
    if at_peak >= CLIPPED_SHARE:
        found.append(f"clipped ({at_peak:.1%} of its samples at full scale)")
    level = 10 * np.log10(float(np.mean(np.square(samples, dtype=np.float64))) + 1e-20)
    if level < NEAR_SILENT_DB:
        found.append(f"near-silent (speech at {level:.0f} dBFS)")
    spoken = turn.end - turn.start
    if spoken > GATHER_MAX_SPEECH:
        found.append(f"{spoken:.0f} s long: Twilio's <Gather> hears at most {GATHER_MAX_SPEECH:.0f} s of speech")
    elif spoken > longest:
        found.append(f"{spoken:.1f} s long, much longer than any answer the prompt accepts (about {longest:.0f} s "
                     "at most)")
    return found


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
        found = clips(path)
        if not found:
            raise AudioError(f"{path}: no audio clips ({', '.join(FORMATS)}) in this directory")
        return [clip_utterance(_pick(load(clip), channel), how) for clip in found]
    return split(_pick(load(path), channel), how)


def _pick(audio: Audio, channel: int | None) -> Audio:
    return audio if channel is None else audio.channel(channel)
