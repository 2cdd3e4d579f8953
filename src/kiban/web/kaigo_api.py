"""JSON API of 介護保険 資格管理 under /api/v1/kaigo (for the counter's tools and other systems).

Same services and guard as the screens, for the 処理事由 資格管理. The panel's read model has no
個人番号 field — only 宛名番号 (10 digits), 被保険者番号 (10), dates, codes and labels. Dates are
ISO 8601. A refusal of the rules is a 422 with the counter's message.
"""

from __future__ import annotations

import enum
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException
from fastapi.responses import Response
from sqlalchemy import Engine

from kiban.identity.repo import IdentityError, PersonNotFound
from kiban.kaigo.eligibility import certificates, read, service
from kiban.kaigo.eligibility.service import EligibilityError
from kiban.security import guard
from kiban.security.context import AccessContext, Action, Business
from kiban.web import deps
from kiban.web.forms import pdf_response
from kiban.web.session import access

router = APIRouter(prefix="/api/v1/kaigo", tags=["kaigo"])
EngineDep = Annotated[Engine, Depends(deps.engine)]
Eligibility = Annotated[AccessContext, Depends(access(Business.KAIGO, "kaigo.eligibility"))]


def plain(value: Any) -> Any:
    """A read-model value as JSON: dataclasses as objects, dates ISO 8601, enums as their codes."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def record(value: Any) -> dict[str, Any]:
    """One read-model row (a dataclass) as a JSON object."""
    out: dict[str, Any] = plain(value)
    return out


def _period(q: read.Period) -> dict[str, Any]:
    return record(q) | {
        "category_label": q.category.label,
        "acquire_reason_label": q.acquire_reason.label,
        "loss_reason_label": q.loss_reason.label if q.loss_reason else None,
        "current": q.current,
    }


def _refused(exc: Exception) -> HTTPException:
    if isinstance(exc, PersonNotFound):
        return HTTPException(404, str(exc))
    return HTTPException(422, str(exc))


@router.get(
    "/persons/{person_no}/eligibility", summary="資格照会 (periods, 資格・異動履歴, 証発行履歴; no 個人番号)"
)
def eligibility(engine: EngineDep, ctx: Eligibility, person_no: str) -> dict[str, Any]:
    try:
        with engine.begin() as conn:
            p = read.panel(conn, ctx, person_no)
    except (EligibilityError, IdentityError) as exc:
        raise _refused(exc) from None
    return {
        "person_no": p.person_no,
        "insurer_no": p.insurer_no,
        "insurer_name": p.insurer_name,
        "insured_no": p.insured_no,
        "current": _period(p.current) if p.current else None,
        "periods": [_period(q) for q in p.periods],
        "changes": [
            record(c) | {"kind_label": c.kind_label, "reason_label": c.reason_label} for c in p.changes
        ],
        "stays": plain(p.stays),
        "special_address": [record(s) | {"label": s.label} for s in p.special],
        "certificates": [record(c) | {"label": c.label} for c in p.certificates],
    }


@router.get("/facilities", summary="施設マスタ一覧")
def facilities(engine: EngineDep, ctx: Eligibility) -> dict[str, Any]:
    with engine.begin() as conn:
        rows = service.list_facilities(conn, ctx)
    return {
        "rows": [
            record(f) | {"type_label": f.type.label, "rule": f.type.rule.value, "basis": f.type.basis}
            for f in rows
        ]
    }


@router.post(
    "/certificates",
    summary="被保険者証・資格者証の交付 / 再交付 (returns the PDF)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def issue_certificate(
    engine: EngineDep,
    ctx: Eligibility,
    person_no: Annotated[str, Body(embed=True)] = "",
    kind: Annotated[str, Body(embed=True)] = "certificate",
    issued_on: Annotated[date | None, Body(embed=True)] = None,
    reissue: Annotated[bool, Body(embed=True)] = False,
    reason: Annotated[str | None, Body(embed=True)] = None,
    valid_until: Annotated[date | None, Body(embed=True)] = None,
) -> Response:
    try:
        with engine.begin() as conn:
            issued = certificates.do_issue(
                conn, ctx, person_no=person_no, kind=kind,  # type: ignore[arg-type]  # checked by the service
                issued_on=issued_on, reissue=reissue, reason=reason, valid_until=valid_until,
            )  # fmt: skip
    except (EligibilityError, IdentityError) as exc:
        raise _refused(exc) from None
    response = pdf_response(issued.pdf, f"kaigo-certificate-{issued.certificate_id}.pdf")
    response.headers["X-Certificate-Id"] = str(issued.certificate_id)
    return response


@router.get("/certificates/bulk/{batch_id}", summary="一括交付の進捗 (counts only)")
def bulk_status(engine: EngineDep, ctx: Eligibility, batch_id: int) -> dict[str, Any]:
    try:
        with engine.begin() as conn:
            # Counts, no personal data: checked, not logged at every poll.
            guard.require(conn, ctx, action=Action.VIEW, log=False)
            b = certificates.bulk_status(conn, batch_id)
    except EligibilityError as exc:
        raise HTTPException(404, str(exc)) from None
    return record(b) | {
        "percent": b.percent,
        "pdf": f"/kaigo/certificates/bulk/{batch_id}/pdf" if b.has_pdf else None,
    }
