"""介護保険料額決定通知書 / 変更（更正）決定通知書 PDFs, rendered for real and read back with poppler."""

from __future__ import annotations

import html
import math
import re
import shutil
import subprocess
from dataclasses import fields, replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from reportlab.lib.pagesizes import A4

from kiban.notices.premium_notice import NoticeInstallment, PremiumNotice, render
from kiban.shared.money import split_installments

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext, pdfinfo) not installed"
)

SCREENSHOT = Path(__file__).resolve().parents[2] / "out" / "screenshots" / "kaigo-premium-notice.png"

# 普通徴収 in 10 期, July to April, the remainder on 第1期 (地方税法第20条の4の2第6項 style).
DUE_DATES = [date(2025, m, 1) for m in range(7, 13)] + [date(2026, m, 1) for m in range(1, 5)]
ORDINARY = tuple(
    NoticeInstallment(f"第{n}期", due.replace(day=28), amount, "普通徴収")
    for n, (due, amount) in enumerate(
        zip(DUE_DATES, split_installments(69_120, 10, unit=100), strict=True), start=1
    )
)


def decision(**changes: object) -> PremiumNotice:
    base = PremiumNotice(
        kind="決定",
        fiscal_year=2025,
        issued_on=date(2025, 7, 15),
        notice_no="介保第2025-000123号",
        insurer_no="139999",
        insurer_name="基盤市",
        office="基盤市 健康福祉部 介護保険課",
        office_phone="000-123-4567（内線2345）",
        postal_code="812-8577",
        address="基盤市中央一丁目2番3号",
        katagaki="基盤ハイツ101号",
        name="基盤　太郎",
        name_kana="キバン　タロウ",
        person_no="0000001234",
        insured_no="0000012345",
        basis_date=date(2025, 4, 1),
        stage=4,
        stage_count=13,
        stage_rule="本人は住民税非課税、世帯に課税者がいる（合計所得金額＋課税年金収入額が80万9千円以下）",
        basis_lines=("合計所得金額 0円", "課税年金収入額 780,000円"),
        base_annual=76_800,
        multiplier=Decimal("0.90"),
        annual_full=69_120,
        months=12,
        period_text="令和7年4月から令和8年3月まで（12か月）",
        amount=69_120,
        payable=69_120,
        installments=ORDINARY,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# A 所得更正 moves the person from 第5段階 (76,800円) to 第6段階 (92,160円) in October:
# 仮徴収 (4, 6, 8月) is done; 本徴収 stays as it was and the increase is 普通徴収.
CHANGE_INSTALLMENTS = (
    NoticeInstallment("10月（本徴収）", date(2025, 10, 15), 12_800, "特別徴収"),
    NoticeInstallment("12月（本徴収）", date(2025, 12, 15), 12_800, "特別徴収"),
    NoticeInstallment("2月（本徴収）", date(2026, 2, 13), 12_800, "特別徴収"),
    NoticeInstallment("第1期", date(2025, 12, 25), 5_120, "普通徴収"),
    NoticeInstallment("第2期", date(2026, 1, 30), 5_120, "普通徴収"),
    NoticeInstallment("第3期", date(2026, 3, 2), 5_120, "普通徴収"),
)


def change(**changes: object) -> PremiumNotice:
    base = decision(
        kind="変更",
        issued_on=date(2025, 10, 10),
        notice_no="介保第2025-004567号",
        postal_code="8128577",
        address="基盤市南三丁目4番5号",
        katagaki=None,
        name="中央　花子",
        name_kana="チュウオウ　ハナコ",
        person_no="0000005678",
        insured_no="0000067890",
        stage=6,
        stage_rule="本人が住民税課税で、合計所得金額が120万円未満",
        basis_lines=("合計所得金額 1,050,000円（更正後）",),
        multiplier=Decimal("1.20"),
        annual_full=92_160,
        amount=92_160,
        payable=92_160,
        previous_payable=76_800,
        installments=CHANGE_INSTALLMENTS,
        pension_insurer="日本年金機構",
        notes=("所得の更正により、所得段階が第5段階から第6段階に変わりました。",),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def write(tmp_path: Path, data: bytes, name: str = "notice.pdf") -> Path:
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


def row_of(layout: str, *parts: str) -> str:
    """The one line of the -layout text with a cell equal to each of ``parts`` (a table row)."""
    rows = [line for line in layout.splitlines() if set(parts) <= set(line.split())]
    assert len(rows) == 1, (parts, rows)
    return rows[0]


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("premium"), render([decision(), change()]))


def test_bulk_pdf_has_one_a4_page_per_notice_and_names_the_document(both: Path) -> None:
    info = run("pdfinfo", both)
    assert re.search(r"^Pages:\s+2$", info, re.M)
    size = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+) pts \(A4\)$", info, re.M)
    assert size, info
    assert (round(float(size[1]), 2), round(float(size[2]), 2)) == (595.28, 841.89)
    assert re.search(r"^Title:\s+介護保険料額決定通知書・介護保険料額変更（更正）決定通知書$", info, re.M)
    assert re.search(r"^Author:\s+基盤市$", info, re.M)


