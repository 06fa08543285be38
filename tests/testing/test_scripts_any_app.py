"""Call scripts against any Twilio voice app (issue 13): the setup keys (`method`, `params`, `agent` per target,
`queue`, `cancel_when`), the expectations on what Twilio sees (`status`, `errors`, `no_errors` by default,
`dialled`, `recorded`, `queue`, `conference`, `hung_up_by`, `prompts`), and ivr-only expectations that say so on
an app built without ivr. The apps are small ones written here (a Flask app and a plain WSGI app), and ivr's own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from flask import Flask, Response, request

from ivr.errors import ScriptError
from ivr.testing.cancel_when import CancelWhen
from ivr.testing.script_checks import NO_IVR_HEADERS
from ivr.testing.script_setup import entry_path
from ivr.testing.scripts import parse_script, run_script
from ivr.testing.sim import DialResult, Simulator
from tests.conftest import ACME, TOKEN, make_app

FILE = "calls/x.call.yaml"
HEAD = "path: /voice\nsteps:\n  - "
AGENTS = "['completed', 'no-answer', 'busy', 'failed']"
KINDS = "['prompt', 'dialled', 'url', 'hangup-after', 'outcome']"
QUEUES = "['bridged', 'hangup', 'queue-full', 'redirected', 'error', 'system-error']"

# -- reading: each bad value named with its line, key and the valid choices --------------------------------------

#: id -> (script text, exact message)
MALFORMED: dict[str, tuple[str, str]] = {
    "method-not-a-choice": ("path: /\nmethod: PUT\nsteps:\n  - silence\n",
                            f"{FILE}:2: method: 'PUT' is not one of ['GET', 'POST'] (the entry request's method)"),
    "params-a-list": ("path: /\nparams: [FromCity]\nsteps:\n  - silence\n",
                      f"{FILE}:2: params: expected a mapping of request parameters to values, e.g. {{FromCity: "
                      "BOSTON, CallToken: abc}, got ['FromCity']"),
    "params-from": ("path: /\nparams:\n  From: '+1555'\nsteps:\n  - silence\n",
                    f"{FILE}:3: params.From: From is the caller's number: give it with 'from'"),
    "params-bad-name": ("path: /\nparams:\n  From City: BOSTON\nsteps:\n  - silence\n",
                        f"{FILE}:3: params.From City: 'From City' is not a request parameter's name (letters, "
                        "digits and '_', e.g. FromCity)"),
    "params-value-a-list": ("path: /\nparams:\n  FromCity: [BOSTON]\nsteps:\n  - silence\n",
                            f"{FILE}:3: params.FromCity: expected the parameter's value as text, got ['BOSTON']"),
    "agent-target-status": ("path: /\nagent:\n  '+18005550100': maybe\nsteps:\n  - silence\n",
                            f"{FILE}:3: agent.+18005550100: 'maybe' is not one of {AGENTS}"),
    "agent-result-key": ("path: /\nagent:\n  default: {status: busy, ring: 3}\nsteps:\n  - silence\n",
                         f"{FILE}:3: agent.default.ring: unknown key 'ring'; valid keys: ['status', 'duration', "
                         "'caller_hangs_up', 'keys']"),
    "agent-duration": ("path: /\nagent:\n  default: {duration: long}\nsteps:\n  - silence\n",
                       f"{FILE}:3: agent.default.duration: 'long' is not a whole number of seconds from 0 to 14400"),
    "agent-hangs-up": ("path: /\nagent:\n  bob: {caller_hangs_up: sometimes}\nsteps:\n  - silence\n",
                       f"{FILE}:3: agent.bob.caller_hangs_up: 'sometimes' is not true or false"),
    "agent-keys": ("path: /\nagent:\n  bob: {keys: abc}\nsteps:\n  - silence\n",
                   f"{FILE}:3: agent.bob.keys: 'abc' is not a key sequence: use 0-9, * and #"),
    "agent-result-not-under-a-target": ("path: /\nagent:\n  status: busy\nsteps:\n  - silence\n",
                                        f"{FILE}:3: agent.status: 'status' is not a dialled target: a result goes "
                                        "under its target or 'default', e.g. agent: {default: {status: ...}}"),
    "agent-result-a-list": ("path: /\nagent:\n  bob: [busy]\nsteps:\n  - silence\n",
                            f"{FILE}:3: agent.bob: expected a result: one of {AGENTS}, or {{status, duration, "
                            "caller_hangs_up, keys}, got ['busy']"),
    "queue-not-a-result": ("path: /\nqueue: forever\nsteps:\n  - silence\n",
                           f"{FILE}:2: queue: 'forever' is not one of {QUEUES} (what happens to a caller the app "
                           "enqueues: Twilio's QueueResult)"),
    "cancel-when-no-kind": ("path: /\ncancel_when: cancellation number\nsteps:\n  - silence\n",
                            f"{FILE}:2: cancel_when: 'cancellation number': expected KIND:VALUE with KIND one of "
                            f"{KINDS} (e.g. 'prompt:cancellation number', 'dialled:+18005550123', 'url:/cancelled')"),
    "cancel-when-bad-regex": ("path: /\ncancel_when: ['prompt:(']\nsteps:\n  - silence\n",
                              f"{FILE}:2: cancel_when.0: 'prompt:(': '(' is not a regular expression (missing ), "
                              "unterminated subpattern at position 0)"),
    "cancel-when-unknown-kind": ("path: /\ncancel_when:\n  said: cancel\nsteps:\n  - silence\n",
                                 f"{FILE}:3: cancel_when.said: unknown kind 'said'; valid kinds: {KINDS}"),
    "cancel-when-empty-value": ("path: /\ncancel_when:\n  dialled: ''\nsteps:\n  - silence\n",
                                f"{FILE}:3: cancel_when.dialled: 'dialled:': dialled needs a value after the ':' "
                                "(the call is connected to a number, client, SIP URI, queue or conference)"),
    "cancel-when-a-number": ("path: /\ncancel_when: {prompt: [a, [b]]}\nsteps:\n  - silence\n",
                             f"{FILE}:2: cancel_when.prompt: expected the IVR says something matching a regular "
                             "expression (a text, or a list of them), got ['a', ['b']]"),
    "status-not-twilios": (HEAD + "expect: {status: done}\n",
                           f"{FILE}:3: steps.0.expect.status: 'done' is not one of ['queued', 'ringing', "
                           "'in-progress', 'completed', 'busy', 'failed', 'no-answer', 'canceled']"),
    "errors-not-a-code": (HEAD + "expect: {errors: [oops]}\n",
                          f"{FILE}:3: steps.0.expect.errors: ['oops'] is not a Twilio error code (5 digits, e.g. "
                          "11200) or a list of them"),
    "errors-too-short": (HEAD + "expect: {errors: 112}\n",
                         f"{FILE}:3: steps.0.expect.errors: '112' is not a Twilio error code (5 digits, e.g. 11200) "
                         "or a list of them"),
    "no-errors-yes": (HEAD + "expect: {no_errors: 'yes'}\n",
                      f"{FILE}:3: steps.0.expect.no_errors: 'yes' is not true or false"),
    "hung-up-by-whom": (HEAD + "expect: {hung_up_by: agent}\n",
                        f"{FILE}:3: steps.0.expect.hung_up_by: 'agent' is not one of ['caller', 'app', 'twilio']"),
    "prompts-a-text": (HEAD + "expect: {prompts: hello}\n",
                       f"{FILE}:3: steps.0.expect.prompts: expected a list of texts heard in order: each in a later "
                       "prompt than the one before, got 'hello'"),
    "prompts-empty-text": (HEAD + "expect: {prompts: [hello, '']}\n",
                           f"{FILE}:3: steps.0.expect.prompts: an empty text is found in any prompt: give the words "
                           "to look for"),
    "dialled-empty": (HEAD + "expect: {dialled: ''}\n",
                      f"{FILE}:3: steps.0.expect.dialled: expected the number, client or SIP URI the call was "
                      "connected to, got an empty text"),
    "recorded-a-list": (HEAD + "expect: {recorded: [hello]}\n",
                        f"{FILE}:3: steps.0.expect.recorded: expected true or false (whether the app recorded the "
                        "caller), or text the recording's words contain, got ['hello']"),
    "queue-a-mapping": (HEAD + "expect: {queue: {name: support}}\n",
                        f"{FILE}:3: steps.0.expect.queue: expected the name of a queue the caller was put in "
                        "(<Enqueue>), got {'name': 'support'}"),
}


@pytest.mark.parametrize(("text", "message"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_setup_or_expectation(text: str, message: str) -> None:
    with pytest.raises(ScriptError, match=f"^{re.escape(message)}$"):
        parse_script(text, FILE)


def test_every_setup_key_is_read() -> None:
    script = parse_script(
        "path: /ivr/entry\nmethod: get\nparams: {FromCity: BOSTON, CallToken: abc}\nqueue: hangup\n"
        "agent:\n  default: busy\n  '+18005550100': {status: completed, duration: 30, caller_hangs_up: true}\n"
        "  client:alice: no-answer\n"
        "cancel_when: {prompt: [cancellation number, cancelled], dial: '+18005550123'}\n"
        "steps:\n  - expect: {errors: 11200, prompts: [welcome, goodbye], recorded: 'true', no_errors: 'false'}\n",
        FILE)
    assert (script.path, script.method, script.params, script.queue, script.agent) == (
        "/ivr/entry", "GET", (("FromCity", "BOSTON"), ("CallToken", "abc")), "hangup", "busy")
    assert script.agents == (("+18005550100", DialResult("completed", 30, True)),
                             ("client:alice", DialResult("no-answer")))
    assert script.cancel_when == (CancelWhen("prompt", "cancellation number"), CancelWhen("prompt", "cancelled"),
                                  CancelWhen("dialled", "+18005550123"))
    assert script.steps[0].value == {"errors": ("11200",), "prompts": ("welcome", "goodbye"), "recorded": "true",
                                     "no_errors": "false"}


@pytest.mark.parametrize(("written", "agent"), [
    ("agent: busy", "busy"),
    ("agent: {default: failed}", "failed"),
    ("agent: {default: {status: completed, duration: 5}}", DialResult("completed", 5)),
])
def test_agent_default(written: str, agent: str | DialResult) -> None:
    assert parse_script(f"path: /\n{written}\nsteps:\n  - silence\n", FILE).agent == agent


@pytest.mark.parametrize(("written", "conditions"), [
    ("cancel_when: 'url:/cancelled'", (CancelWhen("url", "/cancelled"),)),
    ("cancel_when: ['prompt:bye', 'hangup-after:bye']", (CancelWhen("prompt", "bye"), CancelWhen("hangup-after",
                                                                                                   "bye"))),
    ("cancel_when: {outcome: cancelled}", (CancelWhen("outcome", "cancelled"),)),
])
def test_cancel_when_forms(written: str, conditions: tuple[CancelWhen, ...]) -> None:
    assert parse_script(f"path: /\n{written}\nsteps:\n  - silence\n", FILE).cancel_when == conditions


@pytest.mark.parametrize(("url", "flow", "entry", "path"), [
    ("http://host", "acme", None, "/voice/acme"),  # a line built with ivr
    ("http://host", None, "/voice", "/voice"),
    ("http://host/", None, None, "/"),
    ("https://host/twilio/voice", None, None, "https://host/twilio/voice"),  # a webhook URL: that URL itself
    ("https://host/twilio", None, "/voice", "/voice"),  # --entry: a path under the URL
])
def test_entry_path(url: str, flow: str | None, entry: str | None, path: str) -> None:
    assert entry_path(url, flow, entry) == path


# -- running against apps written without ivr ------------------------------------------------------------------

def twiml(*verbs: str) -> Response:
    return Response("<?xml version='1.0' encoding='UTF-8'?><Response>" + "".join(verbs) + "</Response>",
                    mimetype="text/xml")


MENU = ('<Gather action="/menu" input="dtmf speech" numDigits="1" hints="billing, cancel, agent">'
        "<Say>Welcome to Ferris Phones.</Say><Say>Press 1 for billing, 2 to cancel, 0 for an agent.</Say></Gather>"
        "<Say>We did not hear you. Goodbye.</Say>")


#: the menu's key -> what the line answers
CHOICES = {
    "1": ("<Say>Your balance is zero.</Say>", '<Redirect method="POST">/voice</Redirect>'),
    "2": ("<Say>Your cancellation number is 4 2.</Say>", "<Hangup/>"),
    "0": ("<Say>Connecting you.</Say>", '<Dial action="/dialled">+18005550100</Dial>'),
    "9": ("<Say>Leave a message.</Say>", '<Record action="/recorded" maxLength="30"/>'),
    "8": ("<Say>Please hold.</Say>", "<Enqueue>support</Enqueue>", "<Say>Nobody came.</Say>"),
    "7": ("<Dial><Conference>standup</Conference></Dial>",),
}


def flask_line() -> Flask:
    """A hand-written phone tree, as most QA engineers have: no X-Ivr headers, its own URL layout."""
    app = Flask("ferris")

    @app.route("/voice", methods=["POST"])
    def voice() -> Response:
        return twiml(MENU)

    @app.route("/menu", methods=["POST"])
    def menu() -> Response:
        choice = request.form.get("Digits") or request.form.get("SpeechResult", "").lower()
        return twiml(*CHOICES.get({"billing": "1", "cancel": "2", "agent": "0"}.get(choice, choice),
                                  ("<Say>Sorry.</Say>", '<Redirect method="POST">/voice</Redirect>')))

    @app.route("/dialled", methods=["POST"])
    def dialled() -> Response:
        return twiml(f"<Say>The agent call was {request.form['DialCallStatus']}.</Say>")

    @app.route("/recorded", methods=["POST"])
    def recorded() -> Response:
        return twiml("<Say>Thank you for your message.</Say>")

    @app.route("/crash", methods=["POST"])
    def crash() -> Response:
        raise ZeroDivisionError("the app's own bug")

    @app.route("/city", methods=["GET"])
    def city() -> Response:  # an app that reads Twilio's location parameters, on a GET entry
        return twiml(f"<Say>Hello, caller from {request.args['FromCity'].title()}.</Say>")

    return app


def wsgi_line(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The same kind of line as a plain WSGI callable: a keypad menu that cancels on 9."""
    form = parse_qs(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)).decode())
    if environ["PATH_INFO"] == "/":
        body = ('<Gather action="/choice" numDigits="1"><Say>Press 9 to cancel.</Say></Gather>'
                '<Redirect method="POST">/</Redirect>')
    elif form.get("Digits") == ["9"]:
        body = "<Say>You are cancelled. Goodbye.</Say><Hangup/>"
    else:
        body = '<Say>Say again.</Say><Redirect method="POST">/</Redirect>'
    start_response("200 OK", [("Content-Type", "application/xml")])
    return [f"<Response>{body}</Response>".encode()]


