"""The built wheel in fresh virtualenvs, as a user installs it, with nothing of this repository on the path.

- The base install (the wheel with `--no-deps`, plus only click, pydantic and PyYAML from PyPI) runs `ivr init`,
  `check`, `graph`, `call` and `schema`; a command that needs an extra exits 2 with one line naming the
  `pip install 'ivrkit[...]'` to run, and so does the pytest plugin.
- `ivrkit[testing]` (its dependencies from PyPI, the wheel itself from the build directory) runs `pytest` in a
  project made by `ivr init`, from the project's root and from its subdirectories.

The wheel is built once per session from a copy of the sources (setuptools writes `build/` beside them), and pip
installs from PyPI (through its cache). About 40 s on 2 cores, most of it pip installing `[testing]`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from email.parser import Parser
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
#: what a newcomer types, in the text form of `ivr call`: cancel, the account number by keypad, cancel, yes
CANCEL = "cancel\n#12345678\ncancel\nyes\n"
NEEDS = re.compile(r"error: ivr [a-z -]+ needs ivrkit\[(?P<extra>[a-z,]+)\] \([a-z_]+ is not installed\): "
                   r"pip install 'ivrkit\[(?P=extra)\]'")


def run(args: Sequence[str | Path], *, cwd: Path | None = None, bin_dir: Path | None = None, input: str | None = None,
        env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A command as in a fresh shell with the venv `bin_dir` activated: nothing of this repository's venv, and
    none of the outer test run's settings."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "TWILIO_AUTH_TOKEN")
             and not k.startswith(("PYTEST_", "IVR_", "PIP_REQUIRE"))}
    if bin_dir is not None:
        clean |= {"PATH": f"{bin_dir}{os.pathsep}{clean.get('PATH', '')}", "VIRTUAL_ENV": str(bin_dir.parent)}
    result = subprocess.run([str(a) for a in args], cwd=cwd, input=input, capture_output=True, text=True,
                            env=clean | (env or {}), timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def make_venv(path: Path, *requirements: str, find_links: Path | None = None, no_deps: str = "") -> Path:
    run([sys.executable, "-m", "venv", path])
    bin_dir = path / "bin"
    pip = [bin_dir / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if no_deps:
        run([*pip, "--no-deps", no_deps])
    if requirements:
        run([*pip, *(["--find-links", str(find_links)] if find_links else []), *requirements])
    return bin_dir


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source, dist = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "ivr", source / "ivr", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    run([sys.executable, "-m", "build", "--wheel", "--outdir", dist, source])
    [built] = dist.glob("ivrkit-*.whl")
    return built


@pytest.fixture(scope="module")
def base(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with the base install: the wheel alone, and click, pydantic and PyYAML from PyPI."""
    return make_venv(tmp_path_factory.mktemp("venv") / "base", "click", "pydantic", "PyYAML", no_deps=str(wheel))


