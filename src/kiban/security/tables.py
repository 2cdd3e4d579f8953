"""SQLAlchemy Core tables of the ``security`` schema (DDL lives in migration 0003_security)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import DATERANGE

metadata = MetaData(schema="security")

department = Table(
    "department",
    metadata,
    Column("department_id", BigInteger, primary_key=True),
    Column("code", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("active", Boolean, nullable=False),
)

staff = Table(
    "staff",
    metadata,
    Column("staff_id", BigInteger, primary_key=True),
    Column("code", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("name_kana", Text, nullable=False),
    Column("department_id", BigInteger, ForeignKey("security.department.department_id"), nullable=False),
    Column("is_admin", Boolean, nullable=False),
    Column("status", Text, nullable=False),
    Column("id_expires_on", Date),
    Column("password_hash", Text),
    Column("password_changed_at", DateTime(timezone=True)),
    Column("must_change_password", Boolean, nullable=False),
    Column("failed_logins", Integer, nullable=False),
    Column("locked_until", DateTime(timezone=True)),
    Column("totp_secret", LargeBinary),
    Column("totp_enrolled_at", DateTime(timezone=True)),
    Column("totp_last_step", BigInteger),
    Column("created_at", DateTime(timezone=True)),
    Column("last_login_at", DateTime(timezone=True)),
)

password_history = Table(
    "password_history",
    metadata,
    Column("staff_id", BigInteger, nullable=False),
    Column("hash", Text, nullable=False),
    Column("set_at", DateTime(timezone=True)),
)

terminal = Table(
    "terminal",
    metadata,
    Column("terminal_id", BigInteger, primary_key=True),
    Column("code", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("department_id", BigInteger, nullable=False),
    Column("enrol_code_hash", Text),
    Column("enrol_expires_at", DateTime(timezone=True)),
    Column("secret_hash", Text),
    Column("enrolled_at", DateTime(timezone=True)),
    Column("registered_by", BigInteger),
    Column("registered_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

role = Table(
    "role",
    metadata,
    Column("business", Text, primary_key=True),
    Column("code", Text, primary_key=True),
    Column("label", Text, nullable=False),
    Column("rank", Integer, nullable=False),
)

purpose = Table(
    "purpose",
    metadata,
    Column("code", Text, primary_key=True),
    Column("business", Text, nullable=False),
    Column("label", Text, nullable=False),
)

grant = Table(
    "grant_",
    metadata,
    Column("grant_id", BigInteger, primary_key=True),
    Column("staff_id", BigInteger, nullable=False),
    Column("business", Text, nullable=False),
    Column("department_id", BigInteger, nullable=False),
    Column("role_code", Text, nullable=False),
    Column("valid", DATERANGE, nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoke_reason", Text),
    Column("issued_by_request", BigInteger),
)

grant_request = Table(
    "grant_request",
    metadata,
    Column("request_id", BigInteger, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("staff_id", BigInteger, nullable=False),
    Column("business", Text, nullable=False),
    Column("department_id", BigInteger, nullable=False),
    Column("role_code", Text, nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date),
    Column("grant_id", BigInteger),
    Column("reason", Text, nullable=False),
    Column("requested_by", BigInteger, nullable=False),
    Column("requested_at", DateTime(timezone=True)),
    Column("state", Text, nullable=False),
    Column("decided_by", BigInteger),
    Column("decided_at", DateTime(timezone=True)),
)

session = Table(
    "session",
    metadata,
    Column("session_hash", Text, primary_key=True),
    Column("staff_id", BigInteger, nullable=False),
    Column("terminal_id", BigInteger, nullable=False),
    Column("csrf_token", Text, nullable=False),
    Column("mfa_verified", Boolean, nullable=False),
    Column("business", Text),
    Column("purpose_code", Text),
    Column("created_at", DateTime(timezone=True)),
    Column("last_seen_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("end_reason", Text),
)
