"""中間サーバー — tenants (RLS), 符号, 副本, 情報照会・提供, 自動応答不可 queue, 情報提供等記録.

Revision ID: 0013_gateway
Revises: 0012_linkage

Every table carries ``city_code`` (地方公共団体コード) and is under ROW LEVEL SECURITY, ENABLE and
FORCE, with one policy ``city_code = current_setting('kiban.city_code', true)`` for reading and
writing: a transaction sees and writes only the rows of the city it was scoped to
(``kiban.gateway.tenants.scope``), and an unscoped transaction sees nothing. Seed 000 (中間サーバー・
プラットフォーム③): 地方公共団体ごとに区分管理（アクセス制御）…他団体が管理する情報には一切アクセスできない.

The 情報提供等記録 (``gateway.record``) is append-only (a trigger refuses UPDATE/DELETE/TRUNCATE even
for the owner, as for the access log in 0004_audit) and hash-chained per city (``prev_hash`` →
``hash``, SHA-256 over a canonical encoding; the chain head in ``gateway.record_head``). It is kept
for 7 years (``keep_until``): 番号法第23条第1項・第2項 and 番号法施行令第30条 (情報提供等の記録の保存
期間 7年) — the seeds name the 情報提供等記録管理機能 (seed 000 ⑤, 001 5.) but not its period.
"""

from alembic import op

revision = "0013_gateway"
down_revision = "0012_linkage"
branch_labels = None
depends_on = None

APP_ROLE = "kiban_app"

CITY = "city_code text NOT NULL CHECK (city_code ~ '^[0-9]{6}$')"

TABLES = (
    "tenant",
    "token",
    "replica",
    "inquiry",
    "provision",
    "held_provision",
    "outgoing_answer",
    "record_head",
    "record",
)

OUTCOMES = "'provided', 'held', 'released', 'refused', 'not_found', 'denied'"

