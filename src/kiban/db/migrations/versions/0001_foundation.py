"""Foundation: extensions and the kiban_meta schema (run bookkeeping).

Revision ID: 0001_foundation
Revises:
"""

from alembic import op

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # btree_gist: EXCLUDE constraints mixing scalar keys and daterange (effective-dated history,
    # architecture.md §4). pg_trgm: similarity search on names for 名寄せ.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE SCHEMA IF NOT EXISTS kiban_meta")
    # Batch runs (jobs): a run table with state so a killed run resumes or reruns to the same result.
    op.execute(
        """
        CREATE TABLE kiban_meta.job_run (
            run_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            job         text        NOT NULL,
            params      jsonb       NOT NULL DEFAULT '{}'::jsonb,
            state       text        NOT NULL CHECK (state IN ('running', 'done', 'failed')),
            started_at  timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz,
            detail      jsonb       NOT NULL DEFAULT '{}'::jsonb
        )
        """
    )
    op.execute("CREATE INDEX job_run_job_idx ON kiban_meta.job_run (job, started_at DESC)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS kiban_meta.job_run")
