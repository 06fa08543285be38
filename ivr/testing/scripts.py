"""Call scripts: a caller's side of a call and what should happen, in YAML, run through the simulator.

    # tests/calls/cancel-fast.call.yaml
    flow: acme                      # POST /voice/acme (or `path: /voice/acme`)
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
point; `cancelled_within` is checked at the end). Cancelled means the outcome the script expects (its last
`outcome` expectation, as `ivr check --emit-scripts` writes the flow's guarantee outcome), else `cancelled`: a line
whose cancellation outcome is named otherwise (`guarantee.outcome: terminated`) says so with `expect: {outcome:
terminated}`. A failure prints the whole conversation so far beside what was
expected. Like the simulator, a script sees only what a caller and Twilio see (plus the app's X-Ivr-* headers).
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
from ivr.testing.sim import Call, Event, Simulator

AGENT_ANSWERS = ("completed", "no-answer", "busy", "failed")
#: expectation -> what its value must be
EXPECTATIONS = {
    "prompt_contains": "text the IVR said since the caller's last step (or a list of texts)",
    "prompt_matches": "a regular expression searched in what the IVR said since the caller's last step",
    "heard_contains": "text the IVR said at any point of the call so far",
    "node": "the node the call is at (from the app's X-Ivr-Node header)",
    "outcome": "the call's outcome so far (X-Ivr-Outcome)",
    "ended": "true or false: whether the call is over",
    "turns_at_most": "a whole number: completed turns so far",
    "cancelled_within": "a whole number N: from this step on, the call is cancelled within N turns: it ends with "
                        "the outcome the script expects (its last 'outcome'), else 'cancelled'",
}
CALLER_STEPS = ("say", "press", "silence", "hang up")
#: the most turns `turns_at_most` and `cancelled_within` may name (no call comes near it)
MAX_TURNS = 1_000_000
TOP_KEYS = ("flow", "path", "from", "description", "agent", "steps", "expect")


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
    agent: str = "completed"
    steps: tuple[Instruction, ...] = ()

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
        if self.call and self.call.errors:
            out += ["", *(f"  Twilio error {e}" for e in self.call.errors)]
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
    agent = data.get("agent", "completed")
    if agent not in AGENT_ANSWERS:
        problems.append(Problem(("agent",), f"{agent!r} is not one of {list(AGENT_ANSWERS)}", "bad-value"))
    steps = _steps(data.get("steps"), lines, problems)
    if "expect" in data:
        steps.append(_expect(data["expect"], ("expect",), lines, problems))
    problems = unshadowed(read, problems)  # `press: #` is said once: quote the '#'
    if problems:
        located = ScriptError(problems).located(file, lines).problems
        raise ScriptError(sorted(located, key=lambda p: p.line or 0))
    return Script(file=file, path=path if isinstance(path, str) else f"/voice/{flow}",
                  caller=str(caller), description=str(data.get("description", "")),
                  agent=str(agent), steps=tuple(steps))


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
        where = (*path, key)
        if key not in EXPECTATIONS:
            problems.append(Problem(where, f"unknown expectation {key!r}; valid: {list(EXPECTATIONS)}",
                                    "unknown-key"))
        elif key in ("turns_at_most", "cancelled_within") and not (isinstance(value, str) and _whole(value)):
            problems.append(Problem(where, f"{value!r} is not a whole number from 0 to {MAX_TURNS}", "bad-value"))
        elif key == "ended" and value not in ("true", "false"):
            problems.append(Problem(where, f"{value!r} is not true or false", "bad-value"))
        elif key == "prompt_matches" and not _regex_ok(value):
            problems.append(Problem(where, f"{value!r} is not a valid regular expression", "bad-value"))
        elif key in ("prompt_contains", "prompt_matches", "heard_contains") and (
                value == "" or value == [] or (isinstance(value, list) and "" in value)):
            problems.append(Problem(where, "an empty text is found in any prompt: give the words to look for",
                                    "bad-value"))
        elif key == "prompt_contains" and isinstance(value, list) and all(isinstance(v, str) for v in value):
            checks[key] = tuple(value)
        elif not isinstance(value, str):
            problems.append(Problem(where, f"expected {EXPECTATIONS[key]}, got {value!r}", "bad-value"))
        else:
            checks[key] = value
    return Instruction("expect", checks, line=lines.get(path))


def _whole(value: str) -> bool:
    """ASCII digits up to MAX_TURNS: `str.isdigit` also takes '²', which `int` refuses, as it refuses more than
    4300 digits."""
    return re.fullmatch(r"0*[0-9]{1,7}", value) is not None and int(value) <= MAX_TURNS


def _regex_ok(value: Any) -> bool:
    try:
        re.compile(value)
    except (re.error, TypeError, OverflowError, RecursionError):  # 'a{99999999999}'; '(' nested thousands deep
        return False
    return True


# -- running ------------------------------------------------------------------------------------------------

def run_script(script: Script, sim: Simulator) -> Result:
    """Place the script's call through `sim`, play the caller's steps, and check every expectation."""
    call = sim.call(script.path, caller=script.caller, dial_answer=script.agent)  # type: ignore[arg-type]
    result = Result(script, call)
    windows: list[tuple[int, int, int]] = []  # (turns when opened, N, transcript index)
    for number, step in enumerate(script.steps, 1):
        if step.kind == "expect":
            for key, want in step.value.items():
                if key == "cancelled_within":
                    windows.append((call.turns, int(want), len(call.transcript)))
                else:
                    _check(result, key, want)
            continue
        if call.ended:
            _fail(result, f"step {number} ({step.describe()}): the call is already over "
                          f"({call.status}, outcome {call.outcome!r})")
            break
        ACTIONS[step.kind](call, step)
    goal = cancellation(script)
    for opened, within, at in windows:
        taken = call.turns - opened
        ok = call.outcome == goal and taken <= within
        named = "cancelled" if goal == DEFAULT_OUTCOME else f"cancelled (outcome {goal!r})"
        text = f"{named} within {within} turns (took {taken}, outcome {call.outcome!r})"
        result.checks.append((at, text, ok))
        if not ok:
            result.failures.append(text)
    return result


def cancellation(script: Script) -> str:
    """The outcome `cancelled_within` waits for: the script's last `outcome` expectation, else 'cancelled'. (A
    script sees the line as a black box: the flow's guarantee reaches it only through what the script says.)"""
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


