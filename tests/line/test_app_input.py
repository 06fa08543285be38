"""The webhook app against bad input and forgery, through Flask's client on the real store (SQLite and PostgreSQL):
signatures and proxies, odd and oversized forms, out-of-order requests, traversal in audio paths, transfers,
status callbacks, and a store or handler that fails — the caller always hears TwiML, never a 500."""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask

from ivr.errors import UsageError
from ivr.flow.engine import EffectResult
from ivr.flow.loader import load_flow
from ivr.line.app import create_app
from ivr.line.schema import metadata
from ivr.line.settings import Settings
from ivr.line.store import Store
from ivr.line.webhook import EffectCall
from tests.conftest import ACME, BASE, POSTGRES, ROOT, TOKEN, Call, Twilio, make_app, need_postgres, sign

SIG = "X-Twilio-Signature"
AGENT = "+18005550100"


def xml(*parts: str) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(parts) + "</Response>"


def say(text: str) -> str:
    return f'<Say language="en-US" voice="Polly.Joanna">{text}</Say>'


HANGUP = "<Hangup />"
UNKNOWN = xml(say("Sorry, this call could not be found. Please call again. Goodbye."), HANGUP)
BROKEN = xml(say("Sorry, something went wrong on our side. Let me transfer you to an agent."),
             f"<Dial><Number>{AGENT}</Number></Dial>")
NO_AGENT = xml(say("Sorry, nobody is available to take your call right now. Please call again later. Goodbye."),
               HANGUP)


def store_of(app: Flask) -> Store:
    return app.extensions["ivr"].store  # type: ignore[no-any-return]


FLOWS = {name: load_flow(ROOT / "flows" / f"{name}.yaml")[0] for name in ("acme", "gym")}


def refuse_cancellations(store: Store, schema: str | None) -> None:
    """Make the database itself refuse the cancellations of calls whose CallSid starts with 'CAdeadbe' (a
    trigger), as a full disk or a revoked grant would; every other call is cancelled as usual."""
    store.open()
    refused = "substr(NEW.call_sid, 1, 8) = 'CAdeadbe'"
    with store.engine.begin() as conn:
        if schema is None:
            conn.exec_driver_sql(f"CREATE TRIGGER refuse BEFORE INSERT ON ivr_cancellations WHEN {refused} "
                                 "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
            return
        conn.exec_driver_sql(f'CREATE FUNCTION "{schema}".refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN '
                             f"IF {refused} THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$")
        conn.exec_driver_sql(f'CREATE TRIGGER refuse BEFORE INSERT ON "{schema}".ivr_cancellations '
                             f'FOR EACH ROW EXECUTE FUNCTION "{schema}".refuse()')


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One app per database for the tests that only touch calls of their own (every test's CallSids are new):
    a store per test would take most of the run."""
    if request.param == "postgresql":
        need_postgres()
    url, schema = ((f"sqlite:///{tmp_path_factory.mktemp('shared') / 'calls.db'}", None)
                   if request.param == "sqlite" else (POSTGRES, f"ivr_test_{uuid.uuid4().hex[:12]}"))
    store = Store(url, schema=schema)
    refuse_cancellations(store, schema)
    yield create_app([ACME], Settings(database_url=url, auth_token=TOKEN), store=store)
    if schema:
        with store.engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    store.close()


@pytest.fixture
def line(shared: Flask) -> Twilio:
    return Twilio(shared.test_client())


def new_sid(prefix: str = "CA") -> str:
    """A new CallSid in Twilio's format (CA and 32 hex digits), starting with `prefix`."""
    return (prefix + uuid.uuid4().hex)[:34]


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Flask]]:
    """Apps with other settings on one SQLite store, for what does not depend on the database: signatures,
    proxies, which flow. (Flows given as objects: loading them again for each app would take most of the run.)"""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('lite') / 'calls.db'}")

    def factory(flows: tuple[str, ...] = ("acme",), **settings: Any) -> Flask:
        settings.setdefault("auth_token", TOKEN)
        return create_app({name: FLOWS[name] for name in flows}, Settings(**settings), store=store)

    yield factory
    store.close()


def snapshot(store: Store, *sids: str) -> tuple[Any, ...]:
    """How many rows each table has (turns, cancellations and effects are only ever inserted) and the calls
    `sids` as stored: a request that must change nothing leaves this equal."""
    calls = metadata.tables["ivr_calls"]
    with store.engine.connect() as conn:
        counts = [conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() for t in metadata.sorted_tables]
        rows = [tuple(r) for r in conn.execute(sa.select(calls).where(calls.c.call_sid.in_(sids)))]
    return counts, sorted(rows, key=repr)


