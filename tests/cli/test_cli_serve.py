"""`ivr serve`: settings from the environment and options, the start banner, errors before anything starts, and
one real server in a subprocess answering Twilio's signed webhook over HTTP."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ivr.cli.main import main
from ivr.cli.serve import serve_app, serve_settings
from ivr.errors import UsageError
from ivr.line.settings import ENVIRONMENT, Settings
from tests.conftest import ACME, ROOT, TOKEN, sign

#: every variable Settings reads, unset: the tests do not depend on the environment they run in
CLEAN_ENV: dict[str, str | None] = {variable: None for variable, _ in ENVIRONMENT.values()}
NO_TOKEN = "TWILIO_AUTH_TOKEN is not set, so Twilio's signatures cannot be checked."


@pytest.mark.parametrize(("env", "options", "expected"), [
    ({"TWILIO_AUTH_TOKEN": "t"}, {}, Settings(auth_token="t")),
    ({"TWILIO_AUTH_TOKEN": "t", "IVR_DATABASE_URL": "sqlite:///env.db"}, {},
     Settings(auth_token="t", database_url="sqlite:///env.db")),
    ({"TWILIO_AUTH_TOKEN": "t", "IVR_DATABASE_URL": "sqlite:///env.db"}, {"database": "sqlite:///opt.db"},
     Settings(auth_token="t", database_url="sqlite:///opt.db")),
    ({"TWILIO_AUTH_TOKEN": "t", "IVR_PUBLIC_URL": "https://env.example"}, {"public_url": "https://opt.example/"},
     Settings(auth_token="t", public_url="https://opt.example")),
    ({"TWILIO_AUTH_TOKEN": "t", "IVR_TRUSTED_PROXY_HEADERS": "x-forwarded-for"},
     {"proxy_headers": ("x-forwarded-proto", "x-forwarded-host")},
     Settings(auth_token="t", trusted_proxy_headers=("x-forwarded-proto", "x-forwarded-host"))),
    ({"TWILIO_AUTH_TOKEN": "t", "IVR_FALLBACK_NUMBER": "+1800"}, {"fallback_number": "+1900"},
     Settings(auth_token="t", fallback_number="+1900")),
    ({}, {"insecure": True}, Settings(verify_signatures=False)),
    ({"TWILIO_AUTH_TOKEN": "t"}, {"insecure": True}, Settings(auth_token="t", verify_signatures=False)),
    ({"IVR_VERIFY_SIGNATURES": "0", "IVR_FLOWS": "a.yaml:b"}, {},
     Settings(verify_signatures=False, flows=("a.yaml", "b"))),
], ids=["token", "env-database", "option-database", "public-url", "proxy-headers", "fallback", "insecure",
        "insecure-with-token", "env-only"])
def test_options_override_the_environment(env: dict[str, str], options: dict[str, Any], expected: Settings) -> None:
    assert serve_settings(env, **options) == expected


@pytest.mark.parametrize(("env", "options", "message"), [
    ({}, {}, NO_TOKEN),
    ({"TWILIO_AUTH_TOKEN": ""}, {"public_url": "https://x.example"}, NO_TOKEN),
    ({"TWILIO_AUTH_TOKEN": "t"}, {"public_url": "abc.ngrok.app"},
     "public_url: 'abc.ngrok.app' must start with https:// (or http://)"),
    ({"TWILIO_AUTH_TOKEN": "t"}, {"database": "calls.db"}, "'calls.db' is not a database URL"),
    ({"TWILIO_AUTH_TOKEN": "t", "IVR_VERIFY_SIGNATURES": "maybe"}, {}, "IVR_VERIFY_SIGNATURES: 'maybe' is not"),
])
def test_bad_settings(env: Mapping[str, str], options: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        serve_settings(env, **options)


def banner(flows: list[str], settings: Settings, host: str = "127.0.0.1", port: int = 5000) -> str:
    app, text = serve_app(flows, settings, host, port)
    app.extensions["ivr"].store.close()
    return text


def test_the_banner_says_what_to_paste_into_twilio(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'calls.db'}"
    assert banner([str(ROOT / "flows")], Settings(auth_token="t", database_url=db)) == f"""\
ivr: serving 4 flows on http://127.0.0.1:5000
     Flask's development server: in production, run gunicorn "ivr.line.app:create_app()" (see README)
Webhooks for the Twilio console (Phone Numbers > your number > Voice Configuration):
  acme        A call comes in:      POST http://127.0.0.1:5000/voice/acme
              Call status changes:  POST http://127.0.0.1:5000/voice/acme/status
  gym         A call comes in:      POST http://127.0.0.1:5000/voice/gym
              Call status changes:  POST http://127.0.0.1:5000/voice/gym/status
  ko-telecom  A call comes in:      POST http://127.0.0.1:5000/voice/ko-telecom
              Call status changes:  POST http://127.0.0.1:5000/voice/ko-telecom/status
  streaming   A call comes in:      POST http://127.0.0.1:5000/voice/streaming
              Call status changes:  POST http://127.0.0.1:5000/voice/streaming/status
  Twilio must reach these URLs. Behind a tunnel (e.g. `ngrok http 5000`), restart with
  --public-url https://<its address>, so that signatures and audio URLs match the URL Twilio calls.
Call store: {db}
Signatures: checked with TWILIO_AUTH_TOKEN, against the URLs above"""


def test_the_banner_behind_a_tunnel_without_signatures(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'calls.db'}"
    settings = Settings(database_url=db, public_url="https://abc.ngrok.app", verify_signatures=False,
                        fallback_number="+18005550000")
    assert banner([str(ACME)], settings, host="::", port=8080) == f"""\
