"""給付制限の通知書 from the records (kiban.kaigo.assessment.receivables.restriction_pdf) over the dated
town: A's 2025 期別 (第1期 due 2025-07-31 … 第10期 due 2026-04-30, 21,289円), nothing paid, no 督促."""

from __future__ import annotations

import re
import subprocess
from datetime import date

import pytest
from sqlalchemy import Engine, text

from collection.test_payments import assessed, clerk
from kaigo.test_assessment_run import A, atena, city, town
from kiban.kaigo.assessment import receivables as kaigo_receivables
from kiban.shared.mynumber import contains_my_number

__all__ = ["assessed", "atena", "city", "clerk", "town"]

pytestmark = pytest.mark.usefixtures("clean_identity")


def pdf_for(
    engine: Engine, ctx, tmp_path, kind: str, on: date, start: date, reply: date | None = None
) -> str:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        pdf = kaigo_receivables.restriction_pdf(
            conn, ctx, person_no=A, kind=kind, issued_on=on, start_on=start, reply_by=reply
        )
    path = tmp_path / f"{kind}.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert not contains_my_number(out)
    return re.sub(r"\s+", "", out)


def test_each_notice_only_once_its_condition_holds(assessed, app_engine: Engine, clerk, tmp_path) -> None:
    # 法第66条: 納期限 2025-07-31 + 1年 (2025-08-01〜2026-07-31) → from 2026-08-01 (民法第140条・第143条).
    with app_engine.begin() as conn, pytest.raises(ValueError, match=r"支払方法変更の要件.*介護保険法第66条"):
        kaigo_receivables.restriction_pdf(
            conn, clerk, person_no=A, kind="change_advance", issued_on=date(2026, 7, 31),
            start_on=date(2026, 9, 1), reply_by=date(2026, 8, 14),
        )  # fmt: skip
    advance = pdf_for(
        app_engine, clerk, tmp_path, "change_advance", date(2026, 8, 3), date(2026, 9, 1), date(2026, 8, 17)
    )
    # All ten 期別 are past due on 3 Aug 2026: 21,289円 (2,389 + 2,100 × 9).
    assert (
        "予告通知書" in advance
        and "弁明書の提出期限令和8年8月17日" in advance
        and "合計（滞納額）21,289円" in advance
    )
    assert "令和7年度第1期令和7年7月31日2,389円" in advance
    # 法第67条: 1年6か月 → from 2027-02-01.
    with app_engine.begin() as conn, pytest.raises(ValueError, match="一時差止の要件"):
        kaigo_receivables.restriction_pdf(
            conn, clerk, person_no=A, kind="suspension_decision", issued_on=date(2027, 1, 31), start_on=date(2027, 3, 1)
        )  # fmt: skip
    suspension = pdf_for(
        app_engine, clerk, tmp_path, "suspension_decision", date(2027, 2, 1), date(2027, 3, 1)
    )
    assert "保険給付一時差止決定通知書" in suspension and "適用開始日令和9年3月1日" in suspension
    # 法第69条: on 2028-05-01 every 期別 is extinguished (第10期 due 2026-04-30 → 2028-05-01, 法第200条), nothing
    # paid: 消滅期間 X = 1年, 納付済期間 Y = 0 → X × X ÷ (X + Y) × 1/2 × 12 = 6か月; 給付率 7割.
    with (
        app_engine.begin() as conn,
        pytest.raises(ValueError, match="給付額減額期間（介護保険法第69条）はありません"),
    ):
        kaigo_receivables.restriction_pdf(
            conn, clerk, person_no=A, kind="reduction_decision", issued_on=date(2027, 2, 1), start_on=date(2027, 3, 1)
        )  # fmt: skip
    reduction = pdf_for(app_engine, clerk, tmp_path, "reduction_decision", date(2028, 5, 1), date(2028, 6, 1))
    assert "給付額減額期間6か月期間令和10年6月1日〜令和10年11月30日" in reduction
    assert "給付率7割利用者負担3割" in reduction and "合計21,289円" in reduction
    with app_engine.connect() as conn:
        printed = conn.execute(
            text(
                "SELECT count(*) FROM audit.access_log WHERE detail->>'what' = 'collection.restriction.notice'"
                " AND :p = ANY(subjects)"
            ),
            {"p": A},
        ).scalar_one()
    assert printed == 3
