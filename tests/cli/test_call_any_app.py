"""`ivr call --url` on any Twilio voice app (issue 13): a hand-written Flask line on a real socket, called at its
own webhook path (`--entry`, or the URL itself), with `--method` and `--param`; exit 1 when the call fails; no
status callback posted to an app that is not built with ivr."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ivr.cli.main import main
from tests.conftest import TOKEN, serving
from tests.testing.test_scripts_any_app import flask_line


class Seen:
    """A WSGI middleware noting each request's method and path, in order."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.requests: list[tuple[str, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.requests.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        answer: Iterable[bytes] = self.app(environ, start_response)
        return answer


@pytest.fixture(scope="module")
def seen() -> Seen:
    return Seen(flask_line())


@pytest.fixture(scope="module")
def ferris(seen: Seen) -> Iterator[str]:
    with serving(seen) as url:  # type: ignore[arg-type]
        yield url


def call(*args: str, given: str = "") -> Result:
    return CliRunner(env={"TWILIO_AUTH_TOKEN": TOKEN}).invoke(main, ["call", *args], input=given)


@pytest.mark.parametrize("where", [("--entry", "/voice"), ("{url}/voice",)])
def test_a_caller_cancels_on_any_app(ferris: str, seen: Seen, where: tuple[str, ...]) -> None:
    seen.requests.clear()
    args = ("--url", ferris, *where) if where[0] == "--entry" else ("--url", where[0].format(url=ferris))
    result = call(*args, given="#2\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "   IVR: Welcome to Ferris Phones.",
        "   IVR: Press 1 for billing, 2 to cancel, 0 for an agent.",
        "CALLER: presses 2",
        "   IVR: Your cancellation number is 4 2.",
        "-- call ended: completed",
    ]
    assert seen.requests == [("POST", "/voice"), ("POST", "/menu")]  # no status callback to /voice/.../status


def test_a_crashing_app_fails_the_call(ferris: str) -> None:
    result = call("--url", ferris, "--entry", "/crash")
    assert result.exit_code == 1
    assert result.stderr == f"error: the call to {ferris} failed: 11200: {ferris}/crash answered HTTP 500\n"
    assert "We are sorry, an application error has occurred. Goodbye." in result.stdout


def test_the_json_trace_of_any_app(ferris: str) -> None:
    result = call("--url", ferris, "--entry", "/voice", "--format", "json", given="#0\n")
    assert result.exit_code == 0, result.output
    trace = json.loads(result.stdout)
    assert (trace["url"], trace["method"], trace["status"], trace["errors"], trace["outcome"]) == (
        f"{ferris}/voice", "POST", "completed", [], None)
    assert trace["events"][-1] == {"who": "ivr", "text": "The agent call was completed."}
    assert trace["dialled"] == ["+18005550100"]  # the simulator's record of the <Dial>


def test_a_get_entry_with_location_parameters(ferris: str, seen: Seen) -> None:
    seen.requests.clear()
    result = call("--url", ferris, "--entry", "/city", "--method", "get", "--param", "FromCity=BOSTON")
    assert result.exit_code == 0, result.output
    assert "IVR: Hello, caller from Boston." in result.stdout
    assert seen.requests == [("GET", "/city")]


@pytest.mark.parametrize(("args", "message"), [
    (["--url", "{url}", "--entry", "voice"], "error: --entry 'voice': give the webhook's path, starting with '/', "
                                             "e.g. /voice\n"),
    (["acme", "--url", "{url}", "--entry", "/voice"], "error: give FLOW ('acme': the line's /voice/FLOW) or --entry "
                                                      "('/voice'), not both\n"),
    (["--entry", "/voice"], "error: --entry is for a live line: give --url URL too\n"),
    (["flows/acme.yaml", "--method", "GET"], "error: --method is for a live line: give --url URL too\n"),
    ([], "error: missing FLOW: give a flow file to call with the local engine, or --url URL to call a live line\n"),
    (["--url", "{url}", "--param", "FromCity"], "error: --param 'FromCity': expected NAME=VALUE, e.g. "
                                                "FromCity=BOSTON\n"),
])
def test_mistakes(ferris: str, args: list[str], message: str) -> None:
    result = call(*(a.format(url=ferris) for a in args))
    assert (result.exit_code, result.output) == (2, message)
