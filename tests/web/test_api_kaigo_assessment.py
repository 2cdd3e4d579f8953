"""The 介護保険料 賦課 screens over HTTP (TestClient, no browser): who may do what, and CSRF.

Over the dated town of kaigo.test_assessment_run (A 第1段階 21,289円; B 第7段階 48,555円 for 6 months):
a 介護保険 reader sees a person's 保険料 but may not take a 減免申請; the clerk who took one may not
decide it (a 係長 must, and gives a reason); every POST needs the session's CSRF token; staff
without a 介護保険 grant are refused on every route, and each refusal is in the access log.
"""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from identity.conftest import app_engine, clean_identity, org, staff_ctx
from kaigo.test_assessment_run import FY, A, B, atena, city, town
from kiban.kaigo.assessment import jobs as assess_jobs
from kiban.security import totp
from kiban.security.context import Business
from kiban.shared.mynumber import contains_my_number
from kiban.web.app import create_app
from kiban.web.session import SESSION_COOKIE, TERMINAL_COOKIE
from security_factories import Org

__all__ = ["app_engine", "atena", "city", "clean_identity", "org", "staff_ctx", "town"]  # fixtures by name

pytestmark = pytest.mark.usefixtures("clean_identity")

ROUTES = [
    ("GET", f"/kaigo/persons/{A}/premium"),
    ("POST", f"/kaigo/persons/{A}/premium/reductions"),
    ("GET", f"/kaigo/persons/{A}/premium/{FY}/notice.pdf"),
    ("POST", "/kaigo/premium/reductions/1/decide"),
    ("GET", "/kaigo/premium/bulk"),
    ("POST", "/kaigo/premium/bulk"),
    ("GET", "/kaigo/premium/bulk/1"),
    ("GET", "/kaigo/premium/bulk/1/pdf"),
    ("POST", "/kaigo/premium/assess"),
    ("GET", f"/kaigo/premium/export.csv?fiscal_year={FY}"),
]


class Staff:
    """A signed-in staff member: a TestClient with the cookies, and the session's CSRF token."""

    def __init__(self, engine: Engine, org: Org, name: str, grants: list[tuple[Business, str]]) -> None:
        dep = org.department("kaigo-ka")
        secret = totp.new_secret()
        org.staff(name, dep, grants, totp_secret=secret)
        term, term_secret = org.terminal(f"term-{name}", dep)
        token, session = org.login(name, term, secret=secret)
        self.code = org.code(name)
        self.csrf = session.csrf_token
        self.client = TestClient(create_app(engine), follow_redirects=False)
        self.client.cookies.set(TERMINAL_COOKIE, term_secret)
        self.client.cookies.set(SESSION_COOKIE, token)

    def get(self, path: str):  # type: ignore[no-untyped-def]
        return self.client.get(path)

    def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True):  # type: ignore[no-untyped-def]
        return self.client.post(path, data=({"csrf_token": self.csrf} if csrf else {}) | (data or {}))


def _staff(engine: Engine, org: Org, role: str, business: Business = Business.KAIGO) -> Staff:
    return Staff(engine, org, f"{role}-{uuid.uuid4().hex[:4]}", [(business, role)])


def _reductions(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [
            (r.person_no, r.status)
            for r in conn.execute(
                text(
                    "SELECT p.person_no, r.status FROM kaigo.reduction r JOIN kaigo.insured i USING (insured_id)"
                    " JOIN identity.person p ON p.person_id = i.person_id ORDER BY r.reduction_id"
                )
            )
        ]


def _denials(engine: Engine, staff_code: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM audit.access_log WHERE staff_code = :s AND outcome = 'denied'"),
                {"s": staff_code},
            ).scalar_one()
        )


APPLY = {
    "fiscal_year": str(FY),
    "reason": "disaster",
    "detail": "令和7年9月の台風により住家が半壊（罹災証明書あり）",
    "applied_on": "2025-10-20",
}


