"""不納欠損 and the 給付制限 status from the records.

:func:`writeoff_candidates` lists the unpaid 期別 whose 徴収権 is extinguished by 時効 on a date
(介護保険法第200条: 2年; renewed by the first 督促, 分納誓約 and partial payments —
:func:`kiban.collection.demands.prescription_of`); :func:`decide_writeoff` (係長) records the
不納欠損 of those chosen. :func:`restriction_for` reads a person's 期別 and gives the 給付制限
(法第66条 支払方法変更, 第67条 一時差止, 第69条 給付額減額) as of a date — computed here, applied by the
benefits context later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from sqlalchemy import Connection, text

from kiban.collection import benefit_restriction as br
from kiban.collection.demands import prescription_of
from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action

__all__ = ["CHIEF_RANK", "Candidate", "decide_writeoff", "restriction_for", "writeoff_candidates"]

CHIEF_RANK = 2


@dataclass(frozen=True)
class Candidate:
    receivable_id: int
    person_no: str
    fiscal_year: int
    label: str
    due_date: date
    unpaid: int
    extinguished_on: date


def writeoff_candidates(conn: Connection, ctx: AccessContext, *, business: str, on: date) -> list[Candidate]:
    """不納欠損の候補: unpaid 期別 not yet written off whose 時効 is complete before ``on``."""
    guard.require(conn, ctx, action=Action.SEARCH, min_rank=1, log=False)
    rows = conn.execute(
        text(
            "SELECT r.receivable_id, p.person_no, r.fiscal_year, r.label, r.due_date, r.amount - r.paid AS unpaid"
            " FROM collection.receivable r JOIN identity.person p USING (person_id)"
            " WHERE r.business = :b AND r.paid < r.amount AND r.due_date < :on - interval '2 years'"
            " AND NOT EXISTS (SELECT 1 FROM collection.writeoff w WHERE w.receivable_id = r.receivable_id)"
            " ORDER BY r.due_date, p.person_no"
        ),
        {"b": business, "on": on},
    ).all()
    found: list[Candidate] = []
    for r in rows:
        result = prescription_of(conn, int(r.receivable_id))
        if result.extinguished_on <= on:
            found.append(
                Candidate(
                    int(r.receivable_id),
                    r.person_no,
                    int(r.fiscal_year),
                    r.label,
                    r.due_date,
                    int(r.unpaid),
                    result.extinguished_on,
                )
            )
    audit.record(
        conn, ctx, action=Action.SEARCH, subjects=sorted({c.person_no for c in found})[:1000],
        detail={"what": "collection.writeoff.candidates", "business": business, "on": on.isoformat(),
                "count": len(found)},
    )  # fmt: skip
    return found


def decide_writeoff(
    conn: Connection, ctx: AccessContext, *, receivable_ids: Sequence[int], decided_on: date, reason: str
) -> int:
    """不納欠損の決定 (係長): each 期別 must still be a candidate on ``decided_on``. Returns the total yen."""
    guard.require(conn, ctx, action=Action.APPROVE, min_rank=CHIEF_RANK, log=False)
    if not reason.strip():
        raise ValueError("不納欠損の理由（時効の完成など）を入力してください")
    total = 0
    persons: set[str] = set()
    for receivable_id in receivable_ids:
        r = conn.execute(
            text(
                "SELECT r.amount - r.paid AS unpaid, p.person_no FROM collection.receivable r"
                " JOIN identity.person p USING (person_id) WHERE r.receivable_id = :r FOR UPDATE OF r"
            ),
            {"r": receivable_id},
        ).first()
        if r is None or int(r.unpaid) == 0:
            raise ValueError(f"期別 {receivable_id} は未納がありません")
        result = prescription_of(conn, receivable_id)
        if result.extinguished_on > decided_on:
            raise ValueError(
                f"期別 {receivable_id} の時効は {result.completes_on:%Y-%m-%d} まで完成しません（不納欠損できません）"
            )
        conn.execute(
            text(
                "INSERT INTO collection.writeoff (receivable_id, amount, extinguished_on, decided_on, reason, decided_by)"
                " VALUES (:r, :a, :e, :d, :why, :s)"
            ),
            {"r": receivable_id, "a": int(r.unpaid), "e": result.extinguished_on, "d": decided_on,
             "why": reason.strip(), "s": ctx.staff_id},
        )  # fmt: skip
        total += int(r.unpaid)
        persons.add(str(r.person_no))
    audit.record(
        conn, ctx, action=Action.APPROVE, subjects=sorted(persons)[:1000],
        detail={"what": "collection.writeoff.decide", "count": len(receivable_ids), "amount": total},
    )  # fmt: skip
    return total


@dataclass(frozen=True)
class Restriction:
    status: br.RestrictionStatus
    reduction: br.ReductionPeriod


def restriction_for(
    conn: Connection,
    ctx: AccessContext,
    *,
    person_no: str,
    business: str = "kaigo",
    on: date,
    special_circumstances: bool = False,
    normal_copay_tenths: Literal[1, 2, 3] = 1,
) -> Restriction:
    """給付制限 of the person as of ``on`` from the 期別, payments and 時効 (logged)."""
    guard.require(conn, ctx, action=Action.VIEW, subjects=[person_no], log=False)
    rows = conn.execute(
        text(
            "SELECT r.receivable_id, r.fiscal_year, r.due_date, r.amount, r.paid,"
            " (SELECT max(pay.paid_on) FROM collection.payment pay WHERE pay.receivable_id = r.receivable_id) AS last_paid"
            " FROM collection.receivable r JOIN identity.person p USING (person_id)"
            " WHERE p.person_no = :p AND r.business = :b AND r.amount > 0 ORDER BY r.due_date"
        ),
        {"p": person_no, "b": business},
    ).all()
    items: list[br.Installment] = []
    for r in rows:
        paid, unpaid = int(r.paid), int(r.amount) - int(r.paid)
        if paid:
            items.append(
                br.Installment(r.due_date, paid, paid_on=r.last_paid, fiscal_year=int(r.fiscal_year))
            )
        if unpaid:
            gone = prescription_of(conn, int(r.receivable_id)).extinguished_on
            items.append(
                br.Installment(r.due_date, unpaid, extinguished_on=gone, fiscal_year=int(r.fiscal_year))
            )
    status = br.restriction_status(items, on, special_circumstances=special_circumstances)
    reduction = br.reduction_period(items, on, normal_copay_tenths=normal_copay_tenths)
    audit.record(
        conn, ctx, action=Action.VIEW, subjects=[person_no],
        detail={"what": "collection.benefit_restriction", "on": on.isoformat(),
                "payment_method_change": status.payment_method_change, "suspension": status.benefit_suspension},
    )  # fmt: skip
    return Restriction(status, reduction)
