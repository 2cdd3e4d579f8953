"""The 収納・滞納 screens over HTTP (TestClient, no browser): who may do what, and CSRF.

Over the dated town of collection.test_payments (A's 2025 賦課 of 21,289円 in 10 期 with 納付番号):
staff without a 介護保険 grant are refused on every route, and each refusal is in the access log; a
介護保険 reader sees A's 収納状況 but may not record a 窓口収納, import a file or make the 調定; every
POST needs the session's CSRF token; a clerk may not put a payment on another person's 期別 from A's
screen; the 調定 made from the screen reports its counts.
"""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from collection.test_payments import assessed, file, rows_of
from identity.conftest import app_engine, clean_identity, org, staff_ctx
from kaigo.test_assessment_run import FY, A, B, atena, city, town
from kiban.kaigo.assessment import jobs as assess_jobs
from kiban.security import totp
from kiban.security.context import Business
from kiban.shared.mynumber import contains_my_number
from kiban.web.app import create_app
from kiban.web.session import SESSION_COOKIE, TERMINAL_COOKIE
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

IMPORT = "/collection/payments/import"
FY_END = __import__("datetime").date(2026, 3, 31)
SYNC = "/collection/receivables/sync"
PAY = f"/kaigo/persons/{A}/account/payments"
ROUTES = [
    ("GET", f"/kaigo/persons/{A}/account"),
    ("POST", PAY),
    ("GET", IMPORT),
    ("POST", IMPORT),
    ("POST", SYNC),
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

    def post(
        self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True, upload: bytes | None = None
    ):  # type: ignore[no-untyped-def]
        form = ({"csrf_token": self.csrf} if csrf else {}) | (data or {})
        files = {"file": ("bank.csv", upload, "text/csv")} if upload is not None else None
        return self.client.post(path, data=form, files=files)


def _staff(engine: Engine, org: Org, role: str, business: Business = Business.KAIGO) -> Staff:
    return Staff(engine, org, f"{role}-{uuid.uuid4().hex[:4]}", [(business, role)])


def _denials(engine: Engine, staff_code: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM audit.access_log WHERE staff_code = :s AND outcome = 'denied'"),
                {"s": staff_code},
            ).scalar_one()
        )


def _state(engine: Engine) -> tuple[int, int, int, int]:
    """(payments, files, paid yen, receivables): what a refused request must leave alone."""
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM collection.payment), (SELECT count(*) FROM collection.payment_file),"
                    " (SELECT coalesce(sum(paid), 0) FROM collection.receivable),"
                    " (SELECT count(*) FROM collection.receivable)"
                )
            ).one()
        )


def _bank(assessed) -> bytes:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:8]  # payment_file is not emptied between tests: a fresh file each time
    return file(f"{tag}-1,{assessed[A][0].payment_no},2025-07-30,2389,基盤銀行")


def _forms(assessed) -> dict[str, tuple[dict[str, str], bytes | None]]:  # type: ignore[no-untyped-def]
    return {
        PAY: ({"payment_no": assessed[A][2].payment_no, "amount": "2100", "paid_on": "2025-09-30"}, None),
        IMPORT: ({"channel": "bank"}, _bank(assessed)),
        SYNC: ({"fiscal_year": str(FY)}, None),
    }


def test_staff_without_a_kaigo_grant_are_refused_on_every_route(
    assessed, app_engine: Engine, org: Org
) -> None:
    outsider = _staff(app_engine, org, "clerk", Business.ATENA)
    forms = _forms(assessed)
    before_state = _state(app_engine)
    for method, path in ROUTES:
        before = _denials(app_engine, outsider.code)
        if method == "GET":
            r = outsider.get(path)
        else:
            data, upload = forms[path]
            r = outsider.post(path, data, upload=upload)
        assert r.status_code == 403, (method, path, r.status_code)
        assert "権限がありません" in r.text
        assert "21,289" not in r.text and assessed[A][0].payment_no not in r.text
        assert _denials(app_engine, outsider.code) == before + 1, (method, path)
    assert _state(app_engine) == before_state


def test_a_reader_sees_the_account_but_may_not_record_a_payment(
    assessed, app_engine: Engine, org: Org
) -> None:
    reader = _staff(app_engine, org, "reader")
    page = reader.get(f"/kaigo/persons/{A}/account")
    assert page.status_code == 200, page.text[:400]
    assert "21,289円" in page.text and "収納状況" in page.text
    assert 'data-testid="counter-list"' not in page.text  # no 窓口収納 form for 照会のみ
    assert "照会のみの権限では、窓口収納を記録できません" in page.text
    assert not contains_my_number(page.text)
    imports = reader.get(IMPORT)
    assert imports.status_code == 200 and 'data-testid="import-form"' not in imports.text
    before = _state(app_engine)
    for path, (data, upload) in _forms(assessed).items():
        refused = reader.post(path, data, upload=upload)
        assert refused.status_code == 403, (path, refused.status_code)
        assert "権限がありません" in refused.text and "上位の役割" in refused.text, path
    assert _state(app_engine) == before
    assert rows_of(app_engine, A)[2].paid == 0


