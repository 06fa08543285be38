"""The webhook app under load: our app and a bare Flask app, each under gunicorn on loopback, driven by the same
client with 100 concurrent simulated calls of about 6 turns each.

    python bench/webhook_load.py                                    # SQLite in a temporary directory (~80 s)
    python bench/webhook_load.py --database postgresql://127.0.0.1/ivr_bench    # e.g. a fresh PostgreSQL database
    python bench/webhook_load.py --workers 2 --worker-class sync --think 1 5 --client httpx

Ours is `gunicorn "ivr.line.app:create_app()"` serving flows/acme.yaml, configured from IVR_* variables, signatures
checked; the baseline is `bench/bare_app.py` (one endpoint, constant TwiML) under the same gunicorn settings. A
turn here is one webhook round trip: the call coming in, each answer to a `<Gather>`, the `<Dial>` result. Every
request is signed as Twilio signs it, and each call follows the action URL of the TwiML it was given.

Phases, each split into rounds that alternate which app goes first (other work on the machine then hurts both):
  throughput   no think time: each caller places calls back to back; turns/s counts the turns answered within
               the phase (calls in progress then finish). 100 closed-loop callers on a small machine make the
               latency here mostly queueing: it is printed, not judged.
  think N s    callers pause 0.5x-1.5x N s before each answer, as people do, and hang up when the phase ends:
               p50/p99 at that load, one phase per `--think` value.

Callers, by call number: 7 in 10 cancel (billing, yes, cancel, account digits, cancel at the retention offer,
yes), 2 in 10 reach a technician (<Dial>, then the dial result), 1 in 10 accept the retention offer. Our answers
must say what the flow says at each step (an apology with status 200 is an error). After the run, the
cancellation records are counted in the database: none lost, none duplicated, none for a call that did not
cancel, and the confirmation number each caller heard is the one stored for its CallSid.

Targets: turns/s ours/bare >= 0.5, p99 < 50 ms, zero errors, zero lost or duplicated cancellation records.
Exit status 1 only for errors or wrong records: it is a benchmark, so missed speed targets print FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import unescape
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from twilio.request_validator import RequestValidator

from ivr.line.store import normalise_url

ROOT = Path(__file__).resolve().parent.parent
FLOW = "flows/acme.yaml"
TARGET_RATIO, TARGET_P99_MS = 0.5, 50.0
ACTION = re.compile(r'<(?:Gather|Dial)\b[^>]*?\baction="([^"]+)"')
CONFIRMATION = re.compile(r"Your confirmation number is ([0-9 ]+)\.")
#: what an app says when it cannot carry on: a 200 with an apology is still an error here
APOLOGY = ("Sorry, something went wrong", "could not be found", "nobody is available")
#: for the client, the `Step` of a script: the form fields posted (None: the call comes in) and, for ours,
#: something the answer must contain
Step = tuple[dict[str, str] | None, str]


def speech(text: str) -> dict[str, str]:
    return {"SpeechResult": text, "Confidence": "0.92"}


def keys(digits: str) -> dict[str, str]:
    return {"Digits": digits}


def scripts(turns: int) -> dict[str, list[Step]]:
    """The three kinds of caller; `turns` answered turns for a canceller, by detours through billing."""
    detour: list[Step] = [(speech("billing"), "anything else I can help you with"),
                          (keys("1"), "For billing, say billing or press 1")] * max(0, round((turns - 4) / 2))
    start: list[Step] = [(None, "To cancel your service, say cancel or press 9"), *detour]
    return {
        "cancel": [*start, (speech("I want to cancel"), "eight digit account number"),
                   (keys("12345678"), "fifty percent off"), (speech("cancel"), "account 1 2 3 4 5 6 7 8"),
                   (speech("yes"), "Your confirmation number is")],
        "agent": [*start, (speech("technical support"), "restart your modem"), (speech("no"), "<Dial"),
                  ({"DialCallStatus": "completed", "DialCallDuration": "42"}, "<Hangup")],
        "keep": [*start, (speech("cancel my service"), "eight digit account number"),
                 (keys("12345678"), "fifty percent off"), (speech("accept the offer"), "discount is applied")],
    }


def kind_of(n: int) -> str:
    return "cancel" if n % 10 < 7 else "agent" if n % 10 < 9 else "keep"


# -- the servers --------------------------------------------------------------------------------------------

@dataclass
class Server:
    name: str
    app: str
    env: dict[str, str]
    extra: list[str]
    ready: str
    log: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, gunicorn: list[str], workers: int) -> None:
        self.port = free_port()
        command = [*gunicorn, "--bind", f"127.0.0.1:{self.port}", *self.extra, self.app]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)  # its own process group, killed as one
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited with {self.proc.returncode}:\n{self.tail()}")
            if self.log.read_text(errors="replace").count("Booting worker") >= workers:
                try:
                    if httpx.get(self.base + self.ready, timeout=5).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: gunicorn did not answer {self.ready} within 60 s:\n{self.tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def problems(self) -> list[str]:
        """Log lines other than gunicorn's own [INFO]: the app's warnings and errors (its loggers have no
        handler under gunicorn, so they reach stderr without a level), tracebacks, worker timeouts."""
        return [f"{self.name} log: {line}" for line in self.log.read_text(errors="replace").splitlines()
                if line.strip() and "[INFO]" not in line]

    def cpu_seconds(self) -> float:
        """CPU time used so far by gunicorn's master and its workers."""
        assert self.proc is not None
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:  # the process has gone
                continue
            pid, fields = int(text.split(" ", 1)[0]), text.rsplit(") ", 1)[1].split()
            if pid == self.proc.pid or int(fields[1]) == self.proc.pid:  # gunicorn's master or one of its workers
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")