def walk(twilio: Twilio, *answers: str, sid: str | None = None) -> Call:
    """A new call, answered with digits or speech in turn."""
    call = twilio.call(sid=sid)
    for answer in answers:
        call.press(answer) if answer.isdigit() else call.say(answer)
    return call


CONFIRM = ("cancel", "12345678", "cancel")  # to acme's confirm_cancel (after request 3)
OFFER = ("cancel", "12345678")  # to the retention offer (after request 2)


def at_confirm(twilio: Twilio) -> Call:
    return walk(twilio, *CONFIRM)


def transferred(twilio: Twilio) -> Call:
    return walk(twilio, "agent")


def ended(twilio: Twilio) -> Call:
    return walk(twilio, "billing", "no")  # "Thank you for calling Acme. Goodbye."


def completed(twilio: Twilio) -> Call:
    call = twilio.call()
    twilio.post("/voice/acme/status", {"CallSid": call.sid, "CallStatus": "completed"})
    return call


def errors_about(caplog: pytest.LogCaptureFixture, sid: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and sid in r.getMessage()]


# -- 1. only Twilio gets in --------------------------------------------------------------------------------------

FORGERIES: dict[str, Callable[[str, dict[str, str]], dict[str, str]]] = {
    "no signature": lambda url, form: {},
    "empty signature": lambda url, form: {SIG: ""},
    "wrong auth token": lambda url, form: {SIG: sign(url, form, "not-the-auth-token")},
    "signed for another URL": lambda url, form: {SIG: sign(BASE + "/voice/acme/gather?seq=99", form)},
    "signed over another form": lambda url, form: {SIG: sign(url, {**form, "SpeechResult": "no", "X": "1"})},
    # HMAC's constant-time comparison refuses non-ASCII text with a TypeError: once an apology with a 200
    "non-ASCII signature": lambda url, form: {SIG: "\u00e9" + sign(url, form)[1:]},
}
WEBHOOKS: dict[str, Callable[[Call, Call], tuple[str, dict[str, str]]]] = {
    "new call": lambda c, t: ("/voice/acme", {"CallSid": new_sid(), "From": "+15550001111"}),
    "new call, one flow": lambda c, t: ("/voice", {"CallSid": new_sid(), "From": "+15550001111"}),
    "yes at confirm": lambda c, t: (c.action, {"CallSid": c.sid, "SpeechResult": "yes", "Confidence": "0.99"}),
    "1 at confirm": lambda c, t: (c.action, {"CallSid": c.sid, "Digits": "1"}),
    "transfer done": lambda c, t: (t.action, {"CallSid": t.sid, "DialCallStatus": "completed"}),
    "status": lambda c, t: ("/voice/acme/status", {"CallSid": c.sid, "CallStatus": "completed"}),
}


@pytest.fixture(scope="module")
def victims(shared: Flask) -> tuple[Call, Call]:
    """A call at the confirm step and one in a transfer: every forgery test asserts that it changed nothing."""
    return at_confirm(Twilio(shared.test_client())), transferred(Twilio(shared.test_client()))


@pytest.mark.parametrize("forgery", FORGERIES)
@pytest.mark.parametrize("webhook", WEBHOOKS)
def test_a_request_not_signed_by_twilio_is_refused_and_changes_nothing(shared: Flask, line: Twilio,
                                                                        victims: tuple[Call, Call], webhook: str,
                                                                        forgery: str) -> None:
    path, form = WEBHOOKS[webhook](*victims)
    before = snapshot(store_of(shared), *(call.sid for call in victims))
    response = line.client.post(path, data=form, headers=FORGERIES[forgery](BASE + path, form))
    assert response.status_code == 403
    assert snapshot(store_of(shared), *(call.sid for call in victims)) == before


# -- 2. behind a proxy or tunnel, and the settings --------------------------------------------------------------

NGROK = {"public_url": "https://abc.ngrok.app"}
TRUST = {"trusted_proxy_headers": ("x-forwarded-proto", "x-forwarded-host")}
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ivr.example.com"}


