"""Screens of 滞納整理 (介護保険料): the 滞納者一覧 with the 督促 run and its 督促状, the 不納欠損 of
期別 whose 時効 is complete, and a person's 滞納整理 (給付制限, 分納計画, 折衝記録).

Thin, like :mod:`kiban.web.collection_pages` (whose guard dependency it uses): every route first passes
the guard for the 処理事由 保険料の収納・滞納整理 (``kaigo.collection``) with the session's context, so a
refusal is logged before anything is read; writing (督促, 分納計画, 折衝記録, 不納欠損) needs a 担当者 and
the guard is asked again, with that rank, before the form is looked at. The 不納欠損の決定 needs a 係長:
:func:`kiban.collection.writeoff.decide_writeoff` refuses others, and its refusal is shown (403). A
request the rules refuse is shown on the same screen in Japanese (422). No screen shows a 個人番号.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine, text

from kiban.collection import arrears as arr
from kiban.collection import demands, writeoff
from kiban.identity import persons
from kiban.identity.model import CLERK_RANK
from kiban.identity.persons import SearchCriteria
from kiban.identity.repo import IdentityError
from kiban.kaigo.assessment import receivables as kaigo_receivables
from kiban.security import guard
from kiban.security.context import Action, Business
from kiban.security.errors import AccessDenied
from kiban.shared import clock
from kiban.web.collection_pages import BUSINESS, EngineDep, Staff, StaffDep, message, parse_amount
from kiban.web.forms import InputError, parse_date, pdf_response
from kiban.web.nav import MenuItem, register
from kiban.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
ARREARS_PATH = "/collection/arrears"
WRITEOFF_PATH = "/collection/writeoffs"
MAX_INSTALLMENTS = 12
MAX_TEXT = 1000

register(MenuItem("collection-arrears", "滞納整理", ARREARS_PATH, Business.KAIGO))

Refused = (InputError, arr.ArrearsError, demands.DemandError, IdentityError, LookupError, ValueError)
KINDS = {"demand": "督促", "reminder": "催告"}
RESTRICTION_KINDS = {
    "change_advance": "支払方法変更 予告通知書（第66条）",
    "change_decision": "支払方法変更 決定通知書（第66条）",
    "suspension_decision": "保険給付一時差止 決定通知書（第67条）",
    "reduction_decision": "給付額減額等 決定通知書（第69条）",
}


def _require_clerk(engine: Engine, staff: Staff, action: Action, subjects: list[str] | None = None) -> None:
    with engine.begin() as conn:
        guard.require(conn, staff.ctx, action=action, subjects=subjects or [], min_rank=CLERK_RANK, log=False)


def _min_amount(value: str) -> int:
    typed = unicodedata.normalize("NFKC", value or "").strip().replace(",", "").removesuffix("円").strip()
    if not typed:
        return 1
    if not typed.isascii() or not typed.isdigit():
        raise InputError(f"最低額は円の整数で入力してください（例: 10000）: {value}")
    return max(int(typed), 1)


def _days(value: str) -> int:
    typed = unicodedata.normalize("NFKC", value or "").strip().removesuffix("日")
    if not typed.isascii() or not typed.isdigit() or not 1 <= int(typed) <= 60:
        raise InputError("指定期限の日数は1〜60の整数で入力してください")
    return int(typed)


# -- 滞納者一覧・督促 ---------------------------------------------------------------------------------

_BATCHES = """
SELECT b.batch_id, b.kind, b.as_of, b.issued_on, b.deadline, b.total, b.late, b.started_at,
       b.pdf IS NOT NULL AS has_pdf, s.name AS staff_name
  FROM collection.demand_batch b LEFT JOIN security.staff s ON s.staff_id = b.started_by
 WHERE b.business = :b ORDER BY b.batch_id DESC LIMIT :n
