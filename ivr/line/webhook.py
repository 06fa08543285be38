"""One Twilio webhook, start to finish, without Flask: the call comes in, the caller answers a Gather, a
transfer ends, the call's status changes. `app.py` only routes HTTP requests here.

Each request is one store transaction holding the call's lock (`Store.locked`): read the call, answer a retry
with the response already given, otherwise advance the engine, execute the step's effects, render TwiML, and save
the turn, the new state and any cancellation record together. The TwiML leaves only after that commit, so
"your service is cancelled" is never said about a record that does not exist.

Requests are numbered per call: the call coming in is 0, and every action URL we render carries the number of
the request it will produce (`seq`). A request whose number was answered before is a retry (Twilio retries on
timeouts): it gets the stored answer and runs nothing again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from ivr.flow import engine
from ivr.flow import model as f
from ivr.flow.caller import Digits, Heard, Speech
from ivr.line import twiml
from ivr.line.records import CallRecord, Turn
from ivr.line.store import Store, Transaction

log = logging.getLogger("ivr.line.webhook")

#: Twilio's CallStatus values after which nothing more happens on a call
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
SORRY_UNKNOWN = "Sorry, this call could not be found. Please call again. Goodbye."
SORRY_BROKEN = "Sorry, something went wrong on our side."
SORRY_NO_AGENT = "Sorry, nobody is available to take your call right now. Please call again later. Goodbye."


class Urls(Protocol):
    """Where the TwiML of request `seq` sends the caller's next answer, a transfer's result, and audio."""

    def gather(self, seq: int) -> str: ...

    def dial(self, seq: int) -> str: ...

    @property
    def audio(self) -> str: ...


@dataclass(frozen=True)
class EffectCall:
    """What an effect handler gets: the effect, the call, and the open transaction to write in."""

    effect: engine.Effect
    call: CallRecord
    seq: int
    tx: Transaction


EffectHandler = Callable[[EffectCall], engine.EffectResult]


def record_cancellation(ctx: EffectCall) -> engine.EffectResult:
    """The built-in `record_cancellation`: write the record in this request's transaction; the confirmation
    number read to the caller is the stored one. A store failure propagates: nothing is confirmed."""
    args = dict(ctx.effect.args)
    number = ctx.tx.record_cancellation(
        flow=ctx.call.flow, node=ctx.effect.node, caller=args.get("caller") or ctx.call.caller,
        account=args.get("account", ""), account_sid=ctx.call.account_sid)
    return engine.EffectResult(value=number)


def request_effect(ctx: EffectCall) -> engine.EffectResult:
    """Any effect without a handler is written down for the back office to carry out, and succeeds."""
    ctx.tx.record_effect(seq=ctx.seq, node=ctx.effect.node, name=ctx.effect.name, args=dict(ctx.effect.args))
    return engine.EffectResult()


BUILTIN_EFFECTS: dict[str, EffectHandler] = {engine.RECORD_CANCELLATION: record_cancellation}


def state_json(state: engine.CallState) -> dict[str, Any]:
    return {"node": state.node, "waiting": state.waiting, "turn": state.turn, "no_input": state.no_input,
            "no_match": state.no_match, "variables": [list(pair) for pair in state.variables],
            "outcome": state.outcome}


def state_from_json(data: Mapping[str, Any]) -> engine.CallState:
    values = dict(data)
    values["variables"] = tuple((str(k), str(v)) for k, v in values.get("variables", ()))
    return engine.CallState(**values)


def heard_fields(heard: Heard) -> dict[str, Any]:
    if isinstance(heard, Speech):
        return {"heard": heard.text, "confidence": heard.confidence}
    if isinstance(heard, Digits):
        return {"digits": heard.keys}
    return {}


def agent_number(flow: f.Flow) -> str:
    """Where the app sends a caller it cannot serve: the transfer the flow's `agent` route leads to, else the
    flow's first transfer (an empty string when it has none: the caller hears the apology and a hang-up)."""
    transfers = {k: n.number for k, n in flow.nodes.items() if isinstance(n, f.TransferNode)}
    return transfers.get(flow.global_routes.get("agent", ""), next(iter(transfers.values()), ""))


