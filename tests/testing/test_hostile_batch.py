"""One bad recording fails alone (issue 12): `ivr replay` over a directory (in this process and on Dask),
`ivr transcribe` of several files, and `replay_all` when replaying one recording raises. Each bad file is named
with its reason, the others are judged as usual, and the exit status says something failed; never a traceback.

The good calls are key presses (no recogniser hears them); `ivr transcribe`'s recogniser is faked at the speech
boundary only. The hostile files are built byte by byte (tests/speech/test_hostile_audio.py has them all).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import ivr.testing.replay as replaying
from ivr.cli.main import main
from ivr.speech import dtmf
from ivr.speech.audio import Audio, save
from ivr.speech.transcript import Transcript
from ivr.testing.batch import Job, Setup, replay_all
from tests.conftest import ACME, ROOT
from tests.speech.test_hostile_audio import extensible, floats, fmt, pcm16, wav

#: file -> (its bytes, its message after "<file>: ")
BAD: dict[str, tuple[bytes, str]] = {
    "one-hertz.wav": (wav(fmt(rate=1), bytes(400_000)),
                      "bad WAV header: sample rate 1 Hz; ivr reads 4000 to 192000 Hz"),
    "nan.wav": (wav(fmt(tag=3, bits=32), floats("<f4", 1, 4000, math.nan)),
                "bad sample: channel 0 at 0.500 s (frame 4000) is nan; float samples must be finite numbers"),
    "extensible.wav": (wav(extensible()[:26], pcm16(1)),
                       "bad WAV header: truncated WAVE_FORMAT_EXTENSIBLE format chunk of 26 bytes; it needs 40"),
    "misaligned.wav": (wav(fmt(channels=2, align=2), pcm16(1)),
                       "bad WAV header: block alignment 2 bytes for 2 channel(s) of 16-bit PCM; it must be 4 "
                       "(channels x bytes per sample)"),
}


def keys_call(path: Path, turns: Sequence[str] = ("9", "12345678#", "9", "1")) -> Path:
    """A caller who cancels with the keypad alone, on an 8 kHz mu-law line with a little noise."""
    rng = np.random.default_rng(1)
    parts: list[Any] = []
    for keys in turns:
        parts += [rng.normal(0, 0.003, 16000), dtmf.synthesize(keys, 8000, 0.1, 0.1, 0.5)]
    parts.append(rng.normal(0, 0.003, 16000))
    return save(Audio.mono(np.concatenate(parts), 8000), path, mu_law=True)


@pytest.fixture
def batch(tmp_path: Path) -> Path:
    here = tmp_path / "calls"
    here.mkdir()
    keys_call(here / "a-cancel.wav")
    keys_call(here / "z-cancel.wav")
    for name, (data, _) in BAD.items():
        (here / name).write_bytes(data)
    return here


@pytest.mark.parametrize("workers", ["1", pytest.param("2", marks=pytest.mark.slow)])
def test_replay_reports_each_bad_recording_and_judges_the_rest(batch: Path, workers: str) -> None:
    result = CliRunner().invoke(main, ["replay", str(ACME), str(batch), "--within", "4", "--no-cache", "-j", workers,
                                       "--format", "json"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    calls = {Path(c["recording"]).name: c for c in json.loads(result.stdout)["calls"]}
    assert sorted(calls) == sorted([*BAD, "a-cancel.wav", "z-cancel.wav"])
    for good in ("a-cancel.wav", "z-cancel.wav"):
        assert (calls[good]["status"], calls[good]["outcome"], calls[good]["turns"]) == ("ok", "cancelled", 4)
    for name, (_, message) in BAD.items():
        assert (calls[name]["status"], calls[name]["errors"], calls[name]["reasons"]) == (
            "FAIL", [f"{batch / name}: {message}"], ["the recording could not be read"])


class Heard:
    """A fake recogniser: hears "cancel" in anything."""

    engine, model, identity = "fake", "fake", "fake"

    def transcribe(self, audio: Audio, *, phrases: Sequence[str] = (), language: str | None = None) -> Transcript:
        return Transcript("cancel", 0.9, (), self.engine, self.model)


def test_transcribe_names_each_bad_file_and_prints_the_rest(batch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ivr.speech.choose

    monkeypatch.setattr(ivr.speech.choose, "get_transcriber", lambda *a, **k: Heard())
    files = [batch / "a-cancel.wav", *(batch / name for name in BAD), batch / "z-cancel.wav"]
    result = CliRunner().invoke(main, ["transcribe", *map(str, files), "--format", "json"])
    assert result.exit_code == 2
    assert [(Path(r["file"]).name, r["text"], r["digits"]) for r in json.loads(result.stdout)] == [
        ("a-cancel.wav", "cancel", "912345678#91"), ("z-cancel.wav", "cancel", "912345678#91")]
    assert result.stderr.splitlines() == [f"error: {batch / name}: {message}" for name, (_, message) in BAD.items()]


def test_a_recording_that_raises_fails_alone_in_a_batch(batch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = replaying.recording

    def recording(source: str | Path, channel: int | None = 0) -> Any:
        if Path(source).name == "a-cancel.wav":
            raise MemoryError("a bug met on this recording")
        return real(source, channel)

    monkeypatch.setattr(replaying, "recording", recording)
    jobs = [Job(batch / "a-cancel.wav", within=4, expect="cancelled"), Job(batch / "z-cancel.wav", within=4,
                                                                           expect="cancelled")]
    verdicts = replay_all(jobs, Setup("acme", (str(ACME),), cwd=str(ROOT))).verdicts
    assert [(v.status, v.errors) for v in verdicts] == [
        ("FAIL", ["replaying it raised MemoryError: a bug met on this recording"]), ("ok", [])]
