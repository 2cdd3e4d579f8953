"""Who is at the keyboard: the terminal cookie, the staff session, CSRF — as typed dependencies.

A route that needs a signed-in staff member declares ``Depends(ready)``; one that reads or
changes personal data declares ``Depends(access(Business.X))`` and gets the ``AccessContext`` the
services require. There is no other way to obtain an ``AccessContext`` in the web layer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from sqlalchemy import Engine

from kiban.security import auth
from kiban.security.auth import StaffSession, Terminal
from kiban.security.context import AccessContext, Business
from kiban.security.errors import SessionExpired
from kiban.web import deps

TERMINAL_COOKIE = "kiban_terminal"
SESSION_COOKIE = "kiban_session"
TERMINAL_COOKIE_MAX_AGE = 400 * 24 * 3600  # Chromium caps cookie lifetime at 400 days
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class Redirect(Exception):
    """Send the browser elsewhere (login, second factor, password change, business selection)."""

    def __init__(self, location: str, message: str | None = None) -> None:
        super().__init__(location)
        self.location = location
        self.message = message


class CsrfFailed(Exception):
    pass


def cookie_secure(request: Request) -> bool:
    # Secure cookies need HTTPS; on the loopback demo (http://127.0.0.1) browsers would drop them.
    return request.url.scheme == "https"


def set_cookie(response, request: Request, name: str, value: str, max_age: int | None = None) -> None:  # type: ignore[no-untyped-def]
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request),
        path="/",
    )


def current_terminal(request: Request, engine: Annotated[Engine, Depends(deps.engine)]) -> Terminal | None:
    with engine.connect() as conn:
        return auth.terminal_from_secret(conn, request.cookies.get(TERMINAL_COOKIE))


def check_origin(request: Request) -> None:
    """Before a session exists (login, terminal enrolment): refuse cross-site form posts."""
    if request.method in UNSAFE:
        origin = request.headers.get("origin")
        if origin and origin.split("://", 1)[-1] != request.headers.get("host"):
            raise CsrfFailed()


def _session(request: Request, engine: Engine, terminal: Terminal | None) -> StaffSession:
    with engine.begin() as conn:
        try:
            s = auth.load_session(conn, request.cookies.get(SESSION_COOKIE), terminal)
        except SessionExpired as exc:
            raise Redirect("/login?next=" + quote(request.url.path), str(exc)) from None
    if request.method in UNSAFE:
        sent = request.headers.get("x-csrf-token") or getattr(request.state, "csrf_form", None)
        if not sent or sent != s.csrf_token:
            raise CsrfFailed()
    request.state.staff = s
    return s


async def _read_csrf_form(request: Request) -> None:
    if request.method in UNSAFE and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        request.state.csrf_form = form.get("csrf_token")


def signed_in(
    request: Request,
    engine: Annotated[Engine, Depends(deps.engine)],
    terminal: Annotated[Terminal | None, Depends(current_terminal)],
    _csrf: Annotated[None, Depends(_read_csrf_form)],
) -> StaffSession:
    """A live session on this terminal (second factor may still be pending)."""
    if terminal is None:
        raise Redirect("/terminal/enrol", "この端末は登録されていません。")
    return _session(request, engine, terminal)


def ready(session: Annotated[StaffSession, Depends(signed_in)]) -> StaffSession:
    """Fully signed in: second factor done where required and the password current."""
    if session.mfa_required and not session.mfa_verified:
        raise Redirect("/mfa")
    if session.must_change_password:
        raise Redirect("/password", "パスワードを変更してください。")
    return session


def access(business: Business | None = None, purpose: str | None = None) -> Callable[..., AccessContext]:
    """Dependency factory: the AccessContext for ``business`` (or the one chosen at 業務選択).

    The guard in each service checks the grant against the database; this only assembles who,
    where and why from the session.
    """

    def dependency(request: Request, session: Annotated[StaffSession, Depends(ready)]) -> AccessContext:
        chosen = business or session.business
        if chosen is None:
            raise Redirect("/business?next=" + quote(request.url.path), "業務と処理事由を選んでください。")
        if purpose is not None:
            purpose_code = purpose
        elif session.business is chosen and session.purpose_code:
            purpose_code = session.purpose_code
        else:
            raise Redirect("/business?next=" + quote(request.url.path), "処理事由を選んでください。")
        return AccessContext(
            staff_id=session.staff_id,
            staff_code=session.staff_code,
            department_code=session.department_code,
            terminal_code=session.terminal.code,
            business=chosen,
            purpose_code=purpose_code,
            request_id=request.headers.get("x-request-id") or uuid.uuid4().hex,
            session_id=session.session_hash,
        )

    return dependency
