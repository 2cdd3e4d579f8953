"""Income and 住民税 rules (所得・住民税の課税判定), pure functions in int yen.

Only what the synthetic city needs to produce realistic source data: 給与所得, 公的年金等に係る雑所得,
所得金額調整控除 (pension + salary case), 合計所得金額 and 住民税 課税/非課税 by the 均等割 rule of a
1級地 city. Every rule cites its source; business packages will hold their own, versioned copies of
the rules they decide on (architecture.md §4 — kiban/rules/), this module only feeds the stand-in
source systems.

Year conventions: an *income year* (所得年, 暦年) is the calendar year the income was earned; the
住民税 of fiscal year (年度) N is assessed on the income of year N-1 (地方税法第32条第1項・第313条第1項:
「前年の所得について算定」), with 賦課期日 1月1日 of year N (地方税法第39条・第318条).
"""

from __future__ import annotations

from typing import Final

MAN: Final = 10_000  # 1万円

# ---------------------------------------------------------------------------------------------------
# 給与所得 (所得税法第28条; 住民税 地方税法第32条第2項・第313条第2項 refer to it)
# ---------------------------------------------------------------------------------------------------
# 給与所得控除, 令和2年分以降 (所得税法第28条第3項 as amended by 平成30年度税制改正; 国税庁タックスアンサー
# No.1410「給与所得控除」):
#   収入 ≤ 162.5万: 55万 / ≤180万: 収入×40%−10万 / ≤360万: ×30%+8万 / ≤660万: ×20%+44万 /
#   ≤850万: ×10%+110万 / 850万超: 195万 (上限)
# 令和7年分以降 (令和7年度税制改正, 所得税法第28条第3項第1号; 個人住民税は令和8年度分から): the minimum
# rises to 65万 for 収入 ≤ 190万; above 190万 nothing changes (e.g. 呉市「令和8年度から適用される
# 市民税・県民税の主な改正点」: 162.5万以下 55万→65万, 162.5万超190万以下 → 65万).
# For 収入 < 660万 the law (所得税法第28条第4項) uses 別表第五, which computes the same formulas on
# the income rounded down to a multiple of 4,000 yen (別表第五 rows are 4,000 yen wide from 1,628,000;
# 令和7年分以降 from 1,900,000). Below those points 別表第五 gives 収入−最低控除 except four short
# rows just under 1,628,000 (令和2年分以降 only), encoded in _LOW_STEPS_R2.
_LOW_STEPS_R2: Final = (
    (1_619_000, 1_069_000),
    (1_620_000, 1_070_000),
    (1_622_000, 1_072_000),
    (1_624_000, 1_074_000),
)


def salary_deduction_table_year(income_year: int) -> int:
    """The first income year of the 給与所得控除 table in force for ``income_year`` (2020 or 2025)."""
    if income_year < 2020:
        raise ValueError("給与所得控除 before 令和2年分 is not implemented")
    return 2025 if income_year >= 2025 else 2020


def salary_income_amount(income_year: int, salary: int) -> int:
    """給与所得控除後の給与等の金額 for a 給与等の収入金額 ``salary`` earned in ``income_year``.

    >>> salary_income_amount(2024, 3_000_000)   # 300万 → 202万 (令和2年分以降の表)
    2020000
    >>> salary_income_amount(2025, 1_000_000)   # 令和7年分: 最低65万 → 35万
    350000
    """
    if salary < 0:
        raise ValueError("salary must be >= 0")
    table = salary_deduction_table_year(income_year)
    minimum = 650_000 if table == 2025 else 550_000
    rounded_from = 1_900_000 if table == 2025 else 1_628_000
    if salary < rounded_from:
        if table == 2020 and salary >= _LOW_STEPS_R2[0][0]:
            result = _LOW_STEPS_R2[0][1]
            for lower, amount in _LOW_STEPS_R2:
                if salary >= lower:
                    result = amount
            return result
        return max(0, salary - minimum)
    if salary < 6_600_000:
        x = salary // 4_000 * 4_000  # 別表第五: 4,000円未満の端数を切り捨てた額で計算
        if x <= 1_800_000:  # only reachable under the 令和2年分 table
            return x * 6 // 10 + 100_000  # 控除 = 収入×40%−10万
        if x <= 3_600_000:
            return x * 7 // 10 - 80_000  # 控除 = 収入×30%+8万
        return x * 8 // 10 - 440_000  # 控除 = 収入×20%+44万
    if salary <= 8_500_000:
        return salary * 9 // 10 - 1_100_000  # 控除 = 収入×10%+110万 (1円未満切捨て)
    return salary - 1_950_000  # 控除 195万 (上限)


