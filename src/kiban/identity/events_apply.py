"""Checking resident events against the hub and applying them (住民異動の照合と反映).

``plan`` walks the checked rows in file order (the registry's processing order) over a simulated
state of each person — loaded once from the database, then advanced row by row — so every rule that
depends on the hub or on earlier rows is found before anything is written: the 宛名番号 exists (or
not, for 出生・転入), the 住民区分 allows the event, the event is not dated before the person's
current record (``repo.RetroactiveChange``: the past is corrected, not back-dated), the 個人番号 is
not held by anyone else. ``apply`` then writes each plan through ``repo`` and ``vault`` in the
caller's transaction. The dates each event gives are in docs/layouts/resident-events.md
(住民区分と日付).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.exc import IntegrityError

from kiban.db import outbox
from kiban.identity import model, repo, vault
from kiban.identity import tables as t
from kiban.identity.events import ITEMS, LABELS, EventRowError, EventType, ParsedEvent
from kiban.identity.importing import RowError
from kiban.identity.model import PersonData, ResidentClass
from kiban.identity.repo import CURRENT, CURRENT_MEMBER, IdentityError, PersonRef
from kiban.security import keys
from kiban.security.context import AccessContext

_DATA_FIELDS = tuple(f.name for f in dataclasses.fields(PersonData))
_EMPTY = {"given_name": "", "given_kana": ""}  # "-" deletes an item: these two are '' rather than NULL
# check_person's 項目名 that this layout calls otherwise.
_FIELD_NAMES = {"住民となった日": "異動日", "住登外となった日": "異動日", "氏名利用区分": "通称名"}
_RESIDENT_ONLY = "住民ではありません（住民区分: {}）"


class ApplyFailed(IdentityError):
    """A write was refused although the checks passed; the import is rolled back."""

    def __init__(self, event: ParsedEvent, message: str) -> None:
        super().__init__(message)
        self.line_no = event.line_no
        self.record_key = event.event_id


@dataclass
class State:
    """A person as the rows so far leave them (the current record and household)."""

    person_no: str
    city_code: str
    data: PersonData
    start: date  # the current version's first day
    prev_start: date | None = None  # the version before it (ends at ``start``)
    household_no: str | None = None
    relation: str | None = None
    member_start: date | None = None
    planned_out: date | None = None  # a 転出予定 waiting for its 転出確定
    abroad_out: bool = False
    number_key: bytes | None = None


@dataclass
class Plan:
    """What one event does: computed by ``plan``, executed by ``apply``."""

    event: ParsedEvent
    op: str  # create | change | correct | restate | none
    resident_class: str
    data: PersonData | None = None
    change_on: date | None = None
    restate_from: date | None = None  # restate: the 転出予定日 the confirmed date replaces
    household_no: str | None = None  # after the event (or the one left)
    relation: str | None = None
    join: bool = False
    leave_on: date | None = None
    store_number: bool = False
    fields: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # type-specific outbox items

    @property
    def person_no(self) -> str:
        return self.event.person_no

    @property
    def creates(self) -> bool:
        return self.op == "create"


# -- loading the persons a file names ------------------------------------------------------------


def _data(row: Any) -> PersonData:
    values = {name: getattr(row, name) for name in _DATA_FIELDS}
    values["resident_class"] = ResidentClass(values["resident_class"])
    return PersonData(**values)


def load_states(conn: Connection, person_nos: set[str]) -> dict[str, State]:
    """The current state of each existing person among ``person_nos`` (a few set-based queries)."""
    if not person_nos:
        return {}
    ids = {
        r.person_id: r
        for r in conn.execute(
            select(t.person.c.person_id, t.person.c.person_no, t.person.c.city_code).where(
                t.person.c.person_no.in_(sorted(person_nos))
            )
        )
    }
    if not ids:
        return {}
    pv, hm = t.person_version, t.household_member
    states: dict[int, State] = {}
    for r in conn.execute(select(pv).where(pv.c.person_id.in_(ids), CURRENT)):
        p = ids[r.person_id]
        states[r.person_id] = State(p.person_no, p.city_code, _data(r), r.valid.lower)
    for r in conn.execute(
        select(pv.c.person_id, pv.c.valid)
        .where(pv.c.person_id.in_(ids), pv.c.superseded_at.is_(None), ~func.upper_inf(pv.c.valid))
        .distinct(pv.c.person_id)
        .order_by(pv.c.person_id, func.lower(pv.c.valid).desc())
    ):
        st = states.get(r.person_id)
        if st and r.valid.upper == st.start:
            st.prev_start = r.valid.lower
    members = select(hm.c.person_id, hm.c.relation, hm.c.valid, t.household.c.household_no).join(
        t.household, t.household.c.household_id == hm.c.household_id
    )
    for r in conn.execute(members.where(hm.c.person_id.in_(ids), CURRENT_MEMBER)):
        if st := states.get(r.person_id):
            st.household_no, st.relation, st.member_start = r.household_no, r.relation, r.valid.lower
    ev = t.resident_event
    moves = [
        str(e) for e in (EventType.BIRTH, EventType.MOVED_IN, EventType.MOVE_OUT_PLANNED, EventType.MOVED_OUT)
    ]
    for r in conn.execute(
        select(
            ev.c.person_id,
            ev.c.event_type,
            ev.c.effective_on,
            ev.c.payload["国外区分"].astext.label("abroad"),
        )
        .where(ev.c.person_id.in_(ids), ev.c.event_type.in_(moves))
        .distinct(ev.c.person_id)
        .order_by(ev.c.person_id, ev.c.event_pk.desc())
    ):
        st = states.get(r.person_id)
        if (
            st
            and r.event_type == EventType.MOVE_OUT_PLANNED
            and st.data.resident_class is ResidentClass.MOVED_OUT
        ):
            st.planned_out, st.abroad_out = r.effective_on, r.abroad == "1"
    for r in conn.execute(
        select(t.my_number_vault.c.person_id, t.my_number_vault.c.blind_index).where(
            t.my_number_vault.c.person_id.in_(ids)
        )
    ):
        if st := states.get(r.person_id):
            st.number_key = bytes(r.blind_index)
    return {st.person_no: st for st in states.values()}


# -- checking against the hub and the earlier rows -------------------------------------------------


class _Row:
    """Errors of one event, added to the file's error list."""

    def __init__(self, errors: list[RowError], event: ParsedEvent) -> None:
        self.errors, self.event, self.bad = errors, event, False

    def error(self, field_name: str, message: str) -> None:
        self.bad = True
        e = self.event
        self.errors.append(EventRowError(e.line_no, e.event_id, field_name, message, e.person_no))


