"""The 介護保険料 賦課 screens in a real Chromium: a clerk and a 係長 of the 介護保険 section.

Over the dated town of kaigo.test_assessment_run the clerk runs the 本算定 from 「保険料 賦課・通知書」,
opens A's 資格 panel → 保険料 (第1段階, 21,289円 in 10 普通徴収 installments that add up to it, the
決定通知書 PDF), and takes B's 減免申請 (no decision form for a 担当者). A 係長 — another member of
staff — approves it with 24,277円: B's 決定額 becomes 24,278円 in a new 版 of 区分 減免. The 係長
then makes the year's notices in bulk (the progress bar reaches 6 / 6, the PDF opens) and downloads
the 賦課結果CSV. No screen shows a 12-digit 個人番号.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from ui_support import enrol_and_login, serve, shot

from identity.conftest import app_engine, clean_identity, org, staff_ctx
from kaigo.test_assessment_run import FY, A, B, F, atena, city, town
from kiban.db.engine import get_app_engine
from kiban.security import totp
from kiban.security.context import Business
from kiban.shared.mynumber import contains_my_number
from kiban.web.app import create_app
from security_factories import Org

__all__ = ["app_engine", "atena", "city", "clean_identity", "org", "staff_ctx", "town"]  # fixtures by name

pytestmark = [pytest.mark.ui, pytest.mark.usefixtures("clean_identity")]


@pytest.fixture(scope="module")
def base_url(database_url: str) -> Iterator[str]:
    with serve(create_app(get_app_engine(database_url))) as url:
        yield url


def _yen(text: str) -> int:
    return int(text.replace(",", "").replace("円", "").strip())


def _no_number_on(page) -> None:  # type: ignore[no-untyped-def]
    assert not contains_my_number(page.content()), page.url


def test_clerk_assesses_takes_a_reduction_and_a_chief_decides_it(
    town, base_url: str, browser, database_url: str, app_engine: Engine
) -> None:  # type: ignore[no-untyped-def]
    org = Org(get_app_engine(database_url), uuid.uuid4().hex[:6])
    dep = org.department("kaigo")
    clerk_secret, chief_secret = totp.new_secret(), totp.new_secret()
    org.staff("kaigo-c1", dep, [(Business.KAIGO, "clerk")], totp_secret=clerk_secret)
    org.staff("kaigo-h1", dep, [(Business.KAIGO, "chief")], totp_secret=chief_secret)
    context, page = enrol_and_login(browser, base_url, org, dep, "mado-c1", "kaigo-c1", clerk_secret)

    # 賦課処理 from the screen: the 本算定 of the year for the 6 insured.
    page.get_by_role("link", name="保険料 賦課・通知書").click()
    page.wait_for_url("**/kaigo/premium/bulk")
    assert page.get_by_role("link", name="保険料 賦課・通知書").get_attribute("aria-current") == "page"
    assess = page.get_by_test_id("assess-form")
    assess.get_by_label("年度").select_option(str(FY))
    assess.get_by_role("button", name="賦課処理（本算定・更正）を実行").click()
    page.wait_for_url("**/kaigo/premium/bulk*")
    flash = page.get_by_test_id("flash").inner_text()
    assert "本算定" in flash and "本算定 6件" in flash and "要確認 0件" in flash, flash
    run_row = page.get_by_test_id("runs").locator("tbody tr").first
    assert run_row.get_by_test_id("count-initial").inner_text() == "6件"
    assert len(run_row.get_by_test_id("digest").get_attribute("title")) == 32

    # A: 資格 panel → 保険料.
    page.goto(f"{base_url}/kaigo/persons/{A}")
    page.get_by_test_id("premium-link").click()
    page.wait_for_url(f"**/kaigo/persons/{A}/premium")
    year = page.get_by_test_id(f"year-{FY}")
    assert year.get_by_test_id("stage").inner_text() == "第1段階"
    assert year.get_by_test_id("payable").inner_text() == "21,289円"
    assert year.get_by_test_id("method").inner_text() == "普通徴収"
    assert year.get_by_test_id("review-badge").count() == 0
    rows = page.get_by_test_id(f"schedule-{FY}").locator("tbody tr")
    assert rows.count() == 10
    amounts = [_yen(rows.nth(i).locator("td").nth(3).inner_text()) for i in range(10)]
    assert sum(amounts) == 21_289
    assert _yen(page.get_by_test_id("schedule-total").inner_text()) == 21_289
    assert re.search(r"令和\d+年\d+月\d+日", rows.first.inner_text())  # 納期限 in 和暦
    assert "本算定" in page.get_by_test_id("history").inner_text()
    _no_number_on(page)
    # 決定通知書（PDF）.
    href = page.get_by_test_id(f"notice-{FY}").get_attribute("href")
    notice = context.request.get(base_url + href)
    assert notice.status == 200 and notice.headers["content-type"] == "application/pdf"
    assert notice.headers["content-disposition"].startswith("inline") and notice.body().startswith(b"%PDF")

    # F has no 課税情報: put on the 基準額 stage and flagged 要確認.
    page.goto(f"{base_url}/kaigo/persons/{F}/premium")
    year = page.get_by_test_id(f"year-{FY}")
    assert year.get_by_test_id("review-badge").is_visible()
    assert "要確認" in year.get_by_test_id("review-badge").inner_text()
    assert year.get_by_test_id("stage").inner_text() == "第5段階"
    assert year.get_by_test_id("payable").inner_text() == "74,700円"
    shot(page, "kaigo-premium-person-review")

    # B: the clerk takes a 減免申請; a 担当者 is offered no decision.
    page.goto(f"{base_url}/kaigo/persons/{B}/premium")
    form = page.get_by_test_id("reduction-form")
    form.get_by_label("年度").select_option(str(FY))
    form.get_by_label("事由").select_option(label="災害等による損害")
    form.get_by_label("申請理由").fill("令和7年9月の台風により住家が半壊（罹災証明書あり）")
    form.get_by_label("申請日").fill("2025-10-20")
    form.get_by_role("button", name="減免申請を受け付ける").click()
    page.wait_for_url(f"**/kaigo/persons/{B}/premium")
    assert "減免申請を受け付けました" in page.get_by_test_id("flash").inner_text()
    listed = page.get_by_test_id("reduction-list")
    assert "申請中" in listed.inner_text() and "災害等による損害" in listed.inner_text()
    assert page.locator("form[data-testid^='decide-']").count() == 0
    assert "係長が決定します" in page.get_by_test_id("reductions").inner_text()
    page.get_by_role("button", name="ログアウト").click()
    page.wait_for_url("**/login")
    context.close()

    # The 係長 decides it: approve 24,277円 (半壊 → 2分の1).
    context, page = enrol_and_login(browser, base_url, org, dep, "mado-h1", "kaigo-h1", chief_secret)
    page.goto(f"{base_url}/kaigo/persons/{B}")
    page.get_by_test_id("premium-link").click()
    page.wait_for_url(f"**/kaigo/persons/{B}/premium")
    assert page.get_by_test_id(f"year-{FY}").get_by_test_id("payable").inner_text() == "48,555円"
    decide = page.locator("form[data-testid^='decide-']")
    assert decide.count() == 1
    decide.get_by_label("減免額").fill("24277")
    decide.get_by_label("決定の理由").fill("半壊のため2分の1")
    decide.get_by_role("button", name="承認").click()
    page.wait_for_url(f"**/kaigo/persons/{B}/premium")
    assert "承認しました" in page.get_by_test_id("flash").inner_text()
    year = page.get_by_test_id(f"year-{FY}")
    assert year.get_by_test_id("payable").inner_text() == "24,278円"
    assert "24,277円" in year.get_by_test_id("amounts").inner_text()
    version = page.get_by_test_id(f"version-{FY}-2")
    assert "減免" in version.inner_text() and "24,278円" in version.inner_text()
    assert "48,555円" in version.inner_text()  # 変更前の額
    assert "−24,277円" in version.inner_text()  # 差額
    assert page.get_by_test_id("reduction-status").inner_text() == "承認"
    assert page.locator("form[data-testid^='decide-']").count() == 0
    _no_number_on(page)
    shot(page, "kaigo-premium-person")
    changed = context.request.get(base_url + page.get_by_test_id(f"notice-{FY}").get_attribute("href"))
    assert changed.headers["content-type"] == "application/pdf" and changed.body().startswith(b"%PDF")

    # 一括作成 of the year's notices: the progress page refreshes until 6 / 6 and offers the PDF.
    page.get_by_role("link", name="保険料 賦課・通知書").click()
    bulk = page.get_by_test_id("bulk-form")
    bulk.get_by_label("年度").select_option(str(FY))
    bulk.get_by_label("発行日").fill("2025-07-10")
    bulk.get_by_role("button", name="一括作成を開始").click()
    page.wait_for_url(re.compile(r".*/kaigo/premium/bulk/\d+$"))
    page.get_by_test_id("bulk-pdf").wait_for(timeout=30_000)
    progress = page.get_by_test_id("bulk-progress")
    assert progress.get_attribute("value") == progress.get_attribute("max") == "6"
    assert page.get_by_test_id("bulk-state").inner_text() == "完了"
    assert "6 / 6 件" in page.get_by_test_id("bulk-count").inner_text()
    pdf = context.request.get(base_url + page.get_by_test_id("bulk-pdf").get_attribute("href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    assert "完了" in page.get_by_test_id("batches").inner_text()
    _no_number_on(page)
    shot(page, "kaigo-premium-bulk")

    # 賦課結果CSV.
    export = page.get_by_test_id("export-form")
    export.get_by_label("年度").select_option(str(FY))
    with page.expect_download() as got:
        export.get_by_role("button", name="賦課結果CSVを出力").click()
    body = Path(got.value.path()).read_text(encoding="utf-8-sig")
    lines = body.splitlines()
    assert lines[0].startswith("年度,被保険者番号") and len(lines) == 7
    assert any(f",{B}," in line and ",24278," in line for line in lines)
    assert not contains_my_number(body)

    page.get_by_role("button", name="ログアウト").click()
    page.wait_for_url("**/login")
    context.close()
