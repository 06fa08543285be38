"""The crawler's property: from every discovered state, a caller who keeps asking to cancel reaches cancellation
within N turns (`ivr crawl`). Pure: it reads the observed graph, never the line.

The canceller's moves at a state are its `Plan.cancel` tries (every one of them counts: the line may answer
any phrasing its worst way) and, where a number is wanted, its `Plan.data` samples (the caller gives the one
that works best). A try's value is the worst of what it was observed to lead to: 0 when cancellation was met
on the way, unbounded for an ending without it, else the next state's value. A state's value is one turn more
than its worst move: the longest canceller path to cancellation, counted in the caller's answers. A cycle the
canceller can be kept in, or an ending it can be sent to, is unbounded.

Values are the least fixed point, found a turn at a time: a state is within k turns when every move is within
k - 1. What was not tried (the bounds stopped the crawl) is unknown, so the analysis runs twice: `pessimistic`
(unknown = unbounded) and `optimistic` (unknown = cancelled). The property holds when the pessimistic values
are all within N, fails when an optimistic one is not, and is inconclusive in between.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ivr.testing.crawl_graph import Graph, Outcome, State
from ivr.testing.crawl_inputs import Try

UNBOUNDED = math.inf
Verdict = Literal["pass", "fail", "inconclusive"]


@dataclass(frozen=True)
class Waypoint:
    """One turn of a counterexample: the state, what the caller does, whether it is the canceller; or its end
    (`done` None), saying how the call ended or where it repeats."""

    state: int
    prompt: str
    done: Try | None = None
    cancelling: bool = False
    ending: str = ""


@dataclass(frozen=True)
class Analysis:
    verdict: Verdict
    worst: int | None  # the most turns from any state (None: unbounded, or unknown)
    values: dict[int, float]  # state id -> turns (pessimistic: what is known for sure)
    optimistic: dict[int, float]
    target: int | None  # the worst state (for a failure: the shallowest failing one)
    counterexample: tuple[Waypoint, ...] = ()
    unknown: tuple[int, ...] = ()  # states whose value depends on what was not tried


def _move_value(graph: Graph, at: int, done: Try, values: dict[int, float], optimistic: bool) -> float:
    found = graph.outcomes(at, done)
    if found is None:
        return 0.0 if optimistic else UNBOUNDED
    return max(_outcome_value(graph, o, values) for o in found)


def _outcome_value(graph: Graph, o: Outcome, values: dict[int, float]) -> float:
    if o.cancelled:
        return 0.0
    return UNBOUNDED if graph.states[o.to].ended else values.get(o.to, UNBOUNDED)


def _state_value(graph: Graph, state: State, values: dict[int, float], optimistic: bool) -> float:
    plan = state.plan
    if plan is None:  # not explored: unknown
        return 1.0 if optimistic else UNBOUNDED
    worst = max((_move_value(graph, state.id, t, values, optimistic) for t in plan.cancel), default=0.0)
    if plan.data:
        worst = max(worst, min(_move_value(graph, state.id, t, values, optimistic) for t in plan.data))
    return worst + 1


def solve(graph: Graph, optimistic: bool) -> dict[int, float]:
    """Every waiting state's value: the least fixed point, one turn at a time (a round that finds no state
    within k turns finds none later either: values below k are all known, and none is k)."""
    values: dict[int, float] = {}
    todo = [s for s in graph.waiting()]
    k = 1
    while todo:
        within = [s for s in todo if _state_value(graph, s, values, optimistic) <= k]
        if not within:
            break
        for s in within:
            values[s.id] = float(k)
        todo = [s for s in todo if s.id not in values]
        k += 1
    for s in todo:
        values[s.id] = UNBOUNDED
    return values


def analyse(graph: Graph, within: int) -> Analysis:
    """The verdict on the property over every discovered state, with the worst case and a counterexample."""
    sure, hope = solve(graph, optimistic=False), solve(graph, optimistic=True)
    states = graph.waiting()
    if not states:
        return Analysis("pass", None, sure, hope, None)
    unknown = tuple(s.id for s in states if sure[s.id] != hope[s.id])
    failing = [s for s in states if hope[s.id] > within]
    if failing:
        verdict: Verdict = "fail"
        target = min(failing, key=lambda s: (s.depth, -hope[s.id], s.id))
    else:
        verdict = "pass" if all(sure[s.id] <= within for s in states) else "inconclusive"
        target = max(states, key=lambda s: (sure[s.id], -s.depth, -s.id))
    top = max(sure[s.id] for s in states)
    worst = None if top == UNBOUNDED else int(top)
    path = counterexample(graph, target, hope if verdict == "fail" else sure) if verdict != "inconclusive" else ()
    return Analysis(verdict, worst, sure, hope, target.id, path, unknown)


def worst_move(graph: Graph, state: State, values: dict[int, float]) -> tuple[Try, float] | None:
    """The canceller's worst move at `state` (for the samples of a number: the best one) and its value."""
    plan = state.plan
    if plan is None:
        return None
    moves = [(t, _move_value(graph, state.id, t, values, True)) for t in plan.cancel]
    if plan.data:
        moves.append(min(((t, _move_value(graph, state.id, t, values, True)) for t in plan.data),
                         key=lambda m: m[1]))
    tried = [m for m in moves if graph.outcomes(state.id, m[0]) is not None]
    return max(tried, key=lambda m: m[1]) if tried else None


