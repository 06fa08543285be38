"""Call scripts: a caller's side of a call and what should happen, in YAML, run through the simulator.

    # tests/calls/cancel-fast.call.yaml
    flow: acme                      # POST /voice/acme (or `path: /voice/acme`, any app's webhook path)
    from: "+15551234567"
    steps:
      - expect: {prompt_contains: To cancel your service}
      - expect: {cancelled_within: 4}    # from here on, the call must be cancelled within 4 turns
      - say: I want to cancel
      - press: "12345678#"
      - say: {text: cancel, confidence: 0.6}
      - silence
      - say: "yes"
    expect: {outcome: cancelled}

Steps: `say` (text, or `{text, confidence}`), `press` (keys), `silence`, `hang up`, and `expect` (checked at that
point; `cancelled_within` is checked at the end). The expectations are in `ivr.testing.script_checks`; how the
call is placed (`method`, `params`, `agent`, `queue`, `cancel_when`) in `ivr.testing.script_setup`.

A call with a Twilio error fails its script (`no_errors` is the default), with the error in the report, unless the
script expects it (`errors: [11200]`) or allows it (`no_errors: false`). Cancelled means what the script's
`cancel_when` says (a prompt, a number dialled, a URL reached, a hang-up after a prompt: any app); without it, on
a line built with ivr, the outcome the script expects (its last `outcome` expectation, as `ivr check
--emit-scripts` writes the flow's guarantee outcome), else `cancelled`. A failure prints the whole conversation so
far beside what was expected. Like the simulator, a script sees only what a caller and Twilio see (plus the app's
X-Ivr-* headers, on a line built with ivr).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.errors import Problem, ScriptError
from ivr.files import files_of, stem
from ivr.flow.loader import LineNumbers, read_mapping, read_text, unshadowed
from ivr.flow.nodes import DEFAULT_OUTCOME
from ivr.testing.cancel_when import CancelWhen, Mark, met
from ivr.testing.script_checks import EXPECTATIONS, MAX_TURNS, NO_IVR_HEADERS, check, read_expectation
from ivr.testing.script_setup import (
    AGENT_ANSWERS,
    read_agent,
    read_cancel_when,
    read_method,
    read_params,
    read_queue,
)
from ivr.testing.sim import Call, DialResult, Event, Simulator

__all__ = ["AGENT_ANSWERS", "CALLER_STEPS", "EXPECTATIONS", "MAX_TURNS", "TOP_KEYS", "Instruction", "Result",
           "Script", "cancellation", "load_script", "parse_script", "run_script", "script_files"]

CALLER_STEPS = ("say", "press", "silence", "hang up")
TOP_KEYS = ("flow", "path", "method", "params", "from", "description", "agent", "queue", "cancel_when", "steps",
            "expect")


@dataclass(frozen=True)
class Instruction:
    kind: str  # say | press | silence | hang up | expect
    value: Any = None
    confidence: float = 0.92
    line: int | None = None

    def describe(self) -> str:
        if self.kind == "say":
            return f"say {self.value!r}" + (f" (confidence {self.confidence})" if self.confidence != 0.92 else "")
        return f"press {self.value}" if self.kind == "press" else self.kind


@dataclass(frozen=True)
class Script:
    file: str
    path: str
    caller: str = "+15551230000"
    description: str = ""
    #: what every dialled leg does (a DialCallStatus, or a full result), and per target
    agent: str | DialResult = "completed"
    steps: tuple[Instruction, ...] = ()
    method: str | None = None  # the entry request's method (None: the runner's default, POST)
    params: tuple[tuple[str, str], ...] = ()
    agents: tuple[tuple[str, DialResult], ...] = ()
    queue: str | None = None  # what happens to a caller the app enqueues (None: the simulator's default)
    cancel_when: tuple[CancelWhen, ...] = ()

    @property
    def name(self) -> str:
        return stem(self.file)


@dataclass
class Result:
    script: Script
    call: Call | None = None
    failures: list[str] = field(default_factory=list)
    #: (transcript index, expectation text, ok) in the order checked, for the side-by-side report
    checks: list[tuple[int, str, bool]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def report(self, width: int = 72) -> str:
        """The conversation, with each expectation beside the point where it was checked."""
        lines = self.call.transcript if self.call else []
        head = f"{self.script.file}: " + (f"{len(self.failures)} expectation(s) failed" if self.failures else "ok")
        out = [head, "", f"  {'conversation':<{width}} | expected"]
        by_point: dict[int, list[tuple[str, bool]]] = {}
        for at, text, ok in self.checks:
            by_point.setdefault(at, []).append((text, ok))
        for i in range(len(lines) + 1):
            for text, ok in by_point.get(i, []):
                out.append(f"  {'':<{width}} | {'ok  ' if ok else 'FAIL'} {text}")
            if i < len(lines):
                out.extend(_wrapped(lines[i], width))
        if self.call and (self.call.errors or self.call.warnings):  # a warning (a <Play> Twilio could not fetch)
            out += ["", *(f"  Twilio error {e}" for e in self.call.errors),  # lets the call go on: shown, not failed
                    *(f"  Twilio warning {w}" for w in self.call.warnings)]
        return "\n".join(out)


def _wrapped(line: Event, width: int) -> list[str]:
    rows = textwrap.wrap(str(line), width, subsequent_indent=" " * 10) or [""]
    return [f"  {row:<{width}} |" for row in rows]


# -- reading ------------------------------------------------------------------------------------------------

def load_script(path: str | Path) -> Script:
    path = Path(path)
    return parse_script(read_text(path, "call script"), str(path))


def parse_script(text: str, file: str = "<script>") -> Script:
    data, lines, read = read_mapping(text, file, "call script", "a call script needs 'flow' and 'steps'")
    problems: list[Problem] = []
    for key in data:
        if key not in TOP_KEYS:
            problems.append(Problem((key,), f"unknown key {key!r}; valid keys: {list(TOP_KEYS)}", "unknown-key"))
    flow, path, caller = data.get("flow"), data.get("path"), data.get("from", "+15551230000")
    if flow is None and path is None:
        problems.append(Problem((), "missing required key 'flow' (the flow's name), or 'path' (the webhook path, "
                                    "starting with '/')", "missing-key"))
    elif flow is not None and path is not None:
        problems.append(Problem(("path",), f"give 'flow' ({flow!r}) or 'path' ({path!r}), not both", "bad-value"))
    elif flow is not None and not (isinstance(flow, str) and re.fullmatch(r"[A-Za-z0-9_-]+", flow)):
        problems.append(Problem(("flow",), f"{flow!r} is not a flow name: use letters, digits, '_' and '-'",
                                "bad-value"))
    elif path is not None and not (isinstance(path, str) and path.startswith("/")):
        problems.append(Problem(("path",), f"{path!r} is not a webhook path: it starts with '/', e.g. "
                                           "'/voice/acme'", "bad-value"))
    if not isinstance(caller, str):
        problems.append(Problem(("from",), f"expected the caller's number as text, got {caller!r}", "bad-value"))
    agent, agents = read_agent(data.get("agent", "completed"), problems)
    method, params = read_method(data.get("method"), problems), read_params(data.get("params"), problems)
    queue, cancel_when = read_queue(data.get("queue"), problems), read_cancel_when(data.get("cancel_when"), problems)
    steps = _steps(data.get("steps"), lines, problems)
    if "expect" in data:
        steps.append(_expect(data["expect"], ("expect",), lines, problems))
    problems = unshadowed(read, problems)  # `press: #` is said once: quote the '#'
    if problems:
        located = ScriptError(problems).located(file, lines).problems
        raise ScriptError(sorted(located, key=lambda p: p.line or 0))
    return Script(file=file, path=path if isinstance(path, str) else f"/voice/{flow}",
                  caller=str(caller), description=str(data.get("description", "")), agent=agent,
                  steps=tuple(steps), method=method, params=params, agents=agents, queue=queue,
                  cancel_when=cancel_when)


def _steps(raw: Any, lines: LineNumbers, problems: list[Problem]) -> list[Instruction]:
    if not isinstance(raw, list) or not raw:
        problems.append(Problem(("steps",), "expected a list of steps: say, press, silence, hang up, expect",
                                "missing-key" if raw is None else "bad-value"))
        return []
    steps = []
    for i, item in enumerate(raw):
        path = ("steps", str(i))
        if isinstance(item, str):
            kind = " ".join(item.split()).lower().replace("hangup", "hang up")
            if kind in ("silence", "hang up"):
                steps.append(Instruction(kind, line=lines.get(path)))
                continue
        elif isinstance(item, dict) and len(item) == 1:
            kind, value = next(iter(item.items()))
            step = _step(kind, value, (*path, kind), lines, problems)
            if step is not None:
                steps.append(step)
            continue
        problems.append(Problem(path, f"{item!r} is not a step; a step is one of: 'silence', 'hang up', "
                                      "{say: TEXT}, {press: KEYS}, {expect: {...}}", "bad-value"))
    return steps


def _step(kind: str, value: Any, path: tuple[str, ...], lines: LineNumbers,
          problems: list[Problem]) -> Instruction | None:
    line = lines.get(path)
    if kind == "say":
        if isinstance(value, dict):
            for key in value.keys() - {"text", "confidence"}:
                problems.append(Problem((*path, key), f"unknown key {key!r}; valid keys: ['text', 'confidence']",
                                        "unknown-key"))
            text, raw = value.get("text"), value.get("confidence", "0.92")
            try:
                confidence = float(raw)
            except (TypeError, ValueError):
                confidence = -1.0
            if not 0 <= confidence <= 1:
                problems.append(Problem((*path, "confidence"), f"{raw!r} is not a confidence between 0 and 1",
                                        "bad-value"))
            if isinstance(text, str) and text.strip():
                return Instruction("say", text, confidence, line)
        elif isinstance(value, str) and value.strip():
            return Instruction("say", value, line=line)
        problems.append(Problem(path, f"{value!r}: say what? give the caller's words, or {{text, confidence}}",
                                "bad-value"))
    elif kind == "press":
        if isinstance(value, str) and value and re.fullmatch(r"[0-9*#]+", value):
            return Instruction("press", value, line=line)
        problems.append(Problem(path, f"{value!r} is not a key sequence: use 0-9, * and #", "bad-value"))
    elif kind == "expect":
        return _expect(value, path, lines, problems)
    elif kind in ("silence", "hang up"):
        problems.append(Problem(path, f"{kind!r} takes no value: write it alone, as `- {kind}`", "bad-value"))
    else:
        problems.append(Problem(path, f"unknown step {kind!r}; valid steps: {[*CALLER_STEPS, 'expect']}",
                                "unknown-key"))
    return None


def _expect(raw: Any, path: tuple[str, ...], lines: LineNumbers, problems: list[Problem]) -> Instruction:
    checks: dict[str, Any] = {}
    if not isinstance(raw, dict) or not raw:
        problems.append(Problem(path, f"expected a mapping of expectations: {list(EXPECTATIONS)}", "bad-value"))
        return Instruction("expect", checks, line=lines.get(path))
    for key, value in raw.items():
        if key not in EXPECTATIONS:
            problems.append(Problem((*path, key), f"unknown expectation {key!r}; valid: {list(EXPECTATIONS)}",
                                    "unknown-key"))
            continue
        want = read_expectation(key, value, (*path, key), problems)
        if want is not None:
            checks[key] = want
    return Instruction("expect", checks, line=lines.get(path))


# -- running ------------------------------------------------------------------------------------------------

@dataclass
class _Window:
    """A `cancelled_within` opened at a step: the call as it was then, and (with cancel_when) when it was met."""

    within: int
    opened: int  # the call's turns when opened
    at: int  # transcript index, for the report
    mark: Mark
    taken: int | None = None  # turns from opening to cancellation, once cancel_when is met


def run_script(script: Script, sim: Simulator, *, method: str = "POST") -> Result:
    """Place the script's call through `sim`, play the caller's steps, and check every expectation. `method` is
    the entry request's method for a script that does not give one."""
    call = sim.call(script.path, **call_options(script, method))
    result = Result(script, call)
    windows: list[_Window] = []
    for number, step in enumerate(script.steps, 1):
        if step.kind == "expect":
            for key, want in step.value.items():
                if key == "cancelled_within":
                    windows.append(_Window(int(want), call.turns, len(call.transcript), Mark.now(call)))
                elif key != "no_errors" or want == "true":
                    _checked(result, *check(call, key, want))
            continue
        if call.ended:
            outcome = f", outcome {call.outcome!r}" if call.ivr_headers else ""
            _checked(result, False, f"step {number} ({step.describe()}): the call is already over "
                                    f"({call.status}{outcome})")
            break
        ACTIONS[step.kind](call, step)
        _watch(windows, script.cancel_when, call)
    _watch(windows, script.cancel_when, call)
    for window in windows:
        ok, text = _cancelled(script, window, call)
        result.checks.append((window.at, text, ok))
        if not ok:
            result.failures.append(text)
    if errors_fail(script) and call.errors:  # the default, unless the script's own no_errors said it already
        ok, text = check(call, "no_errors", "true")
        if text not in result.failures:
            _checked(result, ok, text)
    return result


