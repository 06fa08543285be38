"""Caller audio made from a call script: offline text-to-speech, DTMF tones, silences, and a telephone line.

`render` turns a script's caller side (`say`, `press`, `silence`; `hang up` ends it) into one recording of the
caller's channel, and says when each turn is in it, so tests can check that `ivr.speech.split.split` finds them again.
Speech comes from espeak-ng (the default) or flite, run as programs; neither needs a network or a model
download. Piper's neural voice is not offered: it needs the piper-tts runtime besides the voice package.

`telephone` is the line a real caller is heard through: a 300-3400 Hz band, 8 kHz, G.711 mu-law. `add_noise`
adds white or pink noise over the whole recording at a signal-to-noise ratio measured the way the dev corpus
does (speech: the mean power of the 20 ms frames within 40 dB of the loudest; noise: its mean power), but on the
band the listener gets: with `phone`, the noise goes through the same band-pass before the ratio is set.
Random noise comes from a seeded generator, so a seed always gives the same file.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ivr.errors import AudioError, UsageError
from ivr.speech import dtmf
from ivr.speech.audio import Audio, FloatArray, fast_length, load
from ivr.speech.wav import ULAW, mu_law_codes

ENGINES = {"espeak": ("espeak-ng", "en-us"), "flite": ("flite", "slt")}
RATE = 16000
PEAK = 0.7  # -3 dBFS: every turn, speech or tones, peaks here
NOISES = ("white", "pink")


class Instruction(Protocol):
    """A call script step (`ivr.testing.scripts.Instruction`): its kind and value."""

    @property
    def kind(self) -> str: ...

    @property
    def value(self) -> Any: ...


@dataclass(frozen=True)
class Voice:
    engine: str  # espeak | flite
    name: str

    @classmethod
    def parse(cls, spec: str) -> Voice:
        """`espeak`, `flite`, `espeak:VOICE` (e.g. en-us+f3) or `flite:VOICE` (e.g. kal, slt, rms)."""
        engine, _, name = spec.partition(":")
        if engine not in ENGINES:
            raise UsageError(f"voice {spec!r}: unknown engine {engine!r}; use one of {sorted(ENGINES)}, "
                             "optionally with ':VOICE' (espeak:en-us+f3, flite:kal)")
        if name and not re.fullmatch(r"[A-Za-z0-9_+.-]+", name):
            raise UsageError(f"voice {spec!r}: {name!r} is not a voice name")
        return cls(engine, name or ENGINES[engine][1])


@dataclass(frozen=True)
class Span:
    """One caller step in a rendered recording: what (say/press/silence), and from when to when (seconds)."""

    kind: str
    value: str
    start: float
    end: float


@dataclass(frozen=True)
class Rendering:
    audio: Audio
    turns: tuple[Span, ...]

    @property
    def speech(self) -> Audio:
        """The recording with only its spoken turns (key tones silenced): what a noise's SNR is measured against.
        A caller who only presses keys: the tones."""
        spoken = [t for t in self.turns if t.kind == "say"]
        if not spoken:
            return self.audio
        rate, keep = self.audio.sample_rate, np.zeros(len(self.audio.samples), bool)
        for t in spoken:
            keep[round(t.start * rate):round(t.end * rate)] = True
        return Audio.mono(np.where(keep, self.audio.samples, 0), rate, self.audio.name)


def _program(engine: str) -> str:
    program = ENGINES[engine][0]
    found = shutil.which(program)
    if found is None:
        raise AudioError(f"{program}: not installed; on Debian: apt-get install {program}")
    return found


def speak(text: str, voice: Voice = Voice("espeak", "en-us")) -> Audio:
    """`text` spoken by `voice`, at 16 kHz, without the engine's silence before and after, peaking at -3 dBFS."""
    program = _program(voice.engine)
    with tempfile.TemporaryDirectory(prefix="ivr-synth-") as tmp:
        source, out = Path(tmp) / "text.txt", Path(tmp) / "speech.wav"
        source.write_text(text + "\n", encoding="utf-8")
        if voice.engine == "espeak":
            command = [program, "-v", voice.name, "-f", str(source), "-w", str(out)]
        else:
            known = subprocess.run([program, "-lv"], capture_output=True, text=True, check=False).stdout
            voices = known.partition(":")[2].split()
            if voice.name not in voices:  # flite would quietly fall back to its default voice
                raise UsageError(f"voice 'flite:{voice.name}': flite has no voice {voice.name!r}; voices: {voices}")
            command = [program, "-voice", voice.name, "-f", str(source), "-o", str(out)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode or not out.exists():
            why = (done.stderr or done.stdout).strip().splitlines()
            raise AudioError(f"{voice.engine}:{voice.name}: could not speak {text!r}: "
                             + (why[-1] if why else f"exit status {done.returncode}"))
        audio = load(out).resample(RATE)
    return Audio.mono(_trimmed(audio.samples) * PEAK / max(float(np.abs(audio.samples).max()), 1e-9), RATE,
                      f"{voice.engine}:{voice.name}")


def _trimmed(x: FloatArray, below_peak_db: float = 45.0) -> FloatArray:
    loud = np.flatnonzero(np.abs(x) > np.abs(x).max() * 10 ** (-below_peak_db / 20))
    if not len(loud):
        return x[:0]
    return x[loud[0]:loud[-1] + 1]


def synthesise(steps: Sequence[Instruction], voice: Voice = Voice("espeak", "en-us"), *, gap: float = 1.5,
           silence: float = 6.0, tone: float = 0.1, tone_gap: float = 0.1) -> Rendering:
    """The caller's side of `steps` at 16 kHz: each turn `gap` seconds after the one before (the IVR speaks
    then), a `silence` step `silence` seconds of nothing, keys as `tone`-second DTMF tones `tone_gap` apart;
    `gap` seconds of quiet before the first turn and after the last."""
    parts: list[FloatArray] = []
    turns: list[Span] = []
    at = 0.0
    spoken: dict[str, FloatArray] = {}
    for step in steps:
        if step.kind == "hang up":
            break
        if step.kind not in ("say", "press", "silence"):
            continue
        parts.append(np.zeros(round(gap * RATE), np.float32))
        at += gap
        if step.kind == "say":
            text = str(step.value)
            if text not in spoken:
                spoken[text] = speak(text, voice).samples
            sound = spoken[text]
        elif step.kind == "press":
            text = str(step.value)
            sound = dtmf.synthesize(text, RATE, tone, tone_gap, PEAK)
        else:
            text, sound = "", np.zeros(round(silence * RATE), np.float32)
        parts.append(sound)
        turns.append(Span(step.kind, text, at, at + len(sound) / RATE))
        at += len(sound) / RATE
    parts.append(np.zeros(round(gap * RATE), np.float32))
    return Rendering(Audio.mono(np.concatenate(parts), RATE, "synth"), tuple(turns))


def _shaped(x: FloatArray, rate: int, low: float | None, high: float | None) -> FloatArray:
    """`x` through a zero-phase Butterworth-shaped band-pass (magnitude only, applied to its spectrum): 4th order
    below the band, 8th above it (a PCM codec's anti-aliasing filter is steep: G.712 wants -14 dB at 4 kHz)."""
    size = fast_length(len(x))  # zero-padded: fast, and nothing wraps round from the end to the start
    spectrum = np.fft.rfft(x.astype(np.float64), size)
    f = np.maximum(np.fft.rfftfreq(size, 1 / rate), 1e-9)
    gain = np.ones_like(f)
    if low:
        gain /= np.sqrt(1 + (low / f) ** 8)
    if high:
        gain /= np.sqrt(1 + (f / high) ** 16)
    return np.fft.irfft(spectrum * gain, size)[:len(x)].astype(np.float32)


def mu_law(x: FloatArray) -> FloatArray:
    """`x` quantised to the 256 levels of G.711 mu-law (what a phone line carries), as float samples."""
    return ULAW[mu_law_codes(x)]


def telephone(audio: Audio) -> Audio:
    """`audio` as a phone line carries it: 300-3400 Hz, 8 kHz, mu-law."""
    banded = Audio.mono(_shaped(audio.samples, audio.sample_rate, 300.0, 3400.0), audio.sample_rate, audio.name)
    narrow = banded.resample(8000)
    return Audio.mono(mu_law(np.clip(narrow.samples, -1.0, 1.0)), 8000, audio.name)


def speech_power(x: FloatArray, rate: int) -> float:
    """Mean power of the 20 ms frames within 40 dB of the loudest (pauses and silence left out)."""
    n = round(0.02 * rate)
    frames = x[:len(x) // n * n].astype(np.float64).reshape(-1, n)
    power = (frames**2).mean(axis=1)
    return float(power[power >= power.max() * 1e-4].mean()) if len(power) else 0.0


def add_noise(audio: Audio, snr_db: float, seed: int = 0, kind: str = "white", band: bool = False,
              reference: Audio | None = None) -> Audio:
    """`audio` plus `kind` noise over all of it, `snr_db` below the speech power of `reference` (default: the
    audio itself; a rendered call passes its speech alone, so that loud key tones do not set the level).
    `band`: the noise is shaped to the phone band first, and the ratio is measured there (the listener's band)."""
    if kind not in NOISES:
        raise UsageError(f"noise {kind!r}: use one of {list(NOISES)}")
    rng = np.random.default_rng(seed)
    x, rate = audio.samples, audio.sample_rate
    noise = rng.standard_normal(len(x))
    if kind == "pink":  # 1/f power: scale the spectrum by 1/sqrt(f)
        size = fast_length(len(x))
        spectrum = np.fft.rfft(rng.standard_normal(size))
        spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
        spectrum[0] = 0
        noise = np.fft.irfft(spectrum, size)[:len(x)]
    shaped = _shaped(noise.astype(np.float32), rate, 300.0, 3400.0) if band else noise.astype(np.float32)
    speech = (reference or audio).samples
    power = speech_power(_shaped(speech, rate, 300.0, 3400.0) if band else speech, rate)
    scale = np.sqrt(power / 10 ** (snr_db / 10) / max(float(np.mean(shaped.astype(np.float64) ** 2)), 1e-20))
    return Audio.mono(np.clip(x + shaped * scale, -1.0, 1.0), rate, audio.name)


def line(rendering: Rendering | Audio, phone: bool = False, noise_snr: float | None = None, seed: int = 0,
         noise: str = "white") -> Audio:
    """The caller's audio as recorded: noise added on the caller's side (`noise_snr` dB below the speech), then
    the telephone channel."""
    audio = rendering.audio if isinstance(rendering, Rendering) else rendering
    if noise_snr is not None:
        reference = rendering.speech if isinstance(rendering, Rendering) else None
        audio = add_noise(audio, noise_snr, seed, noise, band=phone, reference=reference)
    return telephone(audio) if phone else audio
