"""介護保険料の調定: the current 賦課 of a year handed to the collection engine as 期別 (kiban.collection).

Run after each 本算定・更正 (``kiban kaigo receivables --fiscal-year Y``): every current 賦課 row's
徴収予定 (service.schedule_for) becomes the person's 期別 with 納付番号; a 更正 revises them, and
what was paid beyond a lowered 期別 becomes a 過誤納. Idempotent: unchanged schedules write nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, text

from kiban.collection.receivables import InstallmentIn, set_installments
from kiban.kaigo.assessment import installments as inst
from kiban.kaigo.assessment import service
from kiban.rules.kaigo_collection import load_calendar
from kiban.security import audit, guard
from kiban.security.batch import batch_context
from kiban.security.context import Action, Business

__all__ = ["charge_demand_fees", "demand_pdf", "receipt_pdf", "refund_pdf", "restriction_pdf", "sync"]

PURPOSE = "kaigo.collection"
CHUNK = 500


def _lowered(schedule: inst.Schedule) -> list[InstallmentIn]:
    """The 期別 to hold: a 減額更正 beyond the periods not yet due (``overpaid``) comes off the latest
    期 first, so the 調定 totals the new amount; what was paid of them becomes a 過誤納 there."""
    rows = [InstallmentIn(i.method, i.period, i.label, i.due_date, i.amount) for i in schedule.installments]
    left = schedule.overpaid
    for index in sorted(range(len(rows)), key=lambda k: rows[k].due_date, reverse=True):
        if left <= 0:
            break
        cut = min(left, rows[index].amount)
        r = rows[index]
        rows[index] = InstallmentIn(r.method, r.period, r.label, r.due_date, r.amount - cut)
        left -= cut
    return rows


def sync(
    engine: Engine, *, fiscal_year: int, progress: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    """調定 of 年度 ``fiscal_year`` for every current 賦課 row; returns counts."""
    with engine.begin() as conn:
        ctx = batch_context(conn, Business.KAIGO, PURPOSE, f"介護保険料の調定（{fiscal_year}年度）")
        guard.require(conn, ctx, action=Action.UPDATE, log=False)
        ids = [
            int(x)
            for x in conn.execute(
                text(
                    "SELECT assessment_id FROM kaigo.assessment WHERE fiscal_year = :fy AND superseded_at IS NULL"
                    " AND stage IS NOT NULL ORDER BY assessment_id"
                ),
                {"fy": fiscal_year},
            ).scalars()
        ]
    totals = {"persons": 0, "created": 0, "revised": 0, "overpaid": 0}
    for start in range(0, len(ids), CHUNK):
        part = ids[start : start + CHUNK]
        with engine.begin() as conn:
            ctx = batch_context(conn, Business.KAIGO, PURPOSE, f"介護保険料の調定（{fiscal_year}年度）")
            rows = conn.execute(
                text(
                    service._ROW.replace(
                        " FROM kaigo.assessment a",
                        ", a.insured_id AS insured_key, i.person_id, p.person_no FROM kaigo.assessment a"
                        " JOIN kaigo.insured i USING (insured_id) JOIN identity.person p ON p.person_id = i.person_id",
                    )
                    + " WHERE a.assessment_id = ANY(:ids)"
                ),
                {"ids": part},
            ).all()
            changed: list[str] = []
            for r in rows:
                m = dict(r._mapping)
                row = service.AssessmentRow(**{k: m[k] for k in service.AssessmentRow.__dataclass_fields__})
                schedule = service.schedule_for(conn, int(m["insured_key"]), row)
                counts = set_installments(
                    conn, business="kaigo", person_id=int(m["person_id"]), person_no=str(m["person_no"]),
                    fiscal_year=fiscal_year, installments=_lowered(schedule),
                    source=f"kaigo.assessment:{row.assessment_id}",
                )  # fmt: skip
                totals["persons"] += 1
                for key in ("created", "revised", "overpaid"):
                    totals[key] += counts[key]
                if counts["created"] or counts["revised"]:
                    changed.append(str(m["person_no"]))
            audit.record(
                conn, ctx, action=Action.UPDATE, subjects=changed,
                detail={"what": "kaigo.receivables.sync", "fiscal_year": fiscal_year, "persons": len(rows),
                        "changed": len(changed)},
            )  # fmt: skip
        if progress is not None:
            progress(start + len(part), len(ids))
    return totals


_FEE_PERIOD = """
UPDATE collection.demand d SET fee = :amount
  FROM collection.receivable r JOIN kaigo.insured i ON i.person_id = r.person_id
  JOIN kaigo.insurer ins ON ins.insurer_no = i.insurer_no
 WHERE d.batch_id = :b AND d.kind = 'demand' AND r.receivable_id = d.receivable_id AND ins.collection_calendar = :key
