"""The pytest plugin through pytest itself (`pytester`): call scripts collected and reported as tests, the fixtures,
choosing flows (ini option, `--ivr-flows`, the `ivr_flows` marker), JUnit XML, and `--ivr-url` against a live app
on a real socket.

The plugin is active through its installed `pytest11` entry point, exactly as in a user's project; the inner runs
are in-process (fast) unless the point is how pytest loads the plugin.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

import ivr.testing.scripts  # noqa: F401  (imported here once: each in-process run would otherwise import it, and httpx, anew)
from tests.conftest import ROOT, TOKEN, make_app, serving

pytest_plugins = ["pytester"]

CANCEL_FAST = (ROOT / "tests" / "calls" / "acme-cancel-fast.call.yaml").read_text("utf-8")
FAILING = "flow: acme\nsteps:\n  - say: billing\n  - expect: {node: main_menu, prompt_contains: anything else}\n"
INVALID = "flow: acme\nsteps:\n  - silence\n  - shout: hello\n"
AGENT_SCRIPT = "flow: acme\nagent: busy\nsteps:\n  - press: '0'\nexpect: {outcome: transferred, ended: true}\n"
SHOP_SCRIPT = "flow: shop\nsteps:\n  - press: '1'\nexpect: {outcome: informed, ended: true}\n"
SHOP = (ROOT / "tests" / "flows" / "shop.yaml").read_text("utf-8")
PYTHON_TESTS = """\
def test_cancel_by_voice_and_keypad(ivr_call):
    call = ivr_call("acme")
    call.say("cancel"); call.press("12345678"); call.say("cancel"); call.say("yes")
    assert call.outcome == "cancelled" and call.turns <= 4


def test_agent_does_not_answer(ivr_call):
    call = ivr_call("acme", dial_answer="no-answer")
    call.say("agent")
    assert call.ended and "nobody is available" in call.prompt
"""
APP_TEST = """\
def test_app_and_sim(ivr_app, ivr_sim):
    call = ivr_sim.call("/voice/acme", caller="+15559876543")
    call.say("billing")
    record = ivr_app.extensions["ivr"].store.get_call(call.sid)
    assert (record.caller, record.node) == ("+15559876543", "anything_else")
"""
MARKED_TESTS = """\
import pytest


@pytest.mark.ivr_flows("other/shop.yaml")
def test_marker_serves_shop(ivr_call):
    call = ivr_call("shop")
    assert call.node == "menu" and call.prompt == "Corner shop. Say hours or press 1."


def test_unmarked_serves_the_ini_flows(ivr_call):
    assert ivr_call("shop").errors == ["11200: http://localhost/voice/shop answered HTTP 404"]
    assert ivr_call("acme").node == "main_menu"
"""
NO_TOKEN = "--ivr-url needs the line's auth token: --ivr-auth-token or TWILIO_AUTH_TOKEN"


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A user's project: flows/acme.yaml (the ini's `ivr_flows`), other/shop.yaml, and one passing call script."""
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    # the other installed plugins are off: hypothesis alone re-imports itself in every in-process run (~1 s each)
    pytester.makefile(".ini", pytest="[pytest]\nivr_flows = flows\n"
                      "addopts = -p no:cacheprovider -p no:hypothesispytest -p no:benchmark -p no:anyio\n")
    for where, text in (("flows/acme.yaml", (ROOT / "flows" / "acme.yaml").read_text("utf-8")),
                        ("other/shop.yaml", SHOP), ("calls/acme-cancel-fast.call.yaml", CANCEL_FAST)):
        (pytester.path / where).parent.mkdir(exist_ok=True)
        (pytester.path / where).write_text(text, "utf-8")
    # the welcome acme plays: a call whose <Play> file is missing has Twilio's error 11200, and fails its script
    (pytester.path / "audio").mkdir(exist_ok=True)
    shutil.copy(ROOT / "audio" / "acme-welcome.wav", pytester.path / "audio")
    return pytester


def write(pytester: pytest.Pytester, files: dict[str, str]) -> None:
    for where, text in files.items():
        (pytester.path / where).parent.mkdir(parents=True, exist_ok=True)
        (pytester.path / where).write_text(text, "utf-8")


