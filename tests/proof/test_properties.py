"""Property-based cross-checks of the checker against the real engine, on random valid flows.

The checker (`ivr.proof.report.check`) explores a flow statically; the engine (`ivr.flow.engine.start` / `advance`) runs
one call. These properties drive the engine with random callers and hold it to what the checker claims:

A. the engine is total: it never raises on caller input, always waits for input or an effect or has ended,
   and counts exactly one turn per caller input;
B. soundness: after any short prefix of any caller's answers, a persistent canceller reaches the guarantee's
   outcome within the checker's `worst_case_turns`;
C. counterexamples are real: replaying one through the engine visits its nodes turn by turn and ends the way
   it says;
D. `engine.decide` depends on the no-input / no-match counts only where it climbs a ladder.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ivr.flow import model as f
from ivr.flow.caller import Digits, Heard, Silence, Speech
from ivr.flow.engine import ERROR_OUTCOME, EffectResult, Step, advance, decide, start
from ivr.flow.intents import NO_INPUT, NO_MATCH
from ivr.proof.canceller import CANCEL_PHRASINGS, Waypoint
from ivr.proof.explore import JUNK, SILENCE, any_caller_answers, sample_data
from ivr.proof.report import Report, check

T = TypeVar("T")
GOAL = "cancelled"
OTHER_OUTCOMES = ("kept", "resolved")
JUNK_WORDS = ("xyzzy", "banana", "hello", "what", "my", "service", "account", "it", "right now", "um", "please")
DIGIT_WORDS = ("one", "two", "nine", "zero", "oh", "double five", "twenty one", "1234", "4111111111111111")
NOT_UNDERSTOOD = "xyzzy"  # what a counterexample's "(something it does not understand)" is replayed as

#: phrase pools per intent; some overlap on purpose ("cancel it", "my service") so precedence matters
PHRASES = {
    "billing": ("billing", "my bill", "payment", "pay my bill"),
    "tech": ("support", "internet", "tech support", "cancel it", "my service is down"),
    "cancel": ("cancel", "cancellation", "cancel my service", "disconnect", "i want to cancel", "stop my service"),
    "agent": ("agent", "a person", "operator", "my service"),
}
#: DTMF keys per declared intent, disjoint so a flow never declares one key twice (built-ins may collide)
INTENT_KEYS = {
    "billing": ([], ["1"], ["1", "5"]),
    "tech": ([], ["2"], ["3"]),
    "cancel": ([], ["9"], ["9", "7"]),
    "agent": ([], ["0"], ["8"]),
}
ROUTED_INTENTS = ("billing", "tech", "cancel", "agent", "yes", "no", "repeat", "help")
NODE_KEYS = ("1", "2", "5", "9", "0", "*", "#", "11")
PROMPTS = ("Hello.", "Say billing, support or cancel.", "Your account {account:digits}?", "Are you sure?")
#: input nodes are listed twice so most flows have a few places to answer
NODE_TYPES = ("menu", "menu", "confirm", "collect", "say", "set", "branch", "action", "end", "transfer")
START_TYPES = ("menu", "menu", "confirm", "collect", "say", "action")  # the start is no ending
INPUT_TYPES = ("menu", "confirm", "collect")
TERMINAL_TYPES = ("end", "transfer")


#: `BELOW[n]` draws 0 .. n-1; built once, as a flow takes about a hundred draws and building strategies
#: per draw (`sampled_from`, `dictionaries`) made generation the slowest part of these tests
BELOW = [st.integers(0, max(n - 1, 0)) for n in range(20)]


def pick(draw: st.DrawFn, items: Sequence[T]) -> T:
    return items[draw(BELOW[len(items)])]


def chance(draw: st.DrawFn, one_in: int) -> bool:
    return draw(BELOW[one_in]) == 0


def some(draw: st.DrawFn, items: Sequence[T], most: int) -> list[T]:
    """Up to `most` distinct items."""
    return list(dict.fromkeys(pick(draw, items) for _ in range(draw(BELOW[most + 1]))))


def scalar(draw: st.DrawFn, value: int | bool) -> int | bool | str:
    """A YAML-ish scalar: flows loaded with BaseLoader carry strings, hand-built ones real ints and bools."""
    if chance(draw, 2):
        return str(value).lower()
    return value


def ladder(draw: st.DrawFn, targets: list[str]) -> list[dict[str, Any]]:
    rungs: list[dict[str, Any]] = [{"say": pick(draw, ("Sorry?", "Pardon?", "Hello?"))}
                                   for _ in range(draw(st.integers(1, 3)))]
    for rung in rungs:
        if chance(draw, 6):
            rung["reprompt"] = scalar(draw, False)
    if chance(draw, 2):
        rungs[-1]["goto"] = pick(draw, targets)
    return rungs


def input_node(draw: st.DrawFn, kind: str, ids: list[str], globals_: list[str]) -> dict[str, Any]:
    routable = [*ids, *f.RESERVED_TARGETS]
    node: dict[str, Any] = {"type": kind, "prompt": pick(draw, PROMPTS)}
    node["routes"] = {intent: pick(draw, routable) for intent in some(draw, ROUTED_INTENTS, 3)}
    if chance(draw, 2):
        node["keys"] = {key: pick(draw, routable) for key in some(draw, NODE_KEYS, 2)}
    node["input"] = pick(draw, ("both", "both", "speech", "dtmf"))
    if globals_ and chance(draw, 5):
        node["opt_out"] = some(draw, globals_, 2)
    for kind_ in ("no_input", "no_match"):
        if chance(draw, 2):
            node[kind_] = ladder(draw, ids)
    if chance(draw, 6):
        node["min_confidence"] = pick(draw, (0.5, "0.5", 0.9))
    if chance(draw, 5):
        node["retention"] = scalar(draw, True)
    if kind == "confirm":
        node["yes"], node["no"] = pick(draw, ids), pick(draw, ids)
    elif kind == "collect":
        low = draw(st.integers(1, 4))  # one digit: an intent's key may be data
        high = draw(st.integers(low, 6))
        node.update(var="account", digits={"min": scalar(draw, low), "max": scalar(draw, high)},
                    finish_on_key=pick(draw, ("#", "*", "")), validate=pick(draw, ("none", "none", "luhn")),
                    next=pick(draw, ids))
    return node


def automatic_node(draw: st.DrawFn, kind: str, onward: list[str], branches: bool) -> dict[str, Any]:
    """say / set / branch / action: `onward` holds only later nodes and input or terminal nodes, so no chain of
    automatic nodes can loop without a turn."""
    if kind == "set":
        return {"type": "set", "set": {"tier": pick(draw, ("gold", "{account}"))}, "next": pick(draw, onward)}
    if kind == "branch" and branches:
        # `mood` is never set, so the engine always takes the default; the checker goes every way
        return {"type": "branch", "var": "mood", "cases": {"happy": pick(draw, onward), "sad": pick(draw, onward)},
                "default": pick(draw, onward)}
    if kind == "action":
        node: dict[str, Any] = {"type": "action", "effect": "record_cancellation", "next": pick(draw, onward)}
        if chance(draw, 2):
            node["on_error"] = pick(draw, onward)
        if chance(draw, 2):
            node.update(result="confirmation", args={"account": "{account}"})
        return node
    return {"type": "say", "prompt": pick(draw, PROMPTS), "next": pick(draw, onward)}


def intent_declarations(draw: st.DrawFn, fair: bool) -> dict[str, Any]:
    """billing and tech always, cancel and agent sometimes (else the built-ins serve)."""
    intents: dict[str, Any] = {}
    for name in PHRASES:
        if name in ("billing", "tech") or chance(draw, 2):
            phrases = some(draw, PHRASES[name], 3)
            if fair and name == "cancel":
                phrases += [p for p in ("cancel", "cancellation") if p not in phrases]
            keys = pick(draw, INTENT_KEYS[name])
            if not phrases and not keys:
                phrases = [PHRASES[name][0]]
            intents[name] = {"phrases": phrases, "keys": keys}
    return intents


def global_routes(draw: st.DrawFn, ids: list[str], cancelled: str, fair: bool) -> dict[str, str]:
    routes: dict[str, str] = {}
    if fair or chance(draw, 2):
        routes["cancel"] = cancelled if fair or chance(draw, 2) else pick(draw, ids)
    if chance(draw, 2):
        routes["agent"] = pick(draw, ids)
    if chance(draw, 2):
        routes["repeat"] = f.REPEAT
    if chance(draw, 2):
        routes["help"] = f.HELP
    return routes


@st.composite
def flow_dicts(draw: st.DrawFn, *, branches: bool = True, fair: bool | None = None) -> dict[str, Any]:
    """A random flow as the plain mapping `Flow.model_validate` takes, valid by construction. `branches` allows
    branch nodes; `fair=True` makes a flow that sends cancel requests onwards (see below), `fair=None` draws
    whether to."""
    n = draw(st.integers(3, 12))
    ids = [f"n{i}" for i in range(n)]
    types = [pick(draw, NODE_TYPES if i else START_TYPES) for i in range(n)]
    cancelled = draw(st.integers(1, n - 1))  # the one end node with the guarantee's outcome (not the start)
    # a fair flow sends a canceller onwards from every input node (to a later node, or the cancelled ending),
    # gives data and runs automatic nodes only onwards, so many fair flows keep the guarantee, some after a few
    # turns (the rest fail on ladders, the other endings, and phrasings heard as another intent)
    fair = chance(draw, 2) if fair is None else fair
    intents = intent_declarations(draw, fair)
    globals_ = global_routes(draw, ids, ids[cancelled], fair)
    nodes: dict[str, Any] = {}
    for i, (node_id, kind) in enumerate(zip(ids, types, strict=True)):
        if i == cancelled:
            nodes[node_id] = {"type": "end", "prompt": "Cancelled. Goodbye.", "outcome": GOAL}
        elif kind == "end":
            nodes[node_id] = {"type": "end", "outcome": pick(draw, OTHER_OUTCOMES)}
        elif kind == "transfer":
            nodes[node_id] = {"type": "transfer", "number": "+18005550100"}
        elif kind in INPUT_TYPES:
            node = nodes[node_id] = input_node(draw, kind, ids, list(globals_))
            if fair:
                onwards = [ids[cancelled], *(j for k, j in enumerate(ids) if k > i and types[k] not in
                                              TERMINAL_TYPES)]
                node["routes"].pop("cancel", None)  # the global route goes to the cancelled ending ...
                if chance(draw, 2):  # ... or the node's own goes onwards
                    node["routes"]["cancel"] = pick(draw, onwards)
                node.pop("opt_out", None)
                if kind == "collect":
                    node["next"] = pick(draw, onwards)
        else:
            onward = [j for k, j in enumerate(ids) if k > i or k == cancelled
                      or (types[k] in INPUT_TYPES + TERMINAL_TYPES and not fair)]
            nodes[node_id] = automatic_node(draw, kind, onward, branches)
    data: dict[str, Any] = {
        "name": "random", "start": ids[0], "outcomes": [GOAL, *OTHER_OUTCOMES, "transferred"],
        "variables": {"account": "", "tier": "", "mood": "", "confirmation": ""},
        "intents": intents, "globals": globals_, "nodes": nodes,
    }
    if chance(draw, 2):
        data["defaults"] = {"no_input": ladder(draw, ids), "no_match": ladder(draw, ids)}
    return data


def build(data: dict[str, Any]) -> f.Flow:
    return f.Flow.model_validate(data)


def caller_inputs(flow: f.Flow) -> st.SearchStrategy[Heard]:
    """Anything a caller might say or press: the flow's phrases, cancel requests, junk, digits, silence."""
    words = sorted({p for i in flow.all_intents.values() for p in i.phrases}
                   | set(CANCEL_PHRASINGS) | set(JUNK_WORDS) | set(DIGIT_WORDS))
    text = st.lists(st.sampled_from(words), min_size=1, max_size=3).map(" ".join) | st.just("")
    speech = st.builds(Speech, text, st.none() | st.sampled_from((0.2, 0.7, 1.0)))
    keys = st.text(alphabet=f.DTMF_KEYS, max_size=5) | st.sampled_from(NODE_KEYS)
    return st.one_of(speech, st.builds(Digits, keys), st.just(Silence()))


