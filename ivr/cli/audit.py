"""Reading the call store back: `ivr calls list`, `ivr calls show SID` and `ivr cancellations list`.

This module owns those commands and their output formats: a table (or, for one call, text) for people, and JSON
and CSV for programs — the cancellation list is an audit export, so its CSV is real CSV (the `csv` module, a
header row) and its JSON a list of objects with the same keys. `cli.py` registers the commands on `main`.

The store (and with it SQLAlchemy) is imported only when a command runs, so `ivr check` stays fast. Reading never
creates a SQLite file: one that does not exist is an error, not a new empty database.
"""

from __future__ import annotations

import csv
import io
import json
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ivr.cli.common import needs
from ivr.errors import UsageError
from ivr.line.settings import DEFAULT_DATABASE, ENVIRONMENT

if TYPE_CHECKING:
    from ivr.line.store import CallRecord, Cancellation, Store, Turn

#: the keys of one call in `ivr calls list --format json|csv`
CALL_FIELDS = ("started_at", "call_sid", "flow", "caller", "called", "turns", "outcome", "ended", "node", "status")
#: the keys of one cancellation record in `ivr cancellations list --format json|csv` (and `ivr calls show`)
CANCELLATION_FIELDS = ("confirmation", "created_at", "call_sid", "flow", "caller", "account", "node", "account_sid")
#: how much of a prompt `ivr calls show` prints, and of a value a table shows (JSON and CSV have all of it)
PROMPT_WIDTH, CELL_WIDTH = 100, 40

database_option = click.option(
    "--database", metavar="URL", envvar=ENVIRONMENT["database_url"][0], default=DEFAULT_DATABASE,
    show_default=True, show_envvar=True, help="the call store's SQLAlchemy URL (the one the app writes to)")


def iso(at: datetime) -> str:
    """A stored time as UTC ISO 8601, to the second: 2024-05-01T09:00:00Z."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (`sqlite:///relative.db`, `sqlite:////abs.db`); None for an in-memory database
    or any other backend."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] != "sqlite":
        return None
    path = rest.removeprefix("/").partition("?")[0]
    return Path(path) if path and path != ":memory:" and not path.startswith("file:") else None


def check_database_url(url: str) -> None:
    """Refuse what is not a database URL at all, before SQLAlchemy raises on it without a word of where."""
    if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", url):
        raise UsageError(f"{url!r} is not a database URL; expected e.g. {DEFAULT_DATABASE!r} or "
                         "'postgresql://user@host/dbname'")


@contextmanager
def opened(url: str) -> Iterator[Store]:
    """The store at `url`, for reading. Opening a `Store` creates its tables, so a SQLite file that is not there
    is refused here (a typo in the path would otherwise show an empty, newly created store)."""
    ctx = click.get_current_context(silent=True)
    needs("line", ctx.command_path if ctx else "reading the call store", ("sqlalchemy",))
    check_database_url(url)
    file = sqlite_file(url)
    if file is not None and not file.is_file():
        raise UsageError(f"no call store at {url!r}: {str(file.resolve())!r} does not exist. Pass the URL the app "
                         f"writes to with --database, or set {ENVIRONMENT['database_url'][0]}")
    from ivr.line.store import Store

    store = Store(url)
    try:
        yield store
    finally:
        store.close()


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart; a cell longer than `CELL_WIDTH` (a SIP address) is cut short
    with "...", as one long value would otherwise widen every line (JSON and CSV keep it whole)."""
    lines = [header, *([c if len(c) <= CELL_WIDTH else c[:CELL_WIDTH - 3] + "..." for c in row] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines)


def csv_text(fields: Sequence[str], records: Sequence[Mapping[str, Any]]) -> str:
    """RFC 4180 CSV with a header row; booleans as true/false (as in the JSON), None as an empty cell."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    writer.writerows({k: str(v).lower() if isinstance(v, bool) else v for k, v in r.items()} for r in records)
    return out.getvalue()


def emit(fmt: str, fields: Sequence[str], records: Sequence[Mapping[str, Any]],
         as_table: Callable[[], str]) -> None:
    if fmt == "json":
        click.echo(json.dumps(list(records), indent=2))
    elif fmt == "csv":
        click.echo(csv_text(fields, records), nl=False)
    else:
        click.echo(as_table())


def outcome_text(call: CallRecord) -> str:
    """The call's outcome, or where it stopped: a call that ended without one was hung up."""
    if call.outcome:
        return call.outcome
    return f"(hung up at {call.node})" if call.ended else f"(in progress at {call.node})"


def call_json(call: CallRecord) -> dict[str, Any]:
    return {"started_at": iso(call.started_at), "call_sid": call.call_sid, "flow": call.flow, "caller": call.caller,
            "called": call.called, "turns": call.turns, "outcome": call.outcome, "ended": call.ended,
            "node": call.node, "status": call.status}


def cancellation_json(c: Cancellation) -> dict[str, Any]:
    return {"confirmation": c.confirmation, "created_at": iso(c.created_at), "call_sid": c.call_sid, "flow": c.flow,
            "caller": c.caller, "account": c.account, "node": c.node, "account_sid": c.account_sid}


def turn_json(t: Turn) -> dict[str, Any]:
    return {"seq": t.seq, "kind": t.kind, "at": iso(t.at) if t.at else None, "node": t.node, "prompt": t.prompt,
            "heard": t.heard, "digits": t.digits, "confidence": t.confidence, "intent": t.intent,
            "next_node": t.next_node, "said": t.said, "twiml": t.twiml}


def _shorten(text: str) -> str:
    return textwrap.shorten(text, PROMPT_WIDTH, placeholder=" ...") if text.strip() else "(nothing)"


def _caller_text(t: Turn) -> str:
    if t.digits:
        answer = f"keys {t.digits}"
    elif t.heard:
        sure = f" (confidence {t.confidence:.2f})" if t.confidence is not None else ""
        answer = json.dumps(t.heard, ensure_ascii=False) + sure
    else:
        answer = "(silence)"
    return f"{answer} -> {t.intent or '?'} -> {t.next_node or '?'}"


def turn_text(t: Turn) -> Iterator[str]:
    if t.kind == "start":
        yield f"  #{t.seq:<4} call comes in -> {t.next_node}"
    elif t.kind == "gather":
        yield f"  #{t.seq:<4} at {t.node}"
        yield f"        IVR:    {_shorten(t.prompt)}"
        yield f"        caller: {_caller_text(t)}"
    elif t.kind == "dial":
        yield f"  #{t.seq:<4} transfer from {t.node} ended: {t.heard}"
    else:
        yield f"  #{t.seq:<4} {t.kind} at {t.node}" + (f": {t.heard}" if t.heard else "")


def show_text(call: CallRecord, turns: Sequence[Turn], cancellations: Sequence[Cancellation],
              effects: Sequence[tuple[str, str, dict[str, str]]]) -> Iterator[str]:
    yield f"call {call.call_sid}"
    for label, value in (("flow", call.flow), ("from", call.caller), ("to", call.called),
                         ("started", iso(call.started_at)), ("updated", iso(call.updated_at)),
                         ("status", call.status or "-"), ("turns", str(call.turns)),
                         ("outcome", outcome_text(call))):
        yield f"  {label + ':':<9} {value}"
    yield "turns:"
    for t in turns:
        yield from turn_text(t)
    if turns and turns[-1].said and turns[-1].kind != "dial":  # what the caller was told last
        yield f"        IVR:    {_shorten(turns[-1].said)}"
    yield "cancellations:" + ("" if cancellations else " none")
    for c in cancellations:
        yield f"  {c.confirmation}  {iso(c.created_at)}  at {c.node}  account {c.account or '-'}  caller {c.caller}"
    yield "effects requested:" + ("" if effects else " none")
    for node, name, args in effects:
        yield f"  {name} at {node} {json.dumps(args, sort_keys=True)}"


@click.group("calls")
def calls_group() -> None:
    """Read back the calls the app answered: all of them, or one turn by turn."""


@calls_group.command("list")
@database_option
@click.option("--flow", metavar="NAME", help="only the calls of this flow")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="show the newest N calls")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def calls_list(database: str, flow: str | None, limit: int, fmt: str) -> None:
    """One line per call, newest first: when it started, its CallSid, flow, caller, turns, outcome, status."""
    with opened(database) as store:
        found = store.calls(limit=limit + 1, flow=flow)  # one more, to know whether there are more
        where = store.safe_url + (f" for flow {flow!r}" if flow else "")
    shown = found[:limit]
    if fmt == "table" and not shown:
        click.echo(f"no calls in {where}")
        return
    rows = [[iso(c.started_at), c.call_sid, c.flow, c.caller, str(c.turns), outcome_text(c), c.status or "-"]
            for c in shown]
    emit(fmt, CALL_FIELDS, [call_json(c) for c in shown],
         lambda: table(["started", "call", "flow", "caller", "turns", "outcome", "status"], rows))
    if len(found) > limit:
        click.echo(f"(the {limit} newest calls; there are more: --limit N)", err=True)


