"""The hub's person services: search, detail, history, vault, 住登外, 送付先, 職権修正, outbox."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, text
from tests_identity_helpers import log_rows, valid_number

from kiban.db import outbox
from kiban.identity import persons, repo, vault
from kiban.identity.model import ResidentClass
from kiban.identity.persons import SearchCriteria, ValidationFailed
from kiban.security.context import Business
from kiban.security.errors import AccessDenied
from kiban.shared import mynumber

pytestmark = pytest.mark.usefixtures("clean_identity")


def test_search_by_kana_prefix_lists_no_my_number_and_logs_who_was_shown(
    app_engine: Engine, db_engine: Engine, staff_ctx, new_person
) -> None:
    a = new_person(family_kana="ヤマダ", given_kana="ハナコ")
    b = new_person(family_kana="ヤマモト", given_kana="ジロウ", family_name="山本", given_name="次郎")
    new_person(family_kana="タナカ", given_kana="イチロウ", family_name="田中", given_name="一郎")
    ctx = staff_ctx()
    with app_engine.begin() as conn:
        vault.register(conn, ctx, person_no=a.person_no, typed=valid_number(1))
        result = persons.search(conn, ctx, SearchCriteria(kana="やま"))  # hiragana is folded to katakana
    assert [r.person_no for r in result.rows] == [a.person_no, b.person_no]  # kana order: ヤマダ < ヤマモト
    assert not any(hasattr(r, "my_number") for r in result.rows)
    rows = log_rows(db_engine, ctx.staff_code, action="search")
    assert rows[-1]["subjects"] == [a.person_no, b.person_no]
    assert rows[-1]["detail"]["criteria"] == {"kana": "やま"}


def test_search_by_my_number_is_exact_and_the_log_never_holds_the_number(
    app_engine: Engine, db_engine: Engine, staff_ctx, new_person
) -> None:
    a = new_person()
    new_person()
    ctx = staff_ctx()
    number = valid_number(2)
    with app_engine.begin() as conn:
        vault.register(conn, ctx, person_no=a.person_no, typed=number)
    with app_engine.begin() as conn:
        result = persons.search(
            conn, ctx, SearchCriteria(my_number=number[:4] + "-" + number[4:8] + "-" + number[8:])
        )
    assert [r.person_no for r in result.rows] == [a.person_no]
    assert result.method == "個人番号（完全一致）"
    with db_engine.connect() as conn:
        dump = conn.execute(
            text(
                "SELECT string_agg(detail::text || array_to_string(subjects, ','), '|') FROM audit.access_log"
            )
        ).scalar()
    assert number not in dump


def test_search_by_birth_date_name_and_address(app_engine: Engine, staff_ctx, new_person) -> None:
    a = new_person(birth_date=date(1944, 2, 29), address="基盤県基盤市東原2412番地")
    b = new_person(
        birth_date=date(1944, 2, 29),
        address="基盤県基盤市元町一丁目1番1号",
        family_name="佐藤",
        family_kana="サトウ",
    )
    ctx = staff_ctx()
    with app_engine.begin() as conn:
        by_birth = persons.search(conn, ctx, SearchCriteria(birth_date=date(1944, 2, 29)))
        by_address = persons.search(
            conn, ctx, SearchCriteria(address="東原２４１２")
        )  # full-width digits fold
        by_name = persons.search(conn, ctx, SearchCriteria(name="佐藤", birth_date=date(1944, 2, 29)))
    assert {r.person_no for r in by_birth.rows} == {a.person_no, b.person_no}
    assert [r.person_no for r in by_address.rows] == [a.person_no]
    assert [r.person_no for r in by_name.rows] == [b.person_no]


def test_search_without_criteria_or_grant_is_refused(app_engine: Engine, staff_ctx, org) -> None:
    ctx = staff_ctx()
    with app_engine.begin() as conn, pytest.raises(ValidationFailed, match="検索条件"):
        persons.search(conn, ctx, SearchCriteria())
    # A 監査 member has no 宛名 grant: AccessDenied, logged as a denial by the guard.
    auditor = staff_ctx(Business.KANSA, "auditor", purpose="kansa.log_review")
    wrong = auditor.for_business(Business.ATENA, "atena.inquiry")
    with app_engine.begin() as conn, pytest.raises(AccessDenied):
        persons.search(conn, wrong, SearchCriteria(kana="ヤ"))


def test_duplicate_number_is_refused_and_named_only_to_the_atena_business(
    app_engine: Engine, staff_ctx, new_person
) -> None:
    a, b = new_person(), new_person()
    number = valid_number(3)
    atena = staff_ctx()
    kaigo = staff_ctx(Business.KAIGO)
    with app_engine.begin() as conn:
        vault.register(conn, atena, person_no=a.person_no, typed=number)
    with app_engine.begin() as conn, pytest.raises(vault.DuplicateMyNumber) as named:
        vault.register(conn, atena, person_no=b.person_no, typed=number)
    assert a.person_no in str(named.value)
    with app_engine.begin() as conn, pytest.raises(vault.DuplicateMyNumber) as unnamed:
        vault.register(conn, kaigo, person_no=b.person_no, typed=number)
    assert a.person_no not in str(unnamed.value)
    assert number not in str(named.value) + str(unnamed.value)
    # One number per person: a second, different number for A is refused too.
    with app_engine.begin() as conn, pytest.raises(vault.DuplicateMyNumber):
        vault.register(conn, atena, person_no=a.person_no, typed=valid_number(4))


def test_check_digit_is_validated_on_entry_without_echoing_the_input(
    app_engine: Engine, staff_ctx, new_person
) -> None:
    a = new_person()
    good = valid_number(5)
    bad = good[:11] + str((int(good[11]) + 1) % 10)
    with app_engine.begin() as conn, pytest.raises(vault.InvalidMyNumber) as err:
        vault.register(conn, staff_ctx(), person_no=a.person_no, typed=bad)
    assert bad not in str(err.value) and "検査用数字" in str(err.value)


def test_detail_shows_the_number_masked_and_reveal_needs_a_second_factor_and_a_reason(
    app_engine: Engine, db_engine: Engine, staff_ctx, new_person
) -> None:
    a = new_person()
    number = valid_number(6)
    no_mfa = staff_ctx()
    with app_engine.begin() as conn:
        vault.register(conn, no_mfa, person_no=a.person_no, typed=number)
        shown = persons.detail(conn, no_mfa, a.person_no)
    assert shown.my_number_masked == mynumber.mask(number) == f"****-****-{number[8:]}"
    with app_engine.begin() as conn, pytest.raises(AccessDenied):
        vault.reveal(conn, no_mfa, person_no=a.person_no, reason="本人確認")
    with_mfa = staff_ctx(mfa=True, purpose="atena.number_check")
    with app_engine.begin() as conn, pytest.raises(persons.IdentityError, match="理由"):
        vault.reveal(conn, with_mfa, person_no=a.person_no, reason=" ")
    with app_engine.begin() as conn:
        full = vault.reveal(conn, with_mfa, person_no=a.person_no, reason="番号確認の申出")
    assert full.replace("-", "") == number
    row = log_rows(db_engine, with_mfa.staff_code, action="reveal_my_number")[-1]
    assert row["subjects"] == [a.person_no] and row["detail"]["reason"] == "番号確認の申出"


def test_a_non_my_number_business_sees_no_masked_number(app_engine: Engine, staff_ctx, new_person) -> None:
    a = new_person()
    with app_engine.begin() as conn:
        vault.register(conn, staff_ctx(), person_no=a.person_no, typed=valid_number(7))
    auditor = staff_ctx(Business.KANSA, "auditor", purpose="kansa.log_review")
    with app_engine.begin() as conn:
        shown = persons.detail(conn, auditor, a.person_no)
    assert shown.has_my_number and shown.my_number_masked is None


def test_history_is_never_overwritten(app_engine: Engine, db_engine: Engine, staff_ctx, new_person) -> None:
    a = new_person(valid_from=date(2000, 1, 1))
    with db_engine.begin() as conn:
        cur = repo.current_version(conn, a.person_id)
        repo.change_person(
            conn,
            a.person_id,
            data=cur.data.replace(address="基盤県基盤市東原1番地"),
            effective_on=date(2020, 5, 1),
            reason="転居",
        )
        with pytest.raises(repo.RetroactiveChange):
            repo.change_person(conn, a.person_id, data=cur.data, effective_on=date(2019, 1, 1), reason="転居")
    ctx = staff_ctx()
    with app_engine.begin() as conn:
        persons.correct(
            conn, ctx, person_no=a.person_no, changes={"given_kana": "ハナエ"}, reason="届出書の読み誤り"
        )
        shown = persons.detail(conn, ctx, a.person_no)
    live = [v for v in shown.history if v.superseded_at is None]
    assert [(v.valid_from, v.valid_to) for v in live] == [
        (date(2020, 5, 1), None),
        (date(2000, 1, 1), date(2020, 5, 1)),
    ]
    assert live[0].data.given_kana == "ハナエ" and live[0].data.address == "基盤県基盤市東原1番地"
    wrong = [v for v in shown.history if v.superseded_at is not None]
    assert (
        len(wrong) == 1
        and wrong[0].data.given_kana == "ハナコ"
        and "読み誤り" in (wrong[0].supersede_reason or "")
    )


def test_register_non_resident_assigns_numbers_and_emits_an_event(
    app_engine: Engine, staff_ctx, person_data
) -> None:
    ctx = staff_ctx()
    data = person_data(
        resident_class=ResidentClass.NON_RESIDENT,
        address="架空都みなと区中央5丁目30番7号",
        katagaki="介護老人福祉施設みどり苑",
        district_code=None,
        nonresident_reason="住所地特例（施設入所）",
        in_city=False,
    )
    with app_engine.begin() as conn:
        ref = persons.register_non_resident(
            conn, ctx, city_code="992011", data=data, since=date(2024, 9, 14), my_number=valid_number(8)
        )
    assert ref.person_no.startswith("19") and len(ref.integrated_no) == 15
    assert ref.integrated_no.startswith("992011")
    with app_engine.begin() as conn:
        shown = persons.detail(conn, ctx, ref.person_no)
        events = outbox.poll(conn, "test-non-resident", ["identity.person.*"])
    assert shown.current.data.resident_class is ResidentClass.NON_RESIDENT
    assert shown.has_my_number
    assert any(e.key == ref.person_no and e.topic == "identity.person.registered" for e in events)


def test_register_non_resident_names_bad_fields(app_engine: Engine, staff_ctx, person_data) -> None:
    data = person_data(family_kana="yamada", nonresident_reason="旅行", postal_code="9998002")
    with app_engine.begin() as conn, pytest.raises(ValidationFailed) as err:
        persons.register_non_resident(
            conn, staff_ctx(), city_code="992011", data=data, since=date(2024, 1, 1)
        )
    fields = {e.field for e in err.value.errors}
    assert {"氏カナ", "住登外事由", "郵便番号"} <= fields


def test_integrated_numbers_are_unique_and_never_reused(db_engine: Engine, new_person) -> None:
    refs = [new_person() for _ in range(5)]
    numbers = [r.integrated_no for r in refs]
    assert len(set(numbers)) == 5 and numbers == sorted(numbers)
    # A failed registration (rolled back) consumes its serial: the next person never gets it again.
    with pytest.raises(repo.DuplicatePersonNo), db_engine.begin() as conn:
        repo.create_person(
            conn,
            city_code="992011",
            person_no=refs[0].person_no,
            data=refs and _data(conn, refs[0]),
            valid_from=date(2000, 1, 1),
            reason="x",
        )
    later = new_person()
    assert later.integrated_no > numbers[-1]


def _data(conn, ref):  # type: ignore[no-untyped-def]
    return repo.current_version(conn, ref.person_id).data


def test_mailing_address_per_business_directs_notices(app_engine: Engine, staff_ctx, new_person) -> None:
    a = new_person()
    kaigo = staff_ctx(Business.KAIGO)
    kokuho = staff_ctx(Business.KOKUHO)
    with app_engine.begin() as conn:
        persons.set_mailing_address(
            conn,
            kaigo,
            person_no=a.person_no,
            name="山田　一郎（長男）",
            postal_code="100-0001",
            address="東京都千代田区千代田1番1号",
            katagaki=None,
            since=date(2025, 4, 1),
            reason="長男方へ送付",
        )
        to_kaigo = persons.notice_address(conn, kaigo, person_no=a.person_no, on=date(2025, 6, 1))
        before = persons.notice_address(conn, kaigo, person_no=a.person_no, on=date(2025, 3, 31))
        to_kokuho = persons.notice_address(conn, kokuho, person_no=a.person_no, on=date(2025, 6, 1))
        persons.end_mailing_address(
            conn, kaigo, person_no=a.person_no, on=date(2025, 10, 1), reason="本人の申出"
        )
        after = persons.notice_address(conn, kaigo, person_no=a.person_no, on=date(2025, 10, 1))
    assert to_kaigo.is_mailing_address and to_kaigo.address.startswith("東京都千代田区")
    assert not before.is_mailing_address and not to_kokuho.is_mailing_address and not after.is_mailing_address


def test_outbox_refuses_a_my_number_and_delivers_in_commit_order(db_engine: Engine) -> None:
    with db_engine.begin() as conn, pytest.raises(outbox.MyNumberInOutboxError):
        outbox.emit(conn, "identity.test", "k", {"note": valid_number(9)})
    with db_engine.begin() as conn:
        outbox.emit(conn, "identity.test", "a", {"n": 1})
        outbox.emit(conn, "other.topic", "b", {"n": 2})
    with db_engine.begin() as conn:
        got = outbox.poll(conn, "consumer-1", ["identity.*"])
        assert [e.key for e in got] == ["a"]
        outbox.ack(conn, "consumer-1", got[-1].seq)
    with db_engine.begin() as conn:
        assert outbox.poll(conn, "consumer-1", ["identity.*"]) == []


def test_outbox_never_skips_an_event_of_a_transaction_still_in_flight(db_engine: Engine) -> None:
    slow = db_engine.connect()
    tx = slow.begin()
    outbox.emit(slow, "identity.test", "late", {})  # lower seq, commits later
    with db_engine.begin() as conn:
        outbox.emit(conn, "identity.test", "early", {})
    with db_engine.begin() as conn:
        seen = [e.key for e in outbox.poll(conn, "consumer-2", ["identity.test"])]
        if seen:
            outbox.ack(
                conn, "consumer-2", max(e.seq for e in outbox.poll(conn, "consumer-2", ["identity.test"]))
            )
    assert seen == []  # "early" waits behind the in-flight "late"
    tx.commit()
    slow.close()
    with db_engine.begin() as conn:
        assert [e.key for e in outbox.poll(conn, "consumer-2", ["identity.test"])] == ["late", "early"]


def test_the_end_of_session_leak_scan_finds_a_number_written_in_clear(db_engine: Engine) -> None:
    from leak_scan import my_numbers_stored_in_clear

    with db_engine.connect() as conn:
        tx = conn.begin()
        assert my_numbers_stored_in_clear(conn) == []
        conn.execute(  # what emit() refuses, forced in as the owner, then rolled back
            text("INSERT INTO kiban_meta.outbox (topic, key, payload) VALUES ('x', 'k', CAST(:p AS jsonb))"),
            {"p": '{"n": "' + valid_number(10) + '"}'},
        )
        found = my_numbers_stored_in_clear(conn)
        tx.rollback()
    assert len(found) == 1 and found[0].startswith("kiban_meta.outbox#")


def test_a_reader_may_search_and_view_but_not_change_or_reveal(
    app_engine: Engine, staff_ctx, new_person
) -> None:
    a = new_person()
    reader = staff_ctx(Business.ATENA, "reader", mfa=True, purpose="atena.inquiry")
    with app_engine.begin() as conn:
        assert persons.search(conn, reader, SearchCriteria(person_no=a.person_no)).rows
        persons.detail(conn, reader, a.person_no)
    refused = [
        lambda c: persons.correct(
            c, reader, person_no=a.person_no, changes={"given_kana": "ハナエ"}, reason="訂正"
        ),
        lambda c: vault.register(c, reader, person_no=a.person_no, typed=valid_number(11)),
        lambda c: vault.reveal(c, reader, person_no=a.person_no, reason="確認"),
        lambda c: persons.end_mailing_address(
            c, reader, person_no=a.person_no, on=date(2030, 1, 1), reason="x"
        ),
    ]
    for attempt in refused:
        with app_engine.begin() as conn, pytest.raises(AccessDenied, match="上位の役割"):
            attempt(conn)
