"""The `ivr` command line through Click's CliRunner: exit codes, text and JSON output, errors without
tracebacks."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli.call import parse_line
from ivr.cli.graph import flow_schema
from ivr.cli.main import main
from ivr.flow.caller import Digits, Heard, Silence, Speech
from ivr.testing.scripts import load_script, run_script
from ivr.testing.sim import Simulator
from tests.conftest import TOKEN, found, make_app

ROOT = Path(__file__).resolve().parents[2]
ACME = str(ROOT / "flows/acme.yaml")
LOOP = str(ROOT / "tests/flows/retention-loop-2014.yaml")
MALFORMED = """\
name: broken
start: menu
outcomes: [cancelled, done]
nodes:
  menu:
    type: menu
    prompt: Hello
    routes:
      billing: billng
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(MALFORMED)
    return path


def test_check_passes_every_example_flow(runner: CliRunner) -> None:
    result = runner.invoke(main, ["check", str(ROOT / "flows")])
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok - ") == len(list((ROOT / "flows").glob("*.yaml")))


def test_check_fails_the_2014_loop_with_a_counterexample(runner: CliRunner) -> None:
    result = runner.invoke(main, ["check", LOOP])
    assert result.exit_code == 1
    assert "FAIL - a caller who keeps asking to cancel from main_menu does not reach 'cancelled'" in result.output
    assert "caller: 'cancel' -> cancel" in result.output
    assert "(the call is back at turn 2's prompt, and repeats)" in result.output


def test_check_json_has_the_documented_shape(runner: CliRunner) -> None:
    result = runner.invoke(main, ["check", ACME, LOOP, "--format", "json"])
    assert result.exit_code == 1
    flows = json.loads(result.output)["flows"]
    assert [(f["flow"], f["ok"], f["worst_case_turns"], f["within"]) for f in flows] == [
        (ACME, True, 4, 4), (LOOP, False, None, 4)]
    assert set(flows[1]["counterexample"][0]) >= {"turn", "node", "prompt", "heard", "intent"}
    assert set(flows[1]["findings"][0]) == {"severity", "code", "message", "node", "line"}
    assert flows[1]["findings"][0]["code"] == "cancel-not-guaranteed"
    assert flows[1]["findings"][0]["line"] == 34


def test_check_within_option(runner: CliRunner) -> None:
    result = runner.invoke(main, ["check", ACME, "--within", "3", "--format", "json"])
    assert result.exit_code == 1
    report = json.loads(result.output)["flows"][0]
    assert (report["ok"], report["worst_case_turns"], report["within"]) == (False, 4, 3)
    assert report["counterexample"][-1]["outcome"] == "cancelled"


def test_check_reports_a_malformed_flow_as_bad_input(runner: CliRunner, broken: Path) -> None:
    result = runner.invoke(main, ["check", str(broken), ACME])
    assert result.exit_code == 2
    assert (f"  error: {broken}:9: nodes.menu.routes.billing: target 'billng' is not a node "
            "(or @repeat / @help / @no_match); known nodes: ['menu']") in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(main, ["check", str(broken), "--format", "json"])
    finding = json.loads(result.output)["flows"][0]["findings"][0]
    assert (finding["code"], finding["line"]) == ("undefined-target", 9)


