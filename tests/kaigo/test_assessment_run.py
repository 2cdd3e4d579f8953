"""本算定 and 更正 of 介護保険料 over a small dated city (issue 6 "Done when"): the facts go in through
the identity hub's real imports (resident events, kazei.csv, seiho.csv), the qualifications come from
the kaigo jobs, and ``kiban.kaigo.assessment.jobs.assess`` computes the year in PostgreSQL.

Sources of the expected figures (national standard table, kiban.rules.kaigo_premium/standard.toml,
基準額 74,700円 — the table's default, 1円未満切捨て):
- 所得段階 and 割合: 介護保険法施行令第38条第1項 (第9期の標準段階, 令和6年政令第X号改正後), stage 1
  0.285 (after 公費軽減), stage 5 1.0, stage 6 1.2, stage 7 1.3, stage 8 1.5; 基準所得金額 80.9万円
  from 令和7年度 (施行令第38条第1項第1号ロ等; docs/kaigo-premium-rules.md).
- 月割: 介護保険条例参考例第4条 as adopted by the cities (e.g. 紋別市介護保険条例第4条): from the month
  of acquisition; up to the month before the month of loss; 生活保護 from the month it starts.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, text

from kaigo.scenario import City, died, move_out, moved_in
from kiban.identity import facts, facts_layouts
from kiban.kaigo.assessment import jobs as assess_jobs
from kiban.kaigo.assessment.model import PremiumFacts, assess_premium
from kiban.kaigo.eligibility import jobs
from kiban.rules.kaigo_premium import load_table
from kiban.security.context import Business

pytestmark = pytest.mark.usefixtures("clean_identity")

FY = 2025
KAZEI = ",".join(facts_layouts.KAZEI_HEADER)
SEIHO = ",".join(facts_layouts.SEIHO_HEADER)


def kazei(person_no: str, *, taxable: bool, pension: int = 0, misc: int = 0, salary: int = 0,
          salary_net: int = 0, other: int = 0, special: int = 0, year: int = FY) -> str:  # fmt: skip
    total = max(0, salary_net + misc + other)
    status, reason = ("課税", "") if taxable else ("非課税", "所得基準")
    return (
        f"992011,{person_no},{year},{salary},{salary_net},{pension},{misc},{other},{total},0,"
        f"{status},{reason},{special}"
    )


def csv(head: str, *lines: str) -> bytes:
    return ("\r\n".join((head, *lines)) + "\r\n").encode()


@pytest.fixture
def atena(staff_ctx):
    return staff_ctx(Business.ATENA, purpose="atena.import")


@pytest.fixture
def city(app_engine: Engine, atena, db_engine: Engine) -> City:
    with db_engine.begin() as conn:
        conn.execute(text("TRUNCATE kaigo.assess_run RESTART IDENTITY CASCADE"))
        # Tables are empty (clean_identity): numbering from 1 keeps golden files stable.
        conn.execute(text("ALTER SEQUENCE kaigo.insured_no_seq RESTART"))
    return City(app_engine, atena)


A, B, C, D, E, SON, F = (f"10000050{n:02d}" for n in range(7))


@pytest.fixture
def town(city: City, app_engine: Engine, atena) -> City:
    """Seven residents. A 70s, alone, 世帯非課税; B turns 65 on 14 Oct 2025; C dies 10 Jul 2025;
    D moves out 10 Mar 2026; E 非課税 living with a taxed son, 生活保護 from 10 Sep 2025; F no 課税情報."""
    city.events(
        moved_in(A, "2020-01-10", "1950-05-05", household="3000005001"),
        moved_in(B, "2020-01-10", "1960-10-15", household="3000005002"),
        moved_in(C, "2020-01-10", "1948-02-02", household="3000005003"),
        moved_in(D, "2020-01-10", "1952-06-30", household="3000005004"),
        moved_in(E, "2020-01-10", "1945-03-03", household="3000005005"),
        moved_in(
            SON, "2020-01-10", "1975-08-08", household="3000005005", 続柄="子", 名="次郎", 名カナ="ジロウ"
        ),
        moved_in(F, "2020-01-10", "1955-12-12", household="3000005006"),
        today="2020-01-10",
    )
    city.events(died(C, "2025-07-10"), today="2025-07-11")
    city.events(move_out(D, "2026-03-10"), today="2026-03-10")
    jobs.run_attainment(app_engine, as_of=date(2026, 3, 31))
    facts.import_facts(
        app_engine, "kazei",
        csv(KAZEI,
            # A: 課税年金収入 800,000 + その他 0 ≤ 809,000 (FY2025) → 世帯非課税の第1段階.
            kazei(A, taxable=False, pension=800_000, misc=0),
            # B: 合計所得 900,000 + 600,000 = 1,500,000: 120万以上210万未満 → 第7段階.
            kazei(B, taxable=True, pension=2_000_000, misc=900_000, other=600_000),
            # C: 3,000,000: 210万以上320万未満 → 第8段階.
            kazei(C, taxable=True, other=3_000_000),
            # D: 500,000 < 120万 → 第6段階.
            kazei(D, taxable=True, other=500_000),
            # E: 本人非課税, 年金 1,000,000 > 809,000, son taxed → 第5段階 until 生活保護.
            kazei(E, taxable=False, pension=1_000_000, misc=0),
            kazei(SON, taxable=True, salary=4_000_000, salary_net=2_760_000)),
        "kazei.csv", atena,
    )  # fmt: skip
    facts.import_facts(
        app_engine,
        "seiho",
        csv(SEIHO, f"992011,{E},3000005005,2025-09-10,,基盤市福祉事務所,1"),
        "seiho.csv",
        atena,
    )
    return city


def current(engine: Engine) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.person_no, a.* FROM kaigo.assessment a JOIN kaigo.insured i USING (insured_id) "
                "JOIN identity.person p ON p.person_id = i.person_id "
                "WHERE a.fiscal_year = :fy AND a.superseded_at IS NULL"
            ),
            {"fy": FY},
        ).mappings()
        return {r["person_no"]: dict(r) for r in rows}


def test_honsantei_stages_and_monthly_proration(town: City, app_engine: Engine) -> None:
    run = assess_jobs.assess(app_engine, fiscal_year=FY)
    assert run.kind == "initial" and not run.resumed
    rows = current(app_engine)
    got = {p: (r["stage"], r["months"], r["amount"]) for p, r in rows.items()}
    assert got == {
        A: (1, 12, 21_289),  # 74,700 × 0.285 = 21,289.5 → 21,289 (切捨て)
        # 65歳到達 on 14 Oct 2025 → October to March, 6 months: 97,110 × 6/12 = 48,555.
        B: (7, 6, 48_555),
        # died 10 Jul → lost 11 Jul → April–June, 3 months: 112,050 × 3/12 = 28,012.5 → 28,012.
        C: (8, 3, 28_012),
        # 転出 10 Mar 2026 (lost that day, 法第11条ただし書) → April–February, 11 months:
        # 89,640 × 11/12 = 82,170.
        D: (6, 11, 82_170),
        # 第5段階 April–August (5 months: 74,700 × 5/12 = 31,125) and 第1段階 from September, the
        # month 生活保護 starts (7 months: 21,289 × 7/12 = 12,418.58… → 12,418): 43,543.
        E: (5, 12, 43_543),
        # No 課税情報: put on the 基準額 stage and flagged (未申告 — to be 更正 when it arrives).
        F: (5, 12, 74_700),
    }
    assert rows[E]["welfare_months"] == 7
    assert rows[F]["no_tax_info"] and not rows[A]["no_tax_info"]
    assert rows[A]["household_exempt"] and rows[E]["self_exempt"] and not rows[E]["household_exempt"]
    assert all(r["kind"] == "initial" and r["version"] == 1 for r in rows.values())
    assert run.counts["initial"] == 6 and run.counts["review"] == 0
    with app_engine.connect() as conn:
        assert run.digest == assess_jobs.result_digest(conn, "992011", FY)


def test_sql_stage_equals_the_python_rules_on_every_row(town: City, app_engine: Engine) -> None:
    assess_jobs.assess(app_engine, fiscal_year=FY)
    table = load_table("standard")
    for person_no, r in current(app_engine).items():
        if r["no_tax_info"]:
            continue
        facts_ = PremiumFacts(
            welfare=r["welfare"], old_age_welfare_pension=r["old_age_pension"],
            household_exempt=r["household_exempt"], self_exempt=r["self_exempt"],
            total_income=r["total_income"], pension_income=r["pension_income"],
            pension_misc_income=r["pension_misc_income"],
        )  # fmt: skip
        result = assess_premium(table, facts_, FY)
        assert (person_no, r["stage"], r["annual_full"]) == (person_no, result.stage, result.annual_premium)


def test_rerun_changes_nothing_and_a_tax_correction_makes_one_koosei(
    town: City, app_engine: Engine, atena
) -> None:
    first = assess_jobs.assess(app_engine, fiscal_year=FY)
    again = assess_jobs.assess(app_engine, fiscal_year=FY)
    assert again.kind == "correction" and sum(again.counts[k] for k in ("initial", "new", "correction")) == 0
    assert again.digest == first.digest
    # 税更正: A was in fact taxed with 合計所得金額 2,500,000 → 第8段階 112,050 for the whole year.
    facts.import_facts(
        app_engine, "kazei",
        csv(KAZEI, kazei(A, taxable=True, pension=800_000, other=2_500_000)), "kazei-koosei.csv", atena,
    )  # fmt: skip
    koosei = assess_jobs.assess(app_engine, fiscal_year=FY)
    assert koosei.counts["correction"] == 1
    rows = current(app_engine)
    assert (rows[A]["stage"], rows[A]["amount"], rows[A]["kind"], rows[A]["version"]) == (
        8,
        112_050,
        "correction",
        2,
    )
    assert rows[A]["previous_payable"] == 21_289  # 差額 +90,761 on the 変更通知書
    assert koosei.digest != first.digest
    with app_engine.connect() as conn:
        history = conn.execute(
            text(
                "SELECT version, amount, superseded_at IS NOT NULL AS old FROM kaigo.assessment a "
                "JOIN kaigo.insured i USING (insured_id) JOIN identity.person p ON p.person_id = i.person_id "
                "WHERE p.person_no = :p ORDER BY version"
            ),
            {"p": A},
        ).all()
        logged = conn.execute(
            text(
                "SELECT count(*) FROM audit.access_log WHERE detail->>'what' = 'kaigo.assess.chunk' "
                "AND (detail->>'run_id')::bigint = :r"
            ),
            {"r": koosei.run_id},
        ).scalar_one()
    assert [tuple(h) for h in history] == [(1, 21_289, True), (2, 112_050, False)]
    assert logged >= 1


def test_a_killed_run_resumes_to_the_same_digest(town: City, app_engine: Engine, db_engine: Engine) -> None:
    unbroken = assess_jobs.assess(app_engine, fiscal_year=FY, chunk=2)
    with db_engine.begin() as conn:
        conn.execute(text("DELETE FROM kaigo.assessment"))
        conn.execute(text("DELETE FROM kaigo.assess_run"))
    # Stop after two committed chunks (as a kill between chunks would); the run stays open.
    partial = assess_jobs.assess(app_engine, fiscal_year=FY, chunk=2, stop_after_chunks=2)
    assert partial.digest == ""
    with app_engine.connect() as conn:
        status, cursor = conn.execute(
            text("SELECT status, cursor_id FROM kaigo.assess_run WHERE run_id = :r"), {"r": partial.run_id}
        ).one()
    assert status == "running" and cursor > 0
    resumed = assess_jobs.assess(app_engine, fiscal_year=FY, chunk=2)
    assert resumed.resumed and resumed.run_id == partial.run_id and resumed.kind == "initial"
    assert resumed.digest == unbroken.digest
    assert resumed.counts["initial"] == 6


def test_a_year_the_table_does_not_cover_is_refused(town: City, app_engine: Engine) -> None:
    with pytest.raises(assess_jobs.AssessError, match="2023"):
        assess_jobs.assess(app_engine, fiscal_year=2023)


def test_special_collection_and_the_switch_to_ordinary_when_the_deduction_stops(
    town: City, app_engine: Engine, db_engine: Engine, staff_ctx
) -> None:
    from kiban.kaigo.assessment import service

    # 年金保険者の通知: A has a pension of 800,000円 (≥ 18万円, 法第134条) and last February's 特徴額 3,500円.
    with db_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO kaigo.pension_deduction (person_id, fiscal_year, pension_insurer, annual_pension,"
                " previous_february) SELECT person_id, :fy, '日本年金機構', 800000, 3500 FROM identity.person"
                " WHERE person_no = :p"
            ),
            {"fy": FY, "p": A},
        )
    assess_jobs.assess(app_engine, fiscal_year=FY)
    clerk = staff_ctx(Business.KAIGO, purpose="kaigo.assessment")
    with app_engine.begin() as conn:
        schedule = service.history(conn, clerk, A).schedules[FY]
    # 仮徴収 4・6・8月 at 3,500 (法第140条); 本徴収 21,289 − 10,500 = 10,789 in three, 100円 units,
    # the remainder in October: 3,789 + 3,500 + 3,500.
    assert [(i.method, i.due_date.month, i.amount) for i in schedule.installments] == [
        ("special", 4, 3_500), ("special", 6, 3_500), ("special", 8, 3_500),
        ("special", 10, 3_789), ("special", 12, 3_500), ("special", 2, 3_500),
    ]  # fmt: skip
    # The deduction stops from 1 September (年金の支給停止): a 更正 to 普通徴収; what was deducted
    # stays, the rest (10,789円) goes to the 普通徴収 periods due after the stop.
    with db_engine.begin() as conn:
        conn.execute(
            text("UPDATE kaigo.pension_deduction SET superseded_at = now() WHERE fiscal_year = :fy"),
            {"fy": FY},
        )
        conn.execute(
            text(
                "INSERT INTO kaigo.pension_deduction (person_id, fiscal_year, pension_insurer, annual_pension,"
                " previous_february, stopped_on) SELECT person_id, :fy, '日本年金機構', 800000, 3500, '2025-09-01'"
                " FROM identity.person WHERE person_no = :p"
            ),
            {"fy": FY, "p": A},
        )
    run = assess_jobs.assess(app_engine, fiscal_year=FY)
    assert run.counts["correction"] == 1
    with app_engine.begin() as conn:
        row = next(r for r in service.history(conn, clerk, A).assessments if r.current)
        switched = service.schedule_for(conn, current(app_engine)[A]["insured_id"], row, on=date(2025, 9, 1))
    assert row.method == "ordinary" and row.payable == 21_289
    assert [i.amount for i in switched.installments if i.method == "special"] == [3_500, 3_500, 3_500]
    ordinary = [i for i in switched.installments if i.method == "ordinary"]
    assert ordinary and all(i.due_date > date(2025, 9, 1) for i in ordinary)
    assert switched.total - switched.overpaid == 21_289
