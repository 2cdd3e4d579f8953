"""給付制限の予告・決定通知書 (notices of the benefit restrictions for 介護保険料 arrears), as PDF.

Four notices, one layout (:data:`KINDS`):

* ``change_advance`` 支払方法変更（償還払い）予告通知書 — before the 支払方法の変更 (介護保険法第66条第1項);
  a 不利益処分, so the person is given the chance to explain (弁明の機会の付与, 行政手続法第13条第1項第2号,
  in writing by the 弁明書の提出期限: 同法第29条・第30条), and told that paying or a 特別の事情
  (災害・生計維持者の死亡等) avoids it.
* ``change_decision`` 支払方法変更（償還払い）決定通知書 — from the 適用開始日 the person pays the full cost
  and claims the 保険給付 back (償還払い); the 被保険者証 carries the 記載 (第66条第1項).
* ``suspension_decision`` 保険給付一時差止決定通知書 — 第67条第1項: the 保険給付 is withheld in whole or in
  part; what is withheld may be set against the arrears (同条第3項).
* ``reduction_decision`` 給付額減額等決定通知書 — 第69条第1項: for the months computed from the
  保険料徴収権消滅期間 the 給付率 is 7割 (6割 for those whose 負担 is 3割), and 高額介護サービス費・
  特定入所者介護サービス費 are not paid.

The conditions are computed by :mod:`kiban.collection.benefit_restriction`; this module only prints
what it is given, checked for consistency. The decisions are 保険給付に関する処分, so they carry the
教示 (審査請求 to the 介護保険審査会, 介護保険法第183条); the 予告 is no 処分 yet and carries the 弁明
box instead. No 個人番号 is ever printed (番号法第19条).
"""

from __future__ import annotations

import io
from calendar import monthrange
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, Literal

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
    foot_box,
    footer,
    header,
    item_table,
    review,
    title,
)
from kiban.notices.pdf import Box, new_canvas
from kiban.shared.fiscal import wareki_fiscal_year_label
from kiban.shared.money import format_yen
from kiban.shared.wareki import to_wareki

__all__ = ["KINDS", "MAX_ITEMS", "ArrearsItem", "RestrictionNotice", "render"]

Kind = Literal["change_advance", "change_decision", "suspension_decision", "reduction_decision"]
KINDS: Final[dict[str, str]] = {
    "change_advance": "介護保険 支払方法変更（償還払い）予告通知書",
    "change_decision": "介護保険 支払方法変更（償還払い）決定通知書",
    "suspension_decision": "介護保険 保険給付一時差止決定通知書",
    "reduction_decision": "介護保険 給付額減額等決定通知書",
}
MAX_ITEMS: Final = 12

_LEADS: Final[dict[str, str]] = {
    "change_advance": (
        "あなたは、納期限から1年を経過した介護保険料を納付していないため、介護保険法第66条第1項の規定により、"
        "下記の日から介護サービス費用の支払方法を変更（償還払い）する予定です。"
    ),
    "change_decision": (
        "介護保険法第66条第1項の規定により、下記の日から介護サービス費用の支払方法を変更（償還払い）することに"
        "決定しましたので通知します。"
    ),
    "suspension_decision": (
        "介護保険法第67条第1項の規定により、下記の日から保険給付の全部又は一部の支払を一時差し止めることに"
        "決定しましたので通知します。"
    ),
    "reduction_decision": (
        "介護保険料の徴収権が時効により消滅した期間があるため、介護保険法第69条第1項の規定により、下記のとおり"
        "給付額を減額することに決定しましたので通知します。"
    ),
}
_EXPLAIN: Final[dict[str, tuple[str, ...]]] = {
    "change_advance": (
        "支払方法の変更後は、介護サービスを利用したときに費用の全額をいったん事業者へお支払いいただき、"
        "後日申請により保険給付分（費用の9割〜7割）の払戻しを受けることになります。",
        "適用開始日までに滞納している保険料を納付された場合、又は災害・生計維持者の死亡等の特別の事情がある場合は、"
        "支払方法の変更は行いません。",
    ),
    "change_decision": (
        "適用開始日以後は、介護サービスを利用したときに費用の全額をいったん事業者へお支払いいただき、"
        "後日申請により保険給付分の払戻し（償還払い）を受けてください。被保険者証に支払方法変更の記載をします。",
        "滞納している保険料を完納された場合は、支払方法の変更を終了します（介護保険法第66条第3項）。",
        "滞納が納期限から1年6か月を経過すると、保険給付の一時差止の対象となります（介護保険法第67条）。",
    ),
    "suspension_decision": (
        "差し止めた保険給付の額から、滞納している保険料額を控除することがあります（介護保険法第67条第3項）。",
        "滞納している保険料を納付された場合は、一時差止を終了します。",
    ),
    "reduction_decision": (
        "減額期間中は、介護サービス費用の給付率が下記のとおりとなり、高額介護サービス費・高額医療合算介護サービス費・"
        "特定入所者介護サービス費等は支給されません（介護保険法第69条第1項）。",
        "時効により消滅した保険料は、後から納付することはできません。",
    ),
}

