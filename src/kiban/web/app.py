"""The web application factory (Webアプリケーション): staff UI and the JSON API under /api/v1.

Screens are server-rendered (Jinja2) with htmx for partial updates — no JavaScript build step, so
the UI works on a closed network (domain.md §10.15) with nothing fetched from outside.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from kiban import __version__
from kiban.security.errors import AccessDenied
from kiban.web import (
    admin_pages,
    api,
    audit_pages,
    auth_pages,
    collection_arrears_pages,
    collection_closing_pages,
    collection_pages,
    gateway_pages,
    identity_api,
    identity_check_pages,
    identity_import_pages,
    identity_match_pages,
    identity_pages,
    kaigo_api,
    kaigo_assessment_pages,
    kaigo_bulk_pages,
    kaigo_facility_pages,
    kaigo_pages,
    kaigo_premium_api,
    kaigo_premium_pages,
    linkage_pages,
    pages,
)
from kiban.web.deps import set_engine
from kiban.web.session import CsrfFailed, Redirect
from kiban.web.templating import redirect, render

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
    app.include_router(identity_api.router)
    app.include_router(kaigo_api.router)
    app.include_router(kaigo_premium_api.router)
    app.include_router(auth_pages.router)
    app.include_router(pages.router)
    app.include_router(admin_pages.router)
    app.include_router(audit_pages.router)
    app.include_router(identity_pages.router)
    app.include_router(identity_import_pages.router)
    app.include_router(identity_check_pages.router)
    app.include_router(identity_match_pages.router)
    app.include_router(kaigo_pages.router)
    app.include_router(kaigo_facility_pages.router)
    app.include_router(kaigo_bulk_pages.router)
    app.include_router(kaigo_premium_pages.router)
    app.include_router(kaigo_assessment_pages.router)
    app.include_router(collection_pages.router)
    app.include_router(collection_arrears_pages.router)
    app.include_router(collection_closing_pages.router)
    app.include_router(linkage_pages.router)
    app.include_router(gateway_pages.router)
    _install_error_pages(app)
    return app


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(Redirect)
    async def _redirect(request: Request, exc: Redirect) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": exc.message or "ログインが必要です。"}, status_code=401)
        return redirect(exc.location, exc.message, htmx=request.headers.get("hx-request") == "true")

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "CSRF token missing or invalid"}, status_code=403)
        msg = "画面の有効期限が切れたか、不正な送信です。画面を開き直してから操作してください。"
        return render(request, "error.html", {"message": msg}, 403)

    @app.exception_handler(AccessDenied)
    async def _denied(request: Request, exc: AccessDenied) -> Response:
        # The guard has already written the denial to the access log.
        if _wants_json(request):
            return JSONResponse({"detail": str(exc)}, status_code=403)
        return render(request, "error.html", {"message": str(exc)}, 403)