def no_control_socket() -> list[str]:
    """gunicorn 24+ opens a control socket at one fixed path per user: two servers (or anyone else's) would
    fight over it, so turn it off where it exists."""
    from gunicorn.config import KNOWN_SETTINGS

    return ["--no-control-socket"] if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS) else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies over all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


# -- the client ---------------------------------------------------------------------------------------------

@dataclass
class Run:
    """What one phase against one app measured."""

    app: str
    phase: str
    latencies: list[float] = field(default_factory=list)
    in_window: int = 0
    window: float = 0.0
    calls: int = 0
    errors: list[str] = field(default_factory=list)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    busy_cpu: float = 0.0  # CPU seconds of the whole machine
    wall: float = 0.0

    @property
    def turns(self) -> int:
        return len(self.latencies)

    def pct(self, p: float) -> float:
        """The p-th percentile latency in milliseconds (nearest rank)."""
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000 if ordered else math.nan

    @property
    def busy(self) -> float:
        """The fraction of all cores that was busy."""
        return self.busy_cpu / (self.wall * (os.cpu_count() or 1)) if self.wall else 0.0

    @property
    def other(self) -> float:
        """Cores busy outside gunicorn and this client: a database server, or other work on the machine."""
        return max(0.0, self.busy_cpu - self.server_cpu - self.client_cpu) / self.wall if self.wall else 0.0

    @property
    def rate(self) -> float:
        return self.in_window / self.window if self.window else 0.0


@dataclass
class Ledger:
    """Our cancellers, for the count in the database afterwards."""

    confirmed: dict[str, str] = field(default_factory=dict)  # CallSid -> the number the caller heard
    attempted: set[str] = field(default_factory=set)  # cancellers who said the final "yes"


class ClientError(Exception):
    """The raw client could not read an answer."""


class StaleConnection(Exception):
    """A kept-alive connection the server had closed: the request goes out again on a new one."""


