"""The premium rules of :mod:`kiban.kaigo.assessment.model` as SQL expressions (賦課の集合処理).

The 本算定 of a whole city runs in PostgreSQL, so the stage search and the 月割 are written out
as SQL from the same :class:`~kiban.rules.kaigo_premium.PremiumTable` the counter's 試算 reads.
Every figure put into the SQL is an ``int`` taken from the table (never text from a user), and a
test holds the SQL and the Python rules together on every stored row
(tests/kaigo/test_assessment_run.py).
"""

from __future__ import annotations

from kiban.rules.kaigo_premium import ExemptBracket, PremiumTable
from kiban.shared.money import Rounding, multiply

__all__ = ["annual_by_stage", "base_stage", "prorate_sql", "stage_case"]


def _int(value: int) -> str:
    # Only ints reach the SQL text: a table with anything else fails here, not in PostgreSQL.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not an int: {value!r}")
    return str(value)


def _exempt_case(table: PremiumTable, brackets: tuple[ExemptBracket, ...], fiscal_year: int) -> str:
    # 課税年金収入額 + その他の合計所得金額 (合計所得金額 − 公的年金等に係る雑所得, at least 0) ≤ 上限.
    income = "(pension_income + greatest(0, total_income - pension_misc_income))"
    parts = []
    for bracket in brackets:
        limit = table.exempt_limit(bracket, fiscal_year)
        if limit is None:
            parts.append(f"ELSE {_int(bracket.stage)}")
            break
        parts.append(f"WHEN {income} <= {_int(limit)} THEN {_int(bracket.stage)}")
    return "CASE " + " ".join(parts) + " END"


def _taxed_case(table: PremiumTable) -> str:
    # 合計所得金額 (after 長期・短期譲渡所得の特別控除) < 上限 (未満). Past the last verified bracket
    # of a city table the stage is NULL: the row is put on the 要確認 list, not guessed.
    parts = []
    last_open = False
    for bracket in table.taxed:
        if bracket.below is None:
            parts.append(f"ELSE {_int(bracket.stage)}")
            last_open = True
            break
        parts.append(f"WHEN total_income < {_int(bracket.below)} THEN {_int(bracket.stage)}")
    if not last_open:
        parts.append("ELSE NULL")
    return "CASE " + " ".join(parts) + " END"


def base_stage(table: PremiumTable) -> int:
    """The 基準額 stage (割合 1.0): where a person without 課税情報 is put until it arrives."""
    for stage, rate in sorted(table.stages.items()):
        if rate.multiplier == 1:
            return stage
    raise ValueError(f"{table.key}: 割合1.0の段階がありません")


def stage_case(table: PremiumTable, fiscal_year: int) -> str:
    """CASE expression over the columns welfare, old_age_pension, household_exempt, self_exempt,
    no_tax_info, total_income, pension_income, pension_misc_income → 所得段階 (施行令第38条)."""
    table.require_year(fiscal_year)
    return (
        "CASE"
        f" WHEN welfare THEN {_int(table.welfare_stage)}"
        f" WHEN old_age_pension AND household_exempt THEN {_int(table.old_age_welfare_pension_stage)}"
        f" WHEN no_tax_info THEN {_int(base_stage(table))}"
        f" WHEN household_exempt THEN {_exempt_case(table, table.household_exempt, fiscal_year)}"
        f" WHEN self_exempt THEN {_exempt_case(table, table.self_exempt, fiscal_year)}"
        f" ELSE {_taxed_case(table)} END"
    )


def annual_by_stage(table: PremiumTable, base_annual: int) -> list[int]:
    """年額 of stages 1..N (index 0 = 第1段階): 基準額 × 割合 with the insurer's 端数処理."""
    return [
        multiply(base_annual, table.rate(s).multiplier, table.rounding)
        for s in range(1, table.stage_count + 1)
    ]


def prorate_sql(annual: str, months: str, rounding: Rounding) -> str:
    """月割 in SQL: ``annual × months / 12`` with the insurer's 端数処理 (12 months: the annual amount).

    ``annual`` and ``months`` are SQL expressions of non-negative integers.
    """
    unit = rounding.unit
    exact = f"(({annual})::numeric * ({months}) / {12 * unit})"
    if rounding.name.startswith("TRUNCATE"):
        rounded = f"floor{exact}"
    elif rounding.name.startswith("ROUND_HALF_UP"):
        rounded = f"round{exact}"  # numeric round(): half away from zero — half up for amounts ≥ 0
    elif rounding.name.startswith("ROUND_UP"):
        rounded = f"ceil{exact}"
    else:  # pragma: no cover - a new Rounding member must be taught here
        raise ValueError(f"unsupported rounding {rounding.name}")
    return f"CASE WHEN ({months}) = 12 THEN ({annual}) ELSE ({rounded} * {unit})::int END"
