"""Intent matching: text normalisation, spoken digits, Luhn, and what an input means at a node of a real flow.

Every precedence rule of `ivr.flow.intents` gets a small flow built with the real loader, so each row shows the one
rule that decides it (the others are held equal or point the other way).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ivr.flow.caller import Digits, Heard, Silence, Speech
from ivr.flow.intents import (
    NO_INPUT,
    NO_MATCH,
    Meaning,
    interpret,
    luhn_ok,
    normalise,
    spoken_digits,
)
from ivr.flow.loader import load_flow, parse_flow
from ivr.flow.model import Flow

ROOT = Path(__file__).resolve().parents[2]
ACME, _ = load_flow(ROOT / "flows" / "acme.yaml")


def flow_of(text: str) -> Flow:
    """A flow from inline YAML, through the real loader (BaseLoader scalars, duplicate-key checks, references)."""
    flow, _ = parse_flow(textwrap.dedent(text), "<test>")
    return flow


def intent(name: str) -> Meaning:
    return Meaning("intent", name)


def data(digits: str) -> Meaning:
    return Meaning("data", digits)


# --- normalise ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    # case and punctuation
    ("Cancel", ("cancel",)),
    ("CANCEL MY SERVICE!", ("cancel", "my", "service")),
    ("cancel... my, service?", ("cancel", "my", "service")),
    ("wi-fi", ("wi", "fi")),
    ("AT&T", ("at", "and", "t")),
    ("press # or *", ("press", "#", "or", "*")),
    ("", ()),
    ("   \t ", ()),
    # apostrophes are dropped, not split on (straight and typographic)
    ("I'll take it", ("ill", "take", "it")),
    ("I\u2019ll take it", ("ill", "take", "it")),
    ("What's my balance?", ("whats", "my", "balance")),
    # fillers
    ("um, cancel please", ("cancel",)),
    ("Uh... I want to, erm, cancel", ("i", "want", "to", "cancel")),
    ("um uh hmm please", ()),
    ("umbrella", ("umbrella",)),
    # number words
    ("twenty one", ("21",)),
    ("twenty-one", ("21",)),
    ("ninety nine", ("99",)),
    ("twenty", ("20",)),
    ("twenty oh five", ("20", "0", "5")),
    ("nineteen ninety nine", ("19", "99")),
    ("twelve thirty four", ("12", "34")),
    ("ten", ("10",)),
    ("eleven", ("11",)),
    ("thirteen", ("13",)),
    ("fifteen", ("15",)),
    ("zero", ("0",)),
    ("one two three", ("1", "2", "3")),
    ("1 2 3", ("1", "2", "3")),
    # "oh" is zero among digits, and just "oh" otherwise
    ("nine oh two one oh", ("9", "0", "2", "1", "0")),
    ("five o five", ("5", "0", "5")),
    ("5 oh 5", ("5", "0", "5")),
    ("oh", ("oh",)),
    ("o", ("o",)),
    ("oh no", ("oh", "no")),
    ("oh I see", ("oh", "i", "see")),
    ("oh oh seven", ("0", "0", "7")),
    ("nine oh oh one", ("9", "0", "0", "1")),
    ("oh oh", ("oh", "oh")),  # no digit in sight
    ("oh oh oh", ("oh", "oh", "oh")),
    ("uh oh", ("oh",)),
    ("eleven oh two", ("11", "0", "2")),
    # double / triple
    ("double five", ("5", "5")),
    ("triple two", ("2", "2", "2")),
    ("double oh seven", ("0", "0", "7")),
    ("double check", ("double", "check")),
    ("double", ("double",)),
])
def test_normalise(text: str, expected: tuple[str, ...]) -> None:
    assert normalise(text) == expected


# --- spoken_digits ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("my zip is nine oh two one oh", "90210"),
    ("twenty one", "21"),
    ("double five", "55"),
    ("triple oh", "000"),
    ("call 5 5 5", "555"),
    ("account 1234 5678", "12345678"),
    ("nineteen ninety nine", "1999"),
    ("one two three four five six seven eight", "12345678"),
    ("no digits here", ""),
    ("oh", ""),
    ("", ""),
])
def test_spoken_digits_of_an_utterance(text: str, expected: str) -> None:
    assert spoken_digits(normalise(text)) == expected


@pytest.mark.parametrize(("tokens", "expected"), [
    (("a", "12", "b", "3"), "123"),
    (("#", "1", "*"), "1"),
    ((), ""),
])
def test_spoken_digits_of_tokens(tokens: tuple[str, ...], expected: str) -> None:
    assert spoken_digits(tokens) == expected


# --- luhn_ok ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("digits", "expected"), [
    ("79927398713", True),
    ("79927398710", False),
    ("79927398714", False),
    ("4111111111111111", True),
    ("4111111111111112", False),
    ("1234567812345670", True),
    ("1234567812345678", False),
    ("0", True),
    ("18", True),
    ("17", False),
    ("59", True),
    ("059", True),  # leading zeros do not change the sum
    ("95", False),  # nor is the check symmetric
])
def test_luhn_ok(digits: str, expected: bool) -> None:
    assert luhn_ok(digits) is expected


# --- Meaning ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("meaning", "expected"), [
    (Meaning("intent", "billing"), "intent 'billing'"),
    (Meaning("key", "1"), "key '1'"),
    (Meaning("data", "90210"), "data '90210'"),
    (NO_MATCH, "no_match"),
    (NO_INPUT, "no_input"),
])
def test_meaning_str(meaning: Meaning, expected: str) -> None:
    assert str(meaning) == expected


# --- interpret at the nodes of flows/acme.yaml --------------------------------------------------------------------

@pytest.mark.parametrize(("node", "text", "expected"), [
    # billing
    ("main_menu", "billing", intent("billing")),
    ("main_menu", "BILLING.", intent("billing")),
    ("main_menu", "I'd like to pay my bill", intent("billing")),
    ("main_menu", "What's my balance?", intent("billing")),
    ("main_menu", "um, a question about charges please", intent("billing")),
    # tech
    ("main_menu", "technical support", intent("tech")),
    ("main_menu", "my internet is down", intent("tech")),
    ("main_menu", "the wifi keeps dropping", intent("tech")),
    ("main_menu", "Tech support, please.", intent("tech")),
    # agent (global)
    ("main_menu", "agent", intent("agent")),
    ("main_menu", "representative", intent("agent")),
    ("main_menu", "I want to talk to a real person", intent("agent")),
    ("main_menu", "customer service please", intent("agent")),
    # cancel (global)
    ("main_menu", "cancel", intent("cancel")),
    ("main_menu", "Cancel!", intent("cancel")),
    ("main_menu", "I want to cancel my service", intent("cancel")),
    ("main_menu", "um, cancellation", intent("cancel")),
    ("main_menu", "disconnect my service", intent("cancel")),
    ("main_menu", "I'd like to close my account", intent("cancel")),
    ("main_menu", "unsubscribe", intent("cancel")),
    ("main_menu", "please shut off my internet", intent("cancel")),  # 4 words beat tech's "internet"
    # built-in globals
    ("main_menu", "main menu", intent("main_menu")),
    ("main_menu", "start over", intent("main_menu")),
    ("main_menu", "help", intent("help")),
    ("main_menu", "what are my options", intent("help")),
    ("main_menu", "repeat that", intent("repeat")),
    # heard nowhere at this node
    ("main_menu", "xyzzy", NO_MATCH),
    ("main_menu", "oh", NO_MATCH),
    ("main_menu", "yes", NO_MATCH),
    ("main_menu", "accept the offer", NO_MATCH),
    # node-local intents
    ("retention_offer", "I'll take it", intent("accept_offer")),
    ("retention_offer", "sounds good", intent("accept_offer")),
    ("retention_offer", "cancel", intent("cancel")),
    ("retention_offer", "billing", NO_MATCH),
    ("confirm_cancel", "yes", intent("yes")),
    ("confirm_cancel", "yeah, please", intent("yes")),
    ("confirm_cancel", "that's right", intent("yes")),
    ("confirm_cancel", "no thanks", intent("no")),
    ("confirm_cancel", "nope", intent("no")),
    ("confirm_cancel", "cancel", intent("cancel")),
    ("anything_else", "yes please", intent("yes")),
    ("anything_else", "no thank you", intent("no")),
    ("tech_support", "no it did not", intent("no")),
])
def test_acme_speech(node: str, text: str, expected: Meaning) -> None:
    assert interpret(ACME, node, Speech(text)) == expected


@pytest.mark.parametrize(("node", "keys", "expected"), [
    ("main_menu", "1", intent("billing")),
    ("main_menu", "2", intent("tech")),
    ("main_menu", "9", intent("cancel")),
    ("main_menu", "0", intent("agent")),
    ("main_menu", "5", NO_MATCH),
    ("main_menu", "12", NO_MATCH),
    ("main_menu", "*", NO_MATCH),
    ("main_menu", "#", NO_MATCH),
    # the node's own keys come before intent keys; billing's "1" is not heard here anyway
    ("retention_offer", "1", Meaning("key", "1")),
    ("retention_offer", "9", intent("cancel")),
    ("retention_offer", "0", intent("agent")),
    ("retention_offer", "2", NO_MATCH),
    # a confirm node hears the built-in yes (1) and no (2)
    ("confirm_cancel", "1", intent("yes")),
    ("confirm_cancel", "2", intent("no")),
    ("confirm_cancel", "9", intent("cancel")),
    ("anything_else", "1", intent("yes")),
    ("anything_else", "2", intent("no")),
])
def test_acme_dtmf(node: str, keys: str, expected: Meaning) -> None:
    assert interpret(ACME, node, Digits(keys)) == expected


@pytest.mark.parametrize(("heard", "expected"), [
    # DTMF data, with or without the finish key
    (Digits("12345678#"), data("12345678")),
    (Digits("12345678"), data("12345678")),
    (Digits("00000000#"), data("00000000")),
    # wrong length or not digits
    (Digits("1234567#"), NO_MATCH),
    (Digits("123456789#"), NO_MATCH),
    (Digits("1234*678#"), NO_MATCH),
    (Digits("12345678##"), NO_MATCH),
    (Digits("#"), NO_MATCH),
    # spoken data, in any of the ways digits are said
    (Speech("one two three four five six seven eight"), data("12345678")),
    (Speech("my account is one two three four, five six seven eight"), data("12345678")),
    (Speech("twelve thirty four fifty six seventy eight"), data("12345678")),
    (Speech("double one two three four five six seven"), data("11234567")),
    (Speech("nine oh two one oh nine oh two"), data("90210902")),
    (Speech("1234 5678"), data("12345678")),
    (Speech("one two three"), NO_MATCH),
    # valid data wins over an intent; invalid data leaves the intents to decide
    (Speech("cancel 12345678"), data("12345678")),
    (Speech("cancel my account one two three"), intent("cancel")),
    (Speech("agent"), intent("agent")),
    (Speech("cancel"), intent("cancel")),
    # a key press that is not valid data is matched to the keys of the intents the node hears (README, Intents);
    # (the no-input ladder tells this caller "You can also press 0 for an agent")
    (Digits("0"), intent("agent")),
    (Digits("9"), intent("cancel")),
    (Digits("0#"), intent("agent")),
    (Digits("5"), NO_MATCH),
])
def test_acme_collect(heard: Heard, expected: Meaning) -> None:
    assert interpret(ACME, "ask_account", heard) == expected


@pytest.mark.parametrize(("node", "heard"), [
    ("main_menu", Silence()),
    ("main_menu", Digits("")),
    ("main_menu", Speech("")),
    ("main_menu", Speech("   ")),
    ("main_menu", Speech("\t\n")),
    ("main_menu", Speech("", confidence=0.9)),
    ("ask_account", Silence()),
    ("ask_account", Digits("")),
    ("confirm_cancel", Speech(" ")),
])
def test_no_input(node: str, heard: Heard) -> None:
    assert interpret(ACME, node, heard) == NO_INPUT


# --- input modes, confidence, collect options (small flows) -------------------------------------------------------

MODES = flow_of("""
    name: modes
    start: both
    outcomes: [cancelled, done]
    variables: {card: "", pin: "", code: ""}
    intents:
      billing: {phrases: [billing], keys: ["1"]}
    defaults:
      min_confidence: 0.5
    nodes:
      both: {type: menu, prompt: Hi, routes: {billing: done}}
      keys_only: {type: menu, prompt: Press 1, input: dtmf, routes: {billing: done}}
      voice_only: {type: menu, prompt: Say billing, input: speech, routes: {billing: done}}
      picky: {type: menu, prompt: Hi, routes: {billing: done}, min_confidence: 0.8}
      lenient: {type: menu, prompt: Hi, routes: {billing: done}, min_confidence: 0}
      card:
        type: collect
        prompt: Card number, then star.
        var: card
        digits: {min: 2, max: 19}
        finish_on_key: "*"
        validate: luhn
        next: done
      pin:
        type: collect
        prompt: PIN.
        var: pin
        digits: {min: 4, max: 6}
        finish_on_key: ""
        next: done
      code:
        type: collect
        prompt: Code.
        var: code
        input: dtmf
        digits: {min: 3, max: 3}
        keys: {"0": done}
        next: done
      done: {type: end, outcome: done}
