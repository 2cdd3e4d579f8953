"""賦課の窓口業務: a person's 保険料 history, 減免 (application and decision), 決定通知書 — per person
and in bulk — and the CSV export of a year's results.

Every function takes an :class:`AccessContext`, passes the guard and writes its access-log row in
the caller's transaction. The 個人番号 is never read here: the 賦課 tables hold internal keys, the
notice prints the 宛名番号 and 被保険者番号 only (番号法第19条), and the export has no such column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, text

from kiban.identity import repo as identity_repo
from kiban.identity.model import CLERK_RANK
from kiban.kaigo.assessment import installments as inst
from kiban.kaigo.assessment.model import PremiumFacts, assess_premium
from kiban.notices import premium_notice
from kiban.rules.kaigo_collection import load_calendar
from kiban.rules.kaigo_premium import load_table
from kiban.security import audit, guard
from kiban.security.batch import batch_context
from kiban.security.context import AccessContext, Action, Business
from kiban.shared import clock
from kiban.shared.money import format_yen
from kiban.shared.wareki import to_wareki

__all__ = [
    "CHIEF_RANK",
    "KIND_LABELS",
    "REDUCTION_REASONS",
    "AssessmentRow",
    "PremiumError",
    "ReductionRow",
    "apply_reduction",
    "bulk_notices",
    "decide_reduction",
    "export_csv",
    "history",
    "notice_pdf",
    "schedule_for",
    "special_request_csv",
]

PURPOSE = "kaigo.assessment"
CHIEF_RANK = 2  # 係長: 減免の決定 (the clerk who took the application may not decide it)
KIND_LABELS = {"initial": "本算定", "new": "資格取得による賦課", "correction": "更正", "reduction": "減免"}
REDUCTION_REASONS = {
    "disaster": "災害等による損害",  # 法第142条; 条例 (e.g. 震災・風水害・火災)
    "income_drop": "収入の著しい減少",  # 死亡・障害・失業・事業の休廃止等による
    "other": "その他特別の理由",
}
METHOD_LABELS = {"special": "特別徴収", "ordinary": "普通徴収"}
OFFICE = "健康福祉部 介護保険課"
OFFICE_PHONE = "0120-000-000（代表）"
PENSION_INSURER = "日本年金機構"


class PremiumError(ValueError):
    """A request the rules refuse; the message (Japanese) is for the clerk."""


@dataclass(frozen=True)
class AssessmentRow:
    """One version of a person's 賦課 (賦課履歴)."""

    assessment_id: int
    fiscal_year: int
    version: int
    kind: str
    basis_date: date | None
    stage: int | None
    months: int
    welfare_months: int
    annual_full: int
    amount: int
    reduction: int
    payable: int
    previous_payable: int | None
    method: str
    current: bool
    recorded_at: Any
    run_id: int | None
    household_exempt: bool
    self_exempt: bool
    welfare: bool
    no_tax_info: bool
    total_income: int
    pension_income: int
    pension_misc_income: int

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def method_label(self) -> str:
        return METHOD_LABELS[self.method]


@dataclass(frozen=True)
class ReductionRow:
    """減免の申請と決定."""

    reduction_id: int
    fiscal_year: int
    reason: str
    detail: str
    applied_on: date
    requested_amount: int | None
    status: str
    amount: int | None
    decision_note: str | None
    decided_on: date | None

    @property
    def reason_label(self) -> str:
        return REDUCTION_REASONS.get(self.reason, self.reason)

    @property
    def status_label(self) -> str:
        return {"applied": "申請中", "approved": "承認", "rejected": "却下", "withdrawn": "取下げ"}[
            self.status
        ]


@dataclass(frozen=True)
class History:
    """A person's 保険料 screen: 賦課履歴 (every version), 減免, and the current schedule per year."""

    person_no: str
    insured_no: str | None
    assessments: tuple[AssessmentRow, ...]
    reductions: tuple[ReductionRow, ...]
    schedules: dict[int, inst.Schedule]


