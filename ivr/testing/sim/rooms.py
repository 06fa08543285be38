"""Where a caller waits with others: `<Enqueue>` (a queue and its wait music), `<Dial><Queue>` (taking the caller at
the front of a queue), `<Dial><Conference>` (a conference room), and the documents Twilio runs beside the call
flow for them (wait music, a `<Queue url>`, a `<Number url>` whisper: `side`).

<Enqueue> (twilio.com/docs/voice/twiml/enqueue) puts the caller in the named queue, then requests `waitUrl` (POST
unless `waitUrlMethod`) with QueuePosition, QueueSid, QueueTime, AvgQueueTime, CurrentQueueSize and MaxQueueSize,
and runs it (only Play, Say, Pause, Hangup, Redirect, Leave and Gather); when it runs out of verbs Twilio requests
it again. Without `waitUrl` the caller hears Twilio's default classical playlist; `waitUrl=""` is silence. The
call's `queue` (`QueueOutcome`) says how many times the wait document runs and what then happens (QueueResult):
bridged to an agent for some seconds, the caller hangs up, the queue is full (never enqueued), an error. A
`<Leave>` leaves with QueueResult leave. Then Twilio requests `action` with QueueResult, QueueSid and QueueTime
(after a bridge, once the parties hang up), or goes on with the verbs after `<Enqueue>`.

<Dial><Queue> (twilio.com/docs/voice/twiml/queue) connects the caller to the call at the front of the queue: the
dialled queue's `DialResult` says whether one was there (completed), none came before the timeout (no-answer) or
the queue does not exist (failed). Its `url` runs on the dequeued caller's end (Play, Say, Pause, Redirect), with
QueueSid, CallSid (the dequeued call's), QueueTime and DequeingCallSid.

<Dial><Conference> (twilio.com/docs/voice/twiml/conference) joins the room. A conference starts when a second
participant with startConferenceOnEnter (default true) joins; until then the caller hears `waitUrl` (Play, Say,
Pause, Redirect only, else error 13238; once through, then silence; default: Twilio's classical playlist). The
conference's `DialResult`: completed (another participant joins; the conference lasts `duration` seconds, capped
by the Dial's timeLimit, then ends), no-answer or busy (nobody comes; the caller hangs up after `duration` s of
wait music), failed (the room cannot be joined). DialCallStatus is 'answered' for a conference joined, without
DialCallSid or DialCallDuration (Twilio sends neither after a conference). Conference statusCallback events
(start, end, join, leave...) are not sent by the simulator.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Literal

from ivr.errors import SimError
from ivr.testing.sim.exchange import sid
from ivr.testing.sim.grammar import flag, number
from ivr.testing.sim.model import Dialled, DialResult, Event, Scope
from ivr.testing.sim.transport import join

if TYPE_CHECKING:
    from ivr.testing.sim.call import Call

HOLD_VERBS = frozenset({"Play", "Say", "Pause", "Redirect"})  # a conference's waitUrl, a <Queue url>
QUEUE_WAIT_VERBS = frozenset({"Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"})
WHISPER_VERBS = frozenset({"Play", "Say", "Pause", "Gather", "Hangup", "Redirect"})
SIDE_DOCUMENTS = 10  # documents a side document may chain (<Redirect>, a whisper's <Gather> action)
ANSWERS = ("completed", "no-answer", "busy", "failed")


def answer_of(call: Call, target: str) -> DialResult:
    """How `target` answers: the call's `dial` names it (as written, or as the same number or client), else
    `dial_answer`."""
    wanted = _plain(target)
    named = [value for key, value in call.dial.items() if key == target] or \
        [value for key, value in call.dial.items() if _plain(key) == wanted]
    found = named[0] if named else call.dial_answer
    result = found if isinstance(found, DialResult) else DialResult(found)
    if result.status not in ANSWERS:
        raise SimError(f"dial answer for {target!r}: {result.status!r} is not one of {list(ANSWERS)}")
    return result


def _plain(target: str) -> str:
    text = target.strip().lower().removeprefix("client:")
    return re.sub(r"[^0-9+]", "", text) if re.fullmatch(r"\+?[0-9 ().-]+", text) else text


def queue_sid(call: Call, name: str) -> str:
    """A queue's SID: the same for the same name on the account, as Twilio's."""
    return "QU" + hashlib.sha256(f"{call.sim.account_sid}/{name}".encode()).hexdigest()[:32]


# -- documents Twilio runs beside the call flow -------------------------------------------------------------------


def side(call: Call, url: str, method: str, only: dict[str, str] | None, *, who: Literal["ivr", "agent"],
         allowed: frozenset[str], code: str, keys: str = "", documents: int = SIDE_DOCUMENTS) -> bool:
    """Run a document beside the caller's flow (wait music heard by the caller, a whisper heard by the agent):
    True when it ran to its end, False when it hung up or failed (the error noted on the call). Its `<Gather>`
    gets `keys` (the agent's), or silence."""
    fields: dict[str, str] = {}
    for _ in range(documents):
        verbs = call.sim.request(call, url, method, fields, only=only, agent=who == "agent", audio=who == "ivr")
        if verbs is None:
            return False
        step = _side_document(call, verbs, url, who, allowed, code, keys)
        if not isinstance(step, tuple):
            return step
        url, method, fields, keys = step
    return True  # wait music that loops: once round is enough for a test


def _side_document(call: Call, verbs: list[ET.Element], url: str, who: Literal["ivr", "agent"],
                   allowed: frozenset[str], code: str, keys: str) -> bool | tuple[str, str, dict[str, str], str]:
    from ivr.testing.sim.run import speak

    for verb in verbs:
        if verb.tag not in allowed:
            call.sim._error(call, code, f"{url}: <{verb.tag}> is not allowed here; allowed: {sorted(allowed)}")
            return False
        if verb.tag == "Hangup":
            call.transcript.append(Event("twilio", f"{url} hangs up the agent's leg before the parties are connected"))
            return False
        if verb.tag == "Redirect":
            return join(url, (verb.text or "").strip()), verb.get("method", "POST"), {}, keys
        if verb.tag == "Gather":
            for inner in verb:
                speak(call, inner, url, who, in_gather=True)
            digits = _gathered(verb, keys)
            if digits or flag(verb.get("actionOnEmptyResult"), False):
                pressed = f"the agent presses {keys}" if digits else "the agent says nothing"
                call.transcript.append(Event("twilio", pressed))
                return join(url, verb.get("action") or url), verb.get("method", "POST"), \
                    ({"Digits": digits} if digits else {}), ""
            continue
        speak(call, verb, url, who)
    return True


def _gathered(verb: ET.Element, keys: str) -> str:
    finish, most = verb.get("finishOnKey", "#"), number(verb.get("numDigits"), 0) or None
    digits = ""
    for key in keys:
        if finish and key == finish:
            break
        digits += key
        if most is not None and len(digits) >= most:
            break
    return digits if "dtmf" in verb.get("input", "dtmf").split() else ""


def hold_music(call: Call, noun: ET.Element, url: str, attribute: str, method: str) -> bool:
    """What the caller hears while waiting (a conference's or queue's `waitUrl`); False when it failed."""
    wait = noun.get(attribute)
    if wait is None:
        call.transcript.append(Event("twilio", "plays Twilio's default hold music (simulated: no media)"))
        return True
    if not wait.strip():
        call.transcript.append(Event("twilio", f"{attribute} is empty: the caller waits in silence"))
        return True
    return side(call, join(url, wait), method, None, who="ivr", allowed=HOLD_VERBS, code="13238", documents=3)


# -- <Dial><Conference> and <Dial><Queue> ------------------------------------------------------------------------


def conference(call: Call, dial: ET.Element, noun: ET.Element, url: str) -> tuple[dict[str, str], bool]:
    """Join a conference; the Dial action's fields, and whether the caller hung up in it."""
    name = " ".join((noun.text or "").split())
    result, limit = answer_of(call, name), number(dial.get("timeLimit"), 14400, 1)
    start, end = flag(noun.get("startConferenceOnEnter"), True), flag(noun.get("endConferenceOnExit"), False)
    call.transcript.append(Event("twilio", f"joins conference {name!r} (startConferenceOnEnter={str(start).lower()},"
                                           f" endConferenceOnExit={str(end).lower()})"))
    if result.status == "failed":
        call.dialled.append(Dialled("conference", name, "failed"))
        return {"DialCallStatus": "failed", "DialBridged": "false"}, False
    call.conferences.append(name)
    if not hold_music(call, noun, url, "waitUrl", noun.get("waitMethod", "POST")):
        call.dialled.append(Dialled("conference", name, "failed"))
        return {"DialCallStatus": "failed", "DialBridged": "false"}, False
    talk = min(result.duration, limit)
    if result.status == "completed":
        call.transcript.append(Event("twilio", "another participant joins: the conference starts"))
        left = result.caller_hangs_up and result.duration <= limit
        call.transcript.append(Event("twilio", f"the caller hangs up after {talk} s" if left else
                                     f"the conference ends after {talk} s" + (" (timeLimit)" if talk < result.duration
                                                                              else "")))
    else:
        left = True
        call.transcript.append(Event("twilio", f"nobody else joins: the caller hangs up after {talk} s of waiting"))
    call.seconds += talk
    call.dialled.append(Dialled("conference", name, "answered", talk))
    return {"DialCallStatus": "answered", "DialBridged": "true"}, left


def dequeue(call: Call, dial: ET.Element, noun: ET.Element, url: str) -> tuple[dict[str, str], bool]:
    """Dial a queue: take the caller at its front; the Dial action's fields, and whether the caller hung up."""
    name = " ".join((noun.text or "").split())
    result, limit, qsid = answer_of(call, name), number(dial.get("timeLimit"), 14400, 1), queue_sid(call, name)
    call.transcript.append(Event("twilio", f"dials queue {name!r}: {result.status}"))
    fields = {"DialCallStatus": result.status, "QueueSid": qsid, "DialBridged": "false"}
    if result.status != "completed":
        call.seconds += number(dial.get("timeout"), 30, 5, 600) if result.status == "no-answer" else 0
        call.dialled.append(Dialled("queue", name, result.status))
        return fields, result.caller_hangs_up
    dequeued = sid("CA")
    if noun.get("url"):
        only = {**call.params, "CallSid": dequeued, "CallStatus": "in-progress", "QueueSid": qsid, "QueueTime": "0",
                "DequeingCallSid": call.sid}
        side(call, join(url, noun.get("url", "")), noun.get("method", "POST"), only, who="agent",
             allowed=HOLD_VERBS, code="12200")
    talk = min(result.duration, limit)
    call.seconds += talk
    call.dialled.append(Dialled("queue", name, "completed", talk))
    fields.update({"DialCallSid": dequeued, "DialCallDuration": str(talk), "DialBridged": "true", "QueueTime": "0",
                   "DequeingCallSid": call.sid})
    return fields, result.caller_hangs_up and result.duration <= limit


# -- <Enqueue> ---------------------------------------------------------------------------------------------------


class Queued(Scope):
    """The caller in a queue: documents from its `waitUrl` run here, and loop until the queue's outcome."""

    allowed = QUEUE_WAIT_VERBS
    plays_audio = True

    def __init__(self, call: Call, verb: ET.Element, rest: list[ET.Element], url: str, parent: Scope) -> None:
        self.queue = " ".join((verb.text or "").split()) or verb.get("workflowSid", "")
        self.name = f"the wait music of queue {self.queue!r}"
        self.verb, self.rest, self.url, self.parent = verb, rest, url, parent
        self.outcome, self.sid, self.round, self.done = call.queue, queue_sid(call, self.queue), 0, False

    def end(self, call: Call) -> None:
        self.next_round(call)  # the wait document ran out: Twilio requests the waitUrl again

    def fail(self, call: Call) -> None:
        self.finish(call, "error")

    def leave(self, call: Call, url: str) -> bool:
        self.finish(call, "leave")
        return True

    def hang_up(self, call: Call) -> None:
        if not self.done:
            self.finish(call, "hangup", hung_up=True)

    def next_round(self, call: Call) -> None:
        wait = self.verb.get("waitUrl")
        if self.round >= max(self.outcome.waits, 1) or not (wait or "").strip():
            if self.round == 0:
                hold_music(call, self.verb, self.url, "waitUrl", "GET")
            self.finish(call, self.outcome.result)
            return
        self.round += 1
        waited = str(self.outcome.seconds * (self.round - 1) // max(self.outcome.waits, 1))
        call._fetch(join(self.url, wait or ""), self.verb.get("waitUrlMethod", "POST"), {
            "QueuePosition": "1", "QueueSid": self.sid, "QueueTime": waited, "AvgQueueTime": waited,
            "CurrentQueueSize": "1", "MaxQueueSize": "1000"}, self)

    def finish(self, call: Call, result: str, hung_up: bool = False) -> None:
        """The caller leaves the queue with Twilio's QueueResult `result`."""
        from ivr.testing.sim.run import run

        if self.done:
            return
        self.done = True
        fields = {"QueueResult": result}
        if result != "queue-full":  # QueueSid and QueueTime only when the call was enqueued
            fields.update({"QueueSid": self.sid, "QueueTime": str(self.outcome.seconds)})
            call.seconds += self.outcome.seconds
        talk = self.outcome.duration if result == "bridged" else 0
        call.seconds += talk
        call.dialled.append(Dialled("queue", self.queue, result, talk))
        call.transcript.append(Event("twilio", f"an agent dequeues the caller: bridged for {talk} s"
                                     if result == "bridged" else f"the caller leaves queue {self.queue!r}: {result}"))
        action = self.verb.get("action")
        if hung_up or result == "hangup":  # the call is over; Twilio still requests the action, to no effect
            if not hung_up:  # the configured outcome: the caller gives up waiting
                call.status, call.hung_up_by = "completed", "caller"
            if action:
                call._post(join(self.url, action), self.verb.get("method", "POST"), fields, action=True)
            if not hung_up:
                call._status_callback()
        elif action:
            call._fetch(join(self.url, action), self.verb.get("method", "POST"), fields, self.parent)
        else:
            run(call, self.rest, self.url, self.parent)


def enqueue(call: Call, verb: ET.Element, rest: list[ET.Element], url: str, scope: Scope) -> bool:
    queued = Queued(call, verb, rest, url, scope)
    call.queues.append(queued.queue)
    call.transcript.append(Event("twilio", f"enqueues the caller in queue {queued.queue!r}"))
    if call.queue.result == "queue-full":
        queued.finish(call, "queue-full")
    else:
        queued.next_round(call)
    return True
