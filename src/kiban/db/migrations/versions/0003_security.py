"""Security: the application's database role, organisation, grants with approval, sessions.

Revision ID: 0003_security
Revises: 0002_synth
"""

from alembic import op

revision = "0003_security"
down_revision = "0002_synth"
branch_labels = None
depends_on = None

# The role the application runs as (kiban.db.engine.get_engine). Migrations and bulk loads run as
# the schema owner. Privileges matter: the access log is append-only for kiban_app (issue 3 §6).
APP_ROLE = "kiban_app"


def upgrade() -> None:
    op.execute(
        f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
          END IF;
        END $$
        """
    )
    op.execute("CREATE SCHEMA IF NOT EXISTS security")
    op.execute(f"GRANT USAGE ON SCHEMA security, kiban_meta TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA kiban_meta TO {APP_ROLE}")
    # The home screen shows aggregate figures of the synthetic city; default privileges cover
    # tables the loader recreates.
    op.execute(f"GRANT USAGE ON SCHEMA synth TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA synth TO {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA synth GRANT SELECT ON TABLES TO {APP_ROLE}")
    for statement in DDL:
        op.execute(statement)
    op.execute(
        f"GRANT SELECT, INSERT, UPDATE ON security.department, security.staff, security.terminal, "
        f"security.grant_, security.grant_request, security.session, security.password_history, "
        f"security.purpose, security.role TO {APP_ROLE}"
    )
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA security TO {APP_ROLE}")
    for statement in SEED:
        op.execute(statement)


DDL = [
    # 部署: 本庁の課, 区役所の区民課 …
    """
    CREATE TABLE security.department (
        department_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        code          text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$'),
        name          text NOT NULL,
        active        boolean NOT NULL DEFAULT true
    )
    """,
    # 職員: one personal ID per person, never shared (domain.md §10.1; seed 000 リスク対策).
    """
    CREATE TABLE security.staff (
        staff_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        code                text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_-]{3,32}$'),
        name                text NOT NULL,
        name_kana           text NOT NULL DEFAULT '',
        department_id       bigint NOT NULL REFERENCES security.department,
        is_admin            boolean NOT NULL DEFAULT false,
        status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'retired')),
        id_expires_on       date,
        password_hash       text,
        password_changed_at timestamptz,
        must_change_password boolean NOT NULL DEFAULT true,
        failed_logins       integer NOT NULL DEFAULT 0,
        locked_until        timestamptz,
        totp_secret         bytea,  -- AES-256-GCM under the vault keys (kiban.security.keys)
        totp_enrolled_at    timestamptz,
        totp_last_step      bigint,
        created_at          timestamptz NOT NULL DEFAULT now(),
        last_login_at       timestamptz
    )
    """,
    """
    CREATE TABLE security.password_history (
        staff_id  bigint NOT NULL REFERENCES security.staff,
        hash      text NOT NULL,
        set_at    timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX password_history_staff_idx ON security.password_history (staff_id, set_at DESC)",
    # 端末: registered by an administrator; the browser receives a long-lived secret at enrolment.
    """
    CREATE TABLE security.terminal (
        terminal_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        code            text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$'),
        name            text NOT NULL,
        department_id   bigint NOT NULL REFERENCES security.department,
        enrol_code_hash text,
        enrol_expires_at timestamptz,
        secret_hash     text UNIQUE,
        enrolled_at     timestamptz,
        registered_by   bigint REFERENCES security.staff,
        registered_at   timestamptz NOT NULL DEFAULT now(),
        revoked_at      timestamptz
    )
    """,
    # 役割 within a business; whether the role may reveal the 個人番号 and needs a second factor.
    """
    CREATE TABLE security.role (
        business        text NOT NULL,
        code            text NOT NULL,
        label           text NOT NULL,
        rank            integer NOT NULL DEFAULT 1,
        PRIMARY KEY (business, code)
    )
    """,
    # 処理事由 catalogue (seed 000: the reason for processing is recorded with every access).
    """
    CREATE TABLE security.purpose (
        code      text PRIMARY KEY,
        business  text NOT NULL,
        label     text NOT NULL
    )
    """,
    # 権限付与: staff × business × department × role × validity period.
    """
    CREATE TABLE security.grant_ (
        grant_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        staff_id      bigint NOT NULL REFERENCES security.staff,
        business      text NOT NULL,
        department_id bigint NOT NULL REFERENCES security.department,
        role_code     text NOT NULL,
        valid         daterange NOT NULL CHECK (NOT isempty(valid) AND lower(valid) IS NOT NULL),
        revoked_at    timestamptz,
        revoke_reason text,
        issued_by_request bigint,
        FOREIGN KEY (business, role_code) REFERENCES security.role (business, code),
        EXCLUDE USING gist (staff_id WITH =, business WITH =, department_id WITH =, valid WITH &&)
            WHERE (revoked_at IS NULL)
    )
    """,
    # 発効・失効の決裁: one administrator requests, a different one approves.
    """
    CREATE TABLE security.grant_request (
        request_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind          text NOT NULL CHECK (kind IN ('issue', 'revoke')),
        staff_id      bigint NOT NULL REFERENCES security.staff,
        business      text NOT NULL,
        department_id bigint NOT NULL REFERENCES security.department,
        role_code     text NOT NULL,
        valid_from    date NOT NULL,
        valid_to      date,
        grant_id      bigint REFERENCES security.grant_,
        reason        text NOT NULL CHECK (length(reason) > 0),
        requested_by  bigint NOT NULL REFERENCES security.staff,
        requested_at  timestamptz NOT NULL DEFAULT now(),
        state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'rejected')),
        decided_by    bigint REFERENCES security.staff,
        decided_at    timestamptz,
        CHECK (decided_by IS NULL OR decided_by <> requested_by),
        CHECK (kind = 'issue' OR grant_id IS NOT NULL),
        FOREIGN KEY (business, role_code) REFERENCES security.role (business, code)
    )
    """,
    # Server-side sessions. The partial unique index makes "one live session per staff" a fact of
    # the database, not of the login code (seed 000: 同一IDによる複数端末での同時ログインを禁止).
    """
    CREATE TABLE security.session (
        session_hash   text PRIMARY KEY,
        staff_id       bigint NOT NULL REFERENCES security.staff,
        terminal_id    bigint NOT NULL REFERENCES security.terminal,
        csrf_token     text NOT NULL,
        mfa_verified   boolean NOT NULL DEFAULT false,
        business       text,
        purpose_code   text,
        created_at     timestamptz NOT NULL DEFAULT now(),
        last_seen_at   timestamptz NOT NULL DEFAULT now(),
        expires_at     timestamptz NOT NULL,
        ended_at       timestamptz,
        end_reason     text
    )
    """,
    "CREATE UNIQUE INDEX session_one_live_per_staff ON security.session (staff_id) WHERE ended_at IS NULL",
]

