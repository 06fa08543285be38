"""What did the caller mean? A calibrated closed-set decision over the texts a recogniser weighed.

At a `<Gather>` the question is closed-set: which of the prompt's phrases did the caller say, or none of them.
Whisper (`ivr.speech.whisper`) scores every accepted phrase, what it hears freely (the garbage alternative), what it
hears biased toward the phrases, and the heard spans that sound like a phrase, each by its log-probability given
the audio (`Transcript.alternatives`). This module groups those texts by what they *mean* (a function the caller
gives: the flow's own `interpret` at that node, or, for a line whose flow is unknown, the phrase a text holds),
describes each meaning with a few features, and turns them into probabilities with a conditional logit:

    P(meaning m) = exp(w . f(m)) / sum over meanings m' of exp(w . f(m'))

The weights `w` and the uncertainty margin are fitted on a labelled corpus (`bench/accuracy.py --fit`) with
cross-validation folds grouped by phrasing, so what is reported about them was measured on utterances the fit
never saw; the shipped model (`decision.json` beside this module) is the same procedure on the whole corpus.
Nothing here reads a file's name or a label.

The features of a meaning (`FEATURES`):
- `score`: its best text's log-probability minus the best of all (0 for the most likely meaning);
- `phrase`: the same for the accepted phrases said on their own (the strict grammar's view);
- `free`, `hotwords`, `hotwords30`: whether the best free decoding, the best decoding biased toward the phrases,
  and the biased decoding of Whisper's 30 s window mean it (the recognisers' votes);
- `agree`: the share of the free decoding's n best that mean it (n-best agreement);
- `sounds`: how alike the best free decoding sounds to its most alike text (phonetic similarity, 0..1);
- `none`: 1 for the garbage meaning (a prior for "none of the phrases").

A text that repeats itself (Whisper's repetition hallucination: "yeah yeah yeah ..." for a short "yes") means
what it says once ("yeah"), but it is never taken as an answer with confidence.

**Uncertain**: the decision is *uncertain* when the chosen meaning's probability is less than the runner-up's by
less than the fitted `margin`, or when the chosen meaning's most likely text is a repetition. A replay reports an
uncertain turn's call as inconclusive when the runner-up would change its verdict.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ivr.errors import SttError
from ivr.speech.transcript import Alternative

#: the meaning of a text the prompt does not accept: the garbage alternative
NONE = ""
FEATURES = ("score", "phrase", "free", "hotwords", "hotwords30", "agree", "sounds", "none")
#: the lowest a relative score goes (nats): a meaning no text of which the decoder allows is simply unlikely
FLOOR = -40.0
#: a word said this many times in a row, or a phrase of two or more words repeated `REPEATS_PHRASE` times, is
#: Whisper repeating itself, not a caller ("no no no" may be a caller; "can you help me, can you help me, can you
#: help me" is Whisper)
REPEATS, REPEATS_PHRASE = 4, 3
MODEL = Path(__file__).with_name("decision.json")
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Choice:
    """One meaning and how likely it is (0..1), with its most likely text."""

    meaning: str
    probability: float
    text: str


@dataclass(frozen=True)
class Decision:
    """The meaning chosen, the runner-up (None when only one was possible) and whether the recogniser cannot
    tell (`why` says so in words)."""

    choice: Choice
    runner_up: Choice | None
    uncertain: bool
    why: str = ""

    @property
    def margin(self) -> float:
        return self.choice.probability - (self.runner_up.probability if self.runner_up else 0.0)


@dataclass(frozen=True)
class Model:
    """The fitted rule: one weight per feature, and the margin under which a decision is uncertain."""

    weights: tuple[float, ...]
    margin: float  # for the default risk, `risk`
    features: tuple[str, ...] = FEATURES
    fitted_on: str = ""  # what it was fitted on, in words
    risk: float = 0.01
    #: the margin for each risk fitted (wrong decisions among those decided, cross-validated): (risk, margin)
    margins: tuple[tuple[float, float], ...] = ()

    def margin_for(self, risk: float | None = None) -> float:
        """The margin that keeps at most `risk` of the decisions wrong: the fitted margin of the largest risk
        fitted that is at most `risk` (1.0, deciding nothing, under the smallest); None: the default."""
        if risk is None:
            return self.margin
        fitted = sorted((r, m) for r, m in (*self.margins, (self.risk, self.margin)) if r <= risk + 1e-12)
        return fitted[-1][1] if fitted else 1.0

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "weights": [round(w, 6) for w in self.weights],
                "risk": self.risk, "margin": round(self.margin, 6),
                "margins": {f"{r:g}": round(m, 6) for r, m in self.margins}, "fitted_on": self.fitted_on}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "decision model") -> Model:
        try:
            features = tuple(str(f) for f in data["features"])
            weights = tuple(float(w) for w in data["weights"])
            margin = float(data["margin"])
            risk = float(data.get("risk", 0.01))
            margins = tuple(sorted((float(r), float(m)) for r, m in dict(data.get("margins", {})).items()))
        except (KeyError, TypeError, ValueError) as exc:
            raise SttError(f"{where}: not a decision model ({exc!r}); expected features, weights and margin") \
                from None
        if features != FEATURES or len(weights) != len(FEATURES) or not all(map(math.isfinite, weights)) \
                or not all(0.0 <= m <= 1.0 for m in (margin, *(m for _, m in margins))):
            raise SttError(f"{where}: expected weights for the features {list(FEATURES)} and margins in 0..1; "
                           f"got features {list(features)}, {len(weights)} weight(s), margin {margin}")
        return cls(weights, margin, features, str(data.get("fitted_on", "")), risk, margins)


_LOADED: dict[Path, Model] = {}


def load_model(path: Path | None = None) -> Model:
    """The decision model at `path`, else at `IVR_DECISION_MODEL` (one fitted on your own labelled calls), else
    the one shipped with ivr (`bench/accuracy.py --fit` writes it); each file read once per process."""
    path = path or Path(os.environ.get("IVR_DECISION_MODEL") or MODEL)
    if path not in _LOADED:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SttError(f"{path}: cannot read the decision model ({exc})") from None
        _LOADED[path] = Model.from_json(data, str(path))
    return _LOADED[path]


def meanings(alternatives: Sequence[Alternative], meaning: Callable[[str], str]) -> dict[str, FloatArray]:
    """The features (`FEATURES`) of each meaning among `alternatives`, the garbage meaning always included. A text
    that repeats itself (`repeats`) means what it says once (`collapse`)."""
    return _features(_grouped(alternatives, meaning), alternatives) if alternatives else {}


def _grouped(alternatives: Sequence[Alternative], meaning: Callable[[str], str]) -> dict[str, list[Alternative]]:
    """`alternatives` by meaning, each as Whisper wrote it (a repetition meaning what it says once); the garbage
    meaning always there, if empty."""
    groups: dict[str, list[Alternative]] = {NONE: []}
    for alternative in alternatives:
        groups.setdefault(meaning(collapse(alternative.text)), []).append(alternative)
    return groups


def _features(groups: Mapping[str, list[Alternative]], alternatives: Sequence[Alternative]) -> dict[str, FloatArray]:
    best = max(a.score for a in alternatives)
    free = [a for a in alternatives if any(s.startswith("free:") for s in a.sources)]
    top = {tag: next((a for a in alternatives if f"{tag}:0" in a.sources), None)
           for tag in ("free", "hotwords", "hotwords30")}
    heard = sound_key(collapse(top["free"].text)) if top["free"] is not None else ""
    found: dict[str, FloatArray] = {}
    for name, members in groups.items():
        phrases = [a.score for a in members if "phrase" in a.sources]
        found[name] = np.array([
            _relative(max((a.score for a in members), default=-math.inf), best),
            _relative(max(phrases, default=-math.inf), best),
            *(float(top[tag] is not None and top[tag] in members) for tag in ("free", "hotwords", "hotwords30")),
            sum(a in members for a in free) / len(free) if free else 0.0,
            max((difflib.SequenceMatcher(None, heard, sound_key(collapse(a.text))).ratio() for a in members),
                default=0.0) if heard else 0.0,
            float(name == NONE)])
    return found


def probabilities(features: Mapping[str, FloatArray], weights: Sequence[float]) -> dict[str, float]:
    if not features:
        return {}
    names = list(features)
    utility = np.array([features[n] for n in names]) @ np.asarray(weights, np.float64)
    p = np.exp(utility - utility.max())
    return dict(zip(names, (float(x) for x in p / p.sum()), strict=True))


def decide(alternatives: Sequence[Alternative], meaning: Callable[[str], str], model: Model | None = None,
           risk: float | None = None) -> Decision:
    """The meaning the caller most likely gave among `alternatives` (see the module docstring), with the
    runner-up, and whether the recogniser cannot tell at the given `risk` of a wrong decision (default: the
    model's). `meaning` maps a text to what the line would take it for (`NONE`: nothing it accepts)."""
    model = model or load_model()
    margin = model.margin_for(risk)
    if not alternatives:
        raise SttError("nothing to decide: the recogniser weighed no text")
    groups = _grouped(alternatives, meaning)
    p = probabilities(_features(groups, alternatives), model.weights)
    ranked = sorted(p, key=lambda m: -p[m])
    best_text = {m: max(groups[m], key=lambda a: a.score, default=None) for m in ranked[:2]}

    def choice(m: str) -> Choice:
        found = best_text[m]
        return Choice(m, round(p[m], 4), collapse(found.text) if found is not None else "")

    chosen = choice(ranked[0])
    runner = choice(ranked[1]) if len(ranked) > 1 else None
    why = ""
    said = best_text[ranked[0]]
    if said is not None and repeats(said.text):
        why = f"Whisper repeats itself ({_short(said.text)!r}): a hallucination, not an answer"
    elif runner is not None and chosen.probability - runner.probability < margin:
        why = (f"{_label(chosen)} {chosen.probability:.2f} vs {_label(runner)} {runner.probability:.2f}: "
               f"a margin under {margin:.2f}")
    return Decision(chosen, runner, bool(why), why)


def by_phrase(phrases: Sequence[str]) -> Callable[[str], str]:
    """A meaning for a line whose flow is unknown: the longest accepted phrase a text holds, word for word (NONE
    when it holds none). Phrases of one intent are then separate meanings: the probabilities are per phrase."""
    wanted = sorted({tuple(words(p)) for p in phrases if p.strip() and not p.startswith("$")}, key=len,
                    reverse=True)

    def meaning(text: str) -> str:
        said = words(text)
        for phrase in wanted:
            if any(tuple(said[i:i + len(phrase)]) == phrase for i in range(len(said) - len(phrase) + 1)):
                return " ".join(phrase)
        return NONE

    return meaning


def collapse(text: str) -> str:
    """`text` with a repetition (`repeats`) said once: "yeah yeah yeah yeah" is "yeah"; any other text as it is."""
    if not repeats(text):
        return text
    said = list(words(text))
    for size in range(1, len(said) // REPEATS_PHRASE + 1):
        i = 0
        while i + 2 * size <= len(said):
            if said[i:i + size] == said[i + size:i + 2 * size]:
                del said[i + size:i + 2 * size]
            else:
                i += 1
    return " ".join(said)


def repeats(text: str) -> bool:
    """Whether `text` repeats a word `REPEATS` times or a phrase `REPEATS_PHRASE` times in a row (Whisper's
    runaway repetition)."""
    said = words(text)
    for size in range(1, len(said) // REPEATS_PHRASE + 1):
        times = REPEATS if size == 1 else REPEATS_PHRASE
        for i in range(len(said) - size * times + 1):
            chunk = said[i:i + size]
            if all(said[i + k * size:i + (k + 1) * size] == chunk for k in range(1, times)):
                return True
    return False


# -- fitting ------------------------------------------------------------------------------------------------------


def fit(examples: Sequence[Example], l2: float = 0.1, steps: int = 100) -> tuple[float, ...]:
    """Weights maximising the likelihood of the right meaning of each example (features by meaning, the right
    meaning), with an L2 penalty: Newton's method with step halving (the penalised log-likelihood of a
    conditional logit is concave, so this finds its one maximum)."""
    usable = [(np.array([f[m] for m in f]), list(f).index(truth)) for f, truth in examples if truth in f]
    if not usable:
        raise SttError("nothing to fit: no example's right meaning was among the texts weighed")

    def objective(w: FloatArray) -> float:
        total = -0.5 * l2 * float(w @ w)
        for x, right in usable:
            u = x @ w
            top = u.max()
            total += float(u[right] - top - np.log(np.exp(u - top).sum()))
        return total

    w = np.zeros(len(FEATURES))
    value = objective(w)
    for _ in range(steps):
        gradient, hessian = -l2 * w, -l2 * np.eye(len(w))
        for x, right in usable:
            u = x @ w
            p = np.exp(u - u.max())
            p /= p.sum()
            mean = p @ x
            gradient += x[right] - mean
            hessian -= (x * p[:, None]).T @ x - np.outer(mean, mean)
        step = -np.linalg.solve(hessian, gradient)
        size = 1.0
        while size > 1e-6:
            trial = w + size * step
            better = objective(trial)
            if better >= value:
                break
            size /= 2
        else:
            break
        done = better - value < 1e-9
        w, value = trial, better
        if done:
            break
    return tuple(float(v) for v in w)


def fit_margin(decided: Sequence[tuple[float, bool]], risk: float) -> float:
    """The smallest margin at which at most `risk` of the decisions left decided are wrong, from (margin, right)
    pairs (1.0, deciding nothing, when no margin gets there)."""
    ordered = sorted(decided, key=lambda d: -d[0])
    best, wrong = 1.0, 0
    for i, (margin, right) in enumerate(ordered):
        wrong += not right
        if wrong <= risk * (i + 1):
            nxt = ordered[i + 1][0] if i + 1 < len(ordered) else 0.0
            best = (margin + nxt) / 2 if nxt < margin else margin
    return float(min(1.0, max(0.0, best)))


Example = tuple[Mapping[str, FloatArray], str]  # features by meaning, and the right meaning


@dataclass(frozen=True)
class Judged:
    """An example decided by a rule fitted without it: the meaning chosen, the margin over the runner-up, and
    the margin the rule fitted without it would require."""

    chosen: str
    margin: float
    required: float
    right: bool

    @property
    def decided(self) -> bool:
        return self.margin >= self.required


def folds_of(groups: Sequence[str], folds: int) -> list[int]:
    """A fold for each example by its group (a phrasing: every rendering of one text falls in one fold), spread
    evenly and reproducibly without reading what the text says."""
    order = sorted(set(groups), key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    fold = {g: i % folds for i, g in enumerate(order)}
    return [fold[g] for g in groups]


def cross_validate(examples: Sequence[Example], groups: Sequence[str], *, folds: int = 5, risk: float = 0.01,
                   l2: float = 0.1, mask: Sequence[float] | None = None, nested: bool = True) -> list[Judged]:
    """Each example judged by the rule fitted on the other folds (weights, and the margin for `risk` from an inner
    cross-validation of those folds alone): what the rule does on utterances it never saw. `mask` zeroes features
    (1 keeps one, 0 drops it) to measure a rule with fewer. `nested=False`: no inner cross-validation (every
    required margin 0)."""
    keep = np.asarray(mask if mask is not None else np.ones(len(FEATURES)), np.float64)
    masked = [({m: v * keep for m, v in f.items()}, truth) for f, truth in examples]
    fold = folds_of(groups, folds)
    judged: list[Judged | None] = [None] * len(masked)
    for k in range(folds):
        train = [i for i in range(len(masked)) if fold[i] != k]
        weights = fit([masked[i] for i in train], l2)
        inner = cross_validate([masked[i] for i in train], [groups[i] for i in train], folds=folds - 1, risk=risk,
                               l2=l2, nested=False) if nested and folds > 2 else []
        required = fit_margin([(j.margin, j.right) for j in inner], risk) if inner else 0.0
        for i in (i for i in range(len(masked)) if fold[i] == k):
            features, truth = masked[i]
            chosen, margin = _top(probabilities(features, weights))
            judged[i] = Judged(chosen, margin, required, chosen == truth)
    return [j for j in judged if j is not None]


def _top(p: Mapping[str, float]) -> tuple[str, float]:
    ranked = sorted(p, key=lambda m: -p[m])
    return ranked[0], p[ranked[0]] - (p[ranked[1]] if len(ranked) > 1 else 0.0)


def _relative(score: float, best: float) -> float:
    return max(FLOOR, score - best) if math.isfinite(score) and math.isfinite(best) else FLOOR


_SOUNDS = [(r"ph", "f"), (r"ck", "k"), (r"c(?=[eiy])", "s"), (r"c", "k"), (r"q", "k"), (r"x", "ks"), (r"z", "s"),
           (r"dg", "j"), (r"gh", ""), (r"^wr", "r"), (r"^kn", "n"), (r"[aeiouy]+", "a"), (r"(.)\1+", r"\1")]
_WORD = re.compile(r"[a-z0-9']+")


def sound_key(text: str) -> str:
    """A crude English phonetic key: consonants by sound, each run of vowels as one 'a' ("council", "counsel",
    "can sell" and "cancel" are all "kansal")."""
    key = re.sub(r"[^a-z]", "", text.lower())
    for pattern, replacement in _SOUNDS:
        key = re.sub(pattern, replacement, key)
    return key


def words(text: str) -> tuple[str, ...]:
    """The words of `text`, lower case, without punctuation."""
    return tuple(_WORD.findall(text.lower().replace("\u2019", "'")))


def _label(choice: Choice) -> str:
    return repr(choice.meaning) if choice.meaning else "none of the phrases"


def _short(text: str, size: int = 40) -> str:
    return text if len(text) <= size else text[:size - 3] + "..."
