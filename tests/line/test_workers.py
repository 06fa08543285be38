"""Several workers on one call store, restarts mid-call, and Twilio's retries racing each other, on SQLite and
PostgreSQL: in process (app instances on one database, like gunicorn's workers) and under a real gunicorn with
two worker processes. Whatever serves a turn, a call keeps its state, logs every turn once and in order, and is
cancelled exactly once, with the confirmation number it was told."""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import TypeVar

import httpx
import psycopg
import pytest
from flask import Flask
from gunicorn.config import KNOWN_SETTINGS

from ivr.flow import engine
from ivr.line.app import create_app
from ivr.line.settings import Settings
from ivr.line.store import Store
from ivr.line.webhook import EffectCall, EffectHandler, request_effect
from tests.conftest import ACME, ROOT, TOKEN, Call, Twilio, make_app, need_postgres, sign

T = TypeVar("T")
StoreUrl = tuple[str, str | None]
Fields = dict[str, str]


def say(text: str) -> Fields:
    return {"SpeechResult": text, "Confidence": "0.93"}


def press(keys: str) -> Fields:
    return {"Digits": keys}


#: what the caller answers to each <Gather>, by the outcome the call must reach
SCRIPTS: dict[str, list[Fields]] = {
    "cancelled": [say("billing please"), say("yes"), press("9"), press("12345678"), say("cancel"), say("yes")],
    "kept": [say("cancel"), press("12345678"), say("accept")],
    "resolved": [say("billing"), say("no")],
}
#: the turn a worker is in when it must be stopped: the call has started cancelling, nothing is recorded yet
HALF = 3


def incoming_form(sid: str, caller: str = "+15551230000") -> Fields:
    return {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": caller, "To": "+18005550199",
            "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01"}


def new_sid() -> str:
    return "CA" + uuid.uuid4().hex


def store_of(app: Flask) -> Store:
    return app.extensions["ivr"].store  # type: ignore[no-any-return]


def worker(store_url: StoreUrl, effects: Mapping[str, EffectHandler] | None = None) -> Flask:
    """One more app instance on the same database, as each gunicorn worker builds its own."""
    url, schema = store_url
    return create_app([ACME], Settings(database_url=url, auth_token=TOKEN), effects=effects,
                      store=Store(url, schema=schema))


def action_of(xml: str) -> str:
    found = re.search(r'<(?:Gather|Dial) action="([^"]+)"', xml)
    assert found, f"nothing to answer in {xml}"
    return unescape(found.group(1))


def spoken_confirmation(xml: str) -> str:
    found = re.search(r"Your confirmation number is ((?:\d )*\d)\.", xml)
    assert found, f"no confirmation number in {xml}"
    return found.group(1).replace(" ", "")


def check_call(store: Store, sid: str, script: str, last_xml: str) -> None:
    """The call reached `script`'s outcome with every turn logged once, in order; a cancelling call has one
    cancellation record, whose number is the one it was told; the discount was requested once."""
    call = store.get_call(sid)
    assert call is not None
    assert (call.outcome, call.ended) == (script, True)
    assert [t.seq for t in store.turns(sid)] == list(range(len(SCRIPTS[script]) + 1))
    records = store.cancellations(call_sid=sid)
    if script == "cancelled":
        assert [r.confirmation for r in records] == [spoken_confirmation(last_xml)]
    else:
        assert records == []
    discount = [("offer_accepted", "apply_discount", {"account": "12345678"})]
    assert store.effects(sid) == (discount if script == "kept" else [])


def race(senders: list[Callable[[], T]]) -> list[T]:
    """Run every sender at once, each in a thread of its own (with a client of its own, for Flask's)."""
    barrier = threading.Barrier(len(senders))

    def run(send: Callable[[], T]) -> T:
        barrier.wait(timeout=10)
        return send()

    with ThreadPoolExecutor(len(senders)) as pool:
        return list(pool.map(run, senders))


@pytest.fixture
def workers(store_url: StoreUrl) -> Iterator[tuple[Flask, Flask]]:
    """Two independent app instances (stores, engines, connection pools) on one database."""
    url, schema = store_url
    a, b = make_app(url, schema), make_app(url, schema)
    yield a, b
    store_of(a).close()
    store_of(b).close()


# -- workers taking turns ----------------------------------------------------------------------------------


