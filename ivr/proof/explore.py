"""The state graph of a flow: which states a call can be in, and how one answer moves it to the next.

A state is an input node with its no-input and no-match counts, each capped at its ladder's length (past the
end, the last rung repeats, so larger counts behave the same). Automatic nodes (say, set, branch, action) take
no turn; `Graph.exits` collapses each chain of them into the input nodes and endings it can lead to, going
every way at a branch. A chain that only leads back into itself (a loop of automatic nodes: linted as
`zero-turn-loop` or `effect-loop`) ends where the engine ends it, in `engine.ERROR_OUTCOME`. Input nodes are
stepped with `engine.decide` on what each answer means there — the engine's own routing table, never a second
copy of it.

Silence climbs only the no-input count and a mismatch only the no-match count, and where either leaves the node
depends on its own count alone. So the counts a node can reach are every pair of a no-input count and a
no-match count each reachable alone, and `explore` lists only the pairs with one count at 0 (the *axes*): any
other pair leads where the pairs of its axes do. Listing every pair made a node of two 1,500-rung ladders 2.25
million states; `Explorer.state_count` still counts them all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from ivr.flow import model as f
from ivr.flow.caller import SILENCE_TEXT, Digits, Speech
from ivr.flow.engine import ERROR_OUTCOME, Decision, decide
from ivr.flow.intents import Meaning, interpret, luhn_ok, matcher

State = tuple[str, int, int]  # input node, no-input count, no-match count (each capped at its ladder's length)
Counts = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Move:
    """One successor: the next state (or, for an ending, its outcome label), the node it lands on, and the
    retention offers passed on the way."""

    to: State | str
    node: str
    retention: int
    failed: tuple[str, ...] = ()  # actions whose effects must fail on the way (their `on_error` is followed)


@dataclass
class Exit:
    """Where a chain of automatic nodes (say, set, branch, action) leads: an input node or an ending."""

    node: str
    retention: int  # retention offers on the way (the exit node's own included)
    via: str | None  # next node of the chain (to rebuild it), None when the chain starts at the exit
    failed: tuple[str, ...] = ()  # the actions on the way whose `on_error` is followed, in order


@dataclass
class Graph:
    flow: f.Flow
    errors: bool  # follow `on_error` of actions (any caller) or only success (the proof)
    memo: dict[str, dict[str, Exit]] = field(default_factory=dict)

    def exits(self, start: str) -> dict[str, Exit]:
        """Every input node or terminal reachable from `start` through automatic nodes, iteratively."""
        if start in self.memo:
            return self.memo[start]
        stack = [(start, False)]
        on_stack: set[str] = set()
        while stack:
            node_id, done = stack.pop()
            if node_id in self.memo:
                continue
            succ = list(self._next(node_id))
            if not done:
                on_stack.add(node_id)
                stack.append((node_id, True))
                stack.extend((s, False) for s in succ if s not in self.memo and s not in on_stack)
                continue
            on_stack.discard(node_id)
            node = self.flow.nodes[node_id]
            own = int(node.retention)
            if not succ or all(s in on_stack or s == node_id for s in succ):
                # an ending or input node; or a node all of whose ways lead back into a loop (see the docstring)
                self.memo[node_id] = {node_id: Exit(node_id, own, None)}
                continue
            merged: dict[str, Exit] = {}
            error = node.on_error if isinstance(node, f.ActionNode) and node.on_error != node.next else None
            for s in succ:
                for target, ex in self.memo.get(s, {}).items():  # missing: back into a loop (linted)
                    failed = (node_id, *ex.failed) if s == error else ex.failed
                    old = merged.get(target)
                    # prefer more retention offers (the worst case), then a way where fewer effects fail
                    better = old is None or (ex.retention + own, -len(failed)) > (old.retention, -len(old.failed))
                    if better:
                        merged[target] = Exit(target, ex.retention + own, s, failed)
            self.memo[node_id] = merged
        return self.memo[start]

    def _next(self, node_id: str) -> Iterator[str]:
        node = self.flow.nodes[node_id]
        if isinstance(node, f.GatherNode | f.TransferNode | f.EndNode):
            return
        if isinstance(node, f.ActionNode):
            yield node.next
            if self.errors and node.on_error is not None:
                yield node.on_error
            return
        for _, target in node.targets():
            yield target

    def chain(self, start: str, target: str) -> list[str]:
        nodes, at = [start], start
        while (via := self.memo[at][target].via) is not None:
            nodes.append(via)
            at = via
        return nodes


def caps(flow: f.Flow, node: f.GatherNode) -> tuple[int, int]:
    return max(1, len(flow.ladder(node, "no_input"))), max(1, len(flow.ladder(node, "no_match")))


def sample_data(node: f.CollectNode) -> str:
    """Valid data for a collect node (what the persistent canceller gives when asked for an account number):
    the shortest of 1234567890..., 2345678901..., that passes the node's check and is not one of its keys."""
    for shift in range(10):
        digits = ("1234567890"[shift:] + "1234567890" * 4)[: node.digits.min]
        if node.validate_ == "luhn":
            digits = next(digits[:-1] + d for d in "0123456789" if luhn_ok(digits[:-1] + d))
        if digits not in node.keys:
            return digits
    return digits  # every candidate is a key: a flow no caller can give data to (its keys win, as in the engine)


