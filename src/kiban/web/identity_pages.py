"""Screens of the 宛名 hub (宛名管理): search, person detail, 個人番号 reveal, 職権修正, 送付先, 住登外登録.

Thin: parse the form, call one service of ``kiban.identity``, render. Each screen fixes its 処理事由
(the purpose recorded in the access log): looking someone up is 宛名の照会, changing a record is
宛名の登録・修正, showing the 個人番号 is 個人番号の確認.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from kiban.identity import persons, vault
from kiban.identity.model import FieldError, ResidentClass
from kiban.identity.persons import SearchCriteria, ValidationFailed
from kiban.identity.repo import IdentityError
from kiban.security import guard
from kiban.security.context import AccessContext, Action, Business
from kiban.shared import clock
from kiban.web import deps, forms
from kiban.web.nav import MenuItem, register
from kiban.web.session import access
from kiban.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
EngineDep = Annotated[Engine, Depends(deps.engine)]
Inquiry = Annotated[AccessContext, Depends(access(Business.ATENA, "atena.inquiry"))]
Maintenance = Annotated[AccessContext, Depends(access(Business.ATENA, "atena.maintenance"))]
NumberCheck = Annotated[AccessContext, Depends(access(Business.ATENA, "atena.number_check"))]
CITY_CODE = "992011"  # 基盤市 (kiban.synth.places); a deployment sets its own

register(MenuItem("atena", "宛名検索", "/atena", Business.ATENA))
register(MenuItem("atena-non-resident", "住登外登録", "/atena/non-residents/new", Business.ATENA))


def parse_date(text: str | None, label: str, errors: list[FieldError]) -> date | None:
    """``forms.parse_date`` (2025-04-01, 令和7年4月1日, R7.4.1 or S31.4.9), the error collected with the
    form's others instead of raised."""
    try:
        return forms.parse_date(text, label)
    except forms.InputError:
        errors.append(FieldError(label, "日付として読めません（例: 2025-04-01、R7.4.1、昭和31年4月9日）"))
        return None


@router.get("/atena", response_class=HTMLResponse)
def search_page(
    request: Request,
    engine: EngineDep,
    ctx: Inquiry,
    person_no: str = "",
    kana: str = "",
    name: str = "",
    birth: str = "",
    address: str = "",
) -> HTMLResponse:
    form = {"person_no": person_no, "kana": kana, "name": name, "birth": birth, "address": address}
    errors: list[FieldError] = []
    birth_date = parse_date(birth, "生年月日", errors)
    criteria = SearchCriteria(
        person_no=person_no.strip() or None,
        kana=kana.strip() or None,
        name=name.strip() or None,
        birth_date=birth_date,
        address=address.strip() or None,
    )
    result = None
    with engine.begin() as conn:
        if errors:
            guard.require(conn, ctx, action=Action.SEARCH, detail={"screen": "宛名検索", "refused": "input"})
        elif criteria.given():
            try:
                result = persons.search(conn, ctx, criteria)
            except ValidationFailed as exc:
                errors = exc.errors
        else:
            guard.require(conn, ctx, action=Action.VIEW, detail={"screen": "宛名検索"})
    template = (
        "identity/_results.html" if request.headers.get("hx-request") == "true" else "identity/search.html"
    )
    status = 422 if errors else 200
    return render(
        request, template, {"active": "atena", "form": form, "result": result, "errors": errors}, status
    )


@router.post("/atena/search-by-number", response_class=HTMLResponse)
def search_by_number(
    request: Request, engine: EngineDep, ctx: Inquiry, my_number: Annotated[str, Form()] = ""
) -> HTMLResponse:
    """個人番号での検索 is a POST: the number must never sit in a URL, a history or a proxy log."""
    errors: list[FieldError] = []
    result = None
    with engine.begin() as conn:
        try:
            result = persons.search(conn, ctx, SearchCriteria(my_number=my_number))
        except (ValidationFailed, vault.InvalidMyNumber) as exc:
            guard.require(conn, ctx, action=Action.SEARCH, detail={"screen": "宛名検索", "refused": "input"})
            errors = exc.errors if isinstance(exc, ValidationFailed) else [FieldError("個人番号", str(exc))]
    template = (
        "identity/_results.html" if request.headers.get("hx-request") == "true" else "identity/search.html"
    )
    return render(
        request,
        template,
        {"active": "atena", "form": {}, "result": result, "errors": errors},
        422 if errors else 200,
    )


