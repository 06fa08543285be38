"""The verbs that hand the call to a service a simulated call has no media for: `<Pay>`, `<Connect>`, `<Start>`,
`<Stop>`, `<Refer>`, and the deprecated `<Sms>`. Each is accepted as Twilio accepts it, says in the trace what was
simulated and what a call without media cannot do, and requests its action URL where Twilio does.

<Pay> (twilio.com/docs/voice/twiml/pay): the caller hears the first attempt's `<Prompt>`s; no card is read: the
  call's `pay` is the Result (default success) posted with POST to `action` (default: the document's URL) with
  PaymentMethod, and for a success PaymentConfirmationCode (a charge: chargeAmount > 0) or PaymentToken (a
  tokenization) and the masked card (PaymentCardNumber, PaymentCardType, ExpirationDate, PaymentCardPostalCode,
  SecurityCode) or bank account; otherwise PaymentError. caller-hung-up ends the call. Its statusCallback is not
  sent.
<Connect> (.../connect): Stream, ConversationRelay, VirtualAgent, Room, Conversation... open and close at once;
  then `action` (ConversationRelay adds SessionId, SessionStatus, SessionDuration), else the next verb.
<Start>/<Stop> (.../stream, .../transcription, .../recording, .../siprec): start or stop a fork of the media in the
  background; the call goes on at once. A `<Stream statusCallback>` gets stream-started (and stream-stopped at
  <Stop>) with StreamSid, StreamName and StreamEvent; the other callbacks are not sent.
<Refer> (.../refer): a SIP REFER to its `<Sip>`; the call's `refer` says what the far end does (accepted: 202 and
  NOTIFY 200, busy, failed: 405, canceled); `action` gets ReferCallStatus, ReferSipResponseCode and
  NotifySipResponseCode. Twilio refuses REFER on PSTN and Voice SDK legs; the simulated caller counts as a SIP leg
  so that a SIP app can be walked. Without an action, an accepted REFER hands the caller over: the call ends.
<Sms> (.../sms, deprecated: "use the REST API to send a text message"): sends its text to `to` (default the
  caller) from `from` (default the number called), noted in `call.messages`; `action` gets SmsSid and SmsStatus
  ('sending'), `statusCallback` SmsStatus 'sent'. `<Message>` is messaging TwiML and is refused (12200, `grammar`).
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from email.utils import formatdate
from typing import TYPE_CHECKING

from ivr.testing.sim.exchange import sid
from ivr.testing.sim.model import REFER_RESULTS, Dialled, Event, Scope
from ivr.testing.sim.transport import join

if TYPE_CHECKING:
    from ivr.testing.sim.call import Call

NO_MEDIA = "simulated: no media"
PAY_ERRORS = {"too-many-failed-attempts": "the caller's card details were invalid too many times",
              "payment-connector-error": "the payment gateway answered with an error",
              "caller-interrupted-with-star": "the caller pressed *", "caller-hung-up": "the caller hung up",
              "validation-error": "an attribute of <Pay> is invalid", "internal-error": "Twilio encountered an error"}


def _action(call: Call, verb: ET.Element, url: str, scope: Scope, fields: dict[str, str],
            default: str | None = None, method: str | None = None) -> bool:
    """Request the verb's action with `fields` and go on with its answer; False (the next verb) without one."""
    action = verb.get("action") or default
    if not action:
        return False
    call._fetch(join(url, action), method or verb.get("method") or "POST", fields, scope)
    return True


def pay(call: Call, verb: ET.Element, rest: list[ET.Element], url: str, scope: Scope) -> bool:
    from ivr.testing.sim.run import speak

    for prompt in verb.findall("Prompt"):
        if prompt.get("errorType") is None and "1" in prompt.get("attempt", "1").split():
            for inner in prompt:
                speak(call, inner, url)
    method = verb.get("paymentMethod", "credit-card")
    note = "; its statusCallback is not sent" if verb.get("statusCallback") else ""
    call.transcript.append(Event("twilio", f"collects a payment by {method} (simulated: no card was read{note}): "
                                           f"Result {call.pay}"))
    fields = {"Result": call.pay, "PaymentMethod": method}
    fields.update(_paid(verb, method) if call.pay == "success" else {"PaymentError": PAY_ERRORS[call.pay]})
    if call.pay == "caller-hung-up":
        call.status, call.hung_up_by = "completed", "caller"
        call._post(join(url, verb.get("action") or url), "POST", fields, action=True)
        call._status_callback()
        return True
    return _action(call, verb, url, scope, fields, default=url, method="POST")  # <Pay> posts, always


