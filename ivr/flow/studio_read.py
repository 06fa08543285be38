"""Twilio Studio flow definition (JSON) -> `StudioFlow`: typed, frozen widgets, with every problem found at once.

A definition is what Studio's REST API v2 returns as a Flow's `definition` and what the console exports:
`{"description", "states": [widget, ...], "initial_state", "flags"}`, each widget
`{"name", "type", "transitions": [{"event", "next"?, "conditions"?}], "properties"}`. The reader checks it against
the widget catalogue (`ivr.flow.studio_widgets`) and nothing else; what a widget *does* is the translator's
business, not this module's.

Like the YAML loader (`ivr.flow.loader`): a duplicate key is reported (the first definition is kept), and every
problem names the file, the line, the key path with the state's name (`states.menu.properties.say`), the bad value
(`!r`) and the valid choices. The line of each key comes from one linear pass over the text with a regular
expression (`_key_lines`): stdlib `json` knows no positions, and a 500-state flow must read in a few milliseconds.

Two things are not errors: an unconnected transition (no `next`, or `null`) ends the execution (on a call, a
hang-up), and a documented event an older export lacks is added as such an unconnected transition and listed in
`StudioFlow.added_events`, so a later finding can say so.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from ivr.errors import Problem, StudioError, nearest_line
from ivr.flow import studio_widgets as catalogue
from ivr.flow.loader import current_limits, read_text
from ivr.flow.studio_widgets import Condition, KeyPath, StudioFlow, Transition, Widget
from ivr.flow.values import FrozenDict, Limits, excerpt

Lines = dict[KeyPath, int]
__all__ = ["Condition", "StudioFlow", "Transition", "Widget", "load_studio", "read_studio"]


def load_studio(path: str | Path, limits: Limits | None = None) -> StudioFlow:
    """Read and check one Studio definition file within `limits` (default: `Limits.from_env(os.environ)`)."""
    path = Path(path)
    return read_studio(read_text(path, "Studio flow", limits), str(path), limits)


def read_studio(text: str, file: str = "<studio>", limits: Limits | None = None) -> StudioFlow:
    """Check Studio definition `text`; raise `StudioError` listing every problem with `file`, line and key path."""
    text = text.removeprefix("\ufeff")  # a byte order mark some Windows editors write
    limits = current_limits(limits)
    try:
        data = json.loads(text, object_pairs_hook=_first_wins)
    except json.JSONDecodeError as exc:
        raise StudioError([Problem((), f"not valid JSON: {exc.msg} in column {exc.colno}", "invalid-json",
                                   exc.lineno, file)]) from None
    except RecursionError:  # only past ~1,000 levels: far beyond the default limit, which `_key_lines` applies
        raise StudioError([Problem((), limits.exceeded("max_nesting", "nested too deeply to parse", " levels"),
                                   "too-deep", 1, file)]) from None
    lines, duplicates = _key_lines(text, file, limits)
    if not isinstance(data, dict):
        raise StudioError([Problem((), "a Studio flow definition must be a JSON object with 'states' and "
                                       f"'initial_state', got {_describe(data)}", "not-studio", 1, file)])
    return _Reader(data, file, lines, duplicates).flow()


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        out.setdefault(key, value)  # a duplicate is reported by `_key_lines`, with both lines
    return out


_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_SCALAR = rf'{_STRING}|[-0-9][-+.0-9eE]*|true|false|null'
#: a JSON token: a key with its value if that is a scalar (one token, not two: the walk is the reader's hot loop),
#: a bracket, or a scalar item of a list (which counts for the index of the items after it)
_TOKEN = re.compile(rf'"([^"\\]*(?:\\.[^"\\]*)*)"\s*(:)\s*(?:{_SCALAR})?|[{{}}\[\]]|{_SCALAR}')


def _key_lines(text: str, file: str, limits: Limits) -> tuple[Lines, list[tuple[KeyPath, int, int]]]:
    """For valid JSON `text`: the line of every key path (list items by index) and the duplicate keys as
    (path, line, first line). One pass over the text."""
    lines: Lines = {}
    duplicates: list[tuple[KeyPath, int, int]] = []
    open_: list[tuple[KeyPath, list[int] | None]] = []  # each container: its path, and an item counter if a list
    key: KeyPath = ()
    line, pos = 1, 0
    count = text.count
    for match in _TOKEN.finditer(text):
        start = match.start()
        line += count("\n", pos, start)
        pos = start
        if match.group(2):  # a key
            raw = match.group(1)
            key = (*open_[-1][0], raw if "\\" not in raw else json.loads(f'"{raw}"'))
            if key in lines:  # file the duplicate's value apart, so its own keys are not duplicates too
                duplicates.append((key, line, lines[key]))
                key = (*key[:-1], f"{key[-1]}\x00{line}")
            else:
                lines[key] = line
            continue
        char = text[start]
        if char in "}]":
            open_.pop()
            continue
        path = key
        if open_ and (counter := open_[-1][1]) is not None:  # an item of a list
            path = (*open_[-1][0], str(counter[0]))
            counter[0] += 1
        if char in "{[":
            if len(open_) >= limits.max_nesting:
                raise StudioError([Problem((), limits.exceeded("max_nesting", f"nested {len(open_) + 1} levels "
                                                               "deep", " levels"), "too-deep", line, file)])
            lines.setdefault(path, line)
            open_.append((path, [0] if char == "[" else None))
    return lines, duplicates


def _describe(value: Any) -> str:
    """A JSON value as a message shows it: text with `!r` (cut if long), JSON's own words for the rest."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, str):
        return excerpt(value)
    return json.dumps(value) if value is None or isinstance(value, bool) else repr(value)