def test_two_workers_taking_turns_serve_a_call_as_one_worker_would(workers: tuple[Flask, Flask]) -> None:
    a, b = workers
    twilios = [Twilio(a.test_client()), Twilio(b.test_client())]
    alone = twilios[0].call()
    for fields in SCRIPTS["cancelled"]:
        alone.answer(**fields)
    shared = twilios[0].call()
    for turn, fields in enumerate(SCRIPTS["cancelled"], start=1):
        shared.twilio = twilios[turn % 2]  # turn 1 on B, turn 2 on A, ...
        shared.answer(**fields)

    store = store_of(a)
    for call in (alone, shared):
        check_call(store, call.sid, "cancelled", call.xml)

    def seen(call: Call) -> list[tuple[object, ...]]:
        number = " ".join(spoken_confirmation(call.xml))
        return [(t.seq, t.kind, t.node, t.prompt, t.heard, t.digits, t.intent, t.next_node,
                 t.said.replace(number, "#"), t.twiml.replace(number, "#")) for t in store.turns(call.sid)]

    assert seen(shared) == seen(alone)
    assert [r.get_data(as_text=True) for r in shared.responses] == [t.twiml for t in store.turns(shared.sid)]
    assert [t.next_node for t in store.turns(shared.sid)] == [
        "main_menu", "anything_else", "main_menu", "ask_account", "retention_offer", "confirm_cancel",
        "cancelled_goodbye"]
    assert len(store_of(b).cancellations()) == 2


def test_many_calls_interleaved_across_two_workers_keep_their_own_state(workers: tuple[Flask, Flask]) -> None:
    twilios = [Twilio(app.test_client()) for app in workers]
    scripts = [name for name in SCRIPTS for _ in range(3)]
    calls = [twilios[i % 2].call(caller=f"+1555000{i:04d}") for i in range(len(scripts))]
    for turn in range(max(len(s) for s in SCRIPTS.values())):
        for i, (call, script) in enumerate(zip(calls, scripts, strict=True)):
            if turn < len(SCRIPTS[script]):
                call.twilio = twilios[(i + turn + 1) % 2]
                call.answer(**SCRIPTS[script][turn])

    store = store_of(workers[1])
    for call, script in zip(calls, scripts, strict=True):
        check_call(store, call.sid, script, call.xml)
    assert {c.caller for c in store.cancellations()} == {f"+1555000{i:04d}" for i in range(3)}


def test_calls_in_parallel_each_alternating_between_two_workers(workers: tuple[Flask, Flask]) -> None:
    scripts = [name for name in SCRIPTS for _ in range(3)]
    barrier = threading.Barrier(len(scripts))

    def drive(i: int) -> Call:
        twilios = [Twilio(app.test_client()) for app in workers]  # this thread's own clients
        barrier.wait(timeout=10)
        call = twilios[i % 2].call()
        for turn, fields in enumerate(SCRIPTS[scripts[i]], start=1):
            call.twilio = twilios[(i + turn) % 2]
            call.answer(**fields)
        return call

    with ThreadPoolExecutor(len(scripts)) as pool:
        calls = list(pool.map(drive, range(len(scripts))))
    store = store_of(workers[0])
    for call, script in zip(calls, scripts, strict=True):
        check_call(store, call.sid, script, call.xml)
    assert len(store.cancellations()) == scripts.count("cancelled")


# -- a restart in the middle of a call ---------------------------------------------------------------------


def test_a_worker_restarted_mid_call_carries_on_where_the_old_one_stopped(store_url: StoreUrl) -> None:
    url, schema = store_url
    before = make_app(url, schema)
    call = Twilio(before.test_client()).call()
    script = SCRIPTS["cancelled"]
    for fields in script[:HALF]:
        action = call.action
        call.answer(**fields)
    last = (action, {"CallSid": call.sid, **script[HALF - 1]}, call.xml)
    store_of(before).close()

    after = make_app(url, schema)
    try:
        call.twilio = Twilio(after.test_client())
        retried = call.twilio.post(last[0], last[1])  # Twilio retries the request the old worker answered
        assert retried.get_data(as_text=True) == last[2]
        for fields in script[HALF:]:
            call.answer(**fields)
        check_call(store_of(after), call.sid, "cancelled", call.xml)
        assert len(store_of(after).cancellations()) == 1
    finally:
        store_of(after).close()


# -- Twilio's retries racing each other ------------------------------------------------------------------