ivr: serving 1 flow on http://[::]:8080 (public URL https://abc.ngrok.app)
     Flask's development server: in production, run gunicorn "ivr.line.app:create_app()" (see README)
Webhooks for the Twilio console (Phone Numbers > your number > Voice Configuration):
  acme  A call comes in:      POST https://abc.ngrok.app/voice/acme
        Call status changes:  POST https://abc.ngrok.app/voice/acme/status
Call store: {db}
Signatures: NOT CHECKED (--insecure-no-signatures or IVR_VERIFY_SIGNATURES=0): anyone who can reach this server \
can drive calls and record cancellations. Local development only.
Fallback:   +18005550000, when the app cannot carry on a call"""


def test_the_banner_behind_a_trusted_proxy_names_the_headers_and_the_store_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(auth_token="t", trusted_proxy_headers=("x-forwarded-proto", "x-forwarded-host"))
    lines = banner([str(ACME)], settings).splitlines()
    assert lines[-2:] == [
        f"Call store: sqlite:///ivr-calls.db (the file {tmp_path.resolve() / 'ivr-calls.db'})",
        "Signatures: checked with TWILIO_AUTH_TOKEN, against the URL rebuilt from x-forwarded-proto, x-forwarded-host",
    ]
    assert "Twilio must reach" not in "\n".join(lines)


def test_serve_app_is_the_real_app(tmp_path: Path) -> None:
    app, _ = serve_app([str(ACME)], Settings(auth_token="t", database_url=f"sqlite:///{tmp_path / 'c.db'}"),
                       "127.0.0.1", 5000)
    response = app.test_client().get("/healthz")
    app.extensions["ivr"].store.close()
    assert (response.status_code, response.json) == (200, {"flows": ["acme"], "ok": True, "signatures": True,
                                                          "store": "ok", "status": "ok", "spooled_apologies": 0})


@pytest.mark.parametrize(("args", "env", "message"), [
    ([str(ACME)], {}, f"error: {NO_TOKEN}"),
    ([], {}, f"error: {NO_TOKEN}"),
    ([], {"TWILIO_AUTH_TOKEN": "t"}, "error: no flows to serve: pass flow files, or set IVR_FLOWS"),
    (["no/such.yaml", "--insecure-no-signatures"], {}, "error: no/such.yaml: no such flow file"),
    ([str(ACME), "--public-url", "abc.ngrok.app"], {"TWILIO_AUTH_TOKEN": "t"},
     "error: public_url: 'abc.ngrok.app' must start with https:// (or http://)"),
    ([str(ACME), "--trusted-proxy-header", "x-real-ip"], {"TWILIO_AUTH_TOKEN": "t"},
     "Invalid value for '--trusted-proxy-header': 'x-real-ip' is not one of 'x-forwarded-for', "
     "'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix'."),
    ([str(ACME), "--port", "0"], {"TWILIO_AUTH_TOKEN": "t"},
     "Invalid value for '--port': 0 is not in the range 1<=x<=65535."),
    ([str(ACME), "--database", "calls.db"], {"TWILIO_AUTH_TOKEN": "t"},
     "error: 'calls.db' is not a database URL; expected e.g. 'sqlite:///ivr-calls.db'"),
], ids=["no-token", "no-token-no-flows", "no-flows", "no-flow-file", "bad-public-url", "bad-proxy-header",
        "bad-port", "bad-database"])
def test_serve_refuses_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
                                env: dict[str, str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["serve", *args], env={**CLEAN_ENV, **env})
    assert os.listdir(tmp_path) == []  # no call store was created
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_the_cli_imports_neither_flask_nor_sqlalchemy() -> None:
    """`ivr check` must start fast: the web app and the store are imported by the commands that use them."""
    code = "import sys, ivr.cli.main; print(sorted({'flask', 'sqlalchemy', 'twilio'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "[]\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(url: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, urllib.parse.urlencode(form).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """`ivr serve acme.yaml` in a subprocess on a free port: (base URL, database URL, its stdout file)."""
    port, db, out = free_port(), f"sqlite:///{tmp_path / 'calls.db'}", tmp_path / "stdout.txt"
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    env.update(TWILIO_AUTH_TOKEN=TOKEN, PYTHONUNBUFFERED="1")
    command = [sys.executable, "-c", "from ivr.cli.main import main; main(prog_name='ivr')",
               "serve", str(ACME), "--port", str(port), "--database", db]
    with out.open("w") as stdout:
        process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"ivr serve exited {process.returncode}:\n{out.read_text()}"
            assert time.monotonic() < deadline, f"ivr serve did not answer /healthz:\n{out.read_text()}"
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        yield base, db, out
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_ivr_serve_answers_twilio(server: tuple[str, str, Path]) -> None:
    base, db, out = server
    form = {"CallSid": "CA" + "5" * 32, "AccountSid": "AC" + "0" * 32, "From": "+15550001111", "To": "+18005550199",
            "CallStatus": "ringing"}
    assert post(f"{base}/voice/acme", form, {})[0] == 403  # unsigned: not Twilio
    status, twiml = post(f"{base}/voice/acme", form, {"X-Twilio-Signature": sign(f"{base}/voice/acme", form)})
    assert status == 200
    assert '<Gather action="/voice/acme/gather?seq=1"' in twiml
    assert f"  acme  A call comes in:      POST {base}/voice/acme\n" in out.read_text()
    listed = CliRunner().invoke(main, ["calls", "list", "--database", db])
    assert f"CA{'5' * 32}  acme  +15550001111  0      (in progress at main_menu)  ringing" in listed.output
