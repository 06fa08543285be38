"""The webhook app through Flask's client, signed like Twilio, on SQLite and PostgreSQL: whole calls, exact
TwiML, retries, and the cancellation record behind every confirmation."""

from __future__ import annotations

import re

from flask import Flask

from ivr.line.store import Store
from tests.conftest import Twilio


def store_of(app: Flask) -> Store:
    return app.extensions["ivr"].store  # type: ignore[no-any-return]


def test_a_canceller_is_cancelled_and_told_the_stored_confirmation_number(app: Flask, twilio: Twilio) -> None:
    call = twilio.call(caller="+15550001111")
    assert "To cancel your service, say cancel or press 9" in call.said
    call.say("I want to cancel")
    assert "eight digit account number" in call.said
    call.press("12345678")
    assert "fifty percent off" in call.said
    call.say("cancel")
    assert "account 1 2 3 4 5 6 7 8" in call.said
    call.say("yes")
    [record] = store_of(app).cancellations()
    assert (record.call_sid, record.caller, record.account, record.flow) == (call.sid, "+15550001111", "12345678",
                                                                             "acme")
    spoken = " ".join(record.confirmation)
    assert f"Your confirmation number is {spoken}." in call.said
    assert call.xml.endswith("<Hangup /></Response>")
    stored = store_of(app).get_call(call.sid)
    assert stored is not None
    assert (stored.outcome, stored.turns, stored.ended, stored.node) == ("cancelled", 4, True, "cancelled_goodbye")


def test_every_turn_is_logged_with_what_the_caller_heard_and_said(app: Flask, twilio: Twilio) -> None:
    call = twilio.call()
    call.say("billing please", confidence="0.81")
    call.press("1")
    turns = store_of(app).turns(call.sid)
    assert [(t.seq, t.kind, t.node, t.heard, t.confidence, t.digits, t.intent, t.next_node) for t in turns] == [
        (0, "start", "", "", None, "", "", "main_menu"),
        (1, "gather", "main_menu", "billing please", 0.81, "", "intent 'billing'", "anything_else"),
        (2, "gather", "anything_else", "", None, "1", "intent 'yes'", "main_menu"),
    ]
    assert turns[1].prompt.startswith("[acme-welcome.wav] For billing, say billing or press 1.")
    assert turns[2].prompt == turns[1].said
    assert turns[2].twiml == call.xml


def test_a_retried_request_gets_the_same_answer_and_records_nothing_twice(app: Flask, twilio: Twilio) -> None:
    call = twilio.call()
    call.say("cancel")
    call.press("12345678")
    call.press("9")
    action = call.action
    first = call.say("yes").get_data(as_text=True)
    again = twilio.post(action, {"CallSid": call.sid, "SpeechResult": "yes", "Confidence": "0.93"})
    assert again.get_data(as_text=True) == first
    assert len(store_of(app).cancellations()) == 1
    assert [t.seq for t in store_of(app).turns(call.sid)] == [0, 1, 2, 3, 4]


def test_a_retried_incoming_call_is_answered_as_before(twilio: Twilio) -> None:
    call = twilio.call(sid="CA" + "1" * 32)
    again = twilio.call(sid="CA" + "1" * 32)
    assert again.xml == call.xml
    assert re.search(r'action="/voice/acme/gather\?seq=1"', call.xml)


def test_responses_say_where_the_call_is_in_x_ivr_headers(twilio: Twilio) -> None:
    call = twilio.call()
    first = call.responses[-1].headers
    assert (first["X-Ivr-Node"], first["X-Ivr-Turns"], first.get("X-Ivr-Outcome")) == ("main_menu", "0", None)
    call.say("agent")
    last = call.responses[-1].headers
    assert (last["X-Ivr-Node"], last["X-Ivr-Turns"], last["X-Ivr-Outcome"]) == ("agent_transfer", "1",
                                                                                  "transferred")
    assert last["X-Ivr-Intent"] == "intent 'agent'"
