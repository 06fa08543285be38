"""The call engine: a pure state machine. `start(flow, ...)` and `advance(flow, state, heard)` return a `Step`.

No files, network, clock or randomness: a Listen timeout arrives as `Silence()`, an effect (such as
`record_cancellation`) leaves as a value in `Step.effect` and its result comes back as an `EffectResult`.
Caller input never raises — whatever is not understood follows the node's no-match ladder.

**Turns.** A turn is one prompt that waits for the caller's input together with the caller's answer to it
(speech, digits or silence). Prompts that wait for nothing (`say`, the goodbye of an `end`, an effect) are not
turns. `CallState.turn` counts completed turns; the checker, simulator and replays count the same way.

Routing is one table lookup, `decide(...)`: the checker calls the very same function to explore every state.

**Bounds.** A request does bounded work whatever the flow: at most `MAX_HOPS` automatic nodes per step and
`MAX_EFFECTS` effects per `settle` (a loop that never waits for the caller), and no variable past `MAX_VALUE`
characters nor all of a call's variables past `MAX_VARIABLES` (a template that grows each time round a loop,
such as `{a}{a}`). Past any of them the call ends in `ERROR_OUTCOME` with `APOLOGY`, as a failed effect with no
`on_error` does; `ivr check` reports such flows (`zero-turn-loop`, `effect-loop`, `template-growth`).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, cast

from ivr.errors import EngineError
from ivr.flow import model as f
from ivr.flow.caller import Heard
from ivr.flow.intents import Meaning, interpret

#: the outcome of a call the flow itself broke (an effect failed with no `on_error`, a loop that takes no turn or
#: runs effects without end, a value too long: see **Bounds**)
ERROR_OUTCOME = "error"
#: what the caller hears, last, when the call ends in ERROR_OUTCOME
APOLOGY = "Sorry, something went wrong. Goodbye."
#: the built-in effect that records a cancellation; its result is the confirmation number read to the caller
RECORD_CANCELLATION = "record_cancellation"
#: confirmation numbers have this many digits and never start with 0, wherever they are made (the app's store
#: draws them at random and keeps them unique; `ivr call` derives one from the call), so a call script written
#: against one holds against the other
CONFIRMATION_DIGITS = 8
#: automatic nodes (say, set, branch) followed in one step before the engine gives up on a zero-turn loop
MAX_HOPS = 1000
#: effects `settle` executes for one request before it gives up on a loop of actions that never waits for the
#: caller (the web app settles each request once, so this bounds the effects of one webhook request)
MAX_EFFECTS = 100
#: the most characters one variable may hold: a filled `set` value, an effect's filled argument or its result,
#: a value the call starts with
MAX_VALUE = 4096
#: the most characters all of a call's variables may hold together (64 KiB)
MAX_VARIABLES = 64 * 1024
_FORMATTER = string.Formatter()


@dataclass(frozen=True, slots=True)
class EffectResult:
    """What the application reports back after executing a `Step.effect`."""

    ok: bool = True
    value: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True)
class CallState:
    """Where a call is. `waiting` says what `advance` accepts next: caller input, an effect result, nothing."""

    node: str
    waiting: Literal["input", "effect", "ended"] = "input"
    turn: int = 0
    no_input: int = 0
    no_match: int = 0
    variables: tuple[tuple[str, str], ...] = ()
    outcome: str | None = None

    @property
    def vars(self) -> dict[str, str]:
        return dict(self.variables)


@dataclass(frozen=True, slots=True)
class Prompt:
    """One thing the caller hears: `say` text (already templated) or an audio file to `play`."""

    kind: Literal["say", "play"]
    value: str


@dataclass(frozen=True, slots=True)
class Listen:
    """How to wait for the next input (maps onto Twilio's `<Gather>`)."""

    speech: bool
    dtmf: bool
    hints: tuple[str, ...]
    timeout: int
    speech_timeout: str
    min_digits: int | None = None
    max_digits: int | None = None
    finish_on_key: str | None = None


@dataclass(frozen=True, slots=True)
class Effect:
    name: str
    args: tuple[tuple[str, str], ...]
    node: str


@dataclass(frozen=True, slots=True)
class Step:
    """The result of `start` or `advance`: what to say, how to wait next, what to do, whether it ended."""

    state: CallState
    prompts: tuple[Prompt, ...] = ()
    gather: Listen | None = None
    effect: Effect | None = None
    transfer: str | None = None
    meaning: Meaning | None = None
    path: tuple[str, ...] = field(default=())

    @property
    def ended(self) -> bool:
        return self.state.waiting == "ended"

    @property
    def outcome(self) -> str | None:
        return self.state.outcome

    @property
    def spoken(self) -> str:
        """What the step says, as one line of text for logs and traces (`play` files shown as [name])."""
        return " ".join(p.value if p.kind == "say" else f"[{p.value}]" for p in self.prompts)


@dataclass(frozen=True, slots=True)
class Decision:
    """What an input node does with one meaning: go to `target`, or stay (reprompt / repeat / help)."""

    target: str | None
    message: tuple[f.PromptPart, ...] = ()
    replay: bool = True
    help: bool = False
    no_input: int = 0
    no_match: int = 0
    counted: bool = False  # a no-input / no-match ladder was climbed


def fill(text: str, variables: Mapping[str, str]) -> str:
    """Fill `{variable}` templates; `{x:digits}` spells a value out character by character."""
    out = []
    for literal, name, spec, _ in _FORMATTER.parse(text):
        out.append(literal)
        if name is not None:
            value = variables.get(name, "")
            out.append(" ".join(value) if spec == "digits" else value)
    return "".join(out)


def fill_within(text: str, variables: Mapping[str, str], limit: int) -> str | None:
    """`fill(text, variables)` when it has at most `limit` characters, else None — known before the result is
    built, so a template that would grow a value past its bound never allocates it."""
    size = 0
    for literal, name, spec, _ in _FORMATTER.parse(text):
        size += len(literal)
        if name is not None:
            value = variables.get(name, "")
            size += max(2 * len(value) - 1, 0) if spec == "digits" else len(value)
        if size > limit:
            return None
    return fill(text, variables)


def fits(variables: Mapping[str, str]) -> bool:
    """Whether a call's variables are within the bounds: each at most MAX_VALUE characters, all together at
    most MAX_VARIABLES."""
    sizes = [len(v) for v in variables.values()]
    return max(sizes, default=0) <= MAX_VALUE and sum(sizes) <= MAX_VARIABLES


def _broken(state: CallState, node_id: str, prompts: list[Prompt], meaning: Meaning | None,
            path: list[str]) -> Step:
    """The step that ends a call the flow broke: what was said so far, then the apology (see **Bounds**). Its
    state keeps the variables the step began with."""
    ended = replace(state, node=node_id, waiting="ended", outcome=ERROR_OUTCOME)
    return Step(ended, (*prompts, Prompt("say", APOLOGY)), meaning=meaning, path=tuple(path))


def _prompts(parts: tuple[f.PromptPart, ...], variables: Mapping[str, str]) -> tuple[Prompt, ...]:
    return tuple(Prompt("say", fill(p.say, variables)) if p.say is not None else Prompt("play", p.play or "")
                 for p in parts)


def decide(flow: f.Flow, node_id: str, no_input: int, no_match: int, meaning: Meaning) -> Decision:
    """The routing table of an input node. Total: every meaning has a decision.

    The counts matter only where a ladder is climbed (no input, no match, or a route to `@no_match`); then the
    decision says `counted`. Every other decision is the same whatever the counts, apart from carrying them
    along when the call stays at the node; and a no-input or no-match decision depends on nothing but the
    counts and the node's two ladders. The checker relies on both (and tests check them)."""
    node = cast(f.GatherNode, flow.nodes[node_id])  # only input nodes wait for answers
    kind = meaning.kind
    if kind == "data":
        return Decision(cast(f.CollectNode, node).next)
    if kind == "key":
        target = node.keys[meaning.value]
    elif kind == "intent":
        target = flow.active_routes(node_id)[meaning.value]
    else:
        target = f.NO_MATCH if kind == "no_match" else ""
    if target == f.REPEAT:
        return Decision(None, no_input=no_input, no_match=no_match)
    if target == f.HELP:
        return Decision(None, help=True, no_input=no_input, no_match=no_match)
    if kind == "no_input":
        no_input += 1
        rung = _rung(flow.ladder(node, "no_input"), no_input)
    elif target == f.NO_MATCH:
        no_match += 1
        rung = _rung(flow.ladder(node, "no_match"), no_match)
    else:
        return Decision(target)
    if rung.goto is not None:
        return Decision(rung.goto, rung.message, no_input=no_input, no_match=no_match, counted=True)
    return Decision(None, rung.message, rung.reprompt, no_input=no_input, no_match=no_match, counted=True)


def _rung(ladder: tuple[f.Handler, ...], count: int) -> f.Handler:
    """The n-th rung of a ladder; past its end, the last one (an empty ladder just reprompts)."""
    return ladder[min(count, len(ladder)) - 1] if ladder else f.Handler()


def gather_for(flow: f.Flow, node_id: str) -> Listen:
    """The `<Gather>` settings of an input node: input modes, hints from the intents it hears, timeouts."""
    node = flow.nodes[node_id]
    assert isinstance(node, f.GatherNode)
    hints: dict[str, None] = {}
    if node.speech:
        for intent in flow.active_routes(node_id):
            hints.update(dict.fromkeys(flow.all_intents[intent].phrases))
        hints.update(dict.fromkeys(node.hints))
    collect = node if isinstance(node, f.CollectNode) else None
    keys = [*node.keys, *(k for i in flow.active_routes(node_id) for k in flow.all_intents[i].keys)]
    return Listen(
        speech=node.speech, dtmf=node.dtmf, hints=tuple(hints),
        timeout=node.timeout or flow.defaults.timeout,
        speech_timeout=node.speech_timeout or flow.defaults.speech_timeout,
        min_digits=collect.digits.min if collect else None,
        max_digits=collect.digits.max if collect else max(map(len, keys), default=1),
        finish_on_key=(collect.finish_on_key or None) if collect else None,
    )


def default_help(flow: f.Flow, node_id: str) -> str:
    """'You can say billing, agent or cancel.' from the intents a node hears (when it declares no help)."""
    names = [flow.all_intents[i].phrases[0] for i, t in flow.active_routes(node_id).items()
             if flow.all_intents[i].phrases and t not in f.RESERVED_TARGETS]
    if not names:
        return "Please answer the question."
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return f"You can say {listed}."


def _run(flow: f.Flow, node_id: str, variables: dict[str, str], state: CallState,
         heard: tuple[Prompt, ...], meaning: Meaning | None) -> Step:
    """Follow automatic nodes from `node_id` until the call waits for input or an effect, or ends."""
    prompts = list(heard)
    path: list[str] = []
    for _ in range(MAX_HOPS):
        node = flow.nodes[node_id]
        path.append(node_id)
        prompts.extend(_prompts(node.prompt, variables))
        base = replace(state, node=node_id, no_input=0, no_match=0, variables=tuple(sorted(variables.items())))
        if isinstance(node, f.GatherNode):
            return Step(replace(base, waiting="input"), tuple(prompts), gather_for(flow, node_id),
                        meaning=meaning, path=tuple(path))
        if isinstance(node, f.ActionNode):
            filled = {k: fill_within(v, variables, MAX_VALUE) for k, v in node.args.items()}
            args = tuple((k, v) for k, v in filled.items() if v is not None)
            if len(args) < len(filled):  # an argument past MAX_VALUE: the effect is not asked for
                return _broken(state, node_id, prompts, meaning, path)
            return Step(replace(base, waiting="effect"), tuple(prompts), effect=Effect(node.effect, args, node_id),
                        meaning=meaning, path=tuple(path))
        if isinstance(node, f.EndNode | f.TransferNode):
            transfer = node.number if isinstance(node, f.TransferNode) else None
            return Step(replace(base, waiting="ended", outcome=node.outcome), tuple(prompts), transfer=transfer,
                        meaning=meaning, path=tuple(path))
        if isinstance(node, f.SetNode):
            for name, template in node.values.items():  # in order: a later value may use an earlier one
                value = fill_within(template, variables, MAX_VALUE)
                if value is None or not fits({**variables, name: value}):
                    return _broken(state, node_id, prompts, meaning, path)
                variables[name] = value
            node_id = node.next
        elif isinstance(node, f.BranchNode):
            node_id = node.cases.get(variables.get(node.var, ""), node.default)
        else:
            assert isinstance(node, f.SayNode)
            node_id = node.next
    return _broken(state, node_id, prompts, meaning, path)


def start(flow: f.Flow, caller: str = "", called: str = "", variables: Mapping[str, str] | None = None) -> Step:
    """Begin a call: the flow's variables, the caller's and called numbers, then the start node. Values past
    the bounds (`fits`) end the call at once, in ERROR_OUTCOME."""
    values = dict(flow.variables) | {"caller": caller, "called": called} | dict(variables or {})
    if not fits(values):
        return _broken(CallState(node=flow.start), flow.start, [], None, [])
    return _run(flow, flow.start, values, CallState(node=flow.start), (), None)


def settle(flow: f.Flow, step: Step, execute: Callable[[Effect], EffectResult]) -> Step:
    """Execute a step's effects (through `execute`, the application's side) until the call waits for the caller
    or ends; the prompts said along the way are kept, in order. After MAX_EFFECTS effects a call still asking
    for one is in a loop that never waits for the caller: it ends in ERROR_OUTCOME, with the apology, and the
    effect is not executed."""
    for _ in range(MAX_EFFECTS):
        if step.effect is None:
            return step
        prompts = step.prompts
        step = advance(flow, step.state, execute(step.effect))
        step = replace(step, prompts=prompts + step.prompts)
    if step.effect is None:
        return step
    ended = replace(step.state, waiting="ended", outcome=ERROR_OUTCOME)
    return replace(step, state=ended, prompts=(*step.prompts, Prompt("say", APOLOGY)), effect=None)


def _resulted(flow: f.Flow, state: CallState, result: EffectResult) -> Step:
    """The pending effect's result: its `next` (the value in its `result` variable), or its `on_error`."""
    if state.waiting != "effect":
        raise EngineError(f"an effect result arrived while node {state.node!r} waits for caller input")
    action = flow.nodes[state.node]
    assert isinstance(action, f.ActionNode)
    variables = state.vars
    if result.ok:
        if action.result is not None:
            if not fits({**variables, action.result: result.value}):  # a result past the bounds
                return _broken(state, state.node, [], None, [])
            variables[action.result] = result.value
        return _run(flow, action.next, variables, state, (), None)
    if action.on_error is not None:
        return _run(flow, action.on_error, variables, state, (), None)
    return Step(replace(state, waiting="ended", outcome=ERROR_OUTCOME), (Prompt("say", APOLOGY),))


def advance(flow: f.Flow, state: CallState, heard: Heard | EffectResult) -> Step:
    """One move of the call: the caller's answer to the waiting prompt, or the result of the pending effect."""
    if state.waiting == "ended":
        raise EngineError(f"call already ended with outcome {state.outcome!r}; no further input is accepted")
    if isinstance(heard, EffectResult):
        return _resulted(flow, state, heard)
    variables = state.vars
    if state.waiting != "input":
        raise EngineError(f"caller input arrived while node {state.node!r} waits for its effect's result")
    meaning = interpret(flow, state.node, heard)
    decision = decide(flow, state.node, state.no_input, state.no_match, meaning)
    after = replace(state, turn=state.turn + 1)
    message = _prompts(decision.message, variables)
    if decision.target is not None:
        if meaning.kind == "data":
            node = flow.nodes[state.node]
            assert isinstance(node, f.CollectNode)
            variables[node.var] = meaning.value
        return _run(flow, decision.target, variables, after, message, meaning)
    node = flow.nodes[state.node]
    assert isinstance(node, f.GatherNode)
    prompts = message
    if decision.help:
        prompts += _prompts(node.help, variables) if node.help else (Prompt("say", default_help(flow, state.node)),)
    if decision.replay:
        prompts += _prompts(node.prompt, variables)
    stay = replace(after, no_input=decision.no_input, no_match=decision.no_match)
    return Step(stay, prompts, gather_for(flow, state.node), meaning=meaning, path=(state.node,))


def confirmation_number(draw: int) -> str:
    """The confirmation number for `draw` (any non-negative integer: a random draw, or a seed from the call):
    `CONFIRMATION_DIGITS` digits, the first not 0."""
    low = 10 ** (CONFIRMATION_DIGITS - 1)
    return str(low + draw % (9 * low))