SILENCE, JUNK = SILENCE_TEXT, "(something it does not understand)"  # the answers in their one text form
LADDER_MEANINGS = (Meaning("no_input"), Meaning("no_match"))
LADDER_ANSWERS = {LADDER_MEANINGS[0]: SILENCE, LADDER_MEANINGS[1]: JUNK}
Leaf = tuple[Counts, Meaning, list[Move]]
Stay = tuple[Counts, Counts, Meaning]  # counts reached, the counts it came from, the answer's meaning
Link = tuple[State, str, Meaning, tuple[str, ...]]


def any_caller_answers(flow: f.Flow, node_id: str) -> dict[Meaning, str]:
    """Every way an input node can understand an answer, each with the first answer that means it: what the
    engine's own `interpret` makes of every phrase and key of the intents it hears, its own keys, valid data,
    silence and junk. (A meaning no caller can produce — a key at a speech-only prompt, an intent whose key
    is valid data — is not here.)"""
    m = matcher(flow)
    memo: dict[int, dict[Meaning, str]] = m.derived.setdefault("any_caller_answers", {})
    shape = m.shape(flow, node_id)  # nodes that hear alike have the same answers
    if shape in memo:
        return memo[shape]
    node = flow.nodes[node_id]
    assert isinstance(node, f.GatherNode)
    found: dict[Meaning, str] = {}
    if isinstance(node, f.CollectNode) and node.dtmf:
        data = sample_data(node)
        found.setdefault(interpret(flow, node_id, Digits(data)), f"#{data}")
    for intent in flow.active_routes(node_id):
        for phrase in flow.all_intents[intent].phrases if node.speech else ():
            found.setdefault(interpret(flow, node_id, Speech(phrase)), phrase)
        for key in flow.all_intents[intent].keys if node.dtmf else ():
            found.setdefault(interpret(flow, node_id, Digits(key)), f"#{key}")
    for key in node.keys if node.dtmf else ():
        found.setdefault(interpret(flow, node_id, Digits(key)), f"#{key}")
    if isinstance(node, f.CollectNode) and node.speech:
        data = sample_data(node)
        found.setdefault(interpret(flow, node_id, Speech(data)), data)
    found.setdefault(LADDER_MEANINGS[0], SILENCE)
    found.setdefault(LADDER_MEANINGS[1], JUNK)
    memo[shape] = found
    return found


