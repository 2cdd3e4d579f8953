"""Audit: the access log (アクセスログ), its seal chain and signed checkpoints.

Revision ID: 0004_audit
Revises: 0003_security

domain.md §10.7 (log every reference and update; tamper-evident; anomaly reports) and seed 000
リスク対策 (処理日時・職員・部署・端末・処理事由・宛名番号 are recorded for every access).
See docs/audit.md for the threat model.
"""

from alembic import op

revision = "0004_audit"
down_revision = "0003_security"
branch_labels = None
depends_on = None

APP_ROLE = "kiban_app"

# The columns the application may set. ``id``, ``at`` and ``xid`` are left to their defaults so the
# application cannot back-date a row or place it inside the already-sealed part of the chain.
APP_INSERT_COLUMNS = (
    "staff_id, staff_code, department_code, terminal_code, business, purpose_code, purpose_text, "
    "action, outcome, subjects, detail, request_id, session_id"
)


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS audit")
    op.execute(
        """
        CREATE TABLE audit.access_log (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at              timestamptz NOT NULL DEFAULT clock_timestamp(),
            staff_id        bigint,
            staff_code      text CHECK (char_length(staff_code) <= 32),
            department_code text,
            terminal_code   text,
            business        text,
            purpose_code    text,
            purpose_text    text,
            action          text NOT NULL,
            outcome         text NOT NULL,
            subjects        text[] NOT NULL DEFAULT '{}',
            detail          jsonb NOT NULL DEFAULT '{}'::jsonb,
            request_id      text,
            session_id      text,
            -- The writing transaction: the sealer only chains rows whose transaction can no longer be
            -- in flight (xid < snapshot xmin), so a slow transaction that commits late is never skipped.
            xid             xid8 NOT NULL DEFAULT pg_current_xact_id()
        )
        """
    )
    op.execute("CREATE INDEX access_log_at_idx ON audit.access_log (at)")
    op.execute("CREATE INDEX access_log_staff_at_idx ON audit.access_log (staff_code, at)")
    # "who saw person X" (開示請求, 監査): subjects @> ARRAY['宛名番号'].
    op.execute("CREATE INDEX access_log_subjects_idx ON audit.access_log USING gin (subjects)")
    # The sealer walks rows in (xid, id) order.
    op.execute("CREATE INDEX access_log_xid_id_idx ON audit.access_log (xid, id)")

    # One row per sealed log row, in chain order (seq is gapless, 1..n).
    op.execute(
        """
        CREATE TABLE audit.seal (
            seq        bigint PRIMARY KEY CHECK (seq > 0),
            id         bigint NOT NULL UNIQUE,
            xid        xid8   NOT NULL,
            row_hash   bytea  NOT NULL CHECK (length(row_hash) = 32),
            chain_hash bytea  NOT NULL CHECK (length(chain_hash) = 32),
            sealed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
        )
        """
    )
    # Which log this database holds: checkpoints name it, so a checkpoint from another database
    # (a restored copy, a test database) is reported instead of silently compared.
    op.execute(
        """
        CREATE TABLE audit.log_identity (
            log_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            created_at timestamptz NOT NULL DEFAULT clock_timestamp()
        )
        """
    )
    op.execute("INSERT INTO audit.log_identity DEFAULT VALUES")
    op.execute(
        """
        CREATE TABLE audit.checkpoint (
            id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at         timestamptz NOT NULL,
            log_id     uuid   NOT NULL,
            last_id    bigint,
            count      bigint NOT NULL CHECK (count >= 0),
            chain_hash bytea  NOT NULL,
            key_id     text   NOT NULL,
            signature  bytea  NOT NULL,
            file_name  text   NOT NULL
        )
        """
    )

    # Append-only even for the owner (domain.md §10.7 "tamper-evident"). Statement-level triggers also
    # fire for UPDATE/DELETE that touch no row, ON CONFLICT DO UPDATE and MERGE. A superuser can
    # still disable triggers; the exported signed checkpoints are what catch that.
    op.execute(
        """
        CREATE FUNCTION audit.refuse_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit.% is append-only: % refused (監査ログは追記のみです)', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Access-log rows are never changed or removed; see docs/audit.md.';
        END
        $$
        """
    )
    for table in ("access_log", "seal", "checkpoint", "log_identity"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit.{table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()"
        )

    # Staff ↔ their own 宛名 (self, household, address), read by the log review to find staff looking
    # up their own family. Maintained by the identity hub / personnel office, read-only to the app.
    op.execute(
        """
        CREATE TABLE security.staff_related_person (
            staff_code text NOT NULL,
            atena_no   text NOT NULL,
            relation   text NOT NULL DEFAULT 'household'
                       CHECK (relation IN ('self', 'household', 'address', 'relative')),
            PRIMARY KEY (staff_code, atena_no)
        )
        """
    )

    # Least privilege for the application role: INSERT (own columns only) + SELECT, never
    # UPDATE/DELETE/TRUNCATE. The identity column needs no sequence privilege.
    op.execute(f"GRANT USAGE ON SCHEMA audit TO {APP_ROLE}")
    op.execute(
        f"GRANT SELECT ON audit.access_log, audit.seal, audit.checkpoint, audit.log_identity TO {APP_ROLE}"
    )
    op.execute(f"GRANT INSERT ({APP_INSERT_COLUMNS}) ON audit.access_log TO {APP_ROLE}")
    # The background sealer and `kiban audit checkpoint` may run as the application role.
    op.execute(f"GRANT INSERT (seq, id, xid, row_hash, chain_hash) ON audit.seal TO {APP_ROLE}")
    op.execute(
        f"GRANT INSERT (at, log_id, last_id, count, chain_hash, key_id, signature, file_name) "
        f"ON audit.checkpoint TO {APP_ROLE}"
    )
    op.execute(f"GRANT SELECT ON security.staff_related_person TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS security.staff_related_person")
    op.execute("DROP SCHEMA IF EXISTS audit CASCADE")
