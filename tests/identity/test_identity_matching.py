"""名寄せ: the 4 情報 rules, the auto-link decision, and the two-person review queue (seeds 000, 001)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, text
from tests_identity_helpers import log_rows, valid_number

from kiban.identity import matching, vault
from kiban.identity.matching import Incoming, SameReviewer
from kiban.identity.matching_model import FAMILY_MEMBER_CAP, address_match_key, kanji_number
from kiban.identity.persons import ValidationFailed
from kiban.identity.repo import IdentityError
from kiban.security import keys
from kiban.security.context import Business
from kiban.shared.mynumber import contains_my_number

pytestmark = pytest.mark.usefixtures("clean_identity")

HANAKO = {
    "family_name": "山田",
    "given_name": "花子",
    "family_kana": "ヤマダ",
    "given_kana": "ハナコ",
    "birth_date": date(1958, 6, 10),
    "sex": 2,
    "address": "基盤県基盤市元町二丁目24番6号",
}


def incoming(**overrides: Any) -> Incoming:
    return Incoming(**{**HANAKO, **overrides})


@pytest.fixture
def matcher(staff_ctx):
    return staff_ctx(Business.ATENA, purpose="atena.matching")


def run_match(engine: Engine, ctx, record: Incoming, ref: str = "R-1", source: str = "kaigo") -> Any:
    with engine.begin() as conn:
        return matching.match(conn, ctx, record, source=source, source_ref=ref)


def case_row(engine: Engine, case_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT * FROM identity.match_case WHERE case_id = :c"), {"c": case_id}
        ).one()


def match_events(engine: Engine) -> list[Any]:
    # Read the table itself: outbox.poll waits for every older transaction on the server, and other
    # test sessions share the server.
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT topic, key, payload FROM kiban_meta.outbox WHERE topic LIKE 'identity.match.%' ORDER BY seq"
            )
        ).all()


# -- pure rules ------------------------------------------------------------------------------------


def test_address_key_reads_chome_banchi_go_and_kanji_numerals_alike() -> None:
    same = {
        address_match_key(a)
        for a in (
            "基盤県基盤市元町二丁目24番6号",
            "基盤県基盤市元町2-24-6",
            "基盤県基盤市元町２丁目２４－６",
            "基盤県 基盤市元町二丁目二十四番地の六",
            "基盤県基盤市元町2丁目24番地6",
            "基盤県基盤市元町2ー24ー6",
        )
    }
    assert same == {"基盤県基盤市元町2-24-6"}
    assert address_match_key("基盤県基盤市元町二丁目24番7号") != address_match_key("基盤県基盤市元町2-24-6")
    # Kanji of place names stay kanji: only 丁目・番地・号 numbers are converted.
    assert address_match_key("四日市市八王子一丁目") == "四日市市八王子1"
    assert (kanji_number("二十四"), kanji_number("百二"), kanji_number("二〇"), kanji_number("十")) == (
        24,
        102,
        20,
        10,
    )


def test_incoming_repr_never_shows_the_number() -> None:
    number = valid_number(90)
    assert not contains_my_number(repr(incoming(my_number=number)))


# -- automatic linking --------------------------------------------------------------------------------


def test_exact_my_number_links_automatically(app_engine: Engine, staff_ctx, matcher, new_person) -> None:
    a = new_person(**HANAKO)
    number = valid_number(1)
    with app_engine.begin() as conn:
        vault.register(conn, staff_ctx(), person_no=a.person_no, typed=number)
    # Moved since (another address): the number alone identifies her.
    result = run_match(app_engine, matcher, incoming(address="基盤県基盤市東原2412番地", my_number=number))
    assert result.status == "auto_linked"
    assert result.reason == "個人番号一致"
    assert result.linked_person_no == a.person_no
    assert [c.person_no for c in result.candidates] == [a.person_no]
    assert result.candidates[0].my_number_match
    row = case_row(app_engine, result.case_id)
    with app_engine.connect() as conn:
        assert bytes(row.my_number_index) == keys.blind_index(conn, number)
    assert row.linked_person_id == a.person_id and row.auto_rule == "個人番号一致"
    assert number not in str(row._mapping)


def test_unique_exact_four_links_automatically(app_engine: Engine, matcher, new_person) -> None:
    a = new_person(**HANAKO)
    new_person(
        **{**HANAKO, "given_name": "太郎", "given_kana": "タロウ", "sex": 1, "birth_date": date(1955, 1, 2)}
    )
    result = run_match(app_engine, matcher, incoming(address="基盤県基盤市元町2-24-6"))
    assert (result.status, result.reason, result.linked_person_no) == (
        "auto_linked",
        "4情報一致",
        a.person_no,
    )
    assert result.candidates[0].agree == {
        "kana": True,
        "name": True,
        "birth_date": True,
        "sex": True,
        "address": True,
    }
    assert result.candidates[0].score == 100


def test_exact_four_links_when_the_name_differs_only_by_width_and_spaces(
    app_engine: Engine, matcher, new_person
) -> None:
    a = new_person(**HANAKO)
    record = incoming(
        family_name="山\u3000田",  # an ideographic space inside
        given_name="花子 ",
        family_kana="ﾔﾏﾀﾞ",  # half-width kana
        given_kana="はなこ",  # hiragana
        address="基盤県基盤市元町２丁目２４－６",
    )
    result = run_match(app_engine, matcher, record)
    assert (result.status, result.linked_person_no) == ("auto_linked", a.person_no)
    # A compatibility ideograph (⽥, KANGXI RADICAL FIELD) is the same character after NFKC.
    result2 = run_match(app_engine, matcher, incoming(family_name="山\u2f65"), ref="R-2")
    assert (result2.status, result2.linked_person_no) == ("auto_linked", a.person_no)


def test_a_different_kanji_is_not_an_exact_name(app_engine: Engine, matcher, new_person) -> None:
    new_person(**HANAKO)
    result = run_match(app_engine, matcher, incoming(family_name="山多"))
    assert result.status == "pending"
    assert result.candidates[0].agree["name"] is False


def test_two_persons_with_the_same_four_go_to_review(app_engine: Engine, matcher, new_person) -> None:
    a = new_person(**HANAKO)
    b = new_person(**HANAKO)
    result = run_match(app_engine, matcher, incoming())
    assert (result.status, result.reason, result.linked_person_no) == ("pending", "4情報一致（複数）", None)
    assert {c.person_no for c in result.candidates} == {a.person_no, b.person_no}
    assert case_row(app_engine, result.case_id).linked_person_id is None


def test_same_name_birth_and_sex_at_another_address_is_never_automatic(
    app_engine: Engine, matcher, new_person
) -> None:
    a = new_person(**HANAKO)
    result = run_match(app_engine, matcher, incoming(address="基盤県基盤市東原2412番地"))
    assert (result.status, result.reason) == ("pending", "住所相違")
    assert [c.person_no for c in result.candidates] == [a.person_no]  # the only candidate, still not linked
    assert result.candidates[0].agree["address"] is False
    assert result.linked_person_no is None


@pytest.mark.parametrize(
    "relative",
    [
        {"given_name": "太郎", "given_kana": "タロウ", "sex": 1},  # another given name, same birthday
        {"birth_date": date(1984, 3, 3)},  # the same given name, another generation
    ],
    ids=["other-given-name", "other-birth-date"],
)
def test_a_family_member_at_the_same_address_is_a_low_candidate_never_linked(
    app_engine: Engine, matcher, new_person, relative: dict[str, Any]
) -> None:
    member = new_person(**{**HANAKO, **relative})
    result = run_match(app_engine, matcher, incoming())
    assert result.status == "pending"
    assert result.reason == "同一住所の家族の可能性"
    (only,) = result.candidates
    assert only.person_no == member.person_no
    assert only.score <= FAMILY_MEMBER_CAP
    assert only.note == "同一住所の家族の可能性"


def test_the_person_herself_is_linked_even_with_a_relative_at_the_address(
    app_engine: Engine, matcher, new_person
) -> None:
    a = new_person(**HANAKO)
    sister = new_person(**{**HANAKO, "given_name": "桜", "given_kana": "サクラ"})  # twin, same birthday
    result = run_match(app_engine, matcher, incoming())
    assert (result.status, result.linked_person_no) == ("auto_linked", a.person_no)
    scores = {c.person_no: c.score for c in result.candidates}
    assert scores[a.person_no] == 100 and scores[sister.person_no] <= FAMILY_MEMBER_CAP


def test_no_candidate_is_no_match(app_engine: Engine, matcher, new_person) -> None:
    # Born the same day but another name and address: a stranger, not a candidate.
    new_person(family_name="田中", given_name="一郎", family_kana="タナカ", given_kana="イチロウ", sex=1,
               address="基盤県基盤市東原2412番地")  # fmt: skip
    # The same reading elsewhere, born another day: a namesake, not a candidate either.
    new_person(birth_date=date(1990, 2, 2), address="基盤県基盤市東原2412番地")
    result = run_match(app_engine, matcher, incoming())
    assert (result.status, result.reason, result.candidates) == ("no_match", "該当なし", ())
    assert case_row(app_engine, result.case_id).status == "no_match"


def test_four_agree_but_the_person_holds_another_number(
    app_engine: Engine, staff_ctx, matcher, new_person
) -> None:
    a = new_person(**HANAKO)
    with app_engine.begin() as conn:
        vault.register(conn, staff_ctx(), person_no=a.person_no, typed=valid_number(3))
    result = run_match(app_engine, matcher, incoming(my_number=valid_number(4)))
    assert (result.status, result.reason) == ("pending", "個人番号相違")


def test_a_number_whose_holder_differs_in_name_and_birth_goes_to_review(
    app_engine: Engine, staff_ctx, matcher, new_person
) -> None:
    other = new_person(family_name="田中", given_name="一郎", family_kana="タナカ", given_kana="イチロウ",
                       sex=1, birth_date=date(1970, 1, 1))  # fmt: skip
    number = valid_number(5)
    with app_engine.begin() as conn:
        vault.register(conn, staff_ctx(), person_no=other.person_no, typed=number)
    result = run_match(app_engine, matcher, incoming(my_number=number))
    assert (result.status, result.reason) == ("pending", "個人番号一致・4情報相違")


def test_an_invalid_number_is_refused_without_echoing_it(app_engine: Engine, matcher) -> None:
    bad = valid_number(6)[:11] + str((int(valid_number(6)[11]) + 1) % 10)
    with pytest.raises(vault.InvalidMyNumber) as caught:
        run_match(app_engine, matcher, incoming(my_number=bad))
    assert bad not in str(caught.value)


def test_missing_items_are_refused_by_field(app_engine: Engine, matcher) -> None:
    with pytest.raises(ValidationFailed) as caught:
        run_match(app_engine, matcher, incoming(family_kana="", sex=3, address=" "))
    assert {e.field for e in caught.value.errors} == {"氏カナ", "性別", "住所"}


def test_the_same_source_record_twice_changes_nothing(app_engine: Engine, matcher, new_person) -> None:
    new_person(**HANAKO)
    first = run_match(app_engine, matcher, incoming(address="基盤県基盤市東原2412番地"))
    again = run_match(app_engine, matcher, incoming(address="基盤県基盤市東原2412番地"))
    assert again.already and again.case_id == first.case_id and again.status == "pending"
    with pytest.raises(IdentityError, match="既に別の内容で名寄せ"):
        run_match(app_engine, matcher, incoming())
    with app_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM identity.match_case")).scalar() == 1


def test_candidates_are_fetched_through_the_current_version_indexes(
    app_engine: Engine, db_engine: Engine, new_person
) -> None:
    new_person(**HANAKO)
    with db_engine.begin() as conn:  # enough persons for the planner to prefer the indexes
        conn.execute(
            text(
                "INSERT INTO identity.person (city_code, person_no, integrated_no) "
                "SELECT '992011', (1500000000 + g)::text, '992011' || lpad((800000000 + g)::text, 9, '0') "
                "FROM generate_series(1, 5000) g"
            )
        )
        conn.execute(
            text(
                "INSERT INTO identity.person_version (person_id, valid, family_name, given_name, family_kana, "
                "given_kana, sex, birth_date, address, resident_class, kana_key, name_key, address_key, "
                "change_reason) SELECT person_id, daterange('2000-01-01', NULL), '試験', '太郎', 'シケン', "
                "'タロウ', 1, date '1930-01-01' + (person_id % 20000)::int, '基盤県基盤市元町1-1', '住民', "
                "'シケン' || person_id, '試験' || person_id, '基盤県基盤市元町1-1', '試験' "
                "FROM identity.person WHERE person_no LIKE '15%'"
            )
        )
        conn.execute(text("ANALYZE identity.person, identity.person_version"))
    stmt = matching.candidate_query(incoming(), holder_id=1)
    with app_engine.connect() as conn:
        compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
        plan = "\n".join(conn.execute(text(f"EXPLAIN {compiled}")).scalars())
    assert "person_version_birth" in plan and "person_version_kana" in plan, plan
    assert "person_version_current" in plan, plan
    assert "Seq Scan on person_version" not in plan, plan


def test_auto_link_is_announced_in_the_outbox(
    app_engine: Engine, db_engine: Engine, matcher, new_person
) -> None:
    a = new_person(**HANAKO)
    result = run_match(app_engine, matcher, incoming())
    events = match_events(db_engine)
    assert [(e.topic, e.key, e.payload["case_id"]) for e in events] == [
        ("identity.match.linked", a.person_no, result.case_id)
    ]


# -- the review queue ---------------------------------------------------------------------------------


def _pending_two(app_engine: Engine, matcher, new_person) -> tuple[Any, Any, Any]:
    a = new_person(**HANAKO)
    b = new_person(**HANAKO)
    return a, b, run_match(app_engine, matcher, incoming())


def test_two_different_staff_must_confirm_the_same_person(
    app_engine: Engine, db_engine: Engine, staff_ctx, matcher, new_person
) -> None:
    a, b, case = _pending_two(app_engine, matcher, new_person)
    staff_a, staff_b = staff_ctx(), staff_ctx()
    with app_engine.begin() as conn:
        first = matching.confirm(conn, staff_a, case.case_id, a.person_no, "住民票の写しで確認")
    assert (first.status, first.step, first.linked_person_no) == ("pending", "first", None)
    row = case_row(app_engine, case.case_id)
    assert (row.status, row.first_person_id, row.first_staff_id) == ("pending", a.person_id, staff_a.staff_id)
    with app_engine.begin() as conn, pytest.raises(SameReviewer, match="別の職員"):
        matching.confirm(conn, staff_a, case.case_id, a.person_no)
    assert case_row(app_engine, case.case_id).status == "pending"
    with app_engine.begin() as conn:
        second = matching.confirm(conn, staff_b, case.case_id, a.person_no)
    assert (second.status, second.step, second.linked_person_no) == ("confirmed", "settled", a.person_no)
    row = case_row(app_engine, case.case_id)
    assert (row.status, row.linked_person_id, row.second_staff_id) == (
        "confirmed",
        a.person_id,
        staff_b.staff_id,
    )
    with app_engine.begin() as conn, pytest.raises(IdentityError, match="処理済み"):
        matching.confirm(conn, staff_ctx(), case.case_id, b.person_no)
    events = match_events(db_engine)
    assert [(e.topic, e.key) for e in events] == [("identity.match.linked", a.person_no)]


def test_a_second_staff_choosing_another_person_does_not_link(
    app_engine: Engine, staff_ctx, matcher, new_person
) -> None:
    a, b, case = _pending_two(app_engine, matcher, new_person)
    staff_a, staff_b = staff_ctx(), staff_ctx()
    with app_engine.begin() as conn:
        matching.confirm(conn, staff_a, case.case_id, a.person_no)
    with app_engine.begin() as conn:
        disagreed = matching.confirm(conn, staff_b, case.case_id, b.person_no, "生年月日を再確認")
    assert (disagreed.status, disagreed.step, disagreed.linked_person_no) == ("pending", "disagreed", None)
    row = case_row(app_engine, case.case_id)
    assert row.linked_person_id is None and row.second_staff_id is None
    # B's answer is now the first one, with the disagreement kept in its note.
    assert (row.first_person_id, row.first_staff_id) == (b.person_id, staff_b.staff_id)
    assert a.person_no in row.first_note and "確認不一致" in row.first_note
    # Staff A may now check B's answer (two different people), and agreeing settles it.
    with app_engine.begin() as conn:
        settled = matching.confirm(conn, staff_a, case.case_id, b.person_no)
    assert (settled.status, settled.linked_person_no) == ("confirmed", b.person_no)


def test_rejecting_also_needs_two_staff(
    app_engine: Engine, db_engine: Engine, staff_ctx, matcher, new_person
) -> None:
    _, _, case = _pending_two(app_engine, matcher, new_person)
    staff_a, staff_b = staff_ctx(), staff_ctx()
    with app_engine.begin() as conn:
        assert matching.reject(conn, staff_a, case.case_id, "別人").step == "first"
    with app_engine.begin() as conn, pytest.raises(SameReviewer):
        matching.reject(conn, staff_a, case.case_id)
    with app_engine.begin() as conn:
        done = matching.reject(conn, staff_b, case.case_id)
    assert (done.status, done.step, done.linked_person_no) == ("rejected", "settled", None)
    assert case_row(app_engine, case.case_id).linked_person_id is None
    events = match_events(db_engine)
    assert [e.topic for e in events] == ["identity.match.rejected"]


def test_only_a_candidate_can_be_confirmed_and_notes_never_hold_a_number(
    app_engine: Engine, staff_ctx, matcher, new_person
) -> None:
    a, _, case = _pending_two(app_engine, matcher, new_person)
    stranger = new_person(family_name="田中", family_kana="タナカ", birth_date=date(1940, 1, 1))
    with app_engine.begin() as conn, pytest.raises(IdentityError, match="候補にありません"):
        matching.confirm(conn, staff_ctx(), case.case_id, stranger.person_no)
    number = valid_number(7)
    with app_engine.begin() as conn, pytest.raises(ValidationFailed) as caught:
        matching.confirm(conn, staff_ctx(), case.case_id, a.person_no, f"番号 {number} で確認")
    assert number not in str(caught.value)


def test_queue_and_detail_show_the_incoming_record_beside_each_candidate(
    app_engine: Engine, staff_ctx, matcher, new_person
) -> None:
    a = new_person(**HANAKO)
    b = new_person(**HANAKO, katagaki="元町ハイツ 201")
    case = run_match(app_engine, matcher, incoming(), ref="R-9")
    run_match(app_engine, matcher, incoming(address="基盤県基盤市東原2412番地"), ref="R-10")
    reviewer = staff_ctx()
    with app_engine.begin() as conn:
        queue = matching.pending_cases(conn, reviewer)
    assert [q.source_ref for q in queue] == ["R-9", "R-10"]
    assert queue[0].kana == "ヤマダ\u3000ハナコ" and queue[0].candidates == 2
    assert queue[0].step_label == "1人目の確認待ち"
    with app_engine.begin() as conn:
        matching.confirm(conn, reviewer, case.case_id, a.person_no)
        detail = matching.case_detail(conn, staff_ctx(), case.case_id)
    assert detail.address == HANAKO["address"] and detail.birth_date == HANAKO["birth_date"]
    assert {v.candidate.person_no for v in detail.candidates} == {a.person_no, b.person_no}
    katagaki = {v.candidate.person_no: v.person.katagaki for v in detail.candidates if v.person}
    assert katagaki[b.person_no] == "元町ハイツ 201"
    assert detail.first_choice == a.person_no and detail.first_staff_code == reviewer.staff_code
    assert detail.status_label == "確認待ち"
    with app_engine.begin() as conn:
        queue = matching.pending_cases(conn, reviewer)
    assert queue[0].step_label == "2人目の確認待ち" and queue[0].first_staff_code == reviewer.staff_code


def test_match_confirm_and_reject_log_the_candidates_as_subjects(
    app_engine: Engine, db_engine: Engine, staff_ctx, matcher, new_person
) -> None:
    a, b, case = _pending_two(app_engine, matcher, new_person)
    expected = sorted([a.person_no, b.person_no])
    logged = log_rows(db_engine, matcher.staff_code, action="search")
    assert len(logged) == 1
    assert sorted(logged[0]["subjects"]) == expected
    assert logged[0]["detail"]["case_id"] == case.case_id and logged[0]["detail"]["status"] == "pending"
    assert logged[0]["purpose_code"] == "atena.matching"
    staff_a, staff_b = staff_ctx(), staff_ctx()
    with app_engine.begin() as conn:
        matching.confirm(conn, staff_a, case.case_id, a.person_no)
    with app_engine.begin() as conn:
        matching.reject(conn, staff_b, case.case_id, "別人と判断")
    for staff, answer in ((staff_a, a.person_no), (staff_b, "該当なし")):
        (row,) = log_rows(db_engine, staff.staff_code, action="update")
        assert sorted(row["subjects"]) == expected
        assert row["detail"]["answer"] == answer and row["detail"]["case_id"] == case.case_id


def test_staff_without_a_grant_cannot_match(app_engine: Engine, staff_ctx, new_person) -> None:
    from kiban.security.errors import AccessDenied

    new_person(**HANAKO)
    kaigo_reader = staff_ctx(Business.KAIGO, "reader").for_business(Business.ATENA, "atena.matching")
    with pytest.raises(AccessDenied):
        run_match(app_engine, kaigo_reader, incoming())
    reader = staff_ctx(Business.ATENA, "reader", purpose="atena.matching")
    with pytest.raises(AccessDenied):
        run_match(app_engine, reader, incoming())
