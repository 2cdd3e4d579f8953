"""Screens of 庁内連携管理 (the linkage hub's administrators): 連携項目一覧, データ使用承認願 (一覧・
新規・承認・却下), 利用登録 (一覧・取消), 連携記録 (filters: 連携先, データセット, 期間).

Thin: parse the form, call one function of :mod:`kiban.linkage`, render. Every route first passes the
guard for 庁内連携管理 (Business.RENKEI, 処理事由 ``renkei.operation``), so a refusal is logged before
anything is read; the services check the role again (申請: 連携運用担当, 決裁・取消: 連携承認者). A
request the rules refuse is shown on the same screen in Japanese (422), a rank refusal with 403.
No screen here shows a 個人番号 (the 連携記録 shows the 宛名番号 and whether a number was handed over).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from kiban.linkage import applications, transfers
from kiban.linkage.applications import APPROVER_RANK, OPERATOR_RANK, ApplicationForm
from kiban.linkage.errors import LinkageError
from kiban.rules.linkage import Catalogue, load_catalogue
from kiban.security import guard
from kiban.security.context import AccessContext, Action, Business
from kiban.security.errors import AccessDenied
from kiban.web import deps
from kiban.web.forms import InputError, parse_date
from kiban.web.nav import MenuItem, register
from kiban.web.session import access
from kiban.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
PURPOSE = "renkei.operation"  # 連携の運用 (security.purpose seed)
EngineDep = Annotated[Engine, Depends(deps.engine)]

register(MenuItem("linkage-applications", "データ使用承認願", "/linkage/applications", Business.RENKEI))
register(MenuItem("linkage-subscriptions", "連携の利用登録", "/linkage/subscriptions", Business.RENKEI))
register(MenuItem("linkage-transfers", "連携記録", "/linkage/transfers", Business.RENKEI))
register(MenuItem("linkage-catalogue", "連携項目一覧", "/linkage/catalogue", Business.RENKEI))


@dataclass(frozen=True)
class Staff:
    ctx: AccessContext
    rank: int

    @property
    def may_apply(self) -> bool:
        return self.rank >= OPERATOR_RANK

    @property
    def may_decide(self) -> bool:
        return self.rank >= APPROVER_RANK


def linkage_access(
    engine: EngineDep, ctx: Annotated[AccessContext, Depends(access(Business.RENKEI, PURPOSE))]
) -> Staff:
    """A 庁内連携管理 grant, checked (a refusal logged) before the route reads or parses anything."""
    with engine.begin() as conn:
        granted = guard.require(conn, ctx, action=Action.VIEW, log=False)
    return Staff(ctx, granted.role_rank)


StaffDep = Annotated[Staff, Depends(linkage_access)]


def _message(exc: Exception) -> str:
    return str(exc.args[0]) if exc.args else str(exc)


def _labels(cat: Catalogue) -> dict[str, Any]:
    return {
        "consumers": {c.code: c for c in cat.consumers},
        "datasets": {d.code: d for d in cat.datasets},
        "bases": {b.code: b for b in cat.bases},
    }


@router.get("/linkage/catalogue", response_class=HTMLResponse)
def catalogue_page(request: Request, staff: StaffDep) -> HTMLResponse:
    cat = load_catalogue()
    return render(request, "linkage/catalogue.html", {"active": "linkage-catalogue", "cat": cat})


@router.get("/linkage/applications", response_class=HTMLResponse)
def applications_page(request: Request, engine: EngineDep, staff: StaffDep, status: str = "") -> HTMLResponse:
    chosen = status if status in applications.STATUS_LABELS else None
    with engine.begin() as conn:
        rows = applications.list_applications(conn, staff.ctx, status=chosen)
    context = {
        "active": "linkage-applications",
        "rows": rows,
        "status": chosen or "",
        "statuses": applications.STATUS_LABELS,
        "may_apply": staff.may_apply,
    } | _labels(load_catalogue())
    return render(request, "linkage/applications.html", context)


def _new_page(
    request: Request, staff: Staff, form: dict[str, Any], error: str | None = None, status: int = 200
) -> HTMLResponse:
    cat = load_catalogue()
    dataset = next((d for d in cat.datasets if d.code == form.get("dataset")), None)
    context = {
        "active": "linkage-applications",
        "cat": cat,
        "dataset": dataset,
        "form": form,
        "error": error,
        "may_apply": staff.may_apply,
    }
    return render(request, "linkage/application_new.html", context, status)


@router.get("/linkage/applications/new", response_class=HTMLResponse)
def new_application_page(
    request: Request, staff: StaffDep, dataset: str = "", consumer: str = ""
) -> HTMLResponse:
    return _new_page(request, staff, {"dataset": dataset, "consumer": consumer, "items": []})


@router.post("/linkage/applications", response_class=HTMLResponse)
def submit_application(
    request: Request,
    engine: EngineDep,
    staff: StaffDep,
    consumer: Annotated[str, Form()] = "",
    dataset: Annotated[str, Form()] = "",
    items: Annotated[list[str] | None, Form()] = None,
    basis_code: Annotated[str, Form()] = "",
    purpose: Annotated[str, Form()] = "",
    conditions: Annotated[str, Form()] = "",
    valid_from: Annotated[str, Form()] = "",
    valid_to: Annotated[str, Form()] = "",
) -> Response:
    """データ使用承認願の提出: nothing is written when any field is refused."""
    form = {
        "consumer": consumer, "dataset": dataset, "items": items or [], "basis_code": basis_code,
        "purpose": purpose, "conditions": conditions, "valid_from": valid_from, "valid_to": valid_to,
    }  # fmt: skip
    try:
        data = ApplicationForm(
            consumer=consumer,
            dataset=dataset,
            items=tuple(items or ()),
            basis_code=basis_code,
            purpose=purpose,
            conditions=conditions,
            valid_from=parse_date(valid_from, "使用期間（開始日）", required=True),
            valid_to=parse_date(valid_to, "使用期間（終了日）"),
        )
        with engine.begin() as conn:
            app_id = applications.apply(conn, staff.ctx, data)
    except AccessDenied as exc:
        return _new_page(request, staff, form, str(exc), 403)
    except (InputError, LinkageError) as exc:
        return _new_page(request, staff, form, f"提出できません: {_message(exc)}", 422)
    return redirect(f"/linkage/applications/{app_id}", f"データ使用承認願 第{app_id}号 を提出しました。")


def _detail_page(
    request: Request,
    engine: Engine,
    staff: Staff,
    application_id: int,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    with engine.begin() as conn:
        app = applications.get_application(conn, staff.ctx, application_id)
    context = {
        "active": "linkage-applications",
        "app": app,
        "error": error,
        "may_decide": staff.may_decide,
        "own": app.applied_by == staff.ctx.staff_id,
    } | _labels(load_catalogue())
    return render(request, "linkage/application.html", context, status)


@router.get("/linkage/applications/{application_id}", response_class=HTMLResponse)
def application_page(request: Request, engine: EngineDep, staff: StaffDep, application_id: int) -> Response:
    try:
        return _detail_page(request, engine, staff, application_id)
    except LookupError as exc:
        return render(request, "error.html", {"message": _message(exc)}, 404)


def _decide(
    request: Request, engine: Engine, staff: Staff, application_id: int, decision: str, note: str
) -> Response:
    try:
        with engine.begin() as conn:
            if decision == "approve":
                sub_id = applications.approve(conn, staff.ctx, application_id=application_id, note=note)
                done = f"データ使用承認願 第{application_id}号 を承認しました（利用登録 第{sub_id}号）。"
            else:
                applications.refuse(conn, staff.ctx, application_id=application_id, reason=note)
                done = f"データ使用承認願 第{application_id}号 を却下しました。"
    except LookupError as exc:
        return render(request, "error.html", {"message": _message(exc)}, 404)
    except AccessDenied as exc:
        return _detail_page(request, engine, staff, application_id, str(exc), 403)
    except LinkageError as exc:
        return _detail_page(request, engine, staff, application_id, _message(exc), 422)
    return redirect(f"/linkage/applications/{application_id}", done)


@router.post("/linkage/applications/{application_id}/approve", response_class=HTMLResponse)
def approve_application(
    request: Request,
    engine: EngineDep,
    staff: StaffDep,
    application_id: int,
    note: Annotated[str, Form()] = "",
) -> Response:
    return _decide(request, engine, staff, application_id, "approve", note)


@router.post("/linkage/applications/{application_id}/refuse", response_class=HTMLResponse)
def refuse_application(
    request: Request,
    engine: EngineDep,
    staff: StaffDep,
    application_id: int,
    reason: Annotated[str, Form()] = "",
) -> Response:
    return _decide(request, engine, staff, application_id, "refuse", reason)


def _subscriptions_page(
    request: Request, engine: Engine, staff: Staff, error: str | None = None, status: int = 200
) -> HTMLResponse:
    with engine.begin() as conn:
        rows = applications.list_subscriptions(conn, staff.ctx)
    context = {
        "active": "linkage-subscriptions",
        "rows": rows,
        "error": error,
        "may_decide": staff.may_decide,
    } | _labels(load_catalogue())
    return render(request, "linkage/subscriptions.html", context, status)


@router.get("/linkage/subscriptions", response_class=HTMLResponse)
def subscriptions_page(request: Request, engine: EngineDep, staff: StaffDep) -> HTMLResponse:
    return _subscriptions_page(request, engine, staff)


@router.post("/linkage/subscriptions/{subscription_id}/revoke", response_class=HTMLResponse)
def revoke_subscription(
    request: Request,
    engine: EngineDep,
    staff: StaffDep,
    subscription_id: int,
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        with engine.begin() as conn:
            applications.revoke(conn, staff.ctx, subscription_id=subscription_id, reason=reason)
    except AccessDenied as exc:
        return _subscriptions_page(request, engine, staff, str(exc), 403)
    except LinkageError as exc:
        return _subscriptions_page(
            request, engine, staff, _message(exc), 404 if isinstance(exc, LookupError) else 422
        )
    return redirect("/linkage/subscriptions", f"利用登録 第{subscription_id}号 を取り消しました。")


@router.get("/linkage/transfers", response_class=HTMLResponse)
def transfers_page(
    request: Request,
    engine: EngineDep,
    staff: StaffDep,
    consumer: str = "",
    dataset: str = "",
    date_from: str = "",
    date_to: str = "",
) -> HTMLResponse:
    cat = load_catalogue()
    form = {"consumer": consumer, "dataset": dataset, "date_from": date_from, "date_to": date_to}
    error: str | None = None
    rows: list[transfers.TransferRow] = []
    total = 0
    try:
        f = transfers.TransferFilter(
            consumer=consumer if consumer in {c.code for c in cat.consumers} else None,
            dataset=dataset if dataset in {d.code for d in cat.datasets} else None,
            date_from=parse_date(date_from, "期間（開始日）"),
            date_to=parse_date(date_to, "期間（終了日）"),
        )
        with engine.begin() as conn:
            rows, total = transfers.search(conn, staff.ctx, f)
    except InputError as exc:
        error = _message(exc)
    context = {
        "active": "linkage-transfers",
        "cat": cat,
        "form": form,
        "rows": rows,
        "total": total,
        "error": error,
    } | _labels(cat)
    return render(request, "linkage/transfers.html", context, 422 if error else 200)
