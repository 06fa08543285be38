"""Reading the call store back: `ivr calls list`, `ivr calls show SID` and `ivr cancellations list`.

This module owns those commands and their output formats: a table (or, for one call, text) for people, and JSON
and CSV for programs — the cancellation list is an audit export, so its CSV is real CSV (the `csv` module, a
header row) and its JSON a list of objects with the same keys. `cli.py` registers the commands on `main`.

The store (and with it SQLAlchemy) is imported only when a command runs, so `ivr check` stays fast. Reading never
creates or changes anything: the store is opened read-only (a store copied off a server, in a read-only directory,
reads too), and a SQLite file that does not exist is an error, not a new empty database. Odd input is one line and
exit 2, never a traceback: a URL SQLAlchemy cannot parse, a path that is a directory or an empty file, a --limit
past what SQL can count, a --since that falls outside the years a datetime holds once converted to UTC.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
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
    from ivr.line.records import Apology, CallRecord, Cancellation, Turn
    from ivr.line.store import Store

#: the keys of one call in `ivr calls list --format json|csv`
CALL_FIELDS = ("started_at", "call_sid", "flow", "caller", "called", "turns", "outcome", "ended", "node", "status")
#: the keys of one cancellation record in `ivr cancellations list --format json|csv` (and `ivr calls show`)
CANCELLATION_FIELDS = ("confirmation", "created_at", "call_sid", "flow", "caller", "account", "node", "account_sid")
#: how much of a prompt `ivr calls show` prints, and of a value a table shows (JSON and CSV have all of it)
PROMPT_WIDTH, CELL_WIDTH = 100, 40
#: the most calls `--limit` asks for: SQL's LIMIT is a signed 64-bit number, and one more is read (to say "there
#: are more")
MAX_LIMIT = 2 ** 63 - 2

database_option = click.option(
    "--database", metavar="URL", envvar=ENVIRONMENT["database_url"][0], default=DEFAULT_DATABASE,
    show_default=True, show_envvar=True, help="the call store's SQLAlchemy URL (the one the app writes to)")


def iso(at: datetime) -> str:
    """A stored time as UTC ISO 8601, to the second: 2024-05-01T09:00:00Z (the year always in four digits)."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (`sqlite:///relative.db`, `sqlite:////abs.db`); None for an in-memory database,
    a `file:` URI or any other backend."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] != "sqlite":
        return None
    path = rest.removeprefix("/").partition("?")[0]
    return Path(path) if path and path != ":memory:" and not path.startswith("file:") else None


def in_memory(url: str) -> bool:
    """Whether a SQLite URL names an in-memory database (`sqlite://`, `sqlite:///:memory:`): a new, empty one."""
    scheme, sep, rest = url.partition("://")
    return bool(sep) and scheme.split("+")[0] == "sqlite" and rest.removeprefix("/").partition("?")[0] in (
        "", ":memory:")


#: the host and port of a URL as SQLAlchemy splits it (`sqlalchemy.engine.url._parse_url`): after an optional
#: `user[:password]@`, an `[IPv6]` or other host, then `:port`
_AUTHORITY = re.compile(r"(?:[^:/]*(?::[^@]*)?@)?(?P<host>\[[^/?\]]*\]?|[^/:?]*)(?::(?P<port>[^/?]*))?")


def check_database_url(url: str) -> None:
    """Refuse what is not a database URL at all, before SQLAlchemy raises on it without a word of where: no
    scheme, text that is not UTF-8 (undecodable bytes on the command line), an IPv6 host without its `]`, a port
    that is not a number."""
    if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", url):
        raise UsageError(f"{url!r} is not a database URL; expected e.g. {DEFAULT_DATABASE!r} or "
                         "'postgresql://user@host/dbname'")
    if not _is_utf8(url):
        raise UsageError(f"the database URL {url!r} is not valid UTF-8 text (bytes the terminal could not "
                         "decode); write it in UTF-8")
    found = _AUTHORITY.match(url.partition("://")[2])
    host, port = (found["host"], found["port"]) if found else ("", None)
    if host.startswith("[") and not host.endswith("]"):
        raise UsageError(f"the database URL {url!r} opens an IPv6 address with '[' and never closes it; write "
                         "e.g. 'postgresql://user@[::1]:5432/dbname'")
    if port is not None and not (re.fullmatch(r"[0-9]{1,5}", port) and 1 <= int(port) <= 65535):
        raise UsageError(f"the database URL {url!r} has the port {port!r}; a port is a number from 1 to 65535, "
                         "e.g. 'postgresql://user@host:5432/dbname'")


