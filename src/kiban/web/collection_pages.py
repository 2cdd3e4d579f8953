"""Screens of 収納・滞納 at the counter (介護保険料 first): a person's 収納状況 with the 窓口収納 form,
and the office's 収納ファイル取込 page (金融機関・口座振替・コンビニ・年金特徴 files, 調定の作成).

Thin, like :mod:`kiban.web.kaigo_assessment_pages`: parse the form, call one function of
:mod:`kiban.collection` (``receivables.account``, ``payments.counter_payment``,
``payments.import_payments``) or :func:`kiban.kaigo.assessment.receivables.sync`, render. Every route
first passes the guard with the session's context for the 処理事由 保険料の収納・滞納整理
(``kaigo.collection``), so a refusal is logged before anything about a record is read; writing (窓口収納,
取込, 調定) needs a 担当者 (rank 1) and the guard is asked again, with that rank, before the form's
data is looked at. A request the rules refuse is shown on the same screen in Japanese (422); a rank
refusal with 403. No screen here shows a 個人番号 (the 納付番号 is not one: 業務・年度・宛名番号・期).

延滞金 is computed to today on the unpaid amount of each 滞納 期別 by
:func:`kiban.collection.late_fee.compute_late_fee`; when it cannot be computed (a year whose rates are
not verified, the module unavailable) the screen says 「計算できません」 rather than guessing. The
時効完成日 is :func:`kiban.collection.demands.prescription_of`: the 納期限 renewed by the first 督促,
a 分納誓約 and partial payments as recorded.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine, text

from kiban.collection import appropriation, demands, receivables, refunds
from kiban.collection import payments as pay
from kiban.identity import persons
from kiban.identity.model import CLERK_RANK
from kiban.identity.persons import SearchCriteria
from kiban.identity.repo import IdentityError
from kiban.kaigo.assessment import pension_results
from kiban.kaigo.assessment import receivables as kaigo_receivables
from kiban.security import guard
from kiban.security.context import AccessContext, Action, Business
from kiban.security.errors import AccessDenied
from kiban.shared import clock
from kiban.shared.fiscal import fiscal_year as fiscal_year_of
from kiban.shared.fiscal import wareki_fiscal_year_label
from kiban.web import deps
from kiban.web.forms import InputError, parse_date, pdf_response
from kiban.web.nav import MenuItem, register
from kiban.web.session import access
from kiban.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
PURPOSE = "kaigo.collection"  # 保険料の収納・滞納整理 (security.purpose seed)
BUSINESS = "kaigo"
IMPORT_PATH = "/collection/payments/import"
MAX_FILE_BYTES = 200 * 1024 * 1024
EngineDep = Annotated[Engine, Depends(deps.engine)]

register(MenuItem("collection-import", "収納ファイル取込", IMPORT_PATH, Business.KAIGO))

Refused = (InputError, pay.PaymentError, IdentityError, LookupError)
METHODS = {"special": "特別徴収", "ordinary": "普通徴収"}
STATES = {"paid": "完納", "partial": "一部納付", "unpaid": "未納", "overdue": "滞納", "none": "調定なし"}
PAYMENT_STATUS = {
    "applied": "消込済（完納）",
    "partial": "消込済（一部納付）",
    "over": "過納（過誤納あり）",
    "unmatched": "未確認",
}
IMPORT_CHANNELS = {k: v for k, v in pay.CHANNELS.items() if k != "counter"}
PRESCRIPTION_NOTE = "督促・分納誓約等を反映"


@dataclass(frozen=True)
class Staff:
    """The session's context and the rank of the 介護保険 grant the guard found."""

    ctx: AccessContext
    rank: int

    @property
    def may_record(self) -> bool:
        return self.rank >= CLERK_RANK


def collection_access(
    engine: EngineDep, ctx: Annotated[AccessContext, Depends(access(Business.KAIGO, PURPOSE))]
) -> Staff:
    """Any 介護保険 grant, checked (and a refusal logged) before the route reads or parses anything."""
    with engine.begin() as conn:
        granted = guard.require(conn, ctx, action=Action.VIEW, log=False)
    return Staff(ctx, granted.role_rank)