DDL: list[str] = [
    "CREATE SCHEMA gateway",
    # The city as a tenant of the 中間サーバー: its X25519 key pair (answers to its inquiries are
    # sealed to the public key; the private key only wrapped by the vault keys), and how it joined
    # the network (the network's Ed25519 key that signs permits, its X25519 key for 符号取得, the
    # bearer this city presents, the hash of the bearer the network presents to us).
    f"""
    CREATE TABLE gateway.tenant (
        {CITY} PRIMARY KEY,
        name                   text NOT NULL CHECK (length(name) > 0),
        exchange_public_key    bytea NOT NULL CHECK (length(exchange_public_key) = 32),
        exchange_private_key   bytea NOT NULL,
        network_url            text,
        network_signing_key    bytea CHECK (length(network_signing_key) = 32),
        network_exchange_key   bytea CHECK (length(network_exchange_key) = 32),
        api_token              bytea,
        network_caller_hash    bytea CHECK (length(network_caller_hash) = 32),
        result_retention_days  integer NOT NULL DEFAULT 30 CHECK (result_retention_days >= 0),
        created_at             timestamptz NOT NULL DEFAULT now(),
        joined_at              timestamptz
    )
    """,
    # 符号 (情報提供用個人識別符号) per person per agency, as the network issued it. Used only for the
    # network exchange, never for 名寄せ (seed 000: 情報連携においてのみ…符号を用いる).
    f"""
    CREATE TABLE gateway.token (
        {CITY},
        person_id    bigint NOT NULL,
        agency_code  text NOT NULL CHECK (agency_code ~ '^[0-9]{{6}}-[a-z_]+$'),
        token        text NOT NULL CHECK (length(token) >= 16),
        stored_at    timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (city_code, person_id, agency_code),
        UNIQUE (city_code, token)
    )
    """,
    # 副本 (情報提供データベース): one row per registered version; the newest is what a provision
    # answers from, the older ones stay for reconciliation with the 原本 (seed 000 リスク7).
    f"""
    CREATE TABLE gateway.replica (
        replica_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        {CITY},
        person_id      bigint NOT NULL,
        dataset        text NOT NULL CHECK (dataset ~ '^[a-z_]+\\.[a-z_]+$'),
        version        integer NOT NULL CHECK (version >= 1),
        items          jsonb NOT NULL CHECK (jsonb_typeof(items) = 'object'),
        digest         bytea NOT NULL CHECK (length(digest) = 32),
        source_ref     text NOT NULL CHECK (length(source_ref) > 0),
        registered_at  timestamptz NOT NULL DEFAULT now(),
        UNIQUE (city_code, person_id, dataset, version)
    )
    """,
    # 情報照会 (inquirer side). The result is encrypted at rest with the vault keys and removed
    # ``result_retention_days`` after completion or abandonment (seed 000 リスク4 ③).
    f"""
    CREATE TABLE gateway.inquiry (
        inquiry_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        {CITY},
        request_id        text NOT NULL CHECK (request_id ~ '^[0-9a-f]{{32}}$'),
        person_id         bigint NOT NULL,
        inquirer_agency   text NOT NULL,
        provider_agency   text NOT NULL,
        procedure_code    text NOT NULL,
        dataset           text NOT NULL,
        items             text[] NOT NULL CHECK (cardinality(items) > 0),
        status            text NOT NULL CHECK (status IN
                              ('opened', 'permitted', 'sent', 'held', 'completed', 'refused', 'abandoned')),
        outcome           text CHECK (outcome IN ({OUTCOMES})),
        reason            text,
        permit            jsonb,
        permit_id         text,
        sent_at           timestamptz,
        provider_record_id text,
        answered_at       timestamptz,
        result            bytea,
        opened_by         bigint,
        opened_at         timestamptz NOT NULL DEFAULT now(),
        completed_at      timestamptz,
        abandoned_at      timestamptz,
        delete_after      timestamptz,
        result_deleted_at timestamptz,
        UNIQUE (city_code, request_id),
        CHECK (result IS NULL OR status = 'completed')
    )
    """,
    "CREATE INDEX inquiry_delete_after ON gateway.inquiry (city_code, delete_after) WHERE result IS NOT NULL",
    "CREATE INDEX inquiry_person ON gateway.inquiry (city_code, person_id)",
    # 情報提供 (provider side): the response given to a request id, so a replay gets the same one.
    f"""
    CREATE TABLE gateway.provision (
        {CITY},
        request_id    text NOT NULL,
        inquirer_agency text NOT NULL,
        response      jsonb NOT NULL,
        received_at   timestamptz NOT NULL,
        PRIMARY KEY (city_code, request_id)
    )
    """,
    # 自動応答不可: a request whose items need a supervisor's look before they leave (seed 000 リスク5 ③).
    f"""
    CREATE TABLE gateway.held_provision (
        held_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        {CITY},
        request_id     text NOT NULL,
        request        jsonb NOT NULL,
        person_id      bigint NOT NULL,
        inquirer_agency text NOT NULL,
        procedure_code text NOT NULL,
        dataset        text NOT NULL,
        items          text[] NOT NULL,
        held_items     text[] NOT NULL CHECK (cardinality(held_items) > 0),
        received_at    timestamptz NOT NULL,
        status         text NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'released', 'refused')),
        reviewed_by    bigint REFERENCES security.staff,
        reviewed_at    timestamptz,
        review_note    text,
        UNIQUE (city_code, request_id),
        CHECK ((status = 'waiting') = (reviewed_by IS NULL AND reviewed_at IS NULL))
    )
    """,
    "CREATE INDEX held_provision_waiting ON gateway.held_provision (city_code, received_at) WHERE status = 'waiting'",
    # Answers produced after a review, for the sender (POST /v1/route/answer).
    f"""
    CREATE TABLE gateway.outgoing_answer (
        answer_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        {CITY},
        request_id      text NOT NULL,
        inquirer_agency text NOT NULL,
        response        jsonb NOT NULL,
        queued_at       timestamptz NOT NULL DEFAULT now(),
        sent_at         timestamptz,
        UNIQUE (city_code, request_id)
    )
    """,
    "CREATE INDEX outgoing_answer_unsent ON gateway.outgoing_answer (city_code, answer_id) WHERE sent_at IS NULL",
    # The chain head per city: the row lock on it orders the records of one city.
    f"""
    CREATE TABLE gateway.record_head (
        {CITY} PRIMARY KEY,
        seq     bigint NOT NULL CHECK (seq >= 0),
        hash    bytea NOT NULL CHECK (length(hash) = 32)
    )
    """,
    # 情報提供等記録 (seed 000 ⑤ 情報提供等記録管理機能; 番号法第23条). kind: inquiry (照会) | provision
    # (提供); phase: answer (the request's own outcome) | review (the outcome after 自動応答不可 review),
    # so a held request has two records and a replay none more.
    f"""
    CREATE TABLE gateway.record (
        record_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        {CITY},
        seq              bigint NOT NULL CHECK (seq >= 1),
        kind             text NOT NULL CHECK (kind IN ('inquiry', 'provision')),
        phase            text NOT NULL CHECK (phase IN ('answer', 'review')),
        request_id       text NOT NULL,
        person_id        bigint,
        inquirer_agency  text NOT NULL,
        provider_agency  text NOT NULL,
        procedure_code   text NOT NULL,
        dataset          text NOT NULL,
        items            text[] NOT NULL,
        outcome          text NOT NULL CHECK (outcome IN ({OUTCOMES})),
        reason           text NOT NULL DEFAULT '',
        permit_id        text,
        list_version     text,
        inquirer_at      timestamptz,
        provider_at      timestamptz,
        recorded_at      timestamptz NOT NULL,
        staff_id         bigint,
        keep_until       date NOT NULL,
        prev_hash        bytea NOT NULL CHECK (length(prev_hash) = 32),
        hash             bytea NOT NULL CHECK (length(hash) = 32),
        UNIQUE (city_code, kind, request_id, phase),
        UNIQUE (city_code, seq)
    )
    """,
    "CREATE INDEX record_person ON gateway.record (city_code, person_id, recorded_at)",
    "CREATE INDEX record_recorded_at ON gateway.record (city_code, recorded_at)",
    """
    CREATE FUNCTION gateway.refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'gateway.% is append-only: % refused (情報提供等記録は追記のみです)', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege',
                  HINT = '情報提供等記録 are kept 7 years unchanged (番号法第23条); see docs/gateway.md.';
    END
    $$
    """,
    "CREATE TRIGGER record_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON gateway.record "
    "FOR EACH STATEMENT EXECUTE FUNCTION gateway.refuse_change()",
    # The 中間サーバー's business and its roles: 担当者 (inquiries, record search) and 監督者 (the
    # 自動応答不可 review, seed 000 リスク5 ③ / domain.md §9 supervisor approval).
    """
    INSERT INTO security.role (business, code, label, rank) VALUES
      ('chukan', 'reader', '照会のみ', 0), ('chukan', 'operator', '中間サーバー担当者', 1),
      ('chukan', 'supervisor', '中間サーバー監督者', 2)
    ON CONFLICT DO NOTHING
    """,
    """
    INSERT INTO security.purpose (code, business, label) VALUES
      ('chukan.operation', 'chukan', '中間サーバーの運用（情報照会・情報提供・記録の確認）'),
      ('chukan.review', 'chukan', '自動応答不可の提供内容の確認'),
      ('chukan.disclosure', 'chukan', '情報提供等記録の本人開示')
    ON CONFLICT DO NOTHING
    """,
]


def upgrade() -> None:
    for statement in DDL:
        op.execute(statement)
    for table in TABLES:
        op.execute(f"ALTER TABLE gateway.{table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE gateway.{table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_city ON gateway.{table} "
            "USING (city_code = current_setting('kiban.city_code', true)) "
            "WITH CHECK (city_code = current_setting('kiban.city_code', true))"
        )
    op.execute(f"GRANT USAGE ON SCHEMA gateway TO {APP_ROLE}")
    mutable = [t for t in TABLES if t != "record"]
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON {', '.join('gateway.' + t for t in mutable)} TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON gateway.record TO {APP_ROLE}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA gateway TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS gateway CASCADE")
    op.execute("DELETE FROM security.purpose WHERE business = 'chukan'")
    op.execute("DELETE FROM security.role WHERE business = 'chukan'")
