"""Twilio's TwiML interpreter: a document's verbs executed in order until one waits for the caller, moves the
call to another document or ends it, and what Twilio does when the document runs out (it hangs up, or a queue
plays its wait music again). The simple verbs are here; `<Record>`, `<Dial>`, `<Enqueue>`, and the services
(`<Pay>`, `<Connect>`, `<Start>`, `<Stop>`, `<Refer>`, `<Sms>`) have their own modules.

What each verb does, as Twilio's reference says:
  <Say>       speaks its text (SSML read as plain words), `loop` times (0: until the caller hangs up, or 1000 times;
              written SHOWN_LOOPS times here)
  <Play>      fetches its URL (`exchange`) and plays it `loop` times; `digits` plays DTMF tones instead
  <Pause>     waits `length` seconds (default 1)
  <Gather>    speaks its Say/Play/Pause and waits for keys or speech (`Call.say`, `press`, `silence`)
  <Redirect>  fetches another document (POST unless `method="GET"`); verbs after it are never reached
  <Hangup>    ends the call; <Reject> refuses it unanswered (status busy with reason="busy", else no-answer)
  <Leave>     takes the caller out of the queue of an <Enqueue> (outside a queue it does nothing)
  <Echo>      echoes the caller's audio back until they hang up (no reference page; Twilio's SDKs have the verb)
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from ivr.testing.sim import dial, record, rooms, services
from ivr.testing.sim.grammar import flag, number
from ivr.testing.sim.model import MAIN, Echo, Event, Gather, Scope
from ivr.testing.sim.transport import join

if TYPE_CHECKING:
    from ivr.testing.sim.call import Call

#: a verb's execution: True when the document stops there (the call waits, moved on, or ended)
Verb = Callable[["Call", ET.Element, list[ET.Element], str, Scope], bool]
#: how many times a `loop` of 0 ("until the caller hangs up, or 1000 times") or more is written in the transcript
SHOWN_LOOPS = 10


def run(call: Call, verbs: list[ET.Element], url: str, scope: Scope = MAIN) -> None:
    """Execute verbs in order until one waits for the caller, moves to another document, or ends the call."""
    for i, verb in enumerate(verbs):
        if call.ended:
            return
        if scope.allowed is not None and verb.tag not in scope.allowed:
            call.sim._error(call, "12200", f"{url}: <{verb.tag}> is not allowed in {scope.name}; allowed: "
                                           f"{sorted(scope.allowed)}")
            scope.fail(call)
            return
        if VERBS[verb.tag](call, verb, verbs[i + 1:], url, scope):
            return
    if not call.ended:
        scope.end(call)


def loops(verb: ET.Element) -> int:
    """How many times a <Say> or <Play> is heard (its `loop`; 0 means until the caller hangs up)."""
    times = number(verb.get("loop"), 1, 0, 1000)
    return SHOWN_LOOPS if times == 0 else min(times, SHOWN_LOOPS)


def speak(call: Call, verb: ET.Element, url: str, who: Literal["ivr", "agent"] = "ivr",
          in_gather: bool = False) -> None:
    """What a <Say>, <Play> or <Pause> makes the caller (or the agent: `who`) hear."""
    if verb.tag == "Say":
        text = " ".join(" ".join(verb.itertext()).split())
        call.transcript.extend([Event(who, text)] * loops(verb))
    elif verb.tag == "Play":
        media = (verb.text or "").strip()
        if verb.get("digits") is not None and not media:
            call.transcript.append(Event("twilio", f"plays the DTMF tones {verb.get('digits', '')!r}"))
        elif call.sim.media(call, join(url, media), in_gather):
            call.transcript.extend([Event(who, f"[plays {media}]")] * loops(verb))
    elif verb.tag == "Pause":
        call.seconds += number(verb.get("length"), 1, 0, 3600)


def _spoken(call: Call, verb: ET.Element, rest: list[ET.Element], url: str, scope: Scope) -> bool:
    speak(call, verb, url)
    return False


def _gather(call: Call, verb: ET.Element, rest: list[ET.Element], url: str, scope: Scope) -> bool:
    for inner in verb:
        speak(call, inner, url, in_gather=True)
    call.waiting = Gather(
        action=join(url, verb.get("action") or url), method=verb.get("method", "POST").upper(), rest=rest, url=url,
        scope=scope, input=frozenset(verb.get("input", "dtmf").split()), hints=verb.get("hints", ""),
        num_digits=number(verb.get("numDigits"), 0) or None, finish_on_key=verb.get("finishOnKey", "#"),
        timeout=number(verb.get("timeout"), 5), language=verb.get("language", "en-US"),
        action_on_empty_result=flag(verb.get("actionOnEmptyResult"), False))
    return True


def _redirect(call: Call, verb: ET.Element, rest: list[ET.Element], url: str, scope: Scope) -> bool:
    call._fetch(join(url, (verb.text or "").strip()), verb.get("method", "POST"), {}, scope)
    return True


def _hangup(call: Call, verb: ET.Element, rest: list[ET.Element], url: str, scope: Scope) -> bool:
    scope.hang_up(call)
    call._finish("completed", "app")
    return True


def _reject(call: Call, verb: ET.Element, rest: list[ET.Element], url: str, scope: Scope) -> bool:
    call._finish("busy" if verb.get("reason") == "busy" else "no-answer", "app")  # the call is never answered
    return True


def _leave(call: Call, verb: ET.Element, rest: list[ET.Element], url: str, scope: Scope) -> bool:
    return scope.leave(call, url)


def _echo(call: Call, verb: ET.Element, rest: list[ET.Element], url: str, scope: Scope) -> bool:
    call.transcript.append(Event("twilio", "echoes the caller's audio back until they hang up (simulated: no "
                                           "media; say, press and silence are echoed)"))
    call.waiting = Echo(action=url, method="POST", rest=rest, url=url, scope=scope, kind="echo")
    return True


def _unknown(call: Call, verb: ET.Element, rest: list[ET.Element], url: str, scope: Scope) -> bool:
    return False  # the grammar let it through: nothing Twilio does with it is audible


class _Verbs(dict[str, Verb]):
    def __missing__(self, tag: str) -> Verb:
        return _unknown


VERBS: dict[str, Verb] = _Verbs({
    "Say": _spoken, "Play": _spoken, "Pause": _spoken, "Gather": _gather, "Redirect": _redirect,
    "Hangup": _hangup, "Reject": _reject, "Leave": _leave, "Echo": _echo, "Record": record.start,
    "Dial": dial.dial, "Enqueue": rooms.enqueue, "Pay": services.pay, "Connect": services.connect,
    "Start": services.start, "Stop": services.stop, "Refer": services.refer, "Sms": services.sms,
})
