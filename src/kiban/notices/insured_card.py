"""介護保険被保険者証 (insured card) and 介護保険資格者証 (qualification certificate) as PDF.

The layout follows 介護保険法施行規則第26条 様式第一号: a card of three faces.

* 第1面 -- the insured person (番号, 住所, フリガナ, 氏名, 生年月日, 性別), 交付年月日 and
  the insurer's number, name and seal; a 資格者証 adds its 有効期限.
* 第2面 -- the certification of need of care (要介護状態区分等, 認定年月日, 認定の有効期間,
  区分支給限度基準額, 認定審査会の意見).  Certification is not built yet, so these
  boxes are printed empty, ruled for writing in.
* 第3面 -- 給付制限, the care-management office and the facility, also empty, with the
  standard cautions (注意事項).

Each card takes one A4 portrait page: 第1面 and 第2面 side by side, 第3面 below, each
face framed by a dashed cutting line.  No 個人番号 is ever printed: the card has no
field for it (番号法 limits its use, and the form does not carry it).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

from reportlab.lib.colors import Color, black
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from kiban.notices.checks import DIGITS
from kiban.notices.pdf import GOTHIC, MINCHO, Box, draw_fitted, draw_vertical, new_canvas
from kiban.shared.wareki import to_wareki

__all__ = ["FACES", "TITLES", "InsuredCard", "render"]

Kind = Literal["certificate", "qualification"]

TITLES: Final[dict[str, str]] = {
    "certificate": "介護保険被保険者証",
    "qualification": "介護保険資格者証",
}

PAGE_W, PAGE_H = A4
FACE_W: Final = 90 * mm
FACE_H: Final = 128 * mm
_GAP: Final = 8 * mm
_LEFT: Final = (PAGE_W - 2 * FACE_W - _GAP) / 2
_TOP: Final = PAGE_H - 16 * mm
# 第1面, 第2面 (top row) and 第3面 (bottom left), in PDF points.
FACES: Final[tuple[Box, Box, Box]] = (
    Box(_LEFT, _TOP - FACE_H, FACE_W, FACE_H),
    Box(_LEFT + FACE_W + _GAP, _TOP - FACE_H, FACE_W, FACE_H),
    Box(_LEFT, _TOP - 2 * FACE_H - _GAP, FACE_W, FACE_H),
)
_GUIDE: Final = Box(_LEFT + FACE_W + _GAP, _TOP - 2 * FACE_H - _GAP, FACE_W, FACE_H)

_THIN: Final = 0.45
_THICK: Final = 1.0
_GREY: Final = Color(0.45, 0.45, 0.45)
_DATE_BLANK: Final = "年　　月　　日"

# The standard cautions printed on the card (様式第一号 注意事項), shortened.
CAUTIONS: Final = (
    "一　保険給付を受けようとするときは、あらかじめこの証を事業者又は施設に提示してください。",
    "二　被保険者の資格がなくなったときは、遅滞なくこの証を保険者に返してください。",
    "三　住所や氏名が変わったときは、14日以内に届け出てください。",
)


@dataclass(frozen=True)
class InsuredCard:
    """One 被保険者証 (介護保険法施行規則第26条, 様式第一号) or 資格者証."""

    insured_no: str  # 被保険者番号, 10 digits
    address: str  # 住所 (with 方書 appended by the caller if any)
    name_kana: str  # フリガナ
    name: str  # 氏名
    birth_date: date
    sex: int  # 1 男, 2 女
    issued_on: date  # 交付年月日
    insurer_no: str  # 保険者番号, 6 digits
    insurer_name: str  # 保険者の名称 e.g. "基盤市"
    category: int  # 1 = 第1号被保険者, 2 = 第2号
    acquired_on: date  # 資格取得日
    reissue: bool = False  # 再交付
    valid_until: date | None = None  # 資格者証 only: 有効期限
    special_address_insurer: str | None = None  # 住所地特例 note e.g. "住所地特例（施設：○○ホーム）"

    def __post_init__(self) -> None:
        _check_digits("被保険者番号 / insured_no", self.insured_no, 10)
        _check_digits("保険者番号 / insurer_no", self.insurer_no, 6)
        if self.sex not in (1, 2):
            raise ValueError(f"性別は1（男）か2（女）です / sex must be 1 or 2, got {self.sex!r}")
        if self.category not in (1, 2):
            raise ValueError(
                f"被保険者区分は1（第1号）か2（第2号）です / category must be 1 or 2, got {self.category!r}"
            )


def _check_digits(label: str, value: str, length: int) -> None:
    if not (len(value) == length and DIGITS.fullmatch(value)):
        raise ValueError(f"{label}は{length}桁の数字です / {label} must be {length} ASCII digits: {value!r}")


def render(
    cards: Sequence[InsuredCard], *, kind: Literal["certificate", "qualification"] = "certificate"
) -> bytes:
    """The PDF: one A4 portrait page per card (kind "certificate" = 介護保険被保険者証, "qualification" = 介護保険資格者証)."""
    if kind not in TITLES:
        raise ValueError(f"kind must be 'certificate' or 'qualification', got {kind!r}")
    if not cards:
        raise ValueError("交付する証がありません / no cards to render")
    insurers = {card.insurer_name for card in cards}
    if len(insurers) > 1:
        raise ValueError(f"保険者が混在しています / cards of several insurers in one PDF: {sorted(insurers)}")
    if kind == "qualification" and any(card.valid_until is None for card in cards):
        raise ValueError("資格者証には有効期限が必要です / a 資格者証 needs valid_until")
    buffer = io.BytesIO()
    # The metadata names the document and the insurer only, never a person.
    canvas = new_canvas(
        buffer,
        title=TITLES[kind],
        author=cards[0].insurer_name,
        subject="介護保険法施行規則 様式第一号",
    )
    for index, card in enumerate(cards, start=1):
        _page(canvas, card, kind, index, len(cards))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _page(canvas: Canvas, card: InsuredCard, kind: Kind, index: int, total: int) -> None:
    for number, face in enumerate(FACES, start=1):
        _cut_line(canvas, face)
        canvas.setFillColor(_GREY)
        canvas.setFont(MINCHO, 7)
        canvas.drawString(face.x, face.top + 3 * mm, f"（第{number}面）")
        canvas.setFillColor(black)
        canvas.setLineWidth(_THICK)
        canvas.rect(face.x, face.y, face.w, face.h)
    _face1(canvas, card, kind, FACES[0].inset(4 * mm))
    _face2(canvas, FACES[1].inset(4 * mm))
    _face3(canvas, FACES[2].inset(4 * mm))
    _guide(canvas, card, kind)
    canvas.setFillColor(_GREY)
    canvas.setFont(MINCHO, 7)
    canvas.drawRightString(FACES[1].right, 9 * mm, f"{card.insurer_name}　{TITLES[kind]}　{index} / {total}")
    canvas.setFillColor(black)


def _cut_line(canvas: Canvas, face: Box) -> None:
    canvas.saveState()
    canvas.setStrokeColor(_GREY)
    canvas.setLineWidth(0.3)
    canvas.setDash(2, 2)
    out = 1.5 * mm
    canvas.rect(face.x - out, face.y - out, face.w + 2 * out, face.h + 2 * out)
    canvas.restoreState()


def _cell(
    canvas: Canvas,
    box: Box,
    text: str = "",
    *,
    label: bool = True,
    size: float | None = None,
    align: Literal["left", "center", "right"] | None = None,
) -> None:
    """One ruled cell; labels are 明朝 and centred, entries ゴシック and left-aligned."""
    canvas.setLineWidth(_THIN)
    canvas.rect(box.x, box.y, box.w, box.h)
    if text:
        draw_fitted(
            canvas,
            text,
            box.inset(1.4 * mm, 0.8 * mm),
            font=MINCHO if label else GOTHIC,
            size=size or (7.0 if label else 9.0),
            min_size=4.5,
            align=align or ("center" if label else "left"),
            # A label's line breaks are chosen to read naturally (e.g. 「基本チェックリスト
            # 実施日」 is not split); entries wrap freely.
            keep_lines=label,
        )


Cell = tuple[float, str] | tuple[float, str, bool]


def _row(canvas: Canvas, x: float, top: float, h: float, *cells: Cell) -> float:
    """One row of cells left to right, each (width, text[, is_label=True]); returns its bottom."""
    for w, text, *label in cells:
        _cell(canvas, Box(x, top - h, w, h), text, label=label[0] if label else True)
        x += w
    return top - h


def _group(canvas: Canvas, x: float, bottom: float, top: float, w: float, text: str, size: float) -> None:
    """The vertical label spanning a block of rows (e.g. 「被保険者」)."""
    canvas.setLineWidth(_THIN)
    canvas.rect(x, bottom, w, top - bottom)
    draw_vertical(canvas, text, Box(x, bottom, w, top - bottom), size=size)


def _face1(canvas: Canvas, card: InsuredCard, kind: Kind, area: Box) -> None:
    """第1面: the person, 交付年月日 and the insurer (様式第一号 第1面)."""
    title_h = 13 * mm
    title_box = Box(area.x, area.top - title_h, area.w, title_h)
    draw_fitted(canvas, TITLES[kind], title_box, font=MINCHO, size=15, align="center")
    if card.reissue:
        # The 再交付 mark: a reissued card must be told apart from the original.
        mark = Box(area.right - 13 * mm, area.top - 7 * mm, 13 * mm, 6 * mm)
        canvas.setLineWidth(0.8)
        canvas.roundRect(mark.x, mark.y, mark.w, mark.h, 1 * mm)
        draw_fitted(canvas, "再交付", mark.inset(1 * mm), font=GOTHIC, size=8, align="center")

    group_w, label_w = 7 * mm, 17 * mm
    lx = area.x + group_w
    vx = lx + label_w
    vw = area.right - vx
    top = y = area.top - title_h
    for label, h, value, size in (
        ("番号", 8 * mm, card.insured_no, 11.0),
        ("住所", 17 * mm, card.address, 9.0),
        ("フリガナ", 7 * mm, card.name_kana, 8.0),
        ("氏名", 11 * mm, card.name, 13.0),
    ):
        _cell(canvas, Box(lx, y - h, label_w, h), label)
        _cell(canvas, Box(vx, y - h, vw, h), value, label=False, size=size)
        y -= h
    # 生年月日 and 性別 share the last row of the 被保険者 block, as on the form.
    sex_label_w, sex_w = 9 * mm, 11 * mm
    birth = to_wareki(card.birth_date)
    sex = "男" if card.sex == 1 else "女"
    y = _row(
        canvas,
        lx,
        y,
        8 * mm,
        (label_w, "生年月日"),
        (vw - sex_label_w - sex_w, birth, False),
        (sex_label_w, "性別"),
        (sex_w, sex, False),
    )
    _group(canvas, area.x, y, top, group_w, "被保険者", 8)

    head_w = group_w + label_w
    y = _row(canvas, area.x, y, 8 * mm, (head_w, "交付年月日"), (vw, to_wareki(card.issued_on), False))
    if kind == "qualification":
        assert card.valid_until is not None  # checked by render()
        y = _row(canvas, area.x, y, 8 * mm, (head_w, "有効期限"), (vw, to_wareki(card.valid_until), False))

    # 被保険者区分, 資格取得日 and the 住所地特例 note are not items of the form itself;
    # they are printed small in a 備考 row, as municipalities commonly do.
    notes = [f"第{card.category}号被保険者", f"資格取得日　{to_wareki(card.acquired_on)}"]
    if card.special_address_insurer:
        notes.append(card.special_address_insurer)
    _cell(canvas, Box(area.x, y - 14 * mm, head_w, 14 * mm), "備考")
    _cell(canvas, Box(vx, y - 14 * mm, vw, 14 * mm), "\n".join(notes), label=False, size=7)
    y -= 14 * mm

    # 保険者番号並びに保険者の名称及び印 takes the rest of the face.
    _cell(canvas, Box(area.x, area.y, head_w, y - area.y), "保険者番号\n並びに保険者の\n名称及び印")
    _cell(canvas, Box(vx, y - 8 * mm, vw, 8 * mm), card.insurer_no, label=False, size=11)
    y -= 8 * mm
    name_box = Box(vx, area.y, vw, y - area.y)
    _cell(canvas, name_box)
    seal = min(18 * mm, name_box.h - 4 * mm)
    seal_box = Box(name_box.right - seal - 2 * mm, name_box.y + (name_box.h - seal) / 2, seal, seal)
    insurer_box = Box(name_box.x + 2 * mm, name_box.y, seal_box.x - name_box.x - 4 * mm, name_box.h)
    draw_fitted(canvas, card.insurer_name, insurer_box, font=MINCHO, size=12)
    # The square where the insurer's seal (印) is printed, in grey like a pre-printed form.
    canvas.saveState()
    canvas.setStrokeColor(_GREY)
    canvas.setFillColor(_GREY)
    canvas.rect(seal_box.x, seal_box.y, seal_box.w, seal_box.h)
    draw_fitted(canvas, "印", seal_box, font=MINCHO, size=7, align="center")
    canvas.restoreState()


def _face2(canvas: Canvas, area: Box) -> None:
    """第2面: the certification of need of care, ruled and empty (様式第一号 第2面)."""
    label_w = 30 * mm
    vw = area.w - label_w
    y = area.top
    y = _row(canvas, area.x, y, 11 * mm, (label_w, "要介護状態区分等"), (vw, ""))
    y = _row(
        canvas,
        area.x,
        y,
        12 * mm,
        (label_w, "認定年月日\n（事業対象者の場合は、\n基本チェックリスト実施日）"),
        (vw, _DATE_BLANK),
    )
    y = _row(
        canvas, area.x, y, 11 * mm, (label_w, "認定の有効期間"), (vw, f"{_DATE_BLANK}　〜　{_DATE_BLANK}")
    )

    # 居宅サービス等 区分支給限度基準額: its period and the monthly amount.
    group_top = y
    sub_w = 16 * mm
    y = _row(
        canvas, area.x + label_w, y, 8 * mm, (sub_w, "期間"), (vw - sub_w, f"{_DATE_BLANK}〜{_DATE_BLANK}")
    )
    y = _row(canvas, area.x + label_w, y, 8 * mm, (sub_w, "1月当たり"), (vw - sub_w, "単位"))
    _cell(canvas, Box(area.x, y, label_w, group_top - y), "居宅サービス等\n区分支給限度基準額")

    # うち種類支給限度基準額, by kind of service: a few blank lines.
    half = area.w / 2
    y = _row(canvas, area.x, y, 7 * mm, (half, "サービスの種類"), (half, "種類支給限度基準額"))
    for _ in range(3):
        y = _row(canvas, area.x, y, 7 * mm, (half, ""), (half, "単位"))

    y = _row(canvas, area.x, y, 8 * mm, (area.w, "認定審査会の意見及びサービスの種類の指定"))
    _cell(canvas, Box(area.x, area.y, area.w, y - area.y))


def _face3(canvas: Canvas, area: Box) -> None:
    """第3面: 給付制限, care management, facility and the cautions (様式第一号 第3面)."""
    group_w = 7 * mm
    gx = area.x + group_w
    inner_w = area.w - group_w
    content_w = 32 * mm
    period = f"開始年月日　{_DATE_BLANK}\n終了年月日　{_DATE_BLANK}"
    top = area.top
    y = _row(canvas, gx, top, 6 * mm, (content_w, "内容"), (inner_w - content_w, "期間"))
    for _ in range(3):
        y = _row(canvas, gx, y, 11 * mm, (content_w, ""), (inner_w - content_w, period))
    _group(canvas, area.x, y, top, group_w, "給付制限", 7)

    date_w = 22 * mm
    name_w = area.w - date_w
    office = "居宅介護支援事業者若しくは介護予防支援事業者\n及びその事業所の名称"
    y = _row(canvas, area.x, y, 10 * mm, (name_w, office), (date_w, "届出年月日"))
    for _ in range(2):
        y = _row(canvas, area.x, y, 8 * mm, (name_w, ""), (date_w, _DATE_BLANK))

    # 介護保険施設等: two entries, each 種類・名称 over 入所等・退所等年月日.
    top = y
    kind_label_w, kind_w, date_label_w = 10 * mm, 20 * mm, 17 * mm
    date_w = inner_w / 2 - date_label_w
    for _ in range(2):
        y = _row(
            canvas,
            gx,
            y,
            7 * mm,
            (kind_label_w, "種類"),
            (kind_w, ""),
            (kind_label_w, "名称"),
            (inner_w - 2 * kind_label_w - kind_w, ""),
        )
        y = _row(
            canvas,
            gx,
            y,
            7 * mm,
            (date_label_w, "入所等年月日"),
            (date_w, _DATE_BLANK),
            (date_label_w, "退所等年月日"),
            (date_w, _DATE_BLANK),
        )
    _group(canvas, area.x, y, top, group_w, "介護保険施設等", 7)

    notes = Box(area.x, area.y, area.w, y - area.y - 2 * mm).inset(0.5 * mm)
    cautions = "注意事項\n" + "\n".join(CAUTIONS)
    draw_fitted(canvas, cautions, notes, font=MINCHO, size=6.5, min_size=4.5, leading=1.35)


def _guide(canvas: Canvas, card: InsuredCard, kind: Kind) -> None:
    """Instructions beside 第3面, outside the cutting lines (not part of the card)."""
    lines = [
        "この用紙について",
        "・点線に沿って切り取り、第1面が表になるように折ってお使いください。",
        "・サービスを受けるときは、この証を事業者又は施設に提示してください。",
    ]
    if kind == "qualification":
        lines.append("・この資格者証は、被保険者証に代わるものです。有効期限を過ぎたものは使えません。")
    if card.reissue:
        lines.append(f"・元の証が見つかったときは、{card.insurer_name}に返してください。")
    lines.append(f"交付　{card.insurer_name}（保険者番号 {card.insurer_no}）")
    box = Box(_GUIDE.x, _GUIDE.top - 34 * mm, _GUIDE.w, 34 * mm)
    canvas.setLineWidth(_THIN)
    canvas.setStrokeColor(_GREY)
    canvas.rect(box.x, box.y, box.w, box.h)
    canvas.setStrokeColor(black)
    draw_fitted(canvas, "\n".join(lines), box.inset(3 * mm), font=GOTHIC, size=7.5, leading=1.5)