@pytest.fixture(scope="module")
def ferris() -> Iterator[Simulator]:
    sim = Simulator(flask_line(), auth_token=TOKEN)
    yield sim
    sim.close()


def run(text: str, sim: Simulator) -> list[str]:
    result = run_script(parse_script(text, FILE), sim)
    return result.failures


@pytest.mark.parametrize("text", [
    pytest.param("path: /voice\nsteps:\n  - expect: {prompts: [Welcome, press 1 for billing], status: in-progress}\n"
                 "  - press: '1'\n  - expect: {prompts: [welcome, balance is zero, welcome], ended: 'false'}\n",
                 id="prompts-in-order"),
    pytest.param("path: /voice\nsteps:\n  - press: '2'\nexpect: {ended: 'true', status: completed, "
                 "prompt_contains: cancellation number, turns_at_most: 1}\n", id="status"),
    pytest.param("path: /voice\ncancel_when: 'prompt:cancellation number'\nsteps:\n  - expect: {cancelled_within: 2}"
                 "\n  - press: '1'\n  - say: cancel\n", id="cancel-when-a-prompt"),
    pytest.param("path: /voice\ncancel_when: {prompt: [nothing like it, 'number is \\d']}\nsteps:\n"
                 "  - expect: {cancelled_within: 1}\n  - press: '2'\n", id="cancel-when-either-prompt"),
    pytest.param("path: /crash\nsteps:\n  - expect: {errors: [11200], status: failed}\n", id="an-expected-error"),
    pytest.param("path: /crash\nsteps:\n  - expect: {no_errors: 'false', ended: 'true'}\n", id="errors-allowed"),
])
def test_passing_scripts_on_an_app_without_ivr(text: str, ferris: Simulator) -> None:
    assert run(text, ferris) == []


