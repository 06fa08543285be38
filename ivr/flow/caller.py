"""What a caller did at one prompt: said something (`Speech`), pressed keys (`Digits`) or nothing (`Silence`),
and the one text form of each that every report, trace and call script writes and reads back:
`#1234` for keys, `(silence)` for nothing, anything else is speech.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.flow.nodes import DTMF_KEYS

#: the text form of silence, and of an answer no node understands (the proof's "junk")
SILENCE_TEXT = "(silence)"


@dataclass(frozen=True, slots=True)
class Speech:
    """What the recogniser heard, with its confidence (0..1) when it gave one."""

    text: str
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Digits:
    """Keys the caller pressed (DTMF), e.g. "1234#"."""

    keys: str


@dataclass(frozen=True, slots=True)
class Silence:
    """The caller said and pressed nothing before the Gather timed out."""


Heard = Speech | Digits | Silence


def as_text(heard: Heard) -> str:
    """The one text form of `heard`: `#1234`, `(silence)`, or the words said."""
    if isinstance(heard, Digits):
        return f"#{heard.keys}"
    if isinstance(heard, Silence):
        return SILENCE_TEXT
    return heard.text


def from_text(text: str) -> Heard:
    """The answer `as_text` wrote (and what a person types at `ivr call`): `#` then keys, `(silence)` or an empty
    line, else speech (`#hello` too). A lone `#` is the key `#`."""
    stripped = text.strip()
    if not stripped or stripped == SILENCE_TEXT:
        return Silence()
    if stripped.startswith("#") and all(k in DTMF_KEYS for k in stripped[1:]):
        return Digits(stripped[1:] or "#")
    return Speech(stripped)
