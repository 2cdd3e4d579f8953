"""被保険者証 一括交付: a month's new 被保険者証 as one batch run after the response, its progress and
its PDF; thin like :mod:`kiban.web.kaigo_pages`, whose labels and refusals it shares."""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from kiban.kaigo.eligibility import certificates
from kiban.kaigo.eligibility.service import EligibilityError
from kiban.security import guard
from kiban.security.context import AccessContext, Action
from kiban.shared import clock
from kiban.web.forms import InputError, parse_date, pdf_response
from kiban.web.kaigo_pages import Eligibility, EngineDep, Refused, screen_labels
from kiban.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)


# -- 一括交付 ---------------------------------------------------------------------------------------


def _bulk_page(
    request: Request, engine: Engine, ctx: AccessContext, form: dict[str, str], error: str | None
) -> HTMLResponse:
    with engine.begin() as conn:
        batches = certificates.list_batches(conn, ctx)
    today = clock.today()
    form = {"month": today.strftime("%Y-%m"), "issued_on": today.isoformat()} | form
    context = {"active": "kaigo-bulk", "batches": batches, "form": form, "error": error}
    return render(request, "kaigo/bulk.html", context | screen_labels(), 422 if error else 200)


@router.get("/kaigo/certificates/bulk", response_class=HTMLResponse)
def bulk_page(request: Request, engine: EngineDep, ctx: Eligibility) -> HTMLResponse:
    return _bulk_page(request, engine, ctx, {}, None)


def run_bulk_in_background(engine: Engine, batch_id: int) -> None:
    """The batch runs after the response; a failure is recorded on the batch (status 'failed')."""
    try:
        certificates.run_bulk(engine, batch_id)
    except Exception:
        log.exception("一括交付 %s が異常終了しました", batch_id)


@router.post("/kaigo/certificates/bulk", response_class=HTMLResponse)
def start_bulk(
    request: Request,
    background: BackgroundTasks,
    engine: EngineDep,
    ctx: Eligibility,
    month: Annotated[str, Form()] = "",
    issued_on: Annotated[str, Form()] = "",
) -> Response:
    form = {"month": month, "issued_on": issued_on}
    try:
        try:
            first = date.fromisoformat(month.strip() + "-01")
        except ValueError:
            raise InputError("対象月を YYYY-MM で入力してください（例: 2026-04）") from None
        with engine.begin() as conn:
            batch_id = certificates.start_bulk(
                conn, ctx, month=first, issued_on=parse_date(issued_on, "交付日")
            )
    except Refused as exc:
        return _bulk_page(request, engine, ctx, form, str(exc))
    # start_bulk has committed: the batch row exists before the run (and the progress page) reads it.
    background.add_task(run_bulk_in_background, engine, batch_id)
    return redirect(f"/kaigo/certificates/bulk/{batch_id}", f"一括交付 {batch_id} を開始しました。")


@router.get("/kaigo/certificates/bulk/{batch_id}", response_class=HTMLResponse)
def bulk_batch_page(request: Request, engine: EngineDep, ctx: Eligibility, batch_id: int) -> HTMLResponse:
    # Progress is counts only, no personal data: checked, not logged at every refresh.
    try:
        with engine.begin() as conn:
            guard.require(conn, ctx, action=Action.VIEW, log=False)
            batch = certificates.bulk_status(conn, batch_id)
    except EligibilityError as exc:
        return render(request, "error.html", {"message": str(exc)}, 404)
    return render(request, "kaigo/bulk_batch.html", {"active": "kaigo-bulk", "b": batch} | screen_labels())


@router.get("/kaigo/certificates/bulk/{batch_id}/pdf")
def bulk_pdf(request: Request, engine: EngineDep, ctx: Eligibility, batch_id: int) -> Response:
    try:
        with engine.begin() as conn:
            pdf = certificates.bulk_pdf(conn, ctx, batch_id)
    except EligibilityError as exc:
        return render(request, "error.html", {"message": str(exc)}, 404)
    return pdf_response(pdf, f"kaigo-bulk-{batch_id}.pdf")