@pytest.mark.parametrize(("args", "message"), [
    (["check", "no/such/flow.yaml"], "error: no/such/flow.yaml: no such flow file"),
    (["call", "no/such/flow.yaml"], "error: no/such/flow.yaml: no such flow file"),
    (["graph", "no/such/flow.yaml"], "error: no/such/flow.yaml: no such flow file"),
    (["check", ACME, "--within", "0"], "Invalid value for '--within': 0 is not in the range x>=1."),
    (["check", ACME, "--format", "xml"], "Invalid value for '--format': 'xml' is not one of 'text', 'json'."),
    (["call", ACME, "--var", "nope=1"], "Invalid value for --var: 'nope=1': expected NAME=VALUE with NAME one of "
                                        "['account', 'confirmation', 'offer_eligible']"),
    (["graph", ACME, "--format", "png"], "Invalid value for '--format': 'png' is not one of 'mermaid', 'dot'."),
])
def test_bad_arguments_exit_2_without_a_traceback(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(main, args, input="")
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_check_an_empty_directory(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 2
    assert f"error: {tmp_path}: directory holds no flow files (*.yaml, other than *.call.yaml scripts" in result.output


@pytest.mark.parametrize(("line", "heard"), [
    ("#1234\n", Digits("1234")),
    ("#9", Digits("9")),
    ("#*", Digits("*")),
    ("#", Digits("#")),
    ("#12#", Digits("12#")),
    ("\n", Silence()),
    ("   \n", Silence()),
    ("cancel\n", Speech("cancel")),
    ("  I want to cancel  \n", Speech("I want to cancel")),
    ("#hello", Speech("#hello")),
])
def test_parse_line(line: str, heard: Heard) -> None:
    assert parse_line(line) == heard


def test_call_reads_piped_lines_and_prints_the_conversation(runner: CliRunner) -> None:
    result = runner.invoke(main, ["call", ACME], input="I want to cancel\n#12345678\n\ncancel\nyes\n")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "IVR: [plays acme-welcome.wav]"
    assert "you> I want to cancel" in lines
    assert "you> (silence)" in lines
    assert "IVR: Sorry, I didn't hear anything." in lines
    assert any(line.startswith("  [effect record_cancellation {'account': '12345678'") for line in lines)
    assert lines[-1] == "-- call ended: cancelled"


def test_call_json_trace(runner: CliRunner) -> None:
    result = runner.invoke(main, ["call", ACME, "--format", "json", "--var", "account=87654321"],
                           input="cancel my account please\n#9\n#1\n")
    assert result.exit_code == 0, result.output
    trace = json.loads(result.output)
    assert (trace["outcome"], trace["turns"], trace["ended"]) == ("cancelled", 3, True)
    assert [(e["turn"], e["node"], e["heard"], e["intent"]) for e in trace["events"]] == [
        (1, "main_menu", "cancel my account please", "cancel"),
        (2, "retention_offer", "#9", "cancel"),
        (3, "confirm_cancel", "#1", "yes"),
    ]
    assert trace["events"][2]["prompt"].startswith("To confirm, you want to cancel the service on account 8 7 6 5")


def test_a_script_written_from_ivr_call_holds_against_the_app(runner: CliRunner, tmp_path: Path) -> None:
    """The confirmation number has one rule (8 digits, engine.confirmation_number): the app's and `ivr call`'s."""
    result = runner.invoke(main, ["call", ACME], input="cancel\n#12345678\n#9\n#1\n")
    said = next(line for line in result.output.splitlines() if "confirmation number is" in line)
    assert re.search(r"confirmation number is( \d){8}\.", said), said
    script = tmp_path / "from-call.call.yaml"
    script.write_text("flow: acme\nsteps:\n  - say: cancel\n  - press: '12345678#'\n  - press: '9'\n  - press: '1'\n"
                      "  - expect: {prompt_matches: 'confirmation number is( \\d){8}\\.'}\n"
                      "expect: {outcome: cancelled}\n")
    app = make_app("sqlite://")
    outcome = run_script(load_script(script), Simulator(app, auth_token=TOKEN))
    assert outcome.ok, outcome.report()


def test_call_ends_when_the_caller_hangs_up(runner: CliRunner) -> None:
    result = runner.invoke(main, ["call", ACME, "--format", "json"], input="billing\n")
    trace = json.loads(result.output)
    assert (trace["outcome"], trace["turns"], trace["ended"]) == (None, 1, False)


def test_graph_mermaid_highlights_the_cancel_path(runner: CliRunner) -> None:
    result = runner.invoke(main, ["graph", ACME])
    assert result.exit_code == 0
    out = result.output
    assert out.startswith("flowchart TD\n")
    assert '  retention_offer ==>|"says cancel or presses 9"| confirm_cancel' in out
    assert '  main_menu -->|"says billing or presses 1"| billing_info' in out
    assert '  any_input_node ==>|"says cancel or presses 9"| cancel_start' in out
    assert '  identify ==>|"account is empty"| ask_account' in out
    assert "  welcome --> main_menu\n" in out  # `next`, the only way on: unlabelled
    assert "  style cancelled_goodbye fill:#fdd,stroke:#d00,stroke-width:3px" in out
    assert "linkStyle" in out


def test_graph_dot(runner: CliRunner) -> None:
    result = runner.invoke(main, ["graph", ACME, "--format", "dot"])
    assert result.exit_code == 0
    assert result.output.startswith('digraph "acme" {')
    assert ('"retention_offer" -> "confirm_cancel" [label="says cancel or presses 9", color="#dd0000", '
            'penwidth=3];') in result.output
    assert '"main_menu" -> "billing_info" [label="says billing or presses 1"];' in result.output
    assert '"cancel_start" -> "identify" [color="#dd0000", penwidth=3];' in result.output
    # only the way the canceller takes is red: "cancel" at the confirmation, not "yes" beside it
    assert ('"confirm_cancel" -> "do_cancel" [label="says cancel or presses 9", color="#dd0000", penwidth=3];'
            in result.output)
    assert '"confirm_cancel" -> "do_cancel" [label="says yes or presses 1"];' in result.output
    if shutil.which("dot"):  # validate the syntax when Graphviz is installed
        import subprocess

        subprocess.run(["dot", "-Tsvg"], input=result.output, text=True, check=True, capture_output=True)


def test_schema_is_the_checked_in_one(runner: CliRunner) -> None:
    result = runner.invoke(main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == flow_schema()
    checked_in = json.loads((ROOT / "flows/flow.schema.json").read_text())
    assert checked_in == flow_schema(), "run: ivr schema > flows/flow.schema.json"


def test_every_example_flow_points_editors_at_the_schema() -> None:
    for path in (ROOT / "flows").glob("*.yaml"):
        assert path.read_text().startswith("# yaml-language-server: $schema=flow.schema.json\n"), path


@pytest.mark.parametrize("path", found((ROOT / "flows").glob("*.yaml")), ids=lambda p: p.name)
def test_editors_accept_the_example_flows(path: Path) -> None:
    """What an editor does: read the file as YAML 1.2 (where yes/no/on/off are text) and validate it with the
    schema — shorthand such as `prompt: "Hello"` included."""
    import jsonschema
    from ruamel.yaml import YAML

    data = YAML(typ="safe", pure=True).load(path.read_text())
    jsonschema.validate(data, json.loads((ROOT / "flows/flow.schema.json").read_text()))


def test_the_schema_underlines_a_mistake() -> None:
    import jsonschema

    schema = flow_schema()
    bad = {"name": "x", "start": "a", "outcomes": ["cancelled"],
           "nodes": {"a": {"type": "say", "promt": "Hi", "next": "a"}}}
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(bad))
    assert len(errors) == 1
    messages = [e.message for e in errors[0].context or ()]
    assert "Additional properties are not allowed ('promt' was unexpected)" in messages
