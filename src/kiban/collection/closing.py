"""出納閉鎖 and 滞納繰越 (closing of a 年度 and the carry-over of its unpaid 期別).

A 年度's 出納 closes on the 31st of May of the next year (地方自治法第235条の5: 普通地方公共団体の
出納は、翌年度の5月31日をもつて閉鎖する); until then — the 出納整理期間 — payments still count for that
年度's 現年度分. :func:`carry_over` runs after the 出納閉鎖 of 年度 Y: every 期別 of Y unpaid as of
that day (調定額 less what was paid on or before it; 不納欠損 excluded) is carried into 滞納繰越分
(過年度分), one ``collection.carry_over`` row per 期別.

The run is recorded (``collection.closing``), works in chunks each committed with its access-log
row, and is resumable and idempotent: a run that stopped half-way picks up where it was (rows
already carried are kept), and a run again over the same records changes nothing. A payment dated
inside the 出納整理期間 but reported after the run is taken into account when the run is repeated
(the 期別's 繰越額 is revised, or its carry-over withdrawn when it was paid in full).

Payments after the 出納閉鎖 of their 期別's 年度 are 滞納繰越分 of the 会計年度 they fall in
(``collection.payment_account``, migration 0014; :func:`account_totals`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, Engine, text

from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action
from kiban.shared import clock
from kiban.shared.wareki import to_wareki

__all__ = [
    "CarriedRow",
    "CarryOverRun",
    "ClosingError",
    "ClosingRow",
    "account_totals",
    "carried",
    "carry_over",
    "closing_date",
    "closings",
]

CHUNK = 5_000


class ClosingError(ValueError):
    """A refused 滞納繰越 (message in Japanese, for the clerk)."""


def closing_date(fiscal_year: int) -> date:
    """出納閉鎖日 of 年度 ``fiscal_year``: 翌年度の5月31日 (地方自治法第235条の5)."""
    return date(fiscal_year + 1, 5, 31)


@dataclass(frozen=True)
class CarryOverRun:
    closing_id: int
    fiscal_year: int
    closed_on: date
    receivables: int  # 期別 carried in all (after this run)
    persons: int
    amount: int  # 滞納繰越額 in all
    added: int  # 期別 newly carried by this run
    revised: int  # 期別 whose 繰越額 this run changed (a late-reported 出納整理期間 payment)
    withdrawn: int  # 期別 no longer carried (paid in full inside the 出納整理期間)
    resumed: bool  # the year's run had started before and not finished


@dataclass(frozen=True)
class ClosingRow:
    closing_id: int
    fiscal_year: int
    closed_on: date
    status: str
    receivables: int
    persons: int
    amount: int
    finished_at: object


@dataclass(frozen=True)
class CarriedRow:
    receivable_id: int
    person_no: str
    fiscal_year: int
    label: str
    due_date: date
    carried: int  # 滞納繰越額
    paid_since: int  # paid after the 出納閉鎖 (滞納繰越分 収入)
    written_off: int

    @property
    def remaining(self) -> int:
        return max(0, self.carried - self.paid_since - self.written_off)


# The 期別 of the year and what was unpaid of it on the 出納閉鎖日: 調定額 less the payments (消込,
# 窓口, 充当) dated on or before it. A 期別 written off (不納欠損) is not carried.
_UNPAID_AT_CLOSE = """
SELECT r.receivable_id, r.person_id,
       r.amount - coalesce((SELECT sum(p.applied) FROM collection.payment p
                             WHERE p.receivable_id = r.receivable_id AND p.paid_on <= :closed), 0) AS unpaid
  FROM collection.receivable r
 WHERE r.business = :b AND r.fiscal_year = :fy
   AND NOT EXISTS (SELECT 1 FROM collection.writeoff w WHERE w.receivable_id = r.receivable_id)
"""

_CHUNK = f"""
WITH due AS (
    SELECT * FROM ({_UNPAID_AT_CLOSE} AND r.receivable_id > :after) u
     WHERE u.unpaid > 0 ORDER BY u.receivable_id LIMIT :n
), written AS (
    INSERT INTO collection.carry_over AS c (receivable_id, closing_id, amount)
    SELECT receivable_id, :closing, unpaid FROM due
    ON CONFLICT (receivable_id) DO UPDATE SET amount = EXCLUDED.amount, revised_at = now(), withdrawn_at = NULL
     WHERE c.amount <> EXCLUDED.amount OR c.withdrawn_at IS NOT NULL
    RETURNING c.receivable_id, (xmax = 0) AS inserted
)
SELECT d.receivable_id, p.person_no, w.inserted
  FROM due d JOIN identity.person p ON p.person_id = d.person_id
  LEFT JOIN written w ON w.receivable_id = d.receivable_id
 ORDER BY d.receivable_id
