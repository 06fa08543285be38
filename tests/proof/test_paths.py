"""Path tests from the proof (ivr/paths.py, `ivr check --emit-scripts`): the emitted call scripts, played by the
simulator against the real app, agree with the static proof — they pass where it holds, within its worst case and
reaching it exactly where the app's variables allow, and they fail where it fails."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli.main import main
from ivr.flow.engine import EffectResult
from ivr.flow.loader import load_flow, parse_flow
from ivr.line.app import create_app
from ivr.line.settings import Settings
from ivr.line.webhook import EffectCall, EffectHandler
from ivr.proof.pathtests import MARK, PathTests, path_tests, quote, write_scripts
from ivr.proof.report import check
from ivr.testing.scripts import Result, load_script, parse_script, run_script
from ivr.testing.sim import Simulator

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "flows"
LOOP = ROOT / "tests/flows/retention-loop-2014.yaml"
TOKEN = "paths-test-token-0123456789abcdef"
#: what a back office answers for the effects whose results the flows branch on (a paying member, a known account
#: on a plan that gets the retention offer); without one the app answers every effect with an empty result
BACK_OFFICE = {
    "gym": {"lookup_member": "monthly"},
    "streaming": {"find_account": "AC-1001", "get_plan": "standard"},
}
UNREACHED = "no call reaches it when effects succeed with empty results: every way in passes a branch that such " \
            "a call's variables send elsewhere"


def answering(value: str) -> EffectHandler:
    def handler(ctx: EffectCall) -> EffectResult:
        return EffectResult(value=value)
    return handler


def emit_and_play(flow_file: Path, tmp_path: Path, results: Mapping[str, str] | None = None,
                  ) -> tuple[PathTests, dict[str, Result]]:
    """Emit `flow_file`'s path tests into tmp_path, then play every written script against the real app (with a
    back office answering `results`); the results by script name."""
    flow, _ = load_flow(flow_file)
    tests = path_tests(flow, results=results)
    out = tmp_path / "scripts"
    out.mkdir()
    written = write_scripts(out, tests, source=str(flow_file), command="ivr check ...")
    effects = {name: answering(value) for name, value in (results or {}).items()}
    # flows that fail the proof too: their scripts show the failure on the line (the app refuses them otherwise)
    app = create_app([flow_file], Settings(auth_token=TOKEN, database_url=f"sqlite:///{tmp_path}/c.db",
                                           serve_failing=True), effects=effects)
    sim = Simulator(app, auth_token=TOKEN)
    try:
        played = {}
        for path in written:
            script = load_script(path)
            played[script.name] = run_script(script, sim)
    finally:
        sim.close()
        app.extensions["ivr"].store.close()
    return tests, played


def taken(result: Result) -> int:
    """Turns the call took from the `cancelled_within` window's start (the app's own count, X-Ivr-Turns)."""
    [window] = [text for _, text, _ in result.checks if text.startswith("cancelled")]
    match = re.search(r"took (\d+)", window)
    assert match is not None
    return int(match[1])


# flow, back office, scripts, nodes skipped, the most turns a script takes from its window's start
AGREEMENT = [
    ("acme", False, 6, [], 4),
    ("ko-telecom", False, 5, [], 4),
    ("gym", False, 8, ["retention_offer"], 3),  # members look up as tier "": no retention offer, no 4-turn path
    ("gym", True, 9, [], 4),
    ("streaming", False, 6, ["change_plan", "password_offer_link", "confirm_plan"], 4),  # no caller-ID account
    ("streaming", True, 9, [], 4),
]


def test_every_example_flow_is_in_the_agreement_table() -> None:
    assert {p.stem for p in FLOWS.glob("*.yaml")} == {row[0] for row in AGREEMENT}


@pytest.mark.parametrize(("name", "back_office", "scripts", "skipped", "most"), AGREEMENT)
def test_emitted_scripts_agree_with_the_proof_in_the_simulator(
        tmp_path: Path, name: str, back_office: bool, scripts: int, skipped: list[str], most: int) -> None:
    flow_file = FLOWS / f"{name}.yaml"
    report = check(load_flow(flow_file)[0])
    tests, played = emit_and_play(flow_file, tmp_path, BACK_OFFICE.get(name) if back_office else None)
    assert len(played) == scripts
    assert [(s.node, s.reason) for s in tests.skipped] == [(node, UNREACHED) for node in skipped]
    failed = [r.report() for r in played.values() if not r.ok]
    assert not failed, "\n\n".join(failed)
    for test in tests.tests:
        turns = taken(played[test.name])
        # the app takes the turns the engine walk found: the proof's worst case from that state where the app's
        # variables allow its worst path, never more
        assert turns == test.turns
        assert test.proof_turns is not None
        assert report.worst_case_turns is not None
        assert turns <= test.proof_turns <= report.worst_case_turns
    assert max(taken(r) for r in played.values()) == most
    if most == report.worst_case_turns:  # agreement both ways: some script is the proof's worst case, exactly
        assert any(t.turns == t.proof_turns == report.worst_case_turns for t in tests.tests)


def test_the_2014_loop_scripts_fail_in_the_simulator_too(tmp_path: Path) -> None:
    assert not check(load_flow(LOOP)[0]).ok
    tests, played = emit_and_play(LOOP, tmp_path)
    assert sorted(played) == ["retention-loop-2014-help_you", "retention-loop-2014-main_menu",
                              "retention-loop-2014-why_leaving"]
    for result in played.values():
        assert result.failures == ["outcome 'cancelled' (it is None)",
                                   "cancelled within 4 turns (took 5, outcome None)"]
    assert all(not t.passes and t.proof_turns is None and t.outcome is None for t in tests.tests)


def test_scripts_expect_the_guarantee_outcome_the_flow_names(tmp_path: Path) -> None:
    """acme as a line whose cancellations end `terminated`: its scripts expect that, and pass against the app."""
    text = (FLOWS / "acme.yaml").read_text("utf-8")
    text = text.replace("outcomes: [cancelled,", "outcomes: [terminated,").replace("outcome: cancelled",
                                                                                 "outcome: terminated")
    flow_file = tmp_path / "terminating.yaml"
    flow_file.write_text(text, "utf-8")
    (tmp_path / "audio").mkdir()  # the welcome it plays: the simulator fetches <Play> URLs as Twilio does
    shutil.copy(FLOWS.parent / "audio" / "acme-welcome.wav", tmp_path / "audio")
    assert load_flow(flow_file)[0].guarantee.outcome == "terminated"
    tests, played = emit_and_play(flow_file, tmp_path)
    assert len(played) == 6
    failed = [r.report() for r in played.values() if not r.ok]
    assert not failed, "\n\n".join(failed)
    for result in played.values():
        assert any(text.startswith("cancelled (outcome 'terminated') within 4 turns (took ")
                   for _, text, _ in result.checks)
        assert 'expect: {outcome: "terminated"}' in Path(result.script.file).read_text("utf-8")
        assert "cancelled'" not in Path(result.script.file).read_text("utf-8")


def test_an_example_script_reads_as_documented(tmp_path: Path) -> None:
    tests = path_tests(load_flow(FLOWS / "acme.yaml")[0])
    write_scripts(tmp_path, tests, source="flows/acme.yaml", command="ivr check flows/acme.yaml --emit-scripts out")
    text = (tmp_path / "acme-confirm_cancel.call.yaml").read_text()
    assert text == f"""\
{MARK} from flows/acme.yaml; edit the flow, not this file, and regenerate:
#   ivr check flows/acme.yaml --emit-scripts out
# Path test for node confirm_cancel: the shortest way a new call reaches it (effects succeeding),
# then a caller who keeps asking to cancel, answering each prompt as in the proof's worst case.
# The proof: 'cancelled' within 1 turn(s) from here (limit 4).
# This call: 1 turn(s), then it ends 'cancelled': the script passes.
flow: "acme"
from: "+15551230000"
description: "path test: a persistent canceller from confirm_cancel"
steps:
  - say: "cancel"                            # at main_menu
  - press: "12345678"                        # at ask_account
  - say: "cancel"                            # at retention_offer
  - expect: {{node: "confirm_cancel"}}
  - expect: {{cancelled_within: "4"}}
  - say: "cancel"                            # at confirm_cancel, cancelling