class Raw:
    """A minimal HTTP/1.1 client on asyncio streams, reusing connections the server keeps open: about 0.15 ms of
    CPU a request. httpx.AsyncClient costs 2.5-4 ms here, so on a 2-core machine the client, not the app, would
    set the pace (bare measured slower than ours) and the ratio would mean nothing."""

    name = "raw asyncio HTTP/1.1"

    def __init__(self) -> None:
        self.idle: dict[int, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}

    async def post(self, url: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str, str]:
        parsed = urlsplit(url)
        port, body = parsed.port or 80, urlencode(form).encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        request = (f"POST {path} HTTP/1.1\r\nHost: {parsed.netloc}\r\nContent-Type: application/"
                   f"x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n{head}\r\n").encode() + body
        pool = self.idle.setdefault(port, [])
        while pool:  # a kept-alive connection, unless the server closed it while it sat idle
            reader, writer = pool.pop()
            if not reader.at_eof():
                try:
                    return await self.exchange(reader, writer, request, pool)
                except StaleConnection:
                    continue
            writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return await self.exchange(reader, writer, request, pool, fresh=True)

    async def exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes,
                       pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]], fresh: bool = False,
                       ) -> tuple[int, str, str]:
        try:
            writer.write(request)
            raw = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            writer.close()
            if not fresh and not getattr(exc, "partial", b""):  # closed by the server before we asked: not an error
                raise StaleConnection from exc
            raise ClientError(f"{type(exc).__name__}: {exc}") from exc
        try:
            fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in raw[1:] if h)}
            if "content-length" in fields:
                text = (await reader.readexactly(int(fields["content-length"]))).decode()
            elif "chunked" in fields.get("transfer-encoding", ""):
                raise ClientError("chunked responses are not supported by this client")
            else:
                text, fields["connection"] = (await reader.read()).decode(), "close"
        except (OSError, asyncio.IncompleteReadError) as exc:
            writer.close()
            raise ClientError(f"{type(exc).__name__}: {exc}") from exc
        if fields.get("connection", "").lower() == "close" or raw[0].startswith("HTTP/1.0"):
            writer.close()
        else:
            pool.append((reader, writer))
        return int(raw[0].split()[1]), fields.get("content-type", ""), text

    async def aclose(self) -> None:
        for pool in self.idle.values():
            for _, writer in pool:
                writer.close()


class Httpx:
    """httpx.AsyncClient, for comparison (`--client httpx`)."""

    name = "httpx.AsyncClient"

    def __init__(self, limit: int) -> None:
        limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
        self.http = httpx.AsyncClient(limits=limits, timeout=60)

    async def post(self, url: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str, str]:
        response = await self.http.post(url, data=form, headers=headers)
        return response.status_code, response.headers.get("content-type", ""), response.text

    async def aclose(self) -> None:
        await self.http.aclose()


Transport = Raw | Httpx


class Client:
    """Places scripted calls against one app, as Twilio would: signed form posts that follow the TwiML."""

    def __init__(self, http: Transport, server: Server, token: str, prefix: str, check: bool,
                 plans: dict[str, list[Step]], ledger: Ledger) -> None:
        self.http, self.server, self.prefix, self.check, self.plans = http, server, prefix, check, plans
        self.validator, self.ledger, self.numbered = RequestValidator(token), ledger, 0

    async def call(self, run: Run, think: float, end: float, hang_up: bool) -> None:
        """One call of the next caller's script; with `hang_up`, the caller hangs up when the phase ends."""
        self.numbered += 1
        kind, sid = kind_of(self.numbered), f"{self.prefix}{self.numbered:08d}"
        start = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": f"+1555{self.numbered % 10_000_000:07d}",
                 "To": "+18005550199", "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01"}
        xml: str | None = ""
        plan = self.plans[kind]
        run.calls += 1
        for i, (fields, expect) in enumerate(plan):
            path = "/voice/acme"
            if i:
                assert xml is not None
                found = ACTION.search(xml)
                if found is None:
                    run.errors.append(f"{kind} call, turn {i}: nothing to answer in {xml[:160]!r}")
                    return
                path = unescape(found.group(1))
                if think:
                    await asyncio.sleep(random.uniform(0.5, 1.5) * think)
                if hang_up and time.perf_counter() >= end:
                    return
            form = start if fields is None else {"CallSid": sid, "AccountSid": start["AccountSid"], **fields}
            if kind == "cancel" and i == len(plan) - 1:
                self.ledger.attempted.add(sid)
            xml = await self.turn(run, f"{kind} call, turn {i}", path, form, expect, end)
            if xml is None:
                return
        spoken = CONFIRMATION.search(xml or "")
        if self.check and kind == "cancel" and spoken:
            self.ledger.confirmed[sid] = spoken.group(1).replace(" ", "")

    async def turn(self, run: Run, what: str, path: str, form: dict[str, str], expect: str,
                   end: float) -> str | None:
        """Post one signed request and time it; its TwiML, or None (and an error counted)."""
        url = self.server.base + path
        headers = {"X-Twilio-Signature": self.validator.compute_signature(url, form)}
        t0 = time.perf_counter()
        try:
            status, mimetype, xml = await self.http.post(url, form, headers)
        except (ClientError, httpx.HTTPError, OSError) as exc:
            run.errors.append(f"{what}: {type(exc).__name__}: {exc}")
            return None
        t1 = time.perf_counter()
        run.latencies.append(t1 - t0)
        run.in_window += t1 <= end
        if status != 200 or not mimetype.startswith("application/xml"):
            run.errors.append(f"{what}: HTTP {status} {mimetype} {xml[:160]!r}")
            return None
        if self.check and (expect not in xml or any(a in xml for a in APOLOGY)):
            run.errors.append(f"{what}: expected {expect!r}, got {xml[:300]!r}")
            return None
        return xml


