"""介護保険 第1号保険料: the stage rules and every shipped table against its published figures (no database).

Sources (see docs/kaigo-premium-rules.md):
  KUMAMOTO = 熊本市「65歳以上の方の介護保険料」保険料所得段階表（令和7年度）
             https://www.city.kumamoto.jp/hpkiji/pub/detail.aspx?c_id=5&id=9042
  KORIYAMA = 郡山市「介護保険の保険料」第1号被保険者の保険料額（令和6~8年度）
             https://www.city.koriyama.lg.jp/soshiki/68/2218.html (and …/2219.html)
  STANDARD = 国の標準段階: 和歌山県美浜町 http://www.town.wakayama-mihama.lg.jp/docs/2014011800472/ (stages 1–10),
             北九州市 https://ssl.city.kitakyushu.lg.jp/ho-huku/file_0413.html (stages 9–13, 420/520/620/720万円),
             80.9万円 from FY2025 (京都医報 2025-03-01), 82.65万円 from FY2026 (令和7年政令第394号, 介護保険最新情報 Vol.1443),
             base 6,225円/月 (厚生労働省 第9期 第1号保険料 全国加重平均, https://www.mhlw.go.jp/stf/newpage_40211.html)
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from kiban.kaigo.assessment.model import (
    AssessmentError,
    ContradictoryFacts,
    FiscalYearNotCovered,
    PremiumFacts,
    UnknownInsurer,
    UnverifiedStage,
    assess_premium,
    simulate,
)
from kiban.rules.kaigo_premium import PremiumTableError, _check, load_table, table_keys
from kiban.shared.money import Rounding, multiply

HOUSEHOLD_EXEMPT = PremiumFacts(household_exempt=True, self_exempt=True)
SELF_EXEMPT = PremiumFacts(self_exempt=True)
TAXED = PremiumFacts()

# 基準所得金額 of stages 1 and 4 per fiscal year (STANDARD; the cities publish 80万 / 80.9万 themselves).
LOW = {2024: 800_000, 2025: 809_000, 2026: 826_500}


def stage_of(insurer: str, year: int, facts: PremiumFacts) -> int:
    return simulate(insurer, year, facts).stage


def with_pension(facts: PremiumFacts, pension_income: int) -> PremiumFacts:
    return replace(facts, pension_income=pension_income)


def with_total(facts: PremiumFacts, total_income: int) -> PremiumFacts:
    return replace(facts, total_income=total_income)


def assert_exempt_boundaries(insurer: str, year: int, low: int) -> None:
    """Just below, at and just above 基準所得金額 (以下) and 120万円 (以下) in both 非課税 groups."""
    household = [(low - 1, 1), (low, 1), (low + 1, 2), (1_199_999, 2), (1_200_000, 2), (1_200_001, 3)]
    for pension, stage in household:
        assert stage_of(insurer, year, with_pension(HOUSEHOLD_EXEMPT, pension)) == stage, (year, pension)
    for pension, stage in ((low - 1, 4), (low, 4), (low + 1, 5), (5_000_000, 5)):
        assert stage_of(insurer, year, with_pension(SELF_EXEMPT, pension)) == stage, (year, pension)


def test_shipped_tables() -> None:
    assert set(table_keys()) >= {"standard", "kumamoto", "koriyama"}
    assert load_table("standard").stage_count == 13
    assert load_table("kumamoto").stage_count == 15  # KUMAMOTO: 「第1段階から第15段階」
    assert load_table("koriyama").stage_count == 13  # KORIYAMA: 「13段階に区分されます」
    assert load_table("kumamoto").base_annual == 76_800  # KUMAMOTO 第5段階 年額
    assert load_table("koriyama").base_annual == 75_600  # KORIYAMA 第5段階 年額
    assert load_table("standard").base_annual == 74_700  # 6,225円 × 12 (MHLW average, not a real insurer)


# ── Decimal exactness ──────────────────────────────────────────────────────────────────────────


def test_decimal_exactness() -> None:
    assert multiply(76_800, Decimal("0.285"), Rounding.TRUNCATE) == 21_888
    result = simulate("kumamoto", 2025, HOUSEHOLD_EXEMPT)
    assert (result.stage, result.annual_premium) == (1, 21_888)
    assert result.exact_amount == Decimal("21888")  # exactly, not 21887.999…
    assert isinstance(result.multiplier, Decimal) and str(result.multiplier) == "0.285"


def test_every_multiplier_is_a_decimal_string() -> None:
    for key in table_keys():
        for rate in load_table(key).stages.values():
            assert isinstance(rate.multiplier, Decimal)
            assert rate.multiplier == Decimal(str(rate.multiplier))


# ── the national standard (STANDARD) ───────────────────────────────────────────────────────────

STANDARD_MULTIPLIERS = {
    1: "0.285", 2: "0.485", 3: "0.685", 4: "0.9", 5: "1.0", 6: "1.2", 7: "1.3",
    8: "1.5", 9: "1.7", 10: "1.9", 11: "2.1", 12: "2.3", 13: "2.4",
}  # fmt: skip


def test_standard_multipliers_after_public_reduction() -> None:
    table = load_table("standard")
    assert {s: str(r.multiplier) for s, r in table.stages.items()} == STANDARD_MULTIPLIERS


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_standard_exempt_boundaries(year: int) -> None:
    assert_exempt_boundaries("standard", year, LOW[year])


STANDARD_TAXED_LIMITS = [  # (threshold 以上 → stage; below it the stage before)
    (1_200_000, 7), (2_100_000, 8), (3_200_000, 9), (4_200_000, 10),
    (5_200_000, 11), (6_200_000, 12), (7_200_000, 13),
]  # fmt: skip


@pytest.mark.parametrize("year", [2024, 2025, 2026])
@pytest.mark.parametrize(("threshold", "stage"), STANDARD_TAXED_LIMITS)
def test_standard_taxed_boundaries(year: int, threshold: int, stage: int) -> None:
    assert stage_of("standard", year, with_total(TAXED, threshold - 1)) == stage - 1
    assert stage_of("standard", year, with_total(TAXED, threshold)) == stage
    assert stage_of("standard", year, with_total(TAXED, threshold + 1)) == stage


def test_standard_lowest_taxed_and_top() -> None:
    assert stage_of("standard", 2025, TAXED) == 6
    assert stage_of("standard", 2025, with_total(TAXED, 100_000_000)) == 13


@pytest.mark.parametrize(("stage", "multiplier"), sorted(STANDARD_MULTIPLIERS.items()))
def test_standard_amounts_on_the_default_and_a_given_base(stage: int, multiplier: str) -> None:
    table = load_table("standard")
    facts = _facts_for_standard_stage(stage)
    default = assess_premium(table, facts, 2025)
    assert default.stage == stage
    assert default.annual_premium == multiply(74_700, Decimal(multiplier), Rounding.TRUNCATE)
    assert default.exact_amount == Decimal(74_700) * Decimal(multiplier)
    given = assess_premium(table, facts, 2025, base_annual=76_800)
    assert given.annual_premium == multiply(76_800, Decimal(multiplier), Rounding.TRUNCATE)
    assert not given.base_from_table and given.published_annual is None


def test_standard_fractional_amount_is_truncated() -> None:
    result = simulate("standard", 2025, HOUSEHOLD_EXEMPT)
    assert result.exact_amount == Decimal("21289.5")  # 74,700 × 0.285
    assert result.annual_premium == 21_289


def _facts_for_standard_stage(stage: int) -> PremiumFacts:
    exempt = {1: 0, 2: 1_000_000, 3: 1_500_000}
    if stage in exempt:
        return with_pension(HOUSEHOLD_EXEMPT, exempt[stage])
    if stage in (4, 5):
        return with_pension(SELF_EXEMPT, 0 if stage == 4 else 1_000_000)
    totals = {6: 0} | {s: t for t, s in STANDARD_TAXED_LIMITS}
    return with_total(TAXED, totals[stage])


# ── 熊本市 (KUMAMOTO) ───────────────────────────────────────────────────────────────────────────

# Published 保険料年額 per stage, KUMAMOTO 保険料所得段階表（令和7年度（2025年度））.
KUMAMOTO_PUBLISHED = {
    1: ("0.285", 21_888),  # 月額 1,824円
    2: ("0.37", 28_416),  # 月額 2,368円
    3: ("0.645", 49_536),  # 月額 4,128円
    4: ("0.875", 67_200),  # 月額 5,600円
    5: ("1", 76_800),  # 月額 6,400円 (基準段階)
    6: ("1.1", 84_480),  # 月額 7,040円
    7: ("1.3", 99_840),  # 月額 8,320円
    8: ("1.5", 115_200),  # 月額 9,600円
}
KUMAMOTO_FACTS = {
    1: with_pension(HOUSEHOLD_EXEMPT, 809_000),
    2: with_pension(HOUSEHOLD_EXEMPT, 1_200_000),
    3: with_pension(HOUSEHOLD_EXEMPT, 1_200_001),
    4: with_pension(SELF_EXEMPT, 809_000),
    5: with_pension(SELF_EXEMPT, 809_001),
    6: with_total(TAXED, 1_199_999),
    7: with_total(TAXED, 2_099_999),
    8: with_total(TAXED, 3_199_999),
}


@pytest.mark.parametrize("stage", sorted(KUMAMOTO_PUBLISHED))
def test_kumamoto_published_amount(stage: int) -> None:
    multiplier, published = KUMAMOTO_PUBLISHED[stage]
    result = simulate("kumamoto", 2025, KUMAMOTO_FACTS[stage])
    assert result.stage == stage
    assert str(result.multiplier) == multiplier
    assert result.annual_premium == published
    assert result.published_annual == published
    assert multiply(76_800, Decimal(multiplier), Rounding.TRUNCATE) == published  # exact products


@pytest.mark.parametrize(("year", "low"), [(2024, 800_000), (2025, 809_000)])
def test_kumamoto_exempt_boundaries(year: int, low: int) -> None:
    # KUMAMOTO: 「80.9万円以下」「80.9万円を超え、120万円以下」「120万円を超える」 (令和6年度: 80万円)
    assert_exempt_boundaries("kumamoto", year, low)


@pytest.mark.parametrize(("threshold", "stage"), [(1_200_000, 7), (2_100_000, 8)])
def test_kumamoto_taxed_boundaries(threshold: int, stage: int) -> None:
    assert stage_of("kumamoto", 2025, with_total(TAXED, threshold - 1)) == stage - 1
    assert stage_of("kumamoto", 2025, with_total(TAXED, threshold)) == stage
    assert stage_of("kumamoto", 2025, with_total(TAXED, threshold + 1)) == stage


def test_kumamoto_stages_from_320man_are_not_shipped() -> None:
    """KUMAMOTO's stages 9–15 could not be read: a 試算 there is refused, never guessed."""
    assert stage_of("kumamoto", 2025, with_total(TAXED, 3_199_999)) == 8
    for total in (3_200_000, 3_200_001, 50_000_000):
        with pytest.raises(UnverifiedStage, match="第9段階〜第15段階"):
            simulate("kumamoto", 2025, with_total(TAXED, total))


