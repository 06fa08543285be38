"""YAML text -> `Flow`, with every error naming file, line, key path, bad value and valid choices.

The only module that reads flow files or imports YAML. Flows are composed with PyYAML's *BaseLoader* resolver so
every scalar stays a string — YAML 1.1 would turn `yes`/`no`/`on`/`off` into booleans, `yes:` and `1:` would then
collide as keys (True == 1) and a route would silently vanish. We walk the node tree ourselves to reject
duplicate keys (which PyYAML silently overwrites) and to remember the line of every key path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from ivr.errors import FlowError, FlowFileError, Problem, nearest_line
from ivr.flow import model

LineNumbers = dict[tuple[str, ...], int]


@dataclass(frozen=True)
class Source:
    """Where a flow came from: the file, and the line of each key path (for error messages and findings)."""

    file: str
    lines: LineNumbers = field(default_factory=dict, hash=False, compare=False)

    def line(self, *path: str) -> int | None:
        return nearest_line(tuple(path), self.lines)


def _compose(text: str, file: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.BaseLoader)
    except yaml.reader.ReaderError as exc:
        line, column = _line_col(text, exc.position)
        raise FlowFileError(f"{file}:{line}: not valid YAML: unacceptable character {chr(exc.character)!r} in "
                            f"column {column}: special characters are not allowed") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}" if mark is not None else ""
        what = exc.problem or exc.context
        if exc.context and exc.problem and exc.context_mark is not None:
            what = f"{exc.context} (line {exc.context_mark.line + 1}), {exc.problem}"
        raise FlowFileError(f"{file}{where}: not valid YAML: {what}") from None
    except yaml.YAMLError as exc:
        raise FlowFileError(f"{file}: not valid YAML: {exc}") from None


def _line_col(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


#: what a value of a pattern-checked key must look like, in words (shown instead of the regular expression)
PATTERN_MESSAGES = {
    "name": "is not a flow name: use letters, digits, '_' and '-' (no spaces)",
    "language": "is not a language tag like 'en-US' or 'ko-KR'",
    "speech_timeout": "is not 'auto' or a whole number of seconds",
    "effect": "is not an effect name: lower-case letters, digits and '_', starting with a letter",
    "number": "is not a phone number: write 3 to 15 digits with an optional leading '+' (e.g. '+18005550100'), "
              "or a 'sip:' or 'client:' address",
}

#: phrases for intents a flow may use without declaring them; a flow's own declaration replaces these


#: aliases can make a tiny file expand to gigabytes ("billion laughs"); no real flow comes near this
MAX_VALUES = 200_000


#: keys whose values are DTMF keys, where an unquoted `#` starts a YAML comment instead (`finish_on_key: #` is
#: empty; `- #` in a list of keys is empty; a line `#: agent` in a key map is a comment, and key '#' is lost);
#: a sidecar's `said` list holds keys as `#1234`
KEY_FIELDS = frozenset({"finish_on_key", "keys", "press", "said"})
HASH_COMMENT = "comment-not-key"
_LOST_KEY = re.compile(r"#\s*:(?:\s|$)")


class _Composer:
    """Turns a composed YAML node into dicts, lists and strings, recording lines and duplicate keys."""

    def __init__(self, text: str = "") -> None:
        self.text = text.splitlines()
        self.lines: LineNumbers = {}
        self.columns: dict[tuple[str, ...], int] = {}  # the column of each mapping key (for lost '#' keys)
        self.items: set[tuple[str, ...]] = set()  # the paths of list items
        self.commented: dict[tuple[str, ...], tuple[int, str]] = {}  # empty value -> (line, the comment's '#word')
        self.problems: list[Problem] = []
        self.inside: set[int] = set()  # ids of the collections being converted (a recursive alias loops)
        self.values = 0

    def plain(self, node: yaml.Node, path: tuple[str, ...]) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        self.values += 1
        if self.values > MAX_VALUES:
            raise FlowFileError(f"line {node.start_mark.line + 1}: the flow expands to more than {MAX_VALUES} "
                                "values (nested YAML aliases?)")
        if isinstance(node, yaml.ScalarNode):
            if node.value == "" and node.style is None:  # empty: was it a '#' meant as a key, read as a comment?
                mark = node.start_mark
                rest = self.text[mark.line][mark.column:].lstrip() if mark.line < len(self.text) else ""
                if rest.startswith("#"):
                    self.commented[path] = (mark.line + 1, rest.split()[0])
            return node.value
        if id(node) in self.inside:
            self.problems.append(Problem(path, "recursive YAML alias: the value contains itself")
                                 .located(None, self.lines[path]))
            return None
        self.inside.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                self.items.update((*path, str(i)) for i in range(len(node.value)))
                return [self.plain(item, (*path, str(i))) for i, item in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self.inside.discard(id(node))

    def _mapping(self, node: yaml.Node, path: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(Problem(path, "keys must be plain strings, not lists or mappings")
                                     .located(None, key_node.start_mark.line + 1))
                continue
            key = key_node.value
            if key in out:  # keep the first definition, report the second
                first = self.lines[(*path, key)]
                self.problems.append(Problem((*path, key), f"duplicate key {key!r} (first defined on line {first})",
                                             "duplicate-key").located(None, key_node.start_mark.line + 1))
                continue
            self.lines[(*path, key)] = key_node.start_mark.line + 1
            self.columns[(*path, key)] = key_node.start_mark.column
            out[key] = self.plain(value_node, (*path, key))
        return out

    def hash_comments(self) -> list[Problem]:
        """A DTMF key `#` written unquoted, which YAML read as the start of a comment: the value it leaves empty,
        or the key-map line it turned into a comment. Each says to quote it."""
        found = []
        for path, (line, word) in self.commented.items():
            if path[-1] in ("finish_on_key", "press") or path[-1] == "keys" and path[0] == "intents":
                key = f"{path[-1]}: "
            elif path in self.items and len(path) > 1 and path[-2] in KEY_FIELDS:
                key = "- "
            else:
                continue
            found.append(Problem(path, f"empty: YAML reads the '#' in '{key}{word}' as the start of a comment; "
                                       f'quote it: {key}"{word}"', HASH_COMMENT, line))
        for number, raw in enumerate(self.text, 1):
            body = raw.lstrip()
            if not _LOST_KEY.match(body):
                continue
            indent = len(raw) - len(body)
            before = [p for p, c in self.columns.items() if c < indent and self.lines[p] < number]
            parent = max(before, key=self.lines.__getitem__, default=None)
            if parent is not None and parent[-1] == "keys":
                written = body.rstrip()
                quoted = '"#"' + written[1:]
                found.append(Problem(parent, f"'{written}' is a YAML comment, so key '#' is lost; quote it: {quoted}",
                                     HASH_COMMENT, number))
        return found


def _fields_at(loc: tuple[str, ...]) -> list[str] | None:
    """The valid keys of the model found at key path `loc` (for 'unknown key' messages)."""
    current: Any = model.Flow
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            by_alias = {f.alias or n: f.annotation for n, f in current.model_fields.items()}
            if part not in by_alias:
                return None
            current = by_alias[part]
        else:
            current = _unwrap_container(current, part)
        if current is None:
            return None
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(f.alias or n for n, f in current.model_fields.items() if n != "type")
    return None


def _unwrap_container(annotation: Any, part: str) -> Any:
    """Step through Annotated / Optional / dict / tuple / node-union types along one key of a path."""
    args = get_args(annotation)
    if not args:
        return None
    origin = getattr(annotation, "__origin__", None)
    if origin in (dict,):
        return args[1]
    if origin in (tuple,):
        return args[0]
    if hasattr(annotation, "__metadata__"):  # Annotated[X, ...]
        return _unwrap_container(args[0], part) if get_args(args[0]) else None
    for option in args:  # a node tag ('menu') picks the member of the node union with that type
        fields = getattr(option, "model_fields", {})
        if "type" in fields and part in get_args(fields["type"].annotation):
            return option
    return None


def _translate(err: Any, data: Any) -> Problem:
    """One pydantic error -> one Problem in a designer's words."""
    loc = [str(p) for p in err["loc"] if p != "[key]"]
    # pydantic puts the union tag in the path (nodes.menu.menu.routes); the designer never wrote it
    if len(loc) >= 3 and loc[0] == "nodes" and loc[2] in model.NODE_TYPES:
        del loc[2]
    path = tuple(loc)
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        valid = _fields_at(_model_path(path[:-1], data))
        choices = f"; valid keys: {valid}" if valid else ""
        return Problem(path, f"unknown key {path[-1]!r}{choices}", "unknown-key")
    if kind == "missing":
        return Problem(path[:-1], f"missing required key {path[-1]!r}", "missing-key")
    if kind == "union_tag_invalid":
        return Problem((*path, "type"), f"unknown node type {err['ctx']['tag']!r}; valid types: "
                                        f"{list(model.NODE_TYPES)}", "unknown-node-type")
    if kind == "string_pattern_mismatch" and path and path[-1] in PATTERN_MESSAGES:
        return Problem(path, f"{value!r} {PATTERN_MESSAGES[path[-1]]}", "bad-value")
    if kind.startswith(("greater_than", "less_than")):
        return Problem(path, f"{value!r} is out of range: {err['msg'].lower()}", "bad-value")
    template = _MESSAGES.get(kind)
    if template is None:
        return Problem(path, err["msg"].removeprefix("Value error, "), "bad-value")
    ctx = err.get("ctx", {})
    return Problem(path, template.format(value=value, what=_describe(value), types=list(model.NODE_TYPES), **ctx),
                   "missing-key" if kind == "union_tag_not_found" else "bad-value")


