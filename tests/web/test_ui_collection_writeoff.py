"""A completed 不納欠損 decision in a real Chromium: a 係長 of the 介護保険 section.

Besides the dated town's 2025 期別, A has two 2023 期別 (due 2023-07-31 and 2023-08-31, 2,000円 and
1,500円, never paid nor demanded): their 時効 (介護保険法第200条: 2年, 民法第140条・第143条) completed on
2025-07-31 and 2025-08-31, so on any day since they are 不納欠損の候補 (地方自治法第236条第2項: no 援用
needed). The 係長 opens 滞納整理 → 不納欠損の候補, checks both, decides, and sees the flash with the count and
amount; the candidates are gone, the decision is recorded (collection.writeoff, with the 係長 and the
reason) and logged. No screen shows a 12-digit 個人番号.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, text
from ui_support import enrol_and_login, serve, shot

from collection.test_payments import assessed
from identity.conftest import app_engine, clean_identity, org, staff_ctx
from kaigo.test_assessment_run import A, atena, city, town
from kiban.collection.receivables import InstallmentIn, set_installments
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


@pytest.fixture
def old_periods(assessed, app_engine: Engine) -> list[int]:
    with app_engine.begin() as conn:
        person_id = conn.execute(
            text("SELECT person_id FROM identity.person WHERE person_no = :p"), {"p": A}
        ).scalar_one()
        set_installments(
            conn, business="kaigo", person_id=int(person_id), person_no=A, fiscal_year=2023,
            installments=[InstallmentIn("ordinary", 1, "第1期", date(2023, 7, 31), 2_000),
                          InstallmentIn("ordinary", 2, "第2期", date(2023, 8, 31), 1_500)],
            source="test:2023",
        )  # fmt: skip
        return [
            int(r)
            for r in conn.execute(
                text(
                    "SELECT receivable_id FROM collection.receivable WHERE person_id = :p AND fiscal_year = 2023"
                    " ORDER BY period"
                ),
                {"p": person_id},
            ).scalars()
        ]


def test_a_chief_decides_the_writeoff_of_prescribed_periods(
    old_periods, base_url: str, browser, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    assert clock.today() > date(2025, 8, 31)
    engine = get_app_engine(database_url)
    org = Org(engine, uuid.uuid4().hex[:6])
    dep = org.department("kaigo")
    secret = totp.new_secret()
    org.staff("kesson-k1", dep, [(Business.KAIGO, "chief")], totp_secret=secret)
    context, page = enrol_and_login(browser, base_url, org, dep, "kesson-t1", "kesson-k1", secret)

    page.get_by_role("link", name="滞納整理").first.click()
    page.wait_for_url("**/collection/arrears")
    page.get_by_test_id("writeoff-link").click()
    page.wait_for_url("**/collection/writeoffs")
    first, second = (page.get_by_test_id(f"candidate-{rid}") for rid in old_periods)
    assert (
        "第1期" in first.inner_text()
        and "2,000円" in first.inner_text()
        and "令和7年8月1日" in first.inner_text()
    )
    assert "第2期" in second.inner_text() and "1,500円" in second.inner_text()
    assert not contains_my_number(page.content())

    page.get_by_label(f"{A} 第1期を選ぶ").first.check()
    page.get_by_label(f"{A} 第2期を選ぶ").first.check()
    form = page.get_by_test_id("writeoff-form")
    assert form.get_by_label("理由").input_value() == "時効の完成（介護保険法第200条）"
    shot(page, "collection-writeoff")
    form.get_by_role("button", name="不納欠損を決定").click()
    page.wait_for_url("**/collection/writeoffs*")
    assert "2件・3,500円の不納欠損を決定しました。" in page.get_by_test_id("flash").inner_text()
    for rid in old_periods:
        assert page.get_by_test_id(f"candidate-{rid}").count() == 0
    assert not contains_my_number(page.content())
    context.close()

    with engine.connect() as conn:
        decided = conn.execute(
            text(
                "SELECT w.receivable_id, w.amount, w.reason, s.code FROM collection.writeoff w"
                " JOIN security.staff s ON s.staff_id = w.decided_by WHERE w.receivable_id = ANY(:ids)"
                " ORDER BY w.receivable_id"
            ),
            {"ids": old_periods},
        ).all()
        logged = (
            conn.execute(
                text(
                    "SELECT detail->>'amount' FROM audit.access_log WHERE detail->>'what' = 'collection.writeoff.decide'"
                    " AND :p = ANY(subjects) AND outcome = 'ok' AND action = 'approve' AND staff_code = :s"
                ),
                # This chief's row: the log is append-only, and other tests decide for A too.
                {"p": A, "s": org.code("kesson-k1")},
            )
            .scalars()
            .all()
        )
    assert [(r.amount, r.reason, r.code) for r in decided] == [
        (2_000, "時効の完成（介護保険法第200条）", org.code("kesson-k1")),
        (1_500, "時効の完成（介護保険法第200条）", org.code("kesson-k1")),
    ]
    assert logged == ["3500"]  # the decision's access-log row, in its transaction
