"""Tests of `ivr.speech.audio` (and `ivr.speech.dtmf`): real audio only, made at test time with espeak-ng, sox and
ffmpeg (and the call renderer of `ivr.speech.synth`), plus the labelled dev clips in ../shared/audio-dev/ when
they are there.

Formats, channels and resampling are checked against what the tools wrote; splitting and DTMF against recordings
whose turns and keys are known, on clean audio and on 8 kHz mu-law phone audio with noise at 10 and 5 dB SNR.
Every bad file is one row of `BAD_FILES` with its exact message.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pytest

from ivr.errors import IvrError
from ivr.speech import dtmf, synth
from ivr.speech.audio import CALLER_CHANNEL, Audio, AudioError, load, load_all, save
from ivr.speech.split import Splitting, detect_dtmf, recording, split
from ivr.testing.scripts import Instruction
from tests.conftest import ROOT

DEV = Path(os.environ.get("IVR_AUDIO_DEV", ROOT.parent / "shared" / "audio-dev"))
SPEECH = "I want to cancel my service"


def run(*command: str | Path | float) -> None:
    subprocess.run([str(c) for c in command], check=True, capture_output=True)


def espeak(path: Path, text: str = SPEECH) -> Path:
    run("espeak-ng", "-v", "en-us", "-w", path, text)
    return path


def sox_keys(path: Path, keys: str, tone: float = 0.1, gap: float = 0.08, rate: int = 8000) -> Path:
    """Key tones made by sox, as the dev corpus makes them (an independent generator)."""
    parts = []
    work = path.parent / f".{path.stem}-keys"
    work.mkdir(exist_ok=True)
    for i, key in enumerate(keys):
        row = next(r for r, group in enumerate(dtmf.KEYS) if key in group)
        low, high = dtmf.LOW[row], dtmf.HIGH[dtmf.KEYS[row].index(key)]
        part = work / f"{i}.wav"
        run("sox", "-n", "-r", rate, "-c", 1, "-b", 16, part, "synth", tone, "sine", low, "synth", tone, "sine",
            "mix", high, "vol", 0.5, "pad", 0, gap)
        parts.append(part)
    run("sox", *parts, path, "pad", 0.3, 0.3)
    return path


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return espeak(tmp_path_factory.mktemp("speech") / "speech.wav")


# -- formats and channels ------------------------------------------------------------------------------------------

#: name -> (make the file from a 22.05 kHz PCM WAV, expected rate, least correlation with the original)
FORMATS: dict[str, tuple[Callable[[Path, Path], None], int, float]] = {
    "wav-pcm16": (lambda src, out: run("sox", src, out), 22050, 0.999),
    "wav-pcm24": (lambda src, out: run("sox", src, "-b", 24, out), 22050, 0.999),
    "wav-float": (lambda src, out: run("sox", src, "-e", "floating-point", "-b", 32, out), 22050, 0.999),
    "wav-mulaw-8k": (lambda src, out: run("sox", src, "-r", 8000, "-e", "mu-law", "-b", 8, out), 8000, 0.97),
    "wav-alaw-8k": (lambda src, out: run("sox", src, "-r", 8000, "-e", "a-law", "-b", 8, out), 8000, 0.97),
    "mp3": (lambda src, out: run("ffmpeg", "-v", "error", "-i", src, "-b:a", "64k", out), 22050, 0.97),
    "flac": (lambda src, out: run("sox", src, out), 22050, 0.999),
    "ogg": (lambda src, out: run("sox", src, out), 22050, 0.97),
}
SUFFIX = {"mp3": ".mp3", "flac": ".flac", "ogg": ".ogg"}


@pytest.mark.parametrize(("kind", "make", "rate", "least"), [(k, *v) for k, v in FORMATS.items()], ids=list(FORMATS))
def test_formats_decode(kind: str, make: Callable[[Path, Path], None], rate: int, least: float, speech: Path,
                        tmp_path: Path) -> None:
    out = tmp_path / f"clip{SUFFIX.get(kind, '.wav')}"
    make(speech, out)
    original, audio = load(speech), load(out)
    assert (audio.sample_rate, audio.channels, audio.source) == (rate, 1, str(out))
    assert audio.duration == pytest.approx(original.duration, abs=0.06)
    assert correlation(original.resample(rate).samples, audio.samples) >= least


@pytest.mark.parametrize(("suffix", "mu_law", "least"), [
    (".wav", False, 0.9999), (".wav", True, 0.99), (".mp3", False, 0.97), (".flac", False, 0.9999),
    (".ogg", False, 0.97),
], ids=["wav-pcm", "wav-mulaw", "mp3", "flac", "ogg"])
def test_save_round_trips(suffix: str, mu_law: bool, least: float, speech: Path, tmp_path: Path) -> None:
    original = load(speech).resample(8000 if mu_law else 16000)
    again = load(save(original, tmp_path / f"out{suffix}", mu_law=mu_law))
    assert (again.sample_rate, again.channels) == (original.sample_rate, 1)
    assert again.duration == pytest.approx(original.duration, abs=0.06)
    assert correlation(original.samples, again.samples) >= least
    if mu_law:  # G.711 mu-law in a WAV, format tag 7, as Twilio records
        assert (tmp_path / "out.wav").read_bytes()[20:22] == b"\x07\x00"


def test_to_wav_bytes_is_16_bit_mono_pcm(speech: Path, tmp_path: Path) -> None:
    audio = load(speech).resample(16000)
    data = audio.to_wav_bytes()
    assert data[:4] == b"RIFF"
    assert data[20:24] == b"\x01\x00\x01\x00"
    (tmp_path / "x.wav").write_bytes(data)
    assert np.array_equal(load(tmp_path / "x.wav").pcm16(), audio.pcm16())


@pytest.fixture(scope="module")
def dual(tmp_path_factory: pytest.TempPathFactory, speech: Path) -> Path:
    """A Twilio-style dual-channel recording: the caller's speech in channel 0, the IVR's key tones in channel 1."""
    tmp = tmp_path_factory.mktemp("dual")
    caller = tmp / "caller.wav"
    run("sox", speech, "-r", 8000, caller, "pad", 0.5, 1.5)
    ivr_side = sox_keys(tmp / "ivr.speech.wav", "123")
    out = tmp / "dual.wav"
    run("sox", "-M", caller, ivr_side, "-e", "mu-law", "-b", 8, out)
    return out


def test_dual_channel_recording_picks_the_callers_channel(dual: Path) -> None:
    audio = load(dual)
    assert audio.channels == 2
    assert audio.picked is None
    caller, other = audio.channel(CALLER_CHANNEL), audio.channel(1)
    assert caller.name == f"{dual} (channel 0)"
    assert [u.kind for u in split(caller)] == ["speech"]
    assert dtmf.digits(detect_dtmf(other)) == "123"
    assert detect_dtmf(caller) == []
    assert [u.digits for u in recording(dual, channel=1)] == ["123"]
    assert [u.kind for u in recording(dual)] == ["speech"]  # the caller's channel unless told otherwise
    assert np.allclose(audio.samples, (caller.samples + other.samples) / 2, atol=1e-6)  # no channel picked: the mix


@pytest.mark.parametrize(("channel", "message"), [
    (2, "no channel 2: the file has 2 channels (0-1)"),
    (-1, "no channel -1: the file has 2 channels (0-1)"),
])
def test_a_channel_the_file_does_not_have(dual: Path, channel: int, message: str) -> None:
    with pytest.raises(AudioError, match=f"^{re.escape(f'{dual}: {message}')}$"):
        load(dual).channel(channel)


def test_mono_has_only_channel_0(speech: Path) -> None:
    with pytest.raises(AudioError, match=re.escape(f"{speech}: no channel 1: the file has 1 channel (0)")):
        load(speech).channel(1)


def test_audio_is_a_frozen_value(speech: Path) -> None:
    audio = load(speech)
    with pytest.raises(FrozenInstanceError):
        audio.sample_rate = 8000  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        audio.samples[0] = 1.0


# -- resampling -----------------------------------------------------------------------------------------------------

def sox_tone(path: Path, rate: int, frequency: int) -> Audio:
    run("sox", "-n", "-r", rate, "-c", 1, "-b", 16, path, "synth", 1, "sine", frequency, "vol", 0.5)
    return load(path)


def spectrum(audio: Audio) -> tuple[np.ndarray, np.ndarray]:
    return np.fft.rfftfreq(len(audio.samples), 1 / audio.sample_rate), np.abs(np.fft.rfft(audio.samples)) ** 2


@pytest.mark.parametrize(("rate", "to"), [(8000, 16000), (16000, 8000), (22050, 16000), (44100, 8000),
                                          (48000, 16000)])
def test_resample_keeps_a_tone_its_pitch_and_level(rate: int, to: int, tmp_path: Path) -> None:
    audio = sox_tone(tmp_path / "tone.wav", rate, 1000)
    out = audio.resample(to)
    assert out.sample_rate == to
    assert len(out.samples) == round(len(audio.samples) * to / rate)
    freqs, power = spectrum(out)
    assert freqs[power.argmax()] == pytest.approx(1000, abs=1)
    assert np.sqrt(np.mean(out.samples[to // 10:-to // 10] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


@pytest.mark.parametrize(("rate", "frequency"), [(16000, 5000), (22050, 6000), (44100, 7000), (48000, 4500)])
def test_resample_to_8k_drops_what_8k_cannot_hold_instead_of_folding_it(rate: int, frequency: int,
                                                                         tmp_path: Path) -> None:
    out = sox_tone(tmp_path / "high.wav", rate, frequency).resample(8000)
    assert np.mean(out.samples**2) < 1e-6  # an aliasing resampler would leave a tone at 8000 - frequency


# -- splitting -------------------------------------------------------------------------------------------------------

CALL = [Instruction("say", "I want to cancel my service"), Instruction("press", "12345678#"),
        Instruction("say", "cancel"), Instruction("say", "no thanks, just cancel it"), Instruction("press", "9"),
        Instruction("say", "yes")]
#: condition -> what the line does to the caller's audio
CONDITIONS: dict[str, dict[str, object]] = {
    "clean": {},
    "phone": {"phone": True},
    "phone-white-10dB": {"phone": True, "noise_snr": 10.0},
    "phone-pink-10dB": {"phone": True, "noise_snr": 10.0, "noise": "pink"},
    "phone-white-5dB": {"phone": True, "noise_snr": 5.0},
    "phone-pink-5dB": {"phone": True, "noise_snr": 5.0, "noise": "pink"},
}


@pytest.fixture(scope="module", params=[("espeak", 1.5), ("flite", 0.8)], ids=["espeak-gap1.5", "flite-gap0.8"])
def rendered(request: pytest.FixtureRequest) -> synth.Rendering:
    voice, gap = request.param
    return synth.synthesise(CALL, synth.Voice.parse(voice), gap=gap)


@pytest.mark.parametrize("condition", list(CONDITIONS))
def test_split_finds_each_turn(rendered: synth.Rendering, condition: str, tmp_path: Path) -> None:
    options = CONDITIONS[condition]
    audio = synth.line(rendered, seed=7, **options)  # type: ignore[arg-type]
    path = save(audio, tmp_path / "call.wav", mu_law=bool(options.get("phone")))
    found = recording(path)
    assert [(u.kind, u.digits) for u in found] == [
        ("speech", None) if t.kind == "say" else ("dtmf", t.value) for t in rendered.turns]
    pad = Splitting().padding
    for u, turn in zip(found, rendered.turns, strict=True):
        # the padded clip holds the whole turn, and nothing of the turns around it
        assert turn.start - 0.5 <= u.start <= turn.start + pad
        assert turn.end - pad <= u.end <= turn.end + 0.5
        assert u.audio.duration == pytest.approx(min(u.end + pad, audio.duration) - max(u.start - pad, 0), abs=0.01)


@pytest.mark.parametrize(("min_silence", "expected"), [(0.6, 3), (2.0, 1)])
def test_pauses_shorter_than_min_silence_stay_in_one_utterance(min_silence: float, expected: int) -> None:
    said = [Instruction("say", "yes"), Instruction("say", "no"), Instruction("say", "maybe")]
    rendered = synth.synthesise(said, gap=1.0)
    assert len(split(rendered.audio, Splitting(min_silence=min_silence))) == expected


@pytest.mark.parametrize("noise", ["digital-silence", "whitenoise", "pinknoise", "brownnoise"])
def test_a_recording_without_the_caller_has_no_utterances(noise: str, tmp_path: Path) -> None:
    path = tmp_path / "line.wav"
    if noise == "digital-silence":
        run("sox", "-n", "-r", 8000, "-e", "mu-law", "-b", 8, path, "trim", 0, 3)
    else:
        run("sox", "-n", "-r", 8000, "-e", "mu-law", "-b", 8, path, "synth", 3, noise, "vol", 0.02)
    assert split(load(path)) == []


# -- DTMF ------------------------------------------------------------------------------------------------------------

KEYS = dtmf.ALL_KEYS + "1155##00"  # all 16 keys, then repeated keys that must stay separate presses


@pytest.mark.parametrize("noise", ["white", "pink"])
@pytest.mark.parametrize("snr", [None, 20.0, 10.0, 5.0])
@pytest.mark.parametrize("maker", ["sox", "ivr"])
def test_dtmf_all_keys_on_mu_law_phone_audio_with_noise(maker: str, snr: float | None, noise: str,
                                                        tmp_path: Path) -> None:
    if maker == "sox":
        clean = load(sox_keys(tmp_path / "keys.wav", KEYS, rate=16000))
    else:
        clean = Audio.mono(np.pad(dtmf.synthesize(KEYS, 16000, tone=0.07, gap=0.05), 4800), 16000)
    line = synth.line(clean, phone=True, noise_snr=snr, seed=3, noise=noise)
    audio = load(save(line, tmp_path / "line.wav", mu_law=True))
    assert audio.sample_rate == 8000
    assert dtmf.digits(detect_dtmf(audio)) == KEYS
    assert [(u.kind, u.digits) for u in split(audio)] == [("dtmf", KEYS)]


def test_keys_far_apart_are_separate_entries() -> None:
    gap = np.zeros(16000 * 2, np.float32)
    x = np.concatenate([gap, dtmf.synthesize("1", 16000), gap, dtmf.synthesize("42#", 16000), gap])
    assert [u.digits for u in split(Audio.mono(x, 16000))] == ["1", "42#"]


def test_tones_shorter_than_a_key_press_are_not_keys() -> None:
    x = np.pad(dtmf.synthesize("5", 8000, tone=0.02), 800)
    assert detect_dtmf(Audio.mono(x, 8000)) == []


def dev_clips(*intents: str) -> list[dict[str, str]]:
    if not (DEV / "labels.csv").exists():
        pytest.skip(f"no dev corpus at {DEV}")
    with (DEV / "labels.csv").open(newline="") as f:
        return [row for row in csv.DictReader(f) if row["intent"] in intents]


SPEECH_INTENTS = ("cancel", "billing", "agent", "tech", "yes", "no", "digits", "nearmiss")


def test_speech_is_not_mistaken_for_dtmf_on_a_few_dev_clips() -> None:
    rows = dev_clips(*SPEECH_INTENTS)[::20]  # every condition and voice comes round within 20 rows
    assert len(rows) >= 15
    assert {row["file"]: dtmf.digits(detect_dtmf(load(DEV / row["file"]))) for row in rows} == {
        row["file"]: "" for row in rows}


@pytest.mark.slow
def test_dev_corpus_speech_never_talks_off_a_digit_and_each_clip_is_one_utterance() -> None:
    rows = dev_clips(*SPEECH_INTENTS)
    talk_off = {row["file"]: d for row in rows if (d := dtmf.digits(detect_dtmf(load(DEV / row["file"]))))}
    assert talk_off == {}
    one = [row["file"] for row in rows if [u.kind for u in split(load(DEV / row["file"]))] == ["speech"]]
    assert len(one) >= 0.98 * len(rows)


@pytest.mark.slow
def test_dev_corpus_key_presses_are_read_exactly() -> None:
    rows = dev_clips("dtmf")
    got = {row["file"]: dtmf.digits(detect_dtmf(load(DEV / row["file"]))) for row in rows}
    assert got == {row["file"]: row["digits"] for row in rows}


# -- bad files and batches -------------------------------------------------------------------------------------------

def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _sine(path: Path) -> Path:
    """Exactly 2 s of a 440 Hz tone at 8 kHz, in the format the suffix says."""
    run("sox", "-n", "-r", 8000, "-c", 1, "-b", 16, path.with_suffix(".wav"), "synth", 2, "sine", 440, "vol", 0.5)
    if path.suffix != ".wav":
        run("ffmpeg", "-v", "error", "-i", path.with_suffix(".wav"), path)
    return path


def _cut(path: Path, keep: float) -> Path:
    data = _sine(path).read_bytes()
    return _write(path.with_name("cut" + path.suffix), data[:int(len(data) * keep)])


SECONDS = "{seconds}"  # where a lossy encoder decides the figure
#: id -> (make the file in a directory, its exact message after "<file>: ")
BAD_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing": (lambda tmp: tmp / "nothing.wav", "no such file"),
    "directory": (lambda tmp: tmp, "is a directory, not an audio file"),
    "empty": (lambda tmp: _write(tmp / "empty.wav", b""), "empty file (0 bytes)"),
    "unsupported": (lambda tmp: _write(tmp / "call.m4a", b"\0\0\0 ftypM4A "),
                    "unsupported audio format '.m4a'; supported: .flac, .mp3, .ogg, .wav"),
    "no-extension": (lambda tmp: _write(tmp / "call", b"RIFF"),
                     "unsupported audio file (no extension); supported: .flac, .mp3, .ogg, .wav"),
    "text-as-wav": (lambda tmp: _write(tmp / "notes.wav", b"these are my notes\n"),
                    "not a WAV file (no RIFF/WAVE header)"),
    "truncated-wav": (lambda tmp: _write(tmp / "cut.wav", _sine(tmp / "a.wav").read_bytes()[:44 + 8000]),
                      "truncated: the WAV header promises 2.00 s of audio but the file holds 0.50 s"),
    "header-only-wav": (lambda tmp: _write(tmp / "head.wav", _sine(tmp / "a.wav").read_bytes()[:44]),
                        "truncated: the WAV header promises 2.00 s of audio but the file holds 0.00 s"),
    "no-samples-wav": (lambda tmp: _write(tmp / "none.wav", Audio.mono([], 8000).to_wav_bytes()),
                       "no audio in the file (0 samples)"),
    "truncated-mp3": (lambda tmp: _cut(tmp / "a.mp3", 0.5),
                      f"truncated: the MP3 header promises {SECONDS} s of audio but only {SECONDS} s decode"),
    "truncated-flac": (lambda tmp: _cut(tmp / "a.flac", 0.5),
                       f"truncated: the FLAC header promises 2.00 s of audio but only {SECONDS} s decode"),
    "corrupt-flac": (lambda tmp: _cut(tmp / "a.flac", 0.02),
                     "corrupt, or not a valid FLAC file (ffmpeg: End of file)"),
    "random-mp3": (lambda tmp: _write(tmp / "noise.mp3", np.random.default_rng(0).bytes(3000)),
                   "corrupt, or not a valid MP3 file (ffmpeg: Invalid argument)"),
    "text-as-ogg": (lambda tmp: _write(tmp / "notes.ogg", b"these are my notes\n"),
                    "corrupt, or not a valid OGG file (ffmpeg: End of file)"),
    "text-as-mp3": (lambda tmp: _write(tmp / "notes.mp3", b"these are my notes\n" * 20),
                    "corrupt, or not a valid MP3 file (ffmpeg: Invalid argument)"),
}


@pytest.mark.parametrize(("make", "message"), BAD_FILES.values(), ids=list(BAD_FILES))
def test_a_bad_file_is_an_audio_error_naming_it(make: Callable[[Path], Path], message: str, tmp_path: Path) -> None:
    path = make(tmp_path)
    pattern = re.escape(f"{path}: {message}").replace(re.escape(SECONDS), r"\d+\.\d\d")
    with pytest.raises(AudioError, match=f"^{pattern}$") as caught:
        load(path)
    assert isinstance(caught.value, IvrError)
    assert caught.value.code == "bad-audio"


def test_a_batch_goes_on_past_bad_files_and_reports_them(speech: Path, tmp_path: Path) -> None:
    empty, missing = _write(tmp_path / "empty.wav", b""), tmp_path / "gone.mp3"
    flac = tmp_path / "speech.flac"
    run("sox", speech, flac)
    batch = load_all([speech, empty, flac, missing])
    assert [name for name, _ in batch.done] == [str(speech), str(flac)]
    assert [str(e) for e in batch.failed] == [f"{empty}: empty file (0 bytes)", f"{missing}: no such file"]
    assert not batch.ok
    assert all(isinstance(a, Audio) for _, a in batch.done)
    turns = load_all([speech, empty], recording)
    assert [len(u) for _, u in turns.done] == [1]
    assert len(turns.failed) == 1


# -- a recording as a directory of per-turn clips -------------------------------------------------------------------

def test_a_directory_of_per_turn_clips_is_one_turn_each_in_name_order(speech: Path, tmp_path: Path) -> None:
    turns = tmp_path / "call"
    turns.mkdir()
    run("sox", speech, "-r", 8000, "-e", "mu-law", "-b", 8, turns / "turn1.wav", "pad", 0.3, 0.3)
    sox_keys(turns / "turn2.wav", "12345678#")
    run("sox", "-n", "-r", 8000, "-b", 16, turns / "turn3.wav", "synth", 2, "whitenoise", "vol", 0.01)  # no answer
    espeak(turns / "turn10.wav", "yes")
    (turns / "notes.txt").write_text("not a clip")
    found = recording(turns)
    assert [(u.kind, u.digits, Path(u.audio.source).name) for u in found] == [
        ("speech", None, "turn1.wav"), ("dtmf", "12345678#", "turn2.wav"), ("silence", None, "turn3.wav"),
        ("speech", None, "turn10.wav")]
    assert found[1].audio.duration == pytest.approx(load(turns / "turn2.wav").duration)  # a clip is kept whole


def test_a_directory_without_clips_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no audio here")
    with pytest.raises(AudioError, match=re.escape(f"{tmp_path}: no audio clips (.flac, .mp3, .ogg, .wav) in this "
                                                   "directory")):
        recording(tmp_path)
