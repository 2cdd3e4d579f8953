"""介護保険料額決定通知書 (premium decision notice) and its 変更（更正）決定通知書, as PDF.

A 第1号被保険者's premium is fixed each 年度 by the insurer (介護保険法第129条), as of the
賦課期日 of 4月1日 or, for a person who becomes insured later, from the month of 資格取得
(同法第130条; 月割 per the insurer's 条例), and is collected by 特別徴収 from a pension or
by 普通徴収 with 納付書 / 口座振替 (同法第131条).  This module only prints a notice:
:class:`PremiumNotice` holds exactly what is printed, checked for consistency, and
:func:`render` lays out one A4 portrait page per notice, for a 窓あき封筒 (window
envelope) folded in three.

No 個人番号 is ever printed: a notice mailed in bulk has no need of it, and printing it
would be a 提供 that 番号法第19条 does not allow.  The dataclass has no field for it,
and every printed string is refused if it holds a standalone run of exactly twelve
digits (or twelve digits grouped 4-4-4), whichever field it comes in by.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final, Literal

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from kiban.notices.checks import POSTAL, FieldChecks, check_fiscal_year, check_yen
from kiban.notices.layout import (
    CONTENT_W,
    MARGIN,
    THICK,
    Column,
    cell,
    draw_header,
    draw_notes,
    fit_notes,
    footer,
    item_table,
    review,
    title,
)
from kiban.notices.pdf import Box, new_canvas
from kiban.shared.fiscal import wareki_fiscal_year_label
from kiban.shared.money import format_yen
from kiban.shared.wareki import to_wareki

__all__ = [
    "MAX_INSTALLMENTS",
    "METHODS",
    "TITLES",
    "NoticeInstallment",
    "PremiumNotice",
    "render",
]

Kind = Literal["決定", "変更"]

TITLES: Final[dict[str, str]] = {
    "決定": "介護保険料額決定通知書",
    "変更": "介護保険料額変更（更正）決定通知書",
}
# 介護保険法第131条: 特別徴収 (from a pension, 第135条) or 普通徴収 (納付書・口座振替).
METHODS: Final = ("特別徴収", "普通徴収")
# 仮徴収 3 + 本徴収 3 + 普通徴収 12 periods is the most a year can hold in practice; the
# installment table shrinks past 12 rows and stays on the page up to this many.
MAX_INSTALLMENTS: Final = 20
MAX_BASIS_LINES: Final = 6

# Japanese names of the fields, for error messages.
_LABELS: Final[dict[str, str]] = {
    "kind": "通知の種類",
    "notice_no": "通知番号",
    "insurer_no": "保険者番号",
    "insurer_name": "保険者名",
    "office": "担当課",
    "office_phone": "電話番号",
    "postal_code": "郵便番号",
    "address": "住所",
    "katagaki": "方書",
    "name": "氏名",
    "name_kana": "フリガナ",
    "person_no": "宛名番号",
    "insured_no": "被保険者番号",
    "stage_rule": "判定",
    "basis_lines": "算定の基礎",
    "period_text": "賦課期間",
    "pension_insurer": "年金保険者",
    "notes": "備考",
    "review_body": "審査請求先",
    "label": "期別",
    "method": "徴収方法",
}


# The field checks of kiban.notices.checks, naming the fields in this notice's words.
_CHECKS: Final = FieldChecks(_LABELS, "通知書")


@dataclass(frozen=True)
class NoticeInstallment:
    """One 期 (installment) of the premium: 期別, 納期限 (or 年金支給日), 金額 and 徴収方法."""

    label: str  # 期別, e.g. "第1期" or "4月（仮徴収）"
    due_date: date  # 納期限; for 特別徴収 the pension payment day
    amount: int  # 金額 (円)
    method: str  # "特別徴収" or "普通徴収" (介護保険法第131条)

    def __post_init__(self) -> None:
        _CHECKS.text("label", self.label)
        if self.method not in METHODS:
            raise ValueError(
                f"徴収方法は特別徴収か普通徴収です / method must be 特別徴収 or 普通徴収: {self.method!r}"
            )
        if not isinstance(self.due_date, date):
            raise ValueError(f"納期限は日付です / due_date must be a date: {self.due_date!r}")
        check_yen(f"{self.label}の金額", self.amount)
        _CHECKS.no_individual_number("label", self.label)


@dataclass(frozen=True, kw_only=True)
class PremiumNotice:
    """One 介護保険料額決定通知書 (kind "決定") or 変更（更正）決定通知書 (kind "変更").

    Everything printed is here, already decided by the assessment; nothing is computed
    but the 差額 and the total of the installments.  ``__post_init__`` refuses a notice
    whose figures disagree (``payable = amount - reduction``; the installments add up
    to ``payable`` unless ``previous_payable`` is given, when part of the year may
    already have been collected) and any printed text holding a 12-digit number: the
    個人番号 is never printed on a bulk notice (番号法第19条).
    """

    kind: Kind
    fiscal_year: int  # 賦課年度 (4月1日 start)
    issued_on: date  # 発行日
    notice_no: str  # 通知番号
    insurer_no: str  # 保険者番号, 6 digits
    insurer_name: str  # e.g. "基盤市"
    office: str  # 担当課, e.g. "基盤市 健康福祉部 介護保険課"
    office_phone: str
    # 宛名 (addressee), printed where the envelope window shows it.
    postal_code: str | None
    address: str
    katagaki: str | None = None  # 方書
    name: str
    name_kana: str | None = None
    person_no: str  # 宛名番号, 10 digits
    insured_no: str  # 被保険者番号, 10 digits
    # 賦課の根拠 (basis of the assessment).
    basis_date: date  # 賦課期日 (4月1日, 介護保険法第130条) or 資格取得日
    stage: int  # 所得段階
    stage_count: int
    stage_rule: str  # 判定, e.g. "本人は住民税非課税、世帯に課税者がいる"
    basis_lines: tuple[str, ...] = ()  # e.g. "合計所得金額 1,234,000円"
    base_annual: int  # 基準額
    multiplier: Decimal  # 割合
    annual_full: int  # the stage's amount for a full year
    months: int  # 賦課月数 (月割)
    period_text: str  # e.g. "令和7年4月から令和8年3月まで（12か月）"
    amount: int  # 年額 after 月割
    reduction: int = 0  # 減免額 (介護保険法第142条, per 条例)
    payable: int  # 決定保険料額 = amount - reduction
    previous_payable: int | None = None  # 変更 only: 変更前の額
    # 過誤納見込額: what fixed installments (仮徴収 at last year's February amount, 介護保険法第140条)
    # exceed the year's amount by; the installments then sum to payable + overpaid.
    overpaid: int = 0
    installments: tuple[NoticeInstallment, ...]
    pension_insurer: str | None = None  # 特別徴収 by, e.g. "日本年金機構" (介護保険法第134条)
    notes: tuple[str, ...] = ()
    review_body: str = "介護保険審査会"  # 審査請求先 (介護保険法第183条, 第184条: one per 都道府県)

    def __post_init__(self) -> None:
        if self.kind not in TITLES:
            raise ValueError(f"通知の種類は「決定」か「変更」です / kind must be 決定 or 変更: {self.kind!r}")
        check_fiscal_year(self.fiscal_year)
        _CHECKS.digits("insurer_no", self.insurer_no, 6)
        _CHECKS.digits("person_no", self.person_no, 10)
        _CHECKS.digits("insured_no", self.insured_no, 10)
        for name in ("notice_no", "insurer_name", "office", "office_phone", "address", "name"):
            _CHECKS.text(name, getattr(self, name))
        for name in ("stage_rule", "period_text", "review_body"):
            _CHECKS.text(name, getattr(self, name))
        for name in ("katagaki", "name_kana", "pension_insurer"):
            _CHECKS.text(name, getattr(self, name), required=False)
        if self.postal_code is not None and not POSTAL.fullmatch(self.postal_code):
            raise ValueError(
                f"郵便番号は7桁の数字です（例 812-8577） / postal_code must be NNN-NNNN: {self.postal_code!r}"
            )
        # 介護保険審査会 is set up in each 都道府県 (介護保険法第184条); a template's
        # placeholder such as 「〇〇県」 must not reach a resident.
        if not self.review_body.endswith("介護保険審査会") or re.search(r"[〇○◯]{2}", self.review_body):
            raise ValueError(
                f"審査請求先は「…介護保険審査会」です / review_body must name a 介護保険審査会: {self.review_body!r}"
            )
        self._check_basis()
        self._check_amounts()
        self._check_installments()
        _CHECKS.no_individual_number_in(self)

    def _check_basis(self) -> None:
        if not isinstance(self.basis_date, date) or not isinstance(self.issued_on, date):
            raise ValueError(
                "賦課期日（資格取得日）と発行日は日付です / basis_date and issued_on must be dates"
            )
        for name, value in (("所得段階 / stage", self.stage), ("段階数 / stage_count", self.stage_count)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name}は整数です: {value!r}")
        if not 1 <= self.stage <= self.stage_count:
            raise ValueError(
                f"所得段階は第1段階から第{self.stage_count}段階までです / stage out of range: {self.stage!r}"
            )
        if not isinstance(self.basis_lines, tuple) or not all(isinstance(s, str) for s in self.basis_lines):
            raise ValueError("算定の基礎は文字列のタプルです / basis_lines must be a tuple of str")
        if len(self.basis_lines) > MAX_BASIS_LINES:
            raise ValueError(
                f"算定の基礎は{MAX_BASIS_LINES}行までです / at most {MAX_BASIS_LINES} basis_lines"
            )
        if not isinstance(self.notes, tuple) or not all(isinstance(s, str) for s in self.notes):
            raise ValueError("備考は文字列のタプルです / notes must be a tuple of str")

    def _check_amounts(self) -> None:
        check_yen("基準額 / base_annual", self.base_annual)
        check_yen("年額 / annual_full", self.annual_full)
        check_yen("保険料額 / amount", self.amount)
        check_yen("減免額 / reduction", self.reduction)
        check_yen("決定保険料額 / payable", self.payable)
        if self.previous_payable is not None:
            check_yen("変更前の額 / previous_payable", self.previous_payable)
        if (
            not isinstance(self.multiplier, Decimal)
            or not self.multiplier.is_finite()
            or self.multiplier <= 0
        ):
            raise ValueError(
                f"割合は正のDecimalです / multiplier must be a positive Decimal: {self.multiplier!r}"
            )
        # The stage's amount is 基準額 × 割合 under the 条例's 端数処理 (介護保険法施行令
        # 第38条, 第39条); rounding moves it by less than 1,000円, a typo by more.
        if abs(self.base_annual * self.multiplier - self.annual_full) >= 1000:
            raise ValueError(
                f"年額 / annual_full {self.annual_full:,}円 が 基準額 {self.base_annual:,}円 × 割合 "
                f"{self.multiplier} と合いません"
            )
        if isinstance(self.months, bool) or not isinstance(self.months, int) or not 0 <= self.months <= 12:
            raise ValueError(f"賦課月数は0から12です / months must be 0..12: {self.months!r}")
        # Not equal to annual_full at 12 months either: a month of 生活保護 is charged at its stage.
        if self.amount > self.annual_full or (self.months == 0 and self.amount != 0):
            raise ValueError(
                f"保険料額 / amount {self.amount:,}円 は年額 {self.annual_full:,}円 の{self.months}か月分として合いません"
            )
        if self.reduction > self.amount:
            raise ValueError("減免額 / reduction が保険料額を超えています")
        if self.payable != self.amount - self.reduction:
            raise ValueError(
                f"決定保険料額 / payable {self.payable:,}円 は 保険料額 {self.amount:,}円 − 減免額 "
                f"{self.reduction:,}円 と一致しません"
            )
        # A 変更（更正） notice always says what it changed from; a 決定 has nothing before it.
        if self.kind == "変更" and self.previous_payable is None:
            raise ValueError("変更の通知には変更前の額 / previous_payable が必要です")
        if self.kind == "決定" and self.previous_payable is not None:
            raise ValueError("決定の通知に変更前の額 / previous_payable は指定できません")

    def _check_installments(self) -> None:
        if not isinstance(self.installments, tuple) or not all(
            isinstance(i, NoticeInstallment) for i in self.installments
        ):
            raise ValueError("期別は NoticeInstallment のタプルです / installments must be a tuple")
        if len(self.installments) > MAX_INSTALLMENTS:
            raise ValueError(f"期別は{MAX_INSTALLMENTS}件までです / at most {MAX_INSTALLMENTS} installments")
        total = sum(i.amount for i in self.installments)
        check_yen("過誤納見込額 / overpaid", self.overpaid)
        if self.previous_payable is None and total != self.payable + self.overpaid:
            raise ValueError(
                f"期別の金額の合計 {total:,}円 が決定保険料額 {self.payable:,}円 と一致しません / "
                "installments must add up to payable"
            )
        if any(i.method == "特別徴収" for i in self.installments) and not self.pension_insurer:
            # 介護保険法第134条, 第135条: 特別徴収 is done by the 年金保険者, who must be named.
            raise ValueError("特別徴収があるときは年金保険者 / pension_insurer を指定してください")

    @property
    def title(self) -> str:
        """The printed title, e.g. 「令和7年度　介護保険料額決定通知書」."""
        return f"{wareki_fiscal_year_label(self.fiscal_year)}　{TITLES[self.kind]}"

    @property
    def difference(self) -> int | None:
        """差額 of a 変更: positive = 増額, negative = 減額; None for a 決定."""
        return None if self.previous_payable is None else self.payable - self.previous_payable


def render(notices: Sequence[PremiumNotice]) -> bytes:
    """The PDF: one A4 portrait page per notice, all of one insurer (bulk printing)."""
    if not notices:
        raise ValueError("通知書がありません / no notices to render")
    insurers = {n.insurer_name for n in notices}
    if len(insurers) > 1:
        raise ValueError(
            f"保険者が混在しています / notices of several insurers in one PDF: {sorted(insurers)}"
        )
    kinds = [k for k in TITLES if any(n.kind == k for n in notices)]
    buffer = io.BytesIO()
    # The metadata names the document and the insurer only, never a person.
    canvas = new_canvas(
        buffer,
        title="・".join(TITLES[k] for k in kinds),
        author=notices[0].insurer_name,
        subject="介護保険法第129条 第1号被保険者の保険料",
    )
    for index, notice in enumerate(notices, start=1):
        _page(canvas, notice, index, len(notices))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


# --- layout -----------------------------------------------------------------------------


def _page(canvas: Canvas, notice: PremiumNotice, index: int, total: int) -> None:
    y = _header(canvas, notice)
    y = _title(canvas, notice, y)
    y = _assessment(canvas, notice, y - 4 * mm)
    # The 教示 is pinned to the bottom and the notes follow the installment table, which
    # shrinks when it would otherwise push the notes into the 教示.
    review_top = review(canvas, notice.insurer_name, notice.review_body)
    notes = [("・", s) for s in _standard_notes(notice)]
    size, notes_h = fit_notes(notes, 30 * mm)
    floor = review_top + 3 * mm + (notes_h + 3 * mm if notes else 0)
    bottom = _installments(canvas, notice, y - 6 * mm, floor)
    draw_notes(canvas, notes, bottom - 3 * mm, size)
    footer(canvas, notice, TITLES[notice.kind], notice.notice_no, index, total)


def _header(canvas: Canvas, notice: PremiumNotice) -> float:
    """The addressee (for the envelope window) on the left, the issuer on the right."""
    return draw_header(
        canvas, postal_code=notice.postal_code, address=notice.address, katagaki=notice.katagaki,
        name=notice.name, name_kana=notice.name_kana, issued_on=notice.issued_on,
        number_line=f"通知番号　{notice.notice_no}", insurer_name=notice.insurer_name,
        insurer_no=notice.insurer_no, office=notice.office, office_phone=notice.office_phone,
    )  # fmt: skip


def _title(canvas: Canvas, notice: PremiumNotice, top: float) -> float:
    """The title and the greeting sentence; returns their bottom."""
    year = wareki_fiscal_year_label(notice.fiscal_year)
    verb = "決定しました" if notice.kind == "決定" else "変更（更正）しました"
    greeting = f"あなたの{year}の介護保険料を次のとおり{verb}ので通知します。"
    return title(canvas, notice.title, greeting, top, size=16)


def _multiplier(value: Decimal) -> str:
    """The 割合 as the 条例 writes it, e.g. 0.90 or 1.7 (no exponent notation)."""
    return f"{value:f}"


def _assessment(canvas: Canvas, notice: PremiumNotice, top: float) -> float:
    """The table of the assessment: who, which stage and why, how much."""
    x, w = MARGIN, CONTENT_W
    lw = 40 * mm  # label column
    half = w / 2
    row = 6.5 * mm
    y = top

    def pair(a: str, av: str, b: str, bv: str) -> None:
        nonlocal y
        cell(canvas, Box(x, y - row, lw, row), a, label=True, size=8.5)
        cell(canvas, Box(x + lw, y - row, half - lw, row), av)
        cell(canvas, Box(x + half, y - row, lw, row), b, label=True, size=8.5)
        cell(canvas, Box(x + half + lw, y - row, half - lw, row), bv)
        y -= row

    def line(label: str, value: str, h: float = row, size: float = 9.5) -> None:
        nonlocal y
        cell(canvas, Box(x, y - h, lw, h), label, label=True, size=8.5)
        cell(canvas, Box(x + lw, y - h, w - lw, h), value, size=size)
        y -= h

    pair("被保険者番号", notice.insured_no, "宛名番号", notice.person_no)
    stage = f"第{notice.stage}段階（全{notice.stage_count}段階）"
    pair("賦課期日（資格取得日）", to_wareki(notice.basis_date), "所得段階", stage)
    line("判定", notice.stage_rule)
    if notice.basis_lines:
        n = len(notice.basis_lines)
        line("算定の基礎", "\n".join(notice.basis_lines), h=max(row, n * 4.0 * mm + 2 * mm), size=9)
    line(
        "年額の算定",
        f"基準額 {format_yen(notice.base_annual)} × 割合 {_multiplier(notice.multiplier)}"
        f" ＝ 年額 {format_yen(notice.annual_full)}（12か月分）",
    )
    # 資格取得・喪失 within the year: the premium counts by months (月割, per 条例).
    line("月割（賦課期間）", f"{notice.period_text}　{format_yen(notice.amount)}")
    line("減免額", format_yen(notice.reduction))
    big = 10 * mm
    if notice.kind == "決定":
        line("決定保険料額（年額）", format_yen(notice.payable), h=big, size=15)
    else:
        assert notice.previous_payable is not None and notice.difference is not None
        line("変更前の額", format_yen(notice.previous_payable))
        line("変更後の額", format_yen(notice.payable), h=big, size=15)
        d = notice.difference
        change = "増減なし" if d == 0 else f"{'増額' if d > 0 else '減額'}　{format_yen(abs(d))}"
        line("差額", change, size=11)
    canvas.setLineWidth(THICK)
    canvas.rect(x, y, w, top - y)
    return y


# The 期別 table: 徴収方法, 期別, 納期限, 金額 (the 合計 under 金額).
_INSTALLMENT_COLUMNS: Final = (
    Column("徴収方法", 32 * mm),
    Column("期別", 40 * mm),
    Column("納期限", 50 * mm),
    Column("金額", CONTENT_W - 122 * mm, right=True),
)


def _installments(canvas: Canvas, notice: PremiumNotice, top: float, floor: float) -> float:
    """The 期別 table (徴収方法, 期別, 納期限, 金額, 合計) between ``top`` and ``floor``; returns its bottom."""
    # One row per 期 (or one "—" row); 6 mm rows up to 12 期, then the rows and their
    # font shrink so the table never runs into the notes.
    rows = [
        (i.method, i.label, to_wareki(i.due_date), format_yen(i.amount)) for i in notice.installments
    ] or [("—", "—", "—", format_yen(0))]
    total = sum(i.amount for i in notice.installments)
    return item_table(
        canvas, "保険料の納め方（期別の内訳）", _INSTALLMENT_COLUMNS, rows, top, floor,
        total=format_yen(total), total_at=3, max_row=6 * mm,
    )  # fmt: skip


def _standard_notes(notice: PremiumNotice) -> list[str]:
    notes: list[str] = []
    methods = {i.method for i in notice.installments}
    if "特別徴収" in methods:
        # 介護保険法第135条: the 年金保険者 deducts the premium from each pension payment;
        # the 納期限 column then shows the payment day.
        notes.append(
            f"特別徴収の額は、{notice.pension_insurer}が支払う年金から差し引きます（納期限の欄は年金の支給日です）。"
        )
    if "普通徴収" in methods:
        notes.append("普通徴収の額は、同封の納付書又は口座振替により、各納期限までに納めてください。")
    if notice.kind == "変更":
        notes.append("期別の内訳は、この通知による変更後のものです。すでに納められた額は差し引いてあります。")
    return notes + list(notice.notes)
