"""`ivr replay FLOW --from-store`: the calls the phone line logged, replayed without audio against a new version of
the flow (`ivr.testing.traffic`). The store is filled by placing real calls through the real app with the
simulator, as production would log them; no recogniser runs."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ivr.cli.main import main
from ivr.flow.loader import load_flow
from ivr.line import store as tables
from ivr.line.app import local_app, token_of
from ivr.line.store import Store
from ivr.testing.sim import Simulator
from ivr.testing.traffic import replay_store
from tests.conftest import ACME, ROOT, TOKEN, make_app

GYM = ROOT / "flows" / "gym.yaml"
#: the calls placed: (CallSid, flow, caller, answers in `ivr.flow.caller`'s text form, when it started)
#: the calls' SIDs, in Twilio's format (CA and 32 hex digits), numbered as the calls below
SID = {n: f"CA{n:02d}{'0' * 30}" for n in range(1, 8)}
CALLS = [
    (SID[1], "acme", "+15550000001", ["cancel", "#12345678#", "cancel", "yes"], datetime(2024, 5, 1, 9, 0)),
    (SID[2], "acme", "+15550000002", ["#9", "#12345678#", "#9", "#1"], datetime(2024, 5, 1, 9, 5)),
    (SID[3], "acme", "+15550000003", ["pay my bill", "(silence)", "no"], datetime(2024, 5, 1, 9, 10)),
    # asks to cancel at turn 3, after a bill question: cancelled 4 turns after asking, 6 in all
    (SID[4], "acme", "+15550000004", ["billing", "yes", "cancel", "#12345678#", "cancel", "yes"],
     datetime(2024, 5, 1, 9, 15)),
    (SID[5], "acme", "+15550000005", ["cancel", "#12345678#", "accept"], datetime(2024, 5, 1, 9, 20)),
    (SID[6], "acme", "+15550000006", [], datetime(2024, 5, 1, 9, 25)),  # hangs up at the menu
    (SID[7], "gym", "+15550000007", ["cancel"], datetime(2024, 1, 2, 9, 0)),
]
#: acme with a second retention offer between the first and the confirmation
SECOND_OFFER = """
  last_offer:
    type: menu
    retention: true
    prompt: One more thing before you go. Say accept or press 1 for three free months, or say cancel to cancel.
    keys:
      "1": offer_accepted
    routes:
      accept_offer: offer_accepted
      cancel: confirm_cancel
"""


def answer(call: object, text: str) -> None:
    from ivr.flow.caller import Digits, Speech, from_text

    heard = from_text(text)
    if isinstance(heard, Digits):
        call.press(heard.keys)  # type: ignore[attr-defined]
    elif isinstance(heard, Speech):
        call.say(heard.text, 0.87)  # type: ignore[attr-defined]
    else:
        call.silence()  # type: ignore[attr-defined]


def fill(url: str, schema: str | None = None) -> None:
    """Place every call of CALLS through the real app on the store at `url`, and pin when each started."""
    app = make_app(url, schema, flows=(ACME, GYM))
    sim = Simulator(app, auth_token=TOKEN, status_callback=None)
    try:
        for sid, flow, caller, answers, _ in CALLS:
            call = sim.call(f"/voice/{flow}", caller=caller, sid=sid)
            for text in answers:
                answer(call, text)
            call.hang_up()
        store = app.extensions["ivr"].store
        with store.engine.begin() as conn:
            for sid, *_, started in CALLS:
                conn.execute(tables.calls.update().where(tables.calls.c.call_sid == sid).values(
                    started_at=started.replace(tzinfo=UTC)))
    finally:
        sim.close()
        app.extensions["ivr"].store.close()


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite call store holding CALLS, as the phone line logged them: its URL."""
    url = f"sqlite:///{tmp_path_factory.mktemp('production') / 'calls.db'}"
    fill(url)
    return url


