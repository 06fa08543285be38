"""`ivr init`: the project it writes (a fair flow with its schema, call scripts that pass against the real app,
pytest settings), the flow's name, and refusing to overwrite a user's files. `pytest` run inside the new project
is tested in test_plugin_paths.py, and from an installed wheel in test_wheels.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli.graph import flow_schema
from ivr.cli.init import flow_name_for, project_files
from ivr.cli.main import main
from ivr.line.app import local_app, token_of
from ivr.testing.scripts import load_script, run_script
from ivr.testing.sim import Simulator

FILES = [".gitignore", "README.md", "audio/README.md", "flows/flow.schema.json", "flows/line.yaml",
         "pyproject.toml", "tests/calls/cancel-fast.call.yaml", "tests/calls/keypad.call.yaml",
         "tests/calls/takes-the-offer.call.yaml", "tests/test_line.py"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("init") / "line"
    result = CliRunner().invoke(main, ["init", str(directory)])
    assert result.exit_code == 0, result.output
    return directory


def test_init_writes_the_project_and_says_what_next(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["init", str(tmp_path / "My Phone Line!")])
    assert result.exit_code == 0, result.output
    directory = tmp_path / "My Phone Line!"
    written = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())
    assert written == [f.replace("line.yaml", "my-phone-line.yaml") for f in FILES]
    assert result.output.splitlines() == [
        f"ivr init: wrote a project for the flow 'my-phone-line' in {directory}:",
        *(f"  {f}" for f in written),
        "Next:",
        f"  cd '{directory}'",
        "  ivr check flows                     # prove the flow's guarantee",
        "  ivr call flows/my-phone-line.yaml   # be the caller in the terminal",
        "  ivr graph flows/my-phone-line.yaml  # draw the flow",
        "  pytest                              # run the call scripts against the real app (ivrkit[testing] and "
        "pytest)",
        "  ivr serve flows                     # the line itself, for Twilio (ivrkit[line])",
    ]


def test_init_without_dir_writes_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["init", "--name", "helpdesk"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "flows" / "helpdesk.yaml").is_file()
    assert "  cd " not in result.output


@pytest.mark.parametrize(("directory", "name"), [
    ("acme", "acme"),
    ("My Phone Line!", "my-phone-line"),
    ("support_2024", "support_2024"),
    ("--weird--", "weird"),
    ("!!!", "line"),
])
def test_the_flow_is_named_after_the_directory(tmp_path: Path, directory: str, name: str) -> None:
    assert flow_name_for(tmp_path / directory) == name


def test_the_flow_is_fair_and_has_no_findings(project: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(project / "flows"), "--format", "json"])
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.output)["flows"]
    assert (report["name"], report["ok"], report["within"], report["findings"]) == ("line", True, 4, [])


def test_the_flow_points_editors_at_the_installed_schema(project: Path) -> None:
    import jsonschema
    from ruamel.yaml import YAML

    text = (project / "flows" / "line.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=flow.schema.json\n")
    schema = json.loads((project / "flows" / "flow.schema.json").read_text())
    assert schema == flow_schema()
    jsonschema.validate(YAML(typ="safe", pure=True).load(text), schema)  # as an editor reads it: YAML 1.2


@pytest.mark.parametrize("script", ["cancel-fast", "keypad", "takes-the-offer"])
def test_the_call_scripts_pass_against_the_real_app(project: Path, tmp_path: Path, script: str) -> None:
    app = local_app([project / "flows"], tmp_path)
    sim = Simulator(app, auth_token=token_of(app))
    try:
        result = run_script(load_script(project / "tests" / "calls" / f"{script}.call.yaml"), sim)
    finally:
        sim.close()
        app.extensions["ivr"].store.close()
    assert result.ok, result.report()


def test_pytest_settings_name_the_flows(project: Path) -> None:
    import tomllib

    settings = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert (settings["testpaths"], settings["ivr_flows"]) == (["tests", "audio"], ["flows"])
    assert "ivr-calls.db" in (project / ".gitignore").read_text().splitlines()


def test_the_readmes_name_this_flow(project: Path) -> None:
    readme = (project / "README.md").read_text()
    for command in ("ivr check flows", "ivr call flows/line.yaml", "ivr graph flows/line.yaml", "pytest",
                    "ivr serve flows"):
        assert f"\n{command} " in readme, command
    audio = (project / "audio" / "README.md").read_text()
    assert "flow: line " in audio
    assert "NAME.expect.yaml" in audio
    assert "__NAME__" not in "".join(project_files("line").values())


def test_init_refuses_to_overwrite_and_lists_the_files(tmp_path: Path) -> None:
    project = tmp_path / "line"
    assert CliRunner().invoke(main, ["init", str(project)]).exit_code == 0
    (project / "flows" / "line.yaml").write_text("mine")
    (project / "README.md").unlink()
    result = CliRunner().invoke(main, ["init", str(project)])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"error: {project}: {len(FILES) - 1} file(s) ivr init writes exist already; nothing was written. Choose "
        "another directory, or overwrite them with --force:",
        *(f"  {project / f}" for f in FILES if f != "README.md"),
    ]
    assert (project / "flows" / "line.yaml").read_text() == "mine"
    assert not (project / "README.md").exists()
    result = CliRunner().invoke(main, ["init", str(project), "--force"])
    assert result.exit_code == 0, result.output
    assert (project / "flows" / "line.yaml").read_text() == project_files("line")["flows/line.yaml"]
    assert (project / "README.md").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--name", "my line"], "error: --name 'my line' is not a valid flow name: use letters, digits, '_' and '-' "
                            "(it is also the webhook path, /voice/NAME)"),
    (["--name", ""], "error: --name '' is not a valid flow name"),
])
def test_a_bad_name_is_refused(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["init", str(tmp_path / "p"), *args])
    assert result.exit_code == 2
    assert result.output.startswith(message)
    assert not (tmp_path / "p").exists()


def test_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    result = CliRunner().invoke(main, ["init", str(tmp_path / "f")])
    assert result.exit_code == 2
    assert f"Directory {str(tmp_path / 'f')!r} is a file." in result.output
