"""The recorded calls of audio/ (rendered from their call scripts by audio/make.sh), checked without a speech model:
each call script is valid and passes through the real app as a text call, ending as its sidecar expects; each
recording splits into the script's caller turns, with the script's keys; and every recording has its script and
its sidecar. Replaying the recordings through speech recognition is the sidecars' own job (`pytest audio`)."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.flow.loader import load_flow
from ivr.line.app import local_app, token_of
from ivr.speech.audio import load
from ivr.speech.split import recording
from ivr.speech.synth import Voice
from ivr.testing.scripts import CALLER_STEPS, Script, load_script, run_script
from ivr.testing.sidecar import Sidecar, load_sidecar
from ivr.testing.sim import Simulator
from tests.conftest import ROOT, found

AUDIO = ROOT / "audio"
FLOWS = {flow.name: flow for flow in (load_flow(p)[0] for p in sorted((ROOT / "flows").glob("*.yaml")))}
SCRIPTS = found(AUDIO.glob("*/*.call.yaml"))
KIND = {"say": "speech", "press": "dtmf", "silence": "silence"}


def name(path: Path) -> str:
    """`acme/cancel-keypad` for any of its files: script, sidecar, recording (or clip directory)."""
    base = path.name.removesuffix(".call.yaml").removesuffix(".expect.yaml").removesuffix(".wav")
    return f"{path.parent.name}/{base}"


def sidecar_of(script: Path) -> Sidecar:
    return load_sidecar(script.with_name(script.name.replace(".call.yaml", ".expect.yaml")))


def synth_options(script: Path) -> list[str]:
    """The `ivr synth` options on the script's `# synth:` line, which audio/make.sh renders it with."""
    [line] = [ln for ln in script.read_text().splitlines() if ln.startswith("# synth:")]
    return shlex.split(line.removeprefix("# synth:"))


def caller_turns(script: Script) -> list[tuple[str, str | None]]:
    """(kind, keys) of each turn the caller takes, as `ivr.speech.audio` names them; nothing after a hang-up."""
    steps = [s for s in script.steps if s.kind in CALLER_STEPS]
    taken = steps[:[s.kind for s in steps].index("hang up")] if "hang up" in [s.kind for s in steps] else steps
    return [(KIND[s.kind], s.value if s.kind == "press" else None) for s in taken]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    app = local_app([ROOT / "flows"], tmp_path_factory.mktemp("store"))
    sim = Simulator(app, auth_token=token_of(app))
    yield sim
    sim.close()
    app.extensions["ivr"].store.close()


def test_every_example_flow_has_recorded_calls() -> None:
    assert sorted(p.name for p in AUDIO.iterdir() if p.is_dir()) == sorted(FLOWS)
    assert all(len(list((AUDIO / flow).glob("*.call.yaml"))) >= 4 for flow in FLOWS)
    assert (AUDIO / "acme-welcome.wav").is_file()  # the prompt flows/acme.yaml plays lives beside the calls


def test_every_recording_has_its_call_script_and_its_sidecar() -> None:
    files = [p for p in AUDIO.glob("*/*") if not p.name.startswith(".")]
    scripts = {name(p) for p in files if p.name.endswith(".call.yaml")}
    sidecars = {name(p) for p in files if p.name.endswith(".expect.yaml")}
    recordings = {name(p) for p in files if p.suffix == ".wav" or p.is_dir()}
    others = {p.name for p in files} - {p.name for p in files if p.name.endswith((".call.yaml", ".expect.yaml"))
                                       or p.suffix == ".wav" or p.is_dir()}
    assert (sidecars - recordings, recordings - sidecars) == (set(), set())
    assert (scripts - recordings, recordings - scripts) == (set(), set())
    assert not others, f"files in audio/ that are no recording, call script or sidecar: {sorted(others)}"


@pytest.mark.parametrize("path", SCRIPTS, ids=name)
def test_the_call_script_passes_through_the_real_app_as_its_sidecar_expects(path: Path, sim: Simulator) -> None:
    script, expected = load_script(path), sidecar_of(path)
    assert (script.path, expected.flow) == (f"/voice/{path.parent.name}", path.parent.name)
    flow = expected.flow_in(FLOWS)  # a served flow, and an outcome it can end with
    result = run_script(script, sim)
    assert result.ok, result.report()
    assert result.call is not None
    assert result.call.outcome == expected.expected(flow)
    assert expected.within is None or result.call.turns <= expected.within


@pytest.mark.parametrize("path", SCRIPTS, ids=name)
def test_the_recording_holds_the_call_scripts_turns(path: Path) -> None:
    script, expected = load_script(path), sidecar_of(path)
    wanted = caller_turns(script)
    if expected.recording.is_file():
        assert ("silence", None) not in wanted, "a whole-call recording cannot hold a silence turn: record the " \
                                                "call as per-turn clips, where an empty clip is silence"
    turns = recording(expected.recording, expected.caller_channel)
    assert [(t.kind, t.digits) for t in turns] == wanted


@pytest.mark.parametrize("path", SCRIPTS, ids=name)
def test_the_recording_is_what_make_sh_renders(path: Path) -> None:
    """8 kHz telephone audio, in the voice the `# synth:` line names (a Korean one for a Korean flow)."""
    options, expected = synth_options(path), sidecar_of(path)
    assert "--phone" in options
    voice = Voice.parse(options[options.index("--voice") + 1]) if "--voice" in options else Voice.parse("espeak")
    if FLOWS[expected.flow].language.startswith("ko") and "say" in {s.kind for s in load_script(path).steps}:
        assert (voice.engine, voice.name.partition("+")[0]) == ("espeak", "ko")
    files = sorted(expected.recording.glob("*.wav")) if expected.recording.is_dir() else [expected.recording]
    for file in files:
        audio = load(file)
        assert audio.sample_rate == 8000
        assert expected.caller_channel < audio.channels
