"""`ivr crawl URL`: the crawler on live lines (real servers on sockets): exit codes, text, JSON, the drawn graph,
emitted scripts, and bad input exiting 2 with one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ivr.cli.crawl import split_url
from ivr.cli.main import main
from ivr.errors import UsageError
from tests.conftest import ROOT, TOKEN, make_app, serving
from tests.testing.test_crawl_apps import BAD, phone_tree, retention_loop

CANCELLED = ["--cancel-when", "prompt:has been cancelled"]


def crawl(app: Any, *args: str, env: dict[str, str] | None = None) -> Result:
    with serving(app) as url:
        return CliRunner(env={"TWILIO_AUTH_TOKEN": TOKEN, **(env or {})}).invoke(
            main, ["crawl", f"{url}/voice", *args])


def test_a_line_that_cancels_in_time_exits_0() -> None:
    result = crawl(phone_tree(), *CANCELLED, "--within", "2")
    assert result.exit_code == 0, result.output
    [first] = [line for line in result.output.splitlines() if ": ok - " in line]
    assert first.endswith("/voice: ok - a caller who keeps asking to cancel meets prompt:has been cancelled within "
                          "2 turn(s) from every one of 4 discovered states (limit 2)")
    assert "  worst case: 2 turn(s), from S0: For billing, press 1. To cancel your account, press 9." in result.output


def test_a_loop_exits_1_with_the_counterexample() -> None:
    result = crawl(retention_loop(), *CANCELLED, "--within", "4")
    assert result.exit_code == 1, result.output
    assert ": FAIL - a caller who keeps asking to cancel from S0 does not meet prompt:has been cancelled within 4 " \
           "turns: the call loops" in result.output
    assert "  counterexample (the shortest way in, then a caller who keeps asking to cancel):" in result.output
    assert "    end       S1: back at turn 2's prompt: the canceller goes round again" in result.output
    assert "  a fresh call following it fails the same way" in result.output
    assert "  the counterexample as a call script (it fails while the line behaves so):\n" in result.output
    assert '\n    cancel_when: "prompt:has been cancelled"\n' in result.output


def test_json_and_the_graph() -> None:
    result = crawl(phone_tree(), *CANCELLED, "--within", "2", "--format", "json", "--graph", "dot")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["verdict"], out["ok"], out["worst_case_turns"], out["within"]) == ("pass", True, 2, 2)
    assert out["cancel_when"] == ["prompt:has been cancelled"]
    assert out["graph"]["format"] == "dot"
    assert out["graph"]["text"].startswith("digraph crawl {")
    assert out["calls"] > 10


def test_the_mermaid_graph_follows_the_text() -> None:
    result = crawl(phone_tree(), *CANCELLED, "--graph", "mermaid")
    assert "\nflowchart TD\n" in result.output
    assert '    S0["S0 (2 turns)<br/>For billing, press 1. To cancel your account, p…"]' in result.output


def test_scripts_are_emitted(tmp_path: Path) -> None:
    result = crawl(retention_loop(), *CANCELLED, "--emit-scripts", str(tmp_path / "out"))
    assert result.exit_code == 1
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "voice-counterexample.call.yaml" in names
    assert "voice-s000.call.yaml" in names
    assert f"  scripts: wrote {len(names)} to {tmp_path / 'out'}" in result.output


def test_a_line_built_with_ivr_needs_no_cancel_when(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path}/live.db", flows=(ROOT / "tests" / "flows" / "shop.yaml",),
                   serve_failing=True)
    with serving(app) as url:
        result = CliRunner(env={"TWILIO_AUTH_TOKEN": TOKEN}).invoke(
            main, ["crawl", url, "--entry", "/voice/shop", "--format", "json"])
    app.extensions["ivr"].store.close()
    out = json.loads(result.stdout)
    assert (result.exit_code, out["verdict"], out["cancel_when"]) == (1, "fail", ["outcome:cancelled"])


@pytest.mark.parametrize(("args", "env", "message"), [
    ([], {}, "does not send ivr's X-Ivr-* headers"),
    ([*CANCELLED, "--cancel-when", "colour:red"], {}, "expected KIND:VALUE with KIND one of"),
    ([*CANCELLED, "--cancel-key", "10"], {}, "--cancel-key '10': a key is one of 0-9, * and #"),
    ([*CANCELLED, "--entry", "voice"], {}, "--entry 'voice': a path starts with '/'"),
    (CANCELLED, {"TWILIO_AUTH_TOKEN": ""}, "give the line's auth token with --auth-token or TWILIO_AUTH_TOKEN"),
])
def test_bad_input_exits_2_with_one_line(args: list[str], env: dict[str, str], message: str) -> None:
    result = crawl(phone_tree(), *args, env=env)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_app_that_cannot_be_crawled_exits_2() -> None:
    result = crawl(BAD["plain-text"], *CANCELLED)
    assert result.exit_code == 2
    assert ": UNUSABLE - the app cannot be crawled: its first request failed: 12300: " in result.output


@pytest.mark.parametrize(("url", "entry", "split"), [
    ("https://x.ngrok.app/voice", None, ("https://x.ngrok.app", "/voice")),
    ("https://x.ngrok.app", None, ("https://x.ngrok.app", "/")),
    ("https://x.ngrok.app/app/", "/voice", ("https://x.ngrok.app/app", "/voice")),
    ("http://h:8080/v?line=2", None, ("http://h:8080", "/v?line=2")),
])
def test_the_url_and_entry(url: str, entry: str | None, split: tuple[str, str]) -> None:
    assert split_url(url, entry) == split


def test_not_a_url() -> None:
    with pytest.raises(UsageError, match="'ftp://x' is not an http"):
        split_url("ftp://x", None)
