"""The Jinja2 environment shared by every screen, and small render helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from kiban.security.context import ACTION_LABELS, BUSINESS_LABELS
from kiban.shared import clock
from kiban.shared.wareki import to_wareki
from kiban.web.nav import menu

templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
templates.env.filters["wareki"] = lambda d: to_wareki(d) if d else "—"
templates.env.filters["yen"] = lambda v: f"{v:,}円"
templates.env.filters["num"] = lambda v: f"{v:,}"
# Times are shown in the office's zone (日本標準時), like every "today" (kiban.shared.clock): a row
# written at 08:30 JST must not read as the previous day on a server whose clock runs in UTC.
templates.env.filters["dt"] = lambda v: (
    v.astimezone(clock.office_zone()).strftime("%Y-%m-%d %H:%M") if v else "—"
)
templates.env.globals["menu"] = menu
templates.env.filters["action"] = lambda a: ACTION_LABELS.get(str(a), str(a))
templates.env.globals["business_labels"] = {b.value: label for b, label in BUSINESS_LABELS.items()}
FLASH_COOKIE = "kiban_flash"


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    ctx = dict(context or {})
    ctx.setdefault("staff", getattr(request.state, "staff", None))
    flash = request.cookies.get(FLASH_COOKIE)
    ctx.setdefault("flash", unquote(flash) if flash else None)
    response = templates.TemplateResponse(request, name, ctx, status_code=status_code)
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(location: str, message: str | None = None, *, htmx: bool = False) -> RedirectResponse:
    """303 See Other (after a POST) with an optional one-time message for the next screen."""
    response = RedirectResponse(location, status_code=303)
    if htmx:
        response.headers["HX-Redirect"] = location
    if message:
        response.set_cookie(
            FLASH_COOKIE, quote(message), max_age=60, httponly=True, samesite="strict", path="/"
        )
    return response
