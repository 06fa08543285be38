"""The verbs a call without media can only pretend to run: `<Pay>`, `<Connect>`, `<Start>`/`<Stop>`, `<Refer>`,
`<Sms>`, `<Echo>`, each accepted as Twilio accepts it, its action requested as Twilio requests it; and how each
call ends (status, who hung up)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ivr.errors import SimError
from ivr.testing.sim import Dialled, DialResult, Event
from tests.testing.apps.scripted import Place, placing, posted, twiml

DONE = twiml("<Say>Done</Say>")


@pytest.fixture
def line() -> Iterator[Place]:
    with placing() as place:
        yield place


# -- <Pay> ---------------------------------------------------------------------------------------------------------

PAY = ('<Pay action="/paid" chargeAmount="{amount}" paymentMethod="{method}">'
       '<Prompt for="payment-card-number"><Say>Enter your card number</Say></Prompt>'
       '<Prompt for="payment-card-number" errorType="invalid-card-number"><Say>Invalid card</Say></Prompt>'
       '<Prompt for="expiration-date" attempt="2"><Say>Again, the expiry</Say></Prompt></Pay>')
CARD = {"PaymentCardNumber": "xxxxxxxxxxxx1111", "PaymentCardType": "visa", "ExpirationDate": "1230",
        "PaymentCardPostalCode": "94109", "SecurityCode": "xxx"}


@pytest.mark.parametrize(("result", "amount", "method", "expected"), [
    ("success", "10.00", "credit-card", {"Result": "success", "PaymentMethod": "credit-card", **CARD}),
    ("success", "0", "credit-card", {"Result": "success", "PaymentMethod": "credit-card", "ProfileId": "", **CARD}),
    ("success", "5", "ach-debit", {"Result": "success", "PaymentMethod": "ach-debit", "BankAccountNumber": "*******92",
                                   "BankRoutingNumber": "121181976", "BankAccountType": "consumer-checking"}),
    ("too-many-failed-attempts", "10", "credit-card", {"Result": "too-many-failed-attempts",
                                                       "PaymentMethod": "credit-card", "PaymentError":
                                                       "the caller's card details were invalid too many times"}),
    ("payment-connector-error", "10", "credit-card", {"Result": "payment-connector-error", "PaymentMethod":
                                                      "credit-card", "PaymentError":
                                                      "the payment gateway answered with an error"}),
])
def test_pay_posts_its_result(line: Place, result: str, amount: str, method: str, expected: dict[str, str]) -> None:
    call, app = line({"/voice": twiml(PAY.format(amount=amount, method=method)), "/paid": DONE}, pay=result)
    [fields] = posted(app.hits, "/paid")
    assert fields.pop("PaymentConfirmationCode" if float(amount) > 0 and result == "success" else "PaymentToken",
                      "none").startswith(("ch_", "tok_", "none"))
    assert fields == expected
    assert app.to("/paid")[0].method == "POST"
    assert call.prompts == ["Enter your card number", "Done"]  # the first attempt's prompts only
    assert Event("twilio", f"collects a payment by {method} (simulated: no card was read): Result {result}") \
        in call.transcript


def test_a_caller_hanging_up_during_pay_ends_the_call(line: Place) -> None:
    call, app = line({"/voice": twiml('<Pay action="/paid"/>', "<Say>never</Say>"), "/paid": DONE},
                     pay="caller-hung-up")
    assert (call.status, call.hung_up_by, call.prompts) == ("completed", "caller", [])
    assert posted(app.hits, "/paid", "Result") == [{"Result": "caller-hung-up"}]


# -- <Connect>, <Start>, <Stop> ------------------------------------------------------------------------------------


def test_connect_opens_and_closes_its_session_then_requests_the_action(line: Place) -> None:
    call, app = line({"/voice": twiml('<Connect action="/after"><ConversationRelay url="wss://ai.example.com/r">'
                                      '<Language code="fr-FR"/></ConversationRelay></Connect>', "<Say>never</Say>"),
                      "/after": DONE})
    assert call.transcript[0] == Event("twilio", "connects the call to <ConversationRelay> wss://ai.example.com/r "
                                                 "(simulated: no media: the session opened and closed at once)")
    [fields] = posted(app.hits, "/after")
    assert (fields.pop("SessionId")[:2], fields) == ("VX", {"SessionStatus": "ended", "SessionDuration": "0"})
    assert call.prompts == ["Done"]


def test_a_connect_stream_without_action_goes_on_with_the_next_verb(line: Place) -> None:
    call, app = line({"/voice": twiml('<Connect><Stream url="wss://s" statusCallback="/stream"/></Connect>',
                                      "<Say>Back</Say>"), "/stream": ""})
    assert call.prompts == ["Back"]
    assert [fields["StreamEvent"] for fields in posted(app.hits, "/stream", "StreamEvent")] == ["stream-started",
                                                                                                  "stream-stopped"]


def test_start_and_stop_run_in_the_background(line: Place) -> None:
    call, app = line({"/voice": twiml('<Start><Stream name="s1" url="wss://s" statusCallback="/stream"/>'
                                      "<Transcription/><Recording/></Start>", "<Say>Hello</Say>",
                                      '<Stop><Stream name="s1"/></Stop>', "<Hangup/>"), "/stream": ""})
    assert [e.text for e in call.transcript] == [
        "starts <Stream> wss://s in the background (simulated: no media: nothing is streamed, recorded or "
        "transcribed)",
        "starts <Transcription> in the background (simulated: no media: nothing is streamed, recorded or "
        "transcribed)",
        "starts <Recording> in the background (simulated: no media: nothing is streamed, recorded or transcribed)",
        "Hello", "stops <Stream> s1"]
    assert posted(app.hits, "/stream", "StreamEvent", "StreamName") == [{"StreamEvent": "stream-started",
                                                                         "StreamName": "s1"}]


# -- <Refer>, <Sms>, <Echo> ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("refer", "fields"), [
    ("accepted", {"ReferCallStatus": "in-progress", "ReferSipResponseCode": "202", "NotifySipResponseCode": "200"}),
    ("busy", {"ReferCallStatus": "busy", "ReferSipResponseCode": "202", "NotifySipResponseCode": "486"}),
    ("failed", {"ReferCallStatus": "failed", "ReferSipResponseCode": "405"}),
    ("canceled", {"ReferCallStatus": "canceled", "ReferSipResponseCode": "202", "NotifySipResponseCode": "180"}),
])
def test_refer_posts_what_the_sip_endpoint_did(line: Place, refer: str, fields: dict[str, str]) -> None:
    call, app = line({"/voice": twiml('<Refer action="/r"><Sip>sip:desk@pbx.example.com</Sip></Refer>'), "/r": DONE},
                     refer=refer)
    assert posted(app.hits, "/r", "ReferCallStatus", "ReferSipResponseCode", "NotifySipResponseCode") == [fields]
    assert call.dialled == [Dialled("sip", "sip:desk@pbx.example.com", fields["ReferCallStatus"])]


def test_an_accepted_refer_without_action_hands_the_caller_over(line: Place) -> None:
    call, _ = line({"/voice": twiml("<Refer><Sip>sip:a@b.com</Sip></Refer>", "<Say>never</Say>")})
    assert (call.status, call.hung_up_by, call.prompts) == ("completed", "caller", [])


def test_sms_sends_its_text_during_the_call(line: Place) -> None:
    call, app = line({"/voice": twiml('<Sms action="/sent" statusCallback="/sms">Your code is 42</Sms>'),
                      "/sent": DONE, "/sms": ""})
    assert call.messages == ["Your code is 42"]
    assert posted(app.hits, "/sent", "SmsStatus") == [{"SmsStatus": "sending"}]
    assert posted(app.hits, "/sms", "SmsStatus") == [{"SmsStatus": "sent"}]
    assert app.to("/sent")[0].fields["SmsSid"] == app.to("/sms")[0].fields["SmsSid"]
    assert call.transcript[0].text.startswith("sends an SMS to +15551230000 from +18005550199: 'Your code is 42'")


def test_echo_waits_for_the_caller_to_hang_up(line: Place) -> None:
    call, _ = line({"/voice": twiml("<Echo/>", "<Say>never</Say>")})
    assert call.waiting is not None
    assert call.waiting.kind == "echo"
    call.say("testing").press("1").silence().hang_up()
    assert [e.text for e in call.transcript if e.who == "twilio"][1:] == [
        "echoes 'testing' back to the caller", "echoes the tones of 1 back to the caller"]
    assert (call.status, call.hung_up_by, call.prompts) == ("completed", "caller", [])


# -- how a call ends -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("verbs", "status", "by"), [
    ("<Say>Bye</Say><Hangup/>", "completed", "app"),
    ("<Say>Bye</Say>", "completed", "app"),  # the document ran out of verbs
    ("<Reject/>", "no-answer", "app"),
    ('<Reject reason="busy"/>', "busy", "app"),
    ("<Redirect>/missing</Redirect>", "failed", "twilio"),
    ("<Enqueue>support</Enqueue>", "completed", "app"),
])
def test_who_ended_the_call(line: Place, verbs: str, status: str, by: str) -> None:
    call, _ = line({"/voice": twiml(verbs)})
    assert (call.status, call.hung_up_by) == (status, by)


def test_the_caller_hanging_up_at_a_gather(line: Place) -> None:
    call, _ = line({"/voice": twiml("<Gather/>")})
    assert (call.hang_up().status, call.hung_up_by) == ("completed", "caller")


@pytest.mark.parametrize(("options", "message"), [
    ({"queue": "lost"}, r"^queue='lost' is not one of Twilio's: \['bridged', "),
    ({"pay": "maybe"}, r"^pay='maybe' is not one of Twilio's: \['caller-hung-up', "),
    ({"refer": "sure"}, r"^refer='sure' is not one of Twilio's: \['accepted', 'busy', 'canceled', 'failed'\]$"),
    ({"dial": {"+1": DialResult("maybe")}}, r"^dial answer for '\+1': 'maybe' is not one of \['completed', "),
])
def test_a_result_twilio_does_not_have_is_refused(line: Place, options: dict[str, object], message: str) -> None:
    with pytest.raises(SimError, match=message):
        line({"/voice": twiml("<Dial>+1</Dial>")}, **options)
