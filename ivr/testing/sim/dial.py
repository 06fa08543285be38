"""`<Dial>`, as Twilio's reference describes it (twilio.com/docs/voice/twiml/dial, .../number, .../client,
.../sip): Twilio calls each `<Number>`, `<Client>`, `<Sip>`, `<Application>`, `<WhatsApp>` and `<Sim>` (or the
number written in the `<Dial>`) at once; the first to answer is connected and the others are hung up (canceled).
Each dialled party answers as the call's `dial` says (`DialResult`: completed after talking `duration` seconds,
busy, no-answer after the `timeout`, default 30 s, failed), else as `dial_answer`. `<Conference>` and `<Queue>`
are in `rooms`.

The answering party's `url` (a whisper, `<Number url>` / `<Client url>` / `<Sip url>`) runs on its leg before the
parties are connected (Play, Say, Pause, Gather, Hangup): requested with the child call's own CallSid,
ParentCallSid, To (the party) and Direction outbound-dial; what it says is the agent's, not the caller's (Event
who="agent"); its `<Gather>` gets the agent's keys (`DialResult.keys`); a `<Hangup>` there means the caller is
never connected (DialCallStatus completed, DialBridged false). `timeLimit` (default 14400 s) cuts the talk short;
`record` (record-from-answer, record-from-ringing, their -dual forms, or true) makes a Recording, its URL posted to
the action and its `recordingStatusCallback` (RecordingSource DialVerb); each noun's `statusCallback` gets the call
progress events it asks for (`statusCallbackEvent`, default completed) with the child call's parameters.

When the dial ends Twilio requests `action` with DialCallStatus (completed, busy, no-answer, failed; 'answered' for
a conference), DialCallSid, DialCallDuration, DialBridged and RecordingUrl, and continues with what it answers;
without `action` it goes on with the next verb. When the caller hangs up during the dial
(`DialResult.caller_hangs_up`), the call ends: Twilio still requests `action`, and what it answers is not executed.
Not simulated: `hangupOnStar` (the simulated caller never presses * in a bridged call), `answerOnBridge`,
`ringTone`, `sequential`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from email.utils import formatdate
from typing import TYPE_CHECKING

from ivr.testing.sim import rooms
from ivr.testing.sim.exchange import agent_leg, recording_url, sid
from ivr.testing.sim.grammar import number
from ivr.testing.sim.model import Dialled, DialResult, Event, Kind, Recording, Scope
from ivr.testing.sim.transport import join

if TYPE_CHECKING:
    from ivr.testing.sim.call import Call

KINDS: dict[str, Kind] = {"Number": "number", "Client": "client", "Sip": "sip", "Application": "application",
                          "WhatsApp": "whatsapp", "Sim": "sim"}
DIAL_RECORD = ("record-from-answer", "record-from-ringing", "record-from-answer-dual", "record-from-ringing-dual",
               "true")
PROGRESS = ("initiated", "ringing", "answered", "completed")


@dataclass
class Leg:
    """One party Twilio dials."""

    kind: Kind
    target: str
    noun: ET.Element | None
    result: DialResult
    child: str  # the child call's SID
    status: str = ""  # its DialCallStatus once the dial is over


def dial(call: Call, verb: ET.Element, rest: list[ET.Element], url: str, scope: Scope) -> bool:
    """Execute a `<Dial>`: True when its action took the call elsewhere or the caller hung up."""
    room = next((noun for noun in verb if noun.tag in ("Conference", "Queue")), None)
    if room is not None:
        joined = rooms.conference if room.tag == "Conference" else rooms.dequeue
        fields, left = joined(call, verb, room, url)
    else:
        fields, left = _legs(call, verb, url)
    return _after(call, verb, url, scope, fields, left)


def _after(call: Call, verb: ET.Element, url: str, scope: Scope, fields: dict[str, str], left: bool) -> bool:
    action = verb.get("action")
    if left:  # the caller hung up: the call is over, the action requested to no effect
        call.status, call.hung_up_by = "completed", "caller"
        if action:
            call._post(join(url, action), verb.get("method", "POST"), fields, action=True)
        call._status_callback()
        return True
    if action is None:
        return False
    call._fetch(join(url, action), verb.get("method", "POST"), fields, scope)
    return True


def targets(call: Call, verb: ET.Element) -> list[Leg]:
    """The parties a `<Dial>` calls, in order."""
    found: list[tuple[Kind, str, ET.Element | None]] = [(KINDS[noun.tag], _target(noun), noun) for noun in verb
                                                        if noun.tag in KINDS]
    text = " ".join((verb.text or "").split())
    if not found and text:
        found = [("number", text, None)]
    return [Leg(kind, target, noun, rooms.answer_of(call, target), sid("CA")) for kind, target, noun in found]


def _target(noun: ET.Element) -> str:
    inner = noun.find("Identity" if noun.tag == "Client" else "ApplicationSid")
    text = inner.text if inner is not None and noun.tag in ("Client", "Application") else noun.text
    return " ".join((text or "").split())


def _legs(call: Call, verb: ET.Element, url: str) -> tuple[dict[str, str], bool]:
    legs = targets(call, verb)
    for leg in legs:
        call.transcript.append(Event("twilio", f"dials {leg.target}: {leg.result.status}"))
    winner = next((leg for leg in legs if leg.result.status == "completed"), None)
    for leg in legs:  # the first to answer is connected; Twilio hangs up on the others while they ring
        leg.status = "canceled" if winner and leg is not winner and leg.result.status in ("completed", "no-answer") \
            else leg.result.status
    if winner is None:
        status = next((s for s in ("no-answer", "busy") if any(leg.status == s for leg in legs)), "failed")
        call.seconds += number(verb.get("timeout"), 30, 5, 600) + 5 if status == "no-answer" else 0
        _progress_all(call, legs, url, 0)
        call.dialled.extend(Dialled(leg.kind, leg.target, leg.status) for leg in legs)
        child = legs[0].child if legs else sid("CA")
        return {"DialCallStatus": status, "DialCallSid": child, "DialBridged": "false"}, \
            any(leg.result.caller_hangs_up for leg in legs)
    bridged = _whisper(call, verb, winner, url)
    limit = number(verb.get("timeLimit"), 14400, 1)
    talk = min(winner.result.duration, limit) if bridged else 0
    if bridged and winner.result.duration > limit:
        call.transcript.append(Event("twilio", f"timeLimit {limit} s: Twilio hangs up on {winner.target}"))
    call.seconds += talk
    _progress_all(call, legs, url, talk)
    call.dialled.extend(Dialled(leg.kind, leg.target, leg.status, talk if leg is winner else 0)
                        for leg in legs)
    fields = {"DialCallStatus": "completed", "DialCallSid": winner.child, "DialCallDuration": str(talk),
              "DialBridged": "true" if bridged else "false"}
    if bridged:
        fields.update(_record(call, verb, url, winner, talk))
    left = bridged and winner.result.caller_hangs_up and winner.result.duration <= limit
    if left:
        call.transcript.append(Event("twilio", f"the caller hangs up after {talk} s with {winner.target}"))
    return fields, left


def _whisper(call: Call, verb: ET.Element, leg: Leg, url: str) -> bool:
    """The answering party's `url` runs on its leg: True when the parties are then connected."""
    noun = leg.noun
    if noun is None:
        return True
    if noun.get("sendDigits"):
        call.transcript.append(Event("twilio", f"sends the DTMF tones {noun.get('sendDigits')!r} to {leg.target}"))
    if not noun.get("url"):
        return True
    whisper = join(url, noun.get("url", ""))
    call.transcript.append(Event("twilio", f"{leg.target} answers: {whisper} runs on the agent's leg before "
                                           "connecting"))
    only = agent_leg({**call.params, "CallStatus": call.status}, leg.child, leg.target)
    if verb.get("callerId"):
        only["From"] = only["Caller"] = verb.get("callerId", "")
    bridged = rooms.side(call, whisper, noun.get("method", "POST"), only, who="agent", allowed=rooms.WHISPER_VERBS,
                         code="12200", keys=leg.result.keys)
    if not bridged:
        call.transcript.append(Event("twilio", f"{leg.target} is not connected to the caller"))
    return bridged


