"""Tests of `ivr.flow.studio_read`: a Studio flow definition -> `StudioFlow`, every problem naming file, line,
state, field, the bad value and the valid choices.

Inline cases change one thing in `BASE` (a four-widget flow whose line numbers the messages below rely on); the
corpus cases read `tests/studio/malformed/` (see its EXPECTED.md) and `tests/studio/flows/`.
"""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from ivr.errors import FlowError, FlowFileError, StudioError
from ivr.flow import studio_widgets
from ivr.flow.studio_read import Condition, StudioFlow, Transition, load_studio, read_studio
from ivr.flow.values import Limits

ROOT = Path(__file__).resolve().parents[2]
STUDIO = Path("tests", "studio")  # relative to ROOT, so messages do not depend on where the checkout lives
FILE = "flows/x.json"

BASE = """\
{
  "description": "tiny",
  "states": [
    {
      "name": "Trigger",
      "type": "trigger",
      "transitions": [{"event": "incomingCall", "next": "menu"}],
      "properties": {"offset": {"x": 0, "y": 0}}
    },
    {
      "name": "menu",
      "type": "gather-input-on-call",
      "transitions": [
        {"event": "keypress", "next": "digits"},
        {"event": "speech"},
        {"event": "timeout", "next": "menu"}
      ],
      "properties": {
        "say": "Press 1 for hours.",
        "number_of_digits": 1
      }
    },
    {
      "name": "digits",
      "type": "split-based-on",
      "transitions": [
        {"event": "noMatch", "next": "menu"},
        {"event": "match", "next": "hours",
         "conditions": [{"friendly_name": "1", "arguments": ["{{widgets.menu.Digits}}"],
                         "type": "equal_to", "value": "1"}]}
      ],
      "properties": {"input": "{{widgets.menu.Digits}}"}
    },
    {
      "name": "hours",
      "type": "say-play",
      "transitions": [{"event": "audioComplete"}],
      "properties": {"say": "We open at nine."}
    }
  ],
  "initial_state": "Trigger",
  "flags": {"allow_concurrent_calls": true}
}
"""

GATHER_KEYS = sorted(studio_widgets.WIDGETS["gather-input-on-call"].keys)
TYPES = sorted(studio_widgets.WIDGETS)
CONDITION_TYPES = list(studio_widgets.CONDITION_TYPES)
KNOWN = "known states: ['Trigger', 'digits', 'hours', 'menu']"
REEXPORT = ("which ivr does not read; export the flow again from the current Studio: its JSON export in the Studio "
            "console, or the 'definition' field of GET https://studio.twilio.com/v2/Flows/FW... (REST API v2)")
LEGACY = f"is Studio's legacy 2018 format, {REEXPORT}"
SID = "FF0123456789abcdef0123456789abcdef"
HOURS = '"properties": {"say": "We open at nine."}\n    }'


def changed(*edits: tuple[str, str]) -> str:
    """BASE with each (old, new) replaced; each `old` must occur exactly once, so a case cannot miss its mark."""
    text = BASE
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