# ── 郡山市 (KORIYAMA) ───────────────────────────────────────────────────────────────────────────

# Published 年額 per stage, KORIYAMA (2218.html; the same amounts on 2219.html).
KORIYAMA_PUBLISHED = {
    1: ("0.285", 21_550),  # 月額 1,796円; 75,600 × 0.285 = 21,546 → 10円単位 21,550
    2: ("0.485", 36_670),  # 月額 3,056円; 36,666 → 36,670
    3: ("0.685", 51_790),  # 月額 4,316円; 51,786 → 51,790
    4: ("0.85", 64_260),  # 月額 5,355円
    5: ("1.0", 75_600),  # 月額 6,300円 (基準額)
    6: ("1.2", 90_720),  # 月額 7,560円 (割合は年額から)
    7: ("1.3", 98_280),  # 月額 8,190円
}
KORIYAMA_FACTS = {
    1: with_pension(HOUSEHOLD_EXEMPT, 800_000),
    2: with_pension(HOUSEHOLD_EXEMPT, 800_001),
    3: with_pension(HOUSEHOLD_EXEMPT, 1_200_001),
    4: with_pension(SELF_EXEMPT, 800_000),
    5: with_pension(SELF_EXEMPT, 800_001),
    6: with_total(TAXED, 1_199_999),
    7: with_total(TAXED, 1_200_000),
}


