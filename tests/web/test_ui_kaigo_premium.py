"""The 介護保険料 試算 screen in a real Chromium: a 介護保険 reader (照会のみ) at the counter.

Opens 保険料試算 from the menu, enters a 世帯非課税 person of 熊本市 with 78万円 of pension and sees
第1段階 and 21,888円 (76,800 × 0.285) with the judgement and its sources; then unticks 本人非課税
(contradictory: 世帯非課税 but 本人課税) and sees the Japanese message with the entered values kept.
The same form works with JavaScript switched off. Staff without a 介護保険 grant are refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from ui_support import enrol_and_login, serve, shot

from kiban.db.engine import get_app_engine
from kiban.security import totp
from kiban.security.context import Business
from kiban.web.app import create_app
from security_factories import Org

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def base_url(database_url: str) -> Iterator[str]:
    with serve(create_app(get_app_engine(database_url))) as url:
        yield url


def test_reader_simulates_a_premium_and_sees_a_contradiction(
    base_url: str, browser, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    org = Org(get_app_engine(database_url), uuid.uuid4().hex[:6])
    dep = org.department("kaigo")
    secret = totp.new_secret()
    org.staff("kaigo-r1", dep, [(Business.KAIGO, "reader")], totp_secret=secret)
    context, page = enrol_and_login(browser, base_url, org, dep, "mado-p1", "kaigo-r1", secret)

    page.get_by_role("link", name="保険料試算").click()
    page.wait_for_url("**/kaigo/premium/simulate")
    assert page.get_by_role("link", name="保険料試算").get_attribute("aria-current") == "page"
    form = page.get_by_test_id("premium-form")
    form.get_by_label("保険者（料率表）").select_option("kumamoto")
    form.get_by_label("年度").select_option(label="令和7年度（2025年度）")
    form.get_by_label("世帯全員が住民税非課税").check()
    form.get_by_label("本人が住民税非課税").check()
    form.get_by_label("課税年金収入額").fill("780000")
    form.get_by_role("button", name="試算する").click()
    page.wait_for_url("**/kaigo/premium/simulate?*")

    result = page.get_by_test_id("premium-result")
    assert page.get_by_test_id("premium-stage").inner_text().startswith("第1段階")
    assert "全15段階" in page.get_by_test_id("premium-stage").inner_text()
    assert page.get_by_test_id("premium-annual").inner_text() == "21,888円"
    assert page.get_by_test_id("premium-monthly").inner_text() == "1,824円"
    assert "参考" in result.inner_text() and "令和7年度" in result.inner_text()
    steps = page.get_by_test_id("premium-steps").inner_text()
    assert "780,000円 ≤ 809,000円 → 第1段階に該当" in steps
    assert "76,800円" in result.inner_text() and "0.285" in result.inner_text()
    sources = page.get_by_test_id("premium-sources").get_by_role("link")
    assert sources.count() >= 1 and sources.first.get_attribute("href").startswith("https://")
    # The entered values stay in the form (the URL is the bookmark of this 試算).
    assert form.get_by_label("課税年金収入額").input_value() == "780000"
    assert form.get_by_label("保険者（料率表）").input_value() == "kumamoto"
    shot(page, "kaigo-premium-simulate")

    # Contradictory facts: 世帯非課税 but 本人課税 → the message, nothing computed, values kept.
    form.get_by_label("本人が住民税非課税").uncheck()
    with page.expect_response(lambda r: "/kaigo/premium/simulate?" in r.url) as answered:
        form.get_by_role("button", name="試算する").click()
    assert answered.value.status == 422
    errors = page.get_by_test_id("errors").inner_text()
    assert "世帯非課税なら本人も非課税です" in errors
    assert page.get_by_test_id("premium-result").count() == 0
    form = page.get_by_test_id("premium-form")
    assert form.get_by_label("世帯全員が住民税非課税").is_checked()
    assert not form.get_by_label("本人が住民税非課税").is_checked()
    assert form.get_by_label("本人が住民税非課税").get_attribute("aria-invalid") == "true"
    assert form.get_by_label("課税年金収入額").input_value() == "780000"
    assert form.get_by_label("年度").input_value() == "2025"
    shot(page, "kaigo-premium-simulate-error")

    # Without JavaScript: the same session, the same form, the same answer.
    nojs = browser.new_context(
        locale="ja-JP", viewport={"width": 1280, "height": 860}, java_script_enabled=False,
        storage_state=context.storage_state(),
    )  # fmt: skip
    plain = nojs.new_page()
    plain.goto(base_url + "/kaigo/premium/simulate")
    f = plain.get_by_test_id("premium-form")
    f.get_by_label("保険者（料率表）").select_option("kumamoto")
    f.get_by_label("年度").select_option("2024")
    f.get_by_label("世帯全員が住民税非課税").check()
    f.get_by_label("本人が住民税非課税").check()
    f.get_by_role("button", name="試算する").click()
    plain.wait_for_url("**/kaigo/premium/simulate?*")
    assert plain.get_by_test_id("premium-annual").inner_text() == "21,888円"
    assert "令和6年度" in plain.get_by_test_id("premium-result").inner_text()
    nojs.close()

    page.get_by_role("button", name="ログアウト").click()
    page.wait_for_url("**/login")
    context.close()


def test_staff_without_a_kaigo_grant_are_refused(base_url: str, browser, database_url: str) -> None:  # type: ignore[no-untyped-def]
    org = Org(get_app_engine(database_url), uuid.uuid4().hex[:6])
    dep = org.department("shimin")
    secret = totp.new_secret()
    org.staff("atena-p9", dep, [(Business.ATENA, "clerk")], totp_secret=secret)
    context, page = enrol_and_login(browser, base_url, org, dep, "mado-p9", "atena-p9", secret)
    assert page.get_by_role("link", name="保険料試算").count() == 0  # not in the menu
    response = page.goto(base_url + "/kaigo/premium/simulate?insurer=kumamoto&fiscal_year=2025")
    assert response is not None and response.status == 403
    assert "権限がありません" in page.get_by_test_id("error").inner_text()
    context.close()