@pytest.mark.parametrize(("settings", "headers", "signed_for", "status"), [
    (NGROK, {}, "https://abc.ngrok.app/voice/acme", 200),
    (NGROK, {}, "http://localhost/voice/acme", 403),
    (NGROK, {}, "https://abc.ngrok.app:443/voice/acme", 200),
    (NGROK, {}, "https://abc.ngrok.app:8443/voice/acme", 403),
    (NGROK, {}, "https://abc.ngrok.app/voice", 200),
    (NGROK, FORWARDED, "https://ivr.example.com/voice/acme", 403),  # public_url wins over any header
    ({"public_url": "https://abc.ngrok.app:443"}, {}, "https://abc.ngrok.app/voice/acme", 200),
    ({"public_url": "http://abc.ngrok.app:8080"}, {}, "http://abc.ngrok.app:8080/voice/acme", 200),
    pytest.param({"public_url": "https://abc.ngrok.app/"}, {}, "https://abc.ngrok.app/voice/acme", 200,
                 id="public_url-trailing-slash"),
    (TRUST, FORWARDED, "https://ivr.example.com/voice/acme", 200),
    (TRUST, FORWARDED, "https://ivr.example.com:443/voice/acme", 200),
    (TRUST, FORWARDED, "http://localhost/voice/acme", 403),
    (TRUST, {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ivr.example.com:8443"},
     "https://ivr.example.com:8443/voice/acme", 200),
    ({}, FORWARDED, "https://ivr.example.com/voice/acme", 403),  # the headers are not trusted by default
    ({"trusted_proxy_headers": ("x-forwarded-proto",)}, FORWARDED, "https://ivr.example.com/voice/acme", 403),
    ({"trusted_proxy_headers": ("x-forwarded-proto",)}, FORWARDED, "https://localhost/voice/acme", 200),
    ({}, {}, "http://localhost:80/voice/acme", 200),
    (NGROK, {}, "https://abc.ngrok.app/voice/acme?to=%2Fsales&name=Ren%C3%A9e", 200),  # a query set in the console
    pytest.param({}, {}, "http://localhost/voice/acme?to=%2Fsales&name=Ren%C3%A9e", 200, id="escaped-query"),
])
def test_signatures_are_checked_against_the_url_twilio_called(lite: Callable[..., Flask], settings: dict[str, Any],
                                                               headers: dict[str, str], signed_for: str,
                                                               status: int) -> None:
    app = lite(**settings)
    form = {"CallSid": new_sid(), "From": "+15550001111", "CallStatus": "ringing"}
    parts = urlsplit(signed_for)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    response = app.test_client().post(path, data=form, headers={**headers, SIG: sign(signed_for, form)})
    assert response.status_code == status
    assert (store_of(app).get_call(form["CallSid"]) is not None) == (status == 200)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Settings(auth_token=TOKEN, trusted_proxy_headers=("x-forwarded-server",)),
     r"trusted_proxy_headers: 'x-forwarded-server' is not a proxy header ivr understands; valid choices: "
     r"\['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix'\]"),
    (lambda: Settings(auth_token=TOKEN, trusted_proxy_headers=("X-Forwarded-Proto",)), r"'X-Forwarded-Proto' is not"),
    (lambda: Settings(auth_token=TOKEN, public_url="abc.ngrok.app"),
     r"public_url: 'abc.ngrok.app' must start with https:// \(or http://\)"),
    (lambda: Settings(auth_token=TOKEN, public_url="ftp://abc.ngrok.app"), r"public_url: 'ftp://abc.ngrok.app' must"),
    (lambda: Settings(), r"TWILIO_AUTH_TOKEN is not set, so Twilio's signatures cannot be checked.*"
                         r"IVR_VERIFY_SIGNATURES=0"),
    (lambda: Settings(auth_token="", verify_signatures=True), r"TWILIO_AUTH_TOKEN is not set"),
    (lambda: Settings.from_env({"TWILIO_AUTH_TOKEN": "tok", "IVR_VERIFY_SIGNATURES": "maybe"}),
     r"IVR_VERIFY_SIGNATURES: 'maybe' is not a yes/no value; valid choices: \['1', 'true', 'yes', 'on', '0'"),
    (lambda: Settings.from_env({"TWILIO_AUTH_TOKEN": "t", "IVR_VERIFY_SIGNATURES": "2"}), r"'2' is not a yes/no"),
    (lambda: Settings.from_env({"IVR_VERIFY_SIGNATURES": "1"}), r"TWILIO_AUTH_TOKEN is not set"),
    (lambda: Settings.from_env({"IVR_VERIFY_SIGNATURES": ""}), r"TWILIO_AUTH_TOKEN is not set"),
    (lambda: Settings.from_env({"TWILIO_AUTH_TOKEN": "t", "IVR_TRUSTED_PROXY_HEADERS": "forwarded"}),
     r"'forwarded' is not a proxy header"),
    (lambda: Settings.from_env({"TWILIO_AUTH_TOKEN": "t", "IVR_PUBLIC_URL": "abc.ngrok.app"}),
     r"public_url: 'abc.ngrok.app' must start"),
])
def test_bad_settings_are_refused_with_a_clear_message(make: Callable[[], Settings], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        make()


@pytest.mark.parametrize(("env", "expected"), [
    ({"TWILIO_AUTH_TOKEN": " tok "}, Settings(auth_token="tok")),
    ({"TWILIO_AUTH_TOKEN": "tok", "IVR_PUBLIC_URL": "https://abc.ngrok.app/",
      "IVR_TRUSTED_PROXY_HEADERS": " X-Forwarded-Proto, x-forwarded-host ,", "IVR_VERIFY_SIGNATURES": "YES",
      "IVR_DATABASE_URL": "sqlite:///x.db", "IVR_FLOWS": "a.yaml:flows", "IVR_FALLBACK_NUMBER": "+18005550111"},
     Settings(auth_token="tok", public_url="https://abc.ngrok.app", database_url="sqlite:///x.db",
              trusted_proxy_headers=("x-forwarded-proto", "x-forwarded-host"), flows=("a.yaml", "flows"),
              fallback_number="+18005550111")),
    ({"IVR_VERIFY_SIGNATURES": "off"}, Settings(verify_signatures=False)),
    ({"IVR_VERIFY_SIGNATURES": " 0 ", "TWILIO_AUTH_TOKEN": "tok"}, Settings(auth_token="tok", verify_signatures=False)),
])
def test_settings_from_the_environment(env: dict[str, str], expected: Settings) -> None:
    assert Settings.from_env(env) == expected


# -- 3. validation off, 4. which flow ----------------------------------------------------------------------------

@pytest.mark.parametrize("verify", [False, True])
def test_turning_validation_off_is_logged_loudly_and_reported(lite: Callable[..., Flask],
                                                             caplog: pytest.LogCaptureFixture, verify: bool) -> None:
    with caplog.at_level(logging.WARNING):
        app = lite(verify_signatures=verify)
    loud = [r for r in caplog.records if r.levelno == logging.WARNING and "signature validation is OFF" in r.message]
    assert bool(loud) is not verify
    twilio, sid = Twilio(app.test_client()), new_sid()
    assert twilio.post("/voice/acme", {"CallSid": sid}, signed=False).status_code == (403 if verify else 200)
    if not verify:  # a whole unsigned call is served
        assert twilio.post("/voice/acme/gather?seq=1", {"CallSid": sid, "Digits": "1"}, signed=False).status_code
        assert [t.intent for t in store_of(app).turns(sid)] == ["", "intent 'billing'"]
    assert app.test_client().get("/healthz").json["signatures"] is verify  # type: ignore[index]


@pytest.mark.parametrize(("path", "message"), [
    ("/voice/nope", "no flow named &#39;nope&#39; is served here; served: [&#39;acme&#39;]"),
    ("/voice/nope/gather?seq=1", "no flow named &#39;nope&#39;"),
    ("/voice/nope/dial?seq=1", "no flow named &#39;nope&#39;"),
    ("/voice/nope/status", "no flow named &#39;nope&#39;"),
    ("/voice/acme/nope", "Not Found"),
])
def test_an_unknown_flow_is_not_found(shared: Flask, line: Twilio, path: str, message: str) -> None:
    sid = new_sid()
    response = line.post(path, {"CallSid": sid})
    assert response.status_code == 404
    assert message in response.get_data(as_text=True)
    assert store_of(shared).get_call(sid) is None


@pytest.mark.parametrize(("flows", "status", "text"), [
    (("acme",), 200, 'action="/voice/acme/gather?seq=1"'),
    (("gym",), 200, 'action="/voice/gym/gather?seq=1"'),
    (("acme", "gym"), 404, "call /voice/&lt;flow&gt;, one of [&#39;acme&#39;, &#39;gym&#39;]"),
])
def test_post_voice_serves_the_only_flow_or_lists_them(lite: Callable[..., Flask], flows: tuple[str, ...],
                                                      status: int, text: str) -> None:
    response = Twilio(lite(flows=flows).test_client()).post("/voice", {"CallSid": new_sid()})
    assert response.status_code == status
    assert text in response.get_data(as_text=True)


# -- 5. requests that belong to no call waiting for them ---------------------------------------------------------

@pytest.mark.parametrize(("setup", "action", "expected"), [
    (None, "/voice/acme/gather?seq=1", UNKNOWN),  # a CallSid this app never saw
    (None, "/voice/acme/dial?seq=2", UNKNOWN),
    (ended, "/voice/acme/gather?seq=3", UNKNOWN),  # the caller said goodbye
    (completed, "/voice/acme/gather?seq=1", UNKNOWN),  # Twilio said the call completed
    (Twilio.call, "/voice/acme/gather?seq=2", UNKNOWN),  # skips ahead of seq 1
    (Twilio.call, "/voice/acme/gather?seq=12345678", UNKNOWN),
    (Twilio.call, "/voice/acme/dial?seq=1", UNKNOWN),  # it waits for an answer, not a transfer
    (transferred, "/voice/acme/gather?seq=2", UNKNOWN),  # it waits for a transfer, not an answer
    (Twilio.call, "/voice/acme/gather", BROKEN),
    (Twilio.call, "/voice/acme/gather?seq=", BROKEN),
    (Twilio.call, "/voice/acme/gather?seq=abc", BROKEN),
    (Twilio.call, "/voice/acme/gather?seq=-1", BROKEN),
    (Twilio.call, "/voice/acme/gather?seq=1.0", BROKEN),
    (Twilio.call, "/voice/acme/gather?seq=99999999999999999999", BROKEN),
    pytest.param(Twilio.call, "/voice/acme/gather?seq=%C2%B2", BROKEN, id="superscript-seq"),  # seq=²
    (Twilio.call, "/voice/acme/dial?seq=x", xml(say("Sorry, something went wrong on our side."), HANGUP)),
])
def test_a_request_out_of_turn_gets_an_apology_and_records_nothing(shared: Flask, line: Twilio,
                                                                   caplog: pytest.LogCaptureFixture, setup: Any,
                                                                   action: str, expected: str) -> None:
    sid = setup(line).sid if setup else new_sid()
    before = snapshot(store_of(shared), sid)
    response = line.post(action, {"CallSid": sid, "SpeechResult": "cancel", "DialCallStatus": "completed"})
    assert (response.status_code, response.get_data(as_text=True)) == (200, expected)
    assert snapshot(store_of(shared), sid) == before
    assert errors_about(caplog, sid) == []  # expected from a retrying or forged request: a warning, not an error


# -- 6. odd forms ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/voice/acme", "/voice", "/voice/acme/gather?seq=1", "/voice/acme/dial?seq=1",
                                  "/voice/acme/status"])
