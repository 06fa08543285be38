"""Calls under faults: a gunicorn to break, callers who keep calling, and the ledger that says whether anyone was
lied to. Shared by `tests/faults/` and `bench/faults.py`.

Every call cancels through flows/acme.yaml (cancel, account digits, cancel again at the retention offer, yes), over
real HTTP, signed as Twilio signs. A request that gets no answer (a worker killed under it, gunicorn down) is sent
again, as Twilio retries, until it is answered; an answered request is sometimes sent twice, as a Twilio retry
after a lost response would be, and both answers must be the same. A call ends at its confirmation number, or at
the first apology (the caller is transferred to an agent).

Afterwards `verify` compares what callers heard with what the store kept:

- every confirmation number a caller heard is stored, exactly once, for that call (none *lost* or *duplicated*);
- no cancellation is stored for a caller who was told the apology instead, unless the call log says that caller
  heard the apology (a *lie* otherwise);
- every answer a caller heard is in the call log as heard: a turn with that exact TwiML, or a logged apology.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any

import httpx

from ivr.line.store import Store
from tests.conftest import sign
from tests.line.test_workers import Gunicorn

#: where the acme flow transfers a caller it cannot serve (its agent transfer): the apology's <Dial>
FALLBACK = "+18005550100"
Fields = dict[str, str]
#: a cancelling caller, request by request: the form fields posted (None: the call comes in) and what the
#: answer must say when the line works
SCRIPT: list[tuple[Fields | None, str]] = [
    (None, "To cancel your service, say cancel or press 9"),
    ({"SpeechResult": "cancel", "Confidence": "0.93"}, "eight digit account number"),
    ({"Digits": "12345678"}, "fifty percent off"),
    ({"SpeechResult": "cancel", "Confidence": "0.93"}, "To confirm, you want to cancel"),
    ({"SpeechResult": "yes", "Confidence": "0.93"}, "Your confirmation number is"),
]
CONFIRMATION = re.compile(r"Your confirmation number is ((?:\d )*\d)\.")
ACTION = re.compile(r'<(?:Gather|Dial) action="([^"]+)"')


class Fault(Exception):
    """The line went down in a way the promises rule out (gunicorn exited): the scenario cannot go on."""


def classify(xml: str, expect: str) -> str:
    """'ok' (what the flow says next), 'apology' (sorry, and a transfer or a hang-up) or 'unexpected'."""
    if expect in xml:
        return "ok"
    if "Sorry" in xml or transfers(xml):
        return "apology"
    return "unexpected"


def transfers(xml: str) -> bool:
    """The apology-and-transfer: the caller goes on to the fallback number."""
    return "<Dial" in xml and FALLBACK in xml


def incoming_form(sid: str, caller: str) -> Fields:
    return {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": caller, "To": "+18005550199",
            "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01"}


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def http_client(timeout: float = 20) -> httpx.Client:
    """No keep-alive: each request on a new connection, which any running worker may take."""
    return httpx.Client(timeout=timeout, limits=httpx.Limits(max_keepalive_connections=0),
                        headers={"Connection": "close"})


# -- the server ----------------------------------------------------------------------------------------------


class Server:
    """tests/line/test_workers.py's `Gunicorn` (two sync workers, configured from IVR_* variables), and what the
    faults do to it: kill -9 a worker or the master, pause all workers but one, ask for its health."""

    def __init__(self, database_url: str, tmp: Path, *options: str, env: Mapping[str, str] | None = None) -> None:
        self.gunicorn = Gunicorn(database_url, tmp)
        self.options, self.env = options, dict(env or {})
        self.http = http_client(5)

    @property
    def base(self) -> str:
        return self.gunicorn.base

    @property
    def master(self) -> int:
        if self.gunicorn.proc is None or self.gunicorn.proc.poll() is not None:
            raise Fault(f"gunicorn is not running (exit code {self.exit_code()}):\n{self.log()[-3000:]}")
        return self.gunicorn.proc.pid

    def exit_code(self) -> int | None:
        return self.gunicorn.proc.poll() if self.gunicorn.proc is not None else None

    def crashed(self) -> bool:
        """gunicorn exited by itself (not while a fault restarts it): nobody will answer any more."""
        return self.exit_code() is not None

    def start(self) -> None:
        self.gunicorn.start(*self.options, env=self.env)
        self.wait(lambda: len(self.workers()) == 2, "two workers running")

    def close(self) -> None:
        self.resume()
        self.gunicorn.kill()
        self.gunicorn.http.close()
        self.http.close()

    def log(self) -> str:
        return self.gunicorn.log()

    def workers(self) -> list[int]:
        """The master's running worker processes."""
        master = self.master
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with suppress(OSError, IndexError, ValueError):
                fields = stat.read_text().rsplit(") ", 1)[1].split()
                if int(fields[1]) == master and fields[0] not in ("Z", "X"):
                    found.append(int(stat.parent.name))
        return sorted(found)

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 20) -> bool:
        """Wait until `condition` holds (True), or `timeout` passes (False); `Fault` if gunicorn exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.master  # noqa: B018 - raises Fault when gunicorn has exited
            if condition():
                return True
            time.sleep(0.05)
        return False

    def kill_worker(self, pid: int | None = None) -> int:
        """kill -9 one worker (the first, or `pid`); returns once the master has started its replacement."""
        before = self.workers()
        victim = pid or before[0]
        os.kill(victim, signal.SIGKILL)
        if not self.wait(lambda: victim not in self.workers() and len(self.workers()) == 2, "a new worker"):
            raise Fault(f"no worker replaced {victim}:\n{self.log()[-3000:]}")
        return victim

    def kill_master(self) -> None:
        """kill -9 the master, then at once its workers, which would otherwise go on serving for a moment as
        orphans: the whole server crashes (as when its container or cgroup is killed), requests in flight with it."""
        workers, master = self.workers(), self.master
        os.kill(master, signal.SIGKILL)
        for pid in workers:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.gunicorn.kill()  # and whatever else is left of its process group; reap the master

    def health(self, path: str = "/healthz") -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) of a health endpoint; (0, {}) when nothing answers."""
        try:
            response = self.http.get(self.base + path)
        except httpx.HTTPError:
            return 0, {}
        try:
            body = response.json()
        except ValueError:
            body = {"text": response.text[:200]}
        return response.status_code, body if isinstance(body, dict) else {"json": body}

    def status(self) -> str:
        """The `status` /healthz reports ("ok", "degraded"), or why there is none."""
        code, body = self.health()
        return str(body.get("status", f"HTTP {code}, no status in {json.dumps(body)[:200]}"))

    def pause_all_but(self, pid: int) -> None:
        for other in self.workers():
            with suppress(ProcessLookupError):
                os.kill(other, signal.SIGCONT if other == pid else signal.SIGSTOP)

    def resume(self) -> None:
        with suppress(Fault):
            for pid in self.workers():
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    @contextmanager
    def only(self, pid: int) -> Iterator[None]:
        """Only worker `pid` takes connections for the block's duration (the others are paused)."""
        self.pause_all_but(pid)
        try:
            yield
        finally:
            self.resume()

    def ambiguous(self) -> dict[str, int]:
        """The app's `ambiguous commit` log lines, by what asking the store found."""
        lines = [line for line in self.log().splitlines() if "ambiguous commit" in line]
        return {"all": len(lines), "committed": sum("had committed" in line for line in lines),
                "not committed": sum("had not committed" in line for line in lines),
                "unknown": sum("cannot be asked" in line for line in lines)}


