"""A simulated call and the fake Twilio that places it: what the caller does at each wait (`Call`), and how each
request is made, signed, checked and recorded (`Simulator`). The verbs themselves run in `ivr.testing.sim.run`."""

from __future__ import annotations

import time
import wave
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlencode, urlsplit

from twilio.request_validator import RequestValidator

from ivr.errors import SimError
from ivr.testing.sim import exchange, record
from ivr.testing.sim.exchange import sid as new_sid
from ivr.testing.sim.exchange import standard
from ivr.testing.sim.model import (
    MAIN,
    MAX_DOCUMENTS,
    PAY_RESULTS,
    QUEUE_RESULTS,
    REFER_RESULTS,
    TWILIO_TIMEOUT,
    AgentAnswer,
    Dialled,
    DialResult,
    Event,
    Gather,
    QueueOutcome,
    Recorder,
    Recording,
    Request,
    Scope,
    Waiting,
)
from ivr.testing.sim.run import run
from ivr.testing.sim.transport import Client, Transport, Unreachable, join, url_problem, with_query

Target = AgentAnswer | DialResult


@dataclass
class Call:
    """A call in progress. Answer what waits (`waiting`: a `<Gather>`, a `<Record>`, an `<Echo>`) with `say`,
    `press`, `silence` or `speak`; `hang_up` ends the call. The rest is what Twilio saw, for verdicts on any app."""

    sim: Simulator
    sid: str
    caller: str
    called: str
    transcript: list[Event] = field(default_factory=list)
    status: str = "in-progress"
    errors: list[str] = field(default_factory=list)  # Twilio's errors that broke the call flow: "CODE: message"
    warnings: list[str] = field(default_factory=list)  # what Twilio logged while the call went on (a <Play> failed)
    answered: int = 0  # Gathers answered (speech, keys, or silence that reached the app)
    headers: dict[str, str] = field(default_factory=dict)  # X-Ivr-* of the last response
    waiting: Waiting | None = None
    dial_answer: Target = "completed"  # how every dialled leg answers, unless `dial` names it
    dialled: list[Dialled] = field(default_factory=list)
    recordings: list[Recording] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)  # queues the caller was enqueued in (<Enqueue>)
    conferences: list[str] = field(default_factory=list)  # conferences the caller joined
    messages: list[str] = field(default_factory=list)  # <Sms> bodies Twilio sent during the call
    requests: list[Request] = field(default_factory=list)  # every request made, in order
    hung_up_by: Literal["caller", "app", "twilio"] | None = None  # who ended the call
    ivr_headers: bool = False  # whether any answer carried ivr's X-Ivr-* headers (an app built with ivr)
    dial: dict[str, Target] = field(default_factory=dict)  # per number / client / SIP URI / queue / conference
    queue: QueueOutcome = QueueOutcome()  # what happens to the caller in an <Enqueue>
    pay: str = "success"  # the <Pay> Result
    refer: str = "accepted"  # what the SIP endpoint does with a <Refer>
    params: dict[str, str] = field(default_factory=dict)  # what every request of the call carries
    form: str = ""  # `params`, form-encoded
    cookies: CookieJar = field(default_factory=CookieJar)  # the call's own, as a browser's per session
    seconds: int = 0  # simulated time: pauses, recordings, dials, queues
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
        reported = count(self.headers.get("x-ivr-turns", ""))
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
        """Speak: heard by a `<Gather>` listening for speech, recorded by a `<Record>`."""
        waiting = self._take(f"say {text!r}")
        self._caller(f"says {text!r}")
        if isinstance(waiting, Recorder):
            record.speech(self, waiting, text)
        elif isinstance(waiting, Gather):
            if "speech" not in waiting.input:  # Twilio is not listening for speech: as if the caller said nothing
                return self._empty(waiting)
            self._post_gather(waiting, {"SpeechResult": text, "Confidence": f"{confidence:.6f}"})
        else:
            self._echo(waiting, repr(text))
        return self

    def press(self, keys: str) -> Call:
        """Press keys: a `<Gather>` takes them up to its finish key or numDigits; a `<Record>` ends at a key of its
        finishOnKey."""
        waiting = self._take(f"press {keys!r}")
        self._caller(f"presses {keys}")
        if isinstance(waiting, Recorder):
            record.keys(self, waiting, keys)
            return self
        if not isinstance(waiting, Gather):
            self._echo(waiting, f"the tones of {keys}")
            return self
        if "dtmf" not in waiting.input:
            return self._empty(waiting)
        digits = ""
        for key in keys:  # Twilio submits at the finish key or once numDigits keys are in, whichever is first
            if waiting.finish_on_key and key == waiting.finish_on_key:
                break
            digits += key
            if waiting.num_digits is not None and len(digits) >= waiting.num_digits:
                break
        if not digits:  # the finish key alone is no input
            return self._empty(waiting)
        return self._post_gather(waiting, {"Digits": digits})

    def silence(self) -> Call:
        """Say nothing: a `<Gather>` times out, a `<Record>` ends after its timeout of silence."""
        waiting = self._take("stay silent")
        self._caller("(silence)")
        if isinstance(waiting, Recorder):
            record.silence(self, waiting)
        elif isinstance(waiting, Gather):
            self._empty(waiting)
        else:
            self.waiting = waiting  # the echo goes on
        return self

    def speak(self, audio: str | Path) -> Call:
        """Record a WAV file at a `<Record>` (the simulator has no recogniser: a `<Gather>` needs `say`)."""
        waiting = self._take(f"speak {str(audio)!r}")
        if not isinstance(waiting, Recorder):
            self.waiting = waiting
            raise SimError(f"speak() records audio at a <Record>; the call {self.sid} waits at a <{waiting.kind}>: "
                           "use say(), press() or silence()")
        try:
            with wave.open(str(audio), "rb") as sound:
                seconds = max(1, round(sound.getnframes() / (sound.getframerate() or 8000)))
        except (OSError, EOFError, wave.Error) as exc:
            self.waiting = waiting
            raise SimError(f"speak({str(audio)!r}): not a WAV file the simulator can measure: {exc}") from None
        self._caller(f"speaks {Path(audio).name}")
        record.audio(self, waiting, str(audio), seconds)
        return self

    def hang_up(self) -> Call:
        if not self.ended:
            self._since, self._fetched = len(self.transcript), 0
            self._caller("hangs up")
            waiting, self.waiting = self.waiting, None
            self.status, self.hung_up_by = "completed", "caller"  # what Twilio posts from now on
            if isinstance(waiting, Recorder):
                record.hung_up(self, waiting)
            (waiting.scope if waiting is not None else MAIN).hang_up(self)
            self._status_callback()
        return self

    # -- executing TwiML ------------------------------------------------------------------------------------

    def _take(self, doing: str) -> Waiting:
        if self.waiting is None:
            raise SimError(f"the caller cannot {doing}: the call {self.sid} has ended ({self.status}); "
                           f"conversation so far:\n{self.conversation()}")
        waiting, self.waiting = self.waiting, None
        self._since, self._fetched = len(self.transcript), 0
        return waiting

    def _caller(self, text: str) -> None:
        self.transcript.append(Event("caller", text))

    def _echo(self, waiting: Waiting, what: str) -> None:
        self.transcript.append(Event("twilio", f"echoes {what} back to the caller"))
        self.waiting = waiting

    def _empty(self, gather: Gather) -> Call:
        if gather.action_on_empty_result:
            return self._post_gather(gather, {})
        run(self, gather.rest, gather.url, gather.scope)  # Twilio falls through to the next verb
        return self

    def _post_gather(self, gather: Gather, fields: dict[str, str]) -> Call:
        self.answered += 1
        self._fetch(gather.action, gather.method, fields, gather.scope)
        return self

    def _fetch(self, url: str, method: str, fields: Mapping[str, str], scope: Scope = MAIN) -> None:
        """Fetch the next document and run it; where Twilio gives up, the scope says what happens."""
        self._fetched += 1
        if self._fetched > MAX_DOCUMENTS:
            document = self.sim._error(self, "14106", f"{url}: {MAX_DOCUMENTS} documents in a row without waiting "
                                                      "for the caller (a <Redirect> or action URL that loops?)")
        else:
            document = self.sim.request(self, url, method, fields, audio=scope.plays_audio)
        if document is None:
            scope.fail(self)
            return
        run(self, document, url, scope)

    def _post(self, url: str, method: str, fields: Mapping[str, str], *, action: bool = False,
              only: Mapping[str, str] | None = None) -> None:
        """A request whose answer does not change the call: a callback, or an action after the caller hung up
        (Twilio requests it; what it answers is not executed)."""
        self.sim.request(self, url, method, fields, twiml=False, only=only, purpose="twiml" if action else "callback")

    def _finish(self, status: str, by: Literal["caller", "app", "twilio"]) -> None:
        self.waiting = None
        if self.ended:
            return
        self.status, self.hung_up_by = status, by
        self._status_callback()

    def _status_callback(self) -> None:
        if self.sim.status_callback:
            self._post(self.sim.status_callback, "POST", {"CallStatus": self.status, "CallDuration": str(self.seconds)})


