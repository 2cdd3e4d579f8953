"""The 情報提供ネットワークシステム stand-in as a process: agencies, 符号, permits, routing, records.

Runs the real ``kiban network serve`` against its own PostgreSQL database; the cities' gateways are
in-process fakes (conftest.FakeGateway) so that only the network is under test here. The two-city
test with real gateways is tests/gateway/test_e2e_two_cities.py.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import httpx
import psycopg
import pytest
from cluster import Proc

from kiban.network import protocol as p
from kiban.shared import mynumber


def _number() -> str:
    return mynumber.generate(random.Random())


def _register(
    net: Proc, admin: str, agency_code: str, endpoint: str, callback_token: str
) -> tuple[str, p.X25519PrivateKey]:
    key = p.new_exchange_key()
    api_token = uuid.uuid4().hex * 2
    reg = p.AgencyRegistration(
        agency_code=agency_code,
        city_code=agency_code.split("-")[0],
        name=agency_code,
        endpoint=endpoint,
        exchange_public_key=p.b64e(p.public_bytes(key)),
        extra={"api_token": api_token, "callback_token": callback_token},
    )
    resp = httpx.post(
        f"{net.url}/v1/agencies", json=reg.to_json(), headers={"Authorization": f"Bearer {admin}"}
    )
    assert resp.status_code == 200, resp.text
    return api_token, key


def _keys(net: Proc) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{net.url}/v1/keys").json()
    return data


def _token(net: Proc, api_token: str, agency: str, number: str) -> httpx.Response:
    sealed = p.seal(p.b64d(_keys(net)["exchange_public_key"]), number.encode(), agency.encode())
    body = p.TokenRequest(agency_code=agency, sealed_my_number=sealed.to_json()).to_json()
    return httpx.post(f"{net.url}/v1/tokens", json=body, headers={"Authorization": f"Bearer {api_token}"})


def _city() -> str:
    return f"{uuid.uuid4().int % 900000 + 100000:06d}"


@pytest.fixture
def pair(network: tuple[Proc, str], fake_gateway: Any) -> dict[str, Any]:
    """Two cities' kaigo agencies registered with fake gateways, one person with 符号 in both."""
    net, admin = network
    a_city, b_city = _city(), _city()
    a_gw, b_gw = fake_gateway(), fake_gateway()
    a_tok, a_key = _register(net, admin, f"{a_city}-kaigo", a_gw.url, a_gw.callback_token)
    b_tok, b_key = _register(net, admin, f"{b_city}-kaigo", b_gw.url, b_gw.callback_token)
    number = _number()
    a_sym = _token(net, a_tok, f"{a_city}-kaigo", number).json()["token"]
    b_sym = _token(net, b_tok, f"{b_city}-kaigo", number).json()["token"]
    return {
        "net": net,
        "provider": (f"{a_city}-kaigo", a_tok, a_key, a_gw, a_sym),
        "inquirer": (f"{b_city}-kaigo", b_tok, b_key, b_gw, b_sym),
        "number": number,
    }


def _permit(pair: dict[str, Any], items: tuple[str, ...] = ("insured_no", "category")) -> httpx.Response:
    net = pair["net"]
    inq, inq_tok, _, _, inq_sym = pair["inquirer"]
    prov = pair["provider"][0]
    body = p.PermitRequest(
        inquirer_agency=inq,
        inquirer_token=inq_sym,
        provider_agency=prov,
        procedure_code="kaigo.qualification",
        dataset="kaigo.qualification",
        items=items,
    ).to_json()
    return httpx.post(f"{net.url}/v1/permits", json=body, headers={"Authorization": f"Bearer {inq_tok}"})


def _db(network_db: str) -> psycopg.Connection[Any]:
    return psycopg.connect(network_db, autocommit=True)


def test_registration_needs_the_admin_token(network: tuple[Proc, str]) -> None:
    net, _ = network
    reg = p.AgencyRegistration(
        agency_code="999999-kaigo",
        city_code="999999",
        name="x",
        endpoint="http://127.0.0.1:1",
        exchange_public_key=p.b64e(p.public_bytes(p.new_exchange_key())),
        extra={"api_token": "a" * 32, "callback_token": "b" * 32},
    )
    resp = httpx.post(f"{net.url}/v1/agencies", json=reg.to_json(), headers={"Authorization": "Bearer wrong"})
    assert resp.status_code == 401
    assert resp.json()["error"] == "管理用トークンが一致しません"


