"""The call engine: scripted calls through flows/acme.yaml and small inline flows, the ladders, @repeat and @help,
templates, set/branch/action nodes, misuse, zero-turn loops, turn counting, and a property over random callers."""

from __future__ import annotations

import re
import textwrap
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.errors import EngineError
from ivr.flow import model as f
from ivr.flow.caller import Digits, Heard, Silence, Speech
from ivr.flow.engine import (
    APOLOGY,
    ERROR_OUTCOME,
    MAX_EFFECTS,
    MAX_HOPS,
    MAX_VALUE,
    MAX_VARIABLES,
    CallState,
    Effect,
    EffectResult,
    Listen,
    Prompt,
    Step,
    advance,
    default_help,
    fill,
    fill_within,
    gather_for,
    settle,
    start,
)
from ivr.flow.intents import Meaning
from ivr.flow.loader import load_flow, parse_flow

ROOT = Path(__file__).resolve().parents[2]
ACME, _ = load_flow(ROOT / "flows" / "acme.yaml")
CALLER = "+15550001111"

MENU = ("For billing, say billing or press 1. For technical support, say technical support or press 2. "
        "To cancel your service, say cancel or press 9. For an agent, say agent or press 0.")
ASK = "Please say or enter your eight digit account number, then press pound."
ANYTHING = "Is there anything else I can help you with?"
BALANCE = "Your current balance is forty two dollars and fifty cents, due on the first of the month."
HOLD = "Please hold while I connect you with an agent."
AGENT = "+18005550100"

Input = Heard | EffectResult


def say(text: str) -> Prompt:
    return Prompt("say", text)


def flow_of(text: str) -> f.Flow:
    """A flow from inline YAML, through the real loader."""
    flow, _ = parse_flow(textwrap.dedent(text), "<test>")
    return flow


def run(flow: f.Flow, inputs: list[Input], **call: str) -> list[Step]:
    """start, then one advance per input; every step of the call."""
    steps = [start(flow, caller=call.pop("caller", CALLER), variables=call)]
    for heard in inputs:
        steps.append(advance(flow, steps[-1].state, heard))
    return steps


def final(step: Step) -> tuple[str, str, str | None, int, str | None]:
    return step.state.node, step.state.waiting, step.outcome, step.state.turn, step.transfer


# --- start and the Listen settings --------------------------------------------------------------------------------

def test_start_acme() -> None:
    step = start(ACME, caller=CALLER, called="+18005550000")
    assert step.prompts == (Prompt("play", "acme-welcome.wav"), say(MENU))
    assert step.path == ("welcome", "main_menu")
    assert step.state == CallState(
        node="main_menu", waiting="input", turn=0, no_input=0, no_match=0, outcome=None,
        variables=(("account", ""), ("called", "+18005550000"), ("caller", CALLER), ("confirmation", ""),
                   ("offer_eligible", "yes")))
    assert (step.effect, step.transfer, step.meaning, step.ended, step.outcome) == (None, None, None, False, None)
    assert step.gather == gather_for(ACME, "main_menu")


def test_start_variables_override_the_flow_and_caller() -> None:
    step = start(ACME, caller=CALLER, variables={"account": "12345678", "caller": "+1999", "extra": "x"})
    assert step.state.vars == {"account": "12345678", "called": "", "caller": "+1999", "confirmation": "",
                               "extra": "x", "offer_eligible": "yes"}


@pytest.mark.parametrize(("node", "expected"), [
    ("main_menu", Listen(speech=True, dtmf=True, hints=(), timeout=5, speech_timeout="auto", max_digits=1)),
    ("ask_account", Listen(speech=True, dtmf=True, hints=(), timeout=5, speech_timeout="auto", min_digits=8,
                           max_digits=8, finish_on_key="#")),
    ("retention_offer", Listen(speech=True, dtmf=True, hints=(), timeout=5, speech_timeout="auto", max_digits=1)),
    ("confirm_cancel", Listen(speech=True, dtmf=True, hints=(), timeout=5, speech_timeout="auto", max_digits=1)),
])
def test_acme_gather_settings(node: str, expected: Listen) -> None:
    assert replace(gather_for(ACME, node), hints=()) == expected


@pytest.mark.parametrize(("node", "heard", "not_heard"), [
    ("main_menu", ["cancel", "shut off my internet", "agent", "main menu", "repeat that", "help", "billing",
                   "pay my bill", "technical support", "keeps dropping"], ["accept", "yes", "no"]),
    ("ask_account", ["cancel", "agent", "main menu"], ["billing", "technical support", "accept", "yes"]),
    ("retention_offer", ["cancel", "agent", "accept the offer", "i'll take it"], ["billing", "yes"]),
    ("confirm_cancel", ["cancel", "yes", "that's right", "no thanks"], ["billing", "accept"]),
])
def test_acme_hints_are_the_phrases_heard(node: str, heard: list[str], not_heard: list[str]) -> None:
    hints = gather_for(ACME, node).hints
    assert [h for h in heard if h not in hints] == []
    assert [h for h in not_heard if h in hints] == []
    assert len(hints) == len(set(hints))
    assert hints[:3] == ("cancel", "cancellation", "cancel my service")  # the globals come first