def plan(
    conn: Connection,
    events: list[ParsedEvent],
    errors: list[RowError],
    *,
    today: date,
    failed: dict[str, int] | None = None,
) -> list[Plan]:
    """Check every event against the hub and the rows before it; return what to apply.

    ``failed`` maps the 宛名番号 of rows that already failed their own checks to their line: later
    rows of that person are reported as not checkable rather than with misleading errors."""
    states = load_states(conn, {e.person_no for e in events})
    failed = dict(failed or {})
    numbered = [e for e in events if e.digits]
    index = keys.Vault.load(conn) if numbered else None
    key_of = {e.line_no: index.blind_index(e.digits) for e in numbered if index and e.digits}
    holders: dict[bytes, str] = {}
    if key_of:
        holders = {
            bytes(r.blind_index): r.person_no
            for r in conn.execute(
                select(t.my_number_vault.c.blind_index, t.person.c.person_no)
                .join(t.person, t.person.c.person_id == t.my_number_vault.c.person_id)
                .where(t.my_number_vault.c.blind_index.in_(list(key_of.values())))
            )
        }
    plans: list[Plan] = []
    for e in events:
        row = _Row(errors, e)
        if e.person_no in failed and failed[e.person_no] < e.line_no:
            row.error("宛名番号", f"同じ宛名番号の{failed[e.person_no]}行目にエラーがあるため確認できません")
            continue
        st = states.get(e.person_no)
        if st is not None and st.city_code != e.city_code:
            row.error("市区町村コード", f"宛名の市区町村コード（{st.city_code}）と異なります")
        result = _check(row, e, st, today) if not row.bad else None
        if result is not None and e.digits:
            p, after = result
            key = key_of[e.line_no]
            holder = holders.get(key)
            if holder is not None and holder != e.person_no:
                row.error("個人番号", f"この個人番号は既に宛名番号 {holder} に登録されています")
            elif after.number_key is not None and after.number_key != key:
                row.error(
                    "個人番号",
                    f"宛名番号 {e.person_no} には別の個人番号が登録されています（個人番号の変更はこの様式では扱いません）",
                )
            else:
                p.store_number = after.number_key is None
                after.number_key = key
        if row.bad or result is None:
            failed.setdefault(e.person_no, e.line_no)
            continue
        p, after = result
        if e.type is EventType.CORRECTED and not p.fields and not p.store_number:
            row.error("備考", "修正する項目がありません（現在の記録と同じです）")
            failed.setdefault(e.person_no, e.line_no)
            continue
        if p.store_number:
            holders[key_of[e.line_no]] = e.person_no
        states[e.person_no] = after
        plans.append(p)
    return plans


