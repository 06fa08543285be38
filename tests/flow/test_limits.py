"""Tests of the load-time limits of a flow (`ivr.flow.values.Limits`): nesting, file size, values, nodes, phrases,
ladders, text and names, and the characters TwiML cannot carry. Each is a one-line error naming the file, the
line, the key path and the limit with its environment variable; never a RecursionError or a hang.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from ivr.errors import FlowError, FlowFileError, UsageError
from ivr.flow.loader import load_flow, parse_flow
from ivr.flow.model import Flow
from ivr.flow.values import Limits

ROOT = Path(__file__).resolve().parents[2]

MINI = """\
name: mini
start: menu
outcomes: [cancelled, resolved]
intents:
  billing:
    phrases: [billing, my bill]
nodes:
  menu:
    type: menu
    prompt: Say billing, or cancel.
    routes:
      billing: bye
      cancel: done
  bye:
    type: end
    prompt: Goodbye.
    outcome: resolved
  done:
    type: end
    outcome: cancelled
"""


def _error(text: str, limits: Limits | None = None) -> str:
    with pytest.raises((FlowError, FlowFileError)) as info:
        parse_flow(text, "f.yaml", limits)
    return str(info.value)


def test_the_mini_flow_loads() -> None:
    assert parse_flow(MINI, "f.yaml")[0].name == "mini"


# --- nesting: checked while composing, before any recursion can exhaust the stack ------------------------------


def _aliased(levels: int, times: int) -> str:
    """`times` anchors, each nesting the one before `levels` deeper: a small file whose values nest deeply."""
    lines = [f"a0: &a0 {'[' * levels}x{']' * levels}"]
    lines += [f"a{i}: &a{i} {'[' * levels}*a{i - 1}{']' * levels}" for i in range(1, times)]
    return "\n".join(lines) + "\n"


NESTED = "more than the limit of 64 levels (IVR_MAX_NESTING)"


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("[" * 450 + "]" * 450, f"f.yaml:1: nested 65 levels deep, {NESTED}", id="lists-450"),
    pytest.param("a: " + "{a: " * 450 + "1" + "}" * 450, f"f.yaml:1: nested 65 levels deep, {NESTED}",
                 id="mappings-450"),
    pytest.param("[" * 100_000, f"f.yaml:1: nested 65 levels deep, {NESTED}", id="unclosed-100k"),
    pytest.param("".join("  " * i + "a:\n" for i in range(200)), f"f.yaml:65: nested 65 levels deep, {NESTED}",
                 id="block-style"),
    # the line is where the value nested too deep is written: inside the first anchor
    pytest.param(_aliased(40, 30), f"f.yaml:1: nested 65 levels deep (through YAML aliases), {NESTED}",
                 id="through-aliases"),
])
def test_deep_yaml_is_one_error_not_a_recursion_error(text: str, message: str) -> None:
    assert _error(text) == message


def test_nesting_at_the_limit_is_not_refused() -> None:
    assert "nested" not in _error("a: " + "[" * 64 + "]" * 64)


def test_a_lower_nesting_limit() -> None:
    assert _error(MINI, Limits(max_nesting=3)) == ("f.yaml:6: nested 4 levels deep, more than the limit of 3 levels "
                                                   "(IVR_MAX_NESTING)")


def test_values_past_the_limit_billion_laughs() -> None:
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    assert _error(text) == "f.yaml:1: YAML aliases copy more than the limit of 100000 values (IVR_MAX_ALIAS_VALUES)"


def test_aliases_copying_fewer_values_load() -> None:
    shared = "defaults:\n  no_match: &ladder [{say: Pardon}, {say: Again}, {say: Bye, goto: bye}]\n"
    text = shared + MINI.replace("    routes:\n", "    no_input: *ladder\n    routes:\n", 1)
    assert _error(text, Limits(max_alias_values=6)) == ("f.yaml:2: YAML aliases copy more than the limit of 6 values "
                                                         "(IVR_MAX_ALIAS_VALUES)")
    flow, _ = parse_flow(text, "f.yaml", Limits(max_alias_values=7))  # 3 rungs, 4 texts
    assert flow.defaults.no_match == flow.nodes["menu"].no_input


# --- file size: checked before the file is read ---------------------------------------------------------------


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(MINI)
    size = path.stat().st_size
    with pytest.raises(FlowFileError, match=f"^{re.escape(str(path))}: the flow file is {size} bytes, more than the "
                                            r"limit of 100 bytes \(IVR_MAX_FILE_BYTES\)$"):
        load_flow(path, Limits(max_file_bytes=100))


def test_a_device_is_read_no_further_than_the_limit() -> None:
    with pytest.raises(FlowFileError, match=r"^/dev/zero: the flow file holds more than the limit of 1000 bytes "
                                            r"\(IVR_MAX_FILE_BYTES\)$"):
        load_flow("/dev/zero", Limits(max_file_bytes=1000))


def test_text_over_the_size_limit() -> None:
    assert _error(MINI, Limits(max_file_bytes=100)) == (f"f.yaml: the flow is {len(MINI)} bytes, more than the limit "
                                                        "of 100 bytes (IVR_MAX_FILE_BYTES)")


# --- the environment ------------------------------------------------------------------------------------------


def test_the_loader_reads_limits_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mini.yaml"
    path.write_text(MINI)
    assert load_flow(path)[0].name == "mini"
    monkeypatch.setenv("IVR_MAX_NODES", "2")
    with pytest.raises(FlowError, match=r":7: nodes: 3 nodes, more than the limit of 2 \(IVR_MAX_NODES\)$"):
        load_flow(path)
    with pytest.raises(FlowError, match=r"more than the limit of 2 \(IVR_MAX_NODES\)$"):
        parse_flow(MINI)
    assert load_flow(path, Limits())[0].name == "mini"  # limits given win over the environment


@pytest.mark.parametrize("value", ["0", "-5", "ten", "1.5", "9" * 5000])
def test_a_bad_limit_setting_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("IVR_MAX_PHRASE_CHARS", value)
    with pytest.raises(UsageError, match=r"^IVR_MAX_PHRASE_CHARS='.*' is not a limit: write a whole number of at "
                                         r"least 1 \(the default is 500\)$"):
        parse_flow(MINI)


def test_every_limit_has_a_variable_and_a_default() -> None:
    environ = {Limits.variable(f.name): "7" for f in fields(Limits)}
    assert Limits.from_env(environ) == Limits(**{f.name: 7 for f in fields(Limits)})
    assert Limits.from_env({}) == Limits()


def test_every_limit_is_documented() -> None:
    page = (ROOT / "docs" / "reference" / "flow-format.md").read_text("utf-8")
    for f in fields(Limits):
        row = f"| `{f.name}` | {f.default:_} | `{Limits.variable(f.name)}` |"
        assert row in page, row


# --- characters TwiML (XML 1.0) cannot carry ------------------------------------------------------------------


@pytest.mark.parametrize(("written", "message"), [
    (r'"Hello\0"', r"'Hello\x00' contains U+0000 (a control character)"),
    (r'"Hello\a"', r"'Hello\x07' contains U+0007 (a control character)"),
    (r'"\e[1mHello"', r"'\x1b[1mHello' contains U+001B (a control character)"),
    (r'"Hello\ud800"', r"'Hello\ud800' contains U+D800 (a lone surrogate)"),
    (r'"\udfffHello"', r"'\udfffHello' contains U+DFFF (a lone surrogate)"),
    (r'"Hello\uFFFF"', r"'Hello\uffff' contains U+FFFF (a non-character)"),
])
def test_a_character_twiml_cannot_carry_is_a_load_error(written: str, message: str) -> None:
    text = MINI.replace("prompt: Goodbye.", f"prompt: {written}")
    assert _error(text) == f"f.yaml:16: nodes.bye.prompt: {message}, which TwiML (XML 1.0) cannot carry; remove it"


@pytest.mark.parametrize(("written", "said"), [
    (r'"Tab\there"', "Tab\there"),
    (r'"Two\r\nlines"', "Two\r\nlines"),
    (r'"Smile \U0001F600"', "Smile \U0001f600"),
    (r'"Delete \x7f and next line \x85"', "Delete \x7f and next line \x85"),
])
def test_characters_xml_carries_are_kept(written: str, said: str) -> None:
    flow, _ = parse_flow(MINI.replace("prompt: Goodbye.", f"prompt: {written}"))
    assert flow.nodes["bye"].prompt[0].say == said


@pytest.mark.parametrize(("text", "message"), [
    (MINI.replace("  bye:\n", '  "bye\\a":\n'),
     r"f.yaml:14: nodes.'bye\x07': key 'bye\x07' contains U+0007 (a control character), which TwiML (XML 1.0) "
     "cannot carry; remove it"),
    (MINI.replace("  billing:\n", '  "bill\\ning":\n'),
     r"f.yaml:5: intents.'bill\ning': key 'bill\ning' contains U+000A (a control character), and a key is one line "
     "of text without control characters"),
    # found by fuzzing: a key of U+0085 was echoed raw, and str.splitlines() cut the problem's line in two
    ('"\\N": ""\n', r"f.yaml:1: '\x85': key '\x85' contains U+0085 (a control character), and a key is one line "
                     "of text without control characters"),
    (MINI.replace("  billing:\n", '  "bill\\Ling":\n'),
     r"f.yaml:5: intents.'bill\u2028ing': key 'bill\u2028ing' contains U+2028 (a line separator), and a key is one "
     "line of text without control characters"),
])
def test_a_key_with_a_control_character_is_one_line_error(text: str, message: str) -> None:
    with pytest.raises(FlowError) as info:
        parse_flow(text, "f.yaml")
    assert str(info.value).splitlines() == [message]


# --- sizes and names ------------------------------------------------------------------------------------------

LONG = "n" * 201


@pytest.mark.parametrize(("text", "limits", "message"), [
    (MINI.replace("name: mini", f"name: {LONG}"), None,
     f"f.yaml:1: name: flow name '{'n' * 40}'... is 201 characters long, more than the limit of 200 characters, the "
     "most the call store keeps (IVR_MAX_NAME_CHARS)"),
    (MINI.replace("bye", LONG), None,
     f"f.yaml:14: nodes.{LONG}: node id '{'n' * 40}'... is 201 characters long, more than the limit of 200 "
     "characters, the most the call store keeps (IVR_MAX_NAME_CHARS)"),
    (MINI.replace("billing", LONG), None,
     f"f.yaml:5: intents.{LONG}: intent name '{'n' * 40}'... is 201 characters long, more than the limit of 200 "
     "characters, the most the call store keeps (IVR_MAX_NAME_CHARS)"),
    (MINI.replace("resolved", "r" * 65), None,
     f"f.yaml:3: outcomes.1: outcome '{'r' * 40}'... is 65 characters long, more than the limit of 64 characters, "
     "the most the call store keeps (IVR_MAX_OUTCOME_CHARS)"),
    (MINI.replace("  done:\n    type: end\n", "  done:\n    type: action\n    effect: " + "e" * 201
                  + "\n    next: fin\n  fin:\n    type: end\n"), None,
     f"f.yaml:20: nodes.done.effect: effect name '{'e' * 40}'... is 201 characters long, more than the limit of 200 "
     "characters, the most the call store keeps (IVR_MAX_NAME_CHARS)"),
    (MINI.replace("Goodbye.", "G" * 10_001), None,
     f"f.yaml:16: nodes.bye.prompt: '{'G' * 40}'... is 10001 characters long, more than the limit of 10000 "
     "characters (IVR_MAX_TEXT_CHARS)"),
    (MINI.replace("my bill", "b" * 501), None,
     f"f.yaml:6: intents.billing.phrases.1: phrase '{'b' * 40}'... is 501 characters long, more than the limit of "
     "500 characters (IVR_MAX_PHRASE_CHARS)"),
    (MINI.replace("    routes:\n", "    hints: [ok, " + "h" * 501 + "]\n    routes:\n"), None,
     f"f.yaml:11: nodes.menu.hints.1: phrase '{'h' * 40}'... is 501 characters long, more than the limit of 500 "
     "characters (IVR_MAX_PHRASE_CHARS)"),
    (MINI, Limits(max_intent_phrases=1),
     "f.yaml:6: intents.billing.phrases: 2 phrases, more than the limit of 1 per intent (IVR_MAX_INTENT_PHRASES)"),
    (MINI, Limits(max_phrases=1),
     "f.yaml:4: intents: 2 phrases in all intents, more than the limit of 1 (IVR_MAX_PHRASES)"),
    (MINI.replace("    routes:\n", "    no_match: [{say: a}, {say: b}, {say: c}]\n    routes:\n"),
     Limits(max_ladder_rungs=2),
     "f.yaml:11: nodes.menu.no_match: 3 rungs, more than the limit of 2 (IVR_MAX_LADDER_RUNGS)"),
    ("defaults:\n  no_input: [{say: a}, {say: b}, {say: c}]\n" + MINI, Limits(max_ladder_rungs=2),
     "f.yaml:2: defaults.no_input: 3 rungs, more than the limit of 2 (IVR_MAX_LADDER_RUNGS)"),
    (MINI, Limits(max_nodes=2), "f.yaml:7: nodes: 3 nodes, more than the limit of 2 (IVR_MAX_NODES)"),
])
def test_over_a_limit(text: str, limits: Limits | None, message: str) -> None:
    assert _error(text, limits) == message


def test_names_at_the_limit_load() -> None:
    text = MINI.replace("name: mini", f"name: {'m' * 200}").replace("bye", "b" * 200).replace("resolved", "r" * 64)
    flow, _ = parse_flow(text.replace("billing", "i" * 200))
    assert len(flow.name) == 200


def test_limit_problems_come_with_the_other_problems_of_the_file() -> None:
    text = MINI.replace("bye", LONG).replace("cancel: done", "cancel: dnoe")
    assert [line.split(": ")[1] for line in _error(text).splitlines()] == ["nodes.menu.routes.cancel", f"nodes.{LONG}"]


# --- programs: a dict validated with limits in the pydantic context ------------------------------------------


def _dict_flow(phrases: int) -> dict[str, Any]:
    return {"name": "big", "start": "menu", "outcomes": ["cancelled"],
            "intents": {"many": {"phrases": [f"phrase {i}" for i in range(phrases)]}},
            "nodes": {"menu": {"type": "menu", "prompt": "Hi", "routes": {"many": "done", "cancel": "done"}},
                      "done": {"type": "end", "outcome": "cancelled"}}}


def test_a_program_raises_limits_through_the_validation_context() -> None:
    data = _dict_flow(60_000)
    with pytest.raises(FlowError, match=r"^intents.many.phrases: 60000 phrases, more than the limit of 50000 per "
                                        r"intent \(IVR_MAX_INTENT_PHRASES\)$"):
        Flow.model_validate(data)
    flow = Flow.model_validate(data, context={"limits": Limits(max_intent_phrases=100_000)})
    assert len(flow.intents["many"].phrases) == 60_000


def test_dict_data_is_scanned_too() -> None:
    data = _dict_flow(1)
    data["nodes"]["menu"]["prompt"] = "Hi\x07"
    with pytest.raises(FlowError, match=r"^nodes.menu.prompt: 'Hi\\x07' contains U\+0007"):
        Flow.model_validate(data)
    deep: Any = "x"
    for _ in range(10_000):
        deep = [deep]
    data["nodes"]["menu"]["prompt"] = deep
    with pytest.raises(FlowError, match=r"^nodes.menu.prompt(\.0)+: nested 65 levels deep, more than the limit of 64 "
                                        r"levels \(IVR_MAX_NESTING\)$"):
        Flow.model_validate(data)


def test_a_message_lists_at_most_fifty_choices() -> None:
    data = _dict_flow(1)
    data["nodes"].update({f"n{i:03}": {"type": "end", "outcome": "cancelled"} for i in range(100)})
    data["nodes"]["menu"]["routes"]["many"] = "nowhere"
    with pytest.raises(FlowError, match=r"known nodes: \['done', 'menu', 'n000', .*'n047'\] and 52 more$"):
        Flow.model_validate(data)
