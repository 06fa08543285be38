"""Recorded calls beside sidecar expectation files, collected and run by the pytest plugin (through `pytester`): each
sidecar one test that replays its recording against the session's line, a failure reported as `ivr replay`
reports the call, mistakes in a sidecar as collection errors, an unreadable recording failing alone.

The fast tests need no speech model: their callers only press keys (DTMF rendered by `ivr.speech.synth` through a
telephone line), so no recogniser ever runs. The slow ones replay spoken callers through Whisper.
"""

from __future__ import annotations

import json
import re
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from flask import Flask

import ivr.testing.scripts  # noqa: F401  (imported once here, as in test_pytest_plugin.py: in-process runs reuse it)
from ivr.cli.main import main
from ivr.speech import synth
from ivr.speech.audio import save
from ivr.testing.scripts import Instruction
from tests.conftest import ROOT, TOKEN, make_app, serving, shared_transcripts

pytest_plugins = ["pytester"]

CANCELLER = ("9", "12345678#", "9", "1")  # cancel, the account number, cancel again past the offer, yes
BILLING = ("1", "2")  # billing, then "nothing else"
CANCEL_FAST = ROOT / "tests" / "calls" / "acme-cancel-fast.call.yaml"


def keypad(path: Path, keys: tuple[str, ...]) -> Path:
    """A caller who only presses keys, each turn after 1.5 s of the IVR speaking, on a telephone line (8 kHz
    mu-law), as `ivr synth --phone` renders it."""
    return save(synth.line(synth.synthesise([Instruction("press", k) for k in keys]), phone=True), path, mu_law=True)


def two_channels(path: Path, caller: tuple[str, ...], other: tuple[str, ...]) -> Path:
    """A dual-channel 16-bit WAV: `other`'s keys on channel 0, `caller`'s on channel 1."""
    tracks = [synth.synthesise([Instruction("press", k) for k in keys]).audio.samples for keys in (other, caller)]
    frames = np.zeros((max(map(len, tracks)), 2), np.int16)
    for channel, track in enumerate(tracks):
        frames[:len(track), channel] = np.round(track * 32767)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(synth.RATE)
        out.writeframes(frames.tobytes())
    return path


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """canceller.wav, billing.wav, stereo.wav (billing on channel 0, the canceller on channel 1) and clips/ (the
    canceller as one clip per turn)."""
    here = tmp_path_factory.mktemp("recordings")
    keypad(here / "canceller.wav", CANCELLER)
    keypad(here / "billing.wav", BILLING)
    two_channels(here / "stereo.wav", CANCELLER, BILLING)
    (here / "clips").mkdir()
    for number, keys in enumerate(CANCELLER, 1):
        keypad(here / "clips" / f"turn{number}.wav", (keys,))
    return here


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.Pytester:
    """A user's project: flows/acme.yaml (the ini's `ivr_flows`) and one call script; no recogniser configured."""
    for name in ("TWILIO_AUTH_TOKEN", "IVR_STT", "IVR_VOSK_MODEL", "IVR_WHISPER_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IVR_CACHE_DIR", str(tmp_path / "cache"))
    pytester.makefile(".ini", pytest="[pytest]\nivr_flows = flows\n"
                      "addopts = -p no:cacheprovider -p no:hypothesispytest -p no:benchmark -p no:anyio\n")
    write(pytester, {"flows/acme.yaml": (ROOT / "flows" / "acme.yaml").read_text("utf-8"),
                     "calls/acme-cancel-fast.call.yaml": CANCEL_FAST.read_text("utf-8")})
    # the welcome acme plays: a call whose <Play> file is missing has Twilio's error 11200, and fails its script
    (pytester.path / "audio").mkdir(exist_ok=True)
    shutil.copy(ROOT / "audio" / "acme-welcome.wav", pytester.path / "audio")
    return pytester


def write(pytester: pytest.Pytester, files: dict[str, str]) -> None:
    for where, text in files.items():
        (pytester.path / where).parent.mkdir(parents=True, exist_ok=True)
        (pytester.path / where).write_text(text, "utf-8")


def place(pytester: pytest.Pytester, recordings: Path, files: dict[str, str]) -> None:
    """Copy recordings into the project (`{"calls/x.wav": "canceller.wav"}`)."""
    for where, name in files.items():
        (pytester.path / where).parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (recordings / name).is_dir() else shutil.copy
        copy(recordings / name, pytester.path / where)


