"""What the caller meant: speech text or keys -> an intent, a key, data, no match or no input. Pure.

Text is normalised the same way for phrases and utterances: lower case, punctuation and apostrophes dropped,
filler words ("um", "please") removed, number words turned into digits ("twenty one" -> "21", "oh" between
digits -> "0", "double five" -> "5 5"). A phrase matches when its words appear in the utterance in order and
next to each other, and not within three words after a negation ("please don't cancel my account", "I do not
want to cancel" match no cancel phrase; "cancel" alone still does).

**Precedence** when an utterance matches several intents at a node (defined, and checkable by `ivr check`):
1. the longest matching phrase (in words) wins;
2. on a tie, an intent the node routes itself (its `routes`, a confirm node's yes/no) beats a global one;
3. then the intent declared first in the flow (the flow's own intents before built-in ones).
At a collect node, an utterance (or key press) whose digits are valid data is data, before any intent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, cast

from ivr.flow.caller import Digits, Heard, Speech
from ivr.flow.model import CollectNode, ConfirmNode, Flow, GatherNode

#: a phrase found within NEGATION_REACH words after one of these is not matched ("don't cancel", "not billing")
NEGATIONS = frozenset("not dont never doesnt wont isnt arent cant without".split())
NEGATION_REACH = 3
FILLERS = frozenset("um umm uh uhh uhm er erm ah eh hmm mm mhm please".split())
_UNITS = "zero one two three four five six seven eight nine".split()
_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
DIGIT_WORDS: Mapping[str, str] = {w: str(i) for i, w in enumerate(_UNITS)} | {"o": "0", "oh": "0"}
TEEN_WORDS = {w: str(10 + i) for i, w in enumerate(_TEENS)}
TENS_WORDS = {w: str(20 + 10 * i) for i, w in enumerate(_TENS)}
_PUNCT = re.compile(r"[^\w\s#*]")


@dataclass(frozen=True, slots=True)
class Meaning:
    """How a node understood one input."""

    kind: Literal["intent", "key", "data", "no_match", "no_input"]
    value: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.value!r}" if self.value else self.kind


NO_MATCH, NO_INPUT = Meaning("no_match"), Meaning("no_input")


def _zeros(words: list[str]) -> set[int]:
    """Positions of "oh"s that mean zero: those in a run of digit words with at least one real digit
    ("nine oh two", "oh oh seven"); "oh" alone, or "oh oh", is just "oh"."""
    zeros: set[int] = set()
    run: list[int] = []
    for i, w in enumerate([*words, ""]):
        if w in DIGIT_WORDS or w in TEEN_WORDS or w in TENS_WORDS or is_digits(w):
            run.append(i)
            continue
        if any(words[j] not in ("o", "oh") for j in run):
            zeros.update(j for j in run if words[j] in ("o", "oh"))
        run = []
    return zeros


def _numbers(words: list[str]) -> list[str]:
    zeros = _zeros(words)
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in TENS_WORDS:
            nxt = words[i + 1] if i + 1 < len(words) else ""
            if nxt in DIGIT_WORDS and nxt not in ("zero", "o", "oh"):
                out.append(str(int(TENS_WORDS[w]) + int(DIGIT_WORDS[nxt])))
                i += 2
                continue
            out.append(TENS_WORDS[w])
        elif w in TEEN_WORDS:
            out.append(TEEN_WORDS[w])
        elif w in ("double", "triple") and i + 1 < len(words) and words[i + 1] in DIGIT_WORDS:
            out.extend([DIGIT_WORDS[words[i + 1]]] * (2 if w == "double" else 3))
            i += 2
            continue
        elif w in ("o", "oh"):
            out.append("0" if i in zeros else w)
        elif w in DIGIT_WORDS:
            out.append(DIGIT_WORDS[w])
        else:
            out.append(w)
        i += 1
    return out


@lru_cache(maxsize=16384)
def normalise(text: str) -> tuple[str, ...]:
    """Lower-case words with punctuation, fillers and number words normalised (see module docstring)."""
    text = text.lower().replace("'", "").replace("\u2019", "").replace("&", " and ")
    words = [w for w in _PUNCT.sub(" ", text).split() if w not in FILLERS]
    return tuple(_numbers(words))


def spoken_digits(tokens: tuple[str, ...]) -> str:
    """All digits said in an utterance, in order ("my zip is nine oh two one oh" -> "90210")."""
    return "".join(t for t in tokens if is_digits(t))


def is_digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts '²' and other characters int() and keypads reject."""
    return text.isascii() and text.isdigit()