"""


def _batches(engine: Engine, limit: int = 15) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(text(_BATCHES), {"b": BUSINESS, "n": limit})
        return [dict(r._mapping) | {"kind_label": KINDS.get(r.kind, r.kind)} for r in rows]


def _arrears_page(
    request: Request,
    engine: Engine,
    staff: Staff,
    filters: dict[str, str],
    *,
    error: str | None = None,
    demand_error: str | None = None,
    run: demands.DemandRun | None = None,
    demand_form: dict[str, str] | None = None,
    status: int = 422,
) -> HTMLResponse:
    rows: list[arr.ArrearsRow] = []
    try:
        on = parse_date(filters.get("on", ""), "基準日") or clock.today()
        older = parse_date(filters.get("older_than", ""), "最古納期限")
        minimum = _min_amount(filters.get("min_amount", ""))
        with engine.begin() as conn:
            rows = arr.arrears_list(
                conn, staff.ctx, business=BUSINESS, on=on, min_amount=minimum, older_than=older,
                without_plan=filters.get("without_plan") == "1",
            )  # fmt: skip
    except AccessDenied as exc:  # the 滞納者一覧 is a 担当者's search (kiban.collection.arrears)
        error, status = f"滞納者一覧を表示できません: {exc}", 403
    except Refused as exc:
        error = f"滞納者一覧を表示できません: {message(exc)}"
    today = clock.today().isoformat()
    context = {
        "active": "collection-arrears",
        "filters": filters,
        "rows": rows,
        "total": sum(r.arrears for r in rows),
        "batches": _batches(engine),
        "kinds": KINDS,
        "run": run,
        "demand_form": {"as_of": today, "issued_on": today, "deadline_days": "10", "kind": "demand"}
        | (demand_form or {}),
        "may_record": staff.may_record,
        "error": error,
        "demand_error": demand_error,
    }
    failed = error is not None or demand_error is not None
    return render(request, "collection/arrears.html", context, status if failed else 200)


@router.get(ARREARS_PATH, response_class=HTMLResponse)
def arrears_page(
    request: Request,
    engine: EngineDep,
    staff: StaffDep,
    on: Annotated[str, Query()] = "",
    min_amount: Annotated[str, Query()] = "",
    older_than: Annotated[str, Query()] = "",
    without_plan: Annotated[str, Query()] = "",
) -> HTMLResponse:
    filters = {"on": on, "min_amount": min_amount, "older_than": older_than, "without_plan": without_plan}
    return _arrears_page(request, engine, staff, filters)


@router.post("/collection/demands", response_class=HTMLResponse)
def run_demands(
    request: Request,
    engine: EngineDep,
    staff: StaffDep,
    as_of: Annotated[str, Form()] = "",
    issued_on: Annotated[str, Form()] = "",
    deadline_days: Annotated[str, Form()] = "10",
    kind: Annotated[str, Form()] = "demand",
) -> Response:
    """督促（催告）の一括: every 普通徴収 期別 unpaid after its 納期限 on 基準日, then the batch's 督促状."""
    form = {"as_of": as_of, "issued_on": issued_on, "deadline_days": deadline_days, "kind": kind}
    try:
        _require_clerk(engine, staff, Action.PRINT)
        base = parse_date(as_of, "基準日")
        issued = parse_date(issued_on, "発付日")
        if base is None or issued is None:
            raise InputError("基準日と発付日を入力してください")
        if issued < base:
            raise InputError("発付日は基準日以後の日付です")
        days = _days(deadline_days)
        if kind not in KINDS:
            raise InputError("督促か催告かを選んでください")
        run = demands.demand_run(
            engine, staff.ctx, business=BUSINESS, as_of=base, issued_on=issued, deadline_days=days,
            kind="demand" if kind == "demand" else "reminder", charge_fees=kaigo_receivables.charge_demand_fees,
        )  # fmt: skip
        if run.demands:
            kaigo_receivables.demand_pdf(engine, run.batch_id)
    except AccessDenied as exc:
        return _arrears_page(
            request,
            engine,
            staff,
            {},
            demand_error=f"督促を実行できません: {exc}",
            demand_form=form,
            status=403,
        )
    except Refused as exc:
        return _arrears_page(
            request, engine, staff, {}, demand_error=f"督促を実行できません: {message(exc)}", demand_form=form
        )
    return _arrears_page(request, engine, staff, {}, run=run, demand_form=form)


