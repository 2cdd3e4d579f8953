"""督促 and 催告 runs over the dated town, and the 時効 of a 期別 as its records stand (介護保険法第200条)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, text

from collection.test_payments import TODAY, assessed, clerk, file, rows_of
from kaigo.test_assessment_run import A, atena, city, town
from kiban.collection import demands, payments

__all__ = ["assessed", "atena", "city", "clerk", "town"]

pytestmark = pytest.mark.usefixtures("clean_identity")


def test_demand_once_per_period_then_reminders_and_the_renewed_prescription(
    assessed, app_engine: Engine, clerk
) -> None:
    a = assessed[A]
    payments.import_payments(
        app_engine, clerk, channel="bank", data=file(f"D1,{a[0].payment_no},2025-07-30,2389,基盤銀行"),
        file_name="d.csv", today=TODAY,
    )  # fmt: skip
    # 15 Sep 2025: 第1期 (7/31) and 第2期 (9/1, 8/31 being a Sunday) are past due. A paid 第1期.
    run = demands.demand_run(
        app_engine, clerk, business="kaigo", as_of=date(2025, 9, 15), issued_on=date(2025, 9, 15)
    )
    with app_engine.connect() as conn:
        mine = conn.execute(
            text(
                "SELECT r.label, d.deadline, d.unpaid FROM collection.demand d JOIN collection.receivable r"
                " USING (receivable_id) JOIN identity.person p USING (person_id) WHERE p.person_no = :p"
            ),
            {"p": A},
        ).all()
    assert [tuple(m) for m in mine] == [("第2期", date(2025, 9, 25), 2_100)]  # 指定期限: 発付日 + 10日
    # The six insured: 第1期 and 第2期 each, but A's 第1期 is paid: 11 督促; 第1期 ones are late
    # (46 days after the 納期限 > 20, 地方税法第329条第1項の例).
    assert (run.demands, run.persons, run.late) == (11, 6, 5)
    again = demands.demand_run(app_engine, clerk, business="kaigo", as_of=date(2025, 9, 20))
    assert again.demands == 0  # a 期別 is demanded once
    reminder = demands.demand_run(
        app_engine, clerk, business="kaigo", as_of=date(2025, 10, 20), kind="reminder"
    )
    assert reminder.demands == 11
    with app_engine.connect() as conn:
        # 時効: without a 督促 the period would end 2 years after the 納期限 (due 2025-09-01 → 2027-09-01);
        # the 督促 renews it from the day after its 指定期限 (2025-09-26 → 2027-09-25); the 催告 does not.
        result = demands.prescription_of(conn, a[1].receivable_id)
        untouched = demands.prescription_of(conn, a[5].receivable_id)
    assert result.completes_on == date(2027, 9, 25)
    assert untouched.completes_on == date(a[5].due_date.year + 2, a[5].due_date.month, a[5].due_date.day)
    with app_engine.connect() as conn:
        logged = conn.execute(
            text(
                "SELECT count(*) FROM audit.access_log WHERE detail->>'what' IN ('collection.demand.run', 'collection.reminder.run')"
            )
        ).scalar_one()
    assert logged == 3
    assert rows_of(app_engine, A)[1].paid == 0
