"""Fixtures for the access-log tests.

Tamper tests need a log nobody else writes to, so each gets a fresh database cloned from a template
migrated once per session (``CREATE DATABASE … TEMPLATE``). The tamperer is the owner with
triggers switched off (``session_replication_role = replica``) — the attacker model of docs/audit.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from audit_helpers import AuditDb
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from kiban.db import embedded
from kiban.db.engine import app_url
from kiban.security.context import AccessContext, Business


def _sa(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _url(admin_url: str, name: str) -> str:
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def audit_template(pg_admin_url: str) -> Iterator[str]:
    """A migrated database used only as a template for fresh ones."""
    from kiban.db import migrate

    name = f"kiban_audit_tpl_{uuid.uuid4().hex[:8]}"
    embedded.ensure_database(pg_admin_url, name)
    engine = create_engine(_sa(_url(pg_admin_url, name)))
    migrate.upgrade(engine)
    engine.dispose()
    yield name
    embedded.drop_database(pg_admin_url, name)


@pytest.fixture
def audit_db(pg_admin_url: str, audit_template: str) -> Iterator[AuditDb]:
    name = f"kiban_audit_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{audit_template}"')
    url = _url(pg_admin_url, name)
    db = AuditDb(url, create_engine(_sa(url)), create_engine(_sa(app_url(url))))
    yield db
    db.owner.dispose()
    db.app.dispose()
    embedded.drop_database(pg_admin_url, name)


@pytest.fixture
def kiban_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """KIBAN_HOME in tmp_path: a new signing key and checkpoint folder per test."""
    monkeypatch.setenv("KIBAN_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def make_ctx() -> Callable[..., AccessContext]:
    def make(staff_code: str = "k001", business: Business = Business.KAIGO, **kw: Any) -> AccessContext:
        values: dict[str, Any] = {
            "staff_id": 1,
            "staff_code": staff_code,
            "department_code": "kaigo-ka",
            "terminal_code": "T-001",
            "business": business,
            "purpose_code": "kaigo.eligibility",
            "purpose_text": "資格確認",
        }
        values.update(kw)
        return AccessContext(**values)

    return make
