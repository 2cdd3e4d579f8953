"""The SQL form of the premium rules (kiban.kaigo.assessment.sql) against the Python rules, in a real
PostgreSQL: every stage boundary of every shipped table (just below, at, just above each threshold),
and the 月割 of every rounding rule for every month count.

The Python rules are themselves tested against the published figures (test_premium_rules.py); this
holds the set-based 本算定 to them, so a city's table added as data is right in both at once.
"""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import Engine, text

from kiban.kaigo.assessment import installments, sql
from kiban.kaigo.assessment.model import PremiumFacts, UnverifiedStage, assess_premium
from kiban.rules.kaigo_premium import load_table, table_keys
from kiban.shared.money import Rounding

COLUMNS = "welfare, old_age_pension, household_exempt, self_exempt, no_tax_info, total_income, pension_income, pension_misc_income"


def boundary_facts(insurer: str, year: int) -> list[PremiumFacts]:
    table = load_table(insurer)
    cases: list[PremiumFacts] = [
        PremiumFacts(welfare=True),
        PremiumFacts(old_age_welfare_pension=True, household_exempt=True, self_exempt=True),
    ]
    limits = {table.exempt_limit(b, year) for b in (*table.household_exempt, *table.self_exempt)} - {None}
    for limit in sorted(x for x in limits if x is not None):
        for income in (limit - 1, limit, limit + 1):
            for household in (True, False):
                # The same sum reached two ways: all pension, or pension plus other income.
                cases.append(
                    PremiumFacts(household_exempt=household, self_exempt=True, pension_income=income)
                )
                cases.append(
                    PremiumFacts(household_exempt=household, self_exempt=True, pension_income=income // 2,
                                 pension_misc_income=income // 4, total_income=income // 4 + income - income // 2)
                )  # fmt: skip
    for bracket in table.taxed:
        if bracket.below is not None:
            for income in (bracket.below - 1, bracket.below, bracket.below + 1):
                cases.append(PremiumFacts(total_income=income))
                cases.append(
                    PremiumFacts(total_income=income, pension_income=income, pension_misc_income=income // 3)
                )
    cases.append(PremiumFacts(total_income=0))
    cases.append(PremiumFacts(total_income=50_000_000))
    return cases


@pytest.mark.parametrize(
    ("insurer", "year"), [(k, y) for k in table_keys() for y in load_table(k).fiscal_years]
)
def test_stage_sql_equals_python_at_every_boundary(db_engine: Engine, insurer: str, year: int) -> None:
    table = load_table(insurer)
    cases = boundary_facts(insurer, year)
    values = ",".join(
        f"({c.welfare}, {c.old_age_welfare_pension}, {c.household_exempt}, {c.self_exempt}, false, "
        f"{c.total_income}, {c.pension_income}, {c.pension_misc_income})"
        for c in cases
    )
    with db_engine.connect() as conn:
        got = list(
            conn.execute(
                text(f"SELECT {sql.stage_case(table, year)} FROM (VALUES {values}) AS f({COLUMNS})")
            ).scalars()
        )
    for facts, stage in zip(cases, got, strict=True):
        try:
            expected: int | None = assess_premium(table, facts, year).stage
        except UnverifiedStage:
            expected = None  # the job puts the person on the 要確認 list
        assert stage == expected, (insurer, year, facts)


def test_a_person_without_tax_information_is_put_on_the_base_stage(db_engine: Engine) -> None:
    table = load_table("standard")
    with db_engine.connect() as conn:
        stage = conn.execute(
            text(
                f"SELECT {sql.stage_case(table, 2025)} FROM (VALUES (false, false, false, false, true, 0, 0, 0)) AS f({COLUMNS})"
            )
        ).scalar_one()
    assert stage == sql.base_stage(table) == 5  # 割合 1.0 (基準額)


@pytest.mark.parametrize("rounding", list(Rounding))
def test_monthly_proration_sql_equals_python(db_engine: Engine, rounding: Rounding) -> None:
    amounts = [0, 1, 11, 21_289, 21_888, 36_229, 74_700, 75_600, 97_110, 112_050, 179_280, 333_333]
    pairs = list(itertools.product(amounts, range(13)))
    values = ",".join(f"({a}, {m})" for a, m in pairs)
    with db_engine.connect() as conn:
        got = list(
            conn.execute(
                text(f"SELECT {sql.prorate_sql('a', 'm', rounding)} FROM (VALUES {values}) AS v(a, m)")
            ).scalars()
        )
    assert got == [installments.prorate(a, m, rounding) for a, m in pairs]
