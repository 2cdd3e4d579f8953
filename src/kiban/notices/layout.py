"""The page layout of the notices (通知書の版面): the A4 page geometry, the line weights and
the drawing helpers shared by every notice in :mod:`kiban.notices`.

The decision, demand, reminder, refund and benefit-restriction notices and the receipt
certificate are one page design: the same margins and foot, the same thin and thick rules,
the same ruled cells and hanging-indent notes, and the same header whose addressee shows
through the window of the envelope.  It is defined here, once, so that a change of margin
or rule weight is made in one place and reaches every notice alike, and no notice needs
another's private names.  (The insured card, :mod:`kiban.notices.insured_card`, is a form
of its own and does not use it.)

:func:`header`, :func:`title`, :func:`numbers`, :func:`footer` and :func:`fit_notes` are
the parts of a window-envelope document described by an
:class:`~kiban.notices.checks.Addressee`, as the refund notice and the receipt certificate
are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

from reportlab.lib.colors import Color, black
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from kiban.notices.checks import POSTAL, Addressee
from kiban.notices.pdf import GOTHIC, MINCHO, Box, draw_fitted, fit_lines, wrap_chars
from kiban.shared.wareki import to_wareki

__all__ = [
    "BOTTOM",
    "CONTENT_W",
    "GREY",
    "MARGIN",
    "PAGE_H",
    "PAGE_W",
    "THICK",
    "THIN",
    "Column",
    "block",
    "cell",
    "draw_hanging",
    "draw_header",
    "draw_notes",
    "fit_notes",
    "foot_box",
    "footer",
    "hanging_height",
    "header",
    "item_table",
    "numbers",
    "review",
    "review_items",
    "title",
]

PAGE_W, PAGE_H = A4
# The text area, and the lowest any block may reach (the page number stands below it).
MARGIN: Final = 18 * mm
CONTENT_W: Final = PAGE_W - 2 * MARGIN
BOTTOM: Final = 14 * mm
# Line weights in points: the rules of a cell, and the frame round a block of cells.
THIN: Final = 0.45
THICK: Final = 1.0
GREY: Final = Color(0.45, 0.45, 0.45)
# 長形3号 window envelopes show roughly 90 × 45 mm, 20 mm from the left and 13 mm from
# the top of an A4 page folded in three; the addressee stays inside that.
_WINDOW: Final = Box(20 * mm, PAGE_H - 58 * mm, 90 * mm, 45 * mm)
_SHADE: Final = Color(0.92, 0.92, 0.92)


def _height(text: str, font: str, size: float, width: float, max_h: float, leading: float = 1.25) -> float:
    """The height ``text`` takes at ``width`` when allowed at most ``max_h`` (see fit_lines)."""
    s, lines = fit_lines(text, font, size, Box(0, 0, width, max_h), min_size=6.0, leading=leading)
    return min(max_h, (len(lines) - 1) * s * leading + s + 1.0)


def block(
    canvas: Canvas,
    text: str,
    x: float,
    top: float,
    w: float,
    *,
    font: str = MINCHO,
    size: float = 9.0,
    max_h: float = 40 * mm,
    leading: float = 1.25,
    align: Literal["left", "center", "right"] = "left",
) -> float:
    """Draw ``text`` top-aligned from ``top``, wrapping; returns the bottom of the block."""
    h = _height(text, font, size, w, max_h, leading)
    draw_fitted(
        canvas, text, Box(x, top - h, w, h), font=font, size=size, min_size=6.0, leading=leading, align=align
    )
    return top - h


def cell(
    canvas: Canvas,
    box: Box,
    text: str = "",
    *,
    label: bool = False,
    size: float = 9.5,
    align: Literal["left", "center", "right"] | None = None,
    min_size: float = 5.0,
) -> None:
    """One ruled cell: labels 明朝 on a light shade and centred, entries ゴシック."""
    canvas.setLineWidth(THIN)
    if label:
        canvas.setFillColor(_SHADE)
        canvas.rect(box.x, box.y, box.w, box.h, stroke=1, fill=1)
        canvas.setFillColor(black)
    else:
        canvas.rect(box.x, box.y, box.w, box.h)
    if text:
        draw_fitted(
            canvas,
            text,
            box.inset(min(2 * mm, box.w / 8), min(0.8 * mm, box.h / 8)),
            font=MINCHO if label else GOTHIC,
            size=size,
            min_size=min_size,
            align=align or ("center" if label else "left"),
            keep_lines=True,
        )


def draw_header(
    canvas: Canvas,
    *,
    postal_code: str | None,
    address: str,
    katagaki: str | None,
    name: str,
    name_kana: str | None,
    issued_on: date,
    number_line: str,
    insurer_name: str,
    insurer_no: str,
    office: str,
    office_phone: str,
    head: bool = True,
) -> float:
    """The top of every kiban notice: the addressee in the 窓あき封筒's window on the left, the
    issuer on the right (発行日, ``number_line``, 「…市長」 unless ``head`` is False, 保険者番号,
    担当課, 電話). Returns the lower edge of the two blocks. Shared by every notice (their
    fields are checked by their own dataclasses)."""
    x, top, w = 22 * mm, PAGE_H - 16 * mm, 86 * mm
    y = top
    if postal_code:
        m = POSTAL.fullmatch(postal_code)
        assert m is not None  # checked by the notice's dataclass
        y = block(canvas, f"〒{m[1]}-{m[2]}", x, y, w, font=GOTHIC, size=10)
        y -= 1.5 * mm
    y = block(canvas, address, x, y, w, font=GOTHIC, size=10.5, max_h=14 * mm)
    if katagaki:
        y = block(canvas, katagaki, x + 4 * mm, y - 0.5 * mm, w - 4 * mm, font=GOTHIC, size=10, max_h=9 * mm)
    # The gap above the name closes up when a long address would push it out of the window.
    kana_h = 4 * mm if name_kana else 0
    y -= max(0.5 * mm, min(4 * mm, y - (_WINDOW.y + 1.5 * mm) - kana_h - 8 * mm))
    if name_kana:
        y = block(canvas, name_kana, x + 4 * mm, y, w - 4 * mm, font=GOTHIC, size=7.5, max_h=4 * mm)
        y -= 0.5 * mm
    name_box = Box(x + 4 * mm, y - 8 * mm, w - 4 * mm, 8 * mm)
    # The name shrinks rather than wrap, so that 「様」 never stands alone on a line.
    draw_fitted(canvas, f"{name}　様", name_box, font=GOTHIC, size=14, min_size=7, keep_lines=True)
    y = name_box.y
    # The window's frame, faint, so the operator can check the fold.
    canvas.saveState()
    canvas.setStrokeColor(Color(0.8, 0.8, 0.8))
    canvas.setLineWidth(0.3)
    canvas.setDash(1, 2)
    canvas.rect(_WINDOW.x, _WINDOW.y, _WINDOW.w, _WINDOW.h)
    canvas.restoreState()

    rx, rw = PAGE_W - MARGIN - 72 * mm, 72 * mm
    ry = PAGE_H - 16 * mm
    ry = block(canvas, to_wareki(issued_on), rx, ry, rw, size=10, align="right")
    ry = block(canvas, number_line, rx, ry - 1 * mm, rw, size=9, align="right")
    if head:
        ry = block(canvas, f"{insurer_name}長", rx, ry - 5 * mm, rw, size=13, align="right")
    ry = block(canvas, f"保険者番号　{insurer_no}", rx, ry - 1 * mm, rw, size=8.5, align="right")
    ry = block(canvas, f"（担当）{office}", rx, ry - 3 * mm, rw, size=8.5, align="right", max_h=8 * mm)
    ry = block(canvas, f"電話　{office_phone}", rx, ry - 0.5 * mm, rw, size=8.5, align="right")
    return float(min(y, ry, PAGE_H - 60 * mm))


_LEADING: Final = 1.4


def _hanging_lines(
    items: Sequence[tuple[str, str]], font: str, size: float, width: float
) -> list[tuple[str, float, str]]:
    """(mark, indent, line): each item wrapped beside its mark, continuation lines indented (ぶら下げ)."""
    out: list[tuple[str, float, str]] = []
    for mark, text in items:
        indent = pdfmetrics.stringWidth(mark, font, size)
        for n, line in enumerate(wrap_chars(text, font, size, width - indent) or [""]):
            out.append((mark if n == 0 else "", indent, line))
    return out


def hanging_height(items: Sequence[tuple[str, str]], font: str, size: float, width: float) -> float:
    """The height :func:`draw_hanging` takes for ``items`` at ``size`` and ``width``."""
    n = len(_hanging_lines(items, font, size, width))
    return 0.0 if n == 0 else (n - 1) * size * _LEADING + size


def draw_hanging(
    canvas: Canvas, items: Sequence[tuple[str, str]], x: float, top: float, w: float, font: str, size: float
) -> None:
    """Draw ``items`` from ``top`` down with hanging indents, at exactly ``size``."""
    canvas.setFont(font, size)
    y = top - size * 0.88  # the first baseline, one ascent (IPAex ≈ 0.88 em) below the top
    for mark, indent, line in _hanging_lines(items, font, size, w):
        if mark:
            canvas.drawString(x, y, mark)
        canvas.drawString(x + indent, y, line)
        y -= size * _LEADING


# --- the parts of a document for the window envelope, described by an Addressee ----------


def header(canvas: Canvas, doc: Addressee, number: str, *, head: bool = True) -> float:
    """The addressee (for the envelope window) on the left, the issuer on the right.

    :func:`draw_header` for an :class:`~kiban.notices.checks.Addressee`; ``number`` is e.g.
    「通知番号　…」, and ``head=False`` leaves out 「…市長」 for a 証明書 that names it under its
    証明文.
    """
    return draw_header(
        canvas, postal_code=doc.postal_code, address=doc.address, katagaki=doc.katagaki, name=doc.name,
        name_kana=None, issued_on=doc.issued_on, number_line=number, insurer_name=doc.insurer_name,
        insurer_no=doc.insurer_no, office=doc.office, office_phone=doc.office_phone, head=head,
    )  # fmt: skip


def title(
    canvas: Canvas,
    title: str,
    lead: str,
    top: float,
    *,
    size: float = 18,
    lead_w: float = CONTENT_W - 4 * mm,
) -> float:
    """The title (at most ``size`` pt) and the lead sentence, ``lead_w`` wide; returns their bottom."""
    title_box = Box(MARGIN, top - 14 * mm, CONTENT_W, 10 * mm)
    draw_fitted(canvas, title, title_box, font=MINCHO, size=size, align="center")
    return block(canvas, lead, MARGIN + 4 * mm, title_box.y - 3 * mm, lead_w, size=10)


def numbers(canvas: Canvas, doc: Addressee, top: float) -> float:
    """The row 被保険者番号 / 宛名番号 (unframed: the caller frames its block)."""
    x, half, lw, row = MARGIN, CONTENT_W / 2, 32 * mm, 6.5 * mm
    cell(canvas, Box(x, top - row, lw, row), "被保険者番号", label=True, size=8.5)
    cell(canvas, Box(x + lw, top - row, half - lw, row), doc.insured_no)
    cell(canvas, Box(x + half, top - row, lw, row), "宛名番号", label=True, size=8.5)
    cell(canvas, Box(x + half + lw, top - row, half - lw, row), doc.person_no)
    return float(top - row)


def footer(canvas: Canvas, doc: Addressee, title: str, number: str, index: int, total: int) -> None:
    """The grey line at the foot: insurer, ``title``, ``number`` and 「index / total」."""
    canvas.setFillColor(GREY)
    canvas.setFont(MINCHO, 7)
    canvas.drawRightString(
        PAGE_W - MARGIN, 8 * mm, f"{doc.insurer_name}　{title}　{number}　{index} / {total}"
    )
    canvas.setFillColor(black)


_NOTE_SIZE: Final = 8.5


_NOTES_X: Final = MARGIN + 2 * mm
_NOTES_W: Final = CONTENT_W - 2 * mm


def fit_notes(notes: list[tuple[str, str]], max_h: float) -> tuple[float, float]:
    """The font size at which ``notes`` take at most ``max_h`` (down to 6 pt), and their height."""
    size = _NOTE_SIZE
    width = _NOTES_W
    while size > 6.0 and hanging_height(notes, MINCHO, size, width) > max_h:
        size -= 0.25
    return size, hanging_height(notes, MINCHO, size, width)


def draw_notes(canvas: Canvas, notes: Sequence[tuple[str, str]], top: float, size: float) -> None:
    """The notes (備考), 明朝 with hanging marks, from ``top`` down at the size of :func:`fit_notes`."""
    draw_hanging(canvas, notes, _NOTES_X, top, _NOTES_W, MINCHO, size)


# --- the table of a notice's items --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """One column of an :func:`item_table`: its heading and width, whether its entries are
    amounts (right-aligned), and the largest size an entry may take (None: the table's)."""

    heading: str
    width: float
    right: bool = False
    max_size: float | None = None


def item_table(
    canvas: Canvas,
    heading: str,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    top: float,
    floor: float,
    *,
    total: str,
    total_at: int,
    total_label: str = "合計",
    max_row: float = 6.5 * mm,
    max_size: float = 9.5,
    total_step: float = 0.5,
) -> float:
    """The table of a notice's items (明細表) between ``top`` and ``floor``; returns its bottom.

    ``heading`` above it, then a row of the column headings, one row per entry of ``rows``
    and the 合計 row: ``total_label`` across the columns before ``total_at``, ``total`` in
    that column (``total_step`` pt larger than the entries) and a blank cell over any
    columns after it; all framed by a thick rule.  Rows are ``max_row`` high and entries at
    most ``max_size`` pt; both shrink so that the table never reaches ``floor``.
    """
    x, w = MARGIN, CONTENT_W
    canvas.setFont(GOTHIC, 10)
    canvas.drawString(x, top - 10, heading)
    top -= 5.5 * mm
    n_rows = len(rows) + 2  # header, items, 合計
    row = min(max_row, (top - floor) / n_rows)
    # A 6.5 mm row takes 9.5 pt, a 3.5 mm row 6.7 pt; never below 5 pt.
    size = max(5.0, min(max_size, row * 0.68))
    y = top
    cx = x
    for column in columns:
        cell(canvas, Box(cx, y - row, column.width, row), column.heading, label=True, size=min(8.5, size))
        cx += column.width
    y -= row
    for values in rows:
        cx = x
        for column, value in zip(columns, values, strict=True):
            cell(
                canvas,
                Box(cx, y - row, column.width, row),
                value,
                size=size if column.max_size is None else min(size, column.max_size),
                align="right" if column.right else None,
            )
            cx += column.width
        y -= row
    widths = [column.width for column in columns]
    label_w = sum(widths[:total_at])
    cell(canvas, Box(x, y - row, label_w, row), total_label, label=True, size=min(max_size, size))
    cell(
        canvas, Box(x + label_w, y - row, widths[total_at], row), total, size=size + total_step, align="right"
    )
    if total_at + 1 < len(widths):
        cell(canvas, Box(x + label_w + widths[total_at], y - row, sum(widths[total_at + 1 :]), row))
    y -= row
    canvas.setLineWidth(THICK)
    canvas.rect(x, y, w, top - y)
    return float(y)


# --- the box at the foot of the page, and the 教示 --------------------------------------


def foot_box(
    canvas: Canvas,
    heading: str,
    items: Sequence[tuple[str, str]],
    *,
    size: float = 8.0,
    heading_size: float = 9.0,
    heading_h: float = 5 * mm,
    frame: float = THIN,
) -> float:
    """A framed box standing on :data:`BOTTOM` across the text area; returns its top.

    ``heading`` in ゴシック at ``heading_size``, then ``items`` 明朝 at ``size`` with hanging
    marks, ``heading_h`` below the heading's top.  ``frame`` is the weight of the frame;
    the rules drawn after it are thin again.
    """
    inner_w = CONTENT_W - 6 * mm
    h = hanging_height(items, MINCHO, size, inner_w)
    box = Box(MARGIN, BOTTOM, CONTENT_W, heading_h + h + 5 * mm)
    canvas.setLineWidth(frame)
    canvas.rect(box.x, box.y, box.w, box.h)
    if frame != THIN:
        canvas.setLineWidth(THIN)
    canvas.setFont(GOTHIC, heading_size)
    canvas.drawString(box.x + 3 * mm, box.top - 2.5 * mm - heading_size * 0.88, heading)
    draw_hanging(canvas, items, box.x + 3 * mm, box.top - 2.5 * mm - heading_h, inner_w, MINCHO, size)
    return box.top


def review_items(insurer_name: str, review_body: str) -> list[tuple[str, str]]:
    """The two paragraphs of the 教示 of a 介護保険 処分, marked 「1」「2」.

    行政不服審査法第82条 requires telling the addressee that a 審査請求 can be made, to
    whom and within what time; 行政事件訴訟法第46条 requires the same of the 取消訴訟
    (被告, 出訴期間, and that 介護保険法第196条 requires the 審査請求 first).  A 処分 on
    保険料 (決定, 督促, 還付・充当) and one on 保険給付 (給付制限) alike go to the
    ``review_body``, the 介護保険審査会 of the 都道府県 (介護保険法第183条, 第184条), within
    3 months (同法第192条); the 出訴期間 is 6 months from the 裁決 (行政事件訴訟法第14条),
    and the 被告 is the 市町村 represented by its 長 (同法第11条).
    """
    name = insurer_name
    return [
        (
            "1　",
            "この処分に不服がある場合は、この処分があったことを知った日の翌日から起算して3か月以内に、"
            f"{review_body}に対して審査請求をすることができます（介護保険法第183条、第192条）。",
        ),
        (
            "2　",
            "この処分の取消しの訴えは、審査請求に対する裁決の送達を受けた日の翌日から起算して6か月以内に、"
            f"{name}を被告として（訴訟において{name}を代表する者は{name}長となります）提起することができます"
            "（介護保険法第196条により審査請求の裁決を経た後でなければ提起できません）。",
        ),
    ]


def review(canvas: Canvas, insurer_name: str, review_body: str) -> float:
    """The 教示 (:func:`review_items`) in a :func:`foot_box` at the foot of the page; returns its top."""
    return foot_box(canvas, "教示", review_items(insurer_name, review_body))
