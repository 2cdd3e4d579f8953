"""賦課の窓口業務 over the dated town of test_assessment_run: 減免, 決定・変更通知書 (PDF read back),
the bulk notices and the CSV export — each through the guard, each logged, none with a 個人番号."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from kaigo.test_assessment_run import FY, KAZEI, A, B, E, atena, city, csv, current, kazei, town
from kiban.identity import facts
from kiban.kaigo.assessment import jobs as assess_jobs
from kiban.kaigo.assessment import service
from kiban.security.context import Business
from kiban.security.errors import AccessDenied
from kiban.shared.mynumber import contains_my_number

__all__ = ["atena", "city", "town"]  # fixtures used by name

pytestmark = pytest.mark.usefixtures("clean_identity")


def pdf_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "n.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout


@pytest.fixture
def clerk(staff_ctx):
    return staff_ctx(Business.KAIGO, purpose="kaigo.assessment")


@pytest.fixture
def chief(staff_ctx):
    return staff_ctx(Business.KAIGO, role="chief", purpose="kaigo.assessment")


def test_a_reduction_is_applied_by_a_clerk_decided_by_another_chief_and_survives_the_next_run(
    town, app_engine: Engine, clerk, chief, staff_ctx
) -> None:
    assess_jobs.assess(app_engine, fiscal_year=FY)
    with app_engine.begin() as conn:
        rid = service.apply_reduction(
            conn, clerk, person_no=B, fiscal_year=FY, reason="disaster",
            detail="令和7年9月の台風により住家が半壊（罹災証明書あり）", applied_on=date(2025, 10, 20),
        )  # fmt: skip
    # The clerk who took it may not decide it; a chief may.
    with app_engine.begin() as conn, pytest.raises(AccessDenied):
        service.decide_reduction(conn, clerk, reduction_id=rid, approve=True, amount=24_277, note="半壊")
    with app_engine.begin() as conn, pytest.raises(service.PremiumError, match="賦課額"):
        service.decide_reduction(conn, chief, reduction_id=rid, approve=True, amount=48_556, note="半壊")
    with app_engine.begin() as conn:
        # 条例 e.g. 半壊 → 1/2: 48,555 × 1/2 = 24,277.5 → 24,277 (the decision states the amount).
        row = service.decide_reduction(
            conn, chief, reduction_id=rid, approve=True, amount=24_277, note="半壊のため2分の1"
        )
    assert row is not None and (row.kind, row.amount, row.reduction, row.payable) == (
        "reduction",
        48_555,
        24_277,
        24_278,
    )
    with app_engine.begin() as conn, pytest.raises(service.PremiumError, match="決定済み"):
        service.decide_reduction(conn, chief, reduction_id=rid, approve=False, note="重複")
    again = assess_jobs.assess(app_engine, fiscal_year=FY)
    assert again.counts["correction"] == 0
    assert current(app_engine)[B]["payable"] == 24_278
    with app_engine.connect() as conn:
        logged = conn.execute(
            text(
                "SELECT count(*) FROM audit.access_log WHERE detail->>'what' IN "
                "('kaigo.reduction.apply', 'kaigo.reduction.decide') AND :p = ANY(subjects)"
            ),
            {"p": B},
        ).scalar_one()
    assert logged == 2


def test_a_reader_may_see_the_history_but_not_apply_a_reduction(town, app_engine: Engine, staff_ctx) -> None:
    assess_jobs.assess(app_engine, fiscal_year=FY)
    reader = staff_ctx(Business.KAIGO, role="reader", purpose="kaigo.assessment")
    with app_engine.begin() as conn:
        h = service.history(conn, reader, A)
    assert [(r.fiscal_year, r.stage, r.payable) for r in h.assessments] == [(FY, 1, 21_289)]
    # 普通徴収 over the standard calendar's 10 periods: the sum is the year's amount.
    assert sum(i.amount for i in h.schedules[FY].installments) == 21_289
    with app_engine.begin() as conn, pytest.raises(AccessDenied):
        service.apply_reduction(conn, reader, person_no=A, fiscal_year=FY, reason="other", detail="x")


def test_a_tax_correction_gives_a_change_notice_with_the_difference(
    town, app_engine: Engine, atena, clerk, tmp_path
) -> None:
    assess_jobs.assess(app_engine, fiscal_year=FY)
    with app_engine.begin() as conn:
        first = pdf_text(
            service.notice_pdf(conn, clerk, person_no=A, fiscal_year=FY, issued_on=date(2025, 7, 10)),
            tmp_path,
        )
    assert "令和7年度" in first and "介護保険料額決定通知書" in first and "第1段階" in first
    assert "21,289" in first and "審査請求" in first
    facts.import_facts(
        app_engine,
        "kazei",
        csv(KAZEI, kazei(A, taxable=True, pension=800_000, other=2_500_000)),
        "k2.csv",
        atena,
    )
    assess_jobs.assess(app_engine, fiscal_year=FY)
    with app_engine.begin() as conn:
        changed = pdf_text(
            service.notice_pdf(conn, clerk, person_no=A, fiscal_year=FY, issued_on=date(2025, 11, 5)),
            tmp_path,
        )
        h = service.history(conn, clerk, A)
    assert "変更" in changed and "第8段階" in changed and "112,050" in changed
    assert "90,761" in changed  # 112,050 − 21,289: 差額（増額）
    # The periods due before the change keep their amounts; the rest carry the increase.
    schedule = h.schedules[FY]
    assert sum(i.amount for i in schedule.installments) - schedule.overpaid == 112_050
    assert not contains_my_number(first + changed)


def test_bulk_notices_and_the_export(town, app_engine: Engine, clerk, tmp_path) -> None:
    run = assess_jobs.assess(app_engine, fiscal_year=FY)
    seen: list[tuple[int, int]] = []
    batch_id, pdf = service.bulk_notices(
        app_engine,
        fiscal_year=FY,
        run_id=run.run_id,
        issued_on=date(2025, 7, 10),
        progress=lambda d, t: seen.append((d, t)),
    )
    body = pdf_text(pdf, tmp_path)
    assert body.count("\f") == 6 and "6/6" in body and seen[-1] == (6, 6)  # one page per person
    assert not contains_my_number(body)
    with app_engine.begin() as conn:
        status, done = conn.execute(
            text("SELECT status, done FROM kaigo.notice_batch WHERE batch_id = :b"), {"b": batch_id}
        ).one()
        exported = service.export_csv(conn, clerk, fiscal_year=FY).decode("utf-8-sig")
    assert (status, done) == ("done", 6)
    lines = exported.splitlines()
    assert lines[0].startswith("年度,被保険者番号,宛名番号") and len(lines) == 7
    assert any(f",{E}," in line and ",43543," in line for line in lines)
    assert not contains_my_number(exported)


GOLDEN = Path(__file__).parent / "golden"


def test_the_special_collection_request_file_matches_its_golden_file(
    town, app_engine: Engine, db_engine: Engine, clerk
) -> None:
    # 年金保険者の通知 for A (previous February 3,500円) and B (none: 普通徴収 this year, not in the file).
    with db_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO kaigo.pension_deduction (person_id, fiscal_year, pension_insurer, annual_pension,"
                " previous_february) SELECT person_id, :fy, '日本年金機構', pension, feb FROM identity.person"
                " JOIN (VALUES (:a, 800000, 3500), (:b, 2000000, NULL::int)) AS v(no, pension, feb)"
                " ON v.no = person_no"
            ),
            {"fy": FY, "a": A, "b": B},
        )
    assess_jobs.assess(app_engine, fiscal_year=FY)
    with app_engine.begin() as conn:
        data = service.special_request_csv(conn, clerk, fiscal_year=FY)
    golden = GOLDEN / "special-request-2025.csv"
    assert data == golden.read_bytes()
    assert not contains_my_number(data.decode())


def test_the_notice_of_a_welfare_recipient_says_the_office_pays_by_proxy(
    town, app_engine: Engine, clerk, tmp_path
) -> None:
    assess_jobs.assess(app_engine, fiscal_year=FY)
    with app_engine.begin() as conn:
        before = pdf_text(
            service.notice_pdf(conn, clerk, person_no=E, fiscal_year=FY, issued_on=date(2025, 7, 10)),
            tmp_path,
        )
        during = pdf_text(
            service.notice_pdf(conn, clerk, person_no=E, fiscal_year=FY, issued_on=date(2025, 10, 1)),
            tmp_path,
        )
    # E's 生活保護 (代理納付 1) starts 10 Sep 2025 (seiho.csv of the town).
    assert "代理納付" not in before
    assert "基盤市福祉事務所が生活扶助から代理納付" in during.replace(" ", "").replace("\n", "")
    assert "7か月は第1段階で月割" in during.replace(" ", "")