StaffDep = Annotated[Staff, Depends(collection_access)]


def message(exc: Exception) -> str:
    return str(exc.args[0]) if exc.args else str(exc)


def year_label(fy: int) -> str:
    return f"{wareki_fiscal_year_label(fy)}（{fy}年度）"


def parse_year(value: str) -> int:
    text_ = unicodedata.normalize("NFKC", value or "").strip().removesuffix("年度")
    if not text_.isascii() or not text_.isdigit() or not 2000 <= int(text_) <= 2100:
        raise InputError("年度を入力してください（例: 2025）")
    return int(text_)


def parse_amount(value: str) -> int:
    """Yen as typed at a counter: 2100, 2,100, ２１００, 2100円 — 1円以上."""
    typed = unicodedata.normalize("NFKC", value or "").strip().replace(",", "").removesuffix("円").strip()
    if not typed:
        raise InputError("金額を入力してください")
    if not typed.isascii() or not typed.isdigit() or int(typed) <= 0:
        raise InputError(f"金額は1円以上の整数で入力してください（例: 2100）: {value}")
    if int(typed) > pay.MAX_AMOUNT:
        raise InputError(f"金額は{pay.MAX_AMOUNT:,}円以下で入力してください")
    return int(typed)


# -- 収納状況 of a person ------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One 期別 as the counter reads it."""

    row: receivables.ReceivableRow
    state: str
    late_fee: int | None  # None: not computable (or not 滞納: see ``overdue``)
    late_fee_note: str
    prescribed_on: date | None  # 時効完成日 without 督促等; None when nothing is unpaid
    prescribed: bool  # 時効完成日 has passed

    @property
    def overdue(self) -> bool:
        return self.state == "overdue"

    @property
    def method_label(self) -> str:
        return METHODS.get(self.row.method, self.row.method)

    @property
    def state_label(self) -> str:
        return STATES[self.state]

    @property
    def key(self) -> str:
        return f"{self.row.fiscal_year}-{self.row.method}-{self.row.period}"


def _state(r: receivables.ReceivableRow, today: date) -> str:
    if r.amount == 0 and r.paid == 0:
        return "none"
    if r.unpaid <= 0:
        return "paid"
    if r.due_date < today:
        return "overdue"
    return "partial" if r.paid > 0 else "unpaid"


def late_fee_of(unpaid: int, due_date: date, today: date) -> tuple[int | None, str]:
    """延滞金 on ``unpaid`` from the day after ``due_date`` to ``today`` (None: 計算できません)."""
    try:
        from kiban.collection.late_fee import compute_late_fee

        fee = compute_late_fee(unpaid, due_date, today)
        return int(fee.late_fee), ""
    except Exception as exc:  # an unverified year, or the calculator unavailable: say so, never guess
        log.info("延滞金を計算できません（納期限 %s）: %s", due_date, exc)
        return None, message(exc)


def _line(r: receivables.ReceivableRow, today: date, completes: date | None) -> Line:
    state = _state(r, today)
    fee, note = (None, "")
    if state == "overdue":
        fee, note = late_fee_of(r.unpaid, r.due_date, today)
    return Line(r, state, fee, note, completes, completes is not None and today > completes)


@dataclass(frozen=True)
class Year:
    fiscal_year: int
    lines: tuple[Line, ...]

    @property
    def label(self) -> str:
        return year_label(self.fiscal_year)

    @property
    def amount(self) -> int:
        return sum(x.row.amount for x in self.lines)

    @property
    def paid(self) -> int:
        return sum(x.row.paid for x in self.lines)

    @property
    def unpaid(self) -> int:
        return sum(x.row.unpaid for x in self.lines)

    @property
    def late_fee(self) -> int:
        return sum(x.late_fee or 0 for x in self.lines)

    @property
    def late_fee_unknown(self) -> bool:
        return any(x.overdue and x.late_fee is None for x in self.lines)