# Japanese names of the fields, for error messages: the 督促状's words for the fields the two share.
_LABELS: Final[dict[str, str]] = {
    "kind": "通知書の種類",
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
    "label": "期別",
    "notes": "備考",
    "review_body": "審査請求先",
}


# The field checks of kiban.notices.checks, naming the fields in this notice's words.
_CHECKS: Final = FieldChecks(_LABELS, "通知書")


@dataclass(frozen=True)
class ArrearsItem:
    """One 期別 in arrears (or extinguished by 時効): 年度, 期別, 納期限, 未納額."""

    fiscal_year: int
    label: str
    due_date: date
    unpaid: int

    def __post_init__(self) -> None:
        check_fiscal_year(self.fiscal_year)
        _CHECKS.text("label", self.label)
        _CHECKS.no_individual_number("label", self.label)
        check_date("納期限 / due_date", self.due_date)
        check_yen(f"{self.label}の未納額 / unpaid", self.unpaid)
        if self.unpaid <= 0:
            raise ValueError(f"{self.label}の未納額は1円以上です / unpaid must be positive")


@dataclass(frozen=True, kw_only=True)
class RestrictionNotice:
    """One 給付制限 notice (see the module docstring for the kinds)."""

    kind: Kind
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
    person_no: str
    insured_no: str
    items: tuple[ArrearsItem, ...]  # the arrears that meet the condition (oldest first)
    total_arrears: int  # 滞納額 in all (may exceed the items printed)
    start_on: date  # 適用開始日 (予告: the planned one)
    reply_by: date | None = None  # 弁明書の提出期限 (予告 only)
    reduction_months: int = 0  # 給付額減額期間（月）
    benefit_rate_percent: int = 0  # 減額期間中の給付率
    notes: tuple[str, ...] = ()
    review_body: str = "介護保険審査会"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"通知書の種類 {self.kind!r} はありません（{'・'.join(KINDS)}）")
        for label, value in (
            ("発行日 / issued_on", self.issued_on),
            ("適用開始日 / start_on", self.start_on),
        ):
            check_date(label, value)
        _CHECKS.digits("insurer_no", self.insurer_no, 6)
        _CHECKS.digits("person_no", self.person_no, 10)
        _CHECKS.digits("insured_no", self.insured_no, 10)
        for name in ("notice_no", "insurer_name", "office", "office_phone", "address", "name", "review_body"):
            _CHECKS.text(name, getattr(self, name))
        _CHECKS.text("katagaki", self.katagaki, required=False)
        if self.postal_code is not None and not POSTAL.fullmatch(self.postal_code):
            raise ValueError(f"郵便番号は7桁の数字です / postal_code must be NNN-NNNN: {self.postal_code!r}")
        if self.start_on <= self.issued_on:
            raise ValueError(
                f"適用開始日 {to_wareki(self.start_on)} は発行日 {to_wareki(self.issued_on)} より後の日です"
            )
        if self.kind == "change_advance":
            # 行政手続法第13条第1項第2号・第30条: 弁明の機会 — 提出期限 before the 処分 is made.
            if self.reply_by is None:
                raise ValueError(
                    "予告通知書には弁明書の提出期限が必要です（行政手続法第13条第1項第2号、第30条）"
                )
            check_date("弁明書の提出期限 / reply_by", self.reply_by)
            if not self.issued_on < self.reply_by < self.start_on:
                raise ValueError("弁明書の提出期限は発行日の後、適用開始日より前の日です")
        elif self.reply_by is not None:
            raise ValueError("弁明書の提出期限は予告通知書にだけ記載します")
        if self.kind == "reduction_decision":
            if not 1 <= self.reduction_months <= 120:
                raise ValueError(f"給付額減額期間は1〜120か月です: {self.reduction_months!r}")
            if self.benefit_rate_percent not in (60, 70):
                raise ValueError("減額期間中の給付率は70%（3割負担の方は60%）です（介護保険法第69条）")
        elif self.reduction_months or self.benefit_rate_percent:
            raise ValueError("給付額減額期間・給付率は給付額減額等決定通知書にだけ記載します")
        if not isinstance(self.items, tuple) or not all(isinstance(i, ArrearsItem) for i in self.items):
            raise ValueError("滞納の期別は ArrearsItem のタプルです")
        if not 1 <= len(self.items) <= MAX_ITEMS:
            raise ValueError(f"滞納の期別は1件から{MAX_ITEMS}件までです: {len(self.items)}件")
        if any(i.due_date >= self.issued_on for i in self.items):
            raise ValueError("滞納の期別の納期限は発行日より前です")
        check_yen("滞納額 / total_arrears", self.total_arrears)
        if self.total_arrears < sum(i.unpaid for i in self.items):
            raise ValueError("滞納額が印字する期別の未納額の合計より少なくなっています")
        _CHECKS.no_individual_number_in(self)

    @property
    def title(self) -> str:
        return KINDS[self.kind]

    @property
    def reduction_until(self) -> date | None:
        """The last day of the 給付額減額期間: ``reduction_months`` months from the 適用開始日."""
        if self.kind != "reduction_decision":
            return None
        month = self.start_on.month - 1 + self.reduction_months
        year, month = self.start_on.year + month // 12, month % 12 + 1
        day = min(self.start_on.day, monthrange(year, month)[1])
        return date(year, month, day) - timedelta(days=1)


