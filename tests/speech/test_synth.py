"""Tests of `ivr.speech.synth` and `ivr synth`: call scripts rendered with espeak-ng and flite, through a telephone
line and noise, and read back by `ivr.speech.audio` into the same turns (speech, or the very keys pressed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ivr.cli.main import main
from ivr.errors import UsageError
from ivr.speech import dtmf, synth
from ivr.speech.audio import ULAW, Audio, AudioError, load, mu_law_codes
from ivr.speech.split import recording
from ivr.testing.scripts import Instruction, load_script

SCRIPT = """\
flow: acme
steps:
  - expect: {prompt_contains: To cancel your service}
  - say: I want to cancel my service
  - press: "12345678#"
  - silence
  - say: "no, just cancel it"
  - press: "9"
  - hang up
  - say: never said
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "cancel.call.yaml"
    path.write_text(SCRIPT)
    return path


@pytest.mark.parametrize(("spec", "voice"), [
    ("espeak", synth.Voice("espeak", "en-us")),
    ("flite", synth.Voice("flite", "slt")),
    ("espeak:en-gb-x-rp+f2", synth.Voice("espeak", "en-gb-x-rp+f2")),
    ("flite:kal", synth.Voice("flite", "kal")),
])
def test_voice_specs(spec: str, voice: synth.Voice) -> None:
    assert synth.Voice.parse(spec) == voice


@pytest.mark.parametrize(("spec", "message"), [
    ("piper", "voice 'piper': unknown engine 'piper'; use one of ['espeak', 'flite'], optionally with ':VOICE' "
              "(espeak:en-us+f3, flite:kal)"),
    ("espeak:en us", "voice 'espeak:en us': 'en us' is not a voice name"),
])
def test_bad_voice_specs(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=f"^{re.escape(message)}$"):
        synth.Voice.parse(spec)


@pytest.mark.parametrize("spec", ["espeak", "espeak:en-us+f3", "flite", "flite:kal"])
def test_speak_makes_16k_speech_peaking_at_minus_3_dbfs(spec: str) -> None:
    audio = synth.speak("cancel my account", synth.Voice.parse(spec))
    assert audio.sample_rate == 16000
    assert 0.5 < audio.duration < 2.5
    assert float(np.abs(audio.samples).max()) == pytest.approx(synth.PEAK, abs=1e-6)


@pytest.mark.parametrize(("spec", "message"), [
    ("flite:nobody", "voice 'flite:nobody': flite has no voice 'nobody'; voices: ["),
    ("espeak:xx-nowhere", "espeak:xx-nowhere: could not speak 'hello': Error: The specified espeak-ng voice does "
                          "not exist."),
])
def test_unknown_voices_are_errors(spec: str, message: str) -> None:
    with pytest.raises((UsageError, AudioError), match=f"^{re.escape(message)}"):
        synth.speak("hello", synth.Voice.parse(spec))


def test_render_lays_turns_out_gap_apart(script: Path) -> None:
    rendering = synth.synthesise(load_script(script).steps, gap=1.25, silence=4.0, tone=0.1, tone_gap=0.1)
    turns = rendering.turns
    assert [(t.kind, t.value) for t in turns] == [  # `expect` plays no part; `hang up` ends the call
        ("say", "I want to cancel my service"), ("press", "12345678#"), ("silence", ""),
        ("say", "no, just cancel it"), ("press", "9")]
    assert turns[0].start == 1.25
    assert [round(b.start - a.end, 6) for a, b in zip(turns, turns[1:], strict=False)] == [1.25] * 4
    assert turns[1].end - turns[1].start == pytest.approx(9 * 0.1 + 8 * 0.1)
    assert turns[2].end - turns[2].start == pytest.approx(4.0)
    assert rendering.audio.duration == pytest.approx(turns[-1].end + 1.25)


def test_telephone_is_8k_mu_law_in_the_300_to_3400_band(tmp_path: Path) -> None:
    rate = 16000
    t = np.arange(rate) / rate
    for hz, least, most in [(100, 0.0, 0.02), (1000, 0.95, 1.05), (3000, 0.9, 1.0), (3900, 0.0, 0.35)]:
        tone = Audio.mono(0.5 * np.sin(2 * np.pi * hz * t), rate)
        line = synth.telephone(tone)
        assert line.sample_rate == 8000
        assert set(np.unique(line.samples)) <= set(ULAW.tolist())
        gain = np.sqrt(np.mean(line.samples[800:-800] ** 2) / np.mean(tone.samples**2))
        assert least <= gain <= most, hz


def test_mu_law_codes_invert_the_table() -> None:
    codes = mu_law_codes(ULAW)
    assert np.array_equal(ULAW[codes], ULAW)


