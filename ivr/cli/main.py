"""The `ivr` command line: check, call, graph, schema, serve, synth (and, from `audit.py`, calls and
cancellations).

Bad input never shows a traceback: every `IvrError` is caught in one place (`Main.invoke`) and printed as
`error: <message>` with exit status 2. `ivr check` exits 0 when every property holds, 1 when one fails.
Flask, SQLAlchemy, numpy and pydub are imported only by the commands that need them, so `ivr check` starts
fast.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from ivr.cli.audit import calls_group, cancellations_group, check_database_url, sqlite_file
from ivr.cli.recorded import live_token, replay_cmd, transcribe_cmd
from ivr.errors import FlowError, IvrError, UsageError
from ivr.files import flow_files
from ivr.flow import engine
from ivr.flow.caller import Digits, Heard, Silence, Speech
from ivr.flow.loader import Source, audio_files, load_flow
from ivr.flow.model import DTMF_KEYS, Flow
from ivr.line.settings import ENVIRONMENT, PROXY_HEADERS, Settings
from ivr.proof.canceller import Waypoint
from ivr.proof.draw import dot, mermaid
from ivr.proof.pathtests import PathTests, path_tests, prepare, regenerate_command, write_scripts
from ivr.proof.report import Report, check

if TYPE_CHECKING:
    from ivr.line.app import App

FORMATS = click.Choice(["text", "json"])


class Main(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IvrError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=Main)
@click.version_option(package_name="ivr")
def main() -> None:
    """Run, prove and test phone menus (IVRs)."""


main.add_command(calls_group)
main.add_command(cancellations_group)
main.add_command(replay_cmd)
main.add_command(transcribe_cmd)


def node_lines(source: Source) -> dict[str, int]:
    return {path[1]: line for path, line in source.lines.items() if len(path) == 2 and path[0] == "nodes"}


def _report_json(path: str, report: Report) -> dict[str, Any]:
    return {"flow": path, "name": report.flow, "ok": report.ok, "worst_case_turns": report.worst_case_turns,
            "within": report.within, "states": report.states, "summary": report.summary,
            "counterexample": [asdict(e) for e in report.counterexample],
            "findings": [asdict(x) for x in report.findings]}


def _bad_json(path: str, exc: IvrError) -> dict[str, Any]:
    problems = exc.problems if isinstance(exc, FlowError) else ()
    findings = [{"severity": "error", "code": p.code, "message": str(p), "node": None, "line": p.line}
                for p in problems] or [{"severity": "error", "code": exc.code, "message": str(exc), "node": None,
                                        "line": None}]
    return {"flow": path, "name": None, "ok": False, "worst_case_turns": None, "within": None, "states": 0,
            "summary": "the flow file is invalid", "counterexample": [], "findings": findings}


def _event_text(e: Waypoint) -> Iterator[str]:
    if e.turn is None:
        yield f"    end       {e.node}: {e.prompt}" + (f"  [outcome: {e.outcome}]" if e.outcome else "")
        return
    mark = "cancelling" if e.cancelling else "reaching"
    yield f"    turn {e.turn:<3}  {e.node} ({mark}): {e.prompt}"
    yield f"              caller: {e.heard!r} -> {e.intent}"


def _report_text(path: str, report: Report) -> Iterator[str]:
    yield f"{path}: {'ok' if report.ok else 'FAIL'} - {report.summary}"
    for x in report.findings:
        where = f"{path}:{x.line}" if x.line else path
        yield f"  {x.severity}: {where}: [{x.code}] {x.message}"
    if report.counterexample:
        yield "  counterexample (the shortest way in, then a caller who keeps asking to cancel):"
        for e in report.counterexample:
            yield from _event_text(e)


def _emitted_text(tests: PathTests, written: Sequence[Path], directory: Path) -> Iterator[str]:
    failing = sum(not t.passes for t in tests.tests)
    yield (f"  scripts: wrote {len(written)} to {directory}{os.sep} ({tests.flow}-<node>.call.yaml)"
           + (f"; {failing} of them fail, as the proof does (reproducers)" if failing else ""))
    for s in tests.skipped:
        yield f"  scripts: skipped {s.node}: {s.reason}"


def _emit(path: Path, flow: Flow, within: int | None, directory: Path, command: str,
          emitted: set[str]) -> tuple[list[str], dict[str, Any]]:
    """Write FLOW's path tests (see ivr/paths.py); the summary lines and the JSON of what was written."""
    if flow.name in emitted:  # its file names would overwrite the other flow's scripts
        line = f"  scripts: not written: a flow named {flow.name!r} was given before, and file names would collide"
        return [line], {"dir": str(directory), "written": [], "skipped": [], "error": line.strip()}
    emitted.add(flow.name)
    tests = path_tests(flow, within)
    written = write_scripts(directory, tests, source=str(path), command=command)
    info = {"dir": str(directory), "written": [p.name for p in written],
            "skipped": [{"node": s.node, "reason": s.reason} for s in tests.skipped]}
    return list(_emitted_text(tests, written, directory)), info


