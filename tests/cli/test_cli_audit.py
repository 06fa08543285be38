"""`ivr calls list|show` and `ivr cancellations list` through Click's CliRunner, on a call store filled by driving
real calls through the real webhook app (signed like Twilio). Times are pinned afterwards, so every table, JSON
document and CSV file is compared exactly."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli.audit import table
from ivr.cli.main import main
from ivr.line import store as tables
from ivr.line.store import Store
from tests.conftest import ACME, ROOT, Twilio, make_app

GYM = ROOT / "flows" / "gym.yaml"
ACCOUNT_SID = "AC" + "0" * 32
#: the CallSids of the six calls, in Twilio's form (CA and 32 hex digits): SID[1] == "CA000...0001"
SID = {n: f"CA{n:032x}" for n in range(1, 7)}
#: when each call started; the rest is pinned relative to it (turn n at +10n s, cancellation at +1 min)
STARTED = {
    SID[1]: datetime(2024, 5, 1, 9, 0, tzinfo=UTC),
    SID[2]: datetime(2024, 5, 1, 9, 5, tzinfo=UTC),
    SID[3]: datetime(2024, 5, 1, 9, 10, tzinfo=UTC),
    SID[4]: datetime(2024, 5, 1, 9, 15, tzinfo=UTC),
    SID[5]: datetime(2024, 5, 1, 9, 20, tzinfo=UTC),
    SID[6]: datetime(2024, 5, 2, 8, 0, tzinfo=UTC),
}


def long_sids(text: str) -> str:
    """An expected text written with short names (CA0001), with the CallSids and the call column as shown."""
    return re.sub(r"CA000(\d)", lambda m: SID[int(m[1])], text).replace("call    flow", "call".ljust(36) + "flow")


def drive_calls(twilio: Twilio) -> None:
    """Six calls: two cancellations, a hang-up, a caller kept by the offer, one still at the menu, a transfer."""
    call = twilio.call(sid=SID[1], caller="+15550001111")
    for answer in ("I want to cancel", "#12345678", "cancel", "yes"):
        call.press(answer[1:]) if answer.startswith("#") else call.say(answer)
    twilio.post("/voice/acme/status", {"CallSid": SID[1], "CallStatus": "completed"})
    twilio.call(sid=SID[2], caller="+15550002222").say("billing please", confidence="0.81")
    twilio.post("/voice/acme/status", {"CallSid": SID[2], "CallStatus": "completed"})
    call = twilio.call(sid=SID[3], caller="+15550003333")
    for keys in ("9", "87654321", "1"):  # cancel, the account, then "1": keep the service with the discount
        call.press(keys)
    twilio.call("gym", sid=SID[4], caller="+15550004444")
    call = twilio.call(sid=SID[5], caller="+15550005555")
    call.silence()
    call.say("agent")
    call.answer(DialCallStatus="completed")
    call = twilio.call(sid=SID[6], caller="+15550006666")
    for keys in ("9", "11112222", "9", "1"):
        call.press(keys)


def pin_times(store: Store) -> None:
    with store.engine.begin() as conn:
        for sid, at in STARTED.items():
            conn.execute(tables.calls.update().where(tables.calls.c.call_sid == sid).values(
                started_at=at, updated_at=at + timedelta(minutes=2)))
            for seq in range(6):
                conn.execute(tables.turns.update().where(tables.turns.c.call_sid == sid, tables.turns.c.seq == seq)
                             .values(at=at + timedelta(seconds=10 * seq)))
            conn.execute(tables.cancellations.update().where(tables.cancellations.c.call_sid == sid).values(
                created_at=at + timedelta(minutes=1)))


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """(URL of a SQLite store holding the six calls, confirmation number by CallSid)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('audit') / 'calls.db'}"
    app = make_app(url, flows=(ACME, GYM))
    store: Store = app.extensions["ivr"].store
    drive_calls(Twilio(app.test_client()))
    pin_times(store)
    confirmations = {c.call_sid: c.confirmation for c in store.cancellations()}
    store.close()
    return url, confirmations


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str, status: int = 0) -> str:
    result = runner.invoke(main, list(args))
    assert result.exit_code == status, result.output
    assert "Traceback" not in result.output
    return result.output