def _check(result: Result, key: str, want: Any) -> None:
    call = result.call
    assert call is not None
    if key == "prompt_contains":
        wanted = want if isinstance(want, tuple) else (want,)
        missing = [w for w in wanted if w.lower() not in call.prompt.lower()]
        ok, text = not missing, f"prompt contains {', '.join(map(repr, wanted))}"
    elif key == "prompt_matches":
        ok, text = re.search(want, call.prompt, re.IGNORECASE) is not None, f"prompt matches /{want}/"
    elif key == "heard_contains":
        ok, text = want.lower() in call.heard.lower(), f"the IVR has said {want!r}"
    elif key == "node":
        ok, text = call.node == want, f"at node {want!r} (it is at {call.node!r})"
    elif key == "outcome":
        ok, text = call.outcome == want, f"outcome {want!r} (it is {call.outcome!r})"
    elif key == "ended":
        ok, text = call.ended == (want == "true"), f"ended: {want} (status {call.status!r})"
    else:  # turns_at_most
        ok, text = call.turns <= int(want), f"at most {want} turns (took {call.turns})"
    result.checks.append((len(call.transcript), text, ok))
    if not ok:
        result.failures.append(text)


def _fail(result: Result, text: str) -> None:
    assert result.call is not None
    result.checks.append((len(result.call.transcript), text, False))
    result.failures.append(text)


def script_files(paths: list[str] | tuple[str, ...]) -> list[Path]:
    """Call scripts among FILE|DIR arguments (a directory: every *.call.yaml under it)."""
    found: list[Path] = []
    for arg in paths:
        p = Path(arg)
        found += files_of("script", p, recursive=True) if p.is_dir() else [p]
    return found
