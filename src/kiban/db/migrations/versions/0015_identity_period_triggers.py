"""宛名 hub — the no-overlap rule of person versions and household memberships, by trigger.

Revision ID: 0015_identity_period_triggers
Revises: 0014_collection_closing

Migration 0007 kept "the live periods of one person never overlap" (a person has one 住所・氏名 on
any day, and belongs to one 世帯 on any day) with ``EXCLUDE USING gist (person_id WITH =, valid
WITH &&)`` on ``identity.person_version`` and ``identity.household_member``. The rule stays; what
keeps it changes. A GiST index over a range has no sort support, so building it for a million
persons inserts row by row: 19–20 s each for the 住民記録 全件取込 (bench/bench_identity.py), two
thirds of the whole load. A btree on ``person_id`` builds in under a second.

The rule is now an AFTER row trigger, ``identity.refuse_overlapping_period``:
- it takes a transaction advisory lock per person and table first, so two writers of one person's
  periods take turns, and the second one's check (a new snapshot under READ COMMITTED) sees what the
  first committed — what the EXCLUDE's index did by waiting for the other transaction;
- it refuses an overlap with SQLSTATE 23P01 (exclusion_violation) and the old constraint's name, so
  callers see the same error as before;
- it refuses to write under REPEATABLE READ or SERIALIZABLE, where the check's snapshot would be the
  transaction's and could miss a period committed meanwhile (nothing in kiban writes periods there).

The full load (kiban.identity.load) disables the trigger for its COPY and checks the loaded rows
set-based instead, in the same transaction.
"""

from alembic import op

revision = "0015_identity_period_triggers"
down_revision = "0014_collection_closing"
branch_labels = None
depends_on = None

# (table, advisory lock class: 'kipv' / 'kihm', the former EXCLUDE constraint's name)
TABLES = (
    ("person_version", 0x6B697076, "person_version_person_id_valid_excl"),
    ("household_member", 0x6B69686D, "household_member_person_id_valid_excl"),
)

FUNCTION = """
CREATE FUNCTION identity.refuse_overlapping_period() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    lock_class integer := TG_ARGV[0]::integer;
    clash boolean;
BEGIN
    IF NEW.superseded_at IS NOT NULL THEN
        RETURN NULL;  -- a superseded row is history, outside the rule (as the EXCLUDE's WHERE)
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION '% の有効期間は READ COMMITTED のトランザクションで書き込みます', TG_TABLE_NAME
            USING ERRCODE = 'feature_not_supported';
    END IF;
    PERFORM pg_advisory_xact_lock(lock_class, mod(NEW.person_id, 2147483647)::integer);
    IF TG_TABLE_NAME = 'person_version' THEN
        SELECT EXISTS (
            SELECT 1 FROM identity.person_version v
             WHERE v.person_id = NEW.person_id AND v.superseded_at IS NULL
               AND v.version_id <> NEW.version_id AND v.valid && NEW.valid) INTO clash;
    ELSE
        SELECT EXISTS (
            SELECT 1 FROM identity.household_member m
             WHERE m.person_id = NEW.person_id AND m.superseded_at IS NULL
               AND m.member_id <> NEW.member_id AND m.valid && NEW.valid) INTO clash;
    END IF;
    IF clash THEN
        RAISE EXCEPTION '% の有効期間が重なっています（person_id %, %）', TG_TABLE_NAME, NEW.person_id, NEW.valid
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = TG_ARGV[1],
                  SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.execute(FUNCTION)
    for table, lock_class, constraint in TABLES:
        op.execute(f"ALTER TABLE identity.{table} DROP CONSTRAINT {constraint}")
        # The trigger's lookup, and the person's periods for the history screens.
        op.execute(f"CREATE INDEX {table}_person ON identity.{table} (person_id) WHERE superseded_at IS NULL")
        op.execute(
            f"CREATE TRIGGER {table}_no_overlap AFTER INSERT OR UPDATE OF person_id, valid, superseded_at"
            f" ON identity.{table} FOR EACH ROW WHEN (NEW.superseded_at IS NULL)"
            f" EXECUTE FUNCTION identity.refuse_overlapping_period('{lock_class}', '{constraint}')"
        )


def downgrade() -> None:
    for table, _lock_class, constraint in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_overlap ON identity.{table}")
        op.execute(f"DROP INDEX IF EXISTS identity.{table}_person")
        op.execute(
            f"ALTER TABLE identity.{table} ADD CONSTRAINT {constraint}"
            " EXCLUDE USING gist (person_id WITH =, valid WITH &&) WHERE (superseded_at IS NULL)"
        )
    op.execute("DROP FUNCTION IF EXISTS identity.refuse_overlapping_period()")
