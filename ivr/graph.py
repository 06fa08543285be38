"""Draw a flow as Mermaid or Graphviz DOT, with the paths a persistent canceller takes highlighted.

Edges carry what takes them (an intent, a key, `next`, yes/no, a branch value, an escalation). Global routes are
drawn once, from a pseudo-node "any input node", instead of from every node. Edges that a caller asking to cancel
can travel — found with the same exploration the proof uses — are drawn thick and red, and so are the nodes
that end in the guarantee's outcome.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from ivr import flow as f
from ivr.explore import Explorer
from ivr.lint import reachable
from ivr.proof import canceller_inputs

GLOBAL = "any_input_node"
SHAPES = {"menu": ("[/", "/]"), "collect": ("[(", ")]"), "confirm": ("{", "}"), "branch": ("{{", "}}"),
          "say": ("[", "]"), "set": ("[", "]"), "action": ("[[", "]]"), "transfer": ("([", "])"),
          "end": ("([", "])")}
DOT_SHAPES = {"menu": "parallelogram", "collect": "cylinder", "confirm": "diamond", "branch": "hexagon",
              "say": "box", "set": "box", "action": "box3d", "transfer": "oval", "end": "doubleoctagon"}


def edges(flow: f.Flow) -> Iterator[tuple[str, str, str]]:
    """(from, to, label) for every edge of the flow; global routes once, from GLOBAL."""
    for node_id, node in flow.nodes.items():
        for path, target in node.targets():
            if target in f.RESERVED_TARGETS:
                continue
            label = path[-1] if path[0] in ("routes", "next", "yes", "no", "default", "on_error") else \
                f"key {path[1]}" if path[0] == "keys" else f"{path[0].replace('_', '-')} {int(path[1]) + 1}" \
                if path[0] in ("no_input", "no_match") else f"{path[0]} {path[1]!r}"
            yield node_id, target, label
    for intent, target in flow.global_routes.items():
        if target not in f.RESERVED_TARGETS:
            yield GLOBAL, target, intent


def cancel_edges(flow: f.Flow) -> set[tuple[str, str]]:
    """Node-to-node edges a persistent canceller can travel, from any reachable input node."""
    explorer = Explorer(flow)
    found: set[tuple[str, str]] = set()
    for node_id, ni, nm in explorer.explore():
        for meaning in canceller_inputs(flow, node_id):
            decision, moves = explorer.step(explorer.proof, (node_id, ni, nm), meaning)
            if decision.target is None:
                continue
            for move in moves:
                chain = explorer.proof.chain(decision.target, move.node)
                found.update(zip([node_id, *chain], chain, strict=False))
    # a global route taken by the canceller is drawn from GLOBAL
    for node_id, target in list(found):
        if target in flow.global_routes.values() and target not in successors_local(flow, node_id):
            found.add((GLOBAL, target))
    return found


def successors_local(flow: f.Flow, node_id: str) -> set[str]:
    return {t for _, t in flow.nodes[node_id].targets()}


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
        arrow = "==>" if (src, dst) in hot else "-->"
        lines.append(f"  {src} {arrow}|{json.dumps(label)}| {dst}")
        if (src, dst) in hot:
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
        style = ', color="#dd0000", penwidth=3' if (src, dst) in hot else ""
        lines.append(f"  {json.dumps(src)} -> {json.dumps(dst)} [label={json.dumps(label)}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"

