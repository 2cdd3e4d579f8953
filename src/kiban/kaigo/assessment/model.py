"""The pure rules of 介護保険 第1号保険料の賦課: the 所得段階 and the annual premium from the facts.

No database here. The stage follows the situation on the 賦課期日 (介護保険法施行令第38条, the
standard stages; each insurer's 条例 under 法第129条 may differ, hence the table is data —
:mod:`kiban.rules.kaigo_premium`):

* 生活保護の被保護者, and a 老齢福祉年金 recipient whose household is wholly 住民税非課税 → stage 1;
* 世帯非課税 (everyone in the household exempt) → stages 1–3, by 課税年金収入額 + その他の合計所得金額;
* 本人非課税・世帯課税 → stages 4–5, by the same sum;
* 本人課税 → stage 6 and above, by 合計所得金額 (after 長期・短期譲渡所得の特別控除).

その他の合計所得金額 = 合計所得金額 − 公的年金等に係る雑所得 (所得税法第35条第2項第1号), floored at 0.
The annual amount is 基準額 × 割合 in exact Decimal, then the insurer's 端数処理 (kiban.shared.money).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kiban.rules.kaigo_premium import (
    ExemptBracket,
    FiscalYearNotCovered,
    PremiumTable,
    StageRate,
    UnknownInsurer,
    load_table,
)
from kiban.shared.fiscal import wareki_fiscal_year_label
from kiban.shared.money import format_yen, multiply

__all__ = [
    "AssessmentError",
    "Comparison",
    "ContradictoryFacts",
    "FiscalYearNotCovered",
    "PremiumFacts",
    "PremiumResult",
    "UnknownInsurer",
    "UnverifiedStage",
    "assess_premium",
    "simulate",
]


class AssessmentError(ValueError):
    """The facts cannot be assessed; the message is for the person at the counter."""


class ContradictoryFacts(AssessmentError):
    """The facts contradict each other (e.g. 世帯非課税 but not 本人非課税)."""


class UnverifiedStage(AssessmentError):
    """The facts fall in a part of the insurer's table that could not be checked against its source."""


@dataclass(frozen=True)
class PremiumFacts:
    """賦課の基礎となる事実 of one 第1号被保険者 on the 賦課期日 (yen amounts of the previous year).

    ``total_income`` is 合計所得金額 after 長期・短期譲渡所得の特別控除, ``pension_income`` is
    課税年金収入額, ``pension_misc_income`` is 公的年金等に係る雑所得.
    """

    welfare: bool = False  # 生活保護受給中
    old_age_welfare_pension: bool = False  # 老齢福祉年金受給者
    household_exempt: bool = False  # 世帯全員が住民税非課税
    self_exempt: bool = False  # 本人が住民税非課税
    total_income: int = 0
    pension_income: int = 0
    pension_misc_income: int = 0

    def check(self) -> None:
        """Refuse impossible or contradictory facts with a clear Japanese message."""
        for name, label in (
            ("welfare", "生活保護"),
            ("old_age_welfare_pension", "老齢福祉年金"),
            ("household_exempt", "世帯非課税"),
            ("self_exempt", "本人非課税"),
        ):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{label}（{name}）は真偽値で指定してください")
        for name, label in (
            ("total_income", "合計所得金額"),
            ("pension_income", "課税年金収入額"),
            ("pension_misc_income", "公的年金等に係る雑所得"),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{label}（{name}）は円単位の整数で指定してください")
            if value < 0:
                raise AssessmentError(f"{label}は0円以上で指定してください: {value:,}円")
        if self.household_exempt and not self.self_exempt:
            raise ContradictoryFacts(
                "世帯全員が住民税非課税（世帯非課税）なのに本人が課税とされています。"
                "世帯非課税なら本人も非課税です。課税状況を確認してください"
            )
        # 公的年金等に係る雑所得 = 公的年金等の収入金額 − 公的年金等控除額 (所得税法第35条第2項第1号・第4項)
        if self.pension_misc_income > self.pension_income:
            raise ContradictoryFacts(
                f"公的年金等に係る雑所得（{self.pension_misc_income:,}円）が課税年金収入額"
                f"（{self.pension_income:,}円）を超えています。雑所得は収入額から控除額を引いた額です"
            )

    @property
    def other_income(self) -> int:
        """その他の合計所得金額: 合計所得金額 − 公的年金等に係る雑所得, at least 0."""
        return max(0, self.total_income - self.pension_misc_income)

    @property
    def exempt_stage_income(self) -> int:
        """課税年金収入額 + その他の合計所得金額, compared in the 非課税 stages (施行令第38条第1項第1号等)."""
        return self.pension_income + self.other_income


@dataclass(frozen=True)
class Comparison:
    """One threshold test of the stage search: does the person fall in ``stage``'s bracket?

    E.g. 第2段階: 1,100,000円 ≤ 1,200,000円 → holds. Brackets are tried lowest first; the first
    that holds gives the stage, and the last bracket (no limit) needs no test.
    """

    stage: int
    quantity: str
    value: int
    relation: str  # "<=", ">", "<", ">=" — the relation that is true of value and threshold
    threshold: int
    holds: bool

    def text(self) -> str:
        symbol = {"<=": "≤", ">": ">", "<": "<", ">=": "≥"}[self.relation]
        verdict = f"第{self.stage}段階に該当" if self.holds else f"第{self.stage}段階ではない"
        return f"{self.quantity} {format_yen(self.value)} {symbol} {format_yen(self.threshold)} → {verdict}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "quantity": self.quantity,
            "value": self.value,
            "relation": self.relation,
            "threshold": self.threshold,
            "holds": self.holds,
        }


