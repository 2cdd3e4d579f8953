"""The web application factory (Webアプリケーション): staff UI and the JSON API under /api/v1.

Screens are server-rendered (Jinja2) with htmx for partial updates — no JavaScript build step, so
the UI works on a closed network (domain.md §10.15) with nothing fetched from outside.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from kiban import __version__
from kiban.web import api, pages
from kiban.web.deps import set_engine

STATIC = Path(__file__).with_name("static")


def create_app(engine: Engine | None = None) -> FastAPI:
    """Build the app. ``engine`` overrides the configured database (tests pass their own)."""
    app = FastAPI(
        title="kiban API",
        version=__version__,
        description="kiban (基盤) — 社会保障業務システムの API",
        openapi_url="/api/v1/openapi.json",
        # Swagger UI would load its assets from a CDN; a closed network has none. The OpenAPI
        # document itself is served at /api/v1/openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    set_engine(app, engine)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    return app