""")


@pytest.mark.parametrize(("node", "heard", "expected"), [
    # input modes
    ("both", Speech("billing"), intent("billing")),
    ("both", Digits("1"), intent("billing")),
    ("keys_only", Digits("1"), intent("billing")),
    ("keys_only", Speech("billing"), NO_MATCH),
    ("keys_only", Speech("", confidence=1.0), NO_INPUT),
    ("keys_only", Silence(), NO_INPUT),
    ("voice_only", Speech("billing"), intent("billing")),
    ("voice_only", Digits("1"), NO_MATCH),
    ("voice_only", Digits(""), NO_INPUT),
    # confidence: the flow's default, a node's own threshold, and no confidence at all
    ("both", Speech("billing", confidence=0.49), NO_MATCH),
    ("both", Speech("billing", confidence=0.5), intent("billing")),
    ("both", Speech("billing", confidence=None), intent("billing")),
    ("both", Speech("xyzzy", confidence=0.9), NO_MATCH),
    ("picky", Speech("billing", confidence=0.79), NO_MATCH),
    ("picky", Speech("billing", confidence=0.8), intent("billing")),
    ("lenient", Speech("billing", confidence=0.0), intent("billing")),
    ("picky", Digits("1"), intent("billing")),  # confidence is about speech only
    # a collect node with a '*' finish key and a Luhn check
    ("card", Digits("79927398713*"), data("79927398713")),
    ("card", Digits("79927398713"), data("79927398713")),
    ("card", Digits("79927398710*"), NO_MATCH),
    ("card", Digits("79927398713#"), NO_MATCH),
    ("card", Speech("seven nine nine two seven three nine eight seven one three"), data("79927398713")),
    ("card", Speech("seven nine nine two seven three nine eight seven one oh"), NO_MATCH),
    ("card", Speech("billing", confidence=0.3), NO_MATCH),
    # only ASCII digits are data: str.isdigit() also accepts '\u00b2', which int() (and Luhn) reject
    ("card", Speech("\u00b2\u00b2"), NO_MATCH),
    ("card", Digits("\u00b2\u00b2*"), NO_MATCH),
    ("pin", Speech("\u0663\u0664\u0665\u0666"), NO_MATCH),
    # a collect node with no finish key: '#' is just a wrong character
    ("pin", Digits("1234"), data("1234")),
    ("pin", Digits("1234#"), NO_MATCH),
    ("pin", Digits("123"), NO_MATCH),
    ("pin", Digits("1234567"), NO_MATCH),
    ("pin", Speech("four three two one"), data("4321")),
    # a DTMF-only collect node: its own key first, speech ignored
    ("code", Digits("0"), Meaning("key", "0")),
    ("code", Digits("000"), data("000")),
    ("code", Digits("123#"), data("123")),
    ("code", Speech("one two three"), NO_MATCH),
])
def test_modes_confidence_and_collect(node: str, heard: Heard, expected: Meaning) -> None:
    assert interpret(MODES, node, heard) == expected


# --- precedence ---------------------------------------------------------------------------------------------------

#: rule 1, the longest phrase wins, whichever side it is on: a local intent shadows the global cancel with a
#: longer phrase, and a longer global phrase beats a shorter local one
LONGEST = flow_of("""
    name: longest
    start: menu
    outcomes: [cancelled]
    intents:
      cancel: {phrases: [cancel, stop billing me]}
      cancel_billing: {phrases: [cancel my billing]}
      billing: {phrases: [billing]}
    globals: {cancel: bye}
    nodes:
      menu: {type: menu, prompt: Hi, routes: {cancel_billing: bill, billing: bill}}
      bill: {type: end, outcome: cancelled}
      bye: {type: end, outcome: cancelled}