#: case -> (definition text, the exact str() of the StudioError)
ERRORS = {
    "json-syntax": (changed(('"Press 1 for hours.",', '"Press 1 for hours."')),
                    f"{FILE}:20: not valid JSON: Expecting ',' delimiter in column 9"),
    "top-level-list": ("[]", f"{FILE}:1: a Studio flow definition must be a JSON object with 'states' and "
                             "'initial_state', got an empty list"),
    "duplicate-key": (changed(('"number_of_digits": 1', '"number_of_digits": 1, "number_of_digits": 2')),
                      f"{FILE}:20: states.menu.properties.number_of_digits: duplicate key 'number_of_digits' "
                      "(first defined on line 20)"),
    "legacy-type": (changed(('"gather-input-on-call"', '"Gather"')),
                    f"{FILE}:12: states.menu.type: widget type 'Gather' {LEGACY}"),
    "legacy-sid": (changed(('"next": "digits"', f'"next": "{SID}"')),
                   f"{FILE}:14: states.menu.transitions.0.next: next '{SID}' is a widget SID, as in Studio's legacy "
                   f"2018 format, {REEXPORT}"),
    "unknown-widget-type": (changed(('"gather-input-on-call"', '"gather-input-call"')),
                            f"{FILE}:12: states.menu.type: unknown widget type 'gather-input-call'; did you mean "
                            f"'gather-input-on-call'? valid types: {TYPES}"),
    "unknown-event": (changed(('"event": "timeout"', '"event": "noInput"')),
                      f"{FILE}:16: states.menu.transitions.2.event: unknown event 'noInput' for a gather-input-on-call "
                      "widget; valid events: ['keypress', 'speech', 'timeout']"),
    "duplicate-event": (changed(('{"event": "speech"}', '{"event": "keypress"}')),
                        f"{FILE}:15: states.menu.transitions.1.event: duplicate event 'keypress' (first on line 14)"),
    "camelcase-key": (changed(('"number_of_digits"', '"numberOfDigits"')),
                      f"{FILE}:20: states.menu.properties.numberOfDigits: unknown key 'numberOfDigits'; did you mean "
                      f"'number_of_digits'? valid keys: {GATHER_KEYS}"),
    "made-up-key": (changed(('"number_of_digits": 1', '"number_of_digits": 1, "max_retries": 3')),
                    f"{FILE}:20: states.menu.properties.max_retries: unknown key 'max_retries'; valid keys: "
                    f"{GATHER_KEYS}"),
    "flex-key-on-enqueue": (changed(('"type": "say-play"', '"type": "enqueue-call"'),
                                    ('"event": "audioComplete"', '"event": "callComplete"'),
                                    ('{"say": "We open at nine."}', '{"queue_name": "q", "waitUrl": "/hold"}')),
                            f"{FILE}:38: states.hours.properties.waitUrl: unknown key 'waitUrl'; did you mean "
                            "'wait_url'? valid keys: ['offset', 'priority', 'queue_name', 'task_attributes', "
                            "'timeout', 'wait_url', 'wait_url_method', 'workflow_sid']"),
    "missing-required-key": (changed(('"properties": {"input": "{{widgets.menu.Digits}}"}', '"properties": {}')),
                             f"{FILE}:32: states.digits.properties: missing required key 'input'"),
    "missing-state": (changed(('"next": "hours"', '"next": "opening_hours"')),
                      f"{FILE}:28: states.digits.transitions.1.next: 'match' goes to 'opening_hours', which is not a "
                      f"state; {KNOWN}"),
    "missing-state-close": (changed(('"next": "hours"', '"next": "hour"')),
                            f"{FILE}:28: states.digits.transitions.1.next: 'match' goes to 'hour', which is not a "
                            f"state; did you mean 'hours'? {KNOWN}"),
    "duplicate-state": (changed((HOURS, HOURS + ',\n    {"name": "hours", "type": "say-play", "transitions": [], '
                                        '"properties": {}}')),
                        f"{FILE}:40: states.hours.name: duplicate state name 'hours' (first defined on line 35)"),
    "no-initial-state": (changed(('  "initial_state": "Trigger",\n', '')),
                         f"{FILE}:1: missing required key 'initial_state'"),
    "initial-state-not-a-state": (changed(('"initial_state": "Trigger"', '"initial_state": "Triger"')),
                                  f"{FILE}:41: initial_state: 'Triger' is not a state; did you mean 'Trigger'? "
                                  f"{KNOWN}"),
    "no-trigger": (changed(('"type": "trigger"', '"type": "say-play"'),
                           ('"event": "incomingCall"', '"event": "audioComplete"')),
                   f"{FILE}:3: states: no 'trigger' widget: a flow starts at its trigger, and none of its 4 states "
                   "is one"),
    "unknown-condition-type": (changed(('"type": "equal_to"', '"type": "equals"')),
                               f"{FILE}:30: states.digits.transitions.1.conditions.0.type: unknown condition type "
                               f"'equals'; did you mean 'equal_to'? valid types: {CONDITION_TYPES}"),
    "condition-without-arguments-and-value": (
        changed(('"arguments": ["{{widgets.menu.Digits}}"],', ''), (', "value": "1"', '')),
        f"{FILE}:29: states.digits.transitions.1.conditions.0: missing required key 'arguments'\n"
        f"{FILE}:29: states.digits.transitions.1.conditions.0: missing required key 'value'"),
    "regex-does-not-compile": (changed(('"type": "equal_to", "value": "1"', '"type": "regex", "value": "(1|2"')),
                               f"{FILE}:30: states.digits.transitions.1.conditions.0.value: regex '(1|2' does not "
                               "compile: missing ), unterminated subpattern at position 0"),
    "match-without-conditions": (changed(('"next": "hours",\n         "conditions": [{"friendly_name": "1", '
                                          '"arguments": ["{{widgets.menu.Digits}}"],\n                         '
                                          '"type": "equal_to", "value": "1"}]}', '"next": "hours"}')),
                                 f"{FILE}:28: states.digits.transitions.1: a 'match' transition needs a list of "
                                 "conditions, got none"),
    "states-not-a-list": (changed(('"states": [', '"states": {"x": ['), ('  ],\n  "initial_state"',
                                                                          '  ]},\n  "initial_state"')),
                          f"{FILE}:3: states: expected a list of widgets, got an object"),
    "every-problem-at-once": (changed(('"gather-input-on-call"', '"gather-input-call"'),
                                      ('"next": "hours"', '"next": "opening_hours"')),
                              f"{FILE}:12: states.menu.type: unknown widget type 'gather-input-call'; did you mean "
                              f"'gather-input-on-call'? valid types: {TYPES}\n"
                              f"{FILE}:28: states.digits.transitions.1.next: 'match' goes to 'opening_hours', which "
                              f"is not a state; {KNOWN}"),
}


