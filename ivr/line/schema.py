"""The call store's tables and their versions: what `Store` reads and writes, and how an older store is upgraded.

The tables are declared once, here, at the newest version (`HEAD`). Every change to them is an Alembic migration
in `ivr/line/migrations/versions/` (upgrade, and downgrade where nothing is lost), and `HEAD` names the newest.
A store records its version in Alembic's `alembic_version` table; a store made by ivr before migrations existed
has the tables of revision `0001` and no version table, and is recognised by that.

    ivr db upgrade --database URL        # migrate a store to HEAD (idempotent; run before deploying an app)
    ivr db current --database URL        # the version a store is at

`Store` never migrates by itself: an empty database gets the tables at HEAD, and a store at another version makes
the app refuse to start, with the command that fixes it (`SchemaMismatch`), rather than fail on every call.

Columns sized by the flow's names (flow, node, intent, effect name: 200; outcome: 64) fit because the loader
refuses longer names; everything a caller or a template can make long (what was heard, keys, effect arguments,
an account number) is `Text`, which has no length on any backend.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from ivr.errors import StoreError

#: the newest schema revision (the last migration in migrations/versions/)
HEAD = "0002"
#: the revision of a store made before ivr had migrations: its tables, without a version table
UNVERSIONED = "0001"
MIGRATIONS = Path(__file__).parent / "migrations"
#: the longest name the store keeps for a flow, node, intent or effect, and for an outcome (the loader's limits)
NAME_LENGTH, OUTCOME_LENGTH = 200, 64

metadata = sa.MetaData()

calls = sa.Table(
    "ivr_calls", metadata,
    sa.Column("call_sid", sa.String(64), primary_key=True),
    sa.Column("flow", sa.String(NAME_LENGTH), nullable=False),
    sa.Column("account_sid", sa.String(64), nullable=False, default=""),
    sa.Column("caller", sa.String(64), nullable=False, default=""),
    sa.Column("called", sa.String(64), nullable=False, default=""),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False, default=0),  # the number of the last response given
    sa.Column("state", sa.Text, nullable=False),  # the engine's CallState, as JSON
    sa.Column("node", sa.String(NAME_LENGTH), nullable=False, default=""),
    sa.Column("said", sa.Text, nullable=False, default=""),  # what the last response said (the next turn's prompt)
    sa.Column("turns", sa.Integer, nullable=False, default=0),
    sa.Column("outcome", sa.String(OUTCOME_LENGTH)),
    sa.Column("ended", sa.Boolean, nullable=False, default=False),
    sa.Column("status", sa.String(32), nullable=False, default=""),  # Twilio's CallStatus, last seen
)

turns = sa.Table(
    "ivr_turns", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("call_sid", sa.String(64), sa.ForeignKey("ivr_calls.call_sid"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # start | gather | dial
    sa.Column("node", sa.String(NAME_LENGTH), nullable=False, default=""),  # where the caller was when answering
    sa.Column("prompt", sa.Text, nullable=False, default=""),  # what they had just heard
    sa.Column("heard", sa.Text, nullable=False, default=""),
    sa.Column("confidence", sa.Float),
    sa.Column("digits", sa.Text, nullable=False, default=""),
    sa.Column("intent", sa.Text, nullable=False, default=""),  # what the engine made of it
    sa.Column("next_node", sa.String(NAME_LENGTH), nullable=False, default=""),
    sa.Column("said", sa.Text, nullable=False, default=""),  # what the response says
    sa.Column("turns", sa.Integer, nullable=False, default=0),  # the call's completed turns after this request
    sa.Column("outcome", sa.String(OUTCOME_LENGTH)),  # the call's outcome after this request, once it has one
    sa.Column("twiml", sa.Text, nullable=False),
    # the request that wrote the turn (random, unique): after a commit whose outcome the app never learnt (the
    # connection dropped), finding this key says it committed; null in turns stored before revision 0002
    sa.Column("key", sa.String(32)),
    sa.UniqueConstraint("call_sid", "seq", name="ivr_turns_call_seq"),
    sa.Index("ivr_turns_key", "key", unique=True),
)

cancellations = sa.Table(
    "ivr_cancellations", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("confirmation", sa.String(16), nullable=False, unique=True),
    sa.Column("call_sid", sa.String(64), sa.ForeignKey("ivr_calls.call_sid"), nullable=False),
    sa.Column("node", sa.String(NAME_LENGTH), nullable=False),
    sa.Column("flow", sa.String(NAME_LENGTH), nullable=False),
    sa.Column("caller", sa.Text, nullable=False, default=""),
    sa.Column("account", sa.Text, nullable=False, default=""),
    sa.Column("account_sid", sa.String(64), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("call_sid", "node", name="ivr_cancellations_once_per_call"),
)

effects = sa.Table(
    "ivr_effects", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("call_sid", sa.String(64), sa.ForeignKey("ivr_calls.call_sid"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("node", sa.String(NAME_LENGTH), nullable=False),
    sa.Column("name", sa.String(NAME_LENGTH), nullable=False),
    sa.Column("args", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# what callers heard that the turn log could not say at the time: an apology given because the store failed (kept
# on the app's disk until the store took it back, see spool.py), or one given after a commit whose outcome was
# unknown. No foreign key: the call may never have reached the store.
apologies = sa.Table(
    "ivr_apologies", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(32), nullable=False, unique=True),  # the request's key: a spool entry lands once
    sa.Column("call_sid", sa.String(64), nullable=False),
    sa.Column("seq", sa.Integer),  # the request it answered (null: not a numbered request)
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("flow", sa.String(NAME_LENGTH), nullable=False, default=""),
    sa.Column("said", sa.Text, nullable=False, default=""),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    # the request's own turn was committed after all (found when the apology was logged): the store holds
    # what the flow did, but the caller heard this apology instead
    sa.Column("committed", sa.Boolean, nullable=False, default=False),
    sa.Index("ivr_apologies_call", "call_sid"),
)


class SchemaMismatch(StoreError):
    """The store's tables are at another revision than this ivr serves: nothing is read or written."""