@router.get("/collection/demands/{batch_id}/pdf")
def demand_batch_pdf(request: Request, engine: EngineDep, staff: StaffDep, batch_id: int) -> Response:
    """The 督促状 of one run, as stored when it was made (collection.demand_batch.pdf)."""
    with engine.begin() as conn:
        guard.require(
            conn, staff.ctx, action=Action.PRINT, min_rank=CLERK_RANK,
            detail={"what": "collection.demand.pdf.download", "batch_id": batch_id},
        )  # fmt: skip
        pdf = conn.execute(
            text("SELECT pdf FROM collection.demand_batch WHERE batch_id = :b AND business = :bz"),
            {"b": batch_id, "bz": BUSINESS},
        ).scalar()
    if not pdf:
        return render(request, "error.html", {"message": f"督促状（一括 {batch_id}）はありません"}, 404)
    return pdf_response(bytes(pdf), f"tokusoku-{batch_id}.pdf")


# -- 不納欠損 -------------------------------------------------------------------------------------------


def _writeoff_page(
    request: Request,
    engine: Engine,
    staff: Staff,
    on_text: str,
    *,
    error: str | None = None,
    reason: str = "",
    status: int = 422,
) -> HTMLResponse:
    candidates: list[writeoff.Candidate] = []
    on = clock.today()
    try:
        on = parse_date(on_text, "基準日") or clock.today()
        with engine.begin() as conn:
            candidates = writeoff.writeoff_candidates(conn, staff.ctx, business=BUSINESS, on=on)
    except AccessDenied as exc:
        error, status = error or f"不納欠損の候補を表示できません: {exc}", 403
    except Refused as exc:
        error = error or f"不納欠損の候補を表示できません: {message(exc)}"
    context = {
        "active": "collection-arrears",
        "on": on,
        "candidates": candidates,
        "total": sum(c.unpaid for c in candidates),
        "may_record": staff.may_record,
        "may_decide": staff.rank >= writeoff.CHIEF_RANK,
        "reason": reason,
        "error": error,
    }
    return render(request, "collection/writeoffs.html", context, status if error else 200)


@router.get(WRITEOFF_PATH, response_class=HTMLResponse)
def writeoff_page(
    request: Request, engine: EngineDep, staff: StaffDep, on: Annotated[str, Query()] = ""
) -> HTMLResponse:
    return _writeoff_page(request, engine, staff, on)


@router.post(WRITEOFF_PATH, response_class=HTMLResponse)
async def decide_writeoffs(request: Request, engine: EngineDep, staff: StaffDep) -> Response:
    """不納欠損の決定 of the checked 期別 (係長: the service refuses others, and that is shown)."""
    try:
        _require_clerk(engine, staff, Action.APPROVE)
    except AccessDenied as exc:
        return _writeoff_page(
            request, engine, staff, "", error=f"不納欠損を決定できません: {exc}", status=403
        )
    form = await request.form()
    on_text = str(form.get("on") or "")
    reason = str(form.get("reason") or "")
    try:
        ids = [int(str(v)) for v in form.getlist("receivable_id") if str(v).isdigit()]
        if not ids:
            raise InputError("不納欠損する期別を選んでください")
        day = parse_date(on_text, "決定日") or clock.today()
        if day > clock.today():
            raise InputError(f"決定日が未来の日付です: {on_text}")
        with engine.begin() as conn:
            total = writeoff.decide_writeoff(
                conn, staff.ctx, receivable_ids=ids, decided_on=day, reason=reason[:MAX_TEXT]
            )
    except AccessDenied as exc:
        return _writeoff_page(
            request,
            engine,
            staff,
            on_text,
            error=f"不納欠損を決定できません: {exc}",
            reason=reason,
            status=403,
        )
    except Refused as exc:
        return _writeoff_page(
            request, engine, staff, on_text, error=f"不納欠損を決定できません: {message(exc)}", reason=reason
        )
    return redirect(
        f"{WRITEOFF_PATH}?on={day.isoformat()}", f"{len(ids)}件・{total:,}円の不納欠損を決定しました。"
    )


