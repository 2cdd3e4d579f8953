"""介護保険料還付通知書 (refund notice for overpaid 介護保険料), as PDF.

A premium paid twice, or paid before a 更正 lowered it, is a 過誤納金.  The city's
介護保険条例 applies to the premium -- a 歳入 under 地方自治法第231条の3第3項 by
介護保険法第143条 -- the rules of the 地方税法 on 過誤納金: it is refunded without delay
(地方税法第17条), first applied (充当) to any premium the same person still owes
(同法第17条の2), and the refund carries a 還付加算金 for the days it was held
(同法第17条の4).  The right to receive it lapses after two years (介護保険法第200条第1項).

This module only prints the notice: :class:`RefundNotice` holds exactly what is printed,
checked for consistency (the 還付額 must equal the 過誤納金 less the 充当額 plus the
還付加算金), and :func:`render` lays out one A4 portrait page per notice for the same
窓あき封筒 as the 介護保険料額決定通知書 (:mod:`kiban.notices.premium_notice`), on the page
layout all notices share (:mod:`kiban.notices.layout`).

No 個人番号 is ever printed (番号法第19条): every printed string is refused if it holds a
standalone run of exactly twelve digits (or twelve digits grouped 4-4-4).  The bank
account is printed masked, with at most its last three digits.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from kiban.notices.checks import FieldChecks, check_addressee, check_date, check_fiscal_year, check_yen
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
from kiban.notices.pdf import Box, new_canvas
from kiban.shared.fiscal import wareki_fiscal_year_label
from kiban.shared.money import format_yen
from kiban.shared.wareki import to_wareki

__all__ = ["MAX_ITEMS", "METHODS", "TITLE", "RefundItem", "RefundNotice", "render"]

TITLE: Final = "介護保険料還付通知書"
MAX_ITEMS: Final = 10
# 口座振込 to the account the person named, or 窓口払 (cash at the office).
METHODS: Final = ("口座振込", "窓口払")

LEAD: Final = "次のとおり介護保険料の過誤納金がありますので還付（充当）します。"
# 介護保険法第200条第1項: 還付を受ける権利は、2年を経過したときは時効によって消滅する.
PRESCRIPTION_NOTE: Final = "還付金は、受け取ることができる日から2年を経過すると、時効により受け取れなくなります（介護保険法第200条）。"

# A masked account: a run of mask characters then at most three digits, e.g. 「****567」.
_MASKED_ACCOUNT: Final = re.compile(r"[*＊]{3,}\d{0,3}(?!\d)")
_ANY_DIGIT: Final = re.compile(r"\d")  # ASCII and full-width alike

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
    "notes": "備考",
    "review_body": "審査請求先",
    "label": "期別",
    "cause": "還付の理由",
    "method": "支払方法",
    "bank": "振込先口座",
}


# The field checks of kiban.notices.checks, naming the fields in this notice's words; the
# 還付通知書 has always named itself in both halves of the 個人番号 message.
_CHECKS: Final = FieldChecks(_LABELS, "通知書", english_document="通知書")


@dataclass(frozen=True)
class RefundItem:
    """One 過誤納: which 期, when and how much was paid, what was due, and why."""

    fiscal_year: int  # 賦課年度 of the 期
    label: str  # 期別, e.g. "第3期"
    paid_on: date  # 納付日
    paid: int  # 納付額 (円)
    due: int  # 本来納付すべき額 (円): the 調定額 after any 更正
    refund: int  # 過誤納額 (円) = paid - due
    cause: str  # e.g. "過誤納（二重納付）", "更正による減額"

    def __post_init__(self) -> None:
        check_fiscal_year(self.fiscal_year)
        _CHECKS.text("label", self.label)
        _CHECKS.text("cause", self.cause)
        check_date("納付日 / paid_on", self.paid_on)
        check_yen(f"{self.label}の納付額 / paid", self.paid)
        check_yen(f"{self.label}の本来の額 / due", self.due)
        check_yen(f"{self.label}の過誤納額 / refund", self.refund)
        # 地方税法第17条: a 過誤納金 is what was paid beyond what was due.
        if self.refund != self.paid - self.due:
            raise ValueError(
                f"{self.label}の過誤納額 {self.refund:,}円 が 納付額 {self.paid:,}円 − 本来の額 {self.due:,}円 "
                "と一致しません / refund must equal paid - due"
            )
        if self.refund <= 0:
            raise ValueError(
                f"{self.label}の過誤納額は1円以上です / refund must be positive: {self.refund!r}"
            )
        _CHECKS.no_individual_number("label", self.label)
        _CHECKS.no_individual_number("cause", self.cause)


@dataclass(frozen=True, kw_only=True)
class RefundNotice:
    """One 介護保険料還付通知書: the addressee, the 過誤納金, 充当, 還付加算金 and how it is paid.

    ``__post_init__`` refuses a notice that does not add up (``refund_total`` must be
    Σ refund − appropriated + interest), a 口座振込 without a masked account or with more
    than three digits of it showing, and any printed text holding a 12-digit number
    (番号法第19条).
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
    items: tuple[RefundItem, ...]  # 1 to MAX_ITEMS 過誤納
    appropriated: int = 0  # 充当額: applied to premium still owed (地方税法第17条の2)
    interest: int = 0  # 還付加算金 (地方税法第17条の4)
    refund_total: int  # 還付額 = Σ refund − appropriated + interest
    method: str  # "口座振込" or "窓口払"
    bank: str | None = None  # e.g. "基盤銀行 本店 普通 ****567" (口座振込 only, masked)
    payment_date: date | None = None  # 支払予定日 (required for 口座振込)
    notes: tuple[str, ...] = ()
    review_body: str = "介護保険審査会"  # 審査請求先 (介護保険法第183条, 第184条: one per 都道府県)

    def __post_init__(self) -> None:
        check_addressee(_CHECKS, self, "notice_no")
        _CHECKS.text("review_body", self.review_body)
        # 介護保険審査会 is set up in each 都道府県 (介護保険法第184条); a template's
        # placeholder such as 「〇〇県」 must not reach a resident.
        if not self.review_body.endswith("介護保険審査会") or re.search(r"[〇○◯]{2}", self.review_body):
            raise ValueError(
                f"審査請求先は「…介護保険審査会」です / review_body must name a 介護保険審査会: {self.review_body!r}"
            )
        self._check_items()
        self._check_amounts()
        self._check_payment()
        _CHECKS.no_individual_number_in(self)

    def _check_items(self) -> None:
        if not isinstance(self.items, tuple) or not all(isinstance(i, RefundItem) for i in self.items):
            raise ValueError("過誤納の内訳は RefundItem のタプルです / items must be a tuple of RefundItem")
        if not 1 <= len(self.items) <= MAX_ITEMS:
            raise ValueError(
                f"過誤納の内訳は1件から{MAX_ITEMS}件までです / items must hold 1 to {MAX_ITEMS}: {len(self.items)}件"
            )
        for item in self.items:
            if item.paid_on > self.issued_on:
                raise ValueError(
                    f"{item.label}の納付日 {to_wareki(item.paid_on)} が発行日より後です / "
                    "paid_on must not be after issued_on"
                )

    def _check_amounts(self) -> None:
        check_yen("充当額 / appropriated", self.appropriated)
        check_yen("還付加算金 / interest", self.interest)
        check_yen("還付額 / refund_total", self.refund_total)
        overpaid = self.total_overpaid
        # 地方税法第17条の2: only the 過誤納金 itself can be 充当; the 還付加算金 is added to
        # what is left (同法第17条の4).
        if self.appropriated > overpaid:
            raise ValueError(
                f"充当額 {self.appropriated:,}円 が過誤納金の合計 {overpaid:,}円 を超えています / "
                "appropriated must not exceed the overpayment"
            )
        expected = overpaid - self.appropriated + self.interest
        if self.refund_total != expected:
            raise ValueError(
                f"還付額 {self.refund_total:,}円 が 過誤納金 {overpaid:,}円 − 充当額 {self.appropriated:,}円 "
                f"＋ 還付加算金 {self.interest:,}円 ＝ {expected:,}円 と一致しません / "
                "refund_total must equal sum(refund) - appropriated + interest"
            )
        if self.refund_total == 0:
            # Everything went to arrears: that is a 充当通知書, not a 還付通知書.
            raise ValueError(
                "還付額が0円です。全額を充当した場合は充当通知書を用いてください / refund_total must be positive"
            )

    def _check_payment(self) -> None:
        if self.method not in METHODS:
            raise ValueError(
                f"支払方法は口座振込か窓口払です / method must be 口座振込 or 窓口払: {self.method!r}"
            )
        if self.payment_date is not None:
            check_date("支払予定日 / payment_date", self.payment_date)
            if self.payment_date < self.issued_on:
                raise ValueError(
                    f"支払予定日 {to_wareki(self.payment_date)} が発行日 {to_wareki(self.issued_on)} より前です / "
                    "payment_date must not be before issued_on"
                )
        if self.method == "窓口払":
            if self.bank is not None:
                raise ValueError("窓口払に振込先口座 / bank は指定できません")
            return
        _CHECKS.text("bank", self.bank)
        assert self.bank is not None
        # Only the last three digits of the account may show; branch codes and the like
        # count too, so a long number cannot slip through in another part of the string.
        if len(_ANY_DIGIT.findall(self.bank)) > 3 or not _MASKED_ACCOUNT.search(self.bank):
            raise ValueError(
                "振込先口座の口座番号は下3桁のみ表示し、残りは「*」で伏せてください（例 ****567） / "
                "bank must mask the account number, showing at most its last 3 digits"
            )
        if self.payment_date is None:
            raise ValueError("口座振込には支払予定日 / payment_date が必要です")

    @property
    def total_overpaid(self) -> int:
        """過誤納金の合計: the sum of the 過誤納額 of the items."""
        return sum(i.refund for i in self.items)


