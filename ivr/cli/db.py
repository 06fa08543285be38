"""`ivr db`: the call store's schema. `ivr db upgrade` migrates a store made by an earlier ivr to the schema this
one serves (the app refuses to start on any other, and says to run this); `ivr db current` says where a store is.

Run the upgrade once, before deploying the new app (every worker of the old one may keep running until then:
the changes only add tables, columns and indexes, and lengthen columns)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ivr.cli.audit import check_database_url, database_option
from ivr.cli.common import needs

if TYPE_CHECKING:
    from ivr.line.store import Store


@click.group("db")
def db_group() -> None:
    """The call store's schema: upgrade it, or say which revision it is at."""


@db_group.command("upgrade")
@database_option
def db_upgrade(database: str) -> None:
    """Migrate the call store at --database to the schema this ivr serves (creating it when empty)."""
    store = _store(database)
    try:
        before, after = store.upgrade()
    finally:
        store.close()
    if before == after:
        click.echo(f"{store.safe_url}: already at schema revision {after}; nothing to do")
    elif before is None:
        click.echo(f"{store.safe_url}: created the call store at schema revision {after}")
    else:
        click.echo(f"{store.safe_url}: upgraded from schema revision {before} to {after}")


@db_group.command("current")
@database_option
def db_current(database: str) -> None:
    """Print the schema revision of the call store at --database, and whether this ivr can use it."""
    from ivr.line.schema import HEAD, mismatch

    store = _store(database)
    try:
        found = store.revision()
    finally:
        store.close()
    if found is None:
        click.echo(f"{store.safe_url}: empty (the app or `ivr db upgrade` creates the tables at {HEAD})")
        return
    problem = mismatch(found, store.safe_url)
    click.echo(f"{store.safe_url}: schema revision {found}" + (f" ({problem})" if problem else
                                                                 ", the one this ivr serves"))
    if problem:
        raise click.exceptions.Exit(1)


def _store(database: str) -> Store:
    ctx = click.get_current_context(silent=True)
    needs("line", ctx.command_path if ctx else "ivr db", ("sqlalchemy", "alembic"))
    check_database_url(database)
    from ivr.line.store import Store

    return Store(database)
