"""Fuzzing the readers of what people and other programs hand ivr, other than flows: call scripts
(`ivr.testing.scripts`), sidecar expectation files (`ivr.testing.sidecar`), Twilio's webhook form
(`ivr.line.twiml.heard_from_form`) and the TwiML the simulator executes (`ivr.testing.sim`).

The property is the same for each: a reader returns a value or raises one of ivr's own errors (`IvrError`, one
line a person can act on), never another exception and never a hang; and what it accepts can be used (a number
it took converts, a regular expression it took compiles). The simulator's `check_twiml` keeps its own contract
(a `ValueError` carrying Twilio's error code), and a call driven through fuzzed documents only ever raises
`SimError`.

Random documents rarely put one odd value where a valid document would otherwise reach it, so each reader also
gets a valid document with one odd value in one slot (random), and every odd scalar in every slot (exhaustive,
not random: the smallest budget tries them all). The form parser's speech, keys or silence also goes through the
engine at every node of acme that waits for the caller.

Budget: IVR_FUZZ_EXAMPLES examples per test (default 40, about 10 s for the file); CI and a fuzzing session
raise it (`IVR_FUZZ_EXAMPLES=3000 pytest tests/fuzz/test_fuzz_readers.py`, about 6 minutes). Every crash found
becomes a regression test beside the reader's other tests (tests/testing/test_scripts.py, test_sidecar.py,
test_sim.py).
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.errors import IvrError, SimError
from ivr.flow.caller import Digits, Silence, Speech
from ivr.flow.engine import CallState, advance, start
from ivr.flow.loader import load_flow
from ivr.flow.nodes import GatherNode
from ivr.line.twiml import MAX_DIGITS, MAX_SPEECH, heard_from_form
from ivr.testing.scripts import EXPECTATIONS, TOP_KEYS, parse_script
from ivr.testing.sidecar import KEYS, parse_sidecar
from ivr.testing.sim import NESTING, Simulator, check_twiml
from tests.conftest import ACME

pytestmark = pytest.mark.fuzz  # deselect locally with -m "not fuzz"; IVR_FUZZ_EXAMPLES sets the budget

EXAMPLES = int(os.environ.get("IVR_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])

# -- text that is almost what a reader wants ------------------------------------------------------------------

#: odd scalars: numbers past what int() converts, Unicode digits that isdigit() accepts, YAML 1.1 booleans,
#: patterns that do not compile or compile into recursion, control characters, lone surrogates
ODD_VALUES = [
    "", " ", "0", "-1", "1", "4", "01", "1.5", "1e309", "nan", "inf", "-0", "²", "١٢", "٣", "𝟗", "9" * 5000,
    "yes", "no", "on", "off", "true", "false", "~", "null", "#", "#1234#", "(silence)", "*", "123*#",
    "(", "[", "a{99999999999}", "(?P<x>", "(" * 500 + ")" * 500, "\\", "(?i)(?i)", "\x00", "\x07", "\u2028",
    "\ud800", "cancel", "acme", "/voice/acme", "voice/acme", "whisper", "vosk", "cancelled", "hang up",
]
ODD_SCALARS = st.sampled_from(ODD_VALUES)
SCALARS = st.one_of(ODD_SCALARS, st.text(max_size=30))
SCRIPT_WORDS = [*TOP_KEYS, *EXPECTATIONS, "say", "press", "silence", "hang up", "hangup", "text", "confidence"]


def keyed(words: Iterable[str]) -> st.SearchStrategy[str]:
    """A mapping key: mostly one the reader knows, sometimes anything."""
    return st.one_of(st.sampled_from(sorted(set(words))), st.text(max_size=12))


def documents(words: Iterable[str]) -> st.SearchStrategy[Any]:
    """Nested mappings, lists and scalars, keyed with the reader's vocabulary."""
    keys = keyed(words)
    return st.recursive(SCALARS, lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=5)), max_leaves=25)


def as_yaml(data: Any) -> str:
    """`data` as YAML text, as a person could write it (the reader reads every scalar as a string)."""
    return yaml.safe_dump(data, allow_unicode=True, default_flow_style=False, width=10_000)


