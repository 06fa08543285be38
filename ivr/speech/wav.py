"""WAV files and G.711, with numpy: read a WAV's channels (PCM, float, mu-law, A-law), write mu-law.

Reading walks the RIFF chunks itself rather than trusting a decoder, so that a file cut short (the data chunk
promises more than the file holds: an interrupted download or copy) is an error that says so, instead of a
shorter recording that silently loses the caller's last turns. Encodings it does not know (ADPCM, GSM, ...) are
left to ffmpeg by `ivr.speech.audio`. Mu-law is how Twilio records calls and how a phone line carries them.
"""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt

from ivr.errors import AudioError

FloatArray = npt.NDArray[np.float32]
_STREAMED = 0x7FFF0000  # a data size at least this big was written by a streaming writer that never came back


def read_wav(data: bytes, name: str) -> tuple[tuple[FloatArray, ...], int] | None:
    """A WAV file's channels and rate; None for an encoding we leave to ffmpeg (ADPCM, GSM, ...)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError(f"{name}: not a WAV file (no RIFF/WAVE header)")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        chunk, size, body = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little"), pos + 8
        if chunk == b"fmt ":
            fmt = _wav_format(data[body:body + size], name)
        elif chunk == b"data":
            if fmt is None:
                raise AudioError(f"{name}: not a valid WAV file (audio data before the format chunk)")
            tag, channels, rate, align, bits = fmt
            held = len(data) - body
            if size > held and size < _STREAMED:
                raise AudioError(f"{name}: truncated: the WAV header promises {size / align / rate:.2f} s of audio "
                                 f"but the file holds {held // align / rate:.2f} s")
            payload = data[body:body + min(size, held)]
            samples = _wav_samples(payload[:len(payload) - len(payload) % align], tag, bits)
            if samples is None:
                return None
            frames = samples.reshape(-1, channels)
            return tuple(np.ascontiguousarray(frames[:, c]) for c in range(channels)), rate
        pos = body + size + (size & 1)
    if fmt is None:
        raise AudioError(f"{name}: not a valid WAV file (no format chunk)")
    raise AudioError(f"{name}: truncated: the WAV file ends before its audio data")


def _wav_format(body: bytes, name: str) -> tuple[int, int, int, int, int]:
    if len(body) < 16:
        raise AudioError(f"{name}: not a valid WAV file (format chunk of {len(body)} bytes)")
    tag, channels, rate, _, align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the real tag opens the sub-format GUID
        tag = int.from_bytes(body[24:26], "little")
    if not channels or not rate or not align:
        raise AudioError(f"{name}: not a valid WAV file (format chunk says {channels} channels at {rate} Hz)")
    return tag, channels, rate, align, bits


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


def _wav_samples(payload: bytes, tag: int, bits: int) -> FloatArray | None:
    if tag == 1 and bits in (8, 16, 24, 32):
        if bits == 8:
            return ((np.frombuffer(payload, np.uint8).astype(np.float32) - 128) / 128).astype(np.float32)
        if bits == 24:
            raw = np.frombuffer(payload, np.uint8).reshape(-1, 3).astype(np.int32)
            value = (raw[:, 0] | raw[:, 1] << 8 | raw[:, 2] << 16) << 8 >> 8  # sign-extend 24 bits
            return (value / 2.0**23).astype(np.float32)
        kind = np.int16 if bits == 16 else np.int32
        return (np.frombuffer(payload, f"<{np.dtype(kind).str[1:]}") / 2.0 ** (bits - 1)).astype(np.float32)
    if tag == 3 and bits in (32, 64):
        return np.frombuffer(payload, "<f4" if bits == 32 else "<f8").astype(np.float32)
    if tag in (6, 7) and bits == 8:
        return (ULAW if tag == 7 else ALAW)[np.frombuffer(payload, np.uint8)]
    return None


def mu_law_wav(samples: FloatArray, rate: int) -> bytes:
    """A mono 8-bit G.711 mu-law WAV file of `samples` (format 7, with the `fact` chunk non-PCM files carry)."""
    codes = mu_law_codes(np.clip(samples, -1.0, 1.0)).tobytes()
    fmt = struct.pack("<HHIIHHH", 7, 1, rate, rate, 1, 8, 0)  # mu-law, mono, 1 byte a sample, no extra bytes
    chunks = (b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<II", 4, len(codes))
              + b"data" + struct.pack("<I", len(codes)) + codes + b"\0" * (len(codes) & 1))
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks
