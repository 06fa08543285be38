"""Recorded calls replayed against the real app: synthesised callers on a noisy telephone line (espeak-ng, 8 kHz
mu-law, 10 dB SNR), recognised by Whisper tiny.en with the Gather's hints, and the verdict per call."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli.main import main
from ivr.testing.replay import recordings
from tests.conftest import ACME, ROOT

CANCEL_FAST = ROOT / "tests" / "calls" / "acme-cancel-fast.call.yaml"
BILLING = """\
flow: acme
steps:
  - say: pay my bill
  - say: no thanks
"""


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of recorded calls: a persistent canceller and a billing caller, on a noisy phone line."""
    here = tmp_path_factory.mktemp("calls")
    (here / "billing.call.yaml").write_text(BILLING)
    runner = CliRunner()
    for script, name in ((CANCEL_FAST, "cancel.wav"), (here / "billing.call.yaml", "billing.wav")):
        result = runner.invoke(main, ["synth", str(script), "-o", str(here / name), "--phone", "--noise-snr", "10",
                                      "--seed", "7"])
        assert result.exit_code == 0, result.output
    (here / "billing.call.yaml").unlink()
    return here


def replay(*args: str, cache: Path) -> tuple[int, str]:
    result = CliRunner(env={"IVR_CACHE_DIR": str(cache)}).invoke(main, ["replay", str(ACME), *args])
    return result.exit_code, result.stdout


@pytest.mark.slow
def test_a_recorded_canceller_is_cancelled_within_4_turns(calls: Path, tmp_path: Path) -> None:
    status, output = replay(str(calls / "cancel.wav"), "--within", "4", "--format", "json", cache=tmp_path)
    assert status == 0, output
    [call] = json.loads(output)["calls"]
    assert (call["outcome"], call["turns"], call["ok"]) == ("cancelled", 4, True)
    assert [(e["kind"], e["intent"]) for e in call["events"]] == [
        ("speech", "intent 'cancel'"), ("dtmf", "data '12345678'"), ("speech", "intent 'cancel'"),
        ("speech", "intent 'yes'")]
    assert call["events"][1]["digits"] == "12345678#"


@pytest.mark.slow
def test_a_batch_reports_each_call_and_fails_when_one_misses(calls: Path, tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    shutil.copytree(calls, batch)
    (batch / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt not really")
    status, output = replay(str(batch), "--within", "4", "--format", "junit", "-j", "2", cache=tmp_path / "cache")
    assert status == 1
    suite = ET.fromstring(output[output.index("<testsuite"):])
    verdicts = {Path(case.get("name", "")).name: case.find("failure") for case in suite}
    assert set(verdicts) == {"billing.wav", "cancel.wav", "corrupt.wav"}
    assert verdicts["cancel.wav"] is None
    billing, corrupt = verdicts["billing.wav"], verdicts["corrupt.wav"]
    assert billing is not None
    assert billing.get("message") == "expected outcome 'cancelled', got 'resolved'"
    assert corrupt is not None
    assert corrupt.get("message") == "the recording could not be read"


@pytest.mark.slow
def test_transcribe_says_what_the_ivr_would_take(calls: Path, tmp_path: Path) -> None:
    runner = CliRunner(env={"IVR_CACHE_DIR": str(tmp_path / "cache")})
    clip = tmp_path / "cancel.wav"
    (tmp_path / "c.call.yaml").write_text("flow: acme\nsteps:\n  - say: I want to cancel my service\n")
    assert runner.invoke(main, ["synth", str(tmp_path / "c.call.yaml"), "-o", str(clip), "--phone"]).exit_code == 0
    result = runner.invoke(main, ["transcribe", str(clip), "--flow", str(ACME), "--format", "json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert (row["intent"], row["digits"]) == ("intent 'cancel'", None)
    assert "cancel" in row["text"].lower()


@pytest.mark.parametrize(("args", "message"), [
    (["--at", "welcome"], "error: --at: 'welcome' is not a node that gathers input; choices: ['main_menu', "),
    (["--stt", "nope"], "Invalid value for '--stt': 'nope' is not one of 'vosk', 'whisper'."),
])
def test_transcribe_mistakes(tmp_path: Path, args: list[str], message: str) -> None:
    clip = tmp_path / "x.wav"
    clip.write_bytes(b"")
    result = CliRunner().invoke(main, ["transcribe", str(clip), "--flow", str(ACME), *args])
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize(("layout", "argument", "expected"), [
    # a directory of calls: one recording per file, and a subdirectory of clips is one more
    (["calls/a.wav", "calls/b.mp3", "calls/c/01.wav", "calls/c/02.wav", "calls/notes.txt"], "calls",
     ["calls/a.wav", "calls/b.mp3", "calls/c"]),
    # numbered clips named directly are the turns of one call, not a call each
    (["call/01.wav", "call/02-cancel.wav", "call/3.wav"], "call", ["call"]),
    # one file not numbered: each file is a call
    (["calls/01.wav", "calls/canceller.wav"], "calls", ["calls/01.wav", "calls/canceller.wav"]),
    (["calls/a.wav"], "calls/a.wav", ["calls/a.wav"]),
    ([], "missing.wav", ["missing.wav"]),  # reported as unreadable by replay, with the rest going on
])
def test_recordings_among_the_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: list[str],
                                        argument: str, expected: list[str]) -> None:
    for name in layout:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert [str(p) for p in recordings([argument])] == expected