def utf8_text(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An argument the store compares as text: UTF-8, or the database driver raises on it."""
    if value is not None and not _is_utf8(value):
        raise click.BadParameter(f"{value!r} is not valid UTF-8 text (bytes the terminal could not decode)",
                                 param=param)
    return value


def _is_utf8(text: str) -> bool:
    """False for a str holding lone surrogates: how Python passes on command-line bytes that are not UTF-8."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def check_store_file(url: str) -> None:
    """A SQLite store to read must be a file the app has written: not missing (nor its directory), not a
    directory, not a device or pipe, not empty (the app gives a new store its tables at once)."""
    if in_memory(url):
        raise UsageError(f"{url!r} is an in-memory database, new and empty: there are no calls to read. Pass the "
                         f"URL the app writes to with --database, or set {ENVIRONMENT['database_url'][0]}")
    file = sqlite_file(url)
    if file is None:
        return
    where = os.path.abspath(file)
    hint = f". Pass the URL the app writes to with --database, or set {ENVIRONMENT['database_url'][0]}"
    try:
        found = file.stat()
    except (FileNotFoundError, NotADirectoryError):
        missing = next((p for p in reversed(Path(where).parents) if not p.is_dir()), None)
        why = f" (there is no directory {str(missing)!r})" if missing is not None else ""
        raise UsageError(f"no call store at {url!r}: {str(file.resolve())!r} does not exist{why}{hint}") from None
    except (OSError, ValueError) as exc:  # no permission to look; a NUL in the name
        raise UsageError(f"no call store at {url!r}: cannot read {where!r}: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    if stat.S_ISDIR(found.st_mode):
        raise UsageError(f"no call store at {url!r}: {where!r} is a directory; the store is a file in it, e.g. "
                         f"'sqlite:///{os.path.join(where, 'ivr-calls.db')}'")
    if not stat.S_ISREG(found.st_mode):
        raise UsageError(f"no call store at {url!r}: {where!r} is not a regular file")
    if found.st_size == 0:
        raise UsageError(f"no call store at {url!r}: {where!r} is empty; the app gives a store its tables when it "
                         f"starts{hint}")


@contextmanager
def opened(url: str) -> Iterator[Store]:
    """The store at `url`, opened read-only: nothing is created or changed (a SQLite file that is not there is
    refused here, as a typo in the path would otherwise show an empty, newly created store)."""
    ctx = click.get_current_context(silent=True)
    needs("line", ctx.command_path if ctx else "reading the call store", ("sqlalchemy",))
    check_database_url(url)
    check_store_file(url)
    from ivr.line.store import Store

    store = Store(url, read_only=True)
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
              effects: Sequence[tuple[str, str, dict[str, str]]], apologies: Sequence[Apology] = ()) -> Iterator[str]:
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
    yield from apologies_text(apologies)


def apologies_text(apologies: Sequence[Apology]) -> Iterator[str]:
    """The apologies a call heard when the app could not carry on (only when there were some)."""
    if apologies:
        yield "apologies (the app could not carry on):"
    for a in apologies:
        stored = "  (its turn was stored all the same)" if a.committed else ""
        yield f"  {iso(a.at)}  request {a.seq if a.seq is not None else '-'}: {_shorten(a.reason)}{stored}"


def apology_json(a: Apology) -> dict[str, Any]:
    return {"at": iso(a.at), "seq": a.seq, "reason": a.reason, "committed": a.committed, "said": a.said}


@click.group("calls")
def calls_group() -> None:
    """Read back the calls the app answered: all of them, or one turn by turn."""


@calls_group.command("list")
@database_option
@click.option("--flow", metavar="NAME", callback=utf8_text, help="only the calls of this flow")
@click.option("--limit", type=click.IntRange(min=1, max=MAX_LIMIT), default=50, show_default=True,
              help="show the newest N calls")
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
@click.argument("call_sid", metavar="SID", callback=utf8_text)
@database_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def calls_show(call_sid: str, database: str, fmt: str) -> None:
    """One call turn by turn: what the caller heard, what they said or pressed, how the flow understood it and
    where it went; then the cancellation records and the effects the call requested."""
    with opened(database) as store:
        call = store.get_call(call_sid)
        apologies = store.apologies(call_sid)
        if call is None and apologies:  # the call never reached the store: what the caller heard instead
            if fmt == "text":
                click.echo("\n".join([f"call {call_sid} (never stored: the store was down)",
                                      *apologies_text(apologies)]))
            else:
                click.echo(json.dumps({"call": None, "apologies": [apology_json(a) for a in apologies]}, indent=2))
            return
        if call is None:
            raise UsageError(f"no call {call_sid!r} in {store.safe_url}; `ivr calls list` shows the calls it holds")
        turns, cancellations, effects = store.turns(call_sid), store.cancellations(call_sid=call_sid), \
            store.effects(call_sid)
    if fmt == "text":
        click.echo("\n".join(show_text(call, turns, cancellations, effects, apologies)))
        return
    data = {"call": {**call_json(call), "account_sid": call.account_sid, "updated_at": iso(call.updated_at)},
            "turns": [turn_json(t) for t in turns], "cancellations": [cancellation_json(c) for c in cancellations],
            "effects": [{"node": node, "name": name, "args": args} for node, name, args in effects],
            "apologies": [apology_json(a) for a in apologies]}
    click.echo(json.dumps(data, indent=2))


def parse_since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    """`--since`: a date or ISO 8601 time, UTC unless it names its zone, as the UTC time the store compares."""
    if value is None:
        return None
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD or an ISO 8601 time such as "
                                 "2024-05-01T09:00:00Z (UTC unless it names its zone)") from None
    try:
        return since.astimezone(UTC) if since.tzinfo is not None else since.replace(tzinfo=UTC)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 is in the year 0 in UTC
        raise click.BadParameter(f"{value!r} is out of range: in UTC it is before 0001-01-01 or after "
                                 "9999-12-31T23:59:59") from None


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
