"""`ivr replay --url` on any Twilio voice app, with no flow file (issue 13): keypad callers (no recogniser runs)
replayed against a hand-written Flask line on a real socket; cancellation said with `--cancel-when`, `--within`
counting the turns to it; a call with a Twilio error fails; ivr's own lines keep their outcome-based verdicts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ivr.cli.main import main
from ivr.speech import synth
from ivr.speech.audio import save
from ivr.testing.scripts import Instruction
from tests.conftest import TOKEN, make_app, serving
from tests.testing.test_scripts_any_app import flask_line

CANCELLED = "prompt:cancellation number"


def keypad(path: Path, keys: tuple[str, ...]) -> Path:
    """A caller who only presses keys, on a telephone line (8 kHz mu-law), as `ivr synth --phone` renders it."""
    return save(synth.line(synth.synthesise([Instruction("press", k) for k in keys]), phone=True), path, mu_law=True)


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    here = tmp_path_factory.mktemp("keypad")
    keypad(here / "canceller.wav", ("2",))  # cancels at once
    keypad(here / "slow.wav", ("1", "2"))  # billing first, then cancels
    keypad(here / "billing.wav", ("1", "1"))  # never cancels
    return here


@pytest.fixture(scope="module")
def ferris() -> Iterator[str]:
    with serving(flask_line()) as url:
        yield url


def replay(*args: str | Path, cache: Path) -> Result:
    return CliRunner(env={"IVR_CACHE_DIR": str(cache), "TWILIO_AUTH_TOKEN": TOKEN}).invoke(
        main, ["replay", *map(str, args)])


@pytest.mark.parametrize(("call", "args", "status", "verdict"), [
    ("canceller", ["--within", "1", "--cancel-when", CANCELLED], 0,
     "ok   {calls}/canceller.wav: status completed, cancelled at turn 1, 1 turn(s)"),
    ("slow", ["--within", "2", "--cancel-when", CANCELLED], 0,
     "ok   {calls}/slow.wav: status completed, cancelled at turn 2, 2 turn(s)"),
    ("slow", ["--within", "1", "--cancel-when", "prompt:nothing like it", "--cancel-when", CANCELLED], 1,
     "FAIL {calls}/slow.wav: status completed, cancelled at turn 2, 2 turn(s) — cancelled after 2 turns, more "
     "than 1"),
    ("billing", ["--cancel-when", CANCELLED], 1,
     "FAIL {calls}/billing.wav: status completed, 2 turn(s) — never cancelled: no prompt:cancellation number"),
    ("billing", [], 0, "ok   {calls}/billing.wav: status completed, 2 turn(s)"),  # no expectation: it went through
    ("canceller", ["--within", "1"], 1,
     "FAIL {calls}/canceller.wav: status completed, 1 turn(s) — expected outcome 'cancelled': this app does not send "
     "ivr's headers (X-Ivr-Outcome); say what cancellation sounds like with --cancel-when (e.g. 'prompt:"
     "cancellation number')"),
])
def test_any_app_by_its_entry(calls: Path, ferris: str, tmp_path: Path, call: str, args: list[str], status: int,
                              verdict: str) -> None:
    result = replay("--url", ferris, "--entry", "/voice", calls / f"{call}.wav", *args, cache=tmp_path)
    assert result.exit_code == status, result.output
    assert result.stdout.splitlines()[0] == verdict.format(calls=calls)


def test_the_url_itself_is_the_webhook(calls: Path, ferris: str, tmp_path: Path) -> None:
    result = replay("--url", f"{ferris}/voice", calls, "--cancel-when", CANCELLED, "--format", "json",
                    cache=tmp_path)
    assert result.exit_code == 1, result.output  # billing.wav never cancels
    verdicts = {Path(c["recording"]).name: c for c in json.loads(result.stdout)["calls"]}
    assert {name: (c["ok"], c["cancelled_at"], c["call_status"]) for name, c in verdicts.items()} == {
        "billing.wav": (False, None, "completed"), "canceller.wav": (True, 1, "completed"),
        "slow.wav": (True, 2, "completed")}


def test_a_crashing_app_fails_every_call(calls: Path, ferris: str, tmp_path: Path) -> None:
    result = replay("--url", ferris, "--entry", "/crash", calls / "canceller.wav", cache=tmp_path)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (f"FAIL {calls}/canceller.wav: status failed, 0 turn(s) — Twilio would "
                                             "have reported an error")
    assert f"     error: 11200: {ferris}/crash answered HTTP 500" in result.stdout.splitlines()


def test_a_line_built_with_ivr_keeps_its_outcome_and_takes_cancel_when(calls: Path, tmp_path: Path) -> None:
    keys = keypad(tmp_path / "acme.wav", ("9", "12345678#", "9", "1"))
    app = make_app(f"sqlite:///{tmp_path}/live.db")
    with serving(app) as url:
        by_outcome = replay("acme", keys, "--url", url, "--within", "4", "--expect", "cancelled", cache=tmp_path)
        by_prompt = replay("acme", keys, "--url", url, "--within", "3", "--cancel-when", "prompt:confirmation number",
                           cache=tmp_path)
    app.extensions["ivr"].store.close()
    assert by_outcome.exit_code == 0, by_outcome.output
    assert by_outcome.stdout.startswith(f"ok   {keys}: outcome cancelled, 4 turn(s)\n")
    assert by_prompt.exit_code == 1, by_prompt.output
    assert by_prompt.stdout.startswith(f"FAIL {keys}: outcome cancelled, cancelled at turn 4, 4 turn(s) — cancelled "
                                       "after 4 turns, more than 3\n")


@pytest.mark.parametrize(("args", "message"), [
    (["{calls}/canceller.wav", "--entry", "/voice"], "error: --entry is for a live line: give --url URL too\n"),
    (["--url", "{url}", "{calls}/canceller.wav", "--entry", "voice"],
     "error: --entry 'voice': give the webhook's path, starting with '/', e.g. /voice\n"),
    (["--url", "{url}", "{calls}/canceller.wav", "--cancel-when", "cancellation"],
     "error: --cancel-when 'cancellation': expected KIND:VALUE with KIND one of ['prompt', 'dialled', 'url', "
     "'hangup-after', 'outcome'] (e.g. 'prompt:cancellation number', 'dialled:+18005550123', 'url:/cancelled')\n"),
    (["acme.yaml", "--url", "{url}", "--entry", "/voice", "{calls}/canceller.wav"],
     "error: give FLOW ('acme.yaml': the line's /voice/FLOW) or --entry ('/voice'), not both\n"),
])
def test_mistakes(calls: Path, ferris: str, tmp_path: Path, args: list[str], message: str) -> None:
    result = replay(*(a.format(calls=calls, url=ferris) for a in args), cache=tmp_path)
    assert (result.exit_code, result.stderr) == (2, message)
