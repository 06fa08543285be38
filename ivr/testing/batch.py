"""A batch of recorded calls replayed at once: in this process, or on Dask distributed (a LocalCluster on this
machine, or an existing cluster's scheduler), each worker with its own app, simulator and recognisers, the
transcript cache on disk shared. This module is dask's one home in ivr; `ivr.testing.replay` replays one call.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ivr.errors import IvrError, MissingExtra, UsageError
from ivr.flow.model import Flow
from ivr.speech.audio import CALLER_CHANNEL
from ivr.speech.transcript import Transcriber
from ivr.testing import replay as replaying
from ivr.testing.cancel_when import CancelWhen
from ivr.testing.replay import Verdict
from ivr.testing.sim import Simulator

#: seconds to reach a Dask scheduler (`--scheduler`) before giving up
CONNECT_TIMEOUT = 5.0
#: seconds a batch waits for a worker when the cluster has none left, before failing the calls not yet replayed
NO_WORKERS_TIMEOUT = 30.0


@dataclass(frozen=True)
class Job:
    """One recording of a batch and what its verdict asks (as `replay` takes them); `notes` go before the
    verdict's own."""

    source: Path
    within: int | None = None
    expect: str | None = None
    stt: str | None = None
    channel: int = CALLER_CHANNEL
    said: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Setup:
    """What each process of a batch builds once and keeps for all its calls: the line (the flow files served
    in-process on a store of its own, or a live `url` and its token) and the recognisers (one model load per
    process). Relative paths are relative to `cwd`, the caller's directory: on a cluster, every worker must see
    the flows, the recordings and the transcript cache at the same paths (shared storage)."""

    name: str  # the flow's name: the calls go to /voice/NAME (with `url` and `path`, '' for any app)
    flows: tuple[str, ...] = ()
    url: str | None = None
    token: str = ""
    language: str | None = None
    vosk_model: str | None = None
    cache_dir: str | None = None  # the transcript cache every process shares (None: no cache)
    env: tuple[tuple[str, str], ...] = ()  # the caller's IVR_STT, IVR_VOSK_MODEL, IVR_WHISPER_MODEL, ..._DEVICE
    cwd: str = "."
    #: Whisper's CPU threads in each process (0: every core in this process; on a Dask worker, its share of them)
    threads: int = 0
    risk: float | None = None  # the largest share of wrong recognitions accepted (None: the decision model's)
    path: str | None = None  # where the calls go, when not /voice/NAME (any app at `url`: its entry)
    method: str = "POST"  # the entry request's method
    cancel_when: tuple[CancelWhen, ...] = ()  # what cancellation looks like from outside the line


@dataclass
class Batch:
    """The verdicts of a batch, in the order of its jobs, and what the transcript cache did over every process."""

    verdicts: list[Verdict]
    heard: int = 0  # utterances recognised
    cached: int = 0  # utterances found in the transcript cache
    workers: int = 1


