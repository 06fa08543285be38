"""Value helpers for the flow model: a hashable frozen dict, JSON Schema for one-or-many lists, and the load-time
`Limits` of a flow with the scan that enforces those any text can break (nesting, characters, text length).

Limits exist because a flow is input: a 1 KB file of `[[[[...` once ended every command in RecursionError, a
`"\\a"` escape reached Twilio as TwiML it rejects, and a 201-character node id passed the check but overflowed the
call store's columns on PostgreSQL. Each limit has a default generous for real flows and an environment variable
(`IVR_` + the field's name in capitals) that the loader reads; a program passes `Limits(...)` itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue

from ivr.errors import Problem, UsageError

K = TypeVar("K")
V = TypeVar("V")


class FrozenDict(dict[K, V]):
    """A dict that cannot change and can be hashed, so flows and nodes are hashable values."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))

    def _readonly(self, *args: object, **kwargs: object) -> None:
        raise TypeError("flow values are frozen")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]


def freeze(value: dict[Any, Any]) -> dict[Any, Any]:
    return FrozenDict(value)


class OneOrMany:
    """JSON Schema for a list a designer may also write as a single item (`prompt: "Hi"`), so editors accept
    the same shorthand the loader does; a prompt's items may be plain text too."""

    def __init__(self, text_items: bool = False) -> None:
        self.text_items = text_items

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        item = schema["items"]
        if self.text_items:
            item = {"anyOf": [{"type": "string"}, item]}
            schema["items"] = item
        return {"anyOf": [item, schema]}


@dataclass(frozen=True)
class Limits:
    """How big a flow may be. Every field has an environment variable: `IVR_` + its name in capitals
    (`max_nodes` -> `IVR_MAX_NODES`); `Limits.from_env` reads them, and the loader calls it for every file."""

    #: the size of a file ivr reads (flow, call script, sidecar), checked before it is read
    max_file_bytes: int = 10 * 1024 * 1024
    #: how deep mappings and lists may nest (a real flow needs about 6); checked while YAML is composed
    max_nesting: int = 64
    #: values (scalars, lists, mappings) that YAML aliases may copy: a few lines of aliases of aliases can
    #: otherwise expand to gigabytes ("billion laughs"); a flow sharing a ladder by alias copies a few thousand
    max_alias_values: int = 100_000
    #: nodes of one flow
    max_nodes: int = 100_000
    #: phrases of all intents together, and of one intent
    max_phrases: int = 200_000
    max_intent_phrases: int = 50_000
    #: one phrase of an intent, or one hint of a node
    max_phrase_chars: int = 500
    #: rungs of one no-input or no-match ladder
    max_ladder_rungs: int = 100
    #: any text in a flow: a prompt, a template, a key
    max_text_chars: int = 10_000
    #: a flow name, node id, intent name or effect name: the call store keeps them in 200 characters
    max_name_chars: int = 200
    #: an outcome: the call store keeps it in 64 characters
    max_outcome_chars: int = 64

    @staticmethod
    def variable(name: str) -> str:
        """The environment variable of field `name`."""
        return f"IVR_{name.upper()}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Limits:
        """The defaults, with each limit set in `environ` (e.g. `os.environ`) instead; a setting that is not a
        whole number of at least 1 is a `UsageError` naming it."""
        given: dict[str, int] = {}
        for item in fields(cls):
            raw = environ.get(cls.variable(item.name))
            if raw is None or not raw.strip():
                continue
            try:
                given[item.name] = int(raw)
            except ValueError:
                given[item.name] = 0
            if given[item.name] < 1:
                raise UsageError(f"{cls.variable(item.name)}={raw!r} is not a limit: write a whole number of at "
                                 f"least 1 (the default is {item.default})")
        return cls(**given)

    def exceeded(self, name: str, what: str, unit: str = "") -> str:
        """The message for `what` going past limit `name`: '... more than the limit of 64 levels (IVR_...)'."""
        return f"{what}, more than the limit of {getattr(self, name)}{unit} ({self.variable(name)})"


def limits_of(context: object) -> Limits:
    """The `Limits` in a pydantic validation context (`Flow.model_validate(data, context={"limits": ...})`),
    else the defaults: the model itself never reads the environment."""
    found = context.get("limits") if isinstance(context, dict) else None
    return found if isinstance(found, Limits) else Limits()