@pytest.mark.parametrize("sid", [
    None, "", "   ", "CA" + "a" * 63, "CA\x00abc", "CA\nabc", "CA" + "a" * 31, "CA" + "a" * 33, "CA" + "A" * 32,
    "AC" + "a" * 32, " CA" + "a" * 32, "CA" + "g" * 32,
    # a captured signed request replayed as a new call: the signature covers the parameters joined without
    # separators, so the CallSid stretched over the next parameter's name and value signs the same
    "CA" + "a" * 32 + "From+15550001111",
])
def test_a_request_without_a_usable_call_sid_is_a_bad_request(lite: Callable[..., Flask], path: str,
                                                               sid: str | None) -> None:
    app = lite()  # refused before the store is asked: one database is enough
    before = snapshot(store_of(app))
    response = Twilio(app.test_client()).post(path, {"From": "+15550001111"} if sid is None else {"CallSid": sid})
    assert response.status_code == 400
    assert snapshot(store_of(app)) == before


SIP = "sip:" + "customer.name" * 5 + "@pbx.example-enterprise.sip.us1.twilio.com"  # 111 characters
@pytest.mark.parametrize(("form", "caller", "called"), [
    ({}, "", ""),
    ({"From": "+15550001111"}, "+15550001111", ""),
    ({"To": "+18005550199", "From": "client:alice"}, "client:alice", "+18005550199"),
    ({"From": "", "To": "", "CallStatus": "", "AccountSid": ""}, "", ""),
    pytest.param({"From": SIP}, SIP, "", id="long-sip-from"),
    pytest.param({"To": SIP}, "", SIP, id="long-sip-to"),
])
def test_an_incoming_call_needs_only_its_call_sid(shared: Flask, line: Twilio, form: dict[str, str], caller: str,
                                                  called: str) -> None:
    sid = new_sid()
    call = Call(line, sid)
    call.take(line.post("/voice/acme", {"CallSid": sid, **form}))
    assert 'action="/voice/acme/gather?seq=1"' in call.xml
    stored = store_of(shared).get_call(sid)
    assert stored is not None
    kept = [given.startswith(got) and len(got) >= min(len(given), 64)  # all of it, or a column's worth
            for given, got in ((caller, stored.caller), (called, stored.called))]
    assert (stored.node, kept) == ("main_menu", [True, True])


