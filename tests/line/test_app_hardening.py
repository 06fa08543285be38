"""The app against hostile requests and bad days (issue 12): only the configured Twilio account gets in, status
callbacks never move a call back, the audio route serves only the flow's own `play` files and never through a
link, a flow the checker rejects is not served, a request never waits unbounded for the store's lock, and the
apologies said while the store was down reach its call log when it returns."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from ivr.cli import main
from ivr.errors import UsageError
from ivr.line.app import create_app
from ivr.line.schema import metadata
from ivr.line.settings import Settings
from ivr.line.store import Store
from tests.conftest import ACME, ROOT, TOKEN, Twilio, make_app
from tests.line.test_app_input import BROKEN, new_sid

ACCOUNT = "AC" + "0" * 32
RETENTION_LOOP = ROOT / "tests" / "flows" / "retention-loop-2014.yaml"


def store_of(app: Flask) -> Store:
    return app.extensions["ivr"].store  # type: ignore[no-any-return]


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Flask:
    return make_app(f"sqlite:///{tmp_path / 'calls.db'}", spool_dir=str(tmp_path / "spool"))


# -- the account ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("configured", "sent", "status"), [
    ("", ACCOUNT, 200), ("", None, 200), ("", "", 200),
    ("", "AC" + "0" * 31, 403), ("", "ACnot-an-account", 403), ("", "AC" + "0" * 32 + "x", 403),
    (ACCOUNT, ACCOUNT, 200), (ACCOUNT, "AC" + "1" * 32, 403), (ACCOUNT, None, 403), (ACCOUNT, "", 403),
])
def test_only_the_configured_twilio_account_gets_in(tmp_path: Path, configured: str, sent: str | None,
                                                    status: int) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'calls.db'}", account_sid=configured)
    form = {"CallSid": new_sid(), "From": "+15550001111", **({"AccountSid": sent} if sent is not None else {})}
    response = Twilio(app.test_client()).post("/voice/acme", form)
    assert response.status_code == status
    assert (store_of(app).get_call(form["CallSid"]) is not None) == (status == 200)


@pytest.mark.parametrize("account", ["AC123", "ac" + "0" * 32, "AC" + "G" * 32])
def test_a_configured_account_sid_must_be_one(account: str) -> None:
    with pytest.raises(UsageError, match=f"account_sid: {account!r} is not a Twilio account SID"):
        Settings(auth_token=TOKEN, account_sid=account)


# -- status callbacks -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("statuses", "final"), [
    (["ringing", "in-progress", "completed"], ("completed", True)),
    (["in-progress", "completed", "in-progress"], ("completed", True)),  # an old callback replayed
    (["in-progress", "completed", "ringing"], ("completed", True)),
    (["completed", "failed"], ("completed", True)),  # a final status stays
    (["in-progress", "ringing"], ("in-progress", False)),
    (["ringing", "ringing", "in-progress"], ("in-progress", False)),
    (["busy"], ("busy", True)),
])
def test_a_status_callback_never_moves_a_call_back(sqlite_app: Flask, statuses: list[str],
                                                   final: tuple[str, bool]) -> None:
    twilio = Twilio(sqlite_app.test_client())
    call = twilio.call()
    for status in statuses:
        assert twilio.post("/voice/acme/status", {"CallSid": call.sid, "CallStatus": status}).status_code == 204
    stored = store_of(sqlite_app).get_call(call.sid)
    assert stored is not None
    assert (stored.status, stored.ended) == final


# -- the audio route ------------------------------------------------------------------------------------------

@pytest.fixture
def audio_app(tmp_path: Path) -> Flask:
    """acme served from a copy, with its audio/ holding what a project's audio/ holds besides `play` files."""
    (tmp_path / "flows").mkdir()
    shutil.copy(ACME, tmp_path / "flows" / "acme.yaml")
    audio = tmp_path / "audio"
    audio.mkdir()
    shutil.copy(ROOT / "audio" / "acme-welcome.wav", audio / "acme-welcome.wav")
    (audio / "README.md").write_text("how the recordings were made\n")
    (audio / "make.sh").write_text("#!/bin/sh\n")
    (audio / "other.wav").write_bytes((audio / "acme-welcome.wav").read_bytes())
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"RIFF secret")
    return create_app([tmp_path / "flows" / "acme.yaml"],
                      Settings(database_url=f"sqlite:///{tmp_path / 'calls.db'}", auth_token=TOKEN))