expect: {{outcome: "cancelled"}}
"""


EFFECT_FAILS = """\
name: refunds
start: menu
outcomes: [cancelled, done, transferred]
guarantee: {intent: cancel, outcome: cancelled, within: 3}
intents:
  cancel: {phrases: [cancel, cancellation], keys: ["9"]}
  refund: {phrases: [refund]}
defaults:
  no_match:
    - say: Sorry?
    - say: Sorry, once more?
    - say: Let me get someone.
      goto: agent
nodes:
  menu:
    type: menu
    prompt: Say refund, or cancel.
    routes: {refund: pay_back}
  pay_back:
    type: action
    effect: refund
    next: done
    on_error: refund_failed
  refund_failed:
    type: confirm
    prompt: The refund failed. Shall I try again?
    yes: pay_back
    no: done
  done: {type: end, prompt: Done., outcome: done}
  agent: {type: transfer, prompt: Hold on., number: "+15550100"}
  cancel_start:
    type: action
    effect: record_cancellation
    next: cancelled
  cancelled: {type: end, prompt: Cancelled., outcome: cancelled}
globals: {cancel: cancel_start}
"""


def test_a_node_reached_only_when_an_effect_fails_is_skipped_with_the_reason() -> None:
    flow, _ = parse_flow(EFFECT_FAILS)
    tests = path_tests(flow)
    assert [t.node for t in tests.tests] == ["menu"]
    assert [(s.node, s.reason) for s in tests.skipped] == [
        ("refund_failed", "the proof reaches it only when an effect fails (pay_back)")]


def test_a_search_cut_short_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ivr.proof.pathtests.MAX_CALLS", 1)
    tests = path_tests(load_flow(FLOWS / "acme.yaml")[0])
    assert [t.node for t in tests.tests] == ["main_menu"]
    assert {s.reason for s in tests.skipped} == {"not reached in the first 1 call states searched"}


@pytest.mark.parametrize("text", [
    "yes", "no", "on", "1", "0x1F", "~", "null", "a: b", "- x", "#x", "it's", 'say "hi"', "back\\slash", "tab\there",
    "line\nbreak", "\u2028", "\x85", "caf\u00e9", "\U0001f600", "  spaced  ", "{x}", "[x]", "&anchor", "*alias", "!tag",
    "%", "@", "`", "|", ">",
])
def test_quoted_scalars_read_back_as_the_same_string(text: str) -> None:
    script = parse_script(f"flow: {quote('f')}\nsteps:\n  - say: {quote(text + ' x')}\n")
    assert script.steps[0].value == text + " x"


# -- the command line ----------------------------------------------------------------------------------------

@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


@pytest.mark.usefixtures("in_root")
def test_check_emit_scripts_writes_one_script_per_reached_node(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "new" / "generated"  # created, parents too
    result = runner.invoke(main, ["check", "flows/acme.yaml", "flows/gym.yaml", "--emit-scripts", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"acme-{n}.call.yaml" for n in ("main_menu", "ask_account", "confirm_cancel", "retention_offer",
                                         "anything_else", "tech_support")]
        + [f"gym-{n}.call.yaml" for n in ("main_menu", "cancel_ask_member", "confirm_cancel", "anything_else",
                                          "class_menu", "freeze_length", "freeze_ask_member", "freeze_confirm")])
    assert "flows/acme.yaml: ok - " in result.output
    assert f"  scripts: wrote 6 to {out}/ (acme-<node>.call.yaml)\n" in result.output
    assert f"  scripts: wrote 8 to {out}/ (gym-<node>.call.yaml)\n" in result.output
    assert f"  scripts: skipped retention_offer: {UNREACHED}\n" in result.output
    header = (out / "gym-main_menu.call.yaml").read_text().splitlines()[:2]
    assert header == [f"{MARK} from flows/gym.yaml; edit the flow, not this file, and regenerate:",
                      f"#   ivr check flows/acme.yaml flows/gym.yaml --emit-scripts {out}"]
    for path in out.iterdir():
        assert load_script(path).path == f"/voice/{path.name.split('-')[0]}"


@pytest.mark.usefixtures("in_root")
def test_check_emit_scripts_for_a_failing_flow_writes_reproducers(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["check", str(LOOP), "--within", "2", "--emit-scripts", str(tmp_path)])
    assert result.exit_code == 1
    assert (f"  scripts: wrote 3 to {tmp_path}/ (retention-loop-2014-<node>.call.yaml); 3 of them fail, as the "
            "proof does (reproducers)") in result.output
    text = (tmp_path / "retention-loop-2014-main_menu.call.yaml").read_text()
    assert '  - expect: {cancelled_within: "2"}\n' in text
    assert f"--emit-scripts {tmp_path} --within 2\n" in text
    assert "# This call: 4 turn(s), then it goes round a loop: the script FAILS, as the proof says.\n" in text


@pytest.mark.usefixtures("in_root")
def test_check_emit_scripts_json_lists_what_was_written(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["check", "flows/streaming.yaml", "--format", "json", "--emit-scripts",
                                  str(tmp_path)])
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.output)["flows"]
    assert report["ok"] is True
    assert report["scripts"]["dir"] == str(tmp_path)
    assert len(report["scripts"]["written"]) == 6
    assert [s["node"] for s in report["scripts"]["skipped"]] == ["change_plan", "password_offer_link",
                                                                  "confirm_plan"]


@pytest.mark.usefixtures("in_root")
def test_check_emit_scripts_replaces_its_own_stale_scripts_only(runner: CliRunner, tmp_path: Path) -> None:
    stale = tmp_path / "acme-removed_node.call.yaml"
    stale.write_text(f'{MARK} from flows/acme.yaml\nflow: "acme"\nsteps: ["silence"]\n')
    mine = tmp_path / "acme-hand_written.call.yaml"
    mine.write_text('flow: "acme"\nsteps: ["silence"]\n')
    other = tmp_path / "acme-other-removed.call.yaml"  # another flow's generated script, whose name starts alike
    other.write_text(f'{MARK} from x.yaml\nflow: "acme-other"\nsteps: ["silence"]\n')
    result = runner.invoke(main, ["check", "flows/acme.yaml", "--emit-scripts", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert not stale.exists()
    assert mine.exists()
    assert other.exists()


@pytest.mark.usefixtures("in_root")
def test_check_emit_scripts_into_a_file_is_bad_input(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "scripts"
    target.write_text("not a directory")
    result = runner.invoke(main, ["check", "flows/acme.yaml", "--emit-scripts", str(target)])
    assert result.exit_code == 2
    assert result.output == f"error: --emit-scripts: {str(target)!r} is a file, not a directory\n"
    assert target.read_text() == "not a directory"  # and the file is left as it was


@pytest.mark.usefixtures("in_root")
def test_check_emit_scripts_writes_nothing_for_an_invalid_flow(runner: CliRunner, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nstart: nowhere\n")
    out = tmp_path / "out"
    result = runner.invoke(main, ["check", str(broken), "flows/acme.yaml", "--emit-scripts", str(out)])
    assert result.exit_code == 2
    assert sorted(p.name.split("-")[0] for p in out.iterdir()) == ["acme"] * 6


@pytest.mark.usefixtures("in_root")
def test_check_emit_scripts_refuses_two_flows_of_one_name(runner: CliRunner, tmp_path: Path) -> None:
    copy = tmp_path / "copy.yaml"
    copy.write_text((FLOWS / "acme.yaml").read_text())
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "acme-welcome.wav").write_bytes(b"")  # what its `play` names, as beside flows/
    out = tmp_path / "out"
    result = runner.invoke(main, ["check", "flows/acme.yaml", str(copy), "--emit-scripts", str(out)])
    assert result.exit_code == 0
    assert ("  scripts: not written: a flow named 'acme' was given before, and file names would collide"
            in result.output)
    assert len(list(out.iterdir())) == 6
