"""Screens of 介護保険料 賦課 at the counter: a person's 保険料 panel (現在の賦課・徴収予定・賦課履歴・減免),
the 決定通知書 PDF, and the office's 賦課・通知書 page (賦課処理の実行, 通知書の一括作成, 賦課結果CSV).

Thin, like :mod:`kiban.web.kaigo_pages`: parse the form, call one function of
:mod:`kiban.kaigo.assessment.service` (or the job :func:`kiban.kaigo.assessment.jobs.assess`),
render. Every route first passes the guard with the session's context for the 処理事由 保険料の賦課
(``kaigo.assessment``), so a refusal is logged before anything about a record is read; the rank
the guard reports decides which forms are offered (減免の受付: 担当者以上, 減免の決定: 係長). A request
the rules refuse (``PremiumError``, a bad date) is shown on the screen in Japanese (422); a refusal
of the guard inside a service (rank) is shown on the same screen with 403. No screen here shows a
個人番号 (the 賦課 tables have none).

The bulk print runs in a background thread, as the 被保険者証 一括交付 does, and its progress page
refreshes itself until the batch is done.
"""

from __future__ import annotations

import logging
import threading
import time
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from kiban.identity import persons
from kiban.identity.model import CLERK_RANK
from kiban.identity.persons import SearchCriteria
from kiban.identity.repo import IdentityError
from kiban.kaigo.assessment import jobs, service
from kiban.kaigo.assessment.jobs import AssessError
from kiban.kaigo.assessment.service import CHIEF_RANK, PremiumError
from kiban.rules.kaigo_premium import load_table, table_keys
from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action, Business
from kiban.security.errors import AccessDenied
from kiban.shared import clock
from kiban.shared.fiscal import fiscal_year as fiscal_year_of
from kiban.shared.fiscal import wareki_fiscal_year_label
from kiban.web import deps
from kiban.web.forms import InputError, parse_date, pdf_response
from kiban.web.nav import MenuItem, register
from kiban.web.session import access
from kiban.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
PURPOSE = "kaigo.assessment"  # 保険料の賦課 (security.purpose seed)
BULK_PATH = "/kaigo/premium/bulk"
EngineDep = Annotated[Engine, Depends(deps.engine)]

register(MenuItem("kaigo-premium-bulk", "保険料 賦課・通知書", BULK_PATH, Business.KAIGO))

Refused = (InputError, PremiumError, IdentityError, AssessError, LookupError)
RUN_KINDS = {"initial": "本算定", "correction": "更正"}
RUN_COUNTS = {"initial": "本算定", "new": "資格取得", "correction": "更正", "review": "要確認"}
STATUS = {"running": "実行中", "done": "完了", "failed": "異常終了"}
BULK_WAIT_SECONDS = 15.0


@dataclass(frozen=True)
class Staff:
    """The session's context and the rank of the 介護保険 grant the guard found."""

    ctx: AccessContext
    rank: int

    @property
    def may_apply(self) -> bool:
        return self.rank >= CLERK_RANK

    @property
    def may_decide(self) -> bool:
        return self.rank >= CHIEF_RANK


def assessment_access(
    engine: EngineDep, ctx: Annotated[AccessContext, Depends(access(Business.KAIGO, PURPOSE))]
) -> Staff:
    """Any 介護保険 grant, checked (and a refusal logged) before the route reads or parses anything."""
    with engine.begin() as conn:
        granted = guard.require(conn, ctx, action=Action.VIEW, log=False)
    return Staff(ctx, granted.role_rank)


StaffDep = Annotated[Staff, Depends(assessment_access)]


def message(exc: Exception) -> str:
    return str(exc.args[0]) if exc.args else str(exc)


def year_label(fy: int) -> str:
    return f"{wareki_fiscal_year_label(fy)}（{fy}年度）"


