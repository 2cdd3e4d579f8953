"""介護保険料催告書 (reminder for 介護保険料 still unpaid after the 督促), as PDF.

A 督促 (地方自治法第231条の3第1項) is sent once per 期; what stays unpaid after its 指定期限 is
followed by 催告 — letters with no legal form of their own (a 催告 is not a 処分, so it carries
no 教示), which the cities send before the 滞納処分. The 催告書 therefore says what the 督促状
does not: when each 期 was demanded, that the 滞納処分 may follow (介護保険法第144条: 保険料は
地方自治法第231条の3第3項の歳入, collected 「地方税の滞納処分の例により」), that continued arrears
lead to the 給付制限 (介護保険法第66条〜第69条), and whom to consult about paying in parts.  It
does not claim to renew the 時効: only the 督促 does (介護保険法第200条第2項).

:class:`ReminderNotice` holds exactly what is printed, checked for consistency; :func:`render`
lays out one A4 portrait page per notice for the same 窓あき封筒 as the other kiban notices
(:func:`kiban.notices.layout.draw_header`).  No 個人番号 is ever printed (番号法第19条):
every printed string with a standalone run of twelve digits is refused, naming the field only.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from reportlab.lib.colors import Color, black, white
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from kiban.notices.checks import POSTAL, FieldChecks, check_date, check_fiscal_year, check_yen
from kiban.notices.layout import (
    CONTENT_W,
    MARGIN,
    THICK,
    THIN,
    Column,
    block,
    cell,
    draw_hanging,
    draw_notes,
    fit_notes,
    foot_box,
    footer,
    hanging_height,
    header,
    item_table,
    numbers,
)
from kiban.notices.pdf import GOTHIC, MINCHO, Box, draw_fitted, new_canvas
from kiban.shared.fiscal import wareki_fiscal_year_label
from kiban.shared.money import format_yen
from kiban.shared.wareki import to_wareki

__all__ = ["MAX_ITEMS", "TITLE", "ReminderItem", "ReminderNotice", "render"]

TITLE: Final = "介護保険料催告書"
MAX_ITEMS: Final = 24  # two years of 普通徴収 期別 (the 時効 of 介護保険法第200条 is 2 years)

LEAD: Final = (
    "下記の介護保険料について督促状をお送りしましたが、現在も納付が確認できません。"
    "納付期限までに必ず納付してください。"
)
# 介護保険法第144条 → 地方自治法第231条の3第3項: 地方税の滞納処分の例により処分できる.
SEIZURE_WARNING: Final = (
    "納付期限までに納付または納付相談がない場合は、地方税の滞納処分の例により、財産（預貯金・給与・"
    "年金等）の調査及び差押えを行うことがあります（介護保険法第144条、地方自治法第231条の3第3項）。"
)
# 介護保険法第66条（支払方法の変更）・第67条（一時差止）・第69条（給付額減額）.
RESTRICTION_WARNING: Final = (
    "保険料の滞納が続くと、介護サービスを利用したときに費用の全額をいったんお支払いいただく"
    "（支払方法の変更）、保険給付の一部または全部が差し止められる、時効で納付できなくなった期間に"
    "応じて給付額が減額される（自己負担が3割または4割になる）などの措置がとられます（介護保険法"
    "第66条〜第69条）。"
)
DEFAULT_LATE_FEE_NOTE: Final = "納期限の翌日から納付の日までの日数に応じて延滞金がかかります。"
CONSULT: Final = (
    "病気・失業・災害などで納付が難しい場合は、分割での納付（分納）などのご相談に応じます。"
    "納付期限までに下記の担当課へご連絡ください。"
)

# Japanese names of the fields, for error messages: the 督促状's words for the fields the two share.
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
    "label": "期別",
    "payment_no": "納付番号",
}


# The field checks of kiban.notices.checks, naming the fields in this notice's words.
_CHECKS: Final = FieldChecks(_LABELS, "催告書")


@dataclass(frozen=True)
class ReminderItem:
    """One 期 still unpaid after its 督促: 年度, 期別, 納期限, 督促日, 調定額, 未納額, 納付番号."""

    fiscal_year: int
    label: str
    due_date: date  # 納期限
    demanded_on: date  # 督促状の発付日 (a 催告 follows a 督促)
    amount: int  # 調定額 (円)
    unpaid: int  # 未納額 (円)
    payment_no: str  # 納付番号, 20 digits (not a 個人番号)

    def __post_init__(self) -> None:
        check_fiscal_year(self.fiscal_year)
        _CHECKS.text("label", self.label)
        check_date("納期限 / due_date", self.due_date)
        check_date("督促日 / demanded_on", self.demanded_on)
        if self.demanded_on <= self.due_date:
            raise ValueError(
                f"{self.label}の督促日 {to_wareki(self.demanded_on)} が納期限の後ではありません / "
                "demanded_on must be after due_date"
            )
        check_yen(f"{self.label}の調定額 / amount", self.amount)
        check_yen(f"{self.label}の未納額 / unpaid", self.unpaid)
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
class ReminderNotice:
    """One 介護保険料催告書: the addressee, the 期 demanded and still unpaid, the 納付期限.

    Refused: no or too many items, an item demanded on or after the 発行日, a 納付期限 not after
    the 発行日, and any printed text with a 12-digit number (番号法第19条).
    """

    issued_on: date
    notice_no: str
    insurer_no: str
    insurer_name: str
    office: str
    office_phone: str
    postal_code: str | None
    address: str
    katagaki: str | None
    name: str
    person_no: str  # 宛名番号, 10 digits
    insured_no: str  # 被保険者番号, 10 digits
    items: tuple[ReminderItem, ...]
    deadline: date  # 納付期限 of this 催告
    fees: int = 0  # 督促手数料 still unpaid, per 条例 (地方自治法第231条の3第2項)
    late_fee_note: str = DEFAULT_LATE_FEE_NOTE
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_date("発行日 / issued_on", self.issued_on)
        check_date("納付期限 / deadline", self.deadline)
        _CHECKS.digits("insurer_no", self.insurer_no, 6)
        _CHECKS.digits("person_no", self.person_no, 10)
        _CHECKS.digits("insured_no", self.insured_no, 10)
        for name in (
            "notice_no",
            "insurer_name",
            "office",
            "office_phone",
            "address",
            "name",
            "late_fee_note",
        ):
            _CHECKS.text(name, getattr(self, name))
        _CHECKS.text("katagaki", self.katagaki, required=False)
        if self.postal_code is not None and not POSTAL.fullmatch(self.postal_code):
            raise ValueError(
                f"郵便番号は7桁の数字です（例 812-8577） / postal_code must be NNN-NNNN: {self.postal_code!r}"
            )
        if self.deadline <= self.issued_on:
            raise ValueError(
                f"納付期限 {to_wareki(self.deadline)} は発行日 {to_wareki(self.issued_on)} より後の日です / "
                "deadline must be after issued_on"
            )
        check_yen("督促手数料 / fees", self.fees)
        if not isinstance(self.notes, tuple) or not all(isinstance(s, str) for s in self.notes):
            raise ValueError("備考は文字列のタプルです / notes must be a tuple of str")
        if not isinstance(self.items, tuple) or not all(isinstance(i, ReminderItem) for i in self.items):
            raise ValueError("未納の期別は ReminderItem のタプルです / items must be a tuple of ReminderItem")
        if not 1 <= len(self.items) <= MAX_ITEMS:
            raise ValueError(
                f"未納の期別は1件から{MAX_ITEMS}件までです / items must hold 1 to {MAX_ITEMS}: {len(self.items)}件"
            )
        numbers = [i.payment_no for i in self.items]
        if len(set(numbers)) != len(numbers):
            raise ValueError("納付番号が重複しています / the same payment_no appears twice")
        for item in self.items:
            # A 催告 follows the 督促 (地方自治法第231条の3第1項): the 督促状 went out before it.
            if item.demanded_on >= self.issued_on:
                raise ValueError(
                    f"{item.label}の督促日 {to_wareki(item.demanded_on)} が発行日より前ではありません / "
                    "every demanded_on must be before issued_on"
                )
        _CHECKS.no_individual_number_in(self)

    @property
    def total_unpaid(self) -> int:
        """滞納額: the sum of the 未納額 of the items."""
        return sum(i.unpaid for i in self.items)

    @property
    def total_due(self) -> int:
        """納付すべき額: 滞納額 plus unpaid 督促手数料 (延滞金 is computed when paid)."""
        return self.total_unpaid + self.fees


def render(notices: Sequence[ReminderNotice]) -> bytes:
    """The PDF: one A4 portrait page per notice, all of one insurer."""
    if not notices:
        raise ValueError("催告書がありません / no notices to render")
    insurers = {n.insurer_name for n in notices}
    if len(insurers) > 1:
        raise ValueError(
            f"保険者が混在しています / notices of several insurers in one PDF: {sorted(insurers)}"
        )
    buffer = io.BytesIO()
    canvas = new_canvas(buffer, title=TITLE, author=notices[0].insurer_name, subject="介護保険料の催告")
    for index, notice in enumerate(notices, start=1):
        _page(canvas, notice, index, len(notices))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


# --- layout -----------------------------------------------------------------------------

_RED: Final = Color(0.72, 0.0, 0.0)


def _page(canvas: Canvas, notice: ReminderNotice, index: int, total: int) -> None:
    y = header(canvas, notice, f"通知番号　{notice.notice_no}")
    y = _title(canvas, y)
    y = _summary(canvas, notice, y - 3 * mm)
    consult_top = _consult(canvas, notice)
    warnings = [("■", SEIZURE_WARNING), ("■", RESTRICTION_WARNING)]
    notes = [("・", s) for s in _notes(notice)]
    width = CONTENT_W - 2 * mm
    # The warnings and the notes share one size, at which both together take at most 50 mm.
    size, _ = fit_notes(warnings + notes, 50 * mm)
    notes_h = hanging_height(notes, MINCHO, size, width)
    warn_h = hanging_height(warnings, GOTHIC, size, width - 4 * mm) + 4 * mm
    floor = consult_top + 3 * mm + notes_h + 3 * mm + warn_h + 3 * mm
    bottom = _items(canvas, notice, y - 4 * mm, floor)
    # The warnings stand in a red frame of their own, under the table.
    top = bottom - 3 * mm
    canvas.setStrokeColor(_RED)
    canvas.setLineWidth(1.2)
    canvas.rect(MARGIN, top - warn_h, CONTENT_W, warn_h)
    canvas.setStrokeColor(black)
    draw_hanging(canvas, warnings, MARGIN + 2 * mm, top - 2 * mm, width - 4 * mm, GOTHIC, size)
    draw_notes(canvas, notes, top - warn_h - 3 * mm, size)
    footer(canvas, notice, TITLE, notice.notice_no, index, total)


def _title(canvas: Canvas, top: float) -> float:
    """The title on a dark band with 「重要」, then the 催告 sentence; returns their bottom."""
    band = Box(MARGIN, top - 16 * mm, CONTENT_W, 11 * mm)
    canvas.setFillColor(black)
    canvas.rect(band.x, band.y, band.w, band.h, stroke=0, fill=1)
    canvas.setFillColor(white)
    draw_fitted(canvas, TITLE, band.inset(2 * mm), font=GOTHIC, size=18, align="center")
    badge = Box(band.x + 3 * mm, band.y + 2 * mm, 18 * mm, band.h - 4 * mm)
    canvas.setFillColor(_RED)
    canvas.rect(badge.x, badge.y, badge.w, badge.h, stroke=0, fill=1)
    canvas.setFillColor(white)
    draw_fitted(canvas, "重要", badge.inset(1 * mm), font=GOTHIC, size=11, align="center")
    canvas.setFillColor(black)
    return block(canvas, LEAD, MARGIN + 2 * mm, band.y - 3 * mm, CONTENT_W - 4 * mm, size=10)


def _summary(canvas: Canvas, notice: ReminderNotice, top: float) -> float:
    x, w = MARGIN, CONTENT_W
    half = w / 2
    lw = 32 * mm
    row = 6.5 * mm
    y = numbers(canvas, notice, top)
    cell(canvas, Box(x, y - row, lw, row), "滞納額", label=True, size=8.5)
    cell(canvas, Box(x + lw, y - row, half - lw, row), format_yen(notice.total_unpaid), align="right")
    cell(canvas, Box(x + half, y - row, lw, row), "督促手数料", label=True, size=8.5)
    cell(canvas, Box(x + half + lw, y - row, half - lw, row), format_yen(notice.fees), align="right")
    y -= row
    big = 12 * mm
    cell(canvas, Box(x, y - big, lw, big), "納付すべき額", label=True, size=10)
    cell(canvas, Box(x + lw, y - big, half - lw, big), format_yen(notice.total_due), size=17, align="right")
    cell(canvas, Box(x + half, y - big, lw, big), "納付期限", label=True, size=10)
    deadline_box = Box(x + half + lw, y - big, half - lw, big)
    cell(canvas, deadline_box)
    canvas.setFillColor(_RED)
    draw_fitted(
        canvas, f"{to_wareki(notice.deadline)}まで", deadline_box.inset(2 * mm, 1 * mm), font=GOTHIC,
        size=14, min_size=8, align="center", keep_lines=True,
    )  # fmt: skip
    canvas.setFillColor(black)
    y -= big
    canvas.setLineWidth(THICK)
    canvas.rect(x, y, w, top - y)
    canvas.setStrokeColor(_RED)
    canvas.setLineWidth(1.6)
    canvas.rect(deadline_box.x, deadline_box.y, deadline_box.w, deadline_box.h)
    canvas.setStrokeColor(black)
    canvas.setLineWidth(THIN)
    return float(y)


# The 期 table with the 督促日 of each: the 合計 stands under 未納額.
_ITEM_COLUMNS: Final = (
    Column("年度", 20 * mm),
    Column("期別", 15 * mm),
    Column("納期限", 28 * mm),
    Column("督促日", 28 * mm),
    Column("調定額", 22 * mm, right=True),
    Column("未納額", 22 * mm, right=True),
    Column("納付番号", CONTENT_W - 135 * mm),
)


def _items(canvas: Canvas, notice: ReminderNotice, top: float, floor: float) -> float:
    """The 期 table (with the 督促日 of each) between ``top`` and ``floor``; returns its bottom."""
    rows = [
        (
            wareki_fiscal_year_label(item.fiscal_year),
            item.label,
            to_wareki(item.due_date),
            to_wareki(item.demanded_on),
            format_yen(item.amount),
            format_yen(item.unpaid),
            item.payment_no,
        )
        for item in notice.items
    ]
    # Up to 24 期: lower rows and a smaller font than the 督促状's, the 合計 no larger.
    bottom = item_table(
        canvas, "滞納している保険料（督促済みの期別）", _ITEM_COLUMNS, rows, top, floor,
        total=format_yen(notice.total_unpaid), total_at=5, max_row=6.0 * mm, max_size=9.0, total_step=0.0,
    )  # fmt: skip
    # This notice has always set thin rules again after the table's frame; kept, so that its
    # PDF stays the same byte for byte.
    canvas.setLineWidth(THIN)
    return bottom


def _notes(notice: ReminderNotice) -> list[str]:
    notes = [
        "同封の納付書により、金融機関・コンビニエンスストア・市役所窓口で納付してください。",
        notice.late_fee_note,
    ]
    if notice.fees:
        notes.append(f"督促手数料{format_yen(notice.fees)}は、{notice.insurer_name}の条例によるものです。")
    notes.append("この催告書と行き違いに納付された場合は、ご容赦ください。")
    return notes + list(notice.notes)


def _consult(canvas: Canvas, notice: ReminderNotice) -> float:
    """The 納付相談 box at the foot (where a 督促状 has its 教示); returns its top."""
    lines = [("", CONSULT), ("", f"{notice.office}　電話 {notice.office_phone}")]
    # Larger and more heavily framed than a 教示: the call to consult is the point of a 催告書.
    return foot_box(
        canvas, "納付のご相談", lines, size=9.0, heading_size=10.0, heading_h=5.5 * mm, frame=THICK
    )
