"""Replaying at scale, on a real Dask cluster: `ivr replay -j 2` (a LocalCluster of 2 worker processes made by the
command), `--scheduler` (a cluster this module starts), `replay_all` from Python, and the pytest plugin under
pytest-xdist (`-n 2`). Most callers only press keys, so no recogniser model loads: the verdicts must be those of
`-j 1`, in the order of the recordings, with an unreadable recording failing alone, named; the one test with
speech checks that the workers share the transcript cache.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import dask
import pytest
from click.testing import CliRunner, Result
from distributed import Client, LocalCluster

import ivr.testing.batch as batching
import ivr.testing.replay as replaying
from ivr.cli.main import main
from ivr.testing.batch import Job, Setup, replay_all
from ivr.testing.replay import recordings
from tests.conftest import ACME, ROOT
from tests.testing.test_replay import PRESSES_BILLING, PRESSES_CANCEL, keypad

pytestmark = pytest.mark.slow  # worker processes take seconds to start on 2 cores: about 30 s for the module

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five recordings, named so that their order is not the order a cluster finishes them in."""
    here = tmp_path_factory.mktemp("calls")
    keypad(here / "a-cancel.wav", PRESSES_CANCEL)
    keypad(here / "b-billing.wav", PRESSES_BILLING)
    (here / "c-corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt not really")
    keypad(here / "d-cancel.wav", PRESSES_CANCEL)
    keypad(here / "e-billing.wav", PRESSES_BILLING)
    return here


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """An existing cluster of 2 worker processes, as `--scheduler` finds one; a task whose worker dies fails at
    once (Dask would otherwise give it to up to 3 more workers)."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
            silence_logs=logging.CRITICAL) as started:
        yield started


def run_replay(*args: str | Path, cache: Path) -> Result:
    # about running on Dask, not how sure Whisper is: 10% wrong recognitions accepted (see test_replay.RISK)
    return CliRunner(env={"IVR_CACHE_DIR": str(cache), "IVR_MAX_RISK": "0.1"}).invoke(
        main, ["replay", str(ACME), *map(str, args)])


@pytest.fixture(scope="module")
def in_process(calls: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """What `-j 1` prints (in this process, no cluster): the verdicts to get from any cluster."""
    result = run_replay(calls, "--within", "4", "--format", "json", cache=tmp_path_factory.mktemp("cache"))
    assert result.exit_code == 1, result.output
    verdicts = json.loads(result.stdout)["calls"]
    assert [(Path(v["recording"]).name, v["ok"]) for v in verdicts] == [
        ("a-cancel.wav", True), ("b-billing.wav", False), ("c-corrupt.wav", False), ("d-cancel.wav", True),
        ("e-billing.wav", False)]
    assert verdicts[2]["reasons"] == ["the recording could not be read"]
    return result.stdout


def test_j_2_replays_on_a_local_cluster_of_its_own(calls: Path, in_process: str, tmp_path: Path) -> None:
    result = run_replay(calls, "--within", "4", "--format", "json", "-j", "2", cache=tmp_path)
    assert result.exit_code == 1, result.output
    assert result.stdout == in_process  # the same verdicts, in the order of the recordings
    progress = result.stderr.splitlines()
    assert progress_names(progress[:5]) == sorted(p.name for p in calls.iterdir())
    assert progress[5:] == ["cache: 0 heard, 0 from the cache"]


def test_workers_share_the_transcript_cache(tmp_path: Path) -> None:
    """Speech heard by Whisper in one run is, in a run on 2 workers, read from the cache by both: none is heard
    again (so no worker loads a model)."""
    spoken = [ROOT / "audio" / "acme" / f"{name}.wav" for name in ("tech-support", "cancel-persistent")]
    first = run_replay(*spoken, "--format", "json", cache=tmp_path)
    assert first.exit_code == 0, first.output
    heard = int(first.stderr.splitlines()[-1].split()[1])
    assert heard >= 4
    assert first.stderr.splitlines()[-1] == f"cache: {heard} heard, 0 from the cache"
    again = run_replay(*spoken, "--format", "json", "-j", "2", cache=tmp_path)
    assert again.exit_code == 0, again.output
    assert again.stderr.splitlines()[-1] == f"cache: 0 heard, {heard} from the cache"
    assert again.stdout == first.stdout


def progress_names(lines: list[str]) -> list[str]:
    """The recordings named by progress lines (`[3/5] ok a-cancel.wav`), which come as the calls finish."""
    assert [line.split(" ")[0] for line in lines] == [f"[{n}/{len(lines)}]" for n in range(1, len(lines) + 1)]
    for line in lines:
        assert line.split(" ")[1] == ("ok" if "cancel.wav" in line else "FAIL"), line
    return sorted(line.rsplit(" ", 1)[1] for line in lines)


def test_scheduler_replays_on_an_existing_cluster(calls: Path, in_process: str, cluster: LocalCluster,
                                                  tmp_path: Path) -> None:
    result = run_replay(calls, "--within", "4", "--format", "json", "--scheduler", cluster.scheduler_address,
                        cache=tmp_path)
    assert result.exit_code == 1, result.output
    assert result.stdout == in_process
    assert progress_names(result.stderr.splitlines()[:5]) == sorted(p.name for p in calls.iterdir())


def test_replay_all_from_python(calls: Path, in_process: str, cluster: LocalCluster, tmp_path: Path) -> None:
    jobs = [Job(p, within=4, expect="cancelled") for p in recordings([calls])]
    setup = Setup("acme", (str(ACME),), cache_dir=str(tmp_path / "transcripts"), cwd=str(ROOT), risk=0.1)
    finished: list[tuple[int, str]] = []
    batch = replay_all(jobs, setup, scheduler=cluster.scheduler_address,
                       done=lambda n, verdict: finished.append((n, Path(verdict.recording).name)))
    assert json.loads(json.dumps([v.to_json() for v in batch.verdicts])) == json.loads(in_process)["calls"]
    assert [n for n, _ in finished] == [1, 2, 3, 4, 5]
    assert sorted(name for _, name in finished) == sorted(p.name for p in calls.iterdir())
    assert (batch.heard, batch.cached, batch.workers) == (0, 0, 2)


def explode_on(name: str) -> None:
    """Run on each worker: replaying a recording called `name` kills the worker's process, as the kernel's
    out-of-memory killer would."""
    real = replaying.recording

    def recording(source: str | Path, channel: int | None = None) -> object:
        if Path(source).name == name:
            os._exit(1)
        return real(source, channel)

    replaying.recording = recording  # type: ignore[assignment]


def test_a_worker_that_dies_fails_its_call_with_a_clear_error(calls: Path, cluster: LocalCluster) -> None:
    with Client(cluster, set_as_default=False) as client:
        client.run(explode_on, "b-billing.wav")
    jobs = [Job(calls / "b-billing.wav", within=4)]
    started = time.monotonic()
    batch = replay_all(jobs, Setup("acme", (str(ACME),), cwd=str(ROOT)), scheduler=cluster.scheduler_address)
    assert time.monotonic() - started < 30
    [verdict] = batch.verdicts
    assert (verdict.recording, verdict.ok, verdict.reasons) == (str(calls / "b-billing.wav"), False,
                                                                 ["it could not be replayed"])
    assert verdict.errors == ["the Dask worker replaying it died (killed, or out of memory), and so did any it was "
                              "given to again (distributed.scheduler.allowed-failures)"]


def test_a_cluster_without_workers_fails_the_calls_instead_of_waiting(calls: Path, monkeypatch: pytest.MonkeyPatch) \
        -> None:
    monkeypatch.setattr(batching, "NO_WORKERS_TIMEOUT", 1.0)
    with LocalCluster(n_workers=0, processes=True, dashboard_address=":0", silence_logs=logging.CRITICAL) as empty:
        batch = replay_all([Job(calls / "a-cancel.wav")], Setup("acme", (str(ACME),), cwd=str(ROOT)),
                           scheduler=empty.scheduler_address)
    [verdict] = batch.verdicts
    assert verdict.errors == ["no Dask worker was left to replay it for 1 s (the cluster lost its workers)"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("address", "message"), [
    ("tcp://127.0.0.1:{port}", "error: --scheduler 'tcp://127.0.0.1:{port}': cannot reach a Dask scheduler there "
                               "(Timed out trying to connect to tcp://127.0.0.1:{port} after 5 s); give the address "
                               "`dask scheduler` prints, e.g. tcp://HOST:8786\n"),
    ("localhost", "error: --scheduler 'localhost': cannot reach a Dask scheduler there (missing port number in "
                  "address 'localhost'); give the address `dask scheduler` prints, e.g. tcp://HOST:8786\n"),
])
def test_a_bad_scheduler_address_is_a_usage_error(calls: Path, tmp_path: Path, address: str, message: str) -> None:
    port = free_port()
    started = time.monotonic()
    result = run_replay(calls / "a-cancel.wav", "--scheduler", address.format(port=port), cache=tmp_path)
    assert time.monotonic() - started < batching.CONNECT_TIMEOUT + 5
    assert result.exit_code == 2
    assert result.stderr == message.format(port=port)


# -- the pytest plugin under pytest-xdist -----------------------------------------------------------------------

CONFTEST = """
import json, os
from ivr.speech.transcript import LOADED
from ivr.testing.pytest_plugin import _SESSION