#: pydantic error type -> a designer's message ({value!r} is the bad value, {what} describes it)
_MESSAGES = {
    "union_tag_not_found": "missing required key 'type'; valid types: {types}",
    "literal_error": "{value!r} is not one of {expected}",
    "int_parsing": "expected a whole number, got {value!r}",
    "int_from_float": "expected a whole number, got {value!r}",
    "float_parsing": "expected a number, got {value!r}",
    "bool_parsing": "expected true or false, got {value!r}",
    "dict_type": "expected a mapping of keys, got {what}",
    "model_type": "expected a mapping of keys, got {what}",
    "model_attributes_type": "expected a mapping of keys, got {what}",
    "tuple_type": "expected a list, got {what}",
    "list_type": "expected a list, got {what}",
    "string_type": "expected text, got {what}",
    "string_pattern_mismatch": "{value!r} does not match the pattern {pattern!r}",
}


def _model_path(path: tuple[str, ...], data: Any) -> tuple[str, ...]:
    """Re-insert the node type into a designer's key path so `_fields_at` can walk the node union."""
    if len(path) >= 2 and path[0] == "nodes" and isinstance(data, dict):
        node = data.get("nodes", {}).get(path[1]) if isinstance(data.get("nodes"), dict) else None
        if isinstance(node, dict) and isinstance(node.get("type"), str):
            return (path[0], path[1], node["type"], *path[2:])
    return path


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _raw_references(data: dict[str, Any]) -> list[Problem]:
    """The reference problems that can be seen without a valid schema (reported beside schema problems)."""
    nodes, start = data.get("nodes"), data.get("start")
    if isinstance(nodes, dict) and isinstance(start, str) and start not in nodes:
        return [Problem(("start",), f"target {start!r} is not a node; known nodes: {sorted(nodes)}",
                        "undefined-target")]
    return []