@calls_group.command("show")
@click.argument("call_sid", metavar="SID")
@database_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def calls_show(call_sid: str, database: str, fmt: str) -> None:
    """One call turn by turn: what the caller heard, what they said or pressed, how the flow understood it and
    where it went; then the cancellation records and the effects the call requested."""
    with opened(database) as store:
        call = store.get_call(call_sid)
        if call is None:
            raise UsageError(f"no call {call_sid!r} in {store.safe_url}; `ivr calls list` shows the calls it holds")
        turns, cancellations, effects = store.turns(call_sid), store.cancellations(call_sid=call_sid), \
            store.effects(call_sid)
    if fmt == "text":
        click.echo("\n".join(show_text(call, turns, cancellations, effects)))
        return
    data = {"call": {**call_json(call), "account_sid": call.account_sid, "updated_at": iso(call.updated_at)},
            "turns": [turn_json(t) for t in turns], "cancellations": [cancellation_json(c) for c in cancellations],
            "effects": [{"node": node, "name": name, "args": args} for node, name, args in effects]}
    click.echo(json.dumps(data, indent=2))


def parse_since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD or an ISO 8601 time such as "
                                 "2024-05-01T09:00:00Z (UTC unless it names its zone)") from None
    return since if since.tzinfo is not None else since.replace(tzinfo=UTC)


@click.group("cancellations")
def cancellations_group() -> None:
    """The cancellation records: each confirmation number the app read to a caller, and its call."""


@cancellations_group.command("list")
@database_option
@click.option("--since", metavar="DATE", callback=parse_since,
              help="only records created at or after DATE (YYYY-MM-DD or ISO 8601; UTC unless zoned)")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def cancellations_list(database: str, since: datetime | None, fmt: str) -> None:
    """Every cancellation record, oldest first: confirmation, when, call, flow, caller, account."""
    with opened(database) as store:
        records = store.cancellations(since=since)
        where = store.safe_url + (f" since {iso(since)}" if since else "")
    if fmt == "table" and not records:
        click.echo(f"no cancellations in {where}")
        return
    rows = [[c.confirmation, iso(c.created_at), c.call_sid, c.flow, c.caller, c.account or "-"] for c in records]
    emit(fmt, CANCELLATION_FIELDS, [cancellation_json(c) for c in records],
         lambda: table(["confirmation", "created", "call", "flow", "caller", "account"], rows))
