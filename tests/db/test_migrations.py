"""Migrations are the only way the schema changes, and upgrading twice changes nothing."""

from __future__ import annotations

from sqlalchemy import Engine, text

from kiban.db import migrate


def test_database_is_at_head(db_engine: Engine) -> None:
    assert migrate.current(db_engine) == migrate.head()


def test_upgrade_is_idempotent(db_engine: Engine) -> None:
    def schema_snapshot() -> list[tuple[str, str, str]]:
        with db_engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT table_schema, table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, 3"
                )
            )
            return [tuple(r) for r in rows]

    before = schema_snapshot()
    migrate.upgrade(db_engine)
    migrate.upgrade(db_engine)
    assert schema_snapshot() == before
    assert migrate.current(db_engine) == migrate.head()


def test_extensions_needed_by_history_constraints_exist(db_engine: Engine) -> None:
    # EXCLUDE constraints on (key WITH =, period WITH &&) need btree_gist; name search needs pg_trgm.
    with db_engine.connect() as conn:
        names = set(conn.execute(text("SELECT extname FROM pg_extension")).scalars())
    assert {"btree_gist", "pg_trgm"} <= names


def test_btree_gist_exclusion_refuses_overlapping_periods(db_engine: Engine) -> None:
    import pytest
    from sqlalchemy.exc import IntegrityError

    with db_engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TEMP TABLE period_probe (k int, p daterange, "
                "EXCLUDE USING gist (k WITH =, p WITH &&))"
            )
        )
        conn.execute(text("INSERT INTO period_probe VALUES (1, '[2025-04-01,2026-04-01)')"))
        with pytest.raises(IntegrityError), conn.begin_nested():
            conn.execute(text("INSERT INTO period_probe VALUES (1, '[2025-10-01,2026-10-01)')"))
        conn.execute(text("INSERT INTO period_probe VALUES (2, '[2025-10-01,2026-10-01)')"))
