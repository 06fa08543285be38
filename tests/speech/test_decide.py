"""The calibrated closed-set decision (ivr.speech.decide), on hand-made alternatives: no recogniser runs here (the
texts and scores stand in for Whisper's; bench/accuracy.py measures the rule on real audio)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from ivr.errors import SttError
from ivr.speech import decide as d
from ivr.speech.transcript import Alternative, Transcript

PHRASES = ["cancel", "cancel my service", "billing", "agent"]
MEANING = d.by_phrase(PHRASES)


def alt(text: str, score: float, *sources: str) -> Alternative:
    return Alternative(text, score, sources)


def test_a_text_means_the_longest_phrase_it_holds_word_for_word() -> None:
    assert MEANING("I want to cancel my service please") == "cancel my service"
    assert MEANING("Cancel.") == "cancel"
    assert MEANING("council tax") == d.NONE
    assert MEANING("cancellation") == d.NONE  # a word, not a phrase's prefix
    assert d.by_phrase(["$OOV_CLASS_DIGIT_SEQUENCE", "yes"])("yes please") == "yes"


@pytest.mark.parametrize(("text", "repeated"), [
    ("yeah yeah yeah yeah yeah", True),
    ("cancel my service cancel my service cancel my service cancel my service", True),
    ("no no no", False),
    ("Can you help me your hour? Can you help me your hour? Can you help me your hour?", True),
    ("cancel my service, cancel my service", False),
    ("I want to cancel, cancel my service", False),
    ("", False),
])
def test_whisper_repeating_itself_is_recognised(text: str, repeated: bool) -> None:
    assert d.repeats(text) is repeated


def test_each_meaning_is_described_by_its_best_text_and_the_votes_for_it() -> None:
    alternatives = [alt("Council tax.", -2.0, "free:0", "hotwords30:0"), alt("cancel tax", -3.5, "alike"),
                    alt("cancel", -6.0, "phrase", "hotwords:0"), alt("billing", -20.0, "phrase"),
                    alt("Counsel tax.", -4.0, "free:1")]
    found = d.meanings(alternatives, MEANING)
    assert set(found) == {d.NONE, "cancel", "billing"}
    features = dict(zip(d.FEATURES, found["cancel"], strict=True))
    assert features["score"] == pytest.approx(-1.5)  # "cancel tax", against the best of all
    assert features["phrase"] == pytest.approx(-4.0)  # "cancel" on its own
    assert (features["free"], features["hotwords"], features["hotwords30"], features["none"]) == (0, 1, 0, 0)
    garbage = dict(zip(d.FEATURES, found[d.NONE], strict=True))
    assert (garbage["score"], garbage["free"], garbage["agree"], garbage["none"]) == (0.0, 1.0, 1.0, 1.0)
    assert garbage["phrase"] == d.FLOOR  # no phrase on its own means nothing
    assert features["sounds"] == 1.0  # "council tax" and "cancel tax" share one phonetic key
    assert dict(zip(d.FEATURES, found["billing"], strict=True))["sounds"] < 0.5


MODEL = d.Model(tuple(1.0 if f == "score" else 0.0 for f in d.FEATURES), margin=0.3)


def test_the_most_likely_meaning_is_chosen_with_its_best_text_and_the_runner_up() -> None:
    decision = d.decide([alt("cancel my service please", -1.0, "free:0"), alt("cancel", -4.0, "phrase"),
                         alt("billing", -9.0, "phrase")], MEANING, MODEL)
    assert decision.choice.meaning == "cancel my service"
    assert decision.choice.text == "cancel my service please"
    assert decision.runner_up is not None
    assert decision.runner_up.meaning == "cancel"
    assert decision.choice.probability == pytest.approx(1 / (1 + math.exp(-3) + math.exp(-8) + math.exp(-39)),
                                                        abs=1e-4)
    assert not decision.uncertain
    assert decision.margin > 0.3


def test_a_margin_under_the_fitted_one_is_uncertain_and_says_between_what() -> None:
    decision = d.decide([alt("cancel", -1.0, "free:0"), alt("council", -1.2, "free:1")], MEANING, MODEL)
    assert decision.uncertain
    assert decision.why.startswith("'cancel' 0.5")
    assert "vs none of the phrases 0.4" in decision.why
    assert "margin under 0.30" in decision.why


def test_a_text_repeating_itself_means_what_it_says_once_but_is_never_a_sure_answer() -> None:
    assert d.collapse("Yeah, yeah, yeah, yeah, yeah.") == "yeah"
    assert d.collapse("can you help me can you help me can you help me") == "can you help me"
    assert d.collapse("Cancel my service, please.") == "Cancel my service, please."
    decision = d.decide([alt("billing billing billing billing billing", -0.1, "free:0"),
                         alt("council", -9.0, "free:1")], MEANING, MODEL)
    assert decision.choice.meaning == "billing"
    assert decision.choice.text == "billing"
    assert decision.uncertain
    assert decision.why.startswith("Whisper repeats itself ('billing billing billing")
    plain = d.decide([alt("billing billing billing billing billing", -5.0, "free:0"), alt("billing", -0.5, "phrase")],
                     MEANING, MODEL)
    assert plain.choice.text == "billing"
    assert not plain.uncertain


def test_a_margin_for_each_risk() -> None:
    model = d.Model(MODEL.weights, 0.9, risk=0.01, margins=((0.01, 0.9), (0.05, 0.6), (0.2, 0.1)))
    assert model.margin_for() == 0.9
    assert [model.margin_for(r) for r in (0.001, 0.01, 0.03, 0.05, 0.1, 0.5)] == [1.0, 0.9, 0.9, 0.6, 0.6, 0.1]
    again = d.Model.from_json(json.loads(json.dumps(model.to_json())))
    assert again == model
    unsure = [alt("cancel", -1.0, "free:0"), alt("council", -2.0, "free:1")]  # 0.73 vs 0.27
    assert d.decide(unsure, MEANING, model).uncertain
    assert not d.decide(unsure, MEANING, model, risk=0.2).uncertain


def test_nothing_weighed_is_an_error_not_a_guess() -> None:
    with pytest.raises(SttError, match="nothing to decide"):
        d.decide([], MEANING, MODEL)


def _examples(n: int, seed: int) -> tuple[list[d.Example], list[str]]:
    """Utterances whose right meaning is usually the best-scored one, sometimes the free decoding's instead."""
    rng = np.random.default_rng(seed)
    examples, groups = [], []
    for i in range(n):
        truth = ["cancel", "billing", d.NONE][i % 3]
        features = {}
        for m in ("cancel", "billing", d.NONE):
            score = 0.0 if m == truth else -abs(rng.normal(2.0, 1.5))
            vote = float(m == truth) if rng.random() < 0.9 else float(rng.random() < 0.3)
            features[m] = np.array([score, score, vote, vote, 0.0, vote, 0.5, float(m == d.NONE)])
        examples.append((features, truth))
        groups.append(f"phrasing {i // 2}")
    return examples, groups