def run_csv(runner: CliRunner, *args: str) -> str:
    """The CSV as written, line ends included (CliRunner's `output` turns \\r\\n into \\n)."""
    result = runner.invoke(main, [*args, "--format", "csv"])
    assert result.exit_code == 0, result.output
    return result.stdout_bytes.decode()


CALLS_TABLE = """\
started               call    flow  caller        turns  outcome                     status
2024-05-02T08:00:00Z  CA0006  acme  +15550006666  4      cancelled                   ringing
2024-05-01T09:20:00Z  CA0005  acme  +15550005555  2      transferred                 ringing
2024-05-01T09:15:00Z  CA0004  gym   +15550004444  0      (in progress at main_menu)  ringing
2024-05-01T09:10:00Z  CA0003  acme  +15550003333  3      kept                        ringing
2024-05-01T09:05:00Z  CA0002  acme  +15550002222  1      (hung up at anything_else)  completed
2024-05-01T09:00:00Z  CA0001  acme  +15550001111  4      cancelled                   completed
"""


NEWEST_TWO_OF_ACME = """\
started               call    flow  caller        turns  outcome      status
2024-05-02T08:00:00Z  CA0006  acme  +15550006666  4      cancelled    ringing
2024-05-01T09:20:00Z  CA0005  acme  +15550005555  2      transferred  ringing
(the 2 newest calls; there are more: --limit N)
"""

GYM_CALLS = """\
started               call    flow  caller        turns  outcome                     status
2024-05-01T09:15:00Z  CA0004  gym   +15550004444  0      (in progress at main_menu)  ringing
"""


@pytest.mark.parametrize(("args", "expected"), [
    ((), CALLS_TABLE),
    (("--limit", "6"), CALLS_TABLE),  # no "there are more"
    (("--limit", str(2 ** 63 - 2)), CALLS_TABLE),  # the most SQL can count, with the one more it reads
    (("--flow", "acme", "--limit", "2"), NEWEST_TWO_OF_ACME),
    (("--flow", "gym"), GYM_CALLS),
    (("--flow", "nope"), "no calls in {url} for flow 'nope'\n"),
], ids=["all", "limit-all", "limit-most", "flow-and-limit", "flow", "unknown-flow"])
def test_calls_list_table(runner: CliRunner, filled: tuple[str, dict[str, str]], args: tuple[str, ...],
                          expected: str) -> None:
    url, _ = filled
    assert run(runner, "calls", "list", "--database", url, *args) == long_sids(expected).format(url=url)


def test_calls_list_json_and_csv_hold_the_same_records(runner: CliRunner, filled: tuple[str, dict[str, str]]) -> None:
    url, _ = filled
    records = json.loads(run(runner, "calls", "list", "--database", url, "--format", "json"))
    assert records[1:3] == [
        {"started_at": "2024-05-01T09:20:00Z", "call_sid": SID[5], "flow": "acme", "caller": "+15550005555",
         "called": "+18005550199", "turns": 2, "outcome": "transferred", "ended": True, "node": "agent_transfer",
         "status": "ringing"},
        {"started_at": "2024-05-01T09:15:00Z", "call_sid": SID[4], "flow": "gym", "caller": "+15550004444",
         "called": "+18005550199", "turns": 0, "outcome": None, "ended": False, "node": "main_menu",
         "status": "ringing"},
    ]
    assert [r["call_sid"] for r in records] == [SID[6], SID[5], SID[4], SID[3], SID[2], SID[1]]
    text = run_csv(runner, "calls", "list", "--database", url)
    assert text.splitlines()[:4] == [long_sids(line) for line in [
        "started_at,call_sid,flow,caller,called,turns,outcome,ended,node,status",
        "2024-05-02T08:00:00Z,CA0006,acme,+15550006666,+18005550199,4,cancelled,true,cancelled_goodbye,ringing",
        "2024-05-01T09:20:00Z,CA0005,acme,+15550005555,+18005550199,2,transferred,true,agent_transfer,ringing",
        "2024-05-01T09:15:00Z,CA0004,gym,+15550004444,+18005550199,0,,false,main_menu,ringing",
    ]]
    as_text = [{k: "" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for k, v in r.items()}
               for r in records]
    assert list(csv.DictReader(io.StringIO(text))) == as_text


