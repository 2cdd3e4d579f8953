"""情報提供等記録の検索 for staff (access-logged), with the chain check of the city.

The screen shows agencies, 照会事務, items' names, outcomes and times — never a value, a 符号 or a
個人番号; the persons shown are written to the access log as the search's subjects.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from kiban.gateway import records
from kiban.gateway.inquiry import subject_of
from kiban.gateway.tenants import scope
from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action


@dataclass(frozen=True)
class RecordSearch:
    records: list[records.Record]
    subjects: dict[int, str]  # person_id → 宛名番号 as shown
    problems: list[str]  # verify_records of the whole chain: empty = intact


def person_id_for(conn: Connection, person_no: str) -> int | None:
    """宛名番号 → the internal person id (None when unknown)."""
    value = conn.execute(
        text("SELECT person_id FROM identity.person WHERE person_no = :n"), {"n": person_no.strip()}
    ).scalar()
    return None if value is None else int(value)


def search_records(
    conn: Connection, ctx: AccessContext, *, city_code: str, where: records.RecordFilter
) -> RecordSearch:
    scope(conn, city_code)
    guard.require(conn, ctx, action=Action.SEARCH, log=False)
    found = records.search(conn, city_code=city_code, where=where)
    subjects = {r.person_id: subject_of(conn, r.person_id) for r in found if r.person_id is not None}
    problems = records.verify_records(conn, city_code)
    audit.record(
        conn,
        ctx,
        action=Action.SEARCH,
        subjects=sorted(set(subjects.values())),
        detail={
            "gateway": "record_search",
            "count": len(found),
            "kind": where.kind,
            "agency": where.agency,
            "outcome": where.outcome,
            "from": where.date_from.isoformat() if where.date_from else None,
            "to": where.date_to.isoformat() if where.date_to else None,
            "chain_ok": not problems,
        },
    )
    return RecordSearch(found, subjects, problems)