def render(notices: Sequence[RefundNotice]) -> bytes:
    """The PDF: one A4 portrait page per notice, all of one insurer (bulk printing)."""
    if not notices:
        raise ValueError("還付通知書がありません / no notices to render")
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
        subject="地方税法第17条 過誤納金の還付（介護保険料）",
    )
    for index, notice in enumerate(notices, start=1):
        _page(canvas, notice, index, len(notices))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


# --- layout -----------------------------------------------------------------------------


_ROW: Final = 6.5 * mm
_BIG: Final = 11 * mm


def _page(canvas: Canvas, notice: RefundNotice, index: int, total: int) -> None:
    y = header(canvas, notice, f"通知番号　{notice.notice_no}")
    y = title(canvas, TITLE, LEAD, y)
    top = y - 4 * mm
    y = numbers(canvas, notice, top)
    canvas.setLineWidth(THICK)
    canvas.rect(MARGIN, y, CONTENT_W, top - y)
    review_top = review(canvas, notice.insurer_name, notice.review_body)
    notes = [("・", s) for s in _standard_notes(notice)]
    size, notes_h = fit_notes(notes, 30 * mm)
    # From the bottom up: 教示, notes, 支払方法 (3 rows), 還付額の計算 (3 rows + the big one).
    below = 3 * _ROW + 3 * mm + 3 * _ROW + _BIG + 4 * mm
    floor = review_top + 3 * mm + notes_h + 3 * mm + below
    y = _items(canvas, notice, y - 5 * mm, floor)
    y = _totals(canvas, notice, y - 3 * mm)
    y = _payment(canvas, notice, y - 3 * mm)
    draw_notes(canvas, notes, y - 3 * mm, size)
    footer(canvas, notice, TITLE, notice.notice_no, index, total)


