"""Where the pytest plugin finds the flows it serves, through pytest itself (`pytester`): `pytest` run from any
directory of a project made by `ivr init`, the "no such flow file" error that says where the path came from and
how to set it, and a missing extra named with its pip command instead of an ImportError.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import ivr.testing.scripts  # noqa: F401  (imported once here: each in-process run would otherwise import it anew)
from ivr.cli.init import init_project

pytest_plugins = ["pytester"]

#: the other installed plugins are off: hypothesis alone re-imports itself in every in-process run (~1 s each)
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:anyio")
CALL_TEST = 'def test_a_call(ivr_call):\n    assert ivr_call("line").node == "main_menu"\n'
HOW = "Give the flows with --ivr-flows PATH, or with the ini option ivr_flows in {ini}"


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project as `ivr init` makes it (flow `line`): pyproject.toml names flows/, call scripts in tests/calls/."""
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    init_project(pytester.path, "line")
    return pytester.path


@pytest.mark.parametrize("where", [".", "tests", "tests/calls"])
def test_pytest_runs_from_any_directory_of_a_project(pytester: pytest.Pytester, project: Path, where: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project / where)
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(passed={".": 5, "tests": 5, "tests/calls": 3}[where])


def test_ivr_flows_option_is_relative_to_the_config_file_not_the_rootdir(pytester: pytest.Pytester, project: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """With --rootdir elsewhere, the ini option still means the directory beside the file that sets it."""
    (project / "elsewhere").mkdir()
    monkeypatch.chdir(project / "tests")
    pytester.runpytest(*QUIET, f"--rootdir={project / 'elsewhere'}", "calls").assert_outcomes(passed=3)


def failure_of(result: pytest.RunResult) -> str:
    output = result.stdout.str() + result.stderr.str()
    for noise in ("Traceback", "raise FlowFileError", "pytest_plugin.py", "ModuleNotFoundError"):
        assert noise not in output
    return output


@pytest.mark.parametrize(("ini", "where", "args", "tried", "source"), [
    ("ivr_flows = lines\n", ".", (), "lines",
     "the ini option ivr_flows in {ini}, relative to that file"),
    ("ivr_flows = lines\n", "tests/calls", (), "lines",
     "the ini option ivr_flows in {ini}, relative to that file"),
    ("", "tests", (), "flows",
     "the default, as {ini} sets no ini option ivr_flows"),
    ("ivr_flows = flows\n", "tests", ("--ivr-flows", "flows"), "tests/flows",
     "--ivr-flows's path, relative to where pytest runs"),
])
def test_no_such_flow_file_says_where_the_path_came_from_and_how_to_set_it(
        pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch,
        ini: str, where: str, args: tuple[str, ...], tried: str, source: str) -> None:
    (project / "pyproject.toml").unlink()
    shutil.rmtree(project / "flows")
    (project / "tests" / "test_line.py").write_text(CALL_TEST)
    config = project / "pytest.ini"
    config.write_text("[pytest]\n" + ini)
    monkeypatch.chdir(project / where)
    result = pytester.runpytest(*QUIET, *args)
    result.assert_outcomes(failed=3, errors=0 if where == "tests/calls" else 1)  # the scripts, and test_line.py
    message = (f"{project / tried}: no such flow file or directory ({source.format(ini=config)}). "
               + HOW.format(ini=config))
    assert message in failure_of(result)


def test_no_such_flow_file_without_a_config_file(pytester: pytest.Pytester, project: Path) -> None:
    (project / "pyproject.toml").unlink()
    result = pytester.runpytest(*QUIET, "--ivr-flows", "nosuch", "tests/calls/keypad.call.yaml")
    result.assert_outcomes(failed=1)
    assert (f"{project / 'nosuch'}: no such flow file or directory (--ivr-flows's path, relative to where pytest "
            "runs). Give the flows with --ivr-flows PATH, or with the ini option ivr_flows in pytest's config file "
            "(none was found: e.g. pyproject.toml)") in failure_of(result)


def test_a_marker_path_that_does_not_exist(pytester: pytest.Pytester, project: Path) -> None:
    (project / "tests" / "test_marked.py").write_text(
        "import pytest\n\n\n@pytest.mark.ivr_flows('other.yaml')\n" + CALL_TEST)
    result = pytester.runpytest(*QUIET, "tests/test_marked.py")
    result.assert_outcomes(errors=1)
    assert (f"{project / 'other.yaml'}: no such flow file or directory (an ivr_flows marker's path, relative to "
            f"{project}). " + HOW.format(ini=project / "pyproject.toml")) in failure_of(result)


@pytest.mark.parametrize(("missing", "outcomes"), [
    ("httpx", {"errors": 3}),  # collecting a call script needs the simulator; so does each Python test's setup
    ("flask", {"failed": 1, "errors": 2}),  # the script is collected: running it needs the app, as ivr_call does
])
def test_a_missing_extra_names_the_pip_command(pytester: pytest.Pytester, project: Path, missing: str,
                                               outcomes: dict[str, int]) -> None:
    """As without the extra installed: the module cannot be imported (a fresh process, so nothing has it yet)."""
    (project / "conftest.py").write_text(f"import sys\n\nsys.modules[{missing!r}] = None\n")
    result = pytester.runpytest_subprocess(*QUIET, "--continue-on-collection-errors", "tests/calls/keypad.call.yaml",
                                           "tests/test_line.py")
    result.assert_outcomes(**outcomes)
    message = f"ivr's pytest plugin needs ivrkit[testing] ({missing} is not installed): pip install 'ivrkit[testing]'"
    # once per item, as the item's own report (the short summary repeats it, cut to the terminal's width or not)
    assert [line for line in failure_of(result).splitlines() if line == message] == [message] * 3
