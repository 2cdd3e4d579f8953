"""Screen of 出納閉鎖・滞納繰越 (介護保険料): the runs by 年度, the run itself (after the 31st of May of
the next year, 地方自治法第235条の5), the 滞納繰越一覧 of a 年度 and the 収入 of a 会計年度 by account
(現年度分・滞納繰越分).

Thin, like :mod:`kiban.web.collection_arrears_pages`: the guard for 保険料の収納・滞納整理 runs first;
the run needs a 担当者 and the guard is asked again with that rank before the form is looked at.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from kiban.collection import closing
from kiban.identity.model import CLERK_RANK
from kiban.security import guard
from kiban.security.context import Action
from kiban.security.errors import AccessDenied
from kiban.shared import clock
from kiban.web.collection_pages import BUSINESS, EngineDep, Staff, StaffDep, message, parse_year, year_label
from kiban.web.forms import InputError
from kiban.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
CLOSING_PATH = "/collection/closing"

Refused = (InputError, closing.ClosingError)


def _page(
    request: Request,
    engine: Any,
    staff: Staff,
    year_text: str,
    *,
    error: str | None = None,
    form_year: str = "",
    status: int = 422,
) -> HTMLResponse:
    runs: list[closing.ClosingRow] = []
    rows: list[closing.CarriedRow] = []
    totals: dict[str, int] = {}
    year: int | None = None
    default_year = clock.today().year - (1 if clock.today().month <= 5 else 0) - 1
    try:
        year = parse_year(year_text) if year_text else None
        with engine.begin() as conn:
            runs = closing.closings(conn, staff.ctx, business=BUSINESS)
            if year is not None:
                rows = closing.carried(conn, staff.ctx, business=BUSINESS, fiscal_year=year)
                totals = closing.account_totals(conn, staff.ctx, business=BUSINESS, books_year=year)
    except AccessDenied as exc:
        error, status = error or f"出納閉鎖・滞納繰越を表示できません: {exc}", 403
    except Refused as exc:
        error = error or f"出納閉鎖・滞納繰越を表示できません: {message(exc)}"
    context = {
        "active": "collection-arrears",
        "runs": runs,
        "year": year,
        "year_label": year_label(year) if year else "",
        "rows": rows,
        "carried_total": sum(r.carried for r in rows),
        "remaining_total": sum(r.remaining for r in rows),
        "totals": totals,
        "form_year": form_year or str(default_year),
        "may_record": staff.may_record,
        "error": error,
        "closing_date": closing.closing_date,
        "year_label_of": year_label,
    }
    return render(request, "collection/closing.html", context, status if error else 200)


@router.get(CLOSING_PATH, response_class=HTMLResponse)
def closing_page(
    request: Request, engine: EngineDep, staff: StaffDep, fiscal_year: Annotated[str, Query()] = ""
) -> HTMLResponse:
    return _page(request, engine, staff, fiscal_year)


@router.post(CLOSING_PATH, response_class=HTMLResponse)
def run_carry_over(
    request: Request, engine: EngineDep, staff: StaffDep, fiscal_year: Annotated[str, Form()] = ""
) -> Response:
    """滞納繰越 of a 年度 after its 出納閉鎖 (idempotent: a second run changes nothing)."""
    try:
        with engine.begin() as conn:
            guard.require(conn, staff.ctx, action=Action.UPDATE, min_rank=CLERK_RANK, log=False)
        year = parse_year(fiscal_year)
        run = closing.carry_over(engine, staff.ctx, business=BUSINESS, fiscal_year=year)
    except AccessDenied as exc:
        return _page(request, engine, staff, "", error=f"滞納繰越を実行できません: {exc}", form_year=fiscal_year,
                     status=403)  # fmt: skip
    except Refused as exc:
        return _page(request, engine, staff, "", error=f"滞納繰越を実行できません: {message(exc)}",
                     form_year=fiscal_year)  # fmt: skip
    return redirect(
        f"{CLOSING_PATH}?fiscal_year={year}",
        f"{year}年度の滞納繰越: {run.receivables:,}期別・{run.persons:,}人・{run.amount:,}円"
        f"（今回 追加 {run.added:,}・修正 {run.revised:,}・取消 {run.withdrawn:,}）",
    )
