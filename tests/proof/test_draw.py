"""Graph drawing (`ivr graph`): every kind of edge labelled as a designer reads it, in valid Mermaid and DOT, with
the canceller's way red."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ivr.flow.model import Flow
from ivr.proof.draw import GLOBAL, dot, edges, mermaid

LADDER = [{"say": "Sorry?"}, {"say": "Sorry, once more?"}, {"say": "Let me get someone.", "goto": "agent"}]

FLOW = Flow.model_validate({
    "name": "labels",
    "start": "hello",
    "outcomes": ["cancelled", "resolved", "transferred"],
    "variables": {"tier": "", "account": ""},
    "intents": {"billing": {"phrases": ["billing"], "keys": ["1"]}, "cancel": {"phrases": ["cancel"]},
                "agent": {"phrases": ["agent"], "keys": ["0"]}},
    "globals": {"cancel": "ask", "agent": "agent"},
    "nodes": {
        "hello": {"type": "say", "prompt": "Hello.", "next": "tiers"},
        "tiers": {"type": "branch", "var": "tier", "cases": {"": "menu", "gold": "keypad"}, "default": "menu"},
        "menu": {"type": "menu", "prompt": "Say billing or press 1.", "routes": {"billing": "bill"},
                 "keys": {"5": "bill"}, "no_input": LADDER, "no_match": [{"say": "Bye.", "goto": "agent"}]},
        "keypad": {"type": "menu", "input": "dtmf", "prompt": "Press 1 for billing.",
                   "routes": {"billing": "bill"}},
        "bill": {"type": "end", "prompt": "You owe nothing.", "outcome": "resolved"},
        "ask": {"type": "collect", "prompt": "Your account number?", "var": "account", "next": "sure"},
        "sure": {"type": "confirm", "prompt": "Cancel? Say yes or no.", "yes": "record", "no": "menu"},
        "record": {"type": "action", "effect": "record_cancellation", "next": "done", "on_error": "agent"},
        "done": {"type": "end", "prompt": "Cancelled.", "outcome": "cancelled"},
        "agent": {"type": "transfer", "number": "+18005550100"},
    },
})


@pytest.mark.parametrize(("src", "dst", "label"), [
    ("hello", "tiers", ""),  # next, the only way on
    ("tiers", "menu", "tier is empty"),
    ("tiers", "keypad", "tier = gold"),
    ("tiers", "menu", "otherwise"),
    ("menu", "bill", "says billing or presses 1"),
    ("menu", "bill", "presses 5"),
    ("menu", "agent", "no answer (3rd time)"),
    ("menu", "agent", "not understood"),  # a one-rung ladder: the first time is the only one
    ("keypad", "bill", "presses 1"),  # a keypad-only menu does not hear "billing"
    ("ask", "sure", "gives account"),
    ("sure", "record", "says yes or presses 1"),
    ("sure", "menu", "says no or presses 2"),
    ("record", "done", "succeeds"),
    ("record", "agent", "fails"),
    (GLOBAL, "ask", "says cancel"),
    (GLOBAL, "agent", "says agent or presses 0"),
])
def test_edges_are_labelled_as_a_designer_reads_them(src: str, dst: str, label: str) -> None:
    assert label in [lab for s, d, lab, _ in edges(FLOW) if (s, d) == (src, dst)]


def test_no_label_is_a_key_path() -> None:
    labels = {label for _, _, label, _ in edges(FLOW)}
    assert not {label for label in labels if label.startswith(("cases", "key ", "no-input", "no-match"))}
    assert not labels & {"next", "default", "yes", "no", "on_error"}


def test_mermaid_draws_the_canceller_red_and_next_unlabelled() -> None:
    out = mermaid(FLOW)
    assert f'  {GLOBAL} ==>|"says cancel"| ask\n' in out
    assert '  ask ==>|"gives account"| sure\n' in out
    assert '  record ==>|"succeeds"| done\n' in out
    assert "  hello --> tiers\n" in out
    assert '  tiers -->|"tier = gold"| keypad\n' in out


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_dot_is_valid_graphviz() -> None:
    out = dot(FLOW)
    assert '  "hello" -> "tiers";\n' in out
    assert '  "ask" -> "sure" [label="gives account", color="#dd0000", penwidth=3];\n' in out
    subprocess.run(["dot", "-Tsvg"], input=out, text=True, check=True, capture_output=True)