GATHERS = flow_of("""
    name: gathers
    start: menu
    outcomes: [cancelled]
    variables: {acct: ""}
    intents:
      billing: {phrases: [billing, my bill], keys: ["1"]}
      cancel: {phrases: [cancel], keys: ["9"]}
    globals: {cancel: bye, help: "@help"}
    defaults: {timeout: 7, speech_timeout: "2"}
    nodes:
      menu: {type: menu, prompt: Hi, routes: {billing: bye}, hints: [balance, billing]}
      keypad: {type: menu, prompt: Press, input: dtmf, routes: {billing: bye}, keys: {"42": bye}, timeout: 20}
      voice: {type: menu, prompt: Say, input: speech, opt_out: [help], speech_timeout: auto}
      acct: {type: collect, prompt: Acct, var: acct, digits: {min: 4, max: 10}, next: bye}
      pin: {type: collect, prompt: Pin, var: acct, finish_on_key: "", next: bye, opt_out: [cancel, help]}
      sure: {type: confirm, prompt: "Sure?", yes: bye, no: bye}
      bye: {type: end, outcome: cancelled}
""")
HELP_PHRASES = ("help", "what are my options", "i need help", "options")


@pytest.mark.parametrize(("node", "expected"), [
    ("menu", Listen(speech=True, dtmf=True, hints=("cancel", *HELP_PHRASES, "billing", "my bill", "balance"),
                    timeout=7, speech_timeout="2", max_digits=1)),
    ("keypad", Listen(speech=False, dtmf=True, hints=(), timeout=20, speech_timeout="2", max_digits=2)),
    ("voice", Listen(speech=True, dtmf=False, hints=("cancel",), timeout=7, speech_timeout="auto", max_digits=1)),
    ("acct", Listen(speech=True, dtmf=True, hints=("cancel", *HELP_PHRASES), timeout=7, speech_timeout="2",
                    min_digits=4, max_digits=10, finish_on_key="#")),
    ("pin", Listen(speech=True, dtmf=True, hints=(), timeout=7, speech_timeout="2", min_digits=1, max_digits=32,
                   finish_on_key=None)),
    ("sure", Listen(speech=True, dtmf=True, timeout=7, speech_timeout="2", max_digits=1, hints=(
        "cancel", *HELP_PHRASES, "yes", "yeah", "yep", "yes please", "correct", "that's right", "sure", "right",
        "no", "nope", "no thanks", "no thank you", "not really", "wrong"))),
])
def test_gather_settings(node: str, expected: Listen) -> None:
    assert gather_for(GATHERS, node) == expected


# --- scripted calls through acme ----------------------------------------------------------------------------------

ACCOUNT = {"account": "12345678"}


@pytest.mark.parametrize(("inputs", "variables", "expected"), [
    pytest.param([Speech("cancel"), Digits("12345678#"), Speech("cancel"), Speech("yes"), EffectResult(value="A12")],
                 {}, ("cancelled_goodbye", "ended", "cancelled", 4, None), id="cancel by voice"),
    pytest.param([Digits("9"), Digits("12345678#"), Digits("9"), Digits("1"), EffectResult(value="4711")],
                 {}, ("cancelled_goodbye", "ended", "cancelled", 4, None), id="cancel by keys"),
    pytest.param([Speech("cancel"), Speech("one two three four five six seven eight"), Speech("cancel"),
                  Digits("1"), EffectResult()],
                 {}, ("cancelled_goodbye", "ended", "cancelled", 4, None), id="spoken account number"),
    pytest.param([Speech("I want to cancel"), Speech("cancel"), Speech("yes"), EffectResult()],
                 ACCOUNT, ("cancelled_goodbye", "ended", "cancelled", 3, None), id="caller known by caller ID"),
    pytest.param([Speech("cancel my service"), Speech("yes"), EffectResult()],
                 {**ACCOUNT, "offer_eligible": "no"}, ("cancelled_goodbye", "ended", "cancelled", 2, None),
                 id="no retention offer"),
    pytest.param([Speech("cancel"), Speech("cancel")], ACCOUNT, ("confirm_cancel", "input", None, 2, None),
                 id="cancel at the confirmation is yes"),
    pytest.param([Speech("cancel"), Speech("cancel"), Speech("cancel")], ACCOUNT,
                 ("do_cancel", "effect", None, 3, None), id="persistent canceller"),
    pytest.param([Speech("cancel"), Digits("12345678#"), Speech("I'll take it"), EffectResult()],
                 {}, ("kept_goodbye", "ended", "kept", 3, None), id="takes the offer"),
    pytest.param([Digits("9"), Digits("12345678"), Digits("1"), EffectResult()],
                 {}, ("kept_goodbye", "ended", "kept", 3, None), id="takes the offer by key"),
    pytest.param([Digits("9"), Digits("12345678"), Digits("1"), EffectResult(ok=False, error="timeout")],
                 {}, ("agent_transfer", "ended", "transferred", 3, AGENT), id="discount fails"),
    pytest.param([Speech("cancel"), Speech("cancel"), Speech("yes"), EffectResult(ok=False, error="db down")],
                 ACCOUNT, ("cancel_failed", "ended", "transferred", 3, AGENT), id="cancellation fails"),
    pytest.param([Speech("cancel"), Speech("cancel"), Speech("no")],
                 ACCOUNT, ("kept_goodbye", "ended", "kept", 3, None), id="changes their mind"),
    pytest.param([Speech("billing"), Speech("no thanks")], {}, ("goodbye", "ended", "resolved", 2, None),
                 id="billing"),
    pytest.param([Digits("1"), Speech("yes"), Speech("internet"), Speech("no")], {},
                 ("tech_transfer", "ended", "transferred", 4, "+18005550102"), id="billing then tech"),
    pytest.param([Speech("my internet is down"), Speech("yes"), Speech("nope")], {},
                 ("goodbye", "ended", "resolved", 3, None), id="tech fixed"),
    pytest.param([Speech("representative")], {}, ("agent_transfer", "ended", "transferred", 1, AGENT), id="agent"),
    pytest.param([Digits("1"), Digits("0")], {}, ("agent_transfer", "ended", "transferred", 2, AGENT),
                 id="agent key at a confirm node"),
    pytest.param([Speech("billing"), Speech("main menu")], {}, ("main_menu", "input", None, 2, None),
                 id="back to the main menu"),
    pytest.param([Speech("cancel"), Speech("cancel")], {}, ("ask_account", "input", None, 2, None),
                 id="cancel at the account prompt asks again"),
    pytest.param([Speech("cancel"), Speech("cancel"), Speech("cancel"), Speech("cancel")], {},
                 ("agent_transfer", "ended", "transferred", 4, AGENT), id="cancel at the account prompt, thrice"),
    pytest.param([Silence(), Silence(), Silence()], {}, ("agent_transfer", "ended", "transferred", 3, AGENT),
                 id="three silences"),
    pytest.param([Speech("xyzzy"), Digits("5"), Speech("banana")], {},
                 ("agent_transfer", "ended", "transferred", 3, AGENT), id="three mismatches"),
    pytest.param([Speech("cancel"), Silence(), Silence(), Digits("0")], {},
                 ("agent_transfer", "ended", "transferred", 4, AGENT), id="presses 0 as the ladder suggests"),
])
def test_acme_calls(inputs: list[Input], variables: dict[str, str],
                    expected: tuple[str, str, str | None, int, str | None]) -> None:
    assert final(run(ACME, inputs, **variables)[-1]) == expected