def _paid(verb: ET.Element, method: str) -> dict[str, str]:
    try:
        charge = float(verb.get("chargeAmount", "0") or "0") > 0
    except ValueError:
        charge = False
    fields = {"PaymentConfirmationCode": "ch_" + secrets.token_hex(12)} if charge else \
        {"PaymentToken": "tok_" + secrets.token_hex(12), "ProfileId": ""}
    if method == "ach-debit":
        fields.update({"BankAccountNumber": "*******92", "BankRoutingNumber": "121181976",
                       "BankAccountType": verb.get("bankAccountType", "consumer-checking")})
    else:
        fields.update({"PaymentCardNumber": "xxxxxxxxxxxx1111", "PaymentCardType": "visa", "ExpirationDate": "1230",
                       "PaymentCardPostalCode": "94109", "SecurityCode": "xxx"})
    return fields


def _named(tag: str, name: str) -> str:
    """A noun as the trace names it: `<Stream> wss://...`, or `<Stream>` alone when it has no name or URL."""
    return f"<{tag}> {name}" if name else f"<{tag}>"


def connect(call: Call, verb: ET.Element, rest: list[ET.Element], url: str, scope: Scope) -> bool:
    fields: dict[str, str] = {}
    for noun in verb:
        where = noun.get("url") or noun.get("connectorName") or noun.get("serviceInstanceSid") or \
            " ".join((noun.text or "").split())
        call.transcript.append(Event("twilio", f"connects the call to {_named(noun.tag, where)} ({NO_MEDIA}: the "
                                               "session opened and closed at once)"))
        if noun.tag == "Stream":
            _stream(call, noun, url, "stream-started", "stream-stopped")
        elif noun.tag == "ConversationRelay":
            fields.update({"SessionId": sid("VX"), "SessionStatus": "ended", "SessionDuration": "0"})
    return _action(call, verb, url, scope, fields)


def start(call: Call, verb: ET.Element, rest: list[ET.Element], url: str, scope: Scope) -> bool:
    for noun in verb:
        target = noun.get("url") or noun.get("name") or noun.get("connectorName") or ""
        call.transcript.append(Event("twilio", f"starts {_named(noun.tag, target)} in the background ({NO_MEDIA}: "
                                               "nothing is streamed, recorded or transcribed)"))
        if noun.tag == "Stream":
            _stream(call, noun, url, "stream-started")
    return False


def stop(call: Call, verb: ET.Element, rest: list[ET.Element], url: str, scope: Scope) -> bool:
    for noun in verb:
        call.transcript.append(Event("twilio", f"stops {_named(noun.tag, noun.get('name', ''))}"))
        if noun.tag == "Stream":
            _stream(call, noun, url, "stream-stopped")
    return False


def _stream(call: Call, noun: ET.Element, url: str, *events: str) -> None:
    callback = noun.get("statusCallback")
    if not callback:
        return
    stream = sid("MZ")
    for event in events:
        call._post(join(url, callback), noun.get("statusCallbackMethod", "POST"), {}, only={
            "AccountSid": call.sim.account_sid, "CallSid": call.sid, "StreamSid": stream,
            "StreamName": noun.get("name", stream), "StreamEvent": event, "Timestamp": formatdate(usegmt=True)})


def refer(call: Call, verb: ET.Element, rest: list[ET.Element], url: str, scope: Scope) -> bool:
    target = " ".join(" ".join("".join(noun.itertext()).split()) for noun in verb.findall("Sip")) or "(no <Sip>)"
    status, code, notify = REFER_RESULTS[call.refer]
    call.transcript.append(Event("twilio", f"sends a SIP REFER to {target}: {call.refer} (ReferCallStatus {status},"
                                           f" SIP {code}; simulated: the caller counts as a SIP leg)"))
    call.dialled.append(Dialled("sip", target, status))
    fields = {"ReferCallStatus": status, "ReferSipResponseCode": code}
    if notify:
        fields["NotifySipResponseCode"] = notify
    if _action(call, verb, url, scope, fields):
        return True
    if call.refer == "accepted":  # the far end took the caller over: Twilio's leg is gone
        call.transcript.append(Event("twilio", f"the caller is transferred to {target}: Twilio's leg ends"))
        call._finish("completed", "caller")
        return True
    return False


def sms(call: Call, verb: ET.Element, rest: list[ET.Element], url: str, scope: Scope) -> bool:
    body = " ".join("".join(verb.itertext()).split())
    to, sender = verb.get("to") or call.caller, verb.get("from") or call.called
    message = sid("SM")
    call.messages.append(body)
    call.transcript.append(Event("twilio", f"sends an SMS to {to} from {sender}: {body!r} (<Sms> is deprecated: "
                                           "Twilio recommends its Messages API)"))
    if verb.get("statusCallback"):
        call._post(join(url, verb.get("statusCallback", "")), "POST", {"SmsSid": message, "SmsStatus": "sent"})
    return _action(call, verb, url, scope, {"SmsSid": message, "SmsStatus": "sending"})