def parse_year(value: str, label: str = "年度") -> int:
    text_ = unicodedata.normalize("NFKC", value or "").strip().removesuffix("年度")
    if not text_.isascii() or not text_.isdigit() or not 2000 <= int(text_) <= 2100:
        raise InputError(f"{label}を選んでください（例: 2025）")
    return int(text_)


def parse_yen(value: str, label: str, *, required: bool) -> int | None:
    """Yen as typed at a counter: 24277, 24,277, ２４２７７, 24277円."""
    typed = unicodedata.normalize("NFKC", value or "").strip().replace(",", "").removesuffix("円").strip()
    if not typed:
        if required:
            raise InputError(f"{label}を入力してください")
        return None
    if not typed.isascii() or not typed.isdigit():
        raise InputError(f"{label}は円単位の0以上の整数で入力してください（例: 24277）: {value}")
    return int(typed)


# -- 保険料 panel of a person --------------------------------------------------------------------


def _person_context(engine: Engine, staff: Staff, person_no: str) -> dict[str, Any]:
    with engine.begin() as conn:
        h = service.history(conn, staff.ctx, person_no)
        found = persons.search(conn, staff.ctx, SearchCriteria(person_no=person_no)).rows
    current = [a for a in h.assessments if a.current]
    years = [a.fiscal_year for a in current]
    return {
        "active": "kaigo-insured",
        "h": h,
        "person": found[0] if found else None,
        "current": current,
        "pending": [r for r in h.reductions if r.status == "applied"],
        "years": [{"value": y, "label": year_label(y)} for y in years],
        "year_label": year_label,
        "reasons": service.REDUCTION_REASONS,
        "may_apply": staff.may_apply,
        "may_decide": staff.may_decide,
        "today": clock.today(),
        "form": {},
        "error": None,
        "open": None,
    }


def _person_page(
    request: Request,
    engine: Engine,
    staff: Staff,
    person_no: str,
    *,
    error: str | None = None,
    status: int = 422,
    open_: str | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    """The panel, or with ``error`` the panel again (422, or 403 for a rank refusal) with the refused
    form open and refilled."""
    try:
        context = _person_context(engine, staff, person_no)
    except Refused as exc:
        return render(request, "error.html", {"message": message(exc)}, 404)
    context |= {"error": error, "open": open_, "form": form or {}}
    return render(request, "kaigo/premium_person.html", context, status if error else 200)


@router.get("/kaigo/persons/{person_no}/premium", response_class=HTMLResponse)
def person_page(request: Request, engine: EngineDep, staff: StaffDep, person_no: str) -> HTMLResponse:
    return _person_page(request, engine, staff, person_no)


def _back(person_no: str, note: str) -> Response:
    return redirect(f"/kaigo/persons/{person_no}/premium", note)


@router.post("/kaigo/persons/{person_no}/premium/reductions", response_class=HTMLResponse)
def apply_reduction(
    request: Request,
    engine: EngineDep,
    staff: StaffDep,
    person_no: str,
    fiscal_year: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    detail: Annotated[str, Form()] = "",
    applied_on: Annotated[str, Form()] = "",
    requested_amount: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "fiscal_year": fiscal_year, "reason": reason, "detail": detail, "applied_on": applied_on,
        "requested_amount": requested_amount,
    }  # fmt: skip
    try:
        if not reason:
            raise InputError("減免の事由を選んでください")
        with engine.begin() as conn:
            reduction_id = service.apply_reduction(
                conn, staff.ctx, person_no=person_no, fiscal_year=parse_year(fiscal_year),
                reason=reason, detail=detail, applied_on=parse_date(applied_on, "申請日"),
                requested_amount=parse_yen(requested_amount, "申請額", required=False),
            )  # fmt: skip
    except AccessDenied as exc:
        return _person_page(
            request, engine, staff, person_no, error=f"減免申請を受け付けられません: {exc}",
            status=403, open_="apply", form=form,
        )  # fmt: skip
    except Refused as exc:
        return _person_page(
            request, engine, staff, person_no, error=f"減免申請を受け付けられません: {message(exc)}",
            open_="apply", form=form,
        )  # fmt: skip
    return _back(
        person_no, f"減免申請を受け付けました（申請番号 {reduction_id}）。決定は受付者以外の係長が行います。"
    )


def _reduction_owner(engine: Engine, reduction_id: int) -> str | None:
    """The 宛名番号 of the person a 減免申請 is about (to return to that person's panel)."""
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT p.person_no FROM kaigo.reduction r JOIN kaigo.insured i USING (insured_id)"
                " JOIN identity.person p ON p.person_id = i.person_id WHERE r.reduction_id = :r"
            ),
            {"r": reduction_id},
        ).scalar()
    return str(found) if found is not None else None