def assert_well_formed(flow: f.Flow, step: Step) -> None:
    """A step waits for caller input at an input node, for an effect at an action node, or has ended."""
    node = flow.nodes[step.state.node]
    if step.state.waiting == "input":
        assert isinstance(node, f.GatherNode)
        assert (step.gather is not None, step.effect) == (True, None)
    elif step.state.waiting == "effect":
        assert isinstance(node, f.ActionNode)
        assert (step.effect is not None, step.gather) == (True, None)
    else:
        assert (step.state.waiting, step.outcome is not None, step.gather) == ("ended", True, None)


def canceller_answers(flow: f.Flow, node_id: str) -> list[Heard]:
    """Every answer the persistent canceller may give at an input node."""
    node = flow.nodes[node_id]
    assert isinstance(node, f.GatherNode)
    if isinstance(node, f.CollectNode):
        data = sample_data(node)
        return [Digits(data) if node.dtmf else Speech(data)]
    intent = flow.all_intents[flow.guarantee.intent]
    answers: list[Heard] = []
    if node.speech:
        answers += [Speech(p) for p in dict.fromkeys([*intent.phrases, *CANCEL_PHRASINGS])]
    if node.dtmf:
        answers += [Digits(k) for k in intent.keys]
    return answers or [Silence()]  # a keypad-only prompt without a cancel key: Twilio hears no words there


