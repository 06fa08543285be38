"""Honest uncertainty in replays: a turn the recogniser cannot tell makes the call INCONCLUSIVE when the runner-up
would change the verdict, and is only noted when it would not; `ivr replay` and the pytest plugin report it with
the turn's time span and the competing meanings.

The recogniser is faked here, at the speech boundary only: `Scripted` returns, for each spoken turn of a real
recording (espeak-ng through the real splitter), the texts and scores a test gives, as Whisper's decoder would
weigh them. The app, the simulator, the decision rule (`ivr.speech.decide`, with a decision model written
here) and the CLI are real. bench/accuracy.py measures the rule on real audio."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from ivr.cli.main import main
from ivr.speech import decide, synth
from ivr.speech.audio import Audio, save
from ivr.speech.split import recording, trouble
from ivr.speech.transcript import Alternative, Transcript
from ivr.testing.replay import replay
from ivr.testing.scripts import Instruction
from ivr.testing.sim import Simulator
from tests.conftest import ACME, TOKEN, make_app
from tests.testing.test_plugin_paths import QUIET

pytest_plugins = ["pytester"]

#: a decision rule that weighs the texts' scores alone, uncertain under a margin of 0.3
RULE = {"features": list(decide.FEATURES), "weights": [1.0 if f == "score" else 0.0 for f in decide.FEATURES],
        "margin": 0.3, "fitted_on": "a test"}
SURE = [Alternative("cancel", -0.5, ("free:0",)), Alternative("council", -6.0, ("free:1",))]
UNSURE = [Alternative("cancel", -1.0, ("free:0",)), Alternative("council", -1.1, ("free:1",))]
YES = [Alternative("yes", -0.2, ("free:0",)), Alternative("no", -8.0, ("phrase",))]


def _key(audio: Audio) -> str:
    return hashlib.sha256(np.ascontiguousarray(audio.samples).tobytes()).hexdigest()


class Scripted:
    """A fake recogniser: the alternatives given for each spoken turn of a recording, in order."""

    engine, model, identity = "scripted", "scripted", "scripted"

    def __init__(self, path: Path, answers: Sequence[list[Alternative]]) -> None:
        spoken = [t for t in recording(path) if t.kind == "speech"]
        assert len(spoken) == len(answers), f"{len(spoken)} spoken turns in {path}"
        self.answers = {_key(t.audio): a for t, a in zip(spoken, answers, strict=True)}
        self.heard = 0

    def transcribe(self, audio: Audio, *, phrases: Sequence[str] = (), language: str | None = None) -> Transcript:
        self.heard += 1
        alternatives = self.answers[_key(audio)]
        best = max(alternatives, key=lambda a: a.score)
        return Transcript(best.text, 0.9, (), self.engine, self.model, tuple(alternatives))


@pytest.fixture(scope="module")
def canceller(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A caller who says cancel, keys in the account number, says cancel past the offer, and says yes."""
    said = [Instruction("say", "cancel"), Instruction("press", "12345678#"), Instruction("say", "cancel please"),
            Instruction("say", "yes")]
    return save(synth.line(synth.synthesise(said)), tmp_path_factory.mktemp("calls") / "canceller.wav")


@pytest.fixture
def rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(RULE))
    monkeypatch.setenv("IVR_DECISION_MODEL", str(path))
    return path


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    app = make_app(f"sqlite:///{tmp_path / 'calls.db'}")
    simulator = Simulator(app, auth_token=TOKEN)
    yield simulator
    simulator.close()
    app.extensions["ivr"].store.close()


def _replay(canceller: Path, sim: Simulator, answers: Sequence[list[Alternative]]) -> Any:
    from ivr.flow.loader import load_flow

    return replay(canceller, sim, "/voice/acme", Scripted(canceller, answers), within=4, expect="cancelled",
                  flow=load_flow(ACME)[0])


def test_sure_turns_give_a_plain_verdict_with_each_turns_probability_and_runner_up(
        canceller: Path, sim: Simulator, rule: Path) -> None:
    verdict = _replay(canceller, sim, [SURE, SURE, YES])
    assert (verdict.status, verdict.ok, verdict.inconclusive, verdict.doubts) == ("ok", True, False, [])
    first = verdict.events[0]
    assert first.chosen == ("cancel", pytest.approx(0.9959, abs=1e-3), "cancel")
    assert first.runner_up is not None
    assert first.runner_up[0] == decide.NONE
    assert first.confidence == first.chosen[1]  # the line is told the calibrated probability
    assert "[runner-up none of the phrases 0.00 ('council')]" in verdict.report()


