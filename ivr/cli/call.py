"""`ivr call`: a caller in the terminal. Locally the pure engine runs the flow (base install); with `--url` the
simulator places the call to a live line, signed as Twilio signs (`ivrkit[testing]`). Each line typed (or piped) is
one answer in `ivr.flow.caller`'s text form: `#1234` presses keys, an empty line is silence, anything else is
speech. Exit 0 when the call went through, 1 when the line failed it (an application error, a refused connection).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

import click

from ivr.cli.common import FORMATS, live_token, needs
from ivr.errors import UsageError
from ivr.flow import engine
from ivr.flow.caller import Digits, Heard, Speech, as_text, from_text
from ivr.flow.loader import load_flow
from ivr.flow.model import Flow


def parse_line(line: str) -> Heard:
    """A terminal caller's line, in `ivr.flow.caller`'s text form (`#1234`, an empty line or `(silence)`, speech)."""
    return from_text(line.rstrip("\r\n"))


def live_call(url: str, flow: str, lines: TextIO, out: TextIO | None, caller: str) -> dict[str, Any]:
    """Drive a call to a live line (POST URL/voice/FLOW) with the simulator, from caller lines as `run_call`."""
    from ivr.testing.sim import Simulator

    sim = Simulator(url, auth_token=live_token(), status_callback=f"/voice/{flow}/status")
    call, shown = sim.call(f"/voice/{flow}", caller=caller), 0
    try:
        while True:
            if out:
                out.writelines(f"{line}\n" for line in call.transcript[shown:])
            shown = len(call.transcript)
            if call.ended:
                break
            line = lines.readline()
            if not line:
                call.hang_up()
                shown = len(call.transcript)
                break
            heard = parse_line(line)
            if isinstance(heard, Speech):
                call.say(heard.text)
            elif isinstance(heard, Digits):
                call.press(heard.keys)
            else:
                call.silence()
    finally:
        sim.close()
    if out:
        out.write(f"-- call ended: {call.outcome or call.status}" + (f" ({'; '.join(call.errors)})"
                                                                    if call.errors else "") + "\n")
    return {"outcome": call.outcome, "turns": call.turns, "ended": call.ended, "status": call.status,
            "errors": call.errors, "events": [{"who": x.who, "text": x.text} for x in call.transcript]}


def local_effect(effect: engine.Effect, call_id: str) -> engine.EffectResult:
    """What `ivr call` does for an effect: nothing real. A cancellation gets a confirmation number derived
    from the call (the web app stores real ones)."""
    if effect.name == engine.RECORD_CANCELLATION:
        seed = sum(ord(c) * (i + 1) for i, c in enumerate(call_id + repr(effect.args)))
        return engine.EffectResult(value=engine.confirmation_number(seed))
    return engine.EffectResult()


def run_call(flow: Flow, lines: TextIO, out: TextIO | None, caller: str, variables: dict[str, str]) -> dict[str, Any]:
    """Drive a call from caller lines; print what the caller hears to `out`; return the trace."""
    step = engine.start(flow, caller=caller, variables=variables)
    events: list[dict[str, Any]] = []
    interactive = lines.isatty()

    def execute(effect: engine.Effect) -> engine.EffectResult:
        if out:
            out.write(f"  [effect {effect.name} {dict(effect.args)}]\n")
        return local_effect(effect, caller)

    while True:
        step = engine.settle(flow, step, execute)
        if out:
            for p in step.prompts:
                out.write(f"IVR: {p.value}\n" if p.kind == "say" else f"IVR: [plays {p.value}]\n")
        if step.ended:
            if out:
                out.write(f"-- call ended: {step.outcome}" + (f" (to {step.transfer})" if step.transfer else "")
                          + "\n")
            break
        if interactive and out:
            out.write("you> ")
            out.flush()
        line = lines.readline()
        if not line:
            if out:
                out.write("-- caller hung up\n")
            break
        heard = parse_line(line)
        if out and not interactive:
            out.write(f"you> {as_text(heard)}\n")
        prompt = step.spoken
        node = step.state.node
        step = engine.advance(flow, step.state, heard)
        meaning = step.meaning
        events.append({"turn": step.state.turn, "node": node, "prompt": prompt, "heard": as_text(heard),
                       "intent": (meaning.value if meaning and meaning.kind == "intent" else str(meaning))})
    return {"outcome": step.outcome, "turns": step.state.turn, "ended": step.ended, "events": events}


@click.command("call")
@click.argument("flow_file", metavar="FLOW")
@click.option("--from", "caller", default="+15555550100", show_default=True, help="the caller's number")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="set a flow variable (repeatable)")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True,
              help="json: print only the call's trace at the end")
@click.option("--url", metavar="URL", help="call the live line at URL (its base URL) through the simulator, "
                                           "signing with TWILIO_AUTH_TOKEN; FLOW may then be just the flow's name")
def call_cmd(flow_file: str, caller: str, variables: tuple[str, ...], fmt: str, url: str | None) -> None:
    """Call FLOW in the terminal: type what the caller says; #1234 presses keys; an empty line is silence."""
    stdin = sys.stdin
    if url:
        needs("testing", "ivr call --url")
        if variables:
            raise UsageError("--var sets variables of the local engine; a live line sets its own (drop --var)")
        name = load_flow(flow_file)[0].name if Path(flow_file).is_file() else flow_file
        trace = live_call(url, name, stdin, None if fmt == "json" else sys.stdout, caller)
        if fmt == "json":
            click.echo(json.dumps(trace, indent=2))
        if trace["errors"]:  # the line failed the call (Twilio's caller heard "an application error")
            click.echo(f"error: the call to {url} failed: {'; '.join(trace['errors'])}", err=True)
            sys.exit(1)
        return
    flow, _ = load_flow(flow_file)
    values: dict[str, str] = {}
    for item in variables:
        name, sep, value = item.partition("=")
        if not sep or name not in flow.variables:
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE with NAME one of {sorted(flow.variables)}",
                                     param_hint="--var")
        values[name] = value
    trace = run_call(flow, stdin, None if fmt == "json" else sys.stdout, caller, values)
    if fmt == "json":
        click.echo(json.dumps(trace, indent=2))
