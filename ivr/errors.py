"""The one error tree of ivr.

Every error a person can cause (a malformed flow file, a bad CLI argument) is an `IvrError`, and its message
names what is wrong precisely enough to act on: the file, the line, the key path, the bad value (with `!r`) and
the valid choices. The CLI catches `IvrError` in one place and exits 2 without a traceback.

A flow can have several problems at once; `FlowError` carries all of them as `Problem`s so a designer fixes the
whole file in one pass instead of one error per run.

Every class says how the command line exits on it (`exit_code`, 2 unless a class says otherwise): the input a
person gave cannot be used (a flow, a script, an argument, a recording, a store URL) or something it needs is
missing (an extra not installed, a store that is down). Exit 1 is not an error: a property did not hold
(`ivr check`, a failed call or replay).

    IvrError
    ├── FlowError (invalid-flow)          a flow's problems, each with file:line:key
    │   ├── ScriptError (invalid-script)  a call script's problems
    │   ├── SidecarError (invalid-sidecar) a recording's sidecar expectation file
    │   └── StudioError (invalid-studio)  a Twilio Studio flow definition's problems
    ├── FlowFileError (unreadable-flow)   a flow file that cannot be read at all
    ├── EngineError (engine-misuse)       a program misused the engine (never caller input)
    ├── UsageError (usage)                a bad argument, option or setting
    ├── AudioError (bad-audio)            a recording that cannot be used
    ├── SttError (stt)                    speech recognition cannot run as configured
    ├── SimError (sim)                    the simulator was misused
    ├── CallFailed (call-failed)          a call did not do what it must (exit 1: a property, not input)
    ├── StoreError (store)                the call store is unreachable or refused a write
    └── MissingExtra (missing-extra)      a command needs an extra that is not installed
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class IvrError(Exception):
    """Base class of every error ivr raises on purpose."""

    #: a short, stable code (shown in JSON reports and usable in tests)
    code = "error"
    #: how `ivr` exits when this error stops a command
    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a flow: where (key path, and line once the loader knows it) and what."""

    path: tuple[str, ...]
    message: str
    code: str = "invalid-flow"
    line: int | None = None
    file: str | None = None

    @property
    def dotted(self) -> str:
        return ".".join(self.path)

    def located(self, file: str | None, line: int | None) -> Problem:
        return Problem(self.path, self.message, self.code, line, file)

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file + (f":{self.line}" if self.line is not None else "") + ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        key = f"{self.dotted}: " if self.path else ""
        return f"{where}{key}{self.message}"


class FlowError(IvrError):
    """A flow definition is invalid. Holds every problem found, each with its key path (and line, if known)."""

    code = "invalid-flow"

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("FlowError needs at least one problem")
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def at(cls, path: Iterable[str], message: str, code: str = "invalid-flow") -> FlowError:
        return cls([Problem(tuple(path), message, code)])

    def located(self, file: str | None, line_of: dict[tuple[str, ...], int]) -> FlowError:
        """The same problems with the file name and the line of the nearest known key added."""
        return FlowError([p.located(file, p.line if p.line is not None else nearest_line(p.path, line_of))
                          for p in self.problems])


def nearest_line(path: tuple[str, ...], line_of: dict[tuple[str, ...], int]) -> int | None:
    """The line of `path`, or of its nearest ancestor that has one (a missing key reports its parent's line)."""
    for end in range(len(path), -1, -1):
        line = line_of.get(path[:end])
        if line is not None:
            return line
    return None


class FlowFileError(IvrError):
    """A flow file cannot be read at all (missing, not UTF-8, not YAML, not a mapping)."""

    code = "unreadable-flow"


class EngineError(IvrError):
    """The *program* driving the engine misused it (e.g. a caller input while an effect is pending).

    Caller input never raises: unknown input follows the node's no-match route.
    """

    code = "engine-misuse"


class UsageError(IvrError):
    """A command-line argument, option or setting is invalid."""

    code = "usage"


class AudioError(IvrError):
    """An audio file or recording cannot be used: missing, empty, corrupt, truncated, an unsupported format, or a
    channel it does not have. The message starts with the file's name."""

    code = "bad-audio"


class SttError(IvrError):
    """Speech cannot be recognised as configured: no model, a directory that is not a model of the engine, an
    unknown engine name, audio the engine cannot take, or a model for another language."""

    code = "stt"


class SimError(IvrError):
    """The simulator was misused (e.g. the caller answers when nothing waits for an answer)."""

    code = "sim"


class ScriptError(FlowError):
    """A call script is invalid; every problem is listed with its file, line and key path."""

    code = "invalid-script"


class SidecarError(FlowError):
    """A sidecar expectation file is invalid, or has no single recording beside it; every problem is listed with
    its file, line and key."""

    code = "invalid-sidecar"


class StudioError(FlowError):
    """A Twilio Studio flow definition (JSON) cannot be read: not JSON, the legacy 2018 format, unknown widget
    types, events or keys, transitions to missing states. Every problem is listed with its file, line, state and
    field."""

    code = "invalid-studio"


class StoreError(IvrError):
    """The call store could not be reached or refused a write."""

    code = "store"


class CallFailed(IvrError):
    """A call did not do what it must (a call script's expectations, a replayed recording's outcome): a property
    that failed, not bad input. The message is the report, conversation included."""

    code = "call-failed"
    exit_code = 1


class CallInconclusive(IvrError):
    """A replayed call whose verdict the recogniser cannot vouch for: at a turn the call depended on, it could not
    tell what was said (`ivr.speech.decide`). Neither a pass nor the flow's failure; the message names the turns."""

    code = "call-inconclusive"
    exit_code = 1


class MissingExtra(IvrError):
    """A command needs libraries from an extra that is not installed; the message names the pip command."""

    code = "missing-extra"

    def __init__(self, extra: str, what: str, missing: str) -> None:
        self.extra = extra
        super().__init__(f"{what} needs ivrkit[{extra}] ({missing} is not installed): "
                         f"pip install 'ivrkit[{extra}]'")
