"""A simulated call: Twilio executing an app's TwiML verb by verb, and what the caller does at each wait."""

from __future__ import annotations

import re
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

from twilio.request_validator import RequestValidator

from ivr.errors import SimError
from ivr.testing.sim.grammar import XML_TYPES, check_twiml
from ivr.testing.sim.transport import Client, Transport, Unreachable, join, url_problem, with_query

#: Twilio's limit for a webhook to answer; slower is error 11200 and the caller hears an application error
TWILIO_TIMEOUT = 15.0
APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."
#: documents a call may fetch between two actions of the caller: the limit Twilio documents for a message
#: session (error 14106, "document retrieval limit reached": a self-referencing <Redirect> or action URL). A call
#: would loop until its 4-hour limit, which a test cannot wait out
MAX_DOCUMENTS = 50
AgentAnswer = Literal["completed", "no-answer", "busy", "failed"]


@dataclass(frozen=True)
class Event:
    """One line of a conversation: what the IVR said or played, what the caller did, or what happened."""

    who: Literal["ivr", "caller", "twilio"]
    text: str

    def __str__(self) -> str:
        return f"{self.who.upper():>6}: {self.text}"


@dataclass(frozen=True)
class DialResult:
    """What happens to one leg Twilio dials (a number, client, SIP address, or the agent who dequeues a caller):
    its DialCallStatus, how long it talks when answered (seconds, before `timeLimit`), whether the caller hangs
    up during it, and the keys the agent presses at a whisper's `<Gather>` (`<Number url>`)."""

    status: AgentAnswer = "completed"
    duration: int = 42
    caller_hangs_up: bool = False
    keys: str = ""


@dataclass(frozen=True)
class Dialled:
    """One thing a `<Dial>` (or `<Enqueue>`) connected the caller to, and how it went."""

    kind: Literal["number", "client", "sip", "conference", "queue", "application", "whatsapp"]
    target: str  # the number, client identity, SIP URI, conference or queue name
    status: str  # DialCallStatus, or QueueResult for an <Enqueue>
    duration: int = 0


@dataclass(frozen=True)
class Recording:
    """What a `<Record>` (or a `<Dial record>`) stored: Twilio's RecordingUrl and duration, how it ended (`digits`:
    the finish key pressed, 'hangup', or '' on timeout / maxLength), what the caller did, and its transcription."""

    url: str
    sid: str
    duration: int
    digits: str
    source: Literal["silence", "keys", "speech", "audio", "dial"]
    said: str = ""  # the words (speech), the keys, or the audio file recorded
    transcription: str | None = None


@dataclass(frozen=True)
class Request:
    """One request the simulator made for the call: a TwiML fetch, a status or recording callback."""

    method: str
    url: str
    fields: tuple[tuple[str, str], ...]
    purpose: Literal["twiml", "callback", "media"] = "twiml"


@dataclass
class Gather:
    """A `<Gather>` waiting for the caller: its attributes, and the verbs after it in the document."""

    action: str
    method: str
    input: frozenset[str]
    num_digits: int | None
    finish_on_key: str
    action_on_empty_result: bool
    hints: str
    rest: list[ET.Element]
    url: str


