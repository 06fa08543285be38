"""The faults, each run the same way: a fresh store, gunicorn with two workers, cancelling calls under load, the
fault injected as the calls reach a given point, then the ledger (harness.verify) and what the fault itself must
show. `run_fault(name, backend, ...)` returns a `Report`: its row of the fault table and its broken promises.

    worker-kill             kill -9 of a worker, several times, under load
    master-kill             kill -9 of gunicorn's master (its workers die with it), then gunicorn started again
    pg-stop-fast            PostgreSQL stopped (-m fast) mid-load, then started again
    pg-stop-immediate       PostgreSQL stopped (-m immediate: a crash) mid-load, then started again
    worker-restart-db-down  PostgreSQL stopped, then a worker killed: its replacement boots without a database
    commit-cut              a proxy drops the app's connection at COMMIT: after the server committed (the app never
                            hears it), or before (nothing committed)
    sqlite-readonly         the SQLite file and directory made read-only (chmod; the workers are bound by file modes),
                            the workers restarted, then the store made writable again
    sqlite-full             the SQLite file's filesystem (a tmpfs) filled up mid-load, then space freed

While the store is down the line must stay up: /healthz answers 200 with "status": "degraded", /readyz 503, and
callers hear the apology and a transfer; once the store is back, every worker serves whole calls again without
gunicorn being restarted (checked one worker at a time, the other paused).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults.harness import (
    CallLog,
    Fault,
    Ledger,
    Load,
    Server,
    http_client,
    incoming_form,
    place_call,
    post,
    transfers,
    verify,
)
from tests.faults.postgres import AFTER, BEFORE, Cluster, CommitCutter

#: no fault at all: the control row of bench/faults.py
CONTROL = "none"
FAULTS = ("worker-kill", "master-kill", "pg-stop-fast", "pg-stop-immediate", "worker-restart-db-down",
          "commit-cut", "sqlite-readonly", "sqlite-full")
#: the backends each fault runs on
BACKENDS: dict[str, tuple[str, ...]] = {
    CONTROL: ("sqlite", "postgresql"),
    "worker-kill": ("sqlite", "postgresql"), "master-kill": ("sqlite", "postgresql"),
    "pg-stop-fast": ("postgresql",), "pg-stop-immediate": ("postgresql",),
    "worker-restart-db-down": ("postgresql",), "commit-cut": ("postgresql",),
    "sqlite-readonly": ("sqlite",), "sqlite-full": ("sqlite",),
}
#: a gunicorn config whose workers, though root, are bound by file modes (for the read-only store)
NO_DAC = Path(__file__).with_name("gunicorn_no_dac.py")


def why_not(fault: str) -> str | None:
    """Why `fault` cannot run on this machine, or None."""
    if fault == "sqlite-full" and os.geteuid() != 0:
        return "sqlite-full needs root, to mount a small tmpfs to fill"
    return None


@dataclass
class Report:
    fault: str
    backend: str
    ledger: Ledger
    ambiguous: dict[str, int] = field(default_factory=dict)
    cuts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    log_tail: str = ""

    def describe(self, limit: int = 20) -> str:
        shown = self.problems[:limit] + ([f"... and {len(self.problems) - limit} more"]
                                         if len(self.problems) > limit else [])
        return (f"{self.fault} on {self.backend}: {len(self.problems)} broken promise(s):\n  "
                + "\n  ".join(shown) + f"\n{table([self])}\n--- gunicorn's log, the end ---\n{self.log_tail}")


COLUMNS = ("fault", "backend", "calls", "heard", "stored", "lost", "dup", "lies", "ambiguous", "cut", "apologies",
           "unlogged", "retries", "broken")


def table(reports: list[Report]) -> str:
    """The fault table. heard: confirmation numbers callers heard; stored: cancellation records; lost: heard but
    not stored; dup: stored twice; lies: stored for a caller who heard the apology, not so logged; ambiguous: the
    app's `ambiguous commit` lines, resolved (committed + not committed) / unknown; cut: COMMITs the proxy cut
    after / before the server had them (cancellations in brackets); apologies: calls that ended with one;
    unlogged: apologies heard that the call log lacks; retries: requests sent again for lack of an answer;
    broken: broken promises."""
    rows = [COLUMNS]
    for r in reports:
        a, c, led = r.ambiguous, r.cuts, r.ledger
        rows.append((
            r.fault, r.backend, str(led.calls), str(led.heard), str(led.stored), str(led.lost), str(led.duplicated),
            str(led.lies),
            f"{a.get('committed', 0) + a.get('not committed', 0)}/{a.get('unknown', 0)}" if a.get("all") else "0",
            f"{c['after']}/{c['before']} ({c['cancel after']}/{c['cancel before']})" if c else "-",
            str(led.apologies), str(led.apologies_unlogged), str(led.retries), str(len(r.problems))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(v.rjust(w) if i >= 2 else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths,
                                                                                                    strict=True)))
                     for row in rows)


@dataclass
class Context:
    """One fault's run: its server, store, load and the promises found broken so far."""

    fault: str
    backend: str
    calls: int
    server: Server
    url: str
    cluster: Cluster | None = None
    proxy: CommitCutter | None = None
    paths: dict[str, Path] = field(default_factory=dict)
    probes: list[CallLog] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def enough(self) -> int:
        """How many apologies to let callers hear before the fault is repaired."""
        return max(2, self.calls // 10)

    def expect(self, holds: bool, problem: str) -> None:
        if not holds:
            self.problems.append(problem)

    def degraded(self, what: str) -> None:
        """While the store is down: /healthz answers 200 with "status": "degraded", /readyz 503."""
        self.server.wait(lambda: self.server.status() == "degraded", "degraded", timeout=10)
        code, body = self.server.health()
        self.expect(code == 200 and body.get("status") == "degraded",
                    f"{what}: /healthz should answer 200 with \"status\": \"degraded\"; got {code} {body}")
        code, body = self.server.health("/readyz")
        self.expect(code == 503, f"{what}: /readyz should answer 503 while the store is down; got {code} {body}")

    def recovered(self, what: str) -> None:
        """The store is back: each worker in turn (the others paused) reports "ok" and serves a whole call."""
        for pid in self.server.workers():
            with self.server.only(pid):
                ok = self.server.wait(lambda: self.server.status() == "ok", "ok", timeout=20)
                self.expect(ok, f"{what}: worker {pid}'s /healthz still says {self.server.status()!r} 20 s after "
                                "the store came back (without a restart, a worker must use it again)")
                with http_client() as http:
                    call = place_call(http, self.server.base, 9_000_000 + len(self.probes), 20)
                self.probes.append(call)
                self.expect(call.outcome == "confirmed", f"{what}: once the store was back, a call on worker {pid} "
                                                         f"ended {call.outcome}: {call.answers[-1:]} {call.errors}")
        code, body = self.server.health("/readyz")
        self.expect(code == 200, f"{what}: /readyz should answer 200 once the store is back; got {code} {body}")

    def outage(self, load: Load, what: str, cause: Callable[[], None], repair: Callable[[], None], *,
               degraded: bool = True, meanwhile: Callable[[], None] | None = None) -> None:
        """Cause the fault under load; once callers have heard a few apologies, let no new call start and, the line
        idle: check it is degraded (`degraded`), do `meanwhile`, repair the fault, and check every worker serves
        again."""
        before = load.apologies
        cause()
        load.wait_apologies(self.enough)
        with load.hold():
            self.expect(load.apologies > before, f"{what}: no caller heard an apology while the fault lasted: it "
                                                 "did not bite (the check proves nothing)")
            if degraded:
                self.degraded(what)
            if meanwhile is not None:
                meanwhile()
            repair()
            self.recovered(f"{what}, then repaired")


# -- the faults ----------------------------------------------------------------------------------------------------


def points(calls: int, least: int, per: int) -> list[float]:
    """When to strike, as fractions of the load's requests: `least` times, or one per `per` calls."""
    count = max(least, calls // per)
    return [0.1 + 0.8 * (i + 1) / (count + 1) for i in range(count)]


def strike(ctx: Context, load: Load, at: float, what: str) -> bool:
    """Wait until the calls reach `at`; False (a broken promise of the check itself) if they were over by then."""
    load.wait_progress(at)
    ctx.expect(not load.finished(), f"{what}: the calls were over before the fault struck: nothing was tested")
    return not load.finished()


def worker_kill(ctx: Context, load: Load) -> None:
    for at in points(ctx.calls, 3, 15):
        if strike(ctx, load, at, "kill -9 of a worker"):
            ctx.server.kill_worker()


def master_kill(ctx: Context, load: Load) -> None:
    retries = 0
    for at in points(ctx.calls, 1, 50):
        if strike(ctx, load, at, "kill -9 of the master"):
            ctx.server.kill_master()
            ctx.server.start()  # the callers' retries meanwhile meet a closed port, then the new server
            retries += 1
    load.wait_progress(1.0)
    ctx.expect(not retries or any(c.retries for c in load.logs),
               "kill -9 of the master: no request had to be sent again, so none was in flight: nothing was tested")


def pg_stop(mode: str) -> Callable[[Context, Load], None]:
    def inject(ctx: Context, load: Load) -> None:
        cluster = ctx.cluster
        assert cluster is not None
        load.wait_progress(0.3)
        ctx.outage(load, f"PostgreSQL stopped ({mode})", lambda: cluster.stop(mode), cluster.start)

    return inject


def worker_restart_db_down(ctx: Context, load: Load) -> None:
    cluster = ctx.cluster
    assert cluster is not None

    def restart() -> None:
        """kill -9 a worker: the new one boots without a database, answers /healthz, and apologises."""
        before = ctx.server.workers()
        try:
            ctx.server.kill_worker()
            [new] = set(ctx.server.workers()) - set(before)
            with ctx.server.only(new):
                ctx.server.wait(lambda: ctx.server.status() == "degraded", "degraded", timeout=20)
                ctx.degraded(f"a worker (pid {new}) booted while PostgreSQL was down")
                with http_client() as http:
                    call = place_call(http, ctx.server.base, 8_000_000, 20)
        except Fault as exc:
            raise Fault("P1: the line went down when a worker restarted while PostgreSQL was down: "
                        f"{exc}") from None
        ctx.probes.append(call)
        ctx.expect(call.outcome == "apology" and transfers(call.answers[-1]),
                   f"a call to the worker booted without a database should hear the apology and a <Dial> to the "
                   f"fallback; it ended {call.outcome}: {call.answers[-1:]} {call.errors}")

    load.wait_progress(0.25)
    ctx.outage(load, "PostgreSQL stopped", lambda: cluster.stop("fast"), cluster.start, meanwhile=restart)


def commit_cut(ctx: Context, load: Load) -> None:
    assert ctx.proxy is not None
    ctx.proxy.armed = True
    load.wait_progress(1.0)


def sqlite_readonly(ctx: Context, load: Load) -> None:
    db = ctx.paths["db"]
    modes: dict[Path, int] = {}

    def cause() -> None:
        modes.update({p: p.stat().st_mode & 0o777 for p in [db, *db.iterdir()]})
        for path in modes:
            path.chmod(0o555 if path == db else 0o444)
        for pid in ctx.server.workers():  # a restart (deploy, crash) opens the store afresh: read-only now
            ctx.server.kill_worker(pid)

    def repair() -> None:
        for path, mode in modes.items():
            path.chmod(mode)

    load.wait_progress(0.3)
    ctx.outage(load, "the SQLite store made read-only", cause, repair)


def sqlite_full(ctx: Context, load: Load) -> None:
    filler = ctx.paths["tmpfs"] / "filler"

    def fill() -> None:
        with suppress(OSError), filler.open("wb", buffering=0) as out:  # until "No space left on device"
            while True:
                out.write(b"\0" * 65536)

    load.wait_progress(0.3)
    ctx.outage(load, "the SQLite store's filesystem full", fill, filler.unlink, degraded=False)


def no_fault(ctx: Context, load: Load) -> None:
    load.wait_progress(1.0)


INJECT: dict[str, Callable[[Context, Load], None]] = {
    CONTROL: no_fault,
    "worker-kill": worker_kill, "master-kill": master_kill, "pg-stop-fast": pg_stop("fast"),
    "pg-stop-immediate": pg_stop("immediate"), "worker-restart-db-down": worker_restart_db_down,
    "commit-cut": commit_cut, "sqlite-readonly": sqlite_readonly, "sqlite-full": sqlite_full,
}


# -- running one ---------------------------------------------------------------------------------------------------


class Unavailable(Exception):
    """This machine cannot run the fault (the test skips, saying why)."""


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small filesystem of its own at `path`, to fill up."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode:
        raise Unavailable(f"sqlite-full cannot mount a tmpfs to fill here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@dataclass
class Store:
    """Where a fault's calls are kept: the app's URL, the URL to check it at (not through the proxy), the proxy,
    and gunicorn's extra options."""

    url: str
    check_url: str = ""
    proxy: CommitCutter | None = None
    options: tuple[str, ...] = ()


def _database(stack: ExitStack, fault: str, backend: str, tmp: Path, calls: int, cluster: Cluster | None,
              paths: dict[str, Path]) -> Store:
    """A fresh store for `fault` (see `Store`)."""
    if backend == "postgresql":
        assert cluster is not None
        cluster.ensure_running()
        name = f"ivr_faults_{uuid.uuid4().hex[:12]}"
        cluster.create_database(name)
        if fault == "commit-cut":
            proxy = CommitCutter(cluster.port)
            proxy.armed = False  # the workers create the tables undisturbed
            stack.callback(proxy.close)
            return Store(cluster.url(name, proxy.port), cluster.url(name), proxy)
        return Store(cluster.url(name))
    if fault == "sqlite-full":
        paths["tmpfs"] = stack.enter_context(tmpfs(tmp / "tmpfs", f"{16 + calls // 4}m"))
        return Store(f"sqlite:///{paths['tmpfs'] / 'calls.db'}")
    if fault == "sqlite-readonly":
        paths["db"] = tmp / "db"
        paths["db"].mkdir()
        return Store(f"sqlite:///{paths['db'] / 'calls.db'}", options=("-c", str(NO_DAC)))
    return Store(f"sqlite:///{tmp / 'calls.db'}")


def settle(server: Server) -> None:
    """Give the workers the chance to move the apologies they spooled while the store was down into its call log
    (done after a request the store answered): start calls until /healthz says none wait, for a while."""
    with http_client() as http:
        for _ in range(40):
            code, body = server.health()
            if not body.get("spooled_apologies"):
                return
            sid = "CA" + uuid.uuid4().hex
            post(http, server.base, "/voice/acme", incoming_form(sid, "+15550000000"), CallLog(sid), 5)


def run_fault(fault: str, backend: str, tmp: Path, calls: int, cluster: Cluster | None = None,
              threads: int = 6) -> Report:
    """Run one fault on one backend with `calls` cancelling calls; the report of what happened."""
    tmp.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        paths: dict[str, Path] = {}
        store = _database(stack, fault, backend, tmp, calls, cluster, paths)
        url, proxy = store.url, store.proxy
        server = Server(url, tmp, *store.options, env={"IVR_SPOOL_DIR": str(paths.get("spool", tmp / "spool"))})
        stack.callback(server.close)
        if cluster is not None:
            stack.callback(cluster.ensure_running)
        ctx = Context(fault, backend, calls, server, url, cluster, proxy, paths)
        server.start()
        load = Load(server, calls, threads)
        try:
            load.run(lambda load: INJECT[fault](ctx, load))
        except Fault as exc:
            ctx.problems.append(str(exc).split("\n", 1)[0])
        if proxy is not None:
            proxy.armed = False
        if cluster is not None:
            cluster.ensure_running()
        for path, mode in (("db", 0o755),):  # a read-only store left behind by a failure: readable again
            if path in paths:
                paths[path].chmod(mode)
        down = server.exit_code() is not None
        if down:
            ctx.problems.append(f"gunicorn exited (code {server.exit_code()}): the line went down")
        else:
            settle(server)
        ledger = verify(store.check_url or url, load.logs + ctx.probes)
        report = Report(fault, backend, ledger, server.ambiguous(), problems=ctx.problems + ledger.problems)
        if proxy is not None:
            report.cuts = {"after": sum(c.when == AFTER for c in proxy.cuts),
                           "before": sum(c.when == BEFORE for c in proxy.cuts),
                           "cancel after": sum(c.when == AFTER and c.cancellation for c in proxy.cuts),
                           "cancel before": sum(c.when == BEFORE and c.cancellation for c in proxy.cuts)}
            report.problems += _cut_problems(proxy, load.logs)
        log = server.log()
        if "Traceback" in log:
            at = log.index("Traceback")
            report.problems.append(f"gunicorn's log has a traceback: {log[at:at + 1500]}")
        report.log_tail = log[-4000:]
        return report
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack swallows nothing


def _cut_problems(proxy: CommitCutter, calls: list[CallLog]) -> list[str]:
    """A cancellation whose COMMIT happened, though the app's connection dropped before it heard so, is confirmed
    to its caller with the stored number (P2 checked that number); and the proxy did cut some."""
    by_sid = {c.sid: c for c in calls}
    committed = [c for c in proxy.cuts if c.when == AFTER and c.cancellation]
    problems = [] if committed else ["the proxy cut no cancellation's COMMIT after the server had it: the check "
                                     "proves nothing (does psycopg still send COMMIT as a simple query?)"]
    for cut in committed:
        for sid in cut.sids & by_sid.keys():
            call = by_sid[sid]
            if call.outcome != "confirmed":
                problems.append(f"call {sid}: its cancellation was committed (the proxy dropped the app's "
                                f"connection before the reply), but the caller heard: {call.answers[-1][:200]!r}")
    return problems

