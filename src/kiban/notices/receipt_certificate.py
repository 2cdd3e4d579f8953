"""介護保険料納付済確認書 (certificate of 介護保険料 paid), as PDF.

A 第1号被保険者 -- or the relative who paid for them -- deducts the 介護保険料 actually paid
in a year as 社会保険料控除 (所得税法第74条, 地方税法第34条第1項第3号・第314条の2第1項
第3号).  Premium withheld from a pension (特別徴収, 介護保険法第135条) already appears on
the 公的年金等の源泉徴収票 (所得税法第226条第3項), so this certificate lists only what was
paid by 普通徴収 (納付書・口座振替, 介護保険法第131条) and says so.

It is a 証明 (a statement of fact by the 市長), not a 処分: there is nothing to appeal and no
教示.  :class:`ReceiptCertificate` holds exactly what is printed, checked for
consistency, and :func:`render` lays out one A4 portrait page per certificate for the
same 窓あき封筒 as the other notices (:mod:`kiban.notices.layout`).

No 個人番号 is ever printed (番号法第19条): every printed string is refused if it holds a
standalone run of exactly twelve digits (or twelve digits grouped 4-4-4).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from kiban.notices.checks import FieldChecks, check_addressee, check_date, check_fiscal_year, check_yen
from kiban.notices.layout import (
    BOTTOM,
    CONTENT_W,
    MARGIN,
    PAGE_W,
    THICK,
    THIN,
    Column,
    block,
    cell,
    draw_notes,
    fit_notes,
    footer,
    header,
    item_table,
    numbers,
    title,
)
from kiban.notices.pdf import Box, new_canvas
from kiban.shared.fiscal import wareki_fiscal_year_label
from kiban.shared.money import format_yen
from kiban.shared.wareki import to_wareki

__all__ = ["MAX_ITEMS", "TITLE", "PaidItem", "ReceiptCertificate", "render"]

TITLE: Final = "介護保険料納付済確認書"
# Two years of 普通徴収 at 12 期 each: a certificate for a 確定申告 covers a calendar year,
# whose 期 belong to two 年度.
MAX_ITEMS: Final = 24

LEAD: Final = "次のとおり介護保険料を納付されたことを証明します。"
ATTESTATION: Final = "上記のとおり相違ないことを証明します。"
# 特別徴収 is reported on the 公的年金等の源泉徴収票 (所得税法第226条第3項).
SPECIAL_NOTE: Final = (
    "この確認書には、普通徴収（納付書・口座振替）により納付された保険料のみを記載しています。"
    "特別徴収（年金からの差し引き）による保険料は、年金保険者から送付される「公的年金等の源泉徴収票」に"
    "記載されていますので、そちらでご確認ください。"
)
DEDUCTION_NOTE: Final = (
    "社会保険料控除の対象となるのは、その年中に実際に納付された額です（所得税法第74条）。"
    "納付日は、金融機関等で納付された日（口座振替の場合は振替日）です。"
)


# Japanese names of the fields, for error messages: the 還付通知書's words for the fields
# the two share, so a certificate's messages read as the notice's do.
_LABELS: Final[dict[str, str]] = {
    "certificate_no": "証明番号",
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
    "notes": "備考",
    "label": "期別",
    "purpose": "使用目的",
}
# The field checks of kiban.notices.checks, naming the fields in this certificate's words;
# the 確認書 has always named itself in both halves of the 個人番号 message.
_CHECKS: Final = FieldChecks(_LABELS, "確認書", english_document="確認書")


@dataclass(frozen=True)
class PaidItem:
    """One 期 of 普通徴収: 年度, 期別, 納期限, 調定額, what was paid and when."""

    fiscal_year: int  # 賦課年度 of the 期
    label: str  # 期別, e.g. "第3期"
    due_date: date  # 納期限
    amount: int  # 調定額 (円)
    paid: int  # 納付額 (円); 0 while unpaid
    paid_on: date | None  # 納付日 (口座振替: 振替日); None while unpaid

    def __post_init__(self) -> None:
        check_fiscal_year(self.fiscal_year)
        _CHECKS.text("label", self.label)
        check_date("納期限 / due_date", self.due_date)
        check_yen(f"{self.label}の調定額 / amount", self.amount)
        check_yen(f"{self.label}の納付額 / paid", self.paid)
        if self.paid > self.amount:
            # What exceeds the 調定額 is a 過誤納金, refunded (地方税法第17条), not 納付済.
            raise ValueError(
                f"{self.label}の納付額 {self.paid:,}円 が調定額 {self.amount:,}円 を超えています / "
                "paid must not exceed amount"
            )
        if self.paid_on is not None:
            check_date("納付日 / paid_on", self.paid_on)
        if (self.paid == 0) != (self.paid_on is None):
            raise ValueError(
                f"{self.label}: 納付額があるときは納付日を、未納のときは納付日なしを指定してください / "
                "paid_on must be given exactly when paid > 0"
            )
        _CHECKS.no_individual_number("label", self.label)


@dataclass(frozen=True, kw_only=True)
class ReceiptCertificate:
    """One 介護保険料納付済確認書: the addressee, the period and the 普通徴収 paid in it.

    ``__post_init__`` refuses a certificate whose payments fall outside its period or
    after its 発行日, one that certifies nothing paid, and any printed text holding a
    12-digit number (番号法第19条).
    """

    issued_on: date  # 発行日 (= 証明日)
    certificate_no: str  # 証明番号
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
    period_from: date  # 対象期間 (納付日で), e.g. 1月1日
    period_to: date  # e.g. 12月31日
    items: tuple[PaidItem, ...]  # 1 to MAX_ITEMS 期
    purpose: str  # 使用目的, e.g. "確定申告（社会保険料控除）"
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_addressee(_CHECKS, self, "certificate_no")
        _CHECKS.text("purpose", self.purpose)
        check_date("対象期間の初日 / period_from", self.period_from)
        check_date("対象期間の末日 / period_to", self.period_to)
        if self.period_from > self.period_to:
            raise ValueError(
                f"対象期間 {to_wareki(self.period_from)}〜{to_wareki(self.period_to)} の初日が末日より後です / "
                "period_from must not be after period_to"
            )
        self._check_items()
        _CHECKS.no_individual_number_in(self)

    def _check_items(self) -> None:
        if not isinstance(self.items, tuple) or not all(isinstance(i, PaidItem) for i in self.items):
            raise ValueError("納付の内訳は PaidItem のタプルです / items must be a tuple of PaidItem")
        if not 1 <= len(self.items) <= MAX_ITEMS:
            raise ValueError(
                f"納付の内訳は1件から{MAX_ITEMS}件までです / items must hold 1 to {MAX_ITEMS}: {len(self.items)}件"
            )
        keys = [(i.fiscal_year, i.label) for i in self.items]
        if len(set(keys)) != len(keys):
            raise ValueError("同じ年度・期別が重複しています / the same fiscal_year and label appear twice")
        for item in self.items:
            if item.paid_on is None:
                continue
            # Only what was paid within the period is certified (所得税法第74条: その年中に支払った額).
            if not self.period_from <= item.paid_on <= self.period_to:
                raise ValueError(
                    f"{item.label}の納付日 {to_wareki(item.paid_on)} が対象期間外です / "
                    "paid_on must lie within period_from..period_to"
                )
            if item.paid_on > self.issued_on:
                raise ValueError(
                    f"{item.label}の納付日 {to_wareki(item.paid_on)} が発行日より後です / "
                    "paid_on must not be after issued_on"
                )
        if self.total_paid == 0:
            raise ValueError("納付額の合計が0円です。証明する納付がありません / nothing paid to certify")

    @property
    def total_paid(self) -> int:
        """合計納付額: the sum of the 納付額 of the items."""
        return sum(i.paid for i in self.items)


def render(certs: Sequence[ReceiptCertificate]) -> bytes:
    """The PDF: one A4 portrait page per certificate, all of one insurer."""
    if not certs:
        raise ValueError("納付済確認書がありません / no certificates to render")
    insurers = {c.insurer_name for c in certs}
    if len(insurers) > 1:
        raise ValueError(
            f"保険者が混在しています / certificates of several insurers in one PDF: {sorted(insurers)}"
        )
    buffer = io.BytesIO()
    # The metadata names the document and the insurer only, never a person.
    canvas = new_canvas(
        buffer,
        title=TITLE,
        author=certs[0].insurer_name,
        subject="介護保険料（普通徴収）の納付の証明",
    )
    for index, cert in enumerate(certs, start=1):
        _page(canvas, cert, index, len(certs))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


# --- layout -----------------------------------------------------------------------------

_ROW: Final = 6.5 * mm
_BIG: Final = 11 * mm


def _page(canvas: Canvas, cert: ReceiptCertificate, index: int, total: int) -> None:
    y = header(canvas, cert, f"証明番号　{cert.certificate_no}", head=False)
    y = title(canvas, TITLE, LEAD, y)
    y = _summary(canvas, cert, y - 4 * mm)
    attestation_top = _attestation(canvas, cert)
    notes = [("・", s) for s in _standard_notes(cert)]
    size, notes_h = fit_notes(notes, 30 * mm)
    floor = attestation_top + 4 * mm + notes_h + 3 * mm
    bottom = _items(canvas, cert, y - 5 * mm, floor)
    draw_notes(canvas, notes, bottom - 3 * mm, size)
    footer(canvas, cert, TITLE, cert.certificate_no, index, total)


def _summary(canvas: Canvas, cert: ReceiptCertificate, top: float) -> float:
    """Who, which period, for what, and the 合計納付額; returns the bottom."""
    x, w, lw = MARGIN, CONTENT_W, 32 * mm
    y = numbers(canvas, cert, top)
    period = f"{to_wareki(cert.period_from)}から{to_wareki(cert.period_to)}まで（納付日による）"
    for label, value in (("対象期間", period), ("使用目的", cert.purpose)):
        cell(canvas, Box(x, y - _ROW, lw, _ROW), label, label=True, size=8.5)
        cell(canvas, Box(x + lw, y - _ROW, w - lw, _ROW), value)
        y -= _ROW
    half = w / 2
    cell(canvas, Box(x, y - _BIG, lw, _BIG), "合計納付額", label=True, size=10)
    cell(canvas, Box(x + lw, y - _BIG, half - lw, _BIG), format_yen(cert.total_paid), size=17, align="right")
    cell(
        canvas,
        Box(x + half, y - _BIG, w - half, _BIG),
        "普通徴収（納付書・口座振替）分",
        size=9,
        align="center",
    )
    y -= _BIG
    canvas.setLineWidth(THICK)
    canvas.rect(x, y, w, top - y)
    canvas.setLineWidth(THIN)
    return float(y)


# The table of the 期: the 合計 stands under 納付額.
_ITEM_COLUMNS: Final = (
    Column("年度", 24 * mm),
    Column("期別", 20 * mm),
    Column("納期限", 33 * mm),
    Column("調定額", 30 * mm, right=True),
    Column("納付額", 30 * mm, right=True),
    Column("納付日", CONTENT_W - 137 * mm),
)


def _items(canvas: Canvas, cert: ReceiptCertificate, top: float, floor: float) -> float:
    """The table of the 期 between ``top`` and ``floor``; returns its bottom."""
    rows = [
        (
            wareki_fiscal_year_label(item.fiscal_year),
            item.label,
            to_wareki(item.due_date),
            format_yen(item.amount),
            format_yen(item.paid),
            "未納" if item.paid_on is None else to_wareki(item.paid_on),
        )
        for item in cert.items
    ]
    bottom = item_table(
        canvas, "納付の内訳（普通徴収）", _ITEM_COLUMNS, rows, top, floor,
        total=format_yen(cert.total_paid), total_at=4,
    )  # fmt: skip
    # This notice has always set thin rules again after the table's frame; kept, so that its
    # PDF stays the same byte for byte.
    canvas.setLineWidth(THIN)
    return bottom


def _standard_notes(cert: ReceiptCertificate) -> list[str]:
    notes = [SPECIAL_NOTE]
    if "社会保険料控除" in cert.purpose:
        notes.append(DEDUCTION_NOTE)
    if any(i.paid_on is None for i in cert.items):
        notes.append("「未納」の期は、発行日までに納付が確認できなかったものです（合計納付額に含みません）。")
    return notes + list(cert.notes)


def _attestation(canvas: Canvas, cert: ReceiptCertificate) -> float:
    """The 証明文, the date and 「…市長」 at the bottom right; returns the top of the block."""
    rw = 100 * mm
    rx = PAGE_W - MARGIN - rw
    top = BOTTOM + 26 * mm
    y = block(canvas, ATTESTATION, MARGIN + 4 * mm, top, CONTENT_W - 4 * mm, size=10.5)
    y = block(canvas, to_wareki(cert.issued_on), rx, y - 3 * mm, rw, size=10, align="right")
    block(canvas, f"{cert.insurer_name}長", rx, y - 3 * mm, rw, size=14, align="right")
    return float(top)