async def drive(client: Client, run: Run, calls: int, seconds: float, think: float, *, hang_up: bool) -> None:
    """`calls` callers, each placing calls back to back (at least one) until `seconds` have passed. Then each
    caller hangs up (`hang_up`) or finishes its call; turns/s counts only the turns answered in time."""
    end = time.perf_counter() + seconds

    async def caller() -> None:
        if think:  # spread the first calls over one pause, as calls arrive
            await asyncio.sleep(random.uniform(0, think))
        while True:
            await client.call(run, think, end, hang_up)
            if time.perf_counter() >= end:
                break

    await asyncio.gather(*(caller() for _ in range(calls)))
    run.window += seconds


@contextmanager
def measured(run: Run, server: Server) -> Iterator[None]:
    s0, c0, m0, t0 = server.cpu_seconds(), time.process_time(), machine_cpu(), time.perf_counter()
    yield
    run.server_cpu += server.cpu_seconds() - s0
    run.client_cpu += time.process_time() - c0
    m1, wall = machine_cpu(), time.perf_counter() - t0
    run.busy_cpu += (m1[0] - m0[0]) / max(1, m1[1] - m0[1]) * wall * (os.cpu_count() or 1)
    run.wall += wall


# -- the database -------------------------------------------------------------------------------------------

def count_records(url: str, prefix: str, ledger: Ledger) -> tuple[dict[str, int], list[str]]:
    """The cancellation records of this run's calls, counted against what the callers were told."""
    engine = sa.create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT call_sid, confirmation FROM ivr_cancellations "
                                        "WHERE call_sid LIKE :p"), {"p": prefix + "%"}).all()
    finally:
        engine.dispose()
    stored: dict[str, list[str]] = {}
    for sid, number in rows:
        stored.setdefault(sid, []).append(str(number))
    expected = set(ledger.confirmed)
    wrong = [f"{sid}: heard {heard}, stored {stored.get(sid)}" for sid, heard in ledger.confirmed.items()
             if sid in stored and stored[sid] != [heard]]
    counts = {"expected": len(expected), "records": len(rows), "calls": len(stored),
              "lost": len(expected - set(stored)), "duplicated": len(rows) - len(stored),
              "unexpected": len(set(stored) - ledger.attempted), "mismatched": len(wrong)}
    return counts, wrong