@pytest.mark.parametrize(("script", "said"), [
    ("cancelled", "Your service has been cancelled."),
    ("kept", "the discount is applied to your next bill"),
])
def test_a_final_answer_retried_at_once_on_two_workers_runs_its_effect_once(store_url: StoreUrl, script: str,
                                                                            said: str) -> None:
    runs: list[int] = []

    def apply_discount(ctx: EffectCall) -> engine.EffectResult:
        runs.append(ctx.seq)  # list.append is atomic: no lock needed to count the runs
        return request_effect(ctx)

    apps = [worker(store_url, {"apply_discount": apply_discount}) for _ in range(2)]
    try:
        call = Twilio(apps[0].test_client()).call()
        for fields in SCRIPTS[script][:-1]:
            call.answer(**fields)
        action, form = call.action, {"CallSid": call.sid, **SCRIPTS[script][-1]}
        twilios = [Twilio(apps[i % 2].test_client()) for i in range(8)]
        responses = race([lambda t=t: t.post(action, form) for t in twilios])

        assert [r.status_code for r in responses] == [200] * 8
        [answer] = {r.get_data(as_text=True) for r in responses}
        assert said in answer
        store = store_of(apps[1])
        check_call(store, call.sid, script, answer)
        assert runs == ([len(SCRIPTS[script])] if script == "kept" else [])
        assert len(store.cancellations()) == (script == "cancelled")
    finally:
        for app in apps:
            store_of(app).close()


def test_an_incoming_call_retried_at_once_on_two_workers_starts_one_call(workers: tuple[Flask, Flask]) -> None:
    sid = new_sid()
    twilios = [Twilio(workers[i % 2].test_client()) for i in range(8)]
    responses = race([lambda t=t: t.post("/voice/acme", incoming_form(sid)) for t in twilios])

    assert [r.status_code for r in responses] == [200] * 8
    [answer] = {r.get_data(as_text=True) for r in responses}
    assert 'action="/voice/acme/gather?seq=1"' in answer
    store = store_of(workers[0])
    assert [c.call_sid for c in store.calls()] == [sid]
    assert [t.seq for t in store.turns(sid)] == [0]
    call = Call(twilios[1], sid, [responses[0]])  # and the call goes on as usual
    for fields in SCRIPTS["cancelled"]:
        call.answer(**fields)
    check_call(store, sid, "cancelled", call.xml)


# -- a real gunicorn with two worker processes -------------------------------------------------------------

#: a gunicorn config whose two workers open the store at the same moment and, when both find the database
#: empty, wait for each other just before creating the first table; the one that creates it then takes a
#: moment (as on a slow disk) before going on. The boot race, made certain instead of likely.
BOOT_TOGETHER = """
import glob, os, time


def post_fork(server, worker):
    import sqlalchemy as sa

    gate, first = os.environ["IVR_TEST_GATE"], [True]

    def meet(name, timeout):
        open(os.path.join(gate, "%s-%d" % (name, os.getpid())), "w").close()
        deadline = time.monotonic() + timeout
        while len(glob.glob(os.path.join(gate, name + "-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)

    def hold(conn, cursor, statement, parameters, context, executemany):
        if first[0]:  # this worker's first statement: wait until the other worker is about to start too
            first[0] = False
            meet("start", 10)
        elif statement.lstrip().startswith("CREATE TABLE ivr_calls "):
            meet("create", 2)  # the other worker, if it also found no tables, gets here in milliseconds

    def slow(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().startswith("CREATE TABLE ivr_calls "):
            time.sleep(0.3)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", hold)
    sa.event.listen(sa.engine.Engine, "after_cursor_execute", slow)


def post_worker_init(worker):
    open(os.path.join(os.environ["IVR_TEST_GATE"], "ready-%d" % os.getpid()), "w").close()
"""


