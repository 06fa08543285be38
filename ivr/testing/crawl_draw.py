"""The crawler's state graph drawn as Mermaid or Graphviz DOT text (`ivr crawl --graph mermaid|dot`).

One box per state (its name, its turns to cancellation, and the start of its prompt), one arrow per pair of
states a try led between, labelled with the first few tries; an arrow on which cancellation was met is drawn
bold and marked "cancelled". Endings are rounded; states from which the canceller can be kept from
cancellation, or that take more than N turns, are marked FAIL. Labels are escaped for each language, so any
prompt text (quotes, brackets, Korean) draws.
"""

from __future__ import annotations

from ivr.testing.crawl_graph import Graph, State
from ivr.testing.crawl_inputs import Try
from ivr.testing.crawl_worst import UNBOUNDED, Analysis

PROMPT_CHARS = 48
LABEL_TRIES = 3


def _short(text: str, limit: int = PROMPT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _turns(state: State, analysis: Analysis | None) -> str:
    if analysis is None or state.ended:
        return ""
    value = analysis.values.get(state.id, UNBOUNDED)
    if state.plan is None:
        return " (not explored)"
    return " (unbounded)" if value == UNBOUNDED else f" ({int(value)} turn{'' if value == 1 else 's'})"


def _label(state: State, analysis: Analysis | None) -> str:
    seen = state.seen
    if state.ended:
        what = ", ".join(p for p in (seen.status, seen.detail, *seen.errors) if p)
        return f"{state.name} end: {what}" + (f"\n{_short(seen.prompt)}" if seen.prompt else "")
    return f"{state.name}{_turns(state, analysis)}\n{_short(seen.prompt) or '(no prompt)'}"


def _failing(state: State, analysis: Analysis | None, within: int) -> bool:
    return analysis is not None and not state.ended and analysis.values.get(state.id, UNBOUNDED) > within \
        and state.plan is not None


def arrows(graph: Graph) -> dict[tuple[int, int, bool], list[Try]]:
    """(from, to, cancelled) -> the tries observed leading so, in the order first seen."""
    found: dict[tuple[int, int, bool], list[Try]] = {}
    for (at, done), outcomes in graph.edges.items():
        for o in outcomes:
            found.setdefault((at, o.to, o.cancelled), []).append(done)
    return found


def _arrow_label(tries: list[Try], cancelled: bool) -> str:
    shown = ", ".join(_short(str(t), 24) for t in tries[:LABEL_TRIES])
    more = f" +{len(tries) - LABEL_TRIES}" if len(tries) > LABEL_TRIES else ""
    return ("cancelled: " if cancelled else "") + shown + more


def mermaid(graph: Graph, analysis: Analysis | None = None, within: int = 0) -> str:
    def text(s: str) -> str:  # Mermaid's entity codes inside a quoted label
        return (s.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
                .replace("\n", "<br/>"))

    lines = ["flowchart TD"]
    for state in graph.states:
        label = text(_label(state, analysis))
        lines.append(f'    {state.name}(["{label}"])' if state.ended else f'    {state.name}["{label}"]')
    for (at, to, cancelled), tries in arrows(graph).items():
        arrow = "==>" if cancelled else "-->"
        lines.append(f'    S{at} {arrow}|"{text(_arrow_label(tries, cancelled))}"| S{to}')
    lines.append("    classDef fail stroke:#c00,stroke-width:3px")
    failing = [s.name for s in graph.states if _failing(s, analysis, within)]
    if failing:
        lines.append(f"    class {','.join(failing)} fail")
    return "\n".join(lines) + "\n"


def dot(graph: Graph, analysis: Analysis | None = None, within: int = 0) -> str:
    def text(s: str) -> str:
        return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    lines = ["digraph crawl {", "    rankdir=TB;", '    node [shape=box, fontname="Helvetica"];']
    for state in graph.states:
        style = ["shape=box, style=rounded"] if state.ended else []
        if _failing(state, analysis, within):
            style.append("color=red, penwidth=3")
        extra = (", " + ", ".join(style)) if style else ""
        lines.append(f'    {state.name} [label="{text(_label(state, analysis))}"{extra}];')
    for (at, to, cancelled), tries in arrows(graph).items():
        bold = ", style=bold, color=darkgreen" if cancelled else ""
        lines.append(f'    S{at} -> S{to} [label="{text(_arrow_label(tries, cancelled))}"{bold}];')
    lines.append("}")
    return "\n".join(lines) + "\n"
