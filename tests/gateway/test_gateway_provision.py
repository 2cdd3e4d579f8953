"""情報提供 (provider side): every refusal recorded, 自動応答不可 held, replay idempotent."""

from __future__ import annotations

import datetime as dt
import json

from gateway_support import HELD_ITEMS, QUALIFICATION, City, Network, provide, provider_person, request_for
from sqlalchemy import Engine, text

from kiban.gateway import provision, records
from kiban.network import protocol


def _records(engine: Engine, city: City, request_id: str) -> list[records.Record]:
    with engine.begin() as conn:
        found = records.search(conn, city_code=city.code, where=records.RecordFilter())
    return [r for r in found if r.request_id == request_id]


def test_provided_answer_opens_only_with_the_inquirers_key(
    app_engine: Engine, cities: tuple[City, City], network: Network
) -> None:
    asker, giver = cities
    _, token = provider_person(app_engine, giver)
    permit = network.permit(inquirer=asker.kaigo, provider=giver.kaigo, provider_token=token)
    key = protocol.new_exchange_key()
    request = request_for(permit, key)

    response = provide(app_engine, giver, request)

    assert response.status == "provided"
    aad = protocol.answer_aad(request.request_id, permit.permit_id)
    sealed = protocol.Sealed.from_json(response.sealed_answer or {})
    answer = json.loads(protocol.open_sealed(key, sealed, aad))
    assert answer["items"] == {
        "insurer_no": "072036",
        "insured_no": "0000123456",
        "category": "1",
        "acquired_on": "2020-04-01",
    }
    assert set(answer["items"]) == set(QUALIFICATION)  # only the permitted items, not the facility
    try:
        protocol.open_sealed(protocol.new_exchange_key(), sealed, aad)
    except protocol.ProtocolError:
        pass
    else:
        raise AssertionError("another key opened the answer")
    (rec,) = _records(app_engine, giver, request.request_id)
    assert (rec.kind, rec.outcome, rec.inquirer_agency, rec.provider_agency) == (
        "provision",
        "provided",
        asker.kaigo,
        giver.kaigo,
    )
    assert rec.record_no == response.provider_record_id
    assert rec.inquirer_at is not None and rec.provider_at is not None  # both sides' timestamps
    assert rec.keep_until.year == rec.recorded_at.year + 7


def test_replayed_request_id_gets_the_same_response_and_one_record(
    app_engine: Engine, cities: tuple[City, City], network: Network
) -> None:
    asker, giver = cities
    _, token = provider_person(app_engine, giver)
    request = request_for(
        network.permit(inquirer=asker.kaigo, provider=giver.kaigo, provider_token=token),
        protocol.new_exchange_key(),
    )
    first = provide(app_engine, giver, request)
    again = provide(app_engine, giver, request)
    assert again == first
    assert len(_records(app_engine, giver, request.request_id)) == 1


def test_wrongly_signed_permit_is_refused_with_a_record(
    app_engine: Engine, cities: tuple[City, City], network: Network
) -> None:
    asker, giver = cities
    _, token = provider_person(app_engine, giver)
    forged = network.permit(
        inquirer=asker.kaigo, provider=giver.kaigo, provider_token=token, key=protocol.new_signing_key()
    )
    request = request_for(forged, protocol.new_exchange_key())
    response = provide(app_engine, giver, request)
    assert response.status == "refused" and response.sealed_answer is None
    assert "署名" in response.reason
    (rec,) = _records(app_engine, giver, request.request_id)
    assert rec.outcome == "denied" and rec.person_id is None


def test_tampered_permit_items_break_the_signature(
    app_engine: Engine, cities: tuple[City, City], network: Network
) -> None:
    asker, giver = cities
    _, token = provider_person(app_engine, giver)
    permit = network.permit(inquirer=asker.kaigo, provider=giver.kaigo, provider_token=token)
    body = permit.to_json()
    body["items"] = [*permit.items, "facility_name"]
    request = request_for(protocol.Permit.from_json(body), protocol.new_exchange_key())
    response = provide(app_engine, giver, request)
    assert response.status == "refused"
    assert _records(app_engine, giver, request.request_id)[0].outcome == "denied"


def test_expired_permit_is_refused_with_a_record(
    app_engine: Engine, cities: tuple[City, City], network: Network
) -> None:
    asker, giver = cities
    _, token = provider_person(app_engine, giver)
    permit = network.permit(
        inquirer=asker.kaigo, provider=giver.kaigo, provider_token=token, expires_in=dt.timedelta(seconds=-1)
    )
    request = request_for(permit, protocol.new_exchange_key())
    response = provide(app_engine, giver, request)
    assert response.status == "refused" and "有効期限" in response.reason
    assert _records(app_engine, giver, request.request_id)[0].outcome == "denied"


def test_permit_for_another_provider_is_refused(
    app_engine: Engine, cities: tuple[City, City], network: Network
) -> None:
    asker, giver = cities
    _, token = provider_person(app_engine, giver)
    permit = network.permit(
        inquirer=asker.kaigo, provider=asker.kaigo.replace(asker.code, "999999"), provider_token=token
    )
    request = request_for(permit, protocol.new_exchange_key())
    response = provide(app_engine, giver, request)
    assert response.status == "refused" and "当団体" in response.reason
    assert _records(app_engine, giver, request.request_id)[0].outcome == "denied"


