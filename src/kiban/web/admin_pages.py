"""Administration screens (システム管理): staff, terminals, grants with approval, access-rights table.

Each handler parses the form, calls one service with the AccessContext, and renders; the services
check the grant and write the access log.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine, select

from kiban.security import admin
from kiban.security import tables as t
from kiban.security.context import AccessContext, Business
from kiban.security.errors import AccessDenied, SecurityError
from kiban.shared import clock
from kiban.web import deps
from kiban.web.session import access
from kiban.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
EngineDep = Annotated[Engine, Depends(deps.engine)]
StaffAdmin = Annotated[AccessContext, Depends(access(Business.SYSTEM, "system.staff_admin"))]
TerminalAdmin = Annotated[AccessContext, Depends(access(Business.SYSTEM, "system.terminal_admin"))]
Auditor = Annotated[AccessContext, Depends(access(Business.KANSA, "kansa.log_review"))]


def _lists(engine: Engine) -> dict[str, object]:
    """Reference lists for the forms (departments, roles): organisation data, not personal data."""
    with engine.connect() as conn:
        departments = conn.execute(
            select(t.department.c.code, t.department.c.name).order_by(t.department.c.code)
        ).all()
        roles = conn.execute(
            select(t.role.c.business, t.role.c.code, t.role.c.label).order_by(
                t.role.c.business, t.role.c.rank
            )
        ).all()
    return {"departments": departments, "roles": roles, "businesses": list(Business)}


def _read(engine: Engine, service, ctx: AccessContext) -> list[object]:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        return list(service(conn, ctx))


# --- staff ---------------------------------------------------------------------------------------


@router.get("/admin/staff", response_class=HTMLResponse)
def staff_list(
    request: Request,
    engine: EngineDep,
    ctx: StaffAdmin,
    q: str = "",
    department: str = "",
    unused: bool = False,
    page: int = 1,
) -> HTMLResponse:
    with engine.begin() as conn:
        found = admin.staff_page(
            conn, ctx, query=q, department_code=department, unused_only=unused, page=page
        )
    filters = {"q": q, "department": department, "unused": unused}

    def page_url(n: int) -> str:
        kept = {k: ("true" if v is True else v) for k, v in filters.items() if v}
        return "/admin/staff?" + urlencode({**kept, "page": n})

    pager = {
        "prev": page_url(found.page - 1) if found.page > 1 else None,
        "next": page_url(found.page + 1) if found.page < found.pages else None,
    }
    return render(
        request,
        "admin/staff.html",
        {"active": "staff", "found": found, "rows": found.rows, "filters": filters, "pager": pager,
         **_lists(engine)},
    )  # fmt: skip


def _staff_url(code: str) -> str:
    """The list narrowed to one ID: where the administrator sees what was just done to it."""
    return "/admin/staff?" + urlencode({"q": code})


def _run(request: Request, back: str, done: str, fn) -> Response:  # type: ignore[no-untyped-def]
    try:
        fn()
    except AccessDenied:
        raise  # the guard logged it; the app answers 403
    except SecurityError as exc:
        return redirect(back, "エラー: " + str(exc))
    return redirect(back, done)


@router.post("/admin/staff")
def staff_create(
    request: Request,
    engine: EngineDep,
    ctx: StaffAdmin,
    code: Annotated[str, Form()],
    name: Annotated[str, Form()],
    name_kana: Annotated[str, Form()],
    department_code: Annotated[str, Form()],
    initial_password: Annotated[str, Form()],
) -> Response:
    def work() -> None:
        with engine.begin() as conn:
            admin.do_create_staff(
                conn,
                ctx,
                code=code.strip(),
                name=name.strip(),
                name_kana=name_kana.strip(),
                department_code=department_code,
                initial_password=initial_password,
            )

    return _run(
        request,
        _staff_url(code.strip()),
        f"職員ID {code} を発行しました。初回ログイン時にパスワードの変更が必要です。",
        work,
    )


@router.post("/admin/staff/{code}/transfer")
def staff_transfer(
    request: Request,
    engine: EngineDep,
    ctx: StaffAdmin,
    code: str,
    department_code: Annotated[str, Form()],
    reason: Annotated[str, Form()],
) -> Response:
    def work() -> None:
        with engine.begin() as conn:
            admin.do_transfer_staff(
                conn, ctx, staff_code=code, department_code=department_code, reason=reason
            )

    return _run(
        request,
        _staff_url(code),
        f"{code} の所属を変更しました。旧所属の権限とログイン中のセッションは終了しました。",
        work,
    )


@router.post("/admin/staff/{code}/retire")
def staff_retire(
    request: Request, engine: EngineDep, ctx: StaffAdmin, code: str, reason: Annotated[str, Form()]
) -> Response:
    def work() -> None:
        with engine.begin() as conn:
            admin.do_retire_staff(conn, ctx, staff_code=code, reason=reason)

    return _run(request, _staff_url(code), f"{code} のIDを失効させました。", work)


@router.post("/admin/staff/{code}/unlock")
def staff_unlock(request: Request, engine: EngineDep, ctx: StaffAdmin, code: str) -> Response:
    def work() -> None:
        with engine.begin() as conn:
            admin.do_unlock_staff(conn, ctx, staff_code=code)

    return _run(request, _staff_url(code), f"{code} のロックを解除しました。", work)


# --- terminals -----------------------------------------------------------------------------------


@router.get("/admin/terminals", response_class=HTMLResponse)
def terminal_list(request: Request, engine: EngineDep, ctx: TerminalAdmin) -> HTMLResponse:
    rows = _read(engine, admin.terminal_list, ctx)
    return render(request, "admin/terminals.html", {"active": "terminals", "rows": rows, **_lists(engine)})


@router.post("/admin/terminals", response_class=HTMLResponse)
def terminal_register(
    request: Request,
    engine: EngineDep,
    ctx: TerminalAdmin,
    code: Annotated[str, Form()],
    name: Annotated[str, Form()],
    department_code: Annotated[str, Form()],
) -> Response:
    try:
        with engine.begin() as conn:
            enrol = admin.do_register_terminal(
                conn, ctx, code=code.strip(), name=name.strip(), department_code=department_code
            )
    except AccessDenied:
        raise
    except SecurityError as exc:
        return redirect("/admin/terminals", "エラー: " + str(exc))
    # The enrolment code is shown once, on this response only; only its hash is stored.
    return render(
        request,
        "admin/terminal_registered.html",
        {"active": "terminals", "code": code.strip(), "enrol": enrol},
    )


@router.post("/admin/terminals/{code}/revoke")
def terminal_revoke(
    request: Request, engine: EngineDep, ctx: TerminalAdmin, code: str, reason: Annotated[str, Form()]
) -> Response:
    def work() -> None:
        with engine.begin() as conn:
            admin.do_revoke_terminal(conn, ctx, code=code, reason=reason)

    return _run(request, "/admin/terminals", f"端末 {code} の登録を抹消しました。", work)


# --- grants --------------------------------------------------------------------------------------


@router.get("/admin/grants", response_class=HTMLResponse)
def grants(request: Request, engine: EngineDep, ctx: StaffAdmin) -> HTMLResponse:
    with engine.begin() as conn:
        pending = admin.requests(conn, ctx, pending_only=True)
        table = admin.access_table(conn, ctx)
        staff = conn.execute(
            select(t.staff.c.code, t.staff.c.name)
            .where(t.staff.c.status == "active")
            .order_by(t.staff.c.code)
        ).all()
    return render(
        request,
        "admin/grants.html",
        {
            "active": "grants",
            "pending": pending,
            "table": table,
            "staff_options": staff,
            "me": ctx.staff_id,
            "today": clock.today(),
            **_lists(engine),
        },
    )


@router.post("/admin/grants/request")
def grant_request(
    request: Request,
    engine: EngineDep,
    ctx: StaffAdmin,
    staff_code: Annotated[str, Form()],
    role: Annotated[str, Form()],
    department_code: Annotated[str, Form()],
    valid_from: Annotated[date, Form()],
    reason: Annotated[str, Form()],
    valid_to: Annotated[str, Form()] = "",
) -> Response:
    def work() -> None:
        business, role_code = role.split(":", 1)
        with engine.begin() as conn:
            admin.do_request_grant(
                conn,
                ctx,
                staff_code=staff_code,
                business=Business(business),
                department_code=department_code,
                role_code=role_code,
                valid_from=valid_from,
                valid_to=date.fromisoformat(valid_to) if valid_to else None,
                reason=reason,
            )

    return _run(request, "/admin/grants", "権限付与を起案しました。別の管理者の決裁で有効になります。", work)


@router.post("/admin/grants/{grant_id}/revoke")
def grant_revoke(
    request: Request, engine: EngineDep, ctx: StaffAdmin, grant_id: int, reason: Annotated[str, Form()]
) -> Response:
    def work() -> None:
        with engine.begin() as conn:
            admin.do_request_revoke(conn, ctx, grant_id=grant_id, reason=reason)

    return _run(request, "/admin/grants", "権限の失効を起案しました。別の管理者の決裁で失効します。", work)


@router.post("/admin/requests/{request_id}/decide")
def decide(
    request: Request, engine: EngineDep, ctx: StaffAdmin, request_id: int, decision: Annotated[str, Form()]
) -> Response:
    def work() -> None:
        with engine.begin() as conn:
            admin.do_decide(conn, ctx, request_id=request_id, approve=decision == "approve")

    return _run(
        request,
        "/admin/grants",
        "決裁しました（承認）。" if decision == "approve" else "決裁しました（却下）。",
        work,
    )


def _access_table_page(
    request: Request, engine: Engine, ctx: AccessContext, active: str, include_ended: bool
) -> HTMLResponse:
    """アクセス権限表 — one screen reached from システム管理 and from 監査."""
    with engine.begin() as conn:
        rows = admin.access_table(conn, ctx, include_ended=include_ended)
    context = {"active": active, "rows": rows, "include_ended": include_ended, "today": clock.today()}
    return render(request, "admin/access_table.html", context)


@router.get("/admin/access-table", response_class=HTMLResponse)
def access_table(
    request: Request, engine: EngineDep, ctx: StaffAdmin, include_ended: bool = False
) -> HTMLResponse:
    return _access_table_page(request, engine, ctx, "access-table", include_ended)


@router.get("/audit/access-table", response_class=HTMLResponse)
def audit_access_table(
    request: Request, engine: EngineDep, ctx: Auditor, include_ended: bool = False
) -> HTMLResponse:
    return _access_table_page(request, engine, ctx, "audit-access-table", include_ended)
