"""Engine steps -> TwiML, and Twilio's webhook form -> engine input. The only home of `twilio.twiml`.

A step that waits for the caller becomes one `<Gather>` holding its prompts (so callers can barge in), with
`actionOnEmptyResult` so that a silent caller still reaches the engine — as `Silence()`: the engine, not Twilio,
counts no-input. Hints are the phrases of the intents the node hears (`engine.gather_for`). A step that ends
becomes its prompts then `<Hangup/>`, or `<Dial>` for a transfer. A step with a pending effect is never rendered:
the application executes the effect and advances first, so "your service is cancelled" is only ever said after
the cancellation is recorded.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from ivr.errors import EngineError
from ivr.flow import engine
from ivr.flow import model as f
from ivr.flow.caller import Digits, Heard, Silence, Speech

#: Twilio accepts at most this many hint phrases, each at most HINT_LENGTH characters
MAX_HINTS, HINT_LENGTH = 500, 100
#: what we keep of a caller's input: Twilio sends far less; anything longer is not a caller
MAX_SPEECH, MAX_DIGITS = 1000, 64
#: Twilio's class token for "a sequence of digits", added to the hints of data-collection prompts
DIGIT_SEQUENCE = "$OOV_CLASS_DIGIT_SEQUENCE"


def gather_attributes(flow: f.Flow, gather: engine.Listen, action: str) -> dict[str, Any]:
    """`<Gather>` attributes for an engine Gather: input modes, hints, timeouts, digit rules, where to post."""
    attrs: dict[str, Any] = {
        "input": " ".join(mode for mode, on in (("speech", gather.speech), ("dtmf", gather.dtmf)) if on),
        "action": action, "method": "POST", "action_on_empty_result": True, "timeout": gather.timeout,
    }
    if gather.speech:
        hints = [h for h in gather.hints if len(h) <= HINT_LENGTH][: MAX_HINTS - 1]
        if gather.min_digits is not None:  # collecting data: let the recogniser expect digit strings
            hints.append(DIGIT_SEQUENCE)
        attrs.update(speech_timeout=gather.speech_timeout, language=flow.language)
        if hints:
            attrs["hints"] = ", ".join(hints)
    if gather.dtmf:
        if gather.min_digits is None:  # a menu: the longest key submits at once, and '#' may be a key
            attrs.update(num_digits=gather.max_digits, finish_on_key="")
        else:
            attrs["finish_on_key"] = gather.finish_on_key or ""
            if gather.min_digits == gather.max_digits:
                attrs["num_digits"] = gather.max_digits
    return attrs


def audio_url(audio_base: str, name: str) -> str:
    return f"{audio_base.rstrip('/')}/{quote(name)}"


def render(flow: f.Flow, step: engine.Step, *, action: str, audio_base: str = "/audio",
           dial_action: str | None = None) -> str:
    """The TwiML document for a step. `action` receives the caller's answer; `dial_action` the transfer's
    result; `audio_base` is where `play` files are served."""
    if step.effect is not None:
        raise EngineError(f"step waits for effect {step.effect.name!r}: execute it and advance with its result "
                          "before rendering")
    if step.gather is None and step.transfer is None and not step.ended:  # only a misused engine gets here
        raise EngineError(f"step at {step.state.node!r} neither waits for input nor ends")
    # Calls differ in their action URLs (each carries the request's number), rarely in anything else: the
    # document is built once per content, with stand-ins for the URLs put in as text afterwards
    key = (id(flow), step.prompts, step.gather, step.transfer, audio_base, dial_action is not None)
    cached = _DOCUMENTS.get(key)
    if cached is None or cached[0] is not flow:
        if len(_DOCUMENTS) >= MAX_CACHED:
            _DOCUMENTS.clear()
        xml = _document(flow, step, ACTION, audio_base, DIAL_ACTION if dial_action is not None else None)
        cached = _DOCUMENTS[key] = (flow, xml)
    return cached[1].replace(ACTION, escape(action, {'"': "&quot;"})).replace(
        DIAL_ACTION, escape(dial_action or "", {'"': "&quot;"}))


#: stand-ins for the action URLs in cached documents (no flow text or URL contains them)
ACTION, DIAL_ACTION = "@@ivr-action@@", "@@ivr-dial-action@@"
MAX_CACHED = 4096
_DOCUMENTS: dict[tuple[Any, ...], tuple[f.Flow, str]] = {}


def _document(flow: f.Flow, step: engine.Step, action: str, audio_base: str, dial_action: str | None) -> str:
    response = VoiceResponse()
    target: VoiceResponse | Gather = response
    if step.gather is not None:
        target = Gather(**gather_attributes(flow, step.gather, action))
    for prompt in step.prompts:
        if prompt.kind == "say":
            target.say(prompt.value, voice=flow.voice, language=flow.language)
        else:
            target.play(audio_url(audio_base, prompt.value))
    if step.gather is not None:
        response.append(target)
    elif step.transfer is not None:
        response.append(_dial(step.transfer, dial_action))
    else:
        response.hangup()
    return str(response.to_xml())


def apology(flow: f.Flow, message: str, *, transfer: str = "", dial_action: str | None = None) -> str:
    """What a caller hears when the app cannot carry on: `message`, then a transfer (when there is somewhere
    to go) or a hang-up. Never a confirmation of anything."""
    response = VoiceResponse()
    response.say(message, voice=flow.voice, language=flow.language)
    if transfer:
        response.append(_dial(transfer, dial_action))
    else:
        response.hangup()
    return str(response.to_xml())


def hangup() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response.to_xml())


def _dial(number: str, action: str | None) -> Dial:
    dial = Dial(action=action, method="POST") if action else Dial()
    if number.startswith("sip:"):
        dial.sip(number)
    elif number.startswith("client:"):
        dial.client(number.removeprefix("client:"))
    else:
        dial.number(number)
    return dial


def parse_confidence(raw: str | None) -> float | None:
    """Twilio's Confidence (0..1); anything else — missing, not a number, NaN, out of range — is unknown."""
    try:
        value = float(raw) if raw is not None else math.nan
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None


def _printable(text: str) -> str:
    """Drop control characters (a forged or corrupt request may carry them) and collapse whitespace."""
    kept = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return " ".join(kept.split())


def heard_from_form(form: Mapping[str, str]) -> Heard:
    """What the caller did, from a Gather action's form: speech (`SpeechResult`, `Confidence`), keys
    (`Digits`), or nothing (Silence). Never raises: odd values become what the engine can judge."""
    speech = _printable(form.get("SpeechResult", ""))[:MAX_SPEECH]
    if speech:
        return Speech(speech, parse_confidence(form.get("Confidence")))
    digits = "".join(_printable(form.get("Digits", "")).split())[:MAX_DIGITS]
    return Digits(digits) if digits else Silence()