def test_a_reader_sees_the_premium_but_may_not_take_a_reduction(town, app_engine: Engine, org: Org) -> None:
    assess_jobs.assess(app_engine, fiscal_year=FY)
    reader = _staff(app_engine, org, "reader")
    page = reader.get(f"/kaigo/persons/{A}/premium")
    assert page.status_code == 200, page.text[:400]
    assert "第1段階" in page.text and "21,289円" in page.text
    assert 'data-testid="reduction-form"' not in page.text  # not offered to 照会のみ
    assert "/notice.pdf" not in page.text
    assert not contains_my_number(page.text)
    refused = reader.post(f"/kaigo/persons/{A}/premium/reductions", APPLY)
    assert refused.status_code == 403
    assert "権限がありません" in refused.text and "上位の役割" in refused.text
    assert _reductions(app_engine) == []
    # The notice and the export need a 担当者 too.
    assert reader.get(f"/kaigo/persons/{A}/premium/{FY}/notice.pdf").status_code == 403
    assert reader.get(f"/kaigo/premium/export.csv?fiscal_year={FY}").status_code == 403


def test_every_post_needs_the_csrf_token(town, app_engine: Engine, org: Org) -> None:
    assess_jobs.assess(app_engine, fiscal_year=FY)
    clerk = _staff(app_engine, org, "clerk")
    chief = _staff(app_engine, org, "chief")
    for path, data in [
        (f"/kaigo/persons/{B}/premium/reductions", APPLY),
        ("/kaigo/premium/bulk", {"fiscal_year": str(FY)}),
        ("/kaigo/premium/assess", {"assess_year": str(FY)}),
    ]:
        r = clerk.post(path, data, csrf=False)
        assert r.status_code == 403 and "不正な送信" in r.text, path
        forged = clerk.client.post(path, data=data | {"csrf_token": "forged"})
        assert forged.status_code == 403, path
    assert _reductions(app_engine) == []
    with app_engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM kaigo.notice_batch WHERE fiscal_year = :fy"), {"fy": FY}
            ).scalar_one()
            == 0
        )
    # With the token the application is taken; the decision without one is refused and changes nothing.
    taken = clerk.post(f"/kaigo/persons/{B}/premium/reductions", APPLY)
    assert taken.status_code == 303, taken.text[:400]
    with app_engine.connect() as conn:
        (rid,) = [int(x) for x in conn.execute(text("SELECT reduction_id FROM kaigo.reduction")).scalars()]
    decide = {"decision": "approve", "amount": "24277", "note": "半壊のため2分の1"}
    assert chief.post(f"/kaigo/premium/reductions/{rid}/decide", decide, csrf=False).status_code == 403
    assert _reductions(app_engine) == [(B, "applied")]


