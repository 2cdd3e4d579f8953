"""The 収納・滞納 screens in a real Chromium: a clerk of the 介護保険 section at the counter.

Over the dated town of collection.test_payments (the 2025 賦課 made into 期別 with 納付番号) the clerk
opens A's 保険料 panel → 収納状況: 10 期別 adding up to 21,289円, every one past its 納期限 and unpaid
(滞納, with its 延滞金 to today and 時効完成日). From 「収納ファイル取込」 a bank file pays 第1期 exactly and
第2期 in part: the result counts, then A's page shows 完納 and 一部納付. A bad file (a 納付番号 with a
wrong check digit) is refused with the エラーリスト naming the line and field, and nothing is imported;
the good file again is 「同じファイルは取込済み」. A 窓口収納 of 第3期 settles it (完納). No screen shows a
12-digit 個人番号.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from ui_support import enrol_and_login, serve, shot

from collection.test_payments import assessed, file, rows_of
from identity.conftest import app_engine, clean_identity, org, staff_ctx
from kaigo.test_assessment_run import FY, A, atena, city, town
from kiban.db.engine import get_app_engine
from kiban.security import totp
from kiban.security.context import Business
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

LATE_FEE = re.compile(r"^(\d{1,3}(,\d{3})*円|計算できません)$")


@pytest.fixture(scope="module")
def base_url(database_url: str) -> Iterator[str]:
    with serve(create_app(get_app_engine(database_url))) as url:
        yield url


def _yen(text_: str) -> int:
    return int(text_.replace(",", "").replace("円", "").strip())


def _no_number_on(page) -> None:  # type: ignore[no-untyped-def]
    assert not contains_my_number(page.content()), page.url


def _payments(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM collection.payment),"
                    " (SELECT coalesce(sum(paid), 0) FROM collection.receivable)"
                )
            ).one()
        )


def _upload(page, name: str, data: bytes) -> None:  # type: ignore[no-untyped-def]
    form = page.get_by_test_id("import-form")
    form.get_by_label("収納区分").select_option(label="金融機関窓口")
    form.get_by_label("収納ファイル").set_input_files({"name": name, "mimeType": "text/csv", "buffer": data})
    form.get_by_role("button", name="取り込んで消し込む").click()
    page.wait_for_load_state()


def test_clerk_reads_the_account_imports_a_bank_file_and_takes_a_counter_payment(
    assessed, base_url: str, browser, database_url: str, app_engine: Engine
) -> None:  # type: ignore[no-untyped-def]
    a = assessed[A]
    org = Org(get_app_engine(database_url), uuid.uuid4().hex[:6])
    dep = org.department("kaigo")
    secret = totp.new_secret()
    org.staff("shuno-c1", dep, [(Business.KAIGO, "clerk")], totp_secret=secret)
    context, page = enrol_and_login(browser, base_url, org, dep, "mado-s1", "shuno-c1", secret)

    # A's 保険料 panel → 収納状況: 10 期別, 21,289円, all past their 納期限 and unpaid.
    page.goto(f"{base_url}/kaigo/persons/{A}/premium")
    page.get_by_test_id("account-link").click()
    page.wait_for_url(f"**/kaigo/persons/{A}/account")
    table = page.get_by_test_id(f"receivables-{FY}")
    rows = table.locator("tbody tr")
    assert rows.count() == 10
    assert sum(_yen(rows.nth(i).get_by_test_id("amount").inner_text()) for i in range(10)) == 21_289
    assert _yen(page.get_by_test_id("year-amount").inner_text()) == 21_289
    assert _yen(page.get_by_test_id("unpaid-total").inner_text()) == 21_289
    first = page.get_by_test_id(f"period-{FY}-ordinary-1")
    assert first.get_by_test_id("label").inner_text() == a[0].label
    assert re.search(r"令和\d+年\d+月\d+日", first.inner_text())  # 納期限 in 和暦
    assert first.get_by_test_id("payment-no").inner_text() == a[0].payment_no
    assert first.get_by_test_id("state").inner_text() == "滞納"  # 令和7年度: every 納期限 has passed
    assert LATE_FEE.match(first.get_by_test_id("late-fee").inner_text())
    assert re.search(r"令和\d+年\d+月\d+日", first.get_by_test_id("prescription").inner_text())
    assert "督促・分納誓約等を反映" in table.locator("thead").inner_text()
    assert page.get_by_test_id("counter-list").locator("tbody tr").count() == 10
    _no_number_on(page)

    # 収納ファイル取込: 第1期 exactly, 第2期 in part.
    page.get_by_role("link", name="収納ファイル取込").click()
    page.wait_for_url("**/collection/payments/import")
    tag = uuid.uuid4().hex[:8]
    good = file(
        f"{tag}-1,{a[0].payment_no},2025-07-30,{a[0].amount},基盤銀行",
        f"{tag}-2,{a[1].payment_no},2025-08-29,1000,基盤銀行",
    )
    _upload(page, "bank-0830.csv", good)
    assert "取り込みました" in page.get_by_test_id("import-result").inner_text()
    counts = page.get_by_test_id("result-counts")
    assert counts.get_by_test_id("count-imported").inner_text() == "2件"
    assert counts.get_by_test_id("count-duplicates").inner_text() == "0件"
    assert counts.get_by_test_id("count-applied").inner_text() == "1件"
    assert counts.get_by_test_id("count-partial").inner_text() == "1件"
    assert counts.get_by_test_id("count-over").inner_text() == "0件"
    assert counts.get_by_test_id("count-unmatched").inner_text() == "0件"
    assert _yen(counts.get_by_test_id("count-amount").inner_text()) == a[0].amount + 1_000
    assert "bank-0830.csv" in page.get_by_test_id("files").inner_text()

    page.goto(f"{base_url}/kaigo/persons/{A}/account")
    assert page.get_by_test_id(f"period-{FY}-ordinary-1").get_by_test_id("state").inner_text() == "完納"
    second = page.get_by_test_id(f"period-{FY}-ordinary-2")
    assert "一部納付" in second.get_by_test_id("state").inner_text()
    assert _yen(second.get_by_test_id("paid").inner_text()) == 1_000
    assert _yen(second.get_by_test_id("unpaid").inner_text()) == a[1].amount - 1_000
    assert "金融機関窓口" in page.get_by_test_id("payment-list").inner_text()

    # A bad file: the エラーリスト names line 3 and 納付番号; nothing is imported.
    before = _payments(app_engine)
    broken = a[3].payment_no[:-1] + str((int(a[3].payment_no[-1]) + 1) % 10)
    bad = file(
        f"{tag}-3,{a[2].payment_no},2025-09-30,2100,基盤銀行",
        f"{tag}-4,{broken},2025-10-31,2100,基盤銀行",
    )
    page.get_by_role("link", name="収納ファイル取込").click()
    _upload(page, "bank-bad.csv", bad)
    errors = page.get_by_test_id("error-list").locator("tbody tr")
    assert errors.count() == 1
    cells = errors.first.locator("td")
    assert (cells.nth(0).inner_text(), cells.nth(1).inner_text()) == ("3", "納付番号")
    assert "取り込みませんでした" in page.get_by_test_id("errors").inner_text()
    assert page.get_by_test_id("nothing-imported").is_visible()
    assert broken not in page.content()
    assert _payments(app_engine) == before
    _no_number_on(page)
    shot(page, "collection-import-errors")

    # The good file again: 同じファイルは取込済み.
    _upload(page, "bank-0830.csv", good)
    assert "同じファイルは取込済み" in page.get_by_test_id("already-imported").inner_text()
    assert _payments(app_engine) == before

    # 窓口収納 of 第3期: the form offers the unpaid amount and today; recorded, it is 完納.
    page.goto(f"{base_url}/kaigo/persons/{A}/account")
    pay = page.get_by_test_id(f"pay-{FY}-ordinary-3")
    assert _yen(pay.get_by_label("金額").input_value()) == a[2].amount
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", pay.get_by_label("納付日").input_value())
    pay.get_by_label("備考").fill("窓口で現金収納")
    pay.get_by_role("button", name="収納を記録").click()
    page.wait_for_url(f"**/kaigo/persons/{A}/account*")
    assert "完納" in page.get_by_test_id("flash").inner_text()
    assert page.get_by_test_id(f"period-{FY}-ordinary-3").get_by_test_id("state").inner_text() == "完納"
    assert rows_of(app_engine, A)[2].paid == a[2].amount
    assert "窓口収納" in page.get_by_test_id("payment-list").inner_text()
    assert page.get_by_test_id("counter-list").locator("tbody tr").count() == 8  # 第2期 and 第4〜10期
    assert (
        _yen(page.get_by_test_id("unpaid-total").inner_text()) == 21_289 - a[0].amount - 1_000 - a[2].amount
    )
    _no_number_on(page)
    shot(page, "collection-account")

    page.get_by_role("button", name="ログアウト").click()
    page.wait_for_url("**/login")
    context.close()
