"""Shared PDF helpers: Japanese fonts, document metadata, text that fits its box.

Every document embeds TrueType subsets of the IPAex fonts, so the text stays
extractable (pdftotext) and prints identically everywhere, and is rendered with
reportlab's ``invariant`` mode so that the same input gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

__all__ = [
    "FONT_FILES",
    "GOTHIC",
    "MINCHO",
    "Box",
    "FontMissingError",
    "draw_fitted",
    "draw_vertical",
    "fit_lines",
    "new_canvas",
    "register_fonts",
    "wrap_chars",
]

GOTHIC: Final = "IPAexGothic"
MINCHO: Final = "IPAexMincho"

# The Debian/Ubuntu package fonts-ipaexfont installs these paths.
FONT_FILES: Final[Mapping[str, Path]] = {
    GOTHIC: Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"),
    MINCHO: Path("/usr/share/fonts/opentype/ipaexfont-mincho/ipaexm.ttf"),
}
FONT_PACKAGE: Final = "fonts-ipaexfont"


class FontMissingError(FileNotFoundError):
    """A Japanese font file needed for a document is not installed."""


def register_fonts(files: Mapping[str, Path] = FONT_FILES) -> None:
    """Register the Japanese TrueType fonts with reportlab, once per process.

    Raises FontMissingError naming the missing file and the apt package to install.
    """
    registered = set(pdfmetrics.getRegisteredFontNames())
    for name, path in files.items():
        if name in registered:
            continue
        if not path.is_file():
            raise FontMissingError(
                f"日本語フォントがありません: {path}（apt-get install {FONT_PACKAGE}） / "
                f"Japanese font file not found: {path} (install the apt package {FONT_PACKAGE})"
            )
        # TTFont embeds a subset of the glyphs used, so the PDF stays small and its
        # text extractable.
        pdfmetrics.registerFont(TTFont(name, str(path)))


def new_canvas(buffer: io.BytesIO, *, title: str, author: str, subject: str = "") -> Canvas:
    """An A4 portrait canvas with the fonts registered and the metadata set.

    ``invariant=1`` fixes the creation date and document ID, so the output is
    byte-for-byte reproducible.  Only the IPAex fonts are used, all embedded.
    """
    register_fonts()
    # The initial font is reportlab's Helvetica unless told otherwise, which would put
    # a non-embedded font into every page's resources.
    canvas = Canvas(
        buffer, pagesize=A4, invariant=1, pageCompression=1, initialFontName=GOTHIC, initialFontSize=9
    )
    canvas.setTitle(title)
    canvas.setAuthor(author)
    canvas.setSubject(subject)
    canvas.setCreator("kiban")
    return canvas


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle in PDF points, origin at the bottom left."""

    x: float
    y: float
    w: float
    h: float

    @property
    def top(self) -> float:
        return self.y + self.h

    @property
    def right(self) -> float:
        return self.x + self.w

    def inset(self, dx: float, dy: float | None = None) -> Box:
        dy = dx if dy is None else dy
        return Box(self.x + dx, self.y + dy, self.w - 2 * dx, self.h - 2 * dy)


def wrap_chars(text: str, font: str, size: float, width: float) -> list[str]:
    """Break ``text`` into lines no wider than ``width``, character by character.

    Japanese has no spaces between words, so breaking anywhere is the normal rule;
    but a line never starts with closing brackets, punctuation or small kana (行頭禁則):
    the character before it moves down with it (追い出し), so no line gets wider.
    """
    lines: list[str] = []
    line = ""
    for ch in text:
        if not line or pdfmetrics.stringWidth(line + ch, font, size) <= width:
            line += ch
        elif ch in _NO_LINE_START and len(line) > 1:
            lines.append(line[:-1])
            line = line[-1] + ch
        else:
            lines.append(line)
            line = ch
    if line:
        lines.append(line)
    return lines


