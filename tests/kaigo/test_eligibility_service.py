"""被保険者番号 and 資格取得 through the service: one number per person, no overlapping periods,
every change logged and announced without a 個人番号."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from kiban.kaigo.eligibility import service
from kiban.kaigo.eligibility.model import AcquisitionReason, Category
from kiban.security.context import Business
from kiban.security.errors import AccessDenied

INSURER = "992011"


def test_a_person_never_gets_a_second_insured_number(app_engine: Engine, staff_ctx, new_person) -> None:
    ctx = staff_ctx(Business.KAIGO, purpose="kaigo.eligibility")
    person = new_person()
    with app_engine.begin() as conn:
        first = service.do_assign_insured_no(conn, ctx, insurer_no=INSURER, person_no=person.person_no)
    with app_engine.begin() as conn:
        again = service.do_assign_insured_no(conn, ctx, insurer_no=INSURER, person_no=person.person_no)
    assert again == first and len(first) == 10
    # The incident of seed 003 (one person, two numbers) cannot happen even by a direct insert.
    with pytest.raises(IntegrityError), app_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO kaigo.insured (insurer_no, insured_no, person_id) VALUES (:i, '9999999999', :p)"
            ),
            {"i": INSURER, "p": person.person_id},
        )
    other = new_person()
    with app_engine.begin() as conn:
        second = service.do_assign_insured_no(conn, ctx, insurer_no=INSURER, person_no=other.person_no)
    assert second != first  # unique within the insurer


def test_acquisition_is_logged_announced_and_overlaps_are_refused(
    app_engine: Engine, staff_ctx, new_person
) -> None:
    ctx = staff_ctx(Business.KAIGO, purpose="kaigo.eligibility")
    person = new_person(birth_date=date(1961, 4, 1))
    with app_engine.begin() as conn:
        q = service.do_acquire(
            conn, ctx, insurer_no=INSURER, person_no=person.person_no, category=Category.FIRST,
            acquired_on=date(2026, 3, 31), reason=AcquisitionReason.AGE_65,
        )  # fmt: skip
    assert q.acquired_on == date(2026, 3, 31)
    with app_engine.connect() as conn:
        logged = conn.execute(
            text(
                "SELECT count(*) FROM audit.access_log WHERE request_id = :r AND action = 'update' "
                "AND subjects @> ARRAY[:p]::text[]"
            ),
            {"r": ctx.request_id, "p": person.person_no},
        ).scalar_one()
        announced = conn.execute(
            text(
                "SELECT payload FROM kiban_meta.outbox WHERE topic = 'kaigo.qualification.acquired' AND key = :p"
            ),
            {"p": person.person_no},
        ).scalar_one()
    assert logged == 1
    assert announced["acquired_on"] == "2026-03-31" and announced["insured_no"] == q.insured_no
    with pytest.raises(service.EligibilityError, match="重なる資格"), app_engine.begin() as conn:
        service.do_acquire(
            conn, ctx, insurer_no=INSURER, person_no=person.person_no, category=Category.FIRST,
            acquired_on=date(2026, 11, 1), reason=AcquisitionReason.MOVED_IN,
        )  # fmt: skip


def test_staff_without_a_kaigo_grant_is_refused(app_engine: Engine, staff_ctx, new_person) -> None:
    atena = staff_ctx(Business.ATENA)
    person = new_person()
    with pytest.raises(service.EligibilityError), app_engine.begin() as conn:
        service.do_assign_insured_no(conn, atena, insurer_no=INSURER, person_no=person.person_no)
    no_grant = atena.for_business(Business.KAIGO, "kaigo.eligibility")
    with pytest.raises(AccessDenied), app_engine.begin() as conn:
        service.do_assign_insured_no(conn, no_grant, insurer_no=INSURER, person_no=person.person_no)
    with app_engine.connect() as conn:
        assigned = conn.execute(
            text("SELECT count(*) FROM kaigo.insured WHERE person_id = :p"), {"p": person.person_id}
        ).scalar_one()
    assert assigned == 0


def test_the_insured_list_shows_current_insured_and_is_logged(
    app_engine: Engine, staff_ctx, new_person
) -> None:
    from kiban.kaigo.eligibility import jobs, read
    from kiban.shared.mynumber import contains_my_number

    ctx = staff_ctx(Business.KAIGO, purpose="kaigo.eligibility")
    person = new_person(birth_date=date(1921, 1, 2))
    jobs.run_attainment(app_engine, as_of=date(2026, 12, 1), events=False)
    with app_engine.begin() as conn:
        [found] = [
            r
            for r in read.insured_list(conn, ctx, acquired_to=date(1990, 4, 1))
            if r.person_no == person.person_no
        ]
        logged = conn.execute(
            text(
                "SELECT count(*) FROM audit.access_log WHERE request_id = :r AND action = 'search' "
                "AND subjects @> ARRAY[:p]::text[]"
            ),
            {"r": ctx.request_id, "p": person.person_no},
        ).scalar_one()
    assert found.name == "山田 花子" and found.acquired_on == date(1990, 4, 1)
    # 65 on 1986-01-01 but a resident from 1990-04-01: insured from the later (法第10条第1号)
    assert found.acquire_reason is AcquisitionReason.MOVED_IN
    assert logged == 1 and not contains_my_number(repr(found))
    with pytest.raises(service.EligibilityError, match="10桁"), app_engine.begin() as conn:
        read.insured_list(conn, ctx, insured_no="123")


def test_a_reader_may_view_but_not_change_or_print(app_engine: Engine, staff_ctx, new_person) -> None:
    # 照会のみ (reader) sees the panel; changes and certificates need a 担当者 (seed 000: 権限は業務に
    # 必要な範囲に限定).
    from kiban.kaigo.eligibility import certificates, read

    clerk = staff_ctx(Business.KAIGO, purpose="kaigo.eligibility")
    reader = staff_ctx(Business.KAIGO, role="reader", purpose="kaigo.eligibility")
    person = new_person(birth_date=date(1950, 1, 1))
    with app_engine.begin() as conn:
        q = service.do_acquire(
            conn, clerk, insurer_no=INSURER, person_no=person.person_no, category=Category.FIRST,
            acquired_on=date(2026, 4, 1), reason=AcquisitionReason.MOVED_IN,
        )  # fmt: skip
    with app_engine.begin() as conn:
        assert read.panel(conn, reader, person.person_no).periods[0].acquired_on == date(2026, 4, 1)
    assert q.qualification_id is not None
    with pytest.raises(AccessDenied), app_engine.begin() as conn:
        service.do_correct(
            conn, reader, qualification_id=q.qualification_id, reason="誤り", acquired_on=date(2026, 4, 2)
        )
    with pytest.raises(AccessDenied), app_engine.begin() as conn:
        certificates.do_issue(conn, reader, person_no=person.person_no)
    with pytest.raises(AccessDenied), app_engine.begin() as conn:
        service.do_correct(conn, reader, qualification_id=10**9, reason="誤り", acquired_on=date(2026, 4, 2))
