"""Draw a flow as Mermaid or Graphviz DOT, with the paths a persistent canceller takes highlighted.

Edges are labelled as a designer reads them: `says billing or presses 1` (an intent: its name, and its keys
where the node takes them), `presses 9` (a node's own key), `says yes or presses 1` (a confirmation's answers),
`account is empty` / `tier = gold` / `otherwise` (a branch), `gives account` (a collect's data), `succeeds` /
`fails` (an action), `no answer (2nd time)` / `not understood` (a ladder's escalation); `next` is unlabelled.
Global routes are drawn once, from a pseudo-node "any input node", instead of from every node. Edges that a caller
asking to cancel can travel — found with the same exploration the proof uses — are drawn thick and red, and so are
the nodes that end in the guarantee's outcome.
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


#: how an edge is taken, for matching the canceller's moves to edges: ("intent", name), ("key", keys), or None
Way = tuple[str, str] | None
LADDERS = {"no_input": "no answer", "no_match": "not understood"}


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def says(flow: f.Flow, intent: str, node: f.GatherNode | None = None) -> str:
    """'says billing or presses 1': an intent's name where the node hears speech, and its keys where the node
    takes them (its own `keys` come first); from `node` None (a global route), both."""
    spec = flow.all_intents[intent]
    said = f"says {intent}" if spec.phrases and (node is None or node.speech) else ""
    keys = [k for k in spec.keys if node is None or node.dtmf and k not in node.keys]
    pressed = f"presses {' or '.join(keys)}" if keys else ""
    return " or ".join(p for p in (said, pressed) if p) or f"says {intent}"


def _label(flow: f.Flow, node: f.AnyNode, path: tuple[str, ...]) -> tuple[str, Way]:
    """How an edge is taken, from its key path inside the node, in a designer's words (see the module docstring)."""
    kind = path[0]
    gather = node if isinstance(node, f.GatherNode) else None
    if kind == "keys":
        return f"presses {path[1]}", ("key", path[1])
    if kind == "routes" or kind in ("yes", "no") and isinstance(node, f.ConfirmNode):
        intent = path[-1]
        return says(flow, intent, gather), ("intent", intent)
    if kind in LADDERS:
        assert gather is not None
        rungs = flow.ladder(gather, kind)  # type: ignore[arg-type]
        count = int(path[1]) + 1
        return LADDERS[kind] + (f" ({_ordinal(count)} time)" if len(rungs) > 1 else ""), None
    if isinstance(node, f.BranchNode):
        if kind == "default":
            return "otherwise", None
        return (f"{node.var} is empty" if path[1] == "" else f"{node.var} = {path[1]}"), None
    if isinstance(node, f.CollectNode):
        return f"gives {node.var}", None
    if isinstance(node, f.ActionNode):
        return ("fails" if kind == "on_error" else "succeeds"), None
    return "", None  # next: the only way on


def edges(flow: f.Flow) -> Iterator[tuple[str, str, str, Way]]:
    """(from, to, label, way) for every edge of the flow; global routes once, from GLOBAL."""
    for node_id, node in flow.nodes.items():
        for path, target in node.targets():
            if target not in f.RESERVED_TARGETS:
                yield node_id, target, *_label(flow, node, path)
    for intent, target in flow.global_routes.items():
        if target not in f.RESERVED_TARGETS:
            yield GLOBAL, target, says(flow, intent), ("intent", intent)


Hot = set[tuple[str, str, Way]]  # (from, to, way); way None: however the edge is taken


def cancel_edges(flow: f.Flow) -> Hot:
    """The edges a persistent canceller can travel, from any reachable input node: the answer's own edge (by the
    way it is taken, drawn from GLOBAL for a global route), then every edge of the automatic nodes after it."""
    explorer = Explorer(flow)
    found: Hot = set()
    for node_id, ni, nm in explorer.explore():
        node = explorer.gather(node_id)
        for meaning in canceller_inputs(flow, node_id):
            decision, moves = explorer.step(explorer.proof, (node_id, ni, nm), meaning)
            if decision.target is None:
                continue
            if meaning.kind == "intent" and not is_local(flow, node, meaning.value):
                found.add((GLOBAL, decision.target, ("intent", meaning.value)))
            elif meaning.kind in ("intent", "key"):
                found.add((node_id, decision.target, (meaning.kind, meaning.value)))
            else:
                found.add((node_id, decision.target, None))  # data (next), or a ladder's escalation
            for move in moves:
                chain = explorer.proof.chain(decision.target, move.node)
                found.update((a, b, None) for a, b in zip(chain, chain[1:], strict=False))
    return found


def _hot(hot: Hot, src: str, dst: str, way: Way) -> bool:
    return (src, dst, way) in hot or (src, dst, None) in hot


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
    for i, (src, dst, label, way) in enumerate(edges(flow)):
        arrow = "==>" if _hot(hot, src, dst, way) else "-->"
        lines.append(f"  {src} {arrow}{f'|{json.dumps(label)}|' if label else ''} {dst}")
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
    for src, dst, label, way in edges(flow):
        style = ', color="#dd0000", penwidth=3' if _hot(hot, src, dst, way) else ""
        attributes = (f"label={json.dumps(label)}" if label else "") + (style if label else style.lstrip(", "))
        lines.append(f"  {json.dumps(src)} -> {json.dumps(dst)}" + (f" [{attributes}]" if attributes else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"

