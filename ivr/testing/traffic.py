"""Production calls replayed without audio: the calls the phone line logged, re-run against a new version of a flow.

The call store (`ivr.line.store`) keeps every turn of every call: what Twilio heard (SpeechResult with its
Confidence), the keys pressed (Digits) or nothing, and how the line understood it then. Each logged call's answers
are given again, in order, to the line serving the new flow through the simulator (a black box, as for recorded
calls): speech said with the confidence Twilio gave, keys pressed, silence as silence, a transfer ending as it did.
A caller who runs out of answers hangs up. Each call is then compared with what happened in production:

- its outcome and its number of turns, old -> new;
- a caller who asked for the flow's guarantee intent (`cancel`) and reached its outcome within N turns of asking
  (the guarantee's `within`) then, but would not now, is a **regression**: a regression test on real traffic.

Only the turns the line answered count: the call coming in (`start`) and a transfer's result (`dial`) are not
the caller's answers, and a call with no answer at all has nothing to replay.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from ivr.flow.caller import Digits, Heard, Silence, Speech, as_text
from ivr.flow.intents import Meaning
from ivr.flow.model import Flow
from ivr.line.records import CallRecord, Turn
from ivr.line.store import Store
from ivr.testing.sim import AgentAnswer, Call, Simulator

#: how a logged transfer ended (Twilio's DialCallStatus) -> how the simulator's agent answers
DIAL_ANSWERS = {"completed": "completed", "answered": "completed", "no-answer": "no-answer", "busy": "busy",
                "failed": "failed", "canceled": "no-answer"}


@dataclass(frozen=True)
class LoggedCall:
    """One call as the store logged it: who called, each answer in order and how the line took it, how it ended."""

    call_sid: str
    flow: str
    caller: str
    called: str
    started_at: datetime
    answers: tuple[Heard, ...]
    intents: tuple[str, ...]  # how the line understood each answer then (`intent 'cancel'`, `data '1234'`)
    before: tuple[int, ...]  # the call's turns before each answer
    outcome: str | None
    turns: int
    node: str  # where the call ended, or stopped
    dial: AgentAnswer = "completed"  # how its transfer ended, if it had one

    def asked(self, meaning: str) -> int | None:
        """The index of the first answer the line understood as `meaning`, if any."""
        return next((i for i, intent in enumerate(self.intents) if intent == meaning), None)


def heard_of(turn: Turn) -> Heard:
    """A logged turn's answer: the keys pressed, else the speech heard (with Twilio's confidence), else silence."""
    if turn.digits:
        return Digits(turn.digits)
    if turn.heard:
        return Speech(turn.heard, turn.confidence)
    return Silence()


def logged_call(record: CallRecord, turns: Sequence[Turn]) -> LoggedCall:
    """A call and its logged turns (in `seq` order) as the answers to give again."""
    answers, intents, before = [], [], []
    dial: AgentAnswer = "completed"
    so_far = 0
    for turn in sorted(turns, key=lambda t: t.seq):
        if turn.kind == "gather":
            answers.append(heard_of(turn))
            intents.append(turn.intent)
            before.append(so_far)
        elif turn.kind == "dial":
            dial = cast(AgentAnswer, DIAL_ANSWERS.get(turn.heard.removeprefix("DialCallStatus="), "completed"))
        so_far = turn.turns
    return LoggedCall(record.call_sid, record.flow, record.caller, record.called, record.started_at, tuple(answers),
                      tuple(intents), tuple(before), record.outcome, record.turns, record.node, dial)


@dataclass
class Rerun:
    """A logged call given again to the new flow: how it ends now, and whether that is a regression."""

    call: LoggedCall
    outcome: str | None = None
    turns: int = 0
    node: str = ""
    before: list[int] = field(default_factory=list)  # the call's turns before each answer, now
    intents: list[str] = field(default_factory=list)  # how the line understands each answer now
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    regression: str = ""  # why this caller is a regression, or ""

    @property
    def changed(self) -> bool:
        return (self.outcome, self.turns) != (self.call.outcome, self.call.turns)

    def to_json(self) -> dict[str, Any]:
        c = self.call
        return {"call_sid": c.call_sid, "flow": c.flow, "caller": c.caller,
                "started_at": c.started_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "answers": [as_text(a) for a in c.answers],
                "old": {"outcome": c.outcome, "turns": c.turns, "node": c.node, "intents": list(c.intents)},
                "new": {"outcome": self.outcome, "turns": self.turns, "node": self.node, "intents": self.intents},
                "changed": self.changed, "regression": self.regression or None, "notes": self.notes,
                "errors": self.errors}

    def text(self) -> list[str]:
        c = self.call
        lines = [f"{'changed' if self.changed else 'same':<10} {c.call_sid} from {c.caller or '?'}: outcome "
                 f"{_end(c.outcome, c.node)} -> {_end(self.outcome, self.node)}, {c.turns} -> {self.turns} turn(s)"]
        if self.regression:
            lines.append(f"{'REGRESSION':<10} {c.call_sid}: {self.regression}")
        return lines + [f"{'':<10} note: {n}" for n in self.notes] + [f"{'':<10} error: {x}" for x in self.errors]


def _end(outcome: str | None, node: str) -> str:
    return outcome if outcome else f"none (at {node or '?'})"


def give(call: Call, heard: Heard) -> None:
    """Answer the waiting `<Gather>` as the caller did in production."""
    if isinstance(heard, Digits):
        call.press(heard.keys)
    elif isinstance(heard, Speech):
        call.say(heard.text, heard.confidence if heard.confidence is not None else 1.0)
    else:
        call.silence()


def rerun(logged: LoggedCall, sim: Simulator, path: str, flow: Flow, within: int | None) -> Rerun:
    """Give `logged`'s answers again to the line at `path` (serving `flow`), and judge the caller who asked for
    the flow's guarantee intent: within `within` turns of asking, as then?"""
    new = Rerun(logged)
    call = sim.call(path, caller=logged.caller, called=logged.called, dial_answer=logged.dial)
    for i, heard in enumerate(logged.answers):
        if call.waiting is None:
            new.notes.append(f"the call ended with {len(logged.answers) - i} logged answer(s) left over")
            break
        new.before.append(call.turns)
        give(call, heard)
        new.intents.append(call.headers.get("x-ivr-intent", ""))
    call.hang_up()
    new.outcome, new.turns, new.node, new.errors = call.outcome, call.turns, call.node or "", list(call.errors)
    new.regression = regression(new, flow, within)
    return new