# -- a person's 滞納整理 -----------------------------------------------------------------------------


def _person_context(engine: Engine, staff: Staff, person_no: str) -> dict[str, Any]:
    today = clock.today()
    with engine.begin() as conn:
        found = persons.search(conn, staff.ctx, SearchCriteria(person_no=person_no)).rows
        if not found:
            raise LookupError(f"宛名番号 {person_no} の方は登録されていません")
        restriction = writeoff.restriction_for(
            conn, staff.ctx, person_no=person_no, business=BUSINESS, on=today
        )
        fees = demands.fees_owed(conn, staff.ctx, person_no=person_no, business=BUSINESS)
        notes = (
            arr.contact_notes(conn, staff.ctx, person_no=person_no, business=BUSINESS)
            if staff.may_record
            else []
        )
        arrears = int(
            conn.execute(
                text(
                    "SELECT coalesce(sum(r.amount - r.paid), 0) FROM collection.receivable r"
                    " JOIN identity.person p USING (person_id) WHERE p.person_no = :p AND r.business = :b"
                    " AND r.paid < r.amount AND r.due_date < :d"
                ),
                {"p": person_no, "b": BUSINESS, "d": today},
            ).scalar_one()
        )
        plans = [
            dict(r._mapping)
            for r in conn.execute(
                text(
                    "SELECT pl.plan_id, pl.signed_on, pl.total, pl.status, pl.note,"
                    " (SELECT count(*) FROM collection.plan_installment i WHERE i.plan_id = pl.plan_id) AS installments,"
                    " (SELECT min(i.due_date) FROM collection.plan_installment i WHERE i.plan_id = pl.plan_id) AS first_on,"
                    " (SELECT max(i.due_date) FROM collection.plan_installment i WHERE i.plan_id = pl.plan_id) AS last_on"
                    " FROM collection.plan pl JOIN identity.person p USING (person_id)"
                    " WHERE p.person_no = :p AND pl.business = :b ORDER BY pl.plan_id DESC"
                ),
                {"p": person_no, "b": BUSINESS},
            )
        ]
    return {
        "active": "collection-arrears",
        "person_no": person_no,
        "person": found[0],
        "status": restriction.status,
        "reduction": restriction.reduction,
        "notes": notes,
        "fees": fees,
        "fees_owed": sum(f.owed for f in fees),
        "plans": plans,
        "arrears": arrears,
        "channels": arr.CHANNELS,
        "restriction_kinds": RESTRICTION_KINDS,
        "rows": MAX_INSTALLMENTS,
        "may_record": staff.may_record,
        "today": today,
        "plan_form": {},
        "contact_form": {},
        "error": None,
        "error_at": None,
    }


def _person_page(
    request: Request,
    engine: Engine,
    staff: Staff,
    person_no: str,
    *,
    error: str | None = None,
    error_at: str | None = None,
    plan_form: dict[str, str] | None = None,
    contact_form: dict[str, str] | None = None,
    status: int = 422,
) -> HTMLResponse:
    try:
        context = _person_context(engine, staff, person_no)
    except Refused as exc:
        return render(request, "error.html", {"message": message(exc)}, 404)
    context |= {
        "error": error,
        "error_at": error_at,
        "plan_form": plan_form or {},
        "contact_form": contact_form or {},
    }
    return render(request, "collection/arrears_person.html", context, status if error else 200)


@router.get("/kaigo/persons/{person_no}/arrears", response_class=HTMLResponse)
def person_arrears_page(request: Request, engine: EngineDep, staff: StaffDep, person_no: str) -> HTMLResponse:
    return _person_page(request, engine, staff, person_no)