def counterexample(graph: Graph, target: State, values: dict[int, float]) -> tuple[Waypoint, ...]:
    """The shortest way in to `target`, then the canceller's worst path from it: until cancellation, an ending, or
    a state it has been at before (a loop)."""
    events = [Waypoint(at, graph.states[at].seen.prompt, done) for at, done in zip(target.trail, target.path,
                                                                                 strict=False)]
    seen: set[int] = set()
    state = target
    while True:
        if state.ended:
            events.append(Waypoint(state.id, state.seen.prompt, ending=_ending(state)))
            break
        if state.id in seen:
            first = next(i for i, e in enumerate(events) if e.state == state.id and e.cancelling)
            events.append(Waypoint(state.id, state.seen.prompt,
                                   ending=f"back at turn {first + 1}'s prompt: the canceller goes round again"))
            break
        seen.add(state.id)
        move = worst_move(graph, state, values)
        if move is None:
            events.append(Waypoint(state.id, state.seen.prompt, ending="not explored: " + (state.note or "no try")))
            break
        done = move[0]
        events.append(Waypoint(state.id, state.seen.prompt, done, cancelling=True))
        outcomes = graph.outcomes(state.id, done) or {}
        worst = max(outcomes, key=lambda o: (_outcome_value(graph, o, values), not o.cancelled))
        if worst.cancelled:
            events.append(Waypoint(worst.to, graph.states[worst.to].seen.prompt, ending="cancelled"))
            break
        state = graph.states[worst.to]
    return tuple(events)


def canceller_steps(events: tuple[Waypoint, ...], within: int) -> list[Try]:
    """The canceller's tries along a counterexample; a loop is gone round again until they are more than
    `within`, so that a fresh call following them shows the failure (or shows a counter the prompts hide)."""
    steps = [e.done for e in events if e.done is not None and e.cancelling]
    if not events or "round again" not in events[-1].ending or not steps:
        return steps
    cancelling = [e for e in events if e.done is not None and e.cancelling]
    start = next(i for i, e in enumerate(cancelling) if e.state == events[-1].state)
    loop = steps[start:]
    while len(steps) <= within:
        steps += loop
    return steps


def _ending(state: State) -> str:
    seen = state.seen
    parts = [f"the call ended ({seen.status})", *([seen.detail] if seen.detail else []),
             *(f"error {e}" for e in seen.errors)]
    return ", ".join(parts) + " without cancellation"


def turns(value: float) -> int | None:
    return None if value == UNBOUNDED else int(value)
