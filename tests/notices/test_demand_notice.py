"""介護保険料督促状 PDFs, rendered for real and read back with poppler."""

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

from kiban.notices.demand_notice import DemandItem, DemandNotice, render

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext, pdfinfo) not installed"
)

SCREENSHOT = Path(__file__).resolve().parents[2] / "out" / "screenshots" / "collection-demand-notice.png"

# 納付番号: 業務2 + 年度4 + 宛名番号10 + 徴収方法1 + 期2 + check digit 1 (20 digits, not a 個人番号).
ONE = (DemandItem(2025, "第3期", date(2025, 9, 30), 6_900, 6_900, "01202500000012342033"),)
THREE = (
    DemandItem(2024, "第9期", date(2025, 3, 31), 7_700, 2_700, "01202400000056782095"),
    DemandItem(2025, "第1期", date(2025, 7, 31), 7_020, 7_020, "01202500000056782013"),
    DemandItem(2025, "第2期", date(2025, 9, 1), 6_900, 6_900, "01202500000056782021"),
)


def single(**changes: object) -> DemandNotice:
    base = DemandNotice(
        issued_on=date(2025, 10, 20),
        notice_no="介督第2025-000045号",
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
        deadline=date(2025, 10, 30),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def several(**changes: object) -> DemandNotice:
    base = single(
        notice_no="介督第2025-000046号",
        postal_code="8128577",
        address="基盤市南三丁目4番5号",
        katagaki=None,
        name="中央　花子",
        person_no="0000005678",
        insured_no="0000067890",
        items=THREE,
        fee=100,
        notes=("分割での納付をご希望の方は、指定期限までに担当課へご相談ください。",),
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
    path = tmp_path_factory.mktemp("demand") / "demand.pdf"
    path.write_bytes(render([single(), several()]))
    return path


def test_one_a4_page_per_notice_and_the_metadata(both: Path) -> None:
    info = run("pdfinfo", both)
    assert re.search(r"^Pages:\s+2$", info, re.M)
    size = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+) pts \(A4\)$", info, re.M)
    assert size, info
    assert (round(float(size[1]), 2), round(float(size[2]), 2)) == (595.28, 841.89)
    assert re.search(r"^Title:\s+介護保険料督促状$", info, re.M)
    assert re.search(r"^Author:\s+基盤市$", info, re.M)


def test_single_item_page(both: Path) -> None:
    layout = text(both, 1)
    body = squeezed(layout)
    for expected in (
        "介護保険料督促状",
        "下記の介護保険料が納期限を過ぎても納付されていません。指定期限までに納付してください。",
        "〒812-8577",
        "基盤市中央一丁目2番3号",
        "基盤ハイツ101号",
        "基盤太郎様",
        "令和7年10月20日",  # 発行日
        "通知番号介督第2025-000045号",
        "基盤市長",
        "保険者番号139999",
        "基盤市健康福祉部介護保険課収納係",
        "被保険者番号0000012345",
        "宛名番号0000001234",
        "合計未納額6,900円",
        "指定期限令和7年10月30日まで",
        "年度期別納期限調定額未納額納付番号",
        "納期限の翌日から納付の日までの日数に応じて延滞金がかかることがあります。",
        "この督促により、未納の保険料の時効（介護保険法第200条）が更新されます。",
        "同封の納付書により、金融機関・コンビニエンスストア・市役所窓口で納付してください。",
        # 教示 (行政不服審査法第82条, 行政事件訴訟法第46条).
        "教示",
        "3か月以内に、介護保険審査会に対して審査請求をすることができます（介護保険法第183条、第192条）。",
        "基盤市を被告として（訴訟において基盤市を代表する者は基盤市長となります）",
    ):
        assert expected in body, expected
    row_of(layout, "令和7年度", "第3期", "令和7年9月30日", "6,900円", "01202500000012342033")
    assert "督促手数料" not in body
    assert "納付すべき額" not in body
    assert "中央花子" not in body


def test_three_items_with_a_fee(both: Path) -> None:
    layout = text(both, 2)
    body = squeezed(layout)
    for expected in (
        "介護保険料督促状",
        "中央花子様",
        "〒812-8577",
        "被保険者番号0000067890",
        "合計未納額16,620円",
        "督促手数料100円",
        "納付すべき額16,720円",
        "指定期限令和7年10月30日まで",
        "督促手数料100円は、基盤市の条例により加算しています。",
        "分割での納付をご希望の方は、指定期限までに担当課へご相談ください。",
        "時効（介護保険法第200条）が更新されます。",
        "審査請求",
    ):
        assert expected in body, expected
    row_of(layout, "令和6年度", "第9期", "令和7年3月31日", "7,700円", "2,700円", "01202400000056782095")
    row_of(layout, "令和7年度", "第1期", "令和7年7月31日", "7,020円", "01202500000056782013")
    row_of(layout, "令和7年度", "第2期", "令和7年9月1日", "6,900円", "01202500000056782021")
    row_of(layout, "合計", "16,620円")
    assert "基盤太郎" not in body


def test_twelve_items_stay_on_one_page(tmp_path: Path) -> None:
    items = tuple(
        DemandItem(
            2024, f"第{n}期", date(2024 + (n + 5) // 12, (n + 5) % 12 + 1, 28), 7_000, 7_000, f"{n:020d}"
        )
        for n in range(1, 13)
    )
    pdf = tmp_path / "twelve.pdf"
    pdf.write_bytes(render([several(items=items, issued_on=date(2025, 7, 1), deadline=date(2025, 7, 11))]))
    assert re.search(r"^Pages:\s+1$", run("pdfinfo", pdf), re.M)
    layout = text(pdf)
    for n in range(1, 13):
        row_of(layout, f"第{n}期", f"{n:020d}")
    body = squeezed(layout)
    assert "合計未納額84,000円" in body
    assert "教示" in body


def test_custom_review_body_and_late_fee_note(tmp_path: Path) -> None:
    pdf = tmp_path / "custom.pdf"
    pdf.write_bytes(
        render(
            [single(review_body="福岡県介護保険審査会", late_fee_note="延滞金は納付の際にお知らせします。")]
        )
    )
    body = squeezed(text(pdf))
    assert "3か月以内に、福岡県介護保険審査会に対して審査請求" in body
    assert "延滞金は納付の際にお知らせします。" in body


def test_no_individual_number_anywhere(both: Path) -> None:
    assert not {f.name for f in fields(DemandNotice)} & {"my_number", "individual_number", "kojin_bango"}
    assert not re.search(r"(?<!\d)\d{12}(?!\d)", text(both))


def test_a_twenty_digit_payment_number_is_accepted() -> None:
    item = DemandItem(2025, "第4期", date(2025, 10, 31), 6_900, 6_900, "12345678901234567890")
    assert item.payment_no == "12345678901234567890"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"address": "基盤市中央一丁目123456789012"}, "住所"),
        ({"katagaki": "番号１２３４５６７８９０１２"}, "方書"),  # full-width digits too
        ({"notes": ("個人番号 1234 5678 9012 を確認しました",)}, "備考"),
        ({"notes": ("個人番号123456789012",)}, "備考"),
        ({"late_fee_note": "照会番号 123456789012"}, "延滞金の注意書き"),
    ],
)
def test_a_twelve_digit_number_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=f"{message}に12桁の番号があります") as raised:
        single(**changes)
    assert "123456789012" not in str(raised.value)  # the digits are not echoed


