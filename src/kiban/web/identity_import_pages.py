"""取込 screens of the 宛名 hub: upload a file from the registry, tax or welfare systems, see the
import history and a rejected file's エラーリスト (行・記録・項目・内容).

Operators normally run imports as batches (``kiban identity …``); the screen lets the 宛名 section
import a corrected file at once and print the error list for the source department.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from kiban.identity import importing
from kiban.identity.importing import ImportRejected
from kiban.identity.repo import IdentityError
from kiban.security.context import AccessContext, Business
from kiban.web import deps
from kiban.web.nav import MenuItem, register
from kiban.web.session import access
from kiban.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
EngineDep = Annotated[Engine, Depends(deps.engine)]
Importer = Annotated[AccessContext, Depends(access(Business.ATENA, "atena.import"))]
MAX_UPLOAD = 200 * 1024 * 1024  # a city-wide file of a million rows is ~150 MB

register(MenuItem("atena-imports", "取込（住民記録・課税等）", "/atena/imports", Business.ATENA))


@dataclass(frozen=True)
class Kind:
    label: str
    layout: str  # the documented layout (docs/layouts/…)
    run: Callable[[Engine, bytes, str, AccessContext], Any]


def kinds() -> dict[str, Kind]:
    """The file kinds the screen accepts (each a documented layout and its import service)."""
    from kiban.identity import events, facts

    return {
        "resident_events": Kind(
            "住民異動（住民記録）", "resident-events.md", events.import_events_for_screen
        ),
        "kazei": Kind(
            "住民税 課税情報", "facts.md", lambda e, d, f, c: facts.import_facts(e, "kazei", d, f, c)
        ),
        "seiho": Kind(
            "生活保護 受給期間", "facts.md", lambda e, d, f, c: facts.import_facts(e, "seiho", d, f, c)
        ),
        "rofuku": Kind(
            "老齢福祉年金 受給期間", "facts.md", lambda e, d, f, c: facts.import_facts(e, "rofuku", d, f, c)
        ),
        "iryo": Kind(
            "医療保険 加入情報", "facts.md", lambda e, d, f, c: facts.import_facts(e, "iryo", d, f, c)
        ),
    }


@router.get("/atena/imports", response_class=HTMLResponse)
def imports_page(request: Request, engine: EngineDep, ctx: Importer) -> HTMLResponse:
    with engine.begin() as conn:
        rows = importing.list_imports(conn, ctx)
    labels = {k: v.label for k, v in kinds().items()} | {"registry_full": "住民記録 全件（初期移行）"}
    return render(
        request,
        "identity/imports.html",
        {"active": "atena-imports", "rows": rows, "kinds": kinds(), "labels": labels},
    )


@router.post("/atena/imports")
async def upload(
    engine: EngineDep,
    ctx: Importer,
    kind: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    chosen = kinds().get(kind)
    if chosen is None or file is None or not file.filename:
        # Refusals of malformed requests still pass the guard, so a caller without a grant learns nothing.
        with engine.begin() as conn:
            importing.list_imports(conn, ctx, limit=1)
        return redirect("/atena/imports", "ファイルの種類と取り込むファイルを選んでください。")
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return redirect(
            "/atena/imports", "ファイルが大きすぎます。バッチ（kiban identity）で取り込んでください。"
        )
    try:
        result = chosen.run(engine, data, file.filename, ctx)
    except ImportRejected as exc:
        if exc.import_id is not None:
            return redirect(
                f"/atena/imports/{exc.import_id}",
                f"取り込みませんでした: エラー {len(exc.errors)} 件。エラーリストを確認してください。",
            )
        return redirect("/atena/imports", f"取り込みませんでした: {exc.errors[0] if exc.errors else exc}")
    except IdentityError as exc:
        return redirect("/atena/imports", f"取り込みませんでした: {exc}")
    if getattr(result, "already_imported", False):
        return redirect(
            f"/atena/imports/{result.import_id}", "このファイルは取込済みです（変更はありません）。"
        )
    return redirect(
        f"/atena/imports/{result.import_id}",
        f"取り込みました: {result.rows} 件（反映 {result.applied} 件、取込済みのため省略 {result.skipped} 件）。",
    )


@router.get("/atena/imports/{import_id}", response_class=HTMLResponse)
def import_page(request: Request, engine: EngineDep, ctx: Importer, import_id: int) -> HTMLResponse:
    try:
        with engine.begin() as conn:
            record, errors = importing.import_detail(conn, ctx, import_id)
    except IdentityError as exc:
        return render(request, "error.html", {"title": "取込", "message": str(exc)}, 404)
    labels = {k: v.label for k, v in kinds().items()} | {"registry_full": "住民記録 全件（初期移行）"}
    return render(
        request,
        "identity/import.html",
        {"active": "atena-imports", "r": record, "errors": errors, "labels": labels},
    )
