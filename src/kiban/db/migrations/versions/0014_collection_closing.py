"""収納・滞納 (2) — 滞納繰越, 出納閉鎖, 督促手数料, 特別徴収 収納結果.

Revision ID: 0014_collection_closing
Revises: 0013_gateway

出納閉鎖 (地方自治法第235条の5: 翌年度の5月31日) of a 年度 is recorded once per business and year
(``collection.closing``); its run carries every 期別 still unpaid into 滞納繰越分
(``collection.carry_over``, one row per 期別, so a second run adds nothing). Which account a payment
belongs to follows from its date (``collection.payment_account``): up to the 出納閉鎖 of its 期別's
年度 it is 現年度分, after it 滞納繰越分 of the 会計年度 it falls in.

督促手数料 (地方自治法第231条の3第2項, per 条例) is charged on the 督促 (``demand.fee``, 0011) and
collected into ``demand.fee_paid``. The 年金保険者's 特別徴収結果 are kept per record
(``collection.pension_result``).
"""

from alembic import op

revision = "0014_collection_closing"
down_revision = "0013_gateway"
branch_labels = None
depends_on = None

APP_ROLE = "kiban_app"

DDL: list[str] = [
    """
    CREATE TABLE collection.closing (
        closing_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        business      text NOT NULL CHECK (business IN ('kaigo', 'kokuho', 'kouki')),
        fiscal_year   integer NOT NULL,
        closed_on     date NOT NULL,  -- 出納閉鎖日: 翌年度の5月31日
        status        text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done')),
        receivables   integer NOT NULL DEFAULT 0,
        persons       integer NOT NULL DEFAULT 0,
        amount        bigint NOT NULL DEFAULT 0,
        started_at    timestamptz NOT NULL DEFAULT now(),
        started_by    bigint REFERENCES security.staff,
        finished_at   timestamptz,
        UNIQUE (business, fiscal_year),
        CHECK (closed_on = make_date(fiscal_year + 1, 5, 31))
    )
    """,
    """
    CREATE TABLE collection.carry_over (
        receivable_id  bigint PRIMARY KEY REFERENCES collection.receivable,
        closing_id     bigint NOT NULL REFERENCES collection.closing,
        amount         integer NOT NULL CHECK (amount > 0),  -- 滞納繰越額: unpaid at 出納閉鎖
        recorded_at    timestamptz NOT NULL DEFAULT now(),
        revised_at     timestamptz,
        -- paid in full inside the 出納整理期間 but reported after the run: no longer carried (kept, not deleted)
        withdrawn_at   timestamptz
    )
    """,
    "CREATE INDEX carry_over_closing ON collection.carry_over (closing_id)",
    """
    ALTER TABLE collection.demand
        ADD COLUMN fee_paid integer NOT NULL DEFAULT 0,
        ADD COLUMN fee_paid_on date,
        ADD CONSTRAINT demand_fee_paid CHECK (fee_paid >= 0 AND fee_paid <= fee)
    """,
    # 特別徴収結果 (年金保険者 → 経由機関 → 市町村; docs/layouts/kaigo-special-results.md): every record of a
    # file, 徴収済 or 未徴収, once (record_id UNIQUE); the 徴収済 ones are also payments (channel 'pension').
    """
    CREATE TABLE collection.pension_result (
        result_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        file_id         bigint NOT NULL REFERENCES collection.payment_file,
        line            integer NOT NULL,
        record_id       text NOT NULL UNIQUE,
        fiscal_year     integer NOT NULL,
        insurer_no      text NOT NULL,
        insured_no      text NOT NULL,
        pension_insurer text NOT NULL,
        month           integer NOT NULL CHECK (month IN (2, 4, 6, 8, 10, 12)),
        result          text NOT NULL CHECK (result IN ('collected', 'not_collected')),
        amount          integer NOT NULL CHECK (amount >= 0),
        reason          text,
        paid_on         date NOT NULL,
        receivable_id   bigint NOT NULL REFERENCES collection.receivable,
        recorded_at     timestamptz NOT NULL DEFAULT now(),
        CHECK ((result = 'collected') = (amount > 0 AND reason IS NULL))
    )
    """,
    "CREATE INDEX pension_result_receivable ON collection.pension_result (receivable_id)",
    # 現年度分 / 滞納繰越分 of each payment and its 会計年度 (地方自治法第208条, 第235条の5): up to 5月31日
    # of the next year a payment is its 期別's 年度's own; after it, 滞納繰越分 of the year it falls in
    # (April and May belong to the year before: 出納整理期間).
    """
    CREATE VIEW collection.payment_account AS
    SELECT p.payment_id, p.receivable_id, r.business, r.person_id, r.fiscal_year, p.paid_on, p.applied,
           CASE WHEN p.paid_on <= make_date(r.fiscal_year + 1, 5, 31) THEN 'current' ELSE 'arrears' END AS account,
           CASE WHEN p.paid_on <= make_date(r.fiscal_year + 1, 5, 31) THEN r.fiscal_year
                WHEN extract(month FROM p.paid_on) <= 5 THEN extract(year FROM p.paid_on)::int - 1
                ELSE extract(year FROM p.paid_on)::int END AS books_year
      FROM collection.payment p JOIN collection.receivable r USING (receivable_id)
    """,
]


def upgrade() -> None:
    for statement in DDL:
        op.execute(statement)
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON collection.closing, collection.carry_over TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON collection.pension_result TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON collection.payment_account TO {APP_ROLE}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA collection TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS collection.payment_account")
    op.execute("DROP TABLE IF EXISTS collection.pension_result, collection.carry_over, collection.closing")
    op.execute(
        "ALTER TABLE collection.demand DROP CONSTRAINT IF EXISTS demand_fee_paid,"
        " DROP COLUMN IF EXISTS fee_paid, DROP COLUMN IF EXISTS fee_paid_on"
    )