@pytest.mark.parametrize(("name", "status"), [
    ("acme-welcome.wav", 200),
    ("README.md", 404),  # in audio/, but not audio
    ("make.sh", 404),
    ("other.wav", 404),  # audio, but no prompt of the flow plays it
])
def test_the_audio_route_serves_only_the_flows_play_files(audio_app: Flask, name: str, status: int) -> None:
    with audio_app.test_client().get(f"/audio/acme/{name}") as response:
        assert response.status_code == status


def test_the_audio_route_never_follows_a_link_to_a_file(audio_app: Flask, tmp_path: Path) -> None:
    """A `play` file that is a symbolic link is not served, wherever it points."""
    welcome = tmp_path / "audio" / "acme-welcome.wav"
    welcome.unlink()
    welcome.symlink_to(tmp_path / "secret.wav")
    assert audio_app.test_client().get("/audio/acme/acme-welcome.wav").status_code == 404


def test_the_audio_route_never_follows_a_link_to_a_directory(tmp_path: Path) -> None:
    """Nor one under a directory of audio/ that became a link."""
    (tmp_path / "flows").mkdir()
    flow = tmp_path / "flows" / "acme.yaml"
    flow.write_text(ACME.read_text().replace("play: acme-welcome.wav", "play: clips/acme-welcome.wav"))
    clips = tmp_path / "audio" / "clips"
    clips.mkdir(parents=True)
    shutil.copy(ROOT / "audio" / "acme-welcome.wav", clips / "acme-welcome.wav")
    app = create_app([flow], Settings(database_url=f"sqlite:///{tmp_path / 'calls.db'}", auth_token=TOKEN))
    with app.test_client().get("/audio/acme/clips/acme-welcome.wav") as response:
        assert response.status_code == 200
    shutil.move(clips, tmp_path / "elsewhere")
    clips.symlink_to(tmp_path / "elsewhere")
    assert app.test_client().get("/audio/acme/clips/acme-welcome.wav").status_code == 404


# -- flows the checker rejects ----------------------------------------------------------------------------------

def test_a_flow_the_checker_rejects_is_not_served(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'calls.db'}", auth_token=TOKEN)
    with pytest.raises(UsageError, match=r"retention-loop-2014\.yaml:\d+: refusing to serve flow '[^']+': `ivr "
                                         r"check` rejects it: cancel-not-guaranteed: "):
        create_app([RETENTION_LOOP], settings)
    app = create_app([RETENTION_LOOP], Settings(database_url=settings.database_url, auth_token=TOKEN,
                                                serve_failing=True))
    [name] = app.extensions["ivr"].lines
    assert Twilio(app.test_client()).call(name).xml.startswith("<?xml")


# -- the store's lock -----------------------------------------------------------------------------------------