def _format_exact(amount: Decimal) -> str:
    """21888.000 → 21,888円; 21546.0 → 21,546円; 21289.5 → 21,289.5円 (before rounding)."""
    if amount == amount.to_integral_value():
        return f"{int(amount):,}円"
    return format(amount, ",f").rstrip("0").rstrip(".") + "円"


@dataclass(frozen=True)
class PremiumResult:
    """試算結果: the stage, the annual premium and how they were reached."""

    insurer: str
    insurer_name: str
    period: str
    fiscal_year: int
    stage: int
    stage_count: int
    category: str  # welfare | old_age_welfare_pension | household_exempt | self_exempt | taxed
    rule: str
    comparisons: tuple[Comparison, ...]
    exempt_stage_income: int | None
    base_annual: int
    base_from_table: bool
    base_note: str
    multiplier: Decimal
    exact_amount: Decimal
    rounding_name: str
    rounding_label: str
    annual_premium: int
    published_annual: int | None
    stage_label: str
    sources: tuple[tuple[str, str], ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def fiscal_year_label(self) -> str:
        return wareki_fiscal_year_label(self.fiscal_year)

    def explanation(self) -> list[str]:
        """The computation as Japanese lines for the counter."""
        lines = [
            f"{self.insurer_name}（{self.period}）{self.fiscal_year_label}（{self.fiscal_year}年度）の介護保険料（第1号被保険者）の試算",
            f"判定: {self.rule}",
        ]
        if self.exempt_stage_income is not None:
            lines.append(
                f"  判定に用いる額（課税年金収入額＋その他の合計所得金額）: {format_yen(self.exempt_stage_income)}"
            )
        lines += [f"  {c.text()}" for c in self.comparisons]
        if self.comparisons and not self.comparisons[-1].holds:
            lines.append(f"  上記のいずれにも該当しない → 第{self.stage}段階")
        lines.append(f"所得段階: 第{self.stage}段階（全{self.stage_count}段階）— {self.stage_label}")
        base = "基準額" if self.base_from_table else "指定された基準額"
        lines.append(
            f"年額: {base} {format_yen(self.base_annual)} × 割合 {self.multiplier} = {_format_exact(self.exact_amount)}"
            f" → 端数処理（{self.rounding_label}） → {format_yen(self.annual_premium)}"
        )
        if self.published_annual is not None:
            lines.append(f"  公表額 {format_yen(self.published_annual)} と一致")
        lines.append(f"基準額: {self.base_note}")
        lines += [f"出典: {title} {url}" for title, url in self.sources]
        lines += [f"注: {note}" for note in self.notes]
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of ``kiban kaigo premium simulate --json``."""
        return {
            "insurer": self.insurer,
            "insurer_name": self.insurer_name,
            "period": self.period,
            "fiscal_year": self.fiscal_year,
            "fiscal_year_label": self.fiscal_year_label,
            "stage": self.stage,
            "stage_count": self.stage_count,
            "annual_premium": self.annual_premium,
            "category": self.category,
            "rule": self.rule,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "exempt_stage_income": self.exempt_stage_income,
            "base_annual": self.base_annual,
            "base_from_table": self.base_from_table,
            "multiplier": str(self.multiplier),
            "exact_amount": str(self.exact_amount),
            "rounding": self.rounding_name,
            "rounding_label": self.rounding_label,
            "published_annual": self.published_annual,
            "stage_label": self.stage_label,
            "sources": [{"title": title, "url": url} for title, url in self.sources],
            "notes": list(self.notes),
            "explanation": self.explanation(),
        }


@dataclass(frozen=True)
class _Decision:
    stage: int
    category: str
    rule: str
    comparisons: tuple[Comparison, ...]
    exempt_stage_income: int | None


_LABEL_X = "課税年金収入額＋その他の合計所得金額"
_LABEL_TOTAL = "合計所得金額"


def _by_exempt_brackets(
    table: PremiumTable, brackets: tuple[ExemptBracket, ...], income: int, fiscal_year: int
) -> tuple[int, tuple[Comparison, ...]]:
    """The first bracket whose inclusive limit (以下) the income does not exceed."""
    tests: list[Comparison] = []
    for bracket in brackets:
        limit = table.exempt_limit(bracket, fiscal_year)
        if limit is None:
            return bracket.stage, tuple(tests)
        holds = income <= limit
        tests.append(Comparison(bracket.stage, _LABEL_X, income, "<=" if holds else ">", limit, holds))
        if holds:
            return bracket.stage, tuple(tests)
    raise AssertionError("the last bracket has no limit (checked at load)")


def _by_taxed_brackets(table: PremiumTable, income: int) -> tuple[int, tuple[Comparison, ...]]:
    tests: list[Comparison] = []
    for bracket in table.taxed:
        if bracket.below is None:
            return bracket.stage, tuple(tests)
        holds = income < bracket.below
        tests.append(
            Comparison(bracket.stage, _LABEL_TOTAL, income, "<" if holds else ">=", bracket.below, holds)
        )
        if holds:
            return bracket.stage, tuple(tests)
    unverified = table.unverified_taxed
    assert unverified is not None  # checked at load: brackets end where the unverified range starts
    raise UnverifiedStage(
        f"{table.name}（{table.period}）の本人課税・合計所得金額 {format_yen(unverified.start)} 以上"
        f"（{unverified.stages}）は、{unverified.reason}ため試算できません"
        f"（合計所得金額 {format_yen(income)}）。docs/kaigo-premium-rules.md を参照してください"
    )


def _decide(table: PremiumTable, facts: PremiumFacts, fiscal_year: int) -> _Decision:
    if facts.welfare:
        # 被保護者は第1段階 (施行令第38条第1項第1号), whatever the household's tax status.
        return _Decision(table.welfare_stage, "welfare", "生活保護の被保護者（第1段階）", (), None)
    if facts.old_age_welfare_pension and facts.household_exempt:
        return _Decision(
            table.old_age_welfare_pension_stage,
            "old_age_welfare_pension",
            "老齢福祉年金の受給者で世帯全員が住民税非課税（第1段階）",
            (),
            None,
        )
    if facts.household_exempt:
        income = facts.exempt_stage_income
        stage, tests = _by_exempt_brackets(table, table.household_exempt, income, fiscal_year)
        return _Decision(stage, "household_exempt", "世帯全員が住民税非課税（世帯非課税）", tests, income)
    if facts.self_exempt:
        income = facts.exempt_stage_income
        stage, tests = _by_exempt_brackets(table, table.self_exempt, income, fiscal_year)
        return _Decision(
            stage,
            "self_exempt",
            "本人は住民税非課税、世帯に課税者がいる（本人非課税・世帯課税）",
            tests,
            income,
        )
    stage, tests = _by_taxed_brackets(table, facts.total_income)
    return _Decision(stage, "taxed", "本人が住民税課税（合計所得金額で判定）", tests, None)


def assess_premium(
    table: PremiumTable, facts: PremiumFacts, fiscal_year: int, *, base_annual: int | None = None
) -> PremiumResult:
    """所得段階と年額保険料 of ``facts`` in 年度 ``fiscal_year`` under ``table``.

    ``base_annual`` replaces the table's 基準額 (the national standard has none of its own).
    Raises :class:`FiscalYearNotCovered`, :class:`ContradictoryFacts`, :class:`UnverifiedStage`
    or :class:`AssessmentError`.
    """
    facts.check()
    table.require_year(fiscal_year)
    if base_annual is not None and (
        isinstance(base_annual, bool) or not isinstance(base_annual, int) or base_annual <= 0
    ):
        raise AssessmentError(f"基準額は1円以上の整数で指定してください: {base_annual!r}")
    decision = _decide(table, facts, fiscal_year)
    rate: StageRate = table.rate(decision.stage)
    base = table.base_annual if base_annual is None else base_annual
    exact = Decimal(base) * rate.multiplier  # exact: an int times a short decimal
    annual = multiply(base, rate.multiplier, table.rounding)
    from_table = base == table.base_annual
    published = rate.published_annual if from_table else None
    cited = {table.base_source, rate.source}
    return PremiumResult(
        insurer=table.key,
        insurer_name=table.name,
        period=table.period,
        fiscal_year=fiscal_year,
        stage=decision.stage,
        stage_count=table.stage_count,
        category=decision.category,
        rule=decision.rule,
        comparisons=decision.comparisons,
        exempt_stage_income=decision.exempt_stage_income,
        base_annual=base,
        base_from_table=from_table,
        base_note=table.base_note if from_table else "試算のため指定された額",
        multiplier=rate.multiplier,
        exact_amount=exact,
        rounding_name=table.rounding.name,
        rounding_label=table.rounding.label,
        annual_premium=annual,
        published_annual=published,
        stage_label=rate.label,
        sources=tuple((s.title, s.url) for key, s in table.sources.items() if key in cited),
        notes=table.notes,
    )


def simulate(
    insurer: str, fiscal_year: int, facts: PremiumFacts, *, base_annual: int | None = None
) -> PremiumResult:
    """窓口の試算: :func:`assess_premium` on the shipped table ``insurer`` (:class:`UnknownInsurer`)."""
    return assess_premium(load_table(insurer), facts, fiscal_year, base_annual=base_annual)