def _detail_context(engine: Engine, ctx: AccessContext, person_no: str) -> dict[str, Any]:
    with engine.begin() as conn:
        shown = persons.detail(conn, ctx, person_no)
    return {"active": "atena", "p": shown, "d": shown.current.data, "today": clock.today()}


@router.get("/atena/persons/{person_no}", response_class=HTMLResponse)
def person_page(request: Request, engine: EngineDep, ctx: Inquiry, person_no: str) -> HTMLResponse:
    try:
        context = _detail_context(engine, ctx, person_no)
    except IdentityError as exc:
        return render(request, "error.html", {"title": "宛名が見つかりません", "message": str(exc)}, 404)
    return render(request, "identity/person.html", context)


@router.post("/atena/persons/{person_no}/reveal", response_class=HTMLResponse)
def reveal(
    request: Request, engine: EngineDep, ctx: NumberCheck, person_no: str, reason: Annotated[str, Form()] = ""
) -> Response:
    try:
        with engine.begin() as conn:
            number = vault.reveal(conn, ctx, person_no=person_no, reason=reason)
    except IdentityError as exc:
        return redirect(f"/atena/persons/{person_no}", str(exc))
    response = render(
        request,
        "identity/reveal.html",
        {"active": "atena", "person_no": person_no, "number": number, "reason": reason},
    )
    # The number must not be kept by the browser or anything between (domain.md §10.9: 端末に残さない).
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/atena/persons/{person_no}/my-number")
def register_number(
    engine: EngineDep, ctx: Maintenance, person_no: str, my_number: Annotated[str, Form()] = ""
) -> Response:
    try:
        with engine.begin() as conn:
            vault.register(conn, ctx, person_no=person_no, typed=my_number)
    except IdentityError as exc:
        return redirect(f"/atena/persons/{person_no}", f"個人番号を登録できません: {exc}")
    return redirect(f"/atena/persons/{person_no}", "個人番号を登録しました。")


CORRECTABLE = {
    "family_name": "氏",
    "given_name": "名",
    "family_kana": "氏カナ",
    "given_kana": "名カナ",
    "alias_name": "通称名",
    "alias_kana": "通称名カナ",
    "postal_code": "郵便番号",
    "address": "住所",
    "katagaki": "方書",
    "district_code": "地区コード",
}


@router.get("/atena/persons/{person_no}/correct", response_class=HTMLResponse)
def correct_form(request: Request, engine: EngineDep, ctx: Maintenance, person_no: str) -> HTMLResponse:
    context = _detail_context(engine, ctx, person_no)
    return render(request, "identity/correct.html", context | {"fields": CORRECTABLE, "errors": []})


@router.post("/atena/persons/{person_no}/correct", response_class=HTMLResponse)
async def correct(request: Request, engine: EngineDep, ctx: Maintenance, person_no: str) -> Response:
    form = await request.form()
    reason = str(form.get("reason", ""))
    changes: dict[str, Any] = {}
    for key in CORRECTABLE:
        if key in form:
            value = str(form[key]).strip()
            changes[key] = value or (
                None
                if key not in ("family_name", "family_kana", "address", "given_name", "given_kana")
                else ""
            )
    if "birth_date" in form:
        errors: list[FieldError] = []
        parsed = parse_date(str(form["birth_date"]), "生年月日", errors)
        if parsed:
            changes["birth_date"] = parsed
    try:
        with engine.begin() as conn:
            persons.correct(conn, ctx, person_no=person_no, changes=changes, reason=reason)
    except ValidationFailed as exc:
        context = _detail_context(engine, ctx, person_no)
        return render(
            request, "identity/correct.html", context | {"fields": CORRECTABLE, "errors": exc.errors}, 422
        )
    except IdentityError as exc:
        return redirect(f"/atena/persons/{person_no}", str(exc))
    return redirect(f"/atena/persons/{person_no}", "職権修正を記録しました（修正前の記録は履歴に残ります）。")


