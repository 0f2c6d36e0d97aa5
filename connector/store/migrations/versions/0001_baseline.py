"""Baseline: the state SalesOS kept in SQLite before Alembic, with emails folded to lower case.

A database made by an older SalesOS already has these tables: they are kept,
given the unsubscribe columns added since, and their emails are lower-cased
(its NOCASE collations made case irrelevant; PostgreSQL has none).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _text(name, nullable=False, **kwargs):
    return sa.Column(name, sa.Text, nullable=nullable, **kwargs)


TABLES = {
    "effects": lambda: [_text("key", primary_key=True), _text("status"), _text("claimed_at"),
                        _text("done_at", nullable=True),
                        sa.CheckConstraint("status IN ('claimed', 'done')", name="effects_status")],
    "unsubscribe_tokens": lambda: [_text("token", primary_key=True), _text("tenant"), _text("email"),
                                   _text("created_at"),
                                   sa.UniqueConstraint("tenant", "email", name="unsubscribe_tokens_tenant_email")],
    "holds": lambda: [_text("tenant", primary_key=True), _text("email", primary_key=True), _text("reason"),
                      _text("at")],
    "parked": lambda: [_text("key", primary_key=True), _text("tenant"), _text("email"), _text("item")],
    "sequence_versions": lambda: [_text("tenant", primary_key=True), _text("email", primary_key=True),
                                  sa.Column("version", sa.Integer, nullable=False)],
    "unsubscribes": lambda: [_text("tenant", primary_key=True), _text("email", primary_key=True), _text("at"),
                             _text("synced_at", nullable=True), _text("queued_at", nullable=True),
                             _text("abandoned_at", nullable=True), _text("note", nullable=True)],
    "applied_changes": lambda: [_text("tenant", primary_key=True), _text("record", primary_key=True),
                                _text("property", primary_key=True),
                                sa.Column("occurred_at", sa.BigInteger, nullable=False)],
    "tenants": lambda: [_text("id", primary_key=True), _text("crm"), _text("external_id"),
                        _text("instance_url", nullable=True), _text("auth"), _text("status"),
                        _text("status_reason", nullable=True), _text("installed_at"),
                        sa.UniqueConstraint("crm", "external_id", name="tenants_crm_external_id")],
    "secrets": lambda: [_text("tenant", primary_key=True), _text("name", primary_key=True),
                        sa.Column("ciphertext", sa.LargeBinary, nullable=False), _text("updated_at")],
    "vault_state": lambda: [_text("name", primary_key=True), _text("value")],
    "outbound_tokens": lambda: [_text("tenant", primary_key=True), _text("digest", unique=True)],
    "workflow_tokens": lambda: [_text("tenant", primary_key=True), _text("digest", unique=True)],
    "api_keys": lambda: [_text("id", primary_key=True), _text("scope"), _text("tenant", nullable=True),
                         _text("label", nullable=True), _text("digest"), _text("created_at"),
                         _text("revoked_at", nullable=True)],
    "tenant_markets": lambda: [_text("tenant", primary_key=True), _text("market"), _text("origin"),
                               _text("updated_at")],
    "tenant_data_sources": lambda: [_text("tenant", primary_key=True), _text("source"), _text("updated_at")],
    "deal_events": lambda: [_text("identity", primary_key=True), _text("tenant"), _text("deal_id"),
                            _text("stage", nullable=True), _text("occurred_at"),
                            _text("change_source", nullable=True)],
    "crm_records": lambda: [_text("tenant", primary_key=True), _text("kind", primary_key=True),
                            _text("key", primary_key=True), _text("crm_id"), _text("parent", nullable=True)],
    "crm_stamps": lambda: [_text("tenant", primary_key=True), _text("kind", primary_key=True),
                           _text("key", primary_key=True), _text("field", primary_key=True), _text("value_hash"),
                           _text("written_at")],
}
INDEXES = [
    ("unsubscribes_waiting", "unsubscribes", ["at"], "synced_at IS NULL AND abandoned_at IS NULL"),
    ("crm_records_by_id", "crm_records", ["tenant", "kind", "crm_id"], None),
    ("crm_records_by_parent", "crm_records", ["tenant", "kind", "parent"], None),
]
ADDED_UNSUBSCRIBE_COLUMNS = ("synced_at", "queued_at", "abandoned_at", "note")
LOWER_CASED = {"unsubscribe_tokens": "email", "holds": "email", "parked": "email", "sequence_versions": "email",
               "unsubscribes": "email", "applied_changes": "record"}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for name, columns in TABLES.items():
        if name not in existing:
            op.create_table(name, *columns())
    if "unsubscribes" in existing:
        present = {column["name"] for column in inspector.get_columns("unsubscribes")}
        for column in ADDED_UNSUBSCRIBE_COLUMNS:
            if column not in present:
                op.add_column("unsubscribes", sa.Column(column, sa.Text, nullable=True))
    for table, column in LOWER_CASED.items():
        if table in existing:
            op.execute(f"UPDATE {table} SET {column} = lower({column})")
    for name, table, columns, where in INDEXES:
        clause = {} if where is None else {"sqlite_where": sa.text(where), "postgresql_where": sa.text(where)}
        op.create_index(name, table, columns, if_not_exists=True, **clause)