# -- the run ------------------------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100, help="concurrent calls (default 100)")
    parser.add_argument("--turns", type=int, default=6, help="answered turns per cancelling call (default 6)")
    # one process per core, one thread each (gthread, so that connections are kept alive as a proxy or Twilio
    # would; sync workers close every connection, which costs both apps a TCP handshake per turn). Turns no
    # longer wait on an fsync (only cancellations do), so more processes or threads than cores only add
    # contention: measured here, 5 x 2 gave ours 419 turns/s and 2 x 1 gave 697, bare the same either way
    parser.add_argument("--workers", type=int, default=cores,
                        help="gunicorn workers, for both apps (default: one per core)")
    parser.add_argument("--worker-class", default="gthread", help="gunicorn worker class (default gthread)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (default 1; gthread only)")
    parser.add_argument("--think", type=float, nargs="+", default=[0.5, 2.0],
                        help="mean caller pause before each answer, one latency phase each (default 0.5 2)")
    parser.add_argument("--throughput-seconds", type=float, default=8.0, help="per app (default 8)")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="per app and think time (default 10)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="split each phase into rounds, alternating which app goes first (default 2)")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw",
                        help="the load generator's HTTP client (default raw: see `Raw`)")
    parser.add_argument("--database", help="SQLAlchemy URL of the call store (default: SQLite in a temp dir)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # killed: still stop the servers (finally, below)
    # CallSids in Twilio's format (CA and 32 hex digits): this prefix, a digit per app, the call's 8-digit number
    token, prefix = secrets.token_hex(16), "CA" + secrets.token_hex(12)[:23]
    tmp = Path(tempfile.mkdtemp(prefix="ivr-webhook-load-"))
    url = args.database or f"sqlite:///{tmp / 'calls.db'}"
    gunicorn = [sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--worker-class",
                args.worker_class, "--threads", str(args.threads), "--log-level", "info", "--timeout", "30",
                "--graceful-timeout", "5", *no_control_socket()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")} | {"PYTHONUNBUFFERED": "1"}
    ours = Server("ours", "ivr.line.app:create_app()", env | {"IVR_FLOWS": FLOW, "TWILIO_AUTH_TOKEN": token,
                                                         "IVR_DATABASE_URL": url}, [], "/healthz", tmp / "ours.log")
    bare = Server("bare", "bare_app:create_app()", env, ["--pythonpath", "bench"], "/", tmp / "bare.log")
    try:
        for server in (bare, ours):
            server.start(gunicorn, args.workers)
        return asyncio.run(bench(args, url, token, prefix, bare, ours))
    finally:
        for server in (bare, ours):
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def bench(args: argparse.Namespace, url: str, token: str, prefix: str, bare: Server, ours: Server) -> int:
    plans, ledger = scripts(args.turns), Ledger()
    per_call = sum(len(plans[kind_of(n)]) for n in range(10)) / 10
    http: Transport = Httpx(args.calls) if args.client == "httpx" else Raw()
    print(f"webhook load: {args.calls} concurrent calls, {per_call:.1f} turns a call on average (7/10 cancel, "
          f"2/10 agent, 1/10 keep the offer); {os.cpu_count()} cores")
    print(f"gunicorn {version('gunicorn')}, both apps: {args.workers} workers, worker class {args.worker_class}"
          + (f", {args.threads} threads each" if args.worker_class == "gthread" else "")
          + f"; ours serves {FLOW} on {make_url(url).render_as_string(hide_password=True)}")
    print(f"client: {http.name}, one asyncio process; latency is client-side, per request; {args.rounds} rounds "
          "a phase, alternating which app goes first", flush=True)
    phases = [("throughput", args.throughput_seconds, 0.0)] + [
        (f"think {think:g}s", args.latency_seconds, think) for think in args.think]
    runs = {(phase, s.name): Run(s.name, phase) for phase, _, _ in phases for s in (bare, ours)}
    try:
        clients = {s.name: Client(http, s, token, f"{prefix}{int(s is ours)}", s is ours, plans, ledger)
                   for s in (bare, ours)}
        for server in (bare, ours):  # warm-up: one call each of 20 callers: every worker fills its caches
            await drive(clients[server.name], Run(server.name, "warm-up"), min(args.calls, 20), 0, 0, hang_up=False)
        for phase, seconds, think in phases:
            for r in range(args.rounds):
                for server in (bare, ours) if r % 2 == 0 else (ours, bare):
                    run = runs[phase, server.name]
                    with measured(run, server):
                        await drive(clients[server.name], run, args.calls, seconds / args.rounds, think,
                                    hang_up=bool(think))
    finally:
        await http.aclose()
    counts, wrong = count_records(url, prefix, ledger)
    return report(args, list(runs.values()), counts, wrong, [*bare.problems(), *ours.problems()])


NOTES = """\
calls: calls placed. srv/cli CPU: ms of CPU per turn used by gunicorn's processes / by this client. busy: all
cores. other: cores busy outside both: a database server, the kernel's file system journal, other work.
think N s: callers pause 0.5x-1.5x N s before each answer; throughput: no pause (latency there is queueing)."""


def row(run: Run) -> str:
    per_turn = 1000 / max(1, run.turns)
    return (f"{run.phase:<11} {run.app:<5} {run.calls:>6} {run.turns:>6} {run.rate:>8.0f} {run.pct(50):>7.1f} "
            f"{run.pct(99):>7.1f} {max(run.latencies, default=0) * 1000:>7.0f} {len(run.errors):>6} "
            f"{run.server_cpu * per_turn:>8.2f} {run.client_cpu * per_turn:>8.2f} {run.busy * 100:>5.0f}% "
            f"{run.other:>6.2f}")


def report(args: argparse.Namespace, runs: list[Run], counts: dict[str, int], wrong: list[str],
           problems: list[str]) -> int:
    print(f"\n{'phase':<11} {'app':<5} {'calls':>6} {'turns':>6} {'turns/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'errors':>6} {'srv CPU':>8} {'cli CPU':>8} {'busy':>6} {'other':>6}")
    for run in runs:
        print(row(run))
    print(NOTES)
    noise = max(r.other for r in runs if r.app == "bare")  # bare has no database: its "other" is other work
    if noise > 0.25:
        print(f"NOTE: up to {noise:.2f} cores were busy with other work during bare's phases: on a shared "
              "machine turns/s\nand latency are noisy; srv CPU per turn much less so")
    by = {(r.phase, r.app): r for r in runs}
    ours, bare = by["throughput", "ours"], by["throughput", "bare"]
    ratio = ours.rate / bare.rate if bare.rate else 0.0
    cpu = (bare.server_cpu / max(1, bare.turns)) / (ours.server_cpu / max(1, ours.turns)) if ours.server_cpu else 0
    print(f"\nratio ours/bare: turns/s {ratio:.2f}; server CPU per turn {cpu:.2f} (bare's cost / ours)")
    print(f"cancellations: {counts['expected']} confirmed to callers, {counts['records']} records for "
          f"{counts['calls']} calls; lost {counts['lost']}, duplicated {counts['duplicated']}, unexpected "
          f"{counts['unexpected']}, confirmation number differs {counts['mismatched']}")
    errors = [e for r in runs for e in r.errors]
    for line in [*errors[:5], *wrong[:5], *problems[:5]]:
        print(f"  ! {line}")
    if problems:
        print(f"  ! {len(problems)} lines of warnings or errors in the gunicorn logs")
    records_ok = (counts["expected"] > 0 and counts["lost"] == counts["duplicated"] == counts["unexpected"]
                  == counts["mismatched"] == 0)
    verdicts = [(ratio >= TARGET_RATIO, f"throughput ratio ours/bare {ratio:.2f} >= {TARGET_RATIO}")]
    for think in args.think:
        run = by[f"think {think:g}s", "ours"]
        verdicts.append((run.pct(99) < TARGET_P99_MS, f"p99 of ours, {args.calls} calls pausing {think:g} s "
                         f"({run.rate:.0f} turns/s): {run.pct(99):.1f} ms < {TARGET_P99_MS:g} ms"))
    verdicts += [(not errors, f"errors: {len(errors)} == 0"),
                 (records_ok, f"cancellation records: lost {counts['lost']}, duplicated {counts['duplicated']}, "
                              f"unexpected {counts['unexpected']}, wrong number {counts['mismatched']} (all 0)")]
    for ok, text in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if not errors and records_ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the servers were stopped on the way out
        sys.exit(130)