#: pieces of YAML syntax, strung together at random: anchors, aliases, tags, flow collections, block scalars
YAML_PIECES = st.sampled_from([
    "flow: acme\n", "path: /voice/acme\n", "steps:\n", "  - say: cancel\n", "  - press: '1#'\n", "  - silence\n",
    "  - hang up\n", "  - expect: {node: menu}\n", "expect:\n", "  outcome: cancelled\n", "within: 4\n",
    "said: [cancel, '#1#']\n", "- ", "? ", ": ", "&a ", "*a ", "<<: *a\n", "!!python/object:os.system ", "!x ",
    "{", "}", "[", "]", ",", "'", '"', "|\n", ">-\n", "  ", "\t", "\n", "#", "---\n", "...\n", "%YAML 1.1\n",
    "\ufeff", "\x00", "\x85", "\u2028", "\ud800", "é", "취소",
])
YAMLISH = st.one_of(st.lists(YAML_PIECES, max_size=40).map("".join), st.text(max_size=200))


def reads_or_refuses(read: Callable[[], Any]) -> Any:
    """What `read()` returns, or None when it raised one of ivr's errors (any other exception fails the test)."""
    try:
        return read()
    except IvrError as exc:
        message = str(exc)
    assert message.strip(), "an error with no message"
    return None


# -- call scripts -------------------------------------------------------------------------------------------

def usable_script(text: str) -> None:
    script = reads_or_refuses(lambda: parse_script(text, "fuzz.call.yaml"))
    if script is None:
        return
    assert script.path.startswith("/")
    for step in script.steps:
        if step.kind == "expect":
            for key, want in step.value.items():
                if key in ("turns_at_most", "cancelled_within"):
                    assert int(want) >= 0
                elif key == "prompt_matches":
                    re.compile(want)
                elif key in ("prompt_contains", "prompts", "errors"):  # one text, or several
                    assert all(isinstance(w, str) and w for w in (want if isinstance(want, tuple) else (want,)))
                else:
                    assert isinstance(want, str)
        elif step.kind == "say":
            assert isinstance(step.value, str)
            assert 0 <= step.confidence <= 1
        elif step.kind == "press":
            assert re.fullmatch(r"[0-9*#]+", step.value)


@FUZZ
@given(st.dictionaries(keyed(SCRIPT_WORDS), documents(SCRIPT_WORDS), max_size=6))
def test_call_script_documents(data: dict[str, Any]) -> None:
    usable_script(as_yaml(data))


def mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Three times in four a value the reader takes, else an odd one: a script gets past its other keys only
    when they are valid, so the odd value in the one key being tried is what the reader must judge."""
    return st.one_of(valid, valid, valid, SCALARS)


VALID_EXPECTATIONS = {
    "prompt_contains": st.one_of(st.text(min_size=1, max_size=10), st.lists(st.text(min_size=1), min_size=1)),
    "prompt_matches": st.sampled_from(["cancel", "(?i)bill", "a+", "^$"]), "heard_contains": st.just("cancel"),
    "node": st.just("menu"), "outcome": st.just("cancelled"), "ended": st.sampled_from(["true", "false"]),
    "turns_at_most": st.integers(0, 20).map(str), "cancelled_within": st.integers(0, 20).map(str),
}
STEPS = st.one_of(
    st.sampled_from(["silence", "hang up", "Hang  Up", "hangup"]),
    st.fixed_dictionaries({"say": mostly(st.one_of(st.text(min_size=1, max_size=20), st.fixed_dictionaries(
        {"text": mostly(st.just("cancel"))}, optional={"confidence": mostly(st.floats(0, 1).map(str))})))}),
    st.fixed_dictionaries({"press": mostly(st.text("0123456789*#", min_size=1, max_size=10))}),
    st.sampled_from(sorted(VALID_EXPECTATIONS)).flatmap(lambda key: st.fixed_dictionaries(
        {"expect": st.fixed_dictionaries({key: mostly(VALID_EXPECTATIONS[key])})})),
)


@FUZZ
@given(st.fixed_dictionaries({"flow": mostly(st.just("acme")), "steps": st.lists(STEPS, min_size=1, max_size=6)},
                             optional={"from": mostly(st.just("+15551230000")),
                                       "agent": mostly(st.sampled_from(["completed", "busy"])),
                                       "expect": st.fixed_dictionaries({"outcome": mostly(st.just("cancelled"))})}))
def test_call_script_steps(data: dict[str, Any]) -> None:
    usable_script(as_yaml(data))


#: where one odd value goes in an otherwise valid script
SCRIPT_SLOTS = ["flow", "path", "from", "agent", "description", "expect", "steps", "step", "say", "say.text",
                "say.confidence", "press", *(f"expect.{key}" for key in EXPECTATIONS)]


def odd_script(slot: str, odd: Any) -> dict[str, Any]:
    """A valid script with `odd` at `slot`."""
    kind, _, key = slot.partition(".")
    if kind == "steps":
        return {"flow": "acme", "steps": odd}
    step: Any = {"step": odd, "say": {"say": odd}, "press": {"press": odd}}.get(slot, "silence")
    if kind == "say" and key:
        step = {"say": {"text": "cancel", key: odd}}
    elif kind == "expect" and key:
        step = {"expect": {key: odd}}
    return {"flow": "acme", "steps": [step], **({slot: odd} if slot in TOP_KEYS and slot != "steps" else {})}


@FUZZ
@given(st.sampled_from(SCRIPT_SLOTS), st.one_of(ODD_SCALARS, SCALARS, documents(SCRIPT_WORDS)))
def test_call_script_one_odd_value(slot: str, odd: Any) -> None:
    usable_script(as_yaml(odd_script(slot, odd)))


def test_call_script_every_odd_scalar_everywhere() -> None:
    """Not random: each odd scalar in each slot (a second or two), so that the smallest budget tries them all."""
    for slot in SCRIPT_SLOTS:
        for odd in ODD_VALUES:
            usable_script(as_yaml(odd_script(slot, odd)))


@FUZZ
@given(YAMLISH)
def test_call_script_text(text: str) -> None:
    usable_script(text)


# -- sidecars -----------------------------------------------------------------------------------------------

def usable_sidecar(text: str) -> None:
    sidecar = reads_or_refuses(lambda: parse_sidecar(text, "fuzz.expect.yaml", Path("fuzz.wav")))
    if sidecar is None:
        return
    assert re.fullmatch(r"[A-Za-z0-9_-]+", sidecar.flow)
    assert sidecar.within is None or sidecar.within >= 1
    assert sidecar.caller_channel >= 0
    assert sidecar.outcome is not None or sidecar.within is not None
    assert sidecar.said is None or all(isinstance(s, str) and s.strip() for s in sidecar.said)


@FUZZ
@given(st.dictionaries(keyed(KEYS), documents(KEYS), max_size=6))
def test_sidecar_documents(data: dict[str, Any]) -> None:
    usable_sidecar(as_yaml(data))


@FUZZ
@given(st.fixed_dictionaries({"flow": mostly(st.just("acme"))}, optional={
    "outcome": mostly(st.just("cancelled")), "within": mostly(st.integers(1, 9).map(str)),
    "caller_channel": mostly(st.integers(0, 1).map(str)), "stt": mostly(st.sampled_from(["vosk", "whisper"])),
    "said": mostly(st.lists(st.sampled_from(["cancel", "#1234#", "(silence)"]), min_size=1, max_size=3)),
    "known_failure": mostly(st.just("a recogniser's miss")), "description": SCALARS}))
def test_sidecar_values(data: dict[str, Any]) -> None:
    usable_sidecar(as_yaml(data))


@FUZZ
@given(st.sampled_from(sorted(KEYS)), st.one_of(ODD_SCALARS, SCALARS, documents(KEYS)))
def test_sidecar_one_odd_value(key: str, odd: Any) -> None:
    usable_sidecar(as_yaml({"flow": "acme", "within": "4", key: odd}))


def test_sidecar_every_odd_scalar_everywhere() -> None:
    for key in KEYS:
        for odd in ODD_VALUES:
            usable_sidecar(as_yaml({"flow": "acme", "within": "4", key: odd}))


@FUZZ
@given(YAMLISH)
def test_sidecar_text(text: str) -> None:
    usable_sidecar(text)


# -- Twilio's webhook form -----------------------------------------------------------------------------------

ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=1200)  # lone surrogates and controls too
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(str), st.integers().map(str),
                    st.sampled_from(["", " 0.5 ", "0,5", "1_0", "٠.٥", "0x1p-1", "1e-400", "-0.0", "NaN", "ınf"]))
FORMS = st.dictionaries(
    st.one_of(st.sampled_from(["SpeechResult", "Confidence", "Digits", "CallSid", "UnstableSpeechResult"]),
              st.text(max_size=10)),
    st.one_of(ANY_TEXT, NUMBERS), max_size=6)


ACME_FLOW = load_flow(ACME)[0]
#: acme's nodes that wait for the caller, each with the variables a call has there
WAITING = [CallState(node=name, variables=start(ACME_FLOW, "+15551230000", "+18005550199").state.variables)
           for name, node in ACME_FLOW.nodes.items() if isinstance(node, GatherNode)]


@FUZZ
@given(FORMS)
def test_twilio_form(form: dict[str, str]) -> None:
    """Whatever a request's form holds becomes speech, keys or silence that the engine judges at every node."""
    heard = heard_from_form(form)
    for state in WAITING:
        assert advance(ACME_FLOW, state, heard).state.turn == 1
    if isinstance(heard, Speech):
        assert heard.text.strip() == heard.text
        assert 0 < len(heard.text) <= MAX_SPEECH
        assert heard.text.isprintable()
        assert heard.confidence is None or 0.0 <= heard.confidence <= 1.0
    elif isinstance(heard, Digits):
        assert 0 < len(heard.keys) <= MAX_DIGITS
        assert heard.keys.isprintable()
        assert not any(ch.isspace() for ch in heard.keys)
    else:
        assert isinstance(heard, Silence)


