"""What a call script may expect, and how each expectation is read and checked on a simulated call.

Most expectations hold for any Twilio voice app, as they read only what Twilio saw: what the caller heard
(`prompt_contains`, `prompts`...), the call's status and Twilio's error codes, who was dialled, what was recorded,
the queue or conference joined, who hung up. `node` and `outcome` read ivr's own X-Ivr-* headers: against an app
that never sent them they fail saying so, never comparing against None.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ivr.errors import Problem
from ivr.testing.cancel_when import CancelWhen
from ivr.testing.sim import Call

#: expectation -> what its value must be
EXPECTATIONS = {
    "prompt_contains": "text the IVR said since the caller's last step (or a list of texts)",
    "prompt_matches": "a regular expression searched in what the IVR said since the caller's last step",
    "heard_contains": "text the IVR said at any point of the call so far",
    "prompts": "a list of texts heard in order: each in a later prompt than the one before",
    "node": "the node the call is at (from the app's X-Ivr-Node header)",
    "outcome": "the call's outcome so far (X-Ivr-Outcome)",
    "ended": "true or false: whether the call is over",
    "status": "Twilio's CallStatus",
    "errors": "Twilio's error codes the call has (one, or a list; [] for none)",
    "no_errors": "true or false: whether a Twilio error fails the script (true unless it expects 'errors')",
    "dialled": "the number, client or SIP URI the call was connected to",
    "recorded": "true or false (whether the app recorded the caller), or text the recording's words contain",
    "queue": "the name of a queue the caller was put in (<Enqueue>)",
    "conference": "the name of a conference the caller joined",
    "hung_up_by": "who ended the call",
    "turns_at_most": "a whole number: completed turns so far",
    "cancelled_within": "a whole number N: from this step on, the call is cancelled within N turns: it meets the "
                        "script's cancel_when; on a line built with ivr without cancel_when, it ends with the "
                        "outcome the script expects (its last 'outcome'), else 'cancelled'",
}
#: the expectations read from ivr's own X-Ivr-* headers
IVR_ONLY = ("node", "outcome")
CALL_STATUSES = ("queued", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled")
HUNG_UP_BY = ("caller", "app", "twilio")
BOOLEANS = ("true", "false")
#: the most turns `turns_at_most` and `cancelled_within` may name (no call comes near it)
MAX_TURNS = 1_000_000
NO_IVR_HEADERS = ("this app does not send ivr's headers (X-Ivr-Node, X-Ivr-Outcome, X-Ivr-Turns); expect what "
                  "Twilio sees instead: prompt_contains, prompts, dialled, status, ended, hung_up_by, recorded, "
                  "queue, conference, or give cancel_when")
CHOICES = {"ended": BOOLEANS, "no_errors": BOOLEANS, "status": CALL_STATUSES, "hung_up_by": HUNG_UP_BY}


def read_expectation(key: str, value: Any, where: tuple[str, ...], problems: list[Problem]) -> Any:
    """The value of expectation `key` as it is checked, or None (with a problem naming `where`)."""
    wrong = _wrong(key, value)
    if wrong is not None:
        problems.append(Problem(where, wrong, "bad-value"))
        return None
    if key in ("prompt_contains", "prompts") and isinstance(value, list):
        return tuple(value)
    if key == "errors":
        return (value,) if isinstance(value, str) else tuple(value)
    return value


TEXTS = ("prompt_contains", "prompt_matches", "heard_contains", "prompts", "dialled", "recorded", "queue",
         "conference")


def _wrong(key: str, value: Any) -> str | None:
    """What is wrong with `value` for expectation `key`, or None."""
    if key in ("turns_at_most", "cancelled_within"):
        return None if isinstance(value, str) and _whole(value) else \
            f"{value!r} is not a whole number from 0 to {MAX_TURNS}"
    if key in CHOICES:
        if value in CHOICES[key]:
            return None
        return f"{value!r} is not true or false" if CHOICES[key] == BOOLEANS else \
            f"{value!r} is not one of {list(CHOICES[key])}"
    if key == "prompt_matches" and not _regex_ok(value):
        return f"{value!r} is not a valid regular expression"
    if key in TEXTS and (value == "" or value == [] or (isinstance(value, list) and "" in value)):
        return "an empty text is found in any prompt: give the words to look for" if "prompt" in key or \
            "heard" in key else f"expected {EXPECTATIONS[key]}, got an empty text"
    if key == "errors":
        codes = [value] if isinstance(value, str) else value
        if isinstance(codes, list) and all(isinstance(c, str) and re.fullmatch(r"[0-9]{5}", c) for c in codes):
            return None
        return f"{value!r} is not a Twilio error code (5 digits, e.g. 11200) or a list of them"
    if key in ("prompt_contains", "prompts") and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return None
    if key == "prompts" or not isinstance(value, str):
        return f"expected {EXPECTATIONS[key]}, got {value!r}"
    return None


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


def check(call: Call, key: str, want: Any) -> tuple[bool, str]:
    """Whether `call` meets expectation `key` now, and the expectation in words (with what the call did)."""
    if key in IVR_ONLY and not call.ivr_headers:
        return False, f"{'at node' if key == 'node' else 'outcome'} {want!r}: {NO_IVR_HEADERS}"
    return CHECKS[key](call, want)


def _prompt_contains(call: Call, want: str | tuple[str, ...]) -> tuple[bool, str]:
    wanted = want if isinstance(want, tuple) else (want,)
    missing = [w for w in wanted if w.lower() not in call.prompt.lower()]
    return not missing, f"prompt contains {', '.join(map(repr, wanted))}"


def _joined(key: str) -> Callable[[Call, str], tuple[bool, str]]:
    def joined(call: Call, want: str) -> tuple[bool, str]:
        names = call.queues if key == "queue" else call.conferences
        return want in names, f"joined {key} {want!r} (it joined {names or 'none'})"

    return joined


def _dialled(call: Call, want: str) -> tuple[bool, str]:
    targets = [d.target for d in call.dialled]
    return CancelWhen("dialled", want).met(call), f"dialled {want!r} (it dialled {targets or 'nothing'})"


CHECKS: dict[str, Callable[[Call, Any], tuple[bool, str]]] = {
    "prompt_contains": _prompt_contains,
    "prompt_matches": lambda call, want: (re.search(want, call.prompt, re.IGNORECASE) is not None,
                                          f"prompt matches /{want}/"),
    "heard_contains": lambda call, want: (want.lower() in call.heard.lower(), f"the IVR has said {want!r}"),
    "prompts": lambda call, want: _in_order(call.prompts, want),
    "node": lambda call, want: (call.node == want, f"at node {want!r} (it is at {call.node!r})"),
    "outcome": lambda call, want: (call.outcome == want, f"outcome {want!r} (it is {call.outcome!r})"),
    "ended": lambda call, want: (call.ended == (want == "true"), f"ended: {want} (status {call.status!r})"),
    "status": lambda call, want: (call.status == want, f"status {want!r} (it is {call.status!r})"),
    "errors": lambda call, want: (set(call.error_codes) == set(want),
                                  f"Twilio errors {list(want)} (it has {_errors(call)})"),
    "no_errors": lambda call, want: (not call.errors, f"no Twilio errors (it has {_errors(call)})"),
    "dialled": _dialled,
    "recorded": lambda call, want: _recorded(call, want),
    "queue": _joined("queue"),
    "conference": _joined("conference"),
    "hung_up_by": lambda call, want: (call.hung_up_by == want,
                                      f"hung up by {want} (it was {call.hung_up_by or 'nobody yet'})"),
    # the app's X-Ivr-Turns, else the Gathers answered (what a caller counts as turns)
    "turns_at_most": lambda call, want: (call.turns <= int(want), f"at most {want} turns (took {call.turns})"),
}


def _errors(call: Call) -> str:
    return "; ".join(call.errors) if call.errors else "none"


def _in_order(heard: list[str], wanted: tuple[str, ...]) -> tuple[bool, str]:
    """Each text in a later prompt than the one before (the earliest such prompt each time)."""
    text = f"heard in order: {', '.join(map(repr, wanted))}"
    at = 0
    for i, w in enumerate(wanted):
        found = next((j for j in range(at, len(heard)) if w.lower() in heard[j].lower()), None)
        if found is None:
            after = f" after {wanted[i - 1]!r}" if i else ""
            return False, f"{text} ({w!r} was not heard{after})"
        at = found + 1
    return True, text


def _recorded(call: Call, want: str) -> tuple[bool, str]:
    got = [r.transcription or r.said for r in call.recordings]
    if want in BOOLEANS:
        return bool(call.recordings) == (want == "true"), f"recorded: {want} ({len(got)} recording(s))"
    ok = any(want.lower() in f"{r.said} {r.transcription or ''}".lower() for r in call.recordings)
    return ok, f"recorded {want!r} (recordings: {got or 'none'})"
