"""介護保険料納付済確認書 PDFs, rendered for real and read back with poppler."""

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

from kiban.notices.receipt_certificate import PaidItem, ReceiptCertificate, render

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext, pdfinfo) not installed"
)

SCREENSHOT = (
    Path(__file__).resolve().parents[2] / "out" / "screenshots" / "collection-receipt-certificate.png"
)

ONE = (PaidItem(2025, "第3期", date(2025, 9, 30), 6_900, 6_900, date(2025, 9, 26)),)
# Calendar year 2025: the last 期 of 令和6年度 and the 期 of 令和7年度 paid so far; 第6期 unpaid.
SEVEN = (
    PaidItem(2024, "第9期", date(2025, 3, 31), 7_700, 7_700, date(2025, 3, 28)),
    *(
        PaidItem(2025, f"第{n}期", date(2025, n + 6, 28), 7_000, 7_000, date(2025, n + 6, 25))
        for n in range(1, 6)
    ),
    PaidItem(2025, "第6期", date(2025, 12, 28), 7_000, 0, None),
)


def single(**changes: object) -> ReceiptCertificate:
    base = ReceiptCertificate(
        issued_on=date(2026, 1, 15),
        certificate_no="介証第2026-000003号",
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
        period_from=date(2025, 1, 1),
        period_to=date(2025, 12, 31),
        items=ONE,
        purpose="確定申告（社会保険料控除）",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def several(**changes: object) -> ReceiptCertificate:
    base = single(
        certificate_no="介証第2026-000004号",
        postal_code="8128577",
        address="基盤市南三丁目4番5号",
        katagaki=None,
        name="中央　花子",
        person_no="0000005678",
        insured_no="0000067890",
        items=SEVEN,
        notes=("この確認書は再発行したものです。",),
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
    path = tmp_path_factory.mktemp("receipt") / "receipt.pdf"
    path.write_bytes(render([single(), several()]))
    return path


def test_one_a4_page_per_certificate_and_the_metadata(both: Path) -> None:
    info = run("pdfinfo", both)
    assert re.search(r"^Pages:\s+2$", info, re.M)
    size = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+) pts \(A4\)$", info, re.M)
    assert size, info
    assert (round(float(size[1]), 2), round(float(size[2]), 2)) == (595.28, 841.89)
    assert re.search(r"^Title:\s+介護保険料納付済確認書$", info, re.M)
    assert re.search(r"^Author:\s+基盤市$", info, re.M)


def test_single_item_page(both: Path) -> None:
    layout = text(both, 1)
    body = squeezed(layout)
    for expected in (
        "介護保険料納付済確認書",
        "次のとおり介護保険料を納付されたことを証明します。",
        "〒812-8577",
        "基盤市中央一丁目2番3号",
        "基盤ハイツ101号",
        "基盤太郎様",
        "令和8年1月15日",  # 発行日
        "証明番号介証第2026-000003号",
        "保険者番号139999",
        "被保険者番号0000012345",
        "宛名番号0000001234",
        "対象期間令和7年1月1日から令和7年12月31日まで（納付日による）",
        "使用目的確定申告（社会保険料控除）",
        "合計納付額6,900円",
        "年度期別納期限調定額納付額納付日",
        "普通徴収（納付書・口座振替）により納付された保険料のみを記載しています。",
        "「公的年金等の源泉徴収票」に記載されています",
        "社会保険料控除の対象となるのは、その年中に実際に納付された額です（所得税法第74条）。",
        "上記のとおり相違ないことを証明します。",
    ):
        assert expected in body, expected
    row_of(layout, "令和7年度", "第3期", "令和7年9月30日", "令和7年9月26日")
    # 「基盤市長」 signs once, under the 証明文 at the bottom right, after the date.
    assert body.count("基盤市長") == 1
    assert (
        body.index("上記のとおり相違ないことを証明します。")
        < body.rindex("令和8年1月15日")
        < body.index("基盤市長")
    )
    lines = [line for line in layout.splitlines() if line.strip()]
    signature = next(line for line in lines if "基盤市長" in line)
    assert signature.strip() == "基盤市長" and len(signature) - len(signature.lstrip()) > 40  # right-aligned
    # A 証明 is not a 処分: no 教示.
    assert "教示" not in body and "審査請求" not in body
    assert "未納" not in body
    assert "中央花子" not in body


def test_several_items_with_an_unpaid_one(both: Path) -> None:
    layout = text(both, 2)
    body = squeezed(layout)
    for expected in (
        "中央花子様",
        "被保険者番号0000067890",
        "合計納付額42,700円",
        "「未納」の期は、発行日までに納付が確認できなかったものです（合計納付額に含みません）。",
        "この確認書は再発行したものです。",
        "上記のとおり相違ないことを証明します。",
    ):
        assert expected in body, expected
    row_of(layout, "令和6年度", "第9期", "令和7年3月31日", "7,700円", "令和7年3月28日")
    for n in range(1, 6):
        row_of(layout, "令和7年度", f"第{n}期", "7,000円", f"令和7年{n + 6}月25日")
    row_of(layout, "令和7年度", "第6期", "7,000円", "0円", "未納")
    row_of(layout, "合計", "42,700円")
    assert "基盤太郎" not in body


def test_twenty_four_items_stay_on_one_page(tmp_path: Path) -> None:
    items = tuple(
        PaidItem(2024 + k // 12, f"第{k % 12 + 1}期", date(2025, 1, 31), 6_500, 6_500, date(2025, 1, 1 + k))
        for k in range(24)
    )
    pdf = tmp_path / "many.pdf"
    pdf.write_bytes(render([single(items=items, purpose="年末調整（社会保険料控除）")]))
    assert re.search(r"^Pages:\s+1$", run("pdfinfo", pdf), re.M)
    layout = text(pdf)
    for k in range(24):
        row_of(layout, f"令和{6 + k // 12}年度", f"第{k % 12 + 1}期", f"令和7年1月{1 + k}日")
    body = squeezed(layout)
    assert "合計納付額156,000円" in body
    assert "上記のとおり相違ないことを証明します。" in body


def test_the_deduction_note_follows_the_purpose(tmp_path: Path) -> None:
    pdf = tmp_path / "other.pdf"
    pdf.write_bytes(render([single(purpose="介護保険料の納付状況の確認")]))
    body = squeezed(text(pdf))
    assert "使用目的介護保険料の納付状況の確認" in body
    assert "所得税法第74条" not in body
    assert "公的年金等の源泉徴収票" in body  # always: 特別徴収 is never on this certificate


def test_no_individual_number_anywhere(both: Path) -> None:
    assert not {f.name for f in fields(ReceiptCertificate)} & {
        "my_number",
        "individual_number",
        "kojin_bango",
    }
    assert not re.search(r"(?<!\d)\d{12}(?!\d)", text(both))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"address": "基盤市中央一丁目123456789012"}, "住所"),
        ({"katagaki": "番号１２３４５６７８９０１２"}, "方書"),  # full-width digits too
        ({"notes": ("個人番号 1234 5678 9012 を確認しました",)}, "備考"),
        ({"notes": ("個人番号123456789012",)}, "備考"),
        ({"purpose": "照会番号123456789012"}, "使用目的"),
    ],
)
def test_a_twelve_digit_number_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=f"{message}に12桁の番号があります。個人番号は確認書に") as raised:
        single(**changes)
    assert "123456789012" not in str(raised.value)  # the digits are not echoed


