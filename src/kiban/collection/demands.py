"""督促 (demand) runs and the 時効 of a 期別 as the records stand.

A 督促 is required for an unpaid levy (地方自治法第231条の3第1項: 期限を指定してこれを督促しなければ
ならない); the cities' 条例 (after 地方税法第329条第1項) send the 督促状 within 20 days after the 納期限,
with a 指定期限 (here ``deadline_days`` after the 発付日, default 10 — 地方税法第329条第1項 and the
cities' 条例: 「督促状を発した日から起算して10日を経過した日」 as the 滞納処分 threshold). Each 期別
gets one 督促 (a second does not renew the 時効 again — kiban.collection.prescription); later
letters are 催告 (``reminder``). 特別徴収 期別 are not demanded: the pension insurer deducts them.

:func:`prescription_of` reads a 期別's 督促 and payments and gives its 時効完成日 (介護保険法第200条).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from sqlalchemy import Connection, Engine, text

from kiban.collection.prescription import PrescriptionEvent, PrescriptionResult, prescription_date
from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action
from kiban.shared import clock

__all__ = [
    "DEMAND_WITHIN_DAYS",
    "DemandError",
    "DemandRun",
    "FeeOwed",
    "collect_fee",
    "demand_run",
    "fees_owed",
    "prescription_of",
]


class DemandError(ValueError):
    """A refused request (message in Japanese, for the clerk)."""


DEMAND_WITHIN_DAYS = 20  # 納期限後20日以内 (地方税法第329条第1項の例; each city's 介護保険条例)


@dataclass(frozen=True)
class DemandRun:
    batch_id: int
    kind: str
    demands: int
    persons: int
    late: int  # 督促 sent more than 20 days after the 納期限 (to be explained in the city's records)
    unpaid: int
    person_nos: tuple[str, ...]
    fees: int = 0  # 督促手数料 charged by this run (条例, 地方自治法第231条の3第2項)


def demand_run(
    engine: Engine,
    ctx: AccessContext,
    *,
    business: str,
    as_of: date | None = None,
    issued_on: date | None = None,
    deadline_days: int = 10,
    fee: int = 0,
    kind: Literal["demand", "reminder"] = "demand",
    charge_fees: Callable[[Connection, int], None] | None = None,
) -> DemandRun:
    """督促 (or 催告) of every 普通徴収 期別 unpaid after its 納期限 on ``as_of``; one batch.

    督促: those never demanded. 催告: those demanded before and still unpaid. Idempotent for 督促
    (a 期別 is demanded once); a 催告 run is a new letter each time, by design.

    ``charge_fees(conn, batch_id)`` — the business's 督促手数料 per its insurers' 条例 — is called in
    the run's transaction after the 督促 are recorded (never for a 催告: the fee is for the 督促).
    ``fee`` is a flat amount per 期別 instead (0: none).
    """
    as_of = as_of or clock.today()
    issued_on = issued_on or as_of
    if deadline_days < 1:
        raise ValueError("指定期限は発付日の翌日以後です")
    deadline = issued_on + timedelta(days=deadline_days)
    with engine.begin() as conn:
        guard.require(conn, ctx, action=Action.PRINT, min_rank=1, log=False)
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('collection.demand'))"))
        condition = (
            "NOT EXISTS (SELECT 1 FROM collection.demand d WHERE d.receivable_id = r.receivable_id AND d.kind = 'demand')"
            if kind == "demand"
            else "EXISTS (SELECT 1 FROM collection.demand d WHERE d.receivable_id = r.receivable_id AND d.kind = 'demand')"
        )
        batch_id = int(
            conn.execute(
                text(
                    "INSERT INTO collection.demand_batch (business, kind, as_of, issued_on, deadline, started_by)"
                    " VALUES (:b, :k, :a, :i, :d, :s) RETURNING batch_id"
                ),
                {"b": business, "k": kind, "a": as_of, "i": issued_on, "d": deadline, "s": ctx.staff_id},
            ).scalar_one()
        )
        rows = conn.execute(
            text(
                "INSERT INTO collection.demand (receivable_id, kind, batch_id, issued_on, deadline, unpaid, fee,"
                " recorded_by)"
                " SELECT r.receivable_id, :k, :batch, :i, :d, r.amount - r.paid, :fee, :s FROM collection.receivable r"
                " WHERE r.business = :b AND r.method = 'ordinary' AND r.paid < r.amount AND r.due_date < :a"
                f" AND {condition} ORDER BY r.person_id, r.due_date"
                " RETURNING receivable_id, unpaid"
            ),
            {"k": kind, "batch": batch_id, "i": issued_on, "d": deadline, "fee": fee if kind == "demand" else 0,
             "s": ctx.staff_id, "b": business, "a": as_of},
        ).all()  # fmt: skip
        if charge_fees is not None and kind == "demand" and rows:
            charge_fees(conn, batch_id)
        fees = int(
            conn.execute(
                text("SELECT coalesce(sum(fee), 0) FROM collection.demand WHERE batch_id = :b"),
                {"b": batch_id},
            ).scalar_one()
        )
        stats = conn.execute(
            text(
                "SELECT count(DISTINCT r.person_id) AS persons,"
                " count(*) FILTER (WHERE d.issued_on > r.due_date + :within) AS late,"
                " array_agg(DISTINCT p.person_no) AS person_nos"
                " FROM collection.demand d JOIN collection.receivable r USING (receivable_id)"
                " JOIN identity.person p ON p.person_id = r.person_id WHERE d.batch_id = :batch"
            ),
            {"batch": batch_id, "within": DEMAND_WITHIN_DAYS},
        ).one()
        person_nos = tuple(sorted(stats.person_nos or ()))
        conn.execute(
            text("UPDATE collection.demand_batch SET total = :n, late = :l WHERE batch_id = :b"),
            {"n": len(rows), "l": int(stats.late or 0), "b": batch_id},
        )
        audit.record(
            conn, ctx, action=Action.PRINT, subjects=list(person_nos[:1000]),
            detail={"what": f"collection.{kind}.run", "batch_id": batch_id, "business": business,
                    "demands": len(rows), "late": int(stats.late or 0), "fees": fees,
                    **({"subjects": "batch_id"} if len(person_nos) > 1000 else {})},
        )  # fmt: skip
    return DemandRun(
        batch_id, kind, len(rows), int(stats.persons or 0), int(stats.late or 0),
        sum(int(r.unpaid) for r in rows), person_nos, fees,
    )  # fmt: skip


@dataclass(frozen=True)
class FeeOwed:
    """督促手数料 charged on one 督促 and what is still owed of it."""

    demand_id: int
    fiscal_year: int
    label: str
    issued_on: date
    fee: int
    paid: int

    @property
    def owed(self) -> int:
        return self.fee - self.paid


def _fees(conn: Connection, person_no: str, business: str, *, lock: bool = False) -> list[FeeOwed]:
    return [
        FeeOwed(**dict(r._mapping))
        for r in conn.execute(
            text(
                "SELECT d.demand_id, r.fiscal_year, r.label, d.issued_on, d.fee, d.fee_paid AS paid"
                " FROM collection.demand d JOIN collection.receivable r USING (receivable_id)"
                " JOIN identity.person p ON p.person_id = r.person_id"
                " WHERE p.person_no = :p AND r.business = :b AND d.kind = 'demand' AND d.fee > 0"
                " ORDER BY d.issued_on, r.due_date, d.demand_id" + (" FOR UPDATE OF d" if lock else "")
            ),
            {"p": person_no, "b": business},
        )
    ]


def fees_owed(conn: Connection, ctx: AccessContext, *, person_no: str, business: str) -> list[FeeOwed]:
    """A person's 督促手数料 (charged, paid), oldest first; logged."""
    guard.require(conn, ctx, action=Action.VIEW, subjects=[person_no], log=False)
    rows = _fees(conn, person_no, business)
    audit.record(
        conn, ctx, action=Action.VIEW, subjects=[person_no],
        detail={"what": "collection.demand_fees", "business": business, "rows": len(rows)},
    )  # fmt: skip
    return rows


