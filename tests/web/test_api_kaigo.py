"""The 介護保険 資格 API (/api/v1/kaigo): the panel as JSON without a 個人番号, the facility master, a
certificate as PDF, the bulk issue's progress — for a 介護保険 clerk only."""

from __future__ import annotations

import random
import uuid
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from kiban.db.engine import get_app_engine
from kiban.identity import repo, vault
from kiban.identity.model import PersonData, ResidentClass
from kiban.kaigo.eligibility import certificates, jobs, service
from kiban.security import totp
from kiban.security.batch import batch_context
from kiban.security.context import AccessContext, Business
from kiban.shared import clock, mynumber
from kiban.shared.mynumber import contains_my_number
from kiban.web.app import create_app
from kiban.web.session import SESSION_COOKIE, TERMINAL_COOKIE
from security_factories import Org


def _client(
    engine: Engine, org: Org, name: str, business: Business, role: str
) -> tuple[TestClient, AccessContext]:
    dep = org.department(f"dep-{name}")
    secret = totp.new_secret()
    org.staff(name, dep, [(business, role)], totp_secret=secret)
    term, term_secret = org.terminal(f"term-{name}", dep)
    token, session = org.login(name, term, secret=secret)
    client = TestClient(create_app(engine))
    client.cookies.set(TERMINAL_COOKIE, term_secret)
    client.cookies.set(SESSION_COOKIE, token)
    client.headers["X-CSRF-Token"] = session.csrf_token
    return client, org.ctx(session, business, "kaigo.eligibility")


@pytest.fixture(scope="module")
def world(database_url: str, db_engine: Engine) -> dict[str, object]:
    engine = get_app_engine(database_url)
    org = Org(engine, uuid.uuid4().hex[:8])
    kaigo, ctx = _client(engine, org, "kaigo-api", Business.KAIGO, "clerk")
    atena, _ = _client(engine, org, "atena-api", Business.ATENA, "clerk")
    number = mynumber.generate(random.Random(uuid.uuid4().int))
    person_no = f"14{uuid.uuid4().int % 10**8:08d}"
    born = date(1954, 7, 20)
    with db_engine.begin() as conn:
        ref = repo.create_person(
            conn,
            city_code="992011",
            person_no=person_no,
            data=PersonData("中村", "節子", "ナカムラ", "セツコ", 2, born, "基盤県基盤市南町5番地",
                            ResidentClass.RESIDENT, resident_on=born),
            valid_from=born,
            reason="試験",
        )  # fmt: skip
        vault.store(
            conn, batch_context(conn, Business.ATENA, "atena.import", "test"), ref, number, source="試験"
        )
    jobs.run_attainment(engine, as_of=clock.today())
    return {
        "kaigo": kaigo,
        "atena": atena,
        "ctx": ctx,
        "person_no": person_no,
        "number": number,
        "engine": engine,
    }


def _clean(text: str, number: str) -> None:
    assert not contains_my_number(text)
    assert number not in text


def test_eligibility_is_the_panel_without_a_my_number(world) -> None:  # type: ignore[no-untyped-def]
    client, person_no, number = world["kaigo"], world["person_no"], world["number"]
    r = client.get(f"/api/v1/kaigo/persons/{person_no}/eligibility")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {
        "person_no", "insurer_no", "insurer_name", "insured_no", "current", "periods", "changes",
        "stays", "special_address", "certificates",
    }  # fmt: skip
    assert body["person_no"] == person_no and len(body["insured_no"]) == 10
    assert body["current"]["category"] == 1 and body["current"]["category_label"] == "第1号被保険者"
    assert body["current"]["acquired_on"] == "2019-07-19"  # 65歳到達: the day before the birthday
    assert body["current"]["acquire_reason"] == "02" and body["current"]["acquire_reason_label"] == "65歳到達"
    [change] = body["changes"]
    assert (change["kind"], change["kind_label"], change["effective_on"]) == ("acquire", "取得", "2019-07-19")
    assert "my_number" not in r.text
    _clean(r.text, number)
    assert client.get("/api/v1/kaigo/persons/1999999999/eligibility").status_code == 404


