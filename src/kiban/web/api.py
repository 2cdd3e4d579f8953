"""JSON API under /api/v1 (its OpenAPI document is /api/v1/openapi.json)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from kiban.security.auth import StaffSession
from kiban.synth import load as synth_load
from kiban.web import deps, status
from kiban.web.session import ready

router = APIRouter(prefix="/api/v1", tags=["system"])
EngineDep = Annotated[Engine, Depends(deps.engine)]


@router.get("/health", summary="稼働確認 (health)")
def health(engine: EngineDep) -> JSONResponse:
    h = status.check(engine)
    return JSONResponse(asdict(h), status_code=200 if h.status == "ok" else 503)


@router.get("/city/summary", summary="合成都市の集計 (aggregate statistics only)")
def city_summary(engine: EngineDep, staff: Annotated[StaffSession, Depends(ready)]) -> dict[str, Any]:
    s = synth_load.summary(engine)
    if s is None:
        return {"loaded": False, "summary": None}
    # Aggregates only; the server's folder layout is not the API's business.
    return {"loaded": True, "summary": {k: v for k, v in asdict(s).items() if k != "files_dir"}}
