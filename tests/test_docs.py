"""Every fenced code block of README.md and docs/**/*.md is run, by its language, so the docs cannot drift.

- `sh` / `console`: a real bash (`-e -o pipefail`) in the page's own copy of the project (flows/, audio/,
  tests/calls, tests/flows, docs/examples); every command must succeed, unless a marker gives the exit status.
  In a `console` block, the lines starting with `$ ` are the commands and the rest is output.
- `yaml`: a flow (it has `nodes`) is loaded with `parse_flow` and must pass `check` with no finding; a call
  script (it has `steps`) is played by the simulator against the real app serving the page's flows and must
  pass; a sidecar (`flow` without `steps`) must parse. Anything else fails.
- `python`: executed in the page's directory; a block that defines `test_...` functions is run with pytest (the
  ivr plugin serving the page's flows/), and must pass.
- `text`: output samples, never executed. Any other language, or a block with none, fails
  `test_every_block_is_handled`.

A marker comment on the line before a fence changes how it runs, visibly in the Markdown source:
`<!-- docs-test: OPTION[=VALUE] ... -->` with the options in `OPTIONS`.

Blocks of one page share its directory and run in order: a block first runs the page's earlier blocks that have
not run yet in this session (so `ivr synth ... -o call.wav` comes before the Python that reads call.wav); a block
that is not slow runs only the earlier blocks that are not slow either, so it must not need what a slow one makes.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from ivr.errors import FlowError
from ivr.flow.loader import parse_flow
from ivr.proof.report import check
from tests.conftest import shared_transcripts

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LANGUAGES = ("sh", "console", "yaml", "python", "text")
#: marker option -> what it does
OPTIONS = {
    "exit": "sh: the exit status the block must end with (default 0)",
    "file": "the block is exactly this file of the repository (and is then run as its language says)",
    "fails": "yaml flow: must fail to load, or fail the check, with this problem or finding code",
    "server": "sh: starts a server that runs until stopped; it must answer GET /healthz with 200, then is stopped "
              "(the port in the block is replaced by a free one)",
    "make": "sh: `make TARGET...` lines, dry-run with `make -n` in the repository (they install and run everything)",
    "install": "sh: `pip install` lines (no network here): each extra named must exist in pyproject.toml",
    "app": "yaml call script: played against this app in-process (FILE.py:NAME in the page's copy, as `ivr crawl` "
           "names one) instead of ivr's app serving the page's flows",
    "slow": "real audio or speech recognition: the block's test is marked slow",
}
#: what each page's copy of the project holds
PROJECT = ("flows", "audio", "tests/calls", "tests/flows", "docs/examples")
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>\S*)\s*$")
MARKER = re.compile(r"^\s*<!-- docs-test: (?P<options>.*?) -->\s*$")
VENV_BIN = str(Path(sys.executable).parent)


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository
    line: int  # of the opening fence
    lang: str
    body: str
    options: tuple[tuple[str, str], ...] = ()

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    def option(self, name: str) -> str | None:
        return dict(self.options).get(name)


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, start = opening.group("indent"), i
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].rstrip() != f"{indent}```":
            body.append(lines[i].removeprefix(indent))
            i += 1
        assert i < len(lines), f"{path}:{start + 1}: the code block is never closed"
        before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(before)
        options = tuple((k, v) for k, _, v in (o.partition("=") for o in marker.group("options").split())) \
            if marker else ()
        found.append(Block(str(path.relative_to(ROOT)), start + 1, opening.group("lang"), "\n".join(body) + "\n",
                           options))
        i += 1
    return found


BLOCKS = [b for page in PAGES for b in blocks_of(page)]
RUN = [pytest.param(b, id=b.id, marks=[pytest.mark.slow] if b.option("slow") is not None else [])
       for b in BLOCKS if b.lang != "text"]


def test_pages_have_blocks() -> None:
    assert len(PAGES) >= 10, PAGES
    assert len(RUN) >= 20, len(RUN)


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_every_block_is_handled(block: Block) -> None:
    assert block.lang in LANGUAGES, (f"{block.id}: a ```{block.lang} block would be skipped silently; fence it as one "
                                     f"of {list(LANGUAGES)} (output samples as text)")
    unknown = [k for k, _ in block.options if k not in OPTIONS]
    assert not unknown, f"{block.id}: unknown docs-test option(s) {unknown}; known: {sorted(OPTIONS)}"
    if block.lang == "text":
        assert not block.options, f"{block.id}: a text block is never run, so its marker means nothing"


def test_readme_is_a_front_door() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < 200
    text = "\n".join(lines)
    assert "make demo" in text
    assert "make test" in text


# -- running a block ------------------------------------------------------------------------------------------

@dataclass
class Pages:
    """Each page's directory (a copy of the project), and the blocks that have run in it."""

    base: Path
    dirs: dict[str, Path] = field(default_factory=dict)
    done: dict[str, set[Block]] = field(default_factory=dict)

    def dir(self, page: str) -> Path:
        if page not in self.dirs:
            target = self.base / re.sub(r"\W+", "-", page)
            for part in PROJECT:
                shutil.copytree(ROOT / part, target / part)
            self.dirs[page] = target
        return self.dirs[page]


