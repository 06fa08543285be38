"""YAML text -> `Flow`, with every error naming file, line, key path, bad value and valid choices.

The only module that reads flow files or imports YAML. Flows are composed with PyYAML's *BaseLoader* resolver so
every scalar stays a string — YAML 1.1 would turn `yes`/`no`/`on`/`off` into booleans, `yes:` and `1:` would then
collide as keys (True == 1) and a route would silently vanish. We walk the node tree ourselves to reject
duplicate keys (which PyYAML silently overwrites) and to remember the line of every key path.

Every file is read within `Limits` (`ivr.flow.values`), from the environment unless a caller passes its own: the
size is checked before the file is read, the nesting while YAML is composed (PyYAML composes recursively, so a
1 KB file of `[[[[...` would otherwise end in RecursionError) and the values while aliases are expanded.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_left
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from ivr.errors import FlowError, FlowFileError, Problem, nearest_line
from ivr.flow import model
from ivr.flow.values import Limits, excerpt, shown

LineNumbers = dict[tuple[str, ...], int]


@dataclass(frozen=True)
class Source:
    """Where a flow came from: the file, and the line of each key path (for error messages and findings)."""

    file: str
    lines: LineNumbers = field(default_factory=dict, hash=False, compare=False)

    def line(self, *path: str) -> int | None:
        return nearest_line(tuple(path), self.lines)


class _TooDeep(Exception):
    def __init__(self, line: int, depth: int) -> None:
        self.line, self.depth = line, depth


class _BoundedLoader(yaml.BaseLoader):
    """PyYAML's BaseLoader (every scalar a string) whose composer refuses to nest deeper than a limit, before
    its recursion can exhaust the stack."""

    def __init__(self, text: str, max_nesting: int) -> None:
        super().__init__(text)
        self.max_nesting = max_nesting
        self.depth = -1  # the root node is at depth 0, a value at key path (a, b) at depth 2

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > self.max_nesting:
                event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
                mark = event.start_mark
                raise _TooDeep(mark.line + 1 if mark is not None else 1, self.depth)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _compose(text: str, file: str, limits: Limits) -> yaml.Node | None:
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text, limits.max_nesting)  # its reader rejects unprintable characters at once
        return loader.get_single_node()
    except _TooDeep as exc:
        raise FlowFileError(f"{file}:{exc.line}: " + limits.exceeded("max_nesting", f"nested {exc.depth} levels deep",
                                                                     " levels")) from None
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
    finally:
        if loader is not None:
            loader.dispose()


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

#: keys whose values are DTMF keys, where an unquoted `#` starts a YAML comment instead (`finish_on_key: #` is
#: empty; `- #` in a list of keys is empty; a line `#: agent` in a key map is a comment, and key '#' is lost);
#: a sidecar's `said` list holds keys as `#1234`
KEY_FIELDS = frozenset({"finish_on_key", "keys", "press", "said"})
HASH_COMMENT = "comment-not-key"
_LOST_KEY = re.compile(r"#\s*:(?:\s|$)")


class _Composer:
    """Turns a composed YAML node into dicts, lists and strings, recording lines and duplicate keys."""

    def __init__(self, text: str = "", file: str = "<flow>", limits: Limits | None = None) -> None:
        self.text = text.splitlines()
        self.file = file
        self.limits = limits if limits is not None else Limits()
        self.lines: LineNumbers = {}
        self.columns: dict[tuple[str, ...], int] = {}  # the column of each mapping key (for lost '#' keys)
        self.items: set[tuple[str, ...]] = set()  # the paths of list items
        self.commented: dict[tuple[str, ...], tuple[int, str]] = {}  # empty value -> (line, the comment's '#word')
        self.problems: list[Problem] = []
        self.inside: set[int] = set()  # ids of the collections being converted (a recursive alias loops)
        self.seen: set[int] = set()  # ids of the collections converted once: meeting one again is an alias
        self.copying = 0  # how many aliased collections the value being converted is inside
        self.copies = 0  # values converted inside aliased collections

    def plain(self, node: yaml.Node, path: tuple[str, ...]) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if self.copying:  # aliases of aliases can make a tiny file expand to gigabytes ("billion laughs")
            self.copies += 1
            if self.copies > self.limits.max_alias_values:
                raise FlowFileError(f"{self.file}:{node.start_mark.line + 1}: YAML aliases copy more than the limit "
                                    f"of {self.limits.max_alias_values} values ({Limits.variable('max_alias_values')})")
        if len(path) > self.limits.max_nesting:  # an alias can nest a value inside another again and again
            raise FlowFileError(f"{self.file}:{node.start_mark.line + 1}: " + self.limits.exceeded(
                "max_nesting", f"nested {len(path)} levels deep (through YAML aliases)", " levels"))
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
        aliased = id(node) in self.seen
        self.seen.add(id(node))
        self.inside.add(id(node))
        self.copying += aliased
        try:
            if isinstance(node, yaml.SequenceNode):
                self.items.update((*path, str(i)) for i in range(len(node.value)))
                return [self.plain(item, (*path, str(i))) for i, item in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self.inside.discard(id(node))
            self.copying -= aliased

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
        # the key a lost '#: ...' line belongs to: the last key before it, indented less. Swept in line order
        # with a stack of keys of increasing columns (a later key indented as much or less hides earlier ones),
        # so a file of many keys and many such lines takes n log n, not n x m
        keys = sorted(self.columns, key=self.lines.__getitem__)
        stack: list[tuple[str, ...]] = []
        columns: list[int] = []  # the column of each key on the stack, increasing
        next_key = 0
        for number, raw in enumerate(self.text, 1):
            while next_key < len(keys) and self.lines[keys[next_key]] < number:
                column = self.columns[keys[next_key]]
                while columns and columns[-1] >= column:
                    stack.pop()
                    columns.pop()
                stack.append(keys[next_key])
                columns.append(column)
                next_key += 1
            body = raw.lstrip()
            if not _LOST_KEY.match(body):
                continue
            below = bisect_left(columns, len(raw) - len(body))
            parent = stack[below - 1] if below else None
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
        return Problem(path, f"{_describe(value)} {PATTERN_MESSAGES[path[-1]]}", "bad-value")
    if kind.startswith(("greater_than", "less_than")):
        return Problem(path, f"{_describe(value)} is out of range: {err['msg'].lower()}", "bad-value")
    template = _MESSAGES.get(kind)
    if template is None:
        return Problem(path, err["msg"].removeprefix("Value error, "), "bad-value")
    ctx = err.get("ctx", {})
    return Problem(path, template.format(value=value, what=_describe(value), types=list(model.NODE_TYPES), **ctx),
                   "missing-key" if kind == "union_tag_not_found" else "bad-value")


#: pydantic error type -> a designer's message ({what} is the bad value: `!r`, cut if long, or 'a list'...)
_MESSAGES = {
    "union_tag_not_found": "missing required key 'type'; valid types: {types}",
    "literal_error": "{what} is not one of {expected}",
    "int_parsing": "expected a whole number, got {what}",
    "int_from_float": "expected a whole number, got {what}",
    "int_parsing_size": "expected a whole number, got {what}: too many digits",
    "float_parsing": "expected a number, got {what}",
    "bool_parsing": "expected true or false, got {what}",
    "dict_type": "expected a mapping of keys, got {what}",
    "model_type": "expected a mapping of keys, got {what}",
    "model_attributes_type": "expected a mapping of keys, got {what}",
    "tuple_type": "expected a list, got {what}",
    "list_type": "expected a list, got {what}",
    "string_type": "expected text, got {what}",
    "string_pattern_mismatch": "{what} does not match the pattern {pattern!r}",
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
    return excerpt(value) if isinstance(value, str) else repr(value)


def _raw_references(data: dict[str, Any]) -> list[Problem]:
    """The reference problems that can be seen without a valid schema (reported beside schema problems)."""
    nodes, start = data.get("nodes"), data.get("start")
    if isinstance(nodes, dict) and isinstance(start, str) and start not in nodes:
        return [Problem(("start",), f"target {start!r} is not a node; known nodes: {sorted(nodes)}",
                        "undefined-target")]
    return []


def current_limits(limits: Limits | None = None) -> Limits:
    """`limits`, else the defaults with the environment's `IVR_MAX_*` settings (`Limits.from_env`)."""
    return limits if limits is not None else Limits.from_env(os.environ)


