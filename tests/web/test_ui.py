"""The staff UI in a real Chromium (Debian's chromium driven by Playwright).

One story a city's staff would live through: enrol the counter terminal, sign in with a second
factor, see the city in aggregate, issue a grant that a second administrator approves, and be
refused when the same ID is used at another terminal.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from ui_support import enrol_and_login, serve, shot

from kiban.db.engine import get_app_engine
from kiban.security import totp
from kiban.security.context import Business
from kiban.synth.load import load_city
from kiban.web.app import create_app
from security_factories import PASSWORD, Org, terminal_awaiting_enrolment

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def base_url(database_url: str, db_engine: Engine) -> Iterator[str]:
    load_city(db_engine, residents=3_000, seed=7, write_files=False)
    with serve(create_app(get_app_engine(database_url))) as url:
        yield url


@pytest.fixture(scope="module")
def world(database_url: str) -> dict[str, object]:
    org = Org(get_app_engine(database_url), uuid.uuid4().hex[:6])
    dep = org.department("joho")
    kaigo = org.department("kaigo")
    s1, s2 = totp.new_secret(), totp.new_secret()
    org.staff("adm1", dep, [(Business.SYSTEM, "admin")], is_admin=True, totp_secret=s1)
    org.staff("adm2", dep, [(Business.SYSTEM, "admin")], is_admin=True, totp_secret=s2)
    org.staff("clerk", kaigo)
    return {"org": org, "dep": dep, "kaigo": kaigo, "s1": s1, "s2": s2}


def test_sign_in_and_see_the_city_in_aggregate(base_url: str, browser, world) -> None:  # type: ignore[no-untyped-def]
    org: Org = world["org"]
    context, page = enrol_and_login(browser, base_url, org, world["dep"], "desk1", "adm1", world["s1"])
    residents = page.get_by_test_id("residents")
    residents.wait_for(timeout=10_000)  # the figures arrive through htmx
    assert residents.inner_text().replace(",", "").startswith("3000")
    assert "%" in page.get_by_test_id("aged65").inner_text()
    assert org.code("adm1") in page.get_by_test_id("who").inner_text()
    shot(page, "home")
    page.get_by_role("link", name="システム状態").click()
    page.wait_for_url("**/system")
    assert page.get_by_test_id("status").inner_text().strip() == "正常"
    shot(page, "system")

    # The same ID at another terminal is refused while this session is live (seed 000).
    enrol = terminal_awaiting_enrolment(org.engine, org.code("desk9"), world["dep"])
    other = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 700})
    p2 = other.new_page()
    p2.goto(f"{base_url}/terminal/enrol?terminal_code={org.code('desk9')}&code={enrol}")
    p2.get_by_role("button", name="この端末を登録する").click()
    p2.get_by_label("職員ID").fill(org.code("adm1"))
    p2.get_by_label("パスワード").fill(PASSWORD)
    p2.get_by_role("button", name="ログイン").click()
    error = p2.get_by_test_id("error").inner_text()
    assert "別の端末" in error and "ログイン中" in error
    shot(p2, "login-refused")
    other.close()
    page.get_by_role("button", name="ログアウト").click()
    page.wait_for_url("**/login")
    context.close()


def test_grant_is_requested_by_one_admin_and_approved_by_another(base_url: str, browser, world) -> None:  # type: ignore[no-untyped-def]
    org: Org = world["org"]
    ctx1, p1 = enrol_and_login(browser, base_url, org, world["dep"], "desk3", "adm2", world["s2"])
    p1.get_by_role("link", name="権限の起案・決裁").click()
    form = p1.get_by_test_id("grant-request")
    form.get_by_label("職員").select_option(org.code("clerk"))
    form.get_by_label("事務・役割").select_option("kansa:auditor")
    form.get_by_label("部署").select_option(world["kaigo"])
    form.get_by_label("理由").fill("4月1日付 配属")
    form.get_by_role("button", name="起案する").click()
    assert "起案しました" in p1.get_by_test_id("flash").inner_text()
    row = p1.get_by_test_id("pending-table").locator("tr", has_text=org.code("clerk"))
    assert "自分の起案は決裁できません" in row.inner_text()
    shot(p1, "grants-pending")
    p1.get_by_role("button", name="ログアウト").click()
    ctx1.close()

    ctx2, p2 = enrol_and_login(browser, base_url, org, world["dep"], "desk4", "adm1", world["s1"])
    p2.goto(base_url + "/admin/grants")
    p2.get_by_test_id("pending-table").locator("tr", has_text=org.code("clerk")).get_by_role(
        "button", name="承認"
    ).click()
    assert "承認" in p2.get_by_test_id("flash").inner_text()
    p2.get_by_role("link", name="アクセス権限表").click()
    table = p2.get_by_test_id("access-table")
    assert "監査" in table.locator("tr", has_text=org.code("clerk")).inner_text()
    shot(p2, "access-table")
    p2.get_by_role("button", name="ログアウト").click()
    ctx2.close()


def test_auditor_sees_repeated_login_failures_in_the_review(base_url: str, browser, world) -> None:  # type: ignore[no-untyped-def]
    from kiban.security import auth
    from kiban.security.errors import AuthenticationFailed

    org: Org = world["org"]
    org.staff("auditor", world["dep"], [(Business.KANSA, "auditor")])
    term, _ = org.terminal("guess", world["dep"])
    # Someone tries the clerk's ID with wrong passwords three times (domain.md §10.7 anomaly report).
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            auth.login(org.engine, staff_code=org.code("clerk"), password="guess-1234", terminal=term)
    enrol = terminal_awaiting_enrolment(org.engine, org.code("desk5"), world["dep"])
    context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.goto(f"{base_url}/terminal/enrol?terminal_code={org.code('desk5')}&code={enrol}")
    page.get_by_role("button", name="この端末を登録する").click()
    page.get_by_label("職員ID").fill(org.code("auditor"))
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.get_by_role("link", name="アクセスログ点検").click()
    page.wait_for_url("**/audit/review")
    section = page.get_by_test_id("denials-and-failures")
    row = section.locator("tr", has_text=org.code("clerk"))
    assert "ログイン失敗（職員ID）" in row.inner_text()
    assert row.locator("td.num").inner_text() == "3"
    shot(page, "audit-review")
    context.close()


def test_new_staff_id_must_change_its_first_password(base_url: str, browser, world) -> None:  # type: ignore[no-untyped-def]
    org: Org = world["org"]
    context, page = enrol_and_login(browser, base_url, org, world["dep"], "desk6", "adm2", world["s2"])
    page.get_by_role("link", name="職員管理").click()
    form = page.get_by_test_id("staff-create")
    new_code = org.code("newbie")
    form.get_by_label("職員ID").fill(new_code)
    form.get_by_label("氏名").fill("新人 一郎")
    form.get_by_label("フリガナ").fill("シンジン イチロウ")
    form.get_by_label("所属").select_option(world["kaigo"])
    form.get_by_label("初期パスワード").fill("Initial-Pass-2026!")
    form.get_by_role("button", name="発行する").click()
    assert "発行しました" in page.get_by_test_id("flash").inner_text()
    # The list opens narrowed to the issued ID (a city has thousands; the list is paged).
    assert page.get_by_test_id("staff-count").inner_text().startswith("1 件中")
    assert (
        page.get_by_test_id("staff-search").get_by_label("職員ID・氏名・フリガナ").input_value() == new_code
    )
    issued = page.get_by_test_id("staff-table").locator("tr", has_text=new_code)
    assert "未登録" in issued.inner_text()  # no second factor yet
    shot(page, "staff-issued")
    page.get_by_role("link", name="条件を解除").click()
    assert "件中 1〜" in page.get_by_test_id("staff-count").inner_text()
    page.get_by_role("button", name="ログアウト").click()
    context.close()

    enrol = terminal_awaiting_enrolment(org.engine, org.code("desk7"), world["kaigo"])
    context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.goto(f"{base_url}/terminal/enrol?terminal_code={org.code('desk7')}&code={enrol}")
    page.get_by_role("button", name="この端末を登録する").click()
    page.get_by_label("職員ID").fill(new_code)
    page.get_by_label("パスワード").fill("Initial-Pass-2026!")
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url("**/password")
    page.get_by_label("現在のパスワード").fill("Initial-Pass-2026!")
    page.get_by_label("新しいパスワード", exact=True).fill("Initial-Pass-2027!")
    page.get_by_label("新しいパスワード（確認）").fill("Initial-Pass-2027!")
    page.get_by_role("button", name="変更する").click()
    # Too close to the first one: refused with the rule named.
    assert "類似" in page.get_by_test_id("error").inner_text()
    shot(page, "password-refused")
    page.get_by_label("現在のパスワード").fill("Initial-Pass-2026!")
    page.get_by_label("新しいパスワード", exact=True).fill("Quiet-River-Stone-84")
    page.get_by_label("新しいパスワード（確認）").fill("Quiet-River-Stone-84")
    page.get_by_role("button", name="変更する").click()
    page.wait_for_url(base_url + "/")
    assert "パスワードを変更しました" in page.get_by_test_id("flash").inner_text()
    context.close()
