"""Tests of `ivr.testing.scripts`: YAML call scripts parsed with file:line errors, and run through the simulator
against the real app, every failed expectation reported beside the conversation.

Every malformed script is one row of `MALFORMED`: the script's text and the exact `str(error)` it must give. A row in
`SCRIPT_BUGS` holds the message the parser *should* give and is a strict xfail until it gives it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from ivr.errors import FlowFileError, IvrError, ScriptError
from ivr.testing.scripts import Instruction, load_script, parse_script, run_script
from ivr.testing.sim import Simulator
from tests.conftest import ROOT, TOKEN, make_app

FILE = "calls/x.call.yaml"
TOP_KEYS = ("['flow', 'path', 'method', 'params', 'from', 'description', 'agent', 'queue', 'cancel_when', 'steps', "
            "'expect']")
STEP_KINDS = "['say', 'press', 'silence', 'hang up', 'expect']"
EXPECTATIONS = ("['prompt_contains', 'prompt_matches', 'heard_contains', 'prompts', 'node', 'outcome', 'ended', "
                "'status', 'errors', 'no_errors', 'dialled', 'recorded', 'queue', 'conference', 'hung_up_by', "
                "'turns_at_most', 'cancelled_within']")
NOT_A_LIST = "steps: expected a list of steps: say, press, silence, hang up, expect"
SAY_WHAT = "say what? give the caller's words, or {text, confidence}"
MISSING_FLOW = "missing required key 'flow' (the flow's name), or 'path' (the webhook path, starting with '/')"
ONE_STEP = "flow: acme\nsteps:\n  - "
BAD_AGENT = ("agent: 'maybe' is not one of ['completed', 'no-answer', 'busy', 'failed'], nor a mapping of dialled "
             "target to result (with 'default')")

#: id -> (script text, error class, exact message)
MALFORMED: dict[str, tuple[str, type[IvrError], str]] = {
    "unknown-top-key": ("flow: acme\nsteps:\n  - silence\ncaller: '+15551234567'\n", ScriptError,
                        f"{FILE}:4: caller: unknown key 'caller'; valid keys: {TOP_KEYS}"),
    "missing-flow-and-path": ("description: no flow\nsteps:\n  - silence\n", ScriptError, f"{FILE}:1: {MISSING_FLOW}"),
    "steps-missing": ("flow: acme\n", ScriptError, f"{FILE}:1: {NOT_A_LIST}"),
    "steps-a-string": ("flow: acme\nsteps: silence\n", ScriptError, f"{FILE}:2: {NOT_A_LIST}"),
    "steps-a-mapping": ("flow: acme\nsteps:\n  say: hi\n", ScriptError, f"{FILE}:2: {NOT_A_LIST}"),
    "steps-empty": ("flow: acme\nsteps: []\n", ScriptError, f"{FILE}:2: {NOT_A_LIST}"),
    "unknown-step-kind": ("flow: acme\nsteps:\n  - silence\n  - shout: hello\n", ScriptError,
                          f"{FILE}:4: steps.1.shout: unknown step 'shout'; valid steps: {STEP_KINDS}"),
    "unknown-bare-step": (ONE_STEP + "wait\n", ScriptError,
                          f"{FILE}:3: steps.0: 'wait' is not a step; a step is one of: 'silence', 'hang up', "
                          "{say: TEXT}, {press: KEYS}, {expect: {...}}"),
    "two-kinds-in-one-step": (ONE_STEP + "say: hi\n    press: '1'\n", ScriptError,
                              f"{FILE}:3: steps.0: {{'say': 'hi', 'press': '1'}} is not a step; a step is one of: "
                              "'silence', 'hang up', {say: TEXT}, {press: KEYS}, {expect: {...}}"),
    "say-empty": (ONE_STEP + "say: ''\n", ScriptError, f"{FILE}:3: steps.0.say: '': {SAY_WHAT}"),
    "say-blank": (ONE_STEP + "say: '   '\n", ScriptError, f"{FILE}:3: steps.0.say: '   ': {SAY_WHAT}"),
    "say-without-text": (ONE_STEP + "say: {confidence: 0.5}\n", ScriptError,
                         f"{FILE}:3: steps.0.say: {{'confidence': '0.5'}}: {SAY_WHAT}"),
    "say-text-a-list": (ONE_STEP + "say: {text: [cancel]}\n", ScriptError,
                        f"{FILE}:3: steps.0.say: {{'text': ['cancel']}}: {SAY_WHAT}"),
    "confidence-above-1": (ONE_STEP + "say: {text: cancel, confidence: 1.5}\n", ScriptError,
                           f"{FILE}:3: steps.0.say.confidence: '1.5' is not a confidence between 0 and 1"),
    "confidence-negative": (ONE_STEP + "say: {text: cancel, confidence: -0.1}\n", ScriptError,
                            f"{FILE}:3: steps.0.say.confidence: '-0.1' is not a confidence between 0 and 1"),
    "confidence-a-word": (ONE_STEP + "say: {text: cancel, confidence: high}\n", ScriptError,
                          f"{FILE}:3: steps.0.say.confidence: 'high' is not a confidence between 0 and 1"),
    "press-letters": (ONE_STEP + "press: '12a#'\n", ScriptError,
                      f"{FILE}:3: steps.0.press: '12a#' is not a key sequence: use 0-9, * and #"),
    "press-empty": (ONE_STEP + "press: ''\n", ScriptError,
                    f"{FILE}:3: steps.0.press: '' is not a key sequence: use 0-9, * and #"),
    "press-hash-unquoted": (ONE_STEP + "press: #\n", ScriptError,
                            f"{FILE}:3: steps.0.press: empty: YAML reads the '#' in 'press: #' as the start of a "
                            'comment; quote it: press: "#"'),
    "press-a-list": (ONE_STEP + "press: [1, 2]\n", ScriptError,
                     f"{FILE}:3: steps.0.press: ['1', '2'] is not a key sequence: use 0-9, * and #"),
    "unknown-expectation": (ONE_STEP + "expect: {prompt_contain: hello}\n", ScriptError,
                            f"{FILE}:3: steps.0.expect.prompt_contain: unknown expectation 'prompt_contain'; "
                            f"valid: {EXPECTATIONS}"),
    "cancelled-within-a-word": (ONE_STEP + "expect: {cancelled_within: four}\n", ScriptError,
                                f"{FILE}:3: steps.0.expect.cancelled_within: 'four' is not a whole number from 0 to "
                                "1000000"),
    "cancelled-within-negative": (ONE_STEP + "expect: {cancelled_within: -1}\n", ScriptError,
                                  f"{FILE}:3: steps.0.expect.cancelled_within: '-1' is not a whole number from 0 to "
                                  "1000000"),
    "turns-at-most-a-fraction": ("flow: acme\nsteps:\n  - silence\nexpect:\n  turns_at_most: 3.5\n", ScriptError,
                                 f"{FILE}:5: expect.turns_at_most: '3.5' is not a whole number from 0 to 1000000"),
    "ended-yes": (ONE_STEP + "expect: {ended: 'yes'}\n", ScriptError,
                  f"{FILE}:3: steps.0.expect.ended: 'yes' is not true or false"),
    "ended-capitalised": (ONE_STEP + "expect: {ended: True}\n", ScriptError,
                          f"{FILE}:3: steps.0.expect.ended: 'True' is not true or false"),
    "bad-regex": (ONE_STEP + "expect: {prompt_matches: '(unclosed'}\n", ScriptError,
                  f"{FILE}:3: steps.0.expect.prompt_matches: '(unclosed' is not a valid regular expression"),
    "expectation-a-list": (ONE_STEP + "expect: {outcome: [cancelled]}\n", ScriptError,
                           f"{FILE}:3: steps.0.expect.outcome: expected the call's outcome so far (X-Ivr-Outcome), "
                           "got ['cancelled']"),
    "expect-empty": (ONE_STEP + "expect: {}\n", ScriptError,
                     f"{FILE}:3: steps.0.expect: expected a mapping of expectations: {EXPECTATIONS}"),
    "top-expect-a-word": ("flow: acme\nsteps:\n  - silence\nexpect: cancelled\n", ScriptError,
                          f"{FILE}:4: expect: expected a mapping of expectations: {EXPECTATIONS}"),
    "duplicate-top-key": ("flow: acme\nsteps:\n  - silence\nflow: gym\n", ScriptError,
                          f"{FILE}:4: flow: duplicate key 'flow' (first defined on line 1)"),
    "duplicate-expectation": (ONE_STEP + "expect:\n      node: menu\n      node: welcome\n", ScriptError,
                              f"{FILE}:5: steps.0.expect.node: duplicate key 'node' (first defined on line 4)"),
    "agent-not-a-choice": ("flow: acme\nagent: maybe\nsteps:\n  - silence\n", ScriptError, f"{FILE}:2: {BAD_AGENT}"),
    "empty-file": ("", FlowFileError, f"{FILE}: the file is empty; a call script needs 'flow' and 'steps'"),
    "comments-only": ("# a call script, some day\n", FlowFileError,
                      f"{FILE}: the file is empty; a call script needs 'flow' and 'steps'"),
    "top-level-list": ("- flow: acme\n- steps: []\n", FlowFileError,
                       f"{FILE}:1: a call script file must be a mapping of keys, got a list"),
    "not-yaml": ("flow: acme\nsteps: [silence\n", FlowFileError,
                 f"{FILE}:3: not valid YAML: while parsing a flow sequence (line 2), expected ',' or ']', but got "
                 "'<stream end>'"),
}


@pytest.mark.parametrize(("text", "error", "message"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_script(text: str, error: type[IvrError], message: str) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        parse_script(text, FILE)


#: what the parser should say but does not (yet) -> (script, a pattern the message must match, the bug)
#: mistakes once accepted or misreported (each was a bug), with the message each gets now
MISTAKES: dict[str, tuple[str, str, str]] = {
    "say-typo-in-key": (
        ONE_STEP + "say: {text: cancel, confidnce: 0.3}\n",
        r"^calls/x\.call\.yaml:3: steps\.0\.say\.confidnce: unknown key 'confidnce'.*\['text', 'confidence'\]",
        "a misspelt key in {text, confidence} is ignored: the step runs with confidence 0.92 instead of 0.3"),
    "press-w": (
        ONE_STEP + "press: '1234w5678#'\n",
        r"^calls/x\.call\.yaml:3: steps\.0\.press: '1234w5678#' is not a key sequence: use 0-9, \* and #$",
        "'w' is accepted (the regex allows it, the message says 0-9, * and #) and reaches the app as a digit"),
    "prompt-contains-empty": (
        ONE_STEP + "expect: {prompt_contains: ''}\n",
        r"^calls/x\.call\.yaml:3: steps\.0\.expect\.prompt_contains: ",
        "an empty text is accepted and the expectation always passes"),
    "prompt-contains-empty-list": (
        ONE_STEP + "expect: {prompt_contains: []}\n",
        r"^calls/x\.call\.yaml:3: steps\.0\.expect\.prompt_contains: ",
        "an empty list is accepted and the expectation always passes"),
    "from-a-mapping": (
        "flow: acme\nfrom: {number: '+15551234567'}\nsteps:\n  - silence\n",
        r"^calls/x\.call\.yaml:2: from: ",
        "a mapping is accepted and str()-ed into the caller ID \"{'number': '+15551234567'}\""),
    "path-without-slash": (
        "path: voice/acme\nsteps:\n  - silence\n",
        r"^calls/x\.call\.yaml:1: path: .*'voice/acme'",
        "reported as \"missing required key 'flow' ... or 'path'\" although 'path' is there: name the bad value"),
    "flow-a-mapping": (
        "flow: {name: acme}\nsteps:\n  - silence\n",
        r"^calls/x\.call\.yaml:1: flow: ",
        "reported as \"missing required key 'flow'\" although 'flow' is there: name the bad value"),
    "flow-and-path": (
        "flow: acme\npath: /voice/gym\nsteps:\n  - silence\n",
        r"^calls/x\.call\.yaml:[12]: (flow|path): ",
        "both are accepted and 'path' silently wins over 'flow'"),
    "silence-with-a-value": (
        ONE_STEP + "silence: 3\n",
        r"^calls/x\.call\.yaml:3: steps\.0(\.silence)?: (?!unknown step).*'silence'",
        "says \"unknown step 'silence'; valid steps: [..., 'silence', ...]\": it contradicts itself"),
    # found by fuzzing (tests/fuzz/test_fuzz_readers.py)
    "turns-a-unicode-digit": (
        ONE_STEP + "expect: {turns_at_most: \u00b2}\n",
        r"^calls/x\.call\.yaml:3: steps\.0\.expect\.turns_at_most: '\u00b2' is not a whole number from 0 to 1000000$",
        "'\u00b2' passes str.isdigit, and running the script raised ValueError from int()"),
    "within-past-what-int-converts": (
        ONE_STEP + "expect: {cancelled_within: '" + "9" * 5000 + "'}\n",
        r"^calls/x\.call\.yaml:3: steps\.0\.expect\.cancelled_within: '9{5000}' is not a whole number from 0 to",
        "5000 digits pass str.isdigit, and running the script raised ValueError (int() takes 4300 digits)"),
    "regex-repeat-too-large": (
        ONE_STEP + "expect: {prompt_matches: 'a{99999999999}'}\n",
        r"^calls/x\.call\.yaml:3: steps\.0\.expect\.prompt_matches: 'a\{99999999999\}' is not a valid regular",
        "re.compile raised OverflowError out of the reader"),
    "regex-nested-too-deep": (
        ONE_STEP + "expect: {prompt_matches: '" + "(" * 5000 + ")" * 5000 + "'}\n",
        r"^calls/x\.call\.yaml:3: steps\.0\.expect\.prompt_matches: '\({5000}\){5000}' is not a valid regular",
        "re.compile raised RecursionError out of the reader"),
    "problems-in-file-order": (
        "flow: acme\nsteps:\n  - shout: hi\nagent: maybe\ncaller: '+1555'\n",
        r"^calls/x\.call\.yaml:3: .*\ncalls/x\.call\.yaml:4: .*\ncalls/x\.call\.yaml:5: ",
        "problems come in the order they are checked (5, 4, 3), not by line as for flows (parse_flow sorts them)"),
}


@pytest.mark.parametrize(
    ("text", "pattern"),
    [pytest.param(text, pattern, id=name) for name, (text, pattern, _was) in MISTAKES.items()])
def test_script_mistake_is_named(text: str, pattern: str) -> None:
    with pytest.raises(ScriptError, match=pattern):
        parse_script(text, FILE)


def test_every_problem_is_reported_at_once() -> None:
    text = "flow: acme\nagent: maybe\nsteps:\n  - shout: hi\n  - press: abc\n  - expect: {ended: maybe}\n"
    with pytest.raises(ScriptError) as caught:
        parse_script(text, FILE)
    assert sorted(str(p) for p in caught.value.problems) == [
        f"{FILE}:2: {BAD_AGENT}",
        f"{FILE}:4: steps.0.shout: unknown step 'shout'; valid steps: {STEP_KINDS}",
        f"{FILE}:5: steps.1.press: 'abc' is not a key sequence: use 0-9, * and #",
        f"{FILE}:6: steps.2.expect.ended: 'maybe' is not true or false",
    ]
    assert caught.value.code == "invalid-script"


# -- reading files ------------------------------------------------------------------------------------------


def test_load_script_reads_the_checked_in_script() -> None:
    script = load_script(ROOT / "tests" / "calls" / "acme-cancel-fast.call.yaml")
    assert (script.name, script.path, script.caller, script.agent) == (
        "acme-cancel-fast", "/voice/acme", "+15551234567", "completed")
    assert script.description == "persistent canceller, account by keypad"
    assert [s.kind for s in script.steps] == ["expect", "expect", "say", "expect", "press", "expect", "say", "say",
                                              "expect", "expect"]
    assert script.steps[-1] == Instruction("expect", {"outcome": "cancelled", "turns_at_most": "4"}, line=17)


def test_load_script_missing_file(tmp_path: Path) -> None:
    missing = re.escape(str(tmp_path / "nope.call.yaml"))
    with pytest.raises(FlowFileError, match=f"^{missing}: no such call script file$"):
        load_script(tmp_path / "nope.call.yaml")


def test_load_script_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.call.yaml"
    path.write_bytes("flow: acme\nsteps:\n  - say: caf\xe9\n".encode("latin-1"))
    with pytest.raises(FlowFileError, match=f"^{re.escape(str(path))}.*not UTF-8"):
        load_script(path)


def test_load_script_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.call.yaml"
    path.write_bytes("flow: acme\nsteps:\n  - say: caf\xe9\n".encode("latin-1"))
    with pytest.raises(FlowFileError, match=f"^{re.escape(str(path))}:3: not UTF-8 text: byte 0xe9 in column 13"):
        load_script(path)


@pytest.mark.parametrize(("written", "kind"), [
    ("silence", "silence"), ("Silence", "silence"), ("hang up", "hang up"), ("hangup", "hang up"),
    ("Hang  Up", "hang up"), ("HangUp", "hang up"),
])
def test_bare_steps_are_forgiving_about_case_and_spaces(written: str, kind: str) -> None:
    assert parse_script(f"flow: acme\nsteps:\n  - {written}\n", FILE).steps == (Instruction(kind, line=3),)


def test_valid_values() -> None:
    script = parse_script(
        "path: /voice/gym\nfrom: '+15559876543'\nagent: no-answer\nsteps:\n"
        "  - press: 1234          # unquoted: still the keys '1234', never the number 1234\n"
        "  - press: '*9#'\n"
        "  - say: {text: cancel, confidence: 0}\n"
        "  - say: 'yes'         # never True\n"
        "  - expect: {cancelled_within: 0, turns_at_most: 12, ended: false, prompt_contains: [a, b]}\n", FILE)
    assert (script.path, script.caller, script.agent, script.name) == ("/voice/gym", "+15559876543", "no-answer", "x")
    assert script.steps == (
        Instruction("press", "1234", line=5), Instruction("press", "*9#", line=6),
        Instruction("say", "cancel", 0.0, line=7),
        Instruction("say", "yes", line=8),
        Instruction("expect", {"cancelled_within": "0", "turns_at_most": "12", "ended": "false",
                        "prompt_contains": ("a", "b")}, line=9))


# -- running against the real app ---------------------------------------------------------------------------

SHOP = (ROOT / "tests" / "flows" / "shop.yaml").read_text("utf-8")


@pytest.fixture(scope="module")
def shop_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The real app serving acme and the small `shop` flow, on a SQLite store (calls have their own CallSids, so
    the tests of this module share it)."""
    tmp_path = tmp_path_factory.mktemp("scripts")
    shop = tmp_path / "shop.yaml"
    shop.write_text(SHOP, "utf-8")
    # shop fails the proof (a cancel path the scripts exercise): served anyway, as in development
    app = make_app(f"sqlite:///{tmp_path}/c.db", flows=(ROOT / "flows" / "acme.yaml", shop), serve_failing=True)
    yield app
    app.extensions["ivr"].store.close()