def render(notices: Sequence[RestrictionNotice]) -> bytes:
    """The PDF: one A4 portrait page per notice, all of one insurer."""
    if not notices:
        raise ValueError("通知書がありません / no notices to render")
    if len({n.insurer_name for n in notices}) > 1:
        raise ValueError("保険者が混在しています / notices of several insurers in one PDF")
    buffer = io.BytesIO()
    canvas = new_canvas(
        buffer, title=notices[0].title if len({n.kind for n in notices}) == 1 else "介護保険 給付制限通知書",
        author=notices[0].insurer_name, subject="介護保険法第66条〜第69条 給付制限",
    )  # fmt: skip
    for index, notice in enumerate(notices, start=1):
        _page(canvas, notice, index, len(notices))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _page(canvas: Canvas, n: RestrictionNotice, index: int, total: int) -> None:
    y = header(canvas, n, f"通知番号　{n.notice_no}")
    y = title(canvas, n.title, _LEADS[n.kind], y, size=16, lead_w=CONTENT_W - 8 * mm)
    y = _summary(canvas, n, y - 4 * mm)
    foot_top = (
        review(canvas, n.insurer_name, n.review_body) if n.kind != "change_advance" else _reply(canvas, n)
    )
    notes = [("・", s) for s in (*_EXPLAIN[n.kind], *n.notes)]
    size, notes_h = fit_notes(notes, 40 * mm)
    floor = foot_top + 3 * mm + notes_h + 3 * mm
    bottom = _items(canvas, n, y - 5 * mm, floor)
    draw_notes(canvas, notes, bottom - 3 * mm, size)
    footer(canvas, n, n.title, n.notice_no, index, total)