def test_decision_page_prints_the_notice(both: Path) -> None:
    layout = text(both, 1)
    body = squeezed(layout)
    for expected in (
        "令和7年度介護保険料額決定通知書",
        "あなたの令和7年度の介護保険料を次のとおり決定しましたので通知します。",
        "〒812-8577",
        "基盤市中央一丁目2番3号",
        "基盤ハイツ101号",
        "基盤太郎様",
        "キバンタロウ",
        "令和7年7月15日",  # 発行日
        "通知番号介保第2025-000123号",
        "基盤市長",
        "保険者番号139999",
        "基盤市健康福祉部介護保険課",
        "000-123-4567（内線2345）",
        "被保険者番号0000012345",
        "宛名番号0000001234",
        "賦課期日（資格取得日）令和7年4月1日",
        "第4段階（全13段階）",
        "本人は住民税非課税、世帯に課税者がいる",
        "課税年金収入額780,000円",
        "基準額76,800円×割合0.90＝年額69,120円（12か月分）",
        "令和7年4月から令和8年3月まで（12か月）",
        "減免額0円",
        "決定保険料額（年額）69,120円",
        "徴収方法期別納期限金額",
    ):
        assert expected in body, expected
    # Each 期 is one row: method, label, 和暦 due date and the amount with commas.
    for inst in ORDINARY:
        due = f"令和{inst.due_date.year - 2018}年{inst.due_date.month}月28日"
        row_of(layout, "普通徴収", inst.label, due, f"{inst.amount:,}円")
    assert "7,020円" in row_of(layout, "第1期")  # the remainder sits on 第1期
    assert "69,120円" in row_of(layout, "合計")
    # 教示 (行政不服審査法第82条, 行政事件訴訟法第46条).
    for expected in (
        "教示",
        "この処分があったことを知った日の翌日から起算して3か月以内に、介護保険審査会に対して審査請求をすることができます（介護保険法第183条、第192条）。",
        "裁決の送達を受けた日の翌日から起算して6か月以内に、基盤市を被告として（訴訟において基盤市を代表する者は基盤市長となります）",
        "介護保険法第196条により審査請求の裁決を経た後でなければ提起できません",
    ):
        assert expected in body, expected
    assert "差額" not in body
    assert "特別徴収" not in body
    assert "中央花子" not in body


def test_change_page_prints_the_difference_and_mixed_collection(both: Path) -> None:
    layout = text(both, 2)
    body = squeezed(layout)
    for expected in (
        "令和7年度介護保険料額変更（更正）決定通知書",
        "次のとおり変更（更正）しましたので通知します。",
        "〒812-8577",
        "中央花子様",
        "令和7年10月10日",
        "被保険者番号0000067890",
        "第6段階（全13段階）",
        "変更前の額76,800円",
        "変更後の額92,160円",
        "差額増額15,360円",
        "日本年金機構が支払う年金から差し引きます",
        "所得の更正により、所得段階が第5段階から第6段階に変わりました。",
        "審査請求",
        "3か月以内",
    ):
        assert expected in body, expected
    for inst in CHANGE_INSTALLMENTS:
        row_of(layout, inst.method, inst.label, f"{inst.amount:,}円")
    assert "令和8年2月13日" in squeezed(row_of(layout, "2月（本徴収）"))
    assert "53,760円" in row_of(layout, "合計")
    assert "基盤太郎" not in body


def test_a_decrease_is_printed_as_such(tmp_path: Path) -> None:
    pdf = write(tmp_path, render([change(previous_payable=99_999)]))
    assert "差額減額7,839円" in squeezed(text(pdf))


def test_custom_review_body_is_printed(tmp_path: Path) -> None:
    pdf = write(tmp_path, render([decision(review_body="福岡県介護保険審査会")]))
    assert "3か月以内に、福岡県介護保険審査会に対して審査請求" in squeezed(text(pdf))


_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')


def words(pdf: Path) -> list[tuple[float, float, float, float, str]]:
    out = run("pdftotext", "-bbox", pdf, "-")
    return [
        (float(x0), float(y0), float(x1), float(y1), html.unescape(w))
        for x0, y0, x1, y1, w in _WORD.findall(out)
    ]