def _account_context(engine: Engine, staff: Staff, person_no: str) -> dict[str, Any]:
    with engine.begin() as conn:
        found = persons.search(conn, staff.ctx, SearchCriteria(person_no=person_no)).rows
        if not found:
            raise LookupError(f"宛名番号 {person_no} の方は登録されていません")
        acct = receivables.account(conn, staff.ctx, person_no=person_no, business=BUSINESS)
        # 時効完成日 from the records: the first 督促, 分納誓約 and partial payments renew it.
        completes = {
            r.receivable_id: demands.prescription_of(conn, r.receivable_id).completes_on
            for r in acct.receivables
            if r.unpaid > 0
        }
    today = clock.today()
    lines = [_line(r, today, completes.get(r.receivable_id)) for r in acct.receivables]
    years = [
        Year(fy, tuple(x for x in lines if x.row.fiscal_year == fy))
        for fy in sorted({x.row.fiscal_year for x in lines}, reverse=True)
    ]
    return {
        "active": "kaigo-insured",
        "person_no": person_no,
        "person": found[0],
        "acct": acct,
        "years": years,
        "open_lines": [x for x in lines if x.row.unpaid > 0],
        "arrears": acct.arrears(today),
        "late_fee_total": sum(x.late_fee or 0 for x in lines),
        "late_fee_unknown": any(x.overdue and x.late_fee is None for x in lines),
        "payments": [
            {
                "paid_on": d,
                "amount": a,
                "channel": pay.CHANNELS.get(c, c),
                "status": s,
                "status_label": PAYMENT_STATUS.get(s, s),
            }
            for d, a, c, s in reversed(acct.payments)
        ],
        "channels": pay.CHANNELS,
        "prescription_note": PRESCRIPTION_NOTE,
        "may_record": staff.may_record,
        "today": today,
        "form": {},
        "error": None,
        "open": None,
    }


