"""符号 and 副本: a token names one person and one agency; 副本 input is checked; 副本 vs 原本."""

from __future__ import annotations

import pytest
from gateway_support import City, new_token, provider_person
from sqlalchemy import Engine, text

from kiban.gateway import exports, replica, tenants, tokens
from kiban.gateway.errors import GatewayError
from kiban.network import protocol


def test_tokens_of_two_agencies_for_one_person_differ_and_do_not_link(
    app_engine: Engine, cities: tuple[City, City]
) -> None:
    city, _ = cities
    shared = new_token()
    with app_engine.begin() as conn:
        tokens.store_token(conn, city_code=city.code, person_id=5, agency_code=city.kaigo, token=shared)
    with pytest.raises(GatewayError, match="別の宛名または機関"), app_engine.begin() as conn:
        tokens.store_token(
            conn, city_code=city.code, person_id=5, agency_code=f"{city.code}-kokuho", token=shared
        )
    other = new_token()
    with app_engine.begin() as conn:
        tokens.store_token(
            conn, city_code=city.code, person_id=5, agency_code=f"{city.code}-kokuho", token=other
        )
        assert tokens.token_for(conn, city_code=city.code, person_id=5, agency_code=city.kaigo) == shared
        assert tokens.person_for_token(conn, city_code=city.code, token=other) == (5, f"{city.code}-kokuho")
        assert tokens.person_for_token(conn, city_code=city.code, token="nobody" * 4) is None


def test_bad_replica_input_names_the_record_and_field_and_writes_nothing(
    app_engine: Engine, cities: tuple[City, City]
) -> None:
    city, _ = cities
    cases = [
        ({"insured_no": "1", "my_number": "x"}, "項目 my_number"),
        ({"insured_no": ["1"]}, "項目 insured_no の値の型"),
        ({}, "項目がありません"),
    ]
    for items, message in cases:
        with pytest.raises(GatewayError, match=message) as err, app_engine.begin() as conn:
            replica.register_replica(
                conn,
                city_code=city.code,
                person_id=9,
                dataset="kaigo.qualification",
                items=items,
                source_ref="r",
            )
        assert "宛名 9" in str(err.value)
    with app_engine.begin() as conn:
        assert (
            replica.current_replica(conn, city_code=city.code, person_id=9, dataset="kaigo.qualification")
            is None
        )


def test_replica_versions_are_kept_and_the_newest_answers(
    app_engine: Engine, cities: tuple[City, City]
) -> None:
    city, _ = cities
    pid, _ = provider_person(app_engine, city, items={"insured_no": "1", "category": "1"})
    with app_engine.begin() as conn:
        replica.register_replica(
            conn,
            city_code=city.code,
            person_id=pid,
            dataset="kaigo.qualification",
            items={"insured_no": "1", "category": "2"},
            source_ref="fix",
        )
        now = replica.current_replica(conn, city_code=city.code, person_id=pid, dataset="kaigo.qualification")
    assert now is not None and (now.version, now.items["category"]) == (2, "2")
    assert now.digest == replica.digest_of({"insured_no": "1", "category": "2"})


def test_reconcile_reports_value_and_missing_differences(
    app_engine: Engine, cities: tuple[City, City]
) -> None:
    city, _ = cities
    same, _ = provider_person(app_engine, city, items={"insured_no": "1", "category": "1"})
    changed, _ = provider_person(app_engine, city, items={"insured_no": "2", "category": "1"})
    only_replica, _ = provider_person(app_engine, city, items={"insured_no": "3", "category": "1"})
    ds = "kaigo.qualification"
    originals = {
        (same, ds): {"insured_no": "1", "category": "1"},
        (changed, ds): {"insured_no": "2", "category": "2"},
        (4, ds): {"insured_no": "4", "category": "1"},
    }
    with app_engine.begin() as conn:
        diffs = exports.reconcile(conn, city.code, originals)
    by = {(d.person_id, d.kind, d.item) for d in diffs}
    assert by == {
        (changed, "value", "category"),
        (only_replica, "missing_in_original", None),
        (4, "missing_in_replica", None),
    }
    assert "値の不一致" in exports.reconciliation_csv(diffs)


def test_network_caller_is_checked_by_hash(app_engine: Engine, cities: tuple[City, City]) -> None:
    city, _ = cities
    with app_engine.begin() as conn:
        assert tenants.check_network_caller(conn, city.code, city.caller_token)
        assert not tenants.check_network_caller(conn, city.code, city.caller_token + "x")
        assert not tenants.check_network_caller(conn, city.code, "")
        stored = conn.execute(text("SELECT exchange_private_key, api_token FROM gateway.tenant")).one()
        key = tenants.exchange_private_key(conn, city.code)
        tenant = tenants.load_tenant(conn, city.code)
        api_token = tenants.network_api_token(conn, city.code)
    assert protocol.private_bytes(key) not in bytes(stored.exchange_private_key)  # stored only encrypted
    assert api_token.encode() not in bytes(stored.api_token)
    assert protocol.public_bytes(key) == tenant.exchange_public_key


def test_key_rotation_re_encrypts_the_gateway_ciphertexts(
    app_engine: Engine, db_engine: Engine, cities: tuple[City, City], network, staff_ctx
) -> None:  # type: ignore[no-untyped-def]
    from gateway_support import open_and_permit, provide, receive

    from kiban.gateway import inquiry
    from kiban.security import keys
    from kiban.security.context import Business

    asker, giver = cities
    ctx = staff_ctx(Business.CHUKAN, "operator", purpose="chukan.operation")
    _, token = provider_person(app_engine, giver)
    request_id, request = open_and_permit(app_engine, ctx, network, asker, giver, giver_token=token)
    receive(app_engine, asker, request_id, provide(app_engine, giver, request))
    with app_engine.begin() as conn:
        before_key = protocol.private_bytes(tenants.exchange_private_key(conn, asker.code))
        before = inquiry.read_result(conn, ctx, city_code=asker.code, request_id=request_id)

    report = keys.rotate(
        db_engine, columns=[tenants.PRIVATE_KEY_COLUMN, tenants.API_TOKEN_COLUMN, inquiry.RESULT_ENCRYPTED]
    )
    assert all(t.rows_reencrypted >= 1 for t in report.targets), report
    with app_engine.begin() as conn:
        tenants.scope(conn, asker.code)
        blob = conn.execute(
            text("SELECT result FROM gateway.inquiry WHERE request_id = :r"), {"r": request_id}
        ).scalar_one()
        assert keys.key_version_of(bytes(blob)) == keys.active_version(conn, keys.VAULT) == report.to_version
        assert protocol.private_bytes(tenants.exchange_private_key(conn, asker.code)) == before_key
        assert inquiry.read_result(conn, ctx, city_code=asker.code, request_id=request_id) == before
