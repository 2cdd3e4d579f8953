"""Two cities and the network on loopback: a 住所地特例 inquiry end to end (issue 8, part 3).

Processes: ``kiban network serve`` (its own database), ``kiban gateway serve`` for 熊本市 (431001)
and for 郡山市 (072036), each city on its own kiban database as ``kiban_app``. One person — a 熊本市
insured under 住所地特例 (介護保険法第13条) living in a 郡山市 facility — has the same 個人番号 in both
cities' vaults and gets a 符号 in each. 郡山市 asks 熊本市 for the person's 介護保険 資格.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "network"))

import cities
from cities import KORIYAMA, KUMAMOTO, QUALIFICATION_OF_KUMAMOTO_INSURED, CityDb, new_my_number, resident
from cluster import Proc

from kiban.gateway import client, inquiry, replica, review, tokens
from kiban.gateway.errors import InquiryRefused
from kiban.network import protocol
from kiban.security.context import Business

pytestmark = pytest.mark.slow

ASKED = ("insurer_no", "insured_no", "category", "acquired_on", "jushochi_tokurei")


@pytest.fixture(scope="module")
def world(
    pg_admin_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The network, both cities' databases and gateways, one shared resident."""
    with cities.world(pg_admin_url, tmp_path_factory.mktemp("e2e")) as w:
        yield w