# -- TwiML, as the simulator reads it -----------------------------------------------------------------------

SIMULATED = {"Say", "Play", "Pause", "Gather", "Redirect", "Dial", "Hangup", "Reject", "Number"}
TAGS = sorted({*NESTING, *(t for allowed in NESTING.values() for t in allowed), "Record", "Foo", "response"})
URLS = st.sampled_from([
    "", "/voice/next", "next", "?a=b", "#frag", "http://localhost/voice/next", "https://other.example/x",
    "http://[::1", "http://h:abc/", "http://h:99999/", "//h/x", "mailto:x", "javascript:x", "/voice/%zz", "/\x7f",
    "/voice/next?x=1&x=2", "/" + "a" * 3000,
])
ATTRIBUTES = {
    "action": URLS, "method": st.sampled_from(["POST", "GET", "get", "PUT", "", "P O S T"]),
    "input": st.sampled_from(["dtmf", "speech", "dtmf speech", "", "voice"]),
    "numDigits": st.one_of(ODD_SCALARS, st.integers(-5, 30).map(str)),
    "finishOnKey": st.sampled_from(["#", "", "*", "1", "##", "x"]),
    "actionOnEmptyResult": st.sampled_from(["true", "false", "TRUE", "1", ""]),
    "hints": st.text(max_size=20), "reason": st.sampled_from(["busy", "rejected", ""]),
    "timeout": st.one_of(ODD_SCALARS, st.integers(-1, 100).map(str)),
}
XML_TEXT = st.one_of(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x17F), max_size=20),
                     st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20))


@st.composite
def elements(draw: st.DrawFn, tag: str | None = None, depth: int = 0) -> ET.Element:
    """A TwiML-ish element tree: mostly the verbs and nouns Twilio allows where they are (so that calls get far),
    sometimes any tag anywhere, with the attributes the simulator reads set to odd values."""
    if tag is None:
        tag = draw(st.sampled_from(["Response"] * 6 + TAGS))
    element = ET.Element(tag)
    for name in draw(st.lists(st.sampled_from(sorted(ATTRIBUTES)), max_size=4, unique=True)):
        element.set(name, draw(ATTRIBUTES[name]))
    element.text = draw(URLS if tag in ("Redirect", "Play", "Number") else st.one_of(st.none(), XML_TEXT, URLS))
    allowed = sorted(NESTING.get(tag, ())) or ["Say"]
    allowed += [t for t in allowed if t in SIMULATED] * 3  # mostly what the simulator executes
    if depth < 4:
        children = st.sampled_from(allowed * 8 + TAGS if depth else allowed)
        for child in draw(st.lists(children, max_size=4 if depth < 2 else 2)):
            element.append(draw(elements(child, depth + 1)))
    return element


def twiml(root: ET.Element) -> str:
    return ET.tostring(root, encoding="unicode")