# -- the callers ---------------------------------------------------------------------------------------------


@dataclass
class CallLog:
    """One call, as its caller lived it: the answer heard to each request (by seq), and how it ended."""

    sid: str
    answers: list[str] = field(default_factory=list)
    outcome: str = "unfinished"  # confirmed | apology | unanswered | error | unfinished
    confirmation: str = ""
    retries: int = 0  # requests sent again because no answer came
    duplicates: int = 0  # answered requests sent again, as a Twilio retry
    duplicate_apologies: int = 0  # ... whose second answer was an apology (the store was down by then)
    mismatched: list[str] = field(default_factory=list)  # ... whose second answer differed from the first
    errors: list[str] = field(default_factory=list)


class Load:
    """`calls` cancelling calls placed by `threads` callers against `server`; a fault is injected alongside
    (`run(inject)`), waiting for progress (`wait_progress`, `wait_apologies`) rather than for the clock. New calls
    wait while the gate is closed (`hold`), so that a repair can be checked on an idle line."""

    def __init__(self, server: Server, calls: int, threads: int = 6, retry_for: float = 60) -> None:
        self.server, self.calls, self.threads, self.retry_for = server, calls, threads, retry_for
        self.logs: list[CallLog] = []
        self.lock = threading.Condition(threading.RLock())
        self.placed = self.answered = self.apologies = self.busy = 0
        self.gate = threading.Event()
        self.gate.set()
        self.stopped = False
        self.crashed: list[str] = []
        self.close_at: int | None = None  # the gate closes when this many apologies have been heard

    @property
    def total(self) -> int:
        return self.calls * len(SCRIPT)

    # -- what the fault waits for ------------------------------------------------------------------------

    def _wait(self, ready: Callable[[], bool], timeout: float) -> bool:
        """Wait for `ready`, the end of the calls, or gunicorn's end (checked every tenth of a second)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not (ready() or self.finished()) and time.monotonic() < deadline:
                if self.server.crashed():
                    self.give_up()
                self.lock.wait(0.1)
            return ready()

    def finished(self) -> bool:
        return self.stopped or (self.placed >= self.calls and self.busy == 0)

    def give_up(self) -> None:
        """gunicorn is gone for good: the callers stop retrying (their calls end unanswered)."""
        with self.lock:
            self.stopped = True
            self.lock.notify_all()

    def wait_progress(self, fraction: float, timeout: float = 120) -> None:
        self._wait(lambda: self.answered >= fraction * self.total, timeout)

    def wait_apologies(self, count: int, timeout: float = 20) -> None:
        """Wait until callers have heard `count` more apologies; no new call starts after that (the callers
        close the gate themselves: the line is not used up while this thread gets its turn), until `hold` ends."""
        with self.lock:
            target = self.close_at = self.apologies + count
        self._wait(lambda: self.apologies >= target, timeout)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """No new calls start in the block, which begins once the calls in progress have ended."""
        self.gate.clear()
        try:
            self._wait(lambda: self.busy == 0, self.retry_for * len(SCRIPT))
            yield
        finally:
            self.close_at = None
            self.gate.set()

    # -- running -------------------------------------------------------------------------------------------

    def run(self, inject: Callable[[Load], None] | None = None) -> list[CallLog]:
        callers = [threading.Thread(target=self._caller, daemon=True) for _ in range(self.threads)]
        for thread in callers:
            thread.start()
        try:
            if inject is not None:
                inject(self)
        except BaseException:
            self.give_up()  # the line is down for good
            raise
        finally:
            self._wait(self.finished, self.retry_for * len(SCRIPT) * 2)
            self.give_up()
            self.gate.set()
            for thread in callers:
                thread.join(self.retry_for * len(SCRIPT))
        if self.crashed:
            raise RuntimeError("a caller thread failed:\n" + "\n".join(self.crashed))
        return self.logs

    def _caller(self) -> None:
        try:
            with http_client() as http:
                while True:
                    self.gate.wait()
                    with self.lock:
                        if self.stopped or self.placed >= self.calls:
                            return
                        self.placed += 1
                        number, self.busy = self.placed, self.busy + 1
                    call: CallLog | None = None
                    try:
                        call = place_call(http, self.server.base, number, self.retry_for, self._heard,
                                          lambda: self.stopped or self.server.crashed())
                    finally:
                        with self.lock:
                            if call is not None:
                                self.logs.append(call)
                            self.busy -= 1
                            self.lock.notify_all()
        except Exception as exc:  # reported by `run`: a bug in the harness must not pass as a quiet line
            self.crashed.append(f"{type(exc).__name__}: {exc}")
            with self.lock:
                self.lock.notify_all()

    def _heard(self, kind: str) -> None:
        with self.lock:
            self.answered += 1
            self.apologies += kind == "apology"
            if self.close_at is not None and self.apologies >= self.close_at:
                self.gate.clear()
            self.lock.notify_all()


def post(http: httpx.Client, base: str, path: str, form: Fields, call: CallLog, retry_for: float,
         stop: Callable[[], bool] = lambda: False) -> str | None:
    """Post a signed request until it is answered, as Twilio retries one that got no response: its TwiML, or None
    when none came in `retry_for` seconds (or `stop` says to give up), or an HTTP error (in the call's errors)."""
    deadline, pause = time.monotonic() + retry_for, 0.05
    headers = {"X-Twilio-Signature": sign(base + path, form)}
    while True:
        try:
            response = http.post(base + path, data=form, headers=headers)
        except httpx.TransportError:
            if time.monotonic() > deadline or stop():
                return None
            call.retries += 1
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
            continue
        if response.status_code != 200 or not response.headers.get("content-type", "").startswith(
                "application/xml"):
            call.errors.append(f"{path}: HTTP {response.status_code} {response.text[:200]!r}")
            return None
        return response.text


def place_call(http: httpx.Client, base: str, number: int, retry_for: float,
               heard: Callable[[str], None] = lambda kind: None, stop: Callable[[], bool] = lambda: False) -> CallLog:
    """One cancelling call, to its confirmation number or its first apology."""
    call = CallLog("CA" + uuid.uuid4().hex)
    path = "/voice/acme"
    for seq, (fields, expect) in enumerate(SCRIPT):
        form = incoming_form(call.sid, f"+1555{number:07d}") if fields is None else {"CallSid": call.sid, **fields}
        xml = post(http, base, path, form, call, retry_for, stop)
        if xml is None:
            call.outcome = "error" if call.errors else "unanswered"
            return call
        kind = classify(xml, expect)
        call.answers.append(xml)
        heard(kind)
        if kind != "ok":
            call.outcome = kind if kind == "apology" else "error"
            if kind == "unexpected":
                call.errors.append(f"request {seq}: expected {expect!r}, got {xml[:300]!r}")
            return call
        if (number + seq) % 3 == 0 or (seq == len(SCRIPT) - 1 and number % 2):  # a Twilio retry of this request
            again = post(http, base, path, form, call, retry_for, stop)
            call.duplicates += 1
            if again is not None and classify(again, expect) == "apology":
                call.duplicate_apologies += 1
            elif again is not None and again != xml:
                call.mismatched.append(f"request {seq}: first {xml[:200]!r}, then {again[:200]!r}")
        if seq == len(SCRIPT) - 1:
            found = CONFIRMATION.search(xml)
            assert found, xml
            call.confirmation, call.outcome = found.group(1).replace(" ", ""), "confirmed"
            return call
        path = unescape(ACTION.findall(xml)[-1])
    return call


# -- what the callers heard against what the store kept ----------------------------------------------------------


@dataclass
class Ledger:
    """The counts of the fault table, and every broken promise in words (`problems`)."""

    calls: int = 0
    heard: int = 0  # confirmation numbers callers heard
    stored: int = 0  # cancellation records
    lost: int = 0  # heard, but not stored for that call
    duplicated: int = 0  # calls with more than one record, or a number stored twice
    lies: int = 0  # stored for a caller who heard the apology, and the call log does not say so
    apologies: int = 0  # calls that ended with an apology
    apologies_unlogged: int = 0  # apologies heard that the call log does not record
    unanswered: int = 0
    retries: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)


