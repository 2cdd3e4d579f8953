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
    "block",
    "cell",
    "draw_hanging",
    "draw_header",
    "fit_notes",
    "footer",
    "hanging_height",
    "header",
    "numbers",
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


def title(canvas: Canvas, title: str, lead: str, top: float) -> float:
    """The title and the lead sentence; returns their bottom."""
    title_box = Box(MARGIN, top - 14 * mm, CONTENT_W, 10 * mm)
    draw_fitted(canvas, title, title_box, font=MINCHO, size=18, align="center")
    return block(canvas, lead, MARGIN + 4 * mm, title_box.y - 3 * mm, CONTENT_W - 4 * mm, size=10)


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


def fit_notes(notes: list[tuple[str, str]], max_h: float) -> tuple[float, float]:
    """The font size at which ``notes`` take at most ``max_h`` (down to 6 pt), and their height."""
    size = _NOTE_SIZE
    width = CONTENT_W - 2 * mm
    while size > 6.0 and hanging_height(notes, MINCHO, size, width) > max_h:
        size -= 0.25
    return size, hanging_height(notes, MINCHO, size, width)