#: characters XML 1.0 cannot carry, so neither can TwiML: C0 controls but tab, line feed and carriage return;
#: lone surrogates (a YAML "\ud800" escape makes one); and the non-characters U+FFFE and U+FFFF
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: a key is a name or a short value, one line: no control character at all (C0, DEL, C1), nor a character that
#: ends a line (U+0085, U+2028, U+2029: `str.splitlines` splits on them, and a message is one line per problem)
NOT_KEY = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def shown(part: str) -> str:
    """A key of a key path as a message shows it: itself, or quoted with `!r` if it holds a control character
    (so a message stays one line whatever keys a file has)."""
    return repr(part) if NOT_KEY.search(part) else part


def excerpt(text: str, at: int = 0, width: int = 40) -> str:
    """`text` around position `at`, quoted with `!r` (control characters escaped), marked where it is cut."""
    start = max(0, min(at - width // 2, len(text) - width))
    cut = repr(text[start:start + width])
    return ("..." if start else "") + cut + ("..." if start + width < len(text) else "")


def _character(char: str) -> str:
    code = ord(char)
    kind = ("a lone surrogate" if 0xD800 <= code <= 0xDFFF else "a non-character" if code >= 0xFFFE
            else "a line separator" if code >= 0x2028 else "a control character")
    return f"U+{code:04X} ({kind})"


def _text_problem(path: tuple[str, ...], text: str, limits: Limits, key: bool) -> Problem | None:
    """What is wrong with one text of a flow at `path` (`key`: the last part of `path`, a mapping's key)."""
    found = (NOT_KEY if key else NOT_XML).search(text)
    what = ("key " if key else "") + excerpt(text, found.start() if found is not None else 0)
    if found is not None:
        char = found.group()
        why = ("which TwiML (XML 1.0) cannot carry; remove it" if NOT_XML.match(char)
               else "and a key is one line of text without control characters")
        return Problem(path, f"{what} contains {_character(char)}, {why}", "bad-value")
    if len(text) > limits.max_text_chars:
        return Problem(path, limits.exceeded("max_text_chars", f"{what} is {len(text)} characters long",
                                             " characters"), "over-limit")
    return None


#: problems one scan reports before it stops listing them (a 10 MB file of bad characters is one mistake)
MAX_LISTED = 100


def _clean(data: object, limits: Limits) -> bool:
    """Whether `data` has none of the problems `scan` finds: the fast path (a 100,000-node flow in well under a
    second), which gathers every text and searches them at once, and builds no key paths."""
    texts: list[str] = []
    keys: list[object] = []
    stack: list[tuple[object, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        children: Iterable[object]
        if isinstance(value, dict):
            keys.extend(value)
            children = value.values()
        elif isinstance(value, list | tuple):
            children = value
        else:
            continue
        if value and depth >= limits.max_nesting:
            return False
        for child in children:
            if isinstance(child, str):
                texts.append(child)
            elif isinstance(child, dict | list | tuple):
                stack.append((child, depth + 1))
    names = [k for k in keys if isinstance(k, str)]
    if isinstance(data, str):
        texts.append(data)
    return not (NOT_KEY.search("".join(names)) or NOT_XML.search("".join(texts))
                or max(map(len, texts), default=0) > limits.max_text_chars
                or max(map(len, names), default=0) > limits.max_text_chars)


def scan(data: object, limits: Limits) -> list[Problem]:
    """Every problem in raw flow data (dicts, lists, text) that no schema sees: nesting past the limit, a
    character XML cannot carry, text longer than the limit. Iterative, so no nesting can exhaust the stack."""
    if _clean(data, limits):
        return []
    problems: list[Problem] = []
    stack: list[tuple[tuple[str, ...], object]] = [((), data)]
    while stack and len(problems) < MAX_LISTED:
        path, value = stack.pop()
        if isinstance(value, str):
            problem = _text_problem(path, value, limits, key=False)
            if problem is not None:
                problems.append(problem)
            continue
        if len(path) >= limits.max_nesting and isinstance(value, dict | list | tuple) and value:
            problems.append(Problem(path, limits.exceeded("max_nesting", f"nested {len(path) + 1} levels deep",
                                                          " levels"), "over-limit"))
            continue
        if isinstance(value, dict):
            for key in value:
                problem = _text_problem((*path, key), key, limits, key=True) if isinstance(key, str) else None
                if problem is not None:
                    problems.append(problem)
            stack.extend(((*path, str(k)), v) for k, v in reversed(value.items()))
        elif isinstance(value, list | tuple):
            stack.extend(((*path, str(i)), v) for i, v in reversed(list(enumerate(value))))
    return problems
