"""Cross-reference validation of a flow: what a schema alone cannot check.

Every target must be a node, every routed intent declared (or built in), every outcome listed, every
`{variable}` declared, every DTMF key claimed once. All problems are collected and raised together as one
`FlowError`, each with its key path so the loader can add the file and line. `check_limits` checks what the
`Limits` bound once the flow is typed: names the call store keeps, phrases, ladders.
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
from ivr.flow.values import Limits, excerpt

_FORMATTER = string.Formatter()
#: format specs a template may use: `{confirmation:digits}` reads "A12" as "A 1 2"
TEMPLATE_SPECS = ("", "digits")


#: names listed as the valid choices in a message: a flow of 100,000 nodes lists the first ones, not all
MAX_CHOICES = 50


def _choices(names: Iterable[str], *, keep_order: bool = False) -> str:
    listed = list(names) if keep_order else sorted(names)
    if len(listed) <= MAX_CHOICES:
        return repr(listed)
    return f"{listed[:MAX_CHOICES]!r} and {len(listed) - MAX_CHOICES} more"


def template_fields(text: str) -> list[tuple[str, str]]:
    """(variable, format spec) for each `{...}` in `text`; raises ValueError on malformed braces.
    A conversion (`{x!r}`) is kept in the name, so it is reported as a bad field."""
    return [(name + (f"!{conv}" if conv else ""), spec or "")
            for _, name, spec, conv in _FORMATTER.parse(text) if name is not None]


class Flow(Protocol):
    """What the cross-checks read of a flow (`ivr.flow.model.Flow`, which calls them while it validates)."""

    @property
    def name(self) -> str: ...
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
        self.known: dict[str, str] = {}  # the choices listed in messages, each computed once

    def choices(self, what: str, names: Iterable[str], *, keep_order: bool = False) -> str:
        if what not in self.known:
            self.known[what] = _choices(names, keep_order=keep_order)
        return self.known[what]

    def add(self, path: tuple[str, ...], message: str, code: str = "invalid-flow") -> None:
        self.problems.append(Problem(path, message, code))

    def target(self, path: tuple[str, ...], target: str, *, input_route: bool = False) -> None:
        if target in self.nodes or (input_route and target in RESERVED_TARGETS):
            return
        extra = f" (or {' / '.join(RESERVED_TARGETS)})" if input_route else ""
        self.add(path, f"target {target!r} is not a node{extra}; known nodes: {self.choices('nodes', self.nodes)}",
                 "undefined-target")

    def intent(self, path: tuple[str, ...], name: str) -> None:
        if name not in self.flow.all_intents:
            self.add(path, f"intent {name!r} is not declared; known intents: "
                          f"{self.choices('intents', self.flow.all_intents)}",
                     "undefined-intent")

    def outcome(self, path: tuple[str, ...], outcome: str) -> None:
        if outcome not in self.flow.outcomes:
            self.add(path, f"outcome {outcome!r} is not one of the flow's outcomes "
                          f"{self.choices('outcomes', self.flow.outcomes, keep_order=True)}",
                     "undefined-outcome")

    def variable(self, path: tuple[str, ...], name: str) -> None:
        if name not in self.variables:
            self.add(path, f"variable {name!r} is not declared; known variables: "
                          f"{self.choices('variables', self.variables)}",
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
            outcomes = self.choices("outcomes", flow.outcomes, keep_order=True)
            self.add(("outcomes",), f"the guarantee's outcome {flow.guarantee.outcome!r} (the default) is not one of "
                                    f"the flow's outcomes {outcomes}; add it, or set guarantee.outcome",
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
                                             f"{self.choices('globals', self.flow.global_routes)}", "undefined-intent")
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


def check_limits(flow: Flow, limits: Limits) -> list[Problem]:
    """The problems of a typed flow with `limits`: names and outcomes longer than the call store keeps, too many
    or too long phrases, ladders too long. (Nesting, characters and text length are checked before, on the raw
    data: `ivr.flow.values.scan`.)"""
    check = _Limits(limits)
    check.name(("name",), "flow name", flow.name)
    for i, outcome in enumerate(flow.outcomes):
        check.name(("outcomes", str(i)), "outcome", outcome, "max_outcome_chars")
    for intent_name, intent in flow.intents.items():
        check.name(("intents", intent_name), "intent name", intent_name)
        if len(intent.phrases) > limits.max_intent_phrases:
            check.over(("intents", intent_name, "phrases"), "max_intent_phrases", f"{len(intent.phrases)} phrases",
                       " per intent")
        check.phrases(("intents", intent_name, "phrases"), intent.phrases)
    total = sum(len(intent.phrases) for intent in flow.intents.values())
    if total > limits.max_phrases:
        check.over(("intents",), "max_phrases", f"{total} phrases in all intents")
    for ladder in ("no_input", "no_match"):
        check.ladder(("defaults", ladder), getattr(flow.defaults, ladder))
    for node_id, node in flow.nodes.items():
        check.name(("nodes", node_id), "node id", node_id)
        if isinstance(node, ActionNode):
            check.name(("nodes", node_id, "effect"), "effect name", node.effect)
        if isinstance(node, GatherNode):
            check.phrases(("nodes", node_id, "hints"), node.hints)
            for ladder in ("no_input", "no_match"):
                check.ladder(("nodes", node_id, ladder), getattr(node, ladder) or ())
    return check.problems


class _Limits:
    """Collects the problems of one flow with its limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.problems: list[Problem] = []

    def over(self, path: tuple[str, ...], limit: str, what: str, unit: str = "") -> None:
        self.problems.append(Problem(path, self.limits.exceeded(limit, what, unit), "over-limit"))

    def name(self, path: tuple[str, ...], what: str, text: str, limit: str = "max_name_chars") -> None:
        """A name the call store keeps in a column of `limit` characters."""
        if len(text) > getattr(self.limits, limit):
            self.over(path, limit, f"{what} {excerpt(text)} is {len(text)} characters long",
                      " characters, the most the call store keeps")

    def phrases(self, path: tuple[str, ...], phrases: tuple[str, ...]) -> None:
        for i, phrase in enumerate(phrases):
            if len(phrase) > self.limits.max_phrase_chars:
                self.over((*path, str(i)), "max_phrase_chars",
                          f"phrase {excerpt(phrase)} is {len(phrase)} characters long", " characters")

    def ladder(self, path: tuple[str, ...], ladder: tuple[Handler, ...]) -> None:
        if len(ladder) > self.limits.max_ladder_rungs:
            self.over(path, "max_ladder_rungs", f"{len(ladder)} rungs")
