"""Alembic's entry point for the call store's migrations: always online, on the connection `ivr db upgrade` (or
a test) hands over in `config.attributes`, with the store's PostgreSQL schema when it has one."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
schema = context.config.attributes.get("schema")
context.configure(connection=connection, version_table_schema=schema, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
