"""整合性チェック (seed 000: 統合宛名番号と個人番号の関連の定期的なチェック、確認リスト)."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text
from tests_identity_helpers import log_rows, valid_number
from typer.testing import CliRunner

from kiban.identity import check, repo, staging, vault
from kiban.identity.check import run_check
from kiban.identity.model import ResidentClass
from kiban.security import keys
from kiban.security.context import Business
from kiban.shared.mynumber import contains_my_number

pytestmark = pytest.mark.usefixtures("clean_identity")


def build_hub(db_engine: Engine, app_engine: Engine, staff_ctx, new_person) -> dict[str, Any]:
    """A small clean hub: one household of three (head first), a single, numbers for everyone."""
    head = new_person(given_name="太郎", given_kana="タロウ", sex=1, birth_date=date(1955, 5, 5))
    wife = new_person()
    child = new_person(given_name="次郎", given_kana="ジロウ", sex=1, birth_date=date(1990, 9, 9))
    single = new_person(family_name="田中", family_kana="タナカ", address="基盤県基盤市東原2412番地")
    with db_engine.begin() as conn:
        household = repo.ensure_household(conn, "992011", "2000000001")
        for ref, relation in ((head, "世帯主"), (wife, "妻"), (child, "子")):
            repo.join_household(
                conn, ref.person_id, household, relation=relation, since=date(1990, 4, 1), reason="転入"
            )
    ctx = staff_ctx()
    with app_engine.begin() as conn:
        for i, ref in enumerate((head, wife, child, single)):
            vault.register(conn, ctx, person_no=ref.person_no, typed=valid_number(100 + i))
    return {"head": head, "wife": wife, "child": child, "single": single, "household": household}


@pytest.fixture
def checker(staff_ctx):
    return staff_ctx(Business.ATENA, purpose="atena.check")


def test_a_clean_hub_has_no_anomalies(
    db_engine: Engine, app_engine: Engine, staff_ctx, new_person, checker
) -> None:
    build_hub(db_engine, app_engine, staff_ctx, new_person)
    report = run_check(app_engine, checker)
    assert report.ok, report.anomalies
    assert report.persons == 4
    with db_engine.connect() as conn:
        run = conn.execute(
            text("SELECT * FROM identity.check_run WHERE run_id = :r"), {"r": report.run_id}
        ).one()
    assert (run.persons, run.anomalies, run.staff_id) == (4, 0, checker.staff_id)
    assert run.finished_at is not None
    (logged,) = log_rows(db_engine, checker.staff_code, action="view")
    assert logged["detail"]["run_id"] == report.run_id and logged["subjects"] == []
    assert logged["purpose_code"] == "atena.check"


def _corrupt(db_engine: Engine, hub: dict[str, Any]) -> dict[str, Any]:
    """As the database owner, break the hub the ways a bad restore or a manual repair could."""
    head, wife, child, single = hub["head"], hub["wife"], hub["child"], hub["single"]
    with db_engine.begin() as conn:
        # Swap two ciphertexts: each number now sits on another person's row.
        conn.execute(
            text(
                "UPDATE identity.my_number_vault v SET ciphertext = o.ciphertext "
                "FROM identity.my_number_vault o "
                "WHERE (v.person_id, o.person_id) IN ((:a, :b), (:b, :a))"
            ),
            {"a": wife.person_id, "b": single.person_id},
        )
        # The child's blind index no longer matches the number it stores.
        conn.execute(
            text("UPDATE identity.my_number_vault SET blind_index = :bi WHERE person_id = :p"),
            {"bi": keys.blind_index(conn, valid_number(999)), "p": child.person_id},
        )
        # The head's membership is closed: the household is left without a 世帯主.
        conn.execute(
            text(
                "UPDATE identity.household_member SET valid = daterange(lower(valid), DATE '2024-01-01') "
                "WHERE person_id = :p"
            ),
            {"p": head.person_id},
        )
        # A person with no version at all, and one whose 統合宛名番号 is not this city's.
        orphan_no = conn.execute(
            text(
                "INSERT INTO identity.person (city_code, person_no, integrated_no) "
                "VALUES ('992011', '1799999999', '992011999999999') RETURNING person_no"
            )
        ).scalar_one()
        conn.execute(
            text("UPDATE identity.person SET integrated_no = '123456000000001' WHERE person_id = :p"),
            {"p": single.person_id},
        )
    # The child died, but the membership stayed open.
    with db_engine.begin() as conn:
        current = repo.current_version(conn, child.person_id)
        repo.change_person(
            conn,
            child.person_id,
            data=current.data.replace(resident_class=ResidentClass.DECEASED),
            effective_on=date(2025, 2, 1),
            reason="死亡",
        )
    return {"orphan_no": orphan_no}


def test_corruption_is_reported_by_kind_and_person(
    db_engine: Engine, app_engine: Engine, staff_ctx, new_person, checker
) -> None:
    hub = build_hub(db_engine, app_engine, staff_ctx, new_person)
    extra = _corrupt(db_engine, hub)
    report = run_check(app_engine, checker)
    found = {(a.kind, a.person_no or a.household_no) for a in report.anomalies}
    assert found == {
        ("vault_undecryptable", hub["wife"].person_no),
        ("vault_undecryptable", hub["single"].person_no),
        ("vault_index_mismatch", hub["child"].person_no),
        ("household_without_head", "2000000001"),
        ("no_current_version", extra["orphan_no"]),
        ("integrated_no_format", hub["single"].person_no),
        ("member_departed", hub["child"].person_no),
    }
    no_head = next(a for a in report.anomalies if a.kind == "household_without_head")
    assert hub["wife"].person_no in no_head.detail and hub["child"].person_no in no_head.detail
    assert no_head.subject == "世帯 2000000001" and no_head.label == "世帯主なし"
    for a in report.anomalies:
        assert not contains_my_number(a.detail), a
        assert not re.search(r"(?<!\d)\d{12}(?!\d)", a.detail), a
    with db_engine.connect() as conn:
        rows = conn.execute(
            text("SELECT kind, person_no, detail FROM identity.check_anomaly WHERE run_id = :r ORDER BY seq"),
            {"r": report.run_id},
        ).all()
        run = conn.execute(
            text("SELECT anomalies FROM identity.check_run WHERE run_id = :r"), {"r": report.run_id}
        )
        assert run.scalar_one() == len(report.anomalies) == len(rows)
    assert [(r.kind, r.person_no) for r in rows] == [(a.kind, a.person_no) for a in report.anomalies]
    (logged,) = log_rows(db_engine, checker.staff_code, action="view")
    assert set(logged["subjects"]) == {a.person_no for a in report.anomalies if a.person_no}


def test_a_ciphertext_of_the_same_row_still_opens(
    db_engine: Engine, app_engine: Engine, staff_ctx, new_person, checker
) -> None:
    """A number re-registered under the same person (re-encrypted, new nonce) is not an anomaly."""
    hub = build_hub(db_engine, app_engine, staff_ctx, new_person)
    with db_engine.begin() as conn:
        v = keys.Vault.load(conn)
        blob = v.encrypt(
            valid_number(101), table=vault.TABLE, column=vault.COLUMN, row_id=hub["wife"].person_id
        )
        conn.execute(
            text("UPDATE identity.my_number_vault SET ciphertext = :c WHERE person_id = :p"),
            {"c": blob, "p": hub["wife"].person_id},
        )
    assert run_check(app_engine, checker).ok


def test_a_household_with_two_heads(
    db_engine: Engine, app_engine: Engine, staff_ctx, new_person, checker
) -> None:
    hub = build_hub(db_engine, app_engine, staff_ctx, new_person)
    with db_engine.begin() as conn:
        conn.execute(
            text("UPDATE identity.household_member SET is_head = true WHERE person_id = :p"),
            {"p": hub["wife"].person_id},
        )
    (anomaly,) = run_check(app_engine, checker).anomalies
    assert anomaly.kind == "household_several_heads"
    assert hub["head"].person_no in anomaly.detail and hub["wife"].person_no in anomaly.detail


def test_the_command_prints_the_list_and_exits_1(
    db_engine: Engine, app_engine: Engine, staff_ctx, new_person
) -> None:
    from kiban.cli.main import app

    runner = CliRunner()
    hub = build_hub(db_engine, app_engine, staff_ctx, new_person)
    clean = runner.invoke(app, ["identity", "check"])
    assert clean.exit_code == 0, clean.output
    assert "異常はありません" in clean.output
    _corrupt(db_engine, hub)
    listed = runner.invoke(app, ["identity", "check"], env={"COLUMNS": "200"})
    assert listed.exit_code == 1, listed.output
    assert "種別" in listed.output and "宛名番号" in listed.output and "内容" in listed.output
    assert "世帯主なし" in listed.output and hub["wife"].person_no in listed.output
    as_json = runner.invoke(app, ["identity", "check", "--json"])
    assert as_json.exit_code == 1
    body = json.loads(as_json.output)
    assert {a["kind"] for a in body["anomalies"]} >= {"vault_undecryptable", "household_without_head"}
    assert not contains_my_number(listed.output + as_json.output)
    with db_engine.connect() as conn:
        staff = set(
            conn.execute(
                text("SELECT DISTINCT staff_code FROM audit.access_log WHERE purpose_code = 'atena.check'")
            ).scalars()
        )
    assert "batch" in staff
    assert check.KINDS["vault_undecryptable"] in listed.output


def test_a_full_load_that_died_is_reported_while_no_load_runs(
    db_engine: Engine, app_engine: Engine, checker, database_url: str
) -> None:
    """Its import stays 'running' and its staging schema holds rows outside the hub: on the 確認リスト
    until the next load clears them — but not while a load is running (it holds the lock)."""
    with db_engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {staging.SCHEMA}"))
        dead = conn.execute(
            text(
                "INSERT INTO identity.import_batch (kind, file_name, file_sha256, status) "
                "VALUES ('registry_full', 'jumin.csv', '\\x01', 'running') RETURNING import_id"
            )
        ).scalar_one()
    try:
        report = run_check(app_engine, checker)
        (found,) = [a for a in report.anomalies if a.kind == "load_left_behind"]
        assert f"取込番号 {dead} が実行中のまま" in found.detail and staging.SCHEMA in found.detail
        assert found.label == "全件取込の作業データ残存" and found.person_no is None
        url = database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as running:
            running.execute("SELECT pg_advisory_lock(%s)", (staging.LOCK_KEY,))
            report = run_check(app_engine, checker)
            assert not [a for a in report.anomalies if a.kind == "load_left_behind"]
    finally:
        with db_engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {staging.SCHEMA} CASCADE"))
            conn.execute(
                text("UPDATE identity.import_batch SET status = 'failed' WHERE import_id = :i"), {"i": dead}
            )