def _check(row: _Row, e: ParsedEvent, st: State | None, today: date) -> tuple[Plan, State] | None:
    """The rules of one 異動事由 on the person's state; None (with errors) when refused."""
    if e.type is EventType.BIRTH or (e.type is EventType.MOVED_IN and st is None):
        if st is not None:
            row.error("宛名番号", f"宛名番号 {e.person_no} は既に登録されています")
            return None
        return _arrive(row, e, None, today)
    if st is None:
        row.error("宛名番号", f"宛名番号 {e.person_no} の宛名は登録されていません")
        return None
    klass = st.data.resident_class
    if e.type is EventType.CORRECTED:
        return _correct(row, e, st, today)
    if e.type is EventType.MOVED_IN:
        if klass not in (ResidentClass.MOVED_OUT, ResidentClass.NON_RESIDENT):
            row.error(
                "宛名番号", f"宛名番号 {e.person_no} は{klass}です（転入できるのは転出者・住登外者です）"
            )
            return None
    elif e.type is EventType.MOVED_OUT and klass is ResidentClass.MOVED_OUT:
        return _confirm(row, e, st, today)
    elif klass is not ResidentClass.RESIDENT:
        row.error("異動事由", _RESIDENT_ONLY.format(klass))
        return None
    if e.effective_on < st.start:
        row.error(
            "異動日",
            f"異動日 {e.effective_on.isoformat()} は宛名番号 {e.person_no} の現在の記録の開始日 "
            f"{st.start.isoformat()} より前です（過去の記録の訂正は職権修正で行ってください）",
        )
        return None
    if e.type is EventType.MOVED_IN:
        return _arrive(row, e, st, today)
    if e.type in (EventType.MOVE_OUT_PLANNED, EventType.MOVED_OUT):
        return _leave(row, e, st, today)
    if e.type is EventType.DIED:
        return _die(row, e, st)
    if e.type is EventType.MOVED_WITHIN:
        return _move_within(row, e, st, today)
    if e.type is EventType.RENAMED:
        return _rename(row, e, st, today)
    return _household(row, e, st)


def _person_errors(row: _Row, data: PersonData, today: date) -> bool:
    for fe in model.check_person(data, today=today):
        row.error(_FIELD_NAMES.get(fe.field, fe.field), fe.message)
    return not row.bad


def _member_date_ok(row: _Row, e: ParsedEvent, st: State, on: date) -> bool:
    if st.member_start is not None and on < st.member_start:
        row.error("異動日", f"現在の世帯の加入日 {st.member_start.isoformat()} より前です")
        return False
    return True


def _changed(before: PersonData, after: PersonData) -> list[str]:
    return [LABELS.get(f, f) for f in _DATA_FIELDS if getattr(before, f) != getattr(after, f) and f in LABELS]


def _items(e: ParsedEvent) -> dict[str, Any]:
    return {k: (_EMPTY.get(k) if v is None else v) for k, v in e.items.items()}


