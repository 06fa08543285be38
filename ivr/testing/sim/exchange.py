"""Twilio's side of each HTTP exchange: the parameters it sends and the identifiers it makes (CallSid,
RecordingSid, QueueSid...), and what it makes of an answer: a TwiML document, an audio file, or an error.

Twilio's reference (twilio.com/docs/voice/twiml#request-parameters) lists what it *always* sends: CallSid,
AccountSid, From, To, CallStatus, ApiVersion, Direction, CallToken (plus ForwardedFrom, CallerName and
ParentCallSid where they apply), and, when its lookup of the two numbers finds them, FromCity, FromState, FromZip,
FromCountry, ToCity, ToState, ToZip and ToCountry. Twilio also repeats the numbers and their places under their
older names Caller/Called (CallerCity, CallerState, CallerZip, CallerCountry, CalledCity...). A toll-free number
has no city: Twilio sends its place fields empty. A test overrides any of them with `params=`.

A TwiML fetch fails (and the caller hears the application error) on an HTTP error (11200), a redirect that does
not end or goes nowhere (11215, 11216), a body over 64 kB (11750, "TwiML response body too large"), a content type
that is not TwiML (12300) and a document Twilio cannot parse or execute (12100, 12102, 12200: `grammar`).

A `<Play>` URL is fetched with GET, without Twilio's request parameters (twilio.com/docs/voice/twiml/play: "Twilio
does not send its standard HTTP parameters when making requests to <Play> URLs"), and must answer audio: Twilio
plays audio/mpeg, audio/wav (audio/wave, audio/x-wav), audio/aiff (audio/x-aifc, audio/x-aiff), audio/gsm
(audio/x-gsm) and audio/ulaw. An HTTP failure is 11200; another content type is 13420 ("Play: Invalid
Content-Type"), 13325 for a `<Play>` inside a `<Gather>`. Twilio logs the error and goes on with the next verb:
the caller hears nothing of that `<Play>`.
"""

from __future__ import annotations

import json
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import quote

from ivr.testing.sim.grammar import XML_TYPES, check_twiml
from ivr.testing.sim.model import MAX_BODY

API_VERSION = "2010-04-01"
#: where Twilio's lookup puts the default caller (+1555...) and the default toll-free number called
FROM_PLACE = {"City": "SAN FRANCISCO", "State": "CA", "Zip": "94103", "Country": "US"}
TO_PLACE = {"City": "", "State": "", "Zip": "", "Country": "US"}
RECORDINGS = "https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/{sid}"


def sid(prefix: str) -> str:
    """A Twilio identifier: two letters and 32 hex digits (CA... a call, RE... a recording, QU... a queue)."""
    return prefix + secrets.token_hex(16)


def call_token() -> str:
    """A CallToken as Twilio sends it: a percent-encoded JSON object, opaque to the app."""
    return quote(json.dumps({"parentCallInfoToken": secrets.token_urlsafe(24), "identityHeaderTokens": []},
                            separators=(",", ":")), safe="")


def standard(sid_: str, account: str, caller: str, called: str, *extra: Mapping[str, str] | None) -> dict[str, str]:
    """The parameters every request of an inbound call carries (CallStatus aside), then `extra` (the simulator's,
    then the call's own `params`), each overriding what comes before."""
    params = {"CallSid": sid_, "AccountSid": account, "From": caller, "To": called, "Caller": caller,
              "Called": called, "Direction": "inbound", "ApiVersion": API_VERSION, "CallToken": call_token()}
    for side, number, place in (("From", "Caller", FROM_PLACE), ("To", "Called", TO_PLACE)):
        for key, value in place.items():
            params[side + key] = params[number + key] = value
    for more in extra:
        params.update(more or {})
    return params


def agent_leg(parent: Mapping[str, str], child: str, target: str) -> dict[str, str]:
    """The parameters of a request on the agent's leg of a `<Dial>` (its whisper, `<Number url>`): the child
    call's own CallSid, its parent's, the number dialled as To, and Direction outbound-dial."""
    leg = {key: value for key, value in parent.items() if key not in ("CallToken",)}
    leg.update({"CallSid": child, "ParentCallSid": parent["CallSid"], "To": target, "Called": target,
                "Direction": "outbound-dial", "CallStatus": "in-progress"})
    for key in ("City", "State", "Zip", "Country"):
        leg["To" + key] = leg["Called" + key] = TO_PLACE[key]
    return leg


def recording_url(account: str, recording: str) -> str:
    return RECORDINGS.format(account=account, sid=recording)


AUDIO_TYPES = ("audio/mpeg", "audio/mp3", "audio/wav", "audio/wave", "audio/x-wav", "audio/aiff", "audio/x-aifc",
               "audio/x-aiff", "audio/x-gsm", "audio/gsm", "audio/ulaw", "audio/basic")


class Answer(Protocol):
    status_code: int
    headers: dict[str, str]
    text: str
    size: int


class Problem(Exception):
    """Twilio's error for an answer: `code` (e.g. '11200') and a reason naming the URL."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code, self.reason = code, reason


def content_type(answer: Answer) -> str:
    return answer.headers.get("content-type", "").split(";")[0].strip().lower()


def http_problem(answer: Answer, url: str) -> None:
    """Raise Problem when the HTTP answer itself is one Twilio gives up on."""
    if answer.status_code >= 400:
        raise Problem("11200", f"{url} answered HTTP {answer.status_code}")
    if 300 <= answer.status_code < 400:  # the redirects did not end, or went nowhere Twilio can go
        where = answer.headers.get("location")
        raise Problem("11215" if where else "11216", f"{url} answered HTTP {answer.status_code}"
                      + (f" to {where!r}, and redirected too many times or to an invalid URL" if where
                         else " without a Location"))


def twiml(answer: Answer, url: str) -> ET.Element:
    """The `<Response>` of a TwiML answer; Problem with Twilio's code when it is none."""
    http_problem(answer, url)
    if answer.size > MAX_BODY:
        raise Problem("11750", f"{url} answered {answer.size} bytes: Twilio takes at most {MAX_BODY} (64 kB)")
    kind = content_type(answer)
    if kind not in XML_TYPES:
        raise Problem("12300", f"{url} answered with content type {kind!r}, not TwiML")
    try:
        return check_twiml(answer.text)
    except ValueError as exc:
        code, _, reason = str(exc).partition(": ")
        raise Problem(code, f"{url}: {reason}") from None


def audio(answer: Answer, url: str, in_gather: bool) -> None:
    """Check a `<Play>` answer: Problem unless it is audio Twilio plays."""
    http_problem(answer, url)
    kind = content_type(answer)
    if kind not in AUDIO_TYPES:
        raise Problem("13325" if in_gather else "13420",
                      f"{url} answered with content type {kind!r}, not audio Twilio plays"
                      + (" (<Gather><Play>)" if in_gather else ""))


def is_audio(answer: Answer) -> bool:
    """Whether a wait URL answered an audio file (played as hold music) rather than TwiML."""
    return content_type(answer) in AUDIO_TYPES