def count(text: str) -> int | None:
    """A whole number as Twilio writes one (ASCII digits), or None: `str.isdigit` also takes '²', which `int`
    refuses, and `int` refuses numbers of more than 4300 digits."""
    return int(text) if 0 < len(text) < 10 and text.isascii() and text.isdigit() else None


def _choice(what: str, value: str, choices: Any) -> str:
    if value not in choices:
        raise SimError(f"{what}={value!r} is not one of Twilio's: {sorted(choices)}")
    return value


class Simulator:
    """Fake Twilio for one webhook app (a WSGI callable) or base URL. `auth_token` signs the requests; `params`
    are request parameters every call sends (FromCity, CallerName...), over Twilio's defaults."""

    def __init__(self, target: str | Callable[..., Any], *, auth_token: str, base_url: str = "http://localhost",
                 account_sid: str = "AC" + "0" * 32, status_callback: str | None = None,
                 timeout: float = TWILIO_TIMEOUT, client: Client | None = None,
                 params: Mapping[str, str] | None = None) -> None:
        if isinstance(target, str):
            base_url = target.rstrip("/")
        self.base_url, self.account_sid, self.timeout = base_url, account_sid, timeout
        self.status_callback = status_callback
        self.params = dict(params or {})
        self.validator = RequestValidator(auth_token)
        self.transport = Transport(target, base_url, timeout, client)
        self.origin = urlsplit(base_url)[:2]
        self._media: dict[str, tuple[str, str]] = {}  # URL -> ("ok" | "http" | "type", reason): Twilio caches media

    def call(self, path: str = "/", *, method: str = "POST", caller: str = "+15551230000",
             called: str = "+18005550199", sid: str | None = None, dial_answer: Target = "completed",
             dial: Mapping[str, Target] | None = None, queue: QueueOutcome | str = "bridged",
             pay: str = "success", refer: str = "accepted", params: Mapping[str, str] | None = None) -> Call:
        """Place a call to the webhook at `path` (requested with `method`, GET or POST) and run its TwiML until the
        caller is asked for something. `dial_answer` is how every dialled leg answers, `dial` names some (a number,
        client, SIP URI, conference or dialled queue), `queue` is what an `<Enqueue>` does with the caller, `pay`
        the `<Pay>` Result, `refer` what a `<Refer>` gets, `params` this call's own request parameters."""
        method = _choice("method", method.upper(), ("GET", "POST"))
        outcome = queue if isinstance(queue, QueueOutcome) else QueueOutcome(queue)
        _choice("queue", outcome.result, QUEUE_RESULTS)
        call = Call(self, sid or new_sid("CA"), caller, called, dial_answer=dial_answer, dial=dict(dial or {}),
                    queue=outcome, pay=_choice("pay", pay, PAY_RESULTS), refer=_choice("refer", refer, REFER_RESULTS))
        call.params = standard(call.sid, self.account_sid, caller, called, self.params, params)
        call.form = urlencode(call.params)
        call._fetch(join(self.base_url + "/", path.lstrip("/")), method, {"CallStatus": "ringing"})
        return call

    def request(self, call: Call, url: str, method: str, fields: Mapping[str, str], *, twiml: bool = True,
                only: Mapping[str, str] | None = None, purpose: Literal["twiml", "callback", "media"] = "twiml",
                agent: bool = False, audio: bool = False) -> list[ET.Element] | None:
        """One signed webhook request: the call's parameters and `fields` (or `only` these: a callback with its own
        set, another leg's); the TwiML document's verbs, or None (the error noted on the call) where Twilio would
        give up: an HTTP error, a slow answer, a wrong content type, a body over 64 kB, invalid TwiML. With
        `twiml=False` the answer is not read (a callback, or an action after the caller hung up); `agent`: a
        document of another leg, whose X-Ivr-* headers are not the call's; `audio`: an audio file is played (wait
        music)."""
        url = join(self.base_url + "/", url)
        problem = url_problem(url)
        if problem:
            return self._error(call, "11100", f"{url!r} is not a URL Twilio can request: {problem}")
        method = method.upper()
        if only is not None:
            sent, form = {**only, **fields}, None
        else:  # the call's own parameters are encoded once: a form of 30 fields costs more than the app's answer
            extra = {"CallStatus": call.status, **fields}
            sent = {**call.params, **extra}
            form = f"{call.form}&{urlencode(extra)}" if call.form and not extra.keys() & call.params.keys() else None
        signed = url if method == "POST" else with_query(url, sent)
        # Twilio's signature: the URL, then each POST parameter's name and value in name order, HMAC-SHA1'd; built
        # here and handed whole to twilio's validator, which is slow to build it from 30 parameters
        data = signed + "".join(key + value for key, value in sorted(sent.items())) if method == "POST" else signed
        headers = {"X-Twilio-Signature": self.validator.compute_signature(data, {})}
        call.requests.append(Request(method, url, tuple(sent.items()), "twiml" if twiml else purpose))
        began = time.perf_counter()
        try:
            answer = self.transport.send(method, signed, sent, headers, call.cookies, form)
        except Unreachable as exc:
            if exc.timeout:
                return self._error(call, "11200", f"{url} did not answer within {self.timeout:.0f} s")
            return self._error(call, "11200", f"{url}: {exc}")
        elapsed = time.perf_counter() - began
        if not twiml:
            return []
        if elapsed > self.timeout:
            return self._error(call, "11200", f"{url} took {elapsed:.1f} s (Twilio waits {self.timeout:.0f} s)")
        try:
            exchange.http_problem(answer, url)
            if audio and exchange.is_audio(answer):
                play = ET.Element("Play")
                play.text = url
                return [play]
            if not agent:
                call.headers = {k: unquote(v) for k, v in answer.headers.items() if k.startswith("x-ivr-")}
                call.ivr_headers = call.ivr_headers or bool(call.headers)
            return list(exchange.twiml(answer, url))
        except exchange.Problem as exc:
            return self._error(call, exc.code, exc.reason)

    def media(self, call: Call, url: str, in_gather: bool = False) -> bool:
        """Fetch a `<Play>` file as Twilio does (GET, no parameters, cached): False when Twilio could not play
        it (the error noted on the call). Files on another host than the app are not fetched (no internet)."""
        url = join(self.base_url + "/", url)
        if url_problem(url) or urlsplit(url)[:2] != self.origin:
            return True
        if url not in self._media:
            call.requests.append(Request("GET", url, (), "media"))
            try:
                exchange.audio(self.transport.send("GET", url, {}, {}), url, in_gather)
                self._media[url] = ("ok", "")
            except Unreachable as exc:
                self._media[url] = ("http", f"{url}: {exc}")
            except exchange.Problem as exc:
                self._media[url] = ("http" if exc.code.startswith("11") else "type", exc.reason)
        kind, reason = self._media[url]
        if kind == "ok":
            return True
        code = "11200" if kind == "http" else "13325" if in_gather else "13420"
        call.warnings.append(f"{code}: {reason}")
        call.transcript.append(Event("twilio", f"error {code}: {reason} (the <Play> is skipped)"))
        return False

    def _error(self, call: Call, code: str, message: str) -> list[ET.Element] | None:
        """Note what Twilio would report; no document (the caller hears the application error)."""
        call.errors.append(f"{code}: {message}")
        call.transcript.append(Event("twilio", f"error {code}: {message}"))
        return None

    def close(self) -> None:
        self.transport.close()

