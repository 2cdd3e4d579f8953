"""Reading and writing the identity tables (宛名の永続化). No access checks here: the services in
this package call the guard first and run these in the same transaction.

History is never overwritten (architecture.md §4):

- a change effective on day D closes the open version at D and adds a version from D;
- a second change on the same day D, or a correction (職権修正・訂正) of what is recorded, marks the
  row ``superseded_at`` and adds its replacement over the same period — the old row stays readable;
- a change dated before the open version began is refused (``RetroactiveChange``): the registry
  corrects the past with a correction, not with a back-dated event.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import Range

from kiban.identity import tables as t
from kiban.identity.model import PersonData, ResidentClass, integrated_no, search_keys


class IdentityError(Exception):
    """Base of the identity errors; ``str(exc)`` is Japanese, safe to show staff and to log."""


class PersonNotFound(IdentityError):
    pass


class RetroactiveChange(IdentityError):
    pass


class DuplicatePersonNo(IdentityError):
    pass


CURRENT = and_(func.upper_inf(t.person_version.c.valid), t.person_version.c.superseded_at.is_(None))
CURRENT_MEMBER = and_(
    func.upper_inf(t.household_member.c.valid), t.household_member.c.superseded_at.is_(None)
)

_DATA_FIELDS = tuple(f.name for f in dataclasses.fields(PersonData))


@dataclass(frozen=True)
class PersonRef:
    person_id: int
    person_no: str
    integrated_no: str


@dataclass(frozen=True)
class Version:
    """One person version as stored (履歴の1行)."""

    version_id: int
    person_id: int
    valid_from: date
    valid_to: date | None  # exclusive
    data: PersonData
    change_reason: str
    recorded_at: datetime
    superseded_at: datetime | None
    supersede_reason: str | None


def version_values(data: PersonData) -> dict[str, Any]:
    values = {name: getattr(data, name) for name in _DATA_FIELDS}
    values["resident_class"] = str(data.resident_class)
    values.update(search_keys(data))
    return values


def _data_of(row: Any) -> PersonData:
    values = {name: getattr(row, name) for name in _DATA_FIELDS}
    values["resident_class"] = ResidentClass(values["resident_class"])
    return PersonData(**values)


def _version_of(row: Any) -> Version:
    return Version(
        version_id=row.version_id,
        person_id=row.person_id,
        valid_from=row.valid.lower,
        valid_to=row.valid.upper,
        data=_data_of(row),
        change_reason=row.change_reason,
        recorded_at=row.recorded_at,
        superseded_at=row.superseded_at,
        supersede_reason=row.supersede_reason,
    )


def next_integrated_no(conn: Connection, city_code: str) -> str:
    serial = conn.execute(text("SELECT nextval('identity.integrated_no_seq')")).scalar_one()
    return integrated_no(city_code, int(serial))


def next_hub_person_no(conn: Connection) -> str:
    return str(conn.execute(text("SELECT nextval('identity.hub_person_no_seq')")).scalar_one())


def create_person(
    conn: Connection,
    *,
    city_code: str,
    person_no: str | None,
    data: PersonData,
    valid_from: date,
    reason: str,
    staff_id: int | None = None,
    import_id: int | None = None,
    event_pk: int | None = None,
) -> PersonRef:
    """Register a new person and their first version; 宛名番号 from the hub when none is given."""
    number = person_no or next_hub_person_no(conn)
    if conn.execute(select(t.person.c.person_id).where(t.person.c.person_no == number)).first():
        raise DuplicatePersonNo(f"宛名番号 {number} は既に登録されています")
    integrated = next_integrated_no(conn, city_code)
    person_id = conn.execute(
        insert(t.person)
        .values(city_code=city_code, person_no=number, integrated_no=integrated, import_id=import_id)
        .returning(t.person.c.person_id)
    ).scalar_one()
    conn.execute(
        insert(t.person_version).values(
            person_id=person_id,
            valid=Range(valid_from, None, bounds="[)"),
            change_reason=reason,
            recorded_by=staff_id,
            event_pk=event_pk,
            **version_values(data),
        )
    )
    return PersonRef(int(person_id), number, integrated)


def ref_by_no(conn: Connection, person_no: str) -> PersonRef:
    row = conn.execute(
        select(t.person.c.person_id, t.person.c.person_no, t.person.c.integrated_no).where(
            t.person.c.person_no == person_no
        )
    ).first()
    if row is None:
        raise PersonNotFound(f"宛名番号 {person_no} の宛名は登録されていません")
    return PersonRef(int(row.person_id), row.person_no, row.integrated_no)


def ref_by_id(conn: Connection, person_id: int) -> PersonRef:
    row = conn.execute(
        select(t.person.c.person_id, t.person.c.person_no, t.person.c.integrated_no).where(
            t.person.c.person_id == person_id
        )
    ).first()
    if row is None:
        raise PersonNotFound("指定の宛名は登録されていません")
    return PersonRef(int(row.person_id), row.person_no, row.integrated_no)


def current_version(conn: Connection, person_id: int, *, lock: bool = False) -> Version:
    stmt = select(t.person_version).where(t.person_version.c.person_id == person_id, CURRENT)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise PersonNotFound("指定の宛名に現在の記録がありません")
    return _version_of(row)


def version_on(conn: Connection, person_id: int, on: date) -> Version | None:
    row = conn.execute(
        select(t.person_version).where(
            t.person_version.c.person_id == person_id,
            t.person_version.c.superseded_at.is_(None),
            t.person_version.c.valid.contains(on),
        )
    ).first()
    return _version_of(row) if row else None


def history(conn: Connection, person_id: int, *, include_superseded: bool = True) -> list[Version]:
    stmt = select(t.person_version).where(t.person_version.c.person_id == person_id)
    if not include_superseded:
        stmt = stmt.where(t.person_version.c.superseded_at.is_(None))
    rows = conn.execute(
        stmt.order_by(func.lower(t.person_version.c.valid).desc(), t.person_version.c.version_id.desc())
    )
    return [_version_of(r) for r in rows]


def change_person(
    conn: Connection,
    person_id: int,
    *,
    data: PersonData,
    effective_on: date,
    reason: str,
    staff_id: int | None = None,
    event_pk: int | None = None,
) -> Version:
    """A change effective from ``effective_on`` (異動): close the open version, add the new one."""
    current = current_version(conn, person_id, lock=True)
    if effective_on < current.valid_from:
        raise RetroactiveChange(
            f"異動日 {effective_on.isoformat()} は現在の記録の開始日 {current.valid_from.isoformat()} より前です"
            "（過去の記録の訂正は職権修正で行ってください）"
        )
    if effective_on == current.valid_from:
        _supersede(conn, current.version_id, staff_id, f"同日の異動（{reason}）")
    else:
        conn.execute(
            update(t.person_version)
            .where(t.person_version.c.version_id == current.version_id)
            .values(valid=Range(current.valid_from, effective_on, bounds="[)"))
        )
    return _insert_version(
        conn,
        person_id,
        data,
        current.valid_from if effective_on == current.valid_from else effective_on,
        reason,
        staff_id,
        event_pk,
    )


def correct_person(
    conn: Connection,
    person_id: int,
    *,
    data: PersonData,
    reason: str,
    staff_id: int | None,
    event_pk: int | None = None,
) -> Version:
    """職権修正・訂正: the current version was wrong; keep it (superseded) and record the right one
    over the same period."""
    current = current_version(conn, person_id, lock=True)
    _supersede(conn, current.version_id, staff_id, reason)
    return _insert_version(conn, person_id, data, current.valid_from, reason, staff_id, event_pk)


def _supersede(conn: Connection, version_id: int, staff_id: int | None, reason: str) -> None:
    conn.execute(
        update(t.person_version)
        .where(t.person_version.c.version_id == version_id)
        .values(superseded_at=func.now(), superseded_by=staff_id, supersede_reason=reason)
    )


def _insert_version(
    conn: Connection,
    person_id: int,
    data: PersonData,
    valid_from: date,
    reason: str,
    staff_id: int | None,
    event_pk: int | None,
) -> Version:
    row = conn.execute(
        insert(t.person_version)
        .values(
            person_id=person_id,
            valid=Range(valid_from, None, bounds="[)"),
            change_reason=reason,
            recorded_by=staff_id,
            event_pk=event_pk,
            **version_values(data),
        )
        .returning(*t.person_version.c)
    ).one()
    return _version_of(row)


# -- households ---------------------------------------------------------------------------------


def ensure_household(conn: Connection, city_code: str, household_no: str) -> int:
    found = conn.execute(
        select(t.household.c.household_id).where(t.household.c.household_no == household_no)
    ).scalar()
    if found is not None:
        return int(found)
    return int(
        conn.execute(
            insert(t.household)
            .values(city_code=city_code, household_no=household_no)
            .returning(t.household.c.household_id)
        ).scalar_one()
    )


@dataclass(frozen=True)
class Membership:
    member_id: int
    household_id: int
    household_no: str
    person_id: int
    relation: str
    is_head: bool
    valid_from: date
    valid_to: date | None
    join_reason: str
    leave_reason: str | None


def current_membership(conn: Connection, person_id: int) -> Membership | None:
    rows = _memberships(conn, and_(t.household_member.c.person_id == person_id, CURRENT_MEMBER))
    return rows[0] if rows else None


def memberships_of(conn: Connection, person_id: int) -> list[Membership]:
    return _memberships(
        conn,
        and_(t.household_member.c.person_id == person_id, t.household_member.c.superseded_at.is_(None)),
    )


def household_members(conn: Connection, household_id: int, *, on: date | None = None) -> list[Membership]:
    cond = and_(
        t.household_member.c.household_id == household_id, t.household_member.c.superseded_at.is_(None)
    )
    if on is not None:
        cond = and_(cond, t.household_member.c.valid.contains(on))
    else:
        cond = and_(cond, func.upper_inf(t.household_member.c.valid))
    return _memberships(conn, cond)


def _memberships(conn: Connection, cond: Any) -> list[Membership]:
    rows = conn.execute(
        select(t.household_member, t.household.c.household_no)
        .join(t.household, t.household.c.household_id == t.household_member.c.household_id)
        .where(cond)
        .order_by(
            t.household_member.c.is_head.desc(),
            func.lower(t.household_member.c.valid).desc(),
            t.household_member.c.member_id,
        )
    )
    return [
        Membership(
            r.member_id,
            r.household_id,
            r.household_no,
            r.person_id,
            r.relation,
            r.is_head,
            r.valid.lower,
            r.valid.upper,
            r.join_reason,
            r.leave_reason,
        )
        for r in rows
    ]


def leave_household(conn: Connection, person_id: int, *, on: date, reason: str) -> Membership | None:
    """End the open membership the day before ``on`` … i.e. the period is [from, on)."""
    current = current_membership(conn, person_id)
    if current is None:
        return None
    if on < current.valid_from:
        raise RetroactiveChange(
            f"世帯の異動日 {on.isoformat()} は現在の世帯加入日 {current.valid_from.isoformat()} より前です"
        )
    if on == current.valid_from:
        conn.execute(
            update(t.household_member)
            .where(t.household_member.c.member_id == current.member_id)
            .values(superseded_at=func.now(), leave_reason=reason)
        )
    else:
        conn.execute(
            update(t.household_member)
            .where(t.household_member.c.member_id == current.member_id)
            .values(valid=Range(current.valid_from, on, bounds="[)"), leave_reason=reason)
        )
    return current


def join_household(
    conn: Connection,
    person_id: int,
    household_id: int,
    *,
    relation: str,
    since: date,
    reason: str,
    notified_on: date | None = None,
    staff_id: int | None = None,
    event_pk: int | None = None,
) -> None:
    """Join (or change 続柄 within) a household from ``since``, ending any open membership."""
    leave_household(conn, person_id, on=since, reason=reason)
    conn.execute(
        insert(t.household_member).values(
            household_id=household_id,
            person_id=person_id,
            relation=relation,
            is_head=relation == "世帯主",
            valid=Range(since, None, bounds="[)"),
            join_reason=reason,
            notified_on=notified_on,
            recorded_by=staff_id,
            event_pk=event_pk,
        )
    )
