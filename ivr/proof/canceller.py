"""The proof that a persistent canceller reaches the guarantee's outcome within N turns, from every state.

The canceller's graph has the reachable states as nodes and one edge per distinct thing its answers can mean
there (every phrasing and the cancel key are tried; a collect node gets valid data), so the worst case over all
phrasings and all branch directions is the longest path to the outcome. A depth-first pass computes it for every
state at once, in time linear in the edges; a cycle, or any other ending, makes the worst case unbounded. The
worst state is then shown as a counterexample: the shortest way in, then the canceller's worst path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.flow import model as f
from ivr.flow.caller import Digits, Silence, Speech
from ivr.flow.engine import decide
from ivr.flow.intents import Meaning, interpret, matcher
from ivr.proof.explore import SILENCE, Explorer, Move, State, sample_data
from ivr.proof.lint import Finding

#: natural cancel requests tried at every prompt besides the flow's own cancel phrases
CANCEL_PHRASINGS = (
    "cancel", "cancel please", "cancellation", "I want to cancel", "I want to cancel my service",
    "cancel my account please", "cancel my subscription", "I'd like to cancel", "I need to cancel my account",
    "please cancel my service", "cancel service", "cancel it", "I want to cancel right now", "cancel everything",
    "cancel my internet", "cancel my plan", "cancel my membership", "no I want to cancel", "yes cancel it",
)
UNBOUNDED = -1


@dataclass(frozen=True)
class Waypoint:
    """One turn of a path (turn number, the node's prompt, the caller's answer, what it meant), or its ending
    (turn None, with the outcome)."""

    turn: int | None
    node: str
    prompt: str
    heard: str | None = None
    intent: str | None = None
    cancelling: bool = False
    outcome: str | None = None
    effect_failed: tuple[str, ...] = ()  # action nodes whose effects failed on the way to this prompt, in order


@dataclass
class ProofResult:
    worst: int | None
    counterexample: tuple[Waypoint, ...] = ()
    findings: list[Finding] = field(default_factory=list)
    summary: str = ""


def cancel_phrasings(flow: f.Flow) -> tuple[Speech, ...]:
    """Every way the persistent canceller may ask: the flow's cancel phrases, then the built-in ones."""
    memo: dict[int, tuple[Speech, ...]] = matcher(flow).derived.setdefault("cancel_phrasings", {})
    if 0 not in memo:  # one answer per flow
        intent = flow.all_intents.get(flow.guarantee.intent)
        texts = dict.fromkeys([*(intent.phrases if intent else ()), *CANCEL_PHRASINGS])
        memo[0] = tuple(Speech(t) for t in texts)
    return memo[0]


def canceller_inputs(flow: f.Flow, node_id: str) -> dict[Meaning, str]:
    """What the persistent canceller's answers mean at `node_id`, each with the first answer that means it."""
    m = matcher(flow)
    memo: dict[int, dict[Meaning, str]] = m.derived.setdefault("canceller_inputs", {})
    shape = m.shape(flow, node_id)  # nodes that hear alike are asked alike
    if shape not in memo:
        memo[shape] = _canceller_inputs(flow, node_id)
    return memo[shape]


def _canceller_inputs(flow: f.Flow, node_id: str) -> dict[Meaning, str]:
    node = flow.nodes[node_id]
    assert isinstance(node, f.GatherNode)
    if isinstance(node, f.CollectNode):
        data = sample_data(node)
        if node.dtmf:
            return {interpret(flow, node_id, Digits(data)): f"#{data}"}
        return {interpret(flow, node_id, Speech(data)): data}
    intent = flow.all_intents.get(flow.guarantee.intent)
    found: dict[Meaning, str] = {}
    if node.speech:
        for phrase in cancel_phrasings(flow):
            found.setdefault(interpret(flow, node_id, phrase), phrase.text)
    if node.dtmf and intent is not None:
        for key in intent.keys:
            found.setdefault(interpret(flow, node_id, Digits(key)), f"#{key}")
    if not found:  # a keypad-only prompt and no cancel key: Twilio's Gather hears the words as silence
        found[interpret(flow, node_id, Silence())] = SILENCE
    return found


