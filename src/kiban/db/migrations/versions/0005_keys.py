"""Vault keys: wrapped, versioned data keys; resumable rotation runs; the encrypted-column registry.

Revision ID: 0005_keys
Revises: 0004_audit
"""

from alembic import op

revision = "0005_keys"
down_revision = "0004_audit"
branch_labels = None
depends_on = None

APP_ROLE = "kiban_app"  # created in 0003_security


def upgrade() -> None:
    # Data keys are stored only wrapped by the KEK, which never enters the database (envelope
    # encryption, architecture.md §1): a dump of this table alone decrypts nothing.
    op.execute(
        """
        CREATE TABLE security.data_key (
            purpose    text        NOT NULL CHECK (purpose IN ('vault', 'blind_index')),
            version    integer     NOT NULL CHECK (version > 0),
            wrapped    bytea       NOT NULL,
            kek_id     text        NOT NULL,
            state      text        NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retired')),
            created_at timestamptz NOT NULL DEFAULT now(),
            retired_at timestamptz,
            PRIMARY KEY (purpose, version),
            CHECK ((state = 'retired') = (retired_at IS NOT NULL))
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX data_key_one_active ON security.data_key (purpose) WHERE state = 'active'"
    )
    # Deleting a data key makes every ciphertext under it unreadable for good: refuse it outright.
    op.execute(
        """
        CREATE FUNCTION security.data_key_no_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE =
            'data keys are never deleted (ciphertexts under key ' || OLD.purpose || ':' || OLD.version
            || ' would be lost)';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER data_key_no_delete BEFORE DELETE ON security.data_key "
        "FOR EACH ROW EXECUTE FUNCTION security.data_key_no_delete()"
    )
    # Rotation is an operator job (architecture.md §3: a run table so a killed run resumes).
    op.execute(
        """
        CREATE TABLE security.rekey_run (
            run_id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            target           text        NOT NULL,
            from_version     integer     NOT NULL,
            to_version       integer     NOT NULL,
            last_row_id      text,
            rows_done        bigint      NOT NULL DEFAULT 0,
            rows_reencrypted bigint      NOT NULL DEFAULT 0,
            state            text        NOT NULL CHECK (state IN ('running', 'done')),
            started_at       timestamptz NOT NULL DEFAULT now(),
            finished_at      timestamptz,
            UNIQUE (target, to_version)
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX rekey_run_one_running ON security.rekey_run (target) WHERE state = 'running'"
    )
    # Columns rotate must re-encrypt, so an operator's shell finds them without importing the context.
    op.execute(
        """
        CREATE TABLE security.encrypted_column (
            schema_table text        NOT NULL,
            column_name  text        NOT NULL,
            id_column    text        NOT NULL,
            declared_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (schema_table, column_name)
        )
        """
    )
    # The application reads (wrapped) keys to encrypt and decrypt; only the owner creates or
    # retires them, runs rotations, or declares columns. Explicit revokes, in case default
    # privileges on the schema ever grant more.
    op.execute(
        f"REVOKE ALL ON security.data_key, security.rekey_run, security.encrypted_column FROM PUBLIC, {APP_ROLE}"
    )
    op.execute(f"GRANT SELECT ON security.data_key TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS security.encrypted_column")
    op.execute("DROP TABLE IF EXISTS security.rekey_run")
    op.execute("DROP TABLE IF EXISTS security.data_key")
    op.execute("DROP FUNCTION IF EXISTS security.data_key_no_delete()")