NOTHING, NO_MATCH, BALANCE = "Sorry, I didn't hear anything.", "Sorry, I didn't get that.", "Your current balance"


@pytest.mark.parametrize(("form", "said", "logged"), [
    *[(form, NOTHING, ("", None, "", "no_input")) for form in (
        {}, {"SpeechResult": "", "Digits": "", "Confidence": ""}, {"SpeechResult": " \t\r\n", "Digits": "  "},
        {"SpeechResult": "\x00\x1b\x7f"})],
    ({"Digits": "12a#*x"}, NO_MATCH, ("", None, "12a#*x", "no_match")),
    ({"Digits": "1 2"}, NO_MATCH, ("", None, "12", "no_match")),
    ({"Digits": "9" * 5000}, NO_MATCH, ("", None, "9" * 64, "no_match")),
    pytest.param({"Digits": "1\x002"}, NO_MATCH, ("", None, "12", "no_match"), id="nul-in-digits"),
    ({"SpeechResult": "x" * 50_000}, NO_MATCH, ("x" * 1000, None, "", "no_match")),  # under the 64 KiB limit
    ({"SpeechResult": "hel\x00lo\x1b", "Confidence": "0.5"}, NO_MATCH, ("hel lo", 0.5, "", "no_match")),
    *[({"SpeechResult": "billing", "Confidence": c}, BALANCE, ("billing", None, "", "intent 'billing'"))
      for c in ("abc", "NaN", "-1", "inf", "1.5", "", "0x1")],
    ({"SpeechResult": "billing", "Confidence": "1"}, BALANCE, ("billing", 1.0, "", "intent 'billing'")),
])
def test_odd_answers_are_judged_and_logged_never_a_500(shared: Flask, line: Twilio, form: dict[str, str], said: str,
                                                       logged: tuple[Any, ...]) -> None:
    call = line.call()
    call.answer(**form)
    assert call.said.startswith(said)
    turn = store_of(shared).turns(call.sid)[-1]
    assert (turn.seq, turn.heard, turn.confidence, turn.digits, turn.intent) == (1, *logged)


