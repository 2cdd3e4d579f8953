"""滞納整理 at the counter: 分納計画 (installment agreements with a 誓約), 折衝記録 (contact notes) and
the 滞納者一覧 (list of persons in arrears, with filters).

A 分納誓約 is the person's 承認 of the debt (民法第152条第1項): it renews the 時効 of every 期別 it
covers (kiban.collection.prescription; :func:`kiban.collection.demands.prescription_of` reads it).
折衝記録 are staff-only: each is written and read through the guard with its access-log row, and the
滞納者一覧 shows 宛名番号, names and amounts — never a 個人番号.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, text

from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action
from kiban.shared import clock

__all__ = ["ArrearsRow", "ContactNote", "arrears_list", "contact_notes", "make_plan", "record_contact"]

CHANNELS = ("窓口", "電話", "訪問", "文書", "その他")


class ArrearsError(ValueError):
    """Refused (message in Japanese, for the clerk)."""


def _person(conn: Connection, person_no: str) -> int:
    person_id = conn.execute(
        text("SELECT person_id FROM identity.person WHERE person_no = :p"), {"p": person_no}
    ).scalar()
    if person_id is None:
        raise LookupError(f"宛名番号 {person_no} はありません")
    return int(person_id)


def make_plan(
    conn: Connection,
    ctx: AccessContext,
    *,
    person_no: str,
    business: str,
    signed_on: date,
    schedule: Sequence[tuple[date, int]],
    note: str = "",
) -> int:
    """分納計画: the person's unpaid 期別 past due on ``signed_on`` paid by ``schedule`` (納付予定).

    The schedule must cover exactly the arrears (a plan that does not add up is refused), dates after
    the signing, in order. Returns the plan id.
    """
    guard.require(conn, ctx, action=Action.CREATE, subjects=[person_no], min_rank=1, log=False)
    person_id = _person(conn, person_no)
    due = conn.execute(
        text(
            "SELECT receivable_id, amount - paid AS unpaid FROM collection.receivable WHERE person_id = :p"
            " AND business = :b AND paid < amount AND due_date < :d ORDER BY due_date FOR UPDATE"
        ),
        {"p": person_id, "b": business, "d": signed_on},
    ).all()
    total = sum(int(r.unpaid) for r in due)
    if total == 0:
        raise ArrearsError(f"宛名番号 {person_no} に {signed_on:%Y-%m-%d} 現在の滞納はありません")
    if not schedule:
        raise ArrearsError("納付予定を入力してください")
    dates = [d for d, _ in schedule]
    if any(d <= signed_on for d in dates) or dates != sorted(set(dates)):
        raise ArrearsError("納付予定日は誓約日より後の日付を、重複なく日付順に入力してください")
    if any(a <= 0 for _, a in schedule):
        raise ArrearsError("納付予定額は1円以上です")
    planned = sum(a for _, a in schedule)
    if planned != total:
        raise ArrearsError(f"納付予定の合計 {planned:,}円 が滞納額 {total:,}円 と一致しません")
    plan_id = int(
        conn.execute(
            text(
                "INSERT INTO collection.plan (business, person_id, signed_on, total, note, recorded_by)"
                " VALUES (:b, :p, :d, :t, :n, :s) RETURNING plan_id"
            ),
            {"b": business, "p": person_id, "d": signed_on, "t": total, "n": note or None, "s": ctx.staff_id},
        ).scalar_one()
    )
    for seq, (when, amount) in enumerate(schedule, 1):
        conn.execute(
            text("INSERT INTO collection.plan_installment VALUES (:p, :s, :d, :a)"),
            {"p": plan_id, "s": seq, "d": when, "a": amount},
        )
    for r in due:
        conn.execute(
            text("INSERT INTO collection.plan_receivable VALUES (:p, :r)"),
            {"p": plan_id, "r": r.receivable_id},
        )
    audit.record(
        conn, ctx, action=Action.CREATE, subjects=[person_no],
        detail={"what": "collection.plan", "plan_id": plan_id, "total": total, "installments": len(schedule)},
    )  # fmt: skip
    return plan_id


@dataclass(frozen=True)
class ContactNote:
    contacted_on: date
    channel: str
    summary: str
    promise_on: date | None
    promise_amount: int | None
    staff_code: str


def record_contact(
    conn: Connection,
    ctx: AccessContext,
    *,
    person_no: str,
    business: str,
    channel: str,
    summary: str,
    contacted_on: date | None = None,
    promise_on: date | None = None,
    promise_amount: int | None = None,
) -> int:
    """折衝記録 (staff-only): what was said, and any 納付約束."""
    guard.require(conn, ctx, action=Action.CREATE, subjects=[person_no], min_rank=1, log=False)
    if channel not in CHANNELS:
        raise ArrearsError(f"折衝の方法は {'・'.join(CHANNELS)} のいずれかです")
    if not summary.strip():
        raise ArrearsError("折衝の内容を入力してください")
    person_id = _person(conn, person_no)
    note_id = int(
        conn.execute(
            text(
                "INSERT INTO collection.contact_note (business, person_id, contacted_on, channel, summary, promise_on,"
                " promise_amount, recorded_by) VALUES (:b, :p, :d, :c, :s, :po, :pa, :by) RETURNING note_id"
            ),
            {"b": business, "p": person_id, "d": contacted_on or clock.today(), "c": channel, "s": summary.strip(),
             "po": promise_on, "pa": promise_amount, "by": ctx.staff_id},
        ).scalar_one()
    )  # fmt: skip
    audit.record(
        conn, ctx, action=Action.CREATE, subjects=[person_no],
        detail={"what": "collection.contact_note", "note_id": note_id, "channel": channel},
    )  # fmt: skip
    return note_id


def contact_notes(
    conn: Connection, ctx: AccessContext, *, person_no: str, business: str
) -> list[ContactNote]:
    """The person's 折衝記録, newest first (a read of staff notes: logged)."""
    guard.require(conn, ctx, action=Action.VIEW, subjects=[person_no], min_rank=1, log=False)
    person_id = _person(conn, person_no)
    notes = [
        ContactNote(r.contacted_on, r.channel, r.summary, r.promise_on, r.promise_amount, r.code)
        for r in conn.execute(
            text(
                "SELECT n.contacted_on, n.channel, n.summary, n.promise_on, n.promise_amount, s.code"
                " FROM collection.contact_note n JOIN security.staff s ON s.staff_id = n.recorded_by"
                " WHERE n.person_id = :p AND n.business = :b ORDER BY n.contacted_on DESC, n.note_id DESC"
            ),
            {"p": person_id, "b": business},
        )
    ]
    audit.record(
        conn, ctx, action=Action.VIEW, subjects=[person_no],
        detail={"what": "collection.contact_notes", "count": len(notes)},
    )  # fmt: skip
    return notes


