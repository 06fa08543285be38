"""The crawler's state graph of a black-box line: states told apart by the TwiML the app returns, and the
transitions observed between them (`ivr crawl`).

A state where the call waits is its *normalised* TwiML: what the IVR said since the caller's last action
(whitespace collapsed; per-call ids such as SIDs, UUIDs and long hex runs replaced), the waiting verb and all its
attributes (input modes, numDigits, finishOnKey, hints, timeouts...), the verbs after it (what a timeout falls
through to), and its action URL with per-call values dropped: a path segment or query value that is a number, a
SID, a UUID or a hex token (ivr's own `?seq=3`) keeps only its key. Two points of two calls with equal
normalised TwiML are one state. A call that has ended is a terminal state: its status, who hung up, Twilio's
error codes, what was dialled or joined, and its last prompt with digits generalised (a confirmation number
differs on every call). Prompts keep their digits elsewhere: "2 attempts left" and "1 attempt left" are two
states, so a counter the prompt shows is never mistaken for a loop.

Transitions are (state, try) -> outcomes: the next state, and whether the user's cancellation conditions were
met on the way. One try can lead to different states on different paths (a counter the prompt does not show);
every outcome observed is kept, and the analysis takes the worst.
"""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from ivr.testing.crawl_inputs import Plan, Try

if TYPE_CHECKING:
    from ivr.testing.sim import Call

_SID = re.compile(r"\b[A-Z]{2}[0-9a-fA-F]{32}\b")
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_HEX = re.compile(r"\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{16,}\b")
_TOKEN = re.compile(r"[A-Za-z0-9_=+/-]{16,}")
_DIGITS = re.compile(r"[0-9]+(?:[ ,.-][0-9]+)*")
#: the waiting verb's attributes that are not part of a state's identity (or are normalised on their own)
_OWN = ("url", "action", "rest")
Kind = Literal["gather", "record", "ended"]


def ids_out(text: str) -> str:
    """`text` with per-call ids (SIDs, UUIDs, long hex tokens) replaced."""
    return _HEX.sub("{id}", _UUID.sub("{id}", _SID.sub("{id}", text)))


def per_call(value: str) -> bool:
    """Whether a URL's path segment or query value is one call's own: a number, a SID, a UUID, a hex run of 8 or
    more, or a token of 16 or more characters mixing letters and digits."""
    if value.isdigit() or _SID.fullmatch(value) or _UUID.fullmatch(value):
        return True
    has_digit, has_letter = any(c.isdigit() for c in value), any(c.isalpha() for c in value)
    if len(value) >= 8 and has_digit and re.fullmatch(r"[0-9a-fA-F]+", value):
        return True
    return has_digit and has_letter and _TOKEN.fullmatch(value) is not None


def normal_url(url: str) -> str:
    """A URL as a state knows it: scheme and host, the path with per-call segments replaced, and the query's keys,
    each with its value only when the value is not per-call (a number, SID, UUID or token)."""
    parts = urlsplit(url)
    path = "/".join("{id}" if per_call(s) and (len(s) >= 8 or not s.isdigit()) else s
                    for s in parts.path.split("/"))
    query = sorted({k if per_call(v) or not v else f"{k}={v}"
                    for k, v in parse_qsl(parts.query, keep_blank_values=True)})
    return f"{parts.netloc}{path}" + (f"?{'&'.join(query)}" if query else "")


def _verbs(elements: list[ET.Element]) -> str:
    """The verbs after a Gather (a timeout falls through to them), as text."""
    out = []
    for e in elements:
        attrs = ",".join(f"{k}={normal_url(v) if k in ('action', 'url') else v}" for k, v in sorted(e.attrib.items()))
        text = " ".join(" ".join(e.itertext()).split())
        out.append(f"<{e.tag} {attrs}>{normal_url(text) if e.tag == 'Redirect' else ids_out(text)}")
    return "".join(out)


def _attributes(waiting: Any) -> tuple[tuple[str, str], ...]:
    """Every attribute of the waiting verb, as text: robust to the attributes a newer simulator adds."""
    values = {f.name: getattr(waiting, f.name) for f in dataclasses.fields(waiting)} \
        if dataclasses.is_dataclass(waiting) else dict(vars(waiting))
    found = []
    for name, value in sorted(values.items()):
        if name in _OWN or name.startswith("_"):
            continue
        if isinstance(value, frozenset | set):
            text = " ".join(sorted(map(str, value)))
        elif isinstance(value, str | int | float | bool) or value is None:
            text = ids_out(" ".join(str(value).split()))  # a recording's SID is the call's own
        else:
            continue
        found.append((name, text))
    found.append(("action", normal_url(str(getattr(waiting, "action", "")))))
    rest = getattr(waiting, "rest", None)
    if isinstance(rest, list):
        found.append(("rest", _verbs(rest)))
    return tuple(found)