@pytest.mark.parametrize(("inputs", "variables", "expected"), [
    pytest.param([Speech("cancel"), Digits("12345678#"), Speech("cancel")], {},
                 (say("To confirm, you want to cancel the service on account 1 2 3 4 5 6 7 8. Say yes or press 1 to "
                      "cancel, or say no or press 2 to keep your service."),), id="account read digit by digit"),
    pytest.param([Speech("cancel"), Speech("cancel"), Speech("yes"), EffectResult(value="A12")], ACCOUNT,
                 (say("Your service has been cancelled. Your confirmation number is A 1 2. Again, that is A 1 2. "
                      "Thank you for being an Acme customer. Goodbye."),), id="confirmation from the effect"),
    pytest.param([Speech("cancel")], ACCOUNT,
                 (say("I can help you cancel your service."),
                  say("Before you go: we can take fifty percent off your bill for the next six months. To keep your "
                      "service with the discount, say accept or press 1. To continue cancelling, say cancel or press "
                      "9.")), id="say node, branches, then the offer"),
    pytest.param([Speech("billing")], {}, (say(BALANCE), say(ANYTHING)), id="say node then confirm"),
])
def test_acme_prompts(inputs: list[Input], variables: dict[str, str], expected: tuple[Prompt, ...]) -> None:
    assert run(ACME, inputs, **variables)[-1].prompts == expected


@pytest.mark.parametrize(("inputs", "variables", "path", "meaning"), [
    ([Speech("cancel")], {}, ("cancel_start", "identify", "ask_account"), Meaning("intent", "cancel")),
    ([Speech("cancel")], ACCOUNT, ("cancel_start", "identify", "offer_check", "retention_offer"),
     Meaning("intent", "cancel")),
    ([Speech("cancel"), Digits("12345678#")], {}, ("offer_check", "retention_offer"), Meaning("data", "12345678")),
    ([Speech("cancel"), Digits("1")], ACCOUNT, ("offer_accepted",), Meaning("key", "1")),
    ([Silence()], {}, ("main_menu",), Meaning("no_input")),
])
def test_acme_paths(inputs: list[Input], variables: dict[str, str], path: tuple[str, ...], meaning: Meaning) -> None:
    step = run(ACME, inputs, **variables)[-1]
    assert (step.path, step.meaning) == (path, meaning)


def test_collected_data_is_stored() -> None:
    step = run(ACME, [Speech("cancel"), Speech("my account is one two three four five six seven eight")])[-1]
    assert step.state.vars["account"] == "12345678"


# --- no-input and no-match ladders --------------------------------------------------------------------------------

SILENCE1, SILENCE2 = "Sorry, I didn't hear anything.", "I still didn't hear you. You can also press 0 for an agent."
MISMATCH1, MISMATCH2 = "Sorry, I didn't get that.", "Sorry, I still didn't understand."
X = Speech("xyzzy")