@main.command("check")
@click.argument("flows", nargs=-1, required=True)
@click.option("--within", type=click.IntRange(min=1), help="N: the most turns cancelling may take "
              "(default: the flow's guarantee.within, else 3)")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--emit-scripts", "emit", metavar="DIR", help="also write a call script per reachable input node "
              "to DIR: the shortest way in, then a caller who keeps asking to cancel (also for a failing flow: "
              "its scripts reproduce the failure)")
def check_cmd(flows: tuple[str, ...], within: int | None, fmt: str, emit: str | None) -> None:
    """Prove that a persistent canceller reaches cancellation within N turns, and lint each FLOW (or DIR)."""
    results: list[dict[str, Any]] = []
    status = 0
    directory = prepare(emit) if emit is not None else None
    command = regenerate_command(flows, emit, within) if emit is not None else ""
    emitted: set[str] = set()
    for path in flow_files(flows):
        try:
            flow, source = load_flow(path)
        except IvrError as exc:
            results.append(_bad_json(str(path), exc))
            if fmt == "text":
                click.echo(f"{path}: invalid flow\n" + "\n".join(f"  error: {line}" for line in str(exc).splitlines()))
            status = 2
            continue
        report = check(flow, within, lines=node_lines(source), audio_files=audio_files(path))
        results.append(_report_json(str(path), report))
        lines = list(_report_text(str(path), report))
        if directory is not None:
            summary, results[-1]["scripts"] = _emit(path, flow, within, directory, command, emitted)
            lines += summary
        if fmt == "text":
            click.echo("\n".join(lines))
        if not report.ok:
            status = max(status, 1)
    if fmt == "json":
        click.echo(json.dumps({"flows": results}, indent=2))
    sys.exit(status)


def parse_line(line: str) -> Heard:
    """A terminal caller's line: `#1234` is DTMF, an empty line is silence, anything else is speech."""
    text = line.rstrip("\r\n")
    if text.startswith("#") and all(k in DTMF_KEYS for k in text[1:]):
        return Digits(text[1:] or "#")
    return Silence() if not text.strip() else Speech(text.strip())


def _heard_text(heard: Heard) -> str:
    return heard.text if isinstance(heard, Speech) else f"#{heard.keys}" if isinstance(heard, Digits) else ""


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
    if effect.name == "record_cancellation":
        seed = sum(ord(c) * (i + 1) for i, c in enumerate(call_id + repr(effect.args)))
        return engine.EffectResult(value=f"{seed % 900000 + 100000}")
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
            out.write(f"you> {_heard_text(heard)}\n" if not isinstance(heard, Silence) else "you> (silence)\n")
        prompt = step.spoken
        node = step.state.node
        step = engine.advance(flow, step.state, heard)
        meaning = step.meaning
        events.append({"turn": step.state.turn, "node": node, "prompt": prompt, "heard": _heard_text(heard),
                       "intent": (meaning.value if meaning and meaning.kind == "intent" else str(meaning))})
    return {"outcome": step.outcome, "turns": step.state.turn, "ended": step.ended, "events": events}


@main.command("call")
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
        if variables:
            raise UsageError("--var sets variables of the local engine; a live line sets its own (drop --var)")
        name = load_flow(flow_file)[0].name if Path(flow_file).is_file() else flow_file
        trace = live_call(url, name, stdin, None if fmt == "json" else sys.stdout, caller)
        if fmt == "json":
            click.echo(json.dumps(trace, indent=2))
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