def _logged_apology(store: Store, sid: str, seq: int, xml: str) -> bool:
    """Whether the call log says the caller heard an apology at request `seq`: a logged apology (ivr_apologies),
    or a turn whose TwiML is the apology."""
    if any(t.seq == seq and t.twiml == xml for t in store.turns(sid)):
        return True
    apologies = getattr(store, "apologies", None)  # the apology log is new in issue 12
    return apologies is not None and any(a.seq == seq for a in apologies(sid))


def verify(database_url: str, calls: list[CallLog]) -> Ledger:
    """Compare what each caller heard with what the store kept (see the module's docstring)."""
    ledger = Ledger(calls=len(calls))
    store = Store(database_url)
    try:
        records = store.cancellations()
        by_call: dict[str, list[str]] = {}
        for record in records:
            by_call.setdefault(record.call_sid, []).append(record.confirmation)
        ledger.stored = len(records)
        numbers = [r.confirmation for r in records]
        repeated = {n for n in numbers if numbers.count(n) > 1}
        ledger.duplicated = len(repeated) + sum(len(v) > 1 for v in by_call.values())
        if ledger.duplicated:
            ledger.problems.append(f"duplicated records: {sorted(repeated)} "
                                   f"{ {k: v for k, v in by_call.items() if len(v) > 1} }")
        known = {call.sid for call in calls}
        strangers = sorted(set(by_call) - known)
        if strangers:
            ledger.problems.append(f"cancellations stored for calls nobody placed: {strangers}")
        for call in calls:
            _check_call(store, call, by_call.get(call.sid, []), ledger)
    finally:
        store.close()
    return ledger