@pytest.mark.parametrize(("inputs", "expected"), [
    ([Silence()], ("main_menu", 1, 0, (say(SILENCE1), say(MENU)))),
    ([Silence()] * 2, ("main_menu", 2, 0, (say(SILENCE2), say(MENU)))),
    ([Silence()] * 3, ("agent_transfer", 0, 0, (say("Let me get someone to help you."), say(HOLD)))),
    ([X], ("main_menu", 0, 1, (say(MISMATCH1), say(MENU)))),
    ([X] * 2, ("main_menu", 0, 2, (say(MISMATCH2), say(MENU)))),
    ([X] * 3, ("agent_transfer", 0, 0, (say("Let me connect you with someone who can help."), say(HOLD)))),
    # the two ladders count separately
    ([Silence(), X, Silence(), X], ("main_menu", 2, 2, (say(MISMATCH2), say(MENU)))),
    ([Silence(), X, Silence(), X, Silence()],
     ("agent_transfer", 0, 0, (say("Let me get someone to help you."), say(HOLD)))),
    # @repeat and @help stay at the node and keep its counts
    ([Silence(), Silence(), Speech("repeat")], ("main_menu", 2, 0, (say(MENU),))),
    ([Silence(), Silence(), Speech("repeat"), Silence()],
     ("agent_transfer", 0, 0, (say("Let me get someone to help you."), say(HOLD)))),
    ([X, X, Speech("help")], ("main_menu", 0, 2, (
        say("You can say cancel, agent, main menu, billing or technical support."), say(MENU)))),
    # a new node starts afresh, and so does entering the same node again by a route
    ([Silence(), Silence(), Speech("billing")], ("anything_else", 0, 0, (say(BALANCE), say(ANYTHING)))),
    ([Silence(), Silence(), Speech("billing"), Silence()], ("anything_else", 1, 0, (say(SILENCE1), say(ANYTHING)))),
    ([X, X, Speech("main menu"), X], ("main_menu", 0, 1, (say(MISMATCH1), say(MENU)))),
    # a node's own ladders replace the default ones
    ([Speech("cancel"), Digits("123#")],
     ("ask_account", 0, 1, (say("That doesn't look like an eight digit account number."), say(ASK)))),
    ([Speech("cancel"), Digits("123#"), Speech("one two")], ("ask_account", 0, 2, (
        say("Sorry, I still couldn't get that. The account number is on the top of your bill."), say(ASK)))),
    ([Speech("cancel"), Digits("123#"), Digits("123#"), Digits("123456789#")],
     ("agent_transfer", 0, 0, (say("Let me connect you with someone who can help."), say(HOLD)))),
    ([Speech("cancel"), Silence()],
     ("ask_account", 1, 0, (say("Sorry, I didn't hear anything. You can also press 0 for an agent."), say(ASK)))),
    # "cancel" at the account prompt is routed to @no_match: it climbs the no-match ladder
    ([Speech("cancel"), Speech("cancel")],
     ("ask_account", 0, 1, (say("That doesn't look like an eight digit account number."), say(ASK)))),
    ([Speech("cancel"), Digits("123#"), Speech("cancel")], ("ask_account", 0, 2, (
        say("Sorry, I still couldn't get that. The account number is on the top of your bill."), say(ASK)))),
    ([Speech("cancel"), Speech("cancel"), Digits("123#"), Digits("9")],
     ("agent_transfer", 0, 0, (say("Let me connect you with someone who can help."), say(HOLD)))),
])
def test_acme_ladders(inputs: list[Input], expected: tuple[str, int, int, tuple[Prompt, ...]]) -> None:
    step = run(ACME, inputs)[-1]
    assert (step.state.node, step.state.no_input, step.state.no_match, step.prompts) == expected
    assert step.state.turn == len(inputs)


LADDERS = flow_of("""
    name: ladders
    start: patient
    outcomes: [cancelled]
    intents:
      maybe: {phrases: [maybe]}
    defaults:
      no_input: [{say: "Hello?"}]
      no_match: [{say: "Pardon, {caller}?"}, {say: "Hmm.", reprompt: false}]
    nodes:
      patient: {type: menu, prompt: "Say yes.", routes: {yes: bye, no: quiet, maybe: "@no_match"}}
      quiet:
        type: menu
        prompt: "Say yes."
        routes: {yes: bye}
        no_input: []
        no_match: [{play: beep.wav}, {goto: bye}]
      bye: {type: end, outcome: cancelled}
""")


