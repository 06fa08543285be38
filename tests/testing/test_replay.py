"""Recorded calls replayed against the real app: synthesised callers on a noisy telephone line (espeak-ng, 8 kHz
mu-law, 15 dB SNR: at 10 dB, tiny.en's "cancel" of this voice is a coin-flip), recognised by Whisper tiny.en with
the Gather's hints, and the verdict per call."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ivr.cli.main import main
from ivr.speech import synth
from ivr.speech.audio import save
from ivr.testing.replay import recordings
from ivr.testing.scripts import Instruction
from tests.conftest import ACME, ROOT, TOKEN, make_app, serving

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
        result = runner.invoke(main, ["synth", str(script), "-o", str(here / name), "--phone", "--noise-snr", "15",
                                      "--seed", "7"])
        assert result.exit_code == 0, result.output
    (here / "billing.call.yaml").unlink()
    return here


#: these tests are about replaying, not about how sure Whisper is: they accept 10% wrong recognitions, where the
#: default 1% leaves most turns of a phone line uncertain (tests/testing/test_inconclusive.py, docs/benchmarks.md)
RISK = {"IVR_MAX_RISK": "0.1"}


def replay(*args: str, cache: Path) -> tuple[int, str]:
    result = CliRunner(env={"IVR_CACHE_DIR": str(cache), **RISK}).invoke(main, ["replay", str(ACME), *args])
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


# -- keypad callers (no recogniser runs): the flow's guarantee, sidecars, and a live line by flow name -----------

PRESSES_CANCEL = ("9", "12345678#", "9", "1")  # cancel, the account number, cancel again past the offer, yes
PRESSES_BILLING = ("1", "2")  # billing, then "nothing else"


def keypad(path: Path, keys: tuple[str, ...]) -> Path:
    """A caller who only presses keys, on a telephone line (8 kHz mu-law), as `ivr synth --phone` renders it."""
    return save(synth.line(synth.synthesise([Instruction("press", k) for k in keys]), phone=True), path, mu_law=True)


@pytest.fixture(scope="module")
def keypad_calls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    here = tmp_path_factory.mktemp("keypad")
    keypad(here / "canceller.wav", PRESSES_CANCEL)
    keypad(here / "billing.wav", PRESSES_BILLING)
    return here


@pytest.fixture
def project(keypad_calls: Path, tmp_path: Path) -> Path:
    """calls/ with the two keypad callers, and flows/terminating.yaml: acme, its cancellations ending `terminated`."""
    shutil.copytree(keypad_calls, tmp_path / "calls")
    text = ACME.read_text("utf-8").replace("outcomes: [cancelled,", "outcomes: [terminated,")
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "terminating.yaml").write_text(text.replace("outcome: cancelled", "outcome: terminated"))
    (tmp_path / "audio").mkdir()  # the welcome it plays: the simulator fetches <Play> URLs as Twilio does
    shutil.copy(ROOT / "audio" / "acme-welcome.wav", tmp_path / "audio")
    return tmp_path


def run_replay(*args: str | Path, cache: Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env={"IVR_CACHE_DIR": str(cache), **RISK, **(env or {})}).invoke(main,
                                                                                  ["replay", *map(str, args)])


def test_within_alone_expects_the_outcome_of_the_flows_guarantee(project: Path) -> None:
    result = run_replay(project / "flows/terminating.yaml", project / "calls/canceller.wav", "--within", "4",
                        cache=project / "cache")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"ok   {project}/calls/canceller.wav: outcome terminated, 4 turn(s)\n")


@pytest.mark.parametrize(("sidecar", "args", "status", "verdict"), [
    # the sidecar's expectations apply to the recording beside it...
    ("flow: acme\noutcome: resolved\n", [], 0, "ok   {calls}/billing.wav: outcome resolved, 2 turn(s)"),
    ("flow: acme\nwithin: 4\n", [], 1, "FAIL {calls}/billing.wav: outcome resolved, 2 turn(s) — expected outcome "
                                       "'cancelled', got 'resolved'"),
    ("flow: acme\noutcome: resolved\nwithin: 1\n", [], 1, "FAIL {calls}/billing.wav: outcome resolved, 2 turn(s) — "
                                                          "took 2 turns, more than 1"),
    # ...unless the command line says otherwise, key by key
    ("flow: acme\noutcome: resolved\nwithin: 1\n", ["--within", "2"], 0,
     "ok   {calls}/billing.wav: outcome resolved, 2 turn(s)"),
    ("flow: acme\noutcome: kept\n", ["--expect", "resolved"], 0,
     "ok   {calls}/billing.wav: outcome resolved, 2 turn(s)"),
])
def test_a_sidecar_beside_a_recording_applies(project: Path, sidecar: str, args: list[str], status: int,
                                              verdict: str) -> None:
    (project / "calls/billing.expect.yaml").write_text(sidecar)
    result = run_replay(ACME, project / "calls/billing.wav", *args, cache=project / "cache")
    assert result.exit_code == status, result.output
    calls = project / "calls"
    assert result.stdout.splitlines()[0] == verdict.format(calls=calls)
    assert (f"     note: expectations from the sidecar {calls}/billing.expect.yaml (options given on the command "
            "line come first)") in result.stdout.splitlines()


def test_a_sidecars_within_alone_expects_the_outcome_of_the_flows_guarantee(project: Path) -> None:
    (project / "calls/canceller.expect.yaml").write_text("flow: acme\nwithin: 4\n")
    result = run_replay(project / "flows/terminating.yaml", project / "calls", cache=project / "cache")
    # billing.wav has no sidecar and no option asks anything of it: it passes as it ends
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "2 of 2 call(s) passed"
    assert f"ok   {project}/calls/canceller.wav: outcome terminated, 4 turn(s)" in result.stdout.splitlines()


@pytest.mark.parametrize(("sidecar", "message"), [
    ("description: for the gym\nflow: gym\nwithin: 4\n",
     "error: {calls}/billing.expect.yaml:2: flow: 'gym' is not the flow replayed ('acme'): replay billing.wav "
     "against its own flow, or leave it out\n"),
    ("flow: acme\noutcome: resolvd\n",
     "error: {calls}/billing.expect.yaml:2: outcome: 'resolvd' is not an outcome of flow 'acme'; its outcomes: "
     "['cancelled', 'resolved', 'kept', 'transferred']\n"),
])
def test_a_sidecar_mistake_stops_the_replay(project: Path, sidecar: str, message: str) -> None:
    (project / "calls/billing.expect.yaml").write_text(sidecar)
    result = run_replay(ACME, project / "calls", cache=project / "cache")
    assert result.exit_code == 2
    assert result.stderr == message.format(calls=project / "calls")


@pytest.fixture
def live_acme(tmp_path: Path) -> Iterator[str]:
    """The real app serving flows/acme.yaml on a real socket (signed with TOKEN)."""
    app = make_app(f"sqlite:///{tmp_path}/live.db")
    with serving(app) as url:
        yield url
    app.extensions["ivr"].store.close()


def test_a_live_line_is_replayed_by_flow_name(project: Path, live_acme: str) -> None:
    result = run_replay("acme", project / "calls/canceller.wav", "--within", "4", "--url", live_acme,
                        cache=project / "cache", env={"TWILIO_AUTH_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"ok   {project}/calls/canceller.wav: outcome cancelled, 4 turn(s)\n")
    assert result.stderr.startswith("note: 'acme' is a flow's name, not its file, so its guarantee is unknown: "
                                    "calls with 'within' alone must end 'cancelled' (pass --expect, or the flow "
                                    "file)\n")
    with_expect = run_replay("acme", project / "calls/billing.wav", "--expect", "resolved", "--url", live_acme,
                             cache=project / "cache", env={"TWILIO_AUTH_TOKEN": TOKEN})
    assert with_expect.exit_code == 0, with_expect.output
    assert "note:" not in with_expect.stderr


def test_a_flow_name_needs_a_live_line(project: Path) -> None:
    assert run_replay("acme", project / "calls/canceller.wav", cache=project / "cache").stderr == \
        "error: acme: no such flow file\n"
    result = run_replay("my flow", project / "calls/canceller.wav", "--url", "http://127.0.0.1:1",
                        cache=project / "cache", env={"TWILIO_AUTH_TOKEN": TOKEN})
    assert result.exit_code == 2
    assert result.stderr == ("error: 'my flow' is neither a flow file nor a flow's name (letters, digits, '_' and "
                             "'-'); with --url, FLOW may be the name the line serves the flow under, e.g. 'acme'\n")


# -- said: the call judged on what was said and on what was heard ----------------------------------------------

SAID_CANCEL = "said: [cancel, '#12345678#', cancel, 'yes']\n"


def unfair(project: Path) -> Path:
    """flows/unfair.yaml: acme, whose retention offer answers "cancel" with itself: nobody is cancelled past it."""
    text = ACME.read_text("utf-8").replace("      cancel: confirm_cancel", "      cancel: retention_offer")
    assert text != ACME.read_text("utf-8")
    (project / "flows" / "unfair.yaml").write_text(text)
    return project / "flows" / "unfair.yaml"


def test_said_and_heard_agree(project: Path) -> None:
    (project / "calls/canceller.expect.yaml").write_text("flow: acme\nwithin: 4\n" + SAID_CANCEL)
    result = run_replay(ACME, project / "calls/canceller.wav", "--format", "json", cache=project / "cache")
    assert result.exit_code == 0, result.output
    [call] = json.loads(result.stdout)["calls"]
    assert (call["ok"], call["blame"], call["reasons"]) == (True, None, [])
    assert (call["said"]["ok"], call["said"]["outcome"], call["said"]["turns"]) == (True, "cancelled", 4)
    assert (call["heard"]["ok"], call["heard"]["outcome"], call["heard"]["turns"]) == (True, "cancelled", 4)
    assert [(e["kind"], e["heard"], e["digits"], e["confidence"], e["intent"]) for e in call["said"]["events"]] == [
        ("speech", "cancel", "", 1.0, "intent 'cancel'"), ("dtmf", "", "12345678#", None, "data '12345678'"),
        ("speech", "cancel", "", 1.0, "intent 'cancel'"), ("speech", "yes", "", 1.0, "intent 'yes'")]
    assert call["events"] == call["heard"]["events"]


def test_the_recogniser_is_blamed_when_only_what_was_heard_fails(project: Path) -> None:
    """billing.wav presses 1 and 2, but the sidecar says the caller asked to cancel: the flow cancels what was
    said, so the failure is the recogniser's (here the key detector's), named at its first wrong turn."""
    (project / "calls/billing.expect.yaml").write_text("flow: acme\nwithin: 4\n" + SAID_CANCEL)
    result = run_replay(ACME, project / "calls/billing.wav", cache=project / "cache")
    assert result.exit_code == 1, result.output
    calls = project / "calls"
    assert result.stdout.splitlines()[:7] == [
        f"FAIL {calls}/billing.wav: outcome resolved, 2 turn(s) — the recogniser misheard turn 1 ('#1' for "
        "'cancel'); as heard, expected outcome 'cancelled', got 'resolved'",
        "     said:  ok   outcome cancelled, 4 turn(s)",
        "     heard: FAIL outcome resolved, 2 turn(s) — expected outcome 'cancelled', got 'resolved'",
        "     1. heard #1 -> intent 'billing' -> anything_else; said 'cancel' -> intent 'cancel' -> ask_account",
        "     2. heard #2 -> intent 'no' -> goodbye; said '#12345678#' -> data '12345678' -> retention_offer",
        "     3. not heard; said 'cancel' -> intent 'cancel' -> confirm_cancel",
        "     4. not heard; said 'yes' -> intent 'yes' -> cancelled_goodbye",
    ]
    assert "     note: the sidecar's said: gives 4 turn(s), the recording has 2" in result.stdout.splitlines()
    as_json = run_replay(ACME, project / "calls/billing.wav", "--format", "json", cache=project / "cache")
    [call] = json.loads(as_json.stdout)["calls"]
    assert (call["ok"], call["blame"], call["said"]["ok"], call["heard"]["ok"]) == (False, "recogniser", True, False)


def test_the_flow_is_blamed_when_what_was_said_fails(project: Path) -> None:
    flow = unfair(project)
    (project / "calls/canceller.expect.yaml").write_text("flow: acme\nwithin: 4\n" + SAID_CANCEL)
    result = run_replay(flow, project / "calls/canceller.wav", "--format", "json", cache=project / "cache")
    assert result.exit_code == 1, result.output
    [call] = json.loads(result.stdout)["calls"]
    assert call["blame"] == "flow"
    assert call["reasons"] == ["the flow is unfair: on what was said, expected outcome 'cancelled', got None"]
    assert (call["said"]["ok"], call["heard"]["ok"]) == (False, False)


@pytest.mark.parametrize(("said", "verdict", "note"), [
    # one turn more than the recording: said left over, as the call ends at cancellation
    ("[cancel, '#12345678#', cancel, 'yes', agent]", "ok   {calls}/canceller.wav: outcome cancelled, 4 turn(s)",
     "the sidecar's said: gives 5 turn(s), the recording has 4"),
    # the same meaning in other words, or keys for words: no mishearing
    ("['#9', '#12345678#', cancel my service, '#1']", "ok   {calls}/canceller.wav: outcome cancelled, 4 turn(s)",
     None),
    # the account number misheard, yet the call is cancelled: ok, and noted
    ("[cancel, '#87654321#', cancel, 'yes']", "ok   {calls}/canceller.wav: outcome cancelled, 4 turn(s)",
     "the recogniser misheard turn 2 ('#12345678#' for '#87654321#'), without changing the verdict"),
])
def test_said_turns_compared_by_meaning(project: Path, said: str, verdict: str, note: str | None) -> None:
    (project / "calls/canceller.expect.yaml").write_text(f"flow: acme\nwithin: 4\nsaid: {said}\n")
    result = run_replay(ACME, project / "calls/canceller.wav", cache=project / "cache")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == verdict.format(calls=project / "calls")
    assert (f"     note: {note}" in result.stdout.splitlines()) == (note is not None)


def test_an_unreadable_recording_blames_nobody_when_what_was_said_passes(project: Path) -> None:
    (project / "calls/canceller.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt not really")
    (project / "calls/canceller.expect.yaml").write_text("flow: acme\nwithin: 4\n" + SAID_CANCEL)
    result = run_replay(ACME, project / "calls/canceller.wav", "--format", "json", cache=project / "cache")
    assert result.exit_code == 1, result.output
    [call] = json.loads(result.stdout)["calls"]
    assert (call["blame"], call["reasons"], call["said"]["ok"]) == (None, ["the recording could not be read"], True)