_NO_LINE_START: Final = frozenset("、。，．）」』】〕・ー：；？！ぁぃぅぇぉっゃゅょァィゥェォッャュョ")


def _block_height(n_lines: int, size: float, leading: float) -> float:
    return (n_lines - 1) * size * leading + size


def fit_lines(
    text: str,
    font: str,
    size: float,
    box: Box,
    *,
    min_size: float = 5.0,
    leading: float = 1.2,
    keep_lines: bool = False,
) -> tuple[float, list[str]]:
    """The largest font size (≤ ``size``) and the lines at which ``text`` fits ``box``.

    ``\\n`` separates paragraphs.  Keeping each paragraph on one line is preferred
    while the size can stay at least 80 % of ``size`` -- or down to ``min_size`` with
    ``keep_lines``, for labels whose breaks the caller chose; below that the text
    wraps and shrinks further.  At ``min_size`` the lines are returned even if they
    do not fit, and :func:`draw_fitted` clips them.
    """
    paragraphs = text.split("\n")
    floor = min_size if keep_lines else max(min_size, size * 0.8)
    s = size
    while s >= floor:
        if _block_height(len(paragraphs), s, leading) <= box.h and all(
            pdfmetrics.stringWidth(p, font, s) <= box.w for p in paragraphs
        ):
            return s, paragraphs
        s -= 0.25
    s = size
    while True:
        lines = [line for p in paragraphs for line in (wrap_chars(p, font, s, box.w) or [""])]
        if _block_height(len(lines), s, leading) <= box.h or s <= min_size:
            return s, lines
        s = max(min_size, s - 0.25)


def draw_fitted(
    canvas: Canvas,
    text: str,
    box: Box,
    *,
    font: str = GOTHIC,
    size: float = 9.0,
    min_size: float = 5.0,
    align: Literal["left", "center", "right"] = "left",
    leading: float = 1.2,
    keep_lines: bool = False,
) -> float:
    """Draw ``text`` inside ``box``, vertically centred, shrinking or wrapping to fit.

    ``keep_lines`` keeps the caller's line breaks as long as possible (see
    :func:`fit_lines`).  Returns the font size used.  Text that still does not fit at ``min_size`` is
    clipped to the box rather than allowed to run over the neighbouring cells.
    """
    s, lines = fit_lines(text, font, size, box, min_size=min_size, leading=leading, keep_lines=keep_lines)
    line_h = s * leading
    block_h = _block_height(len(lines), s, leading)
    # Baseline of the first line: centre the block, then drop by the ascent (≈0.88 em
    # for the IPAex fonts) so that glyphs, not the baseline, are centred.
    y = box.y + (box.h + block_h) / 2 - s * 0.88
    canvas.saveState()
    path = canvas.beginPath()
    path.rect(box.x, box.y, box.w, box.h)
    canvas.clipPath(path, stroke=0, fill=0)
    canvas.setFont(font, s)
    for line in lines:
        if align == "center":
            canvas.drawCentredString(box.x + box.w / 2, y, line)
        elif align == "right":
            canvas.drawRightString(box.right, y, line)
        else:
            canvas.drawString(box.x, y, line)
        y -= line_h
    canvas.restoreState()
    return s


def draw_vertical(
    canvas: Canvas, text: str, box: Box, *, font: str = MINCHO, size: float = 8.0, min_size: float = 5.0
) -> None:
    """Draw ``text`` top to bottom (縦書き), one character per line, centred in ``box``.

    Used for the group labels of ruled forms (e.g. 「被保険者」 beside its rows); the
    size shrinks until the column fits the box's height.
    """
    s = size
    while s > min_size and (len(text) * s * 1.15 > box.h or s > box.w):
        s -= 0.25
    step = s * 1.15
    y = box.y + (box.h + step * len(text)) / 2 - s * 0.95
    canvas.setFont(font, s)
    for ch in text:
        canvas.drawCentredString(box.x + box.w / 2, y, ch)
        y -= step
