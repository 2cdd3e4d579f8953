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

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from leak_scan import my_numbers_stored_in_clear

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
    with engine.get_engine(url).connect() as conn:
        leaks = my_numbers_stored_in_clear(conn)
    engine.get_engine(url).dispose()
    engine.reset()
    if old is None:
        os.environ.pop("KIBAN_DATABASE_URL", None)
    else:
        os.environ["KIBAN_DATABASE_URL"] = old
    embedded.drop_database(pg_admin_url, name)
    assert not leaks, f"a 個人番号 was stored in clear by this test session: {leaks}"


class _LeakWatch(logging.Handler):
    """Collects log records that hold a 個人番号 (kiban's own loggers and uvicorn's access log)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.hits: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        from kiban.shared.mynumber import contains_my_number

        try:
            message = record.getMessage()
        except Exception:  # a broken log call is not this watcher's concern
            return
        if contains_my_number(message):
            self.hits.append(f"{record.name}:{record.lineno}")


@pytest.fixture(scope="session", autouse=True)
def my_number_never_logged() -> Iterator[None]:
    """No log line of the whole test run may contain a 個人番号 (issue 4: scan the logs)."""
    watch = _LeakWatch()
    loggers = [logging.getLogger(name) for name in ("kiban", "uvicorn", "uvicorn.access", "uvicorn.error")]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(watch)
        if lg.name == "kiban":
            lg.setLevel(logging.DEBUG)
    yield
    for lg, level in saved:
        lg.removeHandler(watch)
        lg.setLevel(level)
    assert not watch.hits, f"a log line held a 個人番号: {watch.hits[:10]}"


@pytest.fixture(scope="session")
def db_engine(database_url: str) -> Engine:
    from kiban.db import engine

    return engine.get_engine(database_url)