@pytest.mark.parametrize(("inputs", "expected"), [
    # a ladder whose last rung only reprompts never escalates
    ([Silence()] * 5, ("patient", "input", 5, 0, (say("Hello?"), say("Say yes.")))),
    # rung messages are templates
    ([X], ("patient", "input", 0, 1, (say("Pardon, +15550001111?"), say("Say yes.")))),
    # an intent routed to @no_match climbs the no-match ladder like an answer not understood
    ([Speech("maybe")], ("patient", "input", 0, 1, (say("Pardon, +15550001111?"), say("Say yes.")))),
    ([Speech("maybe"), X, Speech("maybe")], ("patient", "input", 0, 3, (say("Hmm."),))),
    # reprompt: false says the message only; past the end the last rung repeats
    ([X, X], ("patient", "input", 0, 2, (say("Hmm."),))),
    ([X] * 4, ("patient", "input", 0, 4, (say("Hmm."),))),
    # an empty ladder just reprompts
    ([Speech("no"), Silence(), Silence()], ("quiet", "input", 2, 0, (say("Say yes."),))),
    # an audio rung, then a goto with no message
    ([Speech("no"), X], ("quiet", "input", 0, 1, (Prompt("play", "beep.wav"), say("Say yes.")))),
    ([Speech("no"), X, X], ("bye", "ended", 0, 0, ())),
])
def test_ladder_shapes(inputs: list[Input], expected: tuple[str, str, int, int, tuple[Prompt, ...]]) -> None:
    step = run(LADDERS, inputs)[-1]
    assert (step.state.node, step.state.waiting, step.state.no_input, step.state.no_match, step.prompts) == expected


# --- @repeat and @help --------------------------------------------------------------------------------------------

ASSIST = """
    name: assist
    start: START
    outcomes: [cancelled]
    intents:
      red: {phrases: [red]}
      blue: {phrases: [blue, navy blue]}
      beep: {keys: ["5"]}
    globals: {repeat: "@repeat", help: "@help"}
    nodes:
      menu:
        type: menu
        prompt: "Red or blue?"
        routes: {red: bye, blue: bye, beep: bye}
        keys: {"*": "@repeat", "0": "@help"}
      helpful:
        type: menu
        prompt: "Red or blue?"
        routes: {red: bye}
        help: ["Red is warm.", {play: red.wav}]
      bare: {type: menu, prompt: "Anything?"}
      bye: {type: end, outcome: cancelled}
"""


@cache
def assist(node: str) -> f.Flow:
    return flow_of(ASSIST.replace("START", node))


@pytest.mark.parametrize(("node", "heard", "prompts", "meaning"), [
    ("menu", Speech("repeat"), (say("Red or blue?"),), Meaning("intent", "repeat")),
    ("menu", Speech("say that again please"), (say("Red or blue?"),), Meaning("intent", "repeat")),
    ("menu", Digits("*"), (say("Red or blue?"),), Meaning("key", "*")),
    ("menu", Speech("help"), (say("You can say red or blue."), say("Red or blue?")), Meaning("intent", "help")),
    ("menu", Digits("0"), (say("You can say red or blue."), say("Red or blue?")), Meaning("key", "0")),
    ("helpful", Speech("what are my options"), (say("Red is warm."), Prompt("play", "red.wav"), say("Red or blue?")),
     Meaning("intent", "help")),
    ("bare", Speech("help"), (say("Please answer the question."), say("Anything?")), Meaning("intent", "help")),
])
def test_repeat_and_help(node: str, heard: Heard, prompts: tuple[Prompt, ...], meaning: Meaning) -> None:
    flow = assist(node)
    step = advance(flow, start(flow).state, heard)
    assert (step.prompts, step.meaning, step.path) == (prompts, meaning, (node,))
    assert step.state == CallState(node=node, turn=1, variables=(("called", ""), ("caller", "")))
    assert step.gather == gather_for(flow, node)


@pytest.mark.parametrize(("flow", "node", "expected"), [
    (ACME, "main_menu", "You can say cancel, agent, main menu, billing or technical support."),
    (ACME, "confirm_cancel", "You can say cancel, agent, main menu, yes or no."),
    (ACME, "retention_offer", "You can say cancel, agent, main menu or accept."),
    (ACME, "ask_account", "You can say agent or main menu."),  # its cancel only repeats the question
    (assist("menu"), "menu", "You can say red or blue."),  # beep has keys only
    (assist("menu"), "helpful", "You can say red."),
    (assist("menu"), "bare", "Please answer the question."),
])
def test_default_help(flow: f.Flow, node: str, expected: str) -> None:
    assert default_help(flow, node) == expected


# --- templates, set and branch ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "variables", "expected"), [
    ("Hello {name}.", {"name": "Sam"}, "Hello Sam."),
    ("{n:digits}", {"n": "4711"}, "4 7 1 1"),
    ("{n:digits}", {"n": "A12"}, "A 1 2"),
    ("{n:digits}", {"n": ""}, ""),
    ("{n}", {"n": "4711"}, "4711"),
    ("{a}{b:digits}.", {"a": "x", "b": "12"}, "x1 2."),
    ("{missing}!", {}, "!"),
    ("{{literal}} {n}", {"n": "1"}, "{literal} 1"),
    ("no templates", {}, "no templates"),
    ("", {}, ""),
])
def test_render(text: str, variables: dict[str, str], expected: str) -> None:
    assert fill(text, variables) == expected


TIERS = flow_of("""
    name: tiers
    start: greet
    outcomes: [cancelled, gold, declined, other]
    variables: {tier: "", greeting: ""}
    nodes:
      greet: {type: set, set: {greeting: "Hello {caller}"}, next: by_tier}
      by_tier: {type: branch, var: tier, cases: {gold: gold, no: declined}, default: other}
      gold: {type: end, prompt: "{greeting}, gold member.", outcome: gold}
      declined: {type: end, prompt: "{greeting}.", outcome: declined}
      other: {type: end, prompt: "{greeting}, caller {caller:digits}.", outcome: other}
""")