@main.command("graph")
@click.argument("flow_file", metavar="FLOW")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
def graph_cmd(flow_file: str, fmt: str) -> None:
    """Draw FLOW as a Mermaid or Graphviz graph, the paths of a caller asking to cancel in red."""
    flow, _ = load_flow(flow_file)
    click.echo(mermaid(flow) if fmt == "mermaid" else dot(flow), nl=False)


@main.command("schema")
def schema_cmd() -> None:
    """Print the flow files' JSON Schema (editors use it to autocomplete and underline mistakes)."""
    click.echo(json.dumps(flow_schema(), indent=2))


def flow_schema() -> dict[str, Any]:
    schema = Flow.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "ivr flow"
    return schema


def serve_settings(env: Mapping[str, str], *, database: str | None = None, public_url: str | None = None,
                   proxy_headers: Sequence[str] = (), fallback_number: str | None = None,
                   insecure: bool = False) -> Settings:
    """`Settings.from_env(env)` with the options given overriding their variables, parsed the same way. The auth
    token has no option: it would show in `ps`."""
    given = {"database_url": database, "public_url": public_url,
             "trusted_proxy_headers": ",".join(proxy_headers) or None, "fallback_number": fallback_number,
             "verify_signatures": "0" if insecure else None}
    settings = Settings.from_env({**env, **{ENVIRONMENT[k][0]: v for k, v in given.items() if v is not None}})
    check_database_url(settings.database_url)
    return settings


def serve_banner(flows: Sequence[str], database: str, settings: Settings, host: str, port: int) -> Iterator[str]:
    """What a newcomer needs on start: where it listens, what to paste into Twilio's console, where calls go."""
    local = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    base = settings.public_url or local
    yield (f"ivr: serving {len(flows)} flow{'' if len(flows) == 1 else 's'} on {local}"
           + (f" (public URL {settings.public_url})" if settings.public_url else ""))
    yield "     Flask's development server: in production, run gunicorn \"ivr.line.app:create_app()\" (see README)"
    yield "Webhooks for the Twilio console (Phone Numbers > your number > Voice Configuration):"
    width = max(len(name) for name in flows)
    for name in flows:
        yield f"  {name:<{width}}  A call comes in:      POST {base}/voice/{name}"
        yield f"  {'':<{width}}  Call status changes:  POST {base}/voice/{name}/status"
    if not settings.public_url and not settings.trusted_proxy_headers:
        yield f"  Twilio must reach these URLs. Behind a tunnel (e.g. `ngrok http {port}`), restart with"
        yield "  --public-url https://<its address>, so that signatures and audio URLs match the URL Twilio calls."
    file = sqlite_file(database)
    yield f"Call store: {database}" + (f" (the file {file.resolve()})" if file and not file.is_absolute() else "")
    if not settings.verify_signatures:
        yield ("Signatures: NOT CHECKED (--insecure-no-signatures or IVR_VERIFY_SIGNATURES=0): anyone who can reach "
               "this server can drive calls and record cancellations. Local development only.")
    elif settings.trusted_proxy_headers and not settings.public_url:
        yield ("Signatures: checked with TWILIO_AUTH_TOKEN, against the URL rebuilt from "
               + ", ".join(settings.trusted_proxy_headers))
    else:
        yield "Signatures: checked with TWILIO_AUTH_TOKEN, against the URLs above"
    if settings.fallback_number:
        yield f"Fallback:   {settings.fallback_number}, when the app cannot carry on a call"


def serve_app(flows: Sequence[str], settings: Settings, host: str, port: int) -> tuple[App, str]:
    """The app `ivr serve` runs, and its start banner. FLOWS empty: those of IVR_FLOWS."""
    from ivr.line.app import create_app  # Flask: only for this command

    app = create_app(list(flows) or None, settings)
    service = app.extensions["ivr"]
    return app, "\n".join(serve_banner(list(service.served), service.store.safe_url, settings, host, port))


@main.command("serve")
@click.argument("flows", nargs=-1, metavar="[FLOW|DIR]...")
@click.option("--host", default="127.0.0.1", show_default=True, help="the address to listen on (0.0.0.0: all)")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--database", metavar="URL", help="the call store's SQLAlchemy URL  [default: IVR_DATABASE_URL, "
              "else sqlite:///ivr-calls.db]")