def _require_kaigo(ctx: AccessContext) -> None:
    if ctx.business is not Business.KAIGO:
        raise PremiumError("介護保険の事務として操作してください")


_ROW = (
    "SELECT a.assessment_id, a.fiscal_year, a.version, a.kind, a.basis_date, a.stage, a.months, a.welfare_months,"
    " a.annual_full, a.amount, a.reduction, a.payable, a.previous_payable, a.method,"
    " a.superseded_at IS NULL AS current, a.recorded_at, a.run_id, a.household_exempt, a.self_exempt, a.welfare,"
    " a.no_tax_info, a.total_income, a.pension_income, a.pension_misc_income"
    " FROM kaigo.assessment a"
)


def _row(r: Any) -> AssessmentRow:
    return AssessmentRow(**dict(r._mapping))


def _insured(conn: Connection, person_no: str) -> Any:
    ref = identity_repo.ref_by_no(conn, person_no)
    return conn.execute(
        text("SELECT insured_id, insured_no, insurer_no FROM kaigo.insured WHERE person_id = :p"),
        {"p": ref.person_id},
    ).first()


def history(conn: Connection, ctx: AccessContext, person_no: str) -> History:
    """保険料の賦課履歴 of one person (every 年度 and version, newest first), 減免, schedules. Logged."""
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.VIEW, subjects=[person_no], log=False)
    ins = _insured(conn, person_no)
    rows: list[AssessmentRow] = []
    reductions: list[ReductionRow] = []
    schedules: dict[int, inst.Schedule] = {}
    if ins is not None:
        rows = [
            _row(r)
            for r in conn.execute(
                text(_ROW + " WHERE a.insured_id = :i ORDER BY a.fiscal_year DESC, a.version DESC"),
                {"i": ins.insured_id},
            )
        ]
        reductions = [
            ReductionRow(**dict(r._mapping))
            for r in conn.execute(
                text(
                    "SELECT reduction_id, fiscal_year, reason, detail, applied_on, requested_amount, status, amount,"
                    " decision_note, decided_on FROM kaigo.reduction WHERE insured_id = :i"
                    " ORDER BY fiscal_year DESC, reduction_id DESC"
                ),
                {"i": ins.insured_id},
            )
        ]
        for row in rows:
            if row.current and row.stage is not None:
                schedules[row.fiscal_year] = schedule_for(conn, ins.insured_id, row)
    audit.record(
        conn, ctx, action=Action.VIEW, subjects=[person_no],
        detail={"what": "kaigo.premium.history", "rows": len(rows), "reductions": len(reductions)},
    )  # fmt: skip
    return History(person_no, ins.insured_no if ins else None, tuple(rows), tuple(reductions), schedules)


def _calendar(conn: Connection, insured_id: int) -> Any:
    key = conn.execute(
        text(
            "SELECT r.collection_calendar FROM kaigo.insured i JOIN kaigo.insurer r USING (insurer_no)"
            " WHERE i.insured_id = :i"
        ),
        {"i": insured_id},
    ).scalar_one()
    return load_calendar(str(key))