@router.post("/kaigo/premium/reductions/{reduction_id}/decide", response_class=HTMLResponse)
def decide_reduction(
    request: Request,
    engine: EngineDep,
    staff: StaffDep,
    reduction_id: int,
    decision: Annotated[str, Form()] = "",
    amount: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    decided_on: Annotated[str, Form()] = "",
) -> Response:
    person_no = _reduction_owner(engine, reduction_id)
    if person_no is None:
        return render(request, "error.html", {"message": f"減免申請 {reduction_id} はありません"}, 404)
    form = {"decision": decision, "amount": amount, "note": note, "decided_on": decided_on}
    open_ = f"r{reduction_id}"
    try:
        if decision not in ("approve", "reject"):
            raise InputError("承認か却下かを選んでください")
        approve = decision == "approve"
        with engine.begin() as conn:
            row = service.decide_reduction(
                conn, staff.ctx, reduction_id=reduction_id, approve=approve,
                amount=parse_yen(amount, "減免額", required=True) if approve else None,
                note=note, decided_on=parse_date(decided_on, "決定日"),
            )  # fmt: skip
    except AccessDenied as exc:
        return _person_page(
            request, engine, staff, person_no, error=f"減免を決定できません: {exc}", status=403,
            open_=open_, form=form,
        )  # fmt: skip
    except Refused as exc:
        return _person_page(
            request, engine, staff, person_no, error=f"減免を決定できません: {message(exc)}",
            open_=open_, form=form,
        )  # fmt: skip
    except IntegrityError:
        # kaigo.reduction_one_approved: one approved 減免 per person and 年度.
        return _person_page(
            request, engine, staff, person_no, open_=open_, form=form,
            error="減免を決定できません: この年度の減免は既に承認されています（承認済みの減免を確認してください）",
        )  # fmt: skip
    if row is None:
        return _back(person_no, f"減免申請 {reduction_id} を却下しました。")
    return _back(
        person_no,
        f"減免申請 {reduction_id} を承認しました（減免額 {row.reduction:,}円・決定額 {row.payable:,}円、"
        f"{row.version}版）。変更通知書を発行してください。",
    )


@router.get("/kaigo/persons/{person_no}/premium/{fiscal_year}/notice.pdf")
def notice_pdf(
    request: Request, engine: EngineDep, staff: StaffDep, person_no: str, fiscal_year: int
) -> Response:
    """決定（変更）通知書 of the year's current 賦課, recorded in the 発行履歴 (a print, logged)."""
    try:
        with engine.begin() as conn:
            pdf = service.notice_pdf(conn, staff.ctx, person_no=person_no, fiscal_year=fiscal_year)
    except Refused as exc:
        return render(request, "error.html", {"message": message(exc)}, 404)
    return pdf_response(pdf, f"kaigo-premium-{fiscal_year}-{person_no}.pdf")


# -- 賦課・通知書 (the office's page) -------------------------------------------------------------


