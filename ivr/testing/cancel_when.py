"""What cancellation looks like from outside a line: the conditions `ivr crawl --cancel-when` and a call
script's `cancel_when` take, checked on what Twilio saw of a simulated call (never on the app's source).

    prompt:REGEX         the IVR says something matching REGEX (case-insensitive), e.g. prompt:cancellation number
    dialled:TARGET       the call is connected to TARGET (a number, client identity, SIP URI, queue or conference)
    url:PATH             Twilio requests a URL whose path is PATH (or matches it, when PATH has a '*')
    hangup-after:REGEX   the app hangs up after saying something matching REGEX
    outcome:NAME         the app reports the outcome NAME (ivr's own X-Ivr-Outcome header: lines built with ivr)

A line's cancellation can look several ways (a confirmation prompt, or a transfer to the retention desk's
number): give several; any one of them counts.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from ivr.errors import UsageError
from ivr.testing.sim import Call

Kind = Literal["prompt", "dialled", "url", "hangup-after", "outcome"]
KINDS: dict[str, str] = {
    "prompt": "the IVR says something matching a regular expression",
    "dialled": "the call is connected to a number, client, SIP URI, queue or conference",
    "url": "Twilio requests a URL with this path ('*' matches anything)",
    "hangup-after": "the app hangs up after saying something matching a regular expression",
    "outcome": "the app reports this outcome in ivr's X-Ivr-Outcome header (lines built with ivr)",
}
ALIASES = {"dial": "dialled", "dialed": "dialled", "hangup_after": "hangup-after", "path": "url"}


@dataclass(frozen=True)
class CancelWhen:
    kind: Kind
    value: str

    @classmethod
    def parse(cls, text: str, where: str = "--cancel-when") -> CancelWhen:
        """`KIND:VALUE` as a person types it; a clear error naming the valid kinds otherwise."""
        kind, sep, value = text.partition(":")
        kind = ALIASES.get(kind.strip().lower(), kind.strip().lower())
        if not sep or kind not in KINDS:
            raise UsageError(f"{where} {text!r}: expected KIND:VALUE with KIND one of {list(KINDS)} "
                             "(e.g. 'prompt:cancellation number', 'dialled:+18005550123', 'url:/cancelled')")
        if not value.strip():
            raise UsageError(f"{where} {text!r}: {kind} needs a value after the ':' ({KINDS[kind]})")
        if kind in ("prompt", "hangup-after"):
            try:
                re.compile(value)
            except (re.error, RecursionError, OverflowError) as exc:
                raise UsageError(f"{where} {text!r}: {value!r} is not a regular expression ({exc})") from None
        return cls(kind, value.strip())  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"

    def met(self, call: Call, since: Mark | None = None) -> bool:
        """Whether the call shows this cancellation, counting only what happened after `since`."""
        mark = since or Mark()
        if self.kind == "prompt":
            pattern = re.compile(self.value, re.IGNORECASE)
            return any(pattern.search(text) for text in _prompts(call, mark))
        if self.kind == "dialled":
            wanted = _plain(self.value)
            return any(_plain(d.target) == wanted for d in call.dialled[mark.dialled:])
        if self.kind == "url":
            return any(_path_matches(r.url, self.value) for r in call.requests[mark.requests:]
                       if r.purpose == "twiml")
        if self.kind == "hangup-after":
            if call.hung_up_by != "app":
                return False
            said = _prompts(call, mark)
            return bool(said) and re.search(self.value, said[-1], re.IGNORECASE) is not None
        return call.outcome == self.value


@dataclass(frozen=True)
class Mark:
    """A point in a call: how much of its transcript, dials and requests came before it."""

    transcript: int = 0
    dialled: int = 0
    requests: int = 0

    @classmethod
    def now(cls, call: Call) -> Mark:
        return cls(len(call.transcript), len(call.dialled), len(call.requests))


def met(conditions: Sequence[CancelWhen], call: Call, since: Mark | None = None) -> bool:
    """Whether any of the conditions holds on the call since `since`."""
    return any(c.met(call, since) for c in conditions)


def parse_all(texts: Sequence[str], where: str = "--cancel-when") -> tuple[CancelWhen, ...]:
    return tuple(CancelWhen.parse(t, where) for t in texts)


def _prompts(call: Call, mark: Mark) -> list[str]:
    return [e.text for e in call.transcript[mark.transcript:] if e.who == "ivr"]


def _plain(target: str) -> str:
    """A dialled target compared as Twilio writes it: a phone number without its punctuation."""
    text = target.strip()
    if re.fullmatch(r"\+?[0-9 ().-]+", text):
        return re.sub(r"[^0-9+]", "", text)
    return text.lower()


def _path_matches(url: str, wanted: str) -> bool:
    path = urlsplit(url).path or "/"
    return fnmatch.fnmatchcase(path, wanted) if "*" in wanted else path.rstrip("/") == wanted.rstrip("/") or \
        path == wanted
