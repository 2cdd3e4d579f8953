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
    # Five insured have 第1期 and 第2期 due (B, insured from 14 Oct, has 期別 from 第4期 only), but A's
    # 第1期 is paid: 9 督促; the 第1期 ones are late (46 days after the 納期限 > 20, 地方税法第329条第1項の例).
    assert (run.demands, run.persons, run.late) == (9, 5, 4)
    again = demands.demand_run(app_engine, clerk, business="kaigo", as_of=date(2025, 9, 20))
    assert again.demands == 0  # a 期別 is demanded once
    reminder = demands.demand_run(
        app_engine, clerk, business="kaigo", as_of=date(2025, 10, 20), kind="reminder"
    )
    assert reminder.demands == 9
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
                "SELECT count(*) FROM audit.access_log WHERE detail->>'what' IN ('collection.demand.run',"
                " 'collection.reminder.run') AND (detail->>'batch_id')::bigint = ANY(:b)"
            ),
            {"b": [run.batch_id, again.batch_id, reminder.batch_id]},
        ).scalar_one()
    assert logged == 3
    assert rows_of(app_engine, A)[1].paid == 0


def test_a_plan_renews_the_prescription_contacts_are_logged_and_the_arrears_list_filters(
    assessed, app_engine: Engine, clerk
) -> None:
    from kiban.collection import arrears

    a = assessed[A]
    demands.demand_run(
        app_engine, clerk, business="kaigo", as_of=date(2025, 9, 15), issued_on=date(2025, 9, 15)
    )
    with app_engine.begin() as conn:
        listed = arrears.arrears_list(conn, clerk, business="kaigo", on=date(2025, 9, 15))
        # A owes 第1期 2,389 + 第2期 2,100 = 4,489 on 15 Sep (and on 28 Sep: 第3期 is due 9/30);
        # a plan must add up to it.
        with pytest.raises(arrears.ArrearsError, match="一致しません"):
            arrears.make_plan(conn, clerk, person_no=A, business="kaigo", signed_on=date(2025, 9, 28),
                              schedule=[(date(2025, 10, 31), 2_000), (date(2025, 11, 30), 2_000)])  # fmt: skip
    by_person = {r.person_no: r for r in listed}
    assert (by_person[A].periods, by_person[A].arrears, by_person[A].demanded) == (2, 4_489, True)
    assert [r.arrears for r in listed] == sorted((r.arrears for r in listed), reverse=True)
    with app_engine.begin() as conn:
        plan_id = arrears.make_plan(
            conn, clerk, person_no=A, business="kaigo", signed_on=date(2025, 9, 28),
            schedule=[(date(2025, 10, 31), 1_500), (date(2025, 11, 30), 1_500), (date(2025, 12, 31), 1_489)],
        )  # fmt: skip
        arrears.record_contact(
            conn, clerk, person_no=A, business="kaigo", channel="電話", summary="分納を相談。年金支給後に納付の意向",
            contacted_on=date(2025, 9, 27), promise_on=date(2025, 10, 31), promise_amount=1_500,
        )  # fmt: skip
        notes = arrears.contact_notes(conn, clerk, person_no=A, business="kaigo")
        without = arrears.arrears_list(conn, clerk, business="kaigo", on=date(2025, 9, 29), without_plan=True)
        # 時効 of 第1期 (due 7/31): 督促 deadline 9/25 renews it to 2027-09-25; the 誓約 of 9/28
        # (承認, 民法第152条) renews it again from 9/29: 2027-09-28.
        renewed = demands.prescription_of(conn, a[0].receivable_id)
    assert plan_id > 0 and A not in {r.person_no for r in without}
    assert [(n.channel, n.promise_amount) for n in notes] == [("電話", 1_500)]
    assert renewed.completes_on == date(2027, 9, 28)
    with app_engine.connect() as conn:
        reads = conn.execute(
            text(
                "SELECT count(*) FROM audit.access_log WHERE detail->>'what' = 'collection.contact_notes' AND :p = ANY(subjects)"
            ),
            {"p": A},
        ).scalar_one()
    assert reads == 1


def test_the_demand_letters_of_a_run(assessed, app_engine: Engine, clerk, tmp_path) -> None:
    import subprocess

    from kiban.kaigo.assessment import receivables as kaigo_receivables
    from kiban.shared.mynumber import contains_my_number

    run = demands.demand_run(
        app_engine, clerk, business="kaigo", as_of=date(2025, 9, 15), issued_on=date(2025, 9, 15)
    )
    pdf = kaigo_receivables.demand_pdf(app_engine, run.batch_id)
    path = tmp_path / "d.pdf"
    path.write_bytes(pdf)
    body = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert body.count("\f") == 5  # one letter per person with a 期別 past due (B's start in October)
    assert "介護保険料督促状" in body and "令和7年9月25日" in body  # the 指定期限
    assert "4,489" in body.replace(" ", "")  # A: 第1期 2,389 + 第2期 2,100
    assert "時効" in body and not contains_my_number(body)