""")

#: rule 2, on a tie a local intent beats a global one, even when declared after it
LOCAL = flow_of("""
    name: local
    start: menu
    outcomes: [cancelled]
    intents:
      cancel: {phrases: [cancel, stop]}
      agent: {phrases: [agent, cancel my service]}
      pause: {phrases: [pause, stop]}
    globals: {cancel: bye, agent: bye}
    nodes:
      menu: {type: menu, prompt: Hi, routes: {pause: bye}}
      own_agent: {type: menu, prompt: Hi, routes: {agent: bye}}
      ask: {type: confirm, prompt: "Sure?", yes: bye, no: bye}
      bye: {type: end, outcome: cancelled}
""")

#: rule 3, then declaration order: the flow's own intents in the order written, then the built-in ones
ORDER = flow_of("""
    name: order
    start: menu
    outcomes: [cancelled]
    intents:
      first: {phrases: [stop, halt]}
      second: {phrases: [stop, halt now]}
      assist: {phrases: [help]}
      cancel: {phrases: [cancel]}
      agent: {phrases: [agent]}
    globals: {cancel: bye, agent: bye}
    nodes:
      menu: {type: menu, prompt: Hi, routes: {second: bye, first: bye, help: "@help", assist: bye}}
      globals_tie: {type: menu, prompt: Hi}
      bye: {type: end, outcome: cancelled}
