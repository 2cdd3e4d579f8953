"""Access-log review for the 監査 role (アクセスログの点検): the periodic log analysis the seeds promise."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from kiban.security import guard
from kiban.security.audit import report
from kiban.security.context import AccessContext, Action, Business
from kiban.shared import clock
from kiban.web import deps
from kiban.web.session import access
from kiban.web.templating import render

router = APIRouter(include_in_schema=False)
EngineDep = Annotated[Engine, Depends(deps.engine)]
Auditor = Annotated[AccessContext, Depends(access(Business.KANSA, "kansa.log_review"))]


@router.get("/audit/review", response_class=HTMLResponse)
def review(
    request: Request, engine: EngineDep, ctx: Auditor, start: date | None = None, end: date | None = None
) -> HTMLResponse:
    end = end or clock.today()
    start = start or end - timedelta(days=30)
    if end < start:
        start, end = end, start
    with engine.begin() as conn:
        guard.require(
            conn, ctx, action=Action.VIEW, detail={"screen": "audit_review", "from": start, "to": end}
        )
    result = report.review(engine, start=start, end=end)
    return render(request, "audit/review.html", {"active": "audit", "r": result, "start": start, "end": end})
