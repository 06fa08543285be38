"""A recording split into the caller's turns: speech by energy against the line's own noise floor, key tones as
digits, or a directory of per-turn clips.

`split` finds the caller's turns by energy in the speech band (250-3500 Hz) relative to the recording's *own*
noise floor, because phone lines are never silent: a fixed threshold that works on a clean file hears line noise
as speech, or misses speech at 5 dB SNR. Speech starts at Otsu's split between the quiet and loud frame levels
(at least a few dB over the floor, a low percentile), and goes on down to halfway there. A turn that is key
tones becomes digits (see `ivr.speech.dtmf`) instead of speech. A recording may also be a directory of per-turn
clips, one turn each.

A recording is read a window at a time (`WINDOW` seconds, with `MARGIN` seconds of context either side; see
`ivr.speech.audio.windows`): only each frame's energy and the turns' own audio are kept for the whole call, so a
2-hour call splits in about 100 MB, where reading it whole peaked at 5.6 GB (bench/long_recording_memory.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ivr.errors import AudioError
from ivr.speech import dtmf
from ivr.speech.audio import CALLER_CHANNEL, FORMATS, Audio, FloatArray, Sound, clips, load, open_audio, windows
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
#: a long recording is read and split a window at a time: each window's own WINDOW seconds with MARGIN seconds of
#: context either side (a key press is found whole in the window where it starts; one held longer is joined up)
WINDOW, MARGIN = 20.0, 2.5


def _band_power(samples: FloatArray, rate: int, first: int, frames: int) -> npt.NDArray[np.float64]:
    """Speech-band power of `frames` 20 ms frames every 10 ms, the first starting at sample `first`."""
    n, hop = round(FRAME * rate), round(HOP * rate)
    x = samples[first:first + (frames - 1) * hop + n].astype(np.float64)
    x = np.pad(x, (0, max(0, (frames - 1) * hop + n - len(x))))
    windowed = np.lib.stride_tricks.sliding_window_view(x, n)[::hop] * np.hanning(n)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    band = (freqs >= BAND[0]) & (freqs <= BAND[1])
    return (np.abs(np.fft.rfft(windowed, axis=1)[:, band]) ** 2).sum(axis=1) / n  # type: ignore[no-any-return]


def _frame_count(samples: int, rate: int) -> int:
    n, hop = round(FRAME * rate), round(HOP * rate)
    return max(0, samples - n) // hop + 1


def _db(power: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Smoothed over 50 ms, in dB."""
    return 10 * np.log10(np.convolve(power, np.ones(5) / 5, mode="same") + 1e-12)


def band_energy_db(samples: FloatArray, rate: int) -> npt.NDArray[np.float64]:
    """Energy (dB) in the speech band of 20 ms frames every 10 ms, smoothed over 50 ms."""
    return _db(_band_power(samples, rate, 0, _frame_count(len(samples), rate)))


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
    return _spans(band_energy_db(samples, rate), how, ignore)


def _spans(db: npt.NDArray[np.float64], how: Splitting,
           ignore: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
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


def _scan(sound: Sound) -> tuple[list[Tone], npt.NDArray[np.float64]]:
    """The key presses in `sound` and its speech-band energy (dB a frame), read at 8 kHz a window at a time, so
    that memory grows with the window, not the recording: each window's own frames and the presses that start
    in its own part (a press that runs on past its window's end is joined with its rest in the next)."""
    rate, hop = dtmf.RATE, round(HOP * dtmf.RATE)
    total = _frame_count(round(sound.frames * rate / sound.sample_rate), rate)
    power: list[npt.NDArray[np.float64]] = []
    keys: list[Tone] = []
    for w in windows(sound.part, sound.frames, sound.sample_rate, rate, WINDOW, MARGIN, align=math.lcm(hop, dtmf.HOP)):
        first, last = w.start // hop, min(-(-w.end // hop), total)
        if last > first:
            power.append(_band_power(w.samples, rate, first * hop - w.offset, last - first))
        at = w.offset / rate
        for tone in (Tone(t.key, t.start + at, t.end + at) for t in dtmf.tones(w.samples)):
            if tone.start * rate >= w.start:
                if tone.start * rate < w.end:
                    keys.append(tone)
            elif keys and keys[-1].key == tone.key and tone.start <= keys[-1].end and tone.end > keys[-1].end:
                keys[-1] = Tone(tone.key, keys[-1].start, tone.end)  # the rest of a press held past a window
    return keys, _db(np.concatenate(power) if power else np.zeros(0))


def detect_dtmf(audio: Sound) -> list[Tone]:
    """The key presses in `audio` (Goertzel at 8 kHz; see `ivr.speech.dtmf`), each once, in order."""
    return _scan(audio)[0]


def split(audio: Sound, how: Splitting = Splitting()) -> list[Utterance]:
    """The caller's utterances in `audio` (an `Audio`, or an `AudioFile` read a window at a time), in order:
    speech, or key presses (a run of tones less than `how.key_gap` apart), each with `how.padding` seconds of
    audio around it."""
    keys, db = _scan(audio)  # the phone band is all a caller's side needs, and DTMF is found at 8 kHz
    margin = 0.06  # a tone's smoothed energy spills this far beyond it
    spans = _spans(db, how, [(t.start - margin, t.end + margin) for t in keys]) if len(db) else []
    found: list[tuple[float, float, str | None]] = [(s, e, None) for s, e in spans]
    for start, end in _merge(((t.start, t.end) for t in keys), how.key_gap):
        found.append((start, end, "".join(t.key for t in keys if start <= t.start and t.end <= end)))
    duration = audio.frames / audio.sample_rate
    return [Utterance(s, e, audio.cut(max(0.0, s - how.padding), min(duration, e + how.padding)), digits)
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
        return [clip_utterance(load(clip) if channel is None else load(clip).channel(channel), how)
                for clip in found]
    with open_audio(path) as file:  # read a window at a time: memory does not grow with the call
        return split(file if channel is None else file.channel(channel), how)
