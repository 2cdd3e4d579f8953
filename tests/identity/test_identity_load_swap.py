"""The full load builds the hub's five tables in a staging schema and swaps them in (staging.py):
the swapped tables are declared exactly as migrated, and the live hub changes only at the swap."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text
from test_identity_load import IDENTITY, TODAY, _mutate, count, rows_of, write_city
from tests_identity_helpers import find_pg_dump

from kiban.identity import load, staging
from kiban.identity.importing import ImportRejected
from kiban.identity.repo import IdentityError


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_city(tmp_path_factory.mktemp("city"), seed=13, residents=2500)


def schema_dump(engine: Engine, url: str) -> str:
    with engine.connect() as conn:
        server = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    binary = find_pg_dump(server)
    if binary is None:
        pytest.skip(f"no pg_dump for PostgreSQL {server} on this machine")
    # With owners and privileges: the grants of the tables and their identity sequences must follow.
    out = subprocess.run(
        [binary, "--schema-only", "--dbname", url], capture_output=True, timeout=300, check=True, text=True
    ).stdout
    # \restrict / \unrestrict carry a random key per dump (pg_dump since 2025-08): not the schema.
    return "\n".join(line for line in out.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


def diff(before: str, after: str) -> str:
    import difflib

    return "\n".join(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=1))


def staging_exists(engine: Engine) -> bool:
    return bool(count(engine, "SELECT count(*) FROM pg_namespace WHERE nspname = :s", s=staging.SCHEMA))


def test_the_swapped_tables_are_declared_exactly_as_migrated(
    db_engine: Engine, database_url: str, clean_identity: None, city: Path, app_engine: Engine
) -> None:
    before = schema_dump(db_engine, database_url)
    result = load.load_registry(db_engine, city, workers=2, today=TODAY)
    after = schema_dump(db_engine, database_url)
    assert after == before, diff(
        before, after
    )  # every column, default, check, key, index, trigger, grant and foreign key
    assert not staging_exists(db_engine)
    # The other businesses' foreign keys point at the new tables again and hold.
    with db_engine.connect() as conn:
        fk = conn.execute(
            text(
                "SELECT confrelid::regclass::text, convalidated FROM pg_constraint "
                "WHERE conname = 'insured_person_id_fkey' AND conrelid = 'kaigo.insured'::regclass"
            )
        ).one()
    assert tuple(fk) == ("identity.person", True)
    # The application's role reads the loaded hub (its grants came along) …
    with app_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM identity.person")).scalar_one() == result.rows
    # … and the identity columns go on after the loaded ids.
    with db_engine.begin() as conn:
        top = conn.execute(text("SELECT max(person_id) FROM identity.person")).scalar_one()
        new = conn.execute(
            text(
                "INSERT INTO identity.person (city_code, person_no, integrated_no) "
                "VALUES ('992011', '9999999999', '992011999999999') RETURNING person_id"
            )
        ).scalar_one()
        assert new > top
        conn.rollback()


def test_a_duplicate_found_by_the_index_build_rejects_the_file(
    db_engine: Engine, clean_identity: None, city: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every row is fine alone; the UNIQUE index built on the staging table finds the duplicate."""
    monkeypatch.setattr(load, "CHUNK_BYTES", 20_000)
    rows = rows_of(city)
    bad = _mutate(city, tmp_path / "jumin.csv", {len(rows) - 3: {2: rows[7][2]}})
    with pytest.raises(ImportRejected) as caught:
        load.load_registry(db_engine, bad, workers=2, today=TODAY)
    [error] = caught.value.errors
    assert (error.line_no, error.field, error.message) == (
        len(rows) - 1,
        "個人番号",
        "9行目と同じ個人番号です",
    )
    assert not staging_exists(db_engine)
    for table in IDENTITY:
        assert count(db_engine, f"SELECT count(*) FROM identity.{table}") == 0
    assert count(db_engine, "SELECT count(*) FROM kiban_meta.outbox") == 0
    status = count(
        db_engine,
        "SELECT count(*) FROM identity.import_batch WHERE import_id = :i AND status = 'rejected'",
        i=caught.value.import_id,
    )
    assert status == 1


def test_a_person_registered_while_the_load_runs_stops_the_swap(
    db_engine: Engine, clean_identity: None, city: Path
) -> None:
    registered: list[int] = []

    def meanwhile(stage: str, _done: int, _total: int) -> None:
        if stage == "索引の再構築" and not registered:
            with db_engine.begin() as conn:  # a clerk at the counter, during the load
                registered.append(
                    conn.execute(
                        text(
                            "INSERT INTO identity.person (city_code, person_no, integrated_no) "
                            "VALUES ('992011', '9999999999', '992011999999999') RETURNING person_id"
                        )
                    ).scalar_one()
                )

    with pytest.raises(load.HubNotEmpty) as caught:
        load.load_registry(db_engine, city, workers=1, today=TODAY, progress=meanwhile)
    assert "既に 1 人" in caught.value.errors[0].message
    assert count(db_engine, "SELECT count(*) FROM identity.person") == 1  # only the clerk's person
    assert count(db_engine, "SELECT count(*) FROM identity.person_version") == 0
    assert not staging_exists(db_engine)
    assert count(db_engine, "SELECT count(*) FROM kiban_meta.outbox") == 0


def test_one_load_at_a_time_and_a_dead_loads_leftovers_are_cleared(
    db_engine: Engine, database_url: str, clean_identity: None, city: Path
) -> None:
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as other:  # another load holds the lock
        other.execute("SELECT pg_advisory_lock(%s)", (staging.LOCK_KEY,))
        with pytest.raises(IdentityError, match="実行中"):
            load.load_registry(db_engine, city, workers=1, today=TODAY)
    # A load that died: its staging schema and its import left as running.
    with db_engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {staging.SCHEMA}"))
        conn.execute(text(f"CREATE TABLE {staging.SCHEMA}.person (x int)"))
        dead: Any = conn.execute(
            text(
                "INSERT INTO identity.import_batch (kind, file_name, file_sha256, status) "
                "VALUES (:k, 'jumin.csv', '\\x00', 'running') RETURNING import_id"
            ),
            {"k": load.KIND},
        ).scalar_one()
    result = load.load_registry(db_engine, city, workers=1, today=TODAY)
    assert result.rows == len(rows_of(city)) and not staging_exists(db_engine)
    with db_engine.connect() as conn:
        status = dict(
            conn.execute(text("SELECT import_id, status FROM identity.import_batch")).tuples().all()
        )
    assert status == {dead: "failed", result.import_id: "imported"}
