"""Screens of 介護保険 資格管理: 被保険者一覧 and the 資格 panel with its actions (証の交付 included);
施設マスタ is :mod:`kiban.web.kaigo_facility_pages`, 一括交付 :mod:`kiban.web.kaigo_bulk_pages`.

Thin: parse the form, call one service of ``kiban.kaigo.eligibility``, render. Every screen works
for the 処理事由 資格管理 (``kaigo.eligibility``). A change the rules refuse (``EligibilityError``)
is shown on the screen with the service's message for the counter, never as a 500; a refused
input is shown after the panel has been read again, so the guard always runs (and logs a denial)
before anything is said about the record.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from kiban.identity import persons
from kiban.identity.persons import SearchCriteria
from kiban.identity.repo import IdentityError
from kiban.kaigo.eligibility import certificates, model, read, service
from kiban.kaigo.eligibility.service import EligibilityError
from kiban.security import guard
from kiban.security.context import AccessContext, Action, Business
from kiban.shared import clock
from kiban.web import deps
from kiban.web.forms import InputError, parse_date, pdf_response
from kiban.web.nav import MenuItem, register
from kiban.web.session import access
from kiban.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
EngineDep = Annotated[Engine, Depends(deps.engine)]
Eligibility = Annotated[AccessContext, Depends(access(Business.KAIGO, "kaigo.eligibility"))]
log = logging.getLogger(__name__)

register(MenuItem("kaigo-insured", "介護保険 被保険者", "/kaigo/insured", Business.KAIGO))
# 施設マスタ and 一括交付 have modules of their own; their menu place is nav.ORDER's.
register(MenuItem("kaigo-facilities", "介護保険 施設マスタ", "/kaigo/facilities", Business.KAIGO))
register(MenuItem("kaigo-bulk", "被保険者証 一括交付", "/kaigo/certificates/bulk", Business.KAIGO))

RULE_LABELS = {
    model.FacilityRule.SPECIAL_ADDRESS: "住所地特例対象施設",
    model.FacilityRule.EXEMPT: "適用除外施設",
    model.FacilityRule.NONE: "特例なし（所在地の市町村が保険者）",
}
BATCH_STATUS = {"running": "実行中", "done": "完了", "failed": "異常終了"}


Refused = (InputError, EligibilityError, IdentityError)


def _need(value: date | None) -> date:
    assert value is not None  # parse_date(required=True) never returns None
    return value


def _choice(enum_: Any, value: str, label: str) -> Any:
    if not value:
        return None
    try:
        return enum_(int(value) if enum_ is model.Category else value)
    except ValueError:
        raise InputError(f"{label}を選び直してください") from None


def screen_labels() -> dict[str, Any]:
    """The Japanese labels every 介護保険 資格 screen's template reads."""
    return {
        "categories": list(model.Category),
        "acquire_reasons": list(model.AcquisitionReason),
        "loss_reasons": list(model.LossReason),
        "rule_labels": RULE_LABELS,
        "types": model.FACILITY_TYPES,
        "batch_status": BATCH_STATUS,
    }


# -- 被保険者一覧・検索 ----------------------------------------------------------------------------


@router.get("/kaigo/insured", response_class=HTMLResponse)
def insured_page(
    request: Request,
    engine: EngineDep,
    ctx: Eligibility,
    person_no: str = "",
    kana: str = "",
    birth: str = "",
    insured_no: str = "",
    acquired_from: str = "",
    acquired_to: str = "",
) -> HTMLResponse:
    form = {
        "person_no": person_no, "kana": kana, "birth": birth, "insured_no": insured_no,
        "acquired_from": acquired_from, "acquired_to": acquired_to,
    }  # fmt: skip
    people = insured = None
    error = None
    try:
        with engine.begin() as conn:
            if person_no.strip() or kana.strip() or birth.strip():
                criteria = SearchCriteria(
                    person_no=person_no.strip() or None,
                    kana=kana.strip() or None,
                    birth_date=parse_date(birth, "生年月日"),
                )
                people = persons.search(conn, ctx, criteria).rows
            elif insured_no.strip() or acquired_from.strip() or acquired_to.strip():
                insured = read.insured_list(
                    conn, ctx, insured_no=insured_no.strip() or None,
                    acquired_from=parse_date(acquired_from, "取得日（から）"),
                    acquired_to=parse_date(acquired_to, "取得日（まで）"),
                )  # fmt: skip
            else:
                guard.require(conn, ctx, action=Action.VIEW, detail={"screen": "被保険者検索"})
    except Refused as exc:
        error = str(exc)
        with engine.begin() as conn:
            guard.require(
                conn, ctx, action=Action.SEARCH, detail={"screen": "被保険者検索", "refused": "input"}
            )
    return render(
        request,
        "kaigo/insured.html",
        {"active": "kaigo-insured", "form": form, "people": people, "insured": insured, "error": error},
        422 if error else 200,
    )