@pytest.mark.parametrize(("text", "expected"), list(ERRORS.values()), ids=list(ERRORS))
def test_each_problem_is_named_with_file_line_state_and_field(text: str, expected: str) -> None:
    with pytest.raises(StudioError) as caught:
        read_studio(text, FILE)
    assert str(caught.value) == expected
    assert isinstance(caught.value, FlowError)
    assert caught.value.exit_code == 2


def test_nesting_past_the_limit_is_refused_before_it_is_walked() -> None:
    with pytest.raises(StudioError, match=r"^flows/x\.json:1: .*nested 4 levels deep.*IVR_MAX_NESTING"):
        read_studio('{"a": {"b": {"c": {"d": 1}}}}', FILE, Limits(max_nesting=3))


# --- valid flows ----------------------------------------------------------------------------------------------------


def test_a_valid_flow_reads_into_frozen_widgets() -> None:
    flow = read_studio(BASE, FILE)
    assert (flow.description, flow.initial_state, dict(flow.flags)) == ("tiny", "Trigger",
                                                                        {"allow_concurrent_calls": True})
    assert list(flow.states) == ["Trigger", "menu", "digits", "hours"]
    menu, digits = flow.states["menu"], flow.states["digits"]
    assert (menu.type, menu.line, dict(menu.properties)) == ("gather-input-on-call", 10,
                                                             {"say": "Press 1 for hours.", "number_of_digits": 1})
    assert menu.edges == (("keypress", "digits"), ("speech", None), ("timeout", "menu"))
    assert digits.transitions == (Transition("noMatch", "menu"), Transition(
        "match", "hours", (Condition("equal_to", ("{{widgets.menu.Digits}}",), "1", "1"),)))
    assert flow.states["Trigger"].properties["offset"] == {"x": 0, "y": 0}
    assert hash(flow) == hash(read_studio(BASE, FILE))
    assert flow == read_studio(BASE, FILE)
    with pytest.raises(FrozenInstanceError):
        menu.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        menu.properties["say"] = "changed"  # type: ignore[index]


