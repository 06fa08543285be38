"""How `ivr check` scales: generated flows growing in nodes, phrases, ladder rungs and phrase length; seconds and
the growth per 10x of each.

The proof's cost should grow linearly with what the flow holds: each 10x more nodes, phrases, ladder rungs or
characters in a phrase should cost about 10x more time (a ratio near 10; 100 would mean quadratic). Targets: a
10k-node flow proven in under 1 s here; the 150k-phrase flow within a couple of minutes at most.

    python bench/check_scaling.py                      # every case, at the default sizes
    python bench/check_scaling.py --case nodes --sizes 1000 10000
    python bench/check_scaling.py --case phrases --sizes 2000 20000 150000

Cases (the `--sizes` of each are its own unit):

- `nodes`: blocks shaped like a real line, repeated: a menu (three intents, a key), an info `say` that returns
  to it, a yes/no `confirm`, a `set` + `branch` pair, plus one shared cancellation path (say, collect an account
  number, one retention offer, confirm, record the cancellation, goodbye). Every input node has escalating
  no-input/no-match ladders and hears the global cancel/agent/repeat intents.
- `phrases`: a 1k-node flow of those blocks whose intents hold N phrases in all: half are cancel phrasings
  ("cancel my plan 17 ..."), the rest spread over the menu's intents; every phrase starts with one of a few words,
  as real phrasings do, so a matcher that compares phrase against phrase shows it.
- `ladder`: a 100-node flow whose default no-input and no-match ladders have N rungs (N - 1 that reprompt, then
  one that goes to an agent): a node's states are its no-input count x its no-match count.
- `phrase-chars`: a 1k-node flow whose cancel intent also holds one phrase of N characters (a word repeated).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any

from ivr.flow.model import Flow
from ivr.flow.values import Limits
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
#: the load-time limits raised past every size here: this measures the checker, not what the loader accepts
LIMITS = Limits(max_phrases=1_000_000, max_intent_phrases=1_000_000, max_phrase_chars=2_000_000,
                max_text_chars=2_000_000, max_ladder_rungs=100_000)
WORDS = "plan service account line package bundle phone internet cable contract box router".split()


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


def phrasing(first: str, i: int) -> str:
    """A distinct phrase: `first`, then `i` written as words of WORDS (a phrase has no number words, which the
    matcher would turn into digits)."""
    words = [first]
    while True:
        words.append(WORDS[i % len(WORDS)])
        i //= len(WORDS)
        if not i:
            return " ".join(words)


def with_phrases(phrases: int) -> dict[str, Any]:
    """A 1k-node flow whose intents hold about `phrases` phrases in all, half of them cancel phrasings."""
    data = generate(1_000)
    intents = data["intents"]
    half = phrases // 2
    intents["cancel"]["phrases"] += [phrasing("cancel", i) for i in range(half)]
    for k, name in enumerate(("billing", "tech", "more")):
        first = ("bill", "fix", "other")[k]
        intents[name]["phrases"] += [phrasing(first, i) for i in range(k, phrases - half, 3)]
    data["name"] = f"phrases-{phrases}"
    return data


def with_ladder(rungs: int) -> dict[str, Any]:
    """A 100-node flow whose default ladders have `rungs` rungs, the last one escalating."""
    data = generate(100)
    ladder = [{"say": f"Sorry, try {i + 1}?"} for i in range(rungs - 1)] + [{"say": "Agent.", "goto": "agent"}]
    data["defaults"] = {"no_input": ladder, "no_match": ladder}
    data["name"] = f"ladder-{rungs}"
    return data


def with_long_phrase(chars: int) -> dict[str, Any]:
    """A 1k-node flow whose cancel intent also holds one phrase of `chars` characters ("cancel cancel ...")."""
    data = generate(1_000)
    data["intents"]["cancel"]["phrases"].append(("cancel " * (chars // 7 + 1))[:chars].strip())
    data["name"] = f"phrase-chars-{chars}"
    return data


CASES: dict[str, tuple[Callable[[int], dict[str, Any]], list[int], str]] = {
    "nodes": (generate, [1_000, 10_000, 100_000], "nodes"),
    "phrases": (with_phrases, [2_000, 20_000, 150_000], "phrases"),
    "ladder": (with_ladder, [15, 150, 1_500], "rungs"),
    "phrase-chars": (with_long_phrase, [10_000, 100_000, 1_000_000], "chars"),
}


def run(case: str, sizes: list[int]) -> None:
    build, _, unit = CASES[case]
    print(f"\n{case}: growth per 10x {unit}")
    print(f"{unit:>9} {'nodes':>7} {'states':>10} {'validate s':>11} {'check s':>9} {'us/state':>9} "
          f"{'ratio/10x':>10}  result")
    previous: tuple[int, float] | None = None
    for size in sizes:
        data = build(size)
        t0 = time.perf_counter()
        flow = Flow.model_validate(data, context={"limits": LIMITS})
        t1 = time.perf_counter()
        report = check(flow)
        t2 = time.perf_counter()
        seconds = t2 - t1
        ratio = ""
        if previous is not None and size != previous[0]:
            ratio = f"{(seconds / max(previous[1], 1e-9)) ** (1 / math.log10(size / previous[0])):.1f}"
        verdict = f"ok, worst case {report.worst_case_turns} turns" if report.ok else f"FAIL: {report.summary}"
        print(f"{size:>9} {len(flow.nodes):>7} {report.states:>10} {t1 - t0:>11.2f} {seconds:>9.2f} "
              f"{seconds / max(report.states, 1) * 1e6:>9.1f} {ratio:>10}  {verdict}", flush=True)
        previous = (size, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=list(CASES), nargs="+", default=list(CASES))
    parser.add_argument("--sizes", type=int, nargs="+", help="sizes of each case (default: its own three)")
    args = parser.parse_args()
    for case in args.case:
        run(case, args.sizes or CASES[case][1])
    print("\ntargets: 10k nodes checked in < 1 s, 150k phrases within a couple of minutes; ratio/10x near 10 "
          "means linear (100 would be quadratic)")


if __name__ == "__main__":
    main()
