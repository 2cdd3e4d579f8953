"""介護保険料督促状 (demand notice for unpaid 介護保険料 installments), as PDF.

A 第1号被保険者's premium collected by 普通徴収 is a 歳入 of the 市町村; when a 期 is not
paid by its 納期限, the 長 must 督促 with a 指定期限 (地方自治法第231条の3第1項) and may
charge a 督促手数料 and 延滞金 per 条例 (同条第2項).  The 督促 also renews the 時効 of the
premium (介護保険法第200条第2項).  This module only prints the notice: :class:`DemandNotice`
holds exactly what is printed, checked for consistency, and :func:`render` lays out one A4
portrait page per notice for the same 窓あき封筒 as the 介護保険料額決定通知書
(:mod:`kiban.notices.premium_notice`), on the page layout all notices share
(:mod:`kiban.notices.layout`).

No 個人番号 is ever printed (番号法第19条): every printed string is refused if it holds a
standalone run of exactly twelve digits (or twelve digits grouped 4-4-4).  The 20-digit
納付番号 is not one and is printed as it is.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from reportlab.lib.colors import Color, black
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from kiban.notices.checks import POSTAL, FieldChecks, check_date, check_fiscal_year, check_yen
from kiban.notices.layout import (
    CONTENT_W,
    MARGIN,
    THICK,
    THIN,
    Column,
    cell,
    draw_notes,
    fit_notes,
    footer,
    header,
    item_table,
    numbers,
    review,
    title,
)
from kiban.notices.pdf import GOTHIC, Box, draw_fitted, new_canvas
from kiban.shared.fiscal import wareki_fiscal_year_label
from kiban.shared.money import format_yen
from kiban.shared.wareki import to_wareki

__all__ = ["MAX_ITEMS", "TITLE", "DemandItem", "DemandNotice", "render"]

TITLE: Final = "介護保険料督促状"
# One 督促状 covers at most a year's 普通徴収 periods; the table is laid out for that many.
MAX_ITEMS: Final = 12

# 地方自治法第231条の3第1項: the 督促 names a 指定期限 by which to pay.
LEAD: Final = "下記の介護保険料が納期限を過ぎても納付されていません。指定期限までに納付してください。"
# 介護保険法第200条第2項: 保険料の督促は、時効の更新の効力を有する.
PRESCRIPTION_NOTE: Final = "この督促により、未納の保険料の時効（介護保険法第200条）が更新されます。"
PAYMENT_PLACE: Final = "同封の納付書により、金融機関・コンビニエンスストア・市役所窓口で納付してください。"
DEFAULT_LATE_FEE_NOTE: Final = "納期限の翌日から納付の日までの日数に応じて延滞金がかかることがあります。"

# Japanese names of the fields, for error messages.
_LABELS: Final[dict[str, str]] = {
    "notice_no": "通知番号",
    "insurer_no": "保険者番号",
    "insurer_name": "保険者名",
    "office": "担当課",
    "office_phone": "電話番号",
    "postal_code": "郵便番号",
    "address": "住所",
    "katagaki": "方書",
    "name": "氏名",
    "person_no": "宛名番号",
    "insured_no": "被保険者番号",
    "late_fee_note": "延滞金の注意書き",
    "notes": "備考",
    "review_body": "審査請求先",
    "label": "期別",
    "payment_no": "納付番号",
}


# The field checks of kiban.notices.checks, naming the fields in this notice's words.
_CHECKS: Final = FieldChecks(_LABELS, "督促状")


@dataclass(frozen=True)
class DemandItem:
    """One unpaid 期: 年度, 期別, 納期限, 調定額, 未納額 and its 納付番号."""

    fiscal_year: int  # 賦課年度 of the 期
    label: str  # 期別, e.g. "第3期"
    due_date: date  # 納期限
    amount: int  # 調定額 (円)
    unpaid: int  # 未納額 (円): 調定額 less what has been paid or 充当 so far
    payment_no: str  # 納付番号, 20 digits (printed; not a 個人番号)

    def __post_init__(self) -> None:
        check_fiscal_year(self.fiscal_year)
        _CHECKS.text("label", self.label)
        check_date("納期限 / due_date", self.due_date)
        check_yen(f"{self.label}の調定額 / amount", self.amount)
        check_yen(f"{self.label}の未納額 / unpaid", self.unpaid)
        # A 督促 is only for what is still unpaid (地方自治法第231条の3第1項).
        if self.unpaid <= 0:
            raise ValueError(f"{self.label}の未納額は1円以上です / unpaid must be positive: {self.unpaid!r}")
        if self.unpaid > self.amount:
            raise ValueError(
                f"{self.label}の未納額 {self.unpaid:,}円 が調定額 {self.amount:,}円 を超えています / "
                "unpaid must not exceed amount"
            )
        _CHECKS.digits("payment_no", self.payment_no, 20)
        _CHECKS.no_individual_number("label", self.label)


@dataclass(frozen=True, kw_only=True)
class DemandNotice:
    """One 介護保険料督促状: the addressee, the unpaid 期 and the 指定期限.

    ``__post_init__`` refuses a notice that could not lawfully be sent as it stands: no
    or too many items, a 期 whose 納期限 has not yet passed, a 指定期限 not after the
    発行日, and any printed text holding a 12-digit number (番号法第19条).
    """

    issued_on: date  # 発行日
    notice_no: str  # 通知番号
    insurer_no: str  # 保険者番号, 6 digits
    insurer_name: str  # e.g. "基盤市"
    office: str  # 担当課
    office_phone: str
    # 宛名 (addressee), printed where the envelope window shows it.
    postal_code: str | None
    address: str
    katagaki: str | None  # 方書
    name: str
    person_no: str  # 宛名番号, 10 digits
    insured_no: str  # 被保険者番号, 10 digits
    items: tuple[DemandItem, ...]  # 1 to MAX_ITEMS unpaid 期
    deadline: date  # 指定期限 (地方自治法第231条の3第1項)
    fee: int = 0  # 督促手数料 per 条例 (地方自治法第231条の3第2項)
    late_fee_note: str = DEFAULT_LATE_FEE_NOTE  # 延滞金 per 条例 (同条第2項)
    notes: tuple[str, ...] = ()
    review_body: str = "介護保険審査会"  # 審査請求先 (介護保険法第183条, 第184条: one per 都道府県)

    def __post_init__(self) -> None:
        check_date("発行日 / issued_on", self.issued_on)
        check_date("指定期限 / deadline", self.deadline)
        _CHECKS.digits("insurer_no", self.insurer_no, 6)
        _CHECKS.digits("person_no", self.person_no, 10)
        _CHECKS.digits("insured_no", self.insured_no, 10)
        for name in ("notice_no", "insurer_name", "office", "office_phone", "address", "name"):
            _CHECKS.text(name, getattr(self, name))
        _CHECKS.text("late_fee_note", self.late_fee_note)
        _CHECKS.text("review_body", self.review_body)
        _CHECKS.text("katagaki", self.katagaki, required=False)
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
        # The 指定期限 gives time to pay after the notice arrives (地方自治法第231条の3第1項).
        if self.deadline <= self.issued_on:
            raise ValueError(
                f"指定期限 {to_wareki(self.deadline)} は発行日 {to_wareki(self.issued_on)} より後の日です / "
                "deadline must be after issued_on"
            )
        check_yen("督促手数料 / fee", self.fee)
        if not isinstance(self.notes, tuple) or not all(isinstance(s, str) for s in self.notes):
            raise ValueError("備考は文字列のタプルです / notes must be a tuple of str")
        self._check_items()
        _CHECKS.no_individual_number_in(self)

    def _check_items(self) -> None:
        if not isinstance(self.items, tuple) or not all(isinstance(i, DemandItem) for i in self.items):
            raise ValueError("未納の期別は DemandItem のタプルです / items must be a tuple of DemandItem")
        if not 1 <= len(self.items) <= MAX_ITEMS:
            raise ValueError(
                f"未納の期別は1件から{MAX_ITEMS}件までです / items must hold 1 to {MAX_ITEMS}: {len(self.items)}件"
            )
        numbers = [i.payment_no for i in self.items]
        if len(set(numbers)) != len(numbers):
            raise ValueError("納付番号が重複しています / the same payment_no appears twice")
        for item in self.items:
            # 地方自治法第231条の3第1項: 督促 is for what is not paid by its 納期限.
            if item.due_date >= self.issued_on:
                raise ValueError(
                    f"{item.label}の納期限 {to_wareki(item.due_date)} が発行日より前ではありません / "
                    "every due_date must have passed by issued_on"
                )

    @property
    def total_unpaid(self) -> int:
        """合計未納額: the sum of the 未納額 of the items."""
        return sum(i.unpaid for i in self.items)

    @property
    def total_due(self) -> int:
        """納付すべき額: 合計未納額 plus the 督促手数料 (延滞金 is computed when paid)."""
        return self.total_unpaid + self.fee


def render(notices: Sequence[DemandNotice]) -> bytes:
    """The PDF: one A4 portrait page per notice, all of one insurer (bulk printing)."""
    if not notices:
        raise ValueError("督促状がありません / no notices to render")
    insurers = {n.insurer_name for n in notices}
    if len(insurers) > 1:
        raise ValueError(
            f"保険者が混在しています / notices of several insurers in one PDF: {sorted(insurers)}"
        )
    buffer = io.BytesIO()
    # The metadata names the document and the insurer only, never a person.
    canvas = new_canvas(
        buffer,
        title=TITLE,
        author=notices[0].insurer_name,
        subject="地方自治法第231条の3 督促（介護保険料）",
    )
    for index, notice in enumerate(notices, start=1):
        _page(canvas, notice, index, len(notices))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


# --- layout -----------------------------------------------------------------------------

_RED: Final = Color(0.75, 0.0, 0.0)


def _page(canvas: Canvas, notice: DemandNotice, index: int, total: int) -> None:
    y = header(canvas, notice, f"通知番号　{notice.notice_no}")
    y = title(canvas, TITLE, LEAD, y)
    y = _summary(canvas, notice, y - 4 * mm)
    review_top = review(canvas, notice.insurer_name, notice.review_body)
    notes = [("・", s) for s in _standard_notes(notice)]
    size, notes_h = fit_notes(notes, 32 * mm)
    floor = review_top + 3 * mm + notes_h + 3 * mm
    bottom = _items(canvas, notice, y - 5 * mm, floor)
    draw_notes(canvas, notes, bottom - 3 * mm, size)
    footer(canvas, notice, TITLE, notice.notice_no, index, total)


def _summary(canvas: Canvas, notice: DemandNotice, top: float) -> float:
    """Who (被保険者番号・宛名番号), how much in all, and by when: the 指定期限 stands out."""
    x, w = MARGIN, CONTENT_W
    half = w / 2
    lw = 32 * mm
    row = 6.5 * mm
    y = numbers(canvas, notice, top)
    if notice.fee:
        # 地方自治法第231条の3第2項: the 督促手数料 is added per 条例.
        cell(canvas, Box(x, y - row, lw, row), "合計未納額", label=True, size=8.5)
        cell(canvas, Box(x + lw, y - row, half - lw, row), format_yen(notice.total_unpaid), align="right")
        cell(canvas, Box(x + half, y - row, lw, row), "督促手数料", label=True, size=8.5)
        cell(canvas, Box(x + half + lw, y - row, half - lw, row), format_yen(notice.fee), align="right")
        y -= row
    big = 12 * mm
    total_label = "納付すべき額" if notice.fee else "合計未納額"
    cell(canvas, Box(x, y - big, lw, big), total_label, label=True, size=10)
    cell(canvas, Box(x + lw, y - big, half - lw, big), format_yen(notice.total_due), size=17, align="right")
    cell(canvas, Box(x + half, y - big, lw, big), "指定期限", label=True, size=10)
    deadline_box = Box(x + half + lw, y - big, half - lw, big)
    cell(canvas, deadline_box)
    canvas.setFillColor(_RED)
    draw_fitted(
        canvas,
        f"{to_wareki(notice.deadline)}まで",
        deadline_box.inset(2 * mm, 1 * mm),
        font=GOTHIC,
        size=14,
        min_size=8,
        align="center",
        keep_lines=True,
    )
    canvas.setFillColor(black)
    y -= big
    canvas.setLineWidth(THICK)
    canvas.rect(x, y, w, top - y)
    # The 指定期限 gets a second frame of its own.
    canvas.setLineWidth(1.6)
    canvas.rect(deadline_box.x, deadline_box.y, deadline_box.w, deadline_box.h)
    canvas.setLineWidth(THIN)
    return float(y)


# The table of the unpaid 期: the 合計 stands under 未納額.
_ITEM_COLUMNS: Final = (
    Column("年度", 24 * mm),
    Column("期別", 20 * mm),
    Column("納期限", 32 * mm),
    Column("調定額", 27 * mm, right=True),
    Column("未納額", 27 * mm, right=True),
    Column("納付番号", CONTENT_W - 130 * mm),
)


def _items(canvas: Canvas, notice: DemandNotice, top: float, floor: float) -> float:
    """The table of the unpaid 期 between ``top`` and ``floor``; returns its bottom."""
    rows = [
        (
            wareki_fiscal_year_label(item.fiscal_year),
            item.label,
            to_wareki(item.due_date),
            format_yen(item.amount),
            format_yen(item.unpaid),
            item.payment_no,
        )
        for item in notice.items
    ]
    return item_table(
        canvas, "未納の保険料（期別の内訳）", _ITEM_COLUMNS, rows, top, floor,
        total=format_yen(notice.total_unpaid), total_at=4,
    )  # fmt: skip


def _standard_notes(notice: DemandNotice) -> list[str]:
    notes = [PAYMENT_PLACE, notice.late_fee_note, PRESCRIPTION_NOTE]
    if notice.fee:
        notes.append(
            f"督促手数料{format_yen(notice.fee)}は、{notice.insurer_name}の条例により加算しています。"
        )
    notes.append("この督促状と行き違いに納付された場合は、ご容赦ください。")
    return notes + list(notice.notes)