def regression(new: Rerun, flow: Flow, within: int | None) -> str:
    """Why the caller of `new` is a regression: they asked for the guarantee intent, and reached its outcome within
    `within` turns of asking in production but not now; "" when not."""
    logged, goal = new.call, flow.guarantee
    asked = logged.asked(str(Meaning("intent", goal.intent)))
    if asked is None:
        return ""

    def reached(outcome: str | None, span: int) -> bool:
        return outcome == goal.outcome and (within is None or span <= within)

    old_span = logged.turns - logged.before[asked]
    if not reached(logged.outcome, old_span):  # not in time then either: nothing this flow broke
        return ""
    new_span = new.turns - (new.before[asked] if asked < len(new.before) else new.turns)
    if reached(new.outcome, new_span):
        return ""
    limit = f" (within {within})" if within is not None else ""
    then = (f"asked to {goal.intent} at turn {asked + 1} ({as_text(logged.answers[asked])!r}) and reached "
            f"{goal.outcome!r} in {old_span} turn(s){limit}")
    if new.outcome != goal.outcome:
        end = repr(new.outcome) if new.outcome else f"with no outcome (at {new.node or '?'})"
        return f"{then}; now the call ends {end} after {new.turns} turn(s)"
    return f"{then}; now it takes {new_span} turn(s), more than {within}"


@dataclass
class TrafficReport:
    """The calls of one flow read from a store and re-run against a new version of it."""

    flow: str  # the new flow's name
    logged_flow: str  # the flow whose logged calls were replayed
    store: str  # the store's URL, without its password
    read: int = 0
    reruns: list[Rerun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[Rerun]:
        return [r for r in self.reruns if r.changed]

    @property
    def regressions(self) -> list[Rerun]:
        return [r for r in self.reruns if r.regression]

    def summary(self) -> str:
        return (f"{self.read} call(s) read, {len(self.reruns)} replayed, {len(self.reruns) - len(self.changed)} "
                f"unchanged, {len(self.changed)} changed, {len(self.regressions)} regression(s)")

    def text(self) -> str:
        """Every call whose outcome or turns change, and every regression; then the summary."""
        lines = [line for r in self.reruns if r.changed or r.regression or r.errors for line in r.text()]
        return "\n".join([*lines, self.summary()]) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {"flow": self.flow, "logged_flow": self.logged_flow, "store": self.store,
                "summary": {"read": self.read, "replayed": len(self.reruns),
                            "unchanged": len(self.reruns) - len(self.changed), "changed": len(self.changed),
                            "regressions": len(self.regressions)},
                "notes": self.notes, "calls": [r.to_json() for r in self.reruns]}


def replay_store(store: Store, sim: Simulator, flow: Flow, *, logged_flow: str | None = None,
                 since: datetime | None = None, within: int | None = None) -> TrafficReport:
    """Re-run the calls `store` logged for `logged_flow` (default: `flow`'s name) since `since`, oldest first,
    against the line `sim` calls, which serves `flow`; `within` defaults to the guarantee's."""
    logged_flow = logged_flow or flow.name
    within = within if within is not None else flow.guarantee.within
    records = store.calls(since=since)[::-1]
    report = TrafficReport(flow.name, logged_flow, store.safe_url, read=len(records))
    others = Counter(r.flow for r in records if r.flow != logged_flow)
    if others:
        report.notes.append(f"{sum(others.values())} call(s) logged for other flows skipped "
                            f"({dict(sorted(others.items()))}); --flow NAME replays the calls of flow NAME against "
                            f"{flow.name!r}")
    if logged_flow != flow.name:
        report.notes.append(f"the calls logged for flow {logged_flow!r} are replayed against flow {flow.name!r}")
    silent = 0
    for record in (r for r in records if r.flow == logged_flow):
        logged = logged_call(record, store.turns(record.call_sid))
        if not logged.answers:
            silent += 1
            continue
        report.reruns.append(rerun(logged, sim, f"/voice/{flow.name}", flow, within))
    if silent:
        report.notes.append(f"{silent} call(s) with no answer to replay skipped (the caller never answered a prompt)")
    return report
