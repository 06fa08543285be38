"""How a call script's call is placed, for any Twilio voice app: the entry request's `method`, extra request
`params` (FromCity, CallToken, ...), what each dialled party does (`agent`), what happens to an enqueued caller
(`queue`), and what cancellation looks like from outside the line (`cancel_when`).

    path: /voice                     # the app's entry (or `flow: NAME` for /voice/NAME on a line built with ivr)
    method: GET                      # the entry request's method (default POST, as Twilio's)
    params: {FromCity: BOSTON, CallToken: abc}
    agent:                           # or one result for every leg: `agent: busy`
      default: no-answer
      "+18005550100": {status: completed, duration: 30, caller_hangs_up: true}
      client:alice: busy
    queue: hangup                    # the enqueued caller hangs up before an agent takes the call
    cancel_when: [prompt:cancellation number, dialled:+18005550123]   # or {prompt: ..., dialled: ...}

Each bad value is a `Problem` naming the key path, the value and the valid choices, as the rest of a script's.
Also here: `entry_path`, the path (or URL) a call to a live line's URL goes to, shared by `ivr call`, `ivr replay`
and the pytest plugin.
"""

from __future__ import annotations

import re
from typing import Any, cast
from urllib.parse import urlsplit

from ivr.errors import Problem, UsageError
from ivr.testing.cancel_when import ALIASES, KINDS, CancelWhen
from ivr.testing.sim import AgentAnswer, DialResult

#: DialCallStatus values a dialled party's leg can end with (the sim's AgentAnswer)
AGENT_ANSWERS = ("completed", "no-answer", "busy", "failed")
#: what a mapping of `agent` may say for one target
AGENT_KEYS = ("status", "duration", "caller_hangs_up", "keys")
#: Twilio's QueueResult values an enqueued caller's wait can end with (`leave` is the app's own <Leave>)
QUEUE_RESULTS = ("bridged", "hangup", "queue-full", "redirected", "error", "system-error")
METHODS = ("GET", "POST")
#: request parameters a script sets with another key
SET_ELSEWHERE = {"From": "from", "Caller": "from"}
#: the longest a call lasts on Twilio (4 hours): no leg talks longer
MAX_SECONDS = 4 * 3600


def read_method(value: Any, problems: list[Problem]) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value.upper() in METHODS:
        return value.upper()
    problems.append(Problem(("method",), f"{value!r} is not one of {list(METHODS)} (the entry request's method)",
                            "bad-value"))
    return None


def read_params(value: Any, problems: list[Problem]) -> tuple[tuple[str, str], ...]:
    """`params`: request parameter names to text values, sent with every request of the call."""
    if value is None:
        return ()
    if not isinstance(value, dict) or not value:
        problems.append(Problem(("params",), f"expected a mapping of request parameters to values, e.g. "
                                             f"{{FromCity: BOSTON, CallToken: abc}}, got {value!r}", "bad-value"))
        return ()
    found = []
    for name, text in value.items():
        where = ("params", name)
        if name in SET_ELSEWHERE:
            problems.append(Problem(where, f"{name} is the caller's number: give it with {SET_ELSEWHERE[name]!r}",
                                    "bad-value"))
        elif not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            problems.append(Problem(where, f"{name!r} is not a request parameter's name (letters, digits and '_', "
                                           "e.g. FromCity)", "bad-value"))
        elif not isinstance(text, str):
            problems.append(Problem(where, f"expected the parameter's value as text, got {text!r}", "bad-value"))
        else:
            found.append((name, text))
    return tuple(found)


def read_agent(value: Any, problems: list[Problem]) -> tuple[str | DialResult, tuple[tuple[str, DialResult], ...]]:
    """`agent`: one result for every dialled leg, or a mapping of target (number, client:NAME, SIP URI, queue)
    to a result, with `default` for the rest. A result is a DialCallStatus, or {status, duration,
    caller_hangs_up, keys}."""
    if not isinstance(value, dict):
        if value in AGENT_ANSWERS:
            return str(value), ()
        problems.append(Problem(("agent",), f"{value!r} is not one of {list(AGENT_ANSWERS)}, nor a mapping of "
                                            "dialled target to result (with 'default')", "bad-value"))
        return "completed", ()
    default: str | DialResult = "completed"
    targets: list[tuple[str, DialResult]] = []
    for target, spec in value.items():
        where = ("agent", target)
        if target in AGENT_KEYS:
            problems.append(Problem(where, f"{target!r} is not a dialled target: a result goes under its target or "
                                           f"'default', e.g. agent: {{default: {{{target}: ...}}}}", "bad-value"))
            continue
        result = _dial_result(spec, where, problems)
        if result is None:
            continue
        if target == "default":
            default = result.status if result == DialResult(result.status) else result
        else:
            targets.append((target, result))
    return default, tuple(targets)