def test_unconnected_transitions_end_the_execution_and_missing_events_are_added() -> None:
    flow = read_studio(BASE, FILE)
    assert flow.states["menu"].next_of("speech") is None  # written, without 'next'
    assert flow.states["hours"].edges == (("audioComplete", None),)
    # the trigger only wrote incomingCall: the documented others are added, unconnected, and recorded
    assert flow.states["Trigger"].edges == (("incomingCall", "menu"), ("incomingMessage", None),
                                            ("incomingConversationMessage", None), ("incomingRequest", None),
                                            ("incomingParent", None))
    assert flow.added_events == (("Trigger", "incomingMessage"), ("Trigger", "incomingConversationMessage"),
                                 ("Trigger", "incomingRequest"), ("Trigger", "incomingParent"))
    older = read_studio(changed(('        {"event": "timeout", "next": "menu"}\n', ''),
                                ('{"event": "speech"},', '{"event": "speech"}')), FILE)
    assert older.states["menu"].edges[-1] == ("timeout", None)
    assert ("menu", "timeout") in older.added_events


@pytest.mark.parametrize(("state", "path", "line"), [
    ("menu", (), 10), ("menu", ("properties", "say"), 19), ("menu", ("transitions", "2"), 16),
    ("digits", ("transitions", "1", "conditions", "0"), 29), ("hours", ("properties", "voice"), 38),
])
def test_lines_of_states_and_their_keys(state: str, path: tuple[str, ...], line: int) -> None:
    assert read_studio(BASE, FILE).line(state, *path) == line


def test_condition_value_may_be_omitted_only_where_it_is_ignored() -> None:
    text = changed(('"type": "equal_to", "value": "1"', '"type": "is_blank"'))
    (condition,) = read_studio(text, FILE).states["digits"].transitions[1].conditions
    assert condition == Condition("is_blank", ("{{widgets.menu.Digits}}",), "", "1")


CORPUS_FLOWS = sorted((ROOT / STUDIO / "flows").glob("*.json"))


@pytest.mark.parametrize("path", CORPUS_FLOWS, ids=[p.stem for p in CORPUS_FLOWS])
def test_the_example_studio_flows_read(path: Path) -> None:
    flow = load_studio(path)
    assert isinstance(flow, StudioFlow)
    assert flow.initial_state in flow.states
    assert all(t.next is None or t.next in flow.states for w in flow.states.values() for t in w.transitions)


def test_speech_left_unconnected_is_kept_as_an_end() -> None:
    flow = load_studio(ROOT / STUDIO / "flows" / "speech-unconnected.json")
    assert flow.states["main_menu"].next_of("speech") is None
    assert flow.states["main_menu"].next_of("keypress") == "menu_digits"


def test_send_to_flex_keeps_its_camelcase_keys() -> None:
    flow = load_studio(ROOT / STUDIO / "flows" / "flex-handoff.json")
    flex = [w for w in flow.states.values() if w.type == "send-to-flex"]
    assert flex
    assert all({"waitUrl", "waitUrlMethod"} <= set(w.properties) for w in flex)


def test_every_widget_type_of_the_catalogue_reads() -> None:
    flow = load_studio(ROOT / STUDIO / "flows" / "every-widget.json")
    assert set(studio_widgets.WIDGETS) - {"send-to-auto-pilot", "connect-virtual-agent", "record-call"} <= {
        w.type for w in flow.states.values()}


# --- the malformed corpus (tests/studio/malformed/EXPECTED.md) ------------------------------------------------------