@pytest.mark.parametrize(("tier", "outcome", "prompt"), [
    ("gold", "gold", "Hello +1555, gold member."),
    ("no", "declined", "Hello +1555."),  # `no:` stays the string "no" (not YAML 1.1's False)
    ("", "other", "Hello +1555, caller + 1 5 5 5."),
    ("platinum", "other", "Hello +1555, caller + 1 5 5 5."),
    ("Gold", "other", "Hello +1555, caller + 1 5 5 5."),
])
def test_set_and_branch(tier: str, outcome: str, prompt: str) -> None:
    step = start(TIERS, caller="+1555", variables={"tier": tier})
    assert (step.outcome, step.prompts, step.path) == (outcome, (say(prompt),), ("greet", "by_tier", outcome))
    assert step.state.vars["greeting"] == "Hello +1555"
    assert step.state.turn == 0  # set, branch and end take no turn


# --- actions and effects ------------------------------------------------------------------------------------------

ACTIONS = flow_of("""
    name: actions
    start: menu
    outcomes: [cancelled, failed]
    variables: {account: "", ref: ""}
    intents:
      go: {phrases: [go]}
      bare: {phrases: [bare]}
    nodes:
      menu: {type: menu, prompt: "Go?", routes: {go: lookup, bare: bare_lookup}}
      lookup:
        type: action
        prompt: One moment.
        effect: lookup_account
        args: {account: "{account}", who: "{caller}", fixed: x}
        result: ref
        next: found
        on_error: failed
      bare_lookup: {type: action, effect: lookup_account, next: found}
      found: {type: end, prompt: "Reference {ref:digits}.", outcome: cancelled}
      failed: {type: end, prompt: "That failed.", outcome: failed}
""")


def test_an_action_waits_for_its_effect() -> None:
    step = run(ACTIONS, [Speech("go")], account="12")[-1]
    assert step.effect == Effect("lookup_account", (("account", "12"), ("who", CALLER), ("fixed", "x")), "lookup")
    assert (step.state.node, step.state.waiting, step.state.turn) == ("lookup", "effect", 1)
    assert (step.prompts, step.gather, step.ended, step.path) == ((say("One moment."),), None, False, ("lookup",))


@pytest.mark.parametrize(("route", "result", "expected"), [
    ("go", EffectResult(value="4711"), ("found", "cancelled", (say("Reference 4 7 1 1."),), "4711")),
    ("go", EffectResult(), ("found", "cancelled", (say("Reference ."),), "")),
    ("go", EffectResult(ok=False, error="db down"), ("failed", "failed", (say("That failed."),), "")),
    ("go", EffectResult(ok=False, value="4711"), ("failed", "failed", (say("That failed."),), "")),
    ("bare", EffectResult(value="4711"), ("found", "cancelled", (say("Reference ."),), "")),  # no result variable
    ("bare", EffectResult(ok=False, error="db down"), ("bare_lookup", "error", (say(APOLOGY),), "")),
])
def test_effect_results(route: str, result: EffectResult, expected: tuple[str, str, tuple[Prompt, ...], str]) -> None:
    step = run(ACTIONS, [Speech(route), result])[-1]
    assert (step.state.node, step.outcome, step.prompts, step.state.vars["ref"]) == expected
    assert (step.ended, step.state.turn, step.effect, step.gather) == (True, 1, None, None)


# --- misuse -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("inputs", "bad", "message"), [
    ([Speech("go")], Speech("hello"), "caller input arrived while node 'lookup' waits for its effect's result"),
    ([Speech("go")], Silence(), "caller input arrived while node 'lookup' waits for its effect's result"),
    ([Speech("go")], Digits("1"), "caller input arrived while node 'lookup' waits for its effect's result"),
    ([], EffectResult(), "an effect result arrived while node 'menu' waits for caller input"),
    ([Speech("xyzzy")], EffectResult(ok=False), "an effect result arrived while node 'menu' waits for caller input"),
    ([Speech("go"), EffectResult()], Speech("go"),
     "call already ended with outcome 'cancelled'; no further input is accepted"),
    ([Speech("go"), EffectResult()], Silence(),
     "call already ended with outcome 'cancelled'; no further input is accepted"),
    ([Speech("go"), EffectResult()], EffectResult(),
     "call already ended with outcome 'cancelled'; no further input is accepted"),
    ([Speech("bare"), EffectResult(ok=False)], Digits("1"),
     "call already ended with outcome 'error'; no further input is accepted"),
])
def test_engine_misuse(inputs: list[Input], bad: Input, message: str) -> None:
    state = run(ACTIONS, inputs)[-1].state
    with pytest.raises(EngineError, match=f"^{re.escape(message)}$"):
        advance(ACTIONS, state, bad)


# --- zero-turn loops ----------------------------------------------------------------------------------------------

