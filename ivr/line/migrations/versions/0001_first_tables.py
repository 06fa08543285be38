"""The tables of ivr before migrations: calls, turns, cancellations and requested effects.

A store made before `ivr db upgrade` existed has exactly these, and no version table; `ivr db upgrade` marks it as
this revision and goes on from here."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _schema() -> str | None:
    config = op.get_context().config
    return config.attributes.get("schema") if config else None


def upgrade() -> None:
    schema = _schema()
    op.create_table(
        "ivr_calls",
        sa.Column("call_sid", sa.String(64), primary_key=True),
        sa.Column("flow", sa.String(200), nullable=False),
        sa.Column("account_sid", sa.String(64), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("called", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("said", sa.Text, nullable=False),
        sa.Column("turns", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(64)),
        sa.Column("ended", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        schema=schema,
    )
    calls = f"{schema}.ivr_calls.call_sid" if schema else "ivr_calls.call_sid"
    op.create_table(
        "ivr_turns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_sid", sa.String(64), sa.ForeignKey(calls), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("heard", sa.Text, nullable=False),
        sa.Column("confidence", sa.Float),
        sa.Column("digits", sa.String(64), nullable=False),
        sa.Column("intent", sa.String(200), nullable=False),
        sa.Column("next_node", sa.String(200), nullable=False),
        sa.Column("said", sa.Text, nullable=False),
        sa.Column("turns", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(64)),
        sa.Column("twiml", sa.Text, nullable=False),
        sa.UniqueConstraint("call_sid", "seq", name="ivr_turns_call_seq"),
        schema=schema,
    )
    op.create_table(
        "ivr_cancellations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("confirmation", sa.String(16), nullable=False, unique=True),
        sa.Column("call_sid", sa.String(64), sa.ForeignKey(calls), nullable=False),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("flow", sa.String(200), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("account_sid", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("call_sid", "node", name="ivr_cancellations_once_per_call"),
        schema=schema,
    )
    op.create_table(
        "ivr_effects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_sid", sa.String(64), sa.ForeignKey(calls), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("args", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )


def downgrade() -> None:
    schema = _schema()
    for table in ("ivr_effects", "ivr_cancellations", "ivr_turns", "ivr_calls"):
        op.drop_table(table, schema=schema)
