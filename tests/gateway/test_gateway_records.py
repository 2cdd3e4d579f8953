"""情報提供等記録: append-only, hash-chained per city; tampering is detected; 本人開示 export."""

from __future__ import annotations

import csv
import io
import json

import pytest
from gateway_support import City, Network, open_and_permit, provide, provider_person, receive, request_for
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from kiban.gateway import exports, records
from kiban.network import protocol
from kiban.security.context import Business


def _three_provisions(app_engine: Engine, network: Network, asker: City, giver: City) -> list[str]:
    ids = []
    for _ in range(3):
        _, token = provider_person(app_engine, giver)
        request = request_for(
            network.permit(inquirer=asker.kaigo, provider=giver.kaigo, provider_token=token),
            protocol.new_exchange_key(),
        )
        provide(app_engine, giver, request)
        ids.append(request.request_id)
    return ids


def _verify(engine: Engine, city: City) -> list[str]:
    with engine.begin() as conn:
        return records.verify_records(conn, city.code)


def _tamper(db_engine: Engine, sql: str, params: dict[str, object]) -> None:
    """As the superuser, with the append-only trigger switched off (and on again) in one transaction."""
    with db_engine.begin() as conn:
        conn.execute(text("ALTER TABLE gateway.record DISABLE TRIGGER record_append_only"))
        conn.execute(text(sql), params)
        conn.execute(text("ALTER TABLE gateway.record ENABLE TRIGGER record_append_only"))


def test_records_are_append_only_even_for_the_owner(
    app_engine: Engine, db_engine: Engine, cities: tuple[City, City], network: Network
) -> None:
    asker, giver = cities
    (first, *_) = _three_provisions(app_engine, network, asker, giver)
    for sql in (
        "UPDATE gateway.record SET outcome = 'refused' WHERE request_id = :r",
        "DELETE FROM gateway.record WHERE request_id = :r",
    ):
        with pytest.raises(DBAPIError, match="append-only"), db_engine.begin() as conn:
            conn.execute(text(sql), {"r": first})
    assert _verify(app_engine, giver) == []


def test_a_changed_record_is_detected(
    app_engine: Engine, db_engine: Engine, cities: tuple[City, City], network: Network
) -> None:
    asker, giver = cities
    ids = _three_provisions(app_engine, network, asker, giver)
    assert _verify(app_engine, giver) == []
    _tamper(
        db_engine,
        "UPDATE gateway.record SET items = ARRAY['insured_no'] WHERE request_id = :r",
        {"r": ids[1]},
    )
    problems = _verify(app_engine, giver)
    assert len(problems) == 1 and "改ざん" in problems[0] and ids[1] in problems[0]
    assert _verify(app_engine, asker) == []  # another city's chain is its own


def test_a_removed_record_is_detected(
    app_engine: Engine, db_engine: Engine, cities: tuple[City, City], network: Network
) -> None:
    asker, giver = cities
    ids = _three_provisions(app_engine, network, asker, giver)
    _tamper(db_engine, "DELETE FROM gateway.record WHERE request_id = :r", {"r": ids[1]})
    problems = _verify(app_engine, giver)
    assert any("ありません" in p for p in problems) and any("連鎖" in p for p in problems)


def test_a_removed_last_record_is_detected(
    app_engine: Engine, db_engine: Engine, cities: tuple[City, City], network: Network
) -> None:
    asker, giver = cities
    ids = _three_provisions(app_engine, network, asker, giver)
    _tamper(db_engine, "DELETE FROM gateway.record WHERE request_id = :r", {"r": ids[2]})
    assert any("先頭" in p for p in _verify(app_engine, giver))


def test_an_inserted_record_is_detected(
    app_engine: Engine, db_engine: Engine, cities: tuple[City, City], network: Network
) -> None:
    asker, giver = cities
    _three_provisions(app_engine, network, asker, giver)
    with app_engine.begin() as conn:
        (last, *_) = records.search(conn, city_code=giver.code, where=records.RecordFilter(limit=1))
    # A forged row appended after the last one, its hash correctly recomputed by the forger:
    # the chain head (locked and moved by every honest writer) no longer matches.
    fields = {k: getattr(last, k) for k in records._FIELDS}
    fields.update(seq=last.seq + 1, request_id="forged", outcome="provided")
    forged_hash = records.row_hash(last.hash, fields)
    _tamper(
        db_engine,
        "INSERT INTO gateway.record (city_code, seq, kind, phase, request_id, person_id, inquirer_agency,"
        " provider_agency, procedure_code, dataset, items, outcome, reason, permit_id, list_version,"
        " inquirer_at, provider_at, recorded_at, staff_id, keep_until, prev_hash, hash)"
        " VALUES (:city_code, :seq, :kind, :phase, :request_id, :person_id, :inquirer_agency,"
        " :provider_agency, :procedure_code, :dataset, :items, :outcome, :reason, :permit_id, :list_version,"
        " :inquirer_at, :provider_at, :recorded_at, :staff_id, :keep_until, :prev_hash, :hash)",
        {**fields, "items": list(last.items), "prev_hash": last.hash, "hash": forged_hash},
    )
    problems = _verify(app_engine, giver)
    assert len(problems) == 1 and "先頭" in problems[0]