def schedule_for(
    conn: Connection, insured_id: int, row: AssessmentRow, *, on: date | None = None
) -> inst.Schedule:
    """徴収予定 of a 賦課 version: 特別徴収 (仮徴収 at the 前年度2月 amount, 本徴収) or 普通徴収.

    A 更正 keeps the installments already due on the day of the change (``on``, default the day
    the version was recorded) and spreads the new amount over the rest (installments.revise_schedule).
    """
    calendar = _calendar(conn, insured_id)
    pension = conn.execute(
        text(
            "SELECT pd.previous_february FROM kaigo.pension_deduction pd JOIN kaigo.insured i USING (person_id)"
            " WHERE i.insured_id = :i AND pd.fiscal_year = :fy AND pd.superseded_at IS NULL"
        ),
        {"i": insured_id, "fy": row.fiscal_year},
    ).first()
    previous = conn.execute(
        text(_ROW + " WHERE a.insured_id = :i AND a.fiscal_year = :fy AND a.version = :v"),
        {"i": insured_id, "fy": row.fiscal_year, "v": row.version - 1},
    ).first()
    changed_on = on or (row.recorded_at.date() if row.recorded_at else clock.today())

    def fresh(r: AssessmentRow, start_after: date | None) -> inst.Schedule:
        if r.method == "special":
            return inst.special_schedule(
                r.fiscal_year, r.payable, pension.previous_february if pension else None, calendar
            )
        return inst.ordinary_schedule(r.fiscal_year, r.payable, calendar, start_after=start_after)

    if previous is None:
        # 資格取得による賦課 mid-year: only the 納期 after the notice carry the amount; a 本算定 row
        # whose 賦課期日 is a later 資格取得日 (a run made after it) uses the 納期 after that day.
        if row.kind == "new":
            start_after: date | None = changed_on
        elif row.basis_date is not None and row.basis_date > date(row.fiscal_year, 4, 1):
            start_after = row.basis_date
        else:
            start_after = None
        return fresh(row, start_after)
    before = _row(previous)
    if before.method == "special" and row.method == "ordinary":
        earlier = fresh(before, None)
        return inst.switch_to_ordinary(earlier, row.payable, changed_on, calendar)
    earlier = schedule_for(conn, insured_id, before)
    return inst.revise_schedule(earlier, row.payable, changed_on, calendar)


# -- 減免 -----------------------------------------------------------------------------------------


def apply_reduction(
    conn: Connection,
    ctx: AccessContext,
    *,
    person_no: str,
    fiscal_year: int,
    reason: str,
    detail: str,
    applied_on: date | None = None,
    requested_amount: int | None = None,
) -> int:
    """減免の申請を受け付ける (担当者). Returns the reduction_id."""
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.CREATE, subjects=[person_no], min_rank=CLERK_RANK, log=False)
    if reason not in REDUCTION_REASONS:
        raise PremiumError(f"減免の事由 {reason!r} はありません（災害・収入の著しい減少・その他）")
    if not detail or not detail.strip():
        raise PremiumError("減免の申請理由（被害の状況・収入減少の内容など）を入力してください")
    if requested_amount is not None and requested_amount < 0:
        raise PremiumError("申請額は0円以上で入力してください")
    ins = _insured(conn, person_no)
    current = _current(conn, ins, fiscal_year)
    if current is None:
        raise PremiumError(f"宛名番号 {person_no} の{fiscal_year}年度の賦課がありません")
    reduction_id = conn.execute(
        text(
            "INSERT INTO kaigo.reduction (insured_id, fiscal_year, reason, detail, applied_on, requested_amount,"
            " recorded_by) VALUES (:i, :fy, :r, :d, :a, :q, :s) RETURNING reduction_id"
        ),
        {"i": ins.insured_id, "fy": fiscal_year, "r": reason, "d": detail.strip(),
         "a": applied_on or clock.today(), "q": requested_amount, "s": ctx.staff_id},
    ).scalar_one()  # fmt: skip
    audit.record(
        conn, ctx, action=Action.CREATE, subjects=[person_no],
        detail={"what": "kaigo.reduction.apply", "reduction_id": reduction_id, "fiscal_year": fiscal_year,
                "reason": reason},
    )  # fmt: skip
    return int(reduction_id)


def _current(conn: Connection, ins: Any, fiscal_year: int) -> AssessmentRow | None:
    if ins is None:
        return None
    r = conn.execute(
        text(_ROW + " WHERE a.insured_id = :i AND a.fiscal_year = :fy AND a.superseded_at IS NULL"),
        {"i": ins.insured_id, "fy": fiscal_year},
    ).first()
    return _row(r) if r is not None else None