def _summary(canvas: Canvas, n: RestrictionNotice, top: float) -> float:
    x, w = MARGIN, CONTENT_W
    half, lw, row = w / 2, 34 * mm, 7 * mm
    pairs: list[tuple[str, str, str, str]] = [
        ("被保険者番号", n.insured_no, "宛名番号", n.person_no),
    ]
    start_label = "適用開始予定日" if n.kind == "change_advance" else "適用開始日"
    if n.kind == "reduction_decision":
        until = n.reduction_until
        assert until is not None
        pairs.append(
            (
                "給付額減額期間",
                f"{n.reduction_months}か月",
                "期間",
                f"{to_wareki(n.start_on)}〜{to_wareki(until)}",
            )
        )
        pairs.append(
            (
                "給付率",
                f"{n.benefit_rate_percent // 10}割",
                "利用者負担",
                f"{(100 - n.benefit_rate_percent) // 10}割",
            )
        )
    else:
        second = (
            ("弁明書の提出期限", to_wareki(n.reply_by))
            if n.reply_by
            else ("滞納額", format_yen(n.total_arrears))
        )
        pairs.append((start_label, to_wareki(n.start_on), *second))
    y = top
    for a, av, b, bv in pairs:
        cell(canvas, Box(x, y - row, lw, row), a, label=True, size=8.5)
        cell(canvas, Box(x + lw, y - row, half - lw, row), av, size=10)
        cell(canvas, Box(x + half, y - row, lw, row), b, label=True, size=8.5)
        cell(canvas, Box(x + half + lw, y - row, half - lw, row), bv, size=10)
        y -= row
    canvas.setLineWidth(THICK)
    canvas.rect(x, y, w, top - y)
    canvas.setLineWidth(THIN)
    return float(y)


_ITEM_COLUMNS: Final = (
    Column("年度", 35 * mm),
    Column("期別", 30 * mm),
    Column("納期限", 45 * mm),
    Column("未納額", CONTENT_W - 110 * mm, right=True),
)


def _items(canvas: Canvas, n: RestrictionNotice, top: float, floor: float) -> float:
    """The 期 in arrears (or extinguished by 時効) and the 滞納額 in all; returns the bottom."""
    heading = "時効により徴収権が消滅した保険料" if n.kind == "reduction_decision" else "滞納している保険料"
    rows = [
        (wareki_fiscal_year_label(i.fiscal_year), i.label, to_wareki(i.due_date), format_yen(i.unpaid))
        for i in n.items
    ]
    # The 合計 is the 滞納額 in all, which may exceed the items printed.
    bottom = item_table(
        canvas, heading, _ITEM_COLUMNS, rows, top, floor,
        total=format_yen(n.total_arrears), total_at=3,
        total_label="合計" if n.kind == "reduction_decision" else "合計（滞納額）",
        max_row=6.0 * mm, max_size=9.0, total_step=0.0,
    )  # fmt: skip
    # This notice has always set thin rules again after the table's frame; kept, so that its
    # PDF stays the same byte for byte.
    canvas.setLineWidth(THIN)
    return bottom


def _reply(canvas: Canvas, n: RestrictionNotice) -> float:
    """弁明の機会 (行政手続法第13条第1項第2号, 第29条: 弁明は書面で, 第30条: 期限の通知)."""
    assert n.reply_by is not None
    return foot_box(
        canvas,
        "弁明の機会の付与",
        [
            ("1　", f"この予告の内容について弁明がある場合は、{to_wareki(n.reply_by)}までに、弁明書を{n.office}へ"
                    "提出してください（行政手続法第13条第1項第2号、第29条、第30条）。"),
            ("2　", "災害・生計維持者の死亡・事業の休廃止等、保険料を納付できない特別の事情がある場合は、その事情を"
                    "証明する書類を添えてお申し出ください。"),
        ],
    )  # fmt: skip
