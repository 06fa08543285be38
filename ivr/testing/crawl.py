"""The crawler: explore a live voice app as a black box and check its cancel paths (`ivr crawl`).

    sim = Simulator(app_or_url, auth_token=TOKEN)
    result = crawl(sim, Options(entry="/voice", within=4, cancel_when=parse_all(["prompt:cancelled"])))
    result.verdict, result.analysis.worst, result.graph.states

It places calls through the simulator and sees only what Twilio sees. Each try is one fresh call, replayed from
the entry along the shortest known way to a state, then the try (`crawl_inputs.plan` says what to try there);
every step of every call is an observed transition (`crawl_graph`), so a way in also re-observes the states it
passes. The canceller's moves are tried first everywhere (the property needs them), then keys and silence, then
hint phrases: at a state whose hints another state has, a phrase that behaved like an earlier one there is not
tried again (`Inputs.every_phrase` tries them all). Exploration stops short of the call budget while the
canceller's tries at the states found so far still need it.

Bounds: `max_calls`, `max_depth` (the longest way in), `timeout` (wall clock, checked before every request; over
a URL the simulator's own timeout bounds each request, while an in-process app is called directly and a request
it never answers cannot be abandoned), `max_tries` per state, and `max_variants` states of one shape (a prompt
that reads back any digits entered would otherwise be a new state for every number). Whatever they stop is reported in
`Crawl.not_explored`, never silently dropped. `crawl_worst.analyse` then gives the verdict.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ivr.errors import UsageError
from ivr.proof.report import DEFAULT_WITHIN
from ivr.testing.cancel_when import CancelWhen, Mark, met
from ivr.testing.crawl_graph import Graph, Outcome, State, observe
from ivr.testing.crawl_inputs import Inputs, Role, Try, plan
from ivr.testing.crawl_worst import Analysis, analyse, canceller_steps
from ivr.testing.sim import Call, Simulator

#: the first try of a kind runs first: the canceller's moves, then keys and silence, then hint phrases
PRIORITY: dict[Role, int] = {"cancel": 0, "data": 0, "explore": 1, "phrase": 2}
DEFAULT_CANCEL = CancelWhen("outcome", "cancelled")
DEEP = "its way in is"


@dataclass(frozen=True)
class Limits:
    max_calls: int = 2000
    max_depth: int = 12
    timeout: float = 300.0
    max_variants: int = 20


@dataclass(frozen=True)
class Options:
    """How to crawl: where calls start, what cancellation looks like, the limit N, what to try, the bounds.
    No `cancel_when`: the app must send ivr's X-Ivr-* headers, and cancellation is `outcome:cancelled`."""

    entry: str = "/"
    method: Literal["GET", "POST"] = "POST"
    within: int = DEFAULT_WITHIN
    cancel_when: tuple[CancelWhen, ...] = ()
    inputs: Inputs = field(default_factory=Inputs)
    limits: Limits = field(default_factory=Limits)
    caller: str = "+15551230000"


@dataclass
class Crawl:
    """What a crawl found: the graph, the verdict, what it cost, and what it did not explore."""

    options: Options
    graph: Graph
    cancel_when: tuple[CancelWhen, ...]
    analysis: Analysis | None = None
    calls: int = 0
    requests: int = 0
    seconds: float = 0.0
    not_explored: list[str] = field(default_factory=list)
    unusable: str = ""  # why the app cannot be crawled at all (its first call failed)
    reproduced: bool | None = None  # whether a fresh call following the counterexample fails the same way

    @property
    def verdict(self) -> str:
        """pass | fail | inconclusive (the bounds left states undecided, or the counterexample did not happen
        again in a fresh call: a counter the prompts do not show) | unusable."""
        if self.unusable or self.analysis is None:
            return "unusable"
        if self.analysis.verdict == "fail" and self.reproduced is False:
            return "inconclusive"
        return self.analysis.verdict

    @property
    def errors(self) -> list[tuple[State, str]]:
        """Application errors Twilio reported, with the state they ended in."""
        return [(s, e) for s in self.graph.endings() for e in s.seen.errors]


Job = tuple[int, int, int, int, Try]  # priority, depth, order, state id, try


