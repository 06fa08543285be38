"""The pytest plugin (entry point `pytest11: ivr`): call scripts become tests, and fixtures place calls from Python.

    def test_cancel_by_keypad(ivr_call):
        call = ivr_call("acme")
        call.say("cancel"); call.press("12345678")
        assert call.outcome == "cancelled" and call.turns <= 3

    def test_my_flask_line(ivr_simulator):           # any Twilio voice app, built by the test
        call = ivr_simulator(create_my_app()).call("/voice")
        call.press("2")
        assert "cancellation number" in call.prompt and not call.errors

- `*.call.yaml` files under the test paths are collected as tests, one per script; a failure prints the whole
  conversation beside what was expected.
- Recorded calls with a sidecar expectation file are collected as tests, one per sidecar (`ivr.testing.sidecar`):
  `calls/x.expect.yaml` names the flow and the outcome (and/or `within` N turns) that the recording beside it,
  `calls/x.wav` (or a directory `calls/x/` of per-turn clips), must reach when replayed (`ivr.testing.replay`) against
  the same line as the call scripts (`ivr.testing.plugin_recordings`). Speech is recognised offline by the
  sidecar's `stt`, else `--ivr-stt`, else `IVR_STT`, else by the flow's language (`--ivr-vosk-model` or
  `IVR_VOSK_MODEL` for Vosk); one recogniser per engine and language per session, transcripts cached on disk as
  for `ivr replay`. A failure prints what
  `ivr replay` prints for the call (each turn heard, with confidence, intent and node) and the conversation.
  A sidecar's `said` list (what the caller said at each turn) judges the call twice, on what was said and on
  what was heard: the failure then says whether the flow is unfair or the recogniser misheard a turn.
- Under pytest-xdist (`pytest -n N`) each worker process has a session of its own: its own app and store for
  the call scripts, its own recognisers (a model loads once per worker); the transcript cache on disk is shared.
- Fixtures: `ivr_app` (the real webhook app for the chosen flows, on a fresh SQLite store, with signature checks
  on), `ivr_sim` (a fake Twilio driving it, or a live line with `--ivr-url`), `ivr_call(flow or "/path",
  method=..., params=..., caller=...)` (no argument: the entry, `--ivr-entry`), and `ivr_simulator(target,
  auth_token=..., **options)`: a fake Twilio for an app the test builds (any WSGI app in-process, or any URL),
  closed at teardown.
- Choosing flows: `--ivr-flows PATH` (repeatable, relative to where pytest runs), the ini option `ivr_flows`
  (relative to the config file that sets it, so `pytest` works from any directory of a project), default
  `flows/` beside that file; per test, the marker `@pytest.mark.ivr_flows("flows/gym.yaml")` (relative to the
  config file too). `--ivr-url URL` runs the same scripts against a deployed line, any Twilio voice app (its
  auth token from `--ivr-auth-token` or `TWILIO_AUTH_TOKEN`); `--ivr-entry PATH` is where `ivr_call()` calls it
  (default: the URL itself), `--ivr-method GET` the entry request's method for `ivr_call` and for scripts that
  give none.

pytest imports this module in every run of every project that has ivr installed, so it imports nothing heavy
until a test asks for it (or a file it collects is a call script or a sidecar). What it then needs comes with
`ivrkit[testing]` (recordings: `[testing,speech]`); when that is not installed, the test or the collection fails
with the `pip install` to run (`MissingExtra`), not with an ImportError.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from ivr.errors import CallFailed, FlowFileError, IvrError, MissingExtra, UsageError
from ivr.files import kind_of

if TYPE_CHECKING:
    from ivr.line.app import App
    from ivr.testing.sim import Call, Simulator

_SESSION = pytest.StashKey[dict[str, Any]]()
METHODS = ("GET", "POST")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ivr", "ivr call flows")
    group.addoption("--ivr-flows", action="append", default=[], metavar="PATH",
                    help="flow file or directory the test app serves (repeatable; default: the ivr_flows ini "
                         "option, else flows/)")
    group.addoption("--ivr-url", default=None, metavar="URL",
                    help="run call scripts and ivr_call against this live line, any Twilio voice app, instead of an "
                         "in-process app serving the flows: scripts' paths and /voice/FLOW go under URL; ivr_call() "
                         "with no flow or path calls URL itself (or --ivr-entry under it). Or an app of your own to "
                         "run in-process: FILE.py:NAME or module:NAME")
    group.addoption("--ivr-entry", default=None, metavar="PATH",
                    help="the webhook path ivr_call() calls with no flow or path (default: --ivr-url's own path, "
                         "else /)")
    group.addoption("--ivr-method", type=str.upper, choices=METHODS, default=None,
                    help="the entry request's method for ivr_call and for call scripts that give none "
                         "(default: POST)")
    group.addoption("--ivr-auth-token", default=None, metavar="TOKEN",
                    help="auth token to sign requests to --ivr-url with (default: $TWILIO_AUTH_TOKEN)")
    group.addoption("--ivr-stt", choices=("vosk", "whisper"), default=None,
                    help="speech-to-text engine for recordings whose sidecar names none (default: $IVR_STT, else "
                         "vosk for Korean flows or a configured Vosk model, else whisper)")
    group.addoption("--ivr-vosk-model", default=None, metavar="DIR",
                    help="a Vosk model directory (default: $IVR_VOSK_MODEL)")
    group.addoption("--ivr-inconclusive", choices=("fail", "xfail"), default="fail",
                    help="a recorded call the recogniser cannot vouch for (a turn it could not tell): fail the test "
                         "with its own reason, or report it as an expected failure (default: fail)")
    group.addoption("--ivr-max-risk", type=_risk, default=None, metavar="R",
                    help="the largest share of wrong recognitions accepted (0-1): a turn the recogniser decides "
                         "with less margin is uncertain (default: $IVR_MAX_RISK, else the decision model's, 0.01)")
    parser.addini("ivr_flows", "flow files or directories the test app serves", type="linelist", default=[])


def _risk(value: str) -> float:
    try:
        risk = float(value)
    except ValueError:
        risk = -1.0
    if not 0.0 < risk < 1.0:
        raise pytest.UsageError(f"--ivr-max-risk or IVR_MAX_RISK {value!r}: give a share of wrong recognitions "
                                "between 0 and 1, e.g. 0.05")
    return risk


def _max_risk(config: pytest.Config) -> float | None:
    given = config.getoption("--ivr-max-risk")
    if given is None and os.environ.get("IVR_MAX_RISK", "").strip():
        given = _risk(os.environ["IVR_MAX_RISK"].strip())
    return given  # type: ignore[no-any-return]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ivr_flows(*paths): the flow files or directories this test's app serves "
                                       "(relative to the directory of pytest's config file)")
    config.stash[_SESSION] = {"risk": _max_risk(config)}  # a bad IVR_MAX_RISK stops the run here, not per test
    url = config.getoption("--ivr-url")
    if url and not _in_process(url) and not _token(config):
        raise pytest.UsageError("--ivr-url needs the line's auth token: --ivr-auth-token or TWILIO_AUTH_TOKEN")
    entry = config.getoption("--ivr-entry")
    if entry is not None and not entry.startswith("/"):
        raise pytest.UsageError(f"--ivr-entry {entry!r}: give the webhook's path, starting with '/', e.g. /voice")


def _in_process(url: str) -> bool:
    """Whether --ivr-url names an app to run in this process (FILE.py:NAME, module:NAME) rather than a URL."""
    from ivr.testing.targets import is_app

    return is_app(url)


def _token(config: pytest.Config) -> str:
    return str(config.getoption("--ivr-auth-token") or os.environ.get("TWILIO_AUTH_TOKEN", ""))


def pytest_unconfigure(config: pytest.Config) -> None:
    for closer in reversed(config.stash.get(_SESSION, {}).get("closers", [])):
        closer()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    kind = kind_of(file_path, by_content=False)  # by name: collection must not read every JSON file
    if kind == "script":
        return ScriptFile.from_parent(parent, path=file_path)
    if kind == "sidecar":
        from ivr.testing.plugin_recordings import SidecarFile

        return SidecarFile.from_parent(parent, path=file_path)
    return None


@contextmanager
def _extra(extra: str, what: str) -> Iterator[None]:
    """A library of `extra` that is not installed becomes `MissingExtra`, whose message names the pip command."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if not exc.name or exc.name.partition(".")[0] == "ivr":  # ivr itself is broken: not a missing extra
            raise
        raise MissingExtra(extra, what, exc.name) from None


