"""The crawler against small hand-written lines (tests/testing/test_crawl_apps.py): verdicts, worst cases and
counterexamples; numbers, recordings and counters the prompts do not show; bad input bounded and reported."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ivr.errors import UsageError
from ivr.testing.cancel_when import parse_all
from ivr.testing.crawl import Crawl, Limits, Options, crawl
from ivr.testing.crawl_inputs import Inputs
from ivr.testing.crawl_report import as_json, summary, text
from ivr.testing.crawl_scripts import write_scripts
from ivr.testing.scripts import load_script, run_script
from ivr.testing.sim import Simulator
from tests.conftest import serving
from tests.testing.test_crawl_apps import (
    BAD,
    TOKEN,
    account_line,
    any_digits,
    hidden_counter,
    phone_tree,
    retention_loop,
    slow,
    voicemail,
    wsgi,
)

CANCELLED = ("prompt:(has been )?cancelled",)


def run(app: Callable[..., Any] | str, within: int = 3, cancel_when: tuple[str, ...] = CANCELLED,
        request_timeout: float = 15, **limits: Any) -> Crawl:
    sim = Simulator(app, auth_token=TOKEN, timeout=request_timeout)
    options = Options(entry="/voice", within=within, cancel_when=parse_all(cancel_when),
                      limits=Limits(**{"max_calls": 400, **limits}))
    return crawl(sim, options)


@pytest.mark.parametrize(("app", "within", "verdict", "worst"), [
    (phone_tree, 2, "pass", 2),
    (phone_tree, 1, "fail", 2),
    (account_line, 2, "pass", 2),  # the canceller gives its five-digit number, then presses 9
    (voicemail, 2, "pass", 2),  # speaks at the recording, then presses 1
    (retention_loop, 4, "fail", None),
])
def test_verdicts_on_hand_written_lines(app: Callable[[], Callable[..., Any]], within: int, verdict: str,
                                        worst: int | None) -> None:
    result = run(app(), within)
    assert (result.verdict, result.analysis and result.analysis.worst) == (verdict, worst), \
        "\n".join(text(result, "/voice"))
    assert not [n for n in result.not_explored if "hint phrases not tried" not in n]
    assert not result.errors


def test_the_phone_tree_graph() -> None:
    result = run(phone_tree(), 2)
    prompts = {s.seen.prompt for s in result.graph.waiting()}
    assert {"For billing, press 1. To cancel your account, press 9.",
            "Press 1 to cancel, or 2 to keep your account.",
            "You owe nothing. For billing, press 1. To cancel your account, press 9."} <= prompts
    assert summary(result).startswith("a caller who keeps asking to cancel meets prompt:(has been )?cancelled "
                                      "within 2 turn(s) from every one of")


def test_a_loop_is_shown_as_a_counterexample_that_reproduces() -> None:
    result = run(retention_loop(), 4)
    assert result.reproduced is True
    assert result.analysis is not None
    steps = [(result.graph.states[e.state].seen.prompt, str(e.done) if e.done else e.ending)
             for e in result.analysis.counterexample]
    assert steps == [("Say cancel to leave.", "say 'cancel'"), ("Why do you want to leave us?", "say 'cancel'"),
                     ("I am just trying to help you.", "say 'cancel'"),
                     ("Why do you want to leave us?", "back at turn 2's prompt: the canceller goes round again")]
    assert "does not meet prompt:(has been )?cancelled within 4 turns: the call loops" in summary(result)


def test_a_counter_the_prompts_do_not_show_is_caught_by_the_fresh_call() -> None:
    result = run(hidden_counter(), 3, ("prompt:^Cancelled",))
    assert result.analysis is not None
    assert result.analysis.verdict == "fail"
    assert (result.reproduced, result.verdict) == (False, "inconclusive")  # ...and what a real call does
    assert "a counter its prompts do not show" in summary(result)


def test_a_line_without_ivr_headers_needs_cancel_when() -> None:
    with pytest.raises(UsageError, match=r"does not send ivr's X-Ivr-\* headers.*--cancel-when KIND:VALUE"):
        run(phone_tree(), cancel_when=())


def test_the_entry_can_be_a_get() -> None:
    tree = phone_tree()

    def get_only(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ["PATH_INFO"] == "/voice" and environ["REQUEST_METHOD"] != "GET":
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain")])
            return [b"GET only"]
        return tree(environ, start_response)

    assert run(get_only).verdict == "unusable"
    sim = Simulator(get_only, auth_token=TOKEN)
    result = crawl(sim, Options(entry="/voice", method="GET", within=2, cancel_when=parse_all(CANCELLED)))
    assert result.verdict == "pass"


# -- bad input: bounded, reported, never hung ---------------------------------------------------------------------

@pytest.mark.parametrize(("name", "code"), [
    ("redirect-loop", "14106"), ("http-redirect-loop", "11215"), ("html", "12102"), ("plain-text", "12300"),
    ("server-error", "11200"),
])
def test_an_app_whose_first_answer_fails_is_unusable(name: str, code: str) -> None:
    result = run(BAD[name])
    assert result.verdict == "unusable"
    assert f"{code}:" in result.unusable
    assert summary(result).startswith("the app cannot be crawled: its first request failed: ")


def test_a_slow_entry_is_unusable() -> None:
    result = run(slow(0.3), request_timeout=0.1)
    assert result.verdict == "unusable"
    assert "11200" in result.unusable


def test_a_slow_answer_deeper_in_is_an_application_error_on_the_canceller_path() -> None:
    result = run(slow(0.12, "/confirm"), 2, request_timeout=0.05)
    assert result.verdict == "fail"
    assert result.analysis is not None
    assert result.analysis.counterexample[-1].ending.startswith("the call ended (failed)")
    assert {e.partition(":")[0] for _, e in result.errors} == {"11200"}
    assert any(line.startswith("  application error at S") for line in text(result, "/voice"))


def test_a_hanging_server_is_bounded_by_the_request_timeout() -> None:
    release = threading.Event()
    tree = phone_tree()

    def hangs(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        release.wait(30)
        return tree(environ, start_response)

    try:
        with serving(hangs) as url:  # type: ignore[arg-type]
            began = time.monotonic()
            result = run(url, request_timeout=0.3)
            assert result.verdict == "unusable"
            assert "11200" in result.unusable
            assert time.monotonic() - began < 10
    finally:
        release.set()


def test_a_menu_taking_any_digits_is_bounded_and_reported() -> None:
    result = run(any_digits(), max_variants=3, max_calls=300)
    assert result.calls <= 300
    assert len(result.graph.states) < 40
    assert any("differ only in numbers (--max-variants 3)" in n for n in result.not_explored)
    assert result.verdict in ("fail", "inconclusive")


def slowly(app: Callable[..., Any], seconds: float) -> Callable[..., Any]:
    """The app, answering each request `seconds` late: a crawl of it outlasts a short time limit on any machine."""
    def slow(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        time.sleep(seconds)
        return app(environ, start_response)
    return slow


@pytest.mark.parametrize(("limits", "delay", "note"), [
    ({"max_calls": 20}, 0.0, "the call budget (--max-calls 20) ran out"),
    ({"timeout": 0.05}, 0.01, "the time limit (--timeout 0.05 s) was reached"),
    ({"max_depth": 0}, 0.0, "(--max-depth 0)"),
])
def test_what_the_bounds_stop_is_reported(limits: dict[str, Any], delay: float, note: str) -> None:
    result = run(slowly(phone_tree(), delay) if delay else phone_tree(), 2, **limits)
    assert any(note in n for n in result.not_explored), result.not_explored
    assert result.verdict in ("pass", "inconclusive")


def test_tries_per_state_are_capped() -> None:
    sim = Simulator(phone_tree(), auth_token=TOKEN)
    result = crawl(sim, Options(entry="/voice", within=2, cancel_when=parse_all(CANCELLED),
                                inputs=Inputs(max_tries=5)))
    assert any("tries left out (--max-tries 5)" in n for n in result.not_explored)


# -- output ------------------------------------------------------------------------------------------------------

def test_json_has_the_graph_and_the_counterexample() -> None:
    out = as_json(run(retention_loop(), 4), "http://x/voice")
    assert (out["verdict"], out["ok"], out["worst_case_turns"], out["reproduced"]) == ("fail", False, None, True)
    assert [e["try"] for e in out["counterexample"]] == ["say 'cancel'"] * 3 + [None]
    assert {"from": "S0", "try": "say 'cancel'", "to": "S1", "cancelled": False, "times": 1} in out["transitions"] \
        or any(t["from"] == "S0" and t["try"] == "say 'cancel'" for t in out["transitions"])
    assert out["states"][0]["prompt"] == "Say cancel to leave."
    assert out["states"][0]["turns"] is None


def test_emitted_scripts_replay_the_line(tmp_path: Path) -> None:
    app = phone_tree()
    result = run(app, 2)
    written = write_scripts(result, tmp_path, "ivr crawl http://x/voice --emit-scripts out")
    assert len(written) == len(result.graph.states)
    for path in written:
        outcome = run_script(load_script(path), Simulator(app, auth_token=TOKEN))
        assert outcome.ok, outcome.report()


def test_the_counterexample_script_fails_as_the_crawl_did(tmp_path: Path) -> None:
    app = retention_loop()
    written = write_scripts(run(app, 4), tmp_path, "ivr crawl http://x/voice --emit-scripts out")
    failing = [p for p in written if p.name == "voice-counterexample.call.yaml"]
    assert failing
    script = load_script(failing[0])
    assert [str(c) for c in script.cancel_when] == list(CANCELLED)
    outcome = run_script(script, Simulator(app, auth_token=TOKEN))
    assert any("within 4 turns" in f for f in outcome.failures), outcome.report()
    regressions = [p for p in written if p not in failing]
    assert all(run_script(load_script(p), Simulator(app, auth_token=TOKEN)).ok for p in regressions)


def test_stale_generated_scripts_are_removed(tmp_path: Path) -> None:
    (tmp_path / "voice-s999.call.yaml").write_text("# Generated by `ivr crawl --emit-scripts`: old\n")
    (tmp_path / "voice-mine.call.yaml").write_text("# my own\n")
    write_scripts(run(wsgi({"/voice": lambda f: ("200 OK", "text/xml", "<Response><Say>Hi</Say></Response>")})),
                  tmp_path, "ivr crawl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["voice-mine.call.yaml", "voice-s000.call.yaml"]