def pytest_sessionfinish(session):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:  # what each worker process built for its session: its recognisers, its line's store
        made = session.config.stash[_SESSION]
        app = made["sim"].transport.wsgi.app
        with open(f"{worker}.json", "w") as out:
            json.dump({"pid": os.getpid(), "transcribers": len(made.get("transcribers", {})), "models": len(LOADED),
                       "store": app.extensions["ivr"].settings.database_url}, out)
"""


def test_the_pytest_plugin_runs_recordings_on_xdist_workers(pytester: pytest.Pytester, calls: Path,
                                                             monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # this run's own xdist (when the suite runs under `pytest -n`) must not make the inner controller a worker
    for name in ("TWILIO_AUTH_TOKEN", "IVR_STT", "IVR_VOSK_MODEL", "IVR_WHISPER_MODEL", "PYTEST_XDIST_WORKER",
                 "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IVR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("IVR_MAX_RISK", "0.1")
    pytester.makefile(".ini", pytest="[pytest]\nivr_flows = flows\n"
                      "addopts = -p no:cacheprovider -p no:hypothesispytest -p no:benchmark -p no:anyio\n")
    pytester.makeconftest(CONFTEST)
    (pytester.path / "flows").mkdir()
    (pytester.path / "flows" / "acme.yaml").write_text(ACME.read_text("utf-8"), "utf-8")
    (pytester.path / "calls").mkdir()
    for n in range(4):  # a canceller and a billing caller each, twice as many tests as workers
        for name, outcome in (("a-cancel", "cancelled"), ("b-billing", "resolved")):
            (pytester.path / "calls" / f"{name}-{n}.wav").write_bytes((calls / f"{name}.wav").read_bytes())
            (pytester.path / "calls" / f"{name}-{n}.expect.yaml").write_text(f"flow: acme\noutcome: {outcome}\n")
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=8)
    built = [json.loads((pytester.path / f"gw{n}.json").read_text()) for n in range(2)]
    assert built[0]["pid"] != built[1]["pid"]
    assert [(b["transcribers"], b["models"]) for b in built] == [(1, 0), (1, 0)]  # one each; keypad: no model
    assert built[0]["store"] != built[1]["store"]  # a store of its own per worker
