"""情報照会 (inquirer side) and the 自動応答不可 review, through both cities' real gateway code."""

from __future__ import annotations

import datetime as dt

import pytest
from gateway_support import (
    HELD_ITEMS,
    City,
    Network,
    open_and_permit,
    provide,
    provider_person,
    receive,
)
from sqlalchemy import Engine, text

from kiban.gateway import inquiry, provision, records, review, tenants
from kiban.gateway.errors import InquiryRefused, ReviewError, TokenMissing
from kiban.network import protocol
from kiban.security.context import Business
from kiban.security.errors import AccessDenied


def _records(engine: Engine, city: City, request_id: str) -> list[records.Record]:
    with engine.begin() as conn:
        found = records.search(conn, city_code=city.code, where=records.RecordFilter())
    return sorted((r for r in found if r.request_id == request_id), key=lambda r: r.seq)


def test_inquiry_round_trip_result_is_readable_and_recorded_on_both_sides(
    app_engine: Engine, cities: tuple[City, City], network: Network, staff_ctx
) -> None:
    asker, giver = cities
    ctx = staff_ctx(Business.CHUKAN, "operator", purpose="chukan.operation")
    _, giver_token = provider_person(app_engine, giver)
    request_id, request = open_and_permit(app_engine, ctx, network, asker, giver, giver_token=giver_token)
    response = provide(app_engine, giver, request)
    receive(app_engine, asker, request_id, response)
    receive(app_engine, asker, request_id, response)  # a duplicate delivery changes nothing

    with app_engine.begin() as conn:
        result = inquiry.read_result(conn, ctx, city_code=asker.code, request_id=request_id)
        state = inquiry.load_inquiry(conn, city_code=asker.code, request_id=request_id)
    assert result["items"]["insured_no"] == "0000123456"
    assert state.status == "completed" and state.provider_record_id == response.provider_record_id
    assert state.delete_after is not None and state.completed_at is not None
    (mine,) = _records(app_engine, asker, request_id)
    (theirs,) = _records(app_engine, giver, request_id)
    assert (mine.kind, mine.outcome, theirs.kind, theirs.outcome) == (
        "inquiry",
        "provided",
        "provision",
        "provided",
    )
    assert mine.inquirer_at == theirs.inquirer_at  # the inquirer's sent_at, on both sides


def test_inquiry_outside_the_list_is_refused_with_a_record(
    app_engine: Engine, cities: tuple[City, City], staff_ctx
) -> None:
    asker, giver = cities
    ctx = staff_ctx(Business.CHUKAN, "operator", purpose="chukan.operation")
    with pytest.raises(InquiryRefused) as refused, app_engine.begin() as conn:
        inquiry.open_inquiry(
            conn,
            ctx,
            city_code=asker.code,
            person_id=77,
            inquirer_agency=asker.kaigo,
            provider_agency=giver.kaigo,
            procedure_code="kaigo.qualification",
            dataset="kaigo.qualification",
            items=["insured_no", "my_number"],
        )
    assert "my_number" in str(refused.value)
    (rec,) = _records(app_engine, asker, refused.value.request_id)  # committed despite the exception
    assert (rec.kind, rec.outcome, rec.person_id, rec.staff_id) == ("inquiry", "refused", 77, ctx.staff_id)
    with app_engine.begin() as conn:
        state = inquiry.load_inquiry(conn, city_code=asker.code, request_id=refused.value.request_id)
    assert state.status == "refused"


def test_inquiry_needs_the_persons_token(app_engine: Engine, cities: tuple[City, City], staff_ctx) -> None:
    asker, giver = cities
    ctx = staff_ctx(Business.CHUKAN, "operator", purpose="chukan.operation")
    with pytest.raises(TokenMissing), app_engine.begin() as conn:
        inquiry.open_inquiry(
            conn,
            ctx,
            city_code=asker.code,
            person_id=78,
            inquirer_agency=asker.kaigo,
            provider_agency=giver.kaigo,
            procedure_code="kaigo.qualification",
            dataset="kaigo.qualification",
            items=["insured_no"],
        )


