"""What `ivr crawl` prints: the verdict and its one-line summary, what the crawl cost, what it did not explore,
the application errors it met, and the counterexample; as text for people or as JSON for programs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ivr.testing.crawl import Crawl
from ivr.testing.crawl_graph import State
from ivr.testing.crawl_scripts import counterexample_text
from ivr.testing.crawl_worst import UNBOUNDED, Waypoint, turns

PROMPT_CHARS = 110


def conditions(crawl: Crawl) -> str:
    return " or ".join(str(c) for c in crawl.cancel_when) or "(none)"


def summary(crawl: Crawl) -> str:
    """One line: the verdict, and why."""
    n, a = crawl.options.within, crawl.analysis
    if crawl.unusable or a is None:
        return f"the app cannot be crawled: {crawl.unusable or 'no call was placed'}"
    waiting = crawl.graph.waiting()
    if not waiting:
        return "no prompt waits for the caller: no caller can ask to cancel"
    goal = conditions(crawl)
    if a.verdict == "pass":
        return (f"a caller who keeps asking to cancel meets {goal} within {a.worst} turn(s) from every one of "
                f"{len(waiting)} discovered states (limit {n})")
    if a.verdict == "fail" and crawl.reproduced is False:
        return (f"the crawl found a canceller path that misses {goal} within {n} turns, but a fresh call following "
                "it was cancelled in time: the line has a counter its prompts do not show (see the path below)")
    if a.verdict == "inconclusive":
        return (f"the canceller met {goal} within {n} turns wherever it was tried, but {len(a.unknown)} states "
                "depend on tries the bounds left out (see 'not explored')")
    assert a.target is not None
    target = crawl.graph.states[a.target]
    last = a.counterexample[-1] if a.counterexample else None
    value = a.optimistic.get(a.target, UNBOUNDED)
    if value != UNBOUNDED:
        why = f"it takes {int(value)} turns"
    elif last is not None and "round again" in last.ending:
        why = "the call loops"
    else:
        why = last.ending if last is not None else "unbounded"
    return f"a caller who keeps asking to cancel from {target.name} does not meet {goal} within {n} turns: {why}"


def _n(count: int, word: str) -> str:
    return f"{count} {word if count == 1 else 'tries' if word == 'try' else word + 's'}"


def _prompt(text: str) -> str:
    text = text or "(nothing said)"
    return text if len(text) <= PROMPT_CHARS else text[: PROMPT_CHARS - 1] + "…"


def _way(state: State) -> str:
    return ", ".join(str(t) for t in state.path) or "(the first prompt)"


def waypoint_lines(events: tuple[Waypoint, ...], crawl: Crawl) -> Iterator[str]:
    for turn, e in enumerate(events, 1):
        name = crawl.graph.states[e.state].name
        if e.done is None:
            yield f"    end       {name}: {e.ending}" + (f": {_prompt(e.prompt)}" if e.prompt else "")
            continue
        mark = "cancelling" if e.cancelling else "reaching"
        yield f"    turn {turn:<3}  {name} ({mark}): {_prompt(e.prompt)}"
        yield f"              caller: {e.done}"


def text(crawl: Crawl, where: str, command: str = "ivr crawl") -> Iterator[str]:
    verdict = crawl.verdict.upper() if crawl.verdict != "pass" else "ok"
    yield f"{where}: {verdict} - {summary(crawl)}"
    graph, a = crawl.graph, crawl.analysis
    yield (f"  crawl: {_n(crawl.calls, 'call')}, {_n(crawl.requests, 'request')}, {crawl.seconds:.1f} s; "
           f"{_n(len(graph.waiting()), 'state')} waiting for the caller, {_n(len(graph.endings()), 'ending')}, "
           f"{_n(len(graph.edges), 'try')} observed")
    if crawl.unusable:
        return
    yield f"  cancellation: {conditions(crawl)}"
    if a is not None and a.target is not None and a.verdict == "pass":
        target = graph.states[a.target]
        yield f"  worst case: {a.worst} turn(s), from {target.name}: {_prompt(target.seen.prompt)}"
        yield f"              way in: {_way(target)}"
    for note in crawl.not_explored:
        yield f"  not explored: {note}"
    for state, error in crawl.errors:
        yield f"  application error at {state.name}: {error} (way in: {_way(state)})"
    if a is not None and a.counterexample and a.verdict == "fail":
        yield "  counterexample (the shortest way in, then a caller who keeps asking to cancel):"
        yield from waypoint_lines(a.counterexample, crawl)
        if crawl.reproduced is not None:
            yield "  a fresh call following it " + ("fails the same way" if crawl.reproduced else
                                                     "was cancelled in time: a counter the prompts do not show")
        script = counterexample_text(crawl, command)
        if script is not None:
            yield "  the counterexample as a call script (it fails while the line behaves so):"
            yield from (f"    {line}" for line in script.splitlines())


def _waypoint_json(e: Waypoint) -> dict[str, Any]:
    return {"state": e.state, "prompt": e.prompt, "try": str(e.done) if e.done else None,
            "cancelling": e.cancelling, "ending": e.ending or None}


def as_json(crawl: Crawl, where: str, command: str = "ivr crawl") -> dict[str, Any]:
    a, graph = crawl.analysis, crawl.graph
    values = a.values if a else {}
    states = [{"id": s.name, "kind": s.seen.kind, "prompt": s.seen.prompt, "depth": s.depth,
               "way_in": [str(t) for t in s.path],
               "turns": None if s.ended else turns(values.get(s.id, UNBOUNDED)),
               "explored": s.plan is not None, "note": s.note or None, "status": s.seen.status,
               "errors": list(s.seen.errors), "detail": s.seen.detail or None} for s in graph.states]
    transitions = [{"from": f"S{at}", "try": str(done), "to": f"S{o.to}", "cancelled": o.cancelled, "times": n}
                   for (at, done), outcomes in graph.edges.items() for o, n in outcomes.items()]
    return {"url": where, "verdict": crawl.verdict, "ok": crawl.verdict == "pass", "summary": summary(crawl),
            "within": crawl.options.within, "worst_case_turns": a.worst if a else None,
            "worst_state": f"S{a.target}" if a and a.target is not None else None,
            "cancel_when": [str(c) for c in crawl.cancel_when], "calls": crawl.calls, "requests": crawl.requests,
            "seconds": round(crawl.seconds, 3), "unusable": crawl.unusable or None,
            "not_explored": list(crawl.not_explored),
            "errors": [{"state": s.name, "error": e, "way_in": [str(t) for t in s.path]} for s, e in crawl.errors],
            "counterexample": [_waypoint_json(e) for e in a.counterexample] if a else [],
            "reproduced": crawl.reproduced, "counterexample_script": counterexample_text(crawl, command),
            "states": states, "transitions": transitions}
