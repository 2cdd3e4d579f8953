"""The 宛名 section's 取込 and 名寄せ screens in a real Chromium.

取込: a clerk uploads a 住民異動 file with one bad row — nothing is imported and the エラーリスト names
the line and the item — then the corrected file (two 転入) — imported — then the same file again —
nothing changes. 名寄せ: a record without a 宛名番号 whose 4情報 agree except the address is never
linked automatically; it waits for two different staff members, and the first may not answer twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, text
from ui_support import enrol_and_login, serve, shot

from kiban.db.engine import get_app_engine
from kiban.identity import repo, staging
from kiban.identity.events import HEADER
from kiban.identity.model import PersonData, ResidentClass
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


@pytest.fixture(scope="module")
def staff(database_url: str) -> dict[str, object]:
    org = Org(get_app_engine(database_url), uuid.uuid4().hex[:6])
    dep = org.department("shimin")
    secrets = {name: totp.new_secret() for name in ("atena1", "atena2", "atena3")}
    for name, secret in secrets.items():
        org.staff(name, dep, [(Business.ATENA, "clerk")], totp_secret=secret)
    return {"org": org, "dep": dep, "secrets": secrets}


def _login(browser, base_url: str, staff: dict[str, object], name: str, terminal: str):  # type: ignore[no-untyped-def]
    secrets: dict[str, str] = staff["secrets"]  # type: ignore[assignment]
    return enrol_and_login(browser, base_url, staff["org"], staff["dep"], terminal, name, secrets[name])  # type: ignore[arg-type]


def moved_in(event_id: str, person_no: str, **over: str) -> str:
    """A 転入 line of the layout (docs/layouts/resident-events.md), items by 項目名."""
    values = {
        "異動ID": event_id, "市区町村コード": "992011", "異動事由": "転入", "異動日": "2026-10-01",
        "届出日": "2026-10-01", "宛名番号": person_no, "続柄": "世帯主", "氏": "山田", "名": "太郎",
        "氏カナ": "ヤマダ", "名カナ": "タロウ", "性別": "1", "生年月日": "1980-05-05", "郵便番号": "999-8002",
        "住所": "基盤県基盤市元町二丁目24番6号", "地区コード": "01", "転入前住所": "架空都みなと区中央5丁目30番7号",
    } | over  # fmt: skip
    assert set(values) <= set(HEADER)
    return ",".join(values.get(h, "") for h in HEADER)


def _logout(page) -> None:  # type: ignore[no-untyped-def]
    # A live session keeps the ID from signing in at another terminal (seed 000): end it.
    page.get_by_role("button", name="ログアウト").click()
    page.wait_for_url("**/login")


def _csv(*lines: str) -> bytes:
    return ("\r\n".join([",".join(HEADER), *lines]) + "\r\n").encode()


def _upload(page, name: str, data: bytes) -> None:  # type: ignore[no-untyped-def]
    form = page.get_by_test_id("import-form")
    form.get_by_label("ファイルの種類").select_option(label="住民異動（住民記録）")
    form.get_by_label("ファイル", exact=True).set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": data}
    )
    form.get_by_role("button", name="取り込む").click()
    page.wait_for_url("**/atena/imports/*")


def test_a_clerk_imports_resident_events_with_the_error_list(  # type: ignore[no-untyped-def]
    base_url: str, browser, staff, db_engine: Engine
) -> None:
    tag = f"{uuid.uuid4().int % 10**6:06d}"
    first, second = f"18{tag}01", f"18{tag}02"
    household = f"28{tag}01"
    good = [
        moved_in(f"E{tag}-1", first, 世帯番号=household),
        moved_in(
            f"E{tag}-2",
            second,
            世帯番号=household,
            名="次郎",
            名カナ="ジロウ",
            続柄="子",
            生年月日="2010-06-01",
        ),
    ]
    bad = [good[0], good[1].replace("2010-06-01", "2010-13-01")]
    context, page = _login(browser, base_url, staff, "atena1", "mado1")
    page.get_by_role("link", name="取込（住民記録・課税等）").click()
    page.wait_for_url("**/atena/imports")

    _upload(page, f"idou-{tag}-bad.csv", _csv(*bad))
    assert "取り込みませんでした: エラー 1 件" in page.get_by_test_id("flash").inner_text()
    assert page.get_by_test_id("import-status").inner_text() == "取込せず（エラー）"
    errors = page.get_by_test_id("error-list").locator("tbody tr")
    assert errors.count() == 1
    cells = errors.first.locator("td").all_inner_texts()
    assert cells[0] == "3" and cells[2] == "生年月日", cells  # line 3 of the file (the header is line 1)
    shot(page, "atena-import-error-list")
    with db_engine.connect() as conn:
        held = conn.execute(
            text("SELECT count(*) FROM identity.person WHERE person_no IN (:a, :b)"),
            {"a": first, "b": second},
        ).scalar_one()
    assert held == 0  # the good first row was not imported either

    page.get_by_role("link", name="取込の一覧へ").click()
    _upload(page, f"idou-{tag}.csv", _csv(*good))
    assert "取り込みました: 2 件（反映 2 件" in page.get_by_test_id("flash").inner_text()
    assert page.get_by_test_id("import-status").inner_text() == "取込済"
    page.get_by_role("link", name="取込の一覧へ").click()
    _upload(page, f"idou-{tag}-again.csv", _csv(*good))
    assert "取込済みです（変更はありません）" in page.get_by_test_id("flash").inner_text()
    with db_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.person_no, m.relation FROM identity.person p JOIN identity.household_member m"
                " USING (person_id) WHERE p.person_no IN (:a, :b) ORDER BY 1"
            ),
            {"a": first, "b": second},
        ).all()
    assert [tuple(r) for r in rows] == [(first, "世帯主"), (second, "子")]
    page.get_by_role("link", name="取込の一覧へ").click()
    history = page.get_by_test_id("import-table").inner_text()
    assert f"idou-{tag}-bad.csv" in history and f"idou-{tag}.csv" in history
    assert not contains_my_number(page.content())
    shot(page, "atena-imports")
    _logout(page)
    context.close()


def test_a_record_with_another_address_waits_for_two_staff_members(  # type: ignore[no-untyped-def]
    base_url: str, browser, staff, db_engine: Engine
) -> None:
    tag = f"{uuid.uuid4().int % 10**6:06d}"
    person_no = f"18{tag}09"
    born = date(1951, 3, 3)
    with db_engine.begin() as conn:
        repo.create_person(
            conn,
            city_code="992011",
            person_no=person_no,
            data=PersonData(
                "鬼塚", "勇次郎", "オニヅカ", "ユウジロウ", 1, born,
                "基盤県基盤市南町5番地", ResidentClass.RESIDENT, resident_on=born,
            ),
            valid_from=born,
            reason="試験",
        )  # fmt: skip
    context, page = _login(browser, base_url, staff, "atena1", "mado2")
    page.get_by_role("link", name="名寄せ").click()
    page.wait_for_url("**/atena/matching")
    form = page.get_by_test_id("match-form")
    form.get_by_label("氏", exact=True).fill("鬼塚")
    form.get_by_label("名", exact=True).fill("勇次郎")
    form.get_by_label("氏カナ").fill("オニヅカ")
    form.get_by_label("名カナ").fill("ユウジロウ")
    form.get_by_label("生年月日").fill("S26.3.3")
    form.get_by_label("性別").select_option(label="男")
    form.get_by_label("住所", exact=True).fill("架空県架空市北町1番地")  # moved: the address differs
    form.get_by_role("button", name="照合する").click()
    page.wait_for_url("**/atena/matching/*")
    case_url = page.url
    assert "確認待ちに登録しました" in page.get_by_test_id("flash").inner_text()
    candidates = page.get_by_test_id("candidates")
    row = candidates.locator("tr", has_text=person_no)
    assert row.count() == 1
    shot(page, "atena-match-case")

    row.get_by_role("button", name="この人で確認").click()
    assert "1人目の確認" in page.get_by_test_id("flash").inner_text()
    page.get_by_test_id("candidates").locator("tr", has_text=person_no).get_by_role(
        "button", name="この人で確認"
    ).click()
    assert "同じ職員が2回確認することはできません" in page.get_by_test_id("flash").inner_text()
    _logout(page)
    context.close()

    context, page = _login(browser, base_url, staff, "atena2", "mado3")
    page.goto(case_url)
    page.get_by_test_id("candidates").locator("tr", has_text=person_no).get_by_role(
        "button", name="この人で確認"
    ).click()
    assert f"宛名番号 {person_no} と名寄せしました" in page.get_by_test_id("flash").inner_text()
    assert page.get_by_test_id("linked").inner_text() == person_no
    assert page.get_by_test_id("candidates").get_by_role("button", name="この人で確認").count() == 0
    shot(page, "atena-match-settled")
    _logout(page)
    context.close()


def test_the_consistency_check_runs_from_the_screen_and_lists_what_it_found(  # type: ignore[no-untyped-def]
    base_url: str, browser, staff, db_engine: Engine
) -> None:
    """A 統合宛名番号 that does not begin with the city's code — as a bad restore might leave it — is
    on the 確認リスト of a run started at the screen (seed 000: 定期的なチェック、確認リスト)."""
    import time

    tag = f"{uuid.uuid4().int % 10**6:06d}"
    person_no = f"18{tag}07"
    born = date(1960, 1, 15)
    with db_engine.begin() as conn:
        ref = repo.create_person(
            conn,
            city_code="992011",
            person_no=person_no,
            data=PersonData("検査", "一", "ケンサ", "ハジメ", 1, born, "基盤県基盤市東町1番地",
                            ResidentClass.RESIDENT, resident_on=born),
            valid_from=born,
            reason="試験",
        )  # fmt: skip
        conn.execute(  # the owner's manual repair gone wrong: another city's code in front
            text("UPDATE identity.person SET integrated_no = :n WHERE person_id = :p"),
            {"n": "999999" + ref.integrated_no[6:], "p": ref.person_id},
        )
        # … and a 住民記録 全件取込 that died, its staging schema left behind.
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {staging.SCHEMA}"))
    context, page = _login(browser, base_url, staff, "atena3", "mado4")  # a TOTP code is good once
    page.get_by_role("link", name="整合性チェック").click()
    page.wait_for_url("**/atena/check")
    before = (
        page.get_by_test_id("check-runs").locator("tbody tr").count()
        if page.get_by_test_id("check-runs").count()
        else 0
    )
    page.get_by_test_id("check-form").get_by_role("button", name="整合性チェックを実行").click()
    assert "整合性チェックを開始しました" in page.get_by_test_id("flash").inner_text()
    deadline = time.monotonic() + 60
    while True:  # the run goes on after the response; the list shows it once it has finished
        runs = page.get_by_test_id("check-runs")
        if runs.count() and runs.locator("tbody tr").count() > before:
            break
        assert time.monotonic() < deadline, "the check did not finish within 60 s"
        time.sleep(0.5)
        page.reload()
    shot(page, "atena-check-runs")
    runs.locator("tbody tr").first.get_by_role("link").click()
    page.wait_for_url("**/atena/check/*")
    found = page.get_by_test_id("anomalies").locator("tr", has_text=person_no)
    assert found.count() == 1 and "統合宛名番号の形式誤り" in found.inner_text()
    left = page.get_by_test_id("anomalies").locator("tr", has_text="全件取込の作業データ残存")
    assert left.count() == 1 and "全件取込をやり直すと削除されます" in left.inner_text()
    assert not contains_my_number(page.content())
    shot(page, "atena-check-list")
    _logout(page)
    context.close()
    with db_engine.begin() as conn:  # put it right, for the other tests' checks
        conn.execute(text(f"DROP SCHEMA {staging.SCHEMA}"))
        conn.execute(
            text("UPDATE identity.person SET integrated_no = :n WHERE person_id = :p"),
            {"n": ref.integrated_no, "p": ref.person_id},
        )