@pytest.fixture(scope="module")
def project(base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project made by the base install's `ivr init`, in a directory that is nothing of this repository."""
    where = tmp_path_factory.mktemp("work")
    result = run([base / "ivr", "init", "phone line"], cwd=where, bin_dir=base)
    assert "Next:" in result.stdout
    return where / "phone line"


def test_the_wheel_holds_the_templates_and_needs_only_the_base_libraries(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {str(p.relative_to(ROOT)) for p in (ROOT / "ivr" / "cli" / "templates").rglob("*") if p.is_file()
                 and "__pycache__" not in p.parts}
    assert templates
    assert templates <= names
    assert "ivr/py.typed" in names
    assert "ivr/speech/decision.json" in names  # the decision rule replay loads (ivr.speech.decide.load_model)
    migrations = {str(p.relative_to(ROOT)) for p in (ROOT / "ivr" / "line" / "migrations").rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts}
    assert migrations <= names  # `ivr db upgrade` runs them from the installed package
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names)
    assert not [n for n in names if n.startswith(("tests/", "flows/", "bench/", "docs/"))]
    [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
    requires = Parser().parsestr(zipfile.ZipFile(wheel).read(metadata).decode()).get_all("Requires-Dist") or []
    assert sorted(re.split(r"[<>=;\[ ]", r)[0] for r in requires if "extra ==" not in r) == \
        ["PyYAML", "click", "pydantic"]


def test_base_install_init_and_check(base: Path, project: Path) -> None:
    assert sorted(p.name for p in (project / "flows").iterdir()) == ["flow.schema.json", "phone-line.yaml"]
    result = run([base / "ivr", "check", "flows"], cwd=project, bin_dir=base)
    assert result.stdout.startswith("flows/phone-line.yaml: ok - a caller who keeps asking to cancel reaches "
                                    "'cancelled' within 4 turn(s)")


def test_base_install_graph_call_and_schema(base: Path, project: Path) -> None:
    graph = run([base / "ivr", "graph", "flows/phone-line.yaml"], cwd=project, bin_dir=base).stdout
    assert graph.startswith("flowchart TD\n")
    assert run([base / "ivr", "graph", "--format", "dot", "flows/phone-line.yaml"], cwd=project,
               bin_dir=base).stdout.startswith("digraph")
    call = run([base / "ivr", "call", "flows/phone-line.yaml"], cwd=project, bin_dir=base, input=CANCEL).stdout
    assert call.splitlines()[-1] == "-- call ended: cancelled"
    assert "Your service has been cancelled." in call
    schema = json.loads(run([base / "ivr", "schema"], cwd=project, bin_dir=base).stdout)
    assert schema == json.loads((project / "flows" / "flow.schema.json").read_text())


def test_base_install_imports_the_core_alone(base: Path) -> None:
    code = ("import sys, ivr; ivr.load_flow; ivr.Flow; "
            "print(sorted(m for m in ('flask', 'httpx', 'numpy', 'sqlalchemy') if m in sys.modules))")
    assert run([base / "python", "-c", code], bin_dir=base).stdout.strip() == "[]"


@pytest.mark.parametrize(("args", "extra"), [
    (["serve", "flows"], "line"),
    (["calls", "list"], "line"),
    (["cancellations", "list", "--format", "csv"], "line"),
    (["replay", "flows/phone-line.yaml", "tests/calls"], "testing"),
    (["synth", "tests/calls/keypad.call.yaml", "-o", "keypad.wav"], "speech"),
    (["call", "--url", "http://127.0.0.1:9", "phone-line"], "testing"),
])
def test_base_install_names_the_extra_a_command_needs(base: Path, project: Path, args: list[str],
                                                      extra: str) -> None:
    # no auth token: the missing extra is said first (`ivr serve`, `call --url` would otherwise ask for one)
    result = run([base / "ivr", *args], cwd=project, bin_dir=base, input="", env={"TWILIO_AUTH_TOKEN": ""},
                 check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    match = NEEDS.fullmatch(line)
    assert match, line
    assert match["extra"] == extra


def test_base_install_pytest_plugin_names_the_testing_extra(base: Path, project: Path) -> None:
    """With pytest but without `[testing]`: the plugin says what to install, for scripts and fixtures alike."""
    run([base / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "pytest"])
    result = run([base / "pytest", "-p", "no:cacheprovider", "--continue-on-collection-errors"], cwd=project,
                 bin_dir=base, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    needs = re.compile(r"ivr's pytest plugin needs ivrkit\[testing\] \([a-z_]+ is not installed\): "
                       r"pip install 'ivrkit\[testing\]'")
    # once per item as its own report (3 scripts, 2 tests); the short summary repeats them, cut to the width or not
    assert len([line for line in output.splitlines() if needs.fullmatch(line)]) == 5, output
    for noise in ("Traceback", "ModuleNotFoundError", "ImportError"):
        assert noise not in output


@pytest.fixture(scope="module")
def testing(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with `ivrkit[testing]` (pytest comes with it): the extra's libraries from PyPI, ivrkit from the built
    wheel."""
    return make_venv(tmp_path_factory.mktemp("venv") / "testing", "ivrkit[testing]", find_links=wheel.parent)


@pytest.mark.parametrize(("where", "passed"), [(".", 5), ("tests", 5), ("tests/calls", 3)])
def test_testing_install_runs_pytest_in_a_new_project_from_any_directory(
        testing: Path, tmp_path_factory: pytest.TempPathFactory, where: str, passed: int) -> None:
    work = tmp_path_factory.mktemp("work")
    run([testing / "ivr", "init", "line"], cwd=work, bin_dir=testing)
    result = run([testing / "pytest", "-p", "no:cacheprovider"], cwd=work / "line" / where, bin_dir=testing)
    assert re.search(rf"^=+ {passed} passed in [\d.]+s =+$", result.stdout, re.MULTILINE), result.stdout