@dataclass(frozen=True)
class NoticeBatch:
    """決定通知書の一括作成の進捗 (kaigo.notice_batch)."""

    batch_id: int
    fiscal_year: int
    run_id: int | None
    issued_on: date
    total: int
    done: int
    status: str
    error: str | None
    started_at: Any
    finished_at: Any
    has_pdf: bool

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return 0 if self.total == 0 else min(99, self.done * 100 // self.total)


@dataclass(frozen=True)
class RunRow:
    """One 賦課処理 (kaigo.assess_run)."""

    run_id: int
    fiscal_year: int
    kind: str
    status: str
    total: int
    done: int
    counts: dict[str, int]
    digest: str | None
    started_at: Any
    finished_at: Any

    @property
    def kind_label(self) -> str:
        return RUN_KINDS.get(self.kind, self.kind)


_BATCH = (
    "SELECT batch_id, fiscal_year, run_id, issued_on, total, done, status, error, started_at, finished_at,"
    " pdf IS NOT NULL AS has_pdf FROM kaigo.notice_batch"
)
_RUN = (
    "SELECT run_id, fiscal_year, kind, status, total, done, counts, digest, started_at, finished_at"
    " FROM kaigo.assess_run"
)


def _batches(conn: Any, limit: int = 20) -> list[NoticeBatch]:
    rows = conn.execute(text(_BATCH + " ORDER BY batch_id DESC LIMIT :n"), {"n": limit})
    return [NoticeBatch(**dict(r._mapping)) for r in rows]


def _runs(conn: Any, limit: int = 10) -> list[RunRow]:
    rows = conn.execute(text(_RUN + " ORDER BY run_id DESC LIMIT :n"), {"n": limit})
    return [RunRow(**(dict(r._mapping) | {"counts": dict(r.counts or {})})) for r in rows]


def _table_years() -> list[int]:
    return sorted({y for key in table_keys() for y in load_table(key).fiscal_years})


def _bulk_page(
    request: Request,
    engine: Engine,
    staff: Staff,
    *,
    form: dict[str, str] | None = None,
    error: str | None = None,
    error_at: str | None = None,
    status: int = 422,
    focus: NoticeBatch | None = None,
) -> HTMLResponse:
    # Counts and batch states only, no personal data: checked by the dependency, not logged.
    with engine.begin() as conn:
        batches = _batches(conn)
        runs = _runs(conn)
        assessed = [
            int(y) for y in conn.execute(text("SELECT DISTINCT fiscal_year FROM kaigo.assessment")).scalars()
        ]
    today = clock.today()
    table_years = _table_years()
    this_year = fiscal_year_of(today)
    default = max(assessed) if assessed else (this_year if this_year in table_years else table_years[-1])
    notice_years = sorted(set(assessed) | {this_year}, reverse=True)
    form = {
        "fiscal_year": str(default), "assess_year": str(default), "export_year": str(default),
        "issued_on": today.isoformat(), "run_id": "",
    } | (form or {})  # fmt: skip
    context = {
        "active": "kaigo-premium-bulk",
        "batches": batches,
        "runs": runs,
        "assess_years": [{"value": y, "label": year_label(y)} for y in sorted(table_years, reverse=True)],
        "notice_years": [{"value": y, "label": year_label(y)} for y in notice_years],
        "done_runs": [r for r in runs if r.status == "done"],
        "run_counts": RUN_COUNTS,
        "status_labels": STATUS,
        "form": form,
        "error": error,
        "error_at": error_at,
        "focus": focus,
        "year_label": year_label,
    }
    return render(request, "kaigo/premium_bulk.html", context, status if error else 200)


@router.get(BULK_PATH, response_class=HTMLResponse)
def bulk_page(request: Request, engine: EngineDep, staff: StaffDep) -> HTMLResponse:
    return _bulk_page(request, engine, staff)


@router.post("/kaigo/premium/assess", response_class=HTMLResponse)
def run_assessment(
    request: Request, engine: EngineDep, staff: StaffDep, assess_year: Annotated[str, Form()] = ""
) -> Response:
    """賦課処理 (本算定, or 更正 after the first run) of a 年度, started by a clerk from the screen."""
    form = {"assess_year": assess_year}
    try:
        fy = parse_year(assess_year)
        with engine.begin() as conn:
            guard.require(
                conn, staff.ctx, action=Action.UPDATE, min_rank=CLERK_RANK,
                detail={"what": "kaigo.assess.start", "fiscal_year": fy},
            )  # fmt: skip
        result = jobs.assess(engine, fiscal_year=fy)
    except AccessDenied as exc:
        return _bulk_page(request, engine, staff, form=form, error=str(exc), error_at="assess", status=403)
    except Refused as exc:
        return _bulk_page(
            request,
            engine,
            staff,
            form=form,
            error=f"賦課処理を実行できません: {message(exc)}",
            error_at="assess",
        )
    counts = "・".join(f"{label} {result.counts.get(key, 0):,}件" for key, label in RUN_COUNTS.items())
    resumed = "（中断していた処理を再開）" if result.resumed else ""
    return redirect(
        f"{BULK_PATH}#run-{result.run_id}",
        f"{year_label(fy)}の賦課処理（{RUN_KINDS.get(result.kind, result.kind)}・実行番号 {result.run_id}）"
        f"が完了しました{resumed}: {counts}。",
    )


def _new_batch(engine: Engine, after: int, fy: int, issued_on: date) -> int | None:
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT min(batch_id) FROM kaigo.notice_batch WHERE batch_id > :a AND fiscal_year = :fy"
                " AND issued_on = :d"
            ),
            {"a": after, "fy": fy, "d": issued_on},
        ).scalar()
    return int(found) if found is not None else None


