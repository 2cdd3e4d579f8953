"""介護保険被保険者証 / 資格者証 PDFs, rendered for real and read back with poppler."""

from __future__ import annotations

import html
import math
import re
import shutil
import subprocess
from dataclasses import fields, replace
from datetime import date
from pathlib import Path

import pytest
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm

from kiban.notices import insured_card
from kiban.notices.insured_card import InsuredCard, render
from kiban.notices.pdf import FontMissingError, register_fonts, wrap_chars

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext, pdfinfo, pdffonts) not installed"
)

SCREENSHOT = Path(__file__).resolve().parents[2] / "out" / "screenshots" / "insured-card.png"

# Exactly 60 characters: a 住所 with a long 方書, the worst case the box must absorb.
LONG_ADDRESS = "基盤市中央一丁目2番3号基盤市営住宅第二団地東棟一二三四号室（山田方）サンプルハイツ南側別棟二階奥の部屋まで続く廊下の先"


def card(**changes: object) -> InsuredCard:
    base = InsuredCard(
        insured_no="0000012345",
        address="基盤市中央一丁目2番3号",
        name_kana="キバン　タロウ",
        name="基盤　太郎",
        birth_date=date(1961, 4, 1),
        sex=1,
        issued_on=date(2026, 12, 3),
        insurer_no="139999",
        insurer_name="基盤市",
        category=1,
        acquired_on=date(2026, 3, 31),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def write(tmp_path: Path, data: bytes, name: str = "card.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def run(*args: str | Path) -> str:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True).stdout


def text(pdf: Path, page: int | None = None) -> str:
    pages = [] if page is None else ["-f", str(page), "-l", str(page)]
    return run("pdftotext", "-layout", *pages, pdf, "-")


def squeezed(s: str) -> str:
    """Without any whitespace: -layout pads columns, and 「基盤　太郎」 keeps its 全角 space."""
    return re.sub(r"\s+", "", s)


def test_one_card_is_one_a4_page_with_the_form_items(tmp_path: Path) -> None:
    pdf = write(tmp_path, render([card()]))
    info = run("pdfinfo", pdf)
    assert re.search(r"^Pages:\s+1$", info, re.M)
    size = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+) pts \(A4\)$", info, re.M)
    assert size, info
    assert (round(float(size[1]), 2), round(float(size[2]), 2)) == (595.28, 841.89)
    assert re.search(r"^Title:\s+介護保険被保険者証$", info, re.M)
    assert re.search(r"^Author:\s+基盤市$", info, re.M)

    body = squeezed(text(pdf))
    for expected in (
        "介護保険被保険者証",
        "0000012345",  # 被保険者番号
        "基盤市中央一丁目2番3号",
        "キバンタロウ",
        "基盤太郎",
        "生年月日昭和36年4月1日",
        "性別男",
        "交付年月日令和8年12月3日",
        "139999",  # 保険者番号
        "第1号被保険者",
        "資格取得日令和8年3月31日",
        # 第2面 and 第3面 are there, ruled and empty.
        "要介護状態区分等",
        "認定の有効期間",
        "認定審査会の意見及びサービスの種類の指定",
        # (the vertical labels 被保険者, 給付制限, 介護保険施設等 come out one character a line)
        "開始年月日",
        "居宅介護支援事業者若しくは介護予防支援事業者",
        "届出年月日",
        "入所等年月日",
        "注意事項",
    ):
        assert expected in body, expected
    assert all(part in body for part in ("保険者番号", "並びに保険者の", "名称及び印"))
    assert "再交付" not in body
    assert "有効期限" not in body
    assert "資格者証" not in body


def test_each_of_three_cards_has_its_own_page(tmp_path: Path) -> None:
    people = [
        card(insured_no="0000000001", name="基盤　一郎", name_kana="キバン　イチロウ"),
        card(insured_no="0000000002", name="中央　花子", name_kana="チュウオウ　ハナコ", sex=2),
        card(
            insured_no="0000000003",
            name="南　三郎",
            name_kana="ミナミ　サブロウ",
            birth_date=date(1962, 1, 7),
            category=2,
        ),
    ]
    pdf = write(tmp_path, render(people))
    assert re.search(r"^Pages:\s+3$", run("pdfinfo", pdf), re.M)
    for number, person in enumerate(people, start=1):
        page = squeezed(text(pdf, number))
        assert person.insured_no in page
        assert squeezed(person.name) in page
        assert squeezed(person.name_kana) in page
        others = [p for p in people if p is not person]
        assert not any(squeezed(o.name) in page or o.insured_no in page for o in others)
    assert "性別女" in squeezed(text(pdf, 2))
    page3 = squeezed(text(pdf, 3))
    assert "生年月日昭和37年1月7日" in page3
    assert "第2号被保険者" in page3


def test_fonts_are_embedded_subsets(tmp_path: Path) -> None:
    pdf = write(tmp_path, render([card()]))
    rows = [line.split() for line in run("pdffonts", pdf).splitlines()[2:]]
    by_font = {row[0].split("+")[-1]: row for row in rows}
    assert set(by_font) == {"IPAexGothic", "IPAexMincho"}
    for row in by_font.values():
        # Columns: name type... emb sub uni object-id generation.
        emb, sub, uni = row[-5], row[-4], row[-3]
        assert (emb, sub, uni) == ("yes", "yes", "yes"), row


def test_qualification_certificate_shows_its_title_and_expiry(tmp_path: Path) -> None:
    pdf = write(tmp_path, render([card(valid_until=date(2027, 3, 31))], kind="qualification"))
    assert re.search(r"^Title:\s+介護保険資格者証$", run("pdfinfo", pdf), re.M)
    body = squeezed(text(pdf))
    assert "介護保険資格者証" in body
    assert "有効期限令和9年3月31日" in body
    assert "介護保険被保険者証" not in body.replace("被保険者証に代わる", "")


def test_qualification_certificate_needs_an_expiry() -> None:
    with pytest.raises(ValueError, match="有効期限"):
        render([card()], kind="qualification")


def test_reissue_is_marked(tmp_path: Path) -> None:
    pdf = write(tmp_path, render([card(reissue=True)]))
    assert "再交付" in squeezed(text(pdf))


def test_special_address_note_is_printed(tmp_path: Path) -> None:
    note = "住所地特例（施設：さくらホーム）"
    pdf = write(tmp_path, render([card(special_address_insurer=note)]))
    assert note in squeezed(text(pdf))


_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')


def words(pdf: Path) -> list[tuple[float, float, float, float, str]]:
    out = run("pdftotext", "-bbox", pdf, "-")
    return [
        (float(x0), float(y0), float(x1), float(y1), html.unescape(w))
        for x0, y0, x1, y1, w in _WORD.findall(out)
    ]


def address_run(
    found: list[tuple[float, float, float, float, str]], address: str
) -> list[tuple[float, float, float, float, str]]:
    """The consecutive words that spell ``address``, in reading order."""
    for start in range(len(found)):
        spelled = ""
        for end in range(start, len(found)):
            spelled += found[end][4]
            if spelled == address:
                return found[start : end + 1]
            if not address.startswith(spelled):
                break
    raise AssertionError(f"address not found in the text: {[w[4] for w in found]}")


def test_a_long_address_wraps_inside_its_box(tmp_path: Path) -> None:
    assert len(LONG_ADDRESS) == 60
    pdf = write(tmp_path, render([card(address=LONG_ADDRESS)]))
    found = words(pdf)
    address_words = address_run(found, LONG_ADDRESS)
    assert len(address_words) > 1  # it wrapped rather than shrinking to nothing

    # pdftotext's y axis points down.  The 住所 cell lies right of its label, between
    # the 番号 and フリガナ rows, and inside 第1面.
    (label,) = [w for w in found if w[4] == "住所"]
    (number_label,) = [w for w in found if w[4] == "番号"]
    (kana_label,) = [w for w in found if w[4] == "フリガナ"]
    face = insured_card.FACES[0]
    for x0, y0, x1, y1, w in address_words:
        assert x0 > label[2], w
        assert x1 <= face.right - 4 * mm, w
        assert number_label[3] < y0 and y1 < kana_label[1], w
    heights = {round(y1 - y0, 1) for _, y0, _, y1, _ in address_words}
    assert min(heights) >= 6.0  # still legible (pt)


def test_output_is_deterministic() -> None:
    assert render([card()]) == render([card()])


def test_no_individual_number_anywhere(tmp_path: Path) -> None:
    # The card has no field for a 個人番号, and no 12-digit number is printed.
    assert not {f.name for f in fields(InsuredCard)} & {"my_number", "individual_number", "kojin_bango"}
    pdf = write(tmp_path, render([card()]))
    assert not re.search(r"(?<!\d)\d{12}(?!\d)", text(pdf))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"insured_no": "12345"}, "被保険者番号"),
        ({"insured_no": "０００００１２３４５"}, "被保険者番号"),
        ({"insurer_no": "13999"}, "保険者番号"),
        ({"sex": 3}, "性別"),
        ({"category": 0}, "被保険者区分"),
    ],
)
def test_invalid_cards_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        card(**changes)