MALFORMED = {
    "legacy-2018.json": "6: states.Trigger.type: widget type 'InitialState' " + LEGACY,
    "unknown-widget.json": "34: states.main_menu.type: unknown widget type 'gather-input-call'; did you mean "
                           f"'gather-input-on-call'? valid types: {TYPES}",
    "unknown-event.json": "46: states.main_menu.transitions.2.event: unknown event 'noInput' for a "
                          "gather-input-on-call widget; valid events: ['keypress', 'speech', 'timeout']",
    "camelcase-key.json": "57: states.main_menu.properties.numberOfDigits: unknown key 'numberOfDigits'; did you mean "
                          f"'number_of_digits'? valid keys: {GATHER_KEYS}",
    "made-up-key.json": f"60: states.main_menu.properties.max_retries: unknown key 'max_retries'; valid keys: "
                        f"{GATHER_KEYS}",
    "syntax-error.json": "58: not valid JSON: Expecting ',' delimiter in column 9",
    "missing-state.json": "78: states.menu_digits.transitions.1.next: 'match' goes to 'opening_hours', which is not "
                          "a state; known states: ['Trigger', 'hold_cancelled', 'hours', 'main_menu', 'menu_digits', "
                          "'menu_speech']",
    "no-trigger.json": "1: missing required key 'initial_state'",
    "duplicate-state.json": "180: states.hours.name: duplicate state name 'hours' (first defined on line 160)",
}


@pytest.mark.parametrize(("name", "expected"), list(MALFORMED.items()), ids=[n[:-5] for n in MALFORMED])
def test_the_malformed_corpus(name: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    path = STUDIO / "malformed" / name
    with pytest.raises(StudioError) as caught:
        load_studio(path)
    assert str(caught.value) == f"{path}:{expected}"


def test_every_malformed_file_has_a_case() -> None:
    assert sorted(p.name for p in (ROOT / STUDIO / "malformed").glob("*.json")) == sorted(MALFORMED)


def test_an_unreadable_file_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(FlowFileError, match="no such Studio flow file"):
        load_studio(tmp_path / "missing.json")


# --- performance: the line index is built in one pass ---------------------------------------------------------------


def _big(states: int) -> str:
    def gather(i: int) -> dict[str, object]:
        return {"name": f"g{i}", "type": "gather-input-on-call", "properties": {"say": "Hello", "number_of_digits": 1},
                "transitions": [{"event": "keypress", "next": f"s{i}"}, {"event": "speech"},
                                {"event": "timeout", "next": f"g{i}"}]}

    def split(i: int) -> dict[str, object]:
        return {"name": f"s{i}", "type": "split-based-on", "properties": {"input": f"{{{{widgets.g{i}.Digits}}}}"},
                "transitions": [{"event": "noMatch", "next": f"g{i}"}, {"event": "match", "next": f"g{(i + 1) % half}",
                                "conditions": [{"friendly_name": "1", "arguments": ["x"], "type": "equal_to",
                                                "value": "1"}]}]}
    half = (states - 1) // 2
    body = [{"name": "Trigger", "type": "trigger", "properties": {}, "transitions": [{"event": "incomingCall",
                                                                                       "next": "g0"}]}]
    body += [w for i in range(half) for w in (gather(i), split(i))]
    return json.dumps({"states": body, "initial_state": "Trigger", "flags": {}}, indent=2)


def test_a_500_state_definition_reads() -> None:
    """Its speed is measured by bench/studio_read.py (a test never asserts a time)."""
    flow = read_studio(_big(501))
    assert len(flow.states) == 501
    assert flow.line("g249") is not None


def test_a_byte_order_mark_is_not_an_error() -> None:
    assert read_studio("\ufeff" + BASE, FILE) == read_studio(BASE, FILE)


def test_nesting_deeper_than_the_parser_goes_is_an_error_not_a_crash() -> None:
    with pytest.raises(StudioError, match=r"^flows/x\.json:1: .*nested too deeply to parse"):
        read_studio("[" * 100_000 + "]" * 100_000, FILE, Limits(max_nesting=1_000_000))
