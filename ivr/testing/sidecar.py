"""Sidecar expectation files: what a recorded call must end with, in YAML beside the recording.

    # calls/persistent-canceller.expect.yaml, beside calls/persistent-canceller.wav
    # (or .mp3, .flac, .ogg, or a directory calls/persistent-canceller/ of per-turn clips)
    flow: acme                 # the flow's name as served: the call goes to POST /voice/acme
    within: 4                  # within 4 turns; alone: the outcome of the flow's guarantee (as `ivr replay`)
    outcome: cancelled         # the outcome the call must end with (give outcome, within, or both)
    caller_channel: 0          # the caller's channel of a dual-channel recording (default 0)
    stt: whisper               # vosk or whisper (default: as `ivr replay`, by the flow's language)
    description: asks to cancel three times, account number by keypad
    known_failure: Vosk hears this voice's 취소 as silence on a noisy line   # a strict xfail: see below
    said: [cancel, "#12345678#", cancel, "yes"]   # what the caller said at each turn: the call is judged twice

The pytest plugin collects each sidecar as one test that replays its recording (`ivr.testing.replay`) against the
served line. This module owns the format: it reads a sidecar (through `ivr.flow.loader`, like call scripts), finds
the one recording it describes, and checks it against the flows a line serves. Every mistake names the file,
the line, the key, the bad value and the valid choices.

`said` is one entry per caller turn in `ivr.flow.caller`'s text form (`cancel`, `#12345678#`, `(silence)`; a `#`
must be quoted, or YAML reads a comment). With it, replay judges the call on what was said as well as on what was
heard, and blames the flow or the recogniser (`ivr.testing.replay`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.errors import Problem, SidecarError
from ivr.files import stem
from ivr.flow.loader import LineNumbers, read_mapping, read_text, unshadowed
from ivr.flow.nodes import DEFAULT_OUTCOME
from ivr.speech.audio import FORMATS
from ivr.speech.transcript import ENGINES

if TYPE_CHECKING:
    from ivr.flow.model import Flow

#: key -> what its value must be
KEYS = {
    "flow": "the flow's name as served (letters, digits, '_' and '-'), e.g. 'acme'",
    "outcome": "the outcome the call must end with, e.g. 'cancelled'",
    "within": "a whole number of turns, 1 or more",
    "caller_channel": "the caller's channel of the recording: a whole number, 0 or more",
    "stt": f"a speech-to-text engine: one of {list(ENGINES)}",
    "description": "text, for people",
    "known_failure": "why the call is known not to meet its expectation yet (a recogniser's miss, say): the test "
                     "is a strict xfail, which fails once the call passes",
    "said": "a list of what the caller said at each turn, in order: words ('cancel'), '#' and keys "
            "('#12345678#') or '(silence)'",
}
#: what one entry of `said` must be
SAID_ENTRY = "what the caller said: words, '#' and keys, or '(silence)'"


@dataclass(frozen=True)
class Sidecar:
    """One sidecar: its file, the recording beside it, and what the replayed call must do."""

    file: str
    recording: Path
    flow: str
    outcome: str | None = None
    within: int | None = None
    caller_channel: int = 0
    stt: str | None = None
    description: str = ""
    known_failure: str = ""
    said: tuple[str, ...] | None = None  # what the caller said at each turn, when the sidecar says
    lines: LineNumbers = field(default_factory=dict, hash=False, compare=False)

    @property
    def name(self) -> str:
        """The recording's file (or directory) name."""
        return self.recording.name

    def expected(self, flow: Flow | None) -> str | None:
        """The outcome the call must end with: `outcome`; else, with `within` alone, the outcome `flow`'s guarantee
        names (as for `ivr replay --within`), or the default guarantee's (`cancelled`) where the flow is not known
        (a live line whose flows are not here); None when the sidecar gives neither."""
        if self.outcome is not None or self.within is None:
            return self.outcome
        return flow.guarantee.outcome if flow is not None else DEFAULT_OUTCOME

    def flow_in(self, served: Mapping[str, Flow]) -> Flow:
        """The flow this sidecar calls, among the `served` flows by name; a name not served, or an outcome the
        flow cannot end with, is a `SidecarError` at the sidecar's line."""
        flow = served.get(self.flow)
        if flow is None:
            raise self._error("flow", f"{self.flow!r} is not served; served flows: {sorted(served)}")
        wanted = self.expected(flow)
        if wanted not in flow.outcomes:
            key = "outcome" if self.outcome else "within"
            what = "" if self.outcome else " (the outcome 'within' alone expects)"
            raise self._error(key, f"{wanted!r}{what} is not an outcome of flow {flow.name!r}; its outcomes: "
                                   f"{list(flow.outcomes)}")
        return flow

    def _error(self, key: str, message: str) -> SidecarError:
        return SidecarError([Problem((key,), message, "bad-value", self.lines.get((key,)), self.file)])