def decide_reduction(
    conn: Connection,
    ctx: AccessContext,
    *,
    reduction_id: int,
    approve: bool,
    amount: int | None = None,
    note: str,
    decided_on: date | None = None,
) -> AssessmentRow | None:
    """減免の決定 (係長): approve with the 減免額 (a new 賦課 version, kind ``reduction``) or reject.

    The decider must not be the clerk who recorded the application (two people, seed 000 減免).
    """
    _require_kaigo(ctx)
    app_row = conn.execute(
        text(
            "SELECT r.*, p.person_no FROM kaigo.reduction r JOIN kaigo.insured i USING (insured_id)"
            " JOIN identity.person p ON p.person_id = i.person_id WHERE r.reduction_id = :r FOR UPDATE OF r"
        ),
        {"r": reduction_id},
    ).first()
    subjects = [app_row.person_no] if app_row is not None else []
    guard.require(conn, ctx, action=Action.APPROVE, subjects=subjects, min_rank=CHIEF_RANK, log=False)
    if app_row is None:
        raise PremiumError(f"減免申請 {reduction_id} はありません")
    if app_row.status != "applied":
        raise PremiumError(f"減免申請 {reduction_id} は決定済みです（{app_row.status}）")
    if app_row.recorded_by == ctx.staff_id:
        raise PremiumError("申請を受け付けた職員は、同じ申請の減免を決定できません")
    if not note or not note.strip():
        raise PremiumError("決定の理由を入力してください")
    decided_on = decided_on or clock.today()
    ins = conn.execute(
        text("SELECT insured_id, insured_no FROM kaigo.insured WHERE insured_id = :i"),
        {"i": app_row.insured_id},
    ).one()
    current = _current(conn, ins, app_row.fiscal_year)
    assert current is not None  # an application needs a 賦課 (apply_reduction)
    new_row: AssessmentRow | None = None
    if approve:
        if amount is None or amount <= 0:
            raise PremiumError("減免額（1円以上）を入力してください")
        if amount > current.amount:
            raise PremiumError(
                f"減免額 {format_yen(amount)} が賦課額 {format_yen(current.amount)} を超えています"
            )
        conn.execute(
            text(
                "UPDATE kaigo.reduction SET status = 'approved', amount = :a, decision_note = :n, decided_on = :d,"
                " decided_by = :s WHERE reduction_id = :r"
            ),
            {"a": amount, "n": note.strip(), "d": decided_on, "s": ctx.staff_id, "r": reduction_id},
        )
        conn.execute(
            text("UPDATE kaigo.assessment SET superseded_at = clock_timestamp() WHERE assessment_id = :a"),
            {"a": current.assessment_id},
        )
        new_id = conn.execute(
            text(
                "INSERT INTO kaigo.assessment (insured_id, fiscal_year, version, kind, basis_date, welfare,"
                " old_age_pension, household_exempt, self_exempt, no_tax_info, total_income, pension_income,"
                " pension_misc_income, stage, months, welfare_months, annual_full, amount, reduction,"
                " previous_payable, method, note, recorded_by)"
                " SELECT insured_id, fiscal_year, version + 1, 'reduction', basis_date, welfare, old_age_pension,"
                " household_exempt, self_exempt, no_tax_info, total_income, pension_income, pension_misc_income,"
                " stage, months, welfare_months, annual_full, amount, :red, payable, method, :note, :s"
                " FROM kaigo.assessment WHERE assessment_id = :a RETURNING assessment_id"
            ),
            {
                "a": current.assessment_id,
                "red": amount,
                "note": f"減免（申請 {reduction_id}）",
                "s": ctx.staff_id,
            },
        ).scalar_one()
        new_row = _row(conn.execute(text(_ROW + " WHERE a.assessment_id = :a"), {"a": new_id}).one())
    else:
        conn.execute(
            text(
                "UPDATE kaigo.reduction SET status = 'rejected', decision_note = :n, decided_on = :d,"
                " decided_by = :s WHERE reduction_id = :r"
            ),
            {"n": note.strip(), "d": decided_on, "s": ctx.staff_id, "r": reduction_id},
        )
    audit.record(
        conn, ctx, action=Action.APPROVE, subjects=subjects,
        detail={"what": "kaigo.reduction.decide", "reduction_id": reduction_id, "approved": approve,
                "amount": amount if approve else None},
    )  # fmt: skip
    return new_row


