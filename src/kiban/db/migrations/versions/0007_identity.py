"""identity: the 宛名 / 個人番号 hub (団体内統合宛名システム).

Revision ID: 0007_identity
Revises: 0006_totp_encrypted_column

Persons with effective-dated versions, households and membership periods, 送付先 per business,
contacts, the 個人番号 vault (ciphertext + blind index only), resident events with their imports and
error lists, facts other businesses need (住民税課税, 生活保護, 老齢福祉年金, 医療保険), the 名寄せ
review queue and the consistency-check anomaly list; and ``kiban_meta.outbox``, the transactional
outbox other contexts subscribe to.

History is never overwritten (architecture.md §4): a change closes the open version's period and
adds a new one; a correction (職権修正・訂正) marks the corrected row ``superseded_at`` and adds its
replacement, so what was believed before stays provable. The EXCLUDE constraints hold only among
rows not superseded. Items follow seed 003 《宛名情報》 (75 items) and seed 000 住登外情報・世帯員情報・
送付先情報. Runs on PostgreSQL 15 and 18.
"""

from alembic import op

revision = "0007_identity"
down_revision = "0006_totp_encrypted_column"
branch_labels = None
depends_on = None

APP_ROLE = "kiban_app"

DDL = [
    "CREATE SCHEMA IF NOT EXISTS identity",
    "COMMENT ON SCHEMA identity IS '団体内統合宛名システム: 宛名・世帯・個人番号保管庫・住民異動・名寄せ'",
    # 団体内統合宛名番号: assigned by the hub, never reused — a sequence never goes back (NO CYCLE).
    "CREATE SEQUENCE identity.integrated_no_seq AS bigint START 1 NO CYCLE",
    # 宛名番号 for persons the hub registers itself (住登外 at the counter): 19xxxxxxxx, apart from
    # the registry's numbers.
    "CREATE SEQUENCE identity.hub_person_no_seq AS bigint START 1900000001 MAXVALUE 1999999999 NO CYCLE",
    # One import of a file (取込): the unit of all-or-nothing and of idempotency by file hash.
    """
    CREATE TABLE identity.import_batch (
        import_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind          text NOT NULL,
        file_name     text NOT NULL,
        file_sha256   bytea NOT NULL,
        row_count     integer NOT NULL DEFAULT 0,
        applied_count integer NOT NULL DEFAULT 0,
        skipped_count integer NOT NULL DEFAULT 0,
        error_count   integer NOT NULL DEFAULT 0,
        status        text NOT NULL CHECK (status IN ('running', 'imported', 'rejected', 'failed')),
        staff_id      bigint REFERENCES security.staff,
        started_at    timestamptz NOT NULL DEFAULT now(),
        finished_at   timestamptz
    )
    """,
    "CREATE INDEX import_batch_kind_idx ON identity.import_batch (kind, started_at DESC)",
    # エラーリスト of a rejected import: line, record key (宛名番号 or event id), field, message.
    # Messages never echo a 個人番号 (the audit writer's rule applies here too).
    """
    CREATE TABLE identity.import_error (
        import_id   bigint NOT NULL REFERENCES identity.import_batch,
        line_no     integer NOT NULL,
        record_key  text NOT NULL DEFAULT '',
        field       text NOT NULL DEFAULT '',
        message     text NOT NULL,
        PRIMARY KEY (import_id, line_no, field)
    )
    """,
    # 宛名: the stable identity; everything that changes lives in person_version.
    """
    CREATE TABLE identity.person (
        person_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        city_code      text NOT NULL CHECK (city_code ~ '^[0-9]{6}$'),
        person_no      text NOT NULL UNIQUE CHECK (person_no ~ '^[0-9]+$' AND length(person_no) = 10),
        integrated_no  text NOT NULL UNIQUE CHECK (integrated_no ~ '^[0-9]+$' AND length(integrated_no) = 15),
        created_at     timestamptz NOT NULL DEFAULT now(),
        import_id      bigint REFERENCES identity.import_batch
    )
    """,
    # 宛名の履歴: one row per period (valid) in which these items held. seed 003 《宛名情報》 items 4–41.
    """
    CREATE TABLE identity.person_version (
        version_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        person_id         bigint NOT NULL REFERENCES identity.person,
        valid             daterange NOT NULL CHECK (NOT isempty(valid) AND lower(valid) IS NOT NULL),
        family_name       text NOT NULL CHECK (family_name <> ''),
        given_name        text NOT NULL DEFAULT '',
        family_kana       text NOT NULL CHECK (family_kana <> ''),
        given_kana        text NOT NULL DEFAULT '',
        alias_name        text,
        alias_kana        text,
        name_use          text NOT NULL DEFAULT '本名' CHECK (name_use IN ('本名', '通称')),
        sex               smallint NOT NULL CHECK (sex IN (1, 2)),
        birth_date        date NOT NULL,
        postal_code       text CHECK (postal_code ~ '^[0-9]{3}-[0-9]{4}$'),
        address           text NOT NULL,
        katagaki          text,
        in_city           boolean NOT NULL DEFAULT true,
        district_code     text,
        resident_class    text NOT NULL CHECK (resident_class IN ('住民', '住登外', '転出', '死亡')),
        resident_on       date,
        nonresident_on    date,
        nonresident_reason text,
        class_notified_on date,
        nationality       text,
        stay_until        date,
        previous_address  text,
        kana_key          text NOT NULL,
        name_key          text NOT NULL,
        address_key       text NOT NULL,
        change_reason     text NOT NULL,
        event_pk          bigint,
        recorded_at       timestamptz NOT NULL DEFAULT now(),
        recorded_by       bigint REFERENCES security.staff,
        superseded_at     timestamptz,
        superseded_by     bigint REFERENCES security.staff,
        supersede_reason  text,
        EXCLUDE USING gist (person_id WITH =, valid WITH &&) WHERE (superseded_at IS NULL)
    )
    """,
    # The current version of each person: what search and lists read. Partial indexes keep them
    # small and exact (the bench asks p99 ≤ 5 ms over a million residents).
    """
    CREATE UNIQUE INDEX person_version_current ON identity.person_version (person_id)
        WHERE upper_inf(valid) AND superseded_at IS NULL
    """,
    """
    CREATE INDEX person_version_kana ON identity.person_version (kana_key text_pattern_ops, person_id)
        WHERE upper_inf(valid) AND superseded_at IS NULL
    """,
    """
    CREATE INDEX person_version_name ON identity.person_version (name_key text_pattern_ops, person_id)
        WHERE upper_inf(valid) AND superseded_at IS NULL
    """,
    """
    CREATE INDEX person_version_birth ON identity.person_version (birth_date, person_id)
        WHERE upper_inf(valid) AND superseded_at IS NULL
    """,
    """
    CREATE INDEX person_version_address ON identity.person_version USING gin (address_key gin_trgm_ops)
        WHERE upper_inf(valid) AND superseded_at IS NULL
    """,
    # 世帯
    """
    CREATE TABLE identity.household (
        household_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        city_code     text NOT NULL CHECK (city_code ~ '^[0-9]{6}$'),
        household_no  text NOT NULL UNIQUE CHECK (household_no ~ '^[0-9]+$' AND length(household_no) = 10),
        created_at    timestamptz NOT NULL DEFAULT now()
    )
    """,
    # 世帯員: membership periods with 続柄 (seed 000 世帯員情報: 世帯番号, 宛名番号, 異動事由, 異動日, 届出日).
    """
    CREATE TABLE identity.household_member (
        member_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        household_id   bigint NOT NULL REFERENCES identity.household,
        person_id      bigint NOT NULL REFERENCES identity.person,
        relation       text NOT NULL CHECK (relation <> ''),
        is_head        boolean NOT NULL DEFAULT false,
        valid          daterange NOT NULL CHECK (NOT isempty(valid) AND lower(valid) IS NOT NULL),
        join_reason    text NOT NULL,
        leave_reason   text,
        notified_on    date,
        event_pk       bigint,
        recorded_at    timestamptz NOT NULL DEFAULT now(),
        recorded_by    bigint REFERENCES security.staff,
        superseded_at  timestamptz,
        EXCLUDE USING gist (person_id WITH =, valid WITH &&) WHERE (superseded_at IS NULL)
    )
    """,
    """
    CREATE INDEX household_member_household ON identity.household_member (household_id)
        WHERE superseded_at IS NULL
    """,
    # 送付先 per business (seed 003 items 42–54; seed 000 送付先情報).
    """
    CREATE TABLE identity.mailing_address (
        mailing_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        person_id     bigint NOT NULL REFERENCES identity.person,
        business      text NOT NULL,
        name          text NOT NULL,
        postal_code   text CHECK (postal_code ~ '^[0-9]{3}-[0-9]{4}$'),
        address       text NOT NULL,
        katagaki      text,
        valid         daterange NOT NULL CHECK (NOT isempty(valid) AND lower(valid) IS NOT NULL),
        start_reason  text NOT NULL,
        end_reason    text,
        note          text,
        recorded_at   timestamptz NOT NULL DEFAULT now(),
        recorded_by   bigint REFERENCES security.staff,
        superseded_at timestamptz,
        EXCLUDE USING gist (person_id WITH =, business WITH =, valid WITH &&) WHERE (superseded_at IS NULL)
    )
    """,
    # 連絡先 (seed 003 items 55–74).
    """
    CREATE TABLE identity.contact (
        contact_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        person_id     bigint NOT NULL REFERENCES identity.person,
        kind          text NOT NULL CHECK (kind IN ('自宅', '勤務先', 'その他')),
        label         text,
        organisation  text,
        phone         text,
        extension     text,
        fax           text,
        note          text,
        recorded_at   timestamptz NOT NULL DEFAULT now(),
        recorded_by   bigint REFERENCES security.staff,
        superseded_at timestamptz
    )
    """,
    "CREATE INDEX contact_person ON identity.contact (person_id) WHERE superseded_at IS NULL",
    # The 個人番号 vault: the ONLY place the number is kept — AES-256-GCM ciphertext (row id in the
    # associated data) and an HMAC blind index for exact lookup. One number per person (PK), one
    # person per number (UNIQUE blind index).
    """
    CREATE TABLE identity.my_number_vault (
        person_id      bigint PRIMARY KEY REFERENCES identity.person,
        ciphertext     bytea NOT NULL,
        blind_index    bytea NOT NULL UNIQUE,
        source         text NOT NULL,
        registered_at  timestamptz NOT NULL DEFAULT now(),
        registered_by  bigint REFERENCES security.staff,
        import_id      bigint REFERENCES identity.import_batch
    )
    """,
    "INSERT INTO security.encrypted_column (schema_table, column_name, id_column) "
    "VALUES ('identity.my_number_vault', 'ciphertext', 'person_id') ON CONFLICT DO NOTHING",
    # 住民異動 events as received (payload without the 個人番号). event_id is the source's id: the
    # same id again is skipped (idempotent re-import); with different content it is an error.
    """
    CREATE TABLE identity.resident_event (
        event_pk        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id        text NOT NULL UNIQUE,
        city_code       text NOT NULL,
        event_type      text NOT NULL,
        effective_on    date NOT NULL,
        notified_on     date,
        person_id       bigint NOT NULL REFERENCES identity.person,
        household_id    bigint REFERENCES identity.household,
        payload         jsonb NOT NULL,
        content_sha256  bytea NOT NULL,
        import_id       bigint REFERENCES identity.import_batch,
        recorded_at     timestamptz NOT NULL DEFAULT now(),
        recorded_by     bigint REFERENCES security.staff
    )
    """,
    "CREATE INDEX resident_event_person ON identity.resident_event (person_id, effective_on)",
    # 住民税 課税情報 per person and 年度 (seed 000 所得情報; kazei.csv).
    """
    CREATE TABLE identity.tax_income (
        tax_income_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        person_id                bigint NOT NULL REFERENCES identity.person,
        fiscal_year              integer NOT NULL CHECK (fiscal_year BETWEEN 1990 AND 2100),
        taxable                  boolean NOT NULL,
        nontaxable_reason        text,
        salary_income            bigint NOT NULL DEFAULT 0,
        salary_net               bigint NOT NULL DEFAULT 0,
        public_pension_income    bigint NOT NULL DEFAULT 0,
        pension_misc_income      bigint NOT NULL DEFAULT 0,
        other_income             bigint NOT NULL DEFAULT 0,
        total_income             bigint NOT NULL,
        capital_gains_deduction  bigint NOT NULL DEFAULT 0,
        dependants               integer NOT NULL DEFAULT 0,
        import_id                bigint REFERENCES identity.import_batch,
        recorded_at              timestamptz NOT NULL DEFAULT now(),
        superseded_at            timestamptz
    )
    """,
    """
    CREATE UNIQUE INDEX tax_income_current ON identity.tax_income (person_id, fiscal_year)
        WHERE superseded_at IS NULL
    """,
    # 生活保護 periods (seed 000: 開始・廃止, 福祉事務所, 代理納付).
    """
    CREATE TABLE identity.welfare_period (
        welfare_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        person_id       bigint NOT NULL REFERENCES identity.person,
        household_no    text,
        valid           daterange NOT NULL CHECK (NOT isempty(valid) AND lower(valid) IS NOT NULL),
        welfare_office  text,
        proxy_payment   boolean NOT NULL DEFAULT false,
        import_id       bigint REFERENCES identity.import_batch,
        recorded_at     timestamptz NOT NULL DEFAULT now(),
        superseded_at   timestamptz,
        EXCLUDE USING gist (person_id WITH =, valid WITH &&) WHERE (superseded_at IS NULL)
    )
    """,
    # 老齢福祉年金 受給期間 (seed 000: 開始・停止).
    """
    CREATE TABLE identity.old_age_pension_period (
        pension_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        person_id       bigint NOT NULL REFERENCES identity.person,
        valid           daterange NOT NULL CHECK (NOT isempty(valid) AND lower(valid) IS NOT NULL),
        import_id       bigint REFERENCES identity.import_batch,
        recorded_at     timestamptz NOT NULL DEFAULT now(),
        superseded_at   timestamptz,
        EXCLUDE USING gist (person_id WITH =, valid WITH &&) WHERE (superseded_at IS NULL)
    )
    """,
    # 医療保険加入情報 (seed 000 別添2: 保険者, 記号・番号, 資格取得・喪失, 本人・家族).
    """
    CREATE TABLE identity.medical_insurance (
        insurance_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        person_id       bigint NOT NULL REFERENCES identity.person,
        insurer_no      text NOT NULL CHECK (insurer_no ~ '^[0-9]{6}$|^[0-9]{8}$'),
        insurer_kind    text NOT NULL,
        symbol          text,
        number          text,
        insured_kind    text NOT NULL CHECK (insured_kind IN ('本人', '家族')),
        valid           daterange NOT NULL CHECK (NOT isempty(valid) AND lower(valid) IS NOT NULL),
        import_id       bigint REFERENCES identity.import_batch,
        recorded_at     timestamptz NOT NULL DEFAULT now(),
        superseded_at   timestamptz,
        EXCLUDE USING gist (person_id WITH =, valid WITH &&) WHERE (superseded_at IS NULL)
    )
    """,
    # 名寄せ: incoming data without a 宛名番号. Kept: the normalised 4 情報, the candidates with their
    # scores, and who confirmed. Never the 個人番号 itself — only its blind index.
    """
    CREATE TABLE identity.match_case (
        case_id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        source              text NOT NULL,
        source_ref          text NOT NULL,
        family_name         text,
        given_name          text,
        family_kana         text,
        given_kana          text,
        birth_date          date,
        sex                 smallint,
        address             text,
        my_number_index     bytea,
        candidates          jsonb NOT NULL DEFAULT '[]',
        status              text NOT NULL CHECK (status IN ('auto_linked', 'pending', 'confirmed', 'rejected', 'no_match')),
        linked_person_id    bigint REFERENCES identity.person,
        auto_rule           text,
        first_person_id     bigint REFERENCES identity.person,
        first_staff_id      bigint REFERENCES security.staff,
        first_at            timestamptz,
        first_note          text,
        second_staff_id     bigint REFERENCES security.staff,
        second_at           timestamptz,
        second_note         text,
        created_at          timestamptz NOT NULL DEFAULT now(),
        UNIQUE (source, source_ref),
        CHECK (second_staff_id IS NULL OR second_staff_id <> first_staff_id)
    )
    """,
    "CREATE INDEX match_case_pending ON identity.match_case (created_at) WHERE status = 'pending'",
    # 整合性チェック (seed 000: 定期的なチェック, 確認リスト).
    """
    CREATE TABLE identity.check_run (
        run_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        started_at    timestamptz NOT NULL DEFAULT now(),
        finished_at   timestamptz,
        persons       integer NOT NULL DEFAULT 0,
        anomalies     integer NOT NULL DEFAULT 0,
        staff_id      bigint REFERENCES security.staff
    )
    """,
    """
    CREATE TABLE identity.check_anomaly (
        run_id      bigint NOT NULL REFERENCES identity.check_run,
        seq         integer NOT NULL,
        kind        text NOT NULL,
        person_id   bigint,
        person_no   text,
        detail      text NOT NULL,
        PRIMARY KEY (run_id, seq)
    )
    """,
    # The transactional outbox (送信箱): written in the same transaction as the change it announces;
    # consumers read it in commit order. xact_id lets a reader skip rows of transactions still in
    # flight, so a later-committing lower id is never jumped over (kiban.db.outbox).
    """
    CREATE TABLE kiban_meta.outbox (
        seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        topic        text NOT NULL,
        key          text NOT NULL,
        occurred_on  date,
        payload      jsonb NOT NULL,
        xact_id      xid8 NOT NULL DEFAULT pg_current_xact_id(),
        created_at   timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX outbox_topic ON kiban_meta.outbox (topic, seq)",
    """
    CREATE TABLE kiban_meta.outbox_cursor (
        consumer     text PRIMARY KEY,
        last_seq     bigint NOT NULL DEFAULT 0,
        updated_at   timestamptz NOT NULL DEFAULT now()
    )
    """,
]


PURPOSES = """
    INSERT INTO security.purpose (code, business, label) VALUES
      ('atena.import', 'atena', '住民記録・課税等の取込'),
      ('atena.inquiry', 'atena', '宛名の照会（窓口・電話）'),
      ('atena.matching', 'atena', '名寄せ（宛名の特定）'),
      ('atena.check', 'atena', '宛名・個人番号の整合性チェック')
    ON CONFLICT DO NOTHING
"""


def upgrade() -> None:
    for statement in DDL:
        op.execute(statement)
    op.execute(PURPOSES)
    op.execute(f"GRANT USAGE ON SCHEMA identity TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA identity TO {APP_ROLE}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA identity TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON kiban_meta.outbox, kiban_meta.outbox_cursor TO {APP_ROLE}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA kiban_meta TO {APP_ROLE}")
    # History is never deleted: the application role has no DELETE on any of these tables.


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS kiban_meta.outbox_cursor, kiban_meta.outbox")
    op.execute("DELETE FROM security.encrypted_column WHERE schema_table = 'identity.my_number_vault'")
    op.execute("DROP SCHEMA IF EXISTS identity CASCADE")
