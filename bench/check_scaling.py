"""How `ivr check` scales: generated flows of 1k, 10k and 100k nodes, seconds and the ratio per 10x.

The proof's cost should grow linearly with states x counters, so each 10x more nodes should cost about 10x
more time (a ratio near 10; 100 would mean quadratic). Target: a 10k-node flow proven in under 1 s here.

    python bench/check_scaling.py            # 1k, 10k, 100k
    python bench/check_scaling.py --sizes 1000 10000

The generated flow is shaped like a real line, repeated: blocks of a menu (three intents, a key), an info
`say` that returns to it, a yes/no `confirm`, a `set` + `branch` pair, plus one shared cancellation path
(say, collect an account number, one retention offer, confirm, record the cancellation, goodbye). Every input
node has escalating no-input/no-match ladders and hears the global cancel/agent/repeat intents.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ivr.flow.model import Flow
from ivr.proof.report import check

CANCEL_PATH: dict[str, Any] = {
    "cancel_start": {"type": "say", "prompt": "I can help you cancel.", "next": "ask_account"},
    "ask_account": {"type": "collect", "prompt": "Your account number?", "var": "account",
                    "digits": {"min": "8", "max": "8"}, "next": "offer", "routes": {"cancel": "@no_match"}},
    "offer": {"type": "menu", "retention": "true", "prompt": "Half price for six months? Say accept.",
              "routes": {"accept": "kept", "cancel": "confirm_cancel"}},
    "confirm_cancel": {"type": "confirm", "prompt": "Cancel account {account:digits}?", "yes": "do_cancel",
                       "no": "kept", "routes": {"cancel": "do_cancel"}},
    "do_cancel": {"type": "action", "effect": "record_cancellation", "result": "confirmation",
                  "next": "cancelled", "on_error": "agent"},
    "cancelled": {"type": "end", "prompt": "Cancelled. Number {confirmation:digits}.", "outcome": "cancelled"},
    "kept": {"type": "end", "prompt": "Thanks for staying.", "outcome": "kept"},
    "agent": {"type": "transfer", "prompt": "Connecting you.", "number": "+18005550100"},
}


def generate(nodes: int) -> dict[str, Any]:
    """A flow of about `nodes` nodes (6 per block plus the shared cancellation path)."""
    blocks = max(1, (nodes - len(CANCEL_PATH)) // 6)
    graph: dict[str, Any] = dict(CANCEL_PATH)
    for i in range(blocks):
        nxt = f"menu{i + 1}" if i + 1 < blocks else "kept"
        graph.update({
            f"menu{i}": {"type": "menu", "prompt": f"Menu {i}: billing, support, or more?",
                         "routes": {"billing": f"info{i}", "tech": f"ask{i}", "more": nxt},
                         "keys": {"5": f"mark{i}"}},
            f"info{i}": {"type": "say", "prompt": f"Your balance in section {i} is zero.", "next": f"menu{i}"},
            f"ask{i}": {"type": "confirm", "prompt": "Did restarting help?", "yes": nxt, "no": "agent"},
            f"mark{i}": {"type": "set", "set": {"tier": "gold"}, "next": f"route{i}"},
            f"route{i}": {"type": "branch", "var": "tier", "cases": {"gold": f"gold{i}"}, "default": f"menu{i}"},
            f"gold{i}": {"type": "say", "prompt": "Thanks, gold member.", "next": f"menu{i}"},
        })
    ladder = [{"say": "Sorry?"}, {"say": "Sorry, once more?"}, {"say": "Let me get someone.", "goto": "agent"}]
    return {
        "name": f"generated-{nodes}", "start": "menu0", "outcomes": ["cancelled", "kept", "transferred"],
        "guarantee": {"within": "4"}, "variables": {"account": "", "confirmation": "", "tier": ""},
        "intents": {"billing": {"phrases": ["billing", "my bill"], "keys": ["1"]},
                    "tech": {"phrases": ["support", "internet"], "keys": ["2"]},
                    "more": {"phrases": ["more", "other"], "keys": ["3"]},
                    "accept": {"phrases": ["accept", "keep my service"]},
                    "cancel": {"phrases": ["cancel", "cancellation", "cancel my service", "i want to cancel",
                                           "cancel it", "cancel my internet"], "keys": ["9"]}},
        "globals": {"cancel": "cancel_start", "agent": "agent", "repeat": "@repeat", "help": "@help"},
        "defaults": {"no_input": ladder, "no_match": ladder},
        "nodes": graph,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    args = parser.parse_args()
    print(f"{'nodes':>8} {'states':>9} {'validate s':>11} {'check s':>9} {'us/state':>9} {'ratio/10x':>10}  result")
    previous: tuple[int, float] | None = None
    for size in args.sizes:
        data = generate(size)
        t0 = time.perf_counter()
        flow = Flow.model_validate(data)
        t1 = time.perf_counter()
        report = check(flow)
        t2 = time.perf_counter()
        seconds = t2 - t1
        ratio = ""
        if previous is not None:
            per10 = (seconds / previous[1]) ** (1 / __import__("math").log10(len(flow.nodes) / previous[0]))
            ratio = f"{per10:.1f}"
        verdict = f"ok, worst case {report.worst_case_turns} turns" if report.ok else f"FAIL: {report.summary}"
        print(f"{len(flow.nodes):>8} {report.states:>9} {t1 - t0:>11.2f} {seconds:>9.2f} "
              f"{seconds / max(report.states, 1) * 1e6:>9.1f} {ratio:>10}  {verdict}")
        previous = (len(flow.nodes), seconds)
    print("target: 10k nodes checked in < 1 s; ratio/10x near 10 means linear (100 would be quadratic)")


if __name__ == "__main__":
    main()