def _arrive(row: _Row, e: ParsedEvent, st: State | None, today: date) -> tuple[Plan, State] | None:
    """出生, 転入 (new, or a former resident / 住登外 person coming back: reactivated)."""
    fresh: dict[str, Any] = {f: e.items.get(f, _EMPTY.get(f)) for f in ITEMS.values()}
    fresh |= {
        "in_city": True,
        "resident_class": ResidentClass.RESIDENT,
        "resident_on": e.effective_on,
        "nonresident_on": None,
        "nonresident_reason": None,
        "class_notified_on": e.notified_on,
        "previous_address": e.previous_address,
    }
    if st is None:
        data = PersonData(**fresh)
    else:
        data = st.data.replace(**fresh)
        if not _member_date_ok(row, e, st, e.effective_on):
            return None
    if not _person_errors(row, data, today):
        return None
    p = Plan(
        e,
        "create" if st is None else "change",
        str(ResidentClass.RESIDENT),
        data,
        change_on=e.effective_on,
        household_no=e.household_no,
        relation=e.relation,
        join=True,
        extra={"returning": st is not None, "abroad": e.abroad} if e.type is EventType.MOVED_IN else {},
    )
    after = State(e.person_no, e.city_code, data, e.effective_on, None if st is None else st.start)
    after.household_no, after.relation, after.member_start = e.household_no, e.relation, e.effective_on
    after.number_key = None if st is None else st.number_key
    if st is not None:
        after.prev_start = st.start if e.effective_on > st.start else st.prev_start
    return p, after


def _leave(row: _Row, e: ParsedEvent, st: State, today: date) -> tuple[Plan, State] | None:
    """転出予定 (or a 転出確定 that came without one): not a resident from the 転出日."""
    if not e.destination:
        row.error("転出先住所", "必須です（転出予定を受けていない転出確定）")
        return None
    if not _member_date_ok(row, e, st, e.effective_on):
        return None
    data = st.data.replace(
        resident_class=ResidentClass.MOVED_OUT,
        nonresident_on=e.effective_on,
        nonresident_reason="国外転出" if e.abroad else "転出",
        class_notified_on=e.notified_on,
        address=e.destination,
        postal_code=e.items.get("postal_code"),
        katagaki=e.items.get("katagaki"),
        district_code=None,
        in_city=False,
        previous_address=st.data.address,
    )
    if not _person_errors(row, data, today):
        return None
    p = Plan(
        e,
        "change",
        str(ResidentClass.MOVED_OUT),
        data,
        change_on=e.effective_on,
        household_no=st.household_no,
        relation=st.relation,
        leave_on=e.effective_on if st.household_no else None,
        extra=_out_items(e.effective_on, e.abroad),
    )
    after = dataclasses.replace(
        st, data=data, start=e.effective_on, household_no=None, relation=None, member_start=None
    )
    after.prev_start = st.start if e.effective_on > st.start else st.prev_start
    if e.type is EventType.MOVE_OUT_PLANNED:
        after.planned_out, after.abroad_out = e.effective_on, e.abroad
    else:
        after.planned_out = None
    return p, after


def _out_items(moved_out_on: date, abroad: bool) -> dict[str, Any]:
    return {
        "nonresident_on": moved_out_on,
        "resident_until": moved_out_on - timedelta(days=1),
        "abroad": abroad,
    }


def _confirm(row: _Row, e: ParsedEvent, st: State, today: date) -> tuple[Plan, State] | None:
    """転出確定 after a 転出予定: the 転入通知 from the new city gives the real 転出日 (= its 転入日)."""
    if st.planned_out is None:
        row.error("異動事由", "転出予定を受けていません（既に転出確定済みです）")
        return None
    if st.abroad_out:
        row.error("異動事由", "国外転出には転出確定はありません（転入通知は国内の転入先からだけです）")
        return None
    planned, confirmed = st.planned_out, e.effective_on
    data = st.data.replace(nonresident_on=confirmed, nonresident_reason="転出")
    if e.destination:
        data = data.replace(
            address=e.destination, postal_code=e.items.get("postal_code"), katagaki=e.items.get("katagaki")
        )
    if not _person_errors(row, data, today):
        return None
    after = dataclasses.replace(st, data=data, planned_out=None)
    extra = {**_out_items(confirmed, False), "planned_on": planned}
    fields = _changed(st.data, data)
    if confirmed == planned:
        op = "correct" if data != st.data else "none"
        return Plan(e, op, str(ResidentClass.MOVED_OUT), data, fields=fields, extra=extra), after
    if st.start != planned or st.prev_start is None or confirmed <= st.prev_start:
        row.error(
            "異動日",
            f"確定した転出日 {confirmed.isoformat()} に訂正できません（転出予定日 {planned.isoformat()} の前の記録と"
            "合いません。職権修正で訂正してください）",
        )
        return None
    after.start = confirmed
    return (
        Plan(
            e,
            "restate",
            str(ResidentClass.MOVED_OUT),
            data,
            change_on=confirmed,
            restate_from=planned,
            fields=fields,
            extra=extra,
        ),
        after,
    )