@pytest.mark.parametrize("stage", sorted(KORIYAMA_PUBLISHED))
def test_koriyama_published_amount(stage: int) -> None:
    multiplier, published = KORIYAMA_PUBLISHED[stage]
    result = simulate("koriyama", 2024, KORIYAMA_FACTS[stage])
    assert result.stage == stage
    assert str(result.multiplier) == multiplier
    assert result.annual_premium == published == result.published_annual


def test_koriyama_rounds_to_10_yen_not_down() -> None:
    result = simulate("koriyama", 2025, HOUSEHOLD_EXEMPT)
    assert result.exact_amount == Decimal("21546")
    assert result.annual_premium == 21_550  # KORIYAMA 第1段階 年額21,550円
    assert multiply(75_600, Decimal("0.285"), Rounding.TRUNCATE_10) == 21_540  # 切捨て would not match


@pytest.mark.parametrize(("year", "low"), [(2024, 800_000), (2025, 809_000)])
def test_koriyama_exempt_boundaries(year: int, low: int) -> None:
    # KORIYAMA: 「令和6年度は80万円、令和7年度以降は80万9千円」「…を超えて120万円以下」
    assert_exempt_boundaries("koriyama", year, low)


def test_koriyama_taxed_boundaries_and_unshipped_range() -> None:
    assert stage_of("koriyama", 2025, with_total(TAXED, 1_199_999)) == 6
    assert stage_of("koriyama", 2025, with_total(TAXED, 1_200_000)) == 7
    assert stage_of("koriyama", 2025, with_total(TAXED, 1_200_001)) == 7
    assert stage_of("koriyama", 2025, with_total(TAXED, 2_099_999)) == 7
    for total in (2_100_000, 2_100_001):
        with pytest.raises(UnverifiedStage, match="第8段階〜第13段階"):
            simulate("koriyama", 2025, with_total(TAXED, total))


