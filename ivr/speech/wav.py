"""WAV files and G.711, with numpy: check a WAV's header, read its samples a part at a time, write mu-law; and
any other audio file as a WAV, decoded by ffmpeg.

Reading walks the RIFF chunks itself rather than trusting a decoder, and checks the header against sane limits and
against the file's real size *before* anything is allocated: a 400 KB file claiming 1 Hz would otherwise become
eleven gigabytes once resampled, and channels that do not match the block alignment would crash the decoder. A file
cut short (the data chunk promises more than the file holds: an interrupted download or copy) is an error that says
so, instead of a shorter recording that silently loses the caller's last turns. Samples are then read a part at a
time (`read_frames`), as float32 and never as a float64 copy of the whole, so memory does not grow with the call.
Encodings it does not know (ADPCM, GSM, ...) and the other formats (MP3, FLAC, OGG) are left to ffmpeg (`decode`),
after the same checks of rate and channels: ffprobe for the codec and the length the container promises (a longer
one is an error before decoding, a shorter decoding is a truncated file), then ffmpeg into a temporary 16-bit WAV
file, read as any other. Mu-law is how Twilio records calls and how a phone line carries them.

Limits (each error names the file, what is wrong, the value and the limit): a sample rate of 4000-192000 Hz,
1-8 channels, a block alignment of channels x bytes per sample, PCM of 8, 16, 24 or 32 bits, float of 32 or 64,
G.711 of 8, finite float samples, and at most `longest_seconds()` of audio: 4 hours (Twilio's longest call by
default), or `IVR_MAX_AUDIO_SECONDS`.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from ivr.errors import AudioError, UsageError

FloatArray = npt.NDArray[np.float32]
_STREAMED = 0x7FFF0000  # a data size at least this big was written by a streaming writer that never came back

MIN_RATE, MAX_RATE = 4000, 192000
MAX_CHANNELS = 8
#: the longest recording read (seconds) unless IVR_MAX_AUDIO_SECONDS says otherwise: Twilio's default call limit
MAX_SECONDS = 4 * 3600
#: the encodings read here (format tag -> its name and the sample sizes it may have); others go to ffmpeg
ENCODINGS: dict[int, tuple[str, tuple[int, ...]]] = {1: ("PCM", (8, 16, 24, 32)), 3: ("float", (32, 64)),
                                                     6: ("A-law", (8,)), 7: ("mu-law", (8,))}
_EXTENSIBLE, _EXTENSIBLE_SIZE = 0xFFFE, 40  # WAVE_FORMAT_EXTENSIBLE: the real tag opens a sub-format GUID


def longest_seconds() -> float:
    """The longest recording ivr reads, in seconds: IVR_MAX_AUDIO_SECONDS, else `MAX_SECONDS` (4 hours)."""
    text = os.environ.get("IVR_MAX_AUDIO_SECONDS", "").strip()
    if not text:
        return float(MAX_SECONDS)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise UsageError(f"IVR_MAX_AUDIO_SECONDS={text!r}: not a number of seconds above 0; the default is "
                         f"{MAX_SECONDS} (4 hours)")
    return value


@dataclass(frozen=True)
class WavHeader:
    """A checked WAV header: the encoding, and where its `frames` frames of samples start (`offset`, bytes)."""

    name: str
    tag: int
    channels: int
    rate: int
    bits: int
    align: int
    offset: int = 0
    frames: int = 0

    @property
    def decoded(self) -> bool:
        """Whether `read_frames` decodes this encoding (else ffmpeg does)."""
        return self.tag in ENCODINGS

    def decode(self, payload: bytes, first: int = 0) -> FloatArray:
        """Whole frames of `payload` as float32 in [-1, 1], one column a channel; `first` is the first frame's
        number, for the message about a sample that is not a number."""
        x: FloatArray
        if self.tag == 1 and self.bits == 24:
            raw = np.frombuffer(payload, np.uint8).reshape(-1, 3).astype(np.int32)
            x = ((raw[:, 0] | raw[:, 1] << 8 | raw[:, 2] << 16) << 8 >> 8).astype(np.float32)  # sign-extended
            x *= 2.0 ** -23
        elif self.tag == 1:
            kind = {8: "u1", 16: "<i2", 32: "<i4"}[self.bits]
            x = np.frombuffer(payload, kind).astype(np.float32)
            if self.bits == 8:
                x -= 128
            x *= 2.0 ** (1 - self.bits)
        elif self.tag == 3:
            wide = np.frombuffer(payload, "<f4" if self.bits == 32 else "<f8")
            bad = np.flatnonzero(~np.isfinite(wide))
            if len(bad):
                frame, channel = divmod(int(bad[0]) + first * self.channels, self.channels)
                raise AudioError(f"{self.name}: bad sample: channel {channel} at {frame / self.rate:.3f} s (frame "
                                 f"{frame}) is {float(wide[bad[0]])}; float samples must be finite numbers")
            x = np.clip(wide, -1.0, 1.0).astype(np.float32)  # louder than full scale is full scale, as on a line
        else:
            x = (ULAW if self.tag == 7 else ALAW)[np.frombuffer(payload, np.uint8)]
        return x.reshape(-1, self.channels)


def read_header(f: BinaryIO, size: int, name: str, longest: float | None = None) -> WavHeader:
    """The header of the WAV file `f` (`size` bytes), checked against the limits and the file's size; the file
    is left where it was found. A header for an encoding ffmpeg must decode comes back with `decoded` False."""
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise AudioError(f"{name}: not a WAV file (no RIFF/WAVE header)")
    pos, fmt = 12, None
    while pos + 8 <= size:
        f.seek(pos)
        chunk, length = f.read(4), int.from_bytes(f.read(4), "little")
        body = pos + 8
        if chunk == b"fmt ":
            fmt = _format(f.read(min(length, 1024)), name)
        elif chunk == b"data":
            if fmt is None:
                raise AudioError(f"{name}: not a valid WAV file (audio data before the format chunk)")
            held = size - body  # a size this big was never filled in: the audio runs to the end of the file
            if length < _STREAMED:
                if length > held:
                    raise AudioError(f"{name}: truncated: the WAV header promises {length / fmt.align / fmt.rate:.2f}"
                                     f" s of audio but the file holds {held // fmt.align / fmt.rate:.2f} s")
                held = length  # chunks after the audio are not audio
            header = WavHeader(fmt.name, fmt.tag, fmt.channels, fmt.rate, fmt.bits, fmt.align, body,
                               held // fmt.align)
            _check_length(header, longest)
            return header
        pos = body + length + (length & 1)
    if fmt is None:
        raise AudioError(f"{name}: not a valid WAV file (no format chunk)")
    raise AudioError(f"{name}: truncated: the WAV file ends before its audio data")


def _format(body: bytes, name: str) -> WavHeader:
    if len(body) < 16:
        raise AudioError(f"{name}: not a valid WAV file (format chunk of {len(body)} bytes; it needs at least 16)")
    tag, channels, rate, _, align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _EXTENSIBLE:
        if len(body) < _EXTENSIBLE_SIZE:
            raise AudioError(f"{name}: bad WAV header: truncated WAVE_FORMAT_EXTENSIBLE format chunk of {len(body)} "
                             f"bytes; it needs {_EXTENSIBLE_SIZE}")
        tag = int.from_bytes(body[24:26], "little")
    problem = _out_of_range(channels, rate) or _encoding_problem(tag, channels, bits, align)
    if problem:
        raise AudioError(f"{name}: bad WAV header: {problem}")
    return WavHeader(name, tag, channels, rate, bits, align)


def _encoding_problem(tag: int, channels: int, bits: int, align: int) -> str | None:
    if tag in ENCODINGS and bits not in ENCODINGS[tag][1]:
        kind, sizes = ENCODINGS[tag]
        listed = ", ".join(map(str, sizes[:-1])) + " or " * (len(sizes) > 1) + str(sizes[-1])
        return f"{bits}-bit {kind}; {kind} samples are {listed} bits"
    if tag in ENCODINGS and align != channels * bits // 8:
        return (f"block alignment {align} bytes for {channels} channel(s) of {bits}-bit {ENCODINGS[tag][0]}; it "
                f"must be {channels * bits // 8} (channels x bytes per sample)")
    if not align:
        return "block alignment 0 bytes; it must be at least 1"
    return None


def _out_of_range(channels: int, rate: int) -> str | None:
    if not 1 <= channels <= MAX_CHANNELS:
        return f"{channels} channels; a recording has 1 to {MAX_CHANNELS}"
    if not MIN_RATE <= rate <= MAX_RATE:
        return f"sample rate {rate} Hz; ivr reads {MIN_RATE} to {MAX_RATE} Hz"
    return None


def _check_length(header: WavHeader, longest: float | None) -> None:
    limit = longest_seconds() if longest is None else longest
    seconds = header.frames / header.rate
    if header.decoded and seconds > limit:
        raise AudioError(f"{header.name}: too long: {seconds:.0f} s of audio; the longest ivr reads is {limit:.0f} s "
                         "(IVR_MAX_AUDIO_SECONDS)")


def read_frames(f: BinaryIO, header: WavHeader, start: int, count: int) -> FloatArray:
    """Frames `start` to `start + count` (as many as there are) of `f`, decoded: one column a channel."""
    start, stop = max(0, min(start, header.frames)), max(0, min(start + count, header.frames))
    f.seek(header.offset + start * header.align)
    payload = f.read((stop - start) * header.align)
    if len(payload) < (stop - start) * header.align:
        raise AudioError(f"{header.name}: truncated: the file shrank while it was read (to frame "
                         f"{start + len(payload) // header.align} of {header.frames})")
    return header.decode(payload, start)


# -- other formats, through ffmpeg ---------------------------------------------------------------------------

def decode(path: Path, kind: str, longest: float | None = None) -> tuple[BinaryIO, WavHeader]:
    """A file of another format (`kind`: MP3, FLAC, ...; or a WAV encoding not read here) as a WAV: ffprobe for
    the codec and the length the container promises, then ffmpeg to decode it into a temporary 16-bit WAV file
    (gone once closed), its header checked as any WAV's is."""
    name = str(path)
    limit = longest_seconds() if longest is None else longest
    try:
        probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a", "-show_entries",
                                "stream=codec_name,channels,sample_rate:format=duration", "-of", "json", name],
                               capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise AudioError(f"{name}: reading {kind} needs ffmpeg, which is not installed (Debian: apt-get install "
                         "ffmpeg)") from None
    info = json.loads(probe.stdout or "{}")
    streams = info.get("streams") or []
    if probe.returncode or not streams:
        reason = _ffmpeg_reason(probe.stderr, name) if probe.returncode else "no audio stream"
        raise AudioError(f"{name}: corrupt, or not a valid {kind} file (ffmpeg: {reason})")
    stream = streams[0]
    problem = _out_of_range(*(int(_float(str(stream.get(k))) or 0) for k in ("channels", "sample_rate")))
    if problem:  # before ffmpeg writes hours of it to disk
        raise AudioError(f"{name}: bad {kind} stream: {problem}")
    promised = _float(info.get("format", {}).get("duration", ""))
    if promised is not None and promised > limit:
        raise AudioError(f"{name}: too long: {promised:.0f} s of audio; the longest ivr reads is {limit:.0f} s "
                         "(IVR_MAX_AUDIO_SECONDS)")
    with tempfile.TemporaryDirectory(prefix="ivr-audio-") as tmp:
        out = Path(tmp) / "decoded.wav"
        done = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-acodec", stream["codec_name"], "-i", name,
                               "-map", "0:a:0", "-t", f"{limit + 1:.0f}", "-c:a", "pcm_s16le", "-f", "wav", str(out)],
                              capture_output=True, text=True, check=False)
        if done.returncode or not out.exists():
            raise AudioError(f"{name}: corrupt, or not a valid {kind} file (ffmpeg: "
                             f"{_ffmpeg_reason(done.stderr, name)})")
        file = out.open("rb")  # still readable once its directory is gone (POSIX)
    try:
        header = read_header(file, os.fstat(file.fileno()).st_size, name, limit)
        held = header.frames / header.rate
        if promised is not None and promised - held > max(0.25, 0.05 * promised):  # MP3 encoders pad ~0.1 s
            raise AudioError(f"{name}: truncated: the {kind} header promises {promised:.2f} s of audio but only "
                             f"{held:.2f} s decode")
    except BaseException:
        file.close()
        raise
    return file, header


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _ffmpeg_reason(stderr: str, name: str) -> str:
    """ffmpeg's own words for what is wrong: its last line about the file, else its last error line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    about = [line.removeprefix(f"{name}: ") for line in lines if line.startswith(f"{name}: ")]
    errors = [re.sub(r"^\[[^]]*\]\s*", "", line) for line in lines if line.startswith("[") or "rror" in line]
    return (about or errors or ["ffmpeg could not read it"])[-1]



# -- G.711 ---------------------------------------------------------------------------------------------------

def _g711_tables() -> tuple[FloatArray, FloatArray]:
    code = np.arange(256)
    u = ~code & 0xFF  # mu-law: bits are sent inverted
    ulaw_magnitude = ((((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 7)) - 0x84
    ulaw = np.where(u & 0x80, -ulaw_magnitude, ulaw_magnitude) / 32768
    a = code ^ 0x55  # A-law: even bits are sent inverted
    seg, mant = (a >> 4) & 7, (a & 0x0F) << 4
    alaw_magnitude = np.where(seg == 0, mant + 8, (mant + 0x108) << np.maximum(seg - 1, 0))
    alaw = np.where(a & 0x80, alaw_magnitude, -alaw_magnitude) / 32768
    return ulaw.astype(np.float32), alaw.astype(np.float32)


ULAW, ALAW = _g711_tables()
_ULAW_ORDER = np.argsort(ULAW, kind="stable")


def mu_law_codes(x: FloatArray) -> npt.NDArray[np.uint8]:
    """G.711 mu-law codes of `x`: the nearest of the 256 levels (the standard's decision levels are midpoints)."""
    levels = ULAW[_ULAW_ORDER]
    i = np.clip(np.searchsorted(levels, x), 1, len(levels) - 1)
    below = (x - levels[i - 1]) < (levels[i] - x)
    return _ULAW_ORDER[np.where(below, i - 1, i)].astype(np.uint8)


def mu_law_wav(samples: FloatArray, rate: int) -> bytes:
    """A mono 8-bit G.711 mu-law WAV file of `samples` (format 7, with the `fact` chunk non-PCM files carry)."""
    codes = mu_law_codes(np.clip(samples, -1.0, 1.0)).tobytes()
    fmt = struct.pack("<HHIIHHH", 7, 1, rate, rate, 1, 8, 0)  # mu-law, mono, 1 byte a sample, no extra bytes
    chunks = (b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<II", 4, len(codes))
              + b"data" + struct.pack("<I", len(codes)) + codes + b"\0" * (len(codes) & 1))
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks
