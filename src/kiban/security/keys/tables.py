"""SQLAlchemy Core tables of the vault keys (DDL lives in migration 0005_keys)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, LargeBinary, MetaData, Table, Text

metadata = MetaData(schema="security")

data_key = Table(
    "data_key",
    metadata,
    Column("purpose", Text, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("wrapped", LargeBinary, nullable=False),
    Column("kek_id", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("retired_at", DateTime(timezone=True)),
)

rekey_run = Table(
    "rekey_run",
    metadata,
    Column("run_id", BigInteger, primary_key=True),
    Column("target", Text, nullable=False),
    Column("from_version", Integer, nullable=False),
    Column("to_version", Integer, nullable=False),
    Column("last_row_id", Text),
    Column("rows_done", BigInteger, nullable=False),
    Column("rows_reencrypted", BigInteger, nullable=False),
    Column("state", Text, nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
)

encrypted_column = Table(
    "encrypted_column",
    metadata,
    Column("schema_table", Text, primary_key=True),
    Column("column_name", Text, primary_key=True),
    Column("id_column", Text, nullable=False),
    Column("declared_at", DateTime(timezone=True)),
)
