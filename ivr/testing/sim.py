"""Fake Twilio: places calls to any voice webhook over HTTP and executes its TwiML the way Twilio does.

A black box on purpose: it speaks only HTTP and TwiML and never imports the engine or the renderer, so a bug
there cannot be copied into the tester. It drives an app in-process (a WSGI callable, through httpx's WSGI
transport) or any live URL, signing every request with `X-Twilio-Signature` like Twilio.

    sim = Simulator(create_app(...), auth_token=TOKEN)
    call = sim.call("/voice/acme", caller="+15551234567")
    call.say("cancel"); call.press("12345678#"); call.say("yes")
    call.outcome, call.turns, call.transcript

What it enforces, so tests catch what Twilio would reject: a TwiML content type, well-formed XML with a
`<Response>` root, only the verbs and nesting Twilio allows, URLs it can parse, HTTP redirects that end, an
answer within 15 seconds, and at most 50 documents between two things the caller does (a `<Redirect>` loop);
otherwise the caller hears Twilio's "application error" and the call ends (`call.errors` has Twilio's error code).
Whatever a line answers, the simulator itself only ever raises `SimError`, for a test that misuses it.
"""

from __future__ import annotations

import io
import re
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlencode, urljoin, urlsplit

import httpx
from twilio.request_validator import RequestValidator

from ivr.errors import SimError

#: Twilio's limit for a webhook to answer; slower is error 11200 and the caller hears an application error
TWILIO_TIMEOUT = 15.0
APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."
XML_TYPES = ("text/xml", "application/xml", "text/html")  # Twilio parses text/html as TwiML too
#: verb -> the nouns/verbs it may contain (Twilio's nesting rules for the verbs a voice IVR uses)
SSML = frozenset({"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w"})
NESTING: dict[str, frozenset[str]] = {
    "Response": frozenset({"Say", "Play", "Pause", "Gather", "Redirect", "Dial", "Hangup", "Reject", "Record",
                           "Connect", "Enqueue", "Leave", "Start", "Stop", "Refer", "Sms"}),
    "Gather": frozenset({"Say", "Play", "Pause"}),
    "Dial": frozenset({"Number", "Sip", "Client", "Conference", "Queue"}),
    "Say": SSML,
    **{tag: SSML for tag in ("emphasis", "lang", "p", "prosody", "s")},
}
EMPTY_VERBS = frozenset({"Hangup", "Reject", "Pause"})
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
                self._fetch(_join(url, (verb.text or "").strip()), verb.get("method", "POST"), {})
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
        self._fetch(_join(url, action), verb.get("method", "POST"), fields)
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
        action=_join(url, verb.get("action") or url), method=verb.get("method", "POST").upper(),
        input=frozenset(verb.get("input", "dtmf").split()), num_digits=_count(verb.get("numDigits", "")),
        finish_on_key=verb.get("finishOnKey", "#"),
        action_on_empty_result=verb.get("actionOnEmptyResult", "false").lower() == "true",
        hints=verb.get("hints", ""), rest=rest, url=url)


def _count(text: str) -> int | None:
    """A whole number as Twilio writes one (ASCII digits), or None: `str.isdigit` also takes '²', which `int`
    refuses, and `int` refuses numbers of more than 4300 digits."""
    return int(text) if re.fullmatch(r"[0-9]{1,9}", text) else None


def _join(base: str, ref: str) -> str:
    """`ref` resolved against `base`, or `ref` as it is where it cannot be (`http://[::1`): the request for it
    then fails as Twilio's does, with error 11100."""
    try:
        return urljoin(base, ref)
    except ValueError:
        return ref


def _url_problem(url: str) -> str | None:
    """Why Twilio could not request `url` (error 11100, invalid URL format), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is what raises on 'h:abc'
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL"
    return None


def check_twiml(text: str) -> ET.Element:
    """Parse a TwiML document as Twilio would, raising ValueError with Twilio's error code when it would not."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ValueError("12100: document type declarations are not accepted")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"12100: the document is not well-formed XML: {exc}") from exc
    except ValueError as exc:  # text no XML parser takes: a lone surrogate, a declared multi-byte encoding
        raise ValueError(f"12100: the document cannot be read as XML: {exc}") from exc
    if root.tag != "Response":
        raise ValueError(f"12102: the root element is <{root.tag}>, not <Response>")
    _check_nesting(root)
    return root