def load_sidecar(path: str | Path) -> Sidecar:
    """Read the sidecar at `path` and find its recording; every problem is a `SidecarError` (or, for a file that
    is not a YAML mapping, a `FlowFileError`)."""
    path = Path(path)
    return parse_sidecar(read_text(path, "sidecar expectation"), str(path), recording_beside(path))


def recording_beside(path: Path) -> Path | Problem:
    """The one recording named like the sidecar at `path` (`NAME.expect.yaml`: `NAME.wav`, `.mp3`, `.flac`,
    `.ogg`, or a directory `NAME/` of per-turn clips), or the problem when there is none or several."""
    name = stem(path)
    choices = f"{', '.join(name + s for s in FORMATS)} or a directory {name}/ of per-turn clips"

    def named(p: Path) -> bool:
        return p.name == name if p.is_dir() else p.suffix.lower() in FORMATS and p.name[:-len(p.suffix)] == name

    found = sorted(p for p in path.parent.iterdir() if named(p)) if name else []
    if len(found) == 1:
        return found[0]
    if not found:
        message = f"no recording beside it: expected one of {choices}; found none"
    else:
        message = (f"{len(found)} recordings beside it share its name, expected exactly one: "
                   f"{[p.name + ('/' if p.is_dir() else '') for p in found]}")
    return Problem((), message, "no-recording", None, str(path))


def parse_sidecar(text: str, file: str, recording: Path | Problem) -> Sidecar:
    """Validate a sidecar's YAML `text` about `recording` (or the problem finding it, reported with those of the
    text in one `SidecarError`)."""
    data, lines, problems = read_mapping(text, file, "sidecar expectation",
                                         "a sidecar needs 'flow', and 'outcome' or 'within'")
    found: list[Problem] = []
    for key, value in data.items():
        if key not in KEYS:
            found.append(Problem((key,), f"unknown key {key!r}; valid keys: {list(KEYS)}", "unknown-key"))
        elif key == "said":
            found += _said_problems(value)
        elif not _valid(key, value):
            found.append(Problem((key,), f"{value!r}: expected {KEYS[key]}", "bad-value"))
    problems = unshadowed(list(problems), found)  # a `#` read as a comment is said once, with how to quote it
    if "flow" not in data:
        problems.append(Problem((), f"missing required key 'flow': {KEYS['flow']}", "missing-key"))
    if "outcome" not in data and "within" not in data:
        problems.append(Problem((), "give 'outcome' (the outcome the call must end with), 'within' (the most turns "
                                    "it may take; alone it means the outcome of the flow's guarantee), or both",
                                "missing-key"))
    if isinstance(recording, Problem) or problems:
        located = SidecarError(problems).located(file, lines).problems if problems else ()
        raise SidecarError([*([recording] if isinstance(recording, Problem) else []),
                            *sorted(located, key=lambda p: p.line or 0)])
    number = {k: int(data[k]) for k in ("within", "caller_channel") if k in data}
    return Sidecar(file, recording, data["flow"], data.get("outcome"), number.get("within"),
                   number.get("caller_channel", 0), data.get("stt"), data.get("description", ""),
                   data.get("known_failure", ""), tuple(data["said"]) if "said" in data else None, lines)


def _said_problems(value: Any) -> list[Problem]:
    """What is wrong with a `said` list: not a list, empty, or an entry that is not a turn's text."""
    if not isinstance(value, list):
        return [Problem(("said",), f"{value!r}: expected {KEYS['said']}", "bad-value")]
    if not value:
        return [Problem(("said",), f"an empty list: expected {KEYS['said']}; or leave 'said' out", "bad-value")]
    return [Problem(("said", str(i)), f"turn {i + 1}: {entry!r}: expected {SAID_ENTRY}", "bad-value")
            for i, entry in enumerate(value) if not isinstance(entry, str) or not entry.strip()]


def _valid(key: str, value: Any) -> bool:
    if not isinstance(value, str):  # a list or a mapping: every key takes one plain value
        return False
    if key == "flow":
        return re.fullmatch(r"[A-Za-z0-9_-]+", value) is not None
    if key in ("within", "caller_channel"):  # at most 7 digits: int() refuses more than 4300
        return re.fullmatch(r"0*[0-9]{1,7}", value) is not None and int(value) >= (1 if key == "within" else 0)
    if key == "stt":
        return value in ENGINES
    return key == "description" or bool(value.strip())  # known_failure needs a reason