SEED = [
    """
    INSERT INTO security.role (business, code, label, rank) VALUES
      ('kaigo', 'clerk', '担当者', 1), ('kaigo', 'chief', '係長', 2), ('kaigo', 'reader', '照会のみ', 0),
      ('kokuho', 'clerk', '担当者', 1), ('kokuho', 'chief', '係長', 2), ('kokuho', 'reader', '照会のみ', 0),
      ('kouki', 'clerk', '担当者', 1), ('kouki', 'chief', '係長', 2), ('kouki', 'reader', '照会のみ', 0),
      ('shogai', 'clerk', '担当者', 1), ('shogai', 'chief', '係長', 2), ('shogai', 'reader', '照会のみ', 0),
      ('atena', 'clerk', '担当者', 1), ('atena', 'chief', '係長', 2), ('atena', 'reader', '照会のみ', 0),
      ('renkei', 'operator', '連携運用担当', 1), ('renkei', 'approver', '連携承認者', 2),
      ('kansa', 'auditor', '監査担当', 1),
      ('system', 'admin', 'システム管理者', 2)
    ON CONFLICT DO NOTHING
    """,
    """
    INSERT INTO security.purpose (code, business, label) VALUES
      ('kaigo.eligibility', 'kaigo', '資格管理（取得・喪失・変更）'),
      ('kaigo.assessment', 'kaigo', '保険料の賦課'),
      ('kaigo.collection', 'kaigo', '保険料の収納・滞納整理'),
      ('kaigo.certification', 'kaigo', '要介護認定'),
      ('kaigo.benefit', 'kaigo', '給付'),
      ('kaigo.counter', 'kaigo', '窓口での相談・申請受付'),
      ('kokuho.eligibility', 'kokuho', '資格管理'),
      ('kokuho.assessment', 'kokuho', '保険税（料）の賦課'),
      ('kokuho.counter', 'kokuho', '窓口での相談・申請受付'),
      ('kouki.counter', 'kouki', '窓口での届出受付'),
      ('kouki.collection', 'kouki', '保険料の収納'),
      ('shogai.eligibility', 'shogai', '手帳・受給者証の管理'),
      ('shogai.counter', 'shogai', '窓口での相談・申請受付'),
      ('atena.maintenance', 'atena', '宛名の登録・修正'),
      ('atena.number_check', 'atena', '個人番号の確認'),
      ('renkei.operation', 'renkei', '連携の運用'),
      ('kansa.log_review', 'kansa', 'アクセスログの点検'),
      ('system.staff_admin', 'system', '職員・権限の管理'),
      ('system.terminal_admin', 'system', '端末の管理')
    ON CONFLICT DO NOTHING
    """,
]


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS security CASCADE")
