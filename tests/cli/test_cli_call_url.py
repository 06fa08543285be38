"""`ivr call --url`: the terminal caller drives a live line (a real server on a socket) through the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli.main import main
from tests.conftest import ACME, TOKEN, make_app, serving


@pytest.mark.parametrize("flow", [str(ACME), "acme"])
def test_a_cancelling_caller_on_a_live_line(tmp_path: Path, flow: str) -> None:
    app = make_app(f"sqlite:///{tmp_path}/live.db")
    with serving(app) as url:
        result = CliRunner(env={"TWILIO_AUTH_TOKEN": TOKEN}).invoke(
            main, ["call", flow, "--url", url, "--from", "+15550001111"],
            input="I want to cancel\n#12345678#\ncancel\nyes\n")
    app.extensions["ivr"].store.close()
    assert result.exit_code == 0, result.output
    [record] = app.extensions["ivr"].store.cancellations()
    assert record.caller == "+15550001111"
    assert f"Your confirmation number is {' '.join(record.confirmation)}." in result.output
    assert "CALLER: presses 12345678#" in result.output
    assert result.output.endswith("-- call ended: cancelled\n")


def test_the_json_trace_of_a_live_call(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path}/live.db")
    with serving(app) as url:
        result = CliRunner(env={"TWILIO_AUTH_TOKEN": TOKEN}).invoke(
            main, ["call", "acme", "--url", url, "--format", "json"], input="agent\n")
    app.extensions["ivr"].store.close()
    trace = json.loads(result.output)
    assert (trace["outcome"], trace["turns"], trace["status"], trace["errors"]) == ("transferred", 1, "completed", [])
    assert trace["events"][-2:] == [{"who": "ivr", "text": "Please hold while I connect you with an agent."},
                                    {"who": "twilio", "text": "dials +18005550100: completed"}]


@pytest.mark.parametrize(("args", "env", "message"), [
    (["call", "acme", "--url", "http://127.0.0.1:9"], {}, "error: --url needs the line's auth token in "
                                                          "TWILIO_AUTH_TOKEN, to sign requests as Twilio does\n"),
    (["call", "acme", "--url", "http://127.0.0.1:9", "--var", "account=1"], {"TWILIO_AUTH_TOKEN": "x"},
     "error: --var sets variables of the local engine; a live line sets its own (drop --var)\n"),
])
def test_live_call_mistakes(args: list[str], env: dict[str, str], message: str) -> None:
    result = CliRunner(env={"TWILIO_AUTH_TOKEN": "", **env}).invoke(main, args)
    assert (result.exit_code, result.output) == (2, message)


def test_a_wrong_token_is_heard_as_twilios_application_error(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path}/live.db")
    with serving(app) as url:
        result = CliRunner(env={"TWILIO_AUTH_TOKEN": "wrong"}).invoke(main, ["call", "acme", "--url", url])
    app.extensions["ivr"].store.close()
    assert result.exit_code == 1  # the call failed: a script or CI must see it
    assert "We are sorry, an application error has occurred. Goodbye." in result.output
    assert f"11200: {url}/voice/acme answered HTTP 403" in result.output
    assert f"error: the call to {url} failed: 11200: {url}/voice/acme answered HTTP 403" in result.output


def test_a_line_that_is_not_there_fails_the_call() -> None:
    result = CliRunner(env={"TWILIO_AUTH_TOKEN": "x"}).invoke(main, ["call", "acme", "--url", "http://127.0.0.1:9",
                                                                      "--format", "json"], input="cancel\n")
    assert result.exit_code == 1
    assert "error: the call to http://127.0.0.1:9 failed: 11200: http://127.0.0.1:9/voice/acme:" in result.output
