"""Sending mailboxes and the CRM owner -> mailbox map (`connector.mailboxes`); their secrets stay in the vault.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _text(name, nullable=False, **kwargs):
    return sa.Column(name, sa.Text, nullable=nullable, **kwargs)


def upgrade() -> None:
    op.create_table(
        "mailboxes",
        _text("tenant", primary_key=True), _text("address", primary_key=True), _text("display_name"),
        _text("backend"), _text("settings"), _text("warmup_start", nullable=True),
        sa.Column("daily_cap", sa.Integer, nullable=True), sa.Column("hourly_cap", sa.Integer, nullable=True),
        _text("paused_reason", nullable=True), _text("paused_at", nullable=True), _text("created_at"),
        sa.CheckConstraint("backend IN ('smtp', 'gmail', 'graph', 'sendgrid', 'sink')", name="mailboxes_backend"),
    )
    op.create_table(
        "mailbox_owners",
        _text("tenant", primary_key=True), _text("owner_id", primary_key=True), _text("address"),
    )