def test_network_refusal_is_recorded(
    app_engine: Engine, cities: tuple[City, City], network: Network, staff_ctx
) -> None:
    asker, giver = cities
    ctx = staff_ctx(Business.CHUKAN, "operator", purpose="chukan.operation")
    from gateway_support import new_token

    from kiban.gateway import tokens

    with app_engine.begin() as conn:
        tokens.store_token(
            conn, city_code=asker.code, person_id=79, agency_code=asker.kaigo, token=new_token()
        )
        request_id, _ = inquiry.open_inquiry(
            conn,
            ctx,
            city_code=asker.code,
            person_id=79,
            inquirer_agency=asker.kaigo,
            provider_agency=giver.kaigo,
            procedure_code="kaigo.qualification",
            dataset="kaigo.qualification",
            items=["insured_no"],
        )
    with app_engine.begin() as conn:
        inquiry.attach_permit(
            conn, city_code=asker.code, request_id=request_id, permit=None, refusal="対象外"
        )
    (rec,) = _records(app_engine, asker, request_id)
    assert rec.outcome == "refused" and rec.reason == "対象外"


def test_held_item_waits_for_a_supervisor_and_the_released_answer_opens_for_the_inquirer(
    app_engine: Engine, cities: tuple[City, City], network: Network, staff_ctx
) -> None:
    asker, giver = cities
    operator = staff_ctx(Business.CHUKAN, "operator", purpose="chukan.operation")
    clerk = staff_ctx(Business.CHUKAN, "operator", purpose="chukan.review")
    chief = staff_ctx(Business.CHUKAN, "supervisor", purpose="chukan.review")
    _, giver_token = provider_person(app_engine, giver)
    request_id, request = open_and_permit(
        app_engine, operator, network, asker, giver, giver_token=giver_token, items=HELD_ITEMS
    )
    held = provide(app_engine, giver, request)
    assert held.status == "held"
    receive(app_engine, asker, request_id, held)
    with app_engine.begin() as conn:
        assert inquiry.load_inquiry(conn, city_code=asker.code, request_id=request_id).status == "held"
        queue = review.held_queue(conn, chief, city_code=giver.code)
    assert [h.request_id for h in queue] == [request_id]
    assert queue[0].held_items == ("facility_name",)

    with pytest.raises(AccessDenied), app_engine.begin() as conn:  # a 担当者 cannot release
        review.release_held(conn, clerk, city_code=giver.code, request_id=request_id)
    with app_engine.begin() as conn:
        assert provision.pending_answers(conn, city_code=giver.code) == []
        released = review.release_held(
            conn, chief, city_code=giver.code, request_id=request_id, note="確認済"
        )
    with pytest.raises(ReviewError), app_engine.begin() as conn:  # only once
        review.release_held(conn, chief, city_code=giver.code, request_id=request_id)
    with app_engine.begin() as conn:
        pending = provision.pending_answers(conn, city_code=giver.code)
    assert pending == [(asker.kaigo, released)] and released.status == "provided"

    receive(app_engine, asker, request_id, released)  # as N's sender delivers it
    with app_engine.begin() as conn:
        provision.mark_answer_sent(conn, city_code=giver.code, request_id=request_id)
        assert provision.pending_answers(conn, city_code=giver.code) == []
        result = inquiry.read_result(conn, operator, city_code=asker.code, request_id=request_id)
        tenants.scope(conn, giver.code)  # RLS: the held row is the provider's
        row = conn.execute(
            text("SELECT reviewed_by, status FROM gateway.held_provision WHERE request_id = :r"),
            {"r": request_id},
        ).one()
    assert result["items"]["facility_name"] == "特別養護老人ホーム 基盤の里"
    assert (row.reviewed_by, row.status) == (chief.staff_id, "released")
    assert [(r.phase, r.outcome) for r in _records(app_engine, giver, request_id)] == [
        ("answer", "held"),
        ("review", "released"),
    ]
    assert [(r.phase, r.outcome) for r in _records(app_engine, asker, request_id)] == [
        ("answer", "held"),
        ("review", "released"),
    ]
    # a replay of the request after the release gets the released answer, and no new record
    assert provide(app_engine, giver, request) == released
    assert len(_records(app_engine, giver, request_id)) == 2