def test_recordings_beside_sidecars_run_as_tests(project: pytest.Pytester, recordings: Path) -> None:
    place(project, recordings, {"calls/canceller.wav": "canceller.wav", "calls/by-clips": "clips",
                                "calls/stereo.wav": "stereo.wav", "calls/stereo-left.wav": "stereo.wav",
                                "calls/billing.wav": "billing.wav", "calls/no-sidecar.wav": "billing.wav"})
    write(project, {"calls/canceller.expect.yaml": "flow: acme\nwithin: 4\ndescription: cancels by keypad\n",
                    "calls/by-clips.expect.yml": "flow: acme\noutcome: cancelled\nwithin: 4\n",
                    "calls/stereo.expect.yaml": "flow: acme\nwithin: 4\ncaller_channel: 1\n",
                    "calls/stereo-left.expect.yaml": "flow: acme\noutcome: resolved\n",  # channel 0 by default
                    "calls/billing.expect.yaml": "flow: acme\nwithin: 4\n"})
    result = project.runpytest("-v")
    result.assert_outcomes(passed=5, failed=1)  # the five sidecars and the call script; no-sidecar.wav is no test
    result.stdout.fnmatch_lines_random([
        "calls/acme-cancel-fast.call.yaml::acme-cancel-fast PASSED*",
        "calls/canceller.expect.yaml::canceller.wav PASSED*",
        "calls/by-clips.expect.yml::by-clips PASSED*",
        "calls/stereo.expect.yaml::stereo.wav PASSED*",
        "calls/stereo-left.expect.yaml::stereo-left.wav PASSED*",
        "calls/billing.expect.yaml::billing.wav FAILED*",
    ])
    # what `ivr replay` prints for the call, under the sidecar and the reasons, then the conversation
    calls = project.path / "calls"
    result.stdout.fnmatch_lines([
        "*_ recorded call billing.wav _*",
        f"{calls}/billing.expect.yaml: expected outcome 'cancelled', got 'resolved'",
        f"FAIL {calls}/billing.wav: outcome resolved, 2 turn(s) — expected outcome 'cancelled', got 'resolved'",
        "     1. heard #1 -> intent 'billing' -> anything_else",
        "     2. heard #2 -> intent 'no' -> goodbye",
        "",
        "  conversation:",
        "     IVR: [[]plays http://localhost/audio/acme/acme-welcome.wav]",
        "     IVR: For billing, say billing or press 1. * To cancel your service, say cancel or press 9. *",
        "  CALLER: presses 1",
        "     IVR: Your current balance is forty two dollars and fifty cents, due on the first of the month.",
        "     IVR: Is there anything else I can help you with?",
        "  CALLER: presses 2",
        "     IVR: Thank you for calling Acme. Goodbye.",
        "*= short test summary info =*",
    ])
    for noise in ("Traceback", "CallFailed", "pytest_plugin.py"):
        assert noise not in result.stdout.str()


def test_a_known_failure_is_a_strict_xfail(project: pytest.Pytester, recordings: Path) -> None:
    """A call known to miss (say, a recogniser's mistake) is tracked, not hidden: once it passes, the test fails
    until its sidecar stops calling it a known failure."""
    place(project, recordings, {"calls/billing.wav": "billing.wav", "calls/canceller.wav": "canceller.wav"})
    write(project, {"calls/billing.expect.yaml": "flow: acme\nwithin: 4\nknown_failure: asks for billing\n",
                    "calls/canceller.expect.yaml": "flow: acme\nwithin: 4\nknown_failure: fixed since\n"})
    result = project.runpytest("-v", "calls/billing.expect.yaml", "calls/canceller.expect.yaml")
    result.assert_outcomes(xfailed=1, failed=1)
    result.stdout.fnmatch_lines_random(["*billing.expect.yaml::billing.wav XFAIL (asks for billing)*",
                                        "*canceller.expect.yaml::canceller.wav FAILED*",
                                        "*[[]XPASS(strict)[]] fixed since*"])