def test_a_crashed_app_fails_a_script_that_expects_the_call_to_end(ferris: Simulator) -> None:
    """The issue's bug: `ended: true` passed against an app that crashed with error 11200."""
    result = run_script(parse_script("path: /crash\nsteps:\n  - expect: {ended: 'true'}\n", FILE), ferris)
    assert result.failures == ["no Twilio errors (it has 11200: http://localhost/crash answered HTTP 500)"]
    report = result.report()
    assert "| ok   ended: true (status 'failed')" in report
    assert "| FAIL no Twilio errors (it has 11200: http://localhost/crash answered HTTP 500)" in report
    assert report.endswith("\n\n  Twilio error 11200: http://localhost/crash answered HTTP 500")


def test_no_errors_said_and_by_default_fails_once(ferris: Simulator) -> None:
    assert run("path: /crash\nsteps:\n  - expect: {no_errors: 'true'}\n", ferris) == [
        "no Twilio errors (it has 11200: http://localhost/crash answered HTTP 500)"]


@pytest.mark.parametrize(("expect", "failure"), [
    ("status: completed", "status 'completed' (it is 'in-progress')"),
    ("prompts: [press 1, welcome]", "heard in order: 'press 1', 'welcome' ('welcome' was not heard after "
                                    "'press 1')"),
    ("prompts: [goodbye]", "heard in order: 'goodbye' ('goodbye' was not heard)"),
    ("errors: 11200", "Twilio errors ['11200'] (it has none)"),
    ("recorded: 'true'", "recorded: true (0 recording(s))"),
    ("queue: support", "joined queue 'support' (it joined none)"),
    ("conference: standup", "joined conference 'standup' (it joined none)"),
    ("dialled: '+18005550100'", "dialled '+18005550100' (it dialled nothing)"),
    ("hung_up_by: app", "hung up by app (it was nobody yet)"),
    ("node: main_menu", f"at node 'main_menu': {NO_IVR_HEADERS}"),
    ("outcome: cancelled", f"outcome 'cancelled': {NO_IVR_HEADERS}"),
])
def test_failed_expectation_on_an_app_without_ivr(expect: str, failure: str, ferris: Simulator) -> None:
    assert run(f"path: /voice\nsteps:\n  - expect: {{{expect}}}\n", ferris) == [failure]


