"""Declare the encrypted TOTP secret column so `kiban keys rotate` re-encrypts it.

Revision ID: 0006_totp_encrypted_column
Revises: 0005_keys
"""

from alembic import op

revision = "0006_totp_encrypted_column"
down_revision = "0005_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # security.staff.totp_secret holds second-factor secrets encrypted with the vault keys
    # (a database dump must not hand out second factors).
    op.execute(
        "INSERT INTO security.encrypted_column (schema_table, column_name, id_column) "
        "VALUES ('security.staff', 'totp_secret', 'staff_id') ON CONFLICT DO NOTHING"
    )


def downgrade() -> None:
    op.execute(
        "DELETE FROM security.encrypted_column WHERE schema_table = 'security.staff' AND column_name = 'totp_secret'"
    )