def test_refused_held_item_is_recorded_and_answered_as_refused(
    app_engine: Engine, cities: tuple[City, City], network: Network, staff_ctx
) -> None:
    asker, giver = cities
    operator = staff_ctx(Business.CHUKAN, "operator", purpose="chukan.operation")
    chief = staff_ctx(Business.CHUKAN, "supervisor", purpose="chukan.review")
    _, giver_token = provider_person(app_engine, giver)
    request_id, request = open_and_permit(
        app_engine, operator, network, asker, giver, giver_token=giver_token, items=HELD_ITEMS
    )
    provide(app_engine, giver, request)
    with pytest.raises(ReviewError), app_engine.begin() as conn:
        review.refuse_held(conn, chief, city_code=giver.code, request_id=request_id, reason=" ")
    with app_engine.begin() as conn:
        refused = review.refuse_held(
            conn, chief, city_code=giver.code, request_id=request_id, reason="本人の申出"
        )
    assert refused.status == "refused" and refused.sealed_answer is None
    assert _records(app_engine, giver, request_id)[-1].outcome == "refused"


def test_expired_results_are_deleted(
    app_engine: Engine, cities: tuple[City, City], network: Network, staff_ctx
) -> None:
    asker, giver = cities
    ctx = staff_ctx(Business.CHUKAN, "operator", purpose="chukan.operation")
    _, giver_token = provider_person(app_engine, giver)
    request_id, request = open_and_permit(app_engine, ctx, network, asker, giver, giver_token=giver_token)
    receive(app_engine, asker, request_id, provide(app_engine, giver, request))
    with app_engine.begin() as conn:
        state = inquiry.load_inquiry(conn, city_code=asker.code, request_id=request_id)
        assert state.delete_after is not None
        assert (
            inquiry.purge_expired(
                conn, city_code=asker.code, now=state.delete_after - dt.timedelta(seconds=1)
            )
            == 0
        )
        assert inquiry.purge_expired(conn, city_code=asker.code, now=state.delete_after) == 1
    with app_engine.begin() as conn:
        gone = inquiry.load_inquiry(conn, city_code=asker.code, request_id=request_id)
        from kiban.gateway.errors import InquiryStateError

        with pytest.raises(InquiryStateError, match="削除"):
            inquiry.read_result(conn, ctx, city_code=asker.code, request_id=request_id)
    assert not gone.has_result and gone.result_deleted_at is not None
    assert len(_records(app_engine, asker, request_id)) == 1  # the record stays


def test_abandoned_inquiry_result_clock_starts(
    app_engine: Engine, cities: tuple[City, City], network: Network, staff_ctx
) -> None:
    asker, giver = cities
    ctx = staff_ctx(Business.CHUKAN, "operator", purpose="chukan.operation")
    _, giver_token = provider_person(app_engine, giver)
    request_id, _ = open_and_permit(app_engine, ctx, network, asker, giver, giver_token=giver_token)
    with app_engine.begin() as conn:
        inquiry.abandon_inquiry(conn, city_code=asker.code, request_id=request_id, reason="応答なし")
        state = inquiry.load_inquiry(conn, city_code=asker.code, request_id=request_id)
    assert state.status == "abandoned" and state.abandoned_at is not None
    assert state.delete_after == state.abandoned_at + dt.timedelta(days=30)


def test_answer_sealed_to_another_request_is_not_accepted(
    app_engine: Engine, cities: tuple[City, City], network: Network, staff_ctx
) -> None:
    asker, giver = cities
    ctx = staff_ctx(Business.CHUKAN, "operator", purpose="chukan.operation")
    _, giver_token = provider_person(app_engine, giver)
    first_id, first = open_and_permit(app_engine, ctx, network, asker, giver, giver_token=giver_token)
    second_id, _ = open_and_permit(app_engine, ctx, network, asker, giver, giver_token=giver_token)
    answer = provide(app_engine, giver, first)
    moved = protocol.ProvisionResponse(**{**answer.to_json(), "request_id": second_id})
    receive(app_engine, asker, second_id, moved)
    with app_engine.begin() as conn:
        state = inquiry.load_inquiry(conn, city_code=asker.code, request_id=second_id)
    assert state.status == "abandoned" and not state.has_result
    assert _records(app_engine, asker, second_id)[0].outcome == "denied"
    assert first_id != second_id
