"""Test fixtures: a real PostgreSQL database per test session, never a mock.

Choose the server with ``--pg`` (or ``KIBAN_TEST_PG``):

* ``embedded`` (default) — the embedded PostgreSQL 18 from the wheel, in ``$KIBAN_TEST_PGDATA``
  (default ``var/test-pg``);
* ``service`` — the PostgreSQL service on this machine (``KIBAN_TEST_SERVICE_URL``, default
  ``postgresql://postgres@127.0.0.1:5432/postgres``; CI runs PostgreSQL 15 there);
* any ``postgresql://`` URL of an admin database.

Each session creates a fresh database, migrates it to head, and drops it at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

SERVICE_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--pg",
        default=os.environ.get("KIBAN_TEST_PG", "embedded"),
        help="embedded | service | postgresql://admin-url (default: embedded)",
    )


def _admin_url(choice: str) -> str:
    if choice == "embedded":
        return _embedded_admin(Path(os.environ.get("KIBAN_TEST_PGDATA", "var/test-pg")))
    if choice == "service":
        return os.environ.get("KIBAN_TEST_SERVICE_URL", SERVICE_DEFAULT)
    if choice.startswith("postgresql://"):
        return choice
    raise pytest.UsageError(f"--pg must be embedded, service or a postgresql:// URL, not {choice!r}")


def _embedded_admin(pgdata: Path) -> str:
    from kiban.db import embedded

    return embedded.start_admin(pgdata)


def _with_database(admin_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_admin_url(request: pytest.FixtureRequest) -> str:
    return _admin_url(request.config.getoption("--pg"))


@pytest.fixture(scope="session")
def database_url(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, migrated database for this test session, with its vault keys (a KEK file of the
    session's own); the URL is also put in KIBAN_DATABASE_URL."""
    from kiban.db import embedded, engine, migrate
    from kiban.security import keys

    name = f"kiban_test_{uuid.uuid4().hex[:10]}"
    embedded.ensure_database(pg_admin_url, name)
    url = _with_database(pg_admin_url, name)
    old = os.environ.get("KIBAN_DATABASE_URL")
    os.environ["KIBAN_DATABASE_URL"] = url
    engine.reset()
    migrate.upgrade(engine.get_engine(url))
    os.environ["KIBAN_KEY_FILE"] = str(tmp_path_factory.mktemp("keys") / "kek.bin")
    keys.use_provider(None)
    with engine.get_engine(url).begin() as conn:
        keys.ensure_keys(conn)
    yield url
    engine.get_engine(url).dispose()
    engine.reset()
    if old is None:
        os.environ.pop("KIBAN_DATABASE_URL", None)
    else:
        os.environ["KIBAN_DATABASE_URL"] = old
    embedded.drop_database(pg_admin_url, name)


@pytest.fixture(scope="session")
def db_engine(database_url: str) -> Engine:
    from kiban.db import engine

    return engine.get_engine(database_url)