@pytest.fixture
def sim(shop_app: Flask) -> Iterator[Simulator]:
    simulator = Simulator(shop_app, auth_token=TOKEN)
    yield simulator
    simulator.close()


def run(text: str, sim: Simulator) -> list[str]:
    result = run_script(parse_script(text, FILE), sim)
    assert result.ok == (not result.failures)
    return result.failures


def test_checked_in_script_passes(sim: Simulator) -> None:
    result = run_script(load_script(ROOT / "tests" / "calls" / "acme-cancel-fast.call.yaml"), sim)
    assert result.ok, result.report()
    assert result.call is not None
    assert (result.call.outcome, result.call.turns) == ("cancelled", 4)
    report = result.report()
    assert report.splitlines()[0].endswith("acme-cancel-fast.call.yaml: ok")
    assert report.count("| ok   ") == 9
    assert "FAIL" not in report


@pytest.mark.parametrize("text", [
    pytest.param("flow: acme\nsteps:\n  - expect: {prompt_contains: [BILLING, Technical Support], node: main_menu,"
                 " turns_at_most: 0, ended: false}\n  - say: billing\n"
                 "  - expect: {prompt_matches: 'balance is forty( \\w+)+ dollars', heard_contains: 'press 9'}\n"
                 "  - say: 'no'\nexpect: {ended: true, outcome: resolved, turns_at_most: 2}\n", id="billing"),
    pytest.param("flow: acme\nagent: no-answer\nsteps:\n  - say: agent\n"
                 "  - expect: {prompt_contains: nobody is available, outcome: transferred, ended: true}\n",
                 id="agent-does-not-answer"),
    pytest.param("flow: acme\nsteps:\n  - say: billing\n  - hang up\n  - expect: {ended: true}\n", id="hang-up"),
    pytest.param("flow: acme\nsteps:\n  - expect: {cancelled_within: 4}\n  - press: '9'\n"
                 "  - press: '12345678#'\n  - press: '9'\n  - press: '1'\n", id="cancel-by-keypad"),
    pytest.param("path: /voice/shop\nsteps:\n  - silence\n  - expect: {node: menu, prompt_contains: press 1}\n"
                 "  - say: {text: opening hours, confidence: 0.4}\nexpect: {outcome: informed}\n", id="path"),
])
def test_passing_scripts(text: str, sim: Simulator) -> None:
    assert run(text, sim) == []