#: recent gunicorn opens a control socket in ~/.gunicorn by default; a test server needs none
NO_CONTROL_SOCKET = [s.cli[0] for s in KNOWN_SETTINGS if s.name == "control_socket_disable"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Gunicorn:
    """`gunicorn -w 2 "ivr.line.app:create_app()"`, configured from the environment as in production. A request can
    be sent to one worker of the two by pausing the other (SIGSTOP): it cannot accept the connection."""

    database_url: str
    tmp: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)  # the CallSids of this run's answered requests
    #: no keep-alive: each request on a new connection, which any running worker may accept
    http: httpx.Client = field(default_factory=lambda: httpx.Client(
        timeout=10, limits=httpx.Limits(max_keepalive_connections=0), headers={"Connection": "close"}))

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *options: str, env: Mapping[str, str] | None = None) -> None:
        log = self.tmp / f"gunicorn-{len(self.logs) + 1}.log"
        self.logs.append(log)
        self.answered = []
        environment = {**os.environ, "IVR_FLOWS": "flows/acme.yaml", "TWILIO_AUTH_TOKEN": TOKEN,
                       "IVR_DATABASE_URL": self.database_url, **(env or {})}
        command = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{self.port}",
                   "--graceful-timeout", "5", "--access-logfile", "-",
                   "--access-logformat", "%(p)s %({x-test-call}i)s %(m)s %(U)s %(q)s %(s)s",
                   *NO_CONTROL_SOCKET, *options, "ivr.line.app:create_app()"]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)  # its own process group: master and workers
        self.wait_until(self.healthy, "gunicorn answers /healthz")

    def healthy(self) -> bool:
        # any failure means "not yet" (not only httpx.TransportError: after in-process pytester runs elsewhere
        # in the suite, httpx may let httpcore's own ConnectError through)
        with suppress(Exception):
            return self.http.get(self.base + "/healthz", timeout=1).status_code == 200
        return False

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 15) -> None:
        """Wait until `condition` holds, failing with gunicorn's log if it exits (or time runs out) first."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.02)
        raise AssertionError(f"expected: {what}; but gunicorn exited with code {self.proc.poll()}:\n"
                             f"{self.log()[-3000:]}")

    def workers(self) -> list[int]:
        """The pids of this run's two workers."""
        def booted() -> list[int]:
            return [int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", self.logs[-1].read_text())]

        self.wait_until(lambda: len(booted()) >= 2, "two workers booting")
        assert len(booted()) == 2, f"a worker was replaced:\n{self.log()}"
        return booted()

    def only(self, worker: int | None) -> None:
        """Let only worker number `worker` (0 or 1) take connections; None: both."""
        pids = self.workers()
        for i, pid in enumerate(pids):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT if worker is None or i == worker else signal.SIGSTOP)

    def stop(self, how: signal.Signals = signal.SIGTERM) -> None:
        """SIGTERM: a graceful shutdown; SIGKILL: master and workers die at once, as in a crash (once the
        workers have logged the requests they answered, which they do after answering)."""
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                self.only(None)
                self.wait_until(self.logged, "every answered request in the access log")
                if how == signal.SIGKILL:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                else:
                    self.proc.send_signal(how)
            self.proc.wait(timeout=10)
        finally:
            self.kill()

    def kill(self) -> None:
        """Nothing of this gunicorn may outlive the test."""
        if self.proc is not None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def logged(self) -> bool:
        return self.logs[-1].read_text().count(" POST ") >= len(self.answered)

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs)

    def served(self, sid: str) -> list[list[int]]:
        """For each run of gunicorn, the pids of the workers that served the call's requests, by request number
        (a worker logs a request after answering it, so the log itself may be out of order)."""
        line = re.compile(rf"^<(\d+)> {sid} POST \S+ (?:seq=(\d+))? 200$", re.MULTILINE)
        return [[int(pid) for seq, pid in sorted((int(seq or 0), pid) for pid, seq in line.findall(log.read_text()))]
                for log in self.logs]

    def post(self, sid: str, path: str, fields: Mapping[str, str], *, worker: int | None = None) -> str:
        """Post as Twilio does, signed, on a new connection: to worker number `worker`, or whichever takes it."""
        if worker is not None:
            self.only(worker)
        form = {"CallSid": sid, **fields}
        response = self.http.post(self.base + path, data=form, headers={
            "X-Twilio-Signature": sign(self.base + path, form), "X-Test-Call": sid})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        self.answered.append(sid)  # atomic: the requests of a race count themselves
        return response.text


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database at a URL, as `IVR_DATABASE_URL` names it: a SQLite file, or a PostgreSQL database of
    its own (gunicorn's workers cannot be given a schema)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'calls.db'}"
        return
    need_postgres()
    name = f"ivr_workers_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://127.0.0.1:5432/{name}"
    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Gunicorn]:
    server = Gunicorn(database_url, tmp_path)
    try:
        yield server
    finally:
        server.kill()
        server.http.close()


