"""Fuzzing the flow loader (`ivr.flow.loader.parse_flow`) with Hypothesis.

The property: `parse_flow` returns a frozen, hashable `Flow` or raises `FlowError` / `FlowFileError` whose message
has one line per problem, never another exception (RecursionError, KeyError, ValueError...) and never a hang
(each example must finish within `SECONDS`). Two kinds of input: (a) YAML-ish text strung together from pieces of
YAML syntax and flow vocabulary, or just random text; (b) a valid flow with random mutations (keys, types, deep
nesting, odd Unicode, huge numbers, aliases), written back as YAML in flow or block style.

Budget: IVR_FUZZ_EXAMPLES examples per test (default 40, a few seconds for the file); a fuzzing session raises it
(`IVR_FUZZ_EXAMPLES=5000 pytest -p no:xdist tests/fuzz/test_fuzz_loader.py`). Every crash found becomes a
regression test in tests/flow/test_loader.py or tests/flow/test_limits.py.
"""

from __future__ import annotations

import copy
import json
import os
import re
import time
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.errors import FlowError, FlowFileError
from ivr.flow.loader import parse_flow
from ivr.flow.model import NODE_TYPES, Flow

pytestmark = pytest.mark.fuzz  # deselect locally with -m "not fuzz"; IVR_FUZZ_EXAMPLES sets the budget

EXAMPLES = int(os.environ.get("IVR_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
#: the most one example may take: far above a valid flow's load time, far below a hang
SECONDS = 60.0

VALID: dict[str, Any] = {
    "name": "fuzz",
    "start": "menu",
    "outcomes": ["cancelled", "resolved", "transferred"],
    "guarantee": {"intent": "cancel", "outcome": "cancelled", "within": "4"},
    "variables": {"account": "", "tier": "gold"},
    "intents": {"billing": {"phrases": ["billing", "my bill"], "keys": ["1"]}},
    "globals": {"cancel": "confirm", "agent": "agent"},
    "defaults": {"no_input": [{"say": "Sorry?"}, {"say": "Bye.", "goto": "bye"}], "timeout": "5"},
    "nodes": {
        "menu": {"type": "menu", "prompt": "Say billing.", "routes": {"billing": "ask"}, "keys": {"0": "agent"},
                 "hints": ["billing"], "no_match": [{"say": "Pardon?"}, {"goto": "agent"}]},
        "ask": {"type": "collect", "prompt": ["Your account?", {"play": "beep.wav"}], "var": "account",
                "digits": {"min": "4", "max": "8"}, "next": "tiered"},
        "tiered": {"type": "branch", "var": "tier", "cases": {"gold": "mark"}, "default": "bye"},
        "mark": {"type": "set", "set": {"tier": "{account}"}, "next": "confirm"},
        "confirm": {"type": "confirm", "prompt": "Cancel {account:digits}?", "yes": "record", "no": "bye"},
        "record": {"type": "action", "effect": "record_cancellation", "args": {"account": "{account}"},
                   "result": "tier", "next": "done", "on_error": "agent"},
        "done": {"type": "end", "prompt": "Cancelled.", "outcome": "cancelled"},
        "bye": {"type": "end", "prompt": "Goodbye.", "outcome": "resolved"},
        "agent": {"type": "transfer", "number": "+18005550100"},
    },
}

WORDS = sorted({"name", "start", "outcomes", "guarantee", "intent", "outcome", "within", "variables", "intents",
                "phrases", "keys", "globals", "defaults", "no_input", "no_match", "timeout", "speech_timeout",
                "min_confidence", "nodes", "type", "prompt", "say", "play", "routes", "hints", "goto", "reprompt",
                "var", "digits", "min", "max", "next", "cases", "default", "set", "yes", "no", "effect", "args",
                "result", "on_error", "number", "retention", "opt_out", "help", "input", "finish_on_key", "validate",
                "description", "language", "voice", *NODE_TYPES, *VALID["nodes"], "@repeat", "@help", "@no_match"})

#: odd scalars: numbers past what int() converts, infinities, YAML 1.1 words, escapes XML cannot carry, templates
ODD_SCALARS = st.sampled_from([
    "", " ", "0", "-1", "1", "61", "01", "1.5", "1e309", "-1e309", "nan", "inf", ".inf", "-0", "0x1F", "1_000",
    "²", "١٢", "𝟗", "9" * 5000, "1" + "0" * 4400, "yes", "no", "on", "off", "true", "~", "null", "#", "*", "@repeat",
    "{", "}", "{x}", "{account:digits}", "{account!r}", "{0}", "{{", "\x00", "\x07", "\x1b", "\x7f", "\x85", "\u2028",
    "\ufeff", "\ufffe", "\ud800", "\udfff", "\U0001f600", "취소", "../x.wav", "/etc/passwd", "sip:x", "a" * 600,
    "n" * 201, "o" * 65,
])
TEXT = st.one_of(ODD_SCALARS, st.text(max_size=20),
                 st.text(st.characters(min_codepoint=0, max_codepoint=0x3F), max_size=10),
                 st.text(st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010), max_size=5))
KEYS = st.one_of(st.sampled_from(WORDS), TEXT)
VALUES = st.recursive(TEXT, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                    st.dictionaries(KEYS, inner, max_size=4)), max_leaves=12)


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """`VALID` with a few random mutations: a value replaced, a key added or removed, a value nested deeply, a
    value repeated many times."""
    root: dict[str, Any] = {"": copy.deepcopy(VALID)}
    deep = False
    for _ in range(draw(st.integers(1, 4))):
        parent, key = _somewhere(draw, root)
        action = draw(st.sampled_from(["replace", "add", "delete", "deep", "many"]))
        if action == "replace":
            parent[key] = draw(VALUES)
        elif action == "add" and isinstance(parent[key], dict):
            parent[key][draw(KEYS)] = draw(VALUES)
        elif action == "delete" and isinstance(parent, dict) and parent is not root:
            del parent[key]
        elif action == "deep" and not deep:  # once: the test's own writer recurses too
            deep = True
            for _ in range(draw(st.integers(0, 250))):
                parent[key] = [parent[key]] if draw(st.booleans()) else {"a": parent[key]}
        elif action == "many":
            size = draw(st.integers(0, 200))
            parent[key] = ({f"k{i}": parent[key] for i in range(size)} if draw(st.booleans())
                           else [parent[key]] * size)
    return root[""]


