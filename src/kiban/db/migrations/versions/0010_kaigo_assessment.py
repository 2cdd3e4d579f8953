"""kaigo: 保険料の賦課 — 本算定・更正 runs, 賦課 versions, 減免, 特別徴収対象者.

Revision ID: 0010_kaigo_assessment
Revises: 0009_kaigo_eligibility

``kaigo.assessment`` holds one current row per 第1号被保険者 and 年度 (partial UNIQUE); a 更正 or a
減免 supersedes it with a new version, so the 賦課履歴 is never overwritten. Every row names the
run (``kaigo.assess_run``) or the staff member that made it, and keeps the facts it was computed
from (賦課期日, 課税状況, 所得, 月数), because a 決定通知書 must state its basis and a 審査請求 asks
for it years later. ``kaigo.assess_run`` is the run table of ``kiban kaigo assess``: it advances a
cursor chunk by chunk, so a killed run resumes where its last committed chunk ended.
"""

from alembic import op

revision = "0010_kaigo_assessment"
down_revision = "0009_kaigo_eligibility"
branch_labels = None
depends_on = None

APP_ROLE = "kiban_app"

DDL = [
    # Which 所得段階表 (kiban.rules.kaigo_premium) and 納期 calendar an insurer uses; base_annual
    # overrides the table's 基準額 (the national standard has none of its own).
    "ALTER TABLE kaigo.insurer ADD COLUMN premium_table text NOT NULL DEFAULT 'standard'",
    "ALTER TABLE kaigo.insurer ADD COLUMN base_annual integer CHECK (base_annual > 0)",
    "ALTER TABLE kaigo.insurer ADD COLUMN collection_calendar text NOT NULL DEFAULT 'standard'",
    """
    CREATE TABLE kaigo.assess_run (
        run_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        insurer_no    text NOT NULL REFERENCES kaigo.insurer,
        fiscal_year   integer NOT NULL CHECK (fiscal_year BETWEEN 2000 AND 2100),
        kind          text NOT NULL CHECK (kind IN ('initial', 'correction')),
        premium_table text NOT NULL,
        base_annual   integer NOT NULL,
        status        text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done')),
        cursor_id     bigint NOT NULL DEFAULT 0,
        total         integer NOT NULL DEFAULT 0,
        done          integer NOT NULL DEFAULT 0,
        counts        jsonb NOT NULL DEFAULT '{}',
        digest        text,
        started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
        finished_at   timestamptz,
        started_by    bigint REFERENCES security.staff
    )
    """,
    # At most one unfinished run per insurer and year: a second start resumes it.
    """
    CREATE UNIQUE INDEX assess_run_open ON kaigo.assess_run (insurer_no, fiscal_year)
        WHERE status = 'running'
    """,
    """
    CREATE TABLE kaigo.assessment (
        assessment_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        insured_id      bigint NOT NULL REFERENCES kaigo.insured,
        fiscal_year     integer NOT NULL,
        version         integer NOT NULL CHECK (version >= 1),
        kind            text NOT NULL CHECK (kind IN ('initial', 'new', 'correction', 'reduction')),
        -- run_id and recorded_by carry no FOREIGN KEY: the 本算定 writes a million rows naming the same
        -- run and principal, and two RI checks per row cost ~10 s of the ≤ 60 s (bench_kaigo_assess.py);
        -- both are written only by this code from the run row and the AccessContext it holds.
        run_id          bigint,
        basis_date      date,
        welfare         boolean NOT NULL DEFAULT false,
        old_age_pension boolean NOT NULL DEFAULT false,
        household_exempt boolean NOT NULL DEFAULT false,
        self_exempt     boolean NOT NULL DEFAULT false,
        no_tax_info     boolean NOT NULL DEFAULT false,
        total_income    bigint NOT NULL DEFAULT 0,
        pension_income  bigint NOT NULL DEFAULT 0,
        pension_misc_income bigint NOT NULL DEFAULT 0,
        stage           smallint,
        months          smallint NOT NULL CHECK (months BETWEEN 0 AND 12),
        welfare_months  smallint NOT NULL DEFAULT 0 CHECK (welfare_months BETWEEN 0 AND months),
        annual_full     integer NOT NULL DEFAULT 0,
        amount          integer NOT NULL CHECK (amount >= 0),
        reduction       integer NOT NULL DEFAULT 0 CHECK (reduction BETWEEN 0 AND amount),
        payable         integer GENERATED ALWAYS AS (amount - reduction) STORED,
        previous_payable integer,
        method          text NOT NULL DEFAULT 'ordinary' CHECK (method IN ('special', 'ordinary')),
        note            text,
        recorded_at     timestamptz NOT NULL DEFAULT now(),
        recorded_by     bigint,
        superseded_at   timestamptz,
        UNIQUE (insured_id, fiscal_year, version)
    )
    """,
    """
    CREATE UNIQUE INDEX assessment_current ON kaigo.assessment (insured_id, fiscal_year)
        WHERE superseded_at IS NULL
    """,
    "CREATE INDEX assessment_run ON kaigo.assessment (run_id) WHERE run_id IS NOT NULL",
    # 特別徴収対象者 (介護保険法第134条: 年金保険者が通知する年額18万円以上の老齢等年金の受給者) per
    # 年度, with the 前年度2月の特徴額 that fixes the 仮徴収 (法第140条).
    """
    CREATE TABLE kaigo.pension_deduction (
        deduction_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        person_id         bigint NOT NULL REFERENCES identity.person,
        fiscal_year       integer NOT NULL,
        pension_insurer   text NOT NULL,
        annual_pension    bigint NOT NULL CHECK (annual_pension >= 0),
        previous_february integer CHECK (previous_february >= 0),
        stopped_on        date,
        recorded_at       timestamptz NOT NULL DEFAULT now(),
        superseded_at     timestamptz
    )
    """,
    """
    CREATE UNIQUE INDEX pension_deduction_current ON kaigo.pension_deduction (person_id, fiscal_year)
        WHERE superseded_at IS NULL
    """,
    # 減免 (法第142条; the city's 条例: 災害, 収入の著しい減少 …): applied, then approved or rejected
    # by a 係長 other than the clerk who took the application.
    """
    CREATE TABLE kaigo.reduction (
        reduction_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        insured_id     bigint NOT NULL REFERENCES kaigo.insured,
        fiscal_year    integer NOT NULL,
        reason         text NOT NULL CHECK (reason IN ('disaster', 'income_drop', 'other')),
        detail         text NOT NULL CHECK (detail <> ''),
        applied_on     date NOT NULL,
        requested_amount integer CHECK (requested_amount >= 0),
        status         text NOT NULL DEFAULT 'applied' CHECK (status IN ('applied', 'approved', 'rejected', 'withdrawn')),
        amount         integer CHECK (amount >= 0),
        decision_note  text,
        decided_on     date,
        decided_by     bigint REFERENCES security.staff,
        recorded_at    timestamptz NOT NULL DEFAULT now(),
        recorded_by    bigint REFERENCES security.staff,
        CHECK ((status = 'approved') = (amount IS NOT NULL)),
        CHECK (decided_by IS NULL OR decided_by IS DISTINCT FROM recorded_by)
    )
    """,
    "CREATE INDEX reduction_insured ON kaigo.reduction (insured_id, fiscal_year)",
    # 決定通知書の発行: one batch per bulk print (progress for the screen), one row per notice sent,
    # naming the 賦課 version it told the person about (発行履歴).
    """
    CREATE TABLE kaigo.notice_batch (
        batch_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        fiscal_year  integer NOT NULL,
        run_id       bigint REFERENCES kaigo.assess_run,
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
    CREATE TABLE kaigo.notice (
        notice_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        assessment_id bigint NOT NULL REFERENCES kaigo.assessment,
        batch_id      bigint REFERENCES kaigo.notice_batch,
        issued_on     date NOT NULL,
        issued_at     timestamptz NOT NULL DEFAULT now(),
        issued_by     bigint REFERENCES security.staff
    )
    """,
    "CREATE INDEX notice_assessment ON kaigo.notice (assessment_id)",
    """
    CREATE UNIQUE INDEX reduction_one_approved ON kaigo.reduction (insured_id, fiscal_year)
        WHERE status = 'approved'
    """,
]


def upgrade() -> None:
    for statement in DDL:
        op.execute(statement)
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA kaigo TO {APP_ROLE}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA kaigo TO {APP_ROLE}")


def downgrade() -> None:
    for table in ("notice", "notice_batch", "reduction", "pension_deduction", "assessment", "assess_run"):
        op.execute(f"DROP TABLE IF EXISTS kaigo.{table}")
    for column in ("premium_table", "base_annual", "collection_calendar"):
        op.execute(f"ALTER TABLE kaigo.insurer DROP COLUMN IF EXISTS {column}")
