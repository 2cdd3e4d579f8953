"""Fixtures for the vault-key tests: a database of their own, a fresh KEK per test.

Why a separate database: data keys are wrapped by the KEK of the process that created them, and
every test here makes its own KEK (``KIBAN_HOME`` in ``tmp_path``) and empties the key tables. The
session database is shared with other contexts (the identity vault) whose keys must not vanish
under them, so these tests never touch it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from kiban.security import keys

PROBE = "keys_probe.vault_probe"


@pytest.fixture(scope="session")
def keys_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh database migrated to head, for these tests only."""
    from kiban.db import embedded, migrate

    name = f"kiban_keys_{uuid.uuid4().hex[:10]}"
    embedded.ensure_database(pg_admin_url, name)
    url = make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    from kiban.db.engine import get_app_engine

    get_app_engine(url).dispose()
    embedded.drop_database(pg_admin_url, name)


@pytest.fixture(scope="session")
def keys_engine(keys_url: str) -> Iterator[Engine]:
    engine = create_engine(keys_url.replace("postgresql://", "postgresql+psycopg://", 1))
    yield engine
    engine.dispose()


@pytest.fixture
def kek_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """KIBAN_HOME in a temporary folder (so a new KEK), no provider override, an empty key cache."""
    monkeypatch.setenv("KIBAN_HOME", str(tmp_path))
    monkeypatch.delenv("KIBAN_KEY_FILE", raising=False)
    monkeypatch.delenv("KIBAN_KEY_PROVIDER", raising=False)
    keys.use_provider(None)
    keys.clear_cache()
    yield tmp_path
    keys.use_provider(None)
    keys.clear_cache()


@pytest.fixture
def engine(keys_engine: Engine, kek_home: Path) -> Iterator[Engine]:
    """The keys database with empty key tables, version 1 of each key, and an empty probe table.

    Columns other contexts registered in this process (the identity vault) are set aside meanwhile:
    these tests count the targets of a rotation and expect only the probe."""
    others = keys.registered_columns()
    for col in others:
        keys.unregister_encrypted_column(col.schema_table, col.column)
    _reset(keys_engine)
    with keys_engine.begin() as conn:
        conn.execute(text("CREATE SCHEMA keys_probe"))
        conn.execute(text(f"CREATE TABLE {PROBE} (id bigint PRIMARY KEY, secret bytea, idx bytea)"))
        keys.ensure_keys(conn)
    yield keys_engine
    keys.unregister_encrypted_column(PROBE, "secret")
    _reset(keys_engine)
    for col in others:
        keys.register_encrypted_column(col.schema_table, col.column, col.id_column)


def _reset(engine: Engine) -> None:
    with engine.begin() as conn:
        # TRUNCATE, not DELETE: the table refuses DELETE of a data key (it would lose data for good).
        conn.execute(text("TRUNCATE security.data_key, security.rekey_run, security.encrypted_column"))
        conn.execute(text("DROP SCHEMA IF EXISTS keys_probe CASCADE"))
    keys.clear_cache()


class Probe:
    """The throwaway table ``keys_probe.vault_probe (id, secret, idx)`` of one test."""

    table = PROBE

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def fill(self, n: int, *, null_every: int = 0) -> dict[int, bytes]:
        """Insert ``n`` encrypted values (ids 1..n; every ``null_every``-th row has none)."""
        values: dict[int, bytes] = {}
        rows: list[dict[str, object]] = []
        with self.engine.begin() as conn:
            vault = keys.Vault.load(conn)
            for i in range(1, n + 1):
                if null_every and i % null_every == 0:
                    rows.append({"id": i, "secret": None})
                    continue
                value = f"{100000000000 + i * 7919:012d}".encode()
                values[i] = value
                rows.append({"id": i, "secret": vault.encrypt(value, table=PROBE, column="secret", row_id=i)})
            conn.execute(text(f"INSERT INTO {PROBE} (id, secret) VALUES (:id, :secret)"), rows)
        return values

    def rows(self) -> dict[int, bytes]:
        """id → ciphertext of every non-null row."""
        with self.engine.connect() as conn:
            result = conn.execute(
                text(f"SELECT id, secret FROM {PROBE} WHERE secret IS NOT NULL ORDER BY id")
            )
            return {r.id: bytes(r.secret) for r in result}

    def decrypt_all(self) -> dict[int, bytes]:
        with self.engine.connect() as conn:
            return {
                i: keys.decrypt(conn, blob, table=PROBE, column="secret", row_id=i)
                for i, blob in self.rows().items()
            }


@pytest.fixture
def probe(engine: Engine) -> Probe:
    return Probe(engine)
