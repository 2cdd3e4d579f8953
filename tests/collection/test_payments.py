"""収納 and 消込 over the dated town (tests/kaigo/test_assessment_run.py): the 2025 賦課 becomes 期別
with 納付番号 (kiban.kaigo.assessment.receivables), then bank and コンビニ files are imported through
the documented layout (docs/layouts/collection-payments.md)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, text

from kaigo.test_assessment_run import FY, KAZEI, A, B, atena, city, csv, kazei, town
from kiban.collection import appropriation, payments, receivables
from kiban.identity import facts
from kiban.kaigo.assessment import jobs as assess_jobs
from kiban.kaigo.assessment import receivables as kaigo_receivables
from kiban.security.context import Business

__all__ = ["atena", "city", "town"]

pytestmark = pytest.mark.usefixtures("clean_identity")
HEAD = ",".join(payments.HEADER)
TODAY = date(2026, 3, 31)


@pytest.fixture
def clerk(staff_ctx):
    return staff_ctx(Business.KAIGO, purpose="kaigo.collection")


@pytest.fixture
def assessed(town, app_engine: Engine) -> dict[str, list[receivables.ReceivableRow]]:
    assess_jobs.assess(app_engine, fiscal_year=FY)
    kaigo_receivables.sync(app_engine, fiscal_year=FY)
    return {p: rows_of(app_engine, p) for p in (A, B)}


def rows_of(engine: Engine, person_no: str) -> list[receivables.ReceivableRow]:
    with engine.connect() as conn:
        return [
            receivables.ReceivableRow(**dict(r._mapping))
            for r in conn.execute(
                text(
                    "SELECT receivable_id, fiscal_year, method, period, label, due_date, amount, paid, payment_no"
                    " FROM collection.receivable r JOIN identity.person p USING (person_id)"
                    " WHERE p.person_no = :p ORDER BY period"
                ),
                {"p": person_no},
            )
        ]


def file(*lines: str) -> bytes:
    return ("\r\n".join((HEAD, *lines)) + "\r\n").encode()


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM collection.payment), (SELECT count(*) FROM collection.payment_file),"
                    " (SELECT coalesce(sum(paid), 0) FROM collection.receivable)"
                )
            ).one()
        )


def test_receivables_carry_the_schedule_with_payment_numbers(assessed) -> None:
    a = assessed[A]
    # 21,289 over 10 期 (7月〜翌4月): 2,100 × 9 and the remainder 2,389 in 第1期 (100円単位).
    assert [r.amount for r in a] == [2_389] + [2_100] * 9 and sum(r.amount for r in a) == 21_289
    assert all(payments.valid_payment_number(r.payment_no) for r in a)
    assert len({r.payment_no for r in a}) == 10 and a[0].due_date == date(2025, 7, 31)


def test_bank_file_exact_partial_over_unmatched_and_two_payments_to_one_period(
    assessed, app_engine: Engine, clerk
) -> None:
    a = assessed[A]
    stranger = payments.payment_number("kaigo", FY, "1000009999", "ordinary", 1)
    data = file(
        f"B001,{a[0].payment_no},2025-07-30,2389,基盤銀行",  # exact: 第1期 settled
        f"B002,{a[1].payment_no},2025-08-29,1000,基盤銀行",  # partial: 1,100 remains
        f"B003,{a[2].payment_no},2025-09-30,3000,基盤銀行",  # over: 900 to 過誤納
        f"B004,{stranger},2025-09-30,5000,基盤銀行",  # no such 期別: 未確認 (unmatched)
        f"B005,{a[3].payment_no},2025-10-31,1500,基盤銀行",  # two to 第4期 in 納付日 order:
        f"B006,{a[3].payment_no},2025-11-04,1000,基盤銀行",  # 1,500 + 600 applied, 400 over
    )
    result = payments.import_payments(
        app_engine, clerk, channel="bank", data=data, file_name="bank.csv", today=TODAY
    )
    assert (result.imported, result.applied, result.partial, result.over, result.unmatched) == (6, 1, 2, 2, 1)
    after = rows_of(app_engine, A)
    assert [r.paid for r in after[:4]] == [2_389, 1_000, 2_100, 2_100]
    with app_engine.begin() as conn:
        acct = receivables.account(conn, clerk, person_no=A, business="kaigo")
    assert acct.overpaid_open == 900 + 400 and acct.unpaid == 21_289 - 2_389 - 1_000 - 2_100 - 2_100
    # 滞納 the day after 第2期's 納期限 (31 Aug 2025 is a Sunday → 1 Sep, 地方自治法第4条の2第4項): 1,100.
    assert acct.arrears(date(2025, 9, 1)) == 0 and acct.arrears(date(2025, 9, 2)) == 1_100
    # The same file again changes nothing.
    before = counts(app_engine)
    again = payments.import_payments(
        app_engine, clerk, channel="bank", data=data, file_name="bank.csv", today=TODAY
    )
    assert again.already_imported and counts(app_engine) == before


def test_konbini_final_report_adds_only_what_the_quick_report_lacked(
    assessed, app_engine: Engine, clerk
) -> None:
    a = assessed[A]
    quick = file(f"K001,{a[0].payment_no},2025-07-20,2389,コンビニA")
    final = file(
        f"K001,{a[0].payment_no},2025-07-20,2389,コンビニA",
        f"K002,{a[1].payment_no},2025-08-21,2100,コンビニB",
    )
    payments.import_payments(
        app_engine, clerk, channel="konbini", data=quick, file_name="sokuho.csv", today=TODAY
    )
    result = payments.import_payments(
        app_engine, clerk, channel="konbini", data=final, file_name="kakuho.csv", today=TODAY
    )
    assert (result.records, result.duplicates, result.imported, result.applied) == (2, 1, 1, 1)
    assert [r.paid for r in rows_of(app_engine, A)[:2]] == [2_389, 2_100]
    # The same レコードID with other content is refused, and nothing of that file is written.
    changed = file(
        f"K002,{a[1].payment_no},2025-08-21,2000,コンビニB",
        f"K003,{a[2].payment_no},2025-09-21,2100,コンビニB",
    )
    before = counts(app_engine)
    with pytest.raises(payments.PaymentFileRejected) as rejected:
        payments.import_payments(
            app_engine, clerk, channel="konbini", data=changed, file_name="k3.csv", today=TODAY
        )
    assert [(e.line, e.field) for e in rejected.value.errors] == [(2, "レコードID")]
    assert counts(app_engine) == before


def test_a_bad_file_imports_nothing_and_lists_every_bad_record(assessed, app_engine: Engine, clerk) -> None:
    a = assessed[A]
    good = a[0].payment_no
    broken = good[:-1] + str((int(good[-1]) + 1) % 10)  # wrong check digit
    data = file(
        f"X1,{good},2025-07-30,2389,基盤銀行",
        f"X2,{broken},2025-07-30,2100,基盤銀行",
        f"X3,{a[1].payment_no},2025-13-01,2100,基盤銀行",
        f"X4,{a[2].payment_no},2025-09-30,0,基盤銀行",
        f"X1,{a[3].payment_no},2025-09-30,100,基盤銀行",
        f"X6,{a[4].payment_no},2026-04-01,100,基盤銀行",  # after today
    )
    before = counts(app_engine)
    with pytest.raises(payments.PaymentFileRejected) as rejected:
        payments.import_payments(
            app_engine, clerk, channel="bank", data=data, file_name="bad.csv", today=TODAY
        )
    assert [(e.line, e.field) for e in rejected.value.errors] == [
        (3, "納付番号"), (4, "納付日"), (5, "金額"), (6, "レコードID"), (7, "納付日"),
    ]  # fmt: skip
    assert counts(app_engine) == before
    for e in rejected.value.errors:  # the エラーリスト never echoes a whole 納付番号 back into logs
        assert good not in e.message


def test_a_correction_below_what_was_paid_becomes_an_overpayment(
    assessed, app_engine: Engine, clerk, atena
) -> None:
    # 第7段階 6 months (資格取得 2025-10-14): 48,555 over the 7 期 due after it (10月〜4月):
    # 48,555 / 7 → 6,900 × 6 and 7,155 in the first (100円単位, 端数は第1期).
    b = assessed[B]
    assert [r.amount for r in b] == [7_155] + [6_900] * 6 and b[0].due_date == date(2025, 10, 31)
    data = file(*(f"P{r.period},{r.payment_no},2025-12-01,{r.amount},基盤銀行" for r in b))
    payments.import_payments(app_engine, clerk, channel="bank", data=data, file_name="b.csv", today=TODAY)
    # 税更正: B's income was in fact 500,000 → 第6段階 89,640 × 6/12 = 44,820 (−3,735). Every 期 is
    # already due, so the 減額 comes off the last 期 (第10期 6,900 → 3,165), which was paid: 過誤納 3,735.
    facts.import_facts(
        app_engine, "kazei", csv(KAZEI, kazei(B, taxable=True, pension=0, other=500_000)), "kb.csv", atena
    )
    assess_jobs.assess(app_engine, fiscal_year=FY)
    totals = kaigo_receivables.sync(app_engine, fiscal_year=FY)
    assert (totals["revised"], totals["overpaid"]) == (1, 3_735)
    after = rows_of(app_engine, B)
    assert sum(r.amount for r in after) == 44_820 and after[-1].amount == 3_165
    assert sum(r.paid for r in after) == 44_820
    with app_engine.begin() as conn:
        acct = receivables.account(conn, clerk, person_no=B, business="kaigo")
    assert acct.overpaid_open == 3_735 and acct.unpaid == 0
    # A second sync changes nothing.
    assert kaigo_receivables.sync(app_engine, fiscal_year=FY)["revised"] == 0


def test_counter_payment_is_matched_and_logged(assessed, app_engine: Engine, clerk) -> None:
    a = assessed[A]
    with app_engine.begin() as conn:
        payments.counter_payment(
            conn, clerk, payment_no=a[5].payment_no, amount=2_100, paid_on=date(2025, 12, 20)
        )
    assert rows_of(app_engine, A)[5].paid == 2_100
    with app_engine.begin() as conn, pytest.raises(payments.PaymentError, match="期別はありません"):
        payments.counter_payment(
            conn,
            clerk,
            payment_no=payments.payment_number("kaigo", FY, "1000009999", "ordinary", 1),
            amount=100,
        )
    with app_engine.connect() as conn:
        logged = conn.execute(
            text(
                "SELECT count(*) FROM audit.access_log WHERE detail->>'what' = 'collection.payment.counter' AND :p = ANY(subjects)"
            ),
            {"p": A},
        ).scalar_one()
    assert logged == 1


def test_an_overpayment_is_appropriated_to_the_oldest_arrears_first(
    assessed, app_engine: Engine, clerk
) -> None:
    a = assessed[A]
    # 第1期 paid twice over (2,389 + 6,000 excess); 第2期・第3期 unpaid and past due on 2025-10-01.
    data = file(f"O1,{a[0].payment_no},2025-07-30,8389,基盤銀行")
    payments.import_payments(app_engine, clerk, channel="bank", data=data, file_name="o.csv", today=TODAY)
    with app_engine.begin() as conn:
        made, refundable = appropriation.appropriate(
            conn, clerk, person_no=A, business="kaigo", on=date(2025, 10, 1)
        )
    # Oldest 納期限 first: 第2期 (2,100), then 第3期 (2,100); 第4期 (due 10/31) is not yet due: 1,800 is left
    # to refund (還付).
    assert [(m.label, m.amount) for m in made] == [("第2期", 2_100), ("第3期", 2_100)]
    assert refundable == 6_000 - 4_200
    assert [r.paid for r in rows_of(app_engine, A)[:4]] == [2_389, 2_100, 2_100, 0]
    # "newest" order (a city rule) and not only due ones: the latest 期 first.
    with app_engine.begin() as conn:
        made2, left = appropriation.appropriate(
            conn, clerk, person_no=A, business="kaigo", on=date(2025, 10, 1), order="newest", due_only=False
        )
    assert [(m.label, m.amount) for m in made2] == [("第10期", 1_800)] and left == 0


def test_refund_with_interest_and_the_receipt_certificate(
    assessed, app_engine: Engine, clerk, staff_ctx, tmp_path
) -> None:
    import subprocess

    from kiban.collection import refunds
    from kiban.kaigo.assessment import receivables as kaigo_receivables
    from kiban.security.errors import AccessDenied
    from kiban.shared.mynumber import contains_my_number

    a = assessed[A]
    chief = staff_ctx(Business.KAIGO, role="chief", purpose="kaigo.collection")
    # 第1期 paid with 2,000,000 too much (a mistyped amount) on 2025-07-30; nothing to 充当 that day.
    data = file(f"W1,{a[0].payment_no},2025-07-30,2002389,基盤銀行")
    payments.import_payments(app_engine, clerk, channel="bank", data=data, file_name="w.csv", today=TODAY)
    with app_engine.begin() as conn, pytest.raises(AccessDenied):
        refunds.decide_refund(conn, clerk, person_no=A, business="kaigo", decided_on=date(2025, 12, 1),
                              payment_date=date(2025, 12, 10))  # fmt: skip
    with app_engine.begin() as conn:
        refund = refunds.decide_refund(
            conn,
            chief,
            person_no=A,
            business="kaigo",
            decided_on=date(2026, 7, 30),
            payment_date=date(2026, 8, 10),
        )
        # 還付加算金 (地方税法第17条の4, rates kiban/rules/refund_interest/standard.toml): 2,000,000 for
        # 2025-07-31..2025-12-31 (154 days at 0.9%) and 2026-01-01..2026-07-30 (211 days at 1.3%):
        # 2,000,000 × (0.009 × 154 + 0.013 × 211) / 365 = 22,624.6… → 100円未満切捨て 22,600.
        assert (refund.amount, refund.interest, refund.total) == (2_000_000, 22_600, 2_022_600)
        with pytest.raises(refunds.RefundError, match="還付する過誤納はありません"):
            refunds.decide_refund(conn, chief, person_no=A, business="kaigo", decided_on=date(2026, 7, 30),
                                  method="窓口払")  # fmt: skip
        notice = kaigo_receivables.refund_pdf(conn, clerk, refund=refund, issued_on=date(2026, 7, 31),
                                              bank="基盤銀行 本店 普通 ****567")  # fmt: skip
        receipt = kaigo_receivables.receipt_pdf(
            conn, clerk, person_no=A, period_from=date(2025, 1, 1), period_to=date(2025, 12, 31),
            purpose="確定申告（社会保険料控除）", issued_on=date(2026, 2, 1),
        )  # fmt: skip
    texts = []
    for name, pdf in (("r.pdf", notice), ("c.pdf", receipt)):
        path = tmp_path / name
        path.write_bytes(pdf)
        texts.append(
            subprocess.run(
                ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
            ).stdout
        )
    assert "介護保険料還付通知書" in texts[0] and "2,022,600" in texts[0] and "****567" in texts[0]
    assert "介護保険料納付済確認書" in texts[1] and "2,389" in texts[1]
    assert not contains_my_number("".join(texts))