def test_cancelled_within_without_cancel_when_says_what_to_give(ferris: Simulator) -> None:
    text = "path: /voice\nsteps:\n  - expect: {cancelled_within: 2}\n  - press: '2'\n"
    assert run(text, ferris) == [f"cancelled within 2 turns: {NO_IVR_HEADERS}"]


@pytest.mark.parametrize(("cancel_when", "steps", "failure"), [
    ("'prompt:cancellation number'", ["press: '1'", "press: '1'", "press: '2'"],
     "cancelled (prompt:cancellation number) within 2 turns (took 3)"),
    ("['prompt:nothing like it', 'dialled:+18005550123']", ["press: '2'"],
     "cancelled (prompt:nothing like it or dialled:+18005550123) within 2 turns (not seen in 1 turns)"),
])
def test_cancel_when_too_slow_or_never(cancel_when: str, steps: list[str], failure: str, ferris: Simulator) -> None:
    text = f"path: /voice\ncancel_when: {cancel_when}\nsteps:\n  - expect: {{cancelled_within: 2}}\n" + "".join(
        f"  - {s}\n" for s in steps)
    assert run(text, ferris) == [failure]


def test_a_step_after_the_end_names_no_outcome_on_an_app_without_ivr(ferris: Simulator) -> None:
    assert run("path: /voice\nsteps:\n  - press: '2'\n  - press: '1'\n", ferris) == [
        "step 2 (press 1): the call is already over (completed)"]


