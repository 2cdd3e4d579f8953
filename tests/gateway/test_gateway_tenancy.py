"""Tenant separation (row-level security): one city's scope never reads or writes another's rows,
in any gateway table, with the application's role kiban_app (seed 000: 他団体が管理する情報には一切
アクセスできない)."""

from __future__ import annotations

import json

import pytest
from gateway_support import HELD_ITEMS, City, Network, open_and_permit, provide, provider_person, receive
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from kiban.gateway import review, tenants
from kiban.security.context import Business

TABLES = (
    "tenant",
    "token",
    "replica",
    "inquiry",
    "provision",
    "held_provision",
    "outgoing_answer",
    "record_head",
    "record",
)


def _fill_both(app_engine: Engine, network: Network, staff_ctx, a: City, b: City) -> None:
    operator = staff_ctx(Business.CHUKAN, "operator", purpose="chukan.operation")
    chief = staff_ctx(Business.CHUKAN, "supervisor", purpose="chukan.review")
    for asker, giver in ((a, b), (b, a)):
        _, token = provider_person(app_engine, giver)
        request_id, request = open_and_permit(
            app_engine, operator, network, asker, giver, giver_token=token, items=HELD_ITEMS
        )
        receive(app_engine, asker, request_id, provide(app_engine, giver, request))
        with app_engine.begin() as conn:
            review.release_held(conn, chief, city_code=giver.code, request_id=request_id)


def test_every_gateway_table_is_under_forced_row_level_security(db_engine: Engine) -> None:
    with db_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'gateway' AND c.relkind = 'r'"
            )
        ).all()
        policies = set(
            conn.execute(text("SELECT tablename FROM pg_policies WHERE schemaname = 'gateway'")).scalars()
        )
    assert {r.relname for r in rows} == set(TABLES)  # a new table must be added here (and get RLS)
    assert all(r.relrowsecurity and r.relforcerowsecurity for r in rows)
    assert policies == set(TABLES)


def test_one_city_never_reads_or_writes_anothers_rows(
    app_engine: Engine, cities: tuple[City, City], network: Network, staff_ctx
) -> None:
    a, b = cities
    _fill_both(app_engine, network, staff_ctx, a, b)
    for me, other in ((a, b), (b, a)):
        for table in TABLES:
            with app_engine.begin() as conn:
                tenants.scope(conn, me.code)
                mine = conn.execute(text(f"SELECT count(*) FROM gateway.{table}")).scalar_one()
                theirs = conn.execute(
                    text(f"SELECT count(*) FROM gateway.{table} WHERE city_code = :o"), {"o": other.code}
                ).scalar_one()
                foreign_cities = conn.execute(
                    text(f"SELECT count(*) FROM gateway.{table} WHERE city_code <> :m"), {"m": me.code}
                ).scalar_one()
                touched = (
                    0  # kiban_app has no UPDATE on the record at all (below)
                    if table == "record"
                    else conn.execute(
                        text(f"UPDATE gateway.{table} SET city_code = city_code WHERE city_code = :o"),
                        {"o": other.code},
                    ).rowcount
                )
                copy = conn.execute(
                    text(
                        f"SELECT to_jsonb(t) || jsonb_build_object('city_code', CAST(:o AS text)) FROM gateway.{table} t LIMIT 1"
                    ),
                    {"o": other.code},
                ).scalar_one()
            assert mine > 0, f"{table}: the test did not create a row for {me.code}"
            assert (theirs, foreign_cities, touched) == (0, 0, 0), table
            # Writing a row of the other city (or moving ours to it) is refused by WITH CHECK.
            with pytest.raises(DBAPIError, match="row-level security"), app_engine.begin() as conn:
                tenants.scope(conn, me.code)
                conn.execute(
                    text(
                        f"INSERT INTO gateway.{table} OVERRIDING SYSTEM VALUE"
                        f" SELECT * FROM jsonb_populate_record(NULL::gateway.{table}, CAST(:j AS jsonb))"
                    ),
                    {"j": json.dumps(copy)},
                )
            refusal = "permission denied" if table == "record" else "row-level security"
            with pytest.raises(DBAPIError, match=refusal), app_engine.begin() as conn:
                tenants.scope(conn, me.code)
                conn.execute(text(f"UPDATE gateway.{table} SET city_code = :o"), {"o": other.code})


def test_an_unscoped_transaction_sees_no_gateway_row(app_engine: Engine, cities: tuple[City, City]) -> None:
    with app_engine.connect() as conn:
        for table in TABLES:
            assert conn.execute(text(f"SELECT count(*) FROM gateway.{table}")).scalar_one() == 0, table
