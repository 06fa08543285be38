"""`ivr call --url` and `ivr crawl` on an app named as FILE.py:NAME, run in-process: it works without a server or a
token, and a name that does not load is one line and exit 2 (the loading itself: tests/testing/test_targets.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
PHONE_TREE = f"{ROOT}/docs/examples/phone_tree.py:app"
CANCELLED = ["--cancel-when", "prompt:service is cancelled"]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner(env={"TWILIO_AUTH_TOKEN": ""}).invoke(main, list(args), input="#9\n#2\n")
    return result.exit_code, result.output


def test_a_call_to_an_app_in_process() -> None:
    code, output = run("call", "--url", PHONE_TREE, "--entry", "/incoming")
    assert code == 0, output
    assert "Your service is cancelled." in output


def test_a_crawl_of_an_app_in_process() -> None:
    code, output = run("crawl", PHONE_TREE, "--entry", "/incoming", "--within", "2", *CANCELLED)
    assert code == 0, output
    assert f"{PHONE_TREE} /incoming: ok - " in output


@pytest.mark.parametrize(("args", "message"), [
    (["call", "--url", f"{ROOT}/docs/examples/phone_tree.py:nope", "--entry", "/incoming"],
     "error: --url '{root}/docs/examples/phone_tree.py:nope': {root}/docs/examples/phone_tree.py has no 'nope'"),
    (["crawl", f"{ROOT}/docs/examples/missing.py:app", *CANCELLED],
     "error: URL '{root}/docs/examples/missing.py:app': no such file '{root}/docs/examples/missing.py'"),
    (["crawl", PHONE_TREE, "--entry", "incoming", *CANCELLED], "error: --entry 'incoming': a path starts with '/'"),
])
def test_an_app_that_does_not_load_is_one_line(args: list[str], message: str) -> None:
    code, output = run(*args)
    assert code == 2, output
    assert output.startswith(message.format(root=ROOT)), output
    assert "Traceback" not in output