def alembic_config(connection: Connection | None, schema: str | None) -> Config:
    """Alembic's configuration for our migrations, run on `connection` (no alembic.ini: it all lives here)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    return config


def _context(conn: Connection, schema: str | None) -> MigrationContext:
    """Alembic's view of the store on `conn`: its version table, in the store's schema when it has one."""
    return MigrationContext.configure(conn, opts={"version_table_schema": schema} if schema else {})


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(None, None))


def revision(conn: Connection, schema: str | None) -> str | None:
    """The revision a store is at: None for an empty database, `UNVERSIONED` for tables without a version."""
    current = _context(conn, schema).get_current_revision()
    if current is not None:
        return current
    return UNVERSIONED if sa.inspect(conn).has_table("ivr_calls", schema=schema) else None


def create(conn: Connection, schema: str | None) -> None:
    """The tables of an empty database, at HEAD, and the version that says so."""
    metadata.create_all(conn)
    _context(conn, schema).stamp(_script(), HEAD)


def upgrade(conn: Connection, schema: str | None, target: str = "head") -> tuple[str | None, str]:
    """Migrate the store on `conn` to `target`: (revision before, revision after). A store made before ivr
    had migrations is first marked as revision 0001, which it is; an empty database gets its tables at HEAD."""
    before = revision(conn, schema)
    if before is None:
        create(conn, schema)
        return None, HEAD
    config = alembic_config(conn, schema)
    if _context(conn, schema).get_current_revision() is None:  # tables without a version: made before migrations
        command.stamp(config, UNVERSIONED)
    command.upgrade(config, target)
    return before, revision(conn, schema) or HEAD


def known(found: str) -> bool:
    """Whether `found` is one of our revisions (a store at an unknown one was made by a newer ivr)."""
    return found in {script.revision for script in _script().walk_revisions()}


def mismatch(found: str | None, where: str) -> SchemaMismatch | None:
    """Why this ivr cannot use a store at revision `found` (None when it can)."""
    if found in (None, HEAD):
        return None
    if known(found):
        return SchemaMismatch(f"the call store at {where!r} has schema revision {found}, older than the {HEAD} this "
                              f"ivr serves: upgrade it first with `ivr db upgrade --database {where}`")
    return SchemaMismatch(f"the call store at {where!r} has schema revision {found!r}, which this ivr does not know "
                          f"(it serves {HEAD}): it was made by a newer ivr; upgrade ivr, or use another database")