"""

# 督促状1通につき: the letter's first 期別 carries the fee; a letter holds MAX_ITEMS 期別 (demand_pdf
# splits a longer list into several letters, in the same order).
_FEE_LETTER = """
WITH ranked AS (
    SELECT d.demand_id,
           row_number() OVER (PARTITION BY r.person_id ORDER BY r.due_date, r.receivable_id) - 1 AS n
      FROM collection.demand d JOIN collection.receivable r USING (receivable_id)
      JOIN kaigo.insured i ON i.person_id = r.person_id JOIN kaigo.insurer ins ON ins.insurer_no = i.insurer_no
     WHERE d.batch_id = :b AND d.kind = 'demand' AND ins.collection_calendar = :key
)
UPDATE collection.demand d SET fee = :amount FROM ranked WHERE ranked.demand_id = d.demand_id AND ranked.n % :max = 0
"""


def charge_demand_fees(conn: Connection, batch_id: int) -> None:
    """督促手数料 of a 督促 batch, per each insured's insurer's 条例 (the ``[demand_fee]`` of its
    徴収カレンダー, kiban.rules.kaigo_collection; none by default). 地方自治法第231条の3第2項:
    手数料 may be charged only 「条例で定めるところにより」 — so an insurer without one charges nothing.

    Called by :func:`kiban.collection.demands.demand_run` inside the run's transaction.
    """
    from kiban.notices.demand_notice import MAX_ITEMS

    keys = conn.execute(
        text(
            "SELECT DISTINCT ins.collection_calendar FROM collection.demand d JOIN collection.receivable r"
            " USING (receivable_id) JOIN kaigo.insured i ON i.person_id = r.person_id"
            " JOIN kaigo.insurer ins ON ins.insurer_no = i.insurer_no WHERE d.batch_id = :b"
        ),
        {"b": batch_id},
    ).scalars()
    for key in list(keys):
        fee = load_calendar(str(key)).demand_fee
        if fee is None:
            continue
        params = {"b": batch_id, "key": key, "amount": fee.amount, "max": MAX_ITEMS}
        conn.execute(text(_FEE_LETTER if fee.per == "letter" else _FEE_PERIOD), params)


def demand_pdf(engine: Engine, batch_id: int) -> bytes:
    """督促状 — or, for a 催告 run, 催告書 — (one letter per person) of a batch of 介護保険料
    (kiban.collection.demands.demand_run); stored on the batch."""
    from kiban.identity import repo as identity_repo
    from kiban.notices import demand_notice, reminder_notice

    with engine.begin() as conn:
        ctx = batch_context(conn, Business.KAIGO, PURPOSE, f"督促状・催告書の作成（一括 {batch_id}）")
        guard.require(conn, ctx, action=Action.PRINT, log=False)
        batch = conn.execute(
            text("SELECT kind, issued_on, deadline FROM collection.demand_batch WHERE batch_id = :b"),
            {"b": batch_id},
        ).one()
        reminder = batch.kind == "reminder"
        # A 催告 lists each 期's 督促 (its 発付日) and the 督促手数料 still owed on it.
        rows = conn.execute(
            text(
                "SELECT r.person_id, p.person_no, i.insured_no, i.insurer_no, ins.name AS insurer_name, r.fiscal_year,"
                " r.label, r.due_date, r.amount, d.unpaid, r.payment_no, d.fee,"
                " first.issued_on AS demanded_on, first.fee - first.fee_paid AS fee_owed"
                " FROM collection.demand d JOIN collection.receivable r USING (receivable_id)"
                " LEFT JOIN collection.demand first ON first.receivable_id = d.receivable_id AND first.kind = 'demand'"
                " JOIN identity.person p ON p.person_id = r.person_id"
                " JOIN kaigo.insured i ON i.person_id = r.person_id JOIN kaigo.insurer ins ON ins.insurer_no = i.insurer_no"
                " WHERE d.batch_id = :b AND r.business = 'kaigo' ORDER BY i.insured_no, r.due_date, r.receivable_id"
            ),
            {"b": batch_id},
        ).all()
        by_person: dict[int, list[Any]] = {}
        for r in rows:
            by_person.setdefault(int(r.person_id), []).append(r)
        letters: list[Any] = []
        for person_id, items in by_person.items():
            first = items[0]
            d = identity_repo.current_version(conn, person_id).data
            common = dict(
                issued_on=batch.issued_on, insurer_no=first.insurer_no, insurer_name=first.insurer_name,
                office=f"{first.insurer_name} {service.OFFICE}", office_phone=service.OFFICE_PHONE,
                postal_code=d.postal_code, address=d.address, katagaki=d.katagaki,
                name=f"{d.family_name}　{d.given_name or ''}".strip(),
                person_no=first.person_no, insured_no=first.insured_no, deadline=batch.deadline,
            )  # fmt: skip
            size = reminder_notice.MAX_ITEMS if reminder else demand_notice.MAX_ITEMS
            for start in range(0, len(items), size):
                part = items[start : start + size]
                if reminder:
                    letters.append(
                        reminder_notice.ReminderNotice(
                            notice_no=f"C{batch_id}-{first.insured_no}", **common,
                            items=tuple(
                                reminder_notice.ReminderItem(
                                    fiscal_year=x.fiscal_year, label=x.label, due_date=x.due_date,
                                    demanded_on=x.demanded_on, amount=x.amount, unpaid=x.unpaid,
                                    payment_no=x.payment_no,
                                )
                                for x in part
                            ),
                            fees=sum(int(x.fee_owed or 0) for x in part),
                        )
                    )  # fmt: skip
                else:
                    letters.append(
                        demand_notice.DemandNotice(
                            notice_no=f"D{batch_id}-{first.insured_no}", **common,
                            items=tuple(
                                demand_notice.DemandItem(
                                    fiscal_year=x.fiscal_year, label=x.label, due_date=x.due_date,
                                    amount=x.amount, unpaid=x.unpaid, payment_no=x.payment_no,
                                )
                                for x in part
                            ),
                            fee=sum(int(x.fee) for x in part),
                        )
                    )  # fmt: skip
        if not letters:
            pdf = b""
        elif reminder:
            pdf = reminder_notice.render(letters)
        else:
            pdf = demand_notice.render(letters)
        conn.execute(
            text("UPDATE collection.demand_batch SET pdf = :p WHERE batch_id = :b"),
            {"p": pdf or None, "b": batch_id},
        )
        audit.record(
            conn, ctx, action=Action.PRINT, subjects=[str(v[0].person_no) for v in by_person.values()][:1000],
            detail={"what": f"collection.{batch.kind}.pdf", "batch_id": batch_id, "notices": len(letters)},
        )  # fmt: skip
    return pdf


def _addressee(conn: Any, person_id: int) -> dict[str, Any]:
    from kiban.identity import repo as identity_repo

    d = identity_repo.current_version(conn, person_id).data
    return {
        "postal_code": d.postal_code, "address": d.address, "katagaki": d.katagaki,
        "name": f"{d.family_name}　{d.given_name or ''}".strip(),
    }  # fmt: skip


def _insured_of(conn: Any, person_no: str) -> Any:
    return conn.execute(
        text(
            "SELECT p.person_id, p.person_no, i.insured_no, i.insurer_no, ins.name AS insurer_name"
            " FROM identity.person p JOIN kaigo.insured i ON i.person_id = p.person_id"
            " JOIN kaigo.insurer ins ON ins.insurer_no = i.insurer_no WHERE p.person_no = :p"
        ),
        {"p": person_no},
    ).one()


def refund_pdf(conn: Any, ctx: Any, *, refund: Any, issued_on: Any, bank: str | None = None) -> bytes:
    """介護保険料還付通知書 of a 還付 decision (kiban.collection.refunds.decide_refund)."""
    from kiban.notices import refund_notice

    guard.require(conn, ctx, action=Action.PRINT, subjects=[refund.person_no], min_rank=1, log=False)
    who = _insured_of(conn, refund.person_no)
    notice = refund_notice.RefundNotice(
        issued_on=issued_on, notice_no=f"R{refund.refund_id:08d}", insurer_no=who.insurer_no,
        insurer_name=who.insurer_name, office=f"{who.insurer_name} {service.OFFICE}", office_phone=service.OFFICE_PHONE,
        **_addressee(conn, who.person_id), person_no=who.person_no, insured_no=who.insured_no,
        items=tuple(
            refund_notice.RefundItem(
                fiscal_year=line.fiscal_year, label=line.label, paid_on=line.paid_on, paid=line.amount, due=0,
                refund=line.amount, cause=line.cause,
            )
            for line in refund.lines
        ),
        interest=refund.interest, refund_total=refund.total, method=refund.method,
        bank=bank if refund.method == "口座振込" else None, payment_date=refund.payment_date,
    )  # fmt: skip
    audit.record(
        conn, ctx, action=Action.PRINT, subjects=[refund.person_no],
        detail={"what": "collection.refund.notice", "refund_id": refund.refund_id},
    )  # fmt: skip
    return refund_notice.render([notice])


def receipt_pdf(
    conn: Any, ctx: Any, *, person_no: str, period_from: Any, period_to: Any, purpose: str, issued_on: Any
) -> bytes:
    """介護保険料納付済確認書 of the 普通徴収 paid in a period (e.g. a year, for 社会保険料控除)."""
    from kiban.notices import receipt_certificate

    guard.require(conn, ctx, action=Action.PRINT, subjects=[person_no], min_rank=1, log=False)
    who = _insured_of(conn, person_no)
    rows = conn.execute(
        text(
            "SELECT r.fiscal_year, r.label, r.due_date, r.amount, sum(p.applied)::int AS paid, max(p.paid_on) AS paid_on"
            " FROM collection.receivable r JOIN collection.payment p USING (receivable_id)"
            " WHERE r.person_id = :p AND r.business = 'kaigo' AND r.method = 'ordinary'"
            " AND p.paid_on BETWEEN :f AND :t AND p.applied > 0"
            " GROUP BY r.receivable_id, r.fiscal_year, r.label, r.due_date, r.amount ORDER BY r.due_date"
        ),
        {"p": who.person_id, "f": period_from, "t": period_to},
    ).all()
    if not rows:
        raise ValueError(f"宛名番号 {person_no} の {period_from}〜{period_to} の納付はありません")
    cert = receipt_certificate.ReceiptCertificate(
        issued_on=issued_on, certificate_no=f"P{who.insured_no}-{period_to:%Y%m%d}", insurer_no=who.insurer_no,
        insurer_name=who.insurer_name, office=f"{who.insurer_name} {service.OFFICE}", office_phone=service.OFFICE_PHONE,
        **_addressee(conn, who.person_id), person_no=who.person_no, insured_no=who.insured_no,
        period_from=period_from, period_to=period_to,
        items=tuple(
            receipt_certificate.PaidItem(
                fiscal_year=r.fiscal_year, label=r.label, due_date=r.due_date, amount=r.amount, paid=r.paid,
                paid_on=r.paid_on,
            )
            for r in rows
        ),
        purpose=purpose,
    )  # fmt: skip
    audit.record(
        conn, ctx, action=Action.PRINT, subjects=[person_no],
        detail={"what": "collection.receipt_certificate", "rows": len(rows)},
    )  # fmt: skip
    return receipt_certificate.render([cert])


def restriction_pdf(
    conn: Any,
    ctx: Any,
    *,
    person_no: str,
    kind: str,
    issued_on: Any,
    start_on: Any,
    reply_by: Any = None,
    normal_copay_tenths: int = 1,
) -> bytes:
    """給付制限の予告・決定通知書 (kiban.notices.restriction_notice) of a person as the records stand on
    ``issued_on``: refused (ValueError, in Japanese) unless the condition of the law holds —
    法第66条 (支払方法変更: 納期限から1年), 第67条 (一時差止: 1年6か月), 第69条 (給付額減額: 徴収権消滅期間)."""
    from kiban.collection import writeoff
    from kiban.collection.demands import prescription_of
    from kiban.notices import restriction_notice as rn

    if kind not in rn.KINDS:
        raise ValueError(f"通知書の種類 {kind!r} はありません")
    guard.require(conn, ctx, action=Action.PRINT, subjects=[person_no], min_rank=1, log=False)
    who = _insured_of(conn, person_no)
    found = writeoff.restriction_for(
        conn, ctx, person_no=person_no, business="kaigo", on=issued_on,
        normal_copay_tenths=normal_copay_tenths,  # type: ignore[arg-type]
    )  # fmt: skip
    status, reduction = found.status, found.reduction
    if kind.startswith("change") and not status.payment_method_change:
        raise ValueError(
            f"宛名番号 {person_no} は支払方法変更の要件（納期限から1年を経過した滞納、介護保険法第66条）を満たしていません"
        )
    if kind == "suspension_decision" and not status.benefit_suspension:
        raise ValueError(
            f"宛名番号 {person_no} は一時差止の要件（納期限から1年6か月を経過した滞納、介護保険法第67条）を満たしていません"
        )
    if kind == "reduction_decision" and not reduction.months:
        raise ValueError(f"宛名番号 {person_no} に給付額減額期間（介護保険法第69条）はありません")
    unpaid = conn.execute(
        text(
            "SELECT r.receivable_id, r.fiscal_year, r.label, r.due_date, r.amount - r.paid AS unpaid"
            " FROM collection.receivable r"
            " WHERE r.person_id = :p AND r.business = 'kaigo' AND r.paid < r.amount AND r.due_date < :on"
            " AND NOT EXISTS (SELECT 1 FROM collection.writeoff w WHERE w.receivable_id = r.receivable_id)"
            " ORDER BY r.due_date, r.receivable_id"
        ),
        {"p": who.person_id, "on": issued_on},
    ).all()
    gone = {
        int(u.receivable_id)
        for u in unpaid
        if prescription_of(conn, int(u.receivable_id)).extinguished_on <= issued_on
    }
    if kind == "reduction_decision":
        # 時効で消滅した期別 (不納欠損 included): what the 給付額減額期間 is computed from.
        chosen = [
            *(u for u in unpaid if int(u.receivable_id) in gone),
            *conn.execute(
                text(
                    "SELECT r.receivable_id, r.fiscal_year, r.label, r.due_date, w.amount AS unpaid"
                    " FROM collection.writeoff w JOIN collection.receivable r USING (receivable_id)"
                    " WHERE r.person_id = :p AND r.business = 'kaigo' ORDER BY r.due_date"
                ),
                {"p": who.person_id},
            ).all(),
        ]
        chosen.sort(key=lambda u: (u.due_date, u.receivable_id))
    else:
        chosen = [u for u in unpaid if int(u.receivable_id) not in gone]
    notice = rn.RestrictionNotice(
        kind=kind, issued_on=issued_on,  # type: ignore[arg-type]
        notice_no=f"G{issued_on:%Y%m%d}-{who.insured_no}", insurer_no=who.insurer_no, insurer_name=who.insurer_name,
        office=f"{who.insurer_name} {service.OFFICE}", office_phone=service.OFFICE_PHONE,
        **_addressee(conn, who.person_id), person_no=who.person_no, insured_no=who.insured_no,
        items=tuple(rn.ArrearsItem(int(u.fiscal_year), str(u.label), u.due_date, int(u.unpaid))
                    for u in chosen[: rn.MAX_ITEMS]),
        total_arrears=sum(int(u.unpaid) for u in chosen), start_on=start_on,
        reply_by=reply_by if kind == "change_advance" else None,
        reduction_months=reduction.months if kind == "reduction_decision" else 0,
        benefit_rate_percent=reduction.benefit_rate_percent if kind == "reduction_decision" else 0,
        notes=(f"ほか{len(chosen) - rn.MAX_ITEMS}期別を含めた合計です。",) if len(chosen) > rn.MAX_ITEMS else (),
    )  # fmt: skip
    audit.record(
        conn, ctx, action=Action.PRINT, subjects=[person_no],
        detail={"what": "collection.restriction.notice", "kind": kind, "issued_on": issued_on.isoformat()},
    )  # fmt: skip
    return rn.render([notice])