# -- 決定通知書 ------------------------------------------------------------------------------------


def _period_text(fiscal_year: int, basis: date | None, months: int, row: AssessmentRow) -> str:
    if months == 0:
        return "賦課期間なし（0か月）"
    start_month = basis or date(fiscal_year, 4, 1)
    start = date(start_month.year, start_month.month, 1)
    index = start.year * 12 + start.month - 1 + months - 1
    end = date(index // 12, index % 12 + 1, 1)
    return f"{_month(start)}から{_month(end)}まで（{months}か月）"


def _month(d: date) -> str:
    return to_wareki(d).rsplit("月", 1)[0] + "月"  # 令和7年4月1日 → 令和7年4月


def _facts(row: AssessmentRow) -> PremiumFacts:
    return PremiumFacts(
        welfare=row.welfare,
        old_age_welfare_pension=False,
        household_exempt=row.household_exempt,
        self_exempt=row.self_exempt,
        total_income=row.total_income,
        pension_income=row.pension_income,
        pension_misc_income=row.pension_misc_income,
    )


def _notice(conn: Connection, assessment_id: int, issued_on: date) -> premium_notice.PremiumNotice:
    r = conn.execute(
        text(
            _ROW.replace(" FROM kaigo.assessment a", ", i.insured_id, i.insured_no, i.insurer_no, i.person_id,"
                         " p.person_no, ins.name AS insurer_name, ins.premium_table, ins.base_annual AS base"
                         " FROM kaigo.assessment a JOIN kaigo.insured i USING (insured_id)"
                         " JOIN identity.person p ON p.person_id = i.person_id"
                         " JOIN kaigo.insurer ins ON ins.insurer_no = i.insurer_no")
            + " WHERE a.assessment_id = :a"
        ),
        {"a": assessment_id},
    ).one()  # fmt: skip
    m = dict(r._mapping)
    row = AssessmentRow(**{k: m[k] for k in AssessmentRow.__dataclass_fields__})
    if row.stage is None:
        raise PremiumError(f"宛名番号 {m['person_no']} の賦課は段階が決まっていません（要確認）")
    table = load_table(str(m["premium_table"]))
    base = int(m["base"]) if m["base"] is not None else table.base_annual
    rate = table.rate(row.stage)
    if row.no_tax_info:
        rule = "課税情報がないため基準額の段階で仮に算定しています（申告により更正します）"
        basis_lines: tuple[str, ...] = ("住民税の課税情報: なし（未申告）",)
    else:
        result = assess_premium(table, _facts(row), row.fiscal_year, base_annual=base)
        rule = result.rule
        basis_lines = tuple(c.text() for c in result.comparisons[-3:])
        if result.exempt_stage_income is not None:
            basis_lines = (
                f"課税年金収入額＋その他の合計所得金額 {format_yen(result.exempt_stage_income)}",
                *basis_lines,
            )
        elif result.category == "taxed":
            basis_lines = (f"合計所得金額 {format_yen(row.total_income)}", *basis_lines)
    if row.welfare_months:
        basis_lines += (f"生活保護の開始により {row.welfare_months}か月は第{table.welfare_stage}段階で月割",)
    version = identity_repo.version_on(conn, m["person_id"], issued_on) or identity_repo.current_version(
        conn, m["person_id"]
    )
    d = version.data
    mailing = conn.execute(
        text(
            "SELECT name, postal_code, address, katagaki FROM identity.mailing_address WHERE person_id = :p"
            " AND business = 'kaigo' AND superseded_at IS NULL AND valid @> CAST(:d AS date)"
        ),
        {"p": m["person_id"], "d": issued_on},
    ).first()
    schedule = schedule_for(conn, m["insured_id"], row)
    items = tuple(
        premium_notice.NoticeInstallment(
            label=i.label, due_date=i.due_date, amount=i.amount, method=METHOD_LABELS[i.method]
        )
        for i in schedule.installments
    )
    notes: list[str] = []
    proxy = conn.execute(
        text(
            "SELECT welfare_office FROM identity.welfare_period WHERE person_id = :p AND superseded_at IS NULL"
            " AND proxy_payment AND valid @> CAST(:d AS date)"
        ),
        {"p": m["person_id"], "d": issued_on},
    ).first()
    if proxy is not None:
        # 代理納付 (生活保護法第37条の2): the 福祉事務所 pays the 普通徴収 from the 生活扶助 directly.
        office = proxy.welfare_office or "福祉事務所"
        notes.append(f"普通徴収の保険料は、{office}が生活扶助から代理納付します（生活保護法第37条の2）。")
    if schedule.overpaid:
        notes.append(f"納め過ぎの額 {format_yen(schedule.overpaid)} は、未納の保険料に充てるか還付します。")
    changed = row.previous_payable is not None
    return premium_notice.PremiumNotice(
        kind="変更" if changed else "決定",
        fiscal_year=row.fiscal_year,
        issued_on=issued_on,
        notice_no=f"{row.fiscal_year}-{row.assessment_id:08d}",
        insurer_no=str(m["insurer_no"]),
        insurer_name=str(m["insurer_name"]),
        office=f"{m['insurer_name']} {OFFICE}",
        office_phone=OFFICE_PHONE,
        postal_code=(mailing.postal_code if mailing else d.postal_code),
        address=(mailing.address if mailing else d.address),
        katagaki=(mailing.katagaki if mailing else d.katagaki),
        name=(mailing.name if mailing else f"{d.family_name}　{d.given_name or ''}".strip()),
        name_kana=None if mailing else d.full_kana,
        person_no=str(m["person_no"]),
        insured_no=str(m["insured_no"]),
        basis_date=row.basis_date or date(row.fiscal_year, 4, 1),
        stage=row.stage,
        stage_count=table.stage_count,
        stage_rule=rule,
        basis_lines=basis_lines[:6],
        base_annual=base,
        multiplier=Decimal(rate.multiplier),
        annual_full=row.annual_full,
        months=row.months,
        period_text=_period_text(row.fiscal_year, row.basis_date, row.months, row),
        amount=row.amount,
        reduction=row.reduction,
        payable=row.payable,
        previous_payable=row.previous_payable,
        installments=items,
        pension_insurer=PENSION_INSURER
        if any(i.method == "special" for i in schedule.installments)
        else None,
        notes=tuple(notes),
        overpaid=schedule.overpaid,
    )


def notice_pdf(
    conn: Connection, ctx: AccessContext, *, person_no: str, fiscal_year: int, issued_on: date | None = None
) -> bytes:
    """決定（変更）通知書 of the person's current 賦課 of the year, recorded in the 発行履歴."""
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.PRINT, subjects=[person_no], min_rank=CLERK_RANK, log=False)
    issued_on = issued_on or clock.today()
    current = _current(conn, _insured(conn, person_no), fiscal_year)
    if current is None:
        raise PremiumError(f"宛名番号 {person_no} の{fiscal_year}年度の賦課がありません")
    notice = _notice(conn, current.assessment_id, issued_on)
    conn.execute(
        text("INSERT INTO kaigo.notice (assessment_id, issued_on, issued_by) VALUES (:a, :d, :s)"),
        {"a": current.assessment_id, "d": issued_on, "s": ctx.staff_id},
    )
    audit.record(
        conn, ctx, action=Action.PRINT, subjects=[person_no],
        detail={"what": "kaigo.premium.notice", "fiscal_year": fiscal_year, "assessment_id": current.assessment_id},
    )  # fmt: skip
    return premium_notice.render([notice])