def _account_page(
    request: Request,
    engine: Engine,
    staff: Staff,
    person_no: str,
    *,
    error: str | None = None,
    status: int = 422,
    open_: str | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    try:
        context = _account_context(engine, staff, person_no)
    except Refused as exc:
        return render(request, "error.html", {"message": message(exc)}, 404)
    context |= {"error": error, "open": open_, "form": form or {}}
    return render(request, "collection/account.html", context, status if error else 200)


@router.get("/kaigo/persons/{person_no}/account", response_class=HTMLResponse)
def account_page(request: Request, engine: EngineDep, staff: StaffDep, person_no: str) -> HTMLResponse:
    return _account_page(request, engine, staff, person_no)


@router.post("/kaigo/persons/{person_no}/account/payments", response_class=HTMLResponse)
def record_counter_payment(
    request: Request,
    engine: EngineDep,
    staff: StaffDep,
    person_no: str,
    payment_no: Annotated[str, Form()] = "",
    amount: Annotated[str, Form()] = "",
    paid_on: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """窓口収納: one payment to one of this person's 期別, by its 納付番号, and its 消込."""
    payment_no = unicodedata.normalize("NFKC", payment_no).strip()
    form = {"payment_no": payment_no, "amount": amount, "paid_on": paid_on, "note": note}
    try:
        with engine.begin() as conn:
            guard.require(
                conn, staff.ctx, action=Action.CREATE, subjects=[person_no], min_rank=CLERK_RANK, log=False
            )
            target = conn.execute(
                text(
                    "SELECT r.label, r.fiscal_year FROM collection.receivable r JOIN identity.person p USING (person_id)"
                    " WHERE r.payment_no = :n AND p.person_no = :p AND r.business = :b"
                ),
                {"n": payment_no, "p": person_no, "b": BUSINESS},
            ).first()
            if target is None:
                raise InputError(
                    "この方の介護保険料の期別の納付番号ではありません（画面を開き直してください）"
                )
            yen = parse_amount(amount)
            day = parse_date(paid_on, "納付日") or clock.today()
            if day > clock.today():
                raise InputError(f"納付日が未来の日付です: {paid_on}")
            if len(note) > 200:
                raise InputError("備考は200文字以内で入力してください")
            payment_id = pay.counter_payment(
                conn, staff.ctx, payment_no=payment_no, amount=yen, paid_on=day, note=note.strip()
            )
            status = str(
                conn.execute(
                    text("SELECT status FROM collection.payment WHERE payment_id = :i"), {"i": payment_id}
                ).scalar_one()
            )
    except AccessDenied as exc:
        return _account_page(
            request, engine, staff, person_no, error=f"窓口収納を記録できません: {exc}", status=403,
            open_=payment_no, form=form,
        )  # fmt: skip
    except Refused as exc:
        return _account_page(
            request, engine, staff, person_no, error=f"窓口収納を記録できません: {message(exc)}",
            open_=payment_no, form=form,
        )  # fmt: skip
    result = {
        "applied": "完納になりました",
        "partial": "一部納付です",
        "over": "納め過ぎの額は過誤納になりました",
    }
    return redirect(
        f"/kaigo/persons/{person_no}/account#fy{target.fiscal_year}",
        f"{year_label(int(target.fiscal_year))} {target.label} の窓口収納 {yen:,}円を記録しました"
        f"（{result.get(status, status)}）。",
    )


# -- 過誤納: 充当・還付, and the 納付済確認書 --------------------------------------------------------


@router.post("/kaigo/persons/{person_no}/account/appropriate", response_class=HTMLResponse)
def appropriate_overpayment(request: Request, engine: EngineDep, staff: StaffDep, person_no: str) -> Response:
    """充当: the person's open 過誤納 to the oldest unpaid 期別 past due (担当者)."""
    try:
        with engine.begin() as conn:
            made, left = appropriation.appropriate(conn, staff.ctx, person_no=person_no, business=BUSINESS)
    except AccessDenied as exc:
        return _account_page(request, engine, staff, person_no, error=f"充当できません: {exc}", status=403)
    except Refused as exc:
        return _account_page(request, engine, staff, person_no, error=f"充当できません: {message(exc)}")
    done = (
        "、".join(f"{m.fiscal_year}年度 {m.label} {m.amount:,}円" for m in made)
        or "充当する滞納はありませんでした"
    )
    return redirect(f"/kaigo/persons/{person_no}/account", f"充当: {done}。還付できる残りは {left:,}円です。")


@router.post("/kaigo/persons/{person_no}/account/refund", response_model=None)
def decide_refund(
    request: Request,
    engine: EngineDep,
    staff: StaffDep,
    person_no: str,
    method: Annotated[str, Form()] = "口座振込",
    payment_date: Annotated[str, Form()] = "",
    bank: Annotated[str, Form()] = "",
) -> Response:
    """還付の決定 (係長) of the open 過誤納 with 還付加算金; answers with the 還付通知書 (PDF)."""
    try:
        day = parse_date(payment_date, "支払予定日") if payment_date else None
        if method == "口座振込" and day is None:
            # Checked before the decision: the form is incomplete whoever sends it.
            raise InputError("口座振込の支払予定日を入力してください")
        with engine.begin() as conn:
            refund = refunds.decide_refund(
                conn, staff.ctx, person_no=person_no, business=BUSINESS, decided_on=clock.today(),
                method=method, payment_date=day,
            )  # fmt: skip
            pdf = kaigo_receivables.refund_pdf(
                conn, staff.ctx, refund=refund, issued_on=clock.today(), bank=bank.strip() or None
            )
    except AccessDenied as exc:
        return _account_page(
            request, engine, staff, person_no, error=f"還付を決定できません: {exc}", status=403
        )
    except (*Refused, refunds.RefundError, ValueError) as exc:
        return _account_page(request, engine, staff, person_no, error=f"還付を決定できません: {message(exc)}")
    return pdf_response(pdf, f"refund-{refund.refund_id}.pdf")


@router.get("/kaigo/persons/{person_no}/account/receipt.pdf", response_model=None)
def receipt_certificate(
    request: Request,
    engine: EngineDep,
    staff: StaffDep,
    person_no: str,
    period_from: str = "",
    period_to: str = "",
    purpose: str = "確定申告（社会保険料控除）",
) -> Response:
    """納付済確認書 of the 普通徴収 paid in a period (e.g. 1 January – 31 December for 社会保険料控除)."""
    try:
        start = parse_date(period_from, "対象期間（から）")
        end = parse_date(period_to, "対象期間（まで）")
        if start is None or end is None:
            raise InputError("対象期間を入力してください")
        with engine.begin() as conn:
            pdf = kaigo_receivables.receipt_pdf(
                conn, staff.ctx, person_no=person_no, period_from=start, period_to=end,
                purpose=purpose.strip() or "確定申告（社会保険料控除）", issued_on=clock.today(),
            )  # fmt: skip
    except AccessDenied as exc:
        return _account_page(
            request, engine, staff, person_no, error=f"納付済確認書を発行できません: {exc}", status=403
        )
    except (*Refused, ValueError) as exc:
        return _account_page(
            request, engine, staff, person_no, error=f"納付済確認書を発行できません: {message(exc)}"
        )
    return pdf_response(pdf, f"receipt-{person_no}.pdf")


# -- 収納ファイル取込 (the office's page) -----------------------------------------------------------


@dataclass(frozen=True)
class FileRow:
    """One imported file (collection.payment_file) with its 消込 counts."""

    file_id: int
    channel: str
    file_name: str
    records: int
    imported: int
    duplicates: int
    imported_at: Any
    staff_name: str | None
    applied: int
    partial: int
    over: int
    unmatched: int
    amount: int

    @property
    def channel_label(self) -> str:
        return pay.CHANNELS.get(self.channel, self.channel)


_FILES = """
SELECT f.file_id, f.channel, f.file_name, f.records, f.imported, f.duplicates, f.imported_at, s.name AS staff_name,
       count(*) FILTER (WHERE p.status = 'applied')::int AS applied,
       count(*) FILTER (WHERE p.status = 'partial')::int AS partial,
       count(*) FILTER (WHERE p.status = 'over')::int AS over,
       count(*) FILTER (WHERE p.status = 'unmatched')::int AS unmatched,
       coalesce(sum(p.amount), 0)::bigint AS amount
  FROM (SELECT * FROM collection.payment_file ORDER BY file_id DESC LIMIT :n) f
  LEFT JOIN security.staff s ON s.staff_id = f.imported_by
  LEFT JOIN collection.payment p ON p.file_id = f.file_id
 GROUP BY f.file_id, f.channel, f.file_name, f.records, f.imported, f.duplicates, f.imported_at, s.name
 ORDER BY f.file_id DESC
"""


def _files(engine: Engine, limit: int = 20) -> list[FileRow]:
    with engine.connect() as conn:
        return [FileRow(**dict(r._mapping)) for r in conn.execute(text(_FILES), {"n": limit})]


def _import_page(
    request: Request,
    engine: Engine,
    staff: Staff,
    *,
    form: dict[str, str] | None = None,
    error: str | None = None,
    error_at: str | None = None,
    errors: list[pay.RecordError] | None = None,
    result: pay.PaymentImportResult | None = None,
    pension: pension_results.PensionImportResult | None = None,
    file_name: str = "",
    status: int = 422,
) -> HTMLResponse:
    # File names and counts only, no personal data: checked by the dependency, not logged.
    with engine.connect() as conn:
        assessed = conn.execute(text("SELECT max(fiscal_year) FROM kaigo.assessment")).scalar()
    default_year = int(assessed) if assessed is not None else fiscal_year_of(clock.today())
    context = {
        "active": "collection-import",
        "channels": IMPORT_CHANNELS,
        "header": ",".join(pay.HEADER),
        "files": _files(engine),
        "form": {"channel": "bank", "fiscal_year": str(default_year)} | (form or {}),
        "error": error,
        "error_at": error_at,
        "errors": errors or [],
        "result": result,
        "pension": pension,
        "pension_header": ",".join(pension_results.HEADER),
        "file_name": file_name,
        "may_record": staff.may_record,
    }
    failed = error is not None or bool(errors)
    return render(request, "collection/import.html", context, status if failed else 200)


@router.get(IMPORT_PATH, response_class=HTMLResponse)
def import_page(request: Request, engine: EngineDep, staff: StaffDep) -> HTMLResponse:
    return _import_page(request, engine, staff)


@router.post(IMPORT_PATH, response_class=HTMLResponse)
def import_file(
    request: Request,
    engine: EngineDep,
    staff: StaffDep,
    channel: Annotated[str, Form()] = "",
    file: UploadFile | None = None,
) -> Response:
    """One payment file: all-or-nothing, idempotent (kiban.collection.payments)."""
    form = {"channel": channel}
    name = (file.filename or "") if file is not None else ""
    try:
        with engine.begin() as conn:
            guard.require(
                conn, staff.ctx, action=Action.CREATE, min_rank=CLERK_RANK, log=False,
            )  # fmt: skip
        if channel not in IMPORT_CHANNELS:
            raise InputError("収納区分を選んでください")
        if file is None or not name:
            raise InputError("取り込む収納ファイルを選んでください")
        data = file.file.read(MAX_FILE_BYTES + 1)
        if not data.strip():
            raise InputError(f"ファイル {name} は空です")
        if len(data) > MAX_FILE_BYTES:
            raise InputError(f"ファイルが大きすぎます（{MAX_FILE_BYTES // 1024 // 1024}MBまで）")
        pension = None
        if channel == "pension":  # the 年金保険者's 特別徴収結果 (docs/layouts/kaigo-special-results.md)
            pension = pension_results.import_results(engine, staff.ctx, data=data, file_name=name)
            result = pension.payments or pay.PaymentImportResult(
                pension.file_id, pension.records, already_imported=pension.already_imported
            )
        else:
            result = pay.import_payments(engine, staff.ctx, channel=channel, data=data, file_name=name)
    except AccessDenied as exc:
        return _import_page(
            request, engine, staff, form=form, error=f"取り込めません: {exc}", error_at="import", status=403
        )
    except pay.PaymentFileRejected as exc:
        return _import_page(
            request, engine, staff, form=form, error=message(exc), error_at="import", errors=exc.errors,
            file_name=name,
        )  # fmt: skip
    except Refused as exc:
        return _import_page(
            request, engine, staff, form=form, error=f"取り込めません: {message(exc)}", error_at="import"
        )
    return _import_page(request, engine, staff, form=form, result=result, pension=pension, file_name=name)


@router.post("/collection/receivables/sync", response_class=HTMLResponse)
def sync_receivables(
    request: Request, engine: EngineDep, staff: StaffDep, fiscal_year: Annotated[str, Form()] = ""
) -> Response:
    """調定を作成（賦課から）: the year's current 介護保険料 賦課 handed over as 期別 with 納付番号."""
    form = {"fiscal_year": fiscal_year}
    try:
        fy = parse_year(fiscal_year)
        with engine.begin() as conn:
            guard.require(
                conn, staff.ctx, action=Action.UPDATE, min_rank=CLERK_RANK,
                detail={"what": "kaigo.receivables.sync.start", "fiscal_year": fy},
            )  # fmt: skip
        counts = kaigo_receivables.sync(engine, fiscal_year=fy)
    except AccessDenied as exc:
        return _import_page(request, engine, staff, form=form, error=str(exc), error_at="sync", status=403)
    except Refused as exc:
        return _import_page(
            request, engine, staff, form=form, error=f"調定を作成できません: {message(exc)}", error_at="sync"
        )
    return redirect(
        f"{IMPORT_PATH}#sync",
        f"{year_label(fy)}の調定を作成しました: 対象 {counts['persons']:,}人・新たな期別 {counts['created']:,}件・"
        f"更正 {counts['revised']:,}件・過誤納 {counts['overpaid']:,}円。",
    )