def _die(row: _Row, e: ParsedEvent, st: State) -> tuple[Plan, State] | None:
    """死亡: alive and a resident on the death date; 死亡 from the next day (介護保険法第11条: 翌日喪失)."""
    day_after = e.effective_on + timedelta(days=1)
    data = st.data.replace(
        resident_class=ResidentClass.DECEASED,
        nonresident_on=e.effective_on,
        nonresident_reason="死亡",
        class_notified_on=e.notified_on,
    )
    p = Plan(
        e,
        "change",
        str(ResidentClass.DECEASED),
        data,
        change_on=day_after,
        household_no=st.household_no,
        relation=st.relation,
        leave_on=day_after if st.household_no else None,
        extra={
            "death_date": e.effective_on,
            "nonresident_on": e.effective_on,
            "resident_until": e.effective_on,
        },
    )
    after = dataclasses.replace(
        st,
        data=data,
        start=day_after,
        prev_start=st.start,
        household_no=None,
        relation=None,
        member_start=None,
    )
    return p, after


def _household_change(row: _Row, e: ParsedEvent, st: State, p: Plan, after: State) -> bool:
    """Join the row's household (世帯変更, or a 転居 that changes household) unless it is the same."""
    if not e.household_no or (e.household_no, e.relation) == (st.household_no, st.relation):
        p.household_no, p.relation = st.household_no, st.relation
        return True
    if not _member_date_ok(row, e, st, e.effective_on):
        return False
    p.join, p.household_no, p.relation = True, e.household_no, e.relation
    p.extra |= {"previous_household_no": st.household_no, "previous_relation": st.relation}
    after.household_no, after.relation, after.member_start = e.household_no, e.relation, e.effective_on
    return True


def _move_within(row: _Row, e: ParsedEvent, st: State, today: date) -> tuple[Plan, State] | None:
    """転居: a new address in the city (郵便番号・方書・地区コード are replaced with it)."""
    data = st.data.replace(
        address=e.items["address"],
        postal_code=e.items.get("postal_code"),
        katagaki=e.items.get("katagaki"),
        district_code=e.items.get("district_code"),
        previous_address=st.data.address,
    )
    if (data.address, data.katagaki) == (st.data.address, st.data.katagaki):
        row.error("住所", "現在の住所・方書と同じです")
        return None
    if not _person_errors(row, data, today):
        return None
    fields = _changed(st.data, data)
    p = Plan(e, "change", str(st.data.resident_class), data, change_on=e.effective_on, fields=fields)
    after = _after_change(st, data, e.effective_on)
    return (p, after) if _household_change(row, e, st, p, after) else None


def _rename(row: _Row, e: ParsedEvent, st: State, today: date) -> tuple[Plan, State] | None:
    data = st.data.replace(**_items(e))
    fields = _changed(st.data, data)
    if not fields:
        row.error("氏", "現在の氏名と同じです")
        return None
    if not _person_errors(row, data, today):
        return None
    p = Plan(e, "change", str(st.data.resident_class), data, change_on=e.effective_on, fields=fields)
    p.household_no, p.relation = st.household_no, st.relation
    return p, _after_change(st, data, e.effective_on)


