"""名寄せ screens (宛名の特定): enter a record that arrived without a 宛名番号, see the scored
candidates, and the two-person review queue (seed 000: 名寄せ結果を複数人で検査する).

Thin: parse, call one service of ``kiban.identity.matching``, render.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from kiban.identity import matching
from kiban.identity.matching import Incoming
from kiban.identity.model import FieldError
from kiban.identity.persons import ValidationFailed
from kiban.identity.repo import IdentityError
from kiban.identity.vault import InvalidMyNumber
from kiban.security import guard
from kiban.security.context import AccessContext, Action, Business
from kiban.shared import clock
from kiban.web import deps
from kiban.web.identity_pages import parse_date
from kiban.web.nav import MenuItem, register
from kiban.web.session import access
from kiban.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
EngineDep = Annotated[Engine, Depends(deps.engine)]
Matcher = Annotated[AccessContext, Depends(access(Business.ATENA, "atena.matching"))]

register(MenuItem("atena-matching", "名寄せ", "/atena/matching", Business.ATENA))

AGREE_LABELS = {
    "kana": "カナ氏名",
    "name": "漢字氏名",
    "birth_date": "生年月日",
    "sex": "性別",
    "address": "住所",
}


@router.get("/atena/matching", response_class=HTMLResponse)
def queue(request: Request, engine: EngineDep, ctx: Matcher) -> HTMLResponse:
    with engine.begin() as conn:
        cases = matching.pending_cases(conn, ctx)
    return render(
        request,
        "identity/matching.html",
        {"active": "atena-matching", "cases": cases, "form": {}, "errors": []},
    )


@router.post("/atena/matching", response_class=HTMLResponse)
async def new_case(request: Request, engine: EngineDep, ctx: Matcher) -> Response:
    """A record typed at the counter (申請書・他システムの連携データの4情報) is matched now."""
    form = {k: str(v).strip() for k, v in (await request.form()).items()}
    errors: list[FieldError] = []
    birth = parse_date(form.get("birth_date"), "生年月日", errors)
    if birth is None and not errors:
        errors.append(FieldError("生年月日", "必須です"))
    sex = form.get("sex", "")
    if sex not in ("1", "2"):
        errors.append(FieldError("性別", "選んでください"))
    outcome = None
    if not errors and birth is not None:
        incoming = Incoming(
            family_name=form.get("family_name", ""),
            given_name=form.get("given_name", ""),
            family_kana=form.get("family_kana", ""),
            given_kana=form.get("given_kana", ""),
            birth_date=birth,
            sex=int(sex),
            address=form.get("address", ""),
            katagaki=form.get("katagaki") or None,
            my_number=form.get("my_number") or None,
        )
        source = form.get("source") or "窓口"
        ref = form.get("source_ref") or f"{clock.today():%Y%m%d}-{uuid.uuid4().hex[:8]}"
        try:
            with engine.begin() as conn:
                outcome = matching.match(conn, ctx, incoming, source=source, source_ref=ref)
        except ValidationFailed as exc:
            errors = exc.errors
        except InvalidMyNumber as exc:
            errors = [FieldError("個人番号", str(exc))]
    if outcome is None:
        form.pop("my_number", None)  # never sent back to the browser
        with engine.begin() as conn:
            guard.require(conn, ctx, action=Action.VIEW, detail={"screen": "名寄せ", "refused": "input"})
            cases = matching.pending_cases(conn, ctx)
        return render(
            request,
            "identity/matching.html",
            {"active": "atena-matching", "cases": cases, "form": form, "errors": errors},
            422,
        )
    if outcome.status == "auto_linked":
        return redirect(
            f"/atena/matching/{outcome.case_id}",
            f"自動で名寄せしました（{outcome.reason}）: 宛名番号 {outcome.linked_person_no}",
        )
    if outcome.status == "no_match":
        return redirect(f"/atena/matching/{outcome.case_id}", "該当する宛名の候補はありません。")
    return redirect(
        f"/atena/matching/{outcome.case_id}",
        f"確認待ちに登録しました（{outcome.reason}）。2人の職員の確認で確定します。",
    )


@router.get("/atena/matching/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, engine: EngineDep, ctx: Matcher, case_id: int) -> HTMLResponse:
    try:
        with engine.begin() as conn:
            case = matching.case_detail(conn, ctx, case_id)
    except IdentityError as exc:
        return render(request, "error.html", {"title": "名寄せ", "message": str(exc)}, 404)
    return render(
        request,
        "identity/match_case.html",
        {"active": "atena-matching", "c": case, "agree_labels": AGREE_LABELS},
    )


@router.post("/atena/matching/{case_id}/confirm")
def confirm(
    engine: EngineDep,
    ctx: Matcher,
    case_id: int,
    person_no: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    try:
        with engine.begin() as conn:
            outcome = matching.confirm(conn, ctx, case_id, person_no, note)
    except IdentityError as exc:
        return redirect(f"/atena/matching/{case_id}", str(exc))
    return redirect(f"/atena/matching/{case_id}", outcome.message)


@router.post("/atena/matching/{case_id}/reject")
def reject(engine: EngineDep, ctx: Matcher, case_id: int, note: Annotated[str, Form()] = "") -> Response:
    try:
        with engine.begin() as conn:
            outcome = matching.reject(conn, ctx, case_id, note)
    except IdentityError as exc:
        return redirect(f"/atena/matching/{case_id}", str(exc))
    return redirect(f"/atena/matching/{case_id}", outcome.message)