def test_empty_or_mixed_batches_are_refused() -> None:
    with pytest.raises(ValueError):
        render([])
    with pytest.raises(ValueError, match="保険者"):
        render([card(), card(insurer_name="隣町")])


def test_missing_font_names_the_file_and_the_package(tmp_path: Path) -> None:
    missing = tmp_path / "ipaexg.ttf"
    with pytest.raises(FontMissingError) as raised:
        register_fonts({"KibanTestMissingFont": missing})
    assert str(missing) in str(raised.value)
    assert "fonts-ipaexfont" in str(raised.value)


def test_wrapping_never_starts_a_line_with_punctuation() -> None:
    lines = wrap_chars("あいうえおかきくけ。こさし", "IPAexGothic", 10, 90)
    assert all(not line.startswith("。") for line in lines)
    assert "".join(lines) == "あいうえおかきくけ。こさし"


def test_screenshot_of_a_card_page(tmp_path: Path) -> None:
    """The PNG a person looks at to judge the layout (out/screenshots/insured-card.png)."""
    pdf = write(
        tmp_path,
        render([card(reissue=True, special_address_insurer="住所地特例（施設：さくらホーム）")]),
    )
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    run("pdftoppm", "-r", "80", "-png", "-singlefile", pdf, SCREENSHOT.with_suffix(""))
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # 80 dpi of A4, rounded up by pdftoppm: 662 x 936 pixels.
    width, height = (math.ceil(side / 72 * 80) for side in A4)
    header = SCREENSHOT.read_bytes()[16:24]
    assert (int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")) == (width, height)