def test_writeoff_after_prescription_and_the_benefit_restrictions(
    assessed, app_engine: Engine, clerk, staff_ctx
) -> None:
    from kiban.collection import writeoff
    from kiban.security.context import Business
    from kiban.security.errors import AccessDenied

    a = assessed[A]
    chief = staff_ctx(Business.KAIGO, role="chief", purpose="kaigo.collection")
    with app_engine.begin() as conn:
        # 時効 (法第200条, 2年, no 督促 recorded): 第1期 due 2025-07-31 → extinguished 2027-08-01;
        # 第2期 due 2025-09-01 → 2027-09-02; 第3期 due 2025-09-30 → 2027-10-01 (not yet on 9/15).
        found = [
            c
            for c in writeoff.writeoff_candidates(conn, clerk, business="kaigo", on=date(2027, 9, 15))
            if c.person_no == A
        ]
        assert [(c.label, c.extinguished_on) for c in found] == [
            ("第1期", date(2027, 8, 1)),
            ("第2期", date(2027, 9, 2)),
        ]
        with pytest.raises(AccessDenied):
            writeoff.decide_writeoff(
                conn, clerk, receivable_ids=[a[0].receivable_id], decided_on=date(2027, 9, 15), reason="時効"
            )
    with app_engine.begin() as conn:
        assert (
            writeoff.decide_writeoff(
                conn,
                chief,
                receivable_ids=[a[0].receivable_id],
                decided_on=date(2027, 9, 15),
                reason="時効の完成",
            )
            == 2_389
        )
        with pytest.raises(ValueError, match="完成しません"):
            writeoff.decide_writeoff(
                conn, chief, receivable_ids=[a[2].receivable_id], decided_on=date(2027, 9, 15), reason="時効"
            )
    with app_engine.begin() as conn:
        # 法第66条: 納期限から1年を超えて滞納 → 支払方法変更 (第1期 due 2025-07-31 → from 2026-08-01);
        # 法第67条: 1年6か月 → 一時差止 (from 2027-02-01).
        early = writeoff.restriction_for(conn, clerk, person_no=A, on=date(2026, 9, 1))
        later = writeoff.restriction_for(conn, clerk, person_no=A, on=date(2027, 3, 1))
    assert early.status.payment_method_change and not early.status.benefit_suspension
    assert early.status.payment_method_change_from == date(2026, 8, 1)
    assert later.status.benefit_suspension and later.status.benefit_suspension_from == date(2027, 2, 1)


def test_a_reminder_run_prints_reminders_with_the_demand_dates(
    assessed, app_engine: Engine, clerk, tmp_path
) -> None:
    import subprocess

    from kiban.kaigo.assessment import receivables as kaigo_receivables
    from kiban.shared.mynumber import contains_my_number

    demands.demand_run(
        app_engine, clerk, business="kaigo", as_of=date(2025, 9, 15), issued_on=date(2025, 9, 15)
    )
    run = demands.demand_run(
        app_engine, clerk, business="kaigo", as_of=date(2025, 10, 20), issued_on=date(2025, 10, 20),
        kind="reminder", deadline_days=14,
    )  # fmt: skip
    path = tmp_path / "c.pdf"
    path.write_bytes(kaigo_receivables.demand_pdf(app_engine, run.batch_id))
    body = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    squeezed = "".join(body.split())
    assert body.count("\f") == 5 and squeezed.count("介護保険料催告書") >= 5
    assert "介護保険料督促状" not in squeezed and "教示" not in squeezed
    # A: 第2期 (納期限 2025-09-01) demanded on 2025-09-15; 催告 納付期限 = 10/20 + 14 days.
    assert "令和7年度第2期令和7年9月1日令和7年9月15日2,100円2,100円" in squeezed
    assert "納付期限令和7年11月3日まで" in squeezed
    assert "滞納処分の例により" in squeezed and not contains_my_number(body)
    with app_engine.connect() as conn:
        stored = conn.execute(
            text("SELECT kind, pdf IS NOT NULL FROM collection.demand_batch WHERE batch_id = :b"),
            {"b": run.batch_id},
        ).one()
    assert tuple(stored) == ("reminder", True)
