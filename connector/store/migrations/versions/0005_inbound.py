"""Inbound mail: each mailbox's read cursor, and the digests of the SendGrid Inbound Parse URL tokens.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_cursors",
        sa.Column("tenant", sa.Text, nullable=False, primary_key=True),
        sa.Column("mailbox", sa.Text, nullable=False, primary_key=True),
        sa.Column("cursor", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    op.create_table(
        "inbound_parse_tokens",
        sa.Column("tenant", sa.Text, nullable=False, primary_key=True),
        sa.Column("digest", sa.Text, nullable=False, unique=True),
    )