def test_signed_permit_outside_the_list_is_refused_again_by_the_provider(
    app_engine: Engine, cities: tuple[City, City], network: Network
) -> None:
    # The network signed it, but our own copy of the 照会許可用照合リスト does not allow the item.
    asker, giver = cities
    _, token = provider_person(app_engine, giver)
    permit = network.permit(
        inquirer=asker.kaigo, provider=giver.kaigo, provider_token=token, items=("insured_no", "birth_date")
    )
    request = request_for(permit, protocol.new_exchange_key())
    response = provide(app_engine, giver, request)
    assert response.status == "refused" and "birth_date" in response.reason
    assert _records(app_engine, giver, request.request_id)[0].outcome == "refused"


def test_unknown_token_and_missing_replica_are_not_found_with_a_record(
    app_engine: Engine, cities: tuple[City, City], network: Network
) -> None:
    asker, giver = cities
    unknown = request_for(
        network.permit(inquirer=asker.kaigo, provider=giver.kaigo, provider_token="x" * 32),
        protocol.new_exchange_key(),
    )
    assert provide(app_engine, giver, unknown).status == "not_found"
    assert _records(app_engine, giver, unknown.request_id)[0].outcome == "not_found"

    from kiban.gateway import tokens

    with app_engine.begin() as conn:
        tokens.store_token(
            conn, city_code=giver.code, person_id=4242, agency_code=giver.kaigo, token="t" * 32
        )
    no_replica = request_for(
        network.permit(inquirer=asker.kaigo, provider=giver.kaigo, provider_token="t" * 32),
        protocol.new_exchange_key(),
    )
    response = provide(app_engine, giver, no_replica)
    assert response.status == "not_found" and "副本" in response.reason
    assert _records(app_engine, giver, no_replica.request_id)[0].person_id == 4242


def test_no_auto_response_item_is_held_without_an_answer(
    app_engine: Engine, cities: tuple[City, City], network: Network
) -> None:
    asker, giver = cities
    _, token = provider_person(app_engine, giver)
    request = request_for(
        network.permit(inquirer=asker.kaigo, provider=giver.kaigo, provider_token=token, items=HELD_ITEMS),
        protocol.new_exchange_key(),
    )
    response = provide(app_engine, giver, request)
    assert response.status == "held" and response.sealed_answer is None
    assert _records(app_engine, giver, request.request_id)[0].outcome == "held"
    with app_engine.begin() as conn:
        assert provision.pending_answers(conn, city_code=giver.code) == []
        held = conn.execute(
            text("SELECT status, held_items FROM gateway.held_provision WHERE request_id = :r"),
            {"r": request.request_id},
        ).one()
    assert held.status == "waiting" and list(held.held_items) == ["facility_name"]


def test_concurrent_replays_and_requests_make_one_record_each_and_one_chain(
    app_engine: Engine, cities: tuple[City, City], network: Network
) -> None:
    # Four workers deliver the same request at once (a retry racing the original), and others
    # deliver their own requests meanwhile: one record per request id, one unbroken chain.
    import threading

    asker, giver = cities
    _, token = provider_person(app_engine, giver)
    key = protocol.new_exchange_key()
    same = request_for(network.permit(inquirer=asker.kaigo, provider=giver.kaigo, provider_token=token), key)
    others = [
        request_for(network.permit(inquirer=asker.kaigo, provider=giver.kaigo, provider_token=token), key)
        for _ in range(8)
    ]
    got: list[object] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(batch: list) -> None:  # type: ignore[type-arg]
        try:
            start.wait()
            for r in batch:
                got.append((r.request_id, provide(app_engine, giver, r)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    batches = [[same, others[i]] for i in range(4)] + [[others[i], same] for i in range(4, 8)]
    threads = [threading.Thread(target=work, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    answers_to_same = {
        json.dumps(resp.to_json(), sort_keys=True) for rid, resp in got if rid == same.request_id
    }
    assert len(answers_to_same) == 1  # every delivery got the one stored response
    with app_engine.begin() as conn:
        found = records.search(conn, city_code=giver.code, where=records.RecordFilter())
        assert records.verify_records(conn, giver.code) == []
    ids = [r.request_id for r in found]
    assert len(ids) == len(set(ids)) == 9
    assert sorted(r.seq for r in found) == list(range(1, 10))


def test_malformed_permit_is_refused_with_a_record(app_engine: Engine, cities: tuple[City, City]) -> None:
    _, giver = cities
    request = protocol.ProvisionRequest(
        request_id="0" * 32,
        permit={"permit_id": "p1", "inquirer_agency": "999999-kaigo"},
        inquirer_public_key="AAAA",
        sent_at="not a time",
    )
    response = provide(app_engine, giver, request)
    assert response.status == "refused" and "形式" in response.reason
    (rec,) = _records(app_engine, giver, request.request_id)
    assert (rec.outcome, rec.inquirer_agency, rec.inquirer_at) == ("denied", "999999-kaigo", None)
    with app_engine.begin() as conn:
        assert records.verify_records(conn, giver.code) == []