def test_scripts_and_fixtures_run_as_tests(project: pytest.Pytester) -> None:
    write(project, {"calls/billing.call.yaml": FAILING, "calls/agent.call.yml": AGENT_SCRIPT,
                    "test_inner_calls.py": PYTHON_TESTS, "test_inner_app.py": APP_TEST})
    result = project.runpytest("-v", "--strict-markers")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines_random([
        "calls/acme-cancel-fast.call.yaml::acme-cancel-fast PASSED*",
        "calls/agent.call.yml::agent PASSED*",
        "calls/billing.call.yaml::billing FAILED*",
        "test_inner_calls.py::test_cancel_by_voice_and_keypad PASSED*",
        "test_inner_calls.py::test_agent_does_not_answer PASSED*",
        "test_inner_app.py::test_app_and_sim PASSED*",
    ])
    # the whole conversation, and beside it what was expected, the failed line marked FAIL
    result.stdout.fnmatch_lines([
        "*_ call script billing _*",
        f"{project.path}/calls/billing.call.yaml: 1 expectation(s) failed",
        "",
        "  conversation * | expected",
        "     IVR: [[]plays http://localhost/audio/acme/acme-welcome.wav] * |",
        "     IVR: For billing, say billing or press 1.* |",
        "  CALLER: says 'billing' * |",
        "     IVR: Your current balance is forty two dollars and fifty cents, due * |",
        "            on the first of the month. * |",
        "     IVR: Is there anything else I can help you with? * |",
        "  * | FAIL at node 'main_menu' (it is at 'anything_else')",
        "  * | ok   prompt contains 'anything else'",
        "*= short test summary info =*",
    ])
    assert "Traceback" not in result.stdout.str()
    assert "CallFailed" not in result.stdout.str()


def test_invalid_script_is_a_collection_error_without_a_traceback(project: pytest.Pytester) -> None:
    write(project, {"calls/invalid.call.yaml": INVALID})
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*_ ERROR collecting calls/invalid.call.yaml _*",
        "invalid call script:",
        f"{project.path}/calls/invalid.call.yaml:4: steps.1.shout: unknown step 'shout'; valid steps: "
        "['say', 'press', 'silence', 'hang up', 'expect']",
        "*= short test summary info =*",
    ])
    for noise in ("Traceback", "scripts.py", "pytest_plugin.py", "raise ", "ScriptError"):
        assert noise not in result.stdout.str()
    # the other scripts still run when asked to carry on
    project.runpytest("--continue-on-collection-errors").assert_outcomes(passed=1, errors=1)


def test_junit_xml_lists_scripts_with_their_failures(project: pytest.Pytester) -> None:
    write(project, {"calls/billing.call.yaml": FAILING, "test_inner_calls.py": PYTHON_TESTS})
    project.runpytest("--junitxml=report.xml").assert_outcomes(passed=3, failed=1)
    suite = ET.parse(project.path / "report.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "0")
    cases = {(case.get("classname"), case.get("name")): case for case in suite.iter("testcase")}
    assert sorted(cases) == [("calls.acme-cancel-fast.call.yaml", "acme-cancel-fast"),
                             ("calls.billing.call.yaml", "billing"),
                             ("test_inner_calls", "test_agent_does_not_answer"),
                             ("test_inner_calls", "test_cancel_by_voice_and_keypad")]
    assert [child.tag for child in cases["calls.acme-cancel-fast.call.yaml", "acme-cancel-fast"]] == []
    failure = cases["calls.billing.call.yaml", "billing"].find("failure")
    assert failure is not None
    assert "FAIL at node 'main_menu' (it is at 'anything_else')" in (failure.text or "")  # pytest 9.2 shortens message=
    assert "CALLER: says 'billing'" in (failure.text or "")


def test_marker_chooses_the_flows_of_a_test(project: pytest.Pytester) -> None:
    write(project, {"test_inner_marked.py": MARKED_TESTS})
    project.runpytest("--strict-markers", "test_inner_marked.py").assert_outcomes(passed=2)


def test_marker_paths_do_not_depend_on_the_current_directory(project: pytest.Pytester,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, {"tests/test_inner_marked.py": MARKED_TESTS})
    monkeypatch.chdir(project.path / "tests")
    project.runpytest("test_inner_marked.py").assert_outcomes(passed=2)


def test_ivr_flows_option_replaces_the_ini_flows(project: pytest.Pytester) -> None:
    write(project, {"calls/shop.call.yaml": SHOP_SCRIPT})
    result = project.runpytest("--ivr-flows", "other/shop.yaml")
    result.assert_outcomes(passed=1, failed=1)  # acme is not served any more
    result.stdout.fnmatch_lines(["*| FAIL step 3 (say 'I want to cancel my service'): the call is already over "
                                 "(failed)",
                                 "*| FAIL no Twilio errors (it has 11200: http://localhost/voice/acme answered HTTP "
                                 "404)",
                                 "  Twilio error 11200: http://localhost/voice/acme answered HTTP 404"])
    # repeatable, and a directory stands for the flows in it
    project.runpytest("--ivr-flows", "other", "--ivr-flows", "flows/acme.yaml").assert_outcomes(passed=2)


def test_ivr_flows_option_is_relative_to_where_pytest_runs(project: pytest.Pytester,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, {"tests/shop.call.yaml": SHOP_SCRIPT})
    monkeypatch.chdir(project.path / "tests")
    project.runpytest("--ivr-flows", "../other/shop.yaml", "shop.call.yaml").assert_outcomes(passed=1)


def test_ivr_url_without_a_token_is_refused(project: pytest.Pytester) -> None:
    write(project, {"test_inner_calls.py": PYTHON_TESTS})
    result = project.runpytest("--ivr-url", "http://127.0.0.1:9")
    assert result.ret != pytest.ExitCode.OK
    assert NO_TOKEN in result.stdout.str() + result.stderr.str()
    assert not re.search(r"\d+ passed", result.stdout.str())


def test_ivr_url_without_a_token_is_a_usage_error(project: pytest.Pytester) -> None:
    write(project, {"test_inner_calls.py": PYTHON_TESTS})
    result = project.runpytest("--ivr-url", "http://127.0.0.1:9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {NO_TOKEN}"])


