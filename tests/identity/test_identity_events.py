"""Resident events (住民異動) from the registry: each 異動事由, the error list and atomicity,
idempotent re-imports, the outbox, the access log and the batch command."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import Engine, text
from tests_identity_helpers import log_rows, valid_number
from typer.testing import CliRunner

from kiban.identity import events, repo, vault
from kiban.identity.events import HEADER, import_events
from kiban.identity.importing import ImportRejected, error_list
from kiban.identity.model import ResidentClass
from kiban.security.context import Business
from kiban.shared.mynumber import contains_my_number

pytestmark = pytest.mark.usefixtures("clean_identity")

CITY = "992011"
TODAY = date(2026, 11, 20)
HH = "2000000101"


def row(event_id: str, kind: str, on: str, person_no: str, **items: object) -> str:
    """One line of the layout; ``items`` by 項目名 (the rest empty)."""
    values = {
        "異動ID": event_id,
        "市区町村コード": CITY,
        "異動事由": kind,
        "異動日": on,
        "宛名番号": person_no,
    }
    values |= {k: str(v) for k, v in items.items()}
    unknown = set(values) - set(HEADER)
    assert not unknown, unknown
    return ",".join(values.get(h, "") for h in HEADER)


def person_items(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "氏": "山田",
        "名": "太郎",
        "氏カナ": "ヤマダ",
        "名カナ": "タロウ",
        "性別": 1,
        "生年月日": "1980-05-05",
        "郵便番号": "999-8002",
        "住所": "基盤県基盤市元町二丁目24番6号",
        "地区コード": "01",
    }
    return base | over


def moved_in(event_id: str, person_no: str, on: str = "2026-10-01", **over: object) -> str:
    items = person_items(
        **{"届出日": on, "世帯番号": HH, "続柄": "世帯主", "転入前住所": "架空都みなと区中央5丁目30番7号"}
        | over
    )
    return row(event_id, "転入", on, person_no, **items)


def birth(event_id: str, person_no: str, on: str = "2026-10-10", **over: object) -> str:
    items = person_items(
        **{
            "名": "花",
            "名カナ": "ハナ",
            "性別": 2,
            "生年月日": on,
            "届出日": on,
            "世帯番号": HH,
            "続柄": "子",
        }
        | over
    )
    return row(event_id, "出生", on, person_no, **items)


def csv(*lines: str) -> bytes:
    return ("\r\n".join((",".join(HEADER), *lines)) + "\r\n").encode()


@pytest.fixture
def ctx(staff_ctx):
    return staff_ctx(Business.ATENA, purpose="atena.import")


@pytest.fixture
def load(app_engine: Engine, ctx):
    """``load(*lines, name=)`` imports a file of these rows (today = TODAY)."""

    def run(*lines: str, name: str = "events.csv"):
        return import_events(app_engine, csv(*lines), name, ctx, today=TODAY)

    return run


def versions(engine: Engine, person_no: str, *, live: bool = True) -> list[repo.Version]:
    with engine.connect() as conn:
        found = repo.history(conn, repo.ref_by_no(conn, person_no).person_id, include_superseded=not live)
    return sorted(found, key=lambda v: (v.valid_from, v.version_id))


def members(engine: Engine, person_no: str) -> list[repo.Membership]:
    with engine.connect() as conn:
        return sorted(
            repo.memberships_of(conn, repo.ref_by_no(conn, person_no).person_id), key=lambda m: m.valid_from
        )


def outbox_rows(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text("SELECT topic, key, occurred_on, payload FROM kiban_meta.outbox ORDER BY seq")
            ).mappings()
        ]


def counts(engine: Engine) -> dict[str, int]:
    tables = (
        "identity.person",
        "identity.person_version",
        "identity.household_member",
        "identity.resident_event",
        "identity.my_number_vault",
        "kiban_meta.outbox",
    )
    with engine.connect() as conn:
        return {name: conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one() for name in tables}


# -- each 異動事由 ---------------------------------------------------------------------------------


def test_birth_and_moved_in_register_person_household_number_and_announce(load, db_engine: Engine) -> None:
    number = valid_number(101)
    result = load(
        moved_in("J2026100100001", "1000000011", 個人番号=valid_number(100)),
        birth("J2026101000001", "1000000029", 個人番号=number),
    )
    assert (result.rows, result.applied, result.skipped) == (2, 2, 0)
    [baby] = versions(db_engine, "1000000029")
    assert baby.valid_from == date(2026, 10, 10) and baby.data.resident_class is ResidentClass.RESIDENT
    assert baby.data.resident_on == date(2026, 10, 10) and baby.change_reason == "出生"
    [m] = members(db_engine, "1000000029")
    assert (m.household_no, m.relation, m.is_head, m.valid_from, m.valid_to) == (
        HH,
        "子",
        False,
        date(2026, 10, 10),
        None,
    )
    [adult] = versions(db_engine, "1000000011")
    assert adult.data.previous_address == "架空都みなと区中央5丁目30番7号"
    assert members(db_engine, "1000000011")[0].is_head
    with db_engine.connect() as conn:
        holder = vault.owner_of(conn, number)
        assert holder is not None and holder.person_no == "1000000029"
        event = conn.execute(
            text("SELECT * FROM identity.resident_event WHERE event_id = 'J2026101000001'")
        ).one()
        version_event = conn.execute(
            text("SELECT event_pk FROM identity.person_version WHERE person_id = :p"), {"p": holder.person_id}
        ).scalar_one()
    assert "個人番号" not in event.payload and event.payload["個人番号の記載"] == "あり"
    assert event.payload["氏"] == "山田" and version_event == event.event_pk
    out = outbox_rows(db_engine)
    assert [o["topic"] for o in out] == ["identity.resident.moved_in", "identity.resident.birth"]
    assert out[1]["key"] == "1000000029" and out[1]["occurred_on"] == date(2026, 10, 10)
    assert out[1]["payload"]["household_no"] == HH and out[1]["payload"]["my_number_registered"] is True
    assert out[0]["payload"]["returning"] is False
    assert not any(contains_my_number(str(o)) for o in out)


def test_a_former_resident_moving_back_in_is_reactivated(load, db_engine: Engine, new_person) -> None:
    new_person(
        "1000000037",
        valid_from=date(2020, 4, 1),
        resident_class=ResidentClass.MOVED_OUT,
        nonresident_on=date(2020, 4, 1),
        nonresident_reason="転出",
        address="架空都みなと区中央5丁目30番7号",
        in_city=False,
    )
    load(moved_in("J2026100100002", "1000000037"))
    old, new = versions(db_engine, "1000000037")
    assert old.valid_to == date(2026, 10, 1) and old.data.resident_class is ResidentClass.MOVED_OUT
    assert new.data.resident_class is ResidentClass.RESIDENT and new.data.nonresident_on is None
    assert new.data.in_city and new.data.resident_on == date(2026, 10, 1)
    assert outbox_rows(db_engine)[0]["payload"]["returning"] is True


def test_move_out_planned_then_confirmed_on_the_same_day(load, db_engine: Engine) -> None:
    load(moved_in("J1", "1000000045"))
    load(
        row(
            "J2",
            "転出予定",
            "2026-11-15",
            "1000000045",
            届出日="2026-11-02",
            転出先住所="架空都みどり区1番地",
        ),
        name="planned.csv",
    )
    before, out = versions(db_engine, "1000000045")
    assert before.valid_to == date(2026, 11, 15)  # a resident until the day before the 転出日
    assert out.valid_from == date(2026, 11, 15) and out.data.resident_class is ResidentClass.MOVED_OUT
    assert out.data.nonresident_on == date(2026, 11, 15) and out.data.nonresident_reason == "転出"
    assert out.data.address == "架空都みどり区1番地" and not out.data.in_city
    assert out.data.previous_address == "基盤県基盤市元町二丁目24番6号" and out.data.district_code is None
    assert members(db_engine, "1000000045")[0].valid_to == date(2026, 11, 15)
    load(row("J3", "転出確定", "2026-11-15", "1000000045", 届出日="2026-11-18"), name="confirmed.csv")
    assert len(versions(db_engine, "1000000045", live=False)) == 2  # nothing to change: the event only
    topics = [(o["topic"], o["payload"].get("planned_on")) for o in outbox_rows(db_engine)]
    assert topics[1:] == [
        ("identity.resident.move_out_planned", None),
        ("identity.resident.moved_out", "2026-11-15"),
    ]
    payload = outbox_rows(db_engine)[2]["payload"]
    assert payload["resident_until"] == "2026-11-14" and payload["abroad"] is False


@pytest.mark.parametrize(
    ("confirmed", "resident_until"), [("2026-11-18", "2026-11-17"), ("2026-11-10", "2026-11-09")]
)
def test_a_confirmed_date_other_than_planned_moves_the_boundary_and_keeps_what_was_believed(
    load, db_engine: Engine, confirmed: str, resident_until: str
) -> None:
    load(moved_in("J1", "1000000053"))
    load(
        row(
            "J2",
            "転出予定",
            "2026-11-15",
            "1000000053",
            届出日="2026-11-02",
            転出先住所="架空都みどり区1番地",
        )
    )
    load(
        row("J3", "転出確定", confirmed, "1000000053", 転出先住所="架空都みどり区2番地", 郵便番号="100-0001"),
        name="confirmed.csv",
    )
    day = date.fromisoformat(confirmed)
    resident, out = versions(db_engine, "1000000053")
    assert (resident.valid_from, resident.valid_to) == (date(2026, 10, 1), day)
    assert resident.data.resident_class is ResidentClass.RESIDENT
    assert out.valid_from == day and out.data.nonresident_on == day
    assert out.data.address == "架空都みどり区2番地" and out.data.postal_code == "100-0001"
    superseded = [v for v in versions(db_engine, "1000000053", live=False) if v.superseded_at]
    assert {(v.valid_from, v.valid_to) for v in superseded} == {
        (date(2026, 10, 1), date(2026, 11, 15)),
        (date(2026, 11, 15), None),
    }
    assert all("転出確定" in (v.supersede_reason or "") for v in superseded)
    [m] = members(db_engine, "1000000053")
    assert (m.valid_from, m.valid_to) == (date(2026, 10, 1), day)
    payload = outbox_rows(db_engine)[-1]["payload"]
    assert payload["planned_on"] == "2026-11-15" and payload["resident_until"] == resident_until


def test_abroad_move_out_is_final_without_confirmation(
    load, ctx, app_engine: Engine, db_engine: Engine
) -> None:
    load(moved_in("J1", "1000000061"))
    load(
        row(
            "J2",
            "転出予定",
            "2026-11-15",
            "1000000061",
            届出日="2026-11-01",
            転出先住所="アメリカ合衆国",
            国外区分=1,
        )
    )
    [*_, out] = versions(db_engine, "1000000061")
    assert out.data.nonresident_reason == "国外転出"
    assert outbox_rows(db_engine)[-1]["payload"]["abroad"] is True
    with pytest.raises(ImportRejected) as rejected:
        import_events(
            app_engine, csv(row("J3", "転出確定", "2026-11-15", "1000000061")), "c.csv", ctx, today=TODAY
        )
    assert rejected.value.errors[0].field == "異動事由" and "国外転出" in rejected.value.errors[0].message


def test_moved_within_with_a_new_household(load, db_engine: Engine) -> None:
    load(moved_in("J1", "1000000079"), birth("J2", "1000000087", on="2026-10-02"))
    load(
        row(
            "J3",
            "転居",
            "2026-11-01",
            "1000000087",
            届出日="2026-11-05",
            住所="基盤県基盤市東原2412番地",
            方書="ロイヤル中央A棟 101号室",
            世帯番号="2000000202",
            続柄="世帯主",
        ),
        row("J4", "転居", "2026-11-01", "1000000079", 届出日="2026-11-05", 住所="基盤県基盤市東原2412番地"),
    )
    old, new = versions(db_engine, "1000000087")
    assert old.valid_to == date(2026, 11, 1) and new.data.address == "基盤県基盤市東原2412番地"
    assert new.data.postal_code is None and new.data.district_code is None  # replaced with the address
    assert new.data.previous_address == "基盤県基盤市元町二丁目24番6号"
    first, second = members(db_engine, "1000000087")
    assert (first.household_no, first.valid_to) == (HH, date(2026, 11, 1))
    assert (second.household_no, second.relation, second.is_head) == ("2000000202", "世帯主", True)
    assert [m.household_no for m in members(db_engine, "1000000079")] == [HH]  # J4: same household
    payload = outbox_rows(db_engine)[2]["payload"]
    assert payload["previous_household_no"] == HH and "住所" in payload["fields"]


def test_death_ends_residence_the_next_day_and_records_the_date(load, db_engine: Engine) -> None:
    load(moved_in("J1", "1000000095"))
    load(row("J2", "死亡", "2026-11-03", "1000000095", 届出日="2026-11-04"))
    alive, dead = versions(db_engine, "1000000095")
    assert alive.valid_to == date(2026, 11, 4)  # alive and a resident on the day of death
    assert dead.valid_from == date(2026, 11, 4) and dead.data.resident_class is ResidentClass.DECEASED
    assert dead.data.nonresident_on == date(2026, 11, 3) and dead.data.nonresident_reason == "死亡"
    assert members(db_engine, "1000000095")[0].valid_to == date(2026, 11, 4)
    out = outbox_rows(db_engine)[-1]
    assert out["topic"] == "identity.resident.died" and out["occurred_on"] == date(2026, 11, 3)
    assert out["payload"]["death_date"] == "2026-11-03" and out["payload"]["resident_class"] == "死亡"


def test_rename_changes_only_what_is_given_and_a_dash_deletes(load, db_engine: Engine) -> None:
    load(moved_in("J1", "1000000109", 通称名="ヤマダ・ジョン", 通称名カナ="ヤマダジョン"))
    load(
        row(
            "J2",
            "氏名変更",
            "2026-11-01",
            "1000000109",
            届出日="2026-11-01",
            氏="佐藤",
            氏カナ="サトウ",
            通称名="-",
            通称名カナ="-",
        )
    )
    _, new = versions(db_engine, "1000000109")
    assert (new.data.family_name, new.data.given_name, new.data.family_kana) == ("佐藤", "太郎", "サトウ")
    assert new.data.alias_name is None and new.data.alias_kana is None
    assert outbox_rows(db_engine)[-1]["payload"]["fields"] == ["氏", "氏カナ", "通称名", "通称名カナ"]


def test_household_change_makes_a_new_membership(load, db_engine: Engine) -> None:
    load(
        moved_in("J1", "1000000117"),
        moved_in("J2", "1000000125", 続柄="妻", 名="花子", 名カナ="ハナコ", 性別=2),
    )
    load(
        row("J3", "世帯変更", "2026-11-01", "1000000117", 世帯番号=HH, 続柄="夫"),
        row("J4", "世帯変更", "2026-11-01", "1000000125", 届出日="2026-11-02", 世帯番号=HH, 続柄="世帯主"),
    )
    before, after = members(db_engine, "1000000125")
    assert (before.relation, before.valid_to) == ("妻", date(2026, 11, 1))
    assert (after.relation, after.is_head, after.valid_from) == ("世帯主", True, date(2026, 11, 1))
    assert len(versions(db_engine, "1000000125")) == 1  # no person item changed
    payload = outbox_rows(db_engine)[-1]["payload"]
    assert (payload["relation"], payload["previous_relation"]) == ("世帯主", "妻")


def test_correction_supersedes_the_current_record_and_may_add_the_number(load, db_engine: Engine) -> None:
    load(moved_in("J1", "1000000133"))
    number = valid_number(133)
    load(
        row(
            "J2",
            "職権修正",
            "2026-11-05",
            "1000000133",
            生年月日="1980-05-15",
            個人番号=number,
            備考="生年月日の誤記",
        )
    )
    [live] = versions(db_engine, "1000000133")
    assert live.valid_from == date(2026, 10, 1) and live.data.birth_date == date(1980, 5, 15)
    assert live.change_reason == "職権修正: 生年月日の誤記"
    [old] = [v for v in versions(db_engine, "1000000133", live=False) if v.superseded_at]
    assert old.data.birth_date == date(1980, 5, 5)
    with db_engine.connect() as conn:
        assert vault.owner_of(conn, number).person_no == "1000000133"
    payload = outbox_rows(db_engine)[-1]["payload"]
    assert payload["fields"] == ["生年月日"] and payload["corrected_from"] == "2026-10-01"
    assert payload["my_number_registered"] is True and not contains_my_number(str(payload))


def test_events_of_one_person_in_one_file_apply_in_file_order(load, db_engine: Engine) -> None:
    load(
        birth("J1", "1000000141", on="2026-10-01"),
        row("J2", "転居", "2026-10-20", "1000000141", 届出日="2026-10-21", 住所="基盤県基盤市東原1番地"),
        row("J3", "死亡", "2026-11-02", "1000000141", 届出日="2026-11-02"),
    )
    assert [v.valid_from for v in versions(db_engine, "1000000141")] == [
        date(2026, 10, 1),
        date(2026, 10, 20),
        date(2026, 11, 3),
    ]


# -- the error list and atomicity -----------------------------------------------------------------


def test_one_bad_row_among_good_ones_imports_nothing_and_names_line_record_and_field(
    load, app_engine: Engine, db_engine: Engine, ctx
) -> None:
    load(moved_in("J1", "1000000150"))
    before = counts(db_engine)
    lines = [
        birth("J10", "1000000168"),
        row("J11", "転居", "2026-11-01", "1000000150", 届出日="2026-11-02", 住所="基盤県基盤市東原1番地"),
        row("J12", "転居", "2026-11-31", "1000000150", 届出日="2026-11-02", 住所="基盤県基盤市東原2番地"),
    ]
    with pytest.raises(ImportRejected) as rejected:
        import_events(app_engine, csv(*lines), "bad.csv", ctx, today=TODAY)
    assert counts(db_engine) == before
    [error] = rejected.value.errors
    assert (error.line_no, error.record_key, error.person_no, error.field) == (
        4,
        "J12",
        "1000000150",
        "異動日",
    )
    with db_engine.connect() as conn:
        status = conn.execute(
            text("SELECT status, error_count FROM identity.import_batch WHERE import_id = :i"),
            {"i": rejected.value.import_id},
        ).one()
        stored = error_list(conn, rejected.value.import_id)
    assert tuple(status) == ("rejected", 1)
    assert [(e.line_no, e.record_key, e.field) for e in stored] == [(4, "J12", "異動日")]


def test_the_error_list_names_every_bad_row(load, app_engine: Engine, db_engine: Engine, ctx) -> None:
    taken = valid_number(201)
    load(
        moved_in("J1", "1000000176", 個人番号=taken),
        moved_in("J2", "1000000354"),
        moved_in("J3", "1000000362"),
        moved_in("J4", "1000000370"),
        moved_in("J5", "1000000419"),
    )
    bad_number = valid_number(202)[:11] + str((int(valid_number(202)[11]) + 1) % 10)
    lines = [
        row(
            "E1", "転居", "2026-11-01", "1999999999", 届出日="2026-11-01", 住所="基盤県基盤市東原1番地"
        ),  # unknown
        row("E2", "死亡", "2026-11-01", "1000000176"),  # 届出日 required for 死亡
        row(
            "E3", "死亡", "2026-11-01", "1000000354", 届出日="2026-11-01", 住所="基盤県基盤市東原1番地"
        ),  # not used
        row(
            "E4", "転居", "2026-09-30", "1000000362", 届出日="2026-10-01", 住所="基盤県基盤市東原1番地"
        ),  # retroactive
        birth("E5", "1000000184", 個人番号=taken),  # the number is someone else's
        birth("E6", "1000000192", 個人番号=bad_number),  # check digit
        birth("E7", "1000000370"),  # already registered
        row("E8", "出生", "2026-10-10", "1000000206"),  # many required items missing
        row("E9", "転出確定", "2026-11-01", "1000000419"),  # no 転出予定 and no destination
        row("E1", "死亡", "2026-11-01", "1000000389", 届出日="2026-11-01"),  # duplicate 異動ID
        birth("E10", "1000000214", 氏カナ="やまだ"),
        row(
            "E11",
            "氏名変更",
            "2026-11-01",
            "1000000397",
            届出日="2026-11-01",
            備考="電話 " + valid_number(203),
        ),
        row("E12", "転居", "2026-11-01", "1000000176", 届出日="2026-11-01", 住所="基盤県基盤市東原1番地"),
        row(
            valid_number(204), "死亡", "2026-11-01", "1000000397", 届出日="2026-11-01"
        ),  # an id like a 個人番号
    ]
    with pytest.raises(ImportRejected) as rejected:
        import_events(app_engine, csv(*lines), "bad.csv", ctx, today=TODAY)
    found = {(e.line_no, e.field) for e in rejected.value.errors}
    assert {
        (2, "宛名番号"),
        (3, "届出日"),
        (4, "住所"),
        (5, "異動日"),
        (6, "個人番号"),
        (7, "個人番号"),
        (8, "宛名番号"),
        (9, "氏"),
        (9, "性別"),
        (10, "転出先住所"),
        (11, "異動ID"),
        (12, "氏カナ"),
        (13, "備考"),
        (14, "宛名番号"),  # an earlier row of this person failed: not checkable
        (15, "異動ID"),
    } <= found
    assert {line for line, _ in found} == set(range(2, 16))
    by_line = {e.line_no: e for e in rejected.value.errors}
    assert "1000000176" in by_line[6].message and "3行目" in by_line[14].message
    assert by_line[5].record_key == "E4" and by_line[5].person_no == "1000000362"
    messages = " ".join(f"{e.record_key} {e.field} {e.message}" for e in rejected.value.errors)
    assert not contains_my_number(messages)
    with db_engine.connect() as conn:
        stored = error_list(conn, rejected.value.import_id)
    assert {(e.line_no, e.field) for e in stored} == found
    assert not contains_my_number(" ".join(e.message for e in stored))


def test_same_number_twice_in_one_file_and_events_after_a_bad_row(app_engine: Engine, ctx) -> None:
    number = valid_number(301)
    lines = [
        birth("D1", "1000000222", 個人番号=number),
        birth("D2", "1000000230", 個人番号=number),
        birth("D3", "1000000249", 生年月日="2026-10-11"),  # differs from the 異動日
        row("D4", "転居", "2026-11-01", "1000000249", 届出日="2026-11-01", 住所="基盤県基盤市東原1番地"),
    ]
    with pytest.raises(ImportRejected) as rejected:
        import_events(app_engine, csv(*lines), "dup.csv", ctx, today=TODAY)
    by_line = {e.line_no: e for e in rejected.value.errors}
    assert by_line[3].field == "個人番号" and "1000000222" in by_line[3].message
    assert by_line[4].field == "生年月日"
    assert by_line[5].field == "宛名番号" and "4行目" in by_line[5].message


def test_a_wrong_header_is_rejected_and_recorded(app_engine: Engine, db_engine: Engine, ctx) -> None:
    with pytest.raises(ImportRejected) as rejected:
        import_events(app_engine, b"a,b\r\n1,2\r\n", "x.csv", ctx, today=TODAY)
    assert rejected.value.errors[0].field == "見出し行" and rejected.value.import_id is not None


# -- idempotency ----------------------------------------------------------------------------------


def test_the_same_file_twice_changes_nothing(load, db_engine: Engine) -> None:
    lines = (moved_in("J1", "1000000257"), birth("J2", "1000000265"))
    first = load(*lines)
    before = counts(db_engine)
    again = load(*lines, name="again.csv")
    assert again.already_imported and again.import_id == first.import_id and again.applied == 2
    assert counts(db_engine) == before


def test_an_overlapping_file_skips_the_rows_already_applied(load, db_engine: Engine) -> None:
    number = valid_number(401)
    load(moved_in("J1", "1000000273", 個人番号=number), birth("J2", "1000000281"))
    before = counts(db_engine)
    result = load(
        moved_in("J1", "1000000273", 個人番号=number),
        birth("J2", "1000000281"),
        row("J3", "転居", "2026-11-01", "1000000273", 届出日="2026-11-01", 住所="基盤県基盤市東原1番地"),
        name="overlap.csv",
    )
    assert (result.rows, result.applied, result.skipped) == (3, 1, 2)
    after = counts(db_engine)
    assert after["identity.resident_event"] == before["identity.resident_event"] + 1
    assert after["kiban_meta.outbox"] == before["kiban_meta.outbox"] + 1


def test_the_same_event_id_with_other_content_is_an_error(load, app_engine: Engine, ctx) -> None:
    load(moved_in("J1", "1000000290", 個人番号=valid_number(501)))
    with pytest.raises(ImportRejected) as rejected:
        load(moved_in("J1", "1000000290", 氏="山本", 個人番号=valid_number(501)), name="other.csv")
    [error] = rejected.value.errors
    assert (error.field, error.message) == ("異動ID", "異動ID が既に別の内容で取り込まれています")
    with pytest.raises(ImportRejected):  # the same row but another 個人番号 is other content too
        load(moved_in("J1", "1000000290", 個人番号=valid_number(502)), name="other2.csv")


# -- access log, history, command -----------------------------------------------------------------


def test_one_access_log_row_per_import_with_the_persons(load, db_engine: Engine, ctx, monkeypatch) -> None:
    load(moved_in("J1", "1000000303"), birth("J2", "1000000311"))
    [entry] = log_rows(db_engine, ctx.staff_code, action="create")
    assert entry["subjects"] == ["1000000303", "1000000311"]
    assert entry["detail"]["applied"] == 2 and entry["detail"]["by_type"] == {"転入": 1, "出生": 1}
    monkeypatch.setattr(events, "SUBJECT_LIMIT", 1)
    load(
        row("J3", "転居", "2026-11-01", "1000000303", 届出日="2026-11-01", 住所="基盤県基盤市東原1番地"),
        row("J4", "転居", "2026-11-01", "1000000311", 届出日="2026-11-01", 住所="基盤県基盤市東原1番地"),
    )
    [big] = log_rows(db_engine, ctx.staff_code, action="update")
    assert (
        big["subjects"] == [] and big["detail"]["persons"] == 2 and big["detail"]["subjects"] == "import_id"
    )


def test_a_rejected_import_is_logged_as_an_error(app_engine: Engine, db_engine: Engine, ctx) -> None:
    with pytest.raises(ImportRejected):
        import_events(
            app_engine, csv(row("X1", "死亡", "2026-11-01", "1999999999")), "x.csv", ctx, today=TODAY
        )
    [entry] = log_rows(db_engine, ctx.staff_code)
    assert entry["outcome"] == "error" and entry["detail"]["errors"] >= 1


def test_events_of_lists_the_history_and_logs_the_view(
    load, app_engine: Engine, db_engine: Engine, ctx
) -> None:
    load(moved_in("J1", "1000000320"))
    load(row("J2", "死亡", "2026-11-03", "1000000320", 届出日="2026-11-04"))
    with app_engine.begin() as conn:
        history = events.events_of(conn, ctx, "1000000320")
    assert [(h.event_id, h.event_type, h.household_no) for h in history] == [
        ("J1", "転入", HH),
        ("J2", "死亡", HH),
    ]
    assert log_rows(db_engine, ctx.staff_code, action="view")[-1]["subjects"] == ["1000000320"]


def test_the_command_imports_and_prints_the_error_list(tmp_path, db_engine: Engine) -> None:
    from kiban.cli.main import app

    good = tmp_path / "good.csv"
    good.write_bytes(csv(moved_in("C1", "1000000338")))
    runner = CliRunner()
    done = runner.invoke(app, ["identity", "events", str(good)])
    assert done.exit_code == 0, done.output
    assert "反映 1 件" in done.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes(
        csv(row("C2", "転居", "2026-11-01", "1000000346", 届出日="2026-11-01", 住所="基盤県基盤市東原1番地"))
    )
    failed = runner.invoke(app, ["identity", "events", str(bad)])
    assert failed.exit_code == 1
    assert re.search(r"C2.*1000000346.*宛名番号", failed.output)


def test_events_the_person_class_does_not_allow_are_errors(load, app_engine: Engine, ctx) -> None:
    load(
        moved_in("J1", "1000000427"),
        moved_in("J2", "1000000435"),
        moved_in("J3", "1000000443"),
        moved_in("J6", "1000000460"),
        moved_in("J7", "1000000478"),
        moved_in("J8", "1000000486"),
    )
    load(
        row("J4", "転出予定", "2026-11-10", "1000000427", 届出日="2026-11-01", 転出先住所="架空都1番地"),
        row("J5", "死亡", "2026-11-01", "1000000435", 届出日="2026-11-01"),
    )
    lines = [
        row("K1", "転居", "2026-11-12", "1000000427", 届出日="2026-11-12", 住所="基盤県基盤市東原1番地"),
        row("K2", "死亡", "2026-11-05", "1000000435", 届出日="2026-11-05"),
        moved_in("K3", "1000000443", on="2026-11-01"),
        row("K4", "職権修正", "2026-11-05", "1000000486", 氏="山田", 備考="確認"),
        row("K5", "転居", "2026-12-01", "1000000460", 届出日="2026-11-01", 住所="基盤県基盤市東原1番地"),
        row("K6", "世帯変更", "2026-11-01", "1000000478", 世帯番号=HH, 続柄="世帯主"),
    ]
    with pytest.raises(ImportRejected) as rejected:
        import_events(app_engine, csv(*lines), "x.csv", ctx, today=TODAY)
    by_line = {e.line_no: (e.field, e.message) for e in rejected.value.errors}
    assert by_line[2] == ("異動事由", "住民ではありません（住民区分: 転出）")
    assert by_line[3] == ("異動事由", "住民ではありません（住民区分: 死亡）")
    assert by_line[4][0] == "宛名番号" and "転入できるのは転出者・住登外者です" in by_line[4][1]
    assert by_line[5][0] == "備考" and "修正する項目がありません" in by_line[5][1]
    assert (6, "異動日", "未来の日付です（未来の日付は転出予定だけです）") in {
        (e.line_no, e.field, e.message) for e in rejected.value.errors
    }
    assert by_line[7] == ("世帯番号", "現在の世帯番号・続柄と同じです")


def test_a_planned_move_out_may_lie_in_the_future(load, db_engine: Engine) -> None:
    load(moved_in("J1", "1000000451"))
    load(row("J2", "転出予定", "2026-12-05", "1000000451", 届出日="2026-11-20", 転出先住所="架空都1番地"))
    with db_engine.connect() as conn:
        ref = repo.ref_by_no(conn, "1000000451")
        assert repo.version_on(conn, ref.person_id, TODAY).data.resident_class is ResidentClass.RESIDENT
        assert repo.current_version(conn, ref.person_id).data.resident_class is ResidentClass.MOVED_OUT


def test_the_layout_document_matches_the_code() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "layouts" / "resident-events.md").read_text()
    columns = re.findall(r"^\| (\d+) \| ([^|]+?) \|", doc, flags=re.M)
    assert [name for _, name in columns] == list(HEADER)
    rules = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] in {str(e) for e in events.EventType} and len(cells) == 21:
            rules[cells[0]] = {
                col: mark for col, mark in zip(events._RULE_COLUMNS, cells[1:], strict=True) if mark != "."
            }
    assert rules == {str(k): v for k, v in events.RULES.items()}
    examples = re.findall(r"^- `(J\d+,[^`]*)`", doc, flags=re.M)
    assert len(examples) == 3
    for example in examples:
        fields = example.replace("************", valid_number(999)).split(",")
        assert len(fields) == len(HEADER)
        parsed = events.parse(csv(",".join(fields)), today=TODAY)
        assert not [str(e) for e in parsed.errors], example


def _register_from_jumin(engine: Engine, jumin: bytes, wanted: set[str]) -> int:
    """Register the residents of ``jumin.csv`` among ``wanted`` as the registry's first load would."""
    from kiban.identity.model import PersonData

    count = 0
    with engine.begin() as conn:
        for line in jumin.decode().splitlines()[1:]:
            f = line.split(",")
            if f[1] not in wanted or f[4] != "住民":
                continue
            since = date.fromisoformat(f[16])
            data = PersonData(
                family_name=f[6], given_name=f[7], family_kana=f[8], given_kana=f[9], sex=int(f[10]),
                birth_date=date.fromisoformat(f[11]), postal_code=f[12], address=f[13], katagaki=f[14] or None,
                district_code=f[15], resident_class=ResidentClass.RESIDENT, resident_on=since,
            )  # fmt: skip
            ref = repo.create_person(
                conn, city_code=f[0], person_no=f[1], data=data, valid_from=since, reason="初期移行"
            )
            household = repo.ensure_household(conn, f[0], f[3])
            repo.join_household(conn, ref.person_id, household, relation=f[5], since=since, reason="初期移行")
            count += 1
    return count


def test_a_synthetic_month_of_events_imports_cleanly(app_engine: Engine, db_engine: Engine, ctx) -> None:
    from kiban.synth import files
    from kiban.synth.city import city_params
    from kiban.synth.events import month_of_events
    from kiban.synth.generate import generate_chunk

    params = city_params(5, 5_000, date(2026, 4, 1))
    jumin = files.header("jumin.csv") + b"".join(
        generate_chunk(params, k).files["jumin.csv"] for k in range(params.chunks)
    )
    data = month_of_events(jumin, seed=5, start=date(2026, 4, 1))
    parsed = events.parse(data, today=date(2026, 4, 30))
    assert _register_from_jumin(db_engine, jumin, {e.person_no for e in parsed.events}) > 0
    result = import_events(app_engine, data, "idou-202604.csv", ctx, today=date(2026, 4, 30))
    assert (result.rows, result.applied, result.skipped) == (parsed.rows, parsed.rows, 0)
    topics = {o["topic"] for o in outbox_rows(db_engine)}
    assert {"identity.resident.birth", "identity.resident.died", "identity.resident.moved_in"} <= topics