@pytest.mark.parametrize(("body", "decoded", "status"), [
    # Werkzeug keeps a %-escape that is not UTF-8 as literal text; Twilio signs the form it sent, so the test signs
    # the form as Flask decodes it (the only form a valid signature can cover)
    (b"SpeechResult=%FF%FEbilling", {"SpeechResult": "%FF%FEbilling"}, 200),
    (b"SpeechResult=caf%E9", {"SpeechResult": "caf%E9"}, 200),
    # raw bytes that are not UTF-8: Werkzeug drops the whole form, so the CallSid is missing
    (b"SpeechResult=\xff\xfe", None, 400),
])
def test_a_form_that_is_not_utf8_is_handled(shared: Flask, line: Twilio, body: bytes,
                                            decoded: dict[str, str] | None, status: int) -> None:
    call = line.call()
    signed = {"CallSid": call.sid, **decoded} if decoded is not None else {}
    response = line.client.post(call.action, data=f"CallSid={call.sid}&".encode() + body,
                                content_type="application/x-www-form-urlencoded",
                                headers={SIG: sign(BASE + call.action, signed)})
    assert response.status_code == status
    heard = [t.heard for t in store_of(shared).turns(call.sid)[1:]]
    assert heard == ([decoded["SpeechResult"]] if decoded else [])


def test_a_request_over_64_kib_is_too_large_and_changes_nothing(shared: Flask, line: Twilio) -> None:
    call = line.call()
    before = snapshot(store_of(shared), call.sid)
    response = line.post(call.action, {"CallSid": call.sid, "SpeechResult": "x" * (64 * 1024)})
    assert response.status_code == 413
    assert snapshot(store_of(shared), call.sid) == before


# -- 7. audio ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "status"), [
    ("/audio/acme/acme-welcome.wav", 200),
    ("/audio/acme/../flows/acme.yaml", 404),
    ("/audio/acme/%2e%2e/flows/acme.yaml", 404),
    ("/audio/acme/%2e%2e%2fflows%2facme.yaml", 404),
    ("/audio/acme/..%5cflows%5cacme.yaml", 404),
    ("/audio/acme/../../../../../../etc/passwd", 404),
    ("/audio/acme//etc/passwd", 404),  # redirected to /audio/acme/etc/passwd first
    ("/audio/acme/%2Fetc%2Fpasswd", 404),
    (f"/audio/acme/{ROOT / 'audio' / 'acme-welcome.wav'}", 404),
    ("/audio/nope/acme-welcome.wav", 404),
    ("/audio/acme/nope.wav", 404),
])
def test_audio_is_served_from_the_flows_audio_directory_only(shared: Flask, path: str, status: int) -> None:
    response = shared.test_client().get(path, follow_redirects=True)
    body = response.get_data()
    response.close()
    assert response.status_code == status
    assert body.startswith(b"RIFF") == (status == 200)
    assert b"name: acme" not in body
    assert b"root:" not in body


# -- 8. transfers, 9. status callbacks ---------------------------------------------------------------------------

