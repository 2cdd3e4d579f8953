"""充当 (appropriation): an open 過誤納 is applied to the person's unpaid 期別 before it is refunded.

Rule (configurable ``order``): the oldest 納期限 first (地方税法第17条の2 and the cities' 条例 apply a
還付金 to 未納の徴収金 first; 古い期から, so the oldest arrears — nearest to 時効 and carrying 延滞金
longest — go first). ``order="newest"`` is there for a city whose 規則 says otherwise. Each 充当 is
a payment of channel ``appropriation`` against the 期別 (so 消込 and 時効 see it like any payment),
and the 過誤納 row is split: the used part ``appropriated``, the rest stays ``open`` for 還付.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from sqlalchemy import Connection, text

from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action
from kiban.shared import clock

__all__ = ["Appropriation", "appropriate"]


@dataclass(frozen=True)
class Appropriation:
    """One 充当: from a 過誤納 to a 期別."""

    overpayment_id: int
    receivable_id: int
    label: str
    fiscal_year: int
    amount: int


def appropriate(
    conn: Connection,
    ctx: AccessContext,
    *,
    person_no: str,
    business: str,
    on: date | None = None,
    order: Literal["oldest", "newest"] = "oldest",
    due_only: bool = True,
) -> tuple[list[Appropriation], int]:
    """充当 of every open 過誤納 of the person; returns the 充当 made and what is left to refund.

    ``due_only``: only 期別 whose 納期限 has passed on ``on`` (滞納分); False also settles future 期別.
    """
    guard.require(conn, ctx, action=Action.UPDATE, subjects=[person_no], min_rank=1, log=False)
    on = on or clock.today()
    person_id = conn.execute(
        text("SELECT person_id FROM identity.person WHERE person_no = :p"), {"p": person_no}
    ).scalar()
    if person_id is None:
        raise LookupError(f"宛名番号 {person_no} はありません")
    direction = "ASC" if order == "oldest" else "DESC"
    targets = conn.execute(
        text(
            "SELECT receivable_id, label, fiscal_year, amount - paid AS unpaid, payment_no FROM collection.receivable"
            " WHERE person_id = :p AND business = :b AND paid < amount"
            + (" AND due_date < :on" if due_only else "")
            + f" ORDER BY due_date {direction}, method, period FOR UPDATE"
        ),
        {"p": person_id, "b": business, "on": on},
    ).all()
    credits = conn.execute(
        text(
            "SELECT overpayment_id, fiscal_year, amount, cause, payment_id, receivable_id FROM collection.overpayment"
            " WHERE person_id = :p AND business = :b AND status = 'open' ORDER BY recorded_at, overpayment_id FOR UPDATE"
        ),
        {"p": person_id, "b": business},
    ).all()
    made: list[Appropriation] = []
    unpaid = {t.receivable_id: int(t.unpaid) for t in targets}
    for credit in credits:
        left = int(credit.amount)
        for t in targets:
            if left == 0:
                break
            take = min(left, unpaid[t.receivable_id])
            if take == 0:
                continue
            conn.execute(
                text(
                    "INSERT INTO collection.payment (channel, record_id, payment_no, paid_on, amount, receivable_id,"
                    " applied, excess, status, recorded_by, note) VALUES ('appropriation', :rid, :n, :d, :a, :r, :a, 0,"
                    " CASE WHEN :a = :u THEN 'applied' ELSE 'partial' END, :s, :note)"
                ),
                {"rid": f"A{credit.overpayment_id}-{t.receivable_id}", "n": t.payment_no, "d": on, "a": take,
                 "r": t.receivable_id, "u": unpaid[t.receivable_id], "s": ctx.staff_id,
                 "note": f"過誤納 {credit.overpayment_id} からの充当"},
            )  # fmt: skip
            conn.execute(
                text(
                    "UPDATE collection.receivable SET paid = paid + :a, updated_at = now() WHERE receivable_id = :r"
                ),
                {"a": take, "r": t.receivable_id},
            )
            unpaid[t.receivable_id] -= take
            left -= take
            made.append(
                Appropriation(
                    int(credit.overpayment_id), int(t.receivable_id), str(t.label), int(t.fiscal_year), take
                )
            )
        used = int(credit.amount) - left
        if used == 0:
            continue
        if left == 0:
            conn.execute(
                text("UPDATE collection.overpayment SET status = 'appropriated' WHERE overpayment_id = :o"),
                {"o": credit.overpayment_id},
            )
        else:
            # Split: the used part becomes its own appropriated row; the rest stays open for 還付.
            conn.execute(
                text("UPDATE collection.overpayment SET amount = :left WHERE overpayment_id = :o"),
                {"left": left, "o": credit.overpayment_id},
            )
            conn.execute(
                text(
                    "INSERT INTO collection.overpayment (business, person_id, fiscal_year, amount, cause, payment_id,"
                    " receivable_id, status) VALUES (:b, :p, :fy, :a, :c, :pay, :r, 'appropriated')"
                ),
                {"b": business, "p": person_id, "fy": credit.fiscal_year, "a": used, "c": credit.cause,
                 "pay": credit.payment_id, "r": credit.receivable_id},
            )  # fmt: skip
    refundable = int(
        conn.execute(
            text(
                "SELECT coalesce(sum(amount), 0) FROM collection.overpayment WHERE person_id = :p AND business = :b"
                " AND status = 'open'"
            ),
            {"p": person_id, "b": business},
        ).scalar_one()
    )
    audit.record(
        conn, ctx, action=Action.UPDATE, subjects=[person_no],
        detail={"what": "collection.appropriation", "business": business, "count": len(made),
                "amount": sum(a.amount for a in made), "refundable": refundable, "order": order},
    )  # fmt: skip
    return made, refundable