@dataclass
class Call:
    """A call in progress. Answer the waiting `<Gather>` with `say`, `press` or `silence`; `hang_up` ends it."""

    sim: Simulator
    sid: str
    caller: str
    called: str
    transcript: list[Event] = field(default_factory=list)
    status: str = "in-progress"
    errors: list[str] = field(default_factory=list)
    answered: int = 0  # Gathers answered (speech, keys, or silence that reached the app)
    headers: dict[str, str] = field(default_factory=dict)  # X-Ivr-* of the last response
    waiting: Gather | None = None
    dial_answer: AgentAnswer = "completed"
    #: what Twilio saw, for verdicts on any app (issue 13)
    dialled: list[Dialled] = field(default_factory=list)
    recordings: list[Recording] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)  # queues the caller was enqueued in (<Enqueue>)
    conferences: list[str] = field(default_factory=list)  # conferences the caller joined
    messages: list[str] = field(default_factory=list)  # <Sms>/<Message> bodies Twilio sent during the call
    requests: list[Request] = field(default_factory=list)  # every request made, in order
    hung_up_by: Literal["caller", "app", "twilio"] | None = None  # who ended the call
    ivr_headers: bool = False  # whether any answer carried ivr's X-Ivr-* headers (an app built with ivr)
    _since: int = 0  # transcript index of the caller's last action
    _fetched: int = 0  # documents fetched since the caller's last action

    # -- what a test asks -------------------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self.status != "in-progress"

    @property
    def prompt(self) -> str:
        """What the IVR said since the caller's last action."""
        return " ".join(line.text for line in self.transcript[self._since:] if line.who == "ivr")

    @property
    def heard(self) -> str:
        """Everything the IVR said in the call."""
        return " ".join(line.text for line in self.transcript if line.who == "ivr")

    @property
    def node(self) -> str | None:
        return self.headers.get("x-ivr-node")

    @property
    def outcome(self) -> str | None:
        return self.headers.get("x-ivr-outcome")

    @property
    def turns(self) -> int:
        """Completed turns: the app's own count when it says (`X-Ivr-Turns`), else the Gathers answered."""
        reported = _count(self.headers.get("x-ivr-turns", ""))
        return reported if reported is not None else self.answered

    @property
    def prompts(self) -> list[str]:
        """What the caller heard, in order: each `<Say>`'s text, `[plays URL]` for a `<Play>`."""
        return [line.text for line in self.transcript if line.who == "ivr"]

    @property
    def error_codes(self) -> list[str]:
        """Twilio's error codes for the call, in order (`call.errors` has the messages)."""
        return [error.partition(":")[0] for error in self.errors]

    def conversation(self) -> str:
        return "\n".join(str(line) for line in self.transcript)

    # -- what the caller does ---------------------------------------------------------------------------

    def say(self, text: str, confidence: float = 0.92) -> Call:
        gather = self._gather(f"say {text!r}")
        self._caller(f"says {text!r}")
        if "speech" not in gather.input:  # Twilio is not listening for speech: as if the caller said nothing
            return self._empty(gather)
        return self._post_gather(gather, {"SpeechResult": text, "Confidence": f"{confidence:.6f}"})

    def press(self, keys: str) -> Call:
        gather = self._gather(f"press {keys!r}")
        self._caller(f"presses {keys}")
        if "dtmf" not in gather.input:
            return self._empty(gather)
        digits = ""
        for key in keys:  # Twilio submits at the finish key or once numDigits keys are in, whichever is first
            if gather.finish_on_key and key == gather.finish_on_key:
                break
            digits += key
            if gather.num_digits is not None and len(digits) >= gather.num_digits:
                break
        if not digits:  # the finish key alone is no input
            return self._empty(gather)
        return self._post_gather(gather, {"Digits": digits})

    def silence(self) -> Call:
        gather = self._gather("stay silent")
        self._caller("(silence)")
        return self._empty(gather)

    def hang_up(self) -> Call:
        if not self.ended:
            self._since, self._fetched = len(self.transcript), 0
            self._caller("hangs up")
            self._finish("completed")
        return self

    # -- executing TwiML ------------------------------------------------------------------------------------

    def _gather(self, doing: str) -> Gather:
        if self.waiting is None:
            raise SimError(f"the caller cannot {doing}: the call {self.sid} has ended ({self.status}); "
                           f"conversation so far:\n{self.conversation()}")
        gather, self.waiting = self.waiting, None
        self._since, self._fetched = len(self.transcript), 0
        return gather

    def _caller(self, text: str) -> None:
        self.transcript.append(Event("caller", text))

    def _empty(self, gather: Gather) -> Call:
        if gather.action_on_empty_result:
            return self._post_gather(gather, {})
        self._run(gather.rest, gather.url)  # Twilio falls through to the next verb
        return self

    def _post_gather(self, gather: Gather, fields: dict[str, str]) -> Call:
        self.answered += 1
        self._fetch(gather.action, gather.method, fields)
        return self

    def _fetch(self, url: str, method: str, fields: Mapping[str, str]) -> None:
        self._fetched += 1
        if self._fetched > MAX_DOCUMENTS:
            document = self.sim._error(self, "14106", f"{url}: {MAX_DOCUMENTS} documents in a row without waiting "
                                                      "for the caller (a <Redirect> or action URL that loops?)")
        else:
            document = self.sim.request(self, url, method, fields)
        if document is None:
            self.transcript.append(Event("ivr", APPLICATION_ERROR))
            self._finish("failed")
            return
        self._run(list(document), url)

    def _run(self, verbs: list[ET.Element], url: str) -> None:
        """Execute verbs in order until one waits for the caller, moves to another document, or ends."""
        for i, verb in enumerate(verbs):
            if verb.tag in ("Say", "Play", "Pause"):
                self._speak(verb)
            elif verb.tag == "Gather":
                for inner in verb:
                    self._speak(inner)
                self.waiting = _gather(verb, verbs[i + 1:], url)
                return
            elif verb.tag == "Redirect":
                self._fetch(join(url, (verb.text or "").strip()), verb.get("method", "POST"), {})
                return
            elif verb.tag == "Dial":
                if self._dial(verb, url):
                    return
            elif verb.tag == "Reject":  # the call is never answered
                self._finish("busy" if verb.get("reason") == "busy" else "no-answer")
                return
            elif verb.tag == "Hangup":
                self._finish("completed")
                return
            else:  # Record and the rest: not simulated, and an IVR under test should not need them
                raise SimError(f"<{verb.tag}> is not simulated")
        self._finish("completed")  # Twilio hangs up when a document runs out of verbs

    def _speak(self, verb: ET.Element) -> None:
        if verb.tag == "Say":
            self.transcript.append(Event("ivr", " ".join(" ".join(verb.itertext()).split())))
        elif verb.tag == "Play":
            self.transcript.append(Event("ivr", f"[plays {(verb.text or '').strip()}]"))

    def _dial(self, verb: ET.Element, url: str) -> bool:
        """Connect the caller; True when the Dial's action took the call elsewhere."""
        target = " ".join((child.text or "").strip() for child in verb) or (verb.text or "").strip()
        self.transcript.append(Event("twilio", f"dials {target}: {self.dial_answer}"))
        action = verb.get("action")
        if action is None:
            return False
        fields = {"DialCallStatus": self.dial_answer, "DialCallSid": "CA" + secrets.token_hex(16)}
        if self.dial_answer == "completed":
            fields["DialCallDuration"] = "42"
        self._fetch(join(url, action), verb.get("method", "POST"), fields)
        return True

    def _finish(self, status: str) -> None:
        self.waiting = None
        if self.ended:
            return
        self.status = status
        if self.sim.status_callback:
            self.sim.request(self, self.sim.status_callback, "POST", {"CallStatus": status}, twiml=False)