# The table of the 過誤納: the 合計 stands under 過誤納額; the 理由 is at most 8.5 pt.
_ITEM_COLUMNS: Final = (
    Column("年度", 22 * mm),
    Column("期別", 16 * mm),
    Column("納付日", 31 * mm),
    Column("納付額", 23 * mm, right=True),
    Column("本来の額", 23 * mm, right=True),
    Column("過誤納額", 23 * mm, right=True),
    Column("理由", CONTENT_W - 138 * mm, max_size=8.5),
)


def _items(canvas: Canvas, notice: RefundNotice, top: float, floor: float) -> float:
    """The table of the 過誤納 between ``top`` and ``floor``; returns its bottom."""
    rows = [
        (
            wareki_fiscal_year_label(item.fiscal_year),
            item.label,
            to_wareki(item.paid_on),
            format_yen(item.paid),
            format_yen(item.due),
            format_yen(item.refund),
            item.cause,
        )
        for item in notice.items
    ]
    return item_table(
        canvas, "過誤納金の内訳", _ITEM_COLUMNS, rows, top, floor,
        total=format_yen(notice.total_overpaid), total_at=5,
    )  # fmt: skip


def _totals(canvas: Canvas, notice: RefundNotice, top: float) -> float:
    """過誤納金 − 充当額 ＋ 還付加算金 ＝ 還付額, the last one large; returns the bottom."""
    x, w = MARGIN, CONTENT_W
    lw = 88 * mm
    y = top
    rows = (
        ("過誤納金の合計", format_yen(notice.total_overpaid)),
        # 地方税法第17条の2: applied first to premium the person still owes.
        ("未納の保険料への充当額（差し引き）", _signed("−", notice.appropriated)),
        # 地方税法第17条の4: added for the days the city held the money.
        ("還付加算金（加算）", _signed("＋", notice.interest)),
    )
    for label, value in rows:
        cell(canvas, Box(x, y - _ROW, lw, _ROW), label, label=True, size=9)
        cell(canvas, Box(x + lw, y - _ROW, w - lw, _ROW), value, align="right")
        y -= _ROW
    cell(canvas, Box(x, y - _BIG, lw, _BIG), "還付額", label=True, size=11)
    cell(canvas, Box(x + lw, y - _BIG, w - lw, _BIG), format_yen(notice.refund_total), size=17, align="right")
    y -= _BIG
    canvas.setLineWidth(THICK)
    canvas.rect(x, y, w, top - y)
    canvas.setLineWidth(1.6)
    canvas.rect(x + lw, y, w - lw, _BIG)
    canvas.setLineWidth(THIN)
    return float(y)