# ---------------------------------------------------------------------------------------------------
# 公的年金等に係る雑所得 (所得税法第35条第4項, 租税特別措置法第41条の15の3)
# ---------------------------------------------------------------------------------------------------
# 公的年金等控除額, 令和2年分以降 (国税庁タックスアンサー No.1600「公的年金等の課税関係」), for
# 公的年金等に係る雑所得以外の合計所得金額 ≤ 1,000万円; the deduction is 10万 smaller when that other
# income exceeds 1,000万 and 20万 smaller above 2,000万. Age: 65 or over at 12月31日 of the income
# year (措法第41条の15の3第1項; 年齢計算ニ関スル法律 — born on or before 1月1日 of (year − 64)).
#   65歳以上: 収入 < 330万: 所得 = 収入 − 110万 / < 410万: 収入×75% − 27.5万 / < 770万: ×85% − 68.5万 /
#             < 1,000万: ×95% − 145.5万 / 1,000万以上: 収入 − 195.5万
#   65歳未満: 収入 < 130万: 所得 = 収入 − 60万, then the same formulas from 130万 as above.


def pension_misc_income(pension: int, *, aged_65: bool, other_income: int = 0) -> int:
    """公的年金等に係る雑所得 (令和2年分以降の速算表; 1円未満切捨て, not below 0).

    ``other_income`` is the 公的年金等に係る雑所得以外の合計所得金額: above 1,000万円 the deduction is
    10万円 smaller, above 2,000万円 20万円 smaller.

    >>> pension_misc_income(2_000_000, aged_65=True)   # 65歳以上 200万 → 90万
    900000
    """
    if pension < 0:
        raise ValueError("pension must be >= 0")
    smaller = 200_000 if other_income > 20_000_000 else 100_000 if other_income > 10_000_000 else 0
    if pension < (3_300_000 if aged_65 else 1_300_000):
        amount = pension - (1_100_000 if aged_65 else 600_000)
    elif pension < 4_100_000:
        amount = pension * 75 // 100 - 275_000
    elif pension < 7_700_000:
        amount = pension * 85 // 100 - 685_000
    elif pension < 10_000_000:
        amount = pension * 95 // 100 - 1_455_000
    else:
        amount = pension - 1_955_000
    return max(0, amount + smaller)


def income_adjustment_deduction(salary_amount: int, pension_amount: int) -> int:
    """所得金額調整控除 for someone with both 給与所得 and 公的年金等に係る雑所得 (令和2年分以降).

    租税特別措置法第41条の3の3第2項 (住民税 applies it likewise from 令和3年度; 国税庁タックスアンサー
    No.1411「所得金額調整控除」): (給与所得控除後の給与等の金額
    (10万円限度) + 公的年金等に係る雑所得 (10万円限度)) − 10万円, deducted from 給与所得. The other
    case (第1項: 給与収入 850万超 with a child under 23 or a disability) is not modelled.
    """
    if salary_amount <= 0 or pension_amount <= 0:
        return 0
    return max(0, min(salary_amount, 100_000) + min(pension_amount, 100_000) - 100_000)