def test_too_many_turns_and_turns_left_over_are_reported(project: pytest.Pytester) -> None:
    (project.path / "calls").mkdir(exist_ok=True)
    keypad(project.path / "calls" / "canceller.wav", (*CANCELLER, "0"))
    write(project, {"calls/canceller.expect.yaml": "flow: acme\noutcome: cancelled\nwithin: 3\n"})
    result = project.runpytest("calls/canceller.expect.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"{project.path}/calls/canceller.expect.yaml: took 4 turns, more than 3",
        f"FAIL {project.path}/calls/canceller.wav: outcome cancelled, 4 turn(s) — took 4 turns, more than 3",
        "     1. heard #9 -> intent 'cancel' -> ask_account",
        "     2. heard #12345678# -> data '12345678' -> retention_offer",
        "     3. heard #9 -> intent 'cancel' -> confirm_cancel",
        "     4. heard #1 -> intent 'yes' -> cancelled_goodbye",
        "     note: the call ended with 1 recorded turn(s) left over",
        "",
        "  conversation:",
    ])
    # word for word what `ivr replay` prints for the call
    replayed = CliRunner().invoke(main, ["replay", str(project.path / "flows" / "acme.yaml"),
                                         str(project.path / "calls" / "canceller.wav"), "--within", "3"])
    assert replayed.exit_code == 1, replayed.output
    printed = replayed.stdout.splitlines()
    report = printed[next(i for i, line in enumerate(printed) if line.startswith("FAIL ")):-1]
    # `ivr replay` also says whose expectations it applied: the sidecar's, which the plugin's test is named after
    sidecar = (f"     note: expectations from the sidecar {project.path}/calls/canceller.expect.yaml (options given "
               "on the command line come first)")
    assert report[5] == sidecar
    del report[5]
    at = result.outlines.index(report[0])
    assert result.outlines[at:at + len(report)] == report
    assert len(report) == 6


def test_a_sidecar_mistake_is_a_collection_error_without_a_traceback(project: pytest.Pytester,
                                                                     recordings: Path) -> None:
    place(project, recordings, {"calls/canceller.wav": "canceller.wav", "calls/billing.wav": "billing.wav",
                                "calls/billing.mp3": "billing.wav"})
    write(project, {"calls/canceller.expect.yaml": "flow: acme\nwithin: four\nstt: google\n",
                    "calls/billing.expect.yaml": "flow: acme\noutcome: resolved\n",
                    "calls/lost.expect.yaml": "flow: acme\nwithin: 4\n"})
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=3)
    calls = project.path / "calls"
    result.stdout.fnmatch_lines([
        "*_ ERROR collecting calls/billing.expect.yaml _*",
        "invalid sidecar expectation file:",
        f"{calls}/billing.expect.yaml: 2 recordings beside it share its name, expected exactly one: "
        "['billing.mp3', 'billing.wav']",
        "*_ ERROR collecting calls/canceller.expect.yaml _*",
        "invalid sidecar expectation file:",
        f"{calls}/canceller.expect.yaml:2: within: 'four': expected a whole number of turns, 1 or more",
        f"{calls}/canceller.expect.yaml:3: stt: 'google': expected a speech-to-text engine: one of "
        "['vosk', 'whisper']",
        "*_ ERROR collecting calls/lost.expect.yaml _*",
        "invalid sidecar expectation file:",
        f"{calls}/lost.expect.yaml: no recording beside it: expected one of lost.flac, lost.mp3, lost.ogg, lost.wav "
        "or a directory lost/ of per-turn clips; found none",
        "*= short test summary info =*",
    ])
    for noise in ("Traceback", "sidecar.py", "pytest_plugin.py", "raise ", "SidecarError"):
        assert noise not in result.stdout.str()
    project.runpytest("--continue-on-collection-errors").assert_outcomes(passed=1, errors=3)  # the script runs