""")


@pytest.mark.parametrize(("flow", "node", "text", "expected"), [
    # rule 1: longest phrase
    (LONGEST, "menu", "cancel my billing", intent("cancel_billing")),  # the deliberate shadow: 3 words beat 1
    (LONGEST, "menu", "I want to cancel my billing plan", intent("cancel_billing")),
    (LONGEST, "menu", "cancel", intent("cancel")),
    (LONGEST, "menu", "cancel my service", intent("cancel")),
    (LONGEST, "menu", "billing", intent("billing")),
    (LONGEST, "menu", "stop billing me", intent("cancel")),  # global, 3 words, beats local "billing"
    # rule 2: local beats global on a tie, whatever the declaration order
    (LOCAL, "menu", "stop", intent("pause")),  # pause is declared after cancel but routed here
    (LOCAL, "menu", "cancel my service", intent("agent")),  # still rule 1 first: 3 words
    (LOCAL, "menu", "cancel agent", intent("cancel")),  # both global: declaration order
    (LOCAL, "own_agent", "cancel agent", intent("agent")),  # the node routes agent itself
    (LOCAL, "ask", "no cancel", intent("no")),  # a confirm node's yes/no are its own
    (LOCAL, "ask", "cancel yes", intent("yes")),
    (LOCAL, "ask", "stop", intent("cancel")),  # pause is not heard at this node
    # rule 3: declaration order
    (ORDER, "menu", "stop", intent("first")),  # both local; routes' order does not matter
    (ORDER, "menu", "halt now", intent("second")),  # rule 1 still comes first
    (ORDER, "menu", "help", intent("assist")),  # the flow's own intent before the built-in help
    (ORDER, "globals_tie", "agent cancel", intent("cancel")),  # both global: cancel is declared first
    (ORDER, "globals_tie", "stop", NO_MATCH),
])
def test_precedence(flow: Flow, node: str, text: str, expected: Meaning) -> None:
    assert interpret(flow, node, Speech(text)) == expected


@pytest.mark.parametrize(("node", "keys", "expected"), [
    ("menu", "1", intent("first")),  # the flow's "1" and the built-in yes's "1": the declared one wins
    ("menu", "2", Meaning("key", "2")),  # the node's own key beats an intent's key
    ("menu", "8", intent("agent")),
    ("menu", "0", NO_MATCH),  # a declared agent replaces the built-in one, its key 0 included
    ("other", "1", intent("yes")),  # the flow's "1" is not heard here, the built-in yes is
    ("other", "2", intent("no")),
])
def test_key_precedence(node: str, keys: str, expected: Meaning) -> None:
    flow = flow_of("""
        name: keys
        start: menu
        outcomes: [cancelled]
        intents:
          first: {phrases: [first], keys: ["1"]}
          second: {phrases: [second], keys: ["2"]}
          agent: {phrases: [agent], keys: ["8"]}
        nodes:
          menu:
            type: menu
            prompt: Hi
            routes: {yes: bye, first: bye, second: bye, agent: bye}
            keys: {"2": bye}
          other: {type: confirm, prompt: "Sure?", yes: bye, no: bye}
          bye: {type: end, outcome: cancelled}
    """)
    assert interpret(flow, node, Digits(keys)) == expected


@pytest.mark.parametrize(("node", "text", "expected"), [
    # a negated request is not a request: the near-miss a caller fears most is being cancelled by "don't cancel"
    ("confirm_cancel", "no, don't cancel", Meaning("intent", "no")),
    ("confirm_cancel", "no please don't cancel it", Meaning("intent", "no")),
    ("main_menu", "please don't cancel my account", NO_MATCH),
    ("main_menu", "I do not want to cancel", NO_MATCH),
    ("main_menu", "I'm not cancelling, never mind", NO_MATCH),
    ("main_menu", "not cancel, my internet keeps dropping", Meaning("intent", "tech")),
    ("main_menu", "I can't sell it", NO_MATCH),
    # a negation further back does not reach the request
    ("main_menu", "I don't know what to do, I just want to cancel", Meaning("intent", "cancel")),
    ("main_menu", "cancel, not billing", Meaning("intent", "cancel")),
    ("confirm_cancel", "yes cancel it", Meaning("intent", "cancel")),
    ("main_menu", "cancel my internet", Meaning("intent", "cancel")),
])
def test_negation(node: str, text: str, expected: Meaning) -> None:
    assert interpret(ACME, node, Speech(text)) == expected
