"""介護保険料催告書 PDFs, rendered for real and read back with poppler (pdftotext, pdftoppm)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from kiban.notices import demand_notice
from kiban.notices.reminder_notice import ReminderItem, ReminderNotice, render

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext, pdftoppm) not installed"
)

SCREENSHOT = Path(__file__).resolve().parents[2] / "out" / "screenshots" / "collection-reminder-notice.png"

TWO = (
    ReminderItem(2024, "第9期", date(2025, 3, 31), date(2025, 4, 15), 7_700, 2_700, "01202400000056782095"),
    ReminderItem(2025, "第1期", date(2025, 7, 31), date(2025, 8, 15), 7_020, 7_020, "01202500000056782013"),
)


def notice(**changes: object) -> ReminderNotice:
    base = ReminderNotice(
        issued_on=date(2025, 11, 10),
        notice_no="介催第2025-000012号",
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
        items=TWO,
        deadline=date(2025, 11, 25),
        fees=100,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def run(*args: str | Path) -> str:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True).stdout


def squeezed(s: str) -> str:
    return re.sub(r"\s+", "", s)


@pytest.fixture(scope="module")
def pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reminder") / "reminder.pdf"
    path.write_bytes(render([notice(), notice(fees=0, name="中央　花子", items=TWO[1:])]))
    return path


def test_the_reminder_says_what_a_demand_does_not(pdf: Path) -> None:
    info = run("pdfinfo", pdf)
    assert re.search(r"^Pages:\s+2$", info, re.M) and re.search(r"^Title:\s+介護保険料催告書$", info, re.M)
    layout = run("pdftotext", "-layout", "-f", "1", "-l", "1", pdf, "-")
    body = squeezed(layout)
    for expected in (
        "介護保険料催告書",
        "重要",
        "督促状をお送りしましたが、現在も納付が確認できません。",
        "基盤太郎様",
        "〒812-8577",
        "通知番号介催第2025-000012号",
        "被保険者番号0000012345",
        "滞納額9,720円",  # 2,700 + 7,020
        "督促手数料100円",
        "納付すべき額9,820円",
        "納付期限令和7年11月25日まで",
        "年度期別納期限督促日調定額未納額納付番号",
        # 介護保険法第144条 → 地方自治法第231条の3第3項 (滞納処分の例).
        "地方税の滞納処分の例により、財産（預貯金・給与・年金等）の調査及び差押えを行うことがあります",
        "（介護保険法第66条〜第69条）",
        "納付のご相談",
        "分割での納付（分納）などのご相談に応じます。",
        "基盤市健康福祉部介護保険課収納係電話000-123-4567（内線2350）",
    ):
        assert expected in body, expected
    lines = [line.split() for line in layout.splitlines()]
    assert ["令和6年度", "第9期", "令和7年3月31日", "令和7年4月15日", "7,700円", "2,700円",
            "01202400000056782095"] in lines  # fmt: skip
    # Not a 処分: no 教示, and no claim that the 催告 renews the 時効 (only the 督促 does, 法第200条第2項).
    assert "教示" not in body and "審査請求" not in body and "時効が更新" not in body
    assert "介護保険料督促状" not in body


def test_without_fees_and_no_other_person(pdf: Path) -> None:
    body = squeezed(run("pdftotext", "-layout", "-f", "2", "-l", "2", pdf, "-"))
    assert "中央花子様" in body and "基盤太郎" not in body
    assert "滞納額7,020円" in body and "督促手数料0円" in body and "納付すべき額7,020円" in body
    assert "条例によるもの" not in body


def test_the_reminder_is_its_own_layout_not_the_demand_notice() -> None:
    demand = demand_notice.DemandNotice(
        **{k: getattr(notice(), k) for k in ("issued_on", "notice_no", "insurer_no", "insurer_name", "office",
                                             "office_phone", "postal_code", "address", "katagaki", "name",
                                             "person_no", "insured_no", "deadline")},
        items=tuple(demand_notice.DemandItem(i.fiscal_year, i.label, i.due_date, i.amount, i.unpaid, i.payment_no)
                    for i in TWO),
    )  # fmt: skip
    assert render([notice()]) != demand_notice.render([demand])
    assert render([notice()]) == render([notice()])  # deterministic


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"deadline": date(2025, 11, 10)},
            "納付期限 令和7年11月10日 は発行日 令和7年11月10日 より後の日です",
        ),
        ({"items": ()}, "未納の期別は1件から24件まで"),
        ({"items": TWO + TWO[:1]}, "納付番号が重複"),
        ({"issued_on": date(2025, 8, 1), "deadline": date(2025, 8, 20)}, "第1期の督促日"),
        (
            {"notes": ("個人番号 1234 5678 9012",)},
            "備考に12桁の番号があります。個人番号は催告書に印字できません",
        ),
        ({"fees": -1}, "督促手数料"),
    ],
)
def test_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        notice(**changes)
    assert "123456789012" not in str(raised.value) and "1234 5678 9012" not in str(raised.value)


def test_an_item_demanded_before_its_due_date_is_refused() -> None:
    with pytest.raises(ValueError, match="第9期の督促日"):
        replace(TWO[0], demanded_on=date(2025, 3, 31))


def test_screenshot_of_a_reminder(tmp_path: Path) -> None:
    """The PNG a person looks at to judge the layout (out/screenshots/collection-reminder-notice.png)."""
    path = tmp_path / "r.pdf"
    path.write_bytes(render([notice()]))
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    run("pdftoppm", "-r", "60", "-png", "-singlefile", path, SCREENSHOT.with_suffix(""))
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