# ---------------------------------------------------------------------------------------------------
# 住民税 非課税 (地方税法第295条 (市町村民税), 第24条の5 (道府県民税))
# ---------------------------------------------------------------------------------------------------
# 均等割 非課税限度額 of a 1級地 city (地方税法第295条第3項: an amount set by ordinance following the
# standard of 地方税法施行令第47条の3; amounts from
# 令和3年度, when 令和2年度税制改正 raised them by 10万円 together with the 基礎控除 change):
#   no 同一生計配偶者/扶養親族: 合計所得金額 ≤ 45万円
#   with:   ≤ 35万円 × (本人 + 同一生計配偶者 + 扶養親族の数) + 10万円 + 21万円
# (e.g. 西宮市「住民税の非課税基準」: 35万円×(扶養親族等の数+1)+31万円, 扶養なし45万円).
# 障害者・未成年者・寡婦・ひとり親 with 合計所得金額 ≤ 135万円 (第295条第1項第2号) and 生活扶助 recipients
# (第295条第1項第1号) are 非課税 regardless.
# Dependants count if their own 合計所得金額 ≤ 48万円 (令和3–7年度), 58万円 from 令和8年度 (令和7年度
# 税制改正: 扶養親族等の所得要件 10万円引上げ, 呉市 ibid.). 年少扶養親族 (under 16) count for the limit.
NONTAXABLE_REASONS: Final = ("生活扶助", "未成年者", "寡婦", "ひとり親", "所得基準")


def adult_age(fiscal_year: int) -> int:
    """成年年齢 for the 未成年者 rule: 18 from 令和5年度 (民法改正, 施行 2022-04-01; 賦課期日 2023-01-01), else 20."""
    return 18 if fiscal_year >= 2023 else 20


def dependant_income_limit(fiscal_year: int) -> int:
    """合計所得金額 up to which a relative counts as 同一生計配偶者/扶養親族 for ``fiscal_year``."""
    _require_supported_fiscal_year(fiscal_year)
    return 580_000 if fiscal_year >= 2026 else 480_000


def nontaxable_limit(fiscal_year: int, dependants: int) -> int:
    """均等割 非課税限度額 (1級地) for a taxpayer with ``dependants`` 同一生計配偶者 + 扶養親族."""
    _require_supported_fiscal_year(fiscal_year)
    if dependants < 0:
        raise ValueError("dependants must be >= 0")
    if dependants == 0:
        return 45 * MAN
    return 35 * MAN * (1 + dependants) + 10 * MAN + 21 * MAN


def nontaxable_reason(
    fiscal_year: int,
    total_income: int,
    *,
    dependants: int = 0,
    minor: bool = False,
    widow: bool = False,
    single_parent: bool = False,
    livelihood_assistance: bool = False,
) -> str | None:
    """Why a person is 住民税 非課税 for ``fiscal_year`` (one of NONTAXABLE_REASONS), or None if 課税.

    ``minor``: under 18 on 1月1日 of the fiscal year (未成年者; 成年年齢18歳, 令和5年度以後).
    """
    _require_supported_fiscal_year(fiscal_year)
    # When several grounds apply, the reason recorded is the first in this order: 生活扶助, then the
    # general income limit, then the personal 135万円 grounds (so those appear only where they matter).
    if livelihood_assistance:
        return "生活扶助"
    if total_income <= nontaxable_limit(fiscal_year, dependants):
        return "所得基準"
    if total_income <= 135 * MAN:
        if minor:
            return "未成年者"
        if widow:
            return "寡婦"
        if single_parent:
            return "ひとり親"
    return None


def _require_supported_fiscal_year(fiscal_year: int) -> None:
    # The amounts above hold from 令和3年度 (2021); earlier years used other limits.
    if fiscal_year < 2021:
        raise ValueError("住民税 rules before 令和3年度 are not implemented")


def total_income(
    salary: int, pension: int, other: int, *, income_year: int, aged_65: bool
) -> tuple[int, int, int]:
    """(給与所得, 公的年金等に係る雑所得, 合計所得金額) from the three incomes of one person and year.

    合計所得金額 here = 給与所得 (after 所得金額調整控除) + 公的年金等に係る雑所得 + その他の所得 (``other``
    is already an 所得, e.g. 事業所得 or 不動産所得, not a 収入). The pension deduction depends on the
    other income, i.e. 合計所得金額 excluding the pension part.
    """
    salary_amount = salary_income_amount(income_year, salary) if salary else 0
    pension_amount = (
        pension_misc_income(pension, aged_65=aged_65, other_income=salary_amount + other) if pension else 0
    )
    salary_amount -= income_adjustment_deduction(salary_amount, pension_amount)
    return salary_amount, pension_amount, salary_amount + pension_amount + other