def _household(row: _Row, e: ParsedEvent, st: State) -> tuple[Plan, State] | None:
    """世帯変更: 世帯主変更, 世帯分離・合併, 続柄の変更 — a new membership from the 異動日."""
    if (e.household_no, e.relation) == (st.household_no, st.relation):
        row.error("世帯番号", "現在の世帯番号・続柄と同じです")
        return None
    p = Plan(e, "none", str(st.data.resident_class))
    after = dataclasses.replace(st)
    return (p, after) if _household_change(row, e, st, p, after) else None


def _correct(row: _Row, e: ParsedEvent, st: State, today: date) -> tuple[Plan, State] | None:
    """職権修正: the current record was wrong — kept (superseded) and replaced over the same period."""
    data = st.data.replace(**_items(e))
    if not _person_errors(row, data, today):
        return None
    fields = _changed(st.data, data)
    p = Plan(e, "correct" if fields else "none", str(data.resident_class), data, fields=fields)
    p.household_no, p.relation = st.household_no, st.relation
    p.extra = {"corrected_from": st.start}
    return p, dataclasses.replace(st, data=data)


def _after_change(st: State, data: PersonData, on: date) -> State:
    if on == st.start:  # a second change the same day replaces the version (repo.change_person)
        return dataclasses.replace(st, data=data)
    return dataclasses.replace(st, data=data, start=on, prev_start=st.start)


# -- applying -------------------------------------------------------------------------------------


def apply(conn: Connection, ctx: AccessContext, plans: list[Plan], *, import_id: int) -> list[Plan]:
    """Write every plan in the caller's transaction; announce each in the outbox."""
    refs: dict[str, PersonRef] = {}
    announcements: list[tuple[str, str, date | None, dict[str, Any]]] = []
    for p in plans:
        try:
            ref = _apply_one(conn, ctx, p, refs, import_id)
        except IdentityError as exc:
            raise ApplyFailed(p.event, str(exc)) from None
        except IntegrityError as exc:
            name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or "制約"
            raise ApplyFailed(p.event, f"データベースの制約（{name}）に反しました") from None
        announcements.append((p.event.type.topic, p.person_no, p.event.effective_on, _announcement(p, ref)))
    outbox.emit_many(conn, announcements)
    return plans


def _apply_one(
    conn: Connection, ctx: AccessContext, p: Plan, refs: dict[str, PersonRef], import_id: int
) -> PersonRef:
    e = p.event
    reason = str(e.type)
    household_id = repo.ensure_household(conn, e.city_code, p.household_no) if p.household_no else None
    if p.creates:
        assert p.data is not None
        ref = repo.create_person(
            conn,
            city_code=e.city_code,
            person_no=e.person_no,
            data=p.data,
            valid_from=e.effective_on,
            reason=reason,
            staff_id=ctx.staff_id,
            import_id=import_id,
        )
    else:
        ref = refs.get(e.person_no) or repo.ref_by_no(conn, e.person_no)
    refs[e.person_no] = ref
    event_pk = conn.execute(
        insert(t.resident_event)
        .values(
            event_id=e.event_id,
            city_code=e.city_code,
            event_type=str(e.type),
            effective_on=e.effective_on,
            notified_on=e.notified_on,
            person_id=ref.person_id,
            household_id=household_id,
            payload=e.payload,
            content_sha256=e.content_sha256,
            import_id=import_id,
            recorded_by=ctx.staff_id,
        )
        .returning(t.resident_event.c.event_pk)
    ).scalar_one()
    pid = ref.person_id
    if p.creates:
        conn.execute(
            update(t.person_version)
            .where(t.person_version.c.person_id == pid, t.person_version.c.event_pk.is_(None))
            .values(event_pk=event_pk)
        )
    elif p.op == "change":
        assert p.data is not None and p.change_on is not None
        repo.change_person(
            conn,
            pid,
            data=p.data,
            effective_on=p.change_on,
            reason=reason,
            staff_id=ctx.staff_id,
            event_pk=event_pk,
        )
    elif p.op == "correct":
        assert p.data is not None
        why = f"職権修正: {e.note}" if e.type is EventType.CORRECTED else f"{reason}（転出先の訂正）"
        repo.correct_person(conn, pid, data=p.data, reason=why, staff_id=ctx.staff_id, event_pk=event_pk)
    elif p.op == "restate":
        assert p.data is not None and p.change_on is not None and p.restate_from is not None
        _restate_move_out(conn, pid, p.restate_from, p.change_on, p.data, ctx.staff_id, event_pk)
    if p.leave_on is not None:
        repo.leave_household(conn, pid, on=p.leave_on, reason=reason)
    if p.join and household_id is not None:
        repo.join_household(
            conn,
            pid,
            household_id,
            relation=p.relation or "",
            since=e.effective_on,
            reason=reason,
            notified_on=e.notified_on,
            staff_id=ctx.staff_id,
            event_pk=event_pk,
        )
    if p.store_number and e.digits:
        vault.store(conn, ctx, ref, e.digits, source=f"住民異動（{reason}）", import_id=import_id)
    return ref


