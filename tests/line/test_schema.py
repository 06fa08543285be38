"""The store's schema upgrades: a store made by the previous release (revision 0001, no version table), with calls
and cancellations in it, is refused by the app until `ivr db upgrade` migrates it, losing nothing; the migrations
give exactly the tables schema.py declares; a store from a newer ivr is refused, never downgraded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner

from ivr.cli import main
from ivr.errors import IvrError
from ivr.line import schema
from ivr.line.app import create_app
from ivr.line.schema import HEAD, SchemaMismatch
from ivr.line.settings import Settings
from ivr.line.store import Store
from tests.conftest import ACME, TOKEN, Twilio

AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def previous_release(url: str, schema_name: str | None) -> None:
    """The store as ivr made it before migrations: revision 0001's tables, no version table, and two calls in
    it, one cancelled (with a caller number and an account as the old columns held them)."""
    store = Store(url, schema=schema_name)
    engine = store.engine
    with engine.begin() as conn:
        if schema_name:
            conn.execute(sa.schema.CreateSchema(schema_name))
        command.upgrade(schema.alembic_config(conn, schema_name), "0001")
        conn.execute(sa.text("DROP TABLE alembic_version") if not schema_name else
                     sa.text(f'DROP TABLE "{schema_name}".alembic_version'))
        calls, turns, cancellations, effects = (sa.table(name, *(sa.column(c) for c in columns),
                                                          schema=schema_name) for name, columns in [
            ("ivr_calls", ["call_sid", "flow", "account_sid", "caller", "called", "started_at", "updated_at", "seq",
                           "state", "node", "said", "turns", "outcome", "ended", "status"]),
            ("ivr_turns", ["call_sid", "seq", "at", "kind", "node", "prompt", "heard", "confidence", "digits",
                           "intent", "next_node", "said", "turns", "outcome", "twiml"]),
            ("ivr_cancellations", ["confirmation", "call_sid", "node", "flow", "caller", "account", "account_sid",
                                   "created_at"]),
            ("ivr_effects", ["call_sid", "seq", "node", "name", "args", "created_at"])])
        for sid, outcome in (("CA" + "1" * 32, "cancelled"), ("CA" + "2" * 32, None)):
            conn.execute(calls.insert().values(
                call_sid=sid, flow="acme", account_sid="AC" + "0" * 32, caller="+15550001111", called="+18005550199",
                started_at=AT, updated_at=AT, seq=1, state='{"node": "main_menu"}', node="main_menu", said="Hi.",
                turns=1, outcome=outcome, ended=outcome is not None, status="completed"))
            for seq in (0, 1):
                conn.execute(turns.insert().values(
                    call_sid=sid, seq=seq, at=AT, kind="start" if seq == 0 else "gather", node="main_menu",
                    prompt="", heard="cancel" if seq else "", confidence=0.9 if seq else None, digits="",
                    intent="intent 'cancel'" if seq else "", next_node="main_menu", said="Hi.", turns=seq,
                    outcome=None, twiml="<Response/>"))
        conn.execute(cancellations.insert().values(
            confirmation="12345678", call_sid="CA" + "1" * 32, node="do_cancel", flow="acme", caller="+15550001111",
            account="87654321", account_sid="AC" + "0" * 32, created_at=AT))
        conn.execute(effects.insert().values(call_sid="CA" + "2" * 32, seq=1, node="send_sms", name="send_sms",
                                             args='{"to": "+15550001111"}', created_at=AT))
    store.close()


def open_store(url: str, schema_name: str | None) -> None:
    store = Store(url, schema=schema_name)
    try:
        store.open()
    finally:
        store.close()


def upgrade(url: str, schema_name: str | None) -> tuple[str | None, str]:
    store = Store(url, schema=schema_name)
    try:
        return store.upgrade()
    finally:
        store.close()


def columns(url: str, schema_name: str | None) -> dict[str, dict[str, tuple[str, bool]]]:
    """Each ivr table's columns: (type family, nullable); and its unique indexes and constraints, by columns.
    SQLite enforces no length on text, so 0002 leaves its columns as they were: text is text there."""
    engine = Store(url).engine
    found: dict[str, dict[str, tuple[str, bool]]] = {}
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        for table in sorted(t for t in inspector.get_table_names(schema=schema_name) if t.startswith("ivr_")):
            text = "TEXT" if url.startswith("sqlite") else "STRING"
            found[table] = {c["name"]: (type(c["type"]).__name__.upper().replace("VARCHAR", text), c["nullable"])
                            for c in inspector.get_columns(table, schema=schema_name)}
            found[table]["unique"] = tuple(sorted(  # type: ignore[assignment]
                ",".join(i["column_names"]) for i in [*inspector.get_indexes(table, schema=schema_name),
                                                      *inspector.get_unique_constraints(table, schema=schema_name)]
                if i.get("unique", True)))
    engine.dispose()
    return found


def test_a_store_of_the_previous_release_is_upgraded_losing_nothing(store_url: tuple[str, str | None]) -> None:
    url, name = store_url  # an empty database (conftest)
    previous_release(url, name)
    with pytest.raises(SchemaMismatch, match=r"schema revision 0001, older than the 0002 this ivr serves: upgrade "
                                             r"it first with `ivr db upgrade --database "):
        open_store(url, name)
    if name is None:  # the app refuses to start on it, with the command that fixes it
        with pytest.raises(IvrError, match="ivr db upgrade"):
            create_app([ACME], Settings(database_url=url, auth_token=TOKEN))
        runner = CliRunner()
        result = runner.invoke(main, ["db", "upgrade", "--database", url])
        assert result.output.endswith("upgraded from schema revision 0001 to 0002\n"), result.output
        assert runner.invoke(main, ["db", "upgrade", "--database", url]).output.endswith(
            "already at schema revision 0002; nothing to do\n")
    else:
        assert upgrade(url, name) == ("0001", HEAD)
    store = Store(url, schema=name)
    [cancelled, other] = sorted(store.calls(), key=lambda c: c.call_sid)
    assert (cancelled.outcome, cancelled.turns, cancelled.state, other.outcome) == (
        "cancelled", 1, {"node": "main_menu"}, None)
    assert [(t.seq, t.heard, t.intent) for t in store.turns(cancelled.call_sid)] == [
        (0, "", ""), (1, "cancel", "intent 'cancel'")]
    [record] = store.cancellations()
    assert (record.confirmation, record.caller, record.account, record.created_at) == (
        "12345678", "+15550001111", "87654321", AT)
    assert store.effects(other.call_sid) == [("send_sms", "send_sms", {"to": "+15550001111"})]
    # and the upgraded store serves calls, keeping what no column of 0001 could hold
    long_account = "9" * 300

    def cancel(tx):  # type: ignore[no-untyped-def]
        tx.create_call(flow="acme", account_sid="", caller="", called="", status="ringing")
        return tx.record_cancellation(flow="acme", node="do_cancel", caller="", account=long_account,
                                      account_sid="")

    store.locked("CA" + "3" * 32, cancel)
    assert store.cancellations(call_sid="CA" + "3" * 32)[0].account == long_account
    store.close()


def test_the_migrations_give_exactly_the_tables_schema_py_declares(store_url: tuple[str, str | None],
                                                                   tmp_path: Path) -> None:
    url, name = store_url  # an empty database (conftest)
    previous_release(url, name)
    upgrade(url, name)
    upgraded = columns(url, name)
    if name is None:
        fresh_url = f"sqlite:///{tmp_path}/fresh.db"
        open_store(fresh_url, None)
        fresh = columns(fresh_url, None)
    else:
        open_store(url, name + "_fresh")
        fresh = columns(url, name + "_fresh")
        engine = Store(url).engine
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{name}_fresh" CASCADE')
        engine.dispose()
    assert upgraded == fresh


def test_an_empty_database_gets_the_newest_schema_and_an_unknown_revision_is_refused(
        store_url: tuple[str, str | None]) -> None:
    url, name = store_url  # an empty database (conftest)
    store = Store(url, schema=name)
    assert store.revision() is None
    store.open()
    store.close()
    assert store.revision() == HEAD
    with store.engine.begin() as conn:
        version = f'"{name}".alembic_version' if name else "alembic_version"
        conn.exec_driver_sql(f"UPDATE {version} SET version_num = '9999'")
    store.close()
    with pytest.raises(SchemaMismatch, match=r"schema revision '9999', which this ivr does not know \(it serves "
                                             r"0002\): it was made by a newer ivr"):
        open_store(url, name)
    with pytest.raises(SchemaMismatch, match="made by a newer ivr"):
        upgrade(url, name)


def test_ivr_db_current_says_where_a_store_is(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/calls.db"
    runner = CliRunner()
    assert "empty" in runner.invoke(main, ["db", "current", "--database", url]).output
    previous_release(url, None)
    result = runner.invoke(main, ["db", "current", "--database", url])
    assert (result.exit_code, "schema revision 0001 (" in result.output) == (1, True)
    runner.invoke(main, ["db", "upgrade", "--database", url])
    assert runner.invoke(main, ["db", "current", "--database", url]).output.endswith(
        "schema revision 0002, the one this ivr serves\n")


def test_migrations_and_schema_agree_on_the_newest_revision() -> None:
    from alembic.script import ScriptDirectory

    config = schema.alembic_config(None, None)
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD


def test_an_app_on_an_upgraded_store_answers_calls(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/calls.db"
    previous_release(url, None)
    upgrade(url, None)
    app = create_app([ACME], Settings(database_url=url, auth_token=TOKEN))
    call = Twilio(app.test_client()).call()
    assert "main_menu" in call.responses[-1].headers["X-Ivr-Node"]
    app.extensions["ivr"].store.close()
