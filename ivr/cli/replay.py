"""`ivr replay`: recorded calls on the command line (registered on `ivr` by cli.py, with `ivr transcribe` from
`ivr.cli.transcribe`, whose speech-to-text options it shares).

Heavy imports (the web app, the recognisers, numpy) happen inside the commands, so `ivr check` stays fast.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ivr.cli.audit import database_option, parse_since
from ivr.cli.common import live_token, needs
from ivr.cli.transcribe import stt_options, transcribe_cmd
from ivr.errors import UsageError
from ivr.files import kind_of
from ivr.flow.nodes import DEFAULT_OUTCOME

__all__ = ["replay_cmd", "transcribe_cmd"]

if TYPE_CHECKING:
    from ivr.flow.model import Flow
    from ivr.testing.batch import Job
    from ivr.testing.sidecar import Sidecar

@click.command("replay")
@click.argument("flow_file", metavar="[FLOW]", required=False)
@click.argument("paths", metavar="[RECORDING|DIR]...", nargs=-1)
@click.option("--within", type=click.IntRange(min=1),
              help="the call must reach its outcome within N turns (with --from-store: a caller who asked to cancel "
                   "must reach the guarantee's outcome within N turns of asking; default: FLOW's guarantee)")
@click.option("--expect", metavar="OUTCOME", help="the outcome each call must end with (default with --within: "
                                                  "the outcome of FLOW's guarantee)")
@stt_options
@click.option("-j", "workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="replay this many calls at once, on a Dask LocalCluster of N worker processes made for the run "
                   "(1: in this process)")
@click.option("--scheduler", metavar="tcp://HOST:8786",
              help="replay on the existing Dask cluster of this scheduler instead, on all its workers (they need "
                   "ivrkit[testing,speech], and the flow, recordings and --cache-dir at the same paths)")
@click.option("--url", metavar="URL", help="replay against this live line (signed with TWILIO_AUTH_TOKEN) "
                                           "instead of the app in-process; FLOW may then be just the flow's name, "
                                           "or left out for any Twilio voice app (its webhook URL)")
@click.option("--entry", metavar="PATH", help="with --url and no FLOW: the webhook's path under URL (default: URL "
                                              "itself)")
@click.option("--method", type=click.Choice(["GET", "POST"], case_sensitive=False), default=None,
              help="with --url: the entry request's method  [default: POST]")
@click.option("--cancel-when", "cancel_when", multiple=True, metavar="KIND:VALUE",
              help="what cancellation looks like from outside the line (any app): prompt:REGEX, dialled:TARGET, "
                   "url:PATH, hangup-after:REGEX, outcome:NAME (repeatable: any one counts); --within then counts "
                   "the turns to it, and a call that never meets it fails")
@click.option("--caller-channel", type=click.IntRange(min=0), default=None,
              help="the caller's channel of a dual-channel recording  [default: 0]")
@click.option("--from-store", is_flag=True,
              help="replay the calls the phone line logged in its call store (no audio) against FLOW, a new "
                   "version of the flow, and report what changes")
@database_option
@click.option("--since", metavar="DATE", callback=parse_since,
              help="with --from-store: only the calls started at or after DATE (YYYY-MM-DD or ISO 8601; UTC unless "
                   "zoned)")
@click.option("--flow", "logged_flow", metavar="NAME",
              help="with --from-store: replay the calls logged for flow NAME (default: FLOW's name)")
@click.option("--max-risk", "risk", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True), metavar="R",
              envvar="IVR_MAX_RISK", show_envvar=True,
              help="the largest share of wrong recognitions accepted: a turn decided with less margin is uncertain "
                   "[default: the decision model's, 0.01]")
@click.option("--inconclusive", type=click.Choice(["fail", "xfail"]), default="fail", show_default=True,
              help="a call the recogniser cannot vouch for (a turn it could not tell what was said at): fail the "
                   "run (exit 1), or report it and let the run pass")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit"]), default="text", show_default=True,
              help="json and junit for programs and CI (junit: recordings only)")
@click.pass_context
def replay_cmd(ctx: click.Context, flow_file: str | None, paths: tuple[str, ...], within: int | None,
               expect: str | None, stt: str | None, vosk_model: str | None, no_cache: bool, cache_dir: str | None,
               workers: int, scheduler: str | None, url: str | None, entry: str | None, method: str | None,
               cancel_when: tuple[str, ...], caller_channel: int | None, from_store: bool, database: str,
               since: datetime | None, logged_flow: str | None, risk: float | None, inconclusive: str,
               fmt: str) -> None:
    """Replay recorded calls (a file each, a directory of them, or a directory of per-turn clips) against FLOW's
    line; exit 1 when any call misses its expectation.

    At each turn the recogniser decides among what the prompt accepts, with a calibrated probability for the
    meaning it chose and the runner-up. When it cannot tell (too small a margin, or Whisper repeating itself), the
    call is INCONCLUSIVE rather than a confident wrong verdict: the report names the turn, its time span and the
    competing meanings. --max-risk sets how sure it must be; --inconclusive xfail lets such calls pass the run.

    A recording with a sidecar beside it (NAME.expect.yaml, as the pytest plugin reads them) takes its outcome,
    within, caller_channel and stt from there, each unless this command gives it; the output names the sidecar.
    A sidecar's `said` list (what the caller said at each turn) judges the call twice, on what was said and on
    what was heard, and says whose failure it is: the flow's ("the flow is unfair") or the recogniser's ("the
    recogniser misheard turn N").

    With --url, FLOW may be a flow's name instead of its file: replay listens with the hints each <Gather> sends,
    so it needs no flow. Only the default outcome of --within (or of a sidecar's `within`) comes from the flow's
    guarantee: with a name alone it is `cancelled`, the default guarantee's (a note says so); give --expect where
    the line's guarantee names another outcome.

    With --from-store, no recordings: the calls the line logged (what Twilio heard, with its confidence, or the
    keys pressed, at each turn) are given again to FLOW's line, and every call whose outcome or turn count
    changes is listed (old -> new), and every caller who asked to cancel (the guarantee's intent) and reached the
    guarantee's outcome within N turns then, but would not now. Exit 1 when there is such a regression.

    Any Twilio voice app, with no flow: `ivr replay --url URL [--entry PATH] [--method GET] RECORDING...`. Say
    what cancellation looks like with --cancel-when (a prompt, a number dialled, a URL reached); --within N then
    means cancelled within N turns. A call with a Twilio error fails."""
    if from_store:
        if flow_file is None:
            raise UsageError("--from-store needs FLOW: the flow file to replay the store's calls against")
        _refuse(ctx, paths, ("expect", "stt", "vosk_model", "no_cache", "cache_dir", "workers", "scheduler", "url",
                             "entry", "method", "cancel_when", "caller_channel", "risk", "inconclusive"),
                "--from-store replays the calls of the store")
        if fmt == "junit":
            raise UsageError("--from-store prints text or json (--format text|json)")
        _from_store(flow_file, database, since, logged_flow, within, fmt)
        return
    _refuse(ctx, (), ("database", "since", "logged_flow"), "--database, --since and --flow need --from-store")
    for given, option in ((entry, "--entry"), (method, "--method")):
        if given and not url:
            raise UsageError(f"{option} is for a live line: give --url URL too")
    needs("testing", "ivr replay")
    needs("speech", "ivr replay")
    from ivr.testing.cancel_when import parse_all

    flow_file, paths = _flow_and_recordings(flow_file, paths, url, entry)
    if flow_file is None and not url:
        raise UsageError("missing FLOW: give the flow file to replay recordings against, or --url URL to replay them "
                         "against a live line (any Twilio voice app)")
    conditions = parse_all(cancel_when)
    if not paths:
        raise UsageError("nothing to replay: give recordings (files or directories), or --from-store to replay the "
                         "calls the line logged")
    from ivr.flow.loader import load_flow
    from ivr.speech.cache import default_cache_dir
    from ivr.testing.batch import Setup, replay_all
    from ivr.testing.replay import recordings

    flow = load_flow(flow_file)[0] if flow_file is not None and (not url or Path(flow_file).is_file()) else None
    name = flow.name if flow is not None else None if flow_file is None else _flow_name(flow_file)
    found = recordings(paths)
    plans = [_plan(source, flow, within, expect, stt, caller_channel, bool(conditions)) for source in found]
    _check_sidecars(plans, name, flow)
    if flow_file is not None and flow is None and any(p.guessed for p in plans):
        click.echo(f"note: {flow_file!r} is a flow's name, not its file, so its guarantee is unknown: calls with "
                   f"'within' alone must end {DEFAULT_OUTCOME!r} (pass --expect, or the flow file)", err=True)
    from ivr.testing.script_setup import entry_path

    setup = Setup(name or "", () if url else (str(flow_file),), url, live_token() if url else "",
                  flow.language if flow is not None else None, vosk_model,
                  None if no_cache else str(Path(cache_dir) / "transcripts" if cache_dir else default_cache_dir()),
                  tuple((k, os.environ[k]) for k in ("IVR_STT", "IVR_VOSK_MODEL", "IVR_WHISPER_MODEL",
                                                     "IVR_WHISPER_DEVICE") if k in os.environ), os.getcwd(),
                  risk=risk, path=entry_path(url, name, entry) if url else None, method=(method or "POST").upper(),
                  cancel_when=conditions)

    def finished(count: int, verdict: Any) -> None:
        click.echo(f"[{count}/{len(plans)}] {verdict.status} {Path(verdict.recording).name}", err=True)

    batch = replay_all([p.job() for p in plans], setup, workers=workers, scheduler=scheduler, done=finished)
    verdicts = batch.verdicts
    if not no_cache:
        click.echo(f"cache: {batch.heard} heard, {batch.cached} from the cache", err=True)
    click.echo(_render(verdicts, fmt), nl=False)
    if any(v.status == "FAIL" or (v.status == "INCONCLUSIVE" and inconclusive == "fail") for v in verdicts):
        sys.exit(1)


@dataclass(frozen=True)
class Plan:
    """One recording to replay, with the expectations that apply to it (the command line's over its sidecar's)."""

    source: Path
    within: int | None
    expect: str | None
    stt: str | None
    channel: int
    sidecar: Sidecar | None = None  # the sidecar beside the recording, if any
    guessed: bool = False  # `within` alone, for a flow known only by name: the default guarantee's outcome
    notes: tuple[str, ...] = ()

    def job(self) -> Job:
        from ivr.testing.batch import Job

        said = tuple(self.sidecar.said) if self.sidecar is not None and self.sidecar.said is not None else None
        return Job(self.source, self.within, self.expect, self.stt, self.channel, said, self.notes)


def _refuse(ctx: click.Context, paths: tuple[str, ...], names: tuple[str, ...], why: str) -> None:
    """A usage error naming the options among `names` given on the command line (and any recording)."""
    flags = {p.name: p.opts[0] for p in ctx.command.params}
    given = [flags[n] for n in names if ctx.get_parameter_source(n) is click.core.ParameterSource.COMMANDLINE]
    if paths:
        given.insert(0, f"the recording(s) {list(paths)}")
    if given:
        raise UsageError(f"{why}: {', '.join(given)} cannot go with it")


def _from_store(flow_file: str, database: str, since: datetime | None, logged_flow: str | None,
                within: int | None, fmt: str) -> None:
    """`ivr replay FLOW --from-store`: the store's calls re-run against FLOW in-process, and what changes."""
    needs("testing", "ivr replay --from-store")
    from ivr.cli.audit import opened
    from ivr.flow.loader import load_flow
    from ivr.line.app import local_app, token_of
    from ivr.testing.sim import Simulator
    from ivr.testing.traffic import replay_store

    flow = load_flow(flow_file)[0]
    with opened(database) as store, tempfile.TemporaryDirectory(prefix="ivr-replay-") as store_dir:
        app = local_app([flow_file], store_dir)
        sim = Simulator(app, auth_token=token_of(app), status_callback=f"/voice/{flow.name}/status")
        try:
            report = replay_store(store, sim, flow, logged_flow=logged_flow, since=since, within=within)
        finally:
            sim.close()
            app.extensions["ivr"].store.close()
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n" if fmt == "json"
               else report.text(), nl=False)
    if report.regressions:
        sys.exit(1)


def _flow_name(flow: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", flow):
        raise UsageError(f"{flow!r} is neither a flow file nor a flow's name (letters, digits, '_' and '-'); with "
                         "--url, FLOW may be the name the line serves the flow under, e.g. 'acme'")
    return flow


def _flow_and_recordings(flow: str | None, paths: tuple[str, ...], url: str | None,
                         entry: str | None) -> tuple[str | None, tuple[str, ...]]:
    """FLOW and the recordings among the arguments: with --url, FLOW may be left out (any app), so a first
    argument that is a recording (an audio file, or a directory or file that is no flow), or any first argument
    with --entry, is a recording."""
    if entry is not None and not entry.startswith("/"):
        raise UsageError(f"--entry {entry!r}: give the webhook's path, starting with '/', e.g. /voice")
    if flow is None or not url:
        return flow, paths
    from ivr.speech.audio import FORMATS

    first = Path(flow)
    recording = first.suffix.lower() in FORMATS or (first.exists() and kind_of(first) != "flow")
    if entry is not None and not recording:
        raise UsageError(f"give FLOW ({flow!r}: the line's /voice/FLOW) or --entry ({entry!r}), not both")
    return (None, (flow, *paths)) if recording or entry is not None else (flow, paths)


def _plan(source: Path, flow: Flow | None, within: int | None, expect: str | None, stt: str | None,
          channel: int | None, cancel_when: bool = False) -> Plan:
    """What one recording must do: the command line's expectations, else its sidecar's, else the defaults."""
    from ivr.files import SIDECAR_SUFFIXES
    from ivr.testing.sidecar import load_sidecar

    named = source.name if source.is_dir() else source.stem
    found = next((p for p in (source.parent / f"{named}{s}" for s in SIDECAR_SUFFIXES) if p.is_file()), None)
    notes: list[str] = []
    sidecar = None
    if found is not None:
        sidecar = load_sidecar(found)
        within = within if within is not None else sidecar.within
        expect = expect if expect is not None else sidecar.outcome
        stt = stt or sidecar.stt
        channel = channel if channel is not None else sidecar.caller_channel
        notes.append(f"expectations from the sidecar {found} (options given on the command line come first)")
        if sidecar.known_failure:
            notes.append(f"the sidecar says this is a known failure: {sidecar.known_failure}")
    guessed = within is not None and expect is None and flow is None and not cancel_when
    if expect is None and within is not None and not cancel_when:  # with cancel_when: N turns to it
        expect = flow.guarantee.outcome if flow is not None else DEFAULT_OUTCOME
    return Plan(source, within, expect, stt, channel if channel is not None else 0, sidecar, guessed, tuple(notes))


def _check_sidecars(plans: list[Plan], name: str | None, flow: Flow | None) -> None:
    """A sidecar that names another flow than FLOW, or an outcome FLOW does not have, is a mistake to fix before
    replaying anything (as the pytest plugin checks them against the flows it serves). With no FLOW (any app),
    a sidecar's flow is not checked."""
    from ivr.errors import Problem, SidecarError

    if name is None:
        return
    problems: list[Problem] = []
    for sidecar in (p.sidecar for p in plans if p.sidecar is not None):
        if sidecar.flow != name:
            problems.append(Problem(("flow",), f"{sidecar.flow!r} is not the flow replayed ({name!r}): replay "
                                               f"{sidecar.name} against its own flow, or leave it out", "bad-value",
                                    sidecar.lines.get(("flow",)), sidecar.file))
        elif flow is not None:
            try:
                sidecar.flow_in({name: flow})
            except SidecarError as exc:
                problems += exc.problems
    if problems:
        raise SidecarError(problems)


def _render(verdicts: list[Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"calls": [v.to_json() for v in verdicts]}, indent=2, ensure_ascii=False) + "\n"
    if fmt == "junit":
        suite = ET.Element("testsuite", name="ivr replay", tests=str(len(verdicts)),
                           failures=str(sum(v.status != "ok" for v in verdicts)))
        for v in verdicts:
            case = ET.SubElement(suite, "testcase", classname="ivr.testing.replay", name=v.recording)
            if v.status != "ok":
                message = f"inconclusive: {'; '.join(v.doubts)}" if v.status == "INCONCLUSIVE" else "; ".join(v.reasons)
                failure = ET.SubElement(case, "failure", message=message,
                                        type="inconclusive" if v.status == "INCONCLUSIVE" else "failed")
                failure.text = v.transcript
        return ET.tostring(suite, encoding="unicode") + "\n"
    lines = [v.report() for v in verdicts]
    passed = sum(v.status == "ok" for v in verdicts)
    unsure = sum(v.status == "INCONCLUSIVE" for v in verdicts)
    lines.append(f"{passed} of {len(verdicts)} call(s) passed" + (f", {unsure} inconclusive" if unsure else ""))
    return "\n".join(lines) + "\n"