def test_an_uncertain_turn_that_decides_the_call_makes_it_inconclusive(canceller: Path, sim: Simulator,
                                                                       rule: Path) -> None:
    verdict = _replay(canceller, sim, [UNSURE, SURE, YES])
    assert verdict.status == "INCONCLUSIVE"
    assert verdict.inconclusive
    assert verdict.ok  # as heard the call passes, but that is not to be trusted
    [why] = verdict.doubts
    span = f"{verdict.events[0].start:.2f}-{verdict.events[0].end:.2f} s"
    assert why.startswith(f"turn 1 ({span}): cancel 0.53 ('cancel') vs none of the phrases 0.47 ('council'); "
                          "taken as none of the phrases, the call would fail")
    report = verdict.report()
    assert report.startswith("???? ")
    assert "inconclusive (the verdict would be ok): turn 1" in report
    assert "UNCERTAIN: 'cancel' 0.53 vs none of the phrases 0.47: a margin under 0.30" in report


def test_an_uncertain_turn_that_changes_nothing_is_only_noted(canceller: Path, sim: Simulator, rule: Path) -> None:
    billing_or_tech = [Alternative("billing", -1.0, ("free:0",)), Alternative("tech support", -1.1, ("free:1",))]
    verdict = _replay(canceller, sim, [billing_or_tech, SURE, YES])
    assert verdict.status == "FAIL"
    assert not verdict.doubts
    assert any(n.startswith("turn 1 (") and "billing 0.53 ('billing') vs tech 0.47 ('tech support')" in n
               and n.endswith("uncertain, but the verdict is the same either way") for n in verdict.notes), \
        verdict.notes


def test_against_a_live_line_the_call_is_not_placed_again_and_every_doubt_counts(canceller: Path, sim: Simulator,
                                                                                 rule: Path) -> None:
    from ivr.flow.loader import load_flow

    billing_or_tech = [Alternative("billing", -1.0, ("free:0",)), Alternative("tech support", -1.1, ("free:1",))]
    placed: list[str] = []
    real = sim.call

    def counted(path: str, **options: Any) -> Any:
        placed.append(path)
        return real(path, **options)

    sim.call = counted  # type: ignore[method-assign]
    for again, calls, status in ((True, 2, "FAIL"), (False, 1, "INCONCLUSIVE")):
        placed.clear()
        verdict = replay(canceller, sim, "/voice/acme", Scripted(canceller, [billing_or_tech, SURE, YES]),
                         within=4, expect="cancelled", flow=load_flow(ACME)[0], again=again)
        assert (verdict.status, len(placed)) == (status, calls)
    assert verdict.doubts[0].startswith("turn 1 (")


def test_a_flow_failure_on_what_was_said_is_a_failure_not_inconclusive(canceller: Path, sim: Simulator,
                                                                       rule: Path) -> None:
    from ivr.flow.loader import load_flow

    verdict = replay(canceller, sim, "/voice/acme", Scripted(canceller, [UNSURE, SURE, YES]), within=4,
                     expect="cancelled", flow=load_flow(ACME)[0], said=["billing", "#12345678#", "cancel", "yes"])
    assert verdict.blame == "flow"
    assert verdict.status == "FAIL"