def test_a_plain_wsgi_app(ferris: Simulator) -> None:
    sim = Simulator(wsgi_line, auth_token=TOKEN)
    text = ("path: /\ncancel_when: 'prompt:you are cancelled'\nsteps:\n  - expect: {cancelled_within: 2}\n"
            "  - press: '5'\n  - press: '9'\nexpect: {status: completed, prompts: [press 9, say again, press 9, "
            "you are cancelled]}\n")
    try:
        assert run(text, sim) == []
    finally:
        sim.close()


# -- what the simulator now executes and records (Dial results, Record, Enqueue, Conference, GET, params) --------

@pytest.mark.parametrize("text", [
    pytest.param("path: /voice\nsteps:\n  - press: '0'\nexpect: {dialled: '+1 800 555 0100', "
                 "prompt_contains: agent call was completed, hung_up_by: app}\n", id="dialled"),
    pytest.param("path: /voice\nagent: {default: busy, '+18005550100': no-answer}\nsteps:\n  - press: '0'\n"
                 "expect: {prompt_contains: agent call was no-answer}\n", id="agent-per-target"),
    pytest.param("path: /voice\ncancel_when: 'dialled:+18005550100'\nsteps:\n  - expect: {cancelled_within: 1}\n"
                 "  - press: '0'\n", id="cancel-when-dialled"),
    pytest.param("path: /voice\ncancel_when: 'url:/dialled'\nsteps:\n  - expect: {cancelled_within: 1}\n"
                 "  - press: '0'\n", id="cancel-when-a-url"),
    pytest.param("path: /voice\nsteps:\n  - press: '2'\nexpect: {hung_up_by: app}\n", id="hung-up-by-the-app"),
    pytest.param("path: /voice\ncancel_when: {prompt: nothing like it, hangup-after: cancellation}\nsteps:\n"
                 "  - expect: {cancelled_within: 1}\n  - press: '2'\n", id="cancel-when-a-hang-up-after"),
    pytest.param("path: /voice\nsteps:\n  - press: '1'\n  - hang up\nexpect: {hung_up_by: caller, "
                 "status: completed}\n", id="hung-up-by-the-caller"),
    pytest.param("path: /voice\nsteps:\n  - press: '9'\n  - say: my router is broken\n"
                 "expect: {recorded: router is broken, prompt_contains: thank you for your message}\n", id="recorded"),
    pytest.param("path: /voice\nqueue: hangup\nsteps:\n  - press: '8'\nexpect: {queue: support, ended: 'true'}\n",
                 id="enqueued"),
    pytest.param("path: /voice\nsteps:\n  - press: '7'\nexpect: {conference: standup}\n", id="conference"),
    pytest.param("path: /city\nmethod: GET\nparams: {FromCity: BOSTON}\nsteps:\n  - expect: {prompt_contains: "
                 "caller from Boston}\nexpect: {status: completed}\n", id="get-with-params"),
])
def test_what_twilio_sees(text: str, ferris: Simulator) -> None:
    assert run(text, ferris) == []


