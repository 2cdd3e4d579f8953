"""JSON API of the 宛名 hub under /api/v1/identity (for business systems and the counter's tools).

Same services and guard as the screens. A result list is ``PersonSummary`` — no 個人番号 field —
and the detail carries the number only masked; a lookup by number is a POST so it never sits in a
URL or an access log of a proxy.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException
from sqlalchemy import Engine

from kiban.identity import persons, vault
from kiban.identity.persons import SearchCriteria, ValidationFailed
from kiban.identity.repo import IdentityError, PersonNotFound
from kiban.security.context import AccessContext, Business
from kiban.web import deps
from kiban.web.session import access

router = APIRouter(prefix="/api/v1/identity", tags=["identity"])
EngineDep = Annotated[Engine, Depends(deps.engine)]
Inquiry = Annotated[AccessContext, Depends(access(Business.ATENA, "atena.inquiry"))]


def _summary(r: persons.PersonSummary) -> dict[str, Any]:
    return asdict(r) | {"birth_date": r.birth_date.isoformat()}


def _search(engine: Engine, ctx: AccessContext, criteria: SearchCriteria) -> dict[str, Any]:
    try:
        with engine.begin() as conn:
            result = persons.search(conn, ctx, criteria)
    except ValidationFailed as exc:
        raise HTTPException(422, [{"field": e.field, "message": e.message} for e in exc.errors]) from None
    except vault.InvalidMyNumber as exc:
        raise HTTPException(422, [{"field": "個人番号", "message": str(exc)}]) from None
    return {
        "method": result.method,
        "truncated": result.truncated,
        "rows": [_summary(r) for r in result.rows],
    }


@router.get("/persons", summary="宛名検索 (search persons; no 個人番号 in results)")
def search(
    engine: EngineDep,
    ctx: Inquiry,
    person_no: str | None = None,
    kana: str | None = None,
    name: str | None = None,
    birth_date: date | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    return _search(engine, ctx, SearchCriteria(person_no, kana, name, birth_date, address))


@router.post("/persons/search-by-number", summary="個人番号による検索 (exact, via the blind index)")
def search_by_number(
    engine: EngineDep, ctx: Inquiry, my_number: Annotated[str, Body(embed=True)] = ""
) -> dict[str, Any]:
    return _search(engine, ctx, SearchCriteria(my_number=my_number))


@router.get("/persons/{person_no}", summary="宛名照会 (person detail; 個人番号 masked)")
def person(engine: EngineDep, ctx: Inquiry, person_no: str) -> dict[str, Any]:
    try:
        with engine.begin() as conn:
            p = persons.detail(conn, ctx, person_no)
    except PersonNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except IdentityError as exc:
        raise HTTPException(422, str(exc)) from None
    d = p.current.data
    return {
        "person_no": p.person_no,
        "integrated_no": p.integrated_no,
        "name": d.display_name,
        "kana": d.full_kana,
        "sex": d.sex,
        "birth_date": d.birth_date.isoformat(),
        "postal_code": d.postal_code,
        "address": d.address,
        "katagaki": d.katagaki,
        "resident_class": str(d.resident_class),
        "my_number": p.my_number_masked,
        "household_no": p.household.household_no if p.household else None,
        "relation": p.household.relation if p.household else None,
        "history": [
            {
                "valid_from": v.valid_from.isoformat(),
                "valid_to": v.valid_to.isoformat() if v.valid_to else None,
                "address": v.data.address,
                "resident_class": str(v.data.resident_class),
                "reason": v.change_reason,
                "superseded": v.superseded_at is not None,
            }
            for v in p.history
        ],
    }