class _Bench:
    """One process's line and recognisers for one batch, built on its first call (thread-safe: a Dask worker
    may run several calls at once)."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.lock = threading.Lock()
        self.transcribers: dict[str | None, Transcriber] = {}
        self.line: tuple[Any, str] | None = None
        self.app: Any = None
        self.store_dir: tempfile.TemporaryDirectory[str] | None = None
        self.flow: Flow | None = None  # the flow replayed, for the recogniser's meanings (None: unknown)

    def where(self, path: str | Path) -> Path:
        return Path(self.setup.cwd) / path

    def transcriber(self, stt: str | None) -> Transcriber:
        from ivr.speech.choose import get_transcriber

        with self.lock:
            if stt not in self.transcribers:
                s = self.setup
                self.transcribers[stt] = get_transcriber(
                    stt, language=s.language, vosk_model=s.vosk_model and self.where(s.vosk_model),
                    cache=s.cache_dir is not None, cache_dir=s.cache_dir and self.where(s.cache_dir),
                    env=dict(s.env), threads=s.threads)
            return self.transcribers[stt]

    def target(self) -> tuple[Any, str]:
        with self.lock:
            if self.line is None:
                if self.setup.url:
                    self.line = self.setup.url, self.setup.token
                else:
                    from ivr.line.app import local_app, token_of

                    self.store_dir = tempfile.TemporaryDirectory(prefix="ivr-replay-")
                    self.app = local_app([self.where(f) for f in self.setup.flows], self.store_dir.name)
                    self.line = self.app, token_of(self.app)
                    served = self.app.extensions["ivr"].served.get(self.setup.name)
                    self.flow = served.flow if served is not None else None
            return self.line

    def replay(self, job: Job) -> Verdict:
        name, setup = self.setup.name, self.setup
        target, token = self.target()
        # a line built with ivr hears the call's end on its status callback; another app was not asked to
        sim = Simulator(target, auth_token=token, status_callback=f"/voice/{name}/status" if name else None)
        try:
            verdict = replaying.replay(
                self.where(job.source), sim, setup.path or f"/voice/{name}", self.transcriber(job.stt),
                language=setup.language, within=job.within, expect=job.expect, channel=job.channel, said=job.said,
                flow=self.flow, risk=setup.risk, again=not setup.url, method=setup.method,
                cancel_when=setup.cancel_when)
        except IvrError as exc:  # a recogniser that cannot load, say: this call fails, named; the batch goes on
            return _failed(job, str(exc))
        finally:
            sim.close()
        for judged in (verdict, verdict.said, verdict.heard):
            if judged is not None:
                judged.recording = str(job.source)  # as given, not as this process found it
        verdict.notes[:0] = job.notes
        return verdict

    def close(self) -> tuple[int, int]:
        """Close the line; what the cache did here: (heard, cached)."""
        if self.app is not None:
            self.app.extensions["ivr"].store.close()
        if self.store_dir is not None:
            self.store_dir.cleanup()
        counts = [(getattr(t, "misses", 0), getattr(t, "hits", 0)) for t in self.transcribers.values()]
        return sum(m for m, _ in counts), sum(h for _, h in counts)


def _share_of_cores() -> int:
    """Whisper's threads in a Dask worker: its machine's cores over the worker's threads (calls at once)."""
    from distributed import get_worker

    return max(1, (os.cpu_count() or 1) // get_worker().state.nthreads)


def _alone(bench: _Bench, job: Job) -> Verdict:
    """A call replayed in this process; one that raises fails alone, named, and the batch goes on (as on Dask)."""
    try:
        return bench.replay(job)
    except Exception as exc:  # a bug met on one recording (MemoryError included): not the batch's end
        return _failed(job, f"replaying it raised {type(exc).__name__}: {exc}")


def _failed(job: Job, error: str) -> Verdict:
    return Verdict(str(job.source), reasons=["it could not be replayed"], errors=[error], notes=list(job.notes))


#: the benches of this process (a Dask worker's), by batch
_BENCHES: dict[str, _Bench] = {}
_BENCHES_LOCK = threading.Lock()


def _on_worker(batch: str, setup: Setup, job: Job) -> Verdict:
    with _BENCHES_LOCK:
        if batch not in _BENCHES:
            _BENCHES[batch] = _Bench(setup if setup.threads else replace(setup, threads=_share_of_cores()))
        bench = _BENCHES[batch]
    return bench.replay(job)


def _close_on_worker(batch: str) -> tuple[int, int]:
    with _BENCHES_LOCK:
        bench = _BENCHES.pop(batch, None)
    return bench.close() if bench is not None else (0, 0)


def replay_all(jobs: Sequence[Job], setup: Setup, *, workers: int = 1, scheduler: str | None = None,
               done: Callable[[int, Verdict], None] | None = None) -> Batch:
    """Replay every job and return the verdicts in the jobs' order. One worker and no `scheduler`: in this
    process. More: on Dask distributed, a `LocalCluster` of `workers` processes (one call at a time each, Whisper
    on its share of the cores) made and closed here, or the existing cluster whose scheduler is at `scheduler`
    (`tcp://HOST:8786`). Each process builds its line and recognisers once; the transcript cache directory is
    shared. `done(count, verdict)` is told of each call as it finishes. A call that fails to replay (an unreadable
    recording, a worker that died) fails alone, named."""
    bench = _Bench(setup)
    for stt in dict.fromkeys(j.stt for j in jobs):  # a bad engine or model stops the batch before it starts
        bench.transcriber(stt)  # (an engine loads its model when it first hears something)
    if not jobs:
        return Batch([])
    if workers == 1 and scheduler is None:
        verdicts = []
        try:
            for job in jobs:
                verdicts.append(_alone(bench, job))
                if done is not None:
                    done(len(verdicts), verdicts[-1])
        finally:
            heard, cached = bench.close()
        return Batch(verdicts, heard, cached)
    return _on_dask(jobs, setup, workers, scheduler, done)


def _on_dask(jobs: Sequence[Job], setup: Setup, workers: int, scheduler: str | None,
             done: Callable[[int, Verdict], None] | None) -> Batch:
    try:
        from distributed import Client
    except ModuleNotFoundError as exc:
        raise MissingExtra("speech", "replaying on Dask (-j N, --scheduler)", exc.name or "distributed") from None
    with ExitStack() as stack:
        if scheduler is None:
            processes = max(1, min(workers, len(jobs)))
            cluster = stack.enter_context(local_cluster(processes))
            setup = replace(setup, threads=setup.threads or max(1, (os.cpu_count() or 1) // processes))
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(_connect(Client, scheduler))
        batch = uuid.uuid4().hex
        try:
            verdicts = _gather(client, batch, jobs, setup, done)
        finally:
            counts = client.run(_close_on_worker, batch, on_error="return")
        finished = [c for c in counts.values() if isinstance(c, tuple)]
        return Batch(verdicts, sum(h for h, _ in finished), sum(c for _, c in finished), len(counts))


def local_cluster(processes: int) -> Any:
    """A Dask `LocalCluster` of `processes` workers on this machine, one call at a time each, for replaying."""
    import dask
    from distributed import LocalCluster

    # Dask's workers set MALLOC_TRIM_THRESHOLD_, which fixes glibc's mmap threshold at 128 KiB: Whisper's buffers
    # are then mapped and unmapped at each use, and a call takes twice as long (bench/replay_scale.py)
    environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()
               if k != "MALLOC_TRIM_THRESHOLD_"}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        return LocalCluster(n_workers=processes, threads_per_worker=1, processes=True,
                            dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)


def _connect(client: Any, scheduler: str) -> Any:
    try:
        return client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, ValueError, TypeError) as exc:  # TimeoutError is an OSError
        raise UsageError(f"--scheduler {scheduler!r}: cannot reach a Dask scheduler there ({exc}); give the address "
                         "`dask scheduler` prints, e.g. tcp://HOST:8786") from None


def _gather(client: Any, batch: str, jobs: Sequence[Job], setup: Setup,
            done: Callable[[int, Verdict], None] | None) -> list[Verdict]:
    """Submit each job and collect the verdicts as they finish, in the jobs' order. A worker that dies has its
    call replayed elsewhere (Dask reschedules it), and failed once it has killed too many workers (KilledWorker);
    when the cluster has no worker left for NO_WORKERS_TIMEOUT seconds, the calls still waiting fail."""
    from distributed import wait

    futures = {client.submit(_on_worker, batch, setup, job, key=f"ivr-replay-{batch}-{i}", pure=False): i
               for i, job in enumerate(jobs)}
    verdicts: list[Verdict | None] = [None] * len(jobs)
    pending, alone_since, count = set(futures), None, 0
    while pending:
        try:
            finished, pending = wait(pending, timeout=1.0, return_when="FIRST_COMPLETED")
        except TimeoutError:
            finished = set()
        for future in finished:
            i = futures[future]
            verdicts[i] = _verdict(future, jobs[i])
            count += 1  # one by one: several calls can finish in the same wait
            if done is not None:
                done(count, verdicts[i])  # type: ignore[arg-type]
        if finished or client.nthreads():
            alone_since = None
        elif alone_since is None:
            alone_since = time.monotonic()
        elif time.monotonic() - alone_since > NO_WORKERS_TIMEOUT:
            for future in pending:
                i = futures[future]
                verdicts[i] = _failed(jobs[i], f"no Dask worker was left to replay it for {NO_WORKERS_TIMEOUT:.0f} "
                                               "s (the cluster lost its workers)")
                count += 1
                if done is not None:
                    done(count, verdicts[i])  # type: ignore[arg-type]
            client.cancel(list(pending))
            pending = set()
    return [v for v in verdicts if v is not None]


def _verdict(future: Any, job: Job) -> Verdict:
    """The future's verdict; a call that raised on its worker, or whose worker died, fails alone, named."""
    from distributed import KilledWorker

    try:
        return future.result()  # type: ignore[no-any-return]
    except KilledWorker:
        return _failed(job, "the Dask worker replaying it died (killed, or out of memory), and so did any it was "
                            "given to again (distributed.scheduler.allowed-failures)")
    except Exception as exc:  # a bug on a worker: this call fails, the batch goes on
        return _failed(job, f"replaying it raised {type(exc).__name__}: {exc}")
