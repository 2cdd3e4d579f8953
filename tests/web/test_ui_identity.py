"""The 宛名 screens in a real Chromium: a clerk of the 宛名 section at the counter.

Searches by kana and by 個人番号, opens a person (number masked), reveals it with a reason, registers
a 送付先, corrects a misread kana (the wrong row stays in the history), and registers a 住登外
person after a refused first try. No screen but the reveal shows a 12-digit 個人番号 (scanned).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine
from ui_support import enrol_and_login, serve, shot

from kiban.db.engine import get_app_engine
from kiban.identity import repo, vault
from kiban.identity.model import PersonData, ResidentClass
from kiban.security import keys, totp
from kiban.security.context import Business
from kiban.shared import mynumber
from kiban.shared.mynumber import contains_my_number
from kiban.web.app import create_app
from security_factories import Org

pytestmark = pytest.mark.ui


def _person(family: str, given: str, fk: str, gk: str, sex: int, born: date, address: str) -> PersonData:
    return PersonData(
        family, given, fk, gk, sex, born, address, ResidentClass.RESIDENT,
        postal_code="999-8036", district_code="08", resident_on=born,
    )  # fmt: skip


@pytest.fixture(scope="module")
def city(db_engine: Engine) -> dict[str, object]:
    """A household of three in the hub, each with a 個人番号 in the vault."""
    rng = random.Random(20261122)
    tag = f"{uuid.uuid4().int % 10**6:06d}"
    address = "基盤県基盤市東原2412番地"
    people = [
        ("世帯主", _person("武田", "清", "タケダ", "キヨシ", 1, date(1956, 4, 9), address)),
        ("妻", _person("武田", "和子", "タケダ", "カズコ", 2, date(1958, 11, 3), address)),
        ("子", _person("武田", "健太", "タケダ", "ケンタ", 1, date(1988, 2, 29), address)),
    ]
    numbers: dict[str, str] = {}
    with db_engine.begin() as conn:
        v = keys.Vault.load(conn)
        household = repo.ensure_household(conn, "992011", f"29{tag}01")
        for i, (relation, data) in enumerate(people):
            ref = repo.create_person(
                conn,
                city_code="992011",
                person_no=f"16{tag}{i:02d}",
                data=data,
                valid_from=data.birth_date,
                reason="初期移行",
            )
            repo.join_household(
                conn, ref.person_id, household, relation=relation, since=data.birth_date, reason="初期移行"
            )
            number = mynumber.generate(rng)
            sealed = vault.seal(v, ref.person_id, number)
            conn.execute(
                vault.t.my_number_vault.insert().values(
                    person_id=ref.person_id,
                    ciphertext=sealed.ciphertext,
                    blind_index=sealed.blind_index,
                    source="試験",
                )
            )
            numbers[ref.person_no] = number
    head = next(iter(numbers))
    return {"numbers": numbers, "head": head}


@pytest.fixture(scope="module")
def base_url(database_url: str, city: dict[str, object]) -> Iterator[str]:
    with serve(create_app(get_app_engine(database_url))) as url:
        yield url


def _no_number_on(page, numbers: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    html = page.content()
    assert not contains_my_number(html), page.url
    assert not any(n in html for n in numbers.values()), page.url


def test_counter_clerk_searches_reveals_corrects_and_registers(
    base_url: str, browser, city, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    org = Org(get_app_engine(database_url), uuid.uuid4().hex[:6])
    dep = org.department("shimin")
    secret = totp.new_secret()
    org.staff("atena1", dep, [(Business.ATENA, "clerk")], totp_secret=secret)
    numbers: dict[str, str] = city["numbers"]
    head = city["head"]
    context, page = enrol_and_login(browser, base_url, org, dep, "mado1", "atena1", secret)

    page.get_by_role("link", name="宛名検索").click()
    page.wait_for_url("**/atena")
    page.get_by_label("カナ氏名").fill("たけだ")  # hiragana typed at the counter
    page.get_by_label("生年月日").fill("S31.4.9")
    page.get_by_role("button", name="検索", exact=True).click()
    results = page.get_by_test_id("results")
    results.wait_for()
    assert "武田" in results.inner_text() and head in results.inner_text()
    assert "和子" not in results.inner_text()  # the birth date narrowed it to the head
    _no_number_on(page, numbers)
    shot(page, "atena-search")

    # By number: a POST, exact, through the blind index.
    wife = list(numbers)[1]
    page.get_by_text("個人番号で検索する").click()
    page.get_by_label("個人番号（12桁）").fill(numbers[wife])
    page.get_by_role("button", name="番号で検索").click()
    page.get_by_test_id("results").get_by_role("link", name=wife).wait_for()
    assert "個人番号（完全一致）" in page.locator("#results").inner_text()
    _no_number_on(page, numbers)

    page.get_by_test_id("results").get_by_role("link", name=wife).click()
    page.wait_for_url(f"**/atena/persons/{wife}")
    assert page.get_by_test_id("masked-number").inner_text() == mynumber.mask(numbers[wife])
    household = page.get_by_test_id("household").inner_text()
    assert "世帯主" in household and "子" in household and "健太" in household
    _no_number_on(page, numbers)
    shot(page, "atena-person")

    page.get_by_label("表示する理由").fill("本人からの番号確認の申出")
    page.get_by_role("button", name="個人番号を表示").click()
    revealed = page.get_by_test_id("revealed-number").inner_text().replace("-", "")
    assert revealed == numbers[wife]
    shot(page, "atena-reveal")
    page.get_by_role("link", name="宛名照会に戻る").click()

    # 送付先 for the 宛名 business.
    page.get_by_text("送付先を登録する").click()
    form = page.get_by_test_id("mailing")
    form.get_by_label("送付先氏名").fill("武田　健太")
    form.get_by_label("送付先住所").fill("東京都千代田区千代田1番1号")
    form.get_by_label("開始理由").fill("長男方に送付")
    form.get_by_role("button", name="送付先を登録").click()
    assert "送付先を登録しました" in page.get_by_test_id("flash").inner_text()
    assert "千代田区" in page.get_by_test_id("mailing").inner_text()

    # 職権修正: the wrong reading stays in the history as 訂正前.
    page.get_by_role("link", name="職権修正…").click()
    page.get_by_label("名カナ", exact=True).fill("カズエ")
    page.get_by_label("修正理由").fill("届出書の読み誤りの訂正")
    page.get_by_role("button", name="修正を記録").click()
    assert "職権修正を記録しました" in page.get_by_test_id("flash").inner_text()
    history = page.get_by_test_id("history").inner_text()
    assert "カズエ" in history and "カズコ" in history and "訂正前" in history
    shot(page, "atena-history")

    # 住登外登録: refused with the fields named, then accepted.
    page.get_by_role("link", name="住登外登録").click()
    form = page.get_by_test_id("non-resident-form")
    form.get_by_label("氏", exact=True).fill("上田")
    form.get_by_label("名", exact=True).fill("栄子")
    form.get_by_label("氏カナ", exact=True).fill("uweda")
    form.get_by_label("名カナ", exact=True).fill("エイコ")
    form.get_by_label("性別").select_option("2")
    form.get_by_label("生年月日").fill("昭和11年4月24日")
    form.get_by_label("住所（住所地）").fill("架空都みなと区中央5丁目30番7号")
    form.get_by_label("方書（施設名など）").fill("介護老人福祉施設みどり苑")
    form.get_by_label("住登外となった日").fill("R6.9.14")
    form.get_by_role("button", name="登録する").click()
    errors = page.get_by_test_id("errors").inner_text()
    assert "氏カナ" in errors and "全角カタカナ" in errors
    shot(page, "atena-non-resident-error")
    page.get_by_test_id("non-resident-form").get_by_label("氏カナ").fill("ウエダ")
    page.get_by_test_id("non-resident-form").get_by_label("生年月日").fill("昭和11年4月24日")
    page.get_by_test_id("non-resident-form").get_by_role("button", name="登録する").click()
    assert "住登外者として登録しました" in page.get_by_test_id("flash").inner_text()
    assert page.get_by_test_id("resident-class").inner_text() == "住登外"
    assert page.get_by_test_id("person-no").inner_text().startswith("19")

    page.get_by_role("button", name="ログアウト").click()
    page.wait_for_url("**/login")
    context.close()
