"""The 滞納整理 screens over HTTP (TestClient, no browser): who may do what, and CSRF.

Over the dated town of collection.test_payments (A's 2025 賦課 of 21,289円 in 10 期, all past due):
staff without a 介護保険 grant are refused on every route (and each refusal is in the access log); a
介護保険 reader sees the 滞納者一覧 but may not run a 督促, record a 分納計画 or 折衝 or decide a
不納欠損; every POST needs the session's CSRF token; a clerk's 不納欠損 is refused by the service
(係長 only) and nothing is written off.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine, text
from test_api_collection import Staff

from collection.test_payments import assessed
from identity.conftest import app_engine, clean_identity, org, staff_ctx
from kaigo.test_assessment_run import A, atena, city, town
from kiban.security.context import Business
from kiban.shared import clock
from kiban.shared.mynumber import contains_my_number
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

pytestmark = pytest.mark.usefixtures("clean_identity")

DEMANDS = "/collection/demands"
WRITEOFFS = "/collection/writeoffs"
PLANS = f"/kaigo/persons/{A}/arrears/plans"
CONTACTS = f"/kaigo/persons/{A}/arrears/contacts"
GETS = ["/collection/arrears", WRITEOFFS, f"/kaigo/persons/{A}/arrears", "/collection/demands/1/pdf"]


def _staff(engine: Engine, org: Org, role: str, business: Business = Business.KAIGO) -> Staff:
    return Staff(engine, org, f"{role}-{uuid.uuid4().hex[:4]}", [(business, role)])


def _forms(assessed) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    today = clock.today()
    return {
        DEMANDS: {
            "as_of": today.isoformat(),
            "issued_on": today.isoformat(),
            "deadline_days": "10",
            "kind": "demand",
        },
        WRITEOFFS: {"receivable_id": str(assessed[A][0].receivable_id), "reason": "時効の完成"},
        PLANS: {"signed_on": today.isoformat(), "due_on_1": "2099-01-01", "amount_1": "21289"},
        CONTACTS: {"channel": "電話", "summary": "納付を案内"},
    }


def _denials(engine: Engine, staff_code: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM audit.access_log WHERE staff_code = :s AND outcome = 'denied'"),
                {"s": staff_code},
            ).scalar_one()
        )


def _state(engine: Engine) -> tuple[int, int, int, int, int]:
    """(batches, demands, plans, contact notes, write-offs): what a refused request must leave alone."""
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM collection.demand_batch), (SELECT count(*) FROM collection.demand),"
                    " (SELECT count(*) FROM collection.plan), (SELECT count(*) FROM collection.contact_note),"
                    " (SELECT count(*) FROM collection.writeoff)"
                )
            ).one()
        )


def test_staff_without_a_kaigo_grant_are_refused_on_every_route(
    assessed, app_engine: Engine, org: Org
) -> None:
    outsider = _staff(app_engine, org, "clerk", Business.ATENA)
    before_state = _state(app_engine)
    for path in GETS:
        before = _denials(app_engine, outsider.code)
        r = outsider.get(path)
        assert r.status_code == 403 and "権限がありません" in r.text, (path, r.status_code)
        assert "21,289" not in r.text
        assert _denials(app_engine, outsider.code) == before + 1, path
    for path, data in _forms(assessed).items():
        before = _denials(app_engine, outsider.code)
        r = outsider.post(path, data)
        assert r.status_code == 403 and "権限がありません" in r.text, (path, r.status_code)
        assert _denials(app_engine, outsider.code) == before + 1, path
    assert _state(app_engine) == before_state


def test_a_reader_sees_the_list_but_may_not_post(assessed, app_engine: Engine, org: Org) -> None:
    reader = _staff(app_engine, org, "reader")
    # The 滞納者一覧 and the 不納欠損の候補 are a 担当者's searches: the service refuses a reader.
    page = reader.get("/collection/arrears")
    assert page.status_code == 403 and "滞納者一覧を表示できません" in page.text, page.text[:400]
    assert A not in page.text and "21,289円" not in page.text
    assert (
        'data-testid="demand-form"' not in page.text
        and "照会のみの権限では、督促を実行できません" in page.text
    )
    assert reader.get(WRITEOFFS).status_code == 403
    person = reader.get(f"/kaigo/persons/{A}/arrears")
    assert person.status_code == 200 and "給付制限" in person.text
    assert 'data-testid="plan-form"' not in person.text and 'data-testid="contact-form"' not in person.text
    assert not contains_my_number(page.text) and not contains_my_number(person.text)
    before = _state(app_engine)
    for path, data in _forms(assessed).items():
        refused = reader.post(path, data)
        assert refused.status_code == 403, (path, refused.status_code)
        assert "権限がありません" in refused.text and "上位の役割" in refused.text, path
    assert _state(app_engine) == before


def test_every_post_needs_the_csrf_token(assessed, app_engine: Engine, org: Org) -> None:
    clerk = _staff(app_engine, org, "clerk")
    before = _state(app_engine)
    for path, data in _forms(assessed).items():
        missing = clerk.post(path, data, csrf=False)
        assert missing.status_code == 403 and "不正な送信" in missing.text, path
        forged = clerk.post(path, data | {"csrf_token": "forged"}, csrf=False)
        assert forged.status_code == 403 and "不正な送信" in forged.text, path
    assert _state(app_engine) == before
    # With the token the 折衝 is recorded.
    done = clerk.post(CONTACTS, _forms(assessed)[CONTACTS])
    assert done.status_code == 303, done.text[:400]
    assert "納付を案内" in clerk.get(f"/kaigo/persons/{A}/arrears").text


def test_a_clerks_writeoff_is_refused_by_rank(assessed, app_engine: Engine, org: Org) -> None:
    clerk = _staff(app_engine, org, "clerk")
    before = _state(app_engine)
    refused = clerk.post(WRITEOFFS, _forms(assessed)[WRITEOFFS])
    assert refused.status_code == 403, refused.text[:400]
    assert "不納欠損を決定できません" in refused.text and "上位の役割" in refused.text
    nothing = clerk.post(WRITEOFFS, {"reason": "時効の完成"})
    assert nothing.status_code == 422 and "期別を選んでください" in nothing.text
    assert _state(app_engine) == before
    candidates = clerk.get(f"{WRITEOFFS}?on={clock.today().isoformat()}")
    assert candidates.status_code == 200 and "不納欠損の候補" in candidates.text


def test_a_plan_that_does_not_add_up_is_refused(assessed, app_engine: Engine, org: Org) -> None:
    clerk = _staff(app_engine, org, "clerk")
    data = _forms(assessed)[PLANS] | {"amount_1": "20000"}
    refused = clerk.post(PLANS, data)
    assert refused.status_code == 422 and "一致しません" in refused.text
    assert clerk.post(DEMANDS, {"as_of": ""}).status_code == 422
    assert _state(app_engine)[2] == 0
    made = clerk.post(PLANS, _forms(assessed)[PLANS])
    assert made.status_code == 303, made.text[:400]
    listed = clerk.get("/collection/arrears?without_plan=1")
    assert listed.status_code == 200 and f'data-testid="arrears-{A}"' not in listed.text


def test_the_fee_panel_without_an_ordinance_fee(assessed, app_engine: Engine, org: Org) -> None:
    clerk = _staff(app_engine, org, "clerk")
    page = clerk.get(f"/kaigo/persons/{A}/arrears")
    assert (
        page.status_code == 200
        and 'data-testid="no-fees"' in page.text
        and "地方自治法第231条の3第2項" in page.text
    )
    refused = clerk.post(f"/kaigo/persons/{A}/arrears/fees", {"amount": "100"})
    assert refused.status_code == 422 and "未納の督促手数料はありません" in refused.text
    assert clerk.post(f"/kaigo/persons/{A}/arrears/fees", {"amount": "100"}, csrf=False).status_code == 403
    reader = _staff(app_engine, org, "reader")
    assert reader.post(f"/kaigo/persons/{A}/arrears/fees", {"amount": "100"}).status_code == 403


def test_the_restriction_notice_from_the_person_screen(
    assessed, app_engine: Engine, org: Org, monkeypatch
) -> None:
    from datetime import date

    # 1 Sep 2026: A's 第1期 (due 2025-07-31) has been unpaid for over a year (法第66条), not 1年6か月 (第67条).
    monkeypatch.setattr(clock, "today", lambda: date(2026, 9, 1))
    clerk = _staff(app_engine, org, "clerk")
    page = clerk.get(f"/kaigo/persons/{A}/arrears")
    assert 'data-testid="restriction-form"' in page.text
    url = f"/kaigo/persons/{A}/arrears/restriction.pdf"
    pdf = clerk.get(f"{url}?kind=change_decision&start_on=2026-10-01")
    assert (
        pdf.status_code == 200
        and pdf.headers["content-type"] == "application/pdf"
        and pdf.content[:5] == b"%PDF-"
        and pdf.headers["cache-control"] == "no-store"
    )
    refused = clerk.get(f"{url}?kind=suspension_decision&start_on=2026-10-01")
    assert refused.status_code == 422 and "一時差止の要件" in refused.text
    assert clerk.get(f"{url}?kind=change_advance&start_on=2026-10-01").status_code == 422  # no 弁明 deadline
    reader = _staff(app_engine, org, "reader")
    assert reader.get(f"{url}?kind=change_decision&start_on=2026-10-01").status_code == 403