@pytest.fixture(scope="session")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Pages:
    CACHE["dir"] = shared_transcripts(tmp_path_factory)
    return Pages(tmp_path_factory.mktemp("docs"))


#: the transcript cache the blocks share with the rest of the run (tests.conftest.shared_transcripts)
CACHE: dict[str, Path] = {}


def environment(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("IVR_", "PYTEST_")) and k != "TWILIO_AUTH_TOKEN"}
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env["IVR_CACHE_DIR"] = str(CACHE.get("dir", directory.parent / "cache"))  # shared: a transcript is made once
    return env


def run_block(block: Block, pages: Pages) -> None:
    """Run `block` in its page's directory, after the page's earlier blocks."""
    page = [b for b in BLOCKS if b.page == block.page and b.lang != "text"]
    directory = pages.dir(block.page)
    ran = pages.done.setdefault(block.page, set())
    slow = block.option("slow") is not None
    for earlier in page[:page.index(block)]:
        if earlier not in ran and (slow or earlier.option("slow") is None):  # a fast block needs no slow one
            _run(earlier, directory)
            ran.add(earlier)
    _run(block, directory)
    ran.add(block)


def _run(block: Block, directory: Path) -> None:
    path = block.option("file")
    if path is not None:
        assert (ROOT / path).read_text(encoding="utf-8") == block.body, f"{block.id}: differs from {path}"
    {"sh": _shell, "console": _shell, "yaml": _yaml, "python": _python}[block.lang](block, directory)


@pytest.mark.parametrize("block", RUN)
def test_block(block: Block, pages: Pages) -> None:
    run_block(block, pages)


# -- sh and console -------------------------------------------------------------------------------------------

def commands(block: Block) -> str:
    if block.lang == "console":
        return "\n".join(line[2:] for line in block.body.splitlines() if line.startswith("$ ")) + "\n"
    return block.body


def _lines(block: Block) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in commands(block).splitlines()
            if line.split("#", 1)[0].strip()]


def _shell(block: Block, directory: Path) -> None:
    if block.option("install") is not None:
        _install(block)
    elif block.option("make") is not None:
        for line in _lines(block):
            words = line.split()
            assert words[0] == "make", f"{block.id}: {line!r} is not `make TARGET`"
            assert len(words) > 1, f"{block.id}: {line!r} names no target"
            done = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, f"{block.id}: make -n {words[1:]}: {done.stderr}"
    elif block.option("server") is not None:
        _server(block, directory)
    else:
        want = int(block.option("exit") or 0)
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", commands(block)], cwd=directory,
                              env=environment(directory), capture_output=True, text=True, timeout=600)
        assert done.returncode == want, (f"{block.id}: exit {done.returncode}, expected {want}\n"
                                         f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}")


