"""DTMF key tones: find them in 8 kHz audio (Goertzel over the eight frequencies) and make them.

Pure numpy on sample arrays; `ivr.speech.split.detect_dtmf` is the entry point that takes an `Audio`. A frame holds a
key when both of its tones are there and nothing else is (the checks of ITU-T Q.24 receivers, which keep speech
from "talking off" a digit):

- the strongest low-group and the strongest high-group frequency carry most of the frame's energy;
- each beats the other frequencies of its group by a clear margin (one key, not a chord or a vowel's harmonics);
- their levels differ by no more than the allowed twist;
- neither has a strong second harmonic (a sung or spoken vowel does; a sine pair does not).

Frames overlap (26 ms blocks every 5 ms), so a key press shows as a run of frames; runs of one key are joined
across a few frames lost to noise and kept only when they last as long as a real press (45 ms or more) and
start or end in quiet (a vowel that looks like a key for a moment is surrounded by the rest of the word).

Measured (tests/speech/test_audio.py and docs/benchmarks.md): every key, 50 ms tones and longer, exact on 8 kHz
mu-law down to 3 dB SNR (100 ms tones down to 0 dB); no digit from any of 314 dev speech clips or 216 synthesised
ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

RATE = 8000
LOW = (697.0, 770.0, 852.0, 941.0)
HIGH = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")  # KEYS[low][high]
ALL_KEYS = "".join(KEYS)
FRAME = 205  # 25.6 ms: the classic Goertzel block at 8 kHz; the eight frequencies sit near its bins
HOP = 40  # 5 ms
MIN_RATIO = 0.5  # the two tones' share of the frame's energy
GROUP_MARGIN = 4.0  # 6 dB: the winner over the runner-up of its group
MAX_TWIST_DB = (8.0, 6.0)  # low tone louder than high by up to 8 dB; high louder than low by up to 6 dB
MAX_HARMONIC = 0.1  # second harmonic at most -10 dB of its tone
MIN_FRAMES = 6  # frame centres spanning >= 25 ms: a tone of about 45 ms or more (keypads send 70 ms and more)
MIN_CONTRAST = 2.0  # dB: a tone over the quiet just before or just after it
MAX_DROPOUT = 6  # frames lost to noise inside a press that are bridged (a real 40 ms gap loses 8)


@dataclass(frozen=True)
class Tone:
    """One key press: the key, and when its tone starts and ends (seconds from the start of the audio)."""

    key: str
    start: float
    end: float


def _basis() -> npt.NDArray[np.complex128]:
    freqs = np.array(LOW + HIGH + tuple(2 * f for f in LOW + HIGH))
    n = np.arange(FRAME)[:, None]
    return np.exp(-2j * np.pi * freqs[None, :] * n / RATE)


_BASIS = _basis()


def frame_keys(samples: FloatArray) -> list[str | None]:
    """The key each 5 ms step of 8 kHz `samples` holds (None: no key), judged over the 26 ms from there."""
    if len(samples) < FRAME:
        return []
    x = samples.astype(np.float64)
    frames = np.lib.stride_tricks.sliding_window_view(x, FRAME)[::HOP]
    energy = np.einsum("ij,ij->i", frames, frames)
    power = np.abs(frames @ _BASIS) ** 2 * (2.0 / FRAME)  # the energy a sine at that frequency puts in the frame
    low, high = power[:, 0:4], power[:, 4:8]
    li, hi = low.argmax(axis=1), high.argmax(axis=1)
    rows = np.arange(len(frames))
    pl, ph = low[rows, li], high[rows, hi]
    low_rest = np.sort(low, axis=1)[:, -2]
    high_rest = np.sort(high, axis=1)[:, -2]
    twist = 10 * np.log10((ph + 1e-20) / (pl + 1e-20))
    ok = (
        (energy > 1e-7 * FRAME)  # quieter than -70 dBFS is nothing
        & (pl + ph >= MIN_RATIO * energy)
        & (pl >= GROUP_MARGIN * low_rest) & (ph >= GROUP_MARGIN * high_rest)
        & (twist >= -MAX_TWIST_DB[0]) & (twist <= MAX_TWIST_DB[1])
        & (power[:, 8:12][rows, li] <= MAX_HARMONIC * pl) & (power[:, 12:16][rows, hi] <= MAX_HARMONIC * ph)
    )
    return [KEYS[a][b] if good else None for a, b, good in zip(li.tolist(), hi.tolist(), ok.tolist(), strict=True)]


def tones(samples: FloatArray) -> list[Tone]:
    """The key presses in 8 kHz `samples`, in order: runs of one key's frames, debounced into one press each."""
    runs: list[tuple[str, int, int]] = []  # key, first frame, last frame
    for i, key in enumerate(frame_keys(samples)):
        if key is None:
            continue
        if runs and runs[-1][0] == key and i - runs[-1][2] <= MAX_DROPOUT + 1:
            runs[-1] = (key, runs[-1][1], i)
        else:
            runs.append((key, i, i))
    # a run's first and last frames are centred on the tone's edges
    found = [Tone(key, (first * HOP + FRAME / 2) / RATE, (last * HOP + FRAME / 2) / RATE)
             for key, first, last in runs if last - first + 1 >= MIN_FRAMES]
    return [t for t in found if _stands_out(samples, t)]


def _stands_out(samples: FloatArray, tone: Tone) -> bool:
    """A key press starts or ends in quiet (line noise, or the gap before the next key): the 25 ms just before
    it or just after it is MIN_CONTRAST dB quieter than the tone. A vowel that happens to look like a key for a
    moment is surrounded by the rest of the word."""
    def power(start: float, end: float) -> float:
        a, b = max(0, round(start * RATE)), min(len(samples), round(end * RATE))
        return float(np.mean(samples[a:b].astype(np.float64) ** 2)) if b > a else 0.0
    inside = power(tone.start, tone.end)
    around = min(power(tone.start - 0.035, tone.start - 0.01), power(tone.end + 0.01, tone.end + 0.035))
    return inside >= 10 ** (MIN_CONTRAST / 10) * around


def digits(found: list[Tone]) -> str:
    return "".join(t.key for t in found)


def synthesize(keys: str, rate: int, tone: float = 0.1, gap: float = 0.1, peak: float = 0.7) -> FloatArray:
    """The tones of `keys` (each `tone` seconds, `gap` seconds apart, none after the last), peaking at `peak`."""
    out: list[npt.NDArray[np.float64]] = []
    n = round(tone * rate)
    t = np.arange(n) / rate
    ramp = min(round(0.005 * rate), n // 2)  # 5 ms raised-cosine edges: no clicks, no splatter
    envelope = np.ones(n)
    if ramp:
        edge = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        envelope[:ramp], envelope[-ramp:] = edge, edge[::-1]
    for i, key in enumerate(keys):
        row = next((r for r, group in enumerate(KEYS) if key.upper() in group), None)
        if row is None:
            raise ValueError(f"{key!r} is not a DTMF key; keys: {ALL_KEYS!r}")
        col = KEYS[row].index(key.upper())
        out.append(peak / 2 * envelope * (np.sin(2 * np.pi * LOW[row] * t) + np.sin(2 * np.pi * HIGH[col] * t)))
        if i < len(keys) - 1:
            out.append(np.zeros(round(gap * rate)))
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)
