"""The crawler's property on observed graphs built by hand: the worst case over the canceller's moves (the best
over its sample numbers), loops and endings unbounded, and what was not tried left undecided."""

from __future__ import annotations

import pytest

from ivr.testing.crawl_draw import dot, mermaid
from ivr.testing.crawl_graph import Graph, Kind, Outcome, Seen
from ivr.testing.crawl_inputs import SILENCE, Plan, Try
from ivr.testing.crawl_worst import UNBOUNDED, analyse, solve

CANCEL, NINE, DATA_OK, DATA_BAD = Try("say", "cancel"), Try("press", "9"), Try("press", "12345"), \
    Try("press", "1")


def build(states: dict[str, tuple[Try, ...] | str], edges: list[tuple[str, Try, str, bool]],
          data: dict[str, tuple[Try, ...]] | None = None) -> Graph:
    """States by name: the canceller's moves, or 'end' for an ending, or 'unexplored'; then the transitions
    observed (from, try, to, cancelled)."""
    graph = Graph()
    ids: dict[str, int] = {}
    for name, moves in states.items():
        kind: Kind = "ended" if moves == "end" else "gather"
        state, _ = graph.discover(Seen((kind, name), kind, f"prompt {name}"), (), ())
        ids[name] = state.id
        if isinstance(moves, tuple):
            samples = (data or {}).get(name, ())
            state.plan = Plan(tuple((t, "cancel") for t in moves), moves, samples, ())
    for at, done, to, cancelled in edges:
        graph.add(ids[at], done, Outcome(ids[to], cancelled))
    return graph


def values(graph: Graph, optimistic: bool = False) -> list[float]:
    found = solve(graph, optimistic)
    return [found[s.id] for s in graph.waiting()]


@pytest.mark.parametrize(("states", "edges", "expected"), [
    # a straight line: menu -> confirm -> cancelled
    ({"menu": (CANCEL,), "confirm": (CANCEL,), "done": "end"},
     [("menu", CANCEL, "confirm", False), ("confirm", CANCEL, "done", True)], [2, 1]),
    # the worst phrasing counts: 9 goes the long way round
    ({"menu": (CANCEL, NINE), "why": (CANCEL,), "confirm": (CANCEL,), "done": "end"},
     [("menu", CANCEL, "confirm", False), ("menu", NINE, "why", False), ("why", CANCEL, "confirm", False),
      ("confirm", CANCEL, "done", True)], [3, 2, 1]),
    # a loop: unbounded everywhere on it
    ({"why": (CANCEL,), "help": (CANCEL,)},
     [("why", CANCEL, "help", False), ("help", CANCEL, "why", False)], [UNBOUNDED, UNBOUNDED]),
    # an ending without cancellation (a transfer to an agent): unbounded
    ({"menu": (CANCEL,), "agent": "end"}, [("menu", CANCEL, "agent", False)], [UNBOUNDED]),
    # one try seen leading two ways (a hidden counter): the worse one counts
    ({"menu": (CANCEL,), "confirm": (CANCEL,), "agent": "end", "done": "end"},
     [("menu", CANCEL, "confirm", False), ("menu", CANCEL, "agent", False), ("confirm", CANCEL, "done", True)],
     [UNBOUNDED, 1]),
    # silence where nothing else helps, climbing a ladder to the goal
    ({"menu": (SILENCE,), "again": (SILENCE,), "done": "end"},
     [("menu", SILENCE, "again", False), ("again", SILENCE, "done", True)], [2, 1]),
])
def test_worst_case_turns(states: dict[str, tuple[Try, ...] | str], edges: list[tuple[str, Try, str, bool]],
                          expected: list[float]) -> None:
    assert values(build(states, edges)) == expected


def test_the_caller_gives_the_number_that_works() -> None:
    graph = build({"ask": (), "offer": (CANCEL,), "done": "end"},
                  [("ask", DATA_BAD, "ask", False), ("ask", DATA_OK, "offer", False),
                   ("offer", CANCEL, "done", True)], data={"ask": (DATA_BAD, DATA_OK)})
    assert values(graph) == [2, 1]


def test_what_was_not_tried_is_undecided() -> None:
    graph = build({"menu": (CANCEL, NINE), "done": "end"}, [("menu", CANCEL, "done", True)])
    assert values(graph) == [UNBOUNDED]
    assert values(graph, optimistic=True) == [1]
    analysis = analyse(graph, within=3)
    assert (analysis.verdict, analysis.unknown, analysis.counterexample) == ("inconclusive", (0,), ())


def test_a_failure_shows_the_shallowest_failing_state_and_the_loop() -> None:
    graph = build({"menu": (CANCEL,), "why": (CANCEL,), "help": (CANCEL,)},
                  [("menu", CANCEL, "why", False), ("why", CANCEL, "help", False), ("help", CANCEL, "why", False)])
    analysis = analyse(graph, within=4)
    assert (analysis.verdict, analysis.worst, analysis.target) == ("fail", None, 0)
    assert [(e.state, str(e.done) if e.done else e.ending) for e in analysis.counterexample] == [
        (0, "say 'cancel'"), (1, "say 'cancel'"), (2, "say 'cancel'"),
        (1, "back at turn 2's prompt: the canceller goes round again")]


def test_too_many_turns_fail_with_the_path() -> None:
    graph = build({"a": (CANCEL,), "b": (CANCEL,), "c": (CANCEL,), "done": "end"},
                  [("a", CANCEL, "b", False), ("b", CANCEL, "c", False), ("c", CANCEL, "done", True)])
    analysis = analyse(graph, within=2)
    assert (analysis.verdict, analysis.worst, analysis.target) == ("fail", 3, 0)
    assert analysis.counterexample[-1].ending == "cancelled"
    assert analyse(graph, within=3).verdict == "pass"


def test_the_graph_draws_in_mermaid_and_dot() -> None:
    graph = build({'say "why"': (CANCEL,), "done": "end"}, [('say "why"', CANCEL, "done", True)])
    analysis = analyse(graph, within=3)
    drawn = mermaid(graph, analysis, 3)
    assert drawn.startswith("flowchart TD\n")
    assert 'S0["S0 (1 turn)<br/>prompt say #quot;why#quot;"]' in drawn
    assert "S0 ==>|\"cancelled: say 'cancel'\"| S1" in drawn
    drawn = dot(graph, analysis, 3)
    assert 'S0 [label="S0 (1 turn)\\nprompt say \\"why\\""];' in drawn
    assert "S0 -> S1 [label=\"cancelled: say 'cancel'\", style=bold, color=darkgreen];" in drawn