class Matcher:
    """A flow's phrases, compiled once: every intent's longest matching phrase length for an utterance."""

    def __init__(self, flow: Flow) -> None:
        #: normalised phrase -> the intents that hold it; first word -> the lengths of the phrases it starts,
        #: shortest first: an utterance is matched by lookups, never phrase by phrase (see `lengths`)
        self.phrases: dict[tuple[str, ...], list[str]] = {}
        #: phrase text -> its words: the checker interprets every phrase at every kind of node, and normalising
        #: 150,000 phrases again each time (past `normalise`'s cache) was most of its time
        self.texts: dict[str, tuple[str, ...]] = {}
        sizes: dict[str, set[int]] = {}
        for name, intent in flow.all_intents.items():
            for phrase in intent.phrases:
                words = self.texts[phrase] = normalise(phrase)
                if words:
                    self.phrases.setdefault(words, []).append(name)
                    sizes.setdefault(words[0], set()).add(len(words))
        self.by_first: dict[str, tuple[int, ...]] = {w: tuple(sorted(s)) for w, s in sizes.items()}
        self._cache: dict[tuple[str, ...], Mapping[str, int]] = {}
        self.hearing: dict[str, int] = {}  # node -> index of what it hears in `hearings`
        self.hearings: list[tuple[tuple[str, bool, int], ...]] = []
        self._hearing_ids: dict[tuple[tuple[str, bool, int], ...], int] = {}
        self.best: dict[tuple[int, tuple[str, ...]], str | None] = {}
        self.shapes: dict[str, int] = {}  # node -> id of everything `interpret` reads of it
        self._shape_ids: dict[tuple[object, ...], int] = {}
        self.meanings: dict[tuple[int, Heard], Meaning] = {}
        #: answers derived from `interpret` for the checker, by name then node shape (one table per flow)
        self.derived: dict[str, dict[int, Any]] = {}

    def shape(self, flow: Flow, node_id: str) -> int:
        """An id for how a node hears: its intents (with locality and order), input modes, own keys (not their
        targets), confidence threshold and data rules. Nodes of one shape understand every input alike."""
        found = self.shapes.get(node_id)
        if found is None:
            node = flow.nodes[node_id]
            assert isinstance(node, GatherNode)
            hearing = self.hearing_id(flow, node_id)
            collect = (node.digits.min, node.digits.max, node.validate_, node.finish_on_key) \
                if isinstance(node, CollectNode) else None
            key = (hearing, node.input, tuple(node.keys), node.min_confidence, collect)
            found = self.shapes[node_id] = self._shape_ids.setdefault(key, len(self._shape_ids))
        return found

    def hearing_id(self, flow: Flow, node_id: str) -> int:
        """What a node hears, as (intent, local?, -order) — nodes that hear alike share one id (and answers)."""
        found = self.hearing.get(node_id)
        if found is None:
            node = flow.nodes[node_id]
            assert isinstance(node, GatherNode)
            hearing = tuple(sorted((name, is_local(flow, node, name), -flow.intent_order[name])
                                   for name in flow.active_routes(node_id)))
            found = self._hearing_ids.get(hearing)
            if found is None:
                found = self._hearing_ids[hearing] = len(self.hearings)
                self.hearings.append(hearing)
            self.hearing[node_id] = found
        return found

    def words(self, text: str) -> tuple[str, ...]:
        """`normalise(text)`, looked up for the flow's own phrases."""
        found = self.texts.get(text)
        return found if found is not None else normalise(text)

    def lengths(self, tokens: tuple[str, ...]) -> Mapping[str, int]:
        """intent -> length in words of its longest phrase found in `tokens`.

        At each word, the words that follow are looked up once per length of the phrases that start with it, so
        the time grows with the utterance and those few lengths, never with the number of phrases (20,000
        phrases starting with "cancel" once made every utterance cost 20,000 comparisons)."""
        found = self._cache.get(tokens)
        if found is None:
            best: dict[str, int] = {}
            end = len(tokens)
            for i, word in enumerate(tokens):
                sizes = self.by_first.get(word)
                if sizes is None or NEGATIONS.intersection(tokens[max(0, i - NEGATION_REACH):i]):
                    continue  # "please don't cancel", "I do not want to cancel": not a request
                for size in sizes:
                    if i + size > end:
                        break
                    for name in self.phrases.get(tokens[i:i + size], ()):
                        if size > best.get(name, 0):
                            best[name] = size
            if len(self._cache) > 4096:
                self._cache.clear()
            found = self._cache[tokens] = best
        return found


