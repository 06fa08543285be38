"""The fault table: each fault of issue 12 injected under load, with more calls than the test suite places, and what
callers heard against what the store kept.

    python bench/faults.py                                   # every fault, 100 calls each (~5 min on 2 cores)
    python bench/faults.py --calls 300 --faults worker-kill,commit-cut --backends postgresql

The faults and how each is run are in tests/faults/scenarios.py, shared with `pytest tests/faults` (which runs
them with IVR_FAULT_CALLS calls, 30 by default): gunicorn with two workers serving flows/acme.yaml, cancelling
callers over real HTTP (signed), requests retried while unanswered, answered ones sometimes sent twice. PostgreSQL
faults run on a throwaway server of their own (initdb in a temporary directory), never the shared one.

Columns: calls placed; heard: confirmation numbers callers heard; stored: cancellation records; lost: heard but not
stored for that call; dup: stored twice; lies: stored for a caller who heard the apology, without the call log
saying so; ambiguous: the app's `ambiguous commit` log lines, resolved / unknown; cut: COMMITs the proxy cut
after / before the server had them (of which cancellations); apologies: calls ended with the apology; unlogged:
apologies the call log lacks; retries: requests sent again for lack of an answer; broken: promises broken.

Exit status 1 when any promise is broken (listed under the table); faults this machine cannot run are skipped,
with the reason.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the harness lives with the tests it is shared with

from tests.faults.harness import Ledger  # noqa: E402
from tests.faults.postgres import Cluster, why_no_cluster  # noqa: E402
from tests.faults.scenarios import (  # noqa: E402
    BACKENDS,
    CONTROL,
    FAULTS,
    Report,
    Unavailable,
    run_fault,
    table,
    why_not,
)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    choices = (CONTROL, *FAULTS)
    parser.add_argument("--calls", type=int, default=100, help="cancelling calls per fault (default 100)")
    parser.add_argument("--faults", default=",".join(choices),
                        help=f"comma-separated, of: {', '.join(choices)} (default: all; {CONTROL}: no fault, the "
                             "control row)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--threads", type=int, default=6, help="concurrent callers (default 6)")
    args = parser.parse_args()
    args.faults, args.backends = args.faults.split(","), args.backends.split(",")
    unknown = [f for f in args.faults if f not in choices] + [
        b for b in args.backends if b not in ("sqlite", "postgresql")]
    if unknown:
        parser.error(f"unknown: {unknown}; faults: {list(choices)}; backends: sqlite, postgresql")
    return args


def run(args: argparse.Namespace, tmp: Path, skipped: list[str]) -> list[Report]:
    """Each fault on each backend asked for, one after the other; what cannot run here is `skipped`."""
    reports: list[Report] = []
    cluster: Cluster | None = None
    try:
        for fault in args.faults:
            for backend in (b for b in BACKENDS[fault] if b in args.backends):
                reason = why_not(fault) or (why_no_cluster() if backend == "postgresql" else None)
                if reason is not None:
                    skipped.append(f"{fault} on {backend}: {reason}")
                    continue
                if backend == "postgresql" and cluster is None:
                    cluster = Cluster().init()
                    cluster.start()
                started = time.perf_counter()
                try:
                    report = run_fault(fault, backend, tmp / f"{fault}-{backend}", args.calls, cluster, args.threads)
                except Unavailable as exc:
                    skipped.append(f"{fault} on {backend}: {exc}")
                    continue
                except Exception as exc:  # the run itself could not go on (gunicorn would not start): a row
                    report = Report(fault, backend, Ledger(), problems=[f"{type(exc).__name__}: {exc}"[:3000]])
                print(f"{fault} on {backend}: {args.calls} calls in {time.perf_counter() - started:.0f} s, "
                      f"{len(report.problems)} broken promise(s)", flush=True)
                reports.append(report)
    finally:
        if cluster is not None:
            cluster.destroy()
    return reports


def show(report: Report) -> None:
    """A fault's broken promises, and the end of gunicorn's log (without the request lines)."""
    print(f"\n{report.fault} on {report.backend}:")
    for problem in report.problems[:30]:
        print(f"  {problem[:400]}")
    if len(report.problems) > 30:
        print(f"  ... and {len(report.problems) - 30} more")
    own = [line for line in report.log_tail.splitlines() if not re.match(r"<\d+> ", line)]
    print("  gunicorn's log, the end (requests left out):\n    " + "\n    ".join(own[-25:]))


def main() -> int:
    args = arguments()
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ivr-bench-faults-") as tmp:
        reports = run(args, Path(tmp), skipped)
    print()
    print(table(reports))
    for line in skipped:
        print(f"skipped: {line}")
    broken = [r for r in reports if r.problems]
    for report in broken:
        show(report)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
