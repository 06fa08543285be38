"""`ivr check`: prove a flow's guarantee and lint it, in one report.

**The proof.** Explore every state (input node x no-input count x no-match count) reachable from the start under
any caller behaviour. From each one, model a *persistent canceller*: a caller who answers every prompt with a
cancel request — in any phrasing the flow declares or a caller would naturally use, or the cancel key — except at
data-collection prompts, where it gives valid data. Branches go every way; effects succeed. The flow passes when
every such caller reaches the guarantee's outcome (`cancelled`) within N turns: N from `within`, else the flow's
`guarantee.within`, else 3. Exploration is in explore.py, the proof in canceller.py, structural findings in lint.py and
loops.py.
"""

from __future__ import annotations

import gc
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ivr.flow import model as f
from ivr.proof.canceller import Waypoint, prove
from ivr.proof.explore import Explorer
from ivr.proof.lint import Finding, lint
from ivr.proof.loops import automatic_loops, template_growth

DEFAULT_WITHIN = 3


@dataclass(frozen=True)
class Report:
    """Everything `ivr check` says about one flow."""

    flow: str
    ok: bool
    within: int
    worst_case_turns: int | None
    counterexample: tuple[Waypoint, ...] = ()
    findings: tuple[Finding, ...] = ()
    states: int = 0
    summary: str = ""


@contextmanager
def _few_collections() -> Iterator[None]:
    """The state graph is many small acyclic tuples: the cyclic garbage collector finds nothing to free in it
    but, run every 700 allocations, spends up to half the time of a large check looking. Run it rarely."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], 200_000), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def check(flow: f.Flow, within: int | None = None, *, lines: dict[str, int] | None = None,
          audio_files: Collection[str] | None = None) -> Report:
    """Prove `flow`'s guarantee and lint it. `lines` maps node ids to source lines (for findings); with
    `audio_files`, `play` prompts must name one of them."""
    limit = within or flow.guarantee.within or DEFAULT_WITHIN
    explorer = Explorer(flow)
    with _few_collections():
        states = explorer.explore()
        findings = list(lint(flow, lines or {}, audio_files))
        findings += [*automatic_loops(flow, lines or {}), *template_growth(flow, lines or {})]
        result = prove(explorer, states, limit, lines or {})
    findings.extend(result.findings)
    findings.sort(key=lambda x: (x.severity != "error", x.line or 0, x.code, x.node or ""))
    ok = not any(x.severity == "error" for x in findings)
    return Report(flow.name, ok, limit, result.worst, result.counterexample, tuple(findings), explorer.state_count,
                  result.summary)