def test_every_post_needs_the_csrf_token(assessed, app_engine: Engine, org: Org) -> None:
    clerk = _staff(app_engine, org, "clerk")
    before = _state(app_engine)
    for path, (data, upload) in _forms(assessed).items():
        missing = clerk.post(path, data, csrf=False, upload=upload)
        assert missing.status_code == 403 and "不正な送信" in missing.text, path
        forged = clerk.post(path, data | {"csrf_token": "forged"}, csrf=False, upload=upload)
        assert forged.status_code == 403 and "不正な送信" in forged.text, path
    assert _state(app_engine) == before
    # With the token the 窓口収納 is recorded and the 期別 settled.
    data, _ = _forms(assessed)[PAY]
    done = clerk.post(PAY, data)
    assert done.status_code == 303, done.text[:400]
    assert done.headers["location"].startswith(f"/kaigo/persons/{A}/account")
    assert rows_of(app_engine, A)[2].paid == 2_100


def test_a_clerk_may_not_pay_another_persons_period_from_this_screen(
    assessed, app_engine: Engine, org: Org
) -> None:
    clerk = _staff(app_engine, org, "clerk")
    before = _state(app_engine)
    other = clerk.post(PAY, {"payment_no": assessed[B][0].payment_no, "amount": "100"})
    assert other.status_code == 422 and "この方の介護保険料の期別の納付番号ではありません" in other.text
    bad = clerk.post(PAY, {"payment_no": assessed[A][0].payment_no, "amount": "二千円"})
    assert bad.status_code == 422 and "金額は1円以上の整数" in bad.text
    future = clerk.post(
        PAY, {"payment_no": assessed[A][0].payment_no, "amount": "100", "paid_on": "2099-01-01"}
    )
    assert future.status_code == 422 and "未来の日付" in future.text
    assert _state(app_engine) == before
    empty = clerk.post(IMPORT, {"channel": "bank"})
    assert empty.status_code == 422 and "収納ファイルを選んでください" in empty.text
    counter = clerk.post(IMPORT, {"channel": "counter"}, upload=_bank(assessed))
    assert counter.status_code == 422 and "収納区分を選んでください" in counter.text
    assert _state(app_engine) == before


def test_the_receivables_made_from_the_screen_report_their_counts(town, app_engine: Engine, org: Org) -> None:
    assess_jobs.assess(app_engine, fiscal_year=FY)
    clerk = _staff(app_engine, org, "clerk")
    assert clerk.post(SYNC, {"fiscal_year": "来年"}).status_code == 422
    made = clerk.post(SYNC, {"fiscal_year": str(FY)})
    assert made.status_code == 303, made.text[:400]
    created = _state(app_engine)[3]
    assert created > 0
    page = clerk.get(made.headers["location"].split("#")[0])
    assert page.status_code == 200
    assert f"の調定を作成しました: 対象 6人・新たな期別 {created}件・更正 0件" in page.text
    again = clerk.post(SYNC, {"fiscal_year": str(FY)})
    assert again.status_code == 303 and _state(app_engine)[3] == created
    assert "新たな期別 0件" in clerk.get(IMPORT).text


def test_overpayment_appropriated_refunded_by_a_chief_and_the_receipt_certificate(
    app_engine: Engine, org: Org, assessed, staff_ctx
) -> None:
    from kiban.collection import payments

    clerk = _staff(app_engine, org, "clerk")
    chief = _staff(app_engine, org, "chief")
    a = assessed[A]
    # 第1期 paid with 10,000 too much on 2025-07-30 (bank file), as a clerk imports it.
    ctx = staff_ctx(Business.KAIGO, purpose="kaigo.collection")
    data = file(f"{uuid.uuid4().hex[:8]},{a[0].payment_no},2025-07-30,12389,基盤銀行")
    payments.import_payments(app_engine, ctx, channel="bank", data=data, file_name="x.csv", today=FY_END)
    # 充当 from the screen: to the oldest unpaid 期別 past due (today is after every 納期限 of FY2025).
    done = clerk.post(f"/kaigo/persons/{A}/account/appropriate")
    assert done.status_code == 303, done.text
    paid = [r.paid for r in rows_of(app_engine, A)]
    assert paid[:5] == [2_389, 2_100, 2_100, 2_100, 2_100] and sum(paid) == 2_389 + 10_000
    # Nothing left to refund now; a clerk may not decide a refund at all (係長).
    refused = clerk.post(f"/kaigo/persons/{A}/account/refund", {"method": "窓口払"})
    assert refused.status_code == 403 and "還付を決定できません" in refused.text
    nothing = chief.post(f"/kaigo/persons/{A}/account/refund", {"method": "窓口払"})
    assert nothing.status_code == 422 and "還付する過誤納はありません" in nothing.text
    incomplete = chief.post(f"/kaigo/persons/{A}/account/refund", {"method": "口座振込"})
    assert incomplete.status_code == 422 and "支払予定日" in incomplete.text
    receipt = clerk.get(f"/kaigo/persons/{A}/account/receipt.pdf?period_from=2025-01-01&period_to=2026-12-31")
    assert receipt.status_code == 200 and receipt.headers["content-type"] == "application/pdf"
    assert receipt.headers["cache-control"] == "no-store"
    assert receipt.content.startswith(b"%PDF")
    page = clerk.get(f"/kaigo/persons/{A}/account")
    assert "過誤納の充当・還付" in page.text and not contains_my_number(page.text)