def collect_loops(explorer: Explorer, states: list[State], lines: dict[str, int]) -> list[Finding]:
    """Collect nodes where a caller who says "cancel" instead of the data is asked again forever: the proof's
    canceller gives data there, so this is checked on its own."""
    flow = explorer.flow
    found = []
    for node_id in dict.fromkeys(s[0] for s in states):
        node = flow.nodes[node_id]
        if not isinstance(node, f.CollectNode) or not node.speech:
            continue
        for phrase in cancel_phrasings(flow):
            meaning = interpret(flow, node_id, phrase)
            if meaning.kind == "data":
                continue
            decision = decide(flow, node_id, 0, 0, meaning)
            stays = decision.target is None and not decision.counted
            if stays or (decision.target is not None and node_id in explorer.proof.exits(decision.target)):
                found.append(Finding(
                    "warning", "cancel-loops-at-collect",
                    f"{node_id}: a caller who says {phrase.text!r} here instead of the {node.var} is asked for it "
                    "again without end; route the cancel intent here to '@no_match' (its ladder escalates) or onwards",
                    node_id, lines.get(node_id)))
                break
    return found


def prompt_text(flow: f.Flow, node_id: str) -> str:
    """A node's prompt as a designer wrote it (templates unfilled, audio shown as [file])."""
    parts = flow.nodes[node_id].prompt
    return " ".join(p.say if p.say is not None else f"[{p.play}]" for p in parts)


def _label(meaning: Meaning) -> str:
    return meaning.value if meaning.kind == "intent" else str(meaning)


class _Proof:
    def __init__(self, explorer: Explorer) -> None:
        self.ex = explorer
        self.flow = explorer.flow
        self.goal = self.flow.guarantee.outcome
        self.turns: dict[State, int] = {}  # UNBOUNDED when the canceller can be kept from the goal
        self.saves: dict[State, int] = {}  # most retention offers after the state on a canceller's path
        self.worst: dict[State, tuple[str, Meaning, Move]] = {}  # the answer and move of the worst path
        self.inputs: dict[str, dict[Meaning, str]] = {}
        self.fixed: dict[str, list[tuple[str, Meaning, Move]]] = {}  # moves the same from every count
        self.varying: dict[str, list[tuple[Meaning, str]]] = {}  # answers whose moves depend on the counts
        self.climbs: dict[str, tuple[bool, bool]] = {}  # whether the canceller climbs each ladder at a node
        self.findings: list[Finding] = []

    def _inputs(self, node_id: str) -> None:
        """Sort the canceller's answers at `node_id` into those whose moves are the same from every count and
        those through a ladder (`engine.decide` says which: `counted`), and note which ladders they climb."""
        if node_id in self.inputs:
            return
        self.inputs[node_id] = canceller_inputs(self.flow, node_id)
        self.fixed[node_id], self.varying[node_id] = [], []
        climbs = [False, False]
        for meaning, text in self.inputs[node_id].items():
            decision, moves = self.ex.step(self.ex.proof, (node_id, 0, 0), meaning)
            if decision.target is None or decision.counted:
                self.varying[node_id].append((meaning, text))
                if decision.counted:
                    climbs[meaning.kind != "no_input"] = True
            else:
                self.fixed[node_id].extend((text, meaning, move) for move in moves)
        self.climbs[node_id] = (climbs[0], climbs[1])

    def canon(self, state: State) -> State:
        """The state whose result `state` shares: a count no answer of the canceller climbs at its node is
        set to 0, since the canceller's moves from any value of it are the same. (The canceller's answers
        climb at most one of the two ladders: silence only where it has nothing else to say.)"""
        node_id, ni, nm = state
        self._inputs(node_id)
        climbs_ni, climbs_nm = self.climbs[node_id]
        return node_id, ni if climbs_ni else 0, nm if climbs_nm else 0

    def solved(self, state: State) -> State:
        """`canon(state)`, solved: the key of `state`'s result in `turns`, `saves` and `worst`."""
        key = self.canon(state)
        if key not in self.turns:
            self.solve(key)
        return key

    def moves(self, state: State) -> list[tuple[str, Meaning, Move]]:
        """The canceller's moves from `state`; those not through a ladder are the same for every count."""
        node_id = state[0]
        self._inputs(node_id)
        varying = [(text, meaning, move) for meaning, text in self.varying[node_id]
                   for move in self.ex.step(self.ex.proof, state, meaning)[1]]
        return self.fixed[node_id] + varying if varying else self.fixed[node_id]

    def _value(self, move: Move) -> tuple[int, int]:
        """(turns still needed, retention offers still to come) after `move`."""
        if isinstance(move.to, str):
            return (0, 0) if move.to == self.goal else (UNBOUNDED, 0)
        return self.turns[move.to], self.saves[move.to]

    def solve(self, root: State) -> None:
        """Longest canceller path from `root` (and everything below it), iteratively. Results are kept for
        canonical states (`canon`): the moves from one lead only to others."""
        stack: list[tuple[State, list[tuple[str, Meaning, Move]] | None]] = [(self.canon(root), None)]
        open_: set[State] = set()
        while stack:
            state, pending = stack.pop()
            if pending is None:
                if state in self.turns:
                    continue
                pending = self.moves(state)
                open_.add(state)
                stack.append((state, pending))
                stack.extend((m.to, None) for _, _, m in pending
                             if not isinstance(m.to, str) and m.to not in self.turns and m.to not in open_)
                continue
            best: tuple[int, int, int] | None = None
            for i, (_, _, move) in enumerate(pending):
                if not isinstance(move.to, str) and move.to in open_:
                    turns, saves = UNBOUNDED, 0  # a cycle the canceller can be kept in forever
                else:
                    turns, saves = self._value(move)
                rank = (turns == UNBOUNDED, turns, saves + move.retention)
                if best is None or rank > best:
                    best, self.worst[state] = rank, pending[i]
            open_.discard(state)
            assert best is not None
            self.turns[state] = UNBOUNDED if best[0] else best[1] + 1
            self.saves[state] = best[2]

    def path(self, state: State) -> list[Waypoint]:
        """The way in (shortest), then the canceller's worst path from `state` until an ending or a repeat."""
        events: list[Waypoint] = []
        links = self.ex.way_in(state)
        first = links[0][0] if links else state
        failed = self.ex.entry_failed.get(first, ())
        for turn, (at, answer, meaning, next_failed) in enumerate(links, 1):
            events.append(Waypoint(turn, at[0], prompt_text(self.flow, at[0]), answer, _label(meaning),
                                effect_failed=failed))
            failed = next_failed
        seen: dict[State, int] = {}  # state -> the turn it was at
        at_state: State | str = self.solved(state)
        while not isinstance(at_state, str) and at_state not in seen:
            seen[at_state] = len(events) + 1
            answer, meaning, move = self.worst[at_state]
            events.append(Waypoint(len(events) + 1, at_state[0], prompt_text(self.flow, at_state[0]), answer,
                                _label(meaning), cancelling=True, effect_failed=failed))
            failed = ()  # the canceller's effects succeed
            at_state = move.to
            last = move
        if isinstance(at_state, str):
            events.append(Waypoint(None, last.node, prompt_text(self.flow, last.node), outcome=at_state))
        else:
            again = seen[at_state]
            events.append(Waypoint(None, at_state[0], f"(the call is back at turn {again}'s prompt, and repeats)"))
        return events


