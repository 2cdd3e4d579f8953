"""Staff screens of the shell: the home screen and the system status screen."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from kiban.security.auth import StaffSession
from kiban.synth import load as synth_load
from kiban.web import deps, status
from kiban.web.session import ready
from kiban.web.templating import render

router = APIRouter(include_in_schema=False)
EngineDep = Annotated[Engine, Depends(deps.engine)]
Ready = Annotated[StaffSession, Depends(ready)]


@router.get("/", response_class=HTMLResponse)
def home(request: Request, staff: Ready) -> HTMLResponse:
    return render(request, "home.html", {"active": "home"})


@router.get("/partials/city-summary", response_class=HTMLResponse)
def city_summary(request: Request, engine: EngineDep, staff: Ready) -> HTMLResponse:
    # Aggregate figures only (domain.md §10.14: statistics are aggregate only).
    return render(request, "partials/city_summary.html", {"summary": synth_load.summary(engine)})


@router.get("/system", response_class=HTMLResponse)
def system(request: Request, engine: EngineDep, staff: Ready) -> HTMLResponse:
    return render(request, "system.html", {"active": "system", "health": status.check(engine)})
