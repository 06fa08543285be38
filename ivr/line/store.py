"""The durable call store: each call's state, the log of every turn, cancellation records, and requested effects.
The only home of SQLAlchemy.

One webhook is one transaction (`Store.locked`): the call's row is locked (`SELECT ... FOR UPDATE` on PostgreSQL,
`BEGIN IMMEDIATE` on SQLite), so two workers answering the same call never interleave; the response to each
request is stored with its turn under `(call_sid, seq)`, so a retried request gets the stored answer instead of
running its effects again; and a cancellation record is committed in the same transaction as the state that
confirms it, so the caller is only told "cancelled" about a record that exists.

Durability where it is promised: every turn a caller hears is committed before the response leaves, and
survives a crash or restart of the app or of PostgreSQL (PostgreSQL commits each one synchronously; SQLite runs
WAL with synchronous=NORMAL, which survives a crash of the app). A commit that holds a cancellation also survives
a power cut (SQLite: the WAL is synced for it).

No request waits unbounded: for a connection (5 s), for another request's lock (`lock_timeout`, 5 s), or for a
statement (`statement_timeout`, 10 s); past them the caller hears the apology. A commit whose reply is lost (the
connection dropped) is settled by asking the store for the turn's unique key before anything is said
(`Store._settle_lost_commit`). The tables, and their migrations, are in schema.py.

SQLite (WAL) is the embedded default; any SQLAlchemy URL works, and PostgreSQL is tested.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from ivr.errors import StoreError
from ivr.flow.engine import CONFIRMATION_DIGITS, confirmation_number
from ivr.line import schema as tables
from ivr.line import sqlite
from ivr.line.records import Apology, CallRecord, Cancellation, CommitUnknown, Turn, aware, now
from ivr.line.schema import apologies, calls, cancellations, effects, turns

T = TypeVar("T")
log = logging.getLogger("ivr.line.store")


# Statements built once: a webhook runs five of them, and building SQLAlchemy constructs costs more than SQLite
# takes to execute them. Values go in as parameters (`b_*` names keep clear of the column names).
_SID: sa.BindParameter[str] = sa.bindparam("b_sid", type_=sa.String)
_CALL_FOR_UPDATE = sa.select(calls).where(calls.c.call_sid == _SID).with_for_update()
_TURN = sa.select(turns).where(turns.c.call_sid == _SID, turns.c.seq == sa.bindparam("b_seq"))
_SAVE_CALL = calls.update().where(calls.c.call_sid == _SID).values(
    seq=sa.bindparam("b_seq"), state=sa.bindparam("b_state"), node=sa.bindparam("b_node"), said=sa.bindparam("b_said"),
    turns=sa.bindparam("b_turns"), outcome=sa.bindparam("b_outcome"), ended=sa.bindparam("b_ended"),
    updated_at=sa.bindparam("b_at"))
_CANCELLATION_AT = sa.select(cancellations.c.confirmation).where(
    cancellations.c.call_sid == _SID, cancellations.c.node == sa.bindparam("b_node"))
_CONFIRMATION_TAKEN = sa.select(cancellations.c.id).where(cancellations.c.confirmation == sa.bindparam("b_number"))


class _Statements:
    """The webhook's hot statements compiled once for one database, run on its DBAPI connection directly.

    SQLAlchemy's execution layer costs about 0.1 ms a statement, eight times what SQLite takes to run it; a
    webhook runs four, every turn of every call. They run on the same connection and in the same transaction
    as the rest (SQLAlchemy still begins, commits and does everything rare), so this is only a faster way in.
    """

    def __init__(self, dialect: sa.Dialect, schema: str | None) -> None:
        self.sqlite, self.dbapi_error = dialect.name == "sqlite", dialect.loaded_dbapi.Error
        options: dict[str, Any] = {"schema_translate_map": {None: schema}, "render_schema_translate": True} \
            if schema else {}

        def compile(stmt: Any, keys: list[str] | None = None) -> tuple[str, tuple[str, ...] | None]:
            compiled = stmt.compile(dialect=dialect, column_keys=keys, **options)
            return compiled.string, tuple(compiled.positiontup) if compiled.positiontup else None

        self.call = compile(_CALL_FOR_UPDATE)
        self.turn = compile(_TURN)
        self.save_call = compile(_SAVE_CALL)
        self.insert_turn = compile(turns.insert(), [c.name for c in turns.columns if c.name != "id"])
        self.insert_call = compile(calls.insert(), [c.name for c in calls.columns])

    def run(self, conn: Connection, statement: tuple[str, tuple[str, ...] | None],
            params: dict[str, Any]) -> Any:
        sql, order = statement
        args = tuple(params.get(k) for k in order) if order is not None else params
        try:
            return conn.connection.driver_connection.execute(sql, args)  # type: ignore[union-attr]
        except self.dbapi_error as exc:  # as SQLAlchemy would raise it: IntegrityError, OperationalError, ...
            raise sa.exc.DBAPIError.instance(sql, args, exc, self.dbapi_error) from exc

    def time(self, at: datetime) -> Any:
        """A time as SQLAlchemy stores it: SQLite keeps UTC text without the zone; PostgreSQL a timestamptz."""
        if self.sqlite:
            return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        return at


def normalise_url(url: str) -> str:
    """`postgres://` and `postgresql://` (as hosting providers print them) use the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class Transaction:
    """The writes of one webhook, inside `Store.locked`: the call's row is locked for its whole duration.

    `key` names this request's write: it is stored with the turn, so that after a commit whose outcome the app
    never learnt (the connection dropped) a fresh connection can find out whether it happened."""

    def __init__(self, conn: Connection, call_sid: str, fast: _Statements) -> None:
        self.conn, self.call_sid, self.fast, self.sqlite = conn, call_sid, fast, fast.sqlite
        self.key = secrets.token_hex(16)
        self.saved = False  # a turn was written: its key tells whether the commit happened
        #: the transaction holds a promise (a cancellation): it reaches the disk before the caller hears of it
        self.durable = False

    def must_be_durable(self) -> None:
        """PostgreSQL commits every turn synchronously (a turn a caller heard survives a crash of the server);
        SQLite syncs its WAL for this commit (`Store._flush`)."""
        self.durable = True

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo what the block wrote if it raises (a SAVEPOINT), keeping the rest of the transaction usable."""
        with self.conn.begin_nested():
            yield

    def call(self) -> CallRecord | None:
        row = self.fast.run(self.conn, self.fast.call, {"b_sid": self.call_sid}).fetchone()
        return _call(_Values(calls, row)) if row is not None else None

    def turn(self, seq: int) -> Turn | None:
        """Request `seq` of this call and the response it got (a retry gets that response again), if any."""
        row = self.fast.run(self.conn, self.fast.turn, {"b_sid": self.call_sid, "b_seq": seq}).fetchone()
        return _turn(_Values(turns, row)) if row is not None else None

    def create_call(self, *, flow: str, account_sid: str, caller: str, called: str, status: str) -> CallRecord:
        """Start the call's row (Twilio's fields cut to their columns: a SIP address can be longer) and return
        it as stored, so the request need not read it back."""
        at = now()
        values = {"call_sid": self.call_sid, "flow": flow, "account_sid": _fit("account_sid", account_sid),
                  "caller": _fit("caller", caller), "called": _fit("called", called), "started_at": at,
                  "updated_at": at, "seq": -1, "state": "{}", "node": "", "said": "", "turns": 0, "outcome": None,
                  "ended": False, "status": _fit("status", status)}
        stored = self.fast.time(at)
        self.fast.run(self.conn, self.fast.insert_call, {**values, "started_at": stored, "updated_at": stored})
        return _call(SimpleNamespace(**values))

    def save(self, turn: Turn, state: dict[str, Any], *, outcome: str | None, ended: bool) -> None:
        """Log a request's turn with its response, and move the call to its new state, as one write."""
        at = self.fast.time(now())
        self.fast.run(self.conn, self.fast.insert_turn, {
            "call_sid": self.call_sid, "seq": turn.seq, "at": at, "kind": turn.kind, "node": turn.node,
            "prompt": turn.prompt, "heard": turn.heard, "confidence": turn.confidence, "digits": turn.digits,
            "intent": turn.intent, "next_node": turn.next_node, "said": turn.said, "twiml": turn.twiml,
            "turns": turn.turns, "outcome": turn.outcome,
            # the request's key on its first turn (what a lost commit is settled by); others need only be unique
            "key": secrets.token_hex(16) if self.saved else self.key})
        self.saved = True
        self.fast.run(self.conn, self.fast.save_call, {
            "b_sid": self.call_sid, "b_seq": turn.seq, "b_state": json.dumps(state, sort_keys=True),
            "b_node": str(state.get("node", "")), "b_said": turn.said, "b_turns": int(state.get("turn", 0)),
            "b_outcome": outcome, "b_ended": ended, "b_at": at})

    def record_cancellation(self, *, flow: str, node: str, caller: str, account: str, account_sid: str) -> str:
        """Write the cancellation record and return its confirmation number (8 digits, unique). A call that
        reaches the same cancellation node twice keeps its first record and number."""
        self.must_be_durable()
        existing = self.conn.execute(_CANCELLATION_AT, {"b_sid": self.call_sid, "b_node": node}).scalar_one_or_none()
        if existing is not None:
            return str(existing)
        for _ in range(20):
            number = confirmation_number(secrets.randbelow(10 ** CONFIRMATION_DIGITS))
            if self.conn.execute(_CONFIRMATION_TAKEN, {"b_number": number}).first() is None:
                break
        self.conn.execute(cancellations.insert(), {
            "confirmation": number, "call_sid": self.call_sid, "node": node, "flow": flow, "caller": caller,
            "account": account, "account_sid": account_sid, "created_at": now()})
        return number

    def record_effect(self, *, seq: int, node: str, name: str, args: dict[str, str]) -> None:
        """Keep an effect the app has no handler for as a request for the back office to carry out."""
        self.conn.execute(effects.insert(), {
            "call_sid": self.call_sid, "seq": seq, "node": node, "name": name,
            "args": json.dumps(args, sort_keys=True), "created_at": now()})