def test_a_certificate_is_issued_as_pdf_and_shows_in_the_history(world) -> None:  # type: ignore[no-untyped-def]
    client, person_no = world["kaigo"], world["person_no"]
    r = client.post("/api/v1/kaigo/certificates", json={"person_no": person_no})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].startswith("inline")
    assert r.headers["cache-control"] == "no-store"
    assert r.content.startswith(b"%PDF")
    certificate_id = int(r.headers["x-certificate-id"])
    history = client.get(f"/api/v1/kaigo/persons/{person_no}/eligibility").json()["certificates"]
    assert [(c["certificate_id"], c["kind"], c["reissue"], c["label"]) for c in history] == [
        (certificate_id, "certificate", False, "交付 被保険者証")
    ]
    # A second card while the first is out: refused with the counter's message, then a 再交付.
    again = client.post("/api/v1/kaigo/certificates", json={"person_no": person_no})
    assert again.status_code == 422 and "再交付" in again.json()["detail"]
    reissued = client.post(
        "/api/v1/kaigo/certificates", json={"person_no": person_no, "reissue": True, "reason": "紛失"}
    )
    assert reissued.status_code == 200 and reissued.content.startswith(b"%PDF")
    missing = client.post("/api/v1/kaigo/certificates", json={"person_no": "1999999999"})
    assert missing.status_code == 404


def test_facilities_and_bulk_status(world) -> None:  # type: ignore[no-untyped-def]
    client, ctx, engine = world["kaigo"], world["ctx"], world["engine"]
    no = f"A{uuid.uuid4().hex[:9].upper()}"
    with engine.begin() as conn:
        service.do_register_facility(
            conn, ctx, facility_no=no, name="やすらぎ苑", type_code="51", city_code="992011",
            city_name="基盤市", address="基盤県基盤市緑町1番地",
        )  # fmt: skip
    rows = client.get("/api/v1/kaigo/facilities").json()["rows"]
    [row] = [f for f in rows if f["facility_no"] == no]
    assert (row["type_code"], row["rule"], row["type_label"]) == (
        "51", "exempt", "指定障害者支援施設（生活介護・施設入所支援）",
    )  # fmt: skip
    with engine.begin() as conn:
        batch_id = certificates.start_bulk(conn, ctx, month=date(1999, 1, 1))
    certificates.run_bulk(engine, batch_id)
    status = client.get(f"/api/v1/kaigo/certificates/bulk/{batch_id}").json()
    assert (status["batch_id"], status["status"], status["percent"], status["total"]) == (
        batch_id,
        "done",
        100,
        0,
    )
    assert status["month"] == "1999-01-01" and status["pdf"] is None
    assert client.get("/api/v1/kaigo/certificates/bulk/999999999").status_code == 404


def test_authentication_and_a_kaigo_grant_are_required(world) -> None:  # type: ignore[no-untyped-def]
    person_no = world["person_no"]
    anonymous = TestClient(create_app(world["engine"]))
    for path in (f"/api/v1/kaigo/persons/{person_no}/eligibility", "/api/v1/kaigo/facilities"):
        assert anonymous.get(path).status_code == 401
        refused = world["atena"].get(path)  # a 宛名 clerk holds no 介護保険 grant
        assert refused.status_code == 403 and "権限がありません" in refused.json()["detail"]
    assert world["atena"].post("/api/v1/kaigo/certificates", json={"person_no": person_no}).status_code == 403
    # A POST without the session's CSRF token is refused before anything is issued.
    token = world["kaigo"].headers.pop("X-CSRF-Token")
    try:
        assert (
            world["kaigo"].post("/api/v1/kaigo/certificates", json={"person_no": person_no}).status_code
            == 403
        )
    finally:
        world["kaigo"].headers["X-CSRF-Token"] = token
