"""The fault suite's own checks, checked: the ledger finds a lost confirmation, a lie and an unlogged apology when
they are there (made up here, against a store a real call wrote), and the proxy cuts a COMMIT after or before the
server has it, as it says."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from tests.conftest import Twilio, make_app
from tests.faults.harness import CONFIRMATION, SCRIPT, CallLog, Ledger, verify
from tests.faults.postgres import AFTER, BEFORE, PASS, Cluster, CommitCutter, Transaction

pytestmark = [pytest.mark.faults, pytest.mark.slow]

APOLOGY = ('<?xml version="1.0" encoding="UTF-8"?><Response><Say>Sorry, something went wrong on our side. Let me '
           'transfer you to an agent.</Say><Dial><Number>+18005550100</Number></Dial></Response>')


def cancelled_call(url: str) -> tuple[str, list[str]]:
    """A real call through the app to its confirmation: its CallSid and the answers it got."""
    app = make_app(url)
    try:
        call = Twilio(app.test_client()).call()
        for fields, _ in SCRIPT[1:]:
            call.answer(**(fields or {}))
        return call.sid, [r.get_data(as_text=True) for r in call.responses]
    finally:
        app.extensions["ivr"].store.close()


def heard(answers: list[str]) -> str:
    found = CONFIRMATION.search(answers[-1])
    assert found, answers[-1]
    return found.group(1).replace(" ", "")


def told(sid: str, answers: list[str], outcome: str, confirmation: str = "") -> CallLog:
    return CallLog(sid, answers=answers, outcome=outcome, confirmation=confirmation)


def counts(ledger: Ledger) -> tuple[int, int, int, int, int]:
    return ledger.heard, ledger.stored, ledger.lost, ledger.lies, ledger.apologies_unlogged


def test_the_ledger_agrees_with_a_call_that_went_well(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    sid, answers = cancelled_call(url)
    ledger = verify(url, [told(sid, answers, "confirmed", heard(answers))])
    assert (counts(ledger), ledger.problems) == ((1, 1, 0, 0, 0), [])


@pytest.mark.parametrize(("outcome", "expected", "problem"), [
    ("other number", (1, 1, 1, 0, 0), "the caller heard 00000000, the store has"),
    ("apology", (0, 1, 0, 1, 1), "cancelled as .* but the caller heard the apology at request 4"),
    ("unexpected log", (1, 1, 0, 0, 0), "request 3 was answered 'changed .*'; the call log has"),
], ids=["lost", "lie", "log-differs"])
def test_the_ledger_finds_a_broken_promise(tmp_path: Path, outcome: str, expected: tuple[int, ...],
                                          problem: str) -> None:
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    sid, answers = cancelled_call(url)
    if outcome == "apology":  # the caller heard the apology, yet the cancellation is stored, and not so logged
        call = told(sid, [*answers[:-1], APOLOGY], "apology")
    elif outcome == "unexpected log":  # what the caller heard at request 3 is not what the call log says
        call = told(sid, [*answers[:3], f"changed {SCRIPT[3][1]}", answers[4]], "confirmed", heard(answers))
    else:
        call = told(sid, answers, "confirmed", "00000000")
    ledger = verify(url, [call])
    assert counts(ledger) == expected
    assert any(re.search(problem, p) for p in ledger.problems), ledger.problems


@pytest.mark.parametrize(("when", "committed"), [(PASS, True), (AFTER, True), (BEFORE, False)])
def test_the_proxy_cuts_a_commit_after_or_before_the_server_has_it(cluster: Cluster, when: str,
                                                                   committed: bool) -> None:
    name = f"ivr_proxy_{when}"
    cluster.create_database(name)
    seen: list[Transaction] = []

    def policy(tx: Transaction) -> str:
        seen.append(tx)
        return when if tx.writes else PASS

    proxy = CommitCutter(cluster.port, policy, trace=True)
    try:
        with psycopg.connect(cluster.dsn(name), autocommit=True) as admin:
            admin.execute("CREATE TABLE ivr_cancellations (call_sid text)")
        sid = "CA" + "0123456789abcdef" * 2
        conn = psycopg.connect(cluster.dsn(name, proxy.port) + " sslmode=disable gssencmode=disable")
        conn.execute("INSERT INTO ivr_cancellations (call_sid) VALUES (%s)", (sid,))
        if when == PASS:
            conn.commit()
        else:
            with pytest.raises(psycopg.OperationalError):
                conn.commit()
        conn.close()
        with psycopg.connect(cluster.dsn(name)) as check:
            rows = check.execute("SELECT call_sid FROM ivr_cancellations").fetchall()
    finally:
        proxy.close()
    assert rows == ([(sid,)] if committed else [])
    assert [(tx.writes, tx.cancellation, tx.sids) for tx in seen] == [(True, True, {sid})]
    assert [(c.when, c.cancellation, set(c.sids)) for c in proxy.cuts] == ([] if when == PASS else [
        (when, True, {sid})])
    assert "Q b'COMMIT\\x00'" in proxy.messages  # psycopg commits with a simple query