# ---------------------------------------------------------------------------------------------------------------
# A. the engine is total


@settings(max_examples=120, deadline=None)
@given(flow_dicts(), st.data())
def test_engine_is_total(data: dict[str, Any], draw: st.DataObject) -> None:
    flow = build(data)
    inputs = caller_inputs(flow)
    step = start(flow)
    unhandled = False  # the last answer was a failed effect of an action with no `on_error`
    for _ in range(30):
        assert_well_formed(flow, step)
        if step.ended:
            # only an unhandled failed effect ends in the error outcome (there are no zero-turn loops)
            assert (step.outcome == ERROR_OUTCOME) == unhandled
            assert step.outcome in (*flow.outcomes, ERROR_OUTCOME)
            break
        before = step.state.turn
        if step.state.waiting == "effect":
            ok = draw.draw(st.booleans(), label="effect ok")
            action = flow.nodes[step.state.node]
            assert isinstance(action, f.ActionNode)
            unhandled = not ok and action.on_error is None
            step = advance(flow, step.state, EffectResult(ok=ok))
            assert step.state.turn == before
        else:
            step = advance(flow, step.state, draw.draw(inputs, label="caller"))
            assert step.state.turn == before + 1


# ---------------------------------------------------------------------------------------------------------------
# B. soundness: the persistent canceller arrives within the checker's worst case