@pytest.mark.parametrize("kind", ["white", "pink"])
@pytest.mark.parametrize("band", [False, True])
@pytest.mark.parametrize("snr", [20.0, 10.0, 5.0])
def test_noise_is_added_at_the_ratio_asked_for_and_the_seed_decides_it(kind: str, band: bool, snr: float) -> None:
    clean = synth.synthesise([Instruction("say", "please cancel my account")]).audio
    noisy = synth.add_noise(clean, snr, seed=4, kind=kind, band=band)
    noise = noisy.samples - clean.samples
    signal = synth._shaped(clean.samples, 16000, 300.0, 3400.0) if band else clean.samples
    measured = 10 * np.log10(synth.speech_power(signal, 16000) / np.mean(noise.astype(np.float64) ** 2))
    assert measured == pytest.approx(snr, abs=0.2)
    assert np.array_equal(synth.add_noise(clean, snr, seed=4, kind=kind, band=band).samples, noisy.samples)
    assert not np.array_equal(synth.add_noise(clean, snr, seed=5, kind=kind, band=band).samples, noisy.samples)


def test_unknown_noise_is_an_error() -> None:
    with pytest.raises(UsageError, match=re.escape("noise 'brown': use one of ['white', 'pink']")):
        synth.add_noise(Audio.mono(np.zeros(100), 8000), 10.0, kind="brown")


# -- the command -----------------------------------------------------------------------------------------------------

TIMELINE = re.compile(r"^\s+(\d+\.\d\d)-\s*(\d+\.\d\d)  (say '.*'|press \S+|silence)$")


@pytest.mark.parametrize(("options", "suffix", "rate", "encoding"), [
    ([], ".wav", 16000, "wav"),
    (["--phone"], ".wav", 8000, "mu-law"),
    (["--phone", "--noise-snr", "10", "--seed", "1"], ".wav", 8000, "mu-law"),
    (["--phone", "--noise-snr", "5", "--noise", "pink", "--voice", "flite"], ".wav", 8000, "mu-law"),
    (["--voice", "flite:kal", "--gap", "1"], ".mp3", 16000, "mp3"),
    (["--phone", "--noise-snr", "10"], ".flac", 8000, "flac"),
    (["--voice", "espeak:en-us+f3"], ".ogg", 16000, "ogg"),
], ids=["wav", "phone", "phone-10dB", "flite-phone-pink-5dB", "mp3", "flac-phone-10dB", "ogg"])
def test_ivr_synth_writes_a_call_that_splits_back_into_its_steps(options: list[str], suffix: str, rate: int,
                                                                 encoding: str, script: Path, tmp_path: Path) -> None:
    out = tmp_path / f"call{suffix}"
    result = CliRunner().invoke(main, ["synth", str(script), "-o", str(out), *options])
    assert result.exit_code == 0, result.output
    head, *lines = result.output.splitlines()
    audio = load(out)
    assert head.startswith(f"wrote {out}: {audio.duration:.1f} s, {rate} Hz {encoding}, 5 turns")
    assert audio.sample_rate == rate
    timeline = [TIMELINE.match(line) for line in lines]
    assert all(timeline), lines
    turns = [(float(m[1]), float(m[2]), m[3]) for m in timeline if m and m[3] != "silence"]
    found = recording(out)
    assert [u.digits if u.kind == "dtmf" else u.kind for u in found] == ["speech", "12345678#", "speech", "9"]
    assert [what for _, _, what in turns] == ["say 'I want to cancel my service'", "press 12345678#",
                                              "say 'no, just cancel it'", "press 9"]
    for u, (start, end, _) in zip(found, turns, strict=True):
        assert start - 0.5 <= u.start <= start + 0.3
        assert end - 0.3 <= u.end <= end + 0.5
    assert found[2].start - found[1].end > 6.0  # the silent turn: no utterance, a long quiet


@pytest.mark.parametrize(("args", "message"), [
    (["--voice", "festival"], "error: voice 'festival': unknown engine 'festival'; use one of ['espeak', 'flite']"),
    (["--voice", "flite:nobody"], "error: voice 'flite:nobody': flite has no voice 'nobody'"),
    (["-o", "call.m4a"], "Invalid value for -o/--output: 'call.m4a': name a .flac, .mp3, .ogg, .wav file"),
])
def test_ivr_synth_bad_options(args: list[str], message: str, script: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["synth", str(script), "-o", str(tmp_path / "call.wav"), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_ivr_synth_bad_script(tmp_path: Path) -> None:
    bad = tmp_path / "bad.call.yaml"
    bad.write_text("flow: acme\nsteps:\n  - shout: hello\n")
    result = CliRunner().invoke(main, ["synth", str(bad), "-o", str(tmp_path / "call.wav")])
    assert result.exit_code == 2
    assert result.output == (f"error: {bad}:3: steps.0.shout: unknown step 'shout'; valid steps: ['say', 'press', "
                             "'silence', 'hang up', 'expect']\n")
    assert not (tmp_path / "call.wav").exists()


def test_the_cli_loads_audio_libraries_only_for_the_audio_commands() -> None:
    heavy = ("numpy", "pydub", "ivr.speech.audio", "ivr.speech.synth")
    code = f"import sys, ivr.cli.main; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_keys_of_every_kind_synthesise_and_unknown_keys_do_not() -> None:
    assert len(dtmf.synthesize(dtmf.ALL_KEYS.lower(), 8000)) == round(8000 * (16 * 0.1 + 15 * 0.1))
    with pytest.raises(ValueError, match=re.escape("'x' is not a DTMF key; keys: '123A456B789C*0#D'")):
        dtmf.synthesize("1x", 8000)