def collect_fee(
    conn: Connection, ctx: AccessContext, *, person_no: str, business: str, amount: int, paid_on: date
) -> int:
    """窓口での督促手数料の収納: ``amount`` is applied to the person's owed fees, oldest first.

    Refused (nothing written) if nothing is owed, the amount is not a positive integer, or it exceeds
    what is owed. Returns how many 督促 it settled.
    """
    guard.require(conn, ctx, action=Action.CREATE, subjects=[person_no], min_rank=1, log=False)
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise DemandError("督促手数料の金額は1円以上の整数で入力してください")
    if paid_on > clock.today():
        raise DemandError(f"納付日が未来の日付です: {paid_on.isoformat()}")
    owed = [f for f in _fees(conn, person_no, business, lock=True) if f.owed > 0]
    total = sum(f.owed for f in owed)
    if total == 0:
        raise DemandError(f"宛名番号 {person_no} に未納の督促手数料はありません")
    if amount > total:
        raise DemandError(f"督促手数料の金額 {amount:,}円 が未納額 {total:,}円 を超えています")
    left, settled = amount, 0
    for f in owed:
        take = min(left, f.owed)
        conn.execute(
            text(
                "UPDATE collection.demand SET fee_paid = fee_paid + :t, fee_paid_on = :d WHERE demand_id = :i"
            ),
            {"t": take, "d": paid_on, "i": f.demand_id},
        )
        settled += take == f.owed
        left -= take
        if left == 0:
            break
    audit.record(
        conn, ctx, action=Action.CREATE, subjects=[person_no],
        detail={"what": "collection.demand_fee.collect", "business": business, "amount": amount,
                "settled": settled},
    )  # fmt: skip
    return settled


def prescription_of(conn: Connection, receivable_id: int) -> PrescriptionResult:
    """時効 of one 期別 from its 納期限, its 督促 (the first only renews) and its partial payments."""
    due = conn.execute(
        text("SELECT due_date FROM collection.receivable WHERE receivable_id = :r"), {"r": receivable_id}
    ).scalar_one()
    events: list[PrescriptionEvent] = [
        PrescriptionEvent("demand", d.issued_on, demand_deadline=d.deadline)
        for d in conn.execute(
            text(
                "SELECT issued_on, deadline FROM collection.demand WHERE receivable_id = :r AND kind = 'demand'"
            ),
            {"r": receivable_id},
        )
    ]
    events += [
        # 一部納付 is a 承認 of the debt (民法第152条第1項).
        PrescriptionEvent("partial_payment", p.paid_on)
        for p in conn.execute(
            text(
                "SELECT paid_on FROM collection.payment WHERE receivable_id = :r AND status = 'partial'"
                " ORDER BY paid_on"
            ),
            {"r": receivable_id},
        )
    ]
    events += [
        # 分納誓約 is a 承認 (民法第152条第1項): the period restarts the day after it is signed.
        PrescriptionEvent("acknowledgement", p.signed_on)
        for p in conn.execute(
            text(
                "SELECT pl.signed_on FROM collection.plan pl JOIN collection.plan_receivable pr USING (plan_id)"
                " WHERE pr.receivable_id = :r AND pl.status <> 'cancelled'"
            ),
            {"r": receivable_id},
        )
    ]
    return prescription_date(due, sorted(events, key=lambda e: e.on))
