"""The 自動応答不可 review in a real Chromium: a 監督者 of the 中間サーバー releases a held provision.

A request for a person's 介護保険 資格 including the 施設名 (自動応答不可) waits in the queue; the
supervisor opens it from the menu, sees what would be sent, releases it; the queue is empty, the
answer waits for the sender and opens with the inquirer's private key; the 情報提供等記録 screen
shows both records and an intact chain. No screen shows a 符号 or a 個人番号.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_support import HELD_ITEMS, City, Network, provide, provider_person, request_for

from kiban.db.engine import get_app_engine
from kiban.gateway import provision
from kiban.network import protocol
from kiban.security.context import Business
from kiban.shared.mynumber import contains_my_number
from kiban.web.app import create_app
from security_factories import PASSWORD, Org, terminal_awaiting_enrolment
from web.ui_support import ARGS, CHROMIUM, serve, shot

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/setup.sh (apt package chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def base_url(database_url: str) -> Iterator[str]:
    with serve(create_app(get_app_engine(database_url))) as url:
        yield url


def _login(browser, base_url: str, org: Org, dep: str, terminal: str, staff: str):  # type: ignore[no-untyped-def]
    """Enrol the terminal and sign in (the 中間サーバー is not a 個人番号利用事務: no second factor)."""
    enrol = terminal_awaiting_enrolment(org.engine, org.code(terminal), dep)
    context = browser.new_context(locale="ja-JP", viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.goto(f"{base_url}/terminal/enrol?terminal_code={org.code(terminal)}&code={enrol}")
    page.get_by_role("button", name="この端末を登録する").click()
    page.wait_for_url("**/login")
    page.get_by_label("職員ID").fill(org.code(staff))
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_load_state()
    return context, page


def test_supervisor_releases_a_held_provision(
    base_url: str, browser, database_url: str, cities: tuple[City, City], network: Network, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    asker, giver = cities
    engine = get_app_engine(database_url)
    monkeypatch.setenv("KIBAN_CITY_CODE", giver.code)  # this app is the provider's 中間サーバー
    _, token = provider_person(engine, giver)
    inquirer_key = protocol.new_exchange_key()
    permit = network.permit(
        inquirer=asker.kaigo, provider=giver.kaigo, provider_token=token, items=HELD_ITEMS
    )
    request = request_for(permit, inquirer_key)
    assert provide(engine, giver, request).status == "held"

    org = Org(engine, uuid.uuid4().hex[:6])
    dep = org.department("chukan")
    org.staff("kantoku", dep, [(Business.CHUKAN, "supervisor")])
    context, page = _login(browser, base_url, org, dep, "chukan-t1", "kantoku")
    try:
        page.get_by_role("link", name="自動応答不可の確認").first.click()
        page.wait_for_url("**/gateway/held")
        row = page.get_by_test_id(f"held-{request.request_id}")
        # Items by their Japanese names (照会許可用照合リスト labels), the held one named.
        assert "入所施設名" in row.inner_text() and asker.kaigo in row.inner_text()
        shot(page, "gateway-held-queue")
        row.get_by_role("link", name="確認").click()
        page.wait_for_url(f"**/gateway/held/{request.request_id}")
        items = page.get_by_test_id("held-items").inner_text()
        assert "特別養護老人ホーム 基盤の里" in items and "自動応答不可" in items and "保険者番号" in items
        assert token not in page.content() and not contains_my_number(page.content())
        page.get_by_label("確認メモ（任意）").fill("施設名の提供を確認")
        shot(page, "gateway-held-detail")
        page.get_by_test_id("release").click()
        page.wait_for_url("**/gateway/held")
        assert "送信待ち" in page.get_by_test_id("flash").inner_text()
        assert page.get_by_test_id("held-empty").is_visible()
        shot(page, "gateway-held-released")

        page.get_by_role("link", name="情報提供等記録").first.click()
        page.wait_for_url("**/gateway/records")
        page.get_by_role("button", name="検索").click()
        page.wait_for_load_state()
        assert page.get_by_test_id("chain-ok").is_visible()
        table = page.get_by_test_id("records").inner_text()
        assert "確認のうえ提供" in table and "自動応答不可（確認待ち）" in table
        assert token not in page.content()
        shot(page, "gateway-records")
    finally:
        context.close()

    with engine.begin() as conn:
        ((agency, answer),) = provision.pending_answers(conn, city_code=giver.code)
    assert agency == asker.kaigo and answer.status == "provided"
    opened = json.loads(
        protocol.open_sealed(
            inquirer_key,
            protocol.Sealed.from_json(answer.sealed_answer or {}),
            protocol.answer_aad(request.request_id, permit.permit_id),
        )
    )
    assert opened["items"]["facility_name"] == "特別養護老人ホーム 基盤の里"
