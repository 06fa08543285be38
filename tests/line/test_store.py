"""The call store on SQLite and PostgreSQL: records round-trip, one cancellation per call and node, unique
confirmation numbers, retry of a lost race, clear errors for a store that cannot be opened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ivr.errors import StoreError
from ivr.line.records import Turn
from ivr.line.store import Store, Transaction, normalise_url


def new_call(tx: Transaction, caller: str = "+15550001111") -> None:
    tx.create_call(flow="acme", account_sid="AC1", caller=caller, called="+18005550199", status="ringing")
    tx.save(Turn(seq=0, kind="start", next_node="main_menu", said="Hello.", twiml="<Response/>"),
            {"node": "main_menu", "turn": 0, "waiting": "input"}, outcome=None, ended=False)


def test_a_call_its_turns_and_its_cancellation_round_trip(store: Store) -> None:
    def work(tx: Transaction) -> str:
        new_call(tx)
        tx.save(Turn(seq=1, kind="gather", node="main_menu", prompt="Hello.", heard="cancel", confidence=0.5,
                     intent="intent 'cancel'", next_node="done", said="Cancelled.", twiml="<Response><Hangup/>"
                     "</Response>"), {"node": "done", "turn": 1, "waiting": "ended"}, outcome="cancelled",
                ended=True)
        return tx.record_cancellation(flow="acme", node="do_cancel", caller="+15550001111", account="12345678",
                                      account_sid="AC1")

    number = store.locked("CA1", work)
    assert len(number) == 8
    assert number.isdigit()
    [call] = store.calls()
    assert (call.call_sid, call.flow, call.caller, call.seq, call.node, call.turns, call.outcome, call.ended) == (
        "CA1", "acme", "+15550001111", 1, "done", 1, "cancelled", True)
    assert call.started_at.tzinfo is not None
    assert [(t.seq, t.kind, t.heard, t.confidence, t.intent) for t in store.turns("CA1")] == [
        (0, "start", "", None, ""), (1, "gather", "cancel", 0.5, "intent 'cancel'")]
    [record] = store.cancellations()
    assert (record.confirmation, record.call_sid, record.account, record.node) == (number, "CA1", "12345678",
                                                                                   "do_cancel")


def test_a_call_cancelling_twice_at_the_same_node_keeps_one_record_and_number(store: Store) -> None:
    store.locked("CA1", new_call)
    numbers = [store.locked("CA1", lambda tx: tx.record_cancellation(
        flow="acme", node="do_cancel", caller="", account="", account_sid="")) for _ in range(3)]
    assert len(set(numbers)) == 1
    assert len(store.cancellations()) == 1


def test_confirmation_numbers_are_unique_across_calls(store: Store) -> None:
    numbers = set()
    for i in range(30):
        sid = f"CA{i}"
        store.locked(sid, new_call)
        numbers.add(store.locked(sid, lambda tx: tx.record_cancellation(
            flow="acme", node="do_cancel", caller="", account="", account_sid="")))
    assert len(numbers) == 30 == len(store.cancellations())


def test_a_transaction_that_fails_leaves_nothing_behind(store: Store) -> None:
    def work(tx: Transaction) -> None:
        new_call(tx)
        tx.record_cancellation(flow="acme", node="n", caller="", account="", account_sid="")
        raise RuntimeError("the worker died before committing")

    with pytest.raises(RuntimeError):
        store.locked("CA1", work)
    assert store.calls() == []
    assert store.cancellations() == []


# PostgreSQL only: on SQLite, BEGIN IMMEDIATE serialises writers, so no worker can commit in between
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_two_workers_creating_the_same_call_one_retries_and_finds_it(store: Store) -> None:
    seen: list[bool] = []

    def work(tx: Transaction) -> None:
        seen.append(tx.call() is not None)
        if not seen[-1]:
            if len(seen) == 1:  # another worker commits the same call between our read and our insert
                store.locked("CA1", new_call)
            new_call(tx)

    store.locked("CA1", work)
    assert seen == [False, True]
    assert len(store.calls()) == 1


def test_status_updates_known_calls_only(store: Store) -> None:
    store.locked("CA1", new_call)
    assert store.update_status("CA1", "completed", ended=True)
    assert not store.update_status("CA-unknown", "completed", ended=True)
    call = store.get_call("CA1")
    assert call is not None
    assert (call.status, call.ended) == ("completed", True)


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    store.open()  # a store is opened at first use
    store.close()
    with sqlite3.connect(tmp_path / "c.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


@pytest.mark.parametrize(("url", "expected"), [
    ("postgres://u:p@db/ivr", "postgresql+psycopg://u:p@db/ivr"),
    ("postgresql://db/ivr", "postgresql+psycopg://db/ivr"),
    ("postgresql+psycopg://db/ivr", "postgresql+psycopg://db/ivr"),
    ("sqlite:///calls.db", "sqlite:///calls.db"),
])
def test_database_urls_as_hosting_providers_print_them_use_psycopg(url: str, expected: str) -> None:
    assert normalise_url(url) == expected


@pytest.mark.parametrize(("url", "message"), [
    ("sqlite:////nonexistent-dir/sub/calls.db", r"cannot open the call store at 'sqlite:////nonexistent-dir/sub/"
                                                r"calls.db': unable to open database file"),
    # the URL as written (not with the driver ivr adds), the password hidden, and the cause in a few words
    ("postgresql://nobody:secret@127.0.0.1:1/nowhere", r"^cannot open the call store at "
                                                       r"'postgresql://nobody:\*\*\*@127.0.0.1:1/nowhere': "
                                                       r"connection refused$"),
    ("postgres://nobody@nohost.invalid/nowhere", r"^cannot open the call store at 'postgres://nobody@nohost.invalid/"
                                                 r"nowhere': unknown host 'nohost.invalid'$"),
    ("foo://x", r"'foo://x' is not a database URL ivr can use: Can't load plugin: sqlalchemy.dialects:foo; e.g. "),
    ("calls.db", r"'calls.db' is not a database URL ivr can use: Could not parse"),
])
def test_a_store_that_cannot_be_opened_says_where_and_why_without_the_password(url: str, message: str) -> None:
    """A URL that is not one fails at once; a database that cannot be reached fails when the store is first used
    (an app starts without its database, see test_app.py)."""
    with pytest.raises(StoreError, match=message):
        Store(url).open()


def test_only_a_commit_holding_a_cancellation_is_forced_to_disk(store: Store) -> None:
    """Turns are logged without a sync each (they survive a crash of the app); a cancellation's commit is synced
    before it returns (it must survive a power cut)."""
    store.locked("CA1", new_call)
    assert store.durable_commits == 0
    store.locked("CA1", lambda tx: tx.record_cancellation(flow="acme", node="n", caller="", account="",
                                                          account_sid=""))
    assert store.durable_commits == 1