# -- 資格 panel -------------------------------------------------------------------------------------


def _panel_context(engine: Engine, ctx: AccessContext, person_no: str) -> dict[str, Any]:
    with engine.begin() as conn:
        p = read.panel(conn, ctx, person_no)
        found = persons.search(conn, ctx, SearchCriteria(person_no=person_no)).rows
        facilities = service.list_facilities(conn, ctx)
        our_city = service.insurer_by_no(conn, p.insurer_no).city_code
    today = clock.today()
    latest = next((q for q in reversed(p.periods) if q.current), None)
    return {
        "active": "kaigo-insured",
        "p": p,
        "person": found[0] if found else None,
        "latest": latest,
        "today": today,
        "our_city": our_city,
        "exempt_facilities": [f for f in facilities if f.rule_on(today) is model.FacilityRule.EXEMPT],
        "special_facilities": [
            f for f in facilities if f.rule_on(today) is model.FacilityRule.SPECIAL_ADDRESS
        ],
        "form": {},
        "error": None,
        "open": None,
    } | screen_labels()


def _panel(
    request: Request,
    engine: Engine,
    ctx: AccessContext,
    person_no: str,
    *,
    error: str | None = None,
    open_: str | None = None,
    form: dict[str, Any] | None = None,
) -> HTMLResponse:
    """The panel, or with ``error`` the panel again (422) with the refused form open and refilled."""
    try:
        context = _panel_context(engine, ctx, person_no)
    except Refused as exc:
        return render(request, "error.html", {"message": str(exc)}, 404)
    context |= {"error": error, "open": open_, "form": form or {}}
    return render(request, "kaigo/panel.html", context, 422 if error else 200)


@router.get("/kaigo/persons/{person_no}", response_class=HTMLResponse)
def panel_page(request: Request, engine: EngineDep, ctx: Eligibility, person_no: str) -> HTMLResponse:
    return _panel(request, engine, ctx, person_no)


def _back(person_no: str, message: str) -> Response:
    return redirect(f"/kaigo/persons/{person_no}", message)


@router.get(
    "/kaigo/persons/{person_no}/qualifications/{qualification_id}/correct", response_class=HTMLResponse
)
def correct_form(
    request: Request, engine: EngineDep, ctx: Eligibility, person_no: str, qualification_id: int
) -> HTMLResponse:
    return _correct_page(request, engine, ctx, person_no, qualification_id, None, None)


def _correct_page(
    request: Request,
    engine: Engine,
    ctx: AccessContext,
    person_no: str,
    qualification_id: int,
    error: str | None,
    form: dict[str, Any] | None,
) -> HTMLResponse:
    try:
        context = _panel_context(engine, ctx, person_no)
    except Refused as exc:
        return render(request, "error.html", {"message": str(exc)}, 404)
    period = next((q for q in context["p"].periods if q.qualification_id == qualification_id), None)
    if period is None or not period.current:
        message = "この資格は既に修正・取消されているか、ありません（最新の行を修正してください）"
        return render(request, "error.html", {"message": message}, 404)
    if form is None:
        form = {
            "category": str(int(period.category)),
            "acquired_on": period.acquired_on.isoformat(),
            "acquire_reason": period.acquire_reason.value,
            "lost_on": period.lost_on.isoformat() if period.lost_on else "",
            "loss_reason": period.loss_reason.value if period.loss_reason else "",
        }
    context |= {"q": period, "form": form, "error": error}
    return render(request, "kaigo/correct.html", context, 422 if error else 200)


