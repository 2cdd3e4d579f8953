"""住民記録 全件取込 (初期移行): jumin.csv of a small synthetic city into the empty hub, all or nothing."""

from __future__ import annotations

import csv
import io
import random
import re
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from kiban.identity import load, model, vault
from kiban.identity.importing import ImportRejected, RowError
from kiban.security import keys
from kiban.shared import mynumber
from kiban.shared.mynumber import contains_my_number
from kiban.synth.city import city_params
from kiban.synth.files import FileSet
from kiban.synth.generate import generate_chunk

TODAY = date(2026, 4, 1)
IDENTITY = ("person", "person_version", "household", "household_member", "my_number_vault")


def write_city(folder: Path, *, seed: int, residents: int) -> Path:
    """The import files of a synthetic city (nothing loaded into the synth schema)."""
    params = city_params(seed, residents, TODAY)
    files = FileSet(folder)
    for k in range(params.chunks):
        for name, data in generate_chunk(params, k).files.items():
            files.write(name, data)
    files.commit()
    return folder / "jumin.csv"


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_city(tmp_path_factory.mktemp("city"), seed=11, residents=3000)


def rows_of(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))[1:]


def schema(engine: Engine) -> set[tuple[str, str]]:
    """Every index, constraint and trigger of the loaded tables, as the catalogue defines them (a
    trigger with whether it is enabled: the load turns the no-overlap triggers off for its COPY)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                "WHERE indrelid = ANY (CAST(:t AS regclass[])) UNION "
                "SELECT conname, pg_get_constraintdef(oid) || convalidated::text FROM pg_constraint "
                "WHERE conrelid = ANY (CAST(:t AS regclass[])) UNION "
                "SELECT relname, coalesce(array_to_string(reloptions, ','), '') FROM pg_class c "
                "JOIN pg_index i ON i.indexrelid = c.oid WHERE i.indrelid = ANY (CAST(:t AS regclass[])) UNION "
                "SELECT tgname, pg_get_triggerdef(oid) || tgenabled::text FROM pg_trigger "
                "WHERE tgrelid = ANY (CAST(:t AS regclass[])) AND NOT tgisinternal"
            ),
            {"t": [f"identity.{t}" for t in IDENTITY]},
        )
        return {(r[0], r[1]) for r in rows}


def count(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def test_a_small_city_loads_with_households_vault_and_one_log_row(
    db_engine: Engine, clean_identity: None, city: Path
) -> None:
    before = schema(db_engine)
    last_log = count(db_engine, "SELECT coalesce(max(id), 0) FROM audit.access_log")
    rows = rows_of(city)
    result = load.load_registry(db_engine, city, workers=2, today=TODAY)
    residents = [r for r in rows if r[4] == "住民"]
    assert (result.rows, result.residents, result.non_residents) == (
        len(rows),
        len(residents),
        len(rows) - len(residents),
    )
    assert result.households == len({r[3] for r in residents}) and not result.already_imported
    assert schema(db_engine) == before  # every index and constraint is back, as migrated and validated
    n = len(rows)
    for table in (*IDENTITY[:2], "my_number_vault"):
        assert count(db_engine, f"SELECT count(*) FROM identity.{table}") == n
    assert count(db_engine, "SELECT count(*) FROM identity.household_member") == len(residents)
    assert (
        count(db_engine, "SELECT count(*) FROM identity.person WHERE import_id = :i", i=result.import_id) == n
    )
    with db_engine.connect() as conn:
        people = {
            r.person_no: r
            for r in conn.execute(
                text(
                    "SELECT p.person_no, p.person_id, p.integrated_no, p.city_code, v.*, lower(v.valid) AS since, "
                    "h.household_no, m.relation, m.is_head, lower(m.valid) AS joined "
                    "FROM identity.person p JOIN identity.person_version v USING (person_id) "
                    "LEFT JOIN identity.household_member m USING (person_id) "
                    "LEFT JOIN identity.household h USING (household_id)"
                )
            )
        }
        heads = Counter(r.household_no for r in people.values() if r.is_head)
        assert set(heads.values()) == {1} and len(heads) == result.households
        assert len({r.integrated_no for r in people.values()}) == n
        v = keys.Vault.load(conn)
        for r in rows:
            p = people[r[1]]
            assert p.integrated_no.startswith("992011") and len(p.integrated_no) == 15
            assert (p.family_name, p.given_name, p.family_kana, p.birth_date.isoformat()) == (
                r[6],
                r[7],
                r[8],
                r[11],
            )
            assert p.kana_key == model.kana_key(r[8], r[9]) and p.address_key == model.address_key(
                r[13], r[14] or None
            )
            assert p.change_reason == load.REASON and p.superseded_at is None and p.valid.upper is None
            if r[4] == "住民":
                assert (p.resident_class, p.household_no, p.relation, p.in_city) == ("住民", r[3], r[5], True)
                assert (
                    p.is_head == (r[5] == "世帯主") and p.since.isoformat() == r[16] == p.joined.isoformat()
                )
            else:
                assert (p.resident_class, p.household_no, p.in_city) == ("住登外", None, False)
                assert (p.nonresident_on.isoformat(), p.nonresident_reason) == (r[17], r[18])
                assert p.since.isoformat() == r[17]
        stored = dict(
            conn.execute(text("SELECT person_id, ciphertext FROM identity.my_number_vault")).tuples().all()
        )
        for r in rows:
            pid = people[r[1]].person_id
            plain = keys.decrypt(conn, bytes(stored[pid]), table=vault.TABLE, column=vault.COLUMN, row_id=pid)
            assert plain.decode() == r[2]
        for r in random.Random(1).sample(rows, 200):
            holder = vault.owner_of(conn, r[2])
            assert holder is not None and holder.person_no == r[1]
        assert v.blind_index(rows[0][2]) == bytes(
            conn.execute(
                text("SELECT blind_index FROM identity.my_number_vault WHERE person_id = :p"),
                {"p": people[rows[0][1]].person_id},
            ).scalar_one()
        )
        events = conn.execute(text("SELECT topic, payload FROM kiban_meta.outbox")).all()
        assert [(e.topic, e.payload["persons"], e.payload["import_id"]) for e in events] == [
            (load.TOPIC, n, result.import_id)
        ]
        log = conn.execute(
            text("SELECT * FROM audit.access_log WHERE id > :last ORDER BY id"), {"last": last_log}
        ).all()
        # Two rows: the start (before the first row reaches the staging schema) and the swap.
        assert [r.detail.get("stage") for r in log] == ["started", None]
        assert all(r.subjects == [] and r.staff_code == "batch" for r in log)
        assert log[0].detail == {"file": "jumin.csv", "import_id": result.import_id, "stage": "started"}
        assert log[1].detail["file"] == "jumin.csv" and log[1].detail["rows"] == n
        batch = conn.execute(
            text("SELECT status, row_count, kind FROM identity.import_batch WHERE import_id = :i"),
            {"i": result.import_id},
        ).one()
        assert tuple(batch) == ("imported", n, load.KIND)


def test_the_same_file_twice_changes_nothing_and_another_file_is_refused(
    db_engine: Engine, clean_identity: None, city: Path, tmp_path: Path
) -> None:
    first = load.load_registry(db_engine, city, workers=1, today=TODAY)
    again = load.load_registry(db_engine, city, workers=1, today=TODAY)
    assert again.already_imported and again.import_id == first.import_id
    assert count(db_engine, "SELECT count(*) FROM identity.person") == first.rows
    assert count(db_engine, "SELECT count(*) FROM kiban_meta.outbox") == 1
    other = tmp_path / "jumin.csv"
    other.write_bytes(city.read_bytes() + b"\r\n")  # the same persons, another file
    with pytest.raises(load.HubNotEmpty) as caught:
        load.load_registry(db_engine, other, workers=1, today=TODAY)
    assert "既に" in str(caught.value.errors[0]) and caught.value.import_id is not None
    assert count(db_engine, "SELECT count(*) FROM identity.person") == first.rows


def _mutate(path: Path, out: Path, edits: dict[int, dict[int, str]]) -> Path:
    """Write ``path`` with item ``col`` of data row ``i`` (0-based) replaced: edits[i][col] = value."""
    lines = path.read_bytes().decode().split("\r\n")
    for i, cols in edits.items():
        fields = lines[i + 1].split(",")
        for col, value in cols.items():
            fields[col] = value
        lines[i + 1] = ",".join(fields)
    out.write_bytes("\r\n".join(lines).encode())
    return out


def _wrong_digit(number: str) -> str:
    return number[:11] + str((int(number[11]) + 1) % 10)


@pytest.mark.parametrize("workers", [1, 2])
def test_one_bad_row_and_nothing_is_imported(
    db_engine: Engine,
    clean_identity: None,
    city: Path,
    tmp_path: Path,
    workers: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(load, "CHUNK_BYTES", 20_000)  # many chunks: duplicates across chunks too
    rows = rows_of(city)
    far = len(rows) - 5
    bad = _mutate(
        city,
        tmp_path / "jumin.csv",
        {
            3: {2: _wrong_digit(rows[3][2])},
            10: {11: "1980-02-30"},
            20: {8: "yamada"},
            30: {2: rows[40][2]},  # 個人番号 of row 40, on two lines far apart
            far: {1: rows[50][1]},  # 宛名番号 of row 50 again
        },
    )
    with pytest.raises(ImportRejected) as caught:
        load.load_registry(db_engine, bad, workers=workers, today=TODAY)
    errors: list[RowError] = caught.value.errors
    found = {(e.line_no, e.record_key, e.field) for e in errors}
    assert (5, rows[3][1], "個人番号") in found
    assert (12, rows[10][1], "生年月日") in found
    assert (22, rows[20][1], "氏カナ") in found
    dup = next(e for e in errors if e.field == "個人番号" and e.line_no in (32, 42))
    assert {dup.line_no, int(re.match(r"(\d+)行目", dup.message).group(1))} == {32, 42}  # type: ignore[union-attr]
    dup_no = next(e for e in errors if e.field == "宛名番号")
    assert (dup_no.line_no, dup_no.record_key, dup_no.message.startswith("52行目")) == (
        far + 2,
        rows[50][1],
        True,
    )
    assert not any(contains_my_number(str(e)) for e in errors)
    assert not any(r[2] in str(e) for e in errors for r in rows)
    for table in IDENTITY:
        assert count(db_engine, f"SELECT count(*) FROM identity.{table}") == 0
    assert count(db_engine, "SELECT count(*) FROM kiban_meta.outbox") == 0
    with db_engine.connect() as conn:
        status = conn.execute(
            text("SELECT status FROM identity.import_batch WHERE import_id = :i"),
            {"i": caught.value.import_id},
        ).scalar_one()
        kept = conn.execute(
            text(
                "SELECT line_no, record_key, field, message FROM identity.import_error WHERE import_id = :i"
            ),
            {"i": caught.value.import_id},
        ).all()
    assert status == "rejected" and {(r.line_no, r.field) for r in kept} >= {
        (5, "個人番号"),
        (12, "生年月日"),
    }
    assert not any(contains_my_number(" ".join(map(str, r))) for r in kept)


def test_household_rules_and_a_wrong_header(
    db_engine: Engine, clean_identity: None, city: Path, tmp_path: Path
) -> None:
    rows = rows_of(city)
    member = next(i for i, r in enumerate(rows) if r[5] == "妻")
    bad = _mutate(city, tmp_path / "a.csv", {member: {5: "世帯主"}, 0: {3: ""}})
    with pytest.raises(ImportRejected) as caught:
        load.load_registry(db_engine, bad, workers=1, today=TODAY)
    found = {(e.line_no, e.field, e.message.split("（")[0]) for e in caught.value.errors}
    assert (member + 2, "続柄", "世帯主が2人います") in found and (2, "世帯番号", "住民には必須です") in found
    header = tmp_path / "b.csv"
    header.write_bytes(city.read_bytes().replace("個人番号".encode(), "番号".encode(), 1))
    with pytest.raises(ImportRejected) as caught:
        load.load_registry(db_engine, header, workers=1, today=TODAY)
    assert caught.value.errors[0].field == "見出し行"


def test_the_fast_path_accepts_only_what_row_and_check_person_accept(city: Path) -> None:
    """Every synthetic line, and thousands of damaged ones: what the fast path accepts, the slow path
    (importing.Row + model.check_person + check digit) accepts with the very same items."""
    lines = city.read_bytes().decode().split("\r\n")[1:-1]
    rng = random.Random(5)
    damage = ["", " ", "　", "ｱ", "ア", "あ", "ー", "・", "0", "x", "-", "1870-01-01", "2026-04-02", "1869-12-31",
              "2000-02-29", "2001-02-29", "999-999", "住民", "住登外", "世帯主", "妻", "\\", "A" * 201]  # fmt: skip
    samples = list(lines)
    for _ in range(20_000):
        fields = rng.choice(lines).split(",")
        col = rng.randrange(len(fields))
        fields[col] = rng.choice(
            [rng.choice(damage), fields[col] + rng.choice(damage), rng.choice(damage) + fields[col]]
        )
        samples.append(",".join(fields))
    accepted = 0
    for i, line in enumerate(samples):
        fast = load._fast(line, TODAY.isoformat())
        errors: list[RowError] = []
        slow = load._slow(i + 2, next(csv.reader([line])), errors, TODAY)
        if fast is not None:
            accepted += 1
            assert slow == fast and not errors, line
        if i < len(lines):
            assert fast is not None and slow is not None, line  # the synthetic city is clean
    assert accepted > len(lines)
    for _ in range(20_000):
        digits = f"{rng.randrange(10**12):012d}"
        assert load._digit_ok(digits) == mynumber.is_valid(digits)


def test_search_queries_use_their_indexes(db_engine: Engine, clean_identity: None, tmp_path: Path) -> None:
    """After a load (which ANALYZEs), the planner chooses the indexes the bench relies on."""
    path = write_city(tmp_path, seed=12, residents=6000)
    load.load_registry(db_engine, path, workers=1, today=TODAY)
    first = rows_of(path)[100]
    with db_engine.connect() as conn:
        index = keys.blind_index(conn, first[2])

        def plan(sql: str, **params: Any) -> str:
            return "\n".join(conn.execute(text("EXPLAIN " + sql), params).scalars())

        assert "person_person_no_key" in plan(
            "SELECT person_id FROM identity.person WHERE person_no = :n", n=first[1]
        )
        assert "my_number_vault_blind_index_key" in plan(
            "SELECT person_id FROM identity.my_number_vault WHERE blind_index = :b", b=index
        )
        current = "SELECT person_id, kana_key FROM identity.person_version WHERE upper_inf(valid) AND superseded_at IS NULL"
        in_order = (
            " ORDER BY kana_key USING ~<~, person_id LIMIT 50"  # the order of the text_pattern_ops index
        )
        assert "person_version_kana" in plan(current + " AND kana_key LIKE 'ヤマ%'" + in_order)
        assert "person_version_kana" in plan(
            current + " AND kana_key ~>=~ 'ヤマ' AND kana_key ~<~ 'ヤミ'" + in_order
        )


def test_the_command_prints_the_error_list_or_the_rate(
    db_engine: Engine, clean_identity: None, city: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from kiban.cli.main import app

    rows = rows_of(city)
    bad = _mutate(city, tmp_path / "jumin.csv", {6: {11: "1990-13-01"}})
    runner = CliRunner()
    refused = runner.invoke(app, ["identity", "load-registry", str(bad)], env={"COLUMNS": "200"})
    assert refused.exit_code == 1
    assert (
        "取込を中止しました" in refused.output
        and rows[6][1] in refused.output
        and "生年月日" in refused.output
    )
    loaded = runner.invoke(app, ["identity", "load-registry", str(city)], env={"COLUMNS": "200"})
    assert loaded.exit_code == 0, loaded.output
    assert f"宛名 {len(rows):,} 人" in loaded.output and "行/秒" in loaded.output


def test_quoted_items_and_characters_copy_must_escape_are_kept_as_given(
    db_engine: Engine, clean_identity: None, city: Path, tmp_path: Path
) -> None:
    rows = rows_of(city)
    with pytest.raises(ImportRejected) as caught:
        load.load_registry(
            db_engine, _mutate(city, tmp_path / "cr.csv", {8: {14: "メゾン\r西 4"}}), workers=1
        )
    assert [(e.line_no, e.message) for e in caught.value.errors] == [(10, "項目の中に改行文字があります")]
    odd = {5: "ハイツ\\東 1", 6: '"コーポ,南 2"', 7: "コーポ\t北 3", 9: "\\N"}
    path = _mutate(city, tmp_path / "jumin.csv", {i: {14: v} for i, v in odd.items()})
    load.load_registry(db_engine, path, workers=1, today=TODAY)
    with db_engine.connect() as conn:
        stored = dict(
            conn.execute(
                text(
                    "SELECT p.person_no, v.katagaki FROM identity.person p JOIN identity.person_version v "
                    "USING (person_id) WHERE p.person_no = ANY (:n)"
                ),
                {"n": [rows[i][1] for i in odd]},
            )
            .tuples()
            .all()
        )
    assert stored == {rows[i][1]: v.strip('"') for i, v in odd.items()}