class Explorer:
    """The state graph of a flow under any caller behaviour, and (with `proof`) under a persistent canceller."""

    def __init__(self, flow: f.Flow) -> None:
        self.flow = flow
        self.any = Graph(flow, errors=True)
        self.proof = Graph(flow, errors=False)
        #: state -> the shortest way in: (previous state, the answer there, what it meant, the effects that
        #: failed on the way); None for the first states
        self.parent: dict[State, Link | None] = {}
        self.entry_failed: dict[State, tuple[str, ...]] = {}  # first states: effects that failed on the way
        self._moves: dict[tuple[Any, ...], tuple[Decision, list[Move]]] = {}
        self._caps: dict[str, tuple[int, int]] = {}
        self._ladders: dict[str, tuple[int, int]] = {}
        self._targets: dict[tuple[bool, str], list[Move]] = {}
        self._ladder_states: dict[tuple[int, int], tuple[list[Stay], list[Leaf], int]] = {}
        #: every reachable state, all pairs of counts included (`explore` lists only those on the axes)
        self.state_count = 0

    def step(self, graph: Graph, state: State, meaning: Meaning) -> tuple[Decision, list[Move]]:
        """Where one meaning takes `state`: the decision, and each next state or ending it can lead to.

        Only decisions that climb a ladder depend on the counts (see `engine.decide`), so the others are
        decided once per node and meaning."""
        node_id, ni, nm = state
        key: tuple[Any, ...] = (graph.errors, node_id, meaning)
        if meaning.kind in ("no_input", "no_match"):  # depends on the counts and the node's ladders only
            key = (graph.errors, self.ladders(node_id), ni, nm, meaning.kind)
        if key in self._moves:
            decision, moves = self._moves[key]
        else:
            decision = decide(self.flow, node_id, ni, nm, meaning)
            moves = [] if decision.target is None else self.moves_to(graph, decision.target)
            if not decision.counted or len(key) == 5:  # decide once per node, or per ladders and counts
                self._moves[key] = (decision, moves)
        if decision.target is None:
            cap_ni, cap_nm = self.caps(node_id)
            stay = (node_id, min(decision.no_input, cap_ni), min(decision.no_match, cap_nm)) \
                if decision.counted else state
            return decision, [Move(stay, node_id, 0)]
        return decision, moves

    def moves_to(self, graph: Graph, target: str) -> list[Move]:
        """The moves of going to `target`: the input nodes and endings its automatic nodes lead to."""
        key = (graph.errors, target)
        found = self._targets.get(key)
        if found is None:
            found = self._targets[key] = [Move(self.exit_state(ex), ex.node, ex.retention, ex.failed)
                                          for ex in graph.exits(target).values()]
        return found

    def ladders(self, node_id: str) -> tuple[int, int]:
        """Identifies a node's no-input and no-match ladders (nodes using the defaults share them)."""
        found = self._ladders.get(node_id)
        if found is None:
            node = self.gather(node_id)
            found = self._ladders[node_id] = (id(self.flow.ladder(node, "no_input")),
                                              id(self.flow.ladder(node, "no_match")))
        return found

    def caps(self, node_id: str) -> tuple[int, int]:
        found = self._caps.get(node_id)
        if found is None:
            found = self._caps[node_id] = caps(self.flow, self.gather(node_id))
        return found

    def exit_state(self, ex: Exit) -> State | str:
        """The state an exit enters, or for an ending its outcome (a loop of automatic nodes: the error)."""
        node = self.flow.nodes[ex.node]
        if isinstance(node, f.EndNode | f.TransferNode):
            return node.outcome
        return (ex.node, 0, 0) if isinstance(node, f.GatherNode) else ERROR_OUTCOME

    def gather(self, node_id: str) -> f.GatherNode:
        node = self.flow.nodes[node_id]
        assert isinstance(node, f.GatherNode)
        return node

    def explore(self) -> list[State]:
        """Every reachable state, each with the shortest way in (for counterexamples), a node at a time.

        A call always enters an input node with both counts at 0; which counts it can then reach, and where
        silence or a mismatch sends it from each, depends only on the node's ladders (`ladder_states`). Every
        other answer leads to the same places whatever the counts, so it is tried once per node. The states
        listed are those on the axes (see the module docstring), in the order a breadth-first search of every
        pair of counts meets them; `state_count` counts every pair."""
        order: list[State] = []
        queue: deque[State] = deque()
        for ex in self.any.exits(self.flow.start).values():
            first = self.exit_state(ex)
            if not isinstance(first, str) and first not in self.parent:  # an ending is no state
                self.parent[first] = None
                self.entry_failed[first] = ex.failed
                queue.append(first)
        while queue:
            entry = queue.popleft()
            node_id = entry[0]
            order.append(entry)
            stays, leaves, pairs = self.ladder_states(node_id)
            self.state_count += pairs
            for counts, came_from, meaning in stays:
                state = (node_id, *counts)
                self.parent[state] = ((node_id, *came_from), LADDER_ANSWERS[meaning], meaning, ())
                order.append(state)
            answers = [(entry, text, m, self.step(self.any, entry, m)[1])
                       for m, text in any_caller_answers(self.flow, node_id).items()
                       if m.kind not in ("no_input", "no_match")]
            ladder = [((node_id, *c), LADDER_ANSWERS[m], m, moves) for c, m, moves in leaves]
            for state, text, meaning, moves in answers + ladder:
                for move in moves:
                    if not isinstance(move.to, str) and move.to not in self.parent:
                        self.parent[move.to] = (state, text, meaning, move.failed)
                        queue.append(move.to)
        return order

    def ladder_states(self, node_id: str) -> tuple[list[Stay], list[Leaf], int]:
        """The counts silence and mismatches take a node to from (0, 0) on each axis, each with the counts and
        meaning it came from; every (counts, meaning, moves) that leaves the node, first where it leaves; and
        the number of all pairs of counts reachable. Shared by nodes with the same ladders.

        Silence leaves the no-match count as it is and a mismatch the no-input count, and each decides on its
        own count alone (`engine.decide`), so each axis is climbed on its own; the pairs reachable are the
        product of the two. Both lists are in the order a breadth-first search of all pairs meets them: by the
        sum of the counts, then the larger no-input count first, then silence before a mismatch."""
        key = self.ladders(node_id)
        found = self._ladder_states.get(key)
        if found is None:
            stays: list[Stay] = []
            leaves: list[Leaf] = []
            for meaning in LADDER_MEANINGS:
                counts, seen = (0, 0), {(0, 0)}
                while True:
                    decision, moves = self.step(self.any, (node_id, *counts), meaning)
                    if decision.target is not None:
                        leaves.append((counts, meaning, moves))
                        break
                    stay = cast(State, moves[0].to)[1:]
                    if stay in seen:  # the capped count: the last rung repeats
                        break
                    seen.add(stay)
                    stays.append((stay, counts, meaning))
                    counts = stay
            stays.sort(key=lambda x: (sum(x[0]), -x[0][0]))
            leaves.sort(key=lambda x: (sum(x[0]), -x[0][0], LADDER_MEANINGS.index(x[1])))
            climbed = [sum(1 for x in stays if x[2] == m) for m in LADDER_MEANINGS]
            found = self._ladder_states[key] = (stays, leaves, (climbed[0] + 1) * (climbed[1] + 1))
        return found

    def way_in(self, state: State) -> list[Link]:
        """The shortest answers that lead from the start to `state`: (state, answer, meaning, failed effect)."""
        steps: list[Link] = []
        link = self.parent[state]
        while link is not None:
            steps.append(link)
            link = self.parent[link[0]]
        return steps[::-1]