BULK_CHUNK = 200


def bulk_notices(
    engine: Engine,
    *,
    fiscal_year: int,
    run_id: int | None = None,
    issued_on: date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, bytes]:
    """決定通知書の一括作成 (batch principal): the current rows of the year — or those a run changed —
    in 被保険者番号 order; one PDF, the batch and each notice recorded. Returns (batch_id, pdf)."""
    issued_on = issued_on or clock.today()
    with engine.begin() as conn:
        ctx = batch_context(
            conn, Business.KAIGO, PURPOSE, f"介護保険料決定通知書 一括作成（{fiscal_year}年度）"
        )
        guard.require(conn, ctx, action=Action.PRINT, log=False)
        ids = [
            int(x)
            for x in conn.execute(
                text(
                    "SELECT a.assessment_id FROM kaigo.assessment a JOIN kaigo.insured i USING (insured_id)"
                    " WHERE a.fiscal_year = :fy AND a.superseded_at IS NULL AND a.stage IS NOT NULL"
                    " AND (CAST(:run AS bigint) IS NULL OR a.run_id = :run) ORDER BY i.insured_no"
                ),
                {"fy": fiscal_year, "run": run_id},
            ).scalars()
        ]
        batch_id = int(
            conn.execute(
                text(
                    "INSERT INTO kaigo.notice_batch (fiscal_year, run_id, issued_on, total, started_by)"
                    " VALUES (:fy, :run, :d, :n, :s) RETURNING batch_id"
                ),
                {"fy": fiscal_year, "run": run_id, "d": issued_on, "n": len(ids), "s": ctx.staff_id},
            ).scalar_one()
        )
    notices: list[premium_notice.PremiumNotice] = []
    for start in range(0, len(ids), BULK_CHUNK):
        part = ids[start : start + BULK_CHUNK]
        with engine.begin() as conn:
            ctx = batch_context(
                conn, Business.KAIGO, PURPOSE, f"介護保険料決定通知書 一括作成（{fiscal_year}年度）"
            )
            chunk = [_notice(conn, a, issued_on) for a in part]
            conn.execute(
                text(
                    "INSERT INTO kaigo.notice (assessment_id, batch_id, issued_on, issued_by)"
                    " SELECT unnest(CAST(:a AS bigint[])), :b, :d, :s"
                ),
                {"a": part, "b": batch_id, "d": issued_on, "s": ctx.staff_id},
            )
            conn.execute(
                text("UPDATE kaigo.notice_batch SET done = done + :n WHERE batch_id = :b"),
                {"n": len(part), "b": batch_id},
            )
            audit.record(
                conn, ctx, action=Action.PRINT, subjects=[n.person_no for n in chunk],
                detail={"what": "kaigo.premium.notice.bulk", "batch_id": batch_id, "count": len(chunk)},
            )  # fmt: skip
        notices.extend(chunk)
        if progress is not None:
            progress(start + len(part), len(ids))
    pdf = premium_notice.render(notices) if notices else b""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE kaigo.notice_batch SET status = 'done', pdf = :p, finished_at = clock_timestamp()"
                " WHERE batch_id = :b"
            ),
            {"p": pdf or None, "b": batch_id},
        )
    return batch_id, pdf


