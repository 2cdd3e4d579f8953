"""Sign-in screens: terminal enrolment, login, second factor, password change, business selection."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from kiban.security import admin, auth, totp
from kiban.security.auth import StaffSession, Terminal
from kiban.security.context import Business
from kiban.security.errors import SecurityError
from kiban.web import deps
from kiban.web.session import (
    SESSION_COOKIE,
    TERMINAL_COOKIE,
    TERMINAL_COOKIE_MAX_AGE,
    check_origin,
    current_terminal,
    set_cookie,
    signed_in,
)
from kiban.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
EngineDep = Annotated[Engine, Depends(deps.engine)]
TerminalDep = Annotated[Terminal | None, Depends(current_terminal)]
SignedIn = Annotated[StaffSession, Depends(signed_in)]


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect would let a crafted link send staff to a look-alike site.
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


@router.get("/terminal/enrol", response_class=HTMLResponse)
def enrol_form(
    request: Request, terminal: TerminalDep, code: str = "", terminal_code: str = ""
) -> HTMLResponse:
    return render(
        request, "auth/enrol.html", {"terminal": terminal, "code": code, "terminal_code": terminal_code}
    )


@router.post("/terminal/enrol", response_class=HTMLResponse, dependencies=[Depends(check_origin)])
def enrol(
    request: Request, engine: EngineDep, terminal_code: Annotated[str, Form()], code: Annotated[str, Form()]
) -> Response:
    try:
        with engine.begin() as conn:
            secret = admin.do_enrol_terminal(conn, code=terminal_code.strip(), enrol_code=code)
    except SecurityError as exc:
        return render(
            request,
            "auth/enrol.html",
            {"error": str(exc), "terminal_code": terminal_code, "terminal": None},
            400,
        )
    response = redirect("/login", f"この端末を「{terminal_code}」として登録しました。")
    set_cookie(response, request, TERMINAL_COOKIE, secret, max_age=TERMINAL_COOKIE_MAX_AGE)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, terminal: TerminalDep, next: str = "/") -> HTMLResponse:
    return render(request, "auth/login.html", {"terminal": terminal, "next": _safe_next(next)})


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(check_origin)])
def login(
    request: Request,
    engine: EngineDep,
    terminal: TerminalDep,
    staff_code: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    try:
        token = auth.login(engine, staff_code=staff_code, password=password, terminal=terminal)
    except SecurityError as exc:
        ctx = {"terminal": terminal, "error": str(exc), "staff_code": staff_code, "next": _safe_next(next)}
        return render(request, "auth/login.html", ctx, 401)
    response = redirect(_safe_next(next))
    set_cookie(response, request, SESSION_COOKIE, token)
    return response


@router.post("/logout")
def logout(request: Request, engine: EngineDep, session: SignedIn) -> Response:
    with engine.begin() as conn:
        auth.logout(conn, session)
    response = redirect("/login", "ログアウトしました。")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _qr_svg(uri: str) -> str | None:
    try:
        import segno
    except ImportError:  # the secret is also shown as text
        return None
    svg = segno.make(uri, error="m").svg_data_uri(scale=4)
    return str(svg)


@router.get("/mfa", response_class=HTMLResponse)
def mfa_form(request: Request, engine: EngineDep, session: SignedIn) -> HTMLResponse:
    ctx: dict[str, object] = {"session": session}
    if not session.mfa_enrolled:
        with engine.begin() as conn:
            secret = auth.begin_totp_enrolment(conn, session)
        uri = totp.provisioning_uri(secret, session.staff_code)
        ctx |= {
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "qr": _qr_svg(uri),
            "uri": uri,
        }
    return render(request, "auth/mfa.html", ctx)


@router.post("/mfa", response_class=HTMLResponse)
def mfa(request: Request, engine: EngineDep, session: SignedIn, code: Annotated[str, Form()]) -> Response:
    try:
        auth.verify_second_factor(engine, session, code)
    except SecurityError as exc:
        return render(request, "auth/mfa.html", {"session": session, "error": str(exc)}, 400)
    return redirect(
        "/", "二要素認証を確認しました。" if session.mfa_enrolled else "二要素認証を登録しました。"
    )


@router.get("/password", response_class=HTMLResponse)
def password_form(request: Request, session: SignedIn) -> HTMLResponse:
    return render(request, "auth/password.html", {"session": session})


@router.post("/password", response_class=HTMLResponse)
def password(
    request: Request,
    engine: EngineDep,
    session: SignedIn,
    current: Annotated[str, Form()],
    new: Annotated[str, Form()],
    confirm: Annotated[str, Form()],
) -> Response:
    if session.mfa_required and not session.mfa_verified:
        return redirect("/mfa")
    try:
        if new != confirm:
            raise SecurityError("新しいパスワードと確認用の入力が一致しません。")
        with engine.begin() as conn:
            auth.change_password(conn, session, current=current, new=new)
    except SecurityError as exc:
        return render(request, "auth/password.html", {"session": session, "error": str(exc)}, 400)
    return redirect("/", "パスワードを変更しました。")


@router.get("/business", response_class=HTMLResponse)
def business_form(request: Request, engine: EngineDep, session: SignedIn, next: str = "/") -> HTMLResponse:
    with engine.connect() as conn:
        options = {b: auth.purposes(conn, b) for b in session.businesses}
    return render(
        request, "auth/business.html", {"session": session, "options": options, "next": _safe_next(next)}
    )


@router.post("/business", response_class=HTMLResponse)
def business(
    request: Request,
    engine: EngineDep,
    session: SignedIn,
    purpose_code: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    try:
        chosen = Business(purpose_code.split(".", 1)[0])
        with engine.begin() as conn:
            auth.select_business(conn, session, business=chosen, purpose_code=purpose_code)
    except (SecurityError, ValueError):
        return redirect("/business", "業務と処理事由を選んでください。")
    return redirect(_safe_next(next), f"{chosen.label}の業務を選びました。")
