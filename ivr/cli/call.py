"""`ivr call`: a caller in the terminal. Locally the pure engine runs the flow (base install); with `--url` the
simulator places the call to a live line, signed as Twilio signs (`ivrkit[testing]`): a line built with ivr
(`ivr call acme --url URL` calls URL/voice/acme) or any Twilio voice app (`ivr call --url URL [--entry /path]
[--method GET]`). Each line typed (or piped) is one answer in `ivr.flow.caller`'s text form: `#1234` presses keys,
an empty line is silence, anything else is speech. Exit 0 when the call went through, 1 when the line failed it
(any Twilio error: an application error, a refused connection; or the call's status `failed`).
"""

from __future__ import annotations

import json
import re
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


def _check_entry(flow: str | None, entry: str | None) -> None:
    if entry is None:
        return
    if flow is not None:
        raise UsageError(f"give FLOW ({flow!r}: the line's /voice/FLOW) or --entry ({entry!r}), not both")
    if not entry.startswith("/"):
        raise UsageError(f"--entry {entry!r}: give the webhook's path, starting with '/', e.g. /voice")


def _params(given: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            raise UsageError(f"--param {item!r}: expected NAME=VALUE, e.g. FromCity=BOSTON")
        found[name] = value
    return found


def parse_line(line: str) -> Heard:
    """A terminal caller's line, in `ivr.flow.caller`'s text form (`#1234`, an empty line or `(silence)`, speech)."""
    return from_text(line.rstrip("\r\n"))


def live_call(url: str, flow: str | None, lines: TextIO, out: TextIO | None, caller: str, *,
              entry: str | None = None, method: str = "POST", params: dict[str, str] | None = None) -> dict[str, Any]:
    """Drive a call to a live line with the simulator, from caller lines as `run_call`: to URL/voice/FLOW on a
    line built with ivr (whose status callback, URL/voice/FLOW/status, gets the call's end), else to `entry`
    under `url` (default: `url` itself), with `method` and request `params`."""
    from ivr.testing.script_setup import entry_path
    from ivr.testing.sim import Simulator
    from ivr.testing.targets import is_app, load_app, token

    status = f"/voice/{flow}/status" if flow else None
    if is_app(url):  # FILE.py:NAME or module:NAME: the app in-process, no server (its token: any, unless it checks)
        sim = Simulator(load_app(url, "--url"), auth_token=token(), status_callback=status)
        path = entry_path("http://localhost", flow, entry)
    else:
        sim = Simulator(url, auth_token=live_token(), status_callback=status)
        path = entry_path(url, flow, entry)
    call, shown = sim.call(path, caller=caller, method=method, params=params), 0
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
    return {"url": join_url(url, path), "method": method, "outcome": call.outcome, "turns": call.turns,
            "ended": call.ended, "status": call.status, "errors": call.errors, "error_codes": call.error_codes,
            "warnings": call.warnings,
            "dialled": [d.target for d in call.dialled], "hung_up_by": call.hung_up_by,
            "events": [{"who": x.who, "text": x.text} for x in call.transcript]}


def join_url(url: str, path: str) -> str:
    """The URL a call to `path` under the live line at `url` requests (as the simulator resolves it)."""
    from urllib.parse import urljoin

    return urljoin(url.rstrip("/") + "/", path.lstrip("/")) if "://" not in path else path


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
@click.argument("flow_file", metavar="[FLOW]", required=False)
@click.option("--from", "caller", default="+15555550100", show_default=True, help="the caller's number")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="set a flow variable (repeatable)")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True,
              help="json: print only the call's trace at the end")
@click.option("--url", metavar="URL", help="call the live line at URL through the simulator, signing with "
                                           "TWILIO_AUTH_TOKEN: a line built with ivr (its base URL; FLOW may then "
                                           "be just the flow's name), or any Twilio voice app's webhook URL; or an "
                                           "app in-process, FILE.py:NAME or module:NAME")
@click.option("--entry", metavar="PATH", help="with --url and no FLOW: the webhook's path under URL (default: URL "
                                              "itself)")
@click.option("--method", type=click.Choice(["GET", "POST"], case_sensitive=False), default=None,
              help="with --url: the entry request's method  [default: POST]")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="with --url: a request parameter of the call, e.g. FromCity=BOSTON (repeatable)")
def call_cmd(flow_file: str | None, caller: str, variables: tuple[str, ...], fmt: str, url: str | None,
             entry: str | None, method: str | None, params: tuple[str, ...]) -> None:
    """Call FLOW in the terminal: type what the caller says; #1234 presses keys; an empty line is silence. With
    --url, call a live line: FLOW's on a line built with ivr, or any Twilio voice app (--entry, --method)."""
    stdin = sys.stdin
    if url:
        needs("testing", "ivr call --url")
        if variables:
            raise UsageError("--var sets variables of the local engine; a live line sets its own (drop --var)")
        _check_entry(flow_file, entry)
        name = None if flow_file is None else load_flow(flow_file)[0].name if Path(flow_file).is_file() \
            else flow_file
        trace = live_call(url, name, stdin, None if fmt == "json" else sys.stdout, caller, entry=entry,
                          method=(method or "POST").upper(), params=_params(params))
        if fmt == "json":
            click.echo(json.dumps(trace, indent=2))
        if trace["errors"] or trace["status"] == "failed":  # the line failed the call (Twilio's caller heard
            why = "; ".join(trace["errors"]) or f"status {trace['status']}"  # "an application error")
            click.echo(f"error: the call to {url} failed: {why}", err=True)
            sys.exit(1)
        return
    for given, option in ((entry, "--entry"), (method, "--method"), (params, "--param")):
        if given:
            raise UsageError(f"{option} is for a live line: give --url URL too")
    if flow_file is None:
        raise UsageError("missing FLOW: give a flow file to call with the local engine, or --url URL to call a "
                         "live line")
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