def _dial_result(spec: Any, where: tuple[str, ...], problems: list[Problem]) -> DialResult | None:
    if isinstance(spec, str):
        if spec in AGENT_ANSWERS:
            return DialResult(cast(AgentAnswer, spec))
        problems.append(Problem(where, f"{spec!r} is not one of {list(AGENT_ANSWERS)}", "bad-value"))
        return None
    if not isinstance(spec, dict):
        problems.append(Problem(where, f"expected a result: one of {list(AGENT_ANSWERS)}, or "
                                       f"{{status, duration, caller_hangs_up, keys}}, got {spec!r}", "bad-value"))
        return None
    bad = len(problems)
    for key in spec.keys() - set(AGENT_KEYS):
        problems.append(Problem((*where, key), f"unknown key {key!r}; valid keys: {list(AGENT_KEYS)}", "unknown-key"))
    status, duration = spec.get("status", "completed"), spec.get("duration", "42")
    hangs_up, keys = spec.get("caller_hangs_up", "false"), spec.get("keys", "")
    if status not in AGENT_ANSWERS:
        problems.append(Problem((*where, "status"), f"{status!r} is not one of {list(AGENT_ANSWERS)}", "bad-value"))
    if not (isinstance(duration, str) and re.fullmatch(r"[0-9]{1,5}", duration) and int(duration) <= MAX_SECONDS):
        problems.append(Problem((*where, "duration"), f"{duration!r} is not a whole number of seconds from 0 to "
                                                      f"{MAX_SECONDS}", "bad-value"))
    if hangs_up not in ("true", "false"):
        problems.append(Problem((*where, "caller_hangs_up"), f"{hangs_up!r} is not true or false", "bad-value"))
    if not (isinstance(keys, str) and re.fullmatch(r"[0-9*#]*", keys)):
        problems.append(Problem((*where, "keys"), f"{keys!r} is not a key sequence: use 0-9, * and #", "bad-value"))
    if len(problems) > bad:
        return None
    return DialResult(status, int(duration), hangs_up == "true", keys)


def read_queue(value: Any, problems: list[Problem]) -> str | None:
    if value is None or value in QUEUE_RESULTS:
        return None if value is None else str(value)
    problems.append(Problem(("queue",), f"{value!r} is not one of {list(QUEUE_RESULTS)} (what happens to a caller "
                                        "the app enqueues: Twilio's QueueResult)", "bad-value"))
    return None


def read_cancel_when(value: Any, problems: list[Problem]) -> tuple[CancelWhen, ...]:
    """`cancel_when`: one `KIND:VALUE` condition, a list of them, or a mapping of kind to a value or a list."""
    if value is None:
        return ()
    pairs: list[tuple[tuple[str, ...], str]] = []  # (key path, KIND:VALUE)
    if isinstance(value, str):
        pairs.append((("cancel_when",), value))
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            if isinstance(item, str):
                pairs.append((("cancel_when", str(i)), item))
            else:
                problems.append(Problem(("cancel_when", str(i)), f"expected a condition KIND:VALUE, got {item!r}",
                                        "bad-value"))
    elif isinstance(value, dict) and value:
        pairs += _by_kind(value, problems)
    else:
        problems.append(Problem(("cancel_when",), "expected a condition KIND:VALUE (e.g. 'prompt:cancellation "
                                                  "number'), a list of them, or a mapping {KIND: VALUE}; KIND one of "
                                                  f"{list(KINDS)}; got {value!r}", "bad-value"))
    found = []
    for where, text in pairs:
        try:
            found.append(CancelWhen.parse(text, ""))
        except UsageError as exc:
            problems.append(Problem(where, str(exc).strip(), "bad-value"))
    return tuple(found)


def _by_kind(value: dict[str, Any], problems: list[Problem]) -> list[tuple[tuple[str, ...], str]]:
    """The conditions of `cancel_when: {KIND: VALUE or [VALUE, ...]}`, each with its key path."""
    pairs: list[tuple[tuple[str, ...], str]] = []
    for kind, texts in value.items():
        where = ("cancel_when", kind)
        if ALIASES.get(kind, kind) not in KINDS:
            problems.append(Problem(where, f"unknown kind {kind!r}; valid kinds: {list(KINDS)}", "unknown-key"))
        elif isinstance(texts, str):
            pairs.append((where, f"{kind}:{texts}"))
        elif isinstance(texts, list) and texts and all(isinstance(t, str) for t in texts):
            pairs += [((*where, str(i)), f"{kind}:{t}") for i, t in enumerate(texts)]
        else:
            problems.append(Problem(where, f"expected {KINDS[ALIASES.get(kind, kind)]} (a text, or a list of "
                                           f"them), got {texts!r}", "bad-value"))
    return pairs


def entry_path(url: str, flow: str | None = None, entry: str | None = None) -> str:
    """Where a call to the live line at `url` goes: /voice/FLOW on a line built with ivr, else `entry` (a path
    under `url`), else `url` itself (a webhook URL such as https://example.com/voice; '/' for a bare host)."""
    if flow is not None:
        return f"/voice/{flow}"
    if entry is not None:
        return entry
    path = urlsplit(url).path
    return url if path not in ("", "/") else "/"