def _record(call: Call, verb: ET.Element, url: str, leg: Leg, talk: int) -> dict[str, str]:
    """`<Dial record>`: the recording of the bridged call; the action's RecordingUrl."""
    how = verb.get("record", "do-not-record").strip().lower()
    if how not in DIAL_RECORD:
        return {}
    rec_sid = sid("RE")
    rec_url = recording_url(call.sim.account_sid, rec_sid)
    call.recordings.append(Recording(rec_url, rec_sid, talk, "", "dial", leg.target))
    call.transcript.append(Event("twilio", f"records the call with {leg.target} ({how}): {talk} s, {rec_url}"))
    callback = verb.get("recordingStatusCallback")
    events = verb.get("recordingStatusCallbackEvent", "completed").replace(",", " ").split()
    if callback and "completed" in events:
        call._post(join(url, callback), verb.get("recordingStatusCallbackMethod", "POST"), {}, only={
            "AccountSid": call.sim.account_sid, "CallSid": call.sid, "RecordingSid": rec_sid, "RecordingUrl": rec_url,
            "RecordingStatus": "completed", "RecordingDuration": str(talk),
            "RecordingChannels": "2" if how.endswith("-dual") else "1", "RecordingStartTime": formatdate(usegmt=True),
            "RecordingSource": "DialVerb"})
    return {"RecordingUrl": rec_url}


def _progress_all(call: Call, legs: list[Leg], url: str, talk: int) -> None:
    for leg in legs:
        if leg.noun is not None and leg.noun.get("statusCallback"):
            _progress(call, leg, url, talk)


def _progress(call: Call, leg: Leg, url: str, talk: int) -> None:
    """A noun's `statusCallback`: the call progress events it asks for, with the child call's parameters."""
    assert leg.noun is not None
    asked = leg.noun.get("statusCallbackEvent", "completed").replace(",", " ").split()
    answered = leg.status == "completed"
    happened = [e for e in PROGRESS if e in asked and (e != "answered" or answered)
                and (e != "ringing" or leg.status != "failed")]
    status = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress", "completed": leg.status}
    for number_, event in enumerate(happened):
        fields = agent_leg({**call.params, "CallStatus": call.status}, leg.child, leg.target)
        fields.update({"CallStatus": status[event], "CallbackSource": "call-progress-events",
                       "SequenceNumber": str(number_), "Timestamp": formatdate(usegmt=True)})
        if event == "completed":
            fields["CallDuration"] = str(talk if answered else 0)
        call._post(join(url, leg.noun.get("statusCallback", "")), leg.noun.get("statusCallbackMethod", "POST"), {},
                   only=fields)