def read_mapping(text: str, file: str, kind: str, needs: str,
                 limits: Limits | None = None) -> tuple[dict[str, Any], LineNumbers, list[Problem]]:
    """YAML `text` (a `kind` of file: flow, call script) as plain dicts, lists and strings, with the line of
    every key path and the problems found on the way (duplicate keys, recursive aliases); `needs` tells what an
    empty file lacks. Past a limit of `limits` (size, nesting, values) it is a `FlowFileError`."""
    limits = current_limits(limits)
    if len(text) * 4 > limits.max_file_bytes:  # UTF-8 takes at most 4 bytes a character: measure only if close
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > limits.max_file_bytes:
            raise FlowFileError(f"{file}: " + limits.exceeded("max_file_bytes", f"the {kind} is {size} bytes",
                                                              " bytes"))
    root = _compose(text, file, limits)
    if root is None:
        raise FlowFileError(f"{file}: the file is empty; {needs}")
    composer = _Composer(text, file, limits)
    data = composer.plain(root, ())
    if not isinstance(data, dict):
        raise FlowFileError(f"{file}:1: a {kind} file must be a mapping of keys, got {_describe(data)}")
    return data, composer.lines, composer.problems + composer.hash_comments()


def unshadowed(problems: list[Problem], more: list[Problem]) -> list[Problem]:
    """`problems` plus those of `more` not about a value a `#` comment emptied (its own message says why)."""
    commented = {p.path for p in problems if p.code == HASH_COMMENT}
    if not commented:
        return problems + more
    return problems + [p for p in more if not any(p.path[:end] in commented for end in range(len(p.path) + 1))]