# the claim is about flows the checker bounds, about a third of these (fair ones more often): the rest are
# filtered out by design
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(flow_dicts(fair=True) | flow_dicts(fair=True) | flow_dicts(), st.data())
def test_canceller_arrives_within_worst_case(data: dict[str, Any], draw: st.DataObject) -> None:
    flow = build(data)
    worst = check(flow).worst_case_turns
    assume(worst is not None)
    assert worst is not None
    inputs = caller_inputs(flow)
    step = start(flow)
    prefix = draw.draw(st.integers(0, 4), label="prefix length")

    def settled(after: Step) -> Step:  # effects on the way, succeeding or failing as drawn
        while after.state.waiting == "effect" and not after.ended:
            after = advance(flow, after.state, EffectResult(ok=draw.draw(st.booleans(), label="effect ok")))
        return after

    step = settled(step)
    assume(not step.ended)  # a flow that ends before its first prompt has no caller to cancel
    while prefix:  # any caller, any effect result: every state reached is one the checker saw
        after = settled(advance(flow, step.state, draw.draw(inputs, label="caller")))
        if after.ended:  # stop at the last prompt before an ending: the canceller always has a call to cancel
            break
        step, prefix = after, prefix - 1
    turns = 0
    while not step.ended:
        if step.state.waiting == "effect":
            step = advance(flow, step.state, EffectResult(ok=True))
            continue
        assert turns < worst, f"the canceller is still at {step.state.node!r} after {worst} turns"
        answers = canceller_answers(flow, step.state.node)
        step = advance(flow, step.state, draw.draw(st.sampled_from(answers), label="canceller"))
        turns += 1
    assert step.outcome == GOAL


# ---------------------------------------------------------------------------------------------------------------
# C. counterexamples are real


def replay_input(flow: f.Flow, event: Waypoint) -> Heard:
    """What the caller of a counterexample said or pressed, from its `heard` text."""
    node = flow.nodes[event.node]
    assert isinstance(node, f.GatherNode)
    assert event.heard is not None
    if event.heard == SILENCE:
        return Silence()
    if event.heard == JUNK:
        return Speech(NOT_UNDERSTOOD)
    if event.heard.startswith("#"):
        return Digits(event.heard[1:])
    if isinstance(node, f.CollectNode) and event.heard.isdigit():  # data, given as the canceller gives it
        return Digits(event.heard) if node.dtmf else Speech(event.heard)
    return Speech(event.heard)


