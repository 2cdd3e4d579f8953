"""給付制限の予告・決定通知書 (介護保険法第66条〜第69条) PDFs, rendered and read back with poppler."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from kiban.notices.restriction_notice import ArrearsItem, RestrictionNotice, render

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")

SCREENSHOT = Path(__file__).resolve().parents[2] / "out" / "screenshots" / "collection-restriction-notice.png"
ITEMS = (
    ArrearsItem(2023, "第1期", date(2023, 7, 31), 2_389),
    ArrearsItem(2023, "第2期", date(2023, 8, 31), 2_100),
)


def notice(kind: str = "change_decision", **changes: object) -> RestrictionNotice:
    base = RestrictionNotice(
        kind=kind,  # type: ignore[arg-type]
        issued_on=date(2024, 9, 2),
        notice_no="介給第2024-000003号",
        insurer_no="139999",
        insurer_name="基盤市",
        office="基盤市 健康福祉部 介護保険課 収納係",
        office_phone="000-123-4567（内線2350）",
        postal_code="812-8577",
        address="基盤市中央一丁目2番3号",
        katagaki=None,
        name="基盤　太郎",
        person_no="0000001234",
        insured_no="0000012345",
        items=ITEMS,
        total_arrears=4_489,
        start_on=date(2024, 10, 1),
        reply_by=date(2024, 9, 17) if kind == "change_advance" else None,
        reduction_months=7 if kind == "reduction_decision" else 0,
        benefit_rate_percent=70 if kind == "reduction_decision" else 0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def body_of(n: RestrictionNotice, tmp_path: Path) -> str:
    path = tmp_path / f"{n.kind}.pdf"
    path.write_bytes(render([n]))
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True)
    return re.sub(r"\s+", "", out.stdout)


def test_the_advance_notice_gives_the_chance_to_explain(tmp_path: Path) -> None:
    body = body_of(notice("change_advance"), tmp_path)
    for expected in (
        "介護保険支払方法変更（償還払い）予告通知書",
        "納期限から1年を経過した介護保険料を納付していないため、介護保険法第66条第1項の規定により",
        "適用開始予定日令和6年10月1日",
        "弁明書の提出期限令和6年9月17日",
        "弁明の機会の付与",
        "令和6年9月17日までに、弁明書を基盤市健康福祉部介護保険課収納係へ提出してください（行政手続法第13条第1項第2号、第29条、第30条）。",
        "令和5年度第1期令和5年7月31日2,389円",
        "合計（滞納額）4,489円",
        "基盤太郎様",
    ):
        assert expected in body, expected
    assert "教示" not in body  # not yet a 処分


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("change_decision", ("介護保険支払方法変更（償還払い）決定通知書", "適用開始日令和6年10月1日滞納額4,489円",
                             "完納された場合は、支払方法の変更を終了します（介護保険法第66条第3項）")),
        ("suspension_decision", ("介護保険保険給付一時差止決定通知書", "介護保険法第67条第1項の規定により",
                                 "滞納している保険料額を控除することがあります（介護保険法第67条第3項）")),
        # 7 months from 1 Oct 2024: to 30 Apr 2025; 給付率 7割, 負担 3割 (介護保険法第69条第1項).
        ("reduction_decision", ("介護保険給付額減額等決定通知書", "給付額減額期間7か月期間令和6年10月1日〜令和7年4月30日",
                                "給付率7割利用者負担3割", "時効により徴収権が消滅した保険料", "特定入所者介護サービス費等は支給されません")),
    ],
)  # fmt: skip
def test_the_decisions_carry_the_review_notice(kind: str, expected: tuple[str, ...], tmp_path: Path) -> None:
    body = body_of(notice(kind), tmp_path)
    for text in (
        *expected,
        "教示",
        "3か月以内に、介護保険審査会に対して審査請求をすることができます（介護保険法第183条、第192条）",
    ):
        assert text in body, text
    assert "弁明" not in body


@pytest.mark.parametrize(
    ("kind", "changes", "message"),
    [
        ("change_advance", {"reply_by": None}, "弁明書の提出期限が必要です"),
        ("change_advance", {"reply_by": date(2024, 10, 1)}, "適用開始日より前の日です"),
        ("change_decision", {"reply_by": date(2024, 9, 17)}, "予告通知書にだけ"),
        ("change_decision", {"start_on": date(2024, 9, 2)}, "適用開始日 令和6年9月2日 は発行日"),
        ("reduction_decision", {"benefit_rate_percent": 50}, "給付率は70%（3割負担の方は60%）"),
        ("reduction_decision", {"reduction_months": 0}, "給付額減額期間は1〜120か月"),
        ("suspension_decision", {"total_arrears": 100}, "滞納額が印字する期別の未納額の合計より少なく"),
        ("suspension_decision", {"notes": ("番号 123456789012",)}, "備考に12桁の番号があります"),
        ("suspension_decision", {"insured_no": "12345"}, "被保険者番号は10桁の数字です"),
    ],
)
def test_refused(kind: str, changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        notice(kind, **changes)


def test_screenshot(tmp_path: Path) -> None:
    path = tmp_path / "n.pdf"
    path.write_bytes(render([notice("change_advance")]))
    assert render([notice("change_advance")]) == path.read_bytes()  # deterministic
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", "-singlefile", str(path), str(SCREENSHOT.with_suffix(""))],
        check=True,
    )
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="通知書の種類 'warning' はありません"):
        replace(notice(), kind="warning")  # type: ignore[arg-type]