@router.post(
    "/kaigo/persons/{person_no}/qualifications/{qualification_id}/correct", response_class=HTMLResponse
)
def correct(
    request: Request,
    engine: EngineDep,
    ctx: Eligibility,
    person_no: str,
    qualification_id: int,
    category: Annotated[str, Form()] = "",
    acquired_on: Annotated[str, Form()] = "",
    acquire_reason: Annotated[str, Form()] = "",
    lost_on: Annotated[str, Form()] = "",
    loss_reason: Annotated[str, Form()] = "",
    reopen: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "category": category, "acquired_on": acquired_on, "acquire_reason": acquire_reason,
        "lost_on": lost_on, "loss_reason": loss_reason, "reopen": reopen, "reason": reason,
    }  # fmt: skip
    try:
        with engine.begin() as conn:
            service.do_correct(
                conn, ctx, qualification_id=qualification_id, reason=reason,
                category=_choice(model.Category, category, "被保険者区分"),
                acquired_on=parse_date(acquired_on, "取得日"),
                acquire_reason=_choice(model.AcquisitionReason, acquire_reason, "取得事由"),
                lost_on=parse_date(lost_on, "喪失日"),
                loss_reason=_choice(model.LossReason, loss_reason, "喪失事由"),
                reopen=bool(reopen),
            )  # fmt: skip
    except Refused as exc:
        return _correct_page(request, engine, ctx, person_no, qualification_id, str(exc), form)
    return _back(person_no, "職権修正を記録しました（修正前の資格は履歴に残ります）。")


