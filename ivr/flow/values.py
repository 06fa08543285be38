"""Value helpers for the flow model: a hashable frozen dict, and JSON Schema for one-or-many lists."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue

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