def test_a_twelve_digit_item_label_is_refused() -> None:
    with pytest.raises(ValueError, match="期別に12桁の番号"):
        PaidItem(2025, "123456789012", date(2025, 7, 31), 100, 100, date(2025, 7, 1))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"paid": 7_000}, "納付額 7,000円 が調定額 6,900円 を超えています"),
        ({"paid": 0}, "paid_on must be given exactly when paid > 0"),
        ({"paid_on": None}, "paid_on must be given exactly when paid > 0"),
        ({"amount": -1}, "調定額"),
        ({"fiscal_year": "2025"}, "年度は整数です"),
        ({"label": ""}, "期別"),
        ({"due_date": "2025-09-30"}, "納期限 / due_dateは日付です"),
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
        ({"insured_no": "00000123456"}, "被保険者番号は10桁の数字です"),
        ({"person_no": "000000123"}, "宛名番号は10桁の数字です"),
        ({"insurer_no": "13999"}, "保険者番号は6桁の数字です"),
        ({"postal_code": "812-857"}, "郵便番号"),
        ({"period_from": date(2026, 1, 1)}, "初日が末日より後です"),
        ({"period_to": date(2025, 9, 25)}, "第3期の納付日 令和7年9月26日 が対象期間外です"),
        ({"issued_on": date(2025, 9, 25)}, "第3期の納付日 令和7年9月26日 が発行日より後です"),
        ({"items": ()}, "納付の内訳は1件から24件まで"),
        ({"items": ONE * 25}, "納付の内訳は1件から24件まで"),
        ({"items": ONE + ONE}, "同じ年度・期別が重複"),
        ({"items": (replace(ONE[0], paid=0, paid_on=None),)}, "証明する納付がありません"),
        ({"purpose": ""}, "使用目的"),
        ({"name": ""}, "氏名"),
        ({"certificate_no": " "}, "証明番号"),
    ],
)
def test_invalid_certificates_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        single(**changes)


def test_empty_or_mixed_batches_are_refused() -> None:
    with pytest.raises(ValueError):
        render([])
    with pytest.raises(ValueError, match="保険者"):
        render([single(), single(insurer_name="隣町")])


def test_output_is_deterministic() -> None:
    assert render([single(), several()]) == render([single(), several()])


def test_screenshot_of_a_receipt_certificate(tmp_path: Path) -> None:
    """The PNG a person looks at to judge the layout (out/screenshots/collection-receipt-certificate.png)."""
    pdf = tmp_path / "receipt.pdf"
    pdf.write_bytes(render([several()]))
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    run("pdftoppm", "-r", "80", "-png", "-singlefile", pdf, SCREENSHOT.with_suffix(""))
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = (math.ceil(side / 72 * 80) for side in A4)
    header = SCREENSHOT.read_bytes()[16:24]
    assert (int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")) == (width, height)