@dataclass(frozen=True)
class Seen:
    """What a call looks like at one point, as the crawler tells states apart."""

    key: tuple[Any, ...]
    kind: Kind
    prompt: str
    status: str = "in-progress"
    errors: tuple[str, ...] = ()
    detail: str = ""  # an ending: what Twilio did (dialled, hung up by whom)

    @property
    def shape(self) -> tuple[Any, ...]:
        """The key with every number generalised: states of one shape differ only in numbers (a prompt that reads
        back what was entered); `--max-variants` bounds how many of them are explored."""
        return (self.kind, _DIGITS.sub("#", self.prompt), self.key[2:])


def observe(call: Call) -> Seen:
    """The state `call` is in now."""
    prompt = ids_out(" ".join(call.prompt.split()))
    waits = getattr(call.waiting, "kind", "gather")
    if call.waiting is not None and not call.ended and waits in ("gather", "record"):
        kind: Kind = "record" if waits == "record" else "gather"
        return Seen((kind, prompt, *_attributes(call.waiting)), kind, prompt)
    if call.waiting is not None and not call.ended:  # an <Echo>: nothing to do but hang up
        return Seen(("ended", waits, prompt), "ended", prompt, call.status, (),
                    f"<{waits.capitalize()}>: the caller can only hang up")
    dialled = tuple(f"{getattr(d, 'kind', 'number')} {d.target} ({d.status})" for d in getattr(call, "dialled", []))
    joined = tuple(f"queue {q}" for q in getattr(call, "queues", [])) + \
        tuple(f"conference {c}" for c in getattr(call, "conferences", []))
    codes = tuple(call.error_codes)
    said = _DIGITS.sub("#", prompt)
    by = getattr(call, "hung_up_by", None)
    detail = "; ".join([*(f"dialled {d}" for d in dialled), *(f"joined {j}" for j in joined),
                        *([f"hung up by {by}"] if by else [])])
    return Seen(("ended", call.status, by, codes, said, dialled, joined), "ended", prompt, call.status,
                tuple(call.errors), detail)


@dataclass(frozen=True)
class Outcome:
    """Where a try led: the next state, and whether cancellation (`--cancel-when`) was met on the way."""

    to: int
    cancelled: bool


@dataclass
class State:
    """A state of the line: its TwiML, the shortest known way in (the tries from the entry, and the states they
    pass), and what the crawler plans to try there (None: an ending, or not explored: `note` says why)."""

    id: int
    seen: Seen
    path: tuple[Try, ...]
    trail: tuple[int, ...]  # the states the way in passes: path[i] is made at trail[i]; trail[-1] is this one
    plan: Plan | None = None
    note: str = ""

    @property
    def depth(self) -> int:
        return len(self.path)

    @property
    def ended(self) -> bool:
        return self.seen.kind == "ended"

    @property
    def name(self) -> str:
        return f"S{self.id}"


@dataclass
class Graph:
    """Every state discovered and every transition observed (with how often)."""

    states: list[State] = field(default_factory=list)
    by_key: dict[tuple[Any, ...], int] = field(default_factory=dict)
    edges: dict[tuple[int, Try], dict[Outcome, int]] = field(default_factory=dict)

    def discover(self, seen: Seen, path: tuple[Try, ...], trail: tuple[int, ...]) -> tuple[State, bool]:
        """The state `seen` is (a new one when its key is new, True); a shorter way in replaces a longer one."""
        found = self.by_key.get(seen.key)
        if found is None:
            state = State(len(self.states), seen, path, (*trail, len(self.states)))
            self.states.append(state)
            self.by_key[seen.key] = state.id
            return state, True
        state = self.states[found]
        if len(path) < state.depth:
            state.path, state.trail = path, (*trail, state.id)
        return state, False

    def add(self, at: int, done: Try, outcome: Outcome) -> None:
        seen = self.edges.setdefault((at, done), {})
        seen[outcome] = seen.get(outcome, 0) + 1

    def outcomes(self, at: int, done: Try) -> dict[Outcome, int] | None:
        """What `done` at state `at` has led to, or None when it was never observed."""
        return self.edges.get((at, done))

    def waiting(self) -> list[State]:
        return [s for s in self.states if not s.ended]

    def endings(self) -> list[State]:
        return [s for s in self.states if s.ended]
