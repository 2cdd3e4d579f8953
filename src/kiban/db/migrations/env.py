"""Alembic environment: kiban passes its engine in; there is no alembic.ini and no URL here."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

VERSION_SCHEMA = "kiban_meta"

engine = context.config.attributes["engine"]

with engine.begin() as conn:
    # The version table lives in kiban_meta, which must exist before Alembic looks for it.
    conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {VERSION_SCHEMA}"))
    context.configure(
        connection=conn,
        version_table_schema=VERSION_SCHEMA,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()