def test_an_unreadable_recording_fails_alone(project: pytest.Pytester, recordings: Path) -> None:
    place(project, recordings, {"calls/canceller.wav": "canceller.wav"})
    (project.path / "calls" / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt not really")
    (project.path / "calls" / "empty").mkdir()
    write(project, {"calls/canceller.expect.yaml": "flow: acme\nwithin: 4\n",
                    "calls/corrupt.expect.yaml": "flow: acme\nwithin: 4\n",
                    "calls/empty.expect.yaml": "flow: acme\nwithin: 4\n",
                    "calls/empty/notes.txt": "no clips here\n"})
    result = project.runpytest()
    result.assert_outcomes(passed=2, failed=2)
    calls = project.path / "calls"
    result.stdout.fnmatch_lines([
        "*_ recorded call corrupt.wav _*",
        f"{calls}/corrupt.expect.yaml: the recording could not be read",
        f"FAIL {calls}/corrupt.wav: outcome None, 0 turn(s) — the recording could not be read",
        f"     error: {calls}/corrupt.wav: not a valid WAV file (format chunk of 6 bytes; it needs at least 16)",
        "*_ recorded call empty _*",
        f"{calls}/empty.expect.yaml: the recording could not be read",
        f"FAIL {calls}/empty: outcome None, 0 turn(s) — the recording could not be read",
        f"     error: {calls}/empty: no audio clips (.flac, .mp3, .ogg, .wav) in this directory",
    ])
    assert "Traceback" not in result.stdout.str()


def test_said_judges_a_recording_twice_and_says_whose_failure_it_is(project: pytest.Pytester,
                                                                     recordings: Path) -> None:
    """billing.wav presses 1 and 2; its sidecar says the caller asked to cancel: the recogniser is to blame. The
    canceller's sidecar agrees with its recording, and the call passes; against a flow whose retention offer never
    lets go, the same canceller fails and the flow is to blame."""
    said = "said: [cancel, '#12345678#', cancel, 'yes']\n"
    place(project, recordings, {"calls/billing.wav": "billing.wav", "calls/canceller.wav": "canceller.wav",
                                "unfair/canceller.wav": "canceller.wav"})
    acme = (ROOT / "flows" / "acme.yaml").read_text("utf-8")
    write(project, {"calls/billing.expect.yaml": f"flow: acme\nwithin: 4\n{said}",
                    "calls/canceller.expect.yaml": f"flow: acme\nwithin: 4\n{said}",
                    "unfair/canceller.expect.yaml": f"flow: unfair\nwithin: 4\n{said}",
                    "flows/unfair.yaml": acme.replace("name: acme", "name: unfair").replace(
                        "      cancel: confirm_cancel", "      cancel: retention_offer")})
    result = project.runpytest("-v", "calls", "unfair")
    result.assert_outcomes(passed=2, failed=2)  # with the call script in calls/
    result.stdout.fnmatch_lines_random([
        "calls/canceller.expect.yaml::canceller.wav PASSED*",
        f"{project.path}/calls/billing.expect.yaml: the recogniser misheard turn 1 ('#1' for 'cancel'); as heard, "
        "expected outcome 'cancelled', got 'resolved'",
        f"{project.path}/unfair/canceller.expect.yaml: the flow is unfair: on what was said, expected outcome "
        "'cancelled', got None",
        "     said:  FAIL outcome None, 4 turn(s) — expected outcome 'cancelled', got None",
    ])


def test_a_flow_or_outcome_the_line_does_not_have(project: pytest.Pytester, recordings: Path) -> None:
    place(project, recordings, {"calls/shop.wav": "billing.wav", "calls/typo.wav": "billing.wav"})
    write(project, {"calls/shop.expect.yaml": "description: the corner shop\nflow: shop\noutcome: informed\n",
                    "calls/typo.expect.yaml": "flow: acme\noutcome: resolvd\n",
                    "other/shop.yaml": (ROOT / "tests" / "flows" / "shop.yaml").read_text("utf-8")})
    result = project.runpytest("calls")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines_random([
        f"{project.path}/calls/shop.expect.yaml:2: flow: 'shop' is not served; served flows: ['acme']",
        f"{project.path}/calls/typo.expect.yaml:2: outcome: 'resolvd' is not an outcome of flow 'acme'; its "
        "outcomes: ['cancelled', 'resolved', 'kept', 'transferred']",
    ])
    # served with --ivr-flows, the shop's line answers: key 1 is its opening hours, and then it hangs up
    project.runpytest("calls/shop.expect.yaml", "--ivr-flows", "other", "--ivr-flows",
                      "flows").assert_outcomes(passed=1)


def test_within_alone_expects_the_outcome_of_the_served_flows_guarantee(project: pytest.Pytester,
                                                                        recordings: Path) -> None:
    acme = (ROOT / "flows" / "acme.yaml").read_text("utf-8")
    terminating = acme.replace("name: acme", "name: terminating").replace("outcomes: [cancelled,",
                                                                          "outcomes: [terminated,")
    write(project, {"flows/terminating.yaml": terminating.replace("outcome: cancelled", "outcome: terminated"),
                    "calls/canceller.expect.yaml": "flow: terminating\nwithin: 4\n"})
    place(project, recordings, {"calls/canceller.wav": "canceller.wav"})
    project.runpytest("calls/canceller.expect.yaml").assert_outcomes(passed=1)


@pytest.mark.parametrize(("args", "env", "stt", "message"), [
    (["--ivr-stt", "vosk"], {}, "", "no Vosk model configured: pass --vosk-model DIR or set IVR_VOSK_MODEL *"),
    ([], {"IVR_STT": "vosk"}, "", "no Vosk model configured: *"),
    (["--ivr-stt", "vosk", "--ivr-vosk-model", "models/none"], {}, "", "Vosk model '{path}/models/none': no such "
                                                                       "directory"),
    ([], {"IVR_VOSK_MODEL": "models/none"}, "", "Vosk model 'models/none': no such directory"),
    (["--ivr-stt", "vosk"], {}, "stt: whisper\n", None),  # the sidecar's own engine comes first
    (["--ivr-stt", "whisper"], {"IVR_STT": "vosk"}, "", None),  # then the option, then IVR_STT
    ([], {}, "", None),  # then by the flow's language: whisper for English
])
def test_choosing_the_recogniser(project: pytest.Pytester, recordings: Path, monkeypatch: pytest.MonkeyPatch,
                                 args: list[str], env: dict[str, str], stt: str, message: str | None) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    place(project, recordings, {"calls/canceller.wav": "canceller.wav"})
    write(project, {"calls/canceller.expect.yaml": f"flow: acme\nwithin: 4\n{stt}"})
    result = project.runpytest("calls/canceller.expect.yaml", *args)
    if message is None:
        result.assert_outcomes(passed=1)
    else:
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*_ recorded call canceller.wav _*", message.format(path=project.path)])
        assert "Traceback" not in result.stdout.str()


def test_an_unknown_recogniser_option_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest("--ivr-stt", "google")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*argument --ivr-stt: invalid choice: 'google' (choose from*vosk*whisper*)"])


@pytest.fixture
def live_line(tmp_path: Path) -> Iterator[tuple[str, Flask]]:
    """The real app serving flows/acme.yaml on a real socket (signatures checked with TOKEN)."""
    app = make_app(f"sqlite:///{tmp_path}/live.db")
    with serving(app) as url:
        yield url, app
    app.extensions["ivr"].store.close()


def test_recordings_against_a_live_line(project: pytest.Pytester, recordings: Path,
                                        live_line: tuple[str, Flask]) -> None:
    url, app = live_line
    (project.path / "flows" / "acme.yaml").unlink()  # nothing in-process: the call goes over the socket
    place(project, recordings, {"calls/canceller.wav": "canceller.wav"})
    write(project, {"calls/canceller.expect.yaml": "flow: acme\nwithin: 4\n"})
    project.runpytest("calls/canceller.expect.yaml", "--ivr-url", url, "--ivr-auth-token",
                      TOKEN).assert_outcomes(passed=1)
    assert [(c.turns, c.outcome) for c in app.extensions["ivr"].store.calls()] == [(4, "cancelled")]


# -- real speech --------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_spoken_canceller_on_the_phone_is_cancelled_within_4_turns(project: pytest.Pytester,
                                                                      tmp_path: Path) -> None:
    """espeak-ng says the acme-cancel-fast script's words over an 8 kHz mu-law line; Whisper (the default for an
    English flow) hears them with each Gather's hints, 10% wrong recognitions accepted (`--ivr-max-risk`)."""
    (project.path / "calls").mkdir(exist_ok=True)
    made = CliRunner().invoke(main, ["synth", str(CANCEL_FAST), "-o", str(project.path / "calls" / "spoken.wav"),
                                     "--phone"])
    assert made.exit_code == 0, made.output
    write(project, {"calls/spoken.expect.yaml": "flow: acme\nwithin: 4\ndescription: says cancel, keys the "
                                                "account\n"})
    result = project.runpytest("calls/spoken.expect.yaml", "-v", "--ivr-max-risk", "0.1")
    result.assert_outcomes(passed=1)
    heard = [json.loads(p.read_text())["transcript"] for p in (tmp_path / "cache").rglob("*.json")]
    assert heard
    assert {t["engine"] for t in heard} == {"whisper"}
    assert any("cancel" in t["text"].lower() for t in heard)


