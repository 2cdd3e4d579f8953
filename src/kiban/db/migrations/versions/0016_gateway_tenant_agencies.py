"""中間サーバー — the agencies (機関) a tenant has registered with the 情報提供ネットワークシステム.

Revision ID: 0016_gateway_tenant_agencies
Revises: 0015_identity_period_triggers

A tenant holds ONE pair of tokens for the network: the bearer it presents, and the hash of the one
the network presents when it calls back. ``kiban gateway join`` makes a new pair each time and
registers it for the businesses it is given; run again for another business, it left the first
business's agency on the old pair, which the tenant no longer holds, and that business's calls
failed both ways. The tenant now remembers its agencies, and a join registers the new pair for all
of them.
"""

from alembic import op

revision = "0016_gateway_tenant_agencies"
down_revision = "0015_identity_period_triggers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE gateway.tenant ADD COLUMN agencies text[] NOT NULL DEFAULT '{}'")


def downgrade() -> None:
    op.execute("ALTER TABLE gateway.tenant DROP COLUMN agencies")
