"""The send ledger's claims become leases: an owner and an expiry, taken over only once lapsed.

A claim an older SalesOS left (no owner, no expiry) has lapsed: its worker is
gone with the version that wrote it, so the next claim takes it over.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("effects") as batch:
        batch.add_column(sa.Column("owner", sa.Text, nullable=True))
        batch.add_column(sa.Column("expires_at", sa.BigInteger, nullable=True))
    op.create_index("effects_claimed", "effects", ["expires_at"], sqlite_where=sa.text("status = 'claimed'"),
                    postgresql_where=sa.text("status = 'claimed'"))