def _check_call(store: Store, call: CallLog, stored: list[str], ledger: Ledger) -> None:
    ledger.retries += call.retries
    ledger.duplicates += call.duplicates
    ledger.problems += [f"call {call.sid}: {e}" for e in call.errors]
    ledger.problems += [f"call {call.sid}: a retry got another answer: {m}" for m in call.mismatched]
    if call.outcome == "confirmed":
        ledger.heard += 1
        if stored != [call.confirmation]:
            ledger.lost += 1
            ledger.problems.append(f"call {call.sid}: the caller heard {call.confirmation}, the store has {stored}")
    elif call.outcome == "unanswered":
        ledger.unanswered += 1
        ledger.problems.append(f"call {call.sid}: request {len(call.answers)} got no answer, however often it "
                               "was sent again")
    elif call.outcome == "apology":
        ledger.apologies += 1
        seq = len(call.answers) - 1
        logged = _logged_apology(store, call.sid, seq, call.answers[-1])
        if not logged:
            ledger.apologies_unlogged += 1
            ledger.problems.append(f"call {call.sid}: the caller heard the apology at request {seq}; the call log "
                                   "does not say so")
        if stored and not logged:
            ledger.lies += 1
            ledger.problems.append(f"call {call.sid}: cancelled as {stored} but the caller heard the apology at "
                                   f"request {seq}, and the call log does not say so")
    elif stored:
        ledger.lies += 1
        ledger.problems.append(f"call {call.sid} ({call.outcome}): cancelled as {stored}, never confirmed")
    # every answer heard that was not an apology is in the call log, exactly as heard
    turns = {t.seq: t.twiml for t in store.turns(call.sid)}
    for seq, xml in enumerate(call.answers):
        if classify(xml, SCRIPT[seq][1]) == "ok" and turns.get(seq) != xml:
            ledger.problems.append(f"call {call.sid}: request {seq} was answered {xml[:120]!r}; the call log has "
                                   f"{(turns.get(seq) or 'nothing')[:120]!r}")