def call_options(script: Script, method: str = "POST") -> dict[str, Any]:
    """The simulator's options for the script's call (`method`: the entry's, when the script gives none)."""
    options: dict[str, Any] = {"caller": script.caller, "method": script.method or method,
                               "dial_answer": script.agent, "dial": dict(script.agents),
                               "params": dict(script.params)}
    if script.queue is not None:
        options["queue"] = script.queue
    return options


def errors_fail(script: Script) -> bool:
    """Whether a Twilio error fails the script (the default), or the script expects or allows errors."""
    return not any(step.kind == "expect" and ("errors" in step.value or step.value.get("no_errors") == "false")
                   for step in script.steps)


def _watch(windows: list[_Window], conditions: tuple[CancelWhen, ...], call: Call) -> None:
    """Note, for each open window, the turns it took to meet the script's cancel_when (if it is met now)."""
    for window in windows:
        if conditions and window.taken is None and met(conditions, call, window.mark):
            window.taken = call.turns - window.opened


def _cancelled(script: Script, window: _Window, call: Call) -> tuple[bool, str]:
    """Whether the window's call was cancelled in time, and the expectation in words."""
    within = window.within
    if script.cancel_when:
        named = f"cancelled ({' or '.join(map(str, script.cancel_when))}) within {within} turns"
        if window.taken is None:
            return False, f"{named} (not seen in {call.turns - window.opened} turns)"
        return window.taken <= within, f"{named} (took {window.taken})"
    if not call.ivr_headers:
        return False, f"cancelled within {within} turns: {NO_IVR_HEADERS}"
    goal, taken = cancellation(script), call.turns - window.opened
    named = "cancelled" if goal == DEFAULT_OUTCOME else f"cancelled (outcome {goal!r})"
    return (call.outcome == goal and taken <= within,
            f"{named} within {within} turns (took {taken}, outcome {call.outcome!r})")


def cancellation(script: Script) -> str:
    """The outcome `cancelled_within` waits for on a line built with ivr without cancel_when: the script's last
    `outcome` expectation, else 'cancelled'. (A script sees the line as a black box: the flow's guarantee reaches
    it only through what the script says.)"""
    for step in reversed(script.steps):
        if step.kind == "expect" and "outcome" in step.value:
            return str(step.value["outcome"])
    return DEFAULT_OUTCOME


ACTIONS: dict[str, Callable[[Call, Instruction], Any]] = {
    "say": lambda call, step: call.say(step.value, step.confidence),
    "press": lambda call, step: call.press(step.value),
    "silence": lambda call, step: call.silence(),
    "hang up": lambda call, step: call.hang_up(),
}


def _checked(result: Result, ok: bool, text: str) -> None:
    assert result.call is not None
    result.checks.append((len(result.call.transcript), text, ok))
    if not ok:
        result.failures.append(text)


def script_files(paths: list[str] | tuple[str, ...]) -> list[Path]:
    """Call scripts among FILE|DIR arguments (a directory: every *.call.yaml under it)."""
    found: list[Path] = []
    for arg in paths:
        p = Path(arg)
        found += files_of("script", p, recursive=True) if p.is_dir() else [p]
    return found