def test_caller_id_reaches_the_app(sim: Simulator, shop_app: Flask) -> None:
    result = run_script(parse_script("flow: acme\nfrom: '+15559876543'\nsteps:\n  - silence\n", FILE), sim)
    assert result.ok
    assert result.call is not None
    record = shop_app.extensions["ivr"].store.get_call(result.call.sid)
    assert record is not None
    assert record.caller == "+15559876543"


#: after "billing" the caller is at anything_else, 1 turn in, asked "Is there anything else I can help you with?"
AFTER_BILLING = "flow: acme\nsteps:\n  - say: billing\n  - expect: {%s}\n"


@pytest.mark.parametrize(("expectation", "failure"), [
    ("prompt_contains: goodbye", "prompt contains 'goodbye'"),
    ("prompt_contains: [balance, goodbye]", "prompt contains 'balance', 'goodbye'"),
    ("prompt_contains: For billing", "prompt contains 'For billing'"),  # said before the caller's last step
    ("prompt_matches: 'balance is \\d+'", "prompt matches /balance is \\d+/"),
    ("heard_contains: cancel your account", "the IVR has said 'cancel your account'"),
    ("node: main_menu", "at node 'main_menu' (it is at 'anything_else')"),
    ("outcome: resolved", "outcome 'resolved' (it is None)"),
    ("ended: true", "ended: true (status 'in-progress')"),
    ("turns_at_most: 0", "at most 0 turns (took 1)"),
])
def test_failed_expectation_is_reported(expectation: str, failure: str, sim: Simulator) -> None:
    assert run(AFTER_BILLING % expectation, sim) == [failure]


