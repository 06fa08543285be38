"""Cross-reference validation of a flow: what a schema alone cannot check.

Every target must be a node, every routed intent declared (or built in), every outcome listed, every
`{variable}` declared, every DTMF key claimed once. All problems are collected and raised together as one
`FlowError`, each with its key path so the loader can add the file and line.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from typing import Protocol

from ivr.errors import FlowError, Problem
from ivr.flow import nodes as f
from ivr.flow.nodes import (
    BUILTIN_VARIABLES,
    RESERVED_TARGETS,
    ActionNode,
    Defaults,
    GatherNode,
    Guarantee,
    Handler,
    Intent,
    Node,
    SetNode,
)

_FORMATTER = string.Formatter()
#: format specs a template may use: `{confirmation:digits}` reads "A12" as "A 1 2"
TEMPLATE_SPECS = ("", "digits")


def _choices(names: Iterable[str]) -> str:
    return repr(sorted(names))


def template_fields(text: str) -> list[tuple[str, str]]:
    """(variable, format spec) for each `{...}` in `text`; raises ValueError on malformed braces.
    A conversion (`{x!r}`) is kept in the name, so it is reported as a bad field."""
    return [(name + (f"!{conv}" if conv else ""), spec or "")
            for _, name, spec, conv in _FORMATTER.parse(text) if name is not None]


class Flow(Protocol):
    """What the cross-checks read of a flow (`ivr.flow.model.Flow`, which calls them while it validates)."""

    @property
    def start(self) -> str: ...
    @property
    def outcomes(self) -> tuple[str, ...]: ...
    @property
    def guarantee(self) -> Guarantee: ...
    @property
    def variables(self) -> Mapping[str, str]: ...
    @property
    def intents(self) -> Mapping[str, Intent]: ...
    @property
    def global_routes(self) -> Mapping[str, str]: ...
    @property
    def defaults(self) -> Defaults: ...
    @property
    def nodes(self) -> Mapping[str, Node]: ...
    @property
    def model_fields_set(self) -> set[str]: ...
    @property
    def all_intents(self) -> Mapping[str, Intent]: ...


class _Checker:
    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.problems: list[Problem] = []
        self.nodes = set(flow.nodes)
        self.variables = set(flow.variables) | set(BUILTIN_VARIABLES)

    def add(self, path: tuple[str, ...], message: str, code: str = "invalid-flow") -> None:
        self.problems.append(Problem(path, message, code))

    def target(self, path: tuple[str, ...], target: str, *, input_route: bool = False) -> None:
        if target in self.nodes or (input_route and target in RESERVED_TARGETS):
            return
        extra = f" (or {' / '.join(RESERVED_TARGETS)})" if input_route else ""
        self.add(path, f"target {target!r} is not a node{extra}; known nodes: {_choices(self.nodes)}",
                 "undefined-target")

    def intent(self, path: tuple[str, ...], name: str) -> None:
        if name not in self.flow.all_intents:
            self.add(path, f"intent {name!r} is not declared; known intents: {_choices(self.flow.all_intents)}",
                     "undefined-intent")

    def outcome(self, path: tuple[str, ...], outcome: str) -> None:
        if outcome not in self.flow.outcomes:
            self.add(path, f"outcome {outcome!r} is not one of the flow's outcomes {list(self.flow.outcomes)}",
                     "undefined-outcome")

    def variable(self, path: tuple[str, ...], name: str) -> None:
        if name not in self.variables:
            self.add(path, f"variable {name!r} is not declared; known variables: {_choices(self.variables)}",
                     "undefined-variable")

    def template(self, path: tuple[str, ...], text: str) -> None:
        try:
            fields = template_fields(text)
        except ValueError as exc:
            self.add(path, f"bad template {text!r}: {exc}; write {{{{ and }}}} for literal braces")
            return
        for name, spec in fields:
            if not name.isidentifier():
                self.add(path, f"bad template field {{{name}}} in {text!r}: expected {{variable}}")
            else:
                self.variable(path, name)
            if spec not in TEMPLATE_SPECS:
                self.add(path, f"unknown format {spec!r} in {text!r}; valid formats: {list(TEMPLATE_SPECS)}")

    def run(self) -> None:
        flow = self.flow
        self.target(("start",), flow.start)
        for value in flow.outcomes:
            if not value.replace("_", "").replace("-", "").isalnum():
                self.add(("outcomes",), f"outcome {value!r} must be a word (letters, digits, _ or -)")
        self.intent(("guarantee", "intent"), flow.guarantee.intent)
        if "guarantee" in flow.model_fields_set:
            self.outcome(("guarantee", "outcome"), flow.guarantee.outcome)
        elif flow.guarantee.outcome not in flow.outcomes:
            self.add(("outcomes",), f"the guarantee's outcome {flow.guarantee.outcome!r} (the default) is not one of "
                                    f"the flow's outcomes {list(flow.outcomes)}; add it, or set guarantee.outcome",
                     "undefined-outcome")
        for intent, target in flow.global_routes.items():
            self.intent(("globals", intent), intent)
            self.target(("globals", intent), target, input_route=True)
        for ladder in ("no_input", "no_match"):
            self._ladder(("defaults", ladder), getattr(flow.defaults, ladder))
        self._keys()
        for node_id, node in flow.nodes.items():
            self._node(node_id, node)

    def _keys(self) -> None:
        owner: dict[str, str] = {}
        for name, intent in self.flow.intents.items():
            for i, key in enumerate(intent.keys):
                if key in owner:
                    self.add(("intents", name, "keys", str(i)),
                             f"key {key!r} is already the key of intent {owner[key]!r}", "duplicate-key")
                owner.setdefault(key, name)

    def _node(self, node_id: str, node: Node) -> None:
        base = ("nodes", node_id)
        if not f.NODE_ID.match(node_id):
            self.add(base, f"node id {node_id!r} must start with a letter or _ and contain only letters, "
                           "digits, _ and -")
        for i, part in enumerate(node.prompt):
            if part.say is not None:
                self.template((*base, "prompt", str(i), "say"), part.say)
        for path, target in node.targets():
            self.target((*base, *path), target, input_route=path[0] in ("routes", "keys"))
        if isinstance(node, f.GatherNode):
            self._gather(base, node)
        if isinstance(node, f.CollectNode | f.BranchNode):
            self.variable((*base, "var"), node.var)
        if isinstance(node, f.SetNode | f.ActionNode):
            self._values(base, node)
        if isinstance(node, f.EndNode | f.TransferNode):
            self.outcome((*base, "outcome"), node.outcome)

    def _values(self, base: tuple[str, ...], node: SetNode | ActionNode) -> None:
        if isinstance(node, SetNode):
            for var, value in node.values.items():
                self.variable((*base, "set", var), var)
                self.template((*base, "set", var), value)
            return
        if node.result is not None:
            self.variable((*base, "result"), node.result)
        for arg, value in node.args.items():
            self.template((*base, "args", arg), value)

    def _gather(self, base: tuple[str, ...], node: GatherNode) -> None:
        for intent in node.routes:
            self.intent((*base, "routes", intent), intent)
        for intent in node.opt_out:
            if intent not in self.flow.global_routes:
                self.add((*base, "opt_out"), f"{intent!r} is not a global intent; global intents: "
                                             f"{_choices(self.flow.global_routes)}", "undefined-intent")
        for i, part in enumerate(node.help):
            if part.say is not None:
                self.template((*base, "help", str(i), "say"), part.say)
        for ladder in ("no_input", "no_match"):
            for i, rung in enumerate(getattr(node, ladder) or ()):
                if rung.say is not None:
                    self.template((*base, ladder, str(i), "say"), rung.say)

    def _ladder(self, base: tuple[str, ...], ladder: tuple[Handler, ...]) -> None:
        for i, rung in enumerate(ladder):
            if rung.say is not None:
                self.template((*base, str(i), "say"), rung.say)
            if rung.goto is not None:
                self.target((*base, str(i), "goto"), rung.goto)


def check_references(flow: Flow) -> None:
    """Raise `FlowError` listing every dangling reference in `flow`."""
    checker = _Checker(flow)
    checker.run()
    if checker.problems:
        raise FlowError(checker.problems)
