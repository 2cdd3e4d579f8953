"""The データ使用承認願 in a real Chromium: one 連携承認者 applies, a second approves.

Administrator A chooses the dataset 介護保険 資格, ticks two items, names the 連携先 (住民記録システム),
the 使用根拠, purpose and period, and submits; A's own application shows that A cannot decide it.
Administrator B, at another terminal, opens it from the list and approves; the application shows
承認 with B as 決裁者 and the 利用登録 appears. No screen shows a 個人番号.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from ui_support import enrol_and_login, serve, shot

from kiban.db.engine import get_app_engine
from kiban.security import totp
from kiban.security.context import Business
from kiban.shared.mynumber import contains_my_number
from kiban.web.app import create_app
from security_factories import Org

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def base_url(database_url: str) -> Iterator[str]:
    with serve(create_app(get_app_engine(database_url))) as url:
        yield url


def test_an_application_applied_by_one_administrator_is_approved_by_another(
    base_url: str, browser, database_url: str, db_engine: Engine
) -> None:  # type: ignore[no-untyped-def]
    with db_engine.begin() as conn:
        conn.execute(text("TRUNCATE linkage.subscription, linkage.application RESTART IDENTITY CASCADE"))
    org = Org(get_app_engine(database_url), uuid.uuid4().hex[:6])
    dep = org.department("renkei")
    s1, s2 = totp.new_secret(), totp.new_secret()
    org.staff("renA", dep, [(Business.RENKEI, "approver")], is_admin=True, totp_secret=s1)
    org.staff("renB", dep, [(Business.RENKEI, "approver")], is_admin=True, totp_secret=s2)

    ctx_a, page = enrol_and_login(browser, base_url, org, dep, "deskA", "renA", s1)
    page.get_by_role("link", name="データ使用承認願").first.click()
    page.wait_for_url("**/linkage/applications")
    page.get_by_role("link", name="新規の承認願").click()
    page.get_by_label("使用データ（データセット）").select_option(label="介護保険 資格")
    page.get_by_role("button", name="項目を表示").click()
    page.wait_for_load_state()
    form = page.get_by_test_id("application-form")
    form.get_by_label("連携先").select_option(label="住民記録システム（介護保険資格の記載）（個人番号なし）")
    form.get_by_label("使用根拠").select_option(value="jumin-kihon-daicho-7")
    form.get_by_label("被保険者番号").check()
    form.get_by_label("資格取得日").check()
    form.get_by_label("使用目的").fill("住民票への介護保険の資格の記載")
    form.get_by_label("使用条件").fill("記載以外に使用しない")
    form.get_by_label("使用期間（開始日）").fill("2026-04-01")
    shot(page, "linkage-application-new")
    form.get_by_role("button", name="承認願を提出").click()
    page.wait_for_url("**/linkage/applications/*")
    assert "提出しました" in page.get_by_test_id("flash").inner_text()
    assert page.get_by_test_id("status").inner_text() == "承認待ち"
    assert page.get_by_test_id("own-note").is_visible()
    assert page.get_by_test_id("approve-form").count() == 0
    number = page.url.rsplit("/", 1)[1]
    assert not contains_my_number(page.content())
    ctx_a.close()

    ctx_b, page = enrol_and_login(browser, base_url, org, dep, "deskB", "renB", s2)
    page.goto(f"{base_url}/linkage/applications?status=pending")
    page.get_by_test_id(f"application-{number}").get_by_role("link").click()
    page.wait_for_url(f"**/linkage/applications/{number}")
    page.get_by_label("承認の記載（任意）").fill("根拠法令・項目を確認した")
    shot(page, "linkage-application-pending")
    page.get_by_role("button", name="承認する").click()
    page.wait_for_url(f"**/linkage/applications/{number}")
    assert "承認しました" in page.get_by_test_id("flash").inner_text()
    assert page.get_by_test_id("status").inner_text() == "承認"
    assert org.code("renB") not in page.get_by_test_id("applicant").inner_text()
    assert page.get_by_test_id("decider").inner_text() != "—"
    shot(page, "linkage-application-approved")
    page.get_by_role("link", name="連携の利用登録").first.click()
    page.wait_for_url("**/linkage/subscriptions")
    row = page.get_by_test_id("subscriptions").locator("tbody tr")
    assert row.count() == 1 and "被保険者番号" in row.inner_text()
    shot(page, "linkage-subscriptions")
    assert not contains_my_number(page.content())
    ctx_b.close()