def test_every_failed_expectation_is_reported(sim: Simulator) -> None:
    assert run(AFTER_BILLING % "node: main_menu, outcome: resolved, prompt_contains: anything else", sim) == [
        "at node 'main_menu' (it is at 'anything_else')", "outcome 'resolved' (it is None)"]


@pytest.mark.parametrize(("steps", "failure"), [
    pytest.param("say: cancel\n  - press: '12345678#'\n  - say: cancel\n  - say: 'yes'",
                 "cancelled within 2 turns (took 4, outcome 'cancelled')", id="too-slow"),
    pytest.param("say: agent", "cancelled within 2 turns (took 1, outcome 'transferred')", id="wrong-outcome"),
    pytest.param("say: cancel\n  - hang up", "cancelled within 2 turns (took 1, outcome None)", id="never-ends"),
])
def test_cancelled_within(steps: str, failure: str, sim: Simulator) -> None:
    assert run(f"flow: acme\nsteps:\n  - expect: {{cancelled_within: 2}}\n  - {steps}\n", sim) == [failure]


@pytest.mark.parametrize(("outcome", "failures"), [
    # a line whose cancellations end another way says so with its outcome expectation (as generated scripts do)
    ("expect: {outcome: resolved}\n", []),
    ("expect: {outcome: resolved, ended: true}\n", []),
    ("", ["cancelled within 2 turns (took 2, outcome 'resolved')"]),
    ("expect: {outcome: kept}\n", ["outcome 'kept' (it is 'resolved')",
                                    "cancelled (outcome 'kept') within 2 turns (took 2, outcome 'resolved')"]),
])
def test_cancelled_within_waits_for_the_outcome_the_script_expects(outcome: str, failures: list[str],
                                                                   sim: Simulator) -> None:
    text = f"flow: acme\nsteps:\n  - expect: {{cancelled_within: 2}}\n  - say: billing\n  - say: 'no'\n{outcome}"
    assert run(text, sim) == failures


