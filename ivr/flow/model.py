"""The flow model: one phone line as a frozen, validated, hashable value.

A flow is data: nodes keyed by id (`ivr.flow.nodes`), intents declared once, global intents that every input
node hears, and the outcomes a call can end in. Pydantic validates the shape (key paths and a JSON Schema for
editors come with it); `ivr.flow.references.check_references` then checks what a schema cannot: that every target
is a node, every intent is declared, every `{variable}` exists. Nothing here reads files: `loader.py` turns YAML
text into these values. `ivr.flow.values.Limits` bounds a flow's size, text and names: pass your own as
`Flow.model_validate(data, context={"limits": Limits(...)})`; without one the defaults hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, model_validator

from ivr.errors import FlowError, Problem
from ivr.flow.nodes import *  # noqa: F403  (the model's parts are part of its namespace: `f.GatherNode`)
from ivr.flow.nodes import (
    BUILTIN_INTENTS,
    AnyNode,
    ConfirmNode,
    Defaults,
    GatherNode,
    Guarantee,
    Handler,
    Intent,
    Map,
    Model,
    Strings,
    Target,
)
from ivr.flow.references import check_limits, check_references
from ivr.flow.values import FrozenDict, freeze, limits_of, scan


class Flow(Model):
    """One phone line."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    description: str = ""
    language: str = Field("en-US", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    voice: str = "Polly.Joanna"
    start: Target
    outcomes: Strings
    guarantee: Guarantee = Guarantee()
    variables: Map = Field(default_factory=FrozenDict, description="variable -> initial value")
    intents: Annotated[dict[str, Intent], AfterValidator(freeze)] = Field(default_factory=FrozenDict)
    global_routes: Map = Field(default_factory=FrozenDict, alias="globals",
                               description="intent -> target, heard at every input node")
    defaults: Defaults = Defaults()
    nodes: Annotated[dict[str, AnyNode], AfterValidator(freeze)]

    @model_validator(mode="before")
    @classmethod
    def _scan(cls, data: Any, info: ValidationInfo) -> Any:
        """Before any validation: nesting, characters TwiML cannot carry, over-long text and too many nodes (so a
        huge flow is refused before it is built)."""
        limits = limits_of(info.context)
        problems = scan(data, limits)
        nodes = data.get("nodes") if isinstance(data, dict) else None
        if isinstance(nodes, dict) and len(nodes) > limits.max_nodes:
            problems.append(Problem(("nodes",), limits.exceeded("max_nodes", f"{len(nodes)} nodes"), "over-limit"))
        if problems:
            raise FlowError(problems)
        return data

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Flow:
        problems = check_limits(self, limits_of(info.context))
        try:
            check_references(self)
        except FlowError as exc:
            problems += exc.problems
        if problems:
            raise FlowError(problems)
        return self

    @cached_property
    def all_intents(self) -> Mapping[str, Intent]:
        """The flow's intents plus the built-in ones it did not declare."""
        merged = {name: Intent(phrases=p, keys=k) for name, (p, k) in BUILTIN_INTENTS.items()}
        merged.update(self.intents)
        return FrozenDict(merged)

    @cached_property
    def intent_order(self) -> Mapping[str, int]:
        """Declaration order, the last tie-breaker of intent precedence (declared before built-in)."""
        names = list(self.intents) + [n for n in BUILTIN_INTENTS if n not in self.intents]
        return FrozenDict({n: i for i, n in enumerate(names)})

    def node(self, node_id: str) -> AnyNode:
        return self.nodes[node_id]

    def ladder(self, node: GatherNode, kind: Literal["no_input", "no_match"]) -> tuple[Handler, ...]:
        own: tuple[Handler, ...] | None = getattr(node, kind)
        return own if own is not None else getattr(self.defaults, kind)

    def active_routes(self, node_id: str) -> Mapping[str, str]:
        """intent -> target heard at an input node: the globals it does not opt out of, then a confirm node's
        yes/no, then the node's own routes (each overriding the one before)."""
        return self._routes[node_id]

    @cached_property
    def _routes(self) -> Mapping[str, Mapping[str, str]]:
        table: dict[str, Mapping[str, str]] = {}
        for node_id, node in self.nodes.items():
            if isinstance(node, GatherNode):
                routes = {i: t for i, t in self.global_routes.items() if i not in node.opt_out}
                if isinstance(node, ConfirmNode):
                    routes.update(yes=node.yes, no=node.no)
                routes.update(node.routes)
                table[node_id] = FrozenDict(routes)
        return FrozenDict(table)
