"""庁内連携 — item catalogue, legal bases, データ使用承認願, subscriptions, transfer log.

Revision ID: 0012_linkage
Revises: 0011_collection

The catalogue, the consumers and the legal bases are versioned data files (``kiban/rules/linkage``);
the database holds what staff decide and what moved:

- ``application`` — データ使用承認願 (basis, purpose, conditions, period, items), applied by one
  連携運用担当 and approved or refused by a different 連携承認者 (CHECK ``decided_by <> applied_by``);
  kept five years (``retain_until``, seed 000 リスク対策 5).
- ``subscription`` — what an approval allows: consumer × dataset × items × basis × purpose × period.
  A consumer not allowed to use My Number can never hold an item containing it (CHECK), and one
  consumer has at most one live subscription per dataset on any day (EXCLUDE).
- ``transfer`` — the transfer log: the publisher's timestamp (outbox ``created_at``), the hub's
  ``delivered_at`` and the consumer's ``received_at``, the items and a digest of what was delivered;
  UNIQUE (consumer, seq), so a replay after a crash records nothing twice (domain.md §10.8).
- ``inbox`` — the consumer's side: the delivered projection (never a 個人番号: for a My-Number
  consumer the number is added in memory at hand-over, through the logged vault path).
- ``refusal`` — events the runtime scan refused (a 個人番号 where none may be); names the consumer,
  never the number.
"""

from alembic import op

revision = "0012_linkage"
down_revision = "0011_collection"
branch_labels = None
depends_on = None

APP_ROLE = "kiban_app"