@pytest.mark.parametrize(("dial_status", "expected"), [
    ("completed", xml(HANGUP)), ("answered", xml(HANGUP)), ("no-answer", NO_AGENT), ("busy", NO_AGENT),
    ("failed", NO_AGENT), ("canceled", NO_AGENT), ("", NO_AGENT),
])
def test_a_transfer_and_how_it_ended(shared: Flask, line: Twilio, dial_status: str, expected: str) -> None:
    call = transferred(line)
    assert call.xml == xml(say("Please hold while I connect you with an agent."),
                           f'<Dial action="/voice/acme/dial?seq=2" method="POST"><Number>{AGENT}</Number></Dial>')
    action = call.action
    assert call.answer(DialCallStatus=dial_status).get_data(as_text=True) == expected
    other = "busy" if expected == xml(HANGUP) else "completed"  # a retry is answered as before, whatever it says
    assert line.post(action, {"CallSid": call.sid, "DialCallStatus": other}).get_data(as_text=True) == expected
    stored = store_of(shared).get_call(call.sid)
    assert stored is not None
    assert (stored.ended, stored.outcome, stored.seq) == (True, "transferred", 2)
    assert [(t.kind, t.heard) for t in store_of(shared).turns(call.sid)][2:] == [
        ("dial", f"DialCallStatus={dial_status}")]


@pytest.mark.parametrize(("call_status", "ended_"), [
    ("completed", True), ("busy", True), ("no-answer", True), ("failed", True), ("canceled", True),
    ("in-progress", False), ("ringing", False),
])
def test_a_status_callback_updates_the_call(shared: Flask, line: Twilio, call_status: str, ended_: bool) -> None:
    call = line.call()
    response = line.post("/voice/acme/status", {"CallSid": call.sid, "CallStatus": call_status})
    assert (response.status_code, response.get_data()) == (204, b"")
    stored = store_of(shared).get_call(call.sid)
    assert stored is not None
    assert (stored.status, stored.ended) == (call_status, ended_)
    assert (call.press("1").get_data(as_text=True) == UNKNOWN) is ended_