@router.post("/atena/persons/{person_no}/mailing")
def set_mailing(
    engine: EngineDep,
    ctx: Maintenance,
    person_no: str,
    name: Annotated[str, Form()] = "",
    postal_code: Annotated[str, Form()] = "",
    address: Annotated[str, Form()] = "",
    katagaki: Annotated[str, Form()] = "",
    since: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    errors: list[FieldError] = []
    start = parse_date(since, "開始日", errors) or clock.today()
    try:
        if errors:
            raise ValidationFailed(errors)
        with engine.begin() as conn:
            persons.set_mailing_address(
                conn, ctx, person_no=person_no, name=name, postal_code=postal_code.strip() or None,
                address=address, katagaki=katagaki, since=start, reason=reason,
            )  # fmt: skip
    except IdentityError as exc:
        return redirect(f"/atena/persons/{person_no}", str(exc))
    return redirect(f"/atena/persons/{person_no}", "送付先を登録しました。")


@router.post("/atena/persons/{person_no}/mailing/end")
def end_mailing(
    engine: EngineDep,
    ctx: Maintenance,
    person_no: str,
    on: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    errors: list[FieldError] = []
    end = parse_date(on, "終了日", errors) or clock.today()
    try:
        with engine.begin() as conn:
            persons.end_mailing_address(conn, ctx, person_no=person_no, on=end, reason=reason)
    except IdentityError as exc:
        return redirect(f"/atena/persons/{person_no}", str(exc))
    return redirect(f"/atena/persons/{person_no}", "送付先を終了しました。")


@router.get("/atena/non-residents/new", response_class=HTMLResponse)
def non_resident_form(request: Request, engine: EngineDep, ctx: Maintenance) -> HTMLResponse:
    with engine.begin() as conn:
        guard.require(conn, ctx, action=Action.VIEW, detail={"screen": "住登外登録"})
    return render(
        request,
        "identity/non_resident.html",
        {"active": "atena-non-resident", "form": {}, "errors": [], "reasons": persons.NON_RESIDENT_REASONS},
    )


@router.post("/atena/non-residents", response_class=HTMLResponse)
async def register_non_resident(request: Request, engine: EngineDep, ctx: Maintenance) -> Response:
    form = {k: str(v).strip() for k, v in (await request.form()).items()}
    errors: list[FieldError] = []
    birth = parse_date(form.get("birth_date"), "生年月日", errors)
    since = parse_date(form.get("since"), "住登外となった日", errors)
    if birth is None and not any(e.field == "生年月日" for e in errors):
        errors.append(FieldError("生年月日", "必須です"))
    if since is None and not any(e.field == "住登外となった日" for e in errors):
        errors.append(FieldError("住登外となった日", "必須です"))
    sex = form.get("sex", "")
    if sex not in ("1", "2"):
        errors.append(FieldError("性別", "選んでください"))
    ref = None
    if not errors and birth and since:
        from kiban.identity.model import PersonData

        data = PersonData(
            family_name=form.get("family_name", ""),
            given_name=form.get("given_name", ""),
            family_kana=form.get("family_kana", ""),
            given_kana=form.get("given_kana", ""),
            sex=int(sex),
            birth_date=birth,
            address=form.get("address", ""),
            katagaki=form.get("katagaki") or None,
            postal_code=form.get("postal_code") or None,
            resident_class=ResidentClass.NON_RESIDENT,
            nonresident_reason=form.get("reason") or None,
            in_city=False,
            nonresident_on=since,
        )
        try:
            with engine.begin() as conn:
                ref = persons.register_non_resident(
                    conn,
                    ctx,
                    city_code=CITY_CODE,
                    data=data,
                    since=since,
                    my_number=form.get("my_number") or None,
                )
        except ValidationFailed as exc:
            errors = exc.errors
        except IdentityError as exc:
            errors = [FieldError("個人番号", str(exc))]
    if ref is None:
        with engine.begin() as conn:
            guard.require(conn, ctx, action=Action.VIEW, detail={"screen": "住登外登録", "refused": "input"})
        form.pop("my_number", None)  # never sent back to the browser
        return render(
            request,
            "identity/non_resident.html",
            {
                "active": "atena-non-resident",
                "form": form,
                "errors": errors,
                "reasons": persons.NON_RESIDENT_REASONS,
            },
            422,
        )
    return redirect(
        f"/atena/persons/{ref.person_no}", f"住登外者として登録しました（宛名番号 {ref.person_no}）。"
    )
