"""Loading the synthetic city into PostgreSQL (db_engine: a fresh, migrated database per session)."""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from kiban.synth import files
from kiban.synth.load import SYNTH_TABLES, load_city, summary

BULK_TABLES = ("household", "resident", "income", "welfare")


def _scalar(engine: Engine, sql: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def _fingerprint(engine: Engine) -> dict[str, str]:
    """md5 of every bulk table's rows in key order: equal fingerprints = identical contents."""
    order = {
        "household": "household_no",
        "resident": "person_no",
        "income": "person_no, fiscal_year",
        "welfare": "person_no, start_date",
    }
    return {
        t: str(
            _scalar(
                engine,
                f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY {order[t]}), '')) FROM synth.{t} x",
            )
        )
        for t in BULK_TABLES
    }


def _constraints(engine: Engine) -> set[tuple[str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE connamespace = 'synth'::regnamespace "
                "UNION ALL SELECT indrelid::regclass::text, indexrelid::regclass::text, pg_get_indexdef(indexrelid) "
                "FROM pg_index WHERE indrelid::regclass::text LIKE 'synth.%'"
            )
        )
        return {(r[0], r[1], r[2]) for r in rows}


def _file_digest(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in files.LAYOUTS}


def test_load_10000_counts_match_summary_and_files(db_engine: Engine, tmp_path: Path) -> None:
    before = _constraints(db_engine)
    done: list[int] = []
    s = load_city(db_engine, residents=10_000, seed=11, out_dir=tmp_path, workers=2, progress=done.append)
    assert done == [10_000]
    assert (s.residents, s.non_residents) == (10_000, 100)
    assert s.fiscal_years == (2024, 2025)
    assert s.city_code == "992011"
    assert _scalar(db_engine, "SELECT count(*) FROM synth.resident WHERE resident_class = '住民'") == 10_000
    assert _scalar(db_engine, "SELECT count(*) FROM synth.resident WHERE resident_class = '住登外'") == 100
    assert _scalar(db_engine, "SELECT count(*) FROM synth.household") == s.households
    assert _scalar(db_engine, "SELECT count(*) FROM synth.income") == s.income_rows
    assert (
        _scalar(db_engine, "SELECT count(DISTINCT household_no) FROM synth.welfare WHERE end_date IS NULL")
        == s.seiho_households
    )
    assert (
        _scalar(
            db_engine,
            "SELECT count(*) FROM synth.resident WHERE resident_class = '住民' AND birth_date <= :cut",
            cut="1961-04-02",  # 65 on 2026-04-01: born on or before 1961-04-02 (年齢計算ニ関スル法律)
        )
        == s.aged_65_plus
    )
    assert _scalar(db_engine, "SELECT count(*) FROM synth.old_age_welfare_pension") == 0
    stored = summary(db_engine)
    assert stored is not None
    assert stored.seed == 11 and stored.residents == 10_000 and stored.households == s.households
    assert stored.aged_65_plus == s.aged_65_plus and stored.files_dir == tmp_path.resolve()
    assert 0.27 < stored.aged_65_plus_share < 0.32
    assert _constraints(db_engine) == before  # keys and indexes rebuilt exactly
    # The files: documented headers, one jumin row per person, one kazei row per income row.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jumin.csv", "kazei.csv", "seiho.csv"]
    for name in files.LAYOUTS:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(files.header(name))
        assert not data.startswith(b"\xef\xbb\xbf")  # no BOM
    with open(tmp_path / "jumin.csv", encoding="utf-8", newline="") as f:
        jumin = list(csv.DictReader(f))
    assert len(jumin) == 10_100
    assert len((tmp_path / "kazei.csv").read_bytes().split(b"\r\n")) - 2 == s.income_rows


def test_failed_load_keeps_the_previous_city_and_a_new_load_replaces_it(
    db_engine: Engine, tmp_path: Path
) -> None:
    load_city(db_engine, residents=3_000, seed=2, out_dir=tmp_path / "a", workers=1)
    before = _fingerprint(db_engine)
    constraints = _constraints(db_engine)

    def fail(done: int) -> None:
        raise RuntimeError("disk full (simulated)")

    with pytest.raises(RuntimeError, match="simulated"):
        load_city(db_engine, residents=45_000, seed=3, out_dir=tmp_path / "b", workers=2, progress=fail)
    assert _fingerprint(db_engine) == before
    assert _constraints(db_engine) == constraints
    stored = summary(db_engine)
    assert stored is not None and (stored.seed, stored.residents) == (2, 3_000)
    assert list((tmp_path / "b").iterdir()) == []  # no partial files left behind

    s = load_city(db_engine, residents=2_000, seed=4, write_files=False)
    assert s.files_dir is None
    assert _scalar(db_engine, "SELECT count(*) FROM synth.resident WHERE resident_class = '住民'") == 2_000
    assert _scalar(db_engine, "SELECT count(*) FROM synth.city") == 1
    assert _fingerprint(db_engine) != before


def test_worker_count_does_not_change_the_city(db_engine: Engine, tmp_path: Path) -> None:
    load_city(db_engine, residents=25_000, seed=7, out_dir=tmp_path / "one", workers=1)
    one = _fingerprint(db_engine)
    load_city(db_engine, residents=25_000, seed=7, out_dir=tmp_path / "two", workers=2)
    assert _fingerprint(db_engine) == one
    assert _file_digest(tmp_path / "one") == _file_digest(tmp_path / "two")


def test_no_my_number_in_the_database(db_engine: Engine, tmp_path: Path) -> None:
    load_city(db_engine, residents=2_000, seed=9, out_dir=tmp_path, workers=1)
    with db_engine.connect() as conn:
        columns = conn.execute(
            text("SELECT column_name FROM information_schema.columns WHERE table_schema = 'synth'")
        ).scalars()
        assert not [c for c in columns if re.search(r"my_?number|kojin|individual", c)]
        for table in SYNTH_TABLES:
            hits = conn.execute(
                text(
                    f"SELECT count(*) FROM synth.{table} x WHERE x::text ~ '(^|[^0-9])[0-9]{{12}}([^0-9]|$)'"
                )
            ).scalar()
            assert hits == 0, table
    with open(tmp_path / "jumin.csv", encoding="utf-8", newline="") as f:
        numbers = [row["個人番号"] for row in csv.DictReader(f)]
    assert len(numbers) == 2_020


def test_every_synth_table_and_column_is_commented(db_engine: Engine) -> None:
    with db_engine.connect() as conn:
        missing = (
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'synth'::regnamespace "
                    "AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') IS NULL"
                )
            )
            .scalars()
            .all()
        )
    assert missing == []
    assert set(SYNTH_TABLES) == {
        "city",
        "household",
        "resident",
        "income",
        "welfare",
        "old_age_welfare_pension",
    }


def test_summary_is_none_without_a_city(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(f"synth.{t}" for t in SYNTH_TABLES)))
    assert summary(db_engine) is None