def replay_counterexample(flow: f.Flow, report: Report) -> None:
    """Replay a counterexample's answers and hold the engine to each of its turns and its end. Effects succeed,
    but those a turn says failed on the way to its prompt (`effect_failed`)."""
    step = start(flow)
    turns = [e for e in report.counterexample if e.turn is not None]
    ending = report.counterexample[-1]
    assert ending.turn is None
    for event in [*turns, ending]:
        while step.state.waiting == "effect":
            failed = step.state.node in event.effect_failed
            step = advance(flow, step.state, EffectResult(ok=not failed))
        if event is ending:
            break
        assert not step.ended, f"the call ended {step.outcome!r} before turn {event.turn}"
        assert (step.state.node, step.state.turn + 1) == (event.node, event.turn)
        step = advance(flow, step.state, replay_input(flow, event))
    bounded = report.worst_case_turns is not None
    if ending.outcome is not None:
        assert (step.outcome, step.state.turn) == (ending.outcome, len(turns))
        assert (step.outcome == GOAL) == bounded
        if bounded:
            assert sum(e.cancelling for e in turns) == report.worst_case_turns
    else:  # a loop: the call is back at an earlier prompt, so it never reaches the goal
        assert not bounded
        assert (step.state.waiting, step.state.node) == ("input", ending.node)


# a flow has a counterexample when the checker bounds it beyond one turn or not at all: most, not all
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(flow_dicts(branches=False))
def test_counterexample_replays(data: dict[str, Any]) -> None:
    """On flows without branches: the engine goes one way at a branch, the checker every way."""
    flow = build(data)
    report = check(flow)
    if report.worst_case_turns is not None:
        assume(report.worst_case_turns > 1)
        report = check(flow, within=1)  # the worst path is the counterexample
    assume(report.counterexample)
    replay_counterexample(flow, report)


# ---------------------------------------------------------------------------------------------------------------
# D. only decisions that climb a ladder depend on the counts


@settings(max_examples=100, deadline=None)
@given(flow_dicts(), st.data())
def test_decide_depends_on_counts_only_on_a_ladder(data: dict[str, Any], draw: st.DataObject) -> None:
    """Any answer but silence, a mismatch or a route to `@no_match` is decided the same whatever the counts
    (and staying keeps them); a route to `@no_match` is decided exactly as a mismatch; and a ladder decision
    depends on the counts and the node's two ladders only. The checker's memo tables rely on all three."""
    flow = build(data)
    inputs = [n for n, node in flow.nodes.items() if isinstance(node, f.GatherNode)]
    assume(inputs)
    node_id = draw.draw(st.sampled_from(inputs), label="node")
    counts = st.integers(0, 12)
    for meaning in any_caller_answers(flow, node_id):
        ni, nm = draw.draw(counts, label="no_input"), draw.draw(counts, label="no_match")
        base, counted = decide(flow, node_id, 0, 0, meaning), decide(flow, node_id, ni, nm, meaning)
        assert counted.counted == base.counted
        if meaning.kind in ("no_input", "no_match"):
            assert counted.counted
        elif counted.counted:  # routed to @no_match
            assert counted == decide(flow, node_id, ni, nm, NO_MATCH)
        else:
            assert (counted.target, counted.help, counted.replay, counted.message) == \
                (base.target, base.help, base.replay, base.message)
            if counted.target is None:  # staying (@repeat / @help) keeps the counts
                assert (counted.no_input, counted.no_match) == (ni, nm)
    other = draw.draw(st.sampled_from(inputs), label="other node")
    node, twin = flow.nodes[node_id], flow.nodes[other]
    assert isinstance(node, f.GatherNode)
    assert isinstance(twin, f.GatherNode)
    if all(flow.ladder(node, kind) is flow.ladder(twin, kind) for kind in ("no_input", "no_match")):
        for meaning in (NO_INPUT, NO_MATCH):
            ni, nm = draw.draw(counts, label="no_input"), draw.draw(counts, label="no_match")
            assert decide(flow, node_id, ni, nm, meaning) == decide(flow, other, ni, nm, meaning)


# ---------------------------------------------------------------------------------------------------------------
# The bugs the properties found, as minimal flows (each fixed in the checker since)

CANCELLED = {"type": "end", "prompt": "Cancelled.", "outcome": GOAL}


def small_flow(nodes: dict[str, Any], **top: Any) -> f.Flow:
    return build({"name": "small", "start": next(iter(nodes)), "outcomes": [GOAL, "kept"],
                  "variables": {"account": ""}, "nodes": nodes, **top})