XMLISH_PIECES = st.sampled_from([
    "<Response>", "</Response>", "<Say>", "</Say>", "<Gather input='speech dtmf' action='/next'>", "</Gather>",
    "<Redirect>/voice/next</Redirect>", "<Dial action='/d'>", "</Dial>", "<Number>+1555</Number>", "<Hangup/>",
    "<Pause/>", "<Play>a.wav</Play>", "<Reject reason='busy'/>", "<emphasis>", "</emphasis>", "<Record/>",
    "<?xml version='1.0'?>", "<?xml version='1.0' encoding='utf-16'?>", "<?xml version='1.0' encoding='x'?>",
    "<!DOCTYPE r [<!ENTITY a 'b'>]>", "<!doctype html>", "&a;", "&amp;", "&#0;", "&#xD800;", "&#1114112;",
    "<![CDATA[", "]]>", "<!--", "-->", "<", ">", "/", "'", '"', "=", " ", "\n", "x", "é", "\x00", "\ud800",
])
XMLISH = st.one_of(st.lists(XMLISH_PIECES, max_size=30).map("".join), st.text(max_size=200))


@FUZZ
@given(st.one_of(XMLISH, elements().map(twiml)))
def test_check_twiml(text: str) -> None:
    """Twilio's parse: a `<Response>` element, or ValueError with Twilio's error code and a reason."""
    try:
        root: ET.Element | None = check_twiml(text)
    except ValueError as exc:
        root, message = None, str(exc)
    if root is None:
        assert re.match(r"1[0-9]{4}: \S", message), message
    else:
        assert root.tag == "Response"


class Line:
    """A WSGI app that answers every webhook with the next of `answers` (round and round: an HTTP status, a
    redirect's Location, a document) and the given headers; more requests than a call could make without the
    caller acting is a hang."""

    def __init__(self, answers: list[tuple[str, str, str]], headers: dict[str, str], content_type: str) -> None:
        self.answers, self.headers, self.content_type, self.served = answers, headers, content_type, 0
        self.limit = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        self.served += 1
        assert self.served <= self.limit, f"{self.served} requests for one step of the caller: a loop"
        status, location, document = self.answers[(self.served - 1) % len(self.answers)]
        moved = [("Location", location)] if status[0] == "3" else []
        start_response(status, [("Content-Type", self.content_type), *moved, *self.headers.items()])
        return [document.encode("utf-8", "surrogatepass")]


HEADER_VALUES = st.one_of(st.sampled_from(["3", "²", "9" * 5000, "%C2%B2", "%zz", "", "menu", "cancelled", "%00"]),
                          st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12))
ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("say"), st.text(max_size=20), st.floats(0, 1)),
    st.tuples(st.just("press"), st.text("0123456789*#", max_size=10)),
    st.tuples(st.sampled_from(["silence", "hang_up"]))), max_size=6)


@FUZZ
@given(answers=st.lists(st.tuples(
           st.sampled_from(["200 OK"] * 6 + ["204 No Content", "301 Moved", "302 Found", "307 Temporary", "404 No",
                                             "500 Oops"]), URLS, st.one_of(elements().map(twiml), XMLISH)),
           min_size=1, max_size=4),
       headers=st.dictionaries(st.sampled_from(["X-Ivr-Turns", "X-Ivr-Node", "X-Ivr-Outcome"]), HEADER_VALUES),
       content_type=st.sampled_from(["text/xml", "application/xml; charset=utf-8", "text/plain", ""]),
       actions=ACTIONS)
def test_a_call_through_any_twiml(answers: list[tuple[str, str, str]], headers: dict[str, str], content_type: str,
                                  actions: list[tuple[Any, ...]]) -> None:
    """A call placed through answers of any shape: every step ends in a state a test can read, or SimError."""
    line = Line(answers, headers, content_type)
    sim = Simulator(line, auth_token="fuzz", status_callback="/voice/status")
    refused: str | None = None
    try:
        line.limit = line.served + 200
        call = sim.call("/voice/fuzz")
        for action, *args in actions:
            line.limit = line.served + 200
            getattr(call, action)(*args)
            assert (call.turns, call.node, call.outcome, call.prompt, call.heard, call.conversation()) is not None
    except SimError as exc:  # the simulator's own error (the caller acts on an ended call): with a message
        refused = str(exc)
    finally:
        sim.close()
    assert refused is None or refused.strip()