"""

_WITHDRAW = f"""
WITH paid AS (
    SELECT u.receivable_id, u.person_id FROM ({_UNPAID_AT_CLOSE}) u WHERE u.unpaid <= 0
), gone AS (
    UPDATE collection.carry_over c SET withdrawn_at = now() FROM paid
     WHERE c.receivable_id = paid.receivable_id AND c.closing_id = :closing AND c.withdrawn_at IS NULL
    RETURNING c.receivable_id
)
SELECT p.person_no FROM gone JOIN paid USING (receivable_id) JOIN identity.person p ON p.person_id = paid.person_id
"""


def carry_over(
    engine: Engine,
    ctx: AccessContext,
    *,
    business: str,
    fiscal_year: int,
    today: date | None = None,
    chunk: int = CHUNK,
) -> CarryOverRun:
    """滞納繰越 of 年度 ``fiscal_year`` after its 出納閉鎖 (see the module docstring)."""
    today = today or clock.today()
    closed_on = closing_date(fiscal_year)
    if today <= closed_on:
        raise ClosingError(
            f"{fiscal_year}年度の出納閉鎖日（{to_wareki(closed_on)}）が過ぎていないため、滞納繰越はできません"
            "（地方自治法第235条の5: 出納は翌年度の5月31日をもって閉鎖）"
        )
    with engine.begin() as conn:
        guard.require(conn, ctx, action=Action.UPDATE, min_rank=1, log=False)
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('collection.closing'))"))
        if not conn.execute(
            text("SELECT 1 FROM collection.receivable WHERE business = :b AND fiscal_year = :fy LIMIT 1"),
            {"b": business, "fy": fiscal_year},
        ).first():
            raise ClosingError(f"{fiscal_year}年度の調定（期別）がありません")
        before = conn.execute(
            text(
                "SELECT closing_id, status FROM collection.closing WHERE business = :b AND fiscal_year = :fy"
            ),
            {"b": business, "fy": fiscal_year},
        ).first()
        if before is None:
            closing_id = int(
                conn.execute(
                    text(
                        "INSERT INTO collection.closing (business, fiscal_year, closed_on, started_by)"
                        " VALUES (:b, :fy, :c, :s) RETURNING closing_id"
                    ),
                    {"b": business, "fy": fiscal_year, "c": closed_on, "s": ctx.staff_id},
                ).scalar_one()
            )
        else:
            closing_id = int(before.closing_id)
            conn.execute(
                text("UPDATE collection.closing SET status = 'running' WHERE closing_id = :c"),
                {"c": closing_id},
            )
    resumed = before is not None and before.status == "running"
    added = revised = withdrawn = 0
    after = 0
    params = {"b": business, "fy": fiscal_year, "closed": closed_on, "closing": closing_id, "n": chunk}
    while True:
        with engine.begin() as conn:
            guard.require(conn, ctx, action=Action.UPDATE, min_rank=1, log=False)
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('collection.closing'))"))
            rows = conn.execute(text(_CHUNK), params | {"after": after}).all()
            if not rows:
                gone = [str(r.person_no) for r in conn.execute(text(_WITHDRAW), params)]
                withdrawn = len(gone)
                totals = conn.execute(
                    text(
                        "SELECT count(*) AS n, count(DISTINCT r.person_id) AS persons, coalesce(sum(c.amount), 0) AS amount"
                        " FROM collection.carry_over c JOIN collection.receivable r USING (receivable_id)"
                        " WHERE c.closing_id = :c AND c.withdrawn_at IS NULL"
                    ),
                    {"c": closing_id},
                ).one()
                conn.execute(
                    text(
                        "UPDATE collection.closing SET status = 'done', receivables = :n, persons = :p, amount = :a,"
                        " finished_at = now() WHERE closing_id = :c"
                    ),
                    {"n": totals.n, "p": totals.persons, "a": totals.amount, "c": closing_id},
                )
                audit.record(
                    conn, ctx, action=Action.UPDATE, subjects=sorted(set(gone))[:1000],
                    detail={"what": "collection.carry_over.done", "business": business, "fiscal_year": fiscal_year,
                            "closing_id": closing_id, "receivables": int(totals.n), "amount": int(totals.amount),
                            "withdrawn": withdrawn},
                )  # fmt: skip
                break
            changed = [r for r in rows if r.inserted is not None]
            added += sum(1 for r in changed if r.inserted)
            revised += sum(1 for r in changed if not r.inserted)
            after = int(rows[-1].receivable_id)
            audit.record(
                conn, ctx, action=Action.UPDATE, subjects=sorted({str(r.person_no) for r in changed}),
                detail={"what": "collection.carry_over", "business": business, "fiscal_year": fiscal_year,
                        "closing_id": closing_id, "receivables": len(rows), "changed": len(changed)},
            )  # fmt: skip
    return CarryOverRun(
        closing_id, fiscal_year, closed_on, int(totals.n), int(totals.persons), int(totals.amount),
        added, revised, withdrawn, resumed,
    )  # fmt: skip


def closings(conn: Connection, ctx: AccessContext, *, business: str) -> list[ClosingRow]:
    """The 出納閉鎖・滞納繰越 runs of a business, latest 年度 first (counts only: no person)."""
    guard.require(conn, ctx, action=Action.SEARCH, min_rank=1, log=False)
    return [
        ClosingRow(**dict(r._mapping))
        for r in conn.execute(
            text(
                "SELECT closing_id, fiscal_year, closed_on, status, receivables, persons, amount, finished_at"
                " FROM collection.closing WHERE business = :b ORDER BY fiscal_year DESC"
            ),
            {"b": business},
        )
    ]


def carried(
    conn: Connection, ctx: AccessContext, *, business: str, fiscal_year: int, limit: int = 500
) -> list[CarriedRow]:
    """滞納繰越一覧 of 年度 ``fiscal_year``: each 期別 carried, what has been paid on it since, logged."""
    guard.require(conn, ctx, action=Action.SEARCH, min_rank=1, log=False)
    rows = [
        CarriedRow(**dict(r._mapping))
        for r in conn.execute(
            text(
                "SELECT c.receivable_id, p.person_no, r.fiscal_year, r.label, r.due_date, c.amount AS carried,"
                " coalesce((SELECT sum(a.applied) FROM collection.payment_account a"
                "           WHERE a.receivable_id = r.receivable_id AND a.account = 'arrears'), 0)::int AS paid_since,"
                " coalesce((SELECT w.amount FROM collection.writeoff w WHERE w.receivable_id = r.receivable_id), 0)"
                " AS written_off"
                " FROM collection.carry_over c JOIN collection.closing k USING (closing_id)"
                " JOIN collection.receivable r USING (receivable_id) JOIN identity.person p ON p.person_id = r.person_id"
                " WHERE k.business = :b AND k.fiscal_year = :fy AND c.withdrawn_at IS NULL ORDER BY p.person_no, r.due_date LIMIT :n"
            ),
            {"b": business, "fy": fiscal_year, "n": limit},
        )
    ]
    audit.record(
        conn, ctx, action=Action.SEARCH, subjects=sorted({r.person_no for r in rows}),
        detail={"what": "collection.carry_over.list", "business": business, "fiscal_year": fiscal_year,
                "rows": len(rows)},
    )  # fmt: skip
    return rows


def account_totals(conn: Connection, ctx: AccessContext, *, business: str, books_year: int) -> dict[str, int]:
    """収入 of 会計年度 ``books_year`` by account: 現年度分 (``current``) and 滞納繰越分 (``arrears``).

    A payment on a 期別 of 年度 Y dated up to 31 May Y+1 is Y's 現年度分; one dated later is 滞納繰越分
    of the 会計年度 whose 出納 it falls in (地方自治法第235条の5). Totals only: no person is shown.
    """
    guard.require(conn, ctx, action=Action.SEARCH, min_rank=1, log=False)
    rows = conn.execute(
        text(
            "SELECT account, coalesce(sum(applied), 0)::bigint AS total FROM collection.payment_account"
            " WHERE business = :b AND books_year = :y GROUP BY account"
        ),
        {"b": business, "y": books_year},
    ).all()
    totals = {"current": 0, "arrears": 0} | {str(r.account): int(r.total) for r in rows}
    return totals
