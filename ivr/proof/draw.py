"""Draw a flow as Mermaid or Graphviz DOT, with the paths a persistent canceller takes highlighted.

Edges carry what takes them (an intent, a key, `next`, yes/no, a branch value, an escalation). Global routes are
drawn once, from a pseudo-node "any input node", instead of from every node. Edges that a caller asking to cancel
can travel — found with the same exploration the proof uses — are drawn thick and red, and so are the nodes
that end in the guarantee's outcome.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from ivr.flow import model as f
from ivr.flow.intents import is_local
from ivr.proof.canceller import canceller_inputs
from ivr.proof.explore import Explorer
from ivr.proof.lint import reachable

GLOBAL = "any_input_node"
SHAPES = {"menu": ("[/", "/]"), "collect": ("[(", ")]"), "confirm": ("{", "}"), "branch": ("{{", "}}"),
          "say": ("[", "]"), "set": ("[", "]"), "action": ("[[", "]]"), "transfer": ("([", "])"),
          "end": ("([", "])")}
DOT_SHAPES = {"menu": "parallelogram", "collect": "cylinder", "confirm": "diamond", "branch": "hexagon",
              "say": "box", "set": "box", "action": "box3d", "transfer": "oval", "end": "doubleoctagon"}


def _label(path: tuple[str, ...]) -> str:
    """How an edge is taken, from its key path inside the node: 'billing', 'key 1', 'no-match 3', ..."""
    kind = path[0]
    if kind == "keys":
        return f"key {path[1]}"
    if kind in ("no_input", "no_match"):
        return f"{kind.replace('_', '-')} {int(path[1]) + 1}"
    if kind == "cases":
        return f"cases {path[1]!r}"
    return path[-1]  # an intent under routes, or next / yes / no / default / on_error


def edges(flow: f.Flow) -> Iterator[tuple[str, str, str]]:
    """(from, to, label) for every edge of the flow; global routes once, from GLOBAL."""
    for node_id, node in flow.nodes.items():
        for path, target in node.targets():
            if target not in f.RESERVED_TARGETS:
                yield node_id, target, _label(path)
    for intent, target in flow.global_routes.items():
        if target not in f.RESERVED_TARGETS:
            yield GLOBAL, target, intent


Hot = set[tuple[str, str, str | None]]  # (from, to, label); label None: however the edge is taken


def cancel_edges(flow: f.Flow) -> Hot:
    """The edges a persistent canceller can travel, from any reachable input node: the answer's own edge (by its
    label, drawn from GLOBAL for a global route), then every edge of the automatic nodes after it."""
    explorer = Explorer(flow)
    found: Hot = set()
    for node_id, ni, nm in explorer.explore():
        node = explorer.gather(node_id)
        for meaning in canceller_inputs(flow, node_id):
            decision, moves = explorer.step(explorer.proof, (node_id, ni, nm), meaning)
            if decision.target is None:
                continue
            if meaning.kind == "intent" and not is_local(flow, node, meaning.value):
                found.add((GLOBAL, decision.target, meaning.value))
            elif meaning.kind == "intent":
                found.add((node_id, decision.target, meaning.value))
            elif meaning.kind == "key":
                found.add((node_id, decision.target, f"key {meaning.value}"))
            else:
                found.add((node_id, decision.target, None))  # data (next), or a ladder's escalation
            for move in moves:
                chain = explorer.proof.chain(decision.target, move.node)
                found.update((a, b, None) for a, b in zip(chain, chain[1:], strict=False))
    return found


def _hot(hot: Hot, src: str, dst: str, label: str) -> bool:
    return (src, dst, label) in hot or (src, dst, None) in hot


def _goal_nodes(flow: f.Flow) -> set[str]:
    return {n for n, node in flow.nodes.items()
            if isinstance(node, f.EndNode | f.TransferNode) and node.outcome == flow.guarantee.outcome}


def mermaid(flow: f.Flow) -> str:
    hot = cancel_edges(flow)
    lines = ["flowchart TD", f"  %% {flow.name}: red = the way a caller asking to {flow.guarantee.intent} goes"]
    if flow.global_routes:
        lines.append(f'  {GLOBAL}(("any input node"))')
    for node_id, node in flow.nodes.items():
        left, right = SHAPES[node.type]
        lines.append(f"  {node_id}{left}{json.dumps(f'{node_id} ({node.type})')}{right}")
    red: list[int] = []
    for i, (src, dst, label) in enumerate(edges(flow)):
        arrow = "==>" if _hot(hot, src, dst, label) else "-->"
        lines.append(f"  {src} {arrow}|{json.dumps(label)}| {dst}")
        if arrow == "==>":
            red.append(i)
    if red:
        lines.append(f"  linkStyle {','.join(map(str, red))} stroke:#d00,stroke-width:3px")
    for node_id in sorted(_goal_nodes(flow)):
        lines.append(f"  style {node_id} fill:#fdd,stroke:#d00,stroke-width:3px")
    unreachable = set(flow.nodes) - reachable(flow)
    for node_id in sorted(unreachable):
        lines.append(f"  style {node_id} stroke-dasharray: 5 5")
    return "\n".join(lines) + "\n"


def dot(flow: f.Flow) -> str:
    hot = cancel_edges(flow)
    goal = _goal_nodes(flow)
    lines = [f"digraph {json.dumps(flow.name)} {{", "  rankdir=TB;", '  node [fontname="Helvetica"];',
             f'  label={json.dumps(f"{flow.name}: red = the way a caller asking to {flow.guarantee.intent} goes")};']
    if flow.global_routes:
        lines.append(f'  {GLOBAL} [label="any input node", shape=circle, style=dashed];')
    for node_id, node in flow.nodes.items():
        style = ', color="#dd0000", penwidth=3, style=filled, fillcolor="#ffdddd"' if node_id in goal else ""
        label = json.dumps(f"{node_id}\n({node.type})")
        lines.append(f"  {json.dumps(node_id)} [label={label}, shape={DOT_SHAPES[node.type]}{style}];")
    for src, dst, label in edges(flow):
        style = ', color="#dd0000", penwidth=3' if _hot(hot, src, dst, label) else ""
        lines.append(f"  {json.dumps(src)} -> {json.dumps(dst)} [label={json.dumps(label)}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"