def test_the_clerk_who_took_it_may_not_decide_a_chief_must_with_a_reason(
    town, app_engine: Engine, org: Org
) -> None:
    assess_jobs.assess(app_engine, fiscal_year=FY)
    clerk = _staff(app_engine, org, "clerk")
    chief = _staff(app_engine, org, "chief")
    # Refused input: the panel again (422) with the message and the typed text kept.
    missing = clerk.post(f"/kaigo/persons/{B}/premium/reductions", APPLY | {"reason": ""})
    assert missing.status_code == 422 and "事由を選んでください" in missing.text
    assert APPLY["detail"] in missing.text
    bad_amount = clerk.post(f"/kaigo/persons/{B}/premium/reductions", APPLY | {"requested_amount": "2万円"})
    assert bad_amount.status_code == 422 and "申請額は円単位" in bad_amount.text
    taken = clerk.post(f"/kaigo/persons/{B}/premium/reductions", APPLY | {"requested_amount": "24,277円"})
    assert taken.status_code == 303
    assert taken.headers["location"] == f"/kaigo/persons/{B}/premium"
    with app_engine.connect() as conn:
        rid = int(conn.execute(text("SELECT max(reduction_id) FROM kaigo.reduction")).scalar_one())
    url = f"/kaigo/premium/reductions/{rid}/decide"
    decide = {"decision": "approve", "amount": "24277", "note": "半壊のため2分の1"}
    # The clerk (担当者, rank 1) is refused by the guard: the panel with the message, 403.
    by_clerk = clerk.post(url, decide)
    assert by_clerk.status_code == 403 and "減免を決定できません" in by_clerk.text
    # The clerk's panel offers no decision form.
    assert f'data-testid="decide-{rid}"' not in clerk.get(f"/kaigo/persons/{B}/premium").text
    # The chief sees it; without a reason, or above the 賦課額, the rules refuse (422).
    assert f'data-testid="decide-{rid}"' in chief.get(f"/kaigo/persons/{B}/premium").text
    no_reason = chief.post(url, decide | {"note": ""})
    assert no_reason.status_code == 422 and "決定の理由を入力してください" in no_reason.text
    too_much = chief.post(url, decide | {"amount": "48556"})
    assert too_much.status_code == 422 and "賦課額" in too_much.text
    assert _reductions(app_engine) == [(B, "applied")]
    done = chief.post(url, decide)
    assert done.status_code == 303
    page = chief.get(f"/kaigo/persons/{B}/premium")
    assert "24,278円" in page.text and "承認" in page.text and "減免" in page.text
    assert _reductions(app_engine) == [(B, "approved")]
    again = chief.post(url, decide)
    assert again.status_code == 422 and "決定済み" in again.text
    assert chief.post("/kaigo/premium/reductions/999999999/decide", decide).status_code == 404


def test_bad_requests_are_answered_in_japanese(town, app_engine: Engine, org: Org) -> None:
    clerk = _staff(app_engine, org, "clerk")
    # No 賦課 yet: the notice and the application are refused with the rules' message.
    notice = clerk.get(f"/kaigo/persons/{A}/premium/{FY}/notice.pdf")
    assert notice.status_code == 404 and "賦課がありません" in notice.text
    applied = clerk.post(f"/kaigo/persons/{A}/premium/reductions", APPLY)
    assert applied.status_code == 422 and "賦課がありません" in applied.text
    unknown = clerk.get("/kaigo/persons/1999999999/premium")
    assert unknown.status_code == 404 and "登録されていません" in unknown.text
    uncovered = clerk.post("/kaigo/premium/assess", {"assess_year": "2023"})
    assert uncovered.status_code == 422 and "賦課処理を実行できません" in uncovered.text
    export = clerk.get("/kaigo/premium/export.csv")
    assert export.status_code == 422 and "年度を選んでください" in export.text
    # The run from the screen: counts in the message, the CSV afterwards.
    assert clerk.get("/kaigo/premium/bulk").status_code == 200
    run = clerk.post("/kaigo/premium/assess", {"assess_year": str(FY)})
    assert run.status_code == 303
    listed = clerk.get("/kaigo/premium/bulk")
    assert listed.status_code == 200 and "本算定" in listed.text and "6件" in listed.text
    csv_ = clerk.get(f"/kaigo/premium/export.csv?fiscal_year={FY}")
    assert csv_.status_code == 200 and csv_.headers["content-type"].startswith("text/csv")
    assert csv_.headers["content-disposition"].startswith("attachment")
    lines = csv_.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("年度,被保険者番号") and len(lines) == 7
    assert not contains_my_number(csv_.content.decode("utf-8-sig"))


def test_staff_without_a_kaigo_grant_are_refused_on_every_route(town, app_engine: Engine, org: Org) -> None:
    assess_jobs.assess(app_engine, fiscal_year=FY)
    outsider = _staff(app_engine, org, "clerk", Business.ATENA)
    for method, path in ROUTES:
        before = _denials(app_engine, outsider.code)
        r = outsider.get(path) if method == "GET" else outsider.post(path, APPLY)
        assert r.status_code == 403, (method, path, r.status_code)
        assert "権限がありません" in r.text
        assert _denials(app_engine, outsider.code) == before + 1, (method, path)
    assert _reductions(app_engine) == []
