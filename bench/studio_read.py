"""Reading Studio flow definitions (`ivr.flow.studio_read`): seconds for generated flows of growing size, against
`json.loads` of the same text in the same run, and the growth per 2x.

The reader parses with `json`, then checks every widget against the widget table and finds each key's line in one
pass over the text; its cost should grow linearly (a ratio near 2 per 2x; 4 would mean quadratic). Issue 14's
target is importing *and checking* a 500-state flow in under 1 s; the importer does not exist yet, so this measures
the reading, the first part of it.

    python bench/studio_read.py                   # 500, 1000, 2000, 4000 states
    python bench/studio_read.py --sizes 500 8000
"""

from __future__ import annotations

import argparse
import json
import time

from ivr.flow.studio_read import read_studio


def definition(states: int) -> str:
    """A Trigger, then gathers each followed by a split on its digits: the shape of a large phone tree."""
    half = max(1, (states - 1) // 2)
    body: list[dict[str, object]] = [{"name": "Trigger", "type": "trigger", "properties": {"offset": {"x": 0, "y": 0}},
                                      "transitions": [{"event": "incomingCall", "next": "ask0"}]}]
    for i in range(half):
        body.append({"name": f"ask{i}", "type": "gather-input-on-call",
                     "properties": {"say": f"Menu {i}: press 1 to go on, 9 to cancel.", "number_of_digits": 1,
                                    "timeout": 5, "offset": {"x": 0, "y": 200 * i}},
                     "transitions": [{"event": "keypress", "next": f"route{i}"}, {"event": "speech"},
                                     {"event": "timeout", "next": f"ask{i}"}]})
        digits = f"{{{{widgets.ask{i}.Digits}}}}"
        body.append({"name": f"route{i}", "type": "split-based-on",
                     "properties": {"input": digits, "offset": {"x": 300, "y": 200 * i}},
                     "transitions": [{"event": "noMatch", "next": f"ask{i}"},
                                     {"event": "match", "next": f"ask{(i + 1) % half}",
                                      "conditions": [{"friendly_name": "1", "arguments": [digits],
                                                      "type": "equal_to", "value": "1"}]}]})
    return json.dumps({"description": "generated", "states": body, "initial_state": "Trigger",
                       "flags": {"allow_concurrent_calls": True}}, indent=2)


def best_of(runs: int, work: object) -> float:
    assert callable(work)
    best = float("inf")
    for _ in range(runs):
        began = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000, 4000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"{'states':>7} {'lines':>7} {'read s':>8} {'json.loads s':>13} {'read/json':>10} {'growth':>7}")
    last: float | None = None
    for size in args.sizes:
        text = definition(size)
        read = best_of(args.runs, lambda text=text: read_studio(text, "bench.json"))
        parse = best_of(args.runs, lambda text=text: json.loads(text))
        growth = f"{read / last:.2f}" if last else ""
        print(f"{size:>7} {text.count(chr(10)) + 1:>7} {read:>8.4f} {parse:>13.4f} {read / parse:>10.1f} {growth:>7}")
        last = read
    print("target: a 500-state flow imported and checked in < 1 s (reading is the first part; see above)")


if __name__ == "__main__":
    main()
