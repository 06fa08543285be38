"""Shared fixtures: call stores on SQLite and on the local PostgreSQL, and the webhook app behind a client that
signs its requests the way Twilio does (`X-Twilio-Signature` over the URL and the form, with the auth token)."""

from __future__ import annotations

import functools
import os
import re
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any

# httpcore is loaded before pytester's in-process runs snapshot sys.modules, so that httpx and the tests agree on
# one copy of it (a second copy's ConnectError would escape `except httpx.HTTPError`)
import httpcore  # noqa: F401
import pytest
from flask import Flask
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from ivr.line.app import create_app
from ivr.line.settings import Settings
from ivr.line.store import Store

ROOT = Path(__file__).resolve().parent.parent
ACME = ROOT / "flows" / "acme.yaml"
TOKEN = "test-auth-token-0123456789abcdef"
BASE = "http://localhost"
POSTGRES = "postgresql+psycopg://127.0.0.1:5432/test"


@functools.cache
def _postgres_answers() -> bool:
    import psycopg

    try:
        psycopg.connect("host=127.0.0.1 port=5432 dbname=test connect_timeout=3").close()
    except psycopg.Error:
        return False
    return True


def need_postgres() -> None:
    """Skip the test, saying why, when no PostgreSQL server answers at 127.0.0.1:5432 (database `test`); with
    IVR_REQUIRE_POSTGRES=1, as `.ci/run` sets it after starting the server, fail instead: CI always runs them."""
    if _postgres_answers():
        return
    message = ("no PostgreSQL server at 127.0.0.1:5432 (database 'test', trust auth): start one to run the "
               "PostgreSQL half of the store tests (`.ci/run` starts the local server)")
    if os.environ.get("IVR_REQUIRE_POSTGRES") == "1":
        pytest.fail(message + "; IVR_REQUIRE_POSTGRES=1 makes this a failure")
    pytest.skip(message)


def shared_transcripts(factory: pytest.TempPathFactory) -> Path:
    """One transcript cache for the whole run, every xdist worker's included: the recordings that several tests
    replay (audio/, the docs' examples) are recognised once. Tests of the cache itself use their own."""
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's directory, above each worker's
    path = root / "transcripts-shared"
    path.mkdir(exist_ok=True)
    return path


def found(paths: Iterator[Path] | list[Path]) -> list[Path]:
    """Files a test is parametrized over, sorted; none at all is an error at collection, never a silent pass."""
    result = sorted(paths)
    if not result:
        raise pytest.UsageError("a parametrized test found no files to run over: is the checkout complete?")
    return result


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """(SQLAlchemy URL, schema) of an empty store: a SQLite file, or a fresh schema in the local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'calls.db'}", None
        return
    need_postgres()
    schema = f"ivr_test_{uuid.uuid4().hex[:12]}"
    yield POSTGRES, schema
    store = Store(POSTGRES, schema=schema)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    store.close()


@pytest.fixture
def store(store_url: tuple[str, str | None]) -> Iterator[Store]:
    url, schema = store_url
    s = Store(url, schema=schema)
    yield s
    s.close()


def sign(url: str, form: Mapping[str, str], token: str = TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, dict(form)))


@dataclass
class Twilio:
    """Posts to the app as Twilio would: signed forms, and follows the <Gather>/<Dial> action of each answer."""

    client: FlaskClient
    base: str = BASE
    token: str = TOKEN

    def post(self, path: str, form: Mapping[str, str], *, signed: bool = True,
             headers: Mapping[str, str] | None = None) -> TestResponse:
        all_headers = dict(headers or {})
        if signed:
            all_headers.setdefault("X-Twilio-Signature", sign(self.base + path, form, self.token))
        return self.client.post(path, data=dict(form), headers=all_headers)

    def call(self, flow: str = "acme", sid: str | None = None, caller: str = "+15551230000") -> Call:
        sid = sid or "CA" + uuid.uuid4().hex
        form = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": caller, "To": "+18005550199",
                "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01"}
        call = Call(self, sid)
        call.take(self.post(f"/voice/{flow}", form))
        return call


@dataclass
class Call:
    """One call in progress: `say`, `press` and `silence` answer the last <Gather>."""

    twilio: Twilio
    sid: str
    responses: list[TestResponse] = field(default_factory=list)

    @property
    def xml(self) -> str:
        return self.responses[-1].get_data(as_text=True)

    @property
    def action(self) -> str:
        found = re.search(r'<(?:Gather|Dial) action="([^"]+)"', self.xml)
        assert found, f"nothing to answer in {self.xml}"
        return unescape(found.group(1))

    @property
    def said(self) -> str:
        return " ".join(unescape(s) for s in re.findall(r"<Say[^>]*>([^<]*)</Say>", self.xml))

    def take(self, response: TestResponse) -> TestResponse:
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "application/xml"
        self.responses.append(response)
        return response

    def answer(self, **fields: str) -> TestResponse:
        return self.take(self.twilio.post(self.action, {"CallSid": self.sid, **fields}))

    def say(self, text: str, confidence: str = "0.93") -> TestResponse:
        return self.answer(SpeechResult=text, Confidence=confidence)

    def press(self, keys: str) -> TestResponse:
        return self.answer(Digits=keys)

    def silence(self) -> TestResponse:
        return self.answer()


def make_app(database_url: str, schema: str | None = None, flows: Any = (ACME,), **settings: Any) -> Flask:
    """The real app on a real store; `settings` override the test defaults (the test auth token)."""
    settings.setdefault("auth_token", TOKEN)
    return create_app(flows if isinstance(flows, Mapping) else list(flows),
                      Settings(database_url=database_url, **settings), store=Store(database_url, schema=schema))


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """`app` on a real socket (127.0.0.1, a free port) in a thread, for as long as the block runs: its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@pytest.fixture
def app(store_url: tuple[str, str | None]) -> Iterator[Flask]:
    url, schema = store_url
    app = make_app(database_url=url, schema=schema)
    yield app
    app.extensions["ivr"].store.close()


@pytest.fixture
def twilio(app: Flask) -> Twilio:
    return Twilio(app.test_client())