DDL: list[str] = [
    "CREATE SCHEMA linkage",
    """
    CREATE TABLE linkage.application (
        application_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        consumer                text NOT NULL,
        dataset                 text NOT NULL,
        items                   text[] NOT NULL CHECK (cardinality(items) > 0),
        basis_code              text NOT NULL,
        purpose                 text NOT NULL CHECK (length(btrim(purpose)) > 0),
        conditions              text NOT NULL DEFAULT '',
        valid                   daterange NOT NULL CHECK (NOT isempty(valid) AND NOT lower_inf(valid)),
        includes_my_number      boolean NOT NULL,
        consumer_uses_my_number boolean NOT NULL,
        status                  text NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'approved', 'refused')),
        applied_by              bigint NOT NULL REFERENCES security.staff,
        applied_at              timestamptz NOT NULL DEFAULT now(),
        decided_by              bigint REFERENCES security.staff,
        decided_at              timestamptz,
        decision_note           text,
        retain_until            date NOT NULL,
        -- 番号法第9条: only a 個人番号利用事務 may receive the number.
        CONSTRAINT application_my_number_only_to_my_number_business
            CHECK (NOT includes_my_number OR consumer_uses_my_number),
        -- The approver is never the applicant (seed 000: 承認は申請者以外の管理者).
        CONSTRAINT application_decided_by_another
            CHECK (decided_by IS NULL OR decided_by <> applied_by),
        CONSTRAINT application_decision_complete
            CHECK ((status = 'pending') = (decided_by IS NULL) AND (decided_by IS NULL) = (decided_at IS NULL)),
        -- 承認願 are kept 5 years (seed 000 リスク対策 5).
        CONSTRAINT application_kept_five_years
            CHECK (retain_until >= ((applied_at AT TIME ZONE 'Asia/Tokyo') + interval '5 years')::date)
    )
    """,
    "CREATE INDEX application_status ON linkage.application (status, application_id)",
    """
    CREATE TABLE linkage.subscription (
        subscription_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        application_id          bigint NOT NULL UNIQUE REFERENCES linkage.application,
        consumer                text NOT NULL,
        dataset                 text NOT NULL,
        items                   text[] NOT NULL CHECK (cardinality(items) > 0),
        basis_code              text NOT NULL,
        purpose                 text NOT NULL,
        valid                   daterange NOT NULL CHECK (NOT isempty(valid) AND NOT lower_inf(valid)),
        includes_my_number      boolean NOT NULL,
        consumer_uses_my_number boolean NOT NULL,
        created_at              timestamptz NOT NULL DEFAULT now(),
        revoked_at              timestamptz,
        revoked_by              bigint REFERENCES security.staff,
        revoke_reason           text,
        CONSTRAINT subscription_my_number_only_to_my_number_business
            CHECK (NOT includes_my_number OR consumer_uses_my_number),
        CONSTRAINT subscription_revocation_complete
            CHECK ((revoked_at IS NULL) = (revoked_by IS NULL)),
        CONSTRAINT subscription_one_live_per_dataset
            EXCLUDE USING gist (consumer WITH =, dataset WITH =, valid WITH &&) WHERE (revoked_at IS NULL)
    )
    """,
    "CREATE INDEX subscription_consumer ON linkage.subscription (consumer) WHERE revoked_at IS NULL",
    """
    CREATE TABLE linkage.transfer (
        transfer_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        consumer            text NOT NULL,
        seq                 bigint NOT NULL,
        subscription_id     bigint NOT NULL REFERENCES linkage.subscription,
        dataset             text NOT NULL,
        topic               text NOT NULL,
        person_no           text,
        items               text[] NOT NULL,
        my_number_included  boolean NOT NULL DEFAULT false,
        payload_sha256      text NOT NULL CHECK (payload_sha256 ~ '^[0-9a-f]{64}$'),
        published_at        timestamptz NOT NULL,
        delivered_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
        received_at         timestamptz,
        CONSTRAINT transfer_once UNIQUE (consumer, seq),
        CONSTRAINT transfer_times_in_order CHECK (
            delivered_at >= published_at AND (received_at IS NULL OR received_at >= delivered_at))
    )
    """,
    "CREATE INDEX transfer_delivered ON linkage.transfer (delivered_at)",
    "CREATE INDEX transfer_dataset ON linkage.transfer (dataset, delivered_at)",
    "CREATE INDEX transfer_unreceived ON linkage.transfer (consumer, transfer_id) WHERE received_at IS NULL",
    """
    CREATE TABLE linkage.inbox (
        transfer_id bigint PRIMARY KEY REFERENCES linkage.transfer,
        consumer    text NOT NULL,
        payload     jsonb NOT NULL
    )
    """,
    """
    CREATE TABLE linkage.refusal (
        refusal_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        consumer    text NOT NULL,
        seq         bigint NOT NULL,
        topic       text NOT NULL,
        reason      text NOT NULL,
        refused_at  timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT refusal_once UNIQUE (consumer, seq)
    )
    """,
    # The batch principal receives for a My-Number business under these 処理事由 (access log).
    """
    INSERT INTO security.purpose (code, business, label) VALUES
      ('kaigo.linkage', 'kaigo', '庁内連携による受領'),
      ('kokuho.linkage', 'kokuho', '庁内連携による受領'),
      ('kouki.linkage', 'kouki', '庁内連携による受領'),
      ('shogai.linkage', 'shogai', '庁内連携による受領'),
      ('atena.linkage', 'atena', '庁内連携による提供')
    ON CONFLICT DO NOTHING
    """,
    # A decided 承認願 is a record kept 5 years (seed 000 リスク対策 5): once approved or refused it is
    # never changed or deleted, by the application or anyone short of the schema owner's migration.
    """
    CREATE FUNCTION linkage.application_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'データ使用承認願は削除できません（申請番号 %）', OLD.application_id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF OLD.status <> 'pending' THEN
            RAISE EXCEPTION '決裁済みのデータ使用承認願は変更できません（申請番号 %）', OLD.application_id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER application_frozen BEFORE UPDATE OR DELETE ON linkage.application
        FOR EACH ROW EXECUTE FUNCTION linkage.application_frozen()
    """,
]


def upgrade() -> None:
    for statement in DDL:
        op.execute(statement)
    op.execute(f"GRANT USAGE ON SCHEMA linkage TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA linkage TO {APP_ROLE}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA linkage TO {APP_ROLE}")
    # The transfer log is evidence: the application may stamp received_at, never delete.
    op.execute(f"REVOKE UPDATE ON linkage.transfer FROM {APP_ROLE}")
    op.execute(f"GRANT UPDATE (received_at) ON linkage.transfer TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(
        "DELETE FROM security.purpose WHERE code IN "
        "('kaigo.linkage', 'kokuho.linkage', 'kouki.linkage', 'shogai.linkage', 'atena.linkage')"
    )
    op.execute("DROP SCHEMA IF EXISTS linkage CASCADE")