@pytest.fixture
def second_offer(tmp_path: Path) -> Path:
    text = ACME.read_text("utf-8").replace("      cancel: confirm_cancel\n", "      cancel: last_offer\n", 1)
    path = tmp_path / "acme-v2.yaml"
    (tmp_path / "audio").mkdir()  # the welcome it plays: the simulator fetches <Play> URLs as Twilio does
    shutil.copy(ROOT / "audio" / "acme-welcome.wav", tmp_path / "audio")
    path.write_text(text.replace("\n  offer_accepted:\n", SECOND_OFFER + "\n  offer_accepted:\n"))
    assert load_flow(path)[0].nodes["retention_offer"].model_dump()["routes"]["cancel"] == "last_offer"
    return path


def from_store(flow: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["replay", str(flow), "--from-store", *args])


def test_the_same_flow_changes_nothing(production: str) -> None:
    result = from_store(ACME, "--database", production)
    assert result.exit_code == 0, result.output
    assert result.stdout == "7 call(s) read, 5 replayed, 5 unchanged, 0 changed, 0 regression(s)\n"
    assert result.stderr == (
        "note: 1 call(s) logged for other flows skipped ({'gym': 1}); --flow NAME replays the calls of flow NAME "
        "against 'acme'\n"
        "note: 1 call(s) with no answer to replay skipped (the caller never answered a prompt)\n")


def test_a_second_retention_offer_is_a_regression(production: str, second_offer: Path) -> None:
    result = from_store(second_offer, "--database", production)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        f"changed    {SID[1]} from +15550000001: outcome cancelled -> none (at last_offer), 4 -> 4 turn(s)",
        f"REGRESSION {SID[1]}: asked to cancel at turn 1 ('cancel') and reached 'cancelled' in 4 turn(s) (within "
        "4); now the call ends with no outcome (at last_offer) after 4 turn(s)",
        f"changed    {SID[2]} from +15550000002: outcome cancelled -> kept, 4 -> 4 turn(s)",
        f"REGRESSION {SID[2]}: asked to cancel at turn 1 ('#9') and reached 'cancelled' in 4 turn(s) (within 4); "
        "now the call ends 'kept' after 4 turn(s)",
        f"changed    {SID[4]} from +15550000004: outcome cancelled -> none (at last_offer), 6 -> 6 turn(s)",
        f"REGRESSION {SID[4]}: asked to cancel at turn 3 ('cancel') and reached 'cancelled' in 4 turn(s) (within "
        "4); now the call ends with no outcome (at last_offer) after 6 turn(s)",
        "7 call(s) read, 5 replayed, 2 unchanged, 3 changed, 3 regression(s)",
    ]