def _config_file(config: pytest.Config) -> str:
    return str(config.inipath) if config.inipath else "pytest's config file (none was found: e.g. pyproject.toml)"


def _flow_paths(config: pytest.Config, marker: pytest.Mark | None) -> tuple[list[str], Path, str]:
    """The flow paths as given, the directory they are relative to, and where they were given (for messages).

    The command line's are relative to where pytest runs, like any path on a command line; the ini option's and a
    marker's are relative to the config file's directory, like a project's other settings, so that `pytest` run
    from any directory of the project serves the same flows."""
    project = config.inipath.parent if config.inipath else config.rootpath
    if marker is not None and marker.args:
        return [str(a) for a in marker.args], project, f"an ivr_flows marker's path, relative to {project}"
    if config.getoption("--ivr-flows"):
        return config.getoption("--ivr-flows"), config.invocation_params.dir, \
            "--ivr-flows's path, relative to where pytest runs"
    given = config.getini("ivr_flows")
    if given:
        return given, project, f"the ini option ivr_flows in {_config_file(config)}, relative to that file"
    return ["flows"], project, f"the default, as {_config_file(config)} sets no ini option ivr_flows"


def _flows(config: pytest.Config, marker: pytest.Mark | None = None) -> list[str]:
    given, base, _ = _flow_paths(config, marker)
    return [str(base / p) for p in given]  # an absolute p stays itself