def test_a_request_waits_for_the_stores_lock_only_so_long(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Another worker holds the store's lock and never lets go: this request gives up after the lock timeout and
    the caller hears the apology and a transfer, instead of waiting with every other call behind it."""
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    app = create_app([ACME], Settings(database_url=url, auth_token=TOKEN, spool_dir=str(tmp_path / "spool")),
                     store=Store(url, lock_timeout=0.2))
    holder = Store(url)  # another process's lock on the same file
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder._serial:
            held.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    try:
        call = Twilio(app.test_client()).call()
        assert call.xml == BROKEN
        assert any("stayed busy for 0.2 s" in r.getMessage() for r in caplog.records)
    finally:
        release.set()
        thread.join()
    assert Twilio(app.test_client()).call().xml != BROKEN  # and the next call, once it is free, is served


# -- apologies said while the store was down ------------------------------------------------------------------

def test_apologies_said_while_the_store_was_down_reach_its_call_log(sqlite_app: Flask, tmp_path: Path) -> None:
    twilio = Twilio(sqlite_app.test_client())
    store = store_of(sqlite_app)
    metadata.drop_all(store.engine)  # the store is down for this app: every write fails
    lost = [twilio.call() for _ in range(2)]
    assert [c.xml for c in lost] == [BROKEN, BROKEN]
    assert sqlite_app.test_client().get("/healthz").json["spooled_apologies"] == 2  # type: ignore[index]
    assert sorted(p.suffix for p in (tmp_path / "spool").iterdir()) == [".jsonl"]
    metadata.create_all(store.engine)  # the store is back
    served = twilio.call()
    assert served.xml != BROKEN
    kept = store.apologies()
    assert sorted(a.call_sid for a in kept) == sorted(c.sid for c in lost)
    assert all("Sorry, something went wrong on our side." in a.said and a.seq == 0 and not a.committed
               for a in kept)
    assert list((tmp_path / "spool").iterdir()) == []
    assert sqlite_app.test_client().get("/healthz").json["spooled_apologies"] == 0  # type: ignore[index]
    # `ivr calls show` says what the caller heard, though the call itself never reached the store
    shown = CliRunner().invoke(main, ["calls", "show", lost[0].sid, "--database", store.given])
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[:2] == [f"call {lost[0].sid} (never stored: the store was down)",
                                             "apologies (the app could not carry on):"]
    assert "request 0: call store write failed" in shown.output


def test_an_apology_said_while_the_store_answers_is_logged_at_once(sqlite_app: Flask) -> None:
    """The store works but the request fails (here: a call state that cannot be read): the apology is in the log
    at once, with why."""
    twilio = Twilio(sqlite_app.test_client())
    call = twilio.call()
    with store_of(sqlite_app).engine.begin() as conn:
        conn.execute(metadata.tables["ivr_calls"].update().values(state="{not json"))
    call.press("1")
    [apology] = store_of(sqlite_app).apologies(call.sid)
    assert (apology.seq, "JSONDecodeError" in apology.reason or "Expecting" in apology.reason) == (1, True)


def test_a_spool_line_cut_short_by_a_crash_is_skipped(sqlite_app: Flask, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / f"{os.getpid() + 1}.jsonl").write_text('{"key": "k1", "call_sid": "CA1", "seq": 0, "at": '
                                                    '"2025-01-01T00:00:00+00:00"}\n{"key": "k2", "call_')
    Twilio(sqlite_app.test_client()).call()
    assert [a.key for a in store_of(sqlite_app).apologies()] == ["k1"]


# -- flows that would make a request work without end ---------------------------------------------------------

LOOPS = {
    # `next: do_cancel` on the do_cancel action: an effect run again and again, never waiting for the caller
    "effect-loop": ("    next: cancelled_goodbye\n    on_error: cancel_failed",
                    "    next: do_cancel\n    on_error: cancel_failed"),
}


@pytest.mark.parametrize("finding", sorted(LOOPS))
def test_a_flow_that_loops_is_refused_and_served_anyway_never_hangs(tmp_path: Path, finding: str) -> None:
    """Refused by default (the check names the loop); served anyway during development, the request does a
    bounded amount of work: the caller hears the engine's apology, the store's lock is let go, the next call
    is served."""
    old, new = LOOPS[finding]
    (tmp_path / "flows").mkdir()
    flow = tmp_path / "flows" / "acme.yaml"
    text = ACME.read_text()
    assert old in text
    flow.write_text(text.replace(old, new))
    (tmp_path / "audio").mkdir()
    shutil.copy(ROOT / "audio" / "acme-welcome.wav", tmp_path / "audio")
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    with pytest.raises(UsageError, match=f"refusing to serve flow 'acme': `ivr check` rejects it: .*{finding}"):
        create_app([flow], Settings(database_url=url, auth_token=TOKEN))
    app = create_app([flow], Settings(database_url=url, auth_token=TOKEN, serve_failing=True))
    twilio = Twilio(app.test_client())
    call = twilio.call()
    for answer in ("cancel", "12345678", "cancel"):
        call.press(answer) if answer.isdigit() else call.say(answer)
    call.say("yes")
    assert "Sorry, something went wrong. Goodbye." in call.said
    assert call.responses[-1].headers.get("X-Ivr-Outcome") == "error"
    assert len(store_of(app).cancellations()) <= 1  # the same record each time round, never a second
    assert twilio.call().xml != BROKEN