def test_cancelled_within_counts_from_where_it_is_opened(sim: Simulator) -> None:
    text = ("flow: acme\nsteps:\n  - say: billing\n  - say: 'yes'\n  - expect: {cancelled_within: 4}\n"
            "  - say: cancel\n  - press: '12345678#'\n  - say: cancel\n  - say: 'yes'\n")
    assert run(text, sim) == []


@pytest.mark.parametrize(("step", "described"), [
    ("say: hello", "say 'hello'"),
    ("say: {text: hello, confidence: 0.5}", "say 'hello' (confidence 0.5)"),
    ("press: '1'", "press 1"),
    ("silence", "silence"),
])
def test_caller_step_after_the_call_ended(step: str, described: str, sim: Simulator) -> None:
    text = f"flow: acme\nsteps:\n  - say: billing\n  - say: 'no'\n  - {step}\n  - say: again\n"
    result = run_script(parse_script(text, FILE), sim)
    assert result.failures == [f"step 3 ({described}): the call is already over (completed, outcome 'resolved')"]
    assert result.call is not None
    assert result.call.transcript[-1].text == "Thank you for calling Acme. Goodbye."


def test_hanging_up_after_the_ivr_did_is_reported(sim: Simulator) -> None:
    text = "path: /voice/shop\nsteps:\n  - press: '1'\n  - hang up\n"
    assert run(text, sim) == ["step 2 (hang up): the call is already over (completed, outcome 'informed')"]