def test_calls_list_reads_the_database_the_app_uses(runner: CliRunner, filled: tuple[str, dict[str, str]]) -> None:
    url, _ = filled
    result = runner.invoke(main, ["calls", "list"], env={"IVR_DATABASE_URL": url})
    assert (result.exit_code, result.output) == (0, long_sids(CALLS_TABLE))


def test_calls_list_of_an_empty_store(runner: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    store = Store(url)
    store.open()  # gives it its tables
    store.close()
    assert run(runner, "calls", "list", "--database", url) == f"no calls in {url}\n"
    assert run(runner, "calls", "list", "--database", url, "--format", "json") == "[]\n"
    assert run_csv(runner, "calls", "list", "--database", url) == (
        "started_at,call_sid,flow,caller,called,turns,outcome,ended,node,status\r\n")


SHOW_CANCELLED = """\
call CA0001
  flow:     acme
  from:     +15550001111
  to:       +18005550199
  started:  2024-05-01T09:00:00Z
  updated:  2024-05-01T09:02:00Z
  status:   completed
  turns:    4
  outcome:  cancelled
turns:
  #0    call comes in -> main_menu
  #1    at main_menu
        IVR:    [acme-welcome.wav] For billing, say billing or press 1. For technical support, say technical ...
        caller: "I want to cancel" (confidence 0.93) -> intent 'cancel' -> ask_account
  #2    at ask_account
        IVR:    I can help you cancel your service. Please say or enter your eight digit account number, then ...
        caller: keys 12345678 -> data '12345678' -> retention_offer
  #3    at retention_offer
        IVR:    Before you go: we can take fifty percent off your bill for the next six months. To keep your ...
        caller: "cancel" (confidence 0.93) -> intent 'cancel' -> confirm_cancel
  #4    at confirm_cancel
        IVR:    To confirm, you want to cancel the service on account 1 2 3 4 5 6 7 8. Say yes or press 1 to ...
        caller: "yes" (confidence 0.93) -> intent 'yes' -> cancelled_goodbye
        IVR:    Your service has been cancelled. Your confirmation number is {spoken}. Again, that is {start} ...
cancellations:
  {number}  2024-05-01T09:01:00Z  at do_cancel  account 12345678  caller +15550001111
effects requested: none
"""

SHOW_KEPT = """\
call CA0003
  flow:     acme
  from:     +15550003333
  to:       +18005550199
  started:  2024-05-01T09:10:00Z
  updated:  2024-05-01T09:12:00Z
  status:   ringing
  turns:    3
  outcome:  kept
turns:
  #0    call comes in -> main_menu
  #1    at main_menu
        IVR:    [acme-welcome.wav] For billing, say billing or press 1. For technical support, say technical ...
        caller: keys 9 -> intent 'cancel' -> ask_account
  #2    at ask_account
        IVR:    I can help you cancel your service. Please say or enter your eight digit account number, then ...
        caller: keys 87654321 -> data '87654321' -> retention_offer
  #3    at retention_offer
        IVR:    Before you go: we can take fifty percent off your bill for the next six months. To keep your ...
        caller: keys 1 -> key '1' -> kept_goodbye
        IVR:    Great, the discount is applied to your next bill. Thank you for staying with Acme. Goodbye.
cancellations: none
effects requested:
  apply_discount at offer_accepted {"account": "87654321"}
"""

SHOW_TRANSFERRED = """\
call CA0005
  flow:     acme
  from:     +15550005555
  to:       +18005550199
  started:  2024-05-01T09:20:00Z
  updated:  2024-05-01T09:22:00Z
  status:   ringing
  turns:    2
  outcome:  transferred
turns:
  #0    call comes in -> main_menu
  #1    at main_menu
        IVR:    [acme-welcome.wav] For billing, say billing or press 1. For technical support, say technical ...
        caller: (silence) -> no_input -> main_menu
  #2    at main_menu
        IVR:    Sorry, I didn't hear anything. For billing, say billing or press 1. For technical support, say ...
        caller: "agent" (confidence 0.93) -> intent 'agent' -> agent_transfer
  #3    transfer from agent_transfer ended: DialCallStatus=completed
cancellations: none
effects requested: none
"""

SHOW_HUNG_UP_HEADER = """\
call CA0002
  flow:     acme
  from:     +15550002222
  to:       +18005550199
  started:  2024-05-01T09:05:00Z
  updated:  2024-05-01T09:07:00Z
  status:   completed
  turns:    1
  outcome:  (hung up at anything_else)
turns:
  #0    call comes in -> main_menu
  #1    at main_menu
        IVR:    [acme-welcome.wav] For billing, say billing or press 1. For technical support, say technical ...
        caller: "billing please" (confidence 0.81) -> intent 'billing' -> anything_else
        IVR:    Your current balance is forty two dollars and fifty cents, due on the first of the month. Is ...
"""


@pytest.mark.parametrize(("sid", "expected"), [
    (SID[1], SHOW_CANCELLED),
    (SID[3], SHOW_KEPT),
    (SID[5], SHOW_TRANSFERRED),
    (SID[2], SHOW_HUNG_UP_HEADER + "cancellations: none\neffects requested: none\n"),
])
def test_calls_show_text(runner: CliRunner, filled: tuple[str, dict[str, str]], sid: str, expected: str) -> None:
    url, confirmations = filled
    number = confirmations.get(sid, "")
    spoken = " ".join(number)
    expected = long_sids(expected).replace("{number}", number).replace("{spoken}", spoken).replace(
        "{start}", spoken[:3])
    assert run(runner, "calls", "show", sid, "--database", url) == expected


def test_calls_show_json(runner: CliRunner, filled: tuple[str, dict[str, str]]) -> None:
    url, confirmations = filled
    shown = json.loads(run(runner, "calls", "show", SID[1], "--database", url, "--format", "json"))
    assert shown["call"] == {
        "started_at": "2024-05-01T09:00:00Z", "call_sid": SID[1], "flow": "acme", "caller": "+15550001111",
        "called": "+18005550199", "turns": 4, "outcome": "cancelled", "ended": True, "node": "cancelled_goodbye",
        "status": "completed", "account_sid": ACCOUNT_SID, "updated_at": "2024-05-01T09:02:00Z"}
    assert [(t["seq"], t["kind"], t["at"], t["node"], t["heard"], t["digits"], t["confidence"], t["intent"],
             t["next_node"]) for t in shown["turns"]] == [
        (0, "start", "2024-05-01T09:00:00Z", "", "", "", None, "", "main_menu"),
        (1, "gather", "2024-05-01T09:00:10Z", "main_menu", "I want to cancel", "", 0.93, "intent 'cancel'",
         "ask_account"),
        (2, "gather", "2024-05-01T09:00:20Z", "ask_account", "", "12345678", None, "data '12345678'",
         "retention_offer"),
        (3, "gather", "2024-05-01T09:00:30Z", "retention_offer", "cancel", "", 0.93, "intent 'cancel'",
         "confirm_cancel"),
        (4, "gather", "2024-05-01T09:00:40Z", "confirm_cancel", "yes", "", 0.93, "intent 'yes'",
         "cancelled_goodbye"),
    ]
    last = shown["turns"][-1]
    assert last["prompt"] == ("To confirm, you want to cancel the service on account 1 2 3 4 5 6 7 8. Say yes or "
                              "press 1 to cancel, or say no or press 2 to keep your service.")
    assert last["said"].startswith(f"Your service has been cancelled. Your confirmation number is "
                                   f"{' '.join(confirmations[SID[1]])}.")
    assert last["twiml"].endswith("<Hangup /></Response>")
    assert shown["cancellations"] == [
        {"confirmation": confirmations[SID[1]], "created_at": "2024-05-01T09:01:00Z", "call_sid": SID[1],
         "flow": "acme", "caller": "+15550001111", "account": "12345678", "node": "do_cancel",
         "account_sid": ACCOUNT_SID}]
    assert shown["effects"] == []
    kept = json.loads(run(runner, "calls", "show", SID[3], "--database", url, "--format", "json"))
    assert kept["effects"] == [{"node": "offer_accepted", "name": "apply_discount", "args": {"account": "87654321"}}]


def cancellation_rows(confirmations: dict[str, str]) -> list[dict[str, str]]:
    return [
        {"confirmation": confirmations[SID[1]], "created_at": "2024-05-01T09:01:00Z", "call_sid": SID[1],
         "flow": "acme", "caller": "+15550001111", "account": "12345678", "node": "do_cancel",
         "account_sid": ACCOUNT_SID},
        {"confirmation": confirmations[SID[6]], "created_at": "2024-05-02T08:01:00Z", "call_sid": SID[6],
         "flow": "acme", "caller": "+15550006666", "account": "11112222", "node": "do_cancel",
         "account_sid": ACCOUNT_SID},
    ]


@pytest.mark.parametrize(("since", "expected"), [
    ((), [0, 1]),
    (("--since", "2024-05-01"), [0, 1]),
    (("--since", "2024-05-01T09:01:00Z"), [0, 1]),  # at or after
    (("--since", "2024-05-01T09:01:01"), [1]),  # UTC, as it names no zone
    (("--since", "2024-05-02T10:01:00+02:00"), [1]),
    (("--since", "0001-01-01"), [0, 1]),  # the first day a datetime holds
    (("--since", "0001-01-01T00:00:00-14:00"), [0, 1]),
])
def test_cancellations_list_in_every_format(runner: CliRunner, filled: tuple[str, dict[str, str]],
                                            since: tuple[str, ...], expected: list[int]) -> None:
    url, confirmations = filled
    rows = [cancellation_rows(confirmations)[i] for i in expected]
    args = ("cancellations", "list", "--database", url, *since)
    assert json.loads(run(runner, *args, "--format", "json")) == rows
    text = run_csv(runner, *args)
    header = "confirmation,created_at,call_sid,flow,caller,account,node,account_sid"
    assert text == "".join(f"{line}\r\n" for line in [header, *(",".join(r.values()) for r in rows)])
    assert list(csv.DictReader(io.StringIO(text))) == rows
    assert run(runner, *args).splitlines() == [
        long_sids("confirmation  created               call    flow  caller        account"),
        *(f"{r['confirmation']}      {r['created_at']}  {r['call_sid']}  acme  {r['caller']}  {r['account']}"
          for r in rows)]


@pytest.mark.parametrize(("since", "shown"), [
    ("2024-05-02T10:01:01+02:00", "2024-05-02T08:01:01Z"),
    ("2024-05-03", "2024-05-03T00:00:00Z"),
    ("9999-12-31T23:59:59", "9999-12-31T23:59:59Z"),  # the last second a datetime holds
    ("9999-12-31T23:59:59+14:00", "9999-12-31T09:59:59Z"),
])
def test_no_cancellations_since(runner: CliRunner, filled: tuple[str, dict[str, str]], since: str,
                                shown: str) -> None:
    url, _ = filled
    args = ("cancellations", "list", "--database", url, "--since", since)
    assert run(runner, *args) == f"no cancellations in {url} since {shown}\n"
    assert run(runner, *args, "--format", "json") == "[]\n"
    assert run_csv(runner, *args) == (
        "confirmation,created_at,call_sid,flow,caller,account,node,account_sid\r\n")


def test_a_table_cuts_long_values_short() -> None:
    sip = "sip:" + "a" * 60 + "@example.sip.twilio.com"
    assert table(["call", "caller"], [["CA1", sip], ["CA2", "+1555"]]).splitlines() == [
        "call  caller",
        "CA1   sip:" + "a" * 33 + "...",
        "CA2   +1555",
    ]


def test_the_cancellations_export_quotes_what_needs_quoting(runner: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    store = Store(url)
    store.locked("CA1", lambda tx: tx.create_call(flow="acme", account_sid="AC1", caller='Smith, "J"', called="",
                                                  status="ringing"))
    store.locked("CA1", lambda tx: tx.record_cancellation(flow="acme", node="do_cancel", caller='Smith, "J"',
                                                          account="1\n2", account_sid="AC1"))
    store.close()
    text = run_csv(runner, "cancellations", "list", "--database", url)
    assert ',"Smith, ""J""","1\n2",do_cancel,AC1\r\n' in text
    [row] = csv.DictReader(io.StringIO(text))
    assert (row["caller"], row["account"]) == ('Smith, "J"', "1\n2")


@pytest.mark.parametrize(("args", "message"), [
    (["calls", "show", "CA9999"], "error: no call 'CA9999' in {url}; `ivr calls list` shows the calls it holds\n"),
    (["calls", "list", "--format", "xml"], "Invalid value for '--format': 'xml' is not one of 'table', 'json', "
                                           "'csv'."),
    (["calls", "show", SID[1], "--format", "csv"], "Invalid value for '--format': 'csv' is not one of 'text', "
                                                     "'json'."),
    (["cancellations", "list", "--format", "yaml"], "Invalid value for '--format': 'yaml' is not one of 'table', "
                                                    "'json', 'csv'."),
    (["calls", "list", "--limit", "0"], "Invalid value for '--limit': 0 is not in the range "
                                        "1<=x<=9223372036854775806."),
    (["cancellations", "list", "--since", "yesterday"],
     "Invalid value for '--since': 'yesterday' is not a date; use YYYY-MM-DD or an ISO 8601 time such as "
     "2024-05-01T09:00:00Z (UTC unless it names its zone)"),
    (["cancellations", "list", "--since", "2024-13-01"], "Invalid value for '--since': '2024-13-01' is not a date"),
    (["calls", "list", "--limit", str(2 ** 70)], "Invalid value for '--limit': 1180591620717411303424 is not in the "
                                                 "range 1<=x<=9223372036854775806."),
    (["calls", "list", "--limit", str(2 ** 63 - 1)], "Invalid value for '--limit': 9223372036854775807 is not in "
                                                     "the range 1<=x<=9223372036854775806."),
    (["calls", "list", "--limit", "-1"], "Invalid value for '--limit': -1 is not in the range "
                                         "1<=x<=9223372036854775806."),
    # UTC is in the year 0, or 10000: past what a datetime holds
    (["cancellations", "list", "--since", "0001-01-01T00:00:00+14:00"],
     "Invalid value for '--since': '0001-01-01T00:00:00+14:00' is out of range: in UTC it is before 0001-01-01 or "
     "after 9999-12-31T23:59:59"),
    (["cancellations", "list", "--since", "9999-12-31T23:59:59-00:01"],
     "Invalid value for '--since': '9999-12-31T23:59:59-00:01' is out of range"),
    (["cancellations", "list", "--since", "2024-05-01T09:00:00+24:00"],
     "Invalid value for '--since': '2024-05-01T09:00:00+24:00' is not a date"),
    # bytes the terminal could not decode reach Python as lone surrogates, which no database driver takes
    (["calls", "list", "--flow", "acme\udcff"],
     "Invalid value for '--flow': 'acme\\udcff' is not valid UTF-8 text (bytes the terminal could not decode)"),
    (["calls", "show", "CA\udcff"], "Invalid value for 'SID': 'CA\\udcff' is not valid UTF-8 text"),
])
def test_bad_input_exits_2(runner: CliRunner, filled: tuple[str, dict[str, str]], args: list[str],
                           message: str) -> None:
    url, _ = filled
    assert message.format(url=url) in run(runner, *args, "--database", url, status=2)


@pytest.mark.parametrize("command", [["calls", "list"], ["calls", "show", SID[1]], ["cancellations", "list"]])
def test_a_missing_store_is_an_error_not_a_new_empty_one(runner: CliRunner, tmp_path: Path,
                                                         command: list[str]) -> None:
    missing = tmp_path / "typo.db"
    output = run(runner, *command, "--database", f"sqlite:///{missing}", status=2)
    assert output == (f"error: no call store at 'sqlite:///{missing}': '{missing}' does not exist. Pass the URL "
                      "the app writes to with --database, or set IVR_DATABASE_URL\n")
    assert not missing.exists()


def test_the_default_store_is_the_apps(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["calls", "list"], env={"IVR_DATABASE_URL": None})
    assert result.exit_code == 2
    assert result.output.startswith(f"error: no call store at 'sqlite:///ivr-calls.db': '{tmp_path.resolve()}"
                                    "/ivr-calls.db' does not exist.")


@pytest.mark.parametrize(("url", "message"), [
    ("nonsense", "error: 'nonsense' is not a database URL; expected e.g. 'sqlite:///ivr-calls.db' or "
                 "'postgresql://user@host/dbname'\n"),
    ("sqlite:///{tmp}/not-a-db.txt", "error: cannot open the call store at 'sqlite:///{tmp}/not-a-db.txt': file is "
                                     "not a database\n"),
])
def test_what_is_not_a_store_is_an_error(runner: CliRunner, tmp_path: Path, url: str, message: str) -> None:
    (tmp_path / "not-a-db.txt").write_text("call log\n" * 200)
    output = run(runner, "calls", "list", "--database", url.format(tmp=tmp_path), status=2)
    assert output == message.format(tmp=tmp_path)


STORE_COMMANDS = [["calls", "list"], ["calls", "show", SID[1]], ["cancellations", "list"]]
PORT = "a port is a number from 1 to 65535, e.g. 'postgresql://user@host:5432/dbname'"
NO_STORE = "Pass the URL the app writes to with --database, or set IVR_DATABASE_URL"


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=["list", "show", "cancellations"])
@pytest.mark.parametrize(("url", "message"), [
    ("postgresql://h:notaport/db", f"the database URL 'postgresql://h:notaport/db' has the port 'notaport'; {PORT}"),
    ("postgresql://h:/db", f"the database URL 'postgresql://h:/db' has the port ''; {PORT}"),
    ("postgresql://u:p@[::1]:99999/db", f"the database URL 'postgresql://u:p@[::1]:99999/db' has the port "
                                        f"'99999'; {PORT}"),
    ("postgresql://[::1", "the database URL 'postgresql://[::1' opens an IPv6 address with '[' and never closes "
                          "it; write e.g. 'postgresql://user@[::1]:5432/dbname'"),
    ("sqlite:///\udcff.db", "the database URL 'sqlite:///\\udcff.db' is not valid UTF-8 text (bytes the "
                             "terminal could not decode); write it in UTF-8"),
    ("sqlite://", f"'sqlite://' is an in-memory database, new and empty: there are no calls to read. {NO_STORE}"),
    ("sqlite:///:memory:", "'sqlite:///:memory:' is an in-memory database, new and empty: there are no calls to "
                           f"read. {NO_STORE}"),
    ("sqlite:///{tmp}", "no call store at 'sqlite:///{tmp}': '{tmp}' is a directory; the store is a file in it, "
                        "e.g. 'sqlite:///{tmp}/ivr-calls.db'"),
    ("sqlite:///{tmp}/no/such/calls.db", "no call store at 'sqlite:///{tmp}/no/such/calls.db': "
                                         "'{tmp}/no/such/calls.db' does not exist (there is no directory "
                                         f"'{{tmp}}/no'). {NO_STORE}"),
    ("sqlite:///{tmp}/empty.db", "no call store at 'sqlite:///{tmp}/empty.db': '{tmp}/empty.db' is empty; the app "
                                 f"gives a store its tables when it starts. {NO_STORE}"),
    ("sqlite:///{tmp}/fifo", "no call store at 'sqlite:///{tmp}/fifo': '{tmp}/fifo' is not a regular file"),
], ids=["port-word", "port-empty", "port-too-big", "ipv6-unclosed", "not-utf8", "in-memory", "in-memory-named",
        "directory", "missing-directory", "empty-file", "fifo"])
def test_odd_database_urls_are_one_line_errors(runner: CliRunner, tmp_path: Path, command: list[str], url: str,
                                               message: str) -> None:
    (tmp_path / "empty.db").touch()
    os.mkfifo(tmp_path / "fifo")
    before = sorted(p.name for p in tmp_path.iterdir())
    output = run(runner, *command, "--database", url.format(tmp=tmp_path), status=2)
    assert output == "error: " + message.format(tmp=tmp_path) + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing created


@pytest.mark.parametrize(("url", "says"), [
    ("foo://x/y", "'foo://x/y' is not a database URL ivr can use: Can't load plugin: sqlalchemy.dialects:foo"),
    ("sqlite:///{tmp}/calls.db?timeout=abc", "could not convert string to float: 'abc'"),
    ("sqlite:///{tmp}/calls.db?check_same_thread=maybe", "String is not true/false: 'maybe'"),
    ("sqlite:///{tmp}/other-app.db", "'sqlite:///{tmp}/other-app.db' holds no call store (no ivr tables)"),
    ("sqlite:///{tmp}/not-a-db.txt", "cannot open the call store at 'sqlite:///{tmp}/not-a-db.txt': file is not a "
                                     "database"),
], ids=["unknown-driver", "bad-timeout", "bad-flag", "another-apps-database", "not-a-database"])
def test_what_the_store_refuses_is_one_line_and_left_as_it_was(runner: CliRunner, tmp_path: Path, url: str,
                                                               says: str) -> None:
    store = Store(f"sqlite:///{tmp_path / 'calls.db'}")
    store.open()
    store.close()
    with sqlite3.connect(tmp_path / "other-app.db") as other:
        other.execute("CREATE TABLE notes (text TEXT)")
    other.close()
    (tmp_path / "not-a-db.txt").write_text("call log\n" * 200)
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    output = run(runner, "calls", "list", "--database", url.format(tmp=tmp_path), status=2)
    assert output.startswith("error: ")
    assert output.count("\n") == 1, output
    assert says.format(tmp=tmp_path) in output
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name in files} == files


