"""kaigo: 資格・異動履歴, 施設マスタ, 施設入退所, 住所地特例, 証発行履歴, 一括交付, 資格処理の実行記録.

Revision ID: 0009_kaigo_eligibility
Revises: 0008_kaigo_insured

Every 資格 change is a row of ``kaigo.qualification_change`` (資格・異動履歴: 取得, 喪失, 区分変更,
職権修正, 回復, 取消) naming its cause: a resident event (``source_event`` — unique, so an event is
applied once however often it is delivered), a run of the monthly job, or a staff member with a
reason. A facility stay and a 住所地特例 are effective-dated and corrected by superseding.
``kaigo.attainment_65`` is the 65歳到達日 in SQL for the set-based monthly run; it follows
``kiban.shared.age.attainment_date`` (民法第143条; 2月29日生まれ → 2月28日) and a test holds the two
together.
"""

from alembic import op

revision = "0009_kaigo_eligibility"
down_revision = "0008_kaigo_insured"
branch_labels = None
depends_on = None

APP_ROLE = "kiban_app"

DDL = [
    # 保険者 (法第3条: 市町村及び特別区): which insurer a city's residents belong to. The synthetic
    # 基盤市 is seeded so a fresh machine runs; a deployment registers its own (kiban kaigo insurer).
    """
    CREATE TABLE kaigo.insurer (
        insurer_no  text PRIMARY KEY CHECK (insurer_no ~ '^[0-9]{6}$'),
        name        text NOT NULL,
        city_code   text NOT NULL UNIQUE CHECK (city_code ~ '^[0-9]{6}$')
    )
    """,
    "INSERT INTO kaigo.insurer VALUES ('992011', '基盤市', '992011')",
    """
    CREATE FUNCTION kaigo.attainment_65(birth date) RETURNS date
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
        SELECT CASE
            WHEN extract(month FROM birth) = 2 AND extract(day FROM birth) = 29
                THEN make_date(extract(year FROM birth)::int + 65, 2, 28)
            ELSE (birth + interval '65 years')::date - 1
        END
    $$
    """,
    """
    CREATE TABLE kaigo.run (
        run_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind        text NOT NULL CHECK (kind IN ('events', 'attainment', 'monthly')),
        as_of       date NOT NULL,
        started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
        finished_at timestamptz,
        started_by  bigint REFERENCES security.staff,
        counts      jsonb NOT NULL DEFAULT '{}'
    )
    """,
    "ALTER TABLE kaigo.qualification ADD COLUMN run_id bigint REFERENCES kaigo.run",
    """
    CREATE TABLE kaigo.qualification_change (
        change_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        insured_id       bigint NOT NULL REFERENCES kaigo.insured,
        qualification_id bigint REFERENCES kaigo.qualification,
        kind             text NOT NULL CHECK (kind IN
                             ('acquire', 'lose', 'category', 'correct', 'restore', 'cancel')),
        effective_on     date NOT NULL,
        reason_code      text,
        note             text,
        source_event     text UNIQUE,
        run_id           bigint REFERENCES kaigo.run,
        recorded_at      timestamptz NOT NULL DEFAULT now(),
        recorded_by      bigint REFERENCES security.staff
    )
    """,
    "CREATE INDEX qualification_change_insured ON kaigo.qualification_change (insured_id, change_id)",
    "CREATE INDEX qualification_run ON kaigo.qualification (run_id) WHERE run_id IS NOT NULL",
    """
    CREATE TABLE kaigo.facility (
        facility_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        facility_no   text NOT NULL UNIQUE CHECK (facility_no ~ '^[0-9A-Z]{10}$'),
        name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        type_code     text NOT NULL,
        city_code     text NOT NULL CHECK (city_code ~ '^[0-9]{6}$'),
        city_name     text NOT NULL,
        postal_code   text,
        address       text NOT NULL,
        opened_on     date,
        closed_on     date,
        recorded_at   timestamptz NOT NULL DEFAULT now(),
        recorded_by   bigint REFERENCES security.staff,
        CHECK (closed_on IS NULL OR opened_on IS NULL OR closed_on >= opened_on)
    )
    """,
    """
    CREATE TABLE kaigo.facility_stay (
        stay_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        person_id     bigint NOT NULL REFERENCES identity.person,
        facility_id   bigint NOT NULL REFERENCES kaigo.facility,
        stay          daterange NOT NULL CHECK (NOT isempty(stay) AND lower(stay) IS NOT NULL),
        recorded_at   timestamptz NOT NULL DEFAULT now(),
        recorded_by   bigint REFERENCES security.staff,
        superseded_at timestamptz,
        superseded_by bigint REFERENCES security.staff,
        supersede_reason text,
        EXCLUDE USING gist (person_id WITH =, stay WITH &&) WHERE (superseded_at IS NULL)
    )
    """,
    """
    CREATE TABLE kaigo.special_address (
        special_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        direction       text NOT NULL CHECK (direction IN ('ours', 'theirs')),
        person_id       bigint NOT NULL REFERENCES identity.person,
        facility_id     bigint NOT NULL REFERENCES kaigo.facility,
        insurer_no      text NOT NULL CHECK (insurer_no ~ '^[0-9]{6}$'),
        insurer_name    text NOT NULL,
        insured_no      text CHECK (insured_no ~ '^[0-9]{10}$'),
        valid           daterange NOT NULL CHECK (NOT isempty(valid) AND lower(valid) IS NOT NULL),
        end_reason      text,
        recorded_at     timestamptz NOT NULL DEFAULT now(),
        recorded_by     bigint REFERENCES security.staff,
        superseded_at   timestamptz,
        superseded_by   bigint REFERENCES security.staff,
        supersede_reason text,
        EXCLUDE USING gist (person_id WITH =, valid WITH &&) WHERE (superseded_at IS NULL)
    )
    """,
    """
    CREATE TABLE kaigo.issue_batch (
        batch_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        month        date NOT NULL,
        issued_on    date NOT NULL,
        total        integer NOT NULL DEFAULT 0,
        done         integer NOT NULL DEFAULT 0,
        status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
        error        text,
        pdf          bytea,
        started_at   timestamptz NOT NULL DEFAULT now(),
        finished_at  timestamptz,
        started_by   bigint REFERENCES security.staff
    )
    """,
    """
    CREATE TABLE kaigo.certificate (
        certificate_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        insured_id     bigint NOT NULL REFERENCES kaigo.insured,
        kind           text NOT NULL CHECK (kind IN ('certificate', 'qualification')),
        reissue        boolean NOT NULL DEFAULT false,
        issued_on      date NOT NULL,
        valid_until    date,
        printed        jsonb NOT NULL,
        reason         text,
        batch_id       bigint REFERENCES kaigo.issue_batch,
        issued_at      timestamptz NOT NULL DEFAULT now(),
        issued_by      bigint REFERENCES security.staff,
        returned_on    date,
        returned_by    bigint REFERENCES security.staff,
        return_note    text
    )
    """,
    "CREATE INDEX certificate_insured ON kaigo.certificate (insured_id, certificate_id)",
    "CREATE INDEX certificate_batch ON kaigo.certificate (batch_id) WHERE batch_id IS NOT NULL",
]


def upgrade() -> None:
    for statement in DDL:
        op.execute(statement)
    op.execute(f"GRANT USAGE ON SCHEMA kaigo TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA kaigo TO {APP_ROLE}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA kaigo TO {APP_ROLE}")
    op.execute(f"GRANT EXECUTE ON FUNCTION kaigo.attainment_65(date) TO {APP_ROLE}")


def downgrade() -> None:
    for table in ("certificate", "issue_batch", "special_address", "facility_stay", "facility",
                  "qualification_change", "insurer"):  # fmt: skip
        op.execute(f"DROP TABLE IF EXISTS kaigo.{table}")
    op.execute("ALTER TABLE kaigo.qualification DROP COLUMN IF EXISTS run_id")
    op.execute("DROP TABLE IF EXISTS kaigo.run")
    op.execute("DROP FUNCTION IF EXISTS kaigo.attainment_65(date)")
