"""介護保険 資格 over dated scenarios (issue 5 "Done when"), each driven the way the city drives it:
resident events imported into the identity hub, then the kaigo event consumer and the monthly run.

Sources for the expected dates:
- 介護保険法第9条第1号 (65歳以上の住民は第1号被保険者), 第10条 (取得: 住所を有するに至った日, 65歳に
  達した日), 第11条第1項 (喪失: 住所を有しなくなった日の翌日; 同日に他市町村に住所を有するに至った
  ときはその日), 第13条 (住所地特例); 介護保険法施行法第11条・施行規則第170条 (適用除外施設).
- 年齢計算ニ関スル法律 and 民法第143条: one attains an age on the day before the birthday, so born
  1 April 1961 → 65 on 31 March 2026; born 29 February 1960 → 28 February 2025 (厚生労働省
  「介護保険の第1号被保険者の資格取得日」: 誕生日の前日).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, text

from kaigo.scenario import INSURER, City, died, move_out, moved_in, row
from kiban.kaigo.eligibility import jobs, service
from kiban.kaigo.eligibility.model import AcquisitionReason, Category, LossReason
from kiban.security.context import Business
from kiban.shared.age import attainment_date
from kiban.shared.mynumber import contains_my_number

pytestmark = pytest.mark.usefixtures("clean_identity")

OTHER_CITY = "132012"  # a facility in another city (八王子市's code, used only as a location)


@pytest.fixture
def city(app_engine: Engine, staff_ctx) -> City:
    return City(app_engine, staff_ctx(Business.ATENA, purpose="atena.import"))


@pytest.fixture
def kaigo(staff_ctx):
    return staff_ctx(Business.KAIGO, purpose="kaigo.eligibility")


def _facility(
    app_engine: Engine, ctx, no: str, type_code: str, city_code: str, name: str
) -> service.Facility:
    with app_engine.begin() as conn:
        return service.do_register_facility(
            conn, ctx, facility_no=no, name=name, type_code=type_code, city_code=city_code,
            city_name="基盤市" if city_code == "992011" else "他市", address="基盤県基盤市緑町1番地",
        )  # fmt: skip


# -- 65歳到達 -------------------------------------------------------------------------------------


def test_born_on_1_april_is_insured_from_31_march(app_engine: Engine, new_person, city: City) -> None:
    person = new_person(birth_date=date(1961, 4, 1))
    before = jobs.run_attainment(app_engine, as_of=date(2026, 3, 30))
    assert before.acquired == 0 and city.periods(person.person_no) == []
    run = jobs.run_attainment(app_engine, as_of=date(2026, 3, 31))
    assert run.acquired == 1
    [period] = city.periods(person.person_no)
    assert (period.category, period.acquired_on, period.lost_on) == (1, date(2026, 3, 31), None)
    assert period.acquire_reason == AcquisitionReason.AGE_65.value
    # Idempotent: the same run again changes nothing.
    again = jobs.run_attainment(app_engine, as_of=date(2026, 3, 31))
    assert again.acquired == 0 and len(city.periods(person.person_no)) == 1
    with app_engine.connect() as conn:
        change = conn.execute(
            text("SELECT kind, effective_on, run_id FROM kaigo.qualification_change WHERE run_id = :r"),
            {"r": run.run_id},
        ).one()
        announced = conn.execute(
            text(
                "SELECT payload FROM kiban_meta.outbox WHERE topic = 'kaigo.qualification.acquired' AND key = :p"
            ),
            {"p": person.person_no},
        ).scalar_one()
        logged = conn.execute(
            text(
                "SELECT count(*) FROM audit.access_log WHERE detail->>'what' = 'kaigo.eligibility.run' "
                "AND (detail->>'run_id')::bigint = :r AND subjects @> ARRAY[:p]::text[]"
            ),
            {"r": run.run_id, "p": person.person_no},
        ).scalar_one()
    assert (change.kind, change.effective_on) == ("acquire", date(2026, 3, 31))
    assert announced["acquired_on"] == "2026-03-31" and announced["reason_label"] == "65歳到達"
    assert logged == 1


def test_born_on_29_february_is_insured_from_28_february(app_engine: Engine, new_person, city: City) -> None:
    person = new_person(birth_date=date(1960, 2, 29))
    assert jobs.run_attainment(app_engine, as_of=date(2025, 2, 27)).acquired == 0
    assert jobs.run_attainment(app_engine, as_of=date(2025, 2, 28)).acquired == 1
    assert city.spans(person.person_no) == [(1, date(2025, 2, 28), None)]


def test_the_sql_attainment_day_matches_the_python_rule(app_engine: Engine) -> None:
    births = [date(1956, 1, 1) + timedelta(days=n) for n in range(0, 366 * 5)]
    with app_engine.connect() as conn:
        sql = conn.execute(
            text("SELECT b, kaigo.attainment_65(b) FROM unnest(CAST(:b AS date[])) AS b"), {"b": births}
        ).all()
    assert {b: a for b, a in sql} == {b: attainment_date(b, 65) for b in births}
    for as_of in (date(2026, 3, 31), date(2025, 2, 28), date(2024, 2, 29), date(2026, 12, 31)):
        latest = jobs.latest_birth_attaining(as_of)
        assert attainment_date(latest, 65) <= as_of < attainment_date(latest + timedelta(days=1), 65)


def test_a_category2_insured_becomes_category1_at_65(
    app_engine: Engine, new_person, kaigo, city: City
) -> None:
    person = new_person(birth_date=date(1961, 12, 10))
    with app_engine.begin() as conn:
        q2 = service.do_register_category2(
            conn,
            kaigo,
            person_no=person.person_no,
            acquired_on=date(2026, 1, 5),
            note="要介護認定申請（特定疾病）",
        )
    assert q2.category is Category.SECOND
    assert jobs.run_attainment(app_engine, as_of=date(2026, 12, 8)).promoted == 0
    run = jobs.run_attainment(app_engine, as_of=date(2026, 12, 9))
    assert (run.promoted, run.acquired) == (1, 0)
    periods = city.periods(person.person_no)
    assert [(p.category, p.acquired_on, p.lost_on, p.loss_reason) for p in periods] == [
        (2, date(2026, 1, 5), date(2026, 12, 9), LossReason.BECAME_CATEGORY1.value),
        (1, date(2026, 12, 9), None, None),
    ]
    assert len({p.insured_no for p in periods}) == 1  # the same 被保険者番号 (never a second one)


def test_category2_is_refused_outside_40_to_64(app_engine: Engine, new_person, kaigo) -> None:
    person = new_person(birth_date=date(1990, 5, 5))
    with pytest.raises(service.EligibilityError, match="40歳以上65歳未満"), app_engine.begin() as conn:
        service.do_register_category2(
            conn, kaigo, person_no=person.person_no, acquired_on=date(2026, 1, 5), note="申請"
        )


# -- 転入・転出・死亡 ----------------------------------------------------------------------------


def test_moving_in_at_70_is_insured_from_the_day_of_moving_in(app_engine: Engine, city: City) -> None:
    result = city.events(moved_in("4000000011", "2026-10-01", "1956-05-05"), today="2026-10-05")
    assert result.acquired == 1
    [period] = city.periods("4000000011")
    assert (period.acquired_on, period.lost_on, period.acquire_reason) == (
        date(2026, 10, 1), None, AcquisitionReason.MOVED_IN.value,
    )  # fmt: skip
    # The monthly run does not acquire them a second time.
    assert jobs.run_attainment(app_engine, as_of=date(2026, 10, 31)).acquired == 0


def test_moving_in_at_50_is_not_insured_until_65(app_engine: Engine, city: City) -> None:
    city.events(moved_in("4000000029", "2026-10-01", "1976-05-05"), today="2026-10-05")
    assert city.periods("4000000029") == []
    jobs.run_attainment(app_engine, as_of=date(2041, 5, 4))
    assert city.spans("4000000029") == [(1, date(2041, 5, 4), None)]


@pytest.mark.parametrize(
    ("abroad", "lost_on"),
    [
        # 法第11条第1項ただし書: 転出日に他市町村に住所を有するに至った — lost on the 転出日 itself.
        (False, date(2026, 11, 10)),
        # 国外転出: 住所を有しなくなった日の翌日.
        (True, date(2026, 11, 11)),
    ],
)
def test_moving_out(city: City, abroad: bool, lost_on: date) -> None:
    city.events(moved_in("4000000037", "2026-10-01", "1950-01-15"), today="2026-10-05")
    result = city.events(
        move_out("4000000037", "2026-11-10", abroad=abroad, notified="2026-11-01"), today="2026-11-01"
    )
    assert result.lost == 1
    [period] = city.periods("4000000037")
    assert (period.lost_on, period.loss_reason) == (lost_on, LossReason.MOVED_OUT.value)


def test_death_loses_the_status_the_next_day(city: City) -> None:
    city.events(moved_in("4000000045", "2026-10-01", "1940-03-03"), today="2026-10-05")
    city.events(died("4000000045", "2026-11-05"), today="2026-11-06")
    [period] = city.periods("4000000045")
    assert (period.lost_on, period.loss_reason) == (date(2026, 11, 6), LossReason.DIED.value)


def test_a_confirmed_move_out_date_corrects_the_loss(city: City) -> None:
    city.events(moved_in("4000000053", "2026-10-01", "1950-01-15"), today="2026-10-05")
    city.events(move_out("4000000053", "2026-11-15", notified="2026-11-02"), today="2026-11-02")
    result = city.events(
        row("転出確定", "2026-11-18", "4000000053", 転出先住所="架空都みどり区2番地"), today="2026-11-20"
    )
    assert result.corrected == 1
    assert city.spans("4000000053") == [(1, date(2026, 10, 1), date(2026, 11, 18))]
    kept = [p for p in city.periods("4000000053", live=False) if p.lost_on == date(2026, 11, 15)]
    assert len(kept) == 1  # what was believed before is kept, superseded


def test_moving_out_and_back_in_the_same_month_keeps_the_number(city: City) -> None:
    city.events(moved_in("4000000061", "2026-05-01", "1955-08-08"), today="2026-05-02")
    city.events(move_out("4000000061", "2026-06-05"), today="2026-06-05")
    city.events(moved_in("4000000061", "2026-06-25", "1955-08-08"), today="2026-06-26")
    periods = city.periods("4000000061")
    assert [(p.acquired_on, p.lost_on) for p in periods] == [
        (date(2026, 5, 1), date(2026, 6, 5)),
        (date(2026, 6, 25), None),
    ]
    assert periods[0].insured_no == periods[1].insured_no


def test_moving_in_and_out_on_the_same_day_leaves_no_insured_day(city: City) -> None:
    city.events(moved_in("4000000079", "2026-07-01", "1955-08-08"), today="2026-07-01")
    city.events(move_out("4000000079", "2026-07-01"), today="2026-07-01")
    assert city.periods("4000000079") == []
    assert len(city.periods("4000000079", live=False)) == 1  # cancelled, kept


def test_each_event_is_applied_once_even_when_delivered_again(app_engine: Engine, city: City) -> None:
    city.events(moved_in("4000000087", "2026-10-01", "1950-01-15"), today="2026-10-05")
    city.events(died("4000000087", "2026-11-05"), today="2026-11-06")
    with app_engine.begin() as conn:  # the consumer's cursor lost: every event comes again
        conn.execute(
            text("UPDATE kiban_meta.outbox_cursor SET last_seq = 0 WHERE consumer = :c"), {"c": jobs.CONSUMER}
        )
    again = jobs.process_events(app_engine)
    assert again.events >= 2 and again.acquired == again.lost == 0
    assert city.spans("4000000087") == [(1, date(2026, 10, 1), date(2026, 11, 6))]


# -- 適用除外施設 ---------------------------------------------------------------------------------


def test_admission_to_and_discharge_from_an_exempt_facility(app_engine: Engine, kaigo, city: City) -> None:
    _facility(app_engine, kaigo, "2710000001", "51", "992011", "基盤市立障害者支援施設みどり園")
    city.events(moved_in("4000000095", "2026-04-01", "1958-01-20"), today="2026-04-02")
    with app_engine.begin() as conn:
        lost = service.do_admit_exempt(
            conn, kaigo, person_no="4000000095", facility_no="2710000001", admitted_on=date(2026, 7, 10)
        )
    assert lost is not None and lost.lost_on == date(2026, 7, 11)  # 入所日の翌日 (施行法第11条)
    # While admitted the monthly run leaves them out.
    assert jobs.run_attainment(app_engine, as_of=date(2026, 8, 31)).acquired == 0
    with app_engine.begin() as conn:
        back = service.do_discharge_exempt(
            conn, kaigo, person_no="4000000095", discharged_on=date(2026, 9, 1)
        )
    assert back is not None and back.acquire_reason is AcquisitionReason.LEFT_EXEMPT_FACILITY
    periods = city.periods("4000000095")
    assert [(p.acquired_on, p.lost_on, p.loss_reason) for p in periods] == [
        (date(2026, 4, 1), date(2026, 7, 11), LossReason.ENTERED_EXEMPT_FACILITY.value),
        (date(2026, 9, 1), None, None),
    ]
    assert periods[0].insured_no == periods[1].insured_no


def test_a_facility_that_is_not_exempt_is_refused(app_engine: Engine, kaigo, new_person) -> None:
    _facility(app_engine, kaigo, "2710000002", "11", "992011", "特別養護老人ホームさくら")
    person = new_person(birth_date=date(1950, 1, 1))
    with (
        pytest.raises(service.EligibilityError, match="適用除外施設ではありません"),
        app_engine.begin() as conn,
    ):
        service.do_admit_exempt(
            conn, kaigo, person_no=person.person_no, facility_no="2710000002", admitted_on=date(2026, 1, 1)
        )


# -- 住所地特例 (法第13条) ------------------------------------------------------------------------


def test_our_insured_in_a_facility_elsewhere_stay_ours(app_engine: Engine, kaigo, city: City) -> None:
    _facility(app_engine, kaigo, "1310000001", "11", OTHER_CITY, "特別養護老人ホームやまゆり")
    city.events(moved_in("4000000109", "2026-04-01", "1945-06-06"), today="2026-04-02")
    city.events(move_out("4000000109", "2026-08-01"), today="2026-08-01")
    assert city.spans("4000000109") == [(1, date(2026, 4, 1), date(2026, 8, 1))]
    with app_engine.begin() as conn:
        service.do_register_special_address(
            conn, kaigo, person_no="4000000109", facility_no="1310000001", from_on=date(2026, 8, 1)
        )
    # The loss for the 転出 is restored: still our insured, same number.
    [period] = city.periods("4000000109")
    assert (period.acquired_on, period.lost_on) == (date(2026, 4, 1), None)
    with app_engine.connect() as conn:
        special = conn.execute(
            text("SELECT direction, insurer_no, insured_no FROM kaigo.special_address s JOIN identity.person p "
                 "USING (person_id) WHERE p.person_no = '4000000109'")
        ).one()  # fmt: skip
    assert (special.direction, special.insurer_no, special.insured_no) == ("ours", INSURER, period.insured_no)


def test_another_citys_insured_in_our_facility_are_theirs(app_engine: Engine, kaigo, city: City) -> None:
    _facility(app_engine, kaigo, "9910000001", "12", "992011", "介護老人保健施設もとまち")
    city.events(moved_in("4000000117", "2026-04-01", "1940-02-02"), today="2026-04-02")
    assert len(city.periods("4000000117")) == 1
    with pytest.raises(service.EligibilityError, match="保険者番号"), app_engine.begin() as conn:
        service.do_register_special_address(
            conn, kaigo, person_no="4000000117", facility_no="9910000001", from_on=date(2026, 4, 1)
        )
    with app_engine.begin() as conn:
        service.do_register_special_address(
            conn, kaigo, person_no="4000000117", facility_no="9910000001", from_on=date(2026, 4, 1),
            other_insurer_no="132019", other_insurer_name="架空市", other_insured_no="0000123456",
        )  # fmt: skip
    assert city.periods("4000000117") == []  # our acquisition for the 転入 is withdrawn (kept)
    # The monthly run does not insure them either.
    assert jobs.run_attainment(app_engine, as_of=date(2026, 4, 30)).acquired == 0


def test_a_facility_type_outside_the_rule_is_refused(app_engine: Engine, kaigo, new_person) -> None:
    # 地域密着型特定施設 (定員29人以下) is not a 住所地特例対象施設 (法第13条第1項).
    _facility(app_engine, kaigo, "1310000009", "31", OTHER_CITY, "地域密着型特定施設ひまわり")
    person = new_person(birth_date=date(1950, 1, 1))
    with (
        pytest.raises(service.EligibilityError, match="住所地特例対象施設ではありません"),
        app_engine.begin() as conn,
    ):
        service.do_register_special_address(
            conn, kaigo, person_no=person.person_no, facility_no="1310000009", from_on=date(2026, 1, 1)
        )


# -- 職権修正 ---------------------------------------------------------------------------------------


def test_a_correction_keeps_the_old_row_and_is_audited(app_engine: Engine, kaigo, city: City) -> None:
    city.events(moved_in("4000000125", "2026-10-01", "1950-01-15"), today="2026-10-05")
    [first] = city.periods("4000000125")
    with app_engine.connect() as conn:
        qid = conn.execute(
            text("SELECT q.qualification_id FROM kaigo.qualification q JOIN kaigo.insured USING (insured_id) "
                 "WHERE insured_no = :n"), {"n": first.insured_no},
        ).scalar_one()  # fmt: skip
    with pytest.raises(service.EligibilityError, match="理由"), app_engine.begin() as conn:
        service.do_correct(conn, kaigo, qualification_id=qid, reason=" ", acquired_on=date(2026, 9, 28))
    with app_engine.begin() as conn:
        fixed = service.do_correct(
            conn,
            kaigo,
            qualification_id=qid,
            reason="転入届の異動日誤り（9月28日）",
            acquired_on=date(2026, 9, 28),
        )
    assert city.spans("4000000125") == [(1, date(2026, 9, 28), None)]
    with app_engine.connect() as conn:
        old = conn.execute(
            text(
                "SELECT superseded_at, supersede_reason FROM kaigo.qualification WHERE qualification_id = :q"
            ),
            {"q": qid},
        ).one()
        log = conn.execute(
            text(
                "SELECT staff_id, detail FROM audit.access_log WHERE request_id = :r "
                "AND detail->>'what' = 'qualification.correct'"
            ),
            {"r": kaigo.request_id},
        ).one()
        change = conn.execute(
            text(
                "SELECT kind, note, recorded_by FROM kaigo.qualification_change WHERE qualification_id = :q"
            ),
            {"q": fixed.qualification_id},
        ).one()
    assert old.superseded_at is not None and "9月28日" in old.supersede_reason
    assert log.staff_id == kaigo.staff_id
    assert (
        log.detail["before"]["acquired_on"] == "2026-10-01"
        and log.detail["after"]["acquired_on"] == "2026-09-28"
    )
    assert (change.kind, change.recorded_by) == ("correct", kaigo.staff_id)


def test_announcements_to_the_registry_never_hold_a_my_number(app_engine: Engine, city: City) -> None:
    city.events(
        moved_in("4000000133", "2026-10-01", "1950-01-15", 個人番号=_valid_number()), today="2026-10-05"
    )
    city.events(died("4000000133", "2026-11-05"), today="2026-11-06")
    with app_engine.connect() as conn:
        payloads = conn.execute(
            text("SELECT topic, key, payload::text FROM kiban_meta.outbox WHERE topic LIKE 'kaigo.%'")
        ).all()
    assert {p.topic for p in payloads} == {"kaigo.qualification.acquired", "kaigo.qualification.lost"}
    assert not any(contains_my_number(p.payload) or contains_my_number(p.key) for p in payloads)


def _valid_number() -> str:
    from kiban.shared.mynumber import check_digit

    first = "12345678901"
    return first + str(check_digit(first))
