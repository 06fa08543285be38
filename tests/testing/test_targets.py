"""Naming an app to run in-process (`ivr crawl app.py:app`): what loads, and a clear error for what does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.errors import UsageError
from ivr.testing.targets import UNCHECKED_TOKEN, is_app, load_app, token

ROOT = Path(__file__).resolve().parents[2]
PHONE_TREE = ROOT / "docs" / "examples" / "phone_tree.py"

APP = '''
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/xml")])
    return [b"<Response><Say>hi</Say></Response>"]

def create_app():
    return app

def broken_factory():
    raise RuntimeError("no database")

NOT_AN_APP = 42
'''


@pytest.mark.parametrize(("text", "expected"), [
    ("https://line.example.com/voice", False),
    ("http://127.0.0.1:5000", False),
    ("app.py:app", True),
    ("myline.web:create_app()", True),
    ("just-a-name", False),
])
def test_a_url_or_an_app(text: str, expected: bool) -> None:
    assert is_app(text) is expected


def test_a_file_and_a_factory_load(tmp_path: Path) -> None:
    (tmp_path / "line.py").write_text(APP)
    assert callable(load_app(f"{tmp_path}/line.py:app"))
    assert load_app(f"{tmp_path}/line.py:create_app()").__name__ == "app"
    assert callable(load_app(f"{PHONE_TREE}:app"))


@pytest.mark.parametrize(("spec", "message"), [
    ("{tmp}/missing.py:app", "no such file"),
    ("{tmp}/line.py:nope", "has no 'nope'; callables there: ['app', 'broken_factory', 'create_app']"),
    ("{tmp}/line.py:NOT_AN_APP", "NOT_AN_APP is a int, not a WSGI app (a factory? write NAME())"),
    ("{tmp}/line.py:broken_factory()", "broken_factory() raised RuntimeError: no database"),
    ("{tmp}/bad.py:app", "importing {tmp}/bad.py raised SyntaxError"),
    ("no_such_module_here:app", "no module 'no_such_module_here'"),
    ("{tmp}/line.py", "expected a URL (https://host/path), FILE.py:NAME or module:NAME"),
])
def test_what_does_not_load_says_why(tmp_path: Path, spec: str, message: str) -> None:
    (tmp_path / "line.py").write_text(APP)
    (tmp_path / "bad.py").write_text("def app(:\n")
    with pytest.raises(UsageError, match=None) as caught:
        load_app(spec.format(tmp=tmp_path), "URL")
    assert message.format(tmp=tmp_path) in str(caught.value)


@pytest.mark.parametrize(("given", "env", "expected"), [
    ("mine", "from-env", "mine"),
    (None, "from-env", "from-env"),
    (None, "", UNCHECKED_TOKEN),
    (None, None, UNCHECKED_TOKEN),
])
def test_the_token_an_app_is_signed_with(monkeypatch: pytest.MonkeyPatch, given: str | None, env: str | None,
                                         expected: str) -> None:
    if env is None:
        monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    else:
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", env)
    assert token(given) == expected