def _somewhere(draw: st.DrawFn, root: dict[str, Any]) -> tuple[Any, Any]:
    """A (container, key) pair inside `root`, reached by a random walk from the top."""
    parent: Any = root
    key: Any = ""
    while isinstance(parent[key], dict | list) and parent[key] and draw(st.integers(0, 3)):
        inner = parent[key]
        parent, key = inner, draw(st.sampled_from(list(inner) if isinstance(inner, dict) else range(len(inner))))
    return parent, key


PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_ .@-]*")


def flow_style(value: Any, ascii_only: bool) -> str:
    """`value` as YAML flow style, strings written plain where YAML reads them back as the same text, else
    double-quoted with escapes (so control characters and lone surrogates arrive as "\\a", "\\ud800")."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{flow_style(k, ascii_only)}: {flow_style(v, ascii_only)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow_style(v, ascii_only) for v in value) + "]"
    text = str(value)
    if PLAIN.fullmatch(text) and not text.endswith(" "):
        return text
    return json.dumps(text, ensure_ascii=ascii_only)


def as_text(data: Any, style: str) -> str:
    if style == "block":
        try:
            return yaml.safe_dump(data, allow_unicode=True, default_flow_style=False, width=10_000)
        except (RecursionError, yaml.YAMLError):
            style = "flow"
    return flow_style(data, ascii_only=style == "ascii")


#: pieces of YAML syntax and flow vocabulary, strung together at random
YAML_PIECES = st.sampled_from([
    "name: fuzz\n", "start: menu\n", "outcomes: [cancelled]\n", "nodes:\n", "  menu:\n", "    type: menu\n",
    "    type: end\n", "    outcome: cancelled\n", "    prompt: Hi\n", "    routes: {cancel: menu}\n",
    "    no_match: [{say: x}]\n", "intents:\n", "  cancel: {phrases: [stop]}\n", "- ", "? ", ": ", "&a ", "*a ",
    "&b [*a, *a, *a]\n", "<<: *a\n", "!!python/object:os.system ", "!!int ", "!x ", "{", "}", "[", "]", ",",
    "'", '"', '"\\a"', '"\\0"', '"\\ud800"', '"\\U0010FFFF"', "|\n", ">-\n", "  ", "\t", "\n", "\r", "#", "#: x\n",
    "---\n", "...\n", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "\ufeff", "\x85", "\u2028", "é", "9" * 5000,
])
YAMLISH = st.one_of(st.lists(YAML_PIECES, max_size=60).map("".join), st.text(max_size=300))


def _parses_or_refuses(text: str) -> None:
    started = time.perf_counter()
    error: FlowError | FlowFileError | None = None
    try:
        flow, source = parse_flow(text, "fuzz.yaml")
    except (FlowError, FlowFileError) as exc:  # anything else fails the test
        error = exc
    assert time.perf_counter() - started < SECONDS
    if isinstance(error, FlowError):  # one line per problem, each naming the file
        assert len(str(error).splitlines()) == len(error.problems), str(error)
        assert {p.file for p in error.problems} == {"fuzz.yaml"}
    elif error is not None:
        assert str(error).startswith("fuzz.yaml")
        assert len(str(error).splitlines()) == 1, str(error)
    else:
        assert isinstance(flow, Flow)
        assert hash(flow) == hash(flow)
        assert source.file == "fuzz.yaml"


@FUZZ
@given(YAMLISH)
def test_yamlish_text(text: str) -> None:
    _parses_or_refuses(text)


@FUZZ
@given(mutated(), st.sampled_from(["flow", "ascii", "block"]))
def test_mutated_flows(data: Any, style: str) -> None:
    _parses_or_refuses(as_text(data, style))


@FUZZ
@given(mutated(), st.integers(0, 10_000), YAML_PIECES)
def test_mutated_flow_text(data: Any, at: int, piece: str) -> None:
    """A flow in block style with a piece of YAML syntax spliced in at a random place."""
    text = as_text(data, "block")
    at %= len(text) + 1
    _parses_or_refuses(text[:at] + piece + text[at:])


def test_the_valid_flow_is_valid() -> None:
    for style in ("flow", "ascii", "block"):
        flow, _ = parse_flow(as_text(VALID, style))
        assert flow.name == "fuzz"