def test_the_fit_learns_which_features_tell_and_decides_new_examples_well() -> None:
    examples, groups = _examples(240, seed=1)
    weights = dict(zip(d.FEATURES, d.fit(examples), strict=True))
    assert weights["score"] > 0
    assert weights["free"] + weights["hotwords"] + weights["agree"] > 0
    judged = d.cross_validate(examples, groups, folds=4)
    assert sum(j.right for j in judged) / len(judged) > 0.9
    decided = [j for j in judged if j.decided]
    assert sum(not j.right for j in decided) <= 0.03 * len(decided)  # the margin buys the risk asked for
    assert all(0.0 <= j.required <= 1.0 for j in judged)


def test_folds_keep_every_rendering_of_a_phrasing_together() -> None:
    groups = [f"phrase {i % 7}" for i in range(40)]
    fold = d.folds_of(groups, 5)
    assert fold == d.folds_of(groups, 5)  # reproducible
    for g in set(groups):
        assert len({f for f, h in zip(fold, groups, strict=True) if h == g}) == 1
    assert set(fold) == set(range(5))


@pytest.mark.parametrize(("pairs", "risk", "expected"), [
    ([(0.9, True), (0.8, True), (0.5, False), (0.2, True)], 0.0, 0.65),  # decide the two sure ones
    ([(0.9, True), (0.8, True), (0.2, True)], 0.0, 0.1),  # never wrong: below all seen, halfway to 0
    ([(0.9, False)], 0.0, 1.0),  # nothing can be decided
])
def test_the_margin_is_the_smallest_that_keeps_the_decided_within_the_risk(
        pairs: list[tuple[float, bool]], risk: float, expected: float) -> None:
    assert d.fit_margin(pairs, risk) == pytest.approx(expected)


def test_the_shipped_model_loads_and_says_what_it_was_fitted_on() -> None:
    model = d.load_model()
    assert model.features == d.FEATURES
    assert 0.0 <= model.margin <= 1.0
    assert "cross-validated" in model.fitted_on


@pytest.mark.parametrize(("data", "message"), [
    ({"features": ["score"], "weights": [1.0], "margin": 0.1}, "expected weights for the features"),
    ({"features": list(d.FEATURES), "weights": [1.0] * len(d.FEATURES), "margin": 3}, "margins in 0..1"),
    ({"features": list(d.FEATURES), "weights": [1.0] * len(d.FEATURES), "margin": 0.5, "margins": {"0.1": 2}},
     "margins in 0..1"),
    ({"weights": []}, "not a decision model"),
])
def test_a_bad_model_file_names_itself_and_what_is_wrong(tmp_path: Path, data: object, message: str) -> None:
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SttError, match=f"^{path}: .*{message}"):
        d.load_model(path)


def test_a_transcript_keeps_what_was_weighed_through_json() -> None:
    transcript = Transcript("cancel", 0.9, (), "whisper", "tiny.en",
                            (alt("cancel", -1.5, "free:0", "phrase"), alt("xyzzy", -math.inf, "alike")))
    again = Transcript.from_json(json.loads(json.dumps(transcript.to_json())))
    assert again == transcript
    older = {k: v for k, v in json.loads(json.dumps(transcript.to_json())).items() if k != "alternatives"}
    assert Transcript.from_json(older).alternatives == ()  # a cache entry from before alternatives
