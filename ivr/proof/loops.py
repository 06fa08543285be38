"""Loops a call can go round without bound inside one request, or growing: the `zero-turn-loop`, `effect-loop`
and `template-growth` findings of `ivr check`.

The engine bounds each at run time (`engine.MAX_HOPS`, `MAX_EFFECTS`, `MAX_VALUE`, `MAX_VARIABLES`) by ending the
call in its error outcome with an apology; these findings say so before any caller hears it. The rules:

- **zero-turn-loop**: a cycle of `say`, `set` and `branch` nodes. It never waits for the caller and runs no
  effect: the engine follows `MAX_HOPS` nodes of it in one step, then apologises.
- **effect-loop**: a cycle of automatic nodes (`say`, `set`, `branch`, `action`) through at least one `action`,
  by its `next` or its `on_error` (a retry of a failing effect that never gives up is one). It never waits for
  the caller, so one request runs its effects again and again: the engine's `settle` stops after `MAX_EFFECTS`.
  A group of nodes can hold both kinds of cycle; each is reported.
- **template-growth**: take the `set` nodes that lie on a cycle of the flow (any cycle: one through a prompt
  counts, as a caller can go round it every turn) and draw, for those of one strongly connected part, an edge
  from each variable they set to each variable its template mentions. A variable whose edges lead back to it
  grows without bound when the way back copies more than the bare value somewhere: `a: "{a}{a}"`, `a: "{a}x"`,
  `a: "{b}!"` with `b: "{a}"`, or `{a:digits}` (which doubles it). A pure copy round the loop (`a: "{b}"`,
  `b: "{a}"`, or `a: "{a}"`) does not grow and is not reported.

Each finding names one cycle (the shortest through its first node, in node order) and that node's line.
"""

from __future__ import annotations

import string
from collections import deque
from collections.abc import Iterator
from typing import cast

from ivr.flow import engine
from ivr.flow import model as f
from ivr.proof.lint import Finding, successors

_FORMATTER = string.Formatter()
AUTOMATIC = (f.SayNode, f.SetNode, f.BranchNode)  # nodes that neither wait for the caller nor run an effect


def strongly_connected(edges: dict[str, list[str]]) -> list[list[str]]:
    """The parts of a graph in which every node leads to every other (Tarjan's algorithm, iteratively), each
    sorted; only those that hold a cycle (two nodes or more, or one with an edge to itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    parts: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            nxt = next(todo, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(edges.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                part: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    part.append(member)
                    if member == node:
                        break
                if len(part) > 1 or node in edges.get(node, ()):
                    parts.append(sorted(part))
    return parts


def shortest_cycle(start: str, edges: dict[str, list[str]], within: set[str]) -> list[str]:
    """The shortest way from `start` back to itself through nodes of `within`, both ends included."""
    parent: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in edges.get(node, ()):
            if nxt == start:
                way: list[str | None] = [node]
                while way[-1] != start:
                    way.append(parent[cast(str, way[-1])])
                return [*cast(list[str], way[::-1]), start]
            if nxt in within and nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    raise ValueError(f"{start!r} is on no cycle")  # callers pass a node of a strongly connected part


def automatic_loops(flow: f.Flow, lines: dict[str, int]) -> Iterator[Finding]:
    """zero-turn-loop and effect-loop findings (see the module docstring)."""
    auto = {n for n, node in flow.nodes.items() if isinstance(node, (*AUTOMATIC, f.ActionNode))}
    edges = {n: [t for _, t in flow.nodes[n].targets() if t in auto] for n in auto}
    parts = strongly_connected(edges)
    # a cycle without an action lies within a part of the whole graph: look for those there only
    plain_nodes = {n for part in parts for n in part if not isinstance(flow.nodes[n], f.ActionNode)}
    plain = {n: [t for t in edges[n] if t in plain_nodes] for n in plain_nodes}
    for part in strongly_connected(plain):
        cycle = shortest_cycle(part[0], plain, set(part))
        others = len(part) - (len(cycle) - 1)
        more = f" (and {others} more node(s) on loops with them)" if others else ""
        yield Finding("error", "zero-turn-loop",
                      f"{' -> '.join(cycle)}{more}: these nodes lead back to each other without waiting for the "
                      f"caller, so the call would loop forever (the engine gives up after {engine.MAX_HOPS} "
                      "nodes and apologises)", part[0], lines.get(part[0]))
    for part in parts:
        actions = [n for n in part if isinstance(flow.nodes[n], f.ActionNode)]
        if not actions:
            continue
        cycle = shortest_cycle(actions[0], edges, set(part))
        effects = sorted({n.effect for n in (flow.nodes[a] for a in actions) if isinstance(n, f.ActionNode)})
        yield Finding("error", "effect-loop",
                      f"{' -> '.join(cycle)}: this loop runs the effect(s) {effects} again and again without "
                      f"waiting for the caller, so the call never goes on (the engine stops after "
                      f"{engine.MAX_EFFECTS} effects and apologises); lead it to a prompt or an ending",
                      actions[0], lines.get(actions[0]))


def _mentions(template: str) -> tuple[list[str], bool]:
    """The variables a template mentions, and whether it is a bare copy of one (`"{a}"`, nothing else)."""
    parts = list(_FORMATTER.parse(template))
    names = [name for _, name, _, _ in parts if name is not None]
    bare = len(parts) == 1 and parts[0][0] == "" and parts[0][1] is not None and not parts[0][2] \
        and not parts[0][3]
    return names, bare


def template_growth(flow: f.Flow, lines: dict[str, int]) -> Iterator[Finding]:
    """template-growth findings (see the module docstring)."""
    everywhere: dict[str, list[str]] = {}  # first, over every set node: can any variable grow at all?
    for node in flow.nodes.values():
        if isinstance(node, f.SetNode):
            for var, template in node.values.items():
                everywhere.setdefault(var, []).extend(_mentions(template)[0])
    if not strongly_connected(everywhere):
        return
    graph = {n: successors(flow, n) for n in flow.nodes}
    for part in strongly_connected(graph):
        sets = [n for n in part if isinstance(flow.nodes[n], f.SetNode)]
        uses: dict[str, list[str]] = {}  # variable -> the variables its new values mention
        grows: dict[tuple[str, str], tuple[str, str]] = {}  # (variable, mentioned) -> (node, template) not a copy
        for node_id in sets:
            node = flow.nodes[node_id]
            assert isinstance(node, f.SetNode)
            for var, template in node.values.items():
                names, bare = _mentions(template)
                for name in names:
                    uses.setdefault(var, []).append(name)
                    if not bare:
                        grows.setdefault((var, name), (node_id, template))
        for variables in strongly_connected(uses):
            inside = set(variables)
            growing = sorted((v, u) for v, u in grows if v in inside and u in inside)
            if not growing:
                continue  # values only copied round the loop: nothing grows
            var, used = growing[0]
            node_id, template = grows[(var, used)]
            via = shortest_cycle(var, uses, inside)
            through = "" if len(via) == 2 else f" (its new value holds {' which holds '.join(via[1:])})"
            yield Finding("error", "template-growth",
                          f"{node_id}: set {var}: {template!r} makes {var!r} longer each time round the loop "
                          f"{' -> '.join(shortest_cycle(node_id, graph, set(part)))}{through}, without bound "
                          f"(the engine ends a call whose value passes {engine.MAX_VALUE} characters and "
                          "apologises); set it from values that do not contain it", node_id, lines.get(node_id))
