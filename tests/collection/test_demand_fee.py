"""督促手数料: only where the insurer's 条例 sets one (地方自治法第231条の3第2項: 「条例で定めるところに
より、手数料及び延滞金を徴収することができる」), as data in the 徴収カレンダー; added to the 督促, printed on
the 督促状, owed on the 催告書, collected at the counter."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import date
from importlib import resources

import pytest
from sqlalchemy import Engine

from collection.test_payments import assessed, clerk
from kaigo.test_assessment_run import A, atena, city, town
from kiban.collection import demands
from kiban.kaigo.assessment import receivables as kaigo_receivables
from kiban.rules.kaigo_collection import CollectionCalendarError, DemandFee, load_calendar, parse_calendar

__all__ = ["assessed", "atena", "city", "clerk", "town"]

STANDARD = resources.files("kiban.rules.kaigo_collection").joinpath("standard.toml").read_text("utf-8")
FEE = """
[sources.city-ordinance]
title = "基盤市介護保険条例（架空の例）"
url = "https://example.invalid/"

[demand_fee]
amount = 100
per = "letter"
ordinance = "基盤市介護保険条例第20条"
source = "city-ordinance"
"""


def test_no_fee_by_default_and_one_from_the_data() -> None:
    assert load_calendar("standard").demand_fee is None
    cal = parse_calendar(STANDARD + FEE, "fee.toml")
    assert cal.demand_fee == DemandFee(100, "letter", "基盤市介護保険条例第20条", "city-ordinance")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("amount = 100", "amount = 0"), "fee.toml: demand_fee.amount: 1〜1000 の整数"),
        (("amount = 100", 'amount = "100"'), "demand_fee.amount"),
        (('per = "letter"', 'per = "month"'), "demand_fee.per"),
        (('source = "city-ordinance"\n', 'source = "nowhere"\n'), "sources にない出典 'nowhere'"),
        (('ordinance = "基盤市介護保険条例第20条"\n', ""), "demand_fee.ordinance: 必須の項目がありません"),
    ],
)
def test_a_bad_fee_is_refused_naming_the_field(change: tuple[str, str], message: str) -> None:
    with pytest.raises(CollectionCalendarError, match=message):
        parse_calendar(STANDARD + FEE.replace(*change), "fee.toml")


@pytest.fixture
def fee_of(monkeypatch):  # type: ignore[no-untyped-def]
    """The town's insurer (calendar ``standard``) as if its 条例 set a 督促手数料."""

    def set_fee(amount: int, per: str) -> None:
        cal = replace(
            load_calendar("standard"), demand_fee=DemandFee(amount, per, "基盤市介護保険条例第20条", "x")
        )  # type: ignore[arg-type]
        monkeypatch.setattr(kaigo_receivables, "load_calendar", lambda key: cal)

    return set_fee


def pdf_text(pdf: bytes, tmp_path) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "x.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True)
    return "".join(out.stdout.split())


@pytest.mark.usefixtures("clean_identity")
def test_without_a_fee_in_the_ordinance_nothing_is_charged(assessed, app_engine: Engine, clerk) -> None:
    run = demands.demand_run(
        app_engine, clerk, business="kaigo", as_of=date(2025, 9, 15),
        charge_fees=kaigo_receivables.charge_demand_fees,
    )  # fmt: skip
    assert run.demands == 10 and run.fees == 0


@pytest.mark.usefixtures("clean_identity")
def test_a_fee_per_letter_is_printed_owed_and_collected(
    assessed, app_engine: Engine, clerk, fee_of, tmp_path
) -> None:
    fee_of(100, "letter")
    run = demands.demand_run(
        app_engine, clerk, business="kaigo", as_of=date(2025, 9, 15), issued_on=date(2025, 9, 15),
        charge_fees=kaigo_receivables.charge_demand_fees,
    )  # fmt: skip
    # 5 persons have 第1期 and 第2期 past due (10 督促): one 督促状 each, 100円 a letter.
    assert (run.demands, run.persons, run.fees) == (10, 5, 500)
    body = pdf_text(kaigo_receivables.demand_pdf(app_engine, run.batch_id), tmp_path)
    # A: 第1期 2,389 + 第2期 2,100 = 4,489; with the fee 4,589.
    assert "合計未納額4,489円督促手数料100円" in body and "納付すべき額4,589円" in body
    assert "督促手数料100円は、基盤市の条例により加算しています。" in body
    with app_engine.begin() as conn:
        owed = demands.fees_owed(conn, clerk, person_no=A, business="kaigo")
        assert [(f.label, f.fee, f.owed) for f in owed] == [("第1期", 100, 100)]  # on the letter's first 期別
        with pytest.raises(demands.DemandError, match="督促手数料の金額 150円 が未納額 100円 を超えています"):
            demands.collect_fee(
                conn, clerk, person_no=A, business="kaigo", amount=150, paid_on=date(2025, 9, 20)
            )
        assert (
            demands.collect_fee(
                conn, clerk, person_no=A, business="kaigo", amount=60, paid_on=date(2025, 9, 20)
            )
            == 0
        )
    # The 催告書 carries what is still owed of the fee: 40円; a 催告 charges no fee of its own.
    reminder = demands.demand_run(
        app_engine, clerk, business="kaigo", as_of=date(2025, 10, 20), kind="reminder",
        charge_fees=kaigo_receivables.charge_demand_fees,
    )  # fmt: skip
    assert reminder.fees == 0
    body = pdf_text(kaigo_receivables.demand_pdf(app_engine, reminder.batch_id), tmp_path)
    assert "滞納額4,489円督促手数料40円" in body and "納付すべき額4,529円" in body
    with app_engine.begin() as conn:
        assert (
            demands.collect_fee(
                conn, clerk, person_no=A, business="kaigo", amount=40, paid_on=date(2025, 10, 25)
            )
            == 1
        )
        with pytest.raises(demands.DemandError, match="未納の督促手数料はありません"):
            demands.collect_fee(
                conn, clerk, person_no=A, business="kaigo", amount=1, paid_on=date(2025, 10, 25)
            )


@pytest.mark.usefixtures("clean_identity")
def test_a_fee_per_period(assessed, app_engine: Engine, clerk, fee_of) -> None:
    fee_of(50, "period")
    run = demands.demand_run(
        app_engine, clerk, business="kaigo", as_of=date(2025, 9, 15),
        charge_fees=kaigo_receivables.charge_demand_fees,
    )  # fmt: skip
    assert run.fees == 50 * 10
