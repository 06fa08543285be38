"""Loops that never wait for the caller, and values that grow round a loop: `zero-turn-loop`, `effect-loop` and
`template-growth` (ivr/proof/loops.py), reported without an exception, as the engine ends such calls."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from ivr.flow.loader import load_flow, parse_flow
from ivr.flow.model import Flow
from ivr.proof.loops import shortest_cycle, strongly_connected
from ivr.proof.report import check

ROOT = Path(__file__).resolve().parents[2]
LADDER = [{"say": "Sorry?"}, {"say": "Let me get someone.", "goto": "agent"}]

#: a small flow with no findings: cancel confirms, then records the cancellation
BASE: dict[str, Any] = {
    "name": "loops",
    "start": "menu",
    "outcomes": ["cancelled", "resolved", "transferred"],
    "variables": {"a": "x", "b": "", "c": ""},
    "intents": {"billing": {"phrases": ["billing"], "keys": ["1"]},
                "cancel": {"phrases": ["cancel", "i want to cancel"], "keys": ["9"]}},
    "globals": {"cancel": "confirm", "agent": "agent"},
    "defaults": {"no_input": LADDER, "no_match": LADDER},
    "nodes": {
        "menu": {"type": "menu", "prompt": "Say billing or cancel.", "routes": {"billing": "bill"}},
        "bill": {"type": "say", "prompt": "You owe nothing.", "next": "menu"},
        "confirm": {"type": "confirm", "prompt": "Cancel?", "yes": "record", "no": "menu",
                    "routes": {"cancel": "record"}},
        "record": {"type": "action", "effect": "record_cancellation", "next": "done", "on_error": "agent"},
        "done": {"type": "end", "prompt": "Cancelled.", "outcome": "cancelled"},
        "agent": {"type": "transfer", "number": "+18005550100"},
    },
}


def variant(**nodes: Any) -> Flow:
    data = copy.deepcopy(BASE)
    data["nodes"].update(nodes)
    return Flow.model_validate(data)


def loop_findings(flow: Flow) -> list[tuple[str, str | None, str]]:
    codes = ("zero-turn-loop", "effect-loop", "template-growth")
    return [(x.code, x.node, x.message) for x in check(flow).findings if x.code in codes]


def grow(template: str, **more: Any) -> dict[str, Any]:
    """The billing route sets `a` from `template` before it returns to the menu."""
    return {"bill": {"type": "set", "set": {"a": template, **more}, "next": "menu"}}


@pytest.mark.parametrize(("nodes", "expected"), [
    ({}, []),
    ({"record": {"type": "action", "effect": "record_cancellation", "next": "record", "on_error": "agent"}},
     [("effect-loop", "record", "record -> record: this loop runs the effect(s) ['record_cancellation'] again")]),
    ({"record": {"type": "action", "effect": "record_cancellation", "next": "done", "on_error": "record"}},
     [("effect-loop", "record", "record -> record: ")]),  # a retry that never gives up
    ({"record": {"type": "action", "effect": "record_cancellation", "next": "thanks"},
      "thanks": {"type": "say", "prompt": "Thanks.", "next": "mark"},
      "mark": {"type": "set", "set": {"b": "1"}, "next": "record"}},
     [("effect-loop", "record", "record -> thanks -> mark -> record: ")]),
    ({"bill": {"type": "say", "prompt": "You owe nothing.", "next": "again"},
      "again": {"type": "branch", "var": "b", "cases": {"1": "menu"}, "default": "bill"}},
     [("zero-turn-loop", "again", "again -> bill -> again: these nodes lead back to each other")]),
    ({"record": {"type": "action", "effect": "record_cancellation", "next": "spin"},  # both kinds, one group
      "spin": {"type": "say", "prompt": "Hm.", "next": "turn"},
      "turn": {"type": "branch", "var": "b", "cases": {"1": "record"}, "default": "spin"}},
     [("effect-loop", "record", "record -> spin -> turn -> record: "),
      ("zero-turn-loop", "spin", "spin -> turn -> spin: ")]),
])
def test_loops_that_never_wait_for_the_caller(nodes: dict[str, Any], expected: list[tuple[str, str, str]]) -> None:
    found = loop_findings(variant(**nodes))
    assert [(code, node) for code, node, _ in found] == [(code, node) for code, node, _ in expected]
    for (_, _, message), (_, _, start) in zip(found, expected, strict=True):
        assert message.startswith(start)


def test_an_effect_loop_is_a_finding_not_an_exception() -> None:
    report = check(variant(record={"type": "action", "effect": "record_cancellation", "next": "record"}))
    assert not report.ok
    assert {x.code for x in report.findings if x.severity == "error"} == {
        "effect-loop", "cancel-not-guaranteed", "dead-end"}
    assert report.worst_case_turns is None
    assert report.summary.endswith("within 3 turns: the call ends 'error'")  # where the engine ends it
    assert (report.counterexample[-1].node, report.counterexample[-1].outcome) == ("record", "error")


def test_acme_recording_the_cancellation_again_and_again() -> None:
    """The flow of issue 12: `next: do_cancel` on acme's `do_cancel` made `ivr check` die with AssertionError."""
    text = (ROOT / "flows" / "acme.yaml").read_text(encoding="utf-8")
    looped = text.replace("    next: cancelled_goodbye\n", "    next: do_cancel\n")
    assert looped != text
    flow, source = parse_flow(looped, "acme.yaml")
    lines = {path[1]: line for path, line in source.lines.items() if len(path) == 2 and path[0] == "nodes"}
    report = check(flow, lines=lines)
    loops = [x for x in report.findings if x.code == "effect-loop"]
    assert [(x.severity, x.node, x.line) for x in loops] == [("error", "do_cancel", lines["do_cancel"])]
    assert re.match(r"do_cancel -> do_cancel: this loop runs the effect\(s\) \['record_cancellation'\] again and "
                    r"again without waiting for the caller, .* after 100 effects", loops[0].message)
    assert not report.ok