def test_eighteen_installments_shrink_but_stay_on_the_page(tmp_path: Path) -> None:
    amounts = split_installments(69_120, 18, unit=100)
    many = tuple(
        NoticeInstallment(f"第{n}回", date(2025, 4, 1).replace(month=(n - 1) % 12 + 1), a, "普通徴収")
        for n, a in enumerate(amounts, start=1)
    )
    long_notes = tuple(
        f"お知らせ{n}：口座振替の手続は、金融機関の窓口又は市役所でできます。" for n in range(3)
    )
    pdf = write(tmp_path, render([decision(installments=many, notes=long_notes)]))
    assert re.search(r"^Pages:\s+1$", run("pdfinfo", pdf), re.M)
    layout = text(pdf)
    for n, a in enumerate(amounts, start=1):
        row_of(layout, f"第{n}回", f"{a:,}円")
    found = words(pdf)
    # pdftotext's y axis points down: the 合計 row ends above the notes and the 教示.
    (total,) = [w for w in found if w[4] == "合計"]
    (teaching,) = [w for w in found if w[4] == "教示"]
    first_note = next(w for w in found if w[4].startswith("・"))
    assert total[3] < first_note[1] < teaching[1] < A4[1]
    row_h = {round(w[3] - w[1], 1) for w in found if w[4] == "第18回"}
    assert max(row_h) < 9.5  # shrunk below the normal 9.5 pt ...
    assert min(row_h) >= 5.0  # ... but still legible


def test_no_individual_number_anywhere(both: Path) -> None:
    assert not {f.name for f in fields(PremiumNotice)} & {"my_number", "individual_number", "kojin_bango"}
    assert not re.search(r"(?<!\d)\d{12}(?!\d)", text(both))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"address": "基盤市中央一丁目123456789012"}, "住所"),
        ({"katagaki": "番号１２３４５６７８９０１２"}, "方書"),  # full-width digits too
        ({"notes": ("個人番号 1234 5678 9012 を確認しました",)}, "備考"),
        ({"notes": ("個人番号123456789012",)}, "備考"),
        ({"basis_lines": ("123456789012",)}, "算定の基礎"),
    ],
)
def test_a_twelve_digit_number_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=f"{message}に12桁の番号があります") as raised:
        decision(**changes)
    assert "123456789012" not in str(raised.value)  # the digits are not echoed


def test_a_twelve_digit_installment_label_is_refused() -> None:
    with pytest.raises(ValueError, match="期別に12桁の番号"):
        NoticeInstallment("123456789012", date(2025, 7, 31), 100, "普通徴収")


def test_other_long_numbers_are_printed() -> None:
    # A 13-digit 法人番号 or an 11-digit phone number is not a 個人番号.
    decision(notes=("委託先 法人番号 1234567890123", "お問い合わせ 09012345678"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"insured_no": "12345"}, "被保険者番号は10桁の数字です"),
        ({"insured_no": "０００００１２３４５"}, "被保険者番号は10桁の数字です"),
        ({"person_no": "000000123"}, "宛名番号は10桁の数字です"),
        ({"insurer_no": "13999"}, "保険者番号は6桁の数字です"),
        ({"postal_code": "812-857"}, "郵便番号"),
        ({"kind": "更正"}, "通知の種類"),
        ({"stage": 14}, "所得段階"),
        ({"months": 13}, "賦課月数"),
        ({"annual_full": 79_120}, "年額"),
        ({"payable": 69_000}, "決定保険料額"),
        ({"installments": ORDINARY[:-1]}, "期別の金額の合計"),
        ({"previous_payable": 60_000}, "決定の通知に変更前の額"),
        ({"review_body": "〇〇県介護保険審査会"}, "審査請求先"),
        ({"review_body": "福岡県"}, "審査請求先"),
        ({"name": ""}, "氏名"),
    ],
)
def test_invalid_notices_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        decision(**changes)


def test_change_notices_need_the_previous_amount_and_the_pension_insurer() -> None:
    with pytest.raises(ValueError, match="変更前の額"):
        change(previous_payable=None)
    with pytest.raises(ValueError, match="年金保険者"):
        change(pension_insurer=None)
    # With previous_payable the installments need not add up (仮徴収 is already collected).
    assert sum(i.amount for i in change().installments) != change().payable


def test_reduction_is_taken_off(tmp_path: Path) -> None:
    reduced = decision(
        reduction=9_120,
        payable=60_000,
        installments=tuple(replace(i, amount=6_000) for i in ORDINARY),
        notes=("災害による減免（基盤市介護保険条例第15条）を適用しました。",),
    )
    body = squeezed(text(write(tmp_path, render([reduced]))))
    assert "減免額9,120円" in body
    assert "決定保険料額（年額）60,000円" in body


def test_empty_or_mixed_batches_are_refused() -> None:
    with pytest.raises(ValueError):
        render([])
    with pytest.raises(ValueError, match="保険者"):
        render([decision(), decision(insurer_name="隣町")])


def test_output_is_deterministic() -> None:
    assert render([decision(), change()]) == render([decision(), change()])


def test_screenshot_of_a_notice_page(tmp_path: Path) -> None:
    """The PNG a person looks at to judge the layout (out/screenshots/kaigo-premium-notice.png)."""
    pdf = write(tmp_path, render([decision()]))
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    run("pdftoppm", "-r", "80", "-png", "-singlefile", pdf, SCREENSHOT.with_suffix(""))
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = (math.ceil(side / 72 * 80) for side in A4)
    header = SCREENSHOT.read_bytes()[16:24]
    assert (int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")) == (width, height)