LOOPS = """
    name: loops
    start: START
    outcomes: [cancelled]
    variables: {x: ""}
    intents:
      go: {phrases: [go]}
      spin: {phrases: [spin]}
    nodes:
      menu: {type: menu, prompt: Hi, routes: {go: ping, spin: spin}}
      ping: {type: say, prompt: Ping, next: pong}
      pong: {type: say, prompt: Pong, next: ping}
      spin: {type: set, set: {x: "1"}, next: check}
      check: {type: branch, var: x, cases: {"2": bye}, default: spin}
      bye: {type: end, outcome: cancelled}
"""
PING_PONG = (say("Ping"), say("Pong")) * (MAX_HOPS // 2)


@pytest.mark.parametrize(("begin", "inputs", "prompts", "turn"), [
    ("ping", [], (*PING_PONG, say(APOLOGY)), 0),
    ("menu", [Speech("go")], (*PING_PONG, say(APOLOGY)), 1),
    ("spin", [], (say(APOLOGY),), 0),
    ("menu", [Speech("spin")], (say(APOLOGY),), 1),
])
def test_zero_turn_loop_ends_the_call(begin: str, inputs: list[Input], prompts: tuple[Prompt, ...],
                                      turn: int) -> None:
    flow = flow_of(LOOPS.replace("START", begin))
    step = run(flow, inputs)[-1]
    assert (step.ended, step.outcome, step.state.turn, step.prompts) == (True, "error", turn, prompts)
    assert len(step.path) == MAX_HOPS


# --- bounds: effects per request, and the size of values ------------------------------------------------------------

EFFECT_LOOPS = """
    name: effect-loops
    start: menu
    outcomes: [cancelled]
    intents:
      go: {phrases: [go]}
    nodes:
      menu: {type: menu, prompt: "Go?", routes: {go: START}}
      again: {type: action, effect: record_cancellation, next: again}
      retry: {type: action, effect: record_cancellation, next: bye, on_error: retry}
      round: {type: action, effect: record_cancellation, next: note}
      note: {type: say, prompt: Again., next: round}
      bye: {type: end, outcome: cancelled}
"""


@pytest.mark.parametrize(("begin", "result", "said"), [
    ("again", EffectResult(value="12345678"), ()),
    ("retry", EffectResult(ok=False, error="store down"), ()),  # a retry that never gives up
    ("round", EffectResult(), (say("Again."),) * MAX_EFFECTS),
])
def test_an_effect_loop_ends_the_call_after_max_effects(begin: str, result: EffectResult,
                                                        said: tuple[Prompt, ...]) -> None:
    flow = flow_of(EFFECT_LOOPS.replace("START", begin))
    executed: list[Effect] = []

    def execute(effect: Effect) -> EffectResult:
        executed.append(effect)
        return result

    step = settle(flow, run(flow, [Speech("go")])[-1], execute)
    assert (step.ended, step.outcome, step.state.node, step.effect, step.state.turn) == (
        True, ERROR_OUTCOME, begin, None, 1)
    assert step.prompts == (*said, say(APOLOGY))
    assert len(executed) == MAX_EFFECTS


@pytest.mark.parametrize(("chain", "outcome"), [(1, "cancelled"), (MAX_EFFECTS, "cancelled"),
                                                (MAX_EFFECTS + 1, ERROR_OUTCOME)])
def test_effects_in_a_row_up_to_max_effects(chain: int, outcome: str) -> None:
    actions = "\n".join(f"      a{i}: {{type: action, effect: note, next: {f'a{i + 1}' if i + 1 < chain else 'bye'}}}"
                         for i in range(chain))
    flow = flow_of(f"""
    name: chain
    start: a0
    outcomes: [cancelled]
    nodes:
{actions}
      bye: {{type: end, prompt: Done., outcome: cancelled}}
""")
    step = settle(flow, start(flow), lambda effect: EffectResult())
    assert (step.ended, step.outcome) == (True, outcome)
    assert step.prompts[-1] == say("Done." if outcome == "cancelled" else APOLOGY)


COPIES = [f"c{i}" for i in range(16)]  # each a copy of `a`: with it, 17 x MAX_VALUE is past MAX_VARIABLES
GROWING = flow_of(f"""
    name: growing
    start: menu
    outcomes: [cancelled]
    variables: {{a: "x", b: "", {", ".join(f'{c}: ""' for c in COPIES)}}}
    intents:
      again: {{phrases: [again]}}
      copy: {{phrases: [copy]}}
    nodes:
      menu: {{type: menu, prompt: "Again?", routes: {{again: double, copy: copies}}}}
      double: {{type: set, set: {{a: "{{a}}{{a}}{{a}}{{a}}"}}, next: menu}}
      copies: {{type: set, set: {{{", ".join(f'{c}: "{{a}}"' for c in COPIES)}}}, next: menu}}
      record: {{type: action, effect: record_cancellation, args: {{account: "{{a}}{{a}}"}}, result: b, next: menu}}
""")


def test_a_self_growing_template_ends_the_call_at_max_value() -> None:
    """x4 a turn: 4 ** 6 = 4096 characters is MAX_VALUE, the seventh would be 16384."""
    steps = run(GROWING, [Speech("again")] * 7)
    assert [len(s.state.vars["a"]) for s in steps] == [1, 4, 16, 64, 256, 1024, 4096, 4096]
    last = steps[-1]
    assert (last.ended, last.outcome, last.state.node, last.state.turn, last.prompts) == (
        True, ERROR_OUTCOME, "double", 7, (say(APOLOGY),))
    assert MAX_VALUE == 4096


@pytest.mark.parametrize(("begin", "variables", "inputs", "node"), [
    ("menu", {"a": "y" * MAX_VALUE}, [Speech("copy")], "copies"),  # 17 values of 4096: past MAX_VARIABLES
    ("record", {"a": "y" * (MAX_VALUE // 2 + 1)}, [], "record"),  # an effect's argument past MAX_VALUE
    ("record", {"a": "y"}, [EffectResult(value="1" * (MAX_VALUE + 1))], "record"),  # its result
    ("menu", {"a": "y" * (MAX_VALUE + 1)}, [], "menu"),  # the values a call starts with
    ("menu", {f"v{i}": "y" * MAX_VALUE for i in range(16)}, [], "menu"),
])
def test_values_past_the_bounds_end_the_call(begin: str, variables: dict[str, str], inputs: list[Input],
                                             node: str) -> None:
    flow = GROWING.model_copy(update={"start": begin})
    step = run(flow, inputs, **variables)[-1]
    assert (step.ended, step.outcome, step.state.node, step.effect, step.prompts[-1]) == (
        True, ERROR_OUTCOME, node, None, say(APOLOGY))
    assert sum(map(len, step.state.vars.values())) <= MAX_VARIABLES
    assert max(map(len, step.state.vars.values()), default=0) <= MAX_VALUE


@pytest.mark.parametrize(("text", "variables", "limit", "expected"), [
    ("{a}{a}", {"a": "xy"}, 4, "xyxy"),
    ("{a}{a}", {"a": "xy"}, 3, None),
    ("<{a:digits}>", {"a": "123"}, 7, "<1 2 3>"),
    ("<{a:digits}>", {"a": "123"}, 6, None),
    ("{a:digits}", {"a": ""}, 0, ""),
    ("long literal", {}, 11, None),
    ("{missing}", {}, 0, ""),
])
def test_fill_within(text: str, variables: dict[str, str], limit: int, expected: str | None) -> None:
    assert fill_within(text, variables, limit) == expected
    if expected is not None:
        assert fill(text, variables) == expected


# --- turns --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("inputs", "variables", "turns"), [
    ([Speech("cancel"), Digits("12345678#"), Speech("cancel"), Speech("yes"), EffectResult(value="1")], {},
     [0, 1, 2, 3, 4, 4]),
    ([Speech("billing"), Silence(), Speech("yes"), Speech("help"), Digits("1")], {}, [0, 1, 2, 3, 4, 5]),
    ([Digits("9"), Digits("1"), EffectResult(ok=False)], ACCOUNT, [0, 1, 2, 2]),
])
def test_turns_count_only_answered_prompts(inputs: list[Input], variables: dict[str, str], turns: list[int]) -> None:
    assert [step.state.turn for step in run(ACME, inputs, **variables)] == turns


# --- any caller, any input: the engine is total -------------------------------------------------------------------

VOCABULARY = sorted({p for i in ACME.all_intents.values() for p in i.phrases}
                    | {"xyzzy", "um", "please", "one", "two", "oh", "nine", "double five", "twenty one", "12345678",
                       "1234", "I", "my", "don't", "not", ""})
speech = st.builds(Speech, st.lists(st.sampled_from(VOCABULARY), max_size=4).map(" ".join),
                   st.none() | st.floats(0, 1))
digits = st.builds(Digits, st.text(alphabet="0123456789*#", max_size=10) | st.sampled_from(["12345678#", "1", "9"]))
caller_input = st.one_of(speech, digits, st.just(Silence()))
effect_result = st.builds(EffectResult, ok=st.booleans(), value=st.text(alphabet="0123456789A", max_size=6))


def assert_consistent(step: Step) -> None:
    node = ACME.nodes[step.state.node]
    waiting = step.state.waiting
    if waiting == "input":
        assert isinstance(node, f.GatherNode)
        assert (step.effect, step.outcome, step.transfer, step.gather) == (None, None, None, gather_for(
            ACME, step.state.node))
    elif waiting == "effect":
        assert isinstance(node, f.ActionNode)
        assert step.effect is not None
        assert step.effect.node == step.state.node
        assert (step.gather, step.outcome, step.transfer) == (None, None, None)
    else:
        assert waiting == "ended"
        assert isinstance(node, f.EndNode | f.TransferNode)
        assert step.outcome == node.outcome
        assert step.outcome in ACME.outcomes
        assert step.transfer == (node.number if isinstance(node, f.TransferNode) else None)
        assert (step.gather, step.effect) == (None, None)


@settings(max_examples=300, deadline=None, database=None)
@given(inputs=st.lists(caller_input, max_size=25), account=st.sampled_from(["", "12345678"]), data=st.data())
def test_any_caller_against_acme(inputs: list[Heard], account: str, data: st.DataObject) -> None:
    step = start(ACME, caller=CALLER, variables={"account": account})
    assert_consistent(step)
    answered = 0
    for heard in inputs:
        while step.state.waiting == "effect":
            step = advance(ACME, step.state, data.draw(effect_result))
            assert step.state.turn == answered
            assert_consistent(step)
        if step.ended:
            break
        step = advance(ACME, step.state, heard)
        answered += 1
        assert step.state.turn == answered
        assert_consistent(step)