# -- ivr's own line: its headers still count, and cancel_when works there too -------------------------------------

@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    app = make_app(f"sqlite:///{tmp_path_factory.mktemp('acme')}/c.db", flows=(ACME,))
    sim = Simulator(app, auth_token=TOKEN)
    yield sim
    sim.close()
    app.extensions["ivr"].store.close()


CANCELLER = "  - say: cancel\n  - press: '12345678#'\n  - say: cancel\n  - say: 'yes'\n"


@pytest.mark.parametrize(("head", "failures"), [
    ("cancel_when: 'prompt:confirmation number is'\n", []),
    ("cancel_when: 'outcome:cancelled'\n", []),
    ("", []),  # the outcome-based meaning, as before
    ("cancel_when: 'prompt:fifty percent off'\n", []),  # what the script says cancellation is, counts
    ("cancel_when: 'dialled:+18005550100'\n",
     ["cancelled (dialled:+18005550100) within 4 turns (not seen in 4 turns)"]),
])
def test_cancel_when_on_a_line_built_with_ivr(head: str, failures: list[str], acme: Simulator) -> None:
    text = f"flow: acme\n{head}steps:\n  - expect: {{cancelled_within: 4}}\n{CANCELLER}"
    assert run(text, acme) == failures


def test_ivr_expectations_and_twilios_together(acme: Simulator) -> None:
    text = (f"flow: acme\nsteps:\n{CANCELLER}expect: {{outcome: cancelled, node: cancelled_goodbye, status: "
            "completed, prompts: [To cancel your service, eight digit account number, fifty percent off, "
            "confirmation number], no_errors: 'true'}\n")
    assert run(text, acme) == []


def test_an_unknown_flow_fails_with_its_error(acme: Simulator) -> None:
    result = run_script(parse_script("flow: nosuch\nsteps:\n  - expect: {ended: 'true'}\n", FILE), acme)
    assert result.failures == ["no Twilio errors (it has 11200: http://localhost/voice/nosuch answered HTTP 404)"]


def test_a_play_twilio_cannot_fetch_is_shown_as_a_warning_and_the_call_goes_on() -> None:
    """Twilio logs the failed fetch and skips the <Play>: the script passes, and its report shows the warning."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"].startswith("/missing"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such file"]
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [b"<Response><Play>/missing/welcome.wav</Play><Say>Goodbye.</Say></Response>"]

    script = parse_script("path: /voice\nsteps:\n  - expect: {prompts: [Goodbye]}\nexpect: {status: completed}\n",
                          FILE)
    result = run_script(script, Simulator(app, auth_token=TOKEN))
    assert result.ok, result.report()
    assert result.call is not None
    assert not result.call.errors
    assert "  Twilio warning 11200: " in result.report()
