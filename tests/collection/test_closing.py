"""出納閉鎖 (地方自治法第235条の5: 翌年度の5月31日) and 滞納繰越 over the dated town's 2025 期別."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, text

from collection.test_payments import assessed, clerk, file
from kaigo.test_assessment_run import A, atena, city, town
from kiban.collection import closing, payments

__all__ = ["assessed", "atena", "city", "clerk", "town"]

pytestmark = pytest.mark.usefixtures("clean_identity")
REPORTED = date(2026, 6, 20)


def pay(engine: Engine, ctx, name: str, *lines: str) -> None:
    payments.import_payments(engine, ctx, channel="bank", data=file(*lines), file_name=name, today=REPORTED)


def carried_of(engine: Engine, person_no: str) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            str(r.label): int(r.amount)
            for r in conn.execute(
                text(
                    "SELECT r.label, c.amount FROM collection.carry_over c JOIN collection.receivable r"
                    " USING (receivable_id) JOIN identity.person p USING (person_id) WHERE p.person_no = :p"
                    " AND c.withdrawn_at IS NULL"
                    " ORDER BY r.period"
                ),
                {"p": person_no},
            )
        }


def test_carry_over_after_the_closing_day_idempotent_and_revised_by_a_late_report(
    assessed, app_engine: Engine, clerk
) -> None:
    a = assessed[A]  # 第1期 2,389, 第2期〜第10期 2,100 (21,289 in all)
    pay(
        app_engine, clerk, "b1.csv",
        f"P1,{a[0].payment_no},2025-07-30,2389,基盤銀行",  # 第1期 paid in time
        f"P2,{a[1].payment_no},2026-05-20,1000,基盤銀行",  # 出納整理期間: still 2025年度 現年度分
        f"P3,{a[2].payment_no},2026-06-10,2100,基盤銀行",  # after the 出納閉鎖: 滞納繰越分
    )  # fmt: skip
    assert closing.closing_date(2025) == date(2026, 5, 31)
    with pytest.raises(closing.ClosingError, match="出納閉鎖日（令和8年5月31日）が過ぎていない"):
        closing.carry_over(app_engine, clerk, business="kaigo", fiscal_year=2025, today=date(2026, 5, 31))
    with app_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM collection.closing")).scalar_one() == 0

    run = closing.carry_over(app_engine, clerk, business="kaigo", fiscal_year=2025, today=date(2026, 6, 15))
    # A: 第2期 2,100 − 1,000 = 1,100; 第3期 2,100 (its payment of 6/10 is after the 出納閉鎖); 第4期〜第10期.
    assert carried_of(app_engine, A) == {"第2期": 1_100} | {f"第{n}期": 2_100 for n in range(3, 11)}
    with app_engine.connect() as conn:
        unpaid_on_close = conn.execute(
            text(
                "SELECT count(*), sum(amount - paid) FROM collection.receivable WHERE fiscal_year = 2025"
                " AND paid < amount"
            )
        ).one()
    # Every other 期別 in the town is unpaid and carried whole; A's 第3期 counts 2,100 more than its
    # unpaid now (paid after the close).
    assert (run.receivables, run.amount) == (unpaid_on_close[0] + 1, unpaid_on_close[1] + 2_100)
    assert (run.added, run.revised, run.withdrawn, run.resumed) == (run.receivables, 0, 0, False)

    again = closing.carry_over(app_engine, clerk, business="kaigo", fiscal_year=2025, today=date(2026, 6, 16))
    assert (again.closing_id, again.receivables, again.amount) == (
        run.closing_id,
        run.receivables,
        run.amount,
    )
    assert (again.added, again.revised, again.withdrawn) == (0, 0, 0)

    # A bank reports late two payments made inside the 出納整理期間: 第4期 in full, 500 of 第5期.
    pay(
        app_engine, clerk, "b2.csv",
        f"P4,{a[3].payment_no},2026-05-29,2100,基盤銀行",
        f"P5,{a[4].payment_no},2026-05-30,500,基盤銀行",
    )  # fmt: skip
    late = closing.carry_over(app_engine, clerk, business="kaigo", fiscal_year=2025, today=date(2026, 6, 21))
    assert (late.added, late.revised, late.withdrawn) == (0, 1, 1)
    assert late.amount == run.amount - 2_100 - 500
    mine = carried_of(app_engine, A)
    assert "第4期" not in mine and mine["第5期"] == 1_600

    with app_engine.begin() as conn:
        # 会計年度 2025: 現年度分 = every payment up to 2026-05-31 (only A paid in this town).
        assert closing.account_totals(conn, clerk, business="kaigo", books_year=2025) == {
            "current": 2_389 + 1_000 + 2_100 + 500, "arrears": 0,
        }  # fmt: skip
        # 会計年度 2026: the 6/10 payment on a 2025 期別 is 滞納繰越分.
        assert closing.account_totals(conn, clerk, business="kaigo", books_year=2026) == {
            "current": 0, "arrears": 2_100,
        }  # fmt: skip
        listed = {r.label: r for r in closing.carried(conn, clerk, business="kaigo", fiscal_year=2025)
                  if r.person_no == A}  # fmt: skip
        [summary] = closing.closings(conn, clerk, business="kaigo")
    assert (listed["第3期"].carried, listed["第3期"].paid_since, listed["第3期"].remaining) == (
        2_100,
        2_100,
        0,
    )
    assert listed["第2期"].remaining == 1_100
    assert (summary.status, summary.receivables, summary.amount) == ("done", late.receivables, late.amount)
    with app_engine.connect() as conn:
        logged = conn.execute(
            text(
                "SELECT count(*) FROM audit.access_log WHERE detail->>'what' = 'collection.carry_over'"
                " AND :p = ANY(subjects)"
            ),
            {"p": A},
        ).scalar_one()
    assert logged == 2  # the first run carried A's 期別, the third revised one; the second changed nothing


def test_a_run_that_stopped_half_way_resumes(assessed, app_engine: Engine, clerk, monkeypatch) -> None:
    calls = {"n": 0}
    real = closing.audit.record

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("停電")
        return real(*args, **kwargs)

    monkeypatch.setattr(closing.audit, "record", failing)
    with pytest.raises(RuntimeError):
        closing.carry_over(
            app_engine, clerk, business="kaigo", fiscal_year=2025, today=date(2026, 6, 1), chunk=4
        )
    monkeypatch.setattr(closing.audit, "record", real)
    with app_engine.connect() as conn:
        status, kept = conn.execute(
            text("SELECT k.status, count(c.*) FROM collection.closing k LEFT JOIN collection.carry_over c"
                 " USING (closing_id) GROUP BY k.status")
        ).one()  # fmt: skip
        total = conn.execute(
            text(
                "SELECT count(*), sum(amount) FROM collection.receivable WHERE fiscal_year = 2025 AND amount > 0"
            )
        ).one()
    assert (status, kept) == ("running", 8)  # two chunks of 4 committed, the third rolled back
    resumed = closing.carry_over(
        app_engine, clerk, business="kaigo", fiscal_year=2025, today=date(2026, 6, 2)
    )
    assert resumed.resumed and (resumed.receivables, resumed.amount) == tuple(total)
    assert resumed.added == total[0] - 8
