"""Turn keys, the apologies log, and no length limit on what callers and templates make.

- `ivr_turns.key`: the request that wrote a turn, so that after a commit whose outcome was lost the app can ask
  whether it happened (null for turns stored before);
- `ivr_apologies`: what callers heard when the store could not log it (spooled on the app's disk until now);
- `Text` for what a caller or a template can make long: a turn's keys and intent, a cancellation's caller and
  account (PostgreSQL refused them past 64 or 200 characters; SQLite never enforced a length, so nothing changes
  there).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

WIDENED = [("ivr_turns", "digits", sa.String(64)), ("ivr_turns", "intent", sa.String(200)),
           ("ivr_cancellations", "caller", sa.String(64)), ("ivr_cancellations", "account", sa.String(64))]


def _schema() -> str | None:
    config = op.get_context().config
    return config.attributes.get("schema") if config else None


def upgrade() -> None:
    schema = _schema()
    op.add_column("ivr_turns", sa.Column("key", sa.String(32)), schema=schema)
    op.create_index("ivr_turns_key", "ivr_turns", ["key"], unique=True, schema=schema)
    if op.get_context().dialect.name != "sqlite":
        for table, column, old in WIDENED:
            op.alter_column(table, column, type_=sa.Text, existing_type=old, existing_nullable=False,
                            schema=schema)
    op.create_table(
        "ivr_apologies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(32), nullable=False, unique=True),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("flow", sa.String(200), nullable=False),
        sa.Column("said", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("committed", sa.Boolean, nullable=False),
        schema=schema,
    )
    op.create_index("ivr_apologies_call", "ivr_apologies", ["call_sid"], schema=schema)


def downgrade() -> None:
    schema = _schema()
    op.drop_table("ivr_apologies", schema=schema)
    op.drop_index("ivr_turns_key", "ivr_turns", schema=schema)
    with op.batch_alter_table("ivr_turns", schema=schema) as batch:
        batch.drop_column("key")