_MATCHERS: dict[int, tuple[Flow, Matcher]] = {}


def matcher(flow: Flow) -> Matcher:
    """The compiled matcher of `flow` (kept for the few most recent flows)."""
    hit = _MATCHERS.get(id(flow))
    if hit is None or hit[0] is not flow:
        if len(_MATCHERS) > 16:
            _MATCHERS.clear()
        hit = _MATCHERS[id(flow)] = (flow, Matcher(flow))
    return hit[1]


def best_intent(flow: Flow, node_id: str, tokens: tuple[str, ...]) -> str | None:
    """The intent `tokens` mean at `node_id`, by the precedence in the module docstring, or None."""
    m = matcher(flow)
    hearing = m.hearing_id(flow, node_id)
    key = (hearing, tokens)
    best = m.best.get(key, "")
    if best == "":
        lengths = m.lengths(tokens)
        found = [(lengths[name], local, order, name) for name, local, order in m.hearings[hearing] if name in lengths]
        best = max(found)[3] if found else None
        if len(m.best) > 65536:
            m.best.clear()
        m.best[key] = best
    return best


def is_local(flow: Flow, node: GatherNode, intent: str) -> bool:
    """Whether `node` routes `intent` itself rather than only hearing it as a global intent."""
    confirm = isinstance(node, ConfirmNode) and intent in ("yes", "no")
    return intent in node.routes or confirm or intent not in flow.global_routes


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def valid_data(node: CollectNode, digits: str) -> bool:
    """Whether `digits` (finish key already removed) is acceptable at a collect node."""
    ok_length = node.digits.min <= len(digits) <= node.digits.max and is_digits(digits)
    return ok_length and (node.validate_ != "luhn" or luhn_ok(digits))


def _keys(flow: Flow, node_id: str, node: GatherNode, keys: str) -> Meaning:
    """A key press: the node's own keys, then (at a collect node) data, then the keys of the intents it hears."""
    if keys in node.keys:
        return Meaning("key", keys)
    if isinstance(node, CollectNode):
        data = keys[:-1] if node.finish_on_key and keys.endswith(node.finish_on_key) else keys
        if valid_data(node, data):
            return Meaning("data", data)
        keys = data  # not data: maybe an intent's key ("0" for an agent), as at a menu
    for name in sorted(flow.active_routes(node_id), key=flow.intent_order.__getitem__):
        if keys in flow.all_intents[name].keys:
            return Meaning("intent", name)
    return NO_MATCH


def interpret(flow: Flow, node_id: str, heard: Heard) -> Meaning:
    """What `heard` means at input node `node_id`. Total: anything not understood is NO_MATCH.
    (Answers are remembered per node shape: `Matcher.shape` names everything this function reads.)"""
    m = matcher(flow)
    key = (m.shape(flow, node_id), heard)
    found = m.meanings.get(key)
    if found is None:
        if len(m.meanings) > 65536:
            m.meanings.clear()
        found = m.meanings[key] = _interpret(flow, node_id, heard)
    return found


def _interpret(flow: Flow, node_id: str, heard: Heard) -> Meaning:
    node = cast(GatherNode, flow.nodes[node_id])  # only input nodes hear answers
    if isinstance(heard, Speech):
        if not heard.text.strip():
            return NO_INPUT
        if node.input == "dtmf":
            return NO_MATCH
        threshold = node.min_confidence if node.min_confidence is not None else flow.defaults.min_confidence
        if heard.confidence is not None and heard.confidence < threshold:
            return NO_MATCH
        tokens = matcher(flow).words(heard.text)
        if isinstance(node, CollectNode):
            digits = spoken_digits(tokens)
            if digits and valid_data(node, digits):
                return Meaning("data", digits)
        intent = best_intent(flow, node_id, tokens)
        return Meaning("intent", intent) if intent is not None else NO_MATCH
    if isinstance(heard, Digits) and heard.keys:
        return _keys(flow, node_id, node, heard.keys) if node.dtmf else NO_MATCH
    return NO_INPUT  # silence, or a Gather that timed out with no keys
