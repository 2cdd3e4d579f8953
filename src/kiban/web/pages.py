"""Staff screens of the shell: the home screen and the system status screen."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from kiban.shared.wareki import to_wareki
from kiban.synth import load as synth_load
from kiban.web import deps, status
from kiban.web.nav import menu

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
templates.env.filters["wareki"] = to_wareki
templates.env.filters["yen"] = lambda v: f"{v:,}円"
templates.env.filters["num"] = lambda v: f"{v:,}"
templates.env.globals["menu"] = menu
EngineDep = Annotated[Engine, Depends(deps.engine)]


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "home.html", {"active": "home"})


@router.get("/partials/city-summary", response_class=HTMLResponse)
def city_summary(request: Request, engine: EngineDep) -> HTMLResponse:
    # Aggregate figures only (domain.md §10.14: statistics are aggregate only).
    return templates.TemplateResponse(
        request, "partials/city_summary.html", {"summary": synth_load.summary(engine)}
    )


@router.get("/system", response_class=HTMLResponse)
def system(request: Request, engine: EngineDep) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "system.html", {"active": "system", "health": status.check(engine)}
    )
