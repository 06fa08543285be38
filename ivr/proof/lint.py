"""Structural findings over a flow's node graph: what a designer should fix even when the proof holds.

The lints here are unreachable-node, dead-end, unbounded-reprompt, cancel-opt-out, missing-audio and
prompt-offers-unheard; loops.py adds zero-turn-loop, effect-loop and template-growth, and the proof
(canceller.py) cancel-not-guaranteed, cancel-shadowed, multiple-save-offers and cancel-loops-at-collect. `CODES`
holds every code with its severity and meaning.

prompt-offers-unheard reads what an input node says (its prompt, help and ladder messages) for instructions —
`say "X"`, `say X` (up to the end of the sentence; `say yes or no`, `say today, tomorrow or the weekend`), `press
N` / `dial N` (`press 1, 2 or 3`, `press pound`) — and asks the real `interpret` whether the node hears X (an
intent it routes, a confirmation's yes/no, the globals it keeps, data at a collect) or takes key N. What
describes rather than quotes (`say your account number`, `say the plan's name`) is not an instruction.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Literal

from ivr.flow import model as f
from ivr.flow.caller import Digits, Speech
from ivr.flow.intents import interpret

Severity = Literal["error", "warning"]

#: every finding code `ivr check` reports -> (severity, what it means); lint.py's and canceller.py's findings use
#: these codes with these severities (a test holds them to it), and the docs' findings reference is this table
CODES: dict[str, tuple[Severity, str]] = {
    "cancel-not-guaranteed": ("error", "the proof fails: some caller who keeps asking to cancel does not reach the "
                                       "guarantee's outcome within N turns (shown with a counterexample)"),
    "multiple-save-offers": ("error", "a cancelling caller hears more than one retention (`retention: true`) offer"),
    "dead-end": ("error", "a reachable node from which no ending (`end` or `transfer`) can be reached"),
    "zero-turn-loop": ("error", "`say`/`set`/`branch` nodes that lead back to each other without waiting for the "
                                "caller (the engine gives up after `MAX_HOPS` nodes)"),
    "effect-loop": ("error", "a loop of automatic nodes through an `action` (by `next` or `on_error`) that never "
                             "waits for the caller, so one request runs its effect again and again (the engine "
                             "stops after `MAX_EFFECTS` effects)"),
    "template-growth": ("error", "a `set` on a loop whose value holds the variable itself (directly or through "
                                 "other set variables) and more, so it grows each time round (the engine ends "
                                 "the call past `MAX_VALUE` characters)"),
    "missing-audio": ("error", "a `play` prompt names a file that is not in audio/"),
    "cancel-shadowed": ("warning", "at some node a cancel phrasing is heard as another intent"),
    "cancel-loops-at-collect": ("warning", "at a data-collection prompt, a caller who says \"cancel\" instead of the "
                                           "data is asked again without end (route cancel there to `@no_match`)"),
    "cancel-opt-out": ("warning", "an input node opts out of the global cancel intent"),
    "unbounded-reprompt": ("warning", "a no-input/no-match ladder whose last rung reprompts, so a caller can be "
                                      "asked forever"),
    "unreachable-node": ("warning", "no caller can reach the node"),
    "prompt-offers-unheard": ("warning", "a prompt (or help, or ladder message) tells the caller to say X or press "
                                         "N where the node does not hear X or take key N"),
}


@dataclass(frozen=True, order=True)
class Finding:
    severity: Severity
    code: str
    message: str
    node: str | None = None
    line: int | None = None


def successors(flow: f.Flow, node_id: str) -> list[str]:
    """Every node a node can lead to, for any caller (an input node hears its globals too)."""
    node = flow.nodes[node_id]
    out = [t for _, t in node.targets()]
    if isinstance(node, f.GatherNode):
        out += flow.active_routes(node_id).values()
    return [t for t in dict.fromkeys(out) if t not in f.RESERVED_TARGETS]


def _reach(starts: list[str], edges: dict[str, list[str]]) -> set[str]:
    seen, queue = set(starts), deque(starts)
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def reachable(flow: f.Flow) -> set[str]:
    """The nodes some caller can reach from the start."""
    return _reach([flow.start], {n: successors(flow, n) for n in flow.nodes})


def _ladders(flow: f.Flow, reachable: set[str], lines: dict[str, int]) -> Iterator[Finding]:
    by_default: dict[str, list[str]] = {"no_input": [], "no_match": []}
    for node_id in sorted(reachable):
        node = flow.nodes[node_id]
        if not isinstance(node, f.GatherNode):
            continue
        for kind in ("no_input", "no_match"):
            own = getattr(node, kind)
            ladder = own if own is not None else getattr(flow.defaults, kind)
            if ladder and ladder[-1].goto is not None:
                continue
            if own is None:
                by_default[kind].append(node_id)
            else:
                yield Finding("warning", "unbounded-reprompt",
                              f"{node_id}: the {kind.replace('_', '-')} ladder never escalates (its last rung "
                              "reprompts), so a caller can be asked forever; end it with a 'goto'",
                              node_id, lines.get(node_id))
    for kind, nodes in by_default.items():
        if nodes:
            yield Finding("warning", "unbounded-reprompt",
                          f"defaults.{kind}: the default {kind.replace('_', '-')} ladder never escalates, so a "
                          f"caller can be asked forever at {nodes}; end it with a 'goto'", None, None)


def lint(flow: f.Flow, lines: dict[str, int], audio_files: Collection[str] | None = None) -> Iterator[Finding]:
    """Every structural finding (see the module table)."""
    edges = {n: successors(flow, n) for n in flow.nodes}
    reached = _reach([flow.start], edges)
    for node_id in flow.nodes:
        if node_id not in reached:
            yield Finding("warning", "unreachable-node", f"{node_id}: no caller can reach this node", node_id,
                          lines.get(node_id))
    reverse: dict[str, list[str]] = {}
    for n, targets in edges.items():
        for t in targets:
            reverse.setdefault(t, []).append(n)
    endings = [n for n, node in flow.nodes.items() if isinstance(node, f.TERMINALS)]
    can_end = _reach(endings, reverse)
    for node_id in sorted(reached - can_end):
        yield Finding("error", "dead-end", f"{node_id}: no ending (end or transfer) can be reached from here, "
                                           "so the call can never finish", node_id, lines.get(node_id))
    yield from _ladders(flow, reached, lines)
    yield from _per_node(flow, lines, audio_files)
    yield from _unheard_offers(flow, lines)


def _per_node(flow: f.Flow, lines: dict[str, int], audio_files: Collection[str] | None) -> Iterator[Finding]:
    cancel = flow.guarantee.intent
    for node_id, node in flow.nodes.items():
        if isinstance(node, f.GatherNode) and cancel in node.opt_out:
            yield Finding("warning", "cancel-opt-out", f"{node_id}: opts out of the global {cancel!r} intent, so "
                                                       f"a caller cannot ask to {cancel} here", node_id,
                          lines.get(node_id))
        if audio_files is None:
            continue
        for part in node.prompt + (node.help if isinstance(node, f.GatherNode) else ()):
            if part.play is not None and part.play not in audio_files:
                yield Finding("error", "missing-audio", f"{node_id}: audio file {part.play!r} is not in audio/; "
                                                        f"found: {sorted(audio_files)[:10]}",
                              node_id, lines.get(node_id))


# -- what prompts tell the caller to do ---------------------------------------------------------------------

KEY_WORDS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
             "seven": "7", "eight": "8", "nine": "9", "star": "*", "asterisk": "*", "pound": "#", "hash": "#"}
_KEY_ITEM = re.compile(r"(?:the\s+)?([0-9]+|[*#]|" + "|".join(KEY_WORDS) + r")(?:\s+(?:key|button|sign))?\b(.*)")
_VERB = re.compile(r"\b(say|press|dial)\s+")
_SENTENCE_END = re.compile(r"[.;:!?]|$")
_LIST = re.compile(r"\s*(?:,\s*or\b|,|\bor\b)\s*")
QUOTES = "\"'\u201c\u201d\u2018\u2019"
_QUOTED = re.compile(f"[{QUOTES}]([^{QUOTES}]+)[{QUOTES}]")
#: an item starting with one of these is no instruction ("say or enter", "say it again", "press for billing") or
#: describes what to say ("say your account number")...
NOT_QUOTING = frozenset("your my a an any anything something what whatever which how when where it its that this "
                        "them those these or and so more again for to if then at in on".split())
#: ...and so does one holding one of these ("say the plan's name"); a list ends at another instruction's verb
DESCRIBING = frozenset("name names number numbers digits code date amount choice option options".split())
VERBS = frozenset("say press dial enter hold stay wait hang call visit go".split())
#: words before `say` that make it no instruction to the caller ("as I say", "did you say billing?", "to say")
NOT_ASKING = re.compile(r"\b(?:i|we|they|he|she|to|did you|do you|would you|could you)\s+$")


def offers(text: str) -> Iterator[tuple[str, str]]:
    """("say", words) and ("press", keys) for each instruction a prompt's `text` gives the caller (see the module
    docstring); a `{variable}` in an item makes it unknowable, so it is skipped."""
    text = re.sub(r"\{[^}]*\}", " {} ", text.lower())
    for verb in _VERB.finditer(text):
        if verb[1] == "say" and NOT_ASKING.search(text[:verb.start()]):
            continue
        rest = text[verb.end():]
        if verb[1] == "say" and rest[:1] in QUOTES:
            if quoted := _QUOTED.match(rest):
                yield "say", quoted[1].strip()
            continue
        sentence = rest[:_SENTENCE_END.search(rest).start()]  # type: ignore[union-attr]  # `$` always matches
        for item in _LIST.split(sentence.strip()):
            words = item.split()
            if not words or words[0] in VERBS or words[0] in NOT_QUOTING or "{}" in words:
                break
            if verb[1] == "say":
                if DESCRIBING.intersection(words) or any(w.endswith("'s") for w in words):
                    break
                yield "say", item.strip(QUOTES + " ")
                continue
            key = _KEY_ITEM.fullmatch(item)
            if key is None:
                break
            yield "press", KEY_WORDS.get(key[1], key[1])
            if key[2].strip():  # "press 1 for billing": the list is over
                break


def _takes(flow: f.Flow, node_id: str, node: f.GatherNode, verb: str, what: str) -> bool:
    """Whether the node understands `what` said (or pressed) as something it routes (not to `@no_match`)."""
    if verb == "press" and isinstance(node, f.CollectNode) and what == node.finish_on_key:
        return True
    meaning = interpret(flow, node_id, Speech(what, 1.0) if verb == "say" else Digits(what))
    if meaning.kind == "data":
        return True
    if meaning.kind == "key":
        return node.keys[meaning.value] != f.NO_MATCH
    return meaning.kind == "intent" and flow.active_routes(node_id)[meaning.value] != f.NO_MATCH


def _said(flow: f.Flow, node: f.GatherNode) -> Iterator[tuple[str, str]]:
    """(where, text) of everything an input node says: its prompt, help and ladder messages."""
    for where, parts in (("prompt", node.prompt), ("help", node.help)):
        yield from ((where, p.say) for p in parts if p.say is not None)
    for kind in ("no_input", "no_match"):
        for rung in flow.ladder(node, kind):
            if rung.say is not None:
                yield f"{kind.replace('_', '-')} message", rung.say


def _unheard_offers(flow: f.Flow, lines: dict[str, int]) -> Iterator[Finding]:
    for node_id, node in flow.nodes.items():
        if not isinstance(node, f.GatherNode):
            continue
        reported: set[tuple[str, str]] = set()
        for where, text in _said(flow, node):
            for verb, what in offers(text):
                if (verb, what) in reported or _takes(flow, node_id, node, verb, what):
                    continue
                reported.add((verb, what))
                told = f"{node_id}: the {where} tells the caller to {verb} {what!r}, but "
                if verb == "say" and not node.speech:
                    why = "this node listens only for keys (input: dtmf)"
                elif verb == "press" and not node.dtmf:
                    why = "this node listens only for speech (input: speech)"
                elif verb == "say":
                    why = ("no intent this node hears matches it: add it to the phrases of an intent routed here, "
                           "or change the " + where)
                else:
                    keys = [k for k in f.DTMF_KEYS if _takes(flow, node_id, node, "press", k)]
                    why = f"no route here takes that key; keys it takes: {keys}"
                yield Finding("warning", "prompt-offers-unheard", told + why, node_id, lines.get(node_id))