class Crawler:
    """One crawl of one app (see the module docstring); `run` does it."""

    def __init__(self, sim: Simulator, options: Options, clock: Callable[[], float] = time.monotonic) -> None:
        self.sim, self.options, self.limits, self.clock = sim, options, options.limits, clock
        self.result = Crawl(options, Graph(), options.cancel_when)
        self.graph = self.result.graph
        self.queue: list[Job] = []
        self.order = 0
        self.pending_canceller = 0  # canceller tries queued and not yet made
        self.reserve = 1  # the most canceller tries one state has needed (exploration leaves room for them)
        self.retried: set[tuple[int, Try]] = set()
        self.diverged = 0
        self.equivalent = 0  # phrase tries left out because an equal phrase behaved the same elsewhere
        self.shapes: dict[tuple[object, ...], int] = {}
        self.classes: dict[tuple[str, ...], tuple[int, frozenset[str]]] = {}
        self.hinted: dict[tuple[str, ...], list[State]] = {}  # states by their hints, in discovery order
        self.deadline = 0.0
        self.stopped = ""

    # -- running ------------------------------------------------------------------------------------------

    def run(self) -> Crawl:
        began = self.clock()
        self.deadline = began + self.limits.timeout
        first = self.place()
        self.result.calls += 1
        self.count(first)
        if first.errors and first.waiting is None:
            self.result.unusable = f"its first request failed: {'; '.join(first.errors)}"
        else:
            self.decide_cancel_when(first)
            self.discover(first, (), ())
            self.loop()
            self.report_bounds()
            self.result.analysis = analyse(self.graph, self.options.within)
            if self.result.analysis.verdict == "fail" and self.result.calls < self.limits.max_calls:
                self.reproduce(self.result.analysis)
        self.result.seconds = self.clock() - began
        return self.result

    def decide_cancel_when(self, call: Call) -> None:
        if self.result.cancel_when:
            return
        if call.ivr_headers:
            self.result.cancel_when = (DEFAULT_CANCEL,)
            return
        raise UsageError("this app does not send ivr's X-Ivr-* headers, so the crawler cannot tell when a call is "
                         "cancelled: say what cancellation looks like with --cancel-when KIND:VALUE, e.g. "
                         "'prompt:has been cancelled', 'dialled:+18005550123', 'url:/cancelled', "
                         "'hangup-after:cancelled' (kinds: prompt, dialled, url, hangup-after, outcome)")

    def place(self) -> Call:
        return self.sim.call(self.options.entry, method=self.options.method, caller=self.options.caller)

    def count(self, call: Call) -> None:
        """Add the TwiML documents the call fetched (the simulator records each request it makes)."""
        self.result.requests += sum(r.purpose == "twiml" for r in call.requests)

    def loop(self) -> None:
        while self.queue:
            if self.result.calls >= self.limits.max_calls:
                self.stopped = "max-calls"
                return
            if self.clock() >= self.deadline:
                self.stopped = "timeout"
                return
            priority, _, _, at, done = heapq.heappop(self.queue)
            if priority == 0:
                self.pending_canceller -= 1
            if self.graph.outcomes(at, done) is not None:
                continue  # observed already, on the way to somewhere else
            if priority > 0 and self.limits.max_calls - self.result.calls <= self.pending_canceller + self.reserve:
                heapq.heappush(self.queue, (priority, 0, 0, at, done))  # kept, to be reported
                self.stopped = "max-calls"
                return
            if priority == 2 and self.same_as_before(self.graph.states[at], done):
                self.equivalent += 1
                continue
            self.attempt(self.graph.states[at], done, priority)

    def attempt(self, state: State, done: Try, priority: int) -> None:
        """One fresh call: the way in to `state`, then `done`; every step observed."""
        self.result.calls += 1
        call = self.place()
        at, _ = self.discover(call, (), ())
        steps = (*state.path, done)
        taken: tuple[Try, ...] = ()
        trail: tuple[int, ...] = ()
        for i, step in enumerate(steps):
            if self.clock() >= self.deadline:
                self.stopped = "timeout"
                call.hang_up()
                self.count(call)
                heapq.heappush(self.queue, (priority, 0, 0, state.id, done))  # unmade: reported with the rest
                return
            if at.ended or (i == len(state.path) and at.id != state.id):
                break  # the way in led elsewhere this time
            mark = Mark.now(call)
            step.apply(call)
            cancelled = met(self.result.cancel_when, call, mark)
            trail, taken = (*trail, at.id), (*taken, step)
            nxt, _ = self.discover(call, taken, trail)
            self.graph.add(at.id, step, Outcome(nxt.id, cancelled))
            at = nxt
        if not call.ended:
            call.hang_up()
        self.count(call)
        if self.graph.outcomes(state.id, done) is None:
            self.diverged += 1
            if (state.id, done) not in self.retried:  # once more: the way in may have met a hidden counter
                self.retried.add((state.id, done))
                self.push(priority, state, done)

    def discover(self, call: Call, path: tuple[Try, ...], trail: tuple[int, ...]) -> tuple[State, bool]:
        state, new = self.graph.discover(observe(call), path, trail)
        if state.ended:
            return state, new
        if new:
            shape = state.seen.shape
            self.shapes[shape] = self.shapes.get(shape, 0) + 1
            self.prepare(state, call)
        elif state.plan is None and state.note.startswith(DEEP) and state.depth <= self.limits.max_depth:
            self.prepare(state, call)  # a shorter way in brought it within --max-depth
        return state, new

    def prepare(self, state: State, call: Call) -> None:
        """Plan the tries at a state, or say why it is not explored."""
        shape = state.seen.shape
        if state.depth > self.limits.max_depth:
            state.note = f"{DEEP} {state.depth} tries long (--max-depth {self.limits.max_depth})"
            return
        if self.shapes[shape] > self.limits.max_variants:
            state.note = (f"{self.shapes[shape] - 1} states like it differ only in numbers "
                          f"(--max-variants {self.limits.max_variants})")
            return
        state.note, state.plan = "", plan(call.waiting, call.prompt, self.options.inputs)
        self.reserve = max(self.reserve, len(state.plan.cancel) + len(state.plan.data))
        if state.plan.hints:
            self.hinted.setdefault(state.plan.hints, []).append(state)
        for done, role in state.plan.tries:
            self.push(PRIORITY[role], state, done)

    def push(self, priority: int, state: State, done: Try) -> None:
        self.order += 1
        if priority == 0:
            self.pending_canceller += 1
        heapq.heappush(self.queue, (priority, state.depth, self.order, state.id, done))

    # -- phrases that behave alike ---------------------------------------------------------------------------

    def same_as_before(self, state: State, done: Try) -> bool:
        """Whether `done` (a hint phrase) need not be tried at `state`: another state with the same hints tried
        every one of them, and this phrase led where an earlier phrase did there."""
        if self.options.inputs.every_phrase or state.plan is None:
            return False
        hints = state.plan.hints
        found = self.classes.get(hints) or self.reference(hints)
        if found is None or found[0] == state.id:
            return False
        return done.value not in found[1]

    def reference(self, hints: tuple[str, ...]) -> tuple[int, frozenset[str]] | None:
        """The first state with these hints where every hint was tried, and one phrase of each class there."""
        for state in self.hinted.get(hints, []):
            assert state.plan is not None
            led = {h: self.graph.outcomes(state.id, Try("say", h)) for h in hints}
            if any(v is None for v in led.values()):
                continue
            first: dict[frozenset[Outcome], str] = {}
            for h, v in led.items():
                first.setdefault(frozenset(v or {}), h)
            self.classes[hints] = state.id, frozenset(first.values())
            return self.classes[hints]
        return None

    # -- the end ---------------------------------------------------------------------------------------------

    def report_bounds(self) -> None:
        notes = self.result.not_explored
        left = [(at, done) for _, _, _, at, done in self.queue if self.graph.outcomes(at, done) is None]
        if left:
            why = {"max-calls": f"the call budget (--max-calls {self.limits.max_calls}) ran out",
                   "timeout": f"the time limit (--timeout {self.limits.timeout:g} s) was reached"}[self.stopped]
            states = len({at for at, _ in left})
            notes.append(f"{len(left)} tries at {states} states not made: {why}")
        for state in self.graph.waiting():
            if state.plan is None:
                notes.append(f"{state.name} not explored: {state.note}")
            elif state.plan.dropped:
                notes.append(f"{state.name}: {state.plan.dropped} tries left out (--max-tries "
                             f"{self.options.inputs.max_tries})")
        if self.equivalent:
            notes.append(f"{self.equivalent} hint phrases not tried: each led where another phrase did at a state "
                         "with the same hints (--every-phrase tries them all)")
        if self.diverged:
            notes.append(f"{self.diverged} replays did not reach their state by its way in (a counter or "
                         "randomness the prompts do not show)")

    def reproduce(self, analysis: Analysis) -> None:
        """Play the counterexample in a fresh call: whether it fails the same way."""
        way_in = [w.done for w in analysis.counterexample if w.done is not None and not w.cancelling]
        steps = way_in + canceller_steps(analysis.counterexample, self.options.within)
        start = len(way_in)
        self.result.calls += 1
        call = self.place()
        mark: Mark | None = None
        cancelled = False
        for i, step in enumerate(steps):
            if i == start:
                mark = Mark.now(call)
            if not acting(call):
                break
            step.apply(call)
            if mark is not None and i - start < self.options.within:
                cancelled = cancelled or met(self.result.cancel_when, call, mark)
        if not call.ended:
            call.hang_up()
        self.count(call)
        self.result.reproduced = not cancelled


def acting(call: Call) -> bool:
    """Whether the caller can do something: a Gather or a Record waits (at an <Echo> they can only hang up)."""
    return call.waiting is not None and not call.ended and getattr(call.waiting, "kind", "gather") in ("gather",
                                                                                                     "record")


def crawl(sim: Simulator, options: Options | None = None) -> Crawl:
    """Crawl the app behind `sim` (see the module docstring)."""
    return Crawler(sim, options or Options()).run()
