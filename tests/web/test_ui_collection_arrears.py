"""The 滞納整理 screens in a real Chromium: a clerk of the 介護保険 section.

Over the dated town of collection.test_payments (A's 2025 賦課 of 21,289円 in 10 期, all past due) the
clerk opens 「滞納整理」 from the menu: A is in the 滞納者一覧 (未督促). A 督促 run reports its counts and
its 督促状 opens as a PDF; A is then 督促済. On A's 滞納整理 page the clerk records a 折衝 (it is listed),
then a 分納計画 that does not add up (refused with the service's message) and one that does. No screen
shows a 12-digit 個人番号.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from ui_support import enrol_and_login, serve, shot

from collection.test_payments import assessed
from identity.conftest import app_engine, clean_identity, org, staff_ctx
from kaigo.test_assessment_run import A, atena, city, town
from kiban.db.engine import get_app_engine
from kiban.security import totp
from kiban.security.context import Business
from kiban.shared import clock
from kiban.shared.mynumber import contains_my_number
from kiban.web.app import create_app
from security_factories import Org

__all__ = [
    "app_engine",
    "assessed",
    "atena",
    "city",
    "clean_identity",
    "org",
    "staff_ctx",
    "town",
]  # fixtures

pytestmark = [pytest.mark.ui, pytest.mark.usefixtures("clean_identity")]


@pytest.fixture(scope="module")
def base_url(database_url: str) -> Iterator[str]:
    with serve(create_app(get_app_engine(database_url))) as url:
        yield url


def _no_number_on(page) -> None:  # type: ignore[no-untyped-def]
    assert not contains_my_number(page.content()), page.url


def test_clerk_lists_arrears_runs_a_demand_and_records_contact_and_plan(
    assessed, base_url: str, browser, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    org = Org(get_app_engine(database_url), uuid.uuid4().hex[:6])
    dep = org.department("kaigo")
    secret = totp.new_secret()
    org.staff("tainou-c1", dep, [(Business.KAIGO, "clerk")], totp_secret=secret)
    context, page = enrol_and_login(browser, base_url, org, dep, "tainou-t1", "tainou-c1", secret)

    # 滞納者一覧: A with 10 期・21,289円, not yet demanded.
    page.get_by_role("link", name="滞納整理").first.click()
    page.wait_for_url("**/collection/arrears")
    row = page.get_by_test_id(f"arrears-{A}")
    assert row.is_visible()
    assert row.get_by_test_id("arrears-amount").inner_text() == "21,289円"
    assert "未督促" in row.inner_text() and "令和" in row.inner_text()
    assert row.get_by_test_id("account-link").get_attribute("href") == f"/kaigo/persons/{A}/account"
    _no_number_on(page)

    # 督促: the counts, then the 督促状 as a PDF.
    form = page.get_by_test_id("demand-form")
    assert form.get_by_label("指定期限の日数").input_value() == "10"
    assert form.get_by_label("督促").is_checked()
    form.get_by_role("button", name="督促を実行").click()
    page.wait_for_load_state()
    assert "督促を実行しました" in page.get_by_test_id("demand-result").inner_text()
    counts = page.get_by_test_id("demand-counts")
    assert int(counts.get_by_test_id("count-demands").inner_text().removesuffix("件")) >= 10
    assert int(counts.get_by_test_id("count-persons").inner_text().removesuffix("人")) >= 1
    assert "督促済" in page.get_by_test_id(f"arrears-{A}").inner_text()
    shot(page, "collection-arrears")
    href = page.get_by_test_id("demand-pdf").get_attribute("href")
    assert href and href.endswith("/pdf")
    pdf = context.request.get(base_url + href)
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["cache-control"] == "no-store"  # a bulk run of 督促状 names every person in it
    assert pdf.body().startswith(b"%PDF")
    page.goto(f"{base_url}/collection/arrears")
    assert "督促済" in page.get_by_test_id(f"arrears-{A}").inner_text()
    assert page.get_by_test_id("batches").locator("tbody tr").count() >= 1
    _no_number_on(page)

    # A's 滞納整理 from the 収納状況 page: 給付制限, then a 折衝.
    page.goto(f"{base_url}/kaigo/persons/{A}/account")
    page.get_by_test_id("arrears-link").click()
    page.wait_for_url(f"**/kaigo/persons/{A}/arrears")
    assert "支払方法変更" in page.get_by_test_id("restriction").inner_text()
    assert page.get_by_test_id("arrears-total").inner_text() == "21,289円"
    today = clock.today()
    contact = page.get_by_test_id("contact-form")
    contact.get_by_label("方法").select_option("電話")
    contact.get_by_label("内容").fill("本人と電話。月末に一部納付すると約束")
    contact.get_by_label("約束日").fill((today + timedelta(days=20)).isoformat())
    contact.get_by_label("約束額（円）").fill("5000")
    contact.get_by_role("button", name="折衝を記録").click()
    page.wait_for_url(f"**/kaigo/persons/{A}/arrears*")
    assert "折衝記録" in page.get_by_test_id("flash").inner_text()
    notes = page.get_by_test_id("contacts")
    assert "月末に一部納付すると約束" in notes.inner_text() and "5,000円" in notes.inner_text()

    # 分納計画: one that does not add up is refused; 10,000円 + 11,289円 is recorded.
    plan = page.get_by_test_id("plan-form")
    plan.get_by_label("1回目の納付予定日", exact=True).fill((today + timedelta(days=30)).isoformat())
    plan.get_by_label("1回目の金額", exact=True).fill("10000")
    plan.get_by_label("2回目の納付予定日", exact=True).fill((today + timedelta(days=60)).isoformat())
    plan.get_by_label("2回目の金額", exact=True).fill("10000")
    plan.get_by_role("button", name="分納計画を記録").click()
    page.wait_for_load_state()
    assert "一致しません" in page.get_by_test_id("errors").inner_text()
    plan = page.get_by_test_id("plan-form")
    assert plan.get_by_label("2回目の金額", exact=True).input_value() == "10000"  # the form is kept
    plan.get_by_label("2回目の金額", exact=True).fill("11,289")
    plan.get_by_role("button", name="分納計画を記録").click()
    page.wait_for_url(f"**/kaigo/persons/{A}/arrears*")
    assert "分納計画（2回・21,289円）を記録しました" in page.get_by_test_id("flash").inner_text()
    assert "分納中" in page.get_by_test_id("plans").inner_text()
    _no_number_on(page)

    page.goto(f"{base_url}/collection/arrears")
    assert "分納中" in page.get_by_test_id(f"arrears-{A}").inner_text()
    context.close()