@pytest.fixture
def live_line(tmp_path: Path) -> Iterator[tuple[str, Flask]]:
    """The real app serving flows/acme.yaml on a real socket (signatures checked with TOKEN)."""
    app = make_app(f"sqlite:///{tmp_path}/live.db")
    with serving(app) as url:
        yield url, app
    app.extensions["ivr"].store.close()


def test_ivr_url_runs_scripts_and_tests_against_a_live_line(project: pytest.Pytester,
                                                            live_line: tuple[str, Flask]) -> None:
    url, app = live_line
    (project.path / "flows" / "acme.yaml").unlink()  # nothing in-process: every call must go over the socket
    write(project, {"test_inner_calls.py": PYTHON_TESTS})
    project.runpytest("--ivr-url", url, "--ivr-auth-token", TOKEN).assert_outcomes(passed=3)
    calls = app.extensions["ivr"].store.calls()
    assert sorted((c.caller, c.outcome) for c in calls) == [
        ("+15551230000", "cancelled"), ("+15551230000", "transferred"), ("+15551234567", "cancelled")]


def test_ivr_url_token_from_the_environment(project: pytest.Pytester, live_line: tuple[str, Flask],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    project.runpytest("--ivr-url", live_line[0]).assert_outcomes(passed=1)


def test_ivr_url_with_a_wrong_token_fails_with_twilios_error(project: pytest.Pytester,
                                                             live_line: tuple[str, Flask]) -> None:
    url = live_line[0]
    result = project.runpytest("--ivr-url", url + "/", "--ivr-auth-token", "not-" + TOKEN)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"  TWILIO: error 11200: {url}/voice/acme answered HTTP 403 *|",
        "     IVR: We are sorry, an application error has occurred. Goodbye. *|",
        "  * | FAIL prompt contains 'To cancel your service, say cancel or press 9'",
    ])


def test_scripts_leave_no_temporary_files(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    project.runpytest().assert_outcomes(passed=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_bad_flows_are_reported_without_a_traceback(project: pytest.Pytester) -> None:
    write(project, {"test_inner_calls.py": PYTHON_TESTS})
    result = project.runpytest("--ivr-flows", "nosuch.yaml")
    assert result.ret != pytest.ExitCode.OK
    output = result.stdout.str() + result.stderr.str()
    assert f"{project.path}/nosuch.yaml: no such flow file" in output
    for noise in ("Traceback", "loader.py", "raise FlowFileError"):
        assert noise not in output


def test_plugin_named_on_the_command_line_without_autoload(project: pytest.Pytester,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    project.runpytest().assert_outcomes()  # no plugin: the script is not a test
    project.runpytest("-p", "ivr.testing.pytest_plugin").assert_outcomes(passed=1)


def test_plugin_named_by_module_in_conftest(project: pytest.Pytester) -> None:
    write(project, {"conftest.py": 'pytest_plugins = ["ivr.testing.pytest_plugin"]\n'})
    project.runpytest_subprocess().assert_outcomes(passed=1)


def test_importing_the_plugin_loads_no_web_or_database_library() -> None:
    code = ("import ivr.testing.pytest_plugin, sys; "
            "print([m for m in ('flask', 'httpx', 'sqlalchemy', 'twilio') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
