"""調定 (receivables): the 期別 of a person's year as the collection engine holds them, and the
person's 収納状況 (account).

A business hands over its installments (:func:`set_installments`); the engine keeps one row per
期 with its 納付番号. A 更正 hands over the new installments: a period's 調定額 goes up or down; if
it falls below what was already paid, the difference is a 過誤納 (cause ``correction``) and the
period is settled at its new amount — 充当 or 還付 follows (kiban.collection, issue 7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, text

from kiban.collection.payments import payment_number
from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action

__all__ = ["Account", "InstallmentIn", "ReceivableRow", "account", "set_installments"]


@dataclass(frozen=True)
class InstallmentIn:
    """One 期 handed over by a business (method special|ordinary, 期 number, label, 納期限, 金額)."""

    method: str
    period: int
    label: str
    due_date: date
    amount: int


@dataclass(frozen=True)
class ReceivableRow:
    receivable_id: int
    fiscal_year: int
    method: str
    period: int
    label: str
    due_date: date
    amount: int
    paid: int
    payment_no: str

    @property
    def unpaid(self) -> int:
        return self.amount - self.paid


@dataclass(frozen=True)
class Account:
    """収納状況 of one person in one business: 期別, 収納, 過誤納 (open)."""

    person_no: str
    business: str
    receivables: tuple[ReceivableRow, ...]
    payments: tuple[tuple[date, int, str, str], ...]  # (納付日, 金額, 区分, 状態)
    overpaid_open: int

    @property
    def unpaid(self) -> int:
        return sum(r.unpaid for r in self.receivables)

    def arrears(self, on: date) -> int:
        """滞納額: unpaid amounts of 期別 whose 納期限 is before ``on``."""
        return sum(r.unpaid for r in self.receivables if r.due_date < on)


def set_installments(
    conn: Connection,
    *,
    business: str,
    person_id: int,
    person_no: str,
    fiscal_year: int,
    installments: Sequence[InstallmentIn],
    source: str,
) -> dict[str, int]:
    """Make the person's 期別 of the year equal ``installments`` (insert, revise, settle the excess).

    The caller has passed the guard and writes the access-log row (a business's batch or screen).
    Returns counts: created, revised, overpaid (yen moved to 過誤納).
    """
    counts = {"created": 0, "revised": 0, "overpaid": 0}
    existing = {
        (r.method, r.period): r
        for r in conn.execute(
            text(
                "SELECT receivable_id, method, period, amount, paid FROM collection.receivable"
                " WHERE business = :b AND person_id = :p AND fiscal_year = :fy FOR UPDATE"
            ),
            {"b": business, "p": person_id, "fy": fiscal_year},
        )
    }
    wanted = {(i.method, i.period): i for i in installments}
    for key, inst in wanted.items():
        row = existing.get(key)
        if row is None:
            conn.execute(
                text(
                    "INSERT INTO collection.receivable (business, person_id, fiscal_year, method, period, label,"
                    " due_date, amount, payment_no, source) VALUES (:b, :p, :fy, :m, :n, :l, :d, :a, :no, :s)"
                ),
                {"b": business, "p": person_id, "fy": fiscal_year, "m": inst.method, "n": inst.period,
                 "l": inst.label, "d": inst.due_date, "a": inst.amount,
                 "no": payment_number(business, fiscal_year, person_no, inst.method, inst.period), "s": source},
            )  # fmt: skip
            counts["created"] += 1
        elif row.amount != inst.amount:
            counts["revised"] += 1
            counts["overpaid"] += _revise(
                conn, business, person_id, fiscal_year, row, inst.amount, inst.due_date
            )
    for key, row in existing.items():
        if key not in wanted and row.amount != 0:
            counts["revised"] += 1
            counts["overpaid"] += _revise(conn, business, person_id, fiscal_year, row, 0, None)
    return counts


def _revise(
    conn: Connection,
    business: str,
    person_id: int,
    fiscal_year: int,
    row: object,
    amount: int,
    due: date | None,
) -> int:
    paid = int(row.paid)  # type: ignore[attr-defined]
    excess = max(0, paid - amount)
    conn.execute(
        text(
            "UPDATE collection.receivable SET amount = :a, paid = least(paid, :a), due_date = coalesce(:d, due_date),"
            " updated_at = now() WHERE receivable_id = :r"
        ),
        {"a": amount, "d": due, "r": row.receivable_id},  # type: ignore[attr-defined]
    )
    if excess:
        conn.execute(
            text(
                "INSERT INTO collection.overpayment (business, person_id, fiscal_year, amount, cause, receivable_id)"
                " VALUES (:b, :p, :fy, :a, 'correction', :r)"
            ),
            {"b": business, "p": person_id, "fy": fiscal_year, "a": excess, "r": row.receivable_id},  # type: ignore[attr-defined]
        )
    return excess


def account(conn: Connection, ctx: AccessContext, *, person_no: str, business: str) -> Account:
    """The person's 収納状況 (every year), logged."""
    guard.require(conn, ctx, action=Action.VIEW, subjects=[person_no], log=False)
    person_id = conn.execute(
        text("SELECT person_id FROM identity.person WHERE person_no = :p"), {"p": person_no}
    ).scalar()
    rows: list[ReceivableRow] = []
    payments: list[tuple[date, int, str, str]] = []
    overpaid = 0
    if person_id is not None:
        rows = [
            ReceivableRow(**dict(r._mapping))
            for r in conn.execute(
                text(
                    "SELECT receivable_id, fiscal_year, method, period, label, due_date, amount, paid, payment_no"
                    " FROM collection.receivable WHERE person_id = :p AND business = :b"
                    " ORDER BY fiscal_year, due_date, method, period"
                ),
                {"p": person_id, "b": business},
            )
        ]
        payments = [
            (r.paid_on, int(r.amount), str(r.channel), str(r.status))
            for r in conn.execute(
                text(
                    "SELECT p.paid_on, p.amount, p.channel, p.status FROM collection.payment p"
                    " JOIN collection.receivable r USING (receivable_id)"
                    " WHERE r.person_id = :p AND r.business = :b ORDER BY p.paid_on, p.payment_id"
                ),
                {"p": person_id, "b": business},
            )
        ]
        overpaid = int(
            conn.execute(
                text(
                    "SELECT coalesce(sum(amount), 0) FROM collection.overpayment WHERE person_id = :p"
                    " AND business = :b AND status = 'open'"
                ),
                {"p": person_id, "b": business},
            ).scalar_one()
        )
    audit.record(
        conn, ctx, action=Action.VIEW, subjects=[person_no],
        detail={"what": "collection.account", "business": business, "receivables": len(rows)},
    )  # fmt: skip
    return Account(person_no, business, tuple(rows), tuple(payments), overpaid)