def _signed(sign: str, amount: int) -> str:
    return f"{sign} {format_yen(amount)}" if amount else format_yen(0)


def _payment(canvas: Canvas, notice: RefundNotice, top: float) -> float:
    """How and when the 還付額 is paid; returns the bottom."""
    x, w = MARGIN, CONTENT_W
    lw = 32 * mm
    if notice.method == "口座振込":
        assert notice.bank is not None and notice.payment_date is not None  # checked by RefundNotice
        rows = (
            ("支払方法", "口座振込"),
            ("振込先", notice.bank),
            ("支払予定日", to_wareki(notice.payment_date)),
        )
    else:
        start = "この通知が届いた日" if notice.payment_date is None else to_wareki(notice.payment_date)
        rows = (
            ("支払方法", "窓口払"),
            ("受取場所", notice.office),
            ("支払予定日", f"{start}からお受け取りいただけます"),
        )
    y = top
    for label, value in rows:
        cell(canvas, Box(x, y - _ROW, lw, _ROW), label, label=True, size=8.5)
        cell(canvas, Box(x + lw, y - _ROW, w - lw, _ROW), value)
        y -= _ROW
    canvas.setLineWidth(THICK)
    canvas.rect(x, y, w, top - y)
    canvas.setLineWidth(THIN)
    return float(y)


def _standard_notes(notice: RefundNotice) -> list[str]:
    notes: list[str] = []
    if notice.appropriated:
        notes.append(
            f"過誤納金のうち{format_yen(notice.appropriated)}は、納期限を過ぎた未納の介護保険料に充当しました"
            "（地方税法第17条の2）。"
        )
    if notice.interest:
        notes.append(
            f"還付加算金{format_yen(notice.interest)}は、法令に定める期間の日数に応じて加算したものです"
            "（地方税法第17条の4）。"
        )
    if notice.method == "口座振込":
        notes.append("支払予定日に上記の口座へ振り込みます。口座番号は下3桁のみ表示しています。")
    else:
        notes.append("この通知書と本人確認書類をお持ちのうえ、上記の受取場所でお受け取りください。")
    notes.append(PRESCRIPTION_NOTE)
    return notes + list(notice.notes)
