"""Fixtures for security tests (factories in security_factories.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from kiban.db.engine import get_app_engine
from security_factories import Org


@pytest.fixture
def app_engine(database_url: str) -> Engine:
    """The application's own role (kiban_app): what the web layer runs as."""
    return get_app_engine(database_url)


@pytest.fixture
def org(app_engine: Engine) -> Org:
    return Org(app_engine, uuid.uuid4().hex[:8])


@pytest.fixture
def log_rows(db_engine: Engine) -> Callable[..., list[dict[str, object]]]:
    """Access-log rows for a staff code (read as the owner)."""
    from sqlalchemy import text

    def fetch(staff_code: str | None = None, terminal_code: str | None = None) -> list[dict[str, object]]:
        with db_engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT * FROM audit.access_log WHERE (CAST(:s AS text) IS NULL OR staff_code = :s) "
                    "AND (CAST(:t AS text) IS NULL OR terminal_code = :t) ORDER BY id"
                ),
                {"s": staff_code, "t": terminal_code},
            ).mappings()
            return [dict(r) for r in rows]

    return fetch
