"""The live periods of one person never overlap — 住所・氏名 (identity.person_version) and 世帯
(identity.household_member) — kept by the trigger of migration 0015 (it replaced two GiST EXCLUDE
constraints): refused with SQLSTATE 23P01 and the old constraint's name, also when two transactions
write the same person at once, and refused outright under REPEATABLE READ."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import date

import psycopg
import pytest
from psycopg import errors
from sqlalchemy import Engine

from kiban.db.config import to_libpq_url
from kiban.identity import repo

VERSION_COPY = (
    "INSERT INTO identity.person_version (person_id, valid, family_name, family_kana, sex, birth_date,"
    " address, resident_class, kana_key, name_key, address_key, change_reason)"
    " SELECT person_id, %s::daterange, family_name, family_kana, sex, birth_date, address, resident_class,"
    " kana_key, name_key, address_key, '試験' FROM identity.person_version"
    " WHERE person_id = %s ORDER BY version_id LIMIT 1"
)


@pytest.fixture
def raw(database_url: str) -> Iterator[Callable[..., psycopg.Connection]]:
    opened: list[psycopg.Connection] = []

    def connect(**kwargs: object) -> psycopg.Connection:
        conn = psycopg.connect(to_libpq_url(database_url), **kwargs)  # type: ignore[arg-type]
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()


def close_current(conn: psycopg.Connection, person_id: int, on: str) -> None:
    conn.execute(
        "UPDATE identity.person_version SET valid = daterange(lower(valid), %s)"
        " WHERE person_id = %s AND upper_inf(valid) AND superseded_at IS NULL",
        (on, person_id),
    )


def test_an_overlapping_version_is_refused_with_the_old_constraints_name(
    new_person: Callable[..., repo.PersonRef], raw, db_engine: Engine
) -> None:
    p = new_person(valid_from=date(2000, 1, 1))
    conn = raw()
    # A closed period inside the open one: not a second current version (person_version_current's
    # unique index would refuse that first), only the overlap.
    with pytest.raises(errors.ExclusionViolation) as caught:
        conn.execute(VERSION_COPY, ("[2005-01-01,2006-01-01)", p.person_id))
    assert caught.value.diag.constraint_name == "person_version_person_id_valid_excl"
    assert caught.value.diag.table_name == "person_version"
    conn.rollback()
    # Closed the day before, the next period may start that day: [2000-01-01,2010-01-01) + [2010-01-01,)
    close_current(conn, p.person_id, "2010-01-01")
    conn.execute(VERSION_COPY, ("[2010-01-01,)", p.person_id))
    conn.commit()
    # A superseded row is history: a correction may cover the same days.
    conn.execute(
        "UPDATE identity.person_version SET superseded_at = now() WHERE person_id = %s AND upper_inf(valid)",
        (p.person_id,),
    )
    conn.execute(VERSION_COPY, ("[2010-01-01,)", p.person_id))
    conn.commit()
    # And stretching the first period into the live second one is refused, by UPDATE too.
    with pytest.raises(errors.ExclusionViolation):
        conn.execute(
            "UPDATE identity.person_version SET valid = daterange('2000-01-01', '2012-01-01')"
            " WHERE person_id = %s AND lower(valid) = '2000-01-01'",
            (p.person_id,),
        )
    conn.rollback()
    count = conn.execute(
        "SELECT count(*) FROM identity.person_version WHERE person_id = %s AND superseded_at IS NULL",
        (p.person_id,),
    ).fetchone()
    assert count == (2,)


def test_two_writers_of_one_person_take_turns_and_the_second_is_refused(
    new_person: Callable[..., repo.PersonRef], raw
) -> None:
    """Neither sees the other's uncommitted row: without the lock both would pass their check."""
    p = new_person()
    first, second = raw(), raw()
    close_current(first, p.person_id, "2020-01-01")
    first.execute(VERSION_COPY, ("[2020-01-01,)", p.person_id))  # holds the person's lock
    outcome: list[BaseException | None] = []

    def write_second() -> None:
        try:
            second.execute(VERSION_COPY, ("[2021-06-01,2022-01-01)", p.person_id))
            second.commit()
            outcome.append(None)
        except BaseException as exc:  # handed to the test thread
            second.rollback()
            outcome.append(exc)

    thread = threading.Thread(target=write_second)
    thread.start()
    time.sleep(0.5)
    assert not outcome, "the second writer must wait for the first"
    first.commit()
    thread.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], errors.ExclusionViolation)
    periods = first.execute(
        "SELECT valid::text FROM identity.person_version WHERE person_id = %s AND superseded_at IS NULL"
        " ORDER BY lower(valid)",
        (p.person_id,),
    ).fetchall()
    assert [r[0] for r in periods] == ["[1990-04-01,2020-01-01)", "[2020-01-01,)"]


def test_writers_of_different_persons_do_not_wait(new_person: Callable[..., repo.PersonRef], raw) -> None:
    a, b = new_person(), new_person()
    first, second = raw(), raw()
    close_current(first, a.person_id, "2020-01-01")
    first.execute(VERSION_COPY, ("[2020-01-01,)", a.person_id))
    second.execute("SET lock_timeout = '2s'")
    close_current(second, b.person_id, "2020-01-01")
    second.execute(VERSION_COPY, ("[2020-01-01,)", b.person_id))
    second.commit()
    first.commit()


def test_periods_are_not_written_under_repeatable_read(
    new_person: Callable[..., repo.PersonRef], raw
) -> None:
    p = new_person()
    conn = raw()
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    with pytest.raises(errors.FeatureNotSupported, match="READ COMMITTED"):
        close_current(conn, p.person_id, "2020-01-01")
    conn.rollback()


def test_two_live_household_memberships_of_one_person_are_refused(
    new_person: Callable[..., repo.PersonRef], raw
) -> None:
    p = new_person()
    conn = raw()
    ids = [
        conn.execute(
            "INSERT INTO identity.household (city_code, household_no) VALUES ('992011', %s) RETURNING household_id",
            (f"{number:010d}",),
        ).fetchone()[0]  # type: ignore[index]
        for number in (p.person_id * 10 + 1, p.person_id * 10 + 2)
    ]
    member = (
        "INSERT INTO identity.household_member (household_id, person_id, relation, is_head, valid, join_reason)"
        " VALUES (%s, %s, '世帯主', true, %s::daterange, '試験')"
    )
    conn.execute(member, (ids[0], p.person_id, "[2000-01-01,2010-01-01)"))
    conn.execute(member, (ids[1], p.person_id, "[2010-01-01,)"))  # moved on the day the first ended
    with pytest.raises(errors.ExclusionViolation) as caught:
        conn.execute(member, (ids[0], p.person_id, "[2015-01-01,)"))
    assert caught.value.diag.constraint_name == "household_member_person_id_valid_excl"
    conn.rollback()
