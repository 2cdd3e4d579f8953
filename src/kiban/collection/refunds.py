"""還付 (refund) of the open 過誤納 of a person, with its 還付加算金.

After 充当 (kiban.collection.appropriation) what is still open is refunded: a 係長 decides it (支出
決定); each 過誤納 earns 還付加算金 from the day after its payment (地方税法第17条の4第1項第1号の例 —
the cities' 介護保険条例 apply the 地方税 rules to 保険料; kiban.collection.refund_interest) to the
day of the decision, and the 過誤納 rows are marked ``refunded`` with the refund they went into.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Connection, text

from kiban.collection.refund_interest import accrual_start, compute_refund_interest
from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action

__all__ = ["CHIEF_RANK", "Refund", "RefundError", "decide_refund"]

CHIEF_RANK = 2
CAUSES = {"over_payment": "過納（重複納付等）", "correction": "更正による減額"}


class RefundError(ValueError):
    """Refused (message in Japanese)."""


@dataclass(frozen=True)
class RefundLine:
    overpayment_id: int
    fiscal_year: int
    label: str
    paid_on: date
    amount: int
    cause: str
    interest_exact: str


@dataclass(frozen=True)
class Refund:
    refund_id: int
    person_no: str
    decided_on: date
    amount: int
    interest: int
    method: str
    payment_date: date | None
    lines: tuple[RefundLine, ...]

    @property
    def total(self) -> int:
        return self.amount + self.interest


def decide_refund(
    conn: Connection,
    ctx: AccessContext,
    *,
    person_no: str,
    business: str,
    decided_on: date,
    method: str = "口座振込",
    payment_date: date | None = None,
) -> Refund:
    """還付の決定 of every open 過誤納 of the person (係長). 還付加算金 is computed on the total per
    過誤納 from the day after its payment (a 更正 one from the day after the 更正 was recorded)."""
    guard.require(conn, ctx, action=Action.APPROVE, subjects=[person_no], min_rank=CHIEF_RANK, log=False)
    if method not in ("口座振込", "窓口払"):
        raise RefundError("支払方法は 口座振込 か 窓口払 です")
    if method == "口座振込" and (payment_date is None or payment_date < decided_on):
        raise RefundError("口座振込の支払予定日（決定日以後）を入力してください")
    person_id = conn.execute(
        text("SELECT person_id FROM identity.person WHERE person_no = :p"), {"p": person_no}
    ).scalar()
    if person_id is None:
        raise LookupError(f"宛名番号 {person_no} はありません")
    rows = conn.execute(
        text(
            "SELECT o.overpayment_id, o.fiscal_year, o.amount, o.cause, r.label,"
            " coalesce(p.paid_on, (o.recorded_at AT TIME ZONE 'Asia/Tokyo')::date) AS paid_on"
            " FROM collection.overpayment o LEFT JOIN collection.payment p USING (payment_id)"
            " LEFT JOIN collection.receivable r ON r.receivable_id = o.receivable_id"
            " WHERE o.person_id = :p AND o.business = :b AND o.status = 'open' ORDER BY o.overpayment_id FOR UPDATE OF o"
        ),
        {"p": person_id, "b": business},
    ).all()
    if not rows:
        raise RefundError(f"宛名番号 {person_no} に還付する過誤納はありません（充当後）")
    lines: list[RefundLine] = []
    interest = 0
    for r in rows:
        start = accrual_start(r.paid_on)
        # Decided on the day of the payment: no day has run (start is the day after).
        result = compute_refund_interest(int(r.amount), start, max(decided_on, start - timedelta(days=1)))
        interest += result.interest
        lines.append(
            RefundLine(
                int(r.overpayment_id),
                int(r.fiscal_year),
                r.label or "—",
                r.paid_on,
                int(r.amount),
                CAUSES.get(r.cause, r.cause),
                str(result.exact),
            )
        )
    amount = sum(line.amount for line in lines)
    refund_id = int(
        conn.execute(
            text(
                "INSERT INTO collection.refund (business, person_id, decided_on, amount, interest, method,"
                " payment_date, decided_by) VALUES (:b, :p, :d, :a, :i, :m, :pd, :s) RETURNING refund_id"
            ),
            {"b": business, "p": person_id, "d": decided_on, "a": amount, "i": interest, "m": method,
             "pd": payment_date, "s": ctx.staff_id},
        ).scalar_one()
    )  # fmt: skip
    conn.execute(
        text(
            "UPDATE collection.overpayment SET status = 'refunded', refund_id = :r WHERE overpayment_id = ANY(:ids)"
        ),
        {"r": refund_id, "ids": [line.overpayment_id for line in lines]},
    )
    audit.record(
        conn, ctx, action=Action.APPROVE, subjects=[person_no],
        detail={"what": "collection.refund", "refund_id": refund_id, "amount": amount, "interest": interest},
    )  # fmt: skip
    return Refund(refund_id, person_no, decided_on, amount, interest, method, payment_date, tuple(lines))