def parse_flow(text: str, file: str = "<flow>", limits: Limits | None = None) -> tuple[model.Flow, Source]:
    """Validate YAML `text` into a `Flow`; raise `FlowError`/`FlowFileError` naming `file` and lines. `limits`
    bounds size, nesting, text and names (default: `Limits.from_env(os.environ)`)."""
    limits = current_limits(limits)
    data, lines, problems = read_mapping(text, file, "flow",
                                         "a flow needs at least 'name', 'start', 'outcomes' and 'nodes'", limits)
    try:
        flow = model.Flow.model_validate(data, context={"limits": limits})
    except ValidationError as exc:
        problems = unshadowed(problems, [_translate(e, data) for e in exc.errors(include_url=False)]
                              + _raw_references(data))
    except FlowError as exc:
        problems = unshadowed(problems, list(exc.problems))
    if problems:
        located = FlowError(problems).located(file, lines).problems
        raise FlowError(sorted((replace(p, path=tuple(map(shown, p.path))) for p in located),
                               key=lambda p: p.line or 0))
    return flow, Source(file, lines)


def read_text(path: Path, kind: str = "flow", limits: Limits | None = None) -> str:
    """A flow or call script file as text; an unreadable file is a `FlowFileError` naming it (and, for text that
    is not UTF-8, the line and column). A file larger than `limits.max_file_bytes` is refused before it is read
    (and no more than that is ever read, should it grow or not be a regular file)."""
    limits = current_limits(limits)
    limit = limits.max_file_bytes
    try:
        size = path.stat().st_size
        if size > limit:
            raise FlowFileError(f"{path}: " + limits.exceeded("max_file_bytes", f"the {kind} file is {size} bytes",
                                                              " bytes"))
        with path.open("rb") as stream:
            raw = stream.read(limit + 1)
    except FileNotFoundError:
        raise FlowFileError(f"{path}: no such {kind} file") from None
    except IsADirectoryError:
        raise FlowFileError(f"{path}: is a directory, not a {kind} file") from None
    except OSError as exc:
        raise FlowFileError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > limit:  # it grew since, or is a pipe or a device
        raise FlowFileError(f"{path}: the {kind} file holds more than the limit of {limit} bytes "
                            f"({Limits.variable('max_file_bytes')})")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise FlowFileError(f"{path}:{line}: not UTF-8 text: byte 0x{raw[exc.start]:02x} in column {column}; "
                            f"save the {kind} as UTF-8") from None


def load_flow(path: str | Path, limits: Limits | None = None) -> tuple[model.Flow, Source]:
    """Read and validate one flow file within `limits` (default: `Limits.from_env(os.environ)`)."""
    path = Path(path)
    limits = current_limits(limits)
    return parse_flow(read_text(path, "flow", limits), str(path), limits)


def audio_dir(flow_file: str | Path) -> Path:
    """Where a flow's `play` files live: audio/ beside the flow file, else beside its directory."""
    here = Path(flow_file).resolve().parent
    return next((d for d in (here / "audio", here.parent / "audio") if d.is_dir()), here.parent / "audio")


def audio_files(flow_file: str | Path) -> list[str]:
    root = audio_dir(flow_file)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