# -- 賦課結果の出力 -------------------------------------------------------------------------------

EXPORT_HEADER = (
    "年度", "被保険者番号", "宛名番号", "版", "区分", "賦課期日", "所得段階", "月数", "生活保護月数",
    "年額（12か月）", "賦課額", "減免額", "決定額", "変更前の額", "徴収方法", "課税情報なし",
)  # fmt: skip


def export_csv(conn: Connection, ctx: AccessContext, *, fiscal_year: int) -> bytes:
    """賦課結果 CSV (UTF-8 with BOM for 表計算, CRLF) of the year's current rows — no 個人番号 column."""
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.EXPORT, min_rank=CLERK_RANK, log=False)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_HEADER)
    n = 0
    for r in conn.execute(
        text(
            "SELECT a.fiscal_year, i.insured_no, p.person_no, a.version, a.kind, a.basis_date, a.stage, a.months,"
            " a.welfare_months, a.annual_full, a.amount, a.reduction, a.payable, a.previous_payable, a.method,"
            " a.no_tax_info FROM kaigo.assessment a JOIN kaigo.insured i USING (insured_id)"
            " JOIN identity.person p ON p.person_id = i.person_id"
            " WHERE a.fiscal_year = :fy AND a.superseded_at IS NULL ORDER BY i.insured_no"
        ),
        {"fy": fiscal_year},
    ):
        n += 1
        writer.writerow(
            [r.fiscal_year, r.insured_no, r.person_no, r.version, KIND_LABELS[r.kind], r.basis_date or "",
             r.stage or "", r.months, r.welfare_months, r.annual_full, r.amount, r.reduction, r.payable,
             "" if r.previous_payable is None else r.previous_payable, METHOD_LABELS[r.method],
             "1" if r.no_tax_info else "0"]
        )  # fmt: skip
    audit.record(
        conn, ctx, action=Action.EXPORT,
        detail={"what": "kaigo.premium.export", "fiscal_year": fiscal_year, "rows": n, "subjects": "fiscal_year"},
    )  # fmt: skip
    return ("\ufeff" + out.getvalue()).encode()