class Line:
    """One flow served on the phone line: its store, its effect handlers and where failures go."""

    def __init__(self, flow: f.Flow, store: Store, *, effects: Mapping[str, EffectHandler] | None = None,
                 fallback_number: str = "") -> None:
        self.flow, self.store = flow, store
        self.effects = {**BUILTIN_EFFECTS, **(effects or {})}
        self.fallback_number = fallback_number or agent_number(flow)

    # -- the four webhooks -------------------------------------------------------------------------------

    def incoming(self, sid: str, form: Mapping[str, str], urls: Urls) -> Turn:
        """A call comes in: start the flow (or, for a retry, answer as before)."""

        def work(tx: Transaction) -> Turn:
            call = tx.call()
            if call is not None:
                before = tx.turn(0)
                if call.flow == self.flow.name and before is not None:
                    return before
                log.warning("call %s came in again for flow %r; it belongs to %r", sid, self.flow.name, call.flow)
                return self.unknown()
            call = tx.create_call(flow=self.flow.name, account_sid=form.get("AccountSid", ""),
                                  caller=form.get("From", ""), called=form.get("To", ""),
                                  status=form.get("CallStatus", ""))
            step = engine.start(self.flow, caller=call.caller, called=call.called)
            return self._respond(tx, call, 0, step, urls, Turn(seq=0, kind="start"))

        return self.store.locked(sid, work)

    def answer(self, sid: str, seq: int, form: Mapping[str, str], urls: Urls) -> Turn:
        """The caller answered a Gather (speech, keys or silence)."""

        def work(tx: Transaction) -> Turn:
            call, retry = self._expect(tx, sid, seq, "input")
            if call is None:
                return retry or self.unknown()
            heard = twiml.heard_from_form(form)
            state = state_from_json(call.state)
            step = engine.advance(self.flow, state, heard)
            meaning = str(step.meaning) if step.meaning is not None else ""
            turn = Turn(seq=seq, kind="gather", node=state.node, prompt=call.said,
                        intent=meaning, **heard_fields(heard))
            return self._respond(tx, call, seq, step, urls, turn)

        return self.store.locked(sid, work)

    def dial_result(self, sid: str, seq: int, form: Mapping[str, str], urls: Urls) -> Turn:
        """A transfer finished: the agent's leg ended, or nobody answered."""

        def work(tx: Transaction) -> Turn:
            call, retry = self._expect(tx, sid, seq, "ended")
            if call is None:
                return retry or self.unknown()
            status = form.get("DialCallStatus", "")[:32]
            connected = status in ("completed", "answered")
            xml = twiml.hangup() if connected else self.apology(SORRY_NO_AGENT, transfer=False)
            turn = Turn(seq=seq, kind="dial", node=call.node, heard=f"DialCallStatus={status}", next_node=call.node,
                        said="" if connected else SORRY_NO_AGENT, twiml=xml, turns=call.turns, outcome=call.outcome)
            tx.save(turn, call.state, outcome=call.outcome, ended=True)
            return turn

        return self.store.locked(sid, work)

    def status(self, sid: str, form: Mapping[str, str]) -> bool:
        """Twilio's status callback; False for a call we never saw."""
        status = form.get("CallStatus", "")
        return self.store.update_status(sid, status, ended=status in FINAL_STATUSES)

    def unknown(self) -> Turn:
        """The answer to a request that belongs to no call in progress here (it is not stored)."""
        return Turn(seq=-1, kind="apology", twiml=self.apology(SORRY_UNKNOWN, transfer=False))

    def apology(self, message: str, *, transfer: bool = True) -> str:
        """Apologise, then transfer to an agent (when `transfer` and there is one to go to) or hang up."""
        if transfer and self.fallback_number:
            return twiml.apology(self.flow, f"{message} Let me transfer you to an agent.",
                                 transfer=self.fallback_number)
        if transfer:
            message = f"{message} Please call again later. Goodbye."
        return twiml.apology(self.flow, message)

    # -- inside one request's transaction -----------------------------------------------------------------

    def _expect(self, tx: Transaction, sid: str, seq: int, waiting: str) -> tuple[CallRecord | None, Turn | None]:
        """The call, if request `seq` is the one it waits for; else (None, the stored answer of a retry)."""
        call = tx.call()
        if call is None:
            log.warning("call %s: request %d for a call this app never saw; apologising", sid, seq)
            return None, None
        before = tx.turn(seq) if seq <= call.seq else None  # answered before: a retry
        if before is not None:
            log.info("call %s: request %d is a retry; answering as before", sid, seq)
            return None, before
        if call.seq + 1 != seq or call.state.get("waiting") != waiting or (call.ended and waiting == "input"):
            log.warning("call %s: request %d does not fit (last answered %d, waiting for %s, ended %s)",
                        sid, seq, call.seq, call.state.get("waiting"), call.ended)
            return None, None
        return call, None

    def _respond(self, tx: Transaction, call: CallRecord, seq: int, step: engine.Step, urls: Urls,
                 turn: Turn) -> Turn:
        step = engine.settle(self.flow, step, lambda effect: self._execute(effect, call, seq, tx))
        xml = twiml.render(self.flow, step, action=urls.gather(seq + 1), audio_base=urls.audio,
                           dial_action=urls.dial(seq + 1))
        turn = replace(turn, next_node=step.state.node, said=step.spoken, twiml=xml, turns=step.state.turn,
                       outcome=step.outcome)
        tx.save(turn, state_json(step.state), outcome=step.outcome, ended=step.ended and step.transfer is None)
        return turn

    def _execute(self, effect: engine.Effect, call: CallRecord, seq: int, tx: Transaction) -> engine.EffectResult:
        handler = self.effects.get(effect.name)
        ctx = EffectCall(effect, call, seq, tx)
        if handler is None:
            return request_effect(ctx)
        if handler in BUILTIN_EFFECTS.values():  # the store's own writes: a failure must abort the request
            return handler(ctx)
        try:
            with tx.savepoint():  # what a failing handler wrote is undone; the rest of the request stands
                return handler(ctx)
        except Exception as exc:  # a handler's failure takes the flow's on_error route, as designed
            log.exception("call %s: effect %r at %r failed", call.call_sid, effect.name, effect.node)
            return engine.EffectResult(ok=False, error=f"{type(exc).__name__}: {exc}")
