"""介護保険 施設マスタ: the 住所地特例対象施設 and 適用除外施設 the 資格 rules read (kiban.kaigo.eligibility);
thin like :mod:`kiban.web.kaigo_pages`, whose labels and refusals it shares."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from kiban.kaigo.eligibility import service
from kiban.security.context import AccessContext
from kiban.shared import clock
from kiban.web.forms import parse_date
from kiban.web.kaigo_pages import Eligibility, EngineDep, Refused, screen_labels
from kiban.web.templating import redirect, render

router = APIRouter(include_in_schema=False)


# -- 施設マスタ -------------------------------------------------------------------------------------


def _facilities_page(
    request: Request, engine: Engine, ctx: AccessContext, form: dict[str, str], error: str | None
) -> HTMLResponse:
    with engine.begin() as conn:
        rows = service.list_facilities(conn, ctx)
    context = {
        "active": "kaigo-facilities",
        "rows": rows,
        "form": form,
        "error": error,
        "today": clock.today(),
    }
    return render(request, "kaigo/facilities.html", context | screen_labels(), 422 if error else 200)


@router.get("/kaigo/facilities", response_class=HTMLResponse)
def facilities_page(request: Request, engine: EngineDep, ctx: Eligibility) -> HTMLResponse:
    return _facilities_page(request, engine, ctx, {}, None)


@router.post("/kaigo/facilities", response_class=HTMLResponse)
async def register_facility(request: Request, engine: EngineDep, ctx: Eligibility) -> Response:
    form = {k: str(v).strip() for k, v in (await request.form()).items() if k != "csrf_token"}
    try:
        with engine.begin() as conn:
            f = service.do_register_facility(
                conn, ctx, facility_no=form.get("facility_no", ""), name=form.get("name", ""),
                type_code=form.get("type_code", ""), city_code=form.get("city_code", ""),
                city_name=form.get("city_name", ""), address=form.get("address", ""),
                postal_code=form.get("postal_code") or None,
                opened_on=parse_date(form.get("opened_on"), "開設日"),
                closed_on=parse_date(form.get("closed_on"), "廃止日"),
            )  # fmt: skip
    except Refused as exc:
        return _facilities_page(request, engine, ctx, form, str(exc))
    return redirect(
        "/kaigo/facilities", f"施設マスタに登録しました（{f.facility_no} {f.name}・{f.type.label}）。"
    )