def unprivileged() -> list[str]:
    """What runs a command without root's power over file modes, so that a read-only file is read-only to it:
    nothing for any other user; for root, util-linux's setpriv dropping that capability."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root ignores file modes, and setpriv (util-linux), which drops that power, is not installed")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def add_call(store: Store, sid: str) -> None:
    store.locked(sid, lambda tx: tx.create_call(flow="acme", account_sid=ACCOUNT_SID, caller="+15550001111",
                                                called="+18005550199", status="ringing"))


def read_only_store(kind: str, made: Path, where: Path) -> Path:
    """A store holding calls CA1 and CA2, made in `made` and copied into `where` as `kind` says, then made
    read-only (the file 0444; for the directory kinds, `where` 0555 too)."""
    store = Store(f"sqlite:///{made / 'calls.db'}")
    add_call(store, "CA1")
    add_call(store, "CA2")
    if kind == "wal-in-read-only-directory":  # copied while the app runs: CA2 is in the -wal, not yet the file
        for suffix in ("", "-wal", "-shm"):
            shutil.copy(made / f"calls.db{suffix}", where / f"calls.db{suffix}")
        assert (where / "calls.db-wal").stat().st_size > 0
    store.close()
    if kind != "wal-in-read-only-directory":
        shutil.copy(made / "calls.db", where / "calls.db")
    if kind.startswith("rollback-journal"):  # a copy made with `sqlite3 .backup` or by an older tool
        with sqlite3.connect(where / "calls.db") as db:
            db.execute("PRAGMA journal_mode=DELETE")
        db.close()
    for file in where.iterdir():
        file.chmod(0o444)
    if kind.endswith("directory"):
        where.chmod(0o555)
    return where / "calls.db"


@pytest.mark.parametrize("kind", [
    "file", "directory", "rollback-journal-file", "rollback-journal-directory",
    "wal-in-read-only-directory",
])
def test_a_read_only_store_can_be_read(tmp_path: Path, kind: str) -> None:
    """A store the reader may not write to (copied off a server, a backup, another user's) reads as it is,
    without a write to it or its directory: every call, nothing created."""
    prefix = unprivileged()
    (tmp_path / "made").mkdir()
    where = tmp_path / "read-only"
    where.mkdir()
    file = read_only_store(kind, tmp_path / "made", where)
    before = sorted(p.name for p in where.iterdir())
    try:
        result = subprocess.run(
            [*prefix, sys.executable, "-c", "from ivr.cli.main import main; main()", "calls", "list", "--database",
             f"sqlite:///{file}", "--format", "json"], capture_output=True, text=True, timeout=120,
            env={k: v for k, v in os.environ.items() if k != "IVR_DATABASE_URL"})
        after = sorted(p.name for p in where.iterdir())
    finally:
        where.chmod(0o755)
    assert (result.returncode, result.stderr) == (0, "")
    assert sorted(c["call_sid"] for c in json.loads(result.stdout)) == ["CA1", "CA2"]
    if kind.endswith("directory"):
        assert after == before
