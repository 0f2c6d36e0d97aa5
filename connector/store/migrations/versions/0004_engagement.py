"""Engagement events (clicks, opens, replies, meetings, bounces, complaints) and suppressed addresses.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _text(name, nullable=False, **kwargs):
    return sa.Column(name, sa.Text, nullable=nullable, **kwargs)


def upgrade() -> None:
    op.create_table(
        "engagement_events",
        _text("dedupe_key", primary_key=True), _text("tenant"), _text("email"), _text("step_key", nullable=True),
        _text("kind"), _text("at"), sa.Column("reliable", sa.Integer, nullable=False),
        sa.Column("negative", sa.Integer, nullable=False), _text("detail", nullable=True),
        sa.CheckConstraint("kind IN ('click', 'open', 'reply', 'meeting', 'bounce', 'complaint')",
                           name="engagement_kind"))
    op.create_index("engagement_events_contact", "engagement_events", ["tenant", "email", "at"])
    op.create_table(
        "suppressions",
        _text("tenant", primary_key=True), _text("email", primary_key=True), _text("reason"), _text("at"))


def downgrade() -> None:
    op.drop_table("suppressions")
    op.drop_index("engagement_events_contact", "engagement_events")
    op.drop_table("engagement_events")
