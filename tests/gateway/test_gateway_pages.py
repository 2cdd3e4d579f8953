"""The 中間サーバー screens over HTTP (no browser): the chain check shown on the 情報提供等記録 screen,
the 本人開示 file, and a 担当者 who may look at the 自動応答不可 queue but not decide."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date

import pytest
from fastapi.testclient import TestClient
from gateway_support import HELD_ITEMS, City, Network, provide, provider_person, request_for
from sqlalchemy import Engine, text

from kiban.db.engine import get_app_engine
from kiban.gateway import provision
from kiban.identity import repo
from kiban.identity.model import PersonData, ResidentClass
from kiban.network import protocol
from kiban.security.context import Business
from kiban.web.app import create_app
from kiban.web.session import SESSION_COOKIE, TERMINAL_COOKIE
from security_factories import Org


def _client(engine: Engine, role: str) -> tuple[TestClient, str]:
    org = Org(engine, uuid.uuid4().hex[:6])
    dep = org.department("chukan")
    org.staff("s", dep, [(Business.CHUKAN, role)])
    term, secret = org.terminal("t", dep)
    token, session = org.login("s", term)
    client = TestClient(create_app(engine), follow_redirects=False)
    client.cookies.set(TERMINAL_COOKIE, secret)
    client.cookies.set(SESSION_COOKIE, token)
    return client, session.csrf_token


def _person(db_engine: Engine) -> tuple[int, str]:
    with db_engine.begin() as conn:
        ref = repo.create_person(
            conn,
            city_code="992011",
            person_no=f"19{uuid.uuid4().int % 10**8:08d}",
            data=PersonData(
                "試験",
                "一郎",
                "シケン",
                "イチロウ",
                1,
                date(1940, 5, 1),
                "基盤県基盤市元町1番地",
                ResidentClass.RESIDENT,
                resident_on=date(1960, 1, 1),
            ),
            valid_from=date(1960, 1, 1),
            reason="試験",
        )
    return ref.person_id, ref.person_no


@pytest.fixture
def screens(
    database_url: str, cities: tuple[City, City], monkeypatch: pytest.MonkeyPatch
) -> tuple[City, City]:
    monkeypatch.setenv("KIBAN_CITY_CODE", cities[1].code)  # the app serves the provider
    return cities


def test_records_screen_shows_the_chain_check_and_exports_a_disclosure(
    database_url: str, db_engine: Engine, screens: tuple[City, City], network: Network
) -> None:
    asker, giver = screens
    engine = get_app_engine(database_url)
    person_id, person_no = _person(db_engine)
    _, token = provider_person(engine, giver, person_id=person_id)
    request = request_for(
        network.permit(inquirer=asker.kaigo, provider=giver.kaigo, provider_token=token),
        protocol.new_exchange_key(),
    )
    provide(engine, giver, request)
    client, _ = _client(engine, "operator")

    page = client.get("/gateway/records", params={"person_no": person_no})
    assert page.status_code == 200 and 'data-testid="chain-ok"' in page.text
    assert person_no in page.text and asker.kaigo in page.text and token not in page.text

    file = client.get("/gateway/records/disclosure", params={"person_no": person_no, "fmt": "csv"})
    assert file.status_code == 200 and "attachment" in file.headers["content-disposition"]
    (row,) = list(csv.DictReader(io.StringIO(file.text.lstrip("\ufeff"))))
    assert (row["照会機関"], row["提供機関"], row["結果"]) == (asker.kaigo, giver.kaigo, "提供済")

    with db_engine.begin() as conn:
        conn.execute(text("ALTER TABLE gateway.record DISABLE TRIGGER record_append_only"))
        conn.execute(
            text("UPDATE gateway.record SET outcome = 'refused' WHERE request_id = :r"),
            {"r": request.request_id},
        )
        conn.execute(text("ALTER TABLE gateway.record ENABLE TRIGGER record_append_only"))
    page = client.get("/gateway/records")
    assert 'data-testid="chain-broken"' in page.text and "改ざん" in page.text

    bad = client.get("/gateway/records", params={"date_from": "2025/01/01"})
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text


def test_a_clerk_sees_the_queue_but_cannot_release(
    database_url: str, screens: tuple[City, City], network: Network
) -> None:
    asker, giver = screens
    engine = get_app_engine(database_url)
    _, token = provider_person(engine, giver)
    request = request_for(
        network.permit(inquirer=asker.kaigo, provider=giver.kaigo, provider_token=token, items=HELD_ITEMS),
        protocol.new_exchange_key(),
    )
    provide(engine, giver, request)
    client, csrf = _client(engine, "operator")

    queue = client.get("/gateway/held")
    assert queue.status_code == 200 and request.request_id in queue.text and "監督者でない" in queue.text
    detail = client.get(f"/gateway/held/{request.request_id}")
    assert detail.status_code == 200 and 'data-testid="release"' not in detail.text
    refused = client.post(f"/gateway/held/{request.request_id}/release", data={"csrf_token": csrf})
    assert refused.status_code == 403
    with engine.begin() as conn:
        assert provision.pending_answers(conn, city_code=giver.code) == []

    chief, chief_csrf = _client(engine, "supervisor")
    done = chief.post(
        f"/gateway/held/{request.request_id}/refuse", data={"csrf_token": chief_csrf, "reason": ""}
    )
    assert done.status_code == 422 and "理由" in done.text  # a refusal needs its reason
    done = chief.post(
        f"/gateway/held/{request.request_id}/refuse", data={"csrf_token": chief_csrf, "reason": "本人の申出"}
    )
    assert done.status_code == 303
    with engine.begin() as conn:
        ((agency, answer),) = provision.pending_answers(conn, city_code=giver.code)
    assert agency == asker.kaigo and answer.status == "refused"
    missing = chief.get("/gateway/held/ffffffffffffffffffffffffffffffff")
    assert missing.status_code == 404


def test_replica_view_lists_the_versions_of_a_person(
    database_url: str, db_engine: Engine, screens: tuple[City, City]
) -> None:
    _, giver = screens
    engine = get_app_engine(database_url)
    person_id, person_no = _person(db_engine)
    provider_person(engine, giver, person_id=person_id, items={"insured_no": "0000000001", "category": "1"})
    from kiban.gateway import replica

    with engine.begin() as conn:
        replica.register_replica(
            conn,
            city_code=giver.code,
            person_id=person_id,
            dataset="kaigo.qualification",
            items={"insured_no": "0000000001", "category": "2"},
            source_ref="訂正",
        )
    client, _ = _client(engine, "reader")
    page = client.get("/gateway/replicas", params={"person_no": person_no})
    assert page.status_code == 200
    assert 'data-testid="replica-kaigo.qualification-2"' in page.text and "訂正" in page.text
    assert 'data-testid="replica-kaigo.qualification-1"' in page.text
    with engine.connect() as conn:
        logged = conn.execute(
            text(
                "SELECT count(*) FROM audit.access_log WHERE subjects @> ARRAY[CAST(:p AS text)] AND detail->>'gateway' = 'replica'"
            ),
            {"p": person_no},
        ).scalar_one()
    assert logged == 1
    assert client.get("/gateway/replicas", params={"person_no": "0000000000"}).status_code == 404