def http_call(server: Gunicorn, script: str, turns: int | None = None) -> tuple[str, list[str]]:
    """A call over HTTP through its first `turns` answers (all by default), each request on the other worker
    than the one before: its CallSid and the answers it got."""
    sid = new_sid()
    answers = [server.post(sid, "/voice/acme", incoming_form(sid), worker=0)]
    go_on(server, sid, answers, SCRIPTS[script][:turns])
    return sid, answers


def go_on(server: Gunicorn, sid: str, answers: list[str], steps: list[Fields]) -> None:
    for fields in steps:
        answers.append(server.post(sid, action_of(answers[-1]), fields, worker=len(answers) % 2))


def alternate(pids: list[int]) -> bool:
    return len(set(pids)) == 2 and all(p != q for p, q in itertools.pairwise(pids))


@pytest.mark.slow
def test_gunicorn_workers_serve_calls_and_survive_restarts_mid_call(server: Gunicorn) -> None:
    Store(server.database_url).close()  # tables first: the calls must not hang on the boot race (the next test)
    server.start()
    finished = {script: http_call(server, script) for script in SCRIPTS}
    raced, answers = http_call(server, "cancelled", len(SCRIPTS["cancelled"]) - 1)
    server.only(None)
    last = (action_of(answers[-1]), SCRIPTS["cancelled"][-1])
    retries = race([lambda: server.post(raced, *last) for _ in range(6)])  # to whichever worker takes them
    assert len(set(retries)) == 1
    finished["raced"] = raced, [*answers, retries[0]]

    mid, answers = http_call(server, "cancelled", HALF)
    server.stop(signal.SIGTERM)
    server.start()
    retry = server.post(mid, action_of(answers[-2]), SCRIPTS["cancelled"][HALF - 1], worker=1)
    assert retry == answers[-1]  # the new server answers a retry of the old one's last request as it did
    go_on(server, mid, answers, SCRIPTS["cancelled"][HALF:HALF + 1])
    server.stop(signal.SIGKILL)
    server.start()
    go_on(server, mid, answers, SCRIPTS["cancelled"][HALF + 1:])
    finished["restarted"] = mid, answers
    server.stop()

    store = Store(server.database_url)
    try:
        for script, (sid, answers) in finished.items():
            check_call(store, sid, script if script in SCRIPTS else "cancelled", answers[-1])
        assert len(store.cancellations()) == 3
    finally:
        store.close()
    assert "Traceback" not in server.log()
    # gunicorn retries a bind when another process took the free port first ("Connection in use"): not an error
    # of the line's; any other ERROR line is
    errors = [line for line in server.log().splitlines() if "[ERROR]" in line and not
              re.search(r"Connection in use|connection to .* failed: \[Errno 98\]", line)]
    assert not errors, errors
    # the turns of each call really were served by the two worker processes in turn
    for script in SCRIPTS:
        [pids, [], []] = server.served(finished[script][0])
        assert alternate(pids), pids
    assert alternate(server.served(raced)[0][:len(SCRIPTS["cancelled"])])
    first, second, third = server.served(mid)
    assert all(map(alternate, (first, second, third))), (first, second, third)
    assert (len(first), len(second), len(third)) == (HALF + 1, 2, len(SCRIPTS["cancelled"]) - HALF - 1)


@pytest.mark.slow
def test_gunicorn_two_workers_booting_on_an_empty_database_both_start(server: Gunicorn, tmp_path: Path) -> None:
    config, gate = tmp_path / "boot_together.py", tmp_path / "gate"
    config.write_text(BOOT_TOGETHER)
    gate.mkdir()
    server.start("-c", str(config), env={"IVR_TEST_GATE": str(gate)})
    server.wait_until(lambda: len(list(gate.glob("ready-*"))) == 2, "both workers booted")
    sid, answers = http_call(server, "cancelled")
    assert server.proc is not None
    assert server.proc.poll() is None
    assert "Exception in worker process" not in server.log()
    store = Store(server.database_url)
    try:
        check_call(store, sid, "cancelled", answers[-1])
    finally:
        store.close()


# -- a store that cannot be opened: one line, not a traceback from every worker ----------------------------