def _gather(verb: ET.Element, rest: list[ET.Element], url: str) -> Gather:
    return Gather(
        action=join(url, verb.get("action") or url), method=verb.get("method", "POST").upper(),
        input=frozenset(verb.get("input", "dtmf").split()), num_digits=_count(verb.get("numDigits", "")),
        finish_on_key=verb.get("finishOnKey", "#"),
        action_on_empty_result=verb.get("actionOnEmptyResult", "false").lower() == "true",
        hints=verb.get("hints", ""), rest=rest, url=url)


def _count(text: str) -> int | None:
    """A whole number as Twilio writes one (ASCII digits), or None: `str.isdigit` also takes '²', which `int`
    refuses, and `int` refuses numbers of more than 4300 digits."""
    return int(text) if re.fullmatch(r"[0-9]{1,9}", text) else None


class Simulator:
    """Fake Twilio for one webhook app (a WSGI callable) or base URL. `auth_token` signs the requests."""

    def __init__(self, target: str | Callable[..., Any], *, auth_token: str, base_url: str = "http://localhost",
                 account_sid: str = "AC" + "0" * 32, status_callback: str | None = None,
                 timeout: float = TWILIO_TIMEOUT, client: Client | None = None) -> None:
        if isinstance(target, str):
            base_url = target.rstrip("/")
        self.base_url, self.account_sid, self.timeout = base_url, account_sid, timeout
        self.status_callback = status_callback
        self.validator = RequestValidator(auth_token)
        self.transport = Transport(target, base_url, timeout, client)

    def call(self, path: str, *, caller: str = "+15551230000", called: str = "+18005550199",
             sid: str | None = None, dial_answer: AgentAnswer = "completed") -> Call:
        """Place a call to the webhook at `path` and run its TwiML until the caller is asked for something."""
        call = Call(self, sid or "CA" + secrets.token_hex(16), caller, called, dial_answer=dial_answer)
        call._fetch(join(self.base_url + "/", path.lstrip("/")), "POST", {"CallStatus": "ringing"})
        return call

    def params(self, call: Call, fields: Mapping[str, str]) -> dict[str, str]:
        """Twilio's voice request parameters for `call`, plus `fields`."""
        return {"CallSid": call.sid, "AccountSid": self.account_sid, "From": call.caller, "To": call.called,
                "Caller": call.caller, "Called": call.called, "CallStatus": call.status, "Direction": "inbound",
                "ApiVersion": "2010-04-01", **fields}

    def request(self, call: Call, url: str, method: str, fields: Mapping[str, str], *,
                twiml: bool = True) -> list[ET.Element] | None:
        """One signed webhook request; the TwiML document's verbs, or None (and the error noted on the call)
        where Twilio would give up: an HTTP error, a slow answer, a wrong content type, invalid TwiML."""
        url = join(self.base_url + "/", url)
        problem = url_problem(url)
        if problem:
            return self._error(call, "11100", f"{url!r} is not a URL Twilio can request: {problem}")
        method = method.upper()
        params = self.params(call, fields)
        signed = url if method == "POST" else with_query(url, params)
        headers = {"X-Twilio-Signature": self.validator.compute_signature(signed, params if method == "POST"
                                                                          else {})}
        began = time.perf_counter()
        try:
            response = self.transport.send(method, signed, params, headers)
        except Unreachable as exc:
            if exc.timeout:
                return self._error(call, "11200", f"{url} did not answer within {self.timeout:.0f} s")
            return self._error(call, "11200", f"{url}: {exc}")
        elapsed = time.perf_counter() - began
        if not twiml:
            return []
        if elapsed > self.timeout:
            return self._error(call, "11200", f"{url} took {elapsed:.1f} s (Twilio waits {self.timeout:.0f} s)")
        if response.status_code >= 400:
            return self._error(call, "11200", f"{url} answered HTTP {response.status_code}")
        if 300 <= response.status_code < 400:  # the redirects did not end, or went nowhere Twilio can go
            where = response.headers.get("location")
            return self._error(call, "11215" if where else "11216", f"{url} answered HTTP {response.status_code}"
                               + (f" to {where!r}, and redirected too many times or to an invalid URL" if where
                                  else " without a Location"))
        call.headers = {k: unquote(v) for k, v in response.headers.items() if k.startswith("x-ivr-")}
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in XML_TYPES:
            return self._error(call, "12300", f"{url} answered with content type {kind!r}, not TwiML")
        try:
            return list(check_twiml(response.text))
        except ValueError as exc:
            code, _, reason = str(exc).partition(": ")
            return self._error(call, code, f"{url}: {reason}")

    def _error(self, call: Call, code: str, message: str) -> list[ET.Element] | None:
        """Note what Twilio would report; no document (the caller hears the application error)."""
        call.errors.append(f"{code}: {message}")
        call.transcript.append(Event("twilio", f"error {code}: {message}"))
        return None

    def close(self) -> None:
        self.transport.close()


