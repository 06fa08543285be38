"""The crawler against ivr's own example flows, through ivr's own app in-process, agrees with `ivr check`: the same
verdict and the same worst case, though the crawler sees only TwiML (and ivr's X-Ivr-Outcome header, for the
default `outcome:cancelled`).

Where they differ, the difference is what a black box sees and the proof does not assume: the proof's branches
go every way, the app's go the way its data sends them. gym's retention offer is made only to members whose
`lookup_member` effect returns a tier; the local app has no handler for that effect, so no offer is made and
the crawler's worst case is 3 where the proof's is 4. With a handler that returns a tier, as a real gym's does,
they agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from ivr.flow import engine
from ivr.flow.loader import load_flow
from ivr.line.app import create_app
from ivr.line.settings import Settings
from ivr.line.webhook import EffectCall
from ivr.proof.report import check
from ivr.testing.crawl import Crawl, Limits, Options, crawl
from ivr.testing.crawl_report import text
from ivr.testing.crawl_scripts import write_scripts
from ivr.testing.scripts import load_script, run_script
from ivr.testing.sim import Simulator

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "agreement-token"


def monthly(ctx: EffectCall) -> engine.EffectResult:
    return engine.EffectResult(value="monthly")


def crawl_flow(path: str, effects: Mapping[str, object] | None = None,
               max_calls: int = 6000) -> tuple[Crawl, int | None, bool, int]:
    """The crawl of the flow at `path` through ivr's app (its SQLite store in memory: thousands of calls, and the
    crawler reads none of it), and `ivr check`'s worst case, verdict and states."""
    flow, _ = load_flow(ROOT / path)
    report = check(flow)
    settings = Settings(auth_token=TOKEN, database_url="sqlite://", serve_failing=True)
    app = create_app([str(ROOT / path)], settings, effects=effects)  # type: ignore[arg-type]
    result = crawl(Simulator(app, auth_token=TOKEN),
                   Options(entry=f"/voice/{flow.name}", within=report.within, limits=Limits(max_calls=max_calls)))
    return result, report.worst_case_turns, report.ok, report.states


AGREEMENT = [
    pytest.param("flows/acme.yaml", None, id="acme"),
    pytest.param("flows/gym.yaml", {"lookup_member": monthly}, id="gym-with-tiers", marks=pytest.mark.slow),
    pytest.param("flows/ko-telecom.yaml", None, id="ko-telecom"),
    pytest.param("flows/streaming.yaml", None, id="streaming"),
    pytest.param("tests/flows/shop.yaml", None, id="shop"),
    pytest.param("tests/flows/retention-loop-2014.yaml", None, id="retention-loop-2014"),
]


@pytest.mark.parametrize(("path", "effects"), AGREEMENT)
def test_the_crawler_agrees_with_ivr_check(path: str, effects: Mapping[str, object] | None) -> None:
    result, worst, ok, _ = crawl_flow(path, effects)
    report = "\n".join(text(result, path))
    assert [str(c) for c in result.cancel_when] == ["outcome:cancelled"]  # ivr's headers: the default
    assert result.analysis is not None
    assert (result.verdict == "pass", result.analysis.worst) == (ok, worst), report
    assert not [n for n in result.not_explored if "hint phrases not tried" not in n], report
    if not ok:
        assert result.reproduced is True, report


def test_the_2014_loop_counterexample_is_the_proofs() -> None:
    result, _, _, _ = crawl_flow("tests/flows/retention-loop-2014.yaml")
    assert result.analysis is not None
    prompts = [result.graph.states[e.state].seen.prompt.split("?")[0] for e in result.analysis.counterexample]
    assert prompts == ["Thanks for calling. Say billing, or say cancel to disconnect your service.",
                       "Can I ask why you want to disconnect", "I'm just trying to help you. What is it about the "
                       "service that isn't working for you", "Can I ask why you want to disconnect"]


@pytest.mark.slow
def test_gym_without_member_tiers_is_one_turn_shorter_than_the_proof() -> None:
    result, worst, ok, _ = crawl_flow("flows/gym.yaml")
    assert (ok, worst) == (True, 4)
    assert result.analysis is not None
    assert (result.verdict, result.analysis.worst) == ("pass", 3)
    assert not any("Before you go" in s.seen.prompt for s in result.graph.waiting())  # no offer is ever made


def test_scripts_emitted_from_ivrs_app_replay_it(tmp_path: Path) -> None:
    path = "tests/flows/retention-loop-2014.yaml"
    settings = Settings(auth_token=TOKEN, database_url="sqlite://", serve_failing=True)
    app = create_app([str(ROOT / path)], settings)
    result = crawl(Simulator(app, auth_token=TOKEN), Options(entry="/voice/retention-loop-2014", within=4))
    written = write_scripts(result, tmp_path, "ivr crawl URL --emit-scripts DIR")
    outcomes = {p.name: run_script(load_script(p), Simulator(app, auth_token=TOKEN)) for p in written}
    failing = {name for name, outcome in outcomes.items() if not outcome.ok}
    assert failing == {"voice-retention-loop-2014-counterexample.call.yaml"}, \
        "\n".join(outcomes[n].report() for n in failing)
    assert "cancelled within 4 turns (took 5, outcome None)" in \
        outcomes["voice-retention-loop-2014-counterexample.call.yaml"].failures
