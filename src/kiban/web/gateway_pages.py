"""Screens of the 中間サーバー (Business.CHUKAN): the 自動応答不可 review queue (release / refuse),
the 情報提供等記録 search with the chain check, the 本人開示 export, and the inquiry list with its
result view.

Thin: parse, call one function of :mod:`kiban.gateway`, render. Every route first passes the guard
for the 中間サーバー business (a refusal is logged before anything is read); releasing or refusing
needs a 監督者 (rank 2) and the service asks the guard again with that rank. The staff here never
see a 個人番号 or a 符号: the screens show 宛名番号, agencies, items and outcomes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from kiban.gateway import exports, inquiry, records, replica, review, search
from kiban.gateway.errors import GatewayError
from kiban.rules.permit_list import load_permit_list
from kiban.security import guard
from kiban.security.context import AccessContext, Action, Business
from kiban.web import deps
from kiban.web.nav import MenuItem, register
from kiban.web.session import access
from kiban.web.templating import redirect, render, templates

router = APIRouter(include_in_schema=False)
EngineDep = Annotated[Engine, Depends(deps.engine)]
DEFAULT_CITY = "992011"  # 基盤市 (kiban.synth.places), as identity_pages; KIBAN_CITY_CODE overrides

# 項目名 and 照会事務名 from the 照会許可用照合リスト, so staff read 保険者番号, not insurer_no.
templates.env.filters["item_label"] = lambda code: load_permit_list().label(str(code))
templates.env.filters["procedure_name"] = lambda code: load_permit_list().procedure_name(str(code))

register(MenuItem("gateway-held", "自動応答不可の確認", "/gateway/held", Business.CHUKAN))
register(MenuItem("gateway-records", "情報提供等記録", "/gateway/records", Business.CHUKAN))
register(MenuItem("gateway-inquiries", "情報照会一覧", "/gateway/inquiries", Business.CHUKAN))
register(MenuItem("gateway-replicas", "副本の照会", "/gateway/replicas", Business.CHUKAN))

INQUIRY_STATUS = {
    "opened": "許可証待ち",
    "permitted": "許可証受領",
    "sent": "照会中",
    "held": "提供者の確認待ち",
    "completed": "完了",
    "refused": "拒否",
    "abandoned": "中断",
}


def city_code() -> str:
    """The city whose 中間サーバー tenant this application serves."""
    return os.environ.get("KIBAN_CITY_CODE", "").strip() or DEFAULT_CITY


@dataclass(frozen=True)
class Staff:
    ctx: AccessContext
    rank: int

    @property
    def may_review(self) -> bool:
        return self.rank >= review.SUPERVISOR_RANK


def _staff(engine: Engine, ctx: AccessContext) -> Staff:
    with engine.begin() as conn:
        granted = guard.require(conn, ctx, action=Action.VIEW, log=False)
    return Staff(ctx, granted.role_rank)


def operation_access(
    engine: EngineDep, ctx: Annotated[AccessContext, Depends(access(Business.CHUKAN, "chukan.operation"))]
) -> Staff:
    return _staff(engine, ctx)


def review_access(
    engine: EngineDep, ctx: Annotated[AccessContext, Depends(access(Business.CHUKAN, "chukan.review"))]
) -> Staff:
    return _staff(engine, ctx)


def disclosure_access(
    engine: EngineDep, ctx: Annotated[AccessContext, Depends(access(Business.CHUKAN, "chukan.disclosure"))]
) -> Staff:
    return _staff(engine, ctx)


Operator = Annotated[Staff, Depends(operation_access)]
Reviewer = Annotated[Staff, Depends(review_access)]
Discloser = Annotated[Staff, Depends(disclosure_access)]


def _message(exc: Exception) -> str:
    return str(exc.args[0]) if exc.args else str(exc)


# -- 自動応答不可の確認 ---------------------------------------------------------------------------


@router.get("/gateway/held", response_class=HTMLResponse)
def held_list(request: Request, engine: EngineDep, staff: Reviewer, status: str = "waiting") -> HTMLResponse:
    if status not in review.STATUS_LABELS:
        status = "waiting"
    with engine.begin() as conn:
        queue = review.held_queue(conn, staff.ctx, city_code=city_code(), status=status)
        subjects = {h.person_id: inquiry.subject_of(conn, h.person_id) for h in queue}
    return render(
        request,
        "gateway/held.html",
        {
            "active": "gateway-held",
            "queue": queue,
            "subjects": subjects,
            "status": status,
            "status_labels": review.STATUS_LABELS,
            "may_review": staff.may_review,
        },
    )


def _held_page(
    request: Request, engine: EngineDep, staff: Staff, request_id: str, error: str = "", code: int = 200
) -> HTMLResponse:
    try:
        with engine.begin() as conn:
            shown = review.preview(conn, staff.ctx, city_code=city_code(), request_id=request_id)
            subject = inquiry.subject_of(conn, shown["held"].person_id)
    except GatewayError as exc:
        return render(
            request, "gateway/held_detail.html", {"active": "gateway-held", "missing": _message(exc)}, 404
        )
    return render(
        request,
        "gateway/held_detail.html",
        {
            "active": "gateway-held",
            "h": shown["held"],
            "items": shown["items"],
            "replica_version": shown["replica_version"],
            "subject": subject,
            "may_review": staff.may_review,
            "status_labels": review.STATUS_LABELS,
            "error": error,
        },
        code,
    )


@router.get("/gateway/held/{request_id}", response_class=HTMLResponse)
def held_detail(request: Request, engine: EngineDep, staff: Reviewer, request_id: str) -> HTMLResponse:
    return _held_page(request, engine, staff, request_id)


@router.post("/gateway/held/{request_id}/release", response_model=None)
def held_release(
    request: Request, engine: EngineDep, staff: Reviewer, request_id: str, note: Annotated[str, Form()] = ""
) -> Response:
    try:
        with engine.begin() as conn:
            review.release_held(
                conn, staff.ctx, city_code=city_code(), request_id=request_id, note=note.strip()
            )
    except GatewayError as exc:
        return _held_page(request, engine, staff, request_id, _message(exc), 422)
    return redirect("/gateway/held", f"照会 {request_id} の提供を確認し、回答を送信待ちにしました。")


@router.post("/gateway/held/{request_id}/refuse", response_model=None)
def held_refuse(
    request: Request, engine: EngineDep, staff: Reviewer, request_id: str, reason: Annotated[str, Form()] = ""
) -> Response:
    try:
        with engine.begin() as conn:
            review.refuse_held(conn, staff.ctx, city_code=city_code(), request_id=request_id, reason=reason)
    except GatewayError as exc:
        return _held_page(request, engine, staff, request_id, _message(exc), 422)
    return redirect("/gateway/held", f"照会 {request_id} には提供しないことを記録しました。")


# -- 情報提供等記録 ---------------------------------------------------------------------------------


def _date(value: str, label: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise GatewayError(f"{label}は YYYY-MM-DD で入力してください: {value}") from None


@router.get("/gateway/records", response_class=HTMLResponse)
def record_search(
    request: Request,
    engine: EngineDep,
    staff: Operator,
    date_from: str = "",
    date_to: str = "",
    kind: str = "",
    agency: str = "",
    outcome: str = "",
    person_no: str = "",
) -> HTMLResponse:
    form = {
        "date_from": date_from,
        "date_to": date_to,
        "kind": kind,
        "agency": agency,
        "outcome": outcome,
        "person_no": person_no,
    }
    context: dict[str, Any] = {
        "active": "gateway-records",
        "form": form,
        "kinds": records.KINDS,
        "outcomes": records.OUTCOMES,
        "phases": records.PHASES,
    }
    try:
        where = records.RecordFilter(
            date_from=_date(date_from, "期間（開始）"),
            date_to=_date(date_to, "期間（終了）"),
            kind=kind if kind in records.KINDS else None,
            agency=agency.strip() or None,
            outcome=outcome if outcome in records.OUTCOMES else None,
        )
        with engine.begin() as conn:
            if person_no.strip():
                pid = search.person_id_for(conn, person_no)
                if pid is None:
                    raise GatewayError(f"宛名番号 {person_no.strip()} の宛名はありません")
                where = records.RecordFilter(**{**where.__dict__, "person_id": pid})
            result = search.search_records(conn, staff.ctx, city_code=city_code(), where=where)
    except GatewayError as exc:
        return render(request, "gateway/records.html", {**context, "error": _message(exc)}, 422)
    return render(request, "gateway/records.html", {**context, "result": result})


@router.get("/gateway/records/disclosure", response_model=None)
def record_disclosure(
    request: Request, engine: EngineDep, staff: Discloser, person_no: str = "", fmt: str = "csv"
) -> Response:
    """本人開示: the person's 情報提供等記録 as a file."""
    fmt = fmt if fmt in ("csv", "json") else "csv"
    with engine.begin() as conn:
        pid = search.person_id_for(conn, person_no) if person_no.strip() else None
        if pid is None:
            return render(
                request,
                "gateway/records.html",
                {
                    "active": "gateway-records",
                    "form": {"person_no": person_no},
                    "kinds": records.KINDS,
                    "outcomes": records.OUTCOMES,
                    "phases": records.PHASES,
                    "error": "本人開示には宛名番号を入力してください（該当する宛名がありません）",
                },
                422,
            )
        body = exports.export_person_records(conn, staff.ctx, city_code=city_code(), person_id=pid, fmt=fmt)
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    name = f"joho-teikyo-kiroku-{person_no.strip()}.{fmt}"
    return Response(
        ("\ufeff" + body) if fmt == "csv" else body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- 情報照会 -----------------------------------------------------------------------------------


@router.get("/gateway/inquiries", response_class=HTMLResponse)
def inquiry_list(request: Request, engine: EngineDep, staff: Operator) -> HTMLResponse:
    with engine.begin() as conn:
        found = inquiry.list_inquiries(conn, staff.ctx, city_code=city_code())
        subjects = {i.person_id: inquiry.subject_of(conn, i.person_id) for i in found}
    return render(
        request,
        "gateway/inquiries.html",
        {
            "active": "gateway-inquiries",
            "found": found,
            "subjects": subjects,
            "status_labels": INQUIRY_STATUS,
            "outcomes": records.OUTCOMES,
        },
    )


@router.get("/gateway/inquiries/{request_id}", response_class=HTMLResponse)
def inquiry_detail(request: Request, engine: EngineDep, staff: Operator, request_id: str) -> HTMLResponse:
    context: dict[str, Any] = {
        "active": "gateway-inquiries",
        "status_labels": INQUIRY_STATUS,
        "outcomes": records.OUTCOMES,
    }
    try:
        with engine.begin() as conn:
            inq, result = inquiry.view_inquiry(conn, staff.ctx, city_code=city_code(), request_id=request_id)
            context |= {"inq": inq, "result": result, "subject": inquiry.subject_of(conn, inq.person_id)}
    except GatewayError as exc:
        return render(request, "gateway/inquiry.html", {**context, "missing": _message(exc)}, 404)
    return render(request, "gateway/inquiry.html", context)


# -- 副本 ---------------------------------------------------------------------------------------


@router.get("/gateway/replicas", response_class=HTMLResponse)
def replica_view(request: Request, engine: EngineDep, staff: Operator, person_no: str = "") -> HTMLResponse:
    """副本の照会: a person's registered versions (seed 000 リスク7: 情報提供データベースの内容を確認できる手段)."""
    context: dict[str, Any] = {"active": "gateway-replicas", "person_no": person_no.strip(), "versions": None}
    if not person_no.strip():
        return render(request, "gateway/replicas.html", context)
    with engine.begin() as conn:
        pid = search.person_id_for(conn, person_no)
        if pid is None:
            return render(
                request,
                "gateway/replicas.html",
                {**context, "error": f"宛名番号 {person_no.strip()} の宛名はありません"},
                404,
            )
        versions = replica.replica_history(conn, staff.ctx, city_code=city_code(), person_id=pid)
    return render(request, "gateway/replicas.html", {**context, "versions": versions})
