"""Replaying at scale: calls per minute with `ivr replay`'s Dask runs at 1 and 2 workers, against the in-process
replay of `-j 1`, on the recorded calls of audio/acme (Whisper, with each sidecar's expectations).

    python bench/replay_scale.py            # every recording of audio/acme; 4 runs of about a minute on 2 cores
    python bench/replay_scale.py --quick    # 4 recordings, no oversubscribed run

Each run is a fresh process (`--child`) with a fresh, empty transcript cache, so it pays what a user pays: Python
start-up, imports, the cluster's start and close (worker processes), and one model load per process. calls/min is
from that whole process's wall-clock time; "steady" is the rate between the first verdict and the last, once
every process is up and has loaded its model (what a long batch tends to). The runs, all through
`ivr.testing.batch.replay_all`:

- in-process: `-j 1` (no cluster; Whisper on every core): the baseline;
- Dask, 1 worker: a LocalCluster of one worker process (Whisper on every core), to see what Dask costs;
- Dask, 2 workers: what `ivr replay -j 2` runs: 2 worker processes, 1 task each, Whisper on 1 core each;
- Dask, 2 workers x 2 Whisper threads: the same with every core per worker (4 threads on 2 cores), to show why
  `-j N` gives each worker its share of the cores.

The machine is shared: the load average is printed before and after; compare ratios from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ACME = ROOT / "flows" / "acme.yaml"
#: label -> (Dask workers, or 0 for in-process; Whisper threads per process, 0 for ivr's choice)
RUNS = {
    "in-process (-j 1)": (0, 0),
    "Dask, 1 worker": (1, 0),
    "Dask, 2 workers (-j 2)": (2, 0),
    "Dask, 2 workers x 2 Whisper threads": (2, 2),
}


def jobs(paths: Sequence[Path]) -> list[Any]:
    """A job per recording of `paths`, with its sidecar's expectations (as `ivr replay` reads them)."""
    from ivr.files import SIDECAR_SUFFIXES
    from ivr.flow.loader import load_flow
    from ivr.testing.batch import Job
    from ivr.testing.replay import recordings
    from ivr.testing.sidecar import load_sidecar

    flow = load_flow(ACME)[0]
    found = []
    for source in recordings(paths):
        named = source.name if source.is_dir() else source.stem
        sidecar = next((load_sidecar(p) for p in (source.parent / f"{named}{s}" for s in SIDECAR_SUFFIXES)
                        if p.is_file()), None)
        if sidecar is None:
            found.append(Job(source))
        else:
            found.append(Job(source, sidecar.within, sidecar.expected(flow), sidecar.stt, sidecar.caller_channel,
                             tuple(sidecar.said) if sidecar.said is not None else None))
    return found


def child(spec: dict[str, Any]) -> None:
    """One run in this fresh process; print its verdicts and the cache's counts as JSON."""
    from ivr.speech.cache import default_cache_dir
    from ivr.testing.batch import Setup, local_cluster, replay_all

    finished: list[float] = []  # when each call's verdict came back

    def done(count: int, verdict: Any) -> None:
        finished.append(time.perf_counter())

    workers, threads = spec["workers"], spec["threads"]
    setup = Setup("acme", (str(ACME),), cache_dir=str(default_cache_dir()), cwd=str(ROOT))
    todo = jobs([Path(p) for p in spec["paths"]])
    if not workers:
        batch = replay_all(todo, setup, done=done)
    else:
        with local_cluster(workers) as cluster:  # as `ivr replay -j N` makes it
            share = threads or max(1, (os.cpu_count() or 1) // workers)
            batch = replay_all(todo, replace(setup, threads=share), scheduler=cluster.scheduler_address, done=done)
    steady = 60 * (len(finished) - 1) / (finished[-1] - finished[0]) if len(finished) > 1 else float("nan")
    print(json.dumps({"ok": [v.ok for v in batch.verdicts], "heard": batch.heard, "cached": batch.cached,
                      "steady": steady}))


def run(label: str, paths: Sequence[Path], tmp: Path) -> dict[str, Any]:
    workers, threads = RUNS[label]
    spec = {"workers": workers, "threads": threads, "paths": [str(p) for p in paths]}
    cache = tempfile.mkdtemp(prefix="cache-", dir=tmp)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                          env={**os.environ, "IVR_CACHE_DIR": cache}, check=False, cwd=ROOT)
    wall = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        raise SystemExit(f"{label}: the run failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return {**json.loads(lines[-1]), "wall_s": wall}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 recordings, and no oversubscribed run")
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return
    paths = sorted(p for p in (ROOT / "audio" / "acme").iterdir() if p.is_dir() or p.suffix == ".wav")
    labels = list(RUNS)
    if args.quick:
        paths, labels = paths[:4], labels[:3]
    print(f"Replaying {len(paths)} recorded calls of audio/acme (Whisper, uncached) on {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f} at the start")
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ivr-replay-scale-") as tmp:
        for label in labels:
            figures[label] = run(label, paths, Path(tmp))
            f = figures[label]
            print(f"  {label:<38} {f['wall_s']:6.1f} s  {60 * len(paths) / f['wall_s']:5.1f} calls/min  "
                  f"(steady {f['steady']:5.1f})  {sum(f['ok'])}/{len(paths)} ok  cache: {f['heard']} heard, "
                  f"{f['cached']} from the cache", flush=True)
    base = figures[labels[0]]["wall_s"]
    steady = figures[labels[0]]["steady"]
    print("Ratios to the in-process run (calls/min; > 1 is faster): whole process, steady")
    for label in labels[1:]:
        print(f"  {label:<38} {base / figures[label]['wall_s']:.2f}x  {figures[label]['steady'] / steady:.2f}x")
    two, one = figures["Dask, 2 workers (-j 2)"], figures["Dask, 1 worker"]
    print(f"  {'Dask, 2 workers over 1 worker':<38} {one['wall_s'] / two['wall_s']:.2f}x  "
          f"{two['steady'] / one['steady']:.2f}x")
    agree = len({tuple(f["ok"]) for f in figures.values()}) == 1
    print(f"Verdicts agree across runs: {'yes' if agree else 'NO'}")
    print(f"Load average {os.getloadavg()[0]:.2f} at the end (another process on these 2 cores slows every row)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