# ── the rules common to every table ────────────────────────────────────────────────────────────


@pytest.mark.parametrize("insurer", ["standard", "kumamoto", "koriyama"])
def test_welfare_and_old_age_welfare_pension_are_stage_1(insurer: str) -> None:
    assert stage_of(insurer, 2025, PremiumFacts(welfare=True)) == 1
    assert (
        stage_of(insurer, 2025, PremiumFacts(welfare=True, self_exempt=True, pension_income=3_000_000)) == 1
    )
    pension = replace(HOUSEHOLD_EXEMPT, old_age_welfare_pension=True, pension_income=1_500_000)
    assert stage_of(insurer, 2025, pension) == 1
    # 老齢福祉年金 alone does not make stage 1 when someone in the household is taxed.
    assert stage_of(insurer, 2025, replace(SELF_EXEMPT, old_age_welfare_pension=True)) == 4


def test_exempt_stage_income_is_pension_income_plus_other_income() -> None:
    # 課税年金収入額 700,000 + (合計所得金額 900,000 − 公的年金等に係る雑所得 100,000) = 1,500,000
    facts = replace(
        HOUSEHOLD_EXEMPT, pension_income=700_000, total_income=900_000, pension_misc_income=100_000
    )
    result = simulate("standard", 2025, facts)
    assert result.exempt_stage_income == 1_500_000 and result.stage == 3
    # その他の合計所得金額 never goes below 0 (e.g. a loss elsewhere).
    floored = replace(
        HOUSEHOLD_EXEMPT, pension_income=800_000, total_income=100_000, pension_misc_income=300_000
    )
    assert floored.other_income == 0
    assert simulate("standard", 2024, floored).stage == 1


def test_taxed_stage_uses_total_income_only() -> None:
    facts = replace(TAXED, total_income=1_000_000, pension_income=5_000_000, pension_misc_income=1_000_000)
    assert simulate("standard", 2025, facts).stage == 6


def test_contradictory_facts_are_refused() -> None:
    with pytest.raises(ContradictoryFacts, match="世帯非課税"):
        simulate("standard", 2025, PremiumFacts(household_exempt=True))
    with pytest.raises(ContradictoryFacts, match="雑所得"):
        simulate("standard", 2025, replace(SELF_EXEMPT, pension_income=100, pension_misc_income=101))
    with pytest.raises(AssessmentError, match="0円以上"):
        simulate("standard", 2025, replace(TAXED, total_income=-1))
    with pytest.raises(TypeError):
        simulate("standard", 2025, replace(TAXED, total_income=1.5))  # type: ignore[arg-type]


def test_unknown_insurer_and_years_outside_the_table() -> None:
    with pytest.raises(UnknownInsurer, match="nagoya"):
        simulate("nagoya", 2025, TAXED)
    for insurer, year in (("standard", 2023), ("standard", 2027), ("kumamoto", 2026), ("koriyama", 2026)):
        with pytest.raises(FiscalYearNotCovered, match=str(year)):
            simulate(insurer, year, TAXED)


def test_result_explains_itself() -> None:
    result = simulate("kumamoto", 2025, with_total(TAXED, 2_100_000))
    text = "\n".join(result.explanation())
    assert "第8段階" in text and "115,200円" in text and "76,800円" in text and "1.5" in text
    assert "令和7年度" in text and "city.kumamoto.jp" in text
    data = result.to_dict()
    assert data["stage"] == 8 and data["annual_premium"] == 115_200
    assert [c["holds"] for c in data["comparisons"]] == [False, False, True]
    assert data["comparisons"][-1] == {
        "stage": 8, "quantity": "合計所得金額", "value": 2_100_000, "relation": "<", "threshold": 3_200_000, "holds": True,
    }  # fmt: skip


def test_a_table_contradicting_its_published_amount_is_refused() -> None:
    table = load_table("kumamoto")
    rate = table.stages[1]
    broken = replace(table, stages={**table.stages, 1: replace(rate, published_annual=21_887)})
    with pytest.raises(PremiumTableError, match="published amount is 21887"):
        _check(broken)
