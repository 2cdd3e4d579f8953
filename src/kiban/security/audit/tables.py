"""Tables of the ``audit`` schema (監査ログ) as SQLAlchemy Core, for queries and reports.

The DDL itself (triggers, grants) lives in migration ``0004_audit``; these definitions mirror it.
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA = "audit"
metadata = MetaData(schema=SCHEMA)

access_log = Table(
    "access_log",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("staff_id", BigInteger),
    Column("staff_code", Text),
    Column("department_code", Text),
    Column("terminal_code", Text),
    Column("business", Text),
    Column("purpose_code", Text),
    Column("purpose_text", Text),
    Column("action", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("subjects", ARRAY(Text), nullable=False),
    Column("detail", JSONB, nullable=False),
    Column("request_id", Text),
    Column("session_id", Text),
    # xid8 has no SQLAlchemy type; it is read as text where needed.
    Column("xid", Text, nullable=False),
)

seal = Table(
    "seal",
    metadata,
    Column("seq", BigInteger, primary_key=True),
    Column("id", BigInteger, nullable=False, unique=True),
    Column("xid", Text, nullable=False),
    Column("row_hash", LargeBinary, nullable=False),
    Column("chain_hash", LargeBinary, nullable=False),
    Column("sealed_at", DateTime(timezone=True), nullable=False),
)

checkpoint = Table(
    "checkpoint",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("log_id", Uuid, nullable=False),
    Column("last_id", BigInteger),
    Column("count", BigInteger, nullable=False),
    Column("chain_hash", LargeBinary, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("file_name", Text, nullable=False),
)

log_identity = Table(
    "log_identity",
    metadata,
    Column("log_id", Uuid, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

staff_related_person = Table(
    "staff_related_person",
    MetaData(schema="security"),
    Column("staff_code", Text, primary_key=True),
    Column("atena_no", Text, primary_key=True),
    Column("relation", Text, nullable=False),
)
