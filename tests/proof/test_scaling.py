"""Big flows proven right: long no-input/no-match ladders (whose states are a product of two counts, listed only
along each count), many phrases (matched through an index, not phrase by phrase) and very long phrases. Results
and state counts are asserted, never time: bench/check_scaling.py measures that."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ivr.flow.caller import Silence, Speech
from ivr.flow.intents import Meaning, interpret, matcher, normalise
from ivr.flow.model import Flow
from ivr.flow.values import Limits
from ivr.proof.explore import Explorer
from ivr.proof.report import check
from tests.proof.test_check import BASE as CHECKED

#: the load-time limits raised past every size here: these tests are about the checker, not the loader
BIG = Limits(max_phrases=1_000_000, max_intent_phrases=1_000_000, max_phrase_chars=2_000_000,
             max_text_chars=2_000_000, max_ladder_rungs=100_000)

#: test_check's finding-free flow, at a size the tests below grow
BASE: dict[str, Any] = {**copy.deepcopy(CHECKED), "name": "big"}
CANCEL: list[str] = BASE["intents"]["cancel"]["phrases"]


def big_flow(nodes: dict[str, Any] | None = None, **top: Any) -> Flow:
    data = copy.deepcopy(BASE)
    data["nodes"].update(nodes or {})
    data.update(top)
    return Flow.model_validate(data, context={"limits": BIG})


def ladder(rungs: int, goto: str = "agent") -> list[dict[str, Any]]:
    """`rungs` rungs: all but the last reprompt, the last escalates to `goto`."""
    return [{"say": f"Sorry, try {i + 1}?"} for i in range(rungs - 1)] + [{"say": "One moment.", "goto": goto}]


@pytest.mark.parametrize(("no_input", "no_match", "states"), [
    (2, 2, 2 * 2 * 2),  # two input nodes (menu, confirm), each with counts 0..1 x 0..1
    (3, 5, 2 * 3 * 5),
    (1, 1_500, 2 * 1 * 1_500),
    (1_500, 1_500, 2 * 1_500 * 1_500),  # 4.5 million states, 6,000 of them listed
])
def test_a_long_ladder_counts_every_pair_of_counts(no_input: int, no_match: int, states: int) -> None:
    flow = big_flow(defaults={"no_input": ladder(no_input), "no_match": ladder(no_match)})
    report = check(flow)
    assert (report.ok, report.states, report.worst_case_turns, report.findings) == (True, states, 2, ())
    explorer = Explorer(flow)
    assert len(explorer.explore()) == 2 * (no_input + no_match - 1)  # each node's two axes, (0, 0) once
    assert explorer.state_count == states


@pytest.mark.parametrize(("rungs", "within", "worst", "ok"), [
    (3, 4, 4, True),
    (1_500, 1_501, 1_501, True),
    (1_500, 1_500, 1_501, False),
])
def test_a_canceller_climbing_a_long_ladder(rungs: int, within: int, worst: int, ok: bool) -> None:
    """A keypad-only menu and no cancel key: the canceller's words are heard as silence, rung after rung, until
    the last one sends the call to the confirmation."""
    flow = big_flow({"menu": {"type": "menu", "input": "dtmf", "prompt": "For billing, press 1.",
                              "routes": {"billing": "bill"}, "no_input": ladder(rungs, "confirm")}},
                    intents={**BASE["intents"], "cancel": {"phrases": CANCEL}}, guarantee={"within": within})
    report = check(flow)
    assert (report.ok, report.worst_case_turns) == (ok, worst)
    assert report.states == rungs * 2 + 4  # the menu: rungs x 2 (its default no-match ladder); confirm: 2 x 2
    if not ok:
        assert [e.heard for e in report.counterexample] == ["(silence)"] * rungs + ["cancel", None]


def phrasings(first: str, count: int) -> list[str]:
    words = "plan service account line package bundle phone internet cable contract".split()
    return [" ".join([first, *(words[int(d)] for d in str(i))]) for i in range(count)]


def test_twenty_thousand_phrases_prove_and_route_as_before() -> None:
    cancels = phrasings("cancel", 10_000)  # "cancel plan", ... "cancel phone cable cable cable"
    bills = phrasings("billing", 10_000)
    intents = {"billing": {"phrases": ["billing", *bills, "cancel plan phone bill"], "keys": ["1"]},
               "cancel": {"phrases": [*CANCEL, *cancels], "keys": ["9"]}}
    flow = big_flow(intents=intents)
    report = check(flow)
    assert (report.ok, report.worst_case_turns, report.states, report.findings) == (True, 2, 8, ())
    assert matcher(flow).by_first["cancel"] == (1, 2, 3, 4, 5)  # lengths of the phrases starting "cancel"
    for text, meaning in [(cancels[9_999], Meaning("intent", "cancel")), (bills[1_234], Meaning("intent", "billing")),
                          ("um I want to cancel plan phone please", Meaning("intent", "cancel")),
                          ("I don't want to cancel plan phone", Meaning("no_match")),
                          ("cancel plan phone bill", Meaning("intent", "billing")),  # the longest phrase wins
                          ("cancel plan phone", Meaning("intent", "cancel")),
                          ("billing plan zebra", Meaning("intent", "billing"))]:
        assert interpret(flow, "menu", Speech(text)) == meaning


def test_a_phrase_of_a_million_characters() -> None:
    long = ("cancel " * 150_000)[:1_000_000].strip()
    flow = big_flow(intents={**BASE["intents"], "cancel": {"phrases": [*CANCEL, long], "keys": ["9"]}})
    words = len(normalise(long))
    assert matcher(flow).lengths(normalise(long)) == {"cancel": words}
    assert interpret(flow, "menu", Speech(long)) == Meaning("intent", "cancel")
    assert interpret(flow, "menu", Speech("not " + long)) == Meaning("intent", "cancel")  # a later "cancel" matches
    assert interpret(flow, "menu", Silence()) == Meaning("no_input")
    report = check(flow)
    assert (report.ok, report.worst_case_turns, report.findings) == (True, 2, ())