@pytest.fixture(scope="module")
def tokens_acquired(world: dict[str, Any]) -> dict[str, str]:
    """符号取得 in both cities (熊本市 through the client API, 郡山市 through ``kiban gateway token``)."""
    import subprocess

    from cluster import kiban

    k, r = world["kumamoto"], world["koriyama"]
    k_token = client.acquire_token(
        k.app,
        k.ctx(Business.KAIGO, "clerk", "k-kaigo"),
        city_code=KUMAMOTO,
        person_id=world["k_person"].person_id,
        agency_code=k.kaigo,
    )
    done = subprocess.run(
        kiban("gateway", "token", "--city", KORIYAMA, "--person-no", world["r_person"].person_no),
        env=r.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert world["digits"] not in done.stdout + done.stderr
    with r.app.begin() as conn:
        r_token = tokens.token_for(
            conn, city_code=KORIYAMA, person_id=world["r_person"].person_id, agency_code=r.kaigo
        )
    assert r_token is not None
    with k.app.begin() as conn:
        replica.register_replica(
            conn,
            city_code=KUMAMOTO,
            person_id=world["k_person"].person_id,
            dataset="kaigo.qualification",
            items=QUALIFICATION_OF_KUMAMOTO_INSURED,
            source_ref="kaigo.qualification:e2e",
        )
    return {"kumamoto": k_token, "koriyama": r_token}


def _inquire(world: dict[str, Any], items: tuple[str, ...], person: Any = None) -> str:
    r = world["koriyama"]
    return client.inquire(
        r.app,
        r.ctx(Business.KAIGO, "clerk", "r-kaigo"),
        city_code=KORIYAMA,
        person_id=(person or world["r_person"]).person_id,
        inquirer_agency=r.kaigo,
        provider_agency=world["kumamoto"].kaigo,
        procedure_code="kaigo.qualification",
        dataset="kaigo.qualification",
        items=items,
    )


def _records(city: CityDb, request_id: str) -> list[tuple[str, str, str]]:
    rows = city.scoped(
        "SELECT kind, phase, outcome FROM gateway.record WHERE city_code = :c AND request_id = :r ORDER BY seq",
        c=city.code,
        r=request_id,
    )
    return [(row.kind, row.phase, row.outcome) for row in rows]


def test_the_two_agencies_tokens_for_one_person_differ(
    world: dict[str, Any], tokens_acquired: dict[str, str]
) -> None:
    assert tokens_acquired["kumamoto"] != tokens_acquired["koriyama"]
    # Neither city's database holds the other's 符号.
    assert not world["koriyama"].scoped(
        "SELECT 1 FROM gateway.token WHERE token = :t", t=tokens_acquired["kumamoto"]
    )


def test_jushochi_tokurei_inquiry_end_to_end(world: dict[str, Any], tokens_acquired: dict[str, str]) -> None:
    k, r = world["kumamoto"], world["koriyama"]
    request_id = _inquire(world, ASKED)
    with r.app.begin() as conn:
        state = inquiry.load_inquiry(conn, city_code=KORIYAMA, request_id=request_id)
        result = inquiry.read_result(
            conn, r.ctx(Business.KAIGO, "clerk", "r-kaigo"), city_code=KORIYAMA, request_id=request_id
        )
    assert (state.status, state.outcome) == ("completed", "provided")
    assert result["items"] == {i: QUALIFICATION_OF_KUMAMOTO_INSURED[i] for i in ASKED}
    # Both cities hold their 情報提供等記録 of this exchange, and the inquirer knows the provider's id.
    assert _records(k, request_id) == [("provision", "answer", "provided")]
    assert ("inquiry", "answer", "provided") in _records(r, request_id)
    assert state.provider_record_id and state.provider_record_id.startswith(f"{KUMAMOTO}-")
    # The network routed it and kept its own timestamps; it never saw the answer in the clear.
    with psycopg.connect(world["net_url"]) as conn:
        row = conn.execute(
            "SELECT status, inquirer_agency, provider_agency, received_at <= answered_at"
            " FROM network.route_log WHERE request_id = %s",
            (request_id,),
        ).fetchone()
    assert row == ("provided", r.kaigo, k.kaigo, True)


def test_an_item_outside_the_list_is_refused_with_a_record_at_the_inquirer(
    world: dict[str, Any], tokens_acquired: dict[str, str]
) -> None:
    with pytest.raises(InquiryRefused) as caught:
        _inquire(world, ("insured_no", "copay_ratio"))
    assert "copay_ratio" in str(caught.value)
    assert _records(world["koriyama"], caught.value.request_id) == [("inquiry", "answer", "refused")]
    # Refused at home by our own copy of the list: it never reached the network.
    with psycopg.connect(world["net_url"]) as conn:
        assert not conn.execute(
            "SELECT 1 FROM network.permit_log WHERE inquirer_agency = %s"
            " AND items = ARRAY['insured_no', 'copay_ratio']",
            (world["koriyama"].kaigo,),
        ).fetchone()


def test_an_inquiry_the_network_refuses_is_recorded_on_the_network_and_the_inquirer(
    world: dict[str, Any], tokens_acquired: dict[str, str]
) -> None:
    """A person 熊本市 has no 符号 for: our list allows the inquiry, the network refuses the permit."""
    r = world["koriyama"]
    stranger = resident(r, new_my_number())
    client.acquire_token(
        r.app,
        r.ctx(Business.KAIGO, "clerk", "r-kaigo"),
        city_code=KORIYAMA,
        person_id=stranger.person_id,
        agency_code=r.kaigo,
    )
    with pytest.raises(InquiryRefused) as caught:
        _inquire(world, ASKED, person=stranger)
    assert "対象者の符号が登録されていません" in str(caught.value)
    assert _records(r, caught.value.request_id) == [("inquiry", "answer", "refused")]
    # A PermitRequest outside the list sent straight to the network (a gateway with a stale list)
    # is refused there too, and the network records it.
    with r.app.begin() as conn:
        token = tokens.token_for(
            conn, city_code=KORIYAMA, person_id=world["r_person"].person_id, agency_code=r.kaigo
        )
        from kiban.gateway import tenants

        bearer = tenants.network_api_token(conn, KORIYAMA)
    resp = httpx.post(
        f"{world['net'].url}/v1/permits",
        json=protocol.PermitRequest(
            inquirer_agency=r.kaigo,
            inquirer_token=token or "",
            provider_agency=world["kumamoto"].kaigo,
            procedure_code="kaigo.qualification",
            dataset="kaigo.qualification",
            items=("copay_ratio",),
        ).to_json(),
        headers={"Authorization": f"Bearer {bearer}"},
    )
    assert resp.status_code == 403
    with psycopg.connect(world["net_url"]) as conn:
        reasons = [
            row[0]
            for row in conn.execute(
                "SELECT reason FROM network.permit_log WHERE inquirer_agency = %s AND outcome = 'refused'",
                (r.kaigo,),
            )
        ]
    assert any("対象者の符号が登録されていません" in x for x in reasons)
    assert any("copay_ratio" in x for x in reasons)


def test_a_no_auto_response_item_is_held_released_by_a_supervisor_and_delivered_later(
    world: dict[str, Any], tokens_acquired: dict[str, str]
) -> None:
    k, r = world["kumamoto"], world["koriyama"]
    asked = ("insurer_no", "insured_no", "facility_name")
    request_id = _inquire(world, asked)
    with r.app.begin() as conn:
        assert inquiry.load_inquiry(conn, city_code=KORIYAMA, request_id=request_id).status == "held"
    assert _records(k, request_id) == [("provision", "answer", "held")]
    supervisor = k.ctx(Business.CHUKAN, "supervisor", "k-chukan-sup")
    with k.app.begin() as conn:
        queue = review.held_queue(conn, supervisor, city_code=KUMAMOTO)
        assert request_id in [h.request_id for h in queue]
        review.release_held(conn, supervisor, city_code=KUMAMOTO, request_id=request_id, note="施設名を確認")
    # 熊本市's gateway sends the released answer through the network to 郡山市 on its own.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with r.app.begin() as conn:
            state = inquiry.load_inquiry(conn, city_code=KORIYAMA, request_id=request_id)
        if state.status == "completed":
            break
        time.sleep(0.1)
    assert (state.status, state.outcome) == ("completed", "released")
    with r.app.begin() as conn:
        result = inquiry.read_result(
            conn, r.ctx(Business.KAIGO, "clerk", "r-kaigo"), city_code=KORIYAMA, request_id=request_id
        )
    assert result["items"]["facility_name"] == QUALIFICATION_OF_KUMAMOTO_INSURED["facility_name"]
    assert [rec[2] for rec in _records(k, request_id)] == ["held", "released"]
    assert [rec[2] for rec in _records(r, request_id)][-1] == "released"
    with k.app.begin() as conn:
        from kiban.gateway import provision

        assert provision.pending_answers(conn, city_code=KUMAMOTO) == []


def test_the_network_presents_its_own_token_and_nobody_else_gets_in(world: dict[str, Any]) -> None:
    gw: Proc = world["kumamoto"].gateway
    resp = httpx.post(f"{gw.url}/gateway/v1/provision", json={}, headers={"Authorization": "Bearer guess"})
    assert resp.status_code in (400, 401)
    body = protocol.ProvisionRequest(request_id="x", permit={}, inquirer_public_key="", sent_at="").to_json()
    resp = httpx.post(f"{gw.url}/gateway/v1/provision", json=body, headers={"Authorization": "Bearer guess"})
    assert resp.status_code == 401
    assert resp.json()["error"] == "ネットワークの認証トークンが一致しません"


def test_no_log_line_of_the_processes_holds_the_my_number(
    world: dict[str, Any], tokens_acquired: dict[str, str]
) -> None:
    for proc in (world["net"], world["kumamoto"].gateway, world["koriyama"].gateway):
        assert world["digits"] not in proc.log_tail(10**7)


def test_kiban_gateway_inquire_and_purge_from_the_command_line(
    world: dict[str, Any], tokens_acquired: dict[str, str]
) -> None:
    import re
    import subprocess

    from cluster import kiban
    from sqlalchemy import text

    from kiban.gateway import tenants
    from kiban.gateway.errors import InquiryStateError

    r = world["koriyama"]
    done = subprocess.run(
        kiban(
            "gateway",
            "inquire",
            "--city",
            KORIYAMA,
            "--person-no",
            world["r_person"].person_no,
            "--provider",
            world["kumamoto"].kaigo,
            "--item",
            "insurer_no",
            "--item",
            "jushochi_tokurei",
        ),
        env=r.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    found = re.match(r"照会 ([0-9a-f]{32}): completed（provided）", done.stdout)
    assert found, done.stdout
    request_id = found.group(1)
    # Its retention period has passed (as if 30 days later): the purge deletes the result.
    with r.owner.begin() as conn:
        tenants.scope(conn, KORIYAMA)
        conn.execute(
            text("UPDATE gateway.inquiry SET delete_after = now() - interval '1 day' WHERE request_id = :r"),
            {"r": request_id},
        )
    done = subprocess.run(
        kiban("gateway", "purge", "--city", KORIYAMA), env=r.env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert re.match(r"072036: 照会結果 [1-9][0-9]* 件を削除しました", done.stdout), done.stdout
    with r.app.begin() as conn, pytest.raises(InquiryStateError, match="削除されました"):
        inquiry.read_result(
            conn, r.ctx(Business.KAIGO, "clerk", "r-kaigo"), city_code=KORIYAMA, request_id=request_id
        )


def test_kiban_gateway_inquire_reports_a_refusal_in_japanese(
    world: dict[str, Any], tokens_acquired: dict[str, str]
) -> None:
    import subprocess

    from cluster import kiban

    done = subprocess.run(
        kiban(
            "gateway",
            "inquire",
            "--city",
            KORIYAMA,
            "--person-no",
            world["r_person"].person_no,
            "--provider",
            world["kumamoto"].kaigo,
            "--item",
            "copay_ratio",
        ),
        env=world["koriyama"].env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "エラー: 照会できません" in done.stderr and "copay_ratio" in done.stderr