def _install(block: Block) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for line in _lines(block):
        found = re.fullmatch(r"pip install '?([\w-]+)(?:\[([\w,]+)\])?'?", line)
        assert found, f"{block.id}: {line!r} is not `pip install NAME` or `pip install 'NAME[EXTRA]'`"
        assert found.group(1) == project["name"], f"{block.id}: the distribution is {project['name']!r}"
        for extra in (found.group(2) or "").split(","):
            assert not extra or extra in project["optional-dependencies"], f"{block.id}: no extra {extra!r}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server(block: Block, directory: Path) -> None:
    port = _free_port()
    script, count = re.subn(r"(--port |-b [\d.]+:)\d+", rf"\g<1>{port}", commands(block))
    assert count == 1, f"{block.id}: a server block names its port once (--port N or -b HOST:N)"
    log = directory / f"server-{block.line}.log"
    with log.open("w") as out:
        server = subprocess.Popen(["bash", "-e", "-c", script], cwd=directory, env=environment(directory),
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"{block.id}: the server exited {server.returncode}:\n{log.read_text()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, f"{block.id}: no answer at /healthz:\n{log.read_text()}"
                time.sleep(0.2)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# -- yaml -----------------------------------------------------------------------------------------------------

def _yaml(block: Block, directory: Path) -> None:
    data = yaml.safe_load(block.body)  # only to tell the kinds apart; ivr reads each its own way
    assert isinstance(data, dict), f"{block.id}: a yaml block is a flow, a call script or a sidecar"
    if "nodes" in data:
        _flow(block)
    elif "steps" in data:
        _script(block, directory) if block.option("app") is None else _script_for_app(block, directory)
    elif "flow" in data:
        from ivr.testing.sidecar import parse_sidecar

        sidecar = parse_sidecar(block.body, f"{block.id}.expect.yaml", directory / "calls" / "call.wav")
        assert sidecar.flow
    else:
        pytest.fail(f"{block.id}: not a flow (nodes), a call script (steps) or a sidecar (flow): {sorted(data)}")


def _flow(block: Block) -> None:
    code = block.option("fails")
    try:
        flow, source = parse_flow(block.body, block.id)
    except FlowError as exc:
        problems = exc
    else:
        problems = None
    if problems is not None:
        assert code is not None, f"{block.id}: the flow does not load:\n{problems}"
        assert code in {p.code for p in problems.problems}, f"{block.id}: expected {code!r}, got:\n{problems}"
        return
    report = check(flow, lines={path[1]: line for path, line in source.lines.items()
                                if len(path) == 2 and path[0] == "nodes"})
    if code is None:
        assert report.ok, f"{block.id}: {report.summary}; {report.findings}"
        assert not report.findings, f"{block.id}: a flow shown as an example has no finding: {report.findings}"
    else:
        assert not report.ok, f"{block.id}: expected to fail with {code!r}: {report.summary}"
        assert code in {x.code for x in report.findings}, f"{block.id}: expected {code!r}: {report.findings}"


def _script(block: Block, directory: Path) -> None:
    from ivr.line.app import local_app, token_of
    from ivr.testing.scripts import parse_script, run_script
    from ivr.testing.sim import Simulator

    store = directory / f"store-{block.line}"
    store.mkdir()
    app = local_app([directory / "flows", directory / "docs" / "examples"], store)
    sim = Simulator(app, auth_token=token_of(app))
    try:
        result = run_script(parse_script(block.body, f"{block.id}.call.yaml"), sim)
    finally:
        sim.close()
        app.extensions["ivr"].store.close()
    assert result.ok, result.report()


def _script_for_app(block: Block, directory: Path) -> None:
    """A script for an app that is not built with ivr, as a QA engineer runs one against their own line."""
    from ivr.testing.scripts import parse_script, run_script
    from ivr.testing.sim import Simulator
    from ivr.testing.targets import load_app

    sim = Simulator(load_app(str(directory / str(block.option("app")))), auth_token="docs")
    try:
        result = run_script(parse_script(block.body, f"{block.id}.call.yaml"), sim)
    finally:
        sim.close()
    assert result.ok, result.report()


# -- python ---------------------------------------------------------------------------------------------------

def _python(block: Block, directory: Path) -> None:
    if re.search(r"^def test_", block.body, re.MULTILINE):
        test = directory / f"test_block_{block.line}.py"
        test.write_text(block.body, encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test.name],
                              cwd=directory, env=environment(directory), capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, f"{block.id}:\n{done.stdout}\n{done.stderr}"
        assert " passed" in done.stdout, f"{block.id}: no test ran:\n{done.stdout}"
        return
    here = Path.cwd()
    os.chdir(directory)
    try:
        exec(compile(block.body, block.id, "exec"), {"__name__": "__docs__"})  # noqa: S102 - the docs' own code
    finally:
        os.chdir(here)


# -- what the hook generates, and the registry it reads -------------------------------------------------------

def load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hook_replaces_every_marker() -> None:
    hooks = load_hooks()
    used = set()
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        used |= set(hooks.MARKER.findall(text))
        assert "<!-- generated:" not in hooks.generate(text, str(page))
    assert used == set(hooks.GENERATORS), "every generator is used by a page"
    with pytest.raises(ValueError, match=r"unknown marker <!-- generated: nope -->; known: \['builtin-intents'"):
        hooks.generate("<!-- generated: nope -->\n")


def test_generated_references_hold_the_code() -> None:
    from ivr.line.settings import ENVIRONMENT
    from ivr.proof.canceller import CANCEL_PHRASINGS
    from ivr.proof.lint import CODES

    hooks = load_hooks()
    cli = hooks.cli()
    for command in ("ivr check", "ivr calls list", "ivr cancellations list", "ivr serve", "ivr replay"):
        assert f"`{command}`" in cli
        assert f"Usage: {command} " in cli
    assert "--emit-scripts DIR" in cli
    flow_format = hooks.flow_format()
    for key in ("`guarantee`", "`min_confidence`", "`finish_on_key`", "### ConfirmNode", "### Handler"):
        assert key in flow_format
    assert all(f"`{code}`" in hooks.findings() for code in CODES)
    assert all(f'"{p}"' in hooks.cancel_phrasings() for p in CANCEL_PHRASINGS)
    assert all(f"`{variable}`" in hooks.settings() for variable, _ in ENVIRONMENT.values())
    assert "`main_menu`" in hooks.builtin_intents()


def test_every_finding_code_is_registered() -> None:
    """`Finding(severity, code, ...)` in the proof uses a code of `CODES`, with its severity, and every code is
    used: the findings reference cannot list a code the checker never reports, nor miss one."""
    from ivr.proof.lint import CODES

    used: dict[str, str] = {}
    for path in (ROOT / "ivr" / "proof").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Finding" and len(node.args) >= 2:
                severity, code = node.args[0], node.args[1]
                assert isinstance(severity, ast.Constant), f"{path}:{node.lineno}: the severity is not a literal"
                assert isinstance(code, ast.Constant), f"{path}:{node.lineno}: the code is not a literal"
                used[code.value] = severity.value
                assert code.value in CODES, f"{path}:{node.lineno}: {code.value!r} is not in ivr.proof.lint.CODES"
                assert CODES[code.value][0] == severity.value, f"{path}:{node.lineno}: severity of {code.value!r}"
    assert set(used) == set(CODES)


def test_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="mkdocs is in the dev extra")
    done = subprocess.run([VENV_BIN + "/mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").is_file()