def test_keys_only_node_without_cancel_key() -> None:
    """check() crashed: the canceller had no answer at a keypad-only prompt when the cancel intent has no key."""
    flow = small_flow({"menu": {"type": "menu", "input": "dtmf", "prompt": "Press 1.", "keys": {"1": "kept"}},
                       "done": CANCELLED, "kept": {"type": "end", "outcome": "kept"}},
                      globals={"cancel": "done"})
    # the canceller's "cancel" is not heard here and the default ladder reprompts for ever
    assert check(flow).worst_case_turns is None


def test_keys_only_node_routing_an_intent_without_key() -> None:
    """check() crashed writing a way in: an intent without keys, routed at a keypad-only prompt, as a key."""
    flow = small_flow({"menu": {"type": "menu", "input": "dtmf", "prompt": "Press 9 to cancel.",
                                "routes": {"main_menu": "other"}},
                       "other": {"type": "menu", "prompt": "Anything else?"}, "done": CANCELLED},
                      intents={"cancel": {"phrases": ["cancel"], "keys": ["9"]}}, globals={"cancel": "done"})
    assert check(flow).worst_case_turns == 1


def test_key_at_a_speech_only_node_is_not_pressed() -> None:
    """The explorer let a caller press keys at a speech-only prompt and reported a trap no caller can reach."""
    flow = small_flow({"menu": {"type": "menu", "input": "speech", "prompt": "Say cancel.", "keys": {"4": "trap"}},
                       "trap": {"type": "menu", "prompt": "Sure?", "routes": {"cancel": "trap"}}, "done": CANCELLED},
                      globals={"cancel": "done"})
    assert advance(flow, start(flow).state, Digits("4")).state.node == "menu"  # the engine does not hear "#4"
    assert check(flow).worst_case_turns == 1


def test_counterexample_says_an_effect_failed() -> None:
    """A way in through a failed effect (the action's `on_error`) did not say so: replayed, it went elsewhere."""
    flow = small_flow({"lookup": {"type": "action", "effect": "look_up", "next": "kept", "on_error": "menu"},
                       "menu": {"type": "menu", "prompt": "Sorry, we could not find you."},
                       "done": CANCELLED, "kept": {"type": "end", "outcome": "kept"}})
    report = check(flow)
    assert report.counterexample
    replay_counterexample(flow, report)


def test_counterexample_data_is_not_a_key() -> None:
    """A way in gave a collect node's sample data where that is one of the node's keys: pressed, it is the key."""
    flow = small_flow({"account": {"type": "collect", "input": "dtmf", "prompt": "Your one-digit code?",
                                   "var": "account", "digits": {"min": 1, "max": 1}, "keys": {"1": "done"},
                                   "next": "menu"},
                       "menu": {"type": "menu", "prompt": "Thanks. Anything else?"}, "done": CANCELLED},
                      intents={"cancel": {"phrases": ["cancel"], "keys": ["9"]}})
    report = check(flow)
    assert [e.node for e in report.counterexample if e.turn is not None][:2] == ["account", "menu"]
    replay_counterexample(flow, report)


def test_intent_key_that_is_data_is_not_the_intent() -> None:
    """An intent whose only key is valid data at a collect node cannot be asked for there; the explorer let it."""
    flow = small_flow({"code": {"type": "collect", "prompt": "Your one-digit code?", "var": "account",
                                "digits": {"min": 1, "max": 1}, "routes": {"agent": "trap"}, "next": "done"},
                       "trap": {"type": "menu", "prompt": "Hold on.", "routes": {"cancel": "trap"}},
                       "done": CANCELLED},
                      intents={"agent": {"keys": ["0"]}})
    assert advance(flow, start(flow).state, Digits("0")).state.node == "done"  # "0" is data, not the agent
    assert check(flow).worst_case_turns == 1


def test_counterexample_says_every_effect_that_failed() -> None:
    """A way in through two failed effects in a row named only the first: replayed, it took the second's `next`."""
    flow = small_flow({"charge": {"type": "action", "effect": "charge_card", "next": "done", "on_error": "retry"},
                       "retry": {"type": "action", "effect": "charge_card", "next": "done", "on_error": "menu"},
                       "menu": {"type": "menu", "prompt": "We could not charge your card."}, "done": CANCELLED})
    report = check(flow)
    assert report.counterexample[0].node == "menu"
    replay_counterexample(flow, report)
