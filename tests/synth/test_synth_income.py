"""Income and 住民税 非課税 rules against hand-computed and published examples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiban.synth import income

MAN = 10_000


@pytest.mark.parametrize(
    ("salary", "expected"),
    [
        (550_000, 0),
        (1_000_000, 450_000),  # 100万 − 55万
        (1_618_999, 1_068_999),
        (1_619_000, 1_069_000),  # 所得税法別表第五の4行 (1,619,000〜1,627,999)
        (1_621_999, 1_070_000),
        (1_625_000, 1_074_000),
        (1_628_000, 1_076_800),  # from here 4,000円刻み: ×60% + 10万
        (1_800_000, 1_180_000),
        (3_000_000, 2_020_000),  # 300万 → 202万 (令和2年分以降の表)
        (3_001_000, 2_020_000),  # same 4,000円 row
        (5_000_000, 3_560_000),  # 500万 → 356万 (×80% − 44万)
        (6_599_999, 4_836_800),
        (6_600_000, 4_840_000),  # ×90% − 110万
        (8_500_000, 6_550_000),
        (10_000_000, 8_050_000),  # 控除の上限 195万
    ],
)
def test_salary_income_table_from_reiwa_2(salary: int, expected: int) -> None:
    assert income.salary_income_amount(2024, salary) == expected


@pytest.mark.parametrize(
    ("salary", "expected"),
    [
        (650_000, 0),
        (1_000_000, 350_000),  # 最低保障 65万 (令和7年分以降)
        (1_100_000, 450_000),  # 110万: the new 非課税 line for salary-only (呉市: 改正前100万)
        (1_625_000, 975_000),
        (1_899_999, 1_249_999),
        (1_900_000, 1_250_000),  # 190万超 unchanged: ×70% − 8万
        (3_000_000, 2_020_000),
        (8_500_000, 6_550_000),
    ],
)
def test_salary_income_table_from_reiwa_7(salary: int, expected: int) -> None:
    assert income.salary_income_amount(2025, salary) == expected


def test_salary_table_years() -> None:
    assert income.salary_deduction_table_year(2020) == 2020
    assert income.salary_deduction_table_year(2024) == 2020
    assert income.salary_deduction_table_year(2025) == 2025
    with pytest.raises(ValueError):
        income.salary_income_amount(2019, 1_000_000)


@given(st.sampled_from([2020, 2025]), st.integers(0, 30_000_000), st.integers(1, 50_000))
def test_salary_income_is_monotone_and_below_salary(year: int, salary: int, step: int) -> None:
    a = income.salary_income_amount(year, salary)
    assert 0 <= a <= salary
    assert income.salary_income_amount(year, salary + step) >= a
    assert salary - a <= 1_950_000 + 3_999  # 控除 at most 195万 (plus the 4,000円 rounding)


@pytest.mark.parametrize(
    ("pension", "aged_65", "other", "expected"),
    [
        (2_000_000, True, 0, 900_000),  # 65歳以上 200万 → 90万
        (1_100_000, True, 0, 0),
        (1_550_000, True, 0, 450_000),  # "年金155万円以下なら非課税" (single, 1級地)
        (2_110_000, True, 0, 1_010_000),  # "夫婦で211万円以下なら非課税"
        (3_300_000, True, 0, 2_200_000),  # ×75% − 27.5万 = 収入 − 110万 at the boundary
        (4_000_000, True, 0, 2_725_000),
        (5_000_000, True, 0, 3_565_000),  # ×85% − 68.5万
        (8_000_000, True, 0, 6_145_000),  # ×95% − 145.5万
        (12_000_000, True, 0, 10_045_000),  # 控除 195.5万
        (1_000_000, False, 0, 400_000),  # 65歳未満: 最低 60万
        (1_300_000, False, 0, 700_000),
        (2_000_000, False, 0, 1_225_000),  # ×75% − 27.5万
        (2_000_000, True, 15_000_000, 1_000_000),  # 他の所得 1,000万超: 控除 10万 smaller
        (2_000_000, True, 25_000_000, 1_100_000),  # 2,000万超: 20万 smaller
    ],
)
def test_pension_misc_income(pension: int, aged_65: bool, other: int, expected: int) -> None:
    assert income.pension_misc_income(pension, aged_65=aged_65, other_income=other) == expected


@given(st.booleans(), st.integers(0, 30_000_000), st.integers(1, 100_000))
def test_pension_income_is_monotone(aged_65: bool, pension: int, step: int) -> None:
    a = income.pension_misc_income(pension, aged_65=aged_65)
    assert 0 <= a <= pension
    assert income.pension_misc_income(pension + step, aged_65=aged_65) >= a


def test_income_adjustment_deduction() -> None:
    assert income.income_adjustment_deduction(300_000, 50_000) == 50_000
    assert income.income_adjustment_deduction(2_000_000, 900_000) == 100_000
    assert income.income_adjustment_deduction(2_000_000, 0) == 0
    assert income.income_adjustment_deduction(0, 900_000) == 0


def test_total_income_combines_the_three_incomes() -> None:
    # 給与 3,619,005 → 2,452,800 (3,616,000 × 80% − 44万); 年金 1,869,500 (65+) → 769,500;
    # 所得金額調整控除 10万 → 給与所得 2,352,800; 合計 3,122,300.
    assert income.total_income(3_619_005, 1_869_500, 0, income_year=2024, aged_65=True) == (
        2_352_800,
        769_500,
        3_122_300,
    )
    assert income.total_income(0, 0, 500_000, income_year=2024, aged_65=False) == (0, 0, 500_000)


def test_nontaxable_limits_of_a_class_1_city() -> None:
    assert income.nontaxable_limit(2025, 0) == 450_000
    assert income.nontaxable_limit(2025, 1) == 1_010_000  # 35万×2 + 31万
    assert income.nontaxable_limit(2025, 3) == 1_710_000  # 35万×4 + 31万
    assert income.dependant_income_limit(2025) == 480_000
    assert income.dependant_income_limit(2026) == 580_000  # 令和7年度改正, 令和8年度から
    assert income.adult_age(2022) == 20
    assert income.adult_age(2023) == 18
    with pytest.raises(ValueError):
        income.nontaxable_limit(2020, 0)


def test_nontaxable_reasons() -> None:
    r = income.nontaxable_reason
    assert r(2025, 450_000) == "所得基準"
    assert r(2025, 450_001) is None
    assert r(2025, 1_010_000, dependants=1) == "所得基準"
    assert r(2025, 1_010_001, dependants=1) is None
    assert r(2025, 1_000_000, minor=True) == "未成年者"
    assert r(2025, 1_350_000, widow=True) == "寡婦"
    assert r(2025, 1_350_001, widow=True) is None
    assert r(2025, 1_200_000, single_parent=True) == "ひとり親"
    assert r(2025, 100_000_000, livelihood_assistance=True) == "生活扶助"
    assert r(2025, 0, minor=True) == "所得基準"  # the general limit is reported first


def test_published_thresholds_end_to_end() -> None:
    def status(salary: int, pension: int, *, income_year: int, dependants: int = 0) -> str | None:
        total = income.total_income(salary, pension, 0, income_year=income_year, aged_65=True)[2]
        return income.nontaxable_reason(income_year + 1, total, dependants=dependants)

    # Salary only, single: 100万円 is the 非課税 line for 令和6年分 income, 110万円 from 令和7年分.
    assert status(1_000_000, 0, income_year=2024) == "所得基準"
    assert status(1_004_000, 0, income_year=2024) is None
    assert status(1_100_000, 0, income_year=2025) == "所得基準"
    assert status(1_104_000, 0, income_year=2025) is None
    # Pension only (65+): 155万円 single, 211万円 with a dependent spouse.
    assert status(0, 1_550_000, income_year=2024) == "所得基準"
    assert status(0, 1_550_001, income_year=2024) is None
    assert status(0, 2_110_000, income_year=2024, dependants=1) == "所得基準"
    assert status(0, 2_110_001, income_year=2024, dependants=1) is None