def _served(config: pytest.Config, marker: pytest.Mark | None = None) -> list[str]:
    """The flows an in-process app serves, each of which must exist: one that does not names the path tried, where
    it came from, and how to give the flows."""
    given, base, source = _flow_paths(config, marker)
    for path in (base / p for p in given):
        if not path.exists():
            raise FlowFileError(f"{path}: no such flow file or directory ({source}). Give the flows with "
                                f"--ivr-flows PATH, or with the ini option ivr_flows in {_config_file(config)}")
    return _flows(config, marker)


def _local_app(config: pytest.Config, directory: str | Path, marker: pytest.Mark | None = None) -> App:
    with _extra("testing", "ivr's pytest plugin"):
        from ivr.line.app import local_app

    return local_app(_served(config, marker), directory)


def _simulator() -> type[Simulator]:
    with _extra("testing", "ivr's pytest plugin"):
        from ivr.testing.sim import Simulator
    return Simulator


def _build(config: pytest.Config, store_dir: str) -> tuple[Simulator, App | None]:
    """A simulator for the live line (--ivr-url), or for a fresh in-process app serving the chosen flows."""
    url = config.getoption("--ivr-url")
    if url and _in_process(url):  # FILE.py:NAME or module:NAME: the app in this process, no server
        from ivr.testing.targets import load_app, token

        return _simulator()(load_app(url, "--ivr-url"), auth_token=token(_token(config))), None
    if url:
        return _simulator()(url, auth_token=_token(config)), None
    app = _local_app(config, store_dir)
    from ivr.line.app import token_of

    return _simulator()(app, auth_token=token_of(app), status_callback=None), app


def _shared(config: pytest.Config) -> Simulator:
    """One app and simulator for all collected call scripts of the session (or, once, the error that stopped it)."""
    session = config.stash[_SESSION]
    if "error" in session:
        raise session["error"]
    if "sim" not in session:
        store_dir = tempfile.mkdtemp(prefix="ivr-scripts-")
        closers = session.setdefault("closers", [])
        closers.append(lambda: shutil.rmtree(store_dir, ignore_errors=True))  # run last: closers go in reverse
        try:
            sim, app = _build(config, store_dir)
        except IvrError as exc:  # every script reports it, and the app is not built again for each
            session["error"] = exc
            raise
        session["sim"] = sim
        closers.append(sim.close)
        if app is not None:
            closers.append(app.extensions["ivr"].store.close)
            session["served"] = {name: served.flow for name, served in app.extensions["ivr"].served.items()}
    return session["sim"]  # type: ignore[no-any-return]


class ScriptFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            with _extra("testing", "ivr's pytest plugin"):
                from ivr.testing.scripts import load_script
        except MissingExtra as exc:
            raise self.CollectError(str(exc)) from None
        try:
            script = load_script(self.path)
        except IvrError as exc:
            raise self.CollectError(f"invalid call script:\n{exc}") from None
        yield ScriptItem.from_parent(self, name=script.name, script=script)


