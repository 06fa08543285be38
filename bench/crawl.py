"""The crawler on ivr's example flows, in-process: calls made, seconds, the states it found against the proof's
reachable states, and its verdict and worst case beside `ivr check`'s.

    python bench/crawl.py                          # acme
    python bench/crawl.py --all                    # every example flow, and the 2014 loop: the agreement table
    python bench/crawl.py --store durable          # the app's store on a SQLite file (fsync per request)
    python bench/crawl.py --every-phrase           # every hint phrase at every state

The crawler sees only TwiML (and, for the default cancellation `outcome:cancelled`, ivr's X-Ivr-Outcome header).
Its states are prompts, so they are not the proof's: the proof counts every (node, no-input count, no-match
count) pair, and a prompt does not show both counts (after a no-input then a no-match, the caller hears the
no-match rung); but a node reached after different automatic nodes (say nodes, ladder rungs, help) is heard as
different prompts. "proof states" is `Report.states`.

Stores: memory (`sqlite://`, the default here: the crawl's thousands of calls without an fsync each) or durable
(a SQLite file in a temporary directory, the store's own settings). gym runs with a `lookup_member` handler that
returns a tier, as a real gym's does: without one the app never makes the retention offer (see
tests/testing/test_crawl_agreement.py).

Exit status 1 when the crawler and the proof disagree on a flow (it is a benchmark: timings are printed, not
judged).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from ivr.flow import engine
from ivr.flow.loader import load_flow
from ivr.line.app import create_app
from ivr.line.settings import Settings
from ivr.line.webhook import EffectCall
from ivr.proof.report import check
from ivr.testing.crawl import Limits, Options, crawl
from ivr.testing.crawl_inputs import Inputs
from ivr.testing.sim import Simulator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-auth-token"
FLOWS = ["flows/acme.yaml", "flows/gym.yaml", "flows/ko-telecom.yaml", "flows/streaming.yaml",
         "tests/flows/shop.yaml", "tests/flows/retention-loop-2014.yaml"]


def monthly(ctx: EffectCall) -> engine.EffectResult:
    return engine.EffectResult(value="monthly")


def bench(path: str, store: str, max_calls: int, every_phrase: bool) -> tuple[list[str], bool]:
    flow, _ = load_flow(ROOT / path)
    began = time.perf_counter()
    report = check(flow)
    proof_s = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as directory:
        url = "sqlite://" if store == "memory" else f"sqlite:///{directory}/calls.db"
        app = create_app([str(ROOT / path)], Settings(auth_token=TOKEN, database_url=url, serve_failing=True),
                         effects={"lookup_member": monthly})
        options = Options(entry=f"/voice/{flow.name}", within=report.within,
                          inputs=Inputs(every_phrase=every_phrase), limits=Limits(max_calls=max_calls))
        result = crawl(Simulator(app, auth_token=TOKEN), options)
        app.extensions["ivr"].store.close()
    a = result.analysis
    worst = a.worst if a else None
    agree = (result.verdict == "pass") == report.ok and worst == report.worst_case_turns
    row = [flow.name, f"{'ok' if report.ok else 'FAIL'}/{report.worst_case_turns}",
           f"{result.verdict}/{worst}", str(result.calls), str(result.requests),
           f"{len(result.graph.waiting())}+{len(result.graph.endings())}", str(report.states),
           f"{result.seconds:.1f}", f"{result.calls / max(result.seconds, 1e-9):.0f}", f"{proof_s * 1000:.0f}",
           "yes" if agree else "NO"]
    for note in result.not_explored:
        print(f"  {flow.name}: not explored: {note}", file=sys.stderr)
    return row, agree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--all", action="store_true", help="every example flow and the 2014 loop")
    parser.add_argument("--flows", nargs="*", default=None, help="flow files (relative to the repository)")
    parser.add_argument("--store", choices=["memory", "durable"], default="memory")
    parser.add_argument("--max-calls", type=int, default=6000)
    parser.add_argument("--every-phrase", action="store_true")
    args = parser.parse_args()
    paths = args.flows or (FLOWS if args.all else FLOWS[:1])
    head = ["flow", "check ok/worst", "crawl verdict/worst", "calls", "requests", "states+endings",
            "proof states", "seconds", "calls/s", "proof ms", "agree"]
    rows, agree = [head], True
    for path in paths:
        row, same = bench(path, args.store, args.max_calls, args.every_phrase)
        rows.append(row)
        agree = agree and same
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    print(f"crawler vs `ivr check`, in-process, store {args.store}, max {args.max_calls} calls"
          + (", every phrase" if args.every_phrase else ""))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
