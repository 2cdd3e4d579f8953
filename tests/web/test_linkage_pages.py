"""The 庁内連携管理 screens over HTTP (TestClient): apply, decide by another administrator, revoke,
search the 連携記録 — refusals in Japanese naming the field, nothing half-written, no 個人番号 shown."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from kiban.db import outbox
from kiban.db.engine import get_app_engine
from kiban.linkage import delivery
from kiban.security import totp
from kiban.security.context import Business
from kiban.shared.mynumber import contains_my_number
from kiban.web.app import create_app
from kiban.web.session import SESSION_COOKIE, TERMINAL_COOKIE
from security_factories import Org

FORM = {
    "consumer": "juki",
    "dataset": "kaigo.qualification",
    "items": ["insured_no", "acquired_on"],
    "basis_code": "jumin-kihon-daicho-7",
    "purpose": "住民票への資格の記載",
    "conditions": "記載以外に使用しない",
    "valid_from": "2025-04-01",
    "valid_to": "",
}


class Staff:
    def __init__(self, engine: Engine, org: Org, role: str, business: Business = Business.RENKEI) -> None:
        name = f"{role}-{uuid.uuid4().hex[:4]}"
        dep = org.department("renkei-ka")
        secret = totp.new_secret()
        self.staff_id = org.staff(name, dep, [(business, role)], totp_secret=secret)
        term, term_secret = org.terminal(f"term-{name}", dep)
        token, session = org.login(name, term, secret=secret)
        self.csrf = session.csrf_token
        self.client = TestClient(create_app(engine), follow_redirects=False)
        self.client.cookies.set(TERMINAL_COOKIE, term_secret)
        self.client.cookies.set(SESSION_COOKIE, token)

    def get(self, path: str, **params: str):  # type: ignore[no-untyped-def]
        response = self.client.get(path, params=params)
        assert not contains_my_number(response.text), path
        return response

    def post(self, path: str, data: dict[str, object]):  # type: ignore[no-untyped-def]
        response = self.client.post(path, data={"csrf_token": self.csrf} | data)
        assert not contains_my_number(response.text), path
        return response


@pytest.fixture
def engine(database_url: str, db_engine: Engine) -> Engine:
    with db_engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE linkage.inbox, linkage.transfer, linkage.refusal, linkage.subscription, "
                "linkage.application, kiban_meta.outbox, kiban_meta.outbox_cursor RESTART IDENTITY CASCADE"
            )
        )
    return get_app_engine(database_url)


@pytest.fixture
def org(engine: Engine) -> Org:
    return Org(engine, uuid.uuid4().hex[:8])


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_apply_then_another_administrator_approves_and_the_transfer_is_on_record(
    engine: Engine, db_engine: Engine, org: Org
) -> None:
    operator, approver = Staff(engine, org, "operator"), Staff(engine, org, "approver")
    page = operator.get("/linkage/applications/new", dataset="kaigo.qualification")
    assert page.status_code == 200 and "被保険者番号" in page.text and "使用目的" in page.text
    r = operator.post("/linkage/applications", FORM)
    assert r.status_code == 303, r.text[:400]
    app_path = r.headers["location"]
    mine = operator.get(app_path)
    assert "承認待ち" in mine.text and "ご自身が申請した承認願は決裁できません" in mine.text
    refused = operator.post(app_path + "/approve", {"note": ""})
    assert refused.status_code in (403, 422)  # an operator may not decide, and never their own
    assert count(engine, "linkage.subscription") == 0
    ok = approver.post(app_path + "/approve", {"note": "根拠を確認"})
    assert ok.status_code == 303
    assert "承認" in approver.get(app_path).text
    subs = approver.get("/linkage/subscriptions")
    assert "住民記録システム" in subs.text and "被保険者番号" in subs.text

    with db_engine.begin() as conn:
        outbox.emit(conn, "kaigo.qualification.acquired", "1700000009",
                    {"person_no": "1700000009", "insured_no": "0000000009", "acquired_on": "2026-04-01",
                     "category": 1}, occurred_on=date(2026, 4, 1))  # fmt: skip
    with db_engine.begin() as conn:
        assert delivery.deliver_pending(conn, consumer="juki") == 1
    log = approver.get("/linkage/transfers", consumer="juki", dataset="kaigo.qualification")
    assert log.status_code == 200 and "1700000009" in log.text and "該当 1件" in log.text
    none = approver.get("/linkage/transfers", consumer="kenko")
    assert "該当する連携記録はありません" in none.text
    bad = approver.get("/linkage/transfers", date_from="昨日")
    assert bad.status_code == 422 and "期間（開始日）" in bad.text

    with engine.connect() as conn:
        sub_id = int(conn.execute(text("SELECT subscription_id FROM linkage.subscription")).scalar_one())
    blank = approver.post(f"/linkage/subscriptions/{sub_id}/revoke", {"reason": ""})
    assert blank.status_code == 422 and "取消の理由" in blank.text
    done = approver.post(f"/linkage/subscriptions/{sub_id}/revoke", {"reason": "事業終了"})
    assert done.status_code == 303
    assert "取消" in approver.get("/linkage/subscriptions").text


def test_a_bad_application_names_the_field_and_writes_nothing(engine: Engine, org: Org) -> None:
    operator = Staff(engine, org, "operator")
    r = operator.post("/linkage/applications", FORM | {"consumer": "chukan", "dataset": "atena.basic",
                                                         "items": ["my_number"], "basis_code": "bango19-8-shorei-kaigo"})  # fmt: skip
    assert r.status_code == 422
    assert (
        "提出できません" in r.text and "使用データ（項目）" in r.text and "個人番号利用事務ではない" in r.text
    )
    r = operator.post("/linkage/applications", FORM | {"valid_from": "いつか"})
    assert r.status_code == 422 and "使用期間（開始日）" in r.text
    assert count(engine, "linkage.application") == 0


def test_the_catalogue_marks_the_my_number_item_and_refuses_other_businesses(
    engine: Engine, org: Org
) -> None:
    page = Staff(engine, org, "operator").get("/linkage/catalogue")
    assert page.status_code == 200
    assert "宛名基本情報" in page.text and "含む" in page.text and "中間サーバー（副本登録）" in page.text
    kaigo = Staff(engine, org, "clerk", Business.KAIGO)
    assert kaigo.client.get("/linkage/catalogue").status_code == 403