def _check_nesting(element: ET.Element) -> None:
    allowed = NESTING.get(element.tag, frozenset())
    for child in element:
        if child.tag not in allowed:
            where = f"<{element.tag}>"
            raise ValueError(f"12200: <{child.tag}> is not allowed inside {where}; allowed: {sorted(allowed)}")
        if child.tag in EMPTY_VERBS and len(child):
            raise ValueError(f"12200: <{child.tag}> takes no nested elements")
        _check_nesting(child)


@dataclass
class _Answer:
    status_code: int
    headers: dict[str, str]  # lower-case names
    text: str


class _Wsgi:
    """Calls a WSGI app directly, the way a server would (an in-process simulated call makes five requests;
    httpx's client machinery would cost more than the app). Follows redirects as Twilio does."""

    def __init__(self, app: Callable[..., Any], base_url: str) -> None:
        self.app, self.base = app, urlsplit(base_url)

    def request(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> _Answer:
        for _ in range(10):
            answer = self._once(method, url, body, headers)
            if answer.status_code not in (301, 302, 303, 307, 308) or "location" not in answer.headers:
                return answer
            url = _join(url, answer.headers["location"])
            if _url_problem(url):
                return answer
            if answer.status_code in (301, 302, 303):
                method, body = "GET", b""
        return answer

    def _once(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> _Answer:
        parts = urlsplit(url)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": unquote(parts.path) or "/",
            "QUERY_STRING": parts.query, "SERVER_NAME": parts.hostname or "localhost",
            "SERVER_PORT": str(parts.port or (443 if parts.scheme == "https" else 80)),
            "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": parts.netloc, "wsgi.version": (1, 0),
            "wsgi.url_scheme": parts.scheme or "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(),
            "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body)),
        }
        if body:
            environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
        started: list[Any] = []

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, response_headers]
            return lambda data: None

        chunks = self.app(environ, start_response)
        try:
            data = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status, response_headers = started
        return _Answer(int(status.split()[0]), {k.lower(): v for k, v in response_headers},
                       data.decode("utf-8", "replace"))


class Simulator:
    """Fake Twilio for one webhook app (a WSGI callable) or base URL. `auth_token` signs the requests."""

    def __init__(self, target: str | Callable[..., Any], *, auth_token: str, base_url: str = "http://localhost",
                 account_sid: str = "AC" + "0" * 32, status_callback: str | None = None,
                 timeout: float = TWILIO_TIMEOUT, client: httpx.Client | None = None) -> None:
        if isinstance(target, str):
            base_url = target.rstrip("/")
        self.base_url, self.account_sid, self.timeout = base_url, account_sid, timeout
        self.status_callback = status_callback
        self.validator = RequestValidator(auth_token)
        self.wsgi = _Wsgi(target, base_url) if not isinstance(target, str) and client is None else None
        self.client = client or httpx.Client(base_url=base_url, timeout=timeout + 1, follow_redirects=True)

    def call(self, path: str, *, caller: str = "+15551230000", called: str = "+18005550199",
             sid: str | None = None, dial_answer: AgentAnswer = "completed") -> Call:
        """Place a call to the webhook at `path` and run its TwiML until the caller is asked for something."""
        call = Call(self, sid or "CA" + secrets.token_hex(16), caller, called, dial_answer=dial_answer)
        call._fetch(_join(self.base_url + "/", path.lstrip("/")), "POST", {"CallStatus": "ringing"})
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
        url = _join(self.base_url + "/", url)
        problem = _url_problem(url)
        if problem:
            return self._error(call, "11100", f"{url!r} is not a URL Twilio can request: {problem}")
        params = self.params(call, fields)
        signed = url if method.upper() == "POST" else _with_query(url, params)
        headers = {"X-Twilio-Signature": self.validator.compute_signature(signed, params if method.upper() ==
                                                                          "POST" else {})}
        began = time.perf_counter()
        try:
            response: _Answer | httpx.Response
            if self.wsgi is not None:
                body = urlencode(params).encode() if method.upper() != "GET" else b""
                response = self.wsgi.request(method.upper(), signed, body, headers)
            elif method.upper() == "GET":
                response = self.client.get(signed, headers=headers)
            else:
                response = self.client.post(url, data=params, headers=headers)
        except httpx.TimeoutException:
            return self._error(call, "11200", f"{url} did not answer within {self.timeout:.0f} s")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
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
        call.headers = {k.lower(): unquote(v) for k, v in response.headers.items()
                        if k.lower().startswith("x-ivr-")}
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
        self.client.close()


def _with_query(url: str, params: Mapping[str, str]) -> str:
    query = str(httpx.QueryParams(dict(params)))
    return url + ("&" if "?" in url else "?") + query
