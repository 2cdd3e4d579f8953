"""庁内連携 — item catalogue, legal bases, データ使用承認願, subscriptions, transfer log.

Revision ID: 0012_linkage
Revises: 0011_collection
"""

from alembic import op

revision = "0012_linkage"
down_revision = "0011_collection"
branch_labels = None
depends_on = None

APP_ROLE = "kiban_app"

DDL: list[str] = ["CREATE SCHEMA linkage"]


def upgrade() -> None:
    for statement in DDL:
        op.execute(statement)
    op.execute(f"GRANT USAGE ON SCHEMA linkage TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS linkage CASCADE")