@router.post("/kaigo/persons/{person_no}/qualifications/{qualification_id}/restore")
def restore(
    request: Request,
    engine: EngineDep,
    ctx: Eligibility,
    person_no: str,
    qualification_id: int,
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        with engine.begin() as conn:
            service.do_restore(conn, ctx, qualification_id=qualification_id, reason=reason)
    except Refused as exc:
        return _panel(
            request, engine, ctx, person_no, error=f"回復できません: {exc}", open_=f"q{qualification_id}"
        )
    return _back(person_no, "資格を回復しました。")


@router.post("/kaigo/persons/{person_no}/qualifications/{qualification_id}/cancel")
def cancel(
    request: Request,
    engine: EngineDep,
    ctx: Eligibility,
    person_no: str,
    qualification_id: int,
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        with engine.begin() as conn:
            service.do_cancel(conn, ctx, qualification_id=qualification_id, reason=reason)
    except Refused as exc:
        return _panel(
            request, engine, ctx, person_no, error=f"取消できません: {exc}", open_=f"q{qualification_id}"
        )
    return _back(person_no, "資格を取り消しました（取り消した資格は履歴に残ります）。")


@router.post("/kaigo/persons/{person_no}/acquire")
def acquire(
    request: Request,
    engine: EngineDep,
    ctx: Eligibility,
    person_no: str,
    category: Annotated[str, Form()] = "1",
    acquired_on: Annotated[str, Form()] = "",
    acquire_reason: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    form = {"category": category, "acquired_on": acquired_on, "acquire_reason": acquire_reason, "note": note}
    try:
        reason = _choice(model.AcquisitionReason, acquire_reason, "取得事由")
        if reason is None:
            raise InputError("取得事由を選んでください")
        with engine.begin() as conn:
            service.do_acquire(
                conn, ctx, person_no=person_no,
                category=_choice(model.Category, category, "被保険者区分") or model.Category.FIRST,
                acquired_on=_need(parse_date(acquired_on, "取得日", required=True)),
                reason=reason, note=note.strip() or None,
            )  # fmt: skip
    except Refused as exc:
        return _panel(
            request, engine, ctx, person_no, error=f"資格を取得できません: {exc}", open_="acquire", form=form
        )
    return _back(person_no, "資格取得を記録しました。")


@router.post("/kaigo/persons/{person_no}/lose")
def lose(
    request: Request,
    engine: EngineDep,
    ctx: Eligibility,
    person_no: str,
    lost_on: Annotated[str, Form()] = "",
    loss_reason: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    form = {"lost_on": lost_on, "loss_reason": loss_reason, "note": note}
    try:
        reason = _choice(model.LossReason, loss_reason, "喪失事由")
        if reason is None:
            raise InputError("喪失事由を選んでください")
        with engine.begin() as conn:
            lost = service.do_lose(
                conn, ctx, person_no=person_no, lost_on=_need(parse_date(lost_on, "喪失日", required=True)),
                reason=reason, note=note.strip() or None,
            )  # fmt: skip
    except Refused as exc:
        return _panel(
            request, engine, ctx, person_no, error=f"資格を喪失させられません: {exc}", open_="lose", form=form
        )
    return _back(
        person_no, "資格喪失を記録しました。" if lost else "喪失させる資格がありません（変更なし）。"
    )


@router.post("/kaigo/persons/{person_no}/category2")
def category2(
    request: Request,
    engine: EngineDep,
    ctx: Eligibility,
    person_no: str,
    acquired_on: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    form = {"acquired_on": acquired_on, "note": note}
    try:
        with engine.begin() as conn:
            service.do_register_category2(
                conn, ctx, person_no=person_no,
                acquired_on=_need(parse_date(acquired_on, "取得日", required=True)), note=note,
            )  # fmt: skip
    except Refused as exc:
        return _panel(
            request,
            engine,
            ctx,
            person_no,
            error=f"第2号被保険者として記録できません: {exc}",
            open_="category2",
            form=form,
        )
    return _back(person_no, "第2号被保険者として記録しました。")


@router.post("/kaigo/persons/{person_no}/exempt/admit")
def admit_exempt(
    request: Request,
    engine: EngineDep,
    ctx: Eligibility,
    person_no: str,
    facility_no: Annotated[str, Form()] = "",
    admitted_on: Annotated[str, Form()] = "",
) -> Response:
    form = {"facility_no": facility_no, "admitted_on": admitted_on}
    try:
        if not facility_no:
            raise InputError("施設を選んでください")
        with engine.begin() as conn:
            service.do_admit_exempt(
                conn, ctx, person_no=person_no, facility_no=facility_no,
                admitted_on=_need(parse_date(admitted_on, "入所日", required=True)),
            )  # fmt: skip
    except Refused as exc:
        return _panel(
            request, engine, ctx, person_no, error=f"入所を記録できません: {exc}", open_="admit", form=form
        )
    return _back(person_no, "適用除外施設への入所を記録しました（資格は入所日の翌日に喪失します）。")


@router.post("/kaigo/persons/{person_no}/exempt/discharge")
def discharge_exempt(
    request: Request,
    engine: EngineDep,
    ctx: Eligibility,
    person_no: str,
    discharged_on: Annotated[str, Form()] = "",
) -> Response:
    try:
        with engine.begin() as conn:
            service.do_discharge_exempt(
                conn, ctx, person_no=person_no,
                discharged_on=_need(parse_date(discharged_on, "退所日", required=True)),
            )  # fmt: skip
    except Refused as exc:
        return _panel(
            request, engine, ctx, person_no, error=f"退所を記録できません: {exc}", open_="discharge"
        )
    return _back(person_no, "適用除外施設からの退所を記録しました。")


@router.post("/kaigo/persons/{person_no}/special-address")
def register_special(
    request: Request,
    engine: EngineDep,
    ctx: Eligibility,
    person_no: str,
    facility_no: Annotated[str, Form()] = "",
    from_on: Annotated[str, Form()] = "",
    other_insurer_no: Annotated[str, Form()] = "",
    other_insurer_name: Annotated[str, Form()] = "",
    other_insured_no: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "facility_no": facility_no, "from_on": from_on, "other_insurer_no": other_insurer_no,
        "other_insurer_name": other_insurer_name, "other_insured_no": other_insured_no,
    }  # fmt: skip
    try:
        if not facility_no:
            raise InputError("施設を選んでください")
        with engine.begin() as conn:
            service.do_register_special_address(
                conn, ctx, person_no=person_no, facility_no=facility_no,
                from_on=_need(parse_date(from_on, "適用開始日", required=True)),
                other_insurer_no=other_insurer_no.strip() or None,
                other_insurer_name=other_insurer_name.strip() or None,
                other_insured_no=other_insured_no.strip() or None,
            )  # fmt: skip
    except Refused as exc:
        return _panel(
            request,
            engine,
            ctx,
            person_no,
            error=f"住所地特例を登録できません: {exc}",
            open_="special",
            form=form,
        )
    return _back(person_no, "住所地特例を登録しました。")


@router.post("/kaigo/persons/{person_no}/special-address/{special_id}/end")
def end_special(
    request: Request,
    engine: EngineDep,
    ctx: Eligibility,
    person_no: str,
    special_id: int,
    ended_on: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        with engine.begin() as conn:
            service.do_end_special_address(
                conn, ctx, special_id=special_id,
                ended_on=_need(parse_date(ended_on, "終了日", required=True)), reason=reason,
            )  # fmt: skip
    except Refused as exc:
        return _panel(
            request,
            engine,
            ctx,
            person_no,
            error=f"住所地特例を終了できません: {exc}",
            open_=f"s{special_id}",
        )
    return _back(person_no, "住所地特例を終了しました。")


# -- 証の交付・再交付・回収 -------------------------------------------------------------------------


@router.post("/kaigo/persons/{person_no}/certificates")
def issue(
    request: Request,
    engine: EngineDep,
    ctx: Eligibility,
    person_no: str,
    kind: Annotated[str, Form()] = "certificate",
    issued_on: Annotated[str, Form()] = "",
    valid_until: Annotated[str, Form()] = "",
    reissue: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "kind": kind,
        "issued_on": issued_on,
        "valid_until": valid_until,
        "reissue": reissue,
        "reason": reason,
    }
    try:
        with engine.begin() as conn:
            issued = certificates.do_issue(
                conn, ctx, person_no=person_no, kind=kind,  # type: ignore[arg-type]  # checked by the service
                issued_on=parse_date(issued_on, "交付日"), valid_until=parse_date(valid_until, "有効期限"),
                reissue=bool(reissue), reason=reason.strip() or None,
            )  # fmt: skip
    except Refused as exc:
        return _panel(
            request, engine, ctx, person_no, error=f"証を交付できません: {exc}", open_="issue", form=form
        )
    return pdf_response(issued.pdf, f"kaigo-certificate-{issued.certificate_id}.pdf")


@router.post("/kaigo/persons/{person_no}/certificates/{certificate_id}/return")
def return_certificate(
    request: Request,
    engine: EngineDep,
    ctx: Eligibility,
    person_no: str,
    certificate_id: int,
    returned_on: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    try:
        with engine.begin() as conn:
            certificates.do_return(
                conn, ctx, certificate_id=certificate_id,
                returned_on=_need(parse_date(returned_on, "回収日", required=True)), note=note,
            )  # fmt: skip
    except Refused as exc:
        return _panel(
            request, engine, ctx, person_no, error=f"回収を記録できません: {exc}", open_=f"c{certificate_id}"
        )
    return _back(person_no, "証の回収を記録しました。")


@router.get("/kaigo/certificates/{certificate_id}/pdf")
def reprint(request: Request, engine: EngineDep, ctx: Eligibility, certificate_id: int) -> Response:
    """The card exactly as it was handed over (証発行履歴から再表示), logged as a print."""
    try:
        with engine.begin() as conn:
            _, pdf = certificates.reprint(conn, ctx, certificate_id=certificate_id)
    except Refused as exc:
        with engine.begin() as conn:
            guard.require(conn, ctx, action=Action.VIEW, detail={"screen": "証の再表示", "refused": str(exc)})
        return render(request, "error.html", {"message": str(exc)}, 404)
    return pdf_response(pdf, f"kaigo-certificate-{certificate_id}.pdf")