def test_the_report_as_json(production: str, second_offer: Path) -> None:
    result = from_store(second_offer, "--database", production, "--format", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert (report["flow"], report["logged_flow"], report["store"]) == ("acme", "acme", production)
    assert report["summary"] == {"read": 7, "replayed": 5, "unchanged": 2, "changed": 3, "regressions": 3}
    calls = {c["call_sid"]: c for c in report["calls"]}
    assert list(calls) == [SID[1], SID[2], SID[3], SID[4], SID[5]]  # oldest first
    spoken = calls[SID[1]]
    assert spoken["answers"] == ["cancel", "#12345678", "cancel", "yes"]  # keys as the line got them
    assert spoken["old"] == {"outcome": "cancelled", "turns": 4, "node": "cancelled_goodbye",
                             "intents": ["intent 'cancel'", "data '12345678'", "intent 'cancel'", "intent 'yes'"]}
    assert spoken["new"] == {"outcome": None, "turns": 4, "node": "last_offer",
                             "intents": ["intent 'cancel'", "data '12345678'", "intent 'cancel'", "no_match"]}
    assert (spoken["changed"], spoken["regression"].startswith("asked to cancel at turn 1")) == (True, True)
    kept = calls[SID[5]]  # asked to cancel, then took the offer: kept then, kept now
    assert (kept["old"]["outcome"], kept["new"]["outcome"], kept["changed"], kept["regression"]) == \
        ("kept", "kept", False, None)


@pytest.mark.parametrize(("args", "status", "summary"), [
    # nobody was cancelled within 3 turns of asking in production: nothing this flow broke, though calls change
    (["--within", "3"], 0, "7 call(s) read, 5 replayed, 2 unchanged, 3 changed, 0 regression(s)"),
    # only the calls started since May: the gym's call of January is not read
    (["--since", "2024-05-01"], 1, "6 call(s) read, 5 replayed, 2 unchanged, 3 changed, 3 regression(s)"),
    (["--since", "2024-05-01T09:12:00Z"], 1, "3 call(s) read, 2 replayed, 1 unchanged, 1 changed, 1 regression(s)"),
    (["--since", "2030-01-01"], 0, "0 call(s) read, 0 replayed, 0 unchanged, 0 changed, 0 regression(s)"),
])
def test_within_and_since(production: str, second_offer: Path, args: list[str], status: int, summary: str) -> None:
    result = from_store(second_offer, "--database", production, *args)
    assert result.exit_code == status, result.output
    assert result.stdout.splitlines()[-1] == summary


def test_the_calls_of_another_flow_by_name(production: str) -> None:
    result = from_store(ACME, "--database", production, "--flow", "gym")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "7 call(s) read, 1 replayed, 1 unchanged, 0 changed, 0 regression(s)"
    assert "note: the calls logged for flow 'gym' are replayed against flow 'acme'\n" in result.stderr
    assert "note: 6 call(s) logged for other flows skipped ({'acme': 6})" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--from-store", "--database", "sqlite:///{tmp}/nope.db"],
     "error: no call store at 'sqlite:///{tmp}/nope.db': '{tmp}/nope.db' does not exist. Pass the URL the app "
     "writes to with --database, or set IVR_DATABASE_URL\n"),
    (["--from-store", "--database", "calls.db"],
     "error: 'calls.db' is not a database URL; expected e.g. 'sqlite:///ivr-calls.db' or "
     "'postgresql://user@host/dbname'\n"),
    (["--from-store", "--since", "yesterday"],
     "Error: Invalid value for '--since': 'yesterday' is not a date; use YYYY-MM-DD or an ISO 8601 time such as "
     "2024-05-01T09:00:00Z (UTC unless it names its zone)\n"),
    (["--from-store", "call.wav", "--url", "http://127.0.0.1:1", "-j", "2"],
     "error: --from-store replays the calls of the store: the recording(s) ['call.wav'], -j, --url cannot go with "
     "it\n"),
    (["--from-store", "--format", "junit"], "error: --from-store prints text or json (--format text|json)\n"),
    (["call.wav", "--since", "2024-05-01", "--flow", "gym"],
     "error: --database, --since and --flow need --from-store: --since, --flow cannot go with it\n"),
    ([], "error: nothing to replay: give recordings (files or directories), or --from-store to replay the calls "
         "the line logged\n"),
])
def test_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["replay", str(ACME), *(a.format(tmp=tmp_path) for a in args)])
    assert result.exit_code == 2, result.output
    assert message.format(tmp=tmp_path) in result.stderr


@pytest.fixture
def new_line(tmp_path: Path, second_offer: Path) -> Iterator[Simulator]:
    """The simulator calling the app that serves the second-offer flow, on a fresh store."""
    (tmp_path / "line").mkdir()
    app = local_app([second_offer], tmp_path / "line")
    sim = Simulator(app, auth_token=token_of(app), status_callback="/voice/acme/status")
    yield sim
    sim.close()
    app.extensions["ivr"].store.close()


def test_replaying_a_store_on_either_database(store_url: tuple[str, str | None], new_line: Simulator,
                                               second_offer: Path) -> None:
    url, schema = store_url
    fill(url, schema)
    store = Store(url, schema=schema)
    try:
        report = replay_store(store, new_line, load_flow(second_offer)[0],
                              since=datetime(2024, 5, 1, 9, 12, tzinfo=UTC))
    finally:
        store.close()
    assert report.summary() == "3 call(s) read, 2 replayed, 1 unchanged, 1 changed, 1 regression(s)"
    assert [(r.call.call_sid, r.outcome, r.turns, bool(r.regression)) for r in report.reruns] == [
        (SID[4], None, 6, True), (SID[5], "kept", 3, False)]
