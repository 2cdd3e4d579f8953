"""Facts other businesses need: 住民税課税・生活保護・老齢福祉年金・医療保険 imports and their reads."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from tests_identity_helpers import log_rows, valid_number
from typer.testing import CliRunner

from kiban.identity import facts, facts_layouts, repo
from kiban.identity.importing import ImportRejected, error_list
from kiban.security.context import Business
from kiban.shared.mynumber import contains_my_number
from kiban.synth.city import city_params
from kiban.synth.generate import generate_chunk

pytestmark = pytest.mark.usefixtures("clean_identity")

KAZEI_HEAD = ",".join(facts_layouts.KAZEI_HEADER)
SEIHO_HEAD = ",".join(facts_layouts.SEIHO_HEADER)
ROFUKU_HEAD = ",".join(facts_layouts.ROFUKU_HEADER)
IRYO_HEAD = ",".join(facts_layouts.IRYO_HEADER)


def csv(head: str, *lines: str) -> bytes:
    return ("\r\n".join((head, *lines)) + "\r\n").encode()


def kazei(
    person_no: str,
    year: int = 2025,
    *,
    salary: int = 3_000_000,
    salary_net: int = 2_020_000,
    pension: int = 0,
    pension_misc: int = 0,
    other: int = 0,
    total: int | None = None,
    dependants: int = 0,
    status: str = "課税",
    reason: str = "",
    special: int = 0,
    city: str = "992011",
) -> str:
    total = salary_net + pension_misc + other if total is None else total
    return (
        f"{city},{person_no},{year},{salary},{salary_net},{pension},{pension_misc},{other},{total},"
        f"{dependants},{status},{reason},{special}"
    )


def exempt(person_no: str, year: int = 2025, reason: str = "所得基準") -> str:
    return kazei(
        person_no,
        year,
        salary=0,
        salary_net=0,
        pension=1_000_000,
        pension_misc=400_000,
        status="非課税",
        reason=reason,
    )


def outbox_rows(engine: Engine, topic: str) -> list[dict]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text(
                    "SELECT topic, key, occurred_on, payload FROM kiban_meta.outbox WHERE topic LIKE :t ORDER BY seq"
                ),
                {"t": topic},
            ).mappings()
        ]


def tax_rows(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text(
                    "SELECT p.person_no, t.* FROM identity.tax_income t JOIN identity.person p USING (person_id) "
                    "ORDER BY t.tax_income_id"
                )
            ).mappings()
        ]


# -- 住民税 課税情報 ---------------------------------------------------------------------------------


def test_kazei_import_correction_supersedes_and_keeps_history(
    app_engine: Engine, db_engine: Engine, staff_ctx, new_person
) -> None:
    a, b = new_person(), new_person()
    ctx = staff_ctx(purpose="atena.import")
    first = csv(KAZEI_HEAD, kazei(a.person_no, 2024), kazei(a.person_no, 2025), exempt(b.person_no))
    result = facts.import_facts(app_engine, "kazei", first, "kazei.csv", ctx)
    assert (result.rows, result.applied, result.skipped, result.corrected) == (3, 3, 0, 0)
    events = outbox_rows(db_engine, "identity.facts.tax_income.%")
    assert sorted((e["topic"], e["key"], e["payload"]["change"]) for e in events) == sorted(
        [
            ("identity.facts.tax_income.changed", a.person_no, "new"),
            ("identity.facts.tax_income.changed", a.person_no, "new"),
            ("identity.facts.tax_income.changed", b.person_no, "new"),
        ]
    )
    assert next(e for e in events if e["key"] == b.person_no)["payload"] == {
        "person_no": b.person_no,
        "change": "new",
        "import_id": result.import_id,
        "fiscal_year": 2025,
        "taxable": False,
        "total_income": 400_000,
    }
    # 更正: a's 2025 income was wrong; 2024 and b are sent again unchanged (skipped).
    corrected = kazei(a.person_no, 2025, salary=3_500_000, salary_net=2_370_000, special=100_000)
    second = csv(KAZEI_HEAD, kazei(a.person_no, 2024), corrected, exempt(b.person_no))
    result2 = facts.import_facts(app_engine, "kazei", second, "kazei-2.csv", ctx)
    assert (result2.rows, result2.applied, result2.skipped, result2.corrected) == (3, 1, 2, 1)
    rows = [r for r in tax_rows(db_engine) if r["person_no"] == a.person_no and r["fiscal_year"] == 2025]
    assert [(r["total_income"], r["superseded_at"] is not None) for r in rows] == [
        (2_020_000, True),
        (2_370_000, False),
    ]
    assert rows[1]["import_id"] == result2.import_id
    assert outbox_rows(db_engine, "identity.facts.tax_income.%")[-1]["payload"]["change"] == "corrected"
    with app_engine.begin() as conn:
        now = facts.tax_income_of(conn, ctx, a.person_no, 2025)
        summary = facts.facts_summary(conn, ctx, a.person_no)
        none = facts.tax_income_of(conn, ctx, b.person_no, 2024)
    assert now is not None and now.total_income == 2_370_000 and now.status == "課税"
    assert now.total_income_less_special_deduction == 2_270_000
    assert none is None
    assert [(x.fiscal_year, x.superseded_at is not None) for x in summary.tax_incomes] == [
        (2025, False),
        (2025, True),
        (2024, False),
    ]


def test_the_same_file_twice_changes_nothing(
    app_engine: Engine, db_engine: Engine, staff_ctx, new_person
) -> None:
    a = new_person()
    ctx = staff_ctx(purpose="atena.import")
    data = csv(KAZEI_HEAD, kazei(a.person_no))
    first = facts.import_facts(app_engine, "kazei", data, "kazei.csv", ctx)
    again = facts.import_facts(app_engine, "kazei", data, "kazei.csv", ctx)
    assert again.already_imported and again.import_id == first.import_id
    assert len(tax_rows(db_engine)) == 1
    assert len(outbox_rows(db_engine, "identity.facts.%")) == 1
    # The same content with a BOM is another file, but every row is already recorded: skipped.
    bom = facts.import_facts(app_engine, "kazei", b"\xef\xbb\xbf" + data, "kazei-bom.csv", ctx)
    assert (bom.already_imported, bom.applied, bom.skipped) == (False, 0, 1)
    assert len(tax_rows(db_engine)) == 1


def test_bad_rows_reject_the_whole_file_with_an_error_list(
    app_engine: Engine, db_engine: Engine, staff_ctx, new_person
) -> None:
    a, b = new_person(), new_person()
    ctx = staff_ctx(purpose="atena.import")
    my_number = valid_number(7)
    data = csv(
        KAZEI_HEAD,
        kazei(a.person_no, 2024),  # 2: good
        kazei("1234567890"),  # 3: unknown 宛名番号
        kazei(b.person_no).replace(",3000000,", ",3000000円,"),  # 4: bad amount
        kazei(b.person_no, 1899),  # 5: bad year
        kazei(a.person_no, 2025, total=999),  # 6: 合計所得金額 not the sum
        kazei(a.person_no, 2024),  # 7: the same person and 年度 twice
        kazei(my_number),  # 8: a 個人番号 in the 宛名番号 column
        exempt(b.person_no, 2024, reason="不明"),  # 9: unknown 非課税事由
        kazei(b.person_no, 2023, reason="所得基準"),  # 10: 課税 with a reason
        kazei(b.person_no, 2022, city="992012"),  # 11: another city
    )
    with pytest.raises(ImportRejected) as caught:
        facts.import_facts(app_engine, "kazei", data, "kazei.csv", ctx)
    errors = caught.value.errors
    found = {(e.line_no, e.record_key, e.field) for e in errors}
    assert found == {
        (3, "1234567890", "宛名番号"),
        (4, b.person_no, "給与収入額"),
        (5, b.person_no, "年度"),
        (6, a.person_no, "合計所得金額"),
        (7, a.person_no, "年度"),
        (8, "", "宛名番号"),
        (9, b.person_no, "非課税事由"),
        (10, b.person_no, "非課税事由"),
        (11, b.person_no, "市区町村コード"),
    }
    assert "2行目にも" in next(e.message for e in errors if e.line_no == 7)
    assert tax_rows(db_engine) == []  # nothing imported, not even line 2
    assert outbox_rows(db_engine, "identity.facts.%") == []
    # The rejection is kept with its error list; no 12-digit number anywhere in it.
    import_id = caught.value.import_id
    assert import_id is not None
    with db_engine.connect() as conn:
        status = conn.execute(
            text("SELECT status, row_count, error_count FROM identity.import_batch WHERE import_id = :i"),
            {"i": import_id},
        ).one()
        kept = error_list(conn, import_id)
    assert tuple(status) == ("rejected", 10, 9)
    assert {(e.line_no, e.field) for e in kept} == {(e.line_no, e.field) for e in errors}
    for e in errors:
        assert not re.search(r"\d{12}", f"{e} {e.record_key}") and not contains_my_number(str(e))
    assert my_number not in str(caught.value)
    denied = log_rows(db_engine, ctx.staff_code, action="create")
    assert [(r["outcome"], r["detail"]["errors"]) for r in denied] == [("error", 9)]


def test_wrong_header_and_unknown_kind(app_engine: Engine, staff_ctx) -> None:
    ctx = staff_ctx(purpose="atena.import")
    with pytest.raises(ImportRejected) as caught:
        facts.import_facts(app_engine, "kazei", csv(SEIHO_HEAD), "seiho.csv", ctx)
    assert caught.value.errors[0].field == "見出し行"
    with pytest.raises(facts_layouts.IdentityError):
        facts.import_facts(app_engine, "shotoku", b"", "x.csv", ctx)


def test_synthetic_city_files_import_as_written(
    app_engine: Engine, db_engine: Engine, staff_ctx, new_person
) -> None:
    chunk = generate_chunk(city_params(1, 10_000, date(2026, 4, 1)), 0)
    kazei_lines = chunk.files["kazei.csv"].decode().split("\r\n")[:40]
    seiho_lines = chunk.files["seiho.csv"].decode().split("\r\n")[:10]
    for no in sorted({line.split(",")[1] for line in kazei_lines + seiho_lines}):
        new_person(no)
    ctx = staff_ctx(purpose="atena.import")
    tax = facts.import_facts(app_engine, "kazei", csv(KAZEI_HEAD, *kazei_lines), "kazei.csv", ctx)
    welfare = facts.import_facts(app_engine, "seiho", csv(SEIHO_HEAD, *seiho_lines), "seiho.csv", ctx)
    assert (tax.applied, welfare.applied) == (40, 10)
    with db_engine.connect() as conn:
        proxies = conn.execute(
            text("SELECT count(*) FILTER (WHERE proxy_payment) FROM identity.welfare_period")
        ).scalar()
    assert proxies == sum(line.endswith(",1") for line in seiho_lines)


# -- 生活保護・老齢福祉年金・医療保険 -----------------------------------------------------------------------


def test_welfare_period_closed_by_a_later_file_keeps_the_open_one(
    app_engine: Engine, db_engine: Engine, staff_ctx, new_person
) -> None:
    a = new_person()
    ctx = staff_ctx(purpose="atena.import")
    head5 = ",".join(facts_layouts.SEIHO_HEADER_BASIC)  # the 5-column layout is accepted too
    first = facts.import_facts(
        app_engine, "seiho", csv(head5, f"992011,{a.person_no},2000000001,2023-05-27,"), "seiho-1.csv", ctx
    )
    assert first.applied == 1
    ended = f"992011,{a.person_no},2000000001,2023-05-27,2024-09-27,基盤市福祉事務所,1"
    second = facts.import_facts(app_engine, "seiho", csv(SEIHO_HEAD, ended), "seiho-2.csv", ctx)
    assert (second.applied, second.corrected) == (1, 1)
    third = facts.import_facts(app_engine, "seiho", csv(SEIHO_HEAD, ended, ""), "seiho-3.csv", ctx)
    assert (third.applied, third.skipped) == (0, 1)
    kaigo = staff_ctx(Business.KAIGO)
    with app_engine.begin() as conn:
        on_last_day = facts.welfare_on(conn, kaigo, a.person_no, date(2024, 9, 27))
        after = facts.welfare_on(conn, kaigo, a.person_no, date(2024, 9, 28))
        summary = facts.facts_summary(conn, kaigo, a.person_no)
    # 保護廃止日 is the last day of assistance (docs/layouts/facts.md).
    assert on_last_day is not None and on_last_day.end == date(2024, 9, 27) and on_last_day.proxy_payment
    assert on_last_day.welfare_office == "基盤市福祉事務所" and on_last_day.household_no == "2000000001"
    assert after is None
    assert [(w.end, w.superseded_at is not None) for w in summary.welfare] == [
        (date(2024, 9, 27), False),
        (None, True),
    ]
    events = outbox_rows(db_engine, "identity.facts.welfare.%")
    assert [e["payload"]["change"] for e in events] == ["new", "corrected"]
    assert events[1]["payload"]["valid_to"] == "2024-09-28"  # exclusive, like every kiban period
    assert events[1]["occurred_on"] == date(2023, 5, 27)
    assert "household_no" not in events[1]["payload"]


def test_period_files_with_bad_rows_are_rejected(
    app_engine: Engine, db_engine: Engine, staff_ctx, new_person
) -> None:
    a, b = new_person(), new_person()
    ctx = staff_ctx(purpose="atena.import")
    data = csv(
        SEIHO_HEAD,
        f"992011,{a.person_no},2000000001,2020-04-01,2021-03-31,,0",  # 2: good
        f"992011,{a.person_no},2000000001,2021-01-01,,,0",  # 3: overlaps line 2
        f"992011,{b.person_no},2000000002,2022-04-01,2022-03-31,,0",  # 4: ends before it starts
        f"992011,{b.person_no},2000000002,2022-02-30,,,0",  # 5: no such day
        f"992011,{b.person_no},200000000,2023-04-01,,,2",  # 6: 世帯番号 9 digits, 代理納付 not 0/1
    )
    with pytest.raises(ImportRejected) as caught:
        facts.import_facts(app_engine, "seiho", data, "seiho.csv", ctx)
    found = {(e.line_no, e.field) for e in caught.value.errors}
    assert found == {(3, ""), (4, "保護廃止日"), (5, "保護開始日"), (6, "世帯番号"), (6, "代理納付")}
    assert "2行目の期間と重なっています" in next(e.message for e in caught.value.errors if e.line_no == 3)
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM identity.welfare_period")).scalar() == 0


def test_old_age_pension_periods(app_engine: Engine, db_engine: Engine, staff_ctx, new_person) -> None:
    a = new_person(birth_date=date(1911, 3, 1))
    ctx = staff_ctx(purpose="atena.import")
    data = csv(
        ROFUKU_HEAD, f"992011,{a.person_no},1976-04-01,1999-07-31", f"992011,{a.person_no},2001-08-01,"
    )
    assert facts.import_facts(app_engine, "rofuku", data, "rofuku.csv", ctx).applied == 2
    kaigo = staff_ctx(Business.KAIGO)
    with app_engine.begin() as conn:
        during = facts.old_age_pension_on(conn, kaigo, a.person_no, date(1999, 7, 31))
        gap = facts.old_age_pension_on(conn, kaigo, a.person_no, date(2000, 1, 1))
        now = facts.old_age_pension_on(conn, kaigo, a.person_no, date(2026, 4, 1))
    assert during is not None and (during.start, during.end) == (date(1976, 4, 1), date(1999, 7, 31))
    assert gap is None
    assert now is not None and now.end is None
    bad = csv(ROFUKU_HEAD, f"992011,{a.person_no},2001-08-01,2001-07-31")
    with pytest.raises(ImportRejected) as caught:
        facts.import_facts(app_engine, "rofuku", bad, "rofuku-bad.csv", ctx)
    assert [(e.line_no, e.field) for e in caught.value.errors] == [(2, "受給停止日")]


def test_medical_insurance(app_engine: Engine, db_engine: Engine, staff_ctx, new_person) -> None:
    a, b = new_person(), new_person()
    ctx = staff_ctx(purpose="atena.import")
    data = csv(
        IRYO_HEAD,
        f"992011,{a.person_no},01130012,協会けんぽ,1234,56,本人,2010-04-01,2024-04-01",
        f"992011,{a.person_no},992016,国保,基盤,7001,本人,2024-04-01,",
        f"992011,{b.person_no},39131008,後期高齢,,00012345,本人,2021-06-10,",
    )
    assert facts.import_facts(app_engine, "iryo", data, "iryo.csv", ctx).applied == 3
    kouki = staff_ctx(Business.KAIGO)
    with app_engine.begin() as conn:
        before = facts.medical_insurance_on(conn, kouki, a.person_no, date(2024, 3, 31))
        lost_day = facts.medical_insurance_on(conn, kouki, a.person_no, date(2024, 4, 1))
    # 資格喪失日 is the first day without the insurance (健康保険法第36条: 退職の翌日).
    assert before is not None and before.insurer_kind == "協会けんぽ" and before.lost_on == date(2024, 4, 1)
    assert lost_day is not None and lost_day.insurer_kind == "国保" and lost_day.insurer_no == "992016"
    events = outbox_rows(db_engine, "identity.facts.medical_insurance.%")
    assert len(events) == 3
    for e in events:  # no 保険者番号 or 記号・番号 in the announcements
        assert set(e["payload"]) == {
            "person_no",
            "change",
            "import_id",
            "valid_from",
            "valid_to",
            "insurer_kind",
            "insured_kind",
        }
    bad = csv(
        IRYO_HEAD,
        f"992011,{a.person_no},01130013,協会けんぽ,1234,56,本人,2010-04-01,2010-04-01",  # check digit, 同日
        f"992011,{b.person_no},992016,組合健保,1,2,家族,2010-04-01,",  # 6 digits for 組合健保
        f"992011,{b.person_no},39131008,後期高齢,,{valid_number(3)},家族,2021-06-10,",  # 個人番号, 家族
    )
    with pytest.raises(ImportRejected) as caught:
        facts.import_facts(app_engine, "iryo", bad, "iryo-bad.csv", ctx)
    found = {(e.line_no, e.field) for e in caught.value.errors}
    assert found == {
        (2, "保険者番号"),
        (2, "資格喪失日"),
        (3, "保険者番号"),
        (4, "番号"),
        (4, "本人家族区分"),
    }
    assert not any(contains_my_number(str(e)) for e in caught.value.errors)


# -- 世帯の課税状況 -------------------------------------------------------------------------------


def _household(db_engine: Engine, household_no: str, members: list[tuple[repo.PersonRef, str]]) -> None:
    with db_engine.begin() as conn:
        hid = repo.ensure_household(conn, "992011", household_no)
        for ref, relation in members:
            repo.join_household(
                conn, ref.person_id, hid, relation=relation, since=date(2015, 4, 1), reason="転入"
            )


def test_household_tax_status(app_engine: Engine, db_engine: Engine, staff_ctx, new_person) -> None:
    head, wife, lodger = new_person(), new_person(), new_person()
    _household(db_engine, "2000000101", [(head, "世帯主"), (wife, "妻")])
    _household(db_engine, "2000000102", [(lodger, "世帯主")])
    ctx = staff_ctx(purpose="atena.import")
    data = csv(
        KAZEI_HEAD,
        kazei(head.person_no, 2025),
        exempt(wife.person_no, 2025),
        exempt(head.person_no, 2024),
        exempt(wife.person_no, 2024),
        exempt(lodger.person_no, 2025, reason="生活扶助"),
    )
    facts.import_facts(app_engine, "kazei", data, "kazei.csv", ctx)
    kaigo = staff_ctx(Business.KAIGO)
    with app_engine.begin() as conn:
        taxed = facts.household_tax_status(
            conn, kaigo, person_no=wife.person_no, fiscal_year=2025, on=date(2025, 4, 1)
        )
        exempt_all = facts.household_tax_status(
            conn, kaigo, household_no="2000000101", fiscal_year=2024, on=date(2024, 4, 1)
        )
        unknown = facts.household_tax_status(
            conn, kaigo, household_no="2000000101", fiscal_year=2023, on=date(2024, 4, 1)
        )
        single = facts.household_tax_status(
            conn, kaigo, person_no=lodger.person_no, fiscal_year=2025, on=date(2025, 4, 1)
        )
        before = facts.household_tax_status(
            conn, kaigo, person_no=head.person_no, fiscal_year=2025, on=date(2010, 4, 1)
        )
    assert taxed.household_no == "2000000101"
    assert [(m.person_no, m.relation, m.status) for m in taxed.members] == [
        (head.person_no, "世帯主", "課税"),
        (wife.person_no, "妻", "非課税"),
    ]
    assert taxed.household_exempt is False and taxed.any_taxable
    assert exempt_all.household_exempt is True
    assert unknown.household_exempt is None and set(unknown.unknown) == {head.person_no, wife.person_no}
    assert single.household_exempt is True and single.members[0].nontaxable_reason == "生活扶助"
    assert before.household_no is None and [m.person_no for m in before.members] == [head.person_no]
    logged = log_rows(db_engine, kaigo.staff_code, action="view")
    assert sorted(logged[0]["subjects"]) == sorted([head.person_no, wife.person_no])
    assert logged[0]["detail"]["item"] == "世帯課税状況"


# -- access log, outbox, command --------------------------------------------------------------------


def test_one_access_log_row_per_import_and_per_read(
    app_engine: Engine, db_engine: Engine, staff_ctx, new_person
) -> None:
    a, b = new_person(), new_person()
    ctx = staff_ctx(purpose="atena.import")
    result = facts.import_facts(
        app_engine, "kazei", csv(KAZEI_HEAD, kazei(a.person_no), exempt(b.person_no)), "k.csv", ctx
    )
    rows = log_rows(db_engine, ctx.staff_code)
    assert len(rows) == 1
    assert rows[0]["action"] == "create" and rows[0]["purpose_code"] == "atena.import"
    assert sorted(rows[0]["subjects"]) == sorted([a.person_no, b.person_no])
    assert rows[0]["detail"]["import_id"] == result.import_id and rows[0]["detail"]["applied"] == 2
    with app_engine.begin() as conn:
        facts.welfare_on(conn, ctx, a.person_no, date(2025, 1, 1))
        facts.medical_insurance_on(conn, ctx, a.person_no, date(2025, 1, 1))
    views = log_rows(db_engine, ctx.staff_code, action="view")
    assert [(v["subjects"], v["detail"]["item"]) for v in views] == [
        ([a.person_no], "生活保護"),
        ([a.person_no], "医療保険"),
    ]


def test_a_large_import_is_announced_once(
    app_engine: Engine, db_engine: Engine, staff_ctx, new_person, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(facts, "EVENT_LIMIT", 2)
    monkeypatch.setattr(facts, "SUBJECT_LIMIT", 2)
    people = [new_person() for _ in range(3)]
    ctx = staff_ctx(purpose="atena.import")
    result = facts.import_facts(
        app_engine, "kazei", csv(KAZEI_HEAD, *(kazei(p.person_no) for p in people)), "k.csv", ctx
    )
    events = outbox_rows(db_engine, "identity.facts.%")
    assert [(e["topic"], e["key"]) for e in events] == [
        ("identity.facts.tax_income.loaded", str(result.import_id))
    ]
    assert events[0]["payload"] == {
        "import_id": result.import_id,
        "kind": "kazei",
        "rows": 3,
        "applied": 3,
        "corrected": 0,
    }
    logged = log_rows(db_engine, ctx.staff_code)[-1]
    assert logged["subjects"] == [] and logged["detail"]["subjects"] == "import_id"


def test_command_imports_and_prints_the_error_list(db_engine: Engine, new_person, tmp_path: Path) -> None:
    from kiban.cli.main import app

    a = new_person()
    good = tmp_path / "kazei.csv"
    good.write_bytes(csv(KAZEI_HEAD, kazei(a.person_no)))
    runner = CliRunner()
    ok = runner.invoke(app, ["identity", "facts", "kazei", str(good)])
    assert ok.exit_code == 0, ok.output
    assert "反映 1 件" in ok.output
    bad = tmp_path / "kazei-bad.csv"
    bad.write_bytes(csv(KAZEI_HEAD, kazei("1234567890")))
    failed = runner.invoke(app, ["identity", "facts", "kazei", str(bad)])
    assert failed.exit_code == 1
    assert "1234567890" in failed.output and "宛名が登録されていません" in failed.output
    with db_engine.connect() as conn:
        staff = conn.execute(
            text("SELECT DISTINCT staff_code FROM audit.access_log WHERE purpose_code = 'atena.import'")
        ).scalars()
        assert "batch" in set(staff)


def test_fast_and_careful_reading_agree() -> None:
    """kazei.csv rows take a fast path; a file with quotes goes through the CSV reader: same rows."""
    chunk = generate_chunk(city_params(3, 3_000, date(2026, 4, 1)), 0)
    body = chunk.files["kazei.csv"].decode()
    plain = facts_layouts.parse("kazei", csv(KAZEI_HEAD, *body.split("\r\n")[:-1]))
    quoted = body.replace(",課税,", ',"課税",')
    careful = facts_layouts.parse("kazei", csv(KAZEI_HEAD, *quoted.split("\r\n")[:-1]))
    assert plain.errors == careful.errors == []
    assert plain.rows == careful.rows and len(plain.rows) == plain.count > 1000
    # Spaces around a value: not the fast path's form, but the reader accepts them (as it strips).
    spaced = facts_layouts.parse(
        "kazei", csv(KAZEI_HEAD, "", kazei("1000000001").replace(",3000000,", ", 3000000 ,"))
    )
    assert spaced.errors == [] and spaced.rows[0].salary_income == 3_000_000 and spaced.rows[0].line_no == 3


DOC = Path(__file__).resolve().parents[2] / "docs" / "layouts" / "facts.md"


def test_the_documented_layouts_are_the_ones_read() -> None:
    """docs/layouts/facts.md lists every column of every kind in order, and its examples pass the checks."""
    documented: dict[str, list[tuple[int, str]]] = {}
    examples: dict[str, list[str]] = {}
    current = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            heading = re.match(r"## (\S+\.csv)", line)
            current = heading.group(1) if heading else None
            if current:
                documented[current] = []
                examples[current] = []
            continue
        row = re.match(r"\| (\d+) \| ([^|]+) \|", line)
        if current and row:
            documented[current].append((int(row.group(1)), row.group(2).strip()))
        if current and line.startswith("Example"):
            examples[current] += re.findall(r"`(992011,[^`]+)`", line)
    kinds = {spec.file_name: kind for kind, spec in facts_layouts.LAYOUTS.items()}
    assert set(documented) == set(kinds)
    for file_name, kind in kinds.items():
        header = facts_layouts.LAYOUTS[kind].headers[0]
        assert documented[file_name] == list(enumerate(header, start=1)), file_name
        assert examples[file_name], file_name
        parsed = facts_layouts.parse(kind, csv(",".join(header), *examples[file_name]))
        assert parsed.errors == [] and len(parsed.rows) == len(examples[file_name]), file_name


def test_a_file_name_that_holds_a_my_number_is_masked(
    app_engine: Engine, db_engine: Engine, staff_ctx, new_person
) -> None:
    a = new_person()
    ctx = staff_ctx(purpose="atena.import")
    number = valid_number(11)
    result = facts.import_facts(
        app_engine, "kazei", csv(KAZEI_HEAD, kazei(a.person_no)), f"kazei_{number}.csv", ctx
    )
    assert result.file_name == "kazei_************.csv"
    with db_engine.connect() as conn:
        name = conn.execute(
            text("SELECT file_name FROM identity.import_batch WHERE import_id = :i"), {"i": result.import_id}
        ).scalar()
    assert name == "kazei_************.csv"
    assert log_rows(db_engine, ctx.staff_code)[-1]["detail"]["file"] == "kazei_************.csv"