def test_tokens_are_stable_per_agency_and_unlinkable_across_agencies(
    pair: dict[str, Any], network_db: str
) -> None:
    net = pair["net"]
    prov, prov_tok, _, _, prov_sym = pair["provider"]
    inq, _inq_tok, _, _, inq_sym = pair["inquirer"]
    again = _token(net, prov_tok, prov, pair["number"]).json()["token"]
    assert again == prov_sym  # same person, same agency → same 符号
    assert prov_sym != inq_sym  # another agency → another, unrelated 符号
    other = _token(net, prov_tok, prov, _number()).json()["token"]
    assert other != prov_sym
    # An agency cannot ask for another agency's 符号 with its own credentials.
    denied = _token(net, prov_tok, inq, pair["number"])
    assert denied.status_code == 403
    # The network keeps no 個人番号: neither in the token table nor anywhere in its schema.
    with _db(network_db) as conn:
        dump = " ".join(
            str(r)
            for table in ("secret", "agency", "token", "permit_log", "route_log")
            for r in conn.execute(f"SELECT * FROM network.{table}").fetchall()
        )
    assert pair["number"] not in dump


def test_a_token_request_sealed_for_another_agency_does_not_open(pair: dict[str, Any]) -> None:
    net = pair["net"]
    prov, prov_tok, _, _, _ = pair["provider"]
    sealed = p.seal(p.b64d(_keys(net)["exchange_public_key"]), pair["number"].encode(), b"other-agency")
    body = p.TokenRequest(agency_code=prov, sealed_my_number=sealed.to_json()).to_json()
    resp = httpx.post(f"{net.url}/v1/tokens", json=body, headers={"Authorization": f"Bearer {prov_tok}"})
    assert resp.status_code == 400
    assert "復号できません" in resp.json()["error"]


def test_permit_within_the_list_is_signed_and_carries_the_providers_token(
    pair: dict[str, Any], network_db: str
) -> None:
    resp = _permit(pair)
    assert resp.status_code == 200, resp.text
    permit = p.Permit.from_json(resp.json())
    p.verify_permit(p.b64d(_keys(pair["net"])["signing_public_key"]), permit)
    assert permit.provider_token == pair["provider"][4]
    assert permit.list_version == "2026.1"
    with _db(network_db) as conn:
        row = conn.execute(
            "SELECT outcome, items FROM network.permit_log WHERE permit_id = %s", (permit.permit_id,)
        ).fetchone()
    assert row == ("issued", ["insured_no", "category"])


def test_permit_outside_the_list_is_refused_and_recorded(pair: dict[str, Any], network_db: str) -> None:
    resp = _permit(pair, items=("insured_no", "copay_ratio"))
    assert resp.status_code == 403
    assert "許可されていない項目です: copay_ratio" in resp.json()["refusal"]
    with _db(network_db) as conn:
        row = conn.execute(
            "SELECT outcome, reason FROM network.permit_log WHERE inquirer_agency = %s AND outcome = 'refused'",
            (pair["inquirer"][0],),
        ).fetchone()
    assert row is not None and "copay_ratio" in row[1]


def test_permit_for_a_person_the_provider_has_no_token_for_is_refused(
    pair: dict[str, Any], network: tuple[Proc, str]
) -> None:
    net = pair["net"]
    inq, inq_tok, _, _, _ = pair["inquirer"]
    stranger = _token(net, inq_tok, inq, _number()).json()["token"]
    body = p.PermitRequest(
        inquirer_agency=inq,
        inquirer_token=stranger,
        provider_agency=pair["provider"][0],
        procedure_code="kaigo.qualification",
        dataset="kaigo.qualification",
        items=("insured_no",),
    ).to_json()
    resp = httpx.post(f"{net.url}/v1/permits", json=body, headers={"Authorization": f"Bearer {inq_tok}"})
    assert resp.status_code == 403
    assert "対象者の符号が登録されていません" in resp.json()["refusal"]


def _provision(pair: dict[str, Any], permit: dict[str, Any], request_id: str) -> httpx.Response:
    _inq, inq_tok, inq_key, _, _ = pair["inquirer"]
    req = p.ProvisionRequest(
        request_id=request_id,
        permit=permit,
        inquirer_public_key=p.b64e(p.public_bytes(inq_key)),
        sent_at=p.iso(p.utcnow()),
    )
    return httpx.post(
        f"{pair['net'].url}/v1/route/provision",
        json=req.to_json(),
        headers={"Authorization": f"Bearer {inq_tok}"},
    )


def test_route_provision_reaches_the_provider_and_the_answer_opens_at_the_inquirer(
    pair: dict[str, Any], network_db: str
) -> None:
    permit = _permit(pair).json()
    request_id = p.new_id()
    resp = _provision(pair, permit, request_id)
    assert resp.status_code == 200, resp.text
    answer = p.ProvisionResponse.from_json(resp.json())
    assert answer.status == "provided"
    plain = p.open_sealed(
        pair["inquirer"][2],
        p.Sealed.from_json(answer.sealed_answer or {}),
        p.answer_aad(request_id, permit["permit_id"]),
    )
    assert plain == b'{"insured_no":"0000000001"}'
    gw = pair["provider"][3]
    assert [k for k, _ in gw.received] == ["provision"]
    # A replay of the same request id is routed again (the provider is idempotent) and counted.
    assert _provision(pair, permit, request_id).status_code == 200
    with _db(network_db) as conn:
        row = conn.execute(
            "SELECT status, attempts, inquirer_agency, provider_agency FROM network.route_log"
            " WHERE kind = 'provision' AND request_id = %s",
            (request_id,),
        ).fetchone()
    assert row == ("provided", 2, pair["inquirer"][0], pair["provider"][0])