#: how long a request waits for another one's lock on the store, and how long one statement may run, in seconds
LOCK_TIMEOUT, STATEMENT_TIMEOUT, CONNECT_TIMEOUT = 5.0, 10.0, 5


class Store:
    """A call store at a SQLAlchemy URL. `schema` (PostgreSQL) keeps the tables in a schema of their own.

    Nothing is read from the database until it is first used (`open`), so an app starts while its database is
    down and answers with apologies until it returns. `read_only` opens an existing store for reading (the audit
    commands), without creating or changing anything."""

    def __init__(self, url: str, *, schema: str | None = None, read_only: bool = False,
                 lock_timeout: float = LOCK_TIMEOUT, statement_timeout: float = STATEMENT_TIMEOUT) -> None:
        try:
            self.url = normalise_url(url)
            self.given = url  # messages show the URL as the person wrote it, not with the driver added
            parsed = make_url(self.url)
            self.is_sqlite = parsed.get_backend_name() == "sqlite"
            self.in_memory = self.is_sqlite and parsed.database in (None, "", ":memory:")
            options: dict[str, Any] = {}
            if self.in_memory:  # one database for every thread of this process (tests): one shared connection
                options = {"poolclass": sa.pool.StaticPool, "connect_args": {"check_same_thread": False}}
            elif self.is_sqlite and read_only:  # never create the file, nor write to it
                options = {"creator": sqlite.read_only(str(parsed.database))}
            elif parsed.get_backend_name() == "postgresql":
                # a request never waits unbounded: for the server, for another request's row lock, for a statement
                options = {"pool_pre_ping": True, "connect_args": {
                    "connect_timeout": CONNECT_TIMEOUT,
                    "options": f"-c lock_timeout={int(lock_timeout * 1000)} "
                               f"-c statement_timeout={int(statement_timeout * 1000)}"}}
            elif not self.is_sqlite:
                options = {"pool_pre_ping": True}
            engine = sa.create_engine(self.url, **options)
        except (ArgumentError, ImportError, ValueError, TypeError) as exc:  # not a URL, or no driver for it
            raise StoreError(f"{url!r} is not a database URL ivr can use: {_reason_text(exc)}; e.g. "
                             "sqlite:///ivr-calls.db or postgresql://host/db") from None
        if self.is_sqlite:
            sa.event.listen(engine, "connect", sqlite.pragmas(read_only, lock_timeout))
            sa.event.listen(engine, "begin", sqlite.begin)
        if schema:
            engine = engine.execution_options(schema_translate_map={None: schema})
        self.engine, self.schema, self.read_only, self.lock_timeout = engine, schema, read_only, lock_timeout
        self.fast = _Statements(engine.dialect, schema)
        self._serial = self._writers()
        self._ready = False
        self._opening = threading.Lock()
        self.durable_commits = 0  # commits made to survive a power cut (each one holds a cancellation)
        #: commits whose reply was lost, by what asking the store afterwards found: committed, not committed, unknown
        self.lost_commits: Counter[str] = Counter()

    def open(self) -> None:
        """Connect, and give an empty database its tables (at the newest revision) or check that an existing
        store is at the revision this ivr serves (`SchemaMismatch` if not). Done once; until it succeeds, every
        use of the store tries again, so a database that comes back is used again without a restart."""
        if self._ready:
            return
        with self._opening:
            if not self._ready:
                self._open()
                self._ready = True

    def _open(self) -> None:
        for attempt in range(3):  # several workers starting at once race to create the tables: the loser retries
            try:
                # IMMEDIATE on SQLite: a worker that loses the race waits for the winner instead of failing at once
                with self.engine.connect().execution_options(ivr_immediate=not self.read_only) as conn, \
                        conn.begin():
                    found = tables.revision(conn, self.schema)
                    if found is None and not self.read_only:
                        if self.schema:
                            conn.execute(sa.schema.CreateSchema(self.schema, if_not_exists=True))
                        tables.create(conn, self.schema)
                    elif found is None:
                        raise StoreError(f"{self.safe_url!r} holds no call store (no ivr tables)")
                    elif problem := tables.mismatch(found, self.safe_url):
                        raise problem
                return
            except SQLAlchemyError as exc:
                if attempt == 2 or not isinstance(exc, IntegrityError | OperationalError | ProgrammingError):
                    raise StoreError(f"cannot open the call store at {self.safe_url!r}: {_open_reason(exc)}") \
                        from exc

    def revision(self) -> str | None:
        """The schema revision of the store (None: an empty database; `schema.UNVERSIONED`: made before ivr
        had migrations)."""
        try:
            with self.engine.connect() as conn:
                return tables.revision(conn, self.schema)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the call store at {self.safe_url!r}: {_open_reason(exc)}") from exc

    def upgrade(self) -> tuple[str | None, str]:
        """Migrate the store to the schema this ivr serves, in one transaction (PostgreSQL and SQLite change
        tables transactionally): (revision before, revision now). Nothing is lost; running it again does
        nothing."""
        if self.read_only:
            raise StoreError(f"the call store at {self.safe_url!r} was opened read-only; it cannot be upgraded")
        try:
            with self.engine.connect().execution_options(ivr_immediate=True) as conn, conn.begin():
                if self.schema:
                    conn.execute(sa.schema.CreateSchema(self.schema, if_not_exists=True))
                found = tables.revision(conn, self.schema)
                if found is not None and not tables.known(found):  # made by a newer ivr: never downgrade it
                    raise tables.mismatch(found, self.safe_url) or StoreError(found)
                result = tables.upgrade(conn, self.schema)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot upgrade the call store at {self.safe_url!r}: {_reason(exc)}") from exc
        self._ready = False  # the next use checks the revision again
        return result

    def _flush(self) -> None:
        """Make the last commit survive a power cut, not only a crash of the app. SQLite runs WAL with
        synchronous=NORMAL, which writes each commit to the WAL but syncs it to disk only at checkpoints: cheap
        for the turn log, not enough for a cancellation, so its commit syncs the WAL here (what
        synchronous=FULL would do) before the confirmation leaves. PostgreSQL commits every turn synchronously."""
        self.durable_commits += 1
        database = make_url(self.url).database
        if not self.is_sqlite or self.in_memory or not database:
            return
        fd = os.open(f"{database}-wal", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _writers(self) -> AbstractContextManager[Any]:
        """How webhook transactions take turns before they begin. PostgreSQL queues its row locks itself (and
        gives up after `lock_timeout`). SQLite would make a waiting writer sleep in its busy handler (1, 2, 5 ...
        100 ms), so behind several workers the slowest turns wait far longer than the lock is held: writers queue
        on a file lock beside the database instead, for at most `lock_timeout`. An in-memory store has one
        connection, so its transactions simply take turns."""
        if self.in_memory:
            return sqlite.TimedLock(threading.Lock(), self.lock_timeout)
        database = make_url(self.url).database
        if not self.is_sqlite or not database or not sqlite.HAS_FILE_LOCKS:
            return nullcontext()
        return sqlite.FileLock(f"{database}.lock", self.lock_timeout)

    @property
    def safe_url(self) -> str:
        """The URL as given, with its password hidden."""
        return make_url(self.given).render_as_string(hide_password=True)

    def locked(self, call_sid: str, work: Callable[[Transaction], T], *, attempts: int = 3) -> T:
        """Run `work` in one transaction holding the call's lock, and commit. A conflict with another
        worker (both creating the same call, a deadlock, SQLite busy) is retried from the start; any other
        failure rolls everything back and raises `StoreError`. A commit whose outcome is lost (the connection
        dropped) is settled by asking the store: the result stands if the turn is there, else `StoreError`;
        `CommitUnknown` when the store cannot be asked."""
        self.open()
        with self._serial:
            return self._locked(call_sid, work, attempts)

    def _locked(self, call_sid: str, work: Callable[[Transaction], T], attempts: int) -> T:
        for attempt in range(attempts):
            try:
                with self.engine.connect().execution_options(ivr_immediate=True) as conn:
                    transaction = conn.begin()
                    try:
                        tx = Transaction(conn, call_sid, self.fast)
                        result = work(tx)
                    except BaseException:
                        with suppress(SQLAlchemyError):
                            transaction.rollback()
                        raise
                    try:
                        transaction.commit()
                    except SQLAlchemyError as exc:
                        if not tx.saved:
                            raise
                        self._settle_lost_commit(call_sid, tx.key, exc)
                    if tx.durable:
                        self._flush()
                    return result
            except (IntegrityError, OperationalError) as exc:
                if "readonly database" in str(exc.orig).lower():
                    # SQLite opened the file read-only while it could not be written (a connection kept in the
                    # pool since): try once more on a new connection, which sees a repair
                    self._forget_connections()
                if attempt + 1 == attempts or not _retryable(exc):
                    self._forget_connections()
                    raise StoreError(f"call store write failed for call {call_sid}: {_reason(exc)}") from exc
            except SQLAlchemyError as exc:
                self._forget_connections()
                raise StoreError(f"call store write failed for call {call_sid}: {_reason(exc)}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _forget_connections(self) -> None:
        """After a failed write, open new connections next time: SQLite opens a file it cannot write read-only
        and keeps it so, and a connection to a server that went away is useless; a new one sees the repair."""
        if not self.in_memory:
            self.engine.dispose()

    def check(self) -> None:
        """`StoreError` unless the store can be read and written now (for /healthz): on SQLite, the write lock is
        taken and given back (a read-only file, a full disk's busy lock); elsewhere a read shows the server up."""
        self.open()
        try:
            with self.engine.connect().execution_options(ivr_immediate=not self.read_only) as conn, conn.begin():
                conn.execute(sa.select(calls.c.call_sid).limit(1)).all()
                if self.is_sqlite and not self.read_only:  # writes nothing, but fails on a file it cannot write
                    conn.execute(calls.update().where(sa.false()).values(seq=calls.c.seq))
        except SQLAlchemyError as exc:
            self._forget_connections()
            raise StoreError(f"call store at {self.safe_url!r} failed: {_reason(exc)}") from exc

    def _settle_lost_commit(self, call_sid: str, key: str, exc: SQLAlchemyError) -> None:
        """A commit failed: find out whether it happened (its turn's key is stored) on a fresh connection,
        waiting for the call's lock so that a commit still in flight finishes first. Returns when it did."""
        log.warning("call %s: the commit of request %s failed (%s); asking the store whether it happened",
                    call_sid, key, _reason(exc))
        try:
            with self.engine.connect() as conn, conn.begin():
                self.fast.run(conn, self.fast.call, {"b_sid": call_sid}).fetchone()
                found = conn.execute(sa.select(turns.c.id).where(turns.c.key == key)).first() is not None
        except SQLAlchemyError as again:
            self.lost_commits["unknown"] += 1
            log.error("ambiguous commit: call %s request %s: the store cannot be asked (%s)", call_sid, key,
                      _reason(again))
            raise CommitUnknown(f"call store write failed for call {call_sid}: the commit's outcome is unknown "
                                f"({_reason(exc)})", key) from exc
        self.lost_commits["committed" if found else "not committed"] += 1
        log.warning("ambiguous commit: call %s request %s %s", call_sid, key,
                    "had committed: answering with what was stored" if found else "had not committed")
        if not found:
            raise StoreError(f"call store write failed for call {call_sid}: {_reason(exc)}") from exc

    def update_status(self, call_sid: str, status: str, *, ended: bool) -> bool:
        """Record Twilio's CallStatus for a call; False when the call is unknown. A status never moves a call
        back (a late or replayed `ringing` after `completed` is ignored): queued, ringing, in-progress, then a
        final status, which stays."""
        status = _fit("status", status)

        def work(tx: Transaction) -> bool:
            call = tx.call()
            if call is None:
                return False
            new, current = _status_rank(status), _status_rank(call.status)
            if current == FINAL_RANK or new < current or (new == current and status != call.status):
                log.info("call %s: status %r after %r ignored (a call's status never goes back)", call_sid,
                         status, call.status)
                return True
            values: dict[str, Any] = {"status": status, "updated_at": now()}
            if ended:
                values["ended"] = True
            tx.conn.execute(calls.update().where(calls.c.call_sid == call_sid).values(**values))
            return True

        return self.locked(call_sid, work)

    def record_apology(self, apology: Apology) -> None:
        """Keep what a caller heard when the app could not carry on (once per key: a spool may be drained twice).
        It is marked `committed` when the request's own turn was stored after all."""
        self.open()
        try:
            with self.engine.connect() as conn, conn.begin():
                if conn.execute(sa.select(apologies.c.id).where(apologies.c.key == apology.key)).first():
                    return
                committed = conn.execute(sa.select(turns.c.id).where(turns.c.key == apology.key)).first()
                conn.execute(apologies.insert(), {
                    "key": apology.key, "call_sid": apology.call_sid[:64], "seq": apology.seq, "at": apology.at,
                    "flow": apology.flow, "said": apology.said, "reason": apology.reason,
                    "committed": apology.committed or committed is not None})
        except SQLAlchemyError as exc:
            raise StoreError(f"call store at {self.safe_url!r} failed: {_reason(exc)}") from exc

    def apologies(self, call_sid: str | None = None) -> list[Apology]:
        query = sa.select(apologies).order_by(apologies.c.at, apologies.c.id)
        if call_sid:
            query = query.where(apologies.c.call_sid == call_sid)
        with self._reading() as conn:
            return [Apology(key=r.key, call_sid=r.call_sid, seq=r.seq, at=aware(r.at), flow=r.flow, said=r.said,
                            reason=r.reason, committed=bool(r.committed)) for r in conn.execute(query)]

    # -- reading back, for `ivr calls` and `ivr cancellations` -------------------------------------------

    def calls(self, *, limit: int | None = None, flow: str | None = None,
              since: datetime | None = None) -> list[CallRecord]:
        """The calls, newest first: of one `flow`, started at or after `since`, at most `limit`."""
        query = sa.select(calls).order_by(calls.c.started_at.desc(), calls.c.call_sid)
        if flow:
            query = query.where(calls.c.flow == flow)
        if since is not None:
            query = query.where(calls.c.started_at >= self._time(since))
        with self._reading() as conn:
            return [_call(r) for r in conn.execute(query.limit(limit))]

    def get_call(self, call_sid: str) -> CallRecord | None:
        with self._reading() as conn:
            row = conn.execute(sa.select(calls).where(calls.c.call_sid == call_sid)).first()
        return _call(row) if row is not None else None

    def turns(self, call_sid: str) -> list[Turn]:
        query = sa.select(turns).where(turns.c.call_sid == call_sid).order_by(turns.c.seq)
        with self._reading() as conn:
            return [_turn(r) for r in conn.execute(query)]

    def cancellations(self, *, call_sid: str | None = None, since: datetime | None = None) -> list[Cancellation]:
        query = sa.select(cancellations).order_by(cancellations.c.created_at, cancellations.c.id)
        if call_sid:
            query = query.where(cancellations.c.call_sid == call_sid)
        if since is not None:
            query = query.where(cancellations.c.created_at >= self._time(since))
        with self._reading() as conn:
            return [Cancellation(confirmation=r.confirmation, call_sid=r.call_sid, node=r.node, flow=r.flow,
                                 caller=r.caller, account=r.account, account_sid=r.account_sid,
                                 created_at=aware(r.created_at)) for r in conn.execute(query)]

    def effects(self, call_sid: str) -> list[tuple[str, str, dict[str, str]]]:
        """(node, effect name, args) of the effects requested during a call, in order."""
        query = sa.select(effects).where(effects.c.call_sid == call_sid).order_by(effects.c.id)
        with self._reading() as conn:
            return [(r.node, r.name, json.loads(r.args)) for r in conn.execute(query)]

    def _time(self, at: datetime) -> datetime:
        """A time to compare stored ones with: SQLite keeps UTC times without their zone, and compares them as text."""
        at = at.astimezone(UTC)
        return at.replace(tzinfo=None) if self.is_sqlite else at

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        self.open()
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"call store at {self.safe_url!r} failed: {_reason(exc)}") from exc

    def close(self) -> None:
        self.engine.dispose()


class _Values:
    """A raw row by column name, as SQLAlchemy's rows are (times as stored: SQLite gives text)."""

    def __init__(self, table: sa.Table, row: Any) -> None:
        for column, value in zip(table.columns, row, strict=True):
            if isinstance(column.type, sa.DateTime) and isinstance(value, str):
                value = datetime.fromisoformat(value)
            elif isinstance(column.type, sa.Boolean) and value is not None:
                value = bool(value)
            setattr(self, column.name, value)


#: Twilio's CallStatus values in the order a call goes through them; the final ones share the last rank
_STATUS_ORDER = {"": 0, "queued": 1, "initiated": 1, "ringing": 2, "in-progress": 3, "answered": 3}
FINAL_RANK = 4


def _status_rank(status: str) -> int:
    if status in ("completed", "busy", "failed", "no-answer", "canceled"):
        return FINAL_RANK
    return _STATUS_ORDER.get(status, 0)


def _fit(column: str, value: str) -> str:
    """`value` cut to the length of its column in `ivr_calls` (PostgreSQL refuses a longer one)."""
    kind = calls.c[column].type
    return value[: kind.length] if isinstance(kind, sa.String) else value


def _call(row: Any) -> CallRecord:
    return CallRecord(call_sid=row.call_sid, flow=row.flow, account_sid=row.account_sid, caller=row.caller,
                      called=row.called, started_at=aware(row.started_at), updated_at=aware(row.updated_at),
                      seq=row.seq, state=json.loads(row.state), node=row.node, turns=row.turns,
                      outcome=row.outcome, ended=row.ended, status=row.status, said=row.said)


def _turn(r: Any) -> Turn:
    return Turn(seq=r.seq, kind=r.kind, node=r.node, prompt=r.prompt, heard=r.heard, confidence=r.confidence,
                digits=r.digits, intent=r.intent, next_node=r.next_node, said=r.said, twiml=r.twiml, turns=r.turns,
                outcome=r.outcome, at=aware(r.at))


def _retryable(exc: IntegrityError | OperationalError) -> bool:
    if isinstance(exc, IntegrityError):  # two workers created the same call: the retry finds it
        return True
    text = str(exc.orig).lower()
    return any(s in text for s in ("database is locked", "deadlock", "could not serialize", "readonly database"))


def _reason(exc: SQLAlchemyError) -> str:
    return _reason_text(getattr(exc, "orig", None) or exc)


def _reason_text(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _open_reason(exc: SQLAlchemyError) -> str:
    """Why a database could not be opened, in a few words: psycopg's 'connection failed: connection to server at
    "127.0.0.1", port 1 failed: Connection refused' -> 'connection refused'; a host that does not resolve -> 'unknown
    host 'db.example''."""
    text = _reason(exc)
    host = re.search(r"failed to resolve host '([^']*)'|could not translate host name \"([^\"]*)\"", text)
    if host:
        return f"unknown host {host.group(1) or host.group(2)!r}"
    text = re.sub(r"^(FATAL|ERROR):\s+", "", text.rsplit(" failed: ", 1)[-1])
    return text[:1].lower() + text[1:] if text[1:2].islower() else text
