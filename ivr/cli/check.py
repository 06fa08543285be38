"""`ivr check`: prove each flow's guarantee and lint it, as text for people or JSON for programs, and with
`--emit-scripts DIR` write the proof's path tests as call scripts. Exit 0 when every property holds, 1 when one
fails, 2 when a flow does not load. Needs only the base install.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from ivr.cli.common import FORMATS
from ivr.errors import FlowError, IvrError
from ivr.files import flow_files
from ivr.flow.loader import Source, audio_files, load_flow
from ivr.flow.model import Flow
from ivr.proof.canceller import Waypoint
from ivr.proof.pathtests import PathTests, path_tests, prepare, regenerate_command, write_scripts
from ivr.proof.report import Report, check


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


@click.command("check")
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