def test_only_the_permits_inquirer_may_route_it(pair: dict[str, Any]) -> None:
    permit = _permit(pair).json()
    prov_tok = pair["provider"][1]
    req = p.ProvisionRequest(
        request_id=p.new_id(), permit=permit, inquirer_public_key=p.b64e(b"\0" * 32), sent_at=""
    )
    resp = httpx.post(
        f"{pair['net'].url}/v1/route/provision",
        json=req.to_json(),
        headers={"Authorization": f"Bearer {prov_tok}"},
    )
    assert resp.status_code == 403


def test_a_request_id_that_reads_as_a_my_number_is_refused_at_the_door(
    pair: dict[str, Any], network_db: str
) -> None:
    """Another city's software may make ids its own way; one holding a check-digit-valid 12-digit run
    could never be logged or recorded, so it is refused before anything is routed or written."""
    permit = _permit(pair).json()
    digits = mynumber.generate(random.Random("request-id"))
    _inq, inq_tok, inq_key, _, _ = pair["inquirer"]
    body = {
        "request_id": f"req-{digits}-1",
        "permit": permit,
        "inquirer_public_key": p.b64e(p.public_bytes(inq_key)),
        "sent_at": p.iso(p.utcnow()),
    }
    resp = httpx.post(
        f"{pair['net'].url}/v1/route/provision", json=body, headers={"Authorization": f"Bearer {inq_tok}"}
    )
    assert resp.status_code == 400 and "request_id" in resp.json()["error"]
    assert digits not in resp.text
    assert pair["provider"][3].received == []
    with _db(network_db) as conn:
        rows = conn.execute("SELECT count(*) FROM network.route_log WHERE request_id LIKE 'req-%'").fetchone()
    assert rows == (0,)
    with pytest.raises(p.ProtocolError, match="12桁") as caught:
        p.ProvisionRequest(request_id=digits, permit=permit, inquirer_public_key="", sent_at="")
    assert digits not in str(caught.value)


def test_a_forged_permit_is_not_routed(pair: dict[str, Any]) -> None:
    permit = dict(_permit(pair).json())
    permit["items"] = ["insured_no", "category", "facility_name"]
    resp = _provision(pair, permit, p.new_id())
    assert resp.status_code == 403
    assert resp.json()["error"] == "情報提供許可証の署名が不正です"
    assert pair["provider"][3].received == []


def test_a_held_answer_released_later_is_routed_to_the_inquirer(pair: dict[str, Any]) -> None:
    pair["provider"][3].status = "held"
    permit = _permit(pair, items=("insured_no", "facility_name")).json()
    request_id = p.new_id()
    assert _provision(pair, permit, request_id).json()["status"] == "held"
    later = p.ProvisionResponse(
        request_id=request_id, status="provided", provider_record_id="R-9", answered_at=p.iso(p.utcnow())
    )
    prov_tok = pair["provider"][1]
    body = {"inquirer_agency": pair["inquirer"][0], "response": later.to_json()}
    resp = httpx.post(
        f"{pair['net'].url}/v1/route/answer", json=body, headers={"Authorization": f"Bearer {prov_tok}"}
    )
    assert resp.status_code == 200, resp.text
    assert pair["inquirer"][3].received == [("answer", later.to_json())]
    # The inquirer cannot push an answer for a request it asked itself (it is not the provider).
    inq_tok = pair["inquirer"][1]
    resp = httpx.post(
        f"{pair['net'].url}/v1/route/answer", json=body, headers={"Authorization": f"Bearer {inq_tok}"}
    )
    assert resp.status_code == 403


def test_an_unreachable_provider_is_a_502_with_a_record(
    network: tuple[Proc, str], pair: dict[str, Any], network_db: str
) -> None:
    net, admin = network
    prov = pair["provider"][0]
    gw = pair["provider"][3]
    # Re-register the provider at a port nobody listens on.
    _register(net, admin, prov, "http://127.0.0.1:9", gw.callback_token)
    permit = _permit(pair).json()
    request_id = p.new_id()
    resp = _provision(pair, permit, request_id)
    assert resp.status_code == 502
    assert f"機関 {prov} の中間サーバーに接続できません" in resp.json()["error"]
    with _db(network_db) as conn:
        row = conn.execute(
            "SELECT status, error FROM network.route_log WHERE request_id = %s", (request_id,)
        ).fetchone()
    assert row is not None and row[0] == "error" and "接続できません" in row[1]