def read_mapping(text: str, file: str, kind: str, needs: str) -> tuple[dict[str, Any], LineNumbers, list[Problem]]:
    """YAML `text` (a `kind` of file: flow, call script) as plain dicts, lists and strings, with the line of
    every key path and the problems found on the way (duplicate keys, recursive aliases); `needs` tells what an
    empty file lacks."""
    root = _compose(text, file)
    if root is None:
        raise FlowFileError(f"{file}: the file is empty; {needs}")
    composer = _Composer(text)
    data = composer.plain(root, ())
    if not isinstance(data, dict):
        raise FlowFileError(f"{file}:1: a {kind} file must be a mapping of keys, got {_describe(data)}")
    return data, composer.lines, composer.problems + composer.hash_comments()


def unshadowed(problems: list[Problem], more: list[Problem]) -> list[Problem]:
    """`problems` plus those of `more` not about a value a `#` comment emptied (its own message says why)."""
    commented = [p.path for p in problems if p.code == HASH_COMMENT]
    return problems + [p for p in more if not any(p.path[:len(c)] == c for c in commented)]


def parse_flow(text: str, file: str = "<flow>") -> tuple[model.Flow, Source]:
    """Validate YAML `text` into a `Flow`; raise `FlowError`/`FlowFileError` naming `file` and lines."""
    data, lines, problems = read_mapping(text, file, "flow",
                                         "a flow needs at least 'name', 'start', 'outcomes' and 'nodes'")
    try:
        flow = model.Flow.model_validate(data)
    except ValidationError as exc:
        problems = unshadowed(problems, [_translate(e, data) for e in exc.errors(include_url=False)]
                              + _raw_references(data))
    except FlowError as exc:
        problems = unshadowed(problems, list(exc.problems))
    if problems:
        located = FlowError(problems).located(file, lines).problems
        raise FlowError(sorted(located, key=lambda p: p.line or 0))
    return flow, Source(file, lines)


def read_text(path: Path, kind: str = "flow") -> str:
    """A flow or call script file as text; an unreadable file is a `FlowFileError` naming it (and, for text that
    is not UTF-8, the line and column)."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise FlowFileError(f"{path}: no such {kind} file") from None
    except IsADirectoryError:
        raise FlowFileError(f"{path}: is a directory, not a {kind} file") from None
    except UnicodeDecodeError as exc:
        raw = path.read_bytes()
        line = raw[:exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise FlowFileError(f"{path}:{line}: not UTF-8 text: byte 0x{raw[exc.start]:02x} in column {column}; "
                            f"save the {kind} as UTF-8") from None
    except OSError as exc:
        raise FlowFileError(f"{path}: cannot read: {exc.strerror}") from None


def load_flow(path: str | Path) -> tuple[model.Flow, Source]:
    """Read and validate one flow file."""
    path = Path(path)
    return parse_flow(read_text(path), str(path))


def audio_dir(flow_file: str | Path) -> Path:
    """Where a flow's `play` files live: audio/ beside the flow file, else beside its directory."""
    here = Path(flow_file).resolve().parent
    return next((d for d in (here / "audio", here.parent / "audio") if d.is_dir()), here.parent / "audio")


def audio_files(flow_file: str | Path) -> list[str]:
    root = audio_dir(flow_file)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
