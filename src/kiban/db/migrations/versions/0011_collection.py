"""collection: 調定（期別）, 収納ファイル, 収納 and 消込, 過誤納.

Revision ID: 0011_collection
Revises: 0010_kaigo_assessment

Premium-agnostic (``business`` = kaigo | kokuho | kouki). A receivable is one 期別 of one person's
year with its 納付番号 (printed on the 納付書, the key a bank or コンビニ reports back); its 調定額 may
be revised by a 更正 (``amount``), its 収納済額 (``paid``) only by 消込. A payment file is imported
once (sha256 UNIQUE) and each record once (channel × record id UNIQUE), so a 確報 repeating its 速報
adds only what is new. What a payment exceeds its 期別 by is a 過誤納 (``collection.overpayment``),
to be 充当 or 還付.
"""

from alembic import op

revision = "0011_collection"
down_revision = "0010_kaigo_assessment"
branch_labels = None
depends_on = None

APP_ROLE = "kiban_app"

DDL = [
    "CREATE SCHEMA collection",
    # fillfactor 50: every payment updates its 期別's paid; with room on the page the update is HOT
    # (no index entries rewritten) — 300,000 updates 5.3 s → 1.8 s (bench_collection_payments.py).
    """
    CREATE TABLE collection.receivable (
        receivable_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        business      text NOT NULL CHECK (business IN ('kaigo', 'kokuho', 'kouki')),
        person_id     bigint NOT NULL REFERENCES identity.person,
        fiscal_year   integer NOT NULL,
        method        text NOT NULL CHECK (method IN ('special', 'ordinary')),
        period        integer NOT NULL CHECK (period >= 1),
        label         text NOT NULL,
        due_date      date NOT NULL,
        amount        integer NOT NULL CHECK (amount >= 0),
        paid          integer NOT NULL DEFAULT 0 CHECK (paid >= 0 AND paid <= amount),
        payment_no    text NOT NULL UNIQUE CHECK (payment_no ~ '^[0-9]{20}$'),
        source        text,
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now(),
        UNIQUE (business, person_id, fiscal_year, method, period)
    ) WITH (fillfactor = 50)
    """,
    "CREATE INDEX receivable_person ON collection.receivable (person_id, business, fiscal_year)",
    """
    CREATE TABLE collection.payment_file (
        file_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        channel      text NOT NULL CHECK (channel IN ('bank', 'transfer', 'konbini', 'pension', 'counter')),
        file_name    text NOT NULL,
        sha256       text NOT NULL UNIQUE,
        records      integer NOT NULL,
        imported     integer NOT NULL,
        duplicates   integer NOT NULL,
        imported_at  timestamptz NOT NULL DEFAULT now(),
        imported_by  bigint REFERENCES security.staff
    )
    """,
    """
    CREATE TABLE collection.payment (
        payment_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        -- file_id and recorded_by carry no FOREIGN KEY: a file's 300,000 records name the same file
        -- and principal, and the RI check per row is a third of the import (bench_collection_payments.py).
        file_id       bigint,
        channel       text NOT NULL,
        record_id     text NOT NULL,
        payment_no    text NOT NULL,
        paid_on       date NOT NULL,
        amount        integer NOT NULL CHECK (amount > 0),
        agency        text,
        receivable_id bigint REFERENCES collection.receivable,
        applied       integer NOT NULL DEFAULT 0 CHECK (applied >= 0),
        excess        integer NOT NULL DEFAULT 0 CHECK (excess >= 0),
        status        text NOT NULL CHECK (status IN ('applied', 'partial', 'over', 'unmatched')),
        recorded_at   timestamptz NOT NULL DEFAULT now(),
        recorded_by   bigint,
        note          text,
        UNIQUE (channel, record_id),
        CHECK (applied + excess = amount OR status = 'unmatched')
    )
    """,
    "CREATE INDEX payment_receivable ON collection.payment (receivable_id)",
    "CREATE INDEX payment_by_file ON collection.payment (file_id)",
    """
    CREATE TABLE collection.overpayment (
        overpayment_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        business       text NOT NULL,
        person_id      bigint NOT NULL REFERENCES identity.person,
        fiscal_year    integer NOT NULL,
        amount         integer NOT NULL CHECK (amount > 0),
        cause          text NOT NULL CHECK (cause IN ('over_payment', 'correction')),
        payment_id     bigint REFERENCES collection.payment,
        receivable_id  bigint REFERENCES collection.receivable,
        status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'appropriated', 'refunded')),
        recorded_at    timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX overpayment_person ON collection.overpayment (person_id, business)",
    # 還付 (地方税法第17条の例; 還付加算金 第17条の4): one decision (支出決定) per person and day,
    # naming the 過誤納 it pays out.
    """
    CREATE TABLE collection.refund (
        refund_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        business      text NOT NULL,
        person_id     bigint NOT NULL REFERENCES identity.person,
        decided_on    date NOT NULL,
        amount        integer NOT NULL CHECK (amount > 0),
        interest      integer NOT NULL DEFAULT 0 CHECK (interest >= 0),
        method        text NOT NULL CHECK (method IN ('口座振込', '窓口払')),
        payment_date  date,
        decided_by    bigint NOT NULL REFERENCES security.staff,
        recorded_at   timestamptz NOT NULL DEFAULT now()
    )
    """,
    "ALTER TABLE collection.overpayment ADD COLUMN refund_id bigint REFERENCES collection.refund",
    # 督促 (地方自治法第231条の3第1項: 期限を指定して督促; 介護保険法第200条第2項: 時効の更新) — once
    # per 期別 — and later 催告 (reminders, any number); a run is one batch with its PDF.
    """
    CREATE TABLE collection.demand_batch (
        batch_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        business     text NOT NULL,
        kind         text NOT NULL CHECK (kind IN ('demand', 'reminder')),
        as_of        date NOT NULL,
        issued_on    date NOT NULL,
        deadline     date NOT NULL,
        total        integer NOT NULL DEFAULT 0,
        late         integer NOT NULL DEFAULT 0,
        pdf          bytea,
        started_at   timestamptz NOT NULL DEFAULT now(),
        started_by   bigint REFERENCES security.staff
    )
    """,
    """
    CREATE TABLE collection.demand (
        demand_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        receivable_id  bigint NOT NULL REFERENCES collection.receivable,
        kind           text NOT NULL CHECK (kind IN ('demand', 'reminder')),
        batch_id       bigint REFERENCES collection.demand_batch,
        issued_on      date NOT NULL,
        deadline       date NOT NULL CHECK (deadline > issued_on),
        unpaid         integer NOT NULL CHECK (unpaid > 0),
        fee            integer NOT NULL DEFAULT 0 CHECK (fee >= 0),
        recorded_at    timestamptz NOT NULL DEFAULT now(),
        recorded_by    bigint REFERENCES security.staff
    )
    """,
    "CREATE UNIQUE INDEX demand_once ON collection.demand (receivable_id) WHERE kind = 'demand'",
    # 分納計画 (a 分納誓約書 signed by the person: a 承認 that renews the 時効, 民法第152条) and its
    # 納付予定; 折衝記録 (contact notes: staff-only, each write and read audited).
    """
    CREATE TABLE collection.plan (
        plan_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        business     text NOT NULL,
        person_id    bigint NOT NULL REFERENCES identity.person,
        signed_on    date NOT NULL,
        total        integer NOT NULL CHECK (total > 0),
        status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'broken', 'cancelled')),
        note         text,
        recorded_at  timestamptz NOT NULL DEFAULT now(),
        recorded_by  bigint REFERENCES security.staff
    )
    """,
    """
    CREATE TABLE collection.plan_installment (
        plan_id   bigint NOT NULL REFERENCES collection.plan,
        seq       integer NOT NULL CHECK (seq >= 1),
        due_date  date NOT NULL,
        amount    integer NOT NULL CHECK (amount > 0),
        PRIMARY KEY (plan_id, seq)
    )
    """,
    """
    CREATE TABLE collection.plan_receivable (
        plan_id        bigint NOT NULL REFERENCES collection.plan,
        receivable_id  bigint NOT NULL REFERENCES collection.receivable,
        PRIMARY KEY (plan_id, receivable_id)
    )
    """,
    """
    CREATE TABLE collection.contact_note (
        note_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        business     text NOT NULL,
        person_id    bigint NOT NULL REFERENCES identity.person,
        contacted_on date NOT NULL,
        channel      text NOT NULL CHECK (channel IN ('窓口', '電話', '訪問', '文書', 'その他')),
        summary      text NOT NULL CHECK (summary <> ''),
        promise_on   date,
        promise_amount integer CHECK (promise_amount > 0),
        recorded_at  timestamptz NOT NULL DEFAULT now(),
        recorded_by  bigint NOT NULL REFERENCES security.staff
    )
    """,
    "CREATE INDEX contact_note_person ON collection.contact_note (person_id, business)",
    # 不納欠損 (write-off of what 時効 has extinguished, 介護保険法第200条; 地方自治法第236条第2項: no
    # 援用 needed): decided by a 係長, one row per 期別, the amount unpaid on the decision.
    """
    CREATE TABLE collection.writeoff (
        receivable_id  bigint PRIMARY KEY REFERENCES collection.receivable,
        amount         integer NOT NULL CHECK (amount > 0),
        extinguished_on date NOT NULL,
        decided_on     date NOT NULL,
        reason         text NOT NULL,
        decided_by     bigint NOT NULL REFERENCES security.staff,
        recorded_at    timestamptz NOT NULL DEFAULT now()
    )
    """,
]


def upgrade() -> None:
    for statement in DDL:
        op.execute(statement)
    op.execute(f"GRANT USAGE ON SCHEMA collection TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA collection TO {APP_ROLE}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA collection TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS collection CASCADE")
