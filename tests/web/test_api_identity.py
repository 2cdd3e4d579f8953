"""The identity API (/api/v1/identity): search results carry no 個人番号, the detail only masked, a
lookup by number is exact and by POST."""

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
from kiban.security import totp
from kiban.security.batch import batch_context
from kiban.security.context import Business
from kiban.shared import mynumber
from kiban.shared.mynumber import contains_my_number
from kiban.web.app import create_app
from kiban.web.session import SESSION_COOKIE, TERMINAL_COOKIE
from security_factories import Org


@pytest.fixture(scope="module")
def client_and_person(database_url: str, db_engine: Engine) -> tuple[TestClient, str, str]:
    engine = get_app_engine(database_url)
    org = Org(engine, uuid.uuid4().hex[:8])
    dep = org.department("shimin")
    secret = totp.new_secret()
    org.staff("api1", dep, [(Business.ATENA, "clerk")], totp_secret=secret)
    term, term_secret = org.terminal("api-term", dep)
    token, session = org.login("api1", term, secret=secret)
    number = mynumber.generate(random.Random(uuid.uuid4().int))
    person_no = f"15{uuid.uuid4().int % 10**8:08d}"
    with db_engine.begin() as conn:
        ref = repo.create_person(
            conn,
            city_code="992011",
            person_no=person_no,
            data=PersonData("小林", "誠", "コバヤシ", "マコト", 1, date(1949, 12, 31), "基盤県基盤市北町3番地",
                            ResidentClass.RESIDENT, resident_on=date(1949, 12, 31)),
            valid_from=date(1949, 12, 31),
            reason="試験",
        )  # fmt: skip
        vault.store(
            conn, batch_context(conn, Business.ATENA, "atena.import", "test"), ref, number, source="試験"
        )
    client = TestClient(create_app(engine))
    client.cookies.set(TERMINAL_COOKIE, term_secret)
    client.cookies.set(SESSION_COOKIE, token)
    client.headers["X-CSRF-Token"] = session.csrf_token
    return client, person_no, number


def test_search_returns_summaries_without_a_my_number(client_and_person) -> None:  # type: ignore[no-untyped-def]
    client, person_no, _ = client_and_person
    r = client.get("/api/v1/identity/persons", params={"kana": "コバヤシマ", "birth_date": "1949-12-31"})
    assert r.status_code == 200
    body = r.json()
    assert [row["person_no"] for row in body["rows"]] == [person_no]
    assert "my_number" not in body["rows"][0]
    assert not contains_my_number(r.text)


def test_detail_masks_the_number(client_and_person) -> None:  # type: ignore[no-untyped-def]
    client, person_no, number = client_and_person
    body = client.get(f"/api/v1/identity/persons/{person_no}").json()
    assert body["my_number"] == f"****-****-{number[8:]}"
    assert body["resident_class"] == "住民" and body["history"][0]["reason"] == "試験"
    assert client.get("/api/v1/identity/persons/1999999999").status_code == 404


def test_lookup_by_number_is_a_post_and_exact(client_and_person) -> None:  # type: ignore[no-untyped-def]
    client, person_no, number = client_and_person
    r = client.post("/api/v1/identity/persons/search-by-number", json={"my_number": number})
    assert r.status_code == 200 and [row["person_no"] for row in r.json()["rows"]] == [person_no]
    assert not contains_my_number(r.text)
    wrong = number[:11] + str((int(number[11]) + 1) % 10)
    bad = client.post("/api/v1/identity/persons/search-by-number", json={"my_number": wrong})
    assert bad.status_code == 422 and "検査用数字" in bad.text and wrong not in bad.text
    # The GET search has no 個人番号 parameter: one given in a URL is ignored (no criteria → 422).
    assert client.get("/api/v1/identity/persons", params={"my_number": number}).status_code == 422