def _announcement(p: Plan, ref: PersonRef) -> dict[str, Any]:
    """The outbox payload: identifiers, dates and which items changed — never values, never the 個人番号."""
    e = p.event
    body: dict[str, Any] = {
        "event_id": e.event_id,
        "type": str(e.type),
        "effective_on": e.effective_on,
        "notified_on": e.notified_on,
        "person_no": e.person_no,
        "integrated_no": ref.integrated_no,
        "household_no": p.household_no,
        "relation": p.relation,
        "resident_class": p.resident_class,
        "my_number_registered": p.store_number,
    }
    if p.fields:
        body["fields"] = p.fields
    return body | p.extra


def _restate_move_out(
    conn: Connection,
    person_id: int,
    planned: date,
    confirmed: date,
    data: PersonData,
    staff_id: int,
    event_pk: int,
) -> None:
    """転出確定 with a 転出日 other than the 転出予定日: the version before the 転出 and the 転出 version
    are superseded (kept) and re-recorded with the boundary at the confirmed date; the household
    membership that ended at the planned date ends at the confirmed date instead."""
    pv, hm = t.person_version, t.household_member
    current = repo.current_version(conn, person_id, lock=True)
    before = conn.execute(
        select(pv).where(
            pv.c.person_id == person_id,
            pv.c.superseded_at.is_(None),
            func.upper(pv.c.valid) == literal(planned),
        )
    ).first()
    if current.valid_from != planned or before is None or confirmed <= before.valid.lower:
        raise IdentityError("転出予定日の前の記録と合わないため、転出日を訂正できません")
    why = f"転出確定（転出日 {planned.isoformat()} → {confirmed.isoformat()}）"
    now = func.now()
    conn.execute(
        update(pv)
        .where(pv.c.version_id.in_([before.version_id, current.version_id]))
        .values(superseded_at=now, superseded_by=staff_id, supersede_reason=why)
    )
    copy = {c.name: getattr(before, c.name) for c in pv.c if c.name not in _NOT_COPIED}
    conn.execute(
        insert(pv).values(
            **copy, valid=Range(before.valid.lower, confirmed, bounds="[)"), recorded_by=staff_id
        )
    )
    conn.execute(
        insert(pv).values(
            person_id=person_id,
            valid=Range(confirmed, None, bounds="[)"),
            change_reason=why,
            recorded_by=staff_id,
            event_pk=event_pk,
            **repo.version_values(data),
        )
    )
    ended = conn.execute(
        select(hm).where(
            and_(
                hm.c.person_id == person_id,
                hm.c.superseded_at.is_(None),
                func.upper(hm.c.valid) == literal(planned),
            )
        )
    ).first()
    if ended is None:
        return
    conn.execute(update(hm).where(hm.c.member_id == ended.member_id).values(superseded_at=now))
    if ended.valid.lower < confirmed:
        keep = {c.name: getattr(ended, c.name) for c in hm.c if c.name not in _NOT_COPIED}
        conn.execute(
            insert(hm).values(
                **keep, valid=Range(ended.valid.lower, confirmed, bounds="[)"), recorded_by=staff_id
            )
        )


# Columns a re-recorded row does not take from the row it replaces.
_NOT_COPIED = frozenset({
    "version_id", "member_id", "valid", "recorded_at", "recorded_by", "superseded_at", "superseded_by",
    "supersede_reason",
})  # fmt: skip