def test_person_disclosure_export_lists_who_asked_and_what(
    app_engine: Engine, cities: tuple[City, City], network: Network, staff_ctx
) -> None:
    asker, giver = cities
    operator = staff_ctx(Business.CHUKAN, "operator", purpose="chukan.operation")
    person_id, token = provider_person(app_engine, giver)
    request_id, request = open_and_permit(app_engine, operator, network, asker, giver, giver_token=token)
    receive(app_engine, asker, request_id, provide(app_engine, giver, request))
    discloser = staff_ctx(Business.CHUKAN, "operator", purpose="chukan.disclosure")
    with app_engine.begin() as conn:
        body = exports.export_person_records(conn, discloser, city_code=giver.code, person_id=person_id)
        as_json = json.loads(
            exports.export_person_records(
                conn, discloser, city_code=giver.code, person_id=person_id, fmt="json"
            )
        )
        logged = conn.execute(
            text("SELECT count(*) FROM audit.access_log WHERE staff_id = :s AND action = 'export'"),
            {"s": discloser.staff_id},
        ).scalar_one()
    (row,) = list(csv.DictReader(io.StringIO(body)))
    assert row["照会機関"] == asker.kaigo and row["提供機関"] == giver.kaigo
    assert row["種別"] == "提供" and row["結果"] == "提供済"
    assert row["項目"] == "insurer_no insured_no category acquired_on"
    assert row["照会側日時"] and row["提供側日時"]
    assert as_json["records"][0]["inquirer_agency"] == asker.kaigo
    assert token not in body and token not in json.dumps(as_json)  # no 符号 in a disclosure
    assert logged == 2


def test_a_rewritten_chain_passes_the_chain_check_but_not_the_signed_checkpoint(
    app_engine: Engine, db_engine: Engine, cities: tuple[City, City], network: Network, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from kiban.gateway import checkpoint

    asker, giver = cities
    ids = _three_provisions(app_engine, network, asker, giver)
    key = checkpoint.signing_key(tmp_path / "keys" / checkpoint.KEY_FILE)
    with app_engine.begin() as conn:
        path = checkpoint.write_checkpoint(conn, giver.code, key=key, out_dir=tmp_path / "cp")
        assert checkpoint.verify_with_checkpoint(conn, giver.code, path, key.public_key()) == []
    # The superuser changes record 2 and recomputes the hashes of 2 and 3 and the head.
    with db_engine.begin() as conn:
        conn.execute(text("ALTER TABLE gateway.record DISABLE TRIGGER record_append_only"))
        conn.execute(
            text("UPDATE gateway.record SET outcome = 'refused' WHERE request_id = :r"), {"r": ids[1]}
        )
        rows = list(
            conn.execute(
                text("SELECT * FROM gateway.record WHERE city_code = :c ORDER BY seq"), {"c": giver.code}
            )
        )
        prev = records.GENESIS
        for row in rows:
            digest = records.row_hash(prev, {k: getattr(row, k) for k in records._FIELDS})
            conn.execute(
                text("UPDATE gateway.record SET prev_hash = :p, hash = :h WHERE record_id = :id"),
                {"p": prev, "h": digest, "id": row.record_id},
            )
            prev = digest
        conn.execute(
            text("UPDATE gateway.record_head SET hash = :h WHERE city_code = :c"),
            {"h": prev, "c": giver.code},
        )
        conn.execute(text("ALTER TABLE gateway.record ENABLE TRIGGER record_append_only"))
    assert _verify(app_engine, giver) == []  # the chain alone is fooled
    with app_engine.begin() as conn:
        problems = checkpoint.verify_with_checkpoint(conn, giver.code, path, key.public_key())
    assert len(problems) == 1 and "書き換え" in problems[0]
    forged = path.read_text("utf-8").replace('"seq": 3', '"seq": 2')
    path.write_text(forged, "utf-8")
    with pytest.raises(checkpoint.CheckpointInvalid), app_engine.begin() as conn:
        checkpoint.verify_with_checkpoint(conn, giver.code, path, key.public_key())