def _run_bulk(
    engine: Engine, after: int, fy: int, issued_on: date, run_id: int | None, failed: list[str]
) -> None:
    """The bulk print in its thread; a failure is recorded on the batch (status 'failed')."""
    try:
        service.bulk_notices(engine, fiscal_year=fy, run_id=run_id, issued_on=issued_on)
    except Exception as exc:
        log.exception("決定通知書の一括作成（%s年度）が異常終了しました", fy)
        failed.append(message(exc) or type(exc).__name__)
        batch_id = _new_batch(engine, after, fy, issued_on)
        if batch_id is not None:
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "UPDATE kaigo.notice_batch SET status = 'failed', error = :e, finished_at = clock_timestamp()"
                        " WHERE batch_id = :b AND status = 'running'"
                    ),
                    {"e": failed[-1][:500], "b": batch_id},
                )


@router.post(BULK_PATH, response_class=HTMLResponse)
def start_bulk(
    request: Request,
    engine: EngineDep,
    staff: StaffDep,
    fiscal_year: Annotated[str, Form()] = "",
    issued_on: Annotated[str, Form()] = "",
    run_id: Annotated[str, Form()] = "",
) -> Response:
    """決定通知書の一括作成: starts the batch in a thread and shows its progress page."""
    form = {"fiscal_year": fiscal_year, "issued_on": issued_on, "run_id": run_id}
    try:
        fy = parse_year(fiscal_year)
        day = parse_date(issued_on, "発行日") or clock.today()
        run = int(run_id) if run_id.strip().isdigit() else None
        with engine.begin() as conn:
            guard.require(
                conn, staff.ctx, action=Action.PRINT, min_rank=CLERK_RANK,
                detail={"what": "kaigo.premium.notice.bulk.start", "fiscal_year": fy, "run_id": run},
            )  # fmt: skip
            after = int(
                conn.execute(text("SELECT coalesce(max(batch_id), 0) FROM kaigo.notice_batch")).scalar_one()
            )
    except AccessDenied as exc:
        return _bulk_page(request, engine, staff, form=form, error=str(exc), error_at="bulk", status=403)
    except Refused as exc:
        return _bulk_page(
            request,
            engine,
            staff,
            form=form,
            error=f"一括作成を開始できません: {message(exc)}",
            error_at="bulk",
        )
    failed: list[str] = []
    worker = threading.Thread(
        target=_run_bulk, args=(engine, after, fy, day, run, failed), name=f"kaigo-notices-{fy}", daemon=True
    )
    worker.start()
    # The service records the batch in its first transaction: wait for that row, then show it.
    deadline = time.monotonic() + BULK_WAIT_SECONDS
    batch_id = _new_batch(engine, after, fy, day)
    while batch_id is None and worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
        batch_id = _new_batch(engine, after, fy, day)
    if batch_id is None:
        batch_id = _new_batch(engine, after, fy, day)
    if batch_id is None:
        reason = failed[0] if failed else "開始の記録を確認できません（しばらくして一覧を確認してください）"
        return _bulk_page(
            request, engine, staff, form=form, error=f"一括作成を開始できません: {reason}", error_at="bulk"
        )
    return redirect(f"{BULK_PATH}/{batch_id}", f"決定通知書の一括作成 {batch_id} を開始しました。")