def test_a_status_callback_for_an_unknown_call_creates_nothing(shared: Flask, line: Twilio,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    sid = new_sid()
    before = snapshot(store_of(shared), sid)
    response = line.post("/voice/acme/status", {"CallSid": sid, "CallStatus": "completed"})
    assert (response.status_code, snapshot(store_of(shared), sid)) == (204, before)
    assert [r for r in caplog.records if r.levelno == logging.WARNING and sid in r.getMessage()]


# -- 10. the store fails, 11. something else fails, 12. effects without a handler --------------------------------

@pytest.mark.parametrize("answer", [{"SpeechResult": "yes"}, {"Digits": "1"}, {"SpeechResult": "cancel"}])
def test_a_cancellation_that_cannot_be_written_is_never_confirmed(shared: Flask, line: Twilio,
                                                                  caplog: pytest.LogCaptureFixture,
                                                                  answer: dict[str, str]) -> None:
    call = walk(line, *CONFIRM, sid=new_sid("CAdeadbe"))  # the database refuses this call's cancellation
    call.answer(**answer)
    assert call.xml == BROKEN
    assert store_of(shared).cancellations(call_sid=call.sid) == []
    stored = store_of(shared).get_call(call.sid)
    assert stored is not None
    assert (stored.node, stored.seq, stored.outcome) == ("confirm_cancel", 3, None)
    assert errors_about(caplog, call.sid)


def test_a_store_that_is_down_transfers_callers_and_fails_its_health_check(app: Flask, twilio: Twilio,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    """The app stays up: /healthz says `degraded` (200: restarting it would not help), /readyz 503 (send calls
    elsewhere), callers hear the apology and a transfer, and each apology waits in the spool for the store."""
    health = app.test_client().get("/healthz")
    assert (health.status_code, health.json) == (200, {"status": "ok", "ok": True, "flows": ["acme"], "store": "ok",
                                                       "signatures": True, "spooled_apologies": 0})
    assert app.test_client().get("/readyz").status_code == 200
    metadata.drop_all(store_of(app).engine)
    call = twilio.call()
    assert call.xml == BROKEN
    assert errors_about(caplog, call.sid)
    health = app.test_client().get("/healthz")
    assert health.status_code == 200
    assert health.json is not None
    assert (health.json["status"], health.json["ok"], health.json["flows"], health.json["signatures"],
            health.json["spooled_apologies"]) == ("degraded", False, ["acme"], True, 1)
    assert "ivr_calls" in health.json["store"]
    assert app.test_client().get("/readyz").status_code == 503


def test_an_unreachable_store_fails_the_health_check(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    file = tmp_path / "gone" / "calls.db"
    file.parent.mkdir()
    app = make_app(f"sqlite:///{file}", spool_dir=str(tmp_path / "spool"))
    shutil.rmtree(file.parent)  # SQLite cannot even create a new database file there
    store_of(app).engine.dispose()
    health = app.test_client().get("/readyz")
    assert (health.status_code, health.json) == (503, {
        "status": "degraded", "ok": False, "flows": ["acme"], "signatures": True, "spooled_apologies": 0,
        "store": f"call store at 'sqlite:///{file}' failed: unable to open database file"})
    sid = new_sid()
    call = Twilio(app.test_client()).call(sid=sid)
    assert call.xml == BROKEN
    assert errors_about(caplog, sid)
    assert app.test_client().get("/healthz").json["spooled_apologies"] == 1  # type: ignore[index]
    store_of(app).close()


def fail(ctx: EffectCall) -> EffectResult:
    raise RuntimeError("the billing system is down")


def refuse(ctx: EffectCall) -> EffectResult:
    return EffectResult(ok=False, error="no discount for this account")


def half_done(ctx: EffectCall) -> EffectResult:
    """Writes in the request's transaction (as handlers may), then fails in the database."""
    ctx.tx.record_effect(seq=ctx.seq, node=ctx.effect.node, name="discount_started", args={})
    ctx.tx.conn.exec_driver_sql("SELECT * FROM no_such_table")
    return EffectResult()


@pytest.mark.parametrize(("handler", "logged"), [
    (fail, True), (refuse, False),
    pytest.param(half_done, True, id="half_done"),
])
@pytest.mark.parametrize("accept", [{"SpeechResult": "accept"}, {"Digits": "1"}])
def test_a_failing_effect_takes_the_flows_on_error_route(shared: Flask, caplog: pytest.LogCaptureFixture,
                                                         handler: Any, logged: bool, accept: dict[str, str]) -> None:
    store = store_of(shared)
    app = create_app({"acme": FLOWS["acme"]}, Settings(auth_token=TOKEN), effects={"apply_discount": handler},
                     store=store)
    call = walk(Twilio(app.test_client()), *OFFER)
    call.answer(**accept)
    assert call.xml == xml(say("Please hold while I connect you with an agent."),
                           f'<Dial action="/voice/acme/dial?seq=4" method="POST"><Number>{AGENT}</Number></Dial>')
    failures = [m for m in errors_about(caplog, call.sid) if "'apply_discount' at 'offer_accepted' failed" in m]
    assert bool(failures) is logged
    assert store.effects(call.sid) == []
    assert store.turns(call.sid)[-1].next_node == "agent_transfer"


@pytest.mark.parametrize(("state", "webhook", "expected"), [
    ("{not json", "gather", BROKEN), ("{not json", "incoming", BROKEN), ("{not json", "dial", BROKEN),
    ("[]", "gather", BROKEN), ('"main_menu"', "dial", BROKEN),
    ('{"node": "nowhere", "waiting": "input"}', "gather", BROKEN),
    ('{"node": "main_menu", "waiting": "input", "extra": 1}', "gather", BROKEN),
    ('{"node": "main_menu", "waiting": "input", "turn": "x"}', "gather", BROKEN),
    ("[]", "incoming", "the first answer"),  # a retried incoming call is answered as before, whatever the state
])
def test_a_corrupt_call_state_gets_an_apology_and_a_transfer(shared: Flask, line: Twilio,
                                                             caplog: pytest.LogCaptureFixture, state: str,
                                                             webhook: str, expected: str) -> None:
    call = line.call()
    calls = metadata.tables["ivr_calls"]
    with store_of(shared).engine.begin() as conn:
        conn.execute(sa.update(calls).where(calls.c.call_sid == call.sid).values(state=state))
    path = {"gather": call.action, "incoming": "/voice/acme", "dial": "/voice/acme/dial?seq=1"}[webhook]
    response = line.post(path, {"CallSid": call.sid, "Digits": "1"})
    assert response.status_code == 200
    assert response.get_data(as_text=True) == (expected if expected == BROKEN else call.xml)
    assert bool(errors_about(caplog, call.sid)) is (expected == BROKEN)


@pytest.mark.parametrize("accept", [{"SpeechResult": "accept the offer"}, {"Digits": "1"}])
def test_an_effect_without_a_handler_is_recorded_for_the_back_office(shared: Flask, line: Twilio,
                                                                     accept: dict[str, str]) -> None:
    call = walk(line, *OFFER)
    action = call.action
    call.answer(**accept)
    assert call.xml == xml(say("Great, the discount is applied to your next bill. Thank you for staying with Acme. "
                               "Goodbye."), HANGUP)
    assert line.post(action, {"CallSid": call.sid, **accept}).get_data(as_text=True) == call.xml  # a retry
    assert store_of(shared).effects(call.sid) == [("offer_accepted", "apply_discount", {"account": "12345678"})]
    stored = store_of(shared).get_call(call.sid)
    assert stored is not None
    assert (stored.outcome, stored.ended) == ("kept", True)
