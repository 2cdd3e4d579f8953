"""The 介護保険 資格 screens in a real Chromium: a clerk of the 介護保険 section at the counter.

After the monthly 65歳到達 run, finds a resident, opens the 資格 panel, issues a 被保険者証 (a PDF),
tries a 職権修正 without a reason (refused, in Japanese) and with one (the old period stays, struck
through, and the history names the correction), registers a facility and starts a 一括交付 whose
progress bar reaches 100% with the batch PDF. No screen shows a 12-digit 個人番号 (scanned). A staff
member without a 介護保険 grant is refused.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine
from ui_support import enrol_and_login, serve, shot

from kiban.db.engine import get_app_engine
from kiban.identity import repo, vault
from kiban.identity.model import PersonData, ResidentClass
from kiban.kaigo.eligibility import jobs
from kiban.security import totp
from kiban.security.batch import batch_context
from kiban.security.context import Business
from kiban.shared import clock, mynumber
from kiban.shared.mynumber import contains_my_number
from kiban.web.app import create_app
from security_factories import Org

pytestmark = pytest.mark.ui

BULK_MONTH = "2022-09"  # the month the bulk residents reached 65 (born September 1957)


def _resident(family: str, given: str, fk: str, gk: str, sex: int, born: date) -> PersonData:
    return PersonData(
        family, given, fk, gk, sex, born, "基盤県基盤市緑町三丁目8番2号", ResidentClass.RESIDENT,
        postal_code="999-8011", district_code="03", resident_on=born,
    )  # fmt: skip


@pytest.fixture(scope="module")
def city(db_engine: Engine, database_url: str) -> dict[str, object]:
    """A resident who reached 65 in August 2022 (with a 個人番号 in the vault) and three who did in
    September 2022, insured by the monthly run."""
    tag = f"{uuid.uuid4().int % 10**6:06d}"
    people = [
        _resident("佐藤", "良子", "サトウ", "リョウコ", 2, date(1957, 8, 15)),
        _resident("鈴木", "一郎", "スズキ", "イチロウ", 1, date(1957, 9, 3)),
        _resident("高橋", "次郎", "タカハシ", "ジロウ", 1, date(1957, 9, 14)),
        _resident("田中", "花子", "タナカ", "ハナコ", 2, date(1957, 9, 28)),
    ]
    numbers: dict[str, str] = {}
    with db_engine.begin() as conn:
        ctx = batch_context(conn, Business.ATENA, "atena.import", "test")
        for i, data in enumerate(people):
            ref = repo.create_person(
                conn,
                city_code="992011",
                person_no=f"13{tag}{i:02d}",
                data=data,
                valid_from=data.birth_date,
                reason="初期移行",
            )
            number = mynumber.generate(random.Random(uuid.uuid4().int))
            vault.store(conn, ctx, ref, number, source="試験")
            numbers[ref.person_no] = number
    jobs.run_attainment(get_app_engine(database_url), as_of=clock.today())
    return {"numbers": numbers, "main": next(iter(numbers))}


@pytest.fixture(scope="module")
def base_url(database_url: str, city: dict[str, object]) -> Iterator[str]:
    with serve(create_app(get_app_engine(database_url))) as url:
        yield url


def _no_number_on(page, numbers: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    html = page.content()
    assert not contains_my_number(html), page.url
    assert not any(n in html for n in numbers.values()), page.url


def test_kaigo_clerk_issues_corrects_registers_and_bulk_issues(
    base_url: str, browser, city, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    org = Org(get_app_engine(database_url), uuid.uuid4().hex[:6])
    dep = org.department("kaigo")
    secret = totp.new_secret()
    org.staff("kaigo1", dep, [(Business.KAIGO, "clerk")], totp_secret=secret)
    numbers: dict[str, str] = city["numbers"]
    main = city["main"]
    context, page = enrol_and_login(browser, base_url, org, dep, "mado-k1", "kaigo1", secret)

    # 被保険者検索 by 宛名番号 → the 資格 panel.
    page.get_by_role("link", name="介護保険 被保険者").click()
    page.wait_for_url("**/kaigo/insured")
    page.get_by_test_id("person-search").get_by_label("宛名番号").fill(main)
    page.get_by_role("button", name="宛名で検索").click()
    page.get_by_test_id("people").get_by_role("link", name=main).click()
    page.wait_for_url(f"**/kaigo/persons/{main}")
    assert page.get_by_test_id("status").inner_text() == "資格あり・第1号被保険者"
    insured_no = page.get_by_test_id("insured-no").inner_text()
    assert re.fullmatch(r"\d{10}", insured_no)
    current = page.get_by_test_id("current").inner_text()
    assert "令和4年8月14日" in current and "65歳到達" in current  # the day before the 65th birthday
    assert "取得" in page.get_by_test_id("changes").inner_text()
    _no_number_on(page, numbers)

    # 被保険者証の交付: the PDF opens in a new tab.
    def issuing(r) -> bool:  # type: ignore[no-untyped-def]
        return r.request.method == "POST" and r.url.endswith(f"/kaigo/persons/{main}/certificates")

    with context.expect_event("response", issuing) as issued, context.expect_page() as opened:
        page.get_by_test_id("issue-form").get_by_role("button", name="交付（PDF）").click()
    response = issued.value
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("inline")
    # Chromium shows it in its PDF viewer (the body the page sees is the viewer); the bytes are
    # checked through the 証発行履歴 link below.
    opened.value.close()
    page.reload()
    certificates = page.get_by_test_id("certificates")
    assert "交付 被保険者証" in certificates.inner_text()
    reprint = certificates.get_by_role("link", name="交付時の証を表示").first.get_attribute("href")
    shown = context.request.get(base_url + reprint)
    assert shown.headers["content-type"] == "application/pdf" and shown.body().startswith(b"%PDF")

    # 職権修正: refused without a reason, recorded with one.
    page.get_by_test_id("periods").get_by_role("link", name="職権修正…").click()
    page.wait_for_url("**/correct")
    form = page.get_by_test_id("correct-form")
    form.get_by_label("資格取得日").fill("R4.8.20")
    form.get_by_role("button", name="修正を記録").click()
    errors = page.get_by_test_id("errors").inner_text()
    assert "理由を入力してください" in errors
    assert page.get_by_test_id("correct-form").get_by_label("資格取得日").input_value() == "R4.8.20"
    shot(page, "kaigo-correct-error")
    page.get_by_test_id("correct-form").get_by_label("修正理由（必須）").fill(
        "住民記録の訂正に合わせた取得日の訂正"
    )
    page.get_by_test_id("correct-form").get_by_role("button", name="修正を記録").click()
    page.wait_for_url(f"**/kaigo/persons/{main}")
    assert "職権修正を記録しました" in page.get_by_test_id("flash").inner_text()
    history = page.get_by_test_id("changes").inner_text()
    assert "職権修正" in history and "住民記録の訂正に合わせた取得日の訂正" in history
    periods = page.get_by_test_id("periods")
    assert periods.locator("tr.superseded").count() == 1
    assert "訂正前" in periods.locator("tr.superseded").inner_text()
    assert "令和4年8月20日" in page.get_by_test_id("current").inner_text()
    _no_number_on(page, numbers)
    shot(page, "kaigo-panel")

    # 取消 without a reason: the panel again, the refused form open, nothing changed.
    row = periods.locator("tr:not(.superseded)").filter(has_text="有効")
    row.get_by_text("取消…").click()
    row.get_by_role("button", name="取消").click()
    assert "取消できません: 理由を入力してください" in page.get_by_test_id("errors").inner_text()
    assert page.get_by_test_id("status").inner_text() == "資格あり・第1号被保険者"
    assert page.get_by_test_id("periods").locator("details[open]").count() == 1
    shot(page, "kaigo-cancel-error")

    # 施設マスタ: a 住所地特例対象施設 in our city.
    facility_no = f"F{uuid.uuid4().hex[:9].upper()}"
    page.get_by_role("link", name="介護保険 施設マスタ").click()
    form = page.get_by_test_id("facility-form")
    form.get_by_label("施設番号（英数字10桁）").fill(facility_no)
    form.get_by_label("施設名").fill("特別養護老人ホーム緑風園")
    form.get_by_label("施設種別").select_option("11")
    form.get_by_label("所在市区町村コード（6桁）").fill("992011")
    form.get_by_label("所在市区町村名").fill("基盤市")
    form.get_by_label("所在地", exact=True).fill("基盤県基盤市緑町五丁目1番1号")
    form.get_by_role("button", name="登録").click()
    assert "施設マスタに登録しました" in page.get_by_test_id("flash").inner_text()
    row = page.get_by_test_id("facilities").get_by_role("row").filter(has_text=facility_no)
    assert "住所地特例対象施設" in row.inner_text()
    shot(page, "kaigo-facilities")

    # On the panel the facility is offered for 住所地特例; one in our city asks for the other insurer.
    page.goto(f"{base_url}/kaigo/persons/{main}")
    page.get_by_text("住所地特例を登録する…").click()
    special = page.get_by_test_id("special-form")
    assert not special.get_by_label("保険者名").is_visible()
    special.get_by_label("住所地特例対象施設").select_option(facility_no)
    assert special.get_by_label("保険者名").is_visible()
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    shot(page, "kaigo-panel-forms")

    # 一括交付 for the month's 65歳到達者: the bar reaches 100% and the PDF is offered.
    page.get_by_role("link", name="被保険者証 一括交付").click()
    form = page.get_by_test_id("bulk-form")
    form.get_by_label("対象月（資格取得月）").fill(BULK_MONTH)
    form.get_by_role("button", name="一括交付を開始").click()
    page.wait_for_url(re.compile(r".*/kaigo/certificates/bulk/\d+$"))
    page.get_by_test_id("bulk-pdf").wait_for(timeout=20_000)  # the page refreshes until the run is done
    progress = page.get_by_test_id("bulk-progress")
    assert progress.get_attribute("value") == progress.get_attribute("max") == "3"
    assert page.get_by_test_id("bulk-state").inner_text() == "完了"
    assert "100%" in page.get_by_test_id("bulk-count").inner_text()
    assert "3 / 3 件" in page.get_by_test_id("bulk-count").inner_text()
    batch_pdf = context.request.get(base_url + page.get_by_test_id("bulk-pdf").get_attribute("href"))
    assert batch_pdf.headers["content-type"] == "application/pdf" and batch_pdf.body().startswith(b"%PDF")
    _no_number_on(page, numbers)
    shot(page, "kaigo-bulk")
    page.get_by_role("link", name="一括交付の一覧へ").click()
    assert "完了" in page.get_by_test_id("batches").inner_text()

    page.get_by_role("button", name="ログアウト").click()
    page.wait_for_url("**/login")
    context.close()


def test_staff_without_a_kaigo_grant_are_refused(base_url: str, browser, city, database_url: str) -> None:  # type: ignore[no-untyped-def]
    org = Org(get_app_engine(database_url), uuid.uuid4().hex[:6])
    dep = org.department("shimin")
    secret = totp.new_secret()
    org.staff("atena9", dep, [(Business.ATENA, "clerk")], totp_secret=secret)
    context, page = enrol_and_login(browser, base_url, org, dep, "mado-a9", "atena9", secret)
    assert page.get_by_role("link", name="介護保険 被保険者").count() == 0  # not in the menu
    for path in (f"/kaigo/persons/{city['main']}", "/kaigo/insured", "/kaigo/certificates/bulk"):
        response = page.goto(base_url + path)
        assert response is not None and response.status == 403
        assert "権限がありません" in page.get_by_test_id("error").inner_text()
    context.close()
