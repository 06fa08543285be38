"""Engine steps rendered as TwiML (compared as exact XML) and Twilio's form fields read back as engine input."""

from __future__ import annotations

import pytest

from ivr.errors import EngineError
from ivr.flow import engine
from ivr.flow.caller import Digits, Heard, Silence, Speech
from ivr.flow.loader import parse_flow
from ivr.line.twiml import MAX_DIGITS, MAX_SPEECH, heard_from_form, parse_confidence, render

FLOW, _ = parse_flow("""\
name: tiny
voice: Polly.Matthew
language: en-GB
start: menu
outcomes: [cancelled, transferred]
intents:
  cancel: {phrases: [cancel, cancel it], keys: ["9"]}
globals: {cancel: account}
variables: {account: "", confirmation: ""}
nodes:
  menu:
    type: menu
    prompt: [{play: hello world.wav}, "Say cancel or press 9."]
    keys: {"0": agent, "5": pin, "7": sip_agent}
  account:
    type: collect
    prompt: Your account number?
    var: account
    digits: {min: 6, max: 6}
    next: record
    opt_out: [cancel]
  pin:
    type: collect
    input: dtmf
    prompt: Your PIN, then pound.
    var: account
    digits: {min: 4, max: 8}
    next: record
  record:
    type: action
    effect: record_cancellation
    result: confirmation
    next: done
  done:
    type: end
    prompt: Cancelled. Your number is {confirmation:digits}.
    outcome: cancelled
  agent:
    type: transfer
    prompt: Connecting you.
    number: "+18005550100"
  sip_agent:
    type: transfer
    number: "sip:agent@example.com"
""", "tiny.yaml")
HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


#: how a caller gets to each node of FLOW
WAY = {"account": [Speech("cancel")], "pin": [Digits("5")], "record": [Speech("cancel"), Digits("123456")],
       "agent": [Digits("0")], "sip_agent": [Digits("7")]}


def at(node: str) -> engine.Step:
    step = engine.start(FLOW)
    for heard in WAY[node]:
        step = engine.advance(FLOW, step.state, heard)
    assert step.state.node == node
    return step


def test_a_menu_is_one_gather_holding_its_prompts() -> None:
    xml = render(FLOW, engine.start(FLOW), action="/voice/tiny/gather", audio_base="https://ivr.example/audio/")
    assert xml == (
        HEAD + '<Response><Gather action="/voice/tiny/gather" actionOnEmptyResult="true" finishOnKey="" '
        'hints="cancel, cancel it" input="speech dtmf" language="en-GB" method="POST" numDigits="1" '
        'speechTimeout="auto" timeout="5">'
        '<Play>https://ivr.example/audio/hello%20world.wav</Play>'
        '<Say language="en-GB" voice="Polly.Matthew">Say cancel or press 9.</Say></Gather></Response>')


def test_a_collect_node_expects_digits() -> None:
    xml = render(FLOW, at("account"), action="/g")
    assert xml == (
        HEAD + '<Response><Gather action="/g" actionOnEmptyResult="true" finishOnKey="#" '
        'hints="$OOV_CLASS_DIGIT_SEQUENCE" input="speech dtmf" language="en-GB" method="POST" numDigits="6" '
        'speechTimeout="auto" timeout="5"><Say language="en-GB" voice="Polly.Matthew">Your account number?</Say>'
        '</Gather></Response>')


def test_a_keypad_only_collect_of_varying_length_ends_on_its_finish_key() -> None:
    xml = render(FLOW, at("pin"), action="/g")
    assert xml == (
        HEAD + '<Response><Gather action="/g" actionOnEmptyResult="true" finishOnKey="#" input="dtmf" '
        'method="POST" timeout="5"><Say language="en-GB" voice="Polly.Matthew">Your PIN, then pound.</Say>'
        '</Gather></Response>')


def test_an_end_says_goodbye_and_hangs_up() -> None:
    step = engine.advance(FLOW, at("record").state, engine.EffectResult(value="4711"))
    assert render(FLOW, step, action="/g") == (
        HEAD + '<Response><Say language="en-GB" voice="Polly.Matthew">Cancelled. Your number is 4 7 1 1.</Say>'
        '<Hangup /></Response>')


@pytest.mark.parametrize(("node", "dial_action", "expected"), [
    ("agent", "/voice/tiny/dial", '<Say language="en-GB" voice="Polly.Matthew">Connecting you.</Say>'
                                  '<Dial action="/voice/tiny/dial" method="POST"><Number>+18005550100</Number></Dial>'),
    ("agent", None, '<Say language="en-GB" voice="Polly.Matthew">Connecting you.</Say>'
                    '<Dial><Number>+18005550100</Number></Dial>'),
    ("sip_agent", None, "<Dial><Sip>sip:agent@example.com</Sip></Dial>"),
])
def test_a_transfer_dials(node: str, dial_action: str | None, expected: str) -> None:
    assert render(FLOW, at(node), action="/g", dial_action=dial_action) == f"{HEAD}<Response>{expected}</Response>"


def test_a_pending_effect_is_never_rendered() -> None:
    with pytest.raises(EngineError, match="^step waits for effect 'record_cancellation': execute it and advance"):
        render(FLOW, at("record"), action="/g")


@pytest.mark.parametrize(("form", "heard"), [
    ({"SpeechResult": "I want to cancel", "Confidence": "0.91"}, Speech("I want to cancel", 0.91)),
    ({"SpeechResult": "cancel"}, Speech("cancel", None)),
    ({"SpeechResult": "cancel", "Confidence": "high"}, Speech("cancel", None)),
    ({"SpeechResult": "cancel", "Confidence": "nan"}, Speech("cancel", None)),
    ({"SpeechResult": "cancel", "Confidence": "1.5"}, Speech("cancel", None)),
    ({"SpeechResult": "cancel", "Confidence": ""}, Speech("cancel", None)),
    ({"SpeechResult": " can\x00cel\n  it "}, Speech("can cel it", None)),
    ({"Digits": "12345#"}, Digits("12345#")),
    ({"Digits": "1 2"}, Digits("12")),
    ({"Digits": "12ab"}, Digits("12ab")),  # the engine hears garbage keys as no match
    ({"Digits": ""}, Silence()),
    ({"SpeechResult": "", "Digits": ""}, Silence()),
    ({"SpeechResult": "   "}, Silence()),
    ({}, Silence()),
    ({"SpeechResult": "cancel", "Digits": "9"}, Speech("cancel", None)),
])
def test_heard_from_form(form: dict[str, str], heard: Heard) -> None:
    assert heard_from_form(form) == heard


def test_oversized_input_is_cut() -> None:
    assert heard_from_form({"SpeechResult": "cancel " * 1000}) == Speech(("cancel " * 1000)[:MAX_SPEECH])
    assert heard_from_form({"Digits": "1" * 10_000}) == Digits("1" * MAX_DIGITS)


@pytest.mark.parametrize(("raw", "value"), [("0", 0.0), ("1", 1.0), ("0.5", 0.5), (None, None), ("-0.1", None),
                                            ("inf", None), ("1e400", None), ("0x1", None)])
def test_parse_confidence(raw: str | None, value: float | None) -> None:
    assert parse_confidence(raw) == value