# -- 特別徴収依頼 ---------------------------------------------------------------------------------

SPECIAL_REQUEST_HEADER = (
    "年度", "保険者番号", "年金保険者", "被保険者番号", "宛名番号", "氏名カナ", "生年月日", "性別",
    "年金額", "仮徴収4月", "仮徴収6月", "仮徴収8月", "本徴収10月", "本徴収12月", "本徴収2月", "年額",
)  # fmt: skip


def special_request_csv(conn: Connection, ctx: AccessContext, *, fiscal_year: int) -> bytes:
    """特別徴収依頼 for the pension insurers (介護保険法第136条: 特別徴収額の通知): one row per
    特別徴収 person of the year with each month's amount (docs/layouts/kaigo-special-request.md).

    UTF-8, CRLF, header row, 被保険者番号 order. No 個人番号: the pension insurer identifies the
    person by the items of its own 通知 (法第134条), echoed here by 宛名番号 and 被保険者番号.
    """
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.EXPORT, min_rank=CLERK_RANK, log=False)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(SPECIAL_REQUEST_HEADER)
    rows = conn.execute(
        text(
            _ROW.replace(
                " FROM kaigo.assessment a",
                ", a.insured_id, i.insured_no, i.insurer_no, i.person_id, p.person_no, pd.pension_insurer,"
                " pd.annual_pension"
                " FROM kaigo.assessment a JOIN kaigo.insured i USING (insured_id)"
                " JOIN identity.person p ON p.person_id = i.person_id"
                " JOIN kaigo.pension_deduction pd ON pd.person_id = i.person_id AND pd.fiscal_year = a.fiscal_year"
                " AND pd.superseded_at IS NULL",
            )
            + " WHERE a.fiscal_year = :fy AND a.superseded_at IS NULL AND a.method = 'special'"
            " AND a.stage IS NOT NULL ORDER BY i.insured_no"
        ),
        {"fy": fiscal_year},
    ).all()
    n = 0
    for r in rows:
        m = dict(r._mapping)
        row = AssessmentRow(**{k: m[k] for k in AssessmentRow.__dataclass_fields__})
        schedule = schedule_for(conn, int(m["insured_id"]), row)
        by_month = {i.due_date.month: i.amount for i in schedule.installments if i.method == "special"}
        if not by_month:
            continue  # no 前年度2月の額: collected by 普通徴収 this year (installments.special_schedule)
        d = identity_repo.current_version(conn, int(m["person_id"])).data
        n += 1
        writer.writerow(
            [fiscal_year, m["insurer_no"], m["pension_insurer"], m["insured_no"], m["person_no"], d.full_kana,
             d.birth_date.isoformat(), int(d.sex), m["annual_pension"],
             *(by_month.get(month, 0) for month in (4, 6, 8, 10, 12, 2)), row.payable]
        )  # fmt: skip
    audit.record(
        conn, ctx, action=Action.EXPORT,
        detail={"what": "kaigo.special_request", "fiscal_year": fiscal_year, "rows": n, "subjects": "fiscal_year"},
    )  # fmt: skip
    return out.getvalue().encode()