def _suggest(word: str, valid: list[str]) -> str | None:
    """The valid word `word` most likely meant: its snake_case or camelCase spelling, else a close one."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", word).lower()
    camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), word)
    guesses = [g for g in (snake, camel) if g != word and g in valid]
    close = difflib.get_close_matches(word, valid, n=1, cutoff=0.6)
    return (guesses + close)[0] if guesses or close else None


def _unknown(what: str, value: str, valid: list[str], plural: str, where: str = "") -> str:
    """`unknown key 'x' [for ...]; did you mean 'y'? valid keys: [...]`"""
    hint = _suggest(value, valid)
    return (f"unknown {what} {value!r}{where}" + (f"; did you mean {hint!r}? " if hint else "; ")
            + f"valid {plural}: {valid}")


#: a widget SID (`FF` + 32 hex digits), which the legacy 2018 format wrote as `next`
_SID = re.compile(r"F[A-Z][0-9a-fA-F]{32}")
LEGACY = ("which ivr does not read; export the flow again from the current Studio: its JSON export in the Studio "
          "console, or the 'definition' field of GET https://studio.twilio.com/v2/Flows/FW... (REST API v2)")


class _Reader:
    """Checks one parsed definition; problems are collected with key paths by list index (`states.3`) and shown
    with the state's name (`states.menu`)."""

    def __init__(self, data: dict[str, Any], file: str, lines: Lines,
                 duplicates: list[tuple[KeyPath, int, int]]) -> None:
        self.data, self.file, self.lines = data, file, lines
        self.problems: list[Problem] = []
        self.names: list[str] = []  # each state's name as messages show it (its index if it has none)
        self.duplicates = duplicates

    def problem(self, path: KeyPath, message: str, code: str) -> None:
        self.problems.append(Problem(path, message, code, nearest_line(path, self.lines)))

    def expected(self, path: KeyPath, what: str, got: Any) -> None:
        self.problem(path, f"expected {what}, got {_describe(got)}", "bad-value")

    def shown(self, path: KeyPath) -> KeyPath:
        if len(path) > 1 and path[0] == "states" and path[1].isdigit() and int(path[1]) < len(self.names):
            return ("states", self.names[int(path[1])], *path[2:])
        return path

    def fail(self) -> StudioError:
        located = [Problem(self.shown(p.path), p.message, p.code, p.line, self.file) for p in self.problems]
        return StudioError(sorted(located, key=lambda p: p.line or 0))

    def flow(self) -> StudioFlow:
        data = self.data
        states = data.get("states")
        if isinstance(states, list):
            self.names = [s["name"] if isinstance(s, dict) and isinstance(s.get("name"), str) and s["name"]
                          else str(i) for i, s in enumerate(states)]
            legacy = self.legacy(states)
            if legacy:
                self.problems = [legacy]
                raise self.fail()
        for path, line, first in self.duplicates:
            self.problems.append(Problem(path, f"duplicate key {path[-1]!r} (first defined on line {first})",
                                         "duplicate-key", line))
        self.keys((), data, catalogue.DEFINITION_KEYS, ("states", "initial_state"))
        description, flags = data.get("description", ""), data.get("flags", {})
        if not isinstance(description, str):
            self.expected(("description",), "text", description)
        if not isinstance(flags, dict):
            self.expected(("flags",), "an object", flags)
        widgets, added = self.widgets(states) if "states" in data else ({}, [])
        self.initial(data.get("initial_state"))
        if self.problems:
            raise self.fail()
        names = self.names  # valid, so each ("states", x, ...) has an index for x
        lines = {("states", names[int(p[1])], *p[2:]) if len(p) > 1 and p[0] == "states" else p: n
                 for p, n in self.lines.items()}
        return StudioFlow(self.file, description, data["initial_state"], _frozen(flags), FrozenDict(widgets),
                          tuple(added), FrozenDict(lines))

    def legacy(self, states: list[Any]) -> Problem | None:
        """The first sign of Studio's legacy 2018 format: a capitalised widget type ('Gather'), a state's `sid`,
        or a `next` that is a widget SID."""
        for i, state in enumerate(states):
            if not isinstance(state, dict):
                continue
            kind, where = state.get("type"), ("states", str(i))
            if isinstance(kind, str) and kind[:1].isupper() or "sid" in state:
                path, what = ((*where, "type"), f"widget type {kind!r}") if isinstance(kind, str) and \
                    kind[:1].isupper() else ((*where, "sid"), "a state's 'sid'")
                return Problem(path, f"{what} is Studio's legacy 2018 format, {LEGACY}", "legacy-format",
                               nearest_line(path, self.lines))
            transitions = state.get("transitions")
            for j, transition in enumerate(transitions if isinstance(transitions, list) else []):
                target = transition.get("next") if isinstance(transition, dict) else None
                if isinstance(target, str) and _SID.fullmatch(target) and target not in self.names:
                    at = (*where, "transitions", str(j), "next")
                    return Problem(at, f"next {target!r} is a widget SID, as in Studio's legacy 2018 format, "
                                         f"{LEGACY}", "legacy-format", nearest_line(at, self.lines))
        return None

    def keys(self, path: KeyPath, value: dict[str, Any], valid: Collection[str], required: Collection[str]) -> None:
        choices = sorted(valid)
        for key in value:
            if key not in valid:
                self.problem((*path, key), _unknown("key", key, choices, "keys"), "unknown-key")
        for key in sorted(required):
            if key not in value:
                self.problem(path, f"missing required key {key!r}", "missing-key")

    def widgets(self, states: Any) -> tuple[dict[str, Widget], list[tuple[str, str]]]:
        if not isinstance(states, list) or not states:
            self.expected(("states",), "a list of widgets", states)
            return {}, []
        first_line: dict[str, int] = {}
        for i, state in enumerate(states):
            name = state.get("name") if isinstance(state, dict) else None
            if isinstance(name, str) and name in first_line:
                self.problem(("states", str(i), "name"), f"duplicate state name {name!r} (first defined on line "
                                                         f"{first_line[name]})", "duplicate-state")
            elif isinstance(name, str):
                first_line[name] = nearest_line(("states", str(i), "name"), self.lines) or 0
        widgets: dict[str, Widget] = {}
        added: list[tuple[str, str]] = []
        for i, state in enumerate(states):
            widget = self.widget(("states", str(i)), state, first_line, added)
            if widget is not None:
                widgets.setdefault(widget.name, widget)
        triggers = [i for i, s in enumerate(states) if isinstance(s, dict) and s.get("type") == "trigger"]
        if not triggers:
            self.problem(("states",), f"no 'trigger' widget: a flow starts at its trigger, and none of its "
                                      f"{len(states)} states is one", "no-trigger")
        for extra in triggers[1:]:
            self.problem(("states", str(extra), "type"), f"a second 'trigger' widget; a flow has one "
                                                         f"({self.names[triggers[0]]!r})", "two-triggers")
        return widgets, added

    def widget(self, where: KeyPath, state: Any, names: dict[str, int],
               added: list[tuple[str, str]]) -> Widget | None:
        if not isinstance(state, dict):
            self.expected(where, "a widget object", state)
            return None
        self.keys(where, state, catalogue.STATE_KEYS, catalogue.STATE_KEYS)
        name, kind = state.get("name"), state.get("type")
        if "name" in state and (not isinstance(name, str) or not name):
            self.expected((*where, "name"), "a non-empty name", name)
        if isinstance(kind, str) and kind not in catalogue.WIDGETS:
            self.problem((*where, "type"), _unknown("widget type", kind, sorted(catalogue.WIDGETS), "types"),
                         "unknown-widget-type")
        elif "type" in state and not isinstance(kind, str):
            self.expected((*where, "type"), "a widget type", kind)
        spec = catalogue.WIDGETS.get(kind) if isinstance(kind, str) else None
        properties = state.get("properties", {})
        if not isinstance(properties, dict):
            self.expected((*where, "properties"), "an object", properties)
        elif spec is not None and "properties" in state:
            self.keys((*where, "properties"), properties, spec.keys, spec.required)
        transitions = self.transitions(where, state.get("transitions", []), spec, names)
        if not isinstance(name, str) or not name or spec is None or not isinstance(properties, dict):
            return None
        have = {t.event for t in transitions}
        for event in spec.events:
            if event != catalogue.MATCH and event not in have:
                transitions.append(Transition(event, None))
                added.append((name, event))
        return Widget(name, spec.type, tuple(transitions), _frozen(properties),
                      nearest_line(where, self.lines) or 0)

    def transitions(self, where: KeyPath, transitions: Any, spec: Any, names: dict[str, int]) -> list[Transition]:
        out: list[Transition] = []
        path = (*where, "transitions")
        if not isinstance(transitions, list):
            self.expected(path, "a list of transitions", transitions)
            return out
        seen: dict[str, KeyPath] = {}
        for j, transition in enumerate(transitions):
            at = (*path, str(j))
            if not isinstance(transition, dict):
                self.expected(at, "a transition object", transition)
                continue
            self.keys(at, transition, catalogue.TRANSITION_KEYS, ("event",))
            event, target = transition.get("event"), transition.get("next")
            if "event" in transition and not isinstance(event, str):
                self.expected((*at, "event"), "an event name", event)
                continue
            if not isinstance(event, str):
                continue
            if spec is not None and event not in spec.events:
                self.problem((*at, "event"), _unknown("event", event, list(spec.events), "events",
                                                      f" for a {spec.type} widget"), "unknown-event")
            elif event != catalogue.MATCH and event in seen:
                first = nearest_line(seen[event], self.lines)
                self.problem((*at, "event"), f"duplicate event {event!r} (first on line {first})", "duplicate-event")
            seen.setdefault(event, at)
            if target is not None and (not isinstance(target, str) or not target):
                self.expected((*at, "next"), "a state's name (or no 'next': an unconnected transition)", target)
                target = None
            elif isinstance(target, str) and target not in names:
                self.problem((*at, "next"), f"{event!r} goes to {target!r}, which is not a state"
                                            f"{self.close(target, names)}", "undefined-target")
            match = event == catalogue.MATCH and spec is not None
            out.append(Transition(event, target, self.conditions(at, transition.get("conditions"), match)))
        return out

    def close(self, name: str, names: dict[str, int] | list[str]) -> str:
        """'; did you mean ...? known states: [...]', or for a large flow only the close names."""
        close = difflib.get_close_matches(name, list(names), n=3)
        if len(names) <= 20:
            return (f"; did you mean {close[0]!r}? " if close else "; ") + f"known states: {sorted(set(names))}"
        return f"; close names: {close}" if close else f" (nor close to any of the {len(names)} states)"

    def conditions(self, at: KeyPath, conditions: Any, match: bool) -> tuple[Condition, ...]:
        if not match:
            if conditions not in (None, []):
                self.problem((*at, "conditions"), "only a split-based-on's 'match' transitions have conditions",
                             "bad-value")
            return ()
        if not isinstance(conditions, list) or not conditions:
            got = "none" if conditions is None else _describe(conditions)
            self.problem(at, f"a 'match' transition needs a list of conditions, got {got}", "missing-key")
            return ()
        found = (self.condition((*at, "conditions", str(k)), c) for k, c in enumerate(conditions))
        return tuple(c for c in found if c is not None)

    def condition(self, here: KeyPath, condition: Any) -> Condition | None:
        if not isinstance(condition, dict):
            self.expected(here, "a condition object", condition)
            return None
        kind, arguments, value = condition.get("type"), condition.get("arguments", []), condition.get("value", "")
        needed = [k for k in catalogue.REQUIRED_CONDITION_KEYS
                  if k != "value" or kind not in catalogue.VALUELESS_CONDITIONS]
        self.keys(here, condition, catalogue.CONDITION_KEYS, needed)
        if isinstance(kind, str) and kind not in catalogue.CONDITION_TYPES:
            self.problem((*here, "type"), _unknown("condition type", kind, list(catalogue.CONDITION_TYPES), "types"),
                         "unknown-condition-type")
        elif "type" in condition and not isinstance(kind, str):
            self.expected((*here, "type"), "a condition type", kind)
        if "arguments" in condition and (not isinstance(arguments, list) or not arguments
                                         or not all(isinstance(a, str) for a in arguments)):
            self.expected((*here, "arguments"), "a list of text such as ['{{widgets.menu.Digits}}']", arguments)
            arguments = []
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # Studio writes numbers as text; a hand-written 5 means the same
        if not isinstance(value, str):
            self.expected((*here, "value"), "text", value)
            value = ""
        elif kind == "regex":
            try:
                re.compile(value)
            except re.error as exc:
                self.problem((*here, "value"), f"regex {value!r} does not compile: {exc.msg} at position "
                                               f"{exc.pos}", "bad-regex")
        label = condition.get("friendly_name", "")
        return Condition(kind, tuple(arguments), value, label if isinstance(label, str) else "") \
            if isinstance(kind, str) else None

    def initial(self, initial: Any) -> None:
        if "initial_state" not in self.data:
            return  # reported as a missing key
        if not isinstance(initial, str):
            self.expected(("initial_state",), "a state's name", initial)
        elif self.names and initial not in self.names:
            self.problem(("initial_state",), f"{initial!r} is not a state{self.close(initial, self.names)}",
                         "undefined-target")


def _frozen(value: Any) -> Any:
    """JSON values as hashable ones: objects as `FrozenDict`, lists as tuples."""
    if isinstance(value, dict):
        return FrozenDict({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value