def prove(explorer: Explorer, states: list[State], within: int, lines: dict[str, int]) -> ProofResult:
    """Prove the guarantee from every state in `states` (reachable, in breadth-first order: `Explorer.explore`,
    whose states stand for all its `state_count`)."""
    proof = _Proof(explorer)
    turns = {state: proof.turns[proof.solved(state)] for state in states}
    goal, intent = proof.flow.guarantee.outcome, proof.flow.guarantee.intent
    result = ProofResult(worst=None, findings=collect_loops(explorer, states, lines))
    for node_id, inputs in proof.inputs.items():
        for meaning, text in inputs.items():
            if meaning.kind in ("intent", "key") and meaning.value != intent:
                result.findings.append(Finding(
                    "warning", "cancel-shadowed",
                    f"{node_id}: the cancel request {text!r} is heard as {meaning} here, not as {intent!r}",
                    node_id, lines.get(node_id)))
    for state in states:
        offers = int(proof.flow.nodes[state[0]].retention) + proof.saves[proof.solved(state)]
        if turns[state] != UNBOUNDED and offers > 1:
            path = " -> ".join(e.node for e in proof.path(state))
            result.findings.append(Finding(
                "error", "multiple-save-offers",
                f"a caller cancelling from {state[0]} hears {offers} retention offers: {path}",
                state[0], lines.get(state[0])))
            break
    if not states:
        result.summary = "no input node is reachable: no caller can ask to cancel"
        return result
    failing = [s for s in states if turns[s] == UNBOUNDED]
    target = failing[0] if failing else max(states, key=turns.__getitem__)
    worst = None if failing else turns[target]
    result.worst = worst
    if worst is not None and worst <= within:
        result.summary = (f"a caller who keeps asking to {intent} reaches {goal!r} within {worst} turn(s) from "
                          f"every one of {explorer.state_count} reachable states (limit {within})")
        return result
    result.counterexample = tuple(proof.path(target))
    ending = result.counterexample[-1]
    why = (f"the call ends {ending.outcome!r}" if ending.outcome else "the call loops") if failing else \
        f"it takes {worst} turns"
    result.summary = f"a caller who keeps asking to {intent} from {target[0]} does not reach {goal!r} within " \
                     f"{within} turns: {why}"
    result.findings.append(Finding("error", "cancel-not-guaranteed", result.summary, target[0],
                                   lines.get(target[0])))
    return result
