"""介護保険料還付通知書 PDFs, rendered for real and read back with poppler."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from dataclasses import fields, replace
from datetime import date
from pathlib import Path

import pytest
from reportlab.lib.pagesizes import A4

from kiban.notices.refund_notice import RefundItem, RefundNotice, render

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext, pdfinfo) not installed"
)

SCREENSHOT = Path(__file__).resolve().parents[2] / "out" / "screenshots" / "collection-refund-notice.png"

ONE = (RefundItem(2025, "第3期", date(2025, 9, 30), 13_800, 6_900, 6_900, "過誤納（二重納付）"),)
THREE = (
    RefundItem(2025, "第1期", date(2025, 7, 31), 7_020, 5_020, 2_000, "更正による減額"),
    RefundItem(2025, "第2期", date(2025, 9, 1), 6_900, 4_900, 2_000, "更正による減額"),
    RefundItem(2024, "第9期", date(2025, 3, 31), 15_400, 7_700, 7_700, "過誤納（二重納付）"),
)


def single(**changes: object) -> RefundNotice:
    base = RefundNotice(
        issued_on=date(2025, 11, 10),
        notice_no="介還第2025-000012号",
        insurer_no="139999",
        insurer_name="基盤市",
        office="基盤市 健康福祉部 介護保険課 収納係",
        office_phone="000-123-4567（内線2350）",
        postal_code="812-8577",
        address="基盤市中央一丁目2番3号",
        katagaki="基盤ハイツ101号",
        name="基盤　太郎",
        person_no="0000001234",
        insured_no="0000012345",
        items=ONE,
        refund_total=6_900,
        method="口座振込",
        bank="基盤銀行 本店 普通 ****567",
        payment_date=date(2025, 11, 28),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def several(**changes: object) -> RefundNotice:
    # 11,700 overpaid − 2,700 充当 + 1,000 還付加算金 = 10,000 refunded at the counter.
    base = single(
        notice_no="介還第2025-000013号",
        postal_code="8128577",
        address="基盤市南三丁目4番5号",
        katagaki=None,
        name="中央　花子",
        person_no="0000005678",
        insured_no="0000067890",
        items=THREE,
        appropriated=2_700,
        interest=1_000,
        refund_total=10_000,
        method="窓口払",
        bank=None,
        payment_date=date(2025, 11, 17),
        notes=("ご不明な点は担当課へお問い合わせください。",),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def run(*args: str | Path) -> str:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True).stdout


def text(pdf: Path, page: int | None = None) -> str:
    pages = [] if page is None else ["-f", str(page), "-l", str(page)]
    return run("pdftotext", "-layout", *pages, pdf, "-")


def squeezed(s: str) -> str:
    """Without any whitespace: -layout pads columns, and 「基盤　太郎」 keeps its 全角 space."""
    return re.sub(r"\s+", "", s)


def row_of(layout: str, *parts: str) -> str:
    """The one line of the -layout text with a cell equal to each of ``parts`` (a table row)."""
    rows = [line for line in layout.splitlines() if set(parts) <= set(line.split())]
    assert len(rows) == 1, (parts, rows)
    return rows[0]


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("refund") / "refund.pdf"
    path.write_bytes(render([single(), several()]))
    return path


def test_one_a4_page_per_notice_and_the_metadata(both: Path) -> None:
    info = run("pdfinfo", both)
    assert re.search(r"^Pages:\s+2$", info, re.M)
    size = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+) pts \(A4\)$", info, re.M)
    assert size, info
    assert (round(float(size[1]), 2), round(float(size[2]), 2)) == (595.28, 841.89)
    assert re.search(r"^Title:\s+介護保険料還付通知書$", info, re.M)
    assert re.search(r"^Author:\s+基盤市$", info, re.M)


def test_bank_transfer_page(both: Path) -> None:
    layout = text(both, 1)
    body = squeezed(layout)
    for expected in (
        "介護保険料還付通知書",
        "次のとおり介護保険料の過誤納金がありますので還付（充当）します。",
        "〒812-8577",
        "基盤市中央一丁目2番3号",
        "基盤ハイツ101号",
        "基盤太郎様",
        "令和7年11月10日",  # 発行日
        "通知番号介還第2025-000012号",
        "基盤市長",
        "保険者番号139999",
        "被保険者番号0000012345",
        "宛名番号0000001234",
        "年度期別納付日納付額本来の額過誤納額理由",
        "過誤納金の合計6,900円",
        "未納の保険料への充当額（差し引き）0円",
        "還付加算金（加算）0円",
        "還付額6,900円",
        "支払方法口座振込",
        "振込先基盤銀行本店普通****567",
        "支払予定日令和7年11月28日",
        "口座番号は下3桁のみ表示しています。",
        "時効により受け取れなくなります（介護保険法第200条）。",
        # 教示 (行政不服審査法第82条, 行政事件訴訟法第46条), as on the 決定通知書.
        "教示",
        "3か月以内に、介護保険審査会に対して審査請求をすることができます（介護保険法第183条、第192条）。",
        "基盤市を被告として（訴訟において基盤市を代表する者は基盤市長となります）",
    ):
        assert expected in body, expected
    row_of(layout, "令和7年度", "第3期", "令和7年9月30日", "13,800円", "過誤納（二重納付）")
    assert "地方税法第17条の2" not in body  # no 充当, so no note about it
    assert "中央花子" not in body


def test_appropriation_interest_and_counter_payment(both: Path) -> None:
    layout = text(both, 2)
    body = squeezed(layout)
    for expected in (
        "介護保険料還付通知書",
        "中央花子様",
        "〒812-8577",
        "被保険者番号0000067890",
        "過誤納金の合計11,700円",
        "未納の保険料への充当額（差し引き）−2,700円",
        "還付加算金（加算）＋1,000円",
        "還付額10,000円",
        "支払方法窓口払",
        "受取場所基盤市健康福祉部介護保険課収納係",
        "令和7年11月17日からお受け取りいただけます",
        "過誤納金のうち2,700円は、納期限を過ぎた未納の介護保険料に充当しました（地方税法第17条の2）。",
        "還付加算金1,000円は、法令に定める期間の日数に応じて加算したものです（地方税法第17条の4）。",
        "ご不明な点は担当課へお問い合わせください。",
        "審査請求",
    ):
        assert expected in body, expected
    row_of(layout, "令和7年度", "第1期", "令和7年7月31日", "7,020円", "5,020円", "2,000円", "更正による減額")
    row_of(layout, "令和7年度", "第2期", "令和7年9月1日", "6,900円", "4,900円")
    row_of(layout, "令和6年度", "第9期", "令和7年3月31日", "15,400円", "7,700円")
    row_of(layout, "合計", "11,700円")
    assert "振込先" not in body
    assert "基盤太郎" not in body


def test_ten_items_stay_on_one_page(tmp_path: Path) -> None:
    items = tuple(
        RefundItem(2025, f"第{n}期", date(2025, 4, 1 + n), 5_000, 4_000, 1_000, "更正による減額")
        for n in range(1, 11)
    )
    pdf = tmp_path / "ten.pdf"
    pdf.write_bytes(render([single(items=items, appropriated=500, interest=0, refund_total=9_500)]))
    assert re.search(r"^Pages:\s+1$", run("pdfinfo", pdf), re.M)
    layout = text(pdf)
    for n in range(1, 11):
        row_of(layout, f"第{n}期", f"令和7年4月{1 + n}日")
    body = squeezed(layout)
    assert "還付額9,500円" in body
    assert "支払予定日令和7年11月28日" in body
    assert "教示" in body


def test_custom_review_body(tmp_path: Path) -> None:
    pdf = tmp_path / "custom.pdf"
    pdf.write_bytes(render([single(review_body="福岡県介護保険審査会")]))
    assert "3か月以内に、福岡県介護保険審査会に対して審査請求" in squeezed(text(pdf))


def test_no_individual_number_and_no_full_account_anywhere(both: Path) -> None:
    assert not {f.name for f in fields(RefundNotice)} & {"my_number", "individual_number", "kojin_bango"}
    out = text(both)
    assert not re.search(r"(?<!\d)\d{12}(?!\d)", out)
    assert not re.search(r"\*\d{4,}", out)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"address": "基盤市中央一丁目123456789012"}, "住所"),
        ({"katagaki": "番号１２３４５６７８９０１２"}, "方書"),  # full-width digits too
        ({"notes": ("個人番号 1234 5678 9012 を確認しました",)}, "備考"),
        ({"notes": ("個人番号123456789012",)}, "備考"),
    ],
)
def test_a_twelve_digit_number_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=f"{message}に12桁の番号があります") as raised:
        single(**changes)
    assert "123456789012" not in str(raised.value)  # the digits are not echoed


def test_a_twelve_digit_cause_is_refused() -> None:
    with pytest.raises(ValueError, match="還付の理由に12桁の番号"):
        RefundItem(2025, "第1期", date(2025, 7, 31), 200, 100, 100, "照会 123456789012")


@pytest.mark.parametrize(
    "bank",
    [
        "基盤銀行 本店 普通 1234567",  # not masked at all
        "基盤銀行 本店 普通 ***4567",  # four digits showing
        "基盤銀行 本店 普通 ＊＊＊４５６７",  # full-width digits count too
        "基盤銀行 支店123 普通 ****567",  # digits elsewhere in the string count too
        "基盤銀行 本店 普通",  # no account at all
        "",
    ],
)
def test_an_unmasked_account_is_refused(bank: str) -> None:
    with pytest.raises(ValueError, match="振込先口座"):
        single(bank=bank)


def test_a_full_width_mask_is_accepted() -> None:
    assert single(bank="基盤銀行 本店 普通 ＊＊＊＊５６７").bank == "基盤銀行 本店 普通 ＊＊＊＊５６７"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"refund": 6_000}, "過誤納額 6,000円 が 納付額 13,800円 − 本来の額 6,900円 と一致しません"),
        ({"paid": 6_900, "refund": 0}, "過誤納額は1円以上です"),
        ({"due": -1, "refund": 13_801}, "本来の額"),
        ({"fiscal_year": "2025"}, "年度は整数です"),
        ({"label": ""}, "期別"),
        ({"cause": " "}, "還付の理由"),
    ],
)
def test_invalid_items_are_refused(args: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        replace(ONE[0], **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # Totals that do not add up.
        (
            {"refund_total": 7_000},
            "還付額 7,000円 が 過誤納金 6,900円 − 充当額 0円 ＋ 還付加算金 0円 ＝ 6,900円",
        ),
        ({"interest": 1_000}, "＝ 7,900円 と一致しません"),
        (
            {"appropriated": 7_000, "refund_total": 0},
            "充当額 7,000円 が過誤納金の合計 6,900円 を超えています",
        ),
        ({"appropriated": 6_900, "refund_total": 0}, "還付額が0円です"),
        ({"interest": -1, "refund_total": 6_899}, "還付加算金"),
        # Bad numbers.
        ({"insured_no": "12345"}, "被保険者番号は10桁の数字です"),
        ({"insured_no": "０００００１２３４５"}, "被保険者番号は10桁の数字です"),
        ({"insured_no": "000001234X"}, "被保険者番号は10桁の数字です"),
        ({"person_no": "000000123"}, "宛名番号は10桁の数字です"),
        ({"insurer_no": "13999"}, "保険者番号は6桁の数字です"),
        ({"postal_code": "812-857"}, "郵便番号"),
        # Payment.
        ({"method": "現金書留"}, "支払方法は口座振込か窓口払です"),
        ({"payment_date": None}, "口座振込には支払予定日"),
        (
            {"payment_date": date(2025, 11, 9)},
            "支払予定日 令和7年11月9日 が発行日 令和7年11月10日 より前です",
        ),
        ({"method": "窓口払"}, "窓口払に振込先口座"),
        # Items.
        ({"items": ()}, "過誤納の内訳は1件から10件まで"),
        ({"items": ONE * 11, "refund_total": 75_900}, "過誤納の内訳は1件から10件まで"),
        ({"issued_on": date(2025, 9, 29), "payment_date": date(2025, 10, 10)}, "第3期の納付日"),
        ({"review_body": "〇〇県介護保険審査会"}, "審査請求先"),
        ({"name": ""}, "氏名"),
    ],
)
def test_invalid_notices_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        single(**changes)


def test_empty_or_mixed_batches_are_refused() -> None:
    with pytest.raises(ValueError):
        render([])
    with pytest.raises(ValueError, match="保険者"):
        render([single(), single(insurer_name="隣町")])


def test_output_is_deterministic() -> None:
    assert render([single(), several()]) == render([single(), several()])


def test_screenshot_of_a_refund_notice(tmp_path: Path) -> None:
    """The PNG a person looks at to judge the layout (out/screenshots/collection-refund-notice.png)."""
    pdf = tmp_path / "refund.pdf"
    pdf.write_bytes(render([several()]))
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    run("pdftoppm", "-r", "80", "-png", "-singlefile", pdf, SCREENSHOT.with_suffix(""))
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = (math.ceil(side / 72 * 80) for side in A4)
    header = SCREENSHOT.read_bytes()[16:24]
    assert (int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")) == (width, height)
