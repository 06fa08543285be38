"""Hostile recordings (issue 12): WAV headers that lie, samples that are not numbers, and calls hours long.

Every bad header is one row of `HOSTILE`, built here byte by byte, with its exact message: the file, what is
wrong, the value and the limit, checked before anything is allocated (a 400 KB file claiming 1 Hz once asked for
11.9 GiB). Long calls are read and split a window at a time: the peak of what Python allocates (tracemalloc) is
bounded by a window, not by the call (bench/long_recording_memory.py measures the process's peak RSS).
"""

from __future__ import annotations

import math
import re
import struct
import subprocess
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ivr.errors import AudioError, UsageError
from ivr.speech import dtmf, split
from ivr.speech.audio import Audio, load, open_audio, resample
from ivr.speech.split import detect_dtmf, recording
from ivr.speech.wav import mu_law_codes

RATE = 8000


def fmt(tag: int = 1, channels: int = 1, rate: int = RATE, bits: int = 16, align: int | None = None) -> bytes:
    align = channels * bits // 8 if align is None else align
    return struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)


def extensible(real_tag: int = 1, channels: int = 1, bits: int = 16) -> bytes:
    guid = struct.pack("<H", real_tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    return fmt(0xFFFE, channels, RATE, bits) + struct.pack("<HHI", 22, bits, 0) + guid


def wav(fmt_body: bytes, data: bytes, data_size: int | None = None, before: bytes = b"") -> bytes:
    size = len(data) if data_size is None else data_size
    chunks = (b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body + before + b"data" + struct.pack("<I", size)
              + data)
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def pcm16(seconds: float, channels: int = 1) -> bytes:
    return bytes(round(seconds * RATE) * 2 * channels)


def floats(kind: str, channels: int, bad_at: int, bad: float, seconds: float = 2.0) -> bytes:
    x = np.full((round(seconds * RATE), channels), 0.1, kind)
    x[bad_at, channels - 1] = bad
    return x.tobytes()


#: id -> (the file's bytes, its exact message after "<file>: ")
HOSTILE: dict[str, tuple[bytes, str]] = {
    "zero-channels": (wav(fmt(channels=0, align=2), pcm16(1)),
                      "bad WAV header: 0 channels; a recording has 1 to 8"),
    "300-channels": (wav(fmt(channels=300), pcm16(0.01, 300)),
                     "bad WAV header: 300 channels; a recording has 1 to 8"),
    "400-KB-at-1-Hz": (wav(fmt(rate=1), bytes(400_000)),
                       "bad WAV header: sample rate 1 Hz; ivr reads 4000 to 192000 Hz"),
    "a-million-Hz": (wav(fmt(rate=1_000_000), pcm16(1)),
                     "bad WAV header: sample rate 1000000 Hz; ivr reads 4000 to 192000 Hz"),
    "channels-vs-alignment": (wav(fmt(channels=2, align=2), pcm16(1)),
                              "bad WAV header: block alignment 2 bytes for 2 channel(s) of 16-bit PCM; it must be 4 "
                              "(channels x bytes per sample)"),
    "alignment-vs-bits": (wav(fmt(bits=16, align=3), pcm16(1)),
                          "bad WAV header: block alignment 3 bytes for 1 channel(s) of 16-bit PCM; it must be 2 "
                          "(channels x bytes per sample)"),
    "12-bit-pcm": (wav(fmt(bits=12, align=2), pcm16(1)),
                   "bad WAV header: 12-bit PCM; PCM samples are 8, 16, 24 or 32 bits"),
    "0-bit-pcm": (wav(fmt(bits=0, align=0), pcm16(1)),
                  "bad WAV header: 0-bit PCM; PCM samples are 8, 16, 24 or 32 bits"),
    "16-bit-float": (wav(fmt(tag=3, bits=16), pcm16(1)),
                     "bad WAV header: 16-bit float; float samples are 32 or 64 bits"),
    "16-bit-mu-law": (wav(fmt(tag=7, bits=16), pcm16(1)),
                      "bad WAV header: 16-bit mu-law; mu-law samples are 8 bits"),
    "adpcm-at-1-Hz": (wav(fmt(tag=2, rate=1, bits=4, align=256), bytes(4096)),
                      "bad WAV header: sample rate 1 Hz; ivr reads 4000 to 192000 Hz"),
    "truncated-extensible": (wav(extensible()[:26], pcm16(1)),
                             "bad WAV header: truncated WAVE_FORMAT_EXTENSIBLE format chunk of 26 bytes; it needs 40"),
    "file-ends-in-extensible": (wav(extensible(), pcm16(1))[:12 + 8 + 30],
                                "bad WAV header: truncated WAVE_FORMAT_EXTENSIBLE format chunk of 30 bytes; it needs "
                                "40"),
    "extensible-alignment": (wav(extensible(channels=2)[:12] + struct.pack("<H", 3) + extensible(channels=2)[14:],
                                 pcm16(1, 2)),
                             "bad WAV header: block alignment 3 bytes for 2 channel(s) of 16-bit PCM; it must be 4 "
                             "(channels x bytes per sample)"),
    "short-format-chunk": (wav(fmt()[:10], pcm16(1)),
                           "not a valid WAV file (format chunk of 10 bytes; it needs at least 16)"),
    "nan-sample": (wav(fmt(tag=3, bits=32), floats("<f4", 1, 4000, math.nan)),
                   "bad sample: channel 0 at 0.500 s (frame 4000) is nan; float samples must be finite numbers"),
    "inf-sample-stereo-64-bit": (wav(fmt(tag=3, channels=2, bits=64), floats("<f8", 2, 8000, -math.inf)),
                                 "bad sample: channel 1 at 1.000 s (frame 8000) is -inf; float samples must be "
                                 "finite numbers"),
    "huge-claimed-data": (wav(fmt(), pcm16(0.0625), data_size=0x7FFEFFFF),
                          "truncated: the WAV header promises 134213.63 s of audio but the file holds 0.06 s"),
    "huge-chunk-before-data": (wav(fmt(), pcm16(1), before=b"LIST" + struct.pack("<I", 0xFFFFFFF0)),
                               "truncated: the WAV file ends before its audio data"),
}


@pytest.mark.parametrize(("data", "message"), HOSTILE.values(), ids=list(HOSTILE))
def test_a_hostile_wav_is_one_clear_error_before_any_allocation(data: bytes, message: str, tmp_path: Path) -> None:
    path = tmp_path / "hostile.wav"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with pytest.raises(AudioError, match=f"^{re.escape(f'{path}: {message}')}$"):
            recording(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(data) + 2**20  # nothing the header claims is allocated: a part of the file at most
    with pytest.raises(AudioError, match=f"^{re.escape(f'{path}: {message}')}$"):
        load(path)


def test_another_format_is_checked_before_ffmpeg_decodes_it(tmp_path: Path) -> None:
    path = tmp_path / "low.flac"
    subprocess.run(["sox", "-n", "-r", "2000", "-b", "16", str(path), "synth", "1", "sine", "300"], check=True)
    message = f"{path}: bad FLAC stream: sample rate 2000 Hz; ivr reads 4000 to 192000 Hz"
    with pytest.raises(AudioError, match=f"^{re.escape(message)}$"):
        load(path)


def test_a_streamed_size_reads_what_the_file_holds(tmp_path: Path) -> None:
    path = tmp_path / "streamed.wav"  # a writer that never came back to fill the sizes in
    path.write_bytes(wav(fmt(), pcm16(1.5), data_size=0xFFFFFFFF))
    assert load(path).duration == 1.5


@pytest.mark.parametrize(("setting", "longest", "message"), [
    ("1", None, "too long: 2 s of audio; the longest ivr reads is 1 s (IVR_MAX_AUDIO_SECONDS)"),
    (None, 1.5, "too long: 2 s of audio; the longest ivr reads is 2 s (IVR_MAX_AUDIO_SECONDS)"),
])
def test_the_longest_recording_is_configurable(setting: str | None, longest: float | None, message: str,
                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "long.wav"
    path.write_bytes(wav(fmt(), pcm16(2)))
    if setting is not None:
        monkeypatch.setenv("IVR_MAX_AUDIO_SECONDS", setting)
    with pytest.raises(AudioError, match=f"^{re.escape(f'{path}: {message}')}$"):
        load(path, longest)
    monkeypatch.setenv("IVR_MAX_AUDIO_SECONDS", "2")
    assert load(path).duration == 2.0


@pytest.mark.parametrize("setting", ["abc", "0", "-5", "inf"])
def test_a_bad_longest_setting_is_a_usage_error(setting: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(wav(fmt(), pcm16(1)))
    monkeypatch.setenv("IVR_MAX_AUDIO_SECONDS", setting)
    with pytest.raises(UsageError, match=re.escape(f"IVR_MAX_AUDIO_SECONDS={setting!r}: not a number of seconds above "
                                                   "0; the default is 14400 (4 hours)")):
        load(path)


def test_float_samples_beyond_full_scale_are_full_scale(tmp_path: Path) -> None:
    path = tmp_path / "loud.wav"
    path.write_bytes(wav(fmt(tag=3, bits=32), np.array([0.5, 3e38, -7.0], "<f4").tobytes()))
    assert load(path).samples.tolist() == [0.5, 1.0, -1.0]


# -- long calls: a window at a time -------------------------------------------------------------------------------

def call(seconds: float, keys_held: float = 0.0) -> np.ndarray:
    """A caller's side of a call: line noise, a short burst of speech-like sound every 30 s, and (optionally) a key
    held `keys_held` seconds 12 s in."""
    rng = np.random.default_rng(3)
    x = rng.normal(0, 10 ** (-50 / 20), round(seconds * RATE)).astype(np.float32)
    t = np.arange(round(0.6 * RATE)) / RATE
    burst = 0.2 * np.sin(2 * np.pi * 180 * t) * np.sin(2 * np.pi * 900 * t) * np.hanning(len(t))
    for at in np.arange(5.0, seconds - 1, 30.0):
        x[round(at * RATE):round(at * RATE) + len(t)] += burst.astype(np.float32)
    if keys_held:
        held = dtmf.synthesize("5", RATE, keys_held, peak=0.5)
        x[12 * RATE:12 * RATE + len(held)] += held
    return x


def mu_law_file(path: Path, x: np.ndarray) -> Path:
    path.write_bytes(wav(fmt(tag=7, bits=8), mu_law_codes(x).tobytes()))
    return path


def test_a_long_call_is_split_a_window_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = mu_law_file(tmp_path / "long.wav", call(20 * 60))
    samples = 20 * 60 * RATE
    monkeypatch.setattr(split, "WINDOW", 5.0)
    monkeypatch.setattr(split, "MARGIN", 1.0)
    window = round((split.WINDOW + 2 * split.MARGIN) * RATE)
    tracemalloc.start()
    try:
        turns = recording(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [round(u.start) for u in turns] == list(range(5, 20 * 60, 30))
    # about 100 bytes a sample of a window (the key-tone detector's frames), and under a byte a sample of the
    # call for its frame energies and turns: far from the whole call as float32 (4 bytes a sample), let alone
    # the 100 bytes a sample it once took
    assert peak < 120 * window + 1.0 * samples


def test_windows_find_what_the_whole_call_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    audio = Audio.mono(call(75, keys_held=3.0), RATE)  # a key held across a window's end, joined up again
    whole = split.split(audio)
    monkeypatch.setattr(split, "WINDOW", 5.0)
    monkeypatch.setattr(split, "MARGIN", 1.0)
    windowed = split.split(audio)
    assert [(u.kind, u.digits) for u in windowed] == [("speech", None), ("dtmf", "5"), ("speech", None),
                                                      ("speech", None)]
    assert [(u.start, u.end, u.digits) for u in windowed] == [
        (pytest.approx(u.start), pytest.approx(u.end), u.digits) for u in whole]
    assert [len(u.audio.samples) for u in windowed] == [len(u.audio.samples) for u in whole]
    [held] = detect_dtmf(audio)
    assert held.start == pytest.approx(12.0, abs=0.02)
    assert held.end == pytest.approx(15.0, abs=0.02)


@pytest.mark.parametrize(("old", "new"), [(44100, 8000), (8000, 16000), (11025, 8000)])
def test_a_long_signal_is_resampled_a_window_at_a_time_as_if_whole(old: int, new: int) -> None:
    from ivr.speech.audio import WHOLE, _resample

    x = np.random.default_rng(5).normal(0, 0.1, 2 * WHOLE + 12345).astype(np.float32)  # white: the worst case
    windowed, whole = resample(x, old, new), _resample(x, old, new)
    assert len(windowed) == len(whole)
    error = float(np.sqrt(np.mean(np.square(windowed - whole, dtype=np.float64))))
    assert error < 10 ** (-50 / 20) * float(np.sqrt(np.mean(np.square(whole, dtype=np.float64))))


@pytest.mark.parametrize(("picked", "expected"), [(0, 0.25), (1, -0.5), (None, -0.125)])
def test_a_file_read_in_parts_picks_its_channel(picked: int | None, expected: float, tmp_path: Path) -> None:
    path = tmp_path / "two.wav"
    pcm = np.tile(np.array([[8192, -16384]], "<i2"), (RATE, 1))
    path.write_bytes(wav(fmt(channels=2), pcm.tobytes()))
    with open_audio(path) as file:
        chosen = file if picked is None else file.channel(picked)
        part: Callable[[int, int], np.ndarray] = chosen.part
        assert part(RATE - 10, 100).tolist() == [expected] * 10
        assert chosen.cut(0.5, 0.75).samples.tolist() == [expected] * (RATE // 4)
    assert load(path).channel(1).samples[0] == -0.5