GROWS = "makes 'a' longer each time round the loop"


@pytest.mark.parametrize(("nodes", "expected"), [
    (grow("{a}{a}{a}{a}"), f"bill: set a: '{{a}}{{a}}{{a}}{{a}}' {GROWS} bill -> menu -> bill, without bound"),
    (grow("{a}x"), f"bill: set a: '{{a}}x' {GROWS} bill -> menu -> bill,"),
    (grow("{a:digits}"), f"bill: set a: '{{a:digits}}' {GROWS}"),
    (grow("{b}", b="{a}!"), "bill: set b: '{a}!' makes 'b' longer each time round the loop bill -> menu -> bill "
                            "(its new value holds a which holds b)"),
    ({"bill": {"type": "set", "set": {"b": "{a}{a}"}, "next": "two"},  # through a second set node
      "two": {"type": "set", "set": {"a": "{b}"}, "next": "menu"}}, "bill: set b: '{a}{a}' makes 'b' longer"),
    (grow("{a}"), None),  # a copy of itself
    (grow("{b}", b="{a}"), None),  # values swapped round the loop: nothing grows
    (grow("{b}{c}"), None),  # from other values that do not hold it
    ({"menu": {"type": "menu", "prompt": "Say billing or cancel.", "routes": {"billing": "bill"}},  # runs once
      "bill": {"type": "set", "set": {"a": "{a}{a}"}, "next": "done"}}, None),
])
def test_templates_that_grow_round_a_loop(nodes: dict[str, Any], expected: str | None) -> None:
    found = [message for code, _, message in loop_findings(variant(**nodes)) if code == "template-growth"]
    assert [m[:len(expected or "")] for m in found] == ([expected] if expected else [])


def test_template_growth_names_the_line() -> None:
    flow, source = parse_flow("""
name: grow
start: menu
outcomes: [cancelled]
variables: {a: "x"}
intents:
  again: {phrases: [again]}
nodes:
  menu: {type: menu, prompt: "Say again or cancel.", routes: {again: double, cancel: bye}}
  double: {type: set, set: {a: "{a}{a}{a}{a}"}, next: menu}
  bye: {type: end, outcome: cancelled}
""", "grow.yaml")
    lines = {path[1]: line for path, line in source.lines.items() if len(path) == 2 and path[0] == "nodes"}
    report = check(flow, lines=lines)
    assert [(x.severity, x.node, x.line) for x in report.findings if x.code == "template-growth"] == [
        ("error", "double", 10)]
    assert not report.ok


@pytest.mark.parametrize(("edges", "parts"), [
    ({"a": ["b"], "b": ["c"], "c": []}, []),
    ({"a": ["a"]}, [["a"]]),
    ({"a": ["b"], "b": ["a", "c"], "c": ["d"], "d": ["c"]}, [["c", "d"], ["a", "b"]]),
    ({f"n{i}": [f"n{i + 1}"] for i in range(50_000)} | {"n50000": ["n0"]}, [sorted(f"n{i}" for i in range(50_001))]),
])
def test_strongly_connected_parts(edges: dict[str, list[str]], parts: list[list[str]]) -> None:
    assert strongly_connected(edges) == parts  # iteratively: a 50,001-node cycle needs no recursion


@pytest.mark.parametrize(("start", "expected"), [
    ("a", ["a", "b", "a"]), ("c", ["c", "c"]), ("d", ["d", "a", "b", "d"]),
])
def test_shortest_cycle(start: str, expected: list[str]) -> None:
    edges = {"a": ["b"], "b": ["a", "d"], "c": ["c"], "d": ["a"]}
    assert shortest_cycle(start, edges, {"a", "b", "c", "d"}) == expected


def test_shortest_cycle_of_a_node_on_none() -> None:
    with pytest.raises(ValueError, match="^'a' is on no cycle$"):
        shortest_cycle("a", {"a": ["b"]}, {"a", "b"})


@pytest.mark.parametrize("path", sorted((ROOT / "flows").glob("*.yaml")), ids=lambda p: p.name)
def test_example_flows_have_no_loop_findings(path: Path) -> None:
    flow, _ = load_flow(path)
    assert loop_findings(flow) == []
