"""kaigo: 被保険者 (insured persons) and their 資格 periods.

Revision ID: 0008_kaigo_insured
Revises: 0007_identity

被保険者番号 is unique within the insurer, never reused (a sequence that never goes back) and never
given twice to one person (UNIQUE (insurer_no, person_id)): seed 003 reports an incident in which one
person was assigned two numbers; the database makes it impossible. 資格 periods are half-open
``[取得日, 喪失日)`` and cannot overlap for one insured person (EXCLUDE, btree_gist); a corrected
period is kept (superseded_at) rather than overwritten (architecture.md §4).
"""

from alembic import op

revision = "0008_kaigo_insured"
down_revision = "0007_identity"
branch_labels = None
depends_on = None

APP_ROLE = "kiban_app"

DDL = [
    "CREATE SCHEMA IF NOT EXISTS kaigo",
    "COMMENT ON SCHEMA kaigo IS '介護保険: 資格管理・賦課・認定・給付'",
    "CREATE SEQUENCE kaigo.insured_no_seq AS bigint START 1 MAXVALUE 9999999999 NO CYCLE",
    """
    CREATE TABLE kaigo.insured (
        insured_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        insurer_no   text NOT NULL CHECK (insurer_no ~ '^[0-9]{6}$'),
        insured_no   text NOT NULL CHECK (insured_no ~ '^[0-9]{10}$'),
        person_id    bigint NOT NULL REFERENCES identity.person,
        assigned_at  timestamptz NOT NULL DEFAULT now(),
        assigned_by  bigint REFERENCES security.staff,
        UNIQUE (insurer_no, insured_no),
        UNIQUE (insurer_no, person_id)
    )
    """,
    """
    CREATE TABLE kaigo.qualification (
        qualification_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        insured_id       bigint NOT NULL REFERENCES kaigo.insured,
        category         smallint NOT NULL CHECK (category IN (1, 2)),
        valid            daterange NOT NULL CHECK (NOT isempty(valid) AND lower(valid) IS NOT NULL),
        acquire_reason   text NOT NULL,
        loss_reason      text,
        recorded_at      timestamptz NOT NULL DEFAULT now(),
        recorded_by      bigint REFERENCES security.staff,
        superseded_at    timestamptz,
        superseded_by    bigint REFERENCES security.staff,
        supersede_reason text,
        CHECK ((loss_reason IS NULL) = upper_inf(valid)),
        EXCLUDE USING gist (insured_id WITH =, valid WITH &&) WHERE (superseded_at IS NULL)
    )
    """,
    "CREATE INDEX qualification_insured ON kaigo.qualification (insured_id, lower(valid))",
]


def upgrade() -> None:
    for statement in DDL:
        op.execute(statement)
    op.execute(f"GRANT USAGE ON SCHEMA kaigo TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA kaigo TO {APP_ROLE}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA kaigo TO {APP_ROLE}")
    # History is never deleted: the application role has no DELETE here.


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS kaigo CASCADE")
