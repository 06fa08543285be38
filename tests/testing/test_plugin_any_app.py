"""The pytest plugin on any Twilio voice app, through pytest itself (`pytester`): `--ivr-url` with any webhook URL,
`--ivr-entry` and `--ivr-method`, `ivr_call` with a path, and the `ivr_simulator` fixture for an app a test builds
(a WSGI app in-process, or a URL). The line is a hand-written Flask app on a real socket (`flask_line`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import ivr.testing.scripts  # noqa: F401  (imported here once: each in-process run would otherwise import it anew)
from tests.conftest import TOKEN, serving
from tests.testing.test_scripts_any_app import flask_line

pytest_plugins = ["pytester"]

INI = ("[pytest]\nivr_flows = flows\n"
       "addopts = -p no:cacheprovider -p no:hypothesispytest -p no:benchmark -p no:anyio\n")
WSGI_TESTS = '''\
from urllib.parse import parse_qs


def line(environ, start_response):
    """A plain WSGI line: 9 cancels."""
    form = parse_qs(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)).decode())
    if form.get("Digits") == ["9"]:
        body = "<Say>You are cancelled.</Say><Hangup/>"
    else:
        body = '<Gather action="/" numDigits="1"><Say>Press 9 to cancel.</Say></Gather>'
    start_response("200 OK", [("Content-Type", "text/xml")])
    return [f"<Response>{body}</Response>".encode()]


def test_a_wsgi_app_the_test_builds(ivr_simulator):
    sim = ivr_simulator(line)
    call = sim.call("/")
    assert call.prompt == "Press 9 to cancel."
    call.press("9")
    assert (call.prompt, call.status, call.errors) == ("You are cancelled.", "completed", [])


def test_two_simulators_and_a_token(ivr_simulator):
    first, second = ivr_simulator(line), ivr_simulator(line, auth_token="another", base_url="https://example.com")
    assert first is not second
    assert first.call("/").prompt == second.call("/").prompt
'''
CALL_TESTS = '''\
import pytest


def test_a_path(ivr_call):
    call = ivr_call("/voice")
    call.press("2")
    assert "cancellation number" in call.prompt and call.errors == []


def test_the_entry(ivr_call):
    assert "Welcome to Ferris Phones." in ivr_call().prompt


def test_a_bad_flow_name(ivr_call):
    ivr_call("ferris phones")
'''
CRASHED = "path: /crash\nsteps:\n  - expect: {ended: 'true'}\n"
CANCEL = ("path: /voice\ncancel_when: 'prompt:cancellation number'\nsteps:\n  - expect: {cancelled_within: 2}\n"
          "  - press: '1'\n  - press: '2'\nexpect: {status: completed}\n")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    pytester.makefile(".ini", pytest=INI)
    return pytester


@pytest.fixture(scope="module")
def ferris() -> Iterator[str]:
    """The hand-written Flask line on a real socket: its base URL."""
    with serving(flask_line()) as url:
        yield url


def test_ivr_simulator_builds_a_simulator_for_any_wsgi_app(project: pytest.Pytester) -> None:
    project.makepyfile(test_inner=WSGI_TESTS)
    project.runpytest().assert_outcomes(passed=2)


def test_ivr_call_takes_a_path_and_the_entry(project: pytest.Pytester, ferris: str) -> None:
    project.makepyfile(test_inner=CALL_TESTS)
    result = project.runpytest("--ivr-url", ferris, "--ivr-auth-token", TOKEN, "--ivr-entry", "/voice")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*ivr_call('ferris phones'): give a flow's name (letters, digits, '_' and '-') or "
                                 "a webhook path starting with '/'"])
    assert "Traceback" not in result.stdout.str()


def test_ivr_url_may_be_the_webhook_itself(project: pytest.Pytester, ferris: str) -> None:
    project.makepyfile(test_inner=CALL_TESTS)
    project.runpytest("--ivr-url", ferris + "/voice", "--ivr-auth-token", TOKEN, "-k", "entry").assert_outcomes(
        passed=1)


def test_scripts_against_a_live_app_and_the_crash_they_catch(project: pytest.Pytester, ferris: str) -> None:
    project.makefile(".call.yaml", cancel=CANCEL, crashed=CRASHED)
    result = project.runpytest("--ivr-url", ferris, "--ivr-auth-token", TOKEN)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*_ call script crashed _*",
        f"  TWILIO: error 11200: {ferris}/crash answered HTTP 500 *|",
        "  * | ok   ended: true (status 'failed')",
        f"  * | FAIL no Twilio errors (it has 11200: {ferris}/crash answered HTTP 500)",
    ])


def test_ivr_method_for_the_entry(project: pytest.Pytester, ferris: str) -> None:
    project.makepyfile(test_inner='def test_get(ivr_call):\n'
                                  '    call = ivr_call("/city", params={"FromCity": "BOSTON"})\n'
                                  '    assert call.prompt == "Hello, caller from Boston." and call.errors == []\n')
    project.makefile(".call.yaml", city="path: /city\nparams: {FromCity: DENVER}\nsteps:\n"
                                        "  - expect: {prompt_contains: caller from Denver}\n")
    project.runpytest("--ivr-url", ferris, "--ivr-auth-token", TOKEN, "--ivr-method", "get").assert_outcomes(
        passed=2)


@pytest.mark.parametrize(("args", "message"), [
    (["--ivr-entry", "voice"], "ERROR: --ivr-entry 'voice': give the webhook's path, starting with '/', e.g. /voice"),
    (["--ivr-method", "PUT"], "*--ivr-method: invalid choice: 'PUT' (choose from 'GET', 'POST')*"),
])
def test_bad_options_are_usage_errors(project: pytest.Pytester, args: list[str], message: str) -> None:
    result = project.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


LINE_PY = WSGI_TESTS.split("\n\n\ndef test_")[0]  # the plain WSGI line alone, as a project's own file


def test_ivr_url_may_name_an_app_to_run_in_process(project: pytest.Pytester) -> None:
    """No server, no token: the scripts and ivr_call reach the project's own app, FILE.py:NAME."""
    project.makepyfile(line=LINE_PY, test_inner='def test_entry(ivr_call):\n'
                                                '    assert ivr_call().prompt == "Press 9 to cancel."\n')
    project.makefile(".call.yaml", cancel="path: /\ncancel_when: 'prompt:You are cancelled'\nsteps:\n"
                                          "  - expect: {cancelled_within: 1}\n  - press: '9'\n")
    project.runpytest("--ivr-url", "line.py:line").assert_outcomes(passed=2)


def test_an_app_that_does_not_load_fails_each_script_with_one_line(project: pytest.Pytester) -> None:
    project.makepyfile(line=LINE_PY)
    project.makefile(".call.yaml", cancel="path: /\nsteps:\n  - press: '9'\n")
    result = project.runpytest("--ivr-url", "line.py:nope")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()  # fnmatch would read the list's brackets as a character class
    assert "\n--ivr-url 'line.py:nope': line.py has no 'nope'; callables there: ['line', 'parse_qs']\n" in output
    assert "Traceback" not in output