def test_a_twelve_digit_item_label_is_refused() -> None:
    with pytest.raises(ValueError, match="期別に12桁の番号"):
        DemandItem(2025, "123456789012", date(2025, 7, 31), 100, 100, "0" * 20)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"unpaid": 7_000}, "未納額 7,000円 が調定額 6,900円 を超えています"),
        ({"unpaid": 0}, "未納額は1円以上です"),
        ({"amount": -1}, "調定額"),
        ({"payment_no": "123456789012"}, "納付番号は20桁の数字です"),
        ({"payment_no": "１２３４５６７８９０１２３４５６７８９０"}, "納付番号は20桁の数字です"),
        ({"fiscal_year": "2025"}, "年度は整数です"),
        ({"label": ""}, "期別"),
    ],
)
def test_invalid_items_are_refused(args: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        replace(ONE[0], **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"insured_no": "12345"}, "被保険者番号は10桁の数字です"),
        ({"insured_no": "０００００１２３４５"}, "被保険者番号は10桁の数字です"),
        ({"person_no": "000000123"}, "宛名番号は10桁の数字です"),
        ({"insurer_no": "13999"}, "保険者番号は6桁の数字です"),
        ({"postal_code": "812-857"}, "郵便番号"),
        (
            {"deadline": date(2025, 10, 20)},
            "指定期限 令和7年10月20日 は発行日 令和7年10月20日 より後の日です",
        ),
        ({"deadline": date(2025, 10, 1)}, "指定期限"),
        ({"items": ()}, "未納の期別は1件から12件まで"),
        ({"items": ONE * 13}, "未納の期別は1件から12件まで"),
        ({"items": ONE + ONE}, "納付番号が重複"),
        ({"issued_on": date(2025, 9, 30), "deadline": date(2025, 10, 10)}, "第3期の納期限"),
        ({"fee": -100}, "督促手数料"),
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


def test_screenshot_of_a_demand_notice(tmp_path: Path) -> None:
    """The PNG a person looks at to judge the layout (out/screenshots/collection-demand-notice.png)."""
    pdf = tmp_path / "demand.pdf"
    pdf.write_bytes(render([several()]))
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    run("pdftoppm", "-r", "80", "-png", "-singlefile", pdf, SCREENSHOT.with_suffix(""))
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = (math.ceil(side / 72 * 80) for side in A4)
    header = SCREENSHOT.read_bytes()[16:24]
    assert (int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")) == (width, height)