class ScriptItem(pytest.Item):
    def __init__(self, *, script: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script = script

    def runtest(self) -> None:
        from ivr.testing.scripts import run_script

        result = run_script(self.script, _shared(self.config), method=self.config.getoption("--ivr-method") or "POST")
        if not result.ok:
            raise CallFailed(result.report())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, IvrError):  # a person's mistake: the message says it all
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, 0, f"call script {self.name}" + (f": {self.script.description}"
                                                           if self.script.description else "")


def _fail(exc: IvrError) -> NoReturn:
    """Fail a test with a person's mistake: its message alone, not chained to the exception that carried it."""
    __tracebackhide__ = True
    failure = pytest.fail.Exception(str(exc), pytrace=False)
    failure.__suppress_context__ = True
    raise failure


@pytest.fixture
def ivr_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    """The real webhook app serving the chosen flows, on a fresh SQLite store in tmp_path."""
    try:
        app = _local_app(request.config, tmp_path, request.node.get_closest_marker("ivr_flows"))
    except IvrError as exc:  # a flow that does not load, a missing extra: its message, not a traceback
        _fail(exc)
    yield app
    app.extensions["ivr"].store.close()


@pytest.fixture
def ivr_sim(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    """A fake Twilio for `ivr_app` (or for the live line given with --ivr-url)."""
    try:
        if request.config.getoption("--ivr-url"):
            sim, _ = _build(request.config, "")
        else:
            app = request.getfixturevalue("ivr_app")
            from ivr.line.app import token_of

            sim = _simulator()(app, auth_token=token_of(app))
    except MissingExtra as exc:
        _fail(exc)
    yield sim
    sim.close()


@pytest.fixture
def ivr_call(request: pytest.FixtureRequest, ivr_sim: Simulator) -> Callable[..., Call]:
    """`ivr_call("acme")` calls a flow of a line built with ivr (/voice/acme); `ivr_call("/voice")` any webhook
    path; `ivr_call()` the entry (--ivr-entry, else --ivr-url's own path, else /). `method` (default
    --ivr-method, else POST), `params` (request parameters: FromCity, CallToken...) and the simulator's other
    options (caller=..., dial_answer="no-answer", dial={...}) go to the call."""
    config = request.config

    def place(target: str | None = None, *, method: str | None = None, params: dict[str, str] | None = None,
              **options: Any) -> Call:
        try:
            path = _target_path(config, target)
        except UsageError as exc:
            _fail(exc)
        method = (method or config.getoption("--ivr-method") or "POST").upper()
        return ivr_sim.call(path, method=method, params=params, **options)

    return place


def _target_path(config: pytest.Config, target: str | None) -> str:
    if target is None:
        from ivr.testing.script_setup import entry_path

        url = config.getoption("--ivr-url")
        return entry_path(url, entry=config.getoption("--ivr-entry")) if url and not _in_process(url) else \
            config.getoption("--ivr-entry") or "/"
    if target.startswith("/"):
        return target
    if not re.fullmatch(r"[A-Za-z0-9_-]+", target):
        raise UsageError(f"ivr_call({target!r}): give a flow's name (letters, digits, '_' and '-') or a webhook "
                         "path starting with '/'")
    return f"/voice/{target}"


@pytest.fixture
def ivr_simulator(request: pytest.FixtureRequest) -> Iterator[Callable[..., Simulator]]:
    """`ivr_simulator(target, auth_token=..., **options)`: a fake Twilio for a target the test builds, any WSGI app
    in-process (Flask, Django's WSGI handler...) or any URL, with the simulator's options (params=...,
    status_callback=..., timeout=...). Signed with `auth_token`, else --ivr-auth-token or TWILIO_AUTH_TOKEN, else
    a placeholder for an app that does not check signatures. Each is closed at the end of the test."""
    made: list[Simulator] = []

    def build(target: Any, *, auth_token: str | None = None, **options: Any) -> Simulator:
        try:
            from ivr.testing.targets import token

            sim = _simulator()(target, auth_token=token(auth_token or _token(request.config)), **options)
        except MissingExtra as exc:
            _fail(exc)
        made.append(sim)
        return sim

    yield build
    for sim in made:
        sim.close()
