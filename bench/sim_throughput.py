"""Simulated calls per second, in-process: the fake Twilio (`ivr.testing.sim`) driving the real webhook app as a WSGI
callable, against the example flow; and, in the same run, the same call scripts through the engine alone.

    python bench/sim_throughput.py                       # 300 calls on each store, after 30 warm-up calls
    python bench/sim_throughput.py --calls 1000 --stores durable memory
    python bench/sim_throughput.py --db-dir /var/tmp     # where the durable SQLite file goes

The runs (engine, then each store) take turns in --rounds chunks, so that on a shared machine they see the same
load; 'cpu ms/req' is this process's own CPU time, beside the wall-clock 'ms/request' the figures come from.

What a simulated call costs is everything a QA suite pays per call: the simulator signs each request
(X-Twilio-Signature over Twilio's full set of about 30 parameters, location fields and CallToken included), calls
Flask through WSGI, the app parses the form and checks the signature, runs the engine in one
store transaction that commits before the TwiML leaves, renders TwiML, and the simulator parses and checks it.
"engine" is the same scripts through `engine.start` / `advance` / `settle` with a trivial effect executor: the
floor a call cannot go below, so sim/engine says how much the HTTP/TwiML/store shell costs around it.

Stores (all SQLite, the code path the app ships with):
  durable  a file in --db-dir (default: the system temp dir) with the store's own settings: WAL, synchronous=FULL,
           so every request's commit waits for fsync. The default store. "durable - tmpfs" is printed: what
           that fsync costs per request on this disk.
  tmpfs    the same file settings in /dev/shm (RAM): the same SQL, but fsync costs nothing.
  memory   `sqlite://`: SQLAlchemy gives an in-memory database one connection per thread (SingletonThreadPool);
           the WSGI transport calls the app in the caller's thread, so every request sees the same database.
           In-process only: a threaded server would give each thread its own empty database.

The callers, in turn: a persistent canceller ("I want to cancel", 12345678#, "cancel" at the retention offer,
"yes": 5 requests, outcome cancelled), a billing caller ("billing", then "no": 3 requests, resolved), and a silent
caller (three timeouts lead to an agent; the <Dial> result is posted back: 5 requests, transferred).

Target: >= 300 full calls/s (PASS/FAIL printed for each store). Exit status 1 only when a call ends wrongly (it is
a benchmark: a missed target prints FAIL and exits 0).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.flow import engine
from ivr.flow.caller import Digits, Heard, Silence, Speech
from ivr.flow.loader import load_flow
from ivr.flow.model import Flow
from ivr.line.app import create_app
from ivr.line.settings import Settings
from ivr.line.store import Store
from ivr.testing.sim import Simulator

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "flows" / "acme.yaml"
TOKEN = "bench-auth-token"
TARGET_CALLS_PER_S = 300.0
CONFIDENCE = 0.92

#: a caller's side of a call: ("say", text) | ("press", keys) | ("silence", "")
Action = tuple[str, str]


@dataclass(frozen=True)
class Script:
    name: str
    actions: tuple[Action, ...]
    outcome: str


SCRIPTS = (
    Script("canceller", (("say", "I want to cancel"), ("press", "12345678#"), ("say", "cancel"), ("say", "yes")),
           "cancelled"),
    Script("billing", (("say", "billing"), ("say", "no")), "resolved"),
    Script("silent", (("silence", ""), ("silence", ""), ("silence", "")), "transferred"),
)


class Runner:
    """Calls of the mix, timed and counted, in chunks: the runs take turns so that each sees the same machine load."""

    def __init__(self, name: str, place: Callable[[Script, int], str | None]) -> None:
        self.name, self.place = name, place
        self.calls = self.requests = 0
        self.seconds = self.cpu = 0.0  # wall, and this process's CPU (far below wall: others had the CPU)
        self.wrong: list[str] = []
        self.sent = 0  # requests, counted by the simulator's client
        self.where = ""

    def run(self, first: int, calls: int, *, timed: bool = True) -> None:
        sent, began, cpu = self.sent, time.perf_counter(), time.process_time()
        for n in range(first, first + calls):
            if (w := self.place(SCRIPTS[n % len(SCRIPTS)], n)) is not None:
                self.wrong.append(w)
        if timed:
            self.seconds += time.perf_counter() - began
            self.cpu += time.process_time() - cpu
            self.calls += calls
            self.requests += self.sent - sent

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds


# -- through the simulator and the app ------------------------------------------------------------------------

def sim_call(sim: Simulator, script: Script, n: int) -> str | None:
    """One call; a description of what went wrong, or None."""
    call = sim.call("/voice/acme", caller=f"+1555{n:07d}")
    for act, value in script.actions:
        if act == "say":
            call.say(value, CONFIDENCE)
        elif act == "press":
            call.press(value)
        else:
            call.silence()
    if call.outcome != script.outcome or call.errors or not call.ended:
        return f"{script.name} call {call.sid}: outcome {call.outcome!r}, errors {call.errors}\n{call.conversation()}"
    return None


def sim_runner(name: str, url: str) -> tuple[Runner, Simulator, Store]:
    """The real app on the store at `url`, and the fake Twilio driving it in-process."""
    app = create_app([FLOW], Settings(auth_token=TOKEN, database_url=url))
    sim = Simulator(app, auth_token=TOKEN)
    runner = Runner(name, lambda script, n: sim_call(sim, script, n))

    send = sim.request

    def counted(*args: Any, **kwargs: Any) -> Any:  # every webhook request the simulator makes
        runner.sent += 1
        return send(*args, **kwargs)

    sim.request = counted  # type: ignore[method-assign]
    return runner, sim, app.extensions["ivr"].store


# -- through the engine alone -----------------------------------------------------------------------------------

def heard(act: str, value: str) -> Heard:
    if act == "say":
        return Speech(value, CONFIDENCE)
    if act == "press":  # the only keys pressed here end a <Gather finishOnKey="#">: Twilio drops the '#'
        return Digits(value.partition("#")[0])
    return Silence()


def executor(effect: engine.Effect) -> engine.EffectResult:
    return engine.EffectResult(value="31805934")


def engine_call(flow: Flow, script: Script) -> str | None:
    step = engine.settle(flow, engine.start(flow, caller="+15551230000", called="+18005550199"), executor)
    for act, value in script.actions:
        step = engine.settle(flow, engine.advance(flow, step.state, heard(act, value)), executor)
    return None if step.outcome == script.outcome else f"engine: {script.name} ended {step.outcome!r}"


# -- several processes at once ---------------------------------------------------------------------------------

def _worker(barrier: Any, calls: int, warmup: int, results: Any) -> None:
    """One process: its own app on an in-memory store, warmed up, then `calls` calls once every process is ready."""
    runner, sim, store = sim_runner("memory", "sqlite://")
    runner.run(0, warmup, timed=False)
    barrier.wait()
    runner.run(warmup, calls)
    results.put((runner.calls, runner.seconds, len(runner.wrong)))
    sim.close()
    store.close()


def parallel(processes: int, calls: int, warmup: int) -> tuple[float, int]:
    """Calls/s of `processes` simulators running at once (as pytest-xdist would run call scripts), and how many
    calls ended wrongly."""
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(processes + 1), context.Queue()
    workers = [context.Process(target=_worker, args=(barrier, calls, warmup, results)) for _ in range(processes)]
    for w in workers:
        w.start()
    barrier.wait()
    began = time.perf_counter()
    done = [results.get() for _ in workers]
    wall = time.perf_counter() - began
    for w in workers:
        w.join()
    return sum(c for c, _, _ in done) / wall, sum(bad for _, _, bad in done)


# -- the run ----------------------------------------------------------------------------------------------------

def filesystem(path: Path) -> str:
    """The file system a path is on (Linux /proc/mounts), so that a 'durable' file on tmpfs shows."""
    try:
        mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "?"
    where = str(path.resolve())
    on = [m for m in mounts if where == m[0] or where.startswith(m[0].rstrip("/") + "/")]
    return max(on, key=lambda m: len(m[0]))[1] if on else "?"


def store_urls(names: list[str], db_dir: Path, work: list[Path]) -> list[tuple[str, str, str]]:
    """(name, SQLAlchemy URL, where) of each store asked for."""
    out = []
    for name in names:
        if name == "memory":
            out.append((name, "sqlite://", "sqlite:// in memory"))
            continue
        base = db_dir if name == "durable" else Path("/dev/shm")
        if not base.is_dir():
            print(f"({name}: {base} does not exist here; skipped)")
            continue
        directory = Path(tempfile.mkdtemp(prefix="ivr-sim-bench-", dir=base))
        work.append(directory)
        out.append((name, f"sqlite:///{directory / 'calls.db'}", f"{directory / 'calls.db'} ({filesystem(directory)})"))
    return out


def header(calls: int, warmup: int, rounds: int) -> None:
    per_call = {s.name: 1 + len(s.actions) + (s.outcome == "transferred") for s in SCRIPTS}
    cores = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    print(f"cores: {cores} (usable {usable}); load average {load:.1f}; python {sys.version.split()[0]}; "
          "one thread, in-process")
    if load > usable / 2:
        print(f"  (other work is running: load {load:.1f} on {usable} cores; 'cpu ms/req' is this process's own)")
    print(f"flow: {FLOW.relative_to(ROOT)}; callers in turn: "
          + ", ".join(f"{s.name} ({per_call[s.name]} requests, {s.outcome})" for s in SCRIPTS))
    mean = sum(per_call.values()) / len(per_call)
    print(f"{calls} timed calls per run after {warmup} warm-up calls, in {rounds} interleaved rounds; target >= "
          f"{TARGET_CALLS_PER_S:.0f} calls/s = {1e3 / TARGET_CALLS_PER_S / mean:.2f} ms per request\n")


def report(runners: list[Runner]) -> list[str]:
    """Print the table; the verdicts."""
    eng = runners[0]
    print(f"{'run':<8} {'calls/s':>8} {'requests/s':>11} {'ms/request':>11} {'cpu ms/req':>11} {'ms/call':>8} "
          f"{'sim/engine':>14}  store")
    print(f"{'engine':<8} {eng.calls_per_s:>8.0f} {'':>11} {'':>11} {'':>11} {eng.seconds / eng.calls * 1e3:>8.3f} "
          f"{'':>14}  none: engine.start/advance/settle only")
    verdicts = []
    for r in runners[1:]:
        ms = r.seconds / r.requests * 1e3
        print(f"{r.name:<8} {r.calls_per_s:>8.0f} {r.requests / r.seconds:>11.0f} {ms:>11.3f} "
              f"{r.cpu / r.requests * 1e3:>11.3f} {r.seconds / r.calls * 1e3:>8.2f} "
              f"{r.calls_per_s / eng.calls_per_s:>7.4f} (1/{eng.calls_per_s / r.calls_per_s:.0f})  {r.where}")
        verdict = "PASS" if r.calls_per_s >= TARGET_CALLS_PER_S else "FAIL"
        verdicts.append(f"{verdict}: {r.name} {r.calls_per_s:.0f} full calls/s (target >= {TARGET_CALLS_PER_S:.0f})"
                        + (" <- the default store" if r.name == "durable" else ""))
    by_name = {r.name: r for r in runners}
    if "durable" in by_name and "tmpfs" in by_name:
        durable, tmpfs = by_name["durable"], by_name["tmpfs"]
        extra = durable.seconds / durable.requests - tmpfs.seconds / tmpfs.requests
        verdicts.append(f"durable - tmpfs = {extra * 1e3:.3f} ms per request: what the disk costs here (its writes, "
                        "and an fsync for each commit that holds a cancellation)")
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="timed calls per store (default 300)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed calls first (default 30)")
    parser.add_argument("--rounds", type=int, default=5, help="the runs take turns, in this many rounds (default 5)")
    parser.add_argument("--stores", nargs="+", choices=["durable", "tmpfs", "memory"],
                        default=["durable", "tmpfs", "memory"])
    parser.add_argument("--db-dir", type=Path, default=Path(tempfile.gettempdir()),
                        help="where the durable store's file goes (default: the system temp dir)")
    parser.add_argument("--processes", type=int, default=len(os.sched_getaffinity(0)),
                        help="also run this many in-memory simulators at once (default: the usable cores; 0: no)")
    args = parser.parse_args()
    header(args.calls, args.warmup, args.rounds)

    flow = load_flow(FLOW)[0]
    runners = [Runner("engine", lambda script, _n: engine_call(flow, script))]
    work: list[Path] = []
    sims: list[tuple[Simulator, Store]] = []
    try:
        for name, url, where in store_urls(args.stores, args.db_dir, work):
            runner, sim, store = sim_runner(name, url)
            runner.where = f"{where}, {type(store.engine.pool).__name__}"
            runners.append(runner)
            sims.append((sim, store))
        for runner in runners:
            runner.run(0, args.warmup, timed=False)
        done = args.warmup
        for i in range(args.rounds):
            chunk = args.calls // args.rounds + (i < args.calls % args.rounds)
            for runner in runners:
                runner.run(done, chunk)
            done += chunk
    finally:
        for sim, store in sims:
            sim.close()
            store.close()
        for directory in work:
            shutil.rmtree(directory, ignore_errors=True)

    verdicts = report(runners)
    if args.processes > 1:
        rate, bad = parallel(args.processes, args.calls, args.warmup)
        single = next((r.calls_per_s for r in runners if r.name == "memory"), None)
        scale = f" ({rate / single:.1f}x one process)" if single else ""
        print(f"{args.processes} processes at once, each its own app on an in-memory store: {rate:.0f} calls/s"
              f"{scale}")
        verdicts.append(f"{'PASS' if rate >= TARGET_CALLS_PER_S else 'FAIL'}: {args.processes} processes "
                        f"{rate:.0f} full calls/s (target >= {TARGET_CALLS_PER_S:.0f})")
        runners[0].wrong += [f"{bad} calls ended wrongly in the parallel run"] if bad else []
    print()
    for line in verdicts:
        print(line)
    wrong = [w for r in runners for w in r.wrong]
    for problem in wrong[:5]:
        print(f"WRONG: {problem}", file=sys.stderr)
    if wrong:
        print(f"{len(wrong)} calls ended wrongly", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