def test_ivr_replay_exits_1_on_an_inconclusive_call_unless_told_to_let_it_pass(
        canceller: Path, rule: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ivr.speech.choose

    monkeypatch.setattr(ivr.speech.choose, "get_transcriber",
                        lambda *a, **k: Scripted(canceller, [UNSURE, SURE, YES]))
    runner = CliRunner()
    args = ["replay", str(ACME), str(canceller), "--within", "4", "--no-cache"]
    result = runner.invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 1, result.output
    [call] = json.loads(result.stdout)["calls"]
    assert (call["status"], call["ok"], call["inconclusive"]) == ("INCONCLUSIVE", True, True)
    assert call["events"][0]["doubt"].startswith("'cancel' 0.53 vs none of the phrases 0.47")
    assert "[1/1] INCONCLUSIVE canceller.wav" in result.stderr
    passing = runner.invoke(main, [*args, "--inconclusive", "xfail"])
    assert passing.exit_code == 0, passing.output
    assert passing.stdout.rstrip().endswith("0 of 1 call(s) passed, 1 inconclusive")
    junit = runner.invoke(main, [*args, "--format", "junit"])
    assert 'type="inconclusive"' in junit.stdout
    assert 'message="inconclusive: turn 1 (' in junit.stdout


SIDECAR = """\
flow: acme
outcome: cancelled
within: 4
"""


@pytest.mark.parametrize(("option", "outcome", "reason"), [
    ([], {"failed": 1}, "inconclusive, the recogniser cannot tell what was said at turn 1 ("),
    (["--ivr-inconclusive=xfail"], {"xfailed": 1}, "inconclusive: turn 1 ("),
])
def test_the_plugin_fails_an_inconclusive_call_with_its_own_reason_or_xfails_it(
        pytester: pytest.Pytester, canceller: Path, rule: Path, monkeypatch: pytest.MonkeyPatch, option: list[str],
        outcome: Mapping[str, int], reason: str) -> None:
    import ivr.speech.choose

    (pytester.path / "canceller.wav").write_bytes(canceller.read_bytes())
    (pytester.path / "canceller.expect.yaml").write_text(SIDECAR)
    monkeypatch.setattr(ivr.speech.choose, "get_transcriber",
                        lambda *a, **k: Scripted(pytester.path / "canceller.wav", [UNSURE, SURE, YES]))
    result = pytester.runpytest(*QUIET, "--assert=plain", "--ivr-flows", str(ACME), "-rxX", *option)
    result.assert_outcomes(**outcome)
    assert reason in result.stdout.str()


def test_a_clipped_or_near_silent_turn_is_reported() -> None:
    rate = 8000
    t = np.arange(rate) / rate
    tone = np.sin(2 * np.pi * 300 * t)
    from ivr.speech.split import Utterance

    clipped = Utterance(0.0, 1.0, Audio.mono(np.clip(2.5 * tone, -1, 1), rate))
    quiet = Utterance(0.0, 1.0, Audio.mono(0.003 * tone, rate))
    long = Utterance(0.0, 75.0, Audio.mono(0.3 * np.tile(tone, 2), rate))
    fine = Utterance(0.0, 1.0, Audio.mono(0.5 * tone, rate))
    assert trouble(clipped, 10.0)[0].startswith("clipped (")
    assert trouble(quiet, 10.0) == ["near-silent (speech at -53 dBFS)"]
    assert trouble(long, 10.0) == ["75 s long: Twilio's <Gather> hears at most 60 s of speech"]
    assert trouble(Utterance(0.0, 14.0, fine.audio), 10.0) == [
        "14.0 s long, much longer than any answer the prompt accepts (about 10 s at most)"]
    assert trouble(fine, 10.0) == []


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--max-risk", "1.5"], {}, "Invalid value for '--max-risk' (env var: 'IVR_MAX_RISK'): 1.5 is not in the "
                                "range 0.0<x<1.0."),
    (["--max-risk", "none"], {}, "'none' is not a valid float range."),
    ([], {"IVR_MAX_RISK": "0"}, "(env var: 'IVR_MAX_RISK'): 0.0 is not in the range 0.0<x<1.0."),
])
def test_a_bad_risk_is_refused_before_anything_is_replayed(canceller: Path, args: list[str], env: dict[str, str],
                                                          message: str) -> None:
    result = CliRunner(env=env).invoke(main, ["replay", str(ACME), str(canceller), "--within", "4", *args])
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize(("option", "env"), [(["--ivr-max-risk", "1.5"], {}), ([], {"IVR_MAX_RISK": "lots"})])
def test_the_plugin_refuses_a_bad_risk_naming_the_option(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                         option: list[str], env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (pytester.path / "canceller.expect.yaml").write_text(SIDECAR)
    (pytester.path / "canceller.wav").write_bytes(b"")  # never read: the option is refused at start-up
    result = pytester.runpytest(*QUIET, "--assert=plain", "--ivr-flows", str(ACME), *option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--ivr-max-risk or IVR_MAX_RISK" in result.stderr.str() + result.stdout.str()
    assert "give a share of wrong recognitions between 0 and 1" in result.stderr.str() + result.stdout.str()


def test_a_decision_model_named_by_the_environment_that_cannot_be_read_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ivr.errors import SttError

    bad = tmp_path / "mine.json"
    bad.write_text("{not json")
    monkeypatch.setenv("IVR_DECISION_MODEL", str(bad))
    with pytest.raises(SttError, match=f"^{bad}: cannot read the decision model"):
        decide.load_model()