@pytest.mark.slow
def test_every_recording_in_the_repository_passes(pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorded calls of audio/ that have a sidecar (and any call scripts there), run against flows/ as
    `pytest audio --ivr-flows flows --ivr-max-risk 0.1` runs them (audio/README.md: at the default risk, 1%,
    Whisper tiny.en vouches for too few turns of these phone lines, and the calls are inconclusive)."""
    for name in ("TWILIO_AUTH_TOKEN", "IVR_STT", "IVR_VOSK_MODEL", "IVR_WHISPER_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IVR_CACHE_DIR", str(shared_transcripts(tmp_path_factory)))  # what the docs' examples heard
    # in a subprocess: an in-process run re-imports vosk, whose models then belong to another cffi instance
    result = pytester.runpytest_subprocess(str(ROOT / "audio"), "--ivr-flows", str(ROOT / "flows"),
                                           "--ivr-max-risk", "0.1", "-v", "-p",
                                           "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark")
    outcomes = result.parseoutcomes()
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    # nothing failed, errored or was skipped; a sidecar's known_failure is a strict xfail, so it must still fail
    assert set(outcomes) <= {"passed", "xfailed"}, outcomes
    assert re.search(r"\.expect\.ya?ml::\S+ PASSED", result.stdout.str()), "no recording with a sidecar in audio/"