@click.option("--public-url", metavar="URL", help="the base URL Twilio calls (a tunnel's https address); "
              "signatures are checked against it")
@click.option("--trusted-proxy-header", "proxy_headers", multiple=True, metavar="HEADER",
              type=click.Choice(PROXY_HEADERS, case_sensitive=False),
              help="an X-Forwarded-* header (-for, -proto, -host, -port, -prefix) that ONE trusted proxy in front "
              "of the app sets (repeatable)")
@click.option("--fallback-number", metavar="NUMBER", help="where callers go when the app cannot carry on  "
              "[default: the flow's agent transfer]")
@click.option("--insecure-no-signatures", "insecure", is_flag=True,
              help="accept requests without a valid Twilio signature: local development only")
def serve_cmd(flows: tuple[str, ...], host: str, port: int, database: str | None, public_url: str | None,
              proxy_headers: tuple[str, ...], fallback_number: str | None, insecure: bool) -> None:
    """Answer Twilio's webhooks for each FLOW (files or directories; default: IVR_FLOWS) with Flask's
    development server.

    Twilio's signatures are checked with TWILIO_AUTH_TOKEN, read from the environment only (an option would
    show in `ps`). Other settings come from the IVR_* variables, which the options override. For production,
    run gunicorn "ivr.line.app:create_app()" with the same variables.
    """
    settings = serve_settings(os.environ, database=database, public_url=public_url, proxy_headers=proxy_headers,
                              fallback_number=fallback_number, insecure=insecure)
    app, banner = serve_app(flows, settings, host, port)
    click.echo(banner)
    # from here on, the app's call logs (and werkzeug's request lines) go to stderr
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app.run(host=host, port=port)


@main.command("synth")
@click.argument("script", metavar="SCRIPT")
@click.option("-o", "--output", required=True, metavar="FILE", help="the recording: .wav, .mp3, .flac or .ogg")
@click.option("--voice", default="espeak", show_default=True,
              help="espeak, flite, or ENGINE:VOICE (espeak:en-us+f3, flite:kal)")
@click.option("--phone", is_flag=True, help="through a telephone line: 300-3400 Hz, 8 kHz, mu-law (as a .wav)")
@click.option("--noise-snr", type=float, metavar="DB", help="add noise over the whole call, DB below the speech")
@click.option("--noise", "noise_kind", type=click.Choice(["white", "pink"]), default="white", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="the noise's random seed")
@click.option("--gap", type=click.FloatRange(min=0.0), default=1.5, show_default=True,
              help="seconds of quiet before each turn (the IVR speaks then)")
@click.option("--silence", type=click.FloatRange(min=0.0), default=6.0, show_default=True,
              help="seconds a `silence` step lasts")
def synth_cmd(script: str, output: str, voice: str, phone: bool, noise_snr: float | None, noise_kind: str,
              seed: int, gap: float, silence: float) -> None:
    """Render SCRIPT's caller side (say, press, silence) as a recording, with offline text-to-speech."""
    from ivr.speech import synth  # numpy, pydub and the speech programs: only for this command
    from ivr.speech.audio import FORMATS, save
    from ivr.testing.scripts import load_script

    if Path(output).suffix.lower() not in FORMATS:
        raise click.BadParameter(f"{output!r}: name a {', '.join(FORMATS)} file", param_hint="-o/--output")
    steps = load_script(script).steps
    rendering = synth.synthesise(steps, synth.Voice.parse(voice), gap=gap, silence=silence)
    audio = synth.line(rendering, phone=phone, noise_snr=noise_snr, seed=seed, noise=noise_kind)
    path = save(audio, output, mu_law=phone and output.lower().endswith(".wav"))
    encoding = "mu-law" if phone and path.suffix.lower() == ".wav" else path.suffix[1:].lower()
    click.echo(f"wrote {path}: {audio.duration:.1f} s, {audio.sample_rate} Hz {encoding}, "
               f"{len(rendering.turns)} turns" + (f", noise {noise_kind} at {noise_snr:g} dB SNR"
                                                  if noise_snr is not None else ""))
    for turn in rendering.turns:
        what = {"say": f"say {turn.value!r}", "press": f"press {turn.value}"}.get(turn.kind, turn.kind)
        click.echo(f"  {turn.start:6.2f}-{turn.end:6.2f}  {what}")