@dataclass(frozen=True)
class ArrearsRow:
    """One line of the 滞納者一覧."""

    person_no: str
    name: str
    periods: int
    arrears: int
    oldest_due: date
    demanded: bool
    plan: bool


def arrears_list(
    conn: Connection,
    ctx: AccessContext,
    *,
    business: str,
    on: date | None = None,
    min_amount: int = 1,
    older_than: date | None = None,
    without_plan: bool = False,
    limit: int = 500,
) -> list[ArrearsRow]:
    """滞納者一覧 on ``on``: persons with unpaid 期別 past due, largest first; filters: at least
    ``min_amount`` yen, an oldest 納期限 before ``older_than``, only those without an active 分納計画."""
    guard.require(conn, ctx, action=Action.SEARCH, min_rank=1, log=False)
    on = on or clock.today()
    rows = conn.execute(
        text(
            "WITH a AS (SELECT r.person_id, count(*) AS periods, sum(r.amount - r.paid) AS arrears,"
            "  min(r.due_date) AS oldest, bool_or(d.demand_id IS NOT NULL) AS demanded"
            "  FROM collection.receivable r LEFT JOIN collection.demand d"
            "    ON d.receivable_id = r.receivable_id AND d.kind = 'demand'"
            " WHERE r.business = :b AND r.paid < r.amount AND r.due_date < :on GROUP BY r.person_id)"
            " SELECT p.person_no, concat_ws('　', v.family_name, v.given_name) AS name, a.periods, a.arrears,"
            "  a.oldest, a.demanded,"
            "  EXISTS (SELECT 1 FROM collection.plan pl WHERE pl.person_id = a.person_id AND pl.business = :b"
            "          AND pl.status = 'active') AS plan"
            " FROM a JOIN identity.person p ON p.person_id = a.person_id"
            " JOIN identity.person_version v ON v.person_id = a.person_id AND v.superseded_at IS NULL"
            "  AND upper_inf(v.valid)"
            " WHERE a.arrears >= :min AND (CAST(:older AS date) IS NULL OR a.oldest < :older)"
            " ORDER BY a.arrears DESC, p.person_no LIMIT :limit"
        ),
        {"b": business, "on": on, "min": min_amount, "older": older_than, "limit": limit},
    ).all()
    result = [
        ArrearsRow(
            r.person_no, r.name, int(r.periods), int(r.arrears), r.oldest, bool(r.demanded), bool(r.plan)
        )
        for r in rows
        if not (without_plan and r.plan)
    ]
    audit.record(
        conn, ctx, action=Action.SEARCH, subjects=[r.person_no for r in result],
        detail={"what": "collection.arrears_list", "business": business, "on": on.isoformat(),
                "min_amount": min_amount, "rows": len(result)},
    )  # fmt: skip
    return result
