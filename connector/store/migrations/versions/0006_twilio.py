"""Phone and SMS through Twilio: recorded SMS consent, each text's and call's status, the callback URL tokens.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _text(name, nullable=False, **kwargs):
    return sa.Column(name, sa.Text, nullable=nullable, **kwargs)


def upgrade() -> None:
    op.create_table("sms_consent", _text("tenant", primary_key=True), _text("phone", primary_key=True),
                    _text("email", nullable=True), _text("granted_at", nullable=True), _text("source", nullable=True),
                    _text("revoked_at", nullable=True), _text("revoked_source", nullable=True))
    op.create_table("twilio_messages", _text("tenant", primary_key=True), _text("sid", primary_key=True),
                    _text("kind"), _text("phone", nullable=True), _text("status"),
                    sa.Column("rank", sa.Integer, nullable=False), _text("error_code", nullable=True),
                    _text("updated_at"))
    op.create_table("twilio_tokens", _text("tenant", primary_key=True), _text("digest", unique=True))