def _batch(engine: Engine, batch_id: int) -> NoticeBatch | None:
    with engine.connect() as conn:
        row = conn.execute(text(_BATCH + " WHERE batch_id = :b"), {"b": batch_id}).first()
    return NoticeBatch(**dict(row._mapping)) if row is not None else None


@router.get(BULK_PATH + "/{batch_id}", response_class=HTMLResponse)
def bulk_batch_page(request: Request, engine: EngineDep, staff: StaffDep, batch_id: int) -> HTMLResponse:
    # Progress is counts only, no personal data: checked by the dependency, not logged at every refresh.
    batch = _batch(engine, batch_id)
    if batch is None:
        return render(
            request, "error.html", {"message": f"決定通知書の一括作成 {batch_id} はありません"}, 404
        )
    return _bulk_page(request, engine, staff, focus=batch)


@router.get(BULK_PATH + "/{batch_id}/pdf")
def bulk_pdf(request: Request, engine: EngineDep, staff: StaffDep, batch_id: int) -> Response:
    """The batch's PDF (all its notices), logged as a print naming every person in it."""
    with engine.begin() as conn:
        guard.require(conn, staff.ctx, action=Action.PRINT, min_rank=CLERK_RANK, log=False)
        pdf = conn.execute(
            text("SELECT pdf FROM kaigo.notice_batch WHERE batch_id = :b"), {"b": batch_id}
        ).scalar()
        if pdf is None:
            found = _batch(engine, batch_id) is not None
            note = f"決定通知書の一括作成 {batch_id} の PDF はまだありません" if found else None
            return render(
                request,
                "error.html",
                {"message": note or f"決定通知書の一括作成 {batch_id} はありません"},
                404,
            )
        subjects = [
            str(p)
            for p in conn.execute(
                text(
                    "SELECT DISTINCT p.person_no FROM kaigo.notice n JOIN kaigo.assessment a USING (assessment_id)"
                    " JOIN kaigo.insured i USING (insured_id) JOIN identity.person p ON p.person_id = i.person_id"
                    " WHERE n.batch_id = :b ORDER BY 1"
                ),
                {"b": batch_id},
            ).scalars()
        ]
        audit.record(
            conn, staff.ctx, action=Action.PRINT, subjects=subjects,
            detail={"what": "kaigo.premium.notice.bulk.pdf", "batch_id": batch_id, "count": len(subjects)},
        )  # fmt: skip
    return pdf_response(bytes(pdf), f"kaigo-premium-notices-{batch_id}.pdf")


@router.get("/kaigo/premium/export.csv")
def export_csv(request: Request, engine: EngineDep, staff: StaffDep, fiscal_year: str = "") -> Response:
    """賦課結果 CSV of a 年度 (UTF-8 with BOM, no 個人番号 column), logged as an export."""
    try:
        fy = parse_year(fiscal_year)
        with engine.begin() as conn:
            body = service.export_csv(conn, staff.ctx, fiscal_year=fy)
    except Refused as exc:
        return _bulk_page(
            request, engine, staff, form={"export_year": fiscal_year},
            error=f"賦課結果CSVを出力できません: {message(exc)}", error_at="export",
        )  # fmt: skip
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="kaigo-premium-{fy}.csv"',
            "Cache-Control": "no-store",
        },
    )