def test_prompt_after_hanging_up_is_empty(sim: Simulator) -> None:
    text = "flow: acme\nsteps:\n  - say: billing\n  - hang up\n  - expect: {prompt_contains: anything else}\n"
    assert run(text, sim) == ["prompt contains 'anything else'"]


def test_unknown_flow_is_an_application_error(sim: Simulator) -> None:
    result = run_script(parse_script("flow: nosuch\nsteps:\n  - silence\n", FILE), sim)
    assert result.failures == ["step 1 (silence): the call is already over (failed)",
                               "no Twilio errors (it has 11200: http://localhost/voice/nosuch answered HTTP 404)"]
    assert result.report().endswith("\n\n  Twilio error 11200: http://localhost/voice/nosuch answered HTTP 404")


REPORT = """\
calls/x.call.yaml: 3 expectation(s) failed

  conversation                             | expected
     IVR: Corner shop. Say hours or press  |
            1.                             |
                                           | ok   prompt contains 'hours'
                                           | ok   at node 'menu' (it is at 'menu')
                                           | FAIL cancelled (outcome 'closed') within 0 turns (took 1, \
outcome 'informed')
  CALLER: says 'opening hours'             |
     IVR: We open at nine. Goodbye.        |
                                           | ok   ended: true (status 'completed')
                                           | FAIL outcome 'closed' (it is 'informed')
                                           | FAIL step 4 (press 1): the call is already over (completed, \
outcome 'informed')"""


def test_report_puts_each_expectation_beside_the_conversation(sim: Simulator) -> None:
    text = ("flow: shop\nsteps:\n  - expect: {prompt_contains: hours, node: menu, cancelled_within: 0}\n"
            "  - say: opening hours\n  - expect: {ended: true, outcome: closed}\n  - press: '1'\n")
    result = run_script(parse_script(text, FILE), sim)
    assert result.report(width=40) == REPORT
    assert result.report(width=40) == result.report(40)


def test_report_of_a_passing_script(sim: Simulator) -> None:
    result = run_script(parse_script("flow: shop\nsteps:\n  - press: '1'\nexpect: {outcome: informed}\n", FILE), sim)
    assert result.report(width=30).splitlines() == [
        "calls/x.call.yaml: ok",
        "",
        "  conversation                   | expected",
        "     IVR: Corner shop. Say hours |",
        "            or press 1.          |",
        "  CALLER: presses 1              |",
        "     IVR: We open at nine.       |",
        "            Goodbye.             |",
        "                                 | ok   outcome 'informed' (it is 'informed')",
    ]