@router.post("/kaigo/persons/{person_no}/arrears/plans", response_class=HTMLResponse)
async def make_plan(request: Request, engine: EngineDep, staff: StaffDep, person_no: str) -> Response:
    """分納計画（分納誓約）: 誓約日 and up to 12 納付予定 that add up to the 滞納額."""
    try:
        _require_clerk(engine, staff, Action.CREATE, [person_no])
    except AccessDenied as exc:
        return _person_page(
            request,
            engine,
            staff,
            person_no,
            error=f"分納計画を記録できません: {exc}",
            error_at="plan",
            status=403,
        )
    form = {k: str(v) for k, v in (await request.form()).items() if k != "csrf_token"}
    try:
        signed = parse_date(form.get("signed_on", ""), "誓約日")
        if signed is None:
            raise InputError("誓約日を入力してください")
        if signed > clock.today():
            raise InputError(f"誓約日が未来の日付です: {form.get('signed_on')}")
        schedule: list[tuple[date, int]] = []
        for i in range(1, MAX_INSTALLMENTS + 1):
            when_text, amount_text = form.get(f"due_on_{i}", "").strip(), form.get(f"amount_{i}", "").strip()
            if not when_text and not amount_text:
                continue
            when = parse_date(when_text, f"{i}回目の納付予定日")
            if when is None:
                raise InputError(f"{i}回目の納付予定日を入力してください")
            schedule.append((when, parse_amount(amount_text)))
        note = form.get("note", "").strip()
        if len(note) > MAX_TEXT:
            raise InputError(f"備考は{MAX_TEXT}文字以内で入力してください")
        with engine.begin() as conn:
            arr.make_plan(
                conn, staff.ctx, person_no=person_no, business=BUSINESS, signed_on=signed, schedule=schedule,
                note=note,
            )  # fmt: skip
    except AccessDenied as exc:
        return _person_page(
            request, engine, staff, person_no, error=f"分納計画を記録できません: {exc}", error_at="plan",
            plan_form=form, status=403,
        )  # fmt: skip
    except Refused as exc:
        return _person_page(
            request, engine, staff, person_no, error=f"分納計画を記録できません: {message(exc)}", error_at="plan",
            plan_form=form,
        )  # fmt: skip
    return redirect(
        f"/kaigo/persons/{person_no}/arrears#plans",
        f"分納計画（{len(schedule)}回・{sum(a for _, a in schedule):,}円）を記録しました。",
    )


@router.post("/kaigo/persons/{person_no}/arrears/contacts", response_class=HTMLResponse)
def record_contact(
    request: Request,
    engine: EngineDep,
    staff: StaffDep,
    person_no: str,
    channel: Annotated[str, Form()] = "",
    summary: Annotated[str, Form()] = "",
    contacted_on: Annotated[str, Form()] = "",
    promise_on: Annotated[str, Form()] = "",
    promise_amount: Annotated[str, Form()] = "",
) -> Response:
    """折衝記録: 方法, 内容 and any 納付約束 (約束日・約束額)."""
    form = {
        "channel": channel, "summary": summary, "contacted_on": contacted_on, "promise_on": promise_on,
        "promise_amount": promise_amount,
    }  # fmt: skip
    try:
        _require_clerk(engine, staff, Action.CREATE, [person_no])
        if channel not in arr.CHANNELS:
            raise InputError("折衝の方法を選んでください")
        if not summary.strip():
            raise InputError("折衝の内容を入力してください")
        if len(summary) > MAX_TEXT:
            raise InputError(f"内容は{MAX_TEXT}文字以内で入力してください")
        day = parse_date(contacted_on, "折衝日") or clock.today()
        if day > clock.today():
            raise InputError(f"折衝日が未来の日付です: {contacted_on}")
        promised_on = parse_date(promise_on, "約束日")
        promised = parse_amount(promise_amount) if promise_amount.strip() else None
        if promised is not None and promised_on is None:
            raise InputError("約束額を入力したときは約束日も入力してください")
        with engine.begin() as conn:
            arr.record_contact(
                conn, staff.ctx, person_no=person_no, business=BUSINESS, channel=channel, summary=summary,
                contacted_on=day, promise_on=promised_on, promise_amount=promised,
            )  # fmt: skip
    except AccessDenied as exc:
        return _person_page(
            request, engine, staff, person_no, error=f"折衝記録を記録できません: {exc}", error_at="contact",
            contact_form=form, status=403,
        )  # fmt: skip
    except Refused as exc:
        return _person_page(
            request, engine, staff, person_no, error=f"折衝記録を記録できません: {message(exc)}",
            error_at="contact", contact_form=form,
        )  # fmt: skip
    return redirect(f"/kaigo/persons/{person_no}/arrears#contacts", f"折衝記録（{channel}）を記録しました。")