DOWN = [
    ("postgresql://ivr@127.0.0.1:1/ivr", "cannot open the call store at 'postgresql://ivr@127.0.0.1:1/ivr': "
                                         "connection refused"),
    ("postgresql://ivr:secret@nohost.invalid/ivr", "cannot open the call store at "
                                                   "'postgresql://ivr:***@nohost.invalid/ivr': unknown host "
                                                   "'nohost.invalid'"),
]


RETENTION_LOOP = ROOT / "tests" / "flows" / "retention-loop-2014.yaml"


def gunicorn_env(**settings: str) -> dict[str, str]:
    return {**os.environ, "IVR_FLOWS": "flows/acme.yaml", "TWILIO_AUTH_TOKEN": TOKEN, **settings}


@pytest.mark.slow
@pytest.mark.parametrize(("url", "message"), DOWN, ids=["refused", "unknown-host"])
def test_gunicorn_with_a_store_that_is_down_boots_and_apologises_until_it_is_back(url: str, message: str,
                                                                                   tmp_path: Path) -> None:
    """The line stays up: the worker boots, says in one line what is wrong, reports `degraded`, and callers hear
    the apology and a transfer (the fault suite brings a real database back: tests/faults/)."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", *NO_CONTROL_SOCKET,
                               "ivr.line.app:create_app()"], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                              env=gunicorn_env(IVR_DATABASE_URL=url, IVR_SPOOL_DIR=str(tmp_path / "spool")))
    try:
        health = None
        for _ in range(300):
            with suppress(httpx.TransportError):
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()
                break
            time.sleep(0.1)
        assert health is not None
        assert (health["status"], health["store"]) == ("degraded", message)
        form = {"CallSid": new_sid(), "From": "+15550001111"}
        answer = httpx.post(f"http://127.0.0.1:{port}/voice/acme", data=form, timeout=30, headers={
            "X-Twilio-Signature": sign(f"http://127.0.0.1:{port}/voice/acme", form)})
        assert "Sorry, something went wrong on our side." in answer.text
        assert "<Dial" in answer.text
    finally:
        server.terminate()
        stderr = server.communicate(timeout=30)[1]
    printed = [line for line in stderr.splitlines() if not line.startswith("[")]
    assert printed[0] == f"ivr: {message}; answering calls with an apology and a transfer until it is back", stderr
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_gunicorn_refuses_to_serve_a_flow_the_checker_rejects_in_one_line() -> None:
    run = subprocess.run([sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{free_port()}",
                          *NO_CONTROL_SOCKET, "ivr.line.app:create_app()"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env=gunicorn_env(IVR_FLOWS=str(RETENTION_LOOP),
                                                                 IVR_DATABASE_URL="sqlite://"))
    assert run.returncode == 3, run.stderr  # gunicorn's "worker failed to boot": the master stops
    # gunicorn's own lines start with a timestamp; what each worker printed is the rest
    printed = [line for line in run.stderr.splitlines() if not line.startswith("[")]
    assert len(printed) == 1, run.stderr
    assert re.fullmatch(r"ivr: .*retention-loop-2014\.yaml:\d+: refusing to serve flow '[^']+': `ivr check` "
                        r"rejects it: [a-z-]+: .*; fix the flow, or set IVR_SERVE_FAILING_FLOWS=1 to serve it anyway "
                        r"during development", printed[0]), printed[0]
    assert "Reason: Worker failed to boot." in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(("url", "message"), DOWN, ids=["refused", "unknown-host"])
def test_create_app_on_a_store_that_is_down_starts_degraded(url: str, message: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    app = create_app([ACME], Settings(auth_token=TOKEN, database_url=url))
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        f"ivr: {message}; answering calls with an apology and a transfer until it is back"]
    health = app.test_client().get("/healthz")
    assert (health.status_code, health.json["status"], health.json["store"]) == (  # type: ignore[index]
        200, "degraded", message)
    app.extensions["ivr"].store.close()


def test_create_app_from_the_environment_logs_one_line_and_exits_as_a_failed_boot(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    for name, value in {"IVR_FLOWS": str(RETENTION_LOOP), "TWILIO_AUTH_TOKEN": TOKEN,
                        "IVR_DATABASE_URL": "sqlite://"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        create_app()
    assert exited.value.code == 3
    [(level, message)] = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert (level, "refusing to serve flow" in message) == ("CRITICAL", True)
    monkeypatch.setenv("IVR_SERVE_FAILING_FLOWS", "1")  # development: served, loudly
    create_app().extensions["ivr"].store.close()