@router.post("/kaigo/persons/{person_no}/arrears/fees", response_class=HTMLResponse)
def collect_fee(
    request: Request,
    engine: EngineDep,
    staff: StaffDep,
    person_no: str,
    amount: Annotated[str, Form()] = "",
    paid_on: Annotated[str, Form()] = "",
) -> Response:
    """窓口での督促手数料の収納 (条例, 地方自治法第231条の3第2項), oldest 督促 first."""
    try:
        _require_clerk(engine, staff, Action.CREATE, [person_no])
        yen = parse_amount(amount)
        day = parse_date(paid_on, "納付日") or clock.today()
        with engine.begin() as conn:
            demands.collect_fee(
                conn, staff.ctx, person_no=person_no, business=BUSINESS, amount=yen, paid_on=day
            )
    except AccessDenied as exc:
        return _person_page(
            request,
            engine,
            staff,
            person_no,
            error=f"督促手数料を収納できません: {exc}",
            error_at="fee",
            status=403,
        )
    except Refused as exc:
        return _person_page(
            request,
            engine,
            staff,
            person_no,
            error=f"督促手数料を収納できません: {message(exc)}",
            error_at="fee",
        )
    return redirect(f"/kaigo/persons/{person_no}/arrears#fees", f"督促手数料 {yen:,}円を収納しました。")


@router.get("/kaigo/persons/{person_no}/arrears/restriction.pdf", response_model=None)
def restriction_notice(
    request: Request,
    engine: EngineDep,
    staff: StaffDep,
    person_no: str,
    kind: Annotated[str, Query()] = "",
    start_on: Annotated[str, Query()] = "",
    reply_by: Annotated[str, Query()] = "",
    copay: Annotated[str, Query()] = "1",
) -> Response:
    """給付制限の予告・決定通知書 (介護保険法第66条〜第69条) of the person as of today, as PDF."""
    try:
        _require_clerk(engine, staff, Action.PRINT, [person_no])
        if kind not in RESTRICTION_KINDS:
            raise InputError("通知書の種類を選んでください")
        start = parse_date(start_on, "適用開始日")
        if start is None:
            raise InputError("適用開始日を入力してください")
        reply = parse_date(reply_by, "弁明書の提出期限")
        if kind == "change_advance" and reply is None:
            raise InputError("予告通知書には弁明書の提出期限を入力してください")
        if copay not in ("1", "2", "3"):
            raise InputError("通常の利用者負担割合を選んでください")
        with engine.begin() as conn:
            pdf = kaigo_receivables.restriction_pdf(
                conn, staff.ctx, person_no=person_no, kind=kind, issued_on=clock.today(), start_on=start,
                reply_by=reply, normal_copay_tenths=int(copay),
            )  # fmt: skip
    except AccessDenied as exc:
        return _person_page(
            request, engine, staff, person_no, error=f"通知書を作成できません: {exc}", error_at="restriction",
            status=403,
        )  # fmt: skip
    except Refused as exc:
        return _person_page(
            request, engine, staff, person_no, error=f"通知書を作成できません: {message(exc)}",
            error_at="restriction",
        )  # fmt: skip
    return pdf_response(pdf, f"restriction-{kind}-{person_no}.pdf")
