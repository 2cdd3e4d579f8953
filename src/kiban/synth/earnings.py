"""How much each synthetic resident earns (収入の分布): salaries, public pensions, other income.

The shapes are deliberately simple but realistic in the places later business rules care about:
- working age: mostly salaries (国税庁「民間給与実態統計調査」令和5年分: 平均 男性569万円 女性316万円,
  with a low peak for 60+), many part-time wives just under the 103万円/123万円 walls, some 自営 with
  事業所得 instead, students with small part-time pay;
- 65 and over: almost everyone has a public pension (厚生労働省「厚生年金保険・国民年金事業の概況」
  令和5年度: 厚生年金 (基礎年金を含む) 平均 月14.6万円 ≈ 175万円/年, 国民年金のみ 平均 月5.7万円 ≈ 69万円/年,
  women far lower than men); some still work (労働力調査: 65–69歳 就業率 52%, 70–74歳 34%);
- children have nothing; 生活保護 adults have very little.
Amounts are int yen (architecture.md §4).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

from kiban.synth.households import FEMALE, MALE

MAN: Final = 10_000


@dataclass(slots=True)
class Earnings:
    """A person's yearly amounts for the most recent income year (earlier years are derived)."""

    salary: int = 0  # 給与収入
    pension: int = 0  # 公的年金等の収入金額 (課税対象のもの; 遺族・障害年金は非課税で含まない)
    other: int = 0  # その他の所得 (事業所得・不動産所得など, already net of expenses)
    early_pension: bool = False  # 繰上げ / 特別支給: a pension before 65


# Median full-time salary (万円) by age band (first age of the band) for men and women; 民間給与実態統計調査
# 令和5年分 年齢階層別平均給与 read down by about 10% to turn means into medians.
_FULLTIME_MEDIAN_BANDS: Final = {
    MALE: ((15, 150), (20, 260), (25, 360), (30, 420), (35, 470), (40, 510), (45, 550), (50, 580), (55, 570), (60, 400), (65, 260), (70, 190)),
    FEMALE: ((15, 140), (20, 250), (25, 310), (30, 320), (50, 310), (55, 300), (60, 240), (65, 180), (70, 150)),
}  # fmt: skip
# Share of people with a salary by age band (労働力調査 2024 就業率, slightly lowered for 自営).
_EMPLOYED_BANDS: Final = {
    MALE: ((15, 0.2), (18, 0.45), (22, 0.86), (60, 0.76), (65, 0.5), (70, 0.3), (75, 0.08), (80, 0.02)),
    FEMALE: ((15, 0.22), (18, 0.48), (22, 0.72), (60, 0.55), (65, 0.33), (70, 0.18), (75, 0.04), (80, 0.01)),
}


def _by_age(bands: tuple[tuple[int, float], ...]) -> tuple[float, ...]:
    """Expand (first age, value) bands into one value per whole year of age 0–110 (a hot-path lookup)."""
    return tuple(next((v for start, v in reversed(bands) if age >= start), bands[0][1]) for age in range(111))


_FULLTIME_MEDIAN: Final = {sex: _by_age(bands) for sex, bands in _FULLTIME_MEDIAN_BANDS.items()}
_EMPLOYED: Final = {sex: _by_age(bands) for sex, bands in _EMPLOYED_BANDS.items()}


def draw(rng: random.Random, sex: int, age: float, *, welfare: bool) -> Earnings:
    """Draw the amounts of one person aged ``age`` (at the city's as_of date)."""
    e = Earnings()
    if age < 15:
        return e
    if welfare:
        # 生活保護: earned income is small and mostly deducted from the benefit; pensions are partial.
        if age < 65 and rng.random() < 0.2:
            e.salary = int(rng.uniform(20, 110) * MAN)
        if age >= 65 and rng.random() < 0.6:
            e.pension = int(rng.uniform(20, 75) * MAN) // 100 * 100
        return e
    if age >= 60:
        e.pension = _pension(rng, sex)
        if age < 65:
            # Most people start at 65; a few take it early (繰上げ) or have 特別支給の老齢厚生年金.
            if rng.random() < 0.12:
                e.early_pension = True
                e.pension = e.pension * 7 // 10
            else:
                e.pension = 0
    if 25 <= age < 75 and rng.random() < 0.06:
        # 自営業 (事業所得) in place of a salary; smaller for those already drawing a pension.
        e.other = int(rng.lognormvariate(0.0, 0.7) * (250 if age < 65 else 120) * MAN)
        return e
    if age >= 60 and rng.random() < 0.05:
        e.other = int(rng.uniform(20, 200) * MAN)  # 不動産所得 of older landlords
    if rng.random() < _EMPLOYED[sex][int(age)]:
        e.salary = _salary(rng, sex, age)
    return e


def _salary(rng: random.Random, sex: int, age: float) -> int:
    if age < 22:
        return int(rng.uniform(20, 130) * MAN)  # students' part-time pay
    part_time = 0.45 if sex != MALE else 0.08 if age < 60 else 0.3
    if rng.random() < part_time:
        # パート: many keep under the 103万円 (now 123万円) and 130万円 (社会保険) walls.
        if rng.random() < 0.55:
            return int(rng.uniform(60, 103) * MAN)
        return int(rng.uniform(40, 200) * MAN)
    median = _FULLTIME_MEDIAN[sex][int(age)]
    return int(rng.lognormvariate(0.0, 0.38) * median * MAN)


def _pension(rng: random.Random, sex: int) -> int:
    """Yearly taxable 公的年金等 of a pensioner (int yen, multiple of 100)."""
    if sex == MALE:
        if rng.random() < 0.15:
            amount = rng.uniform(
                45, 82
            )  # 国民年金 (老齢基礎年金) only; 満額 about 82万円 (令和6年度 816,000円)
        else:
            amount = min(max(rng.lognormvariate(0.0, 0.25) * 195, 95), 340)
    elif rng.random() < 0.45:
        amount = rng.uniform(40, 82)
    else:
        amount = min(max(rng.lognormvariate(0.0, 0.3) * 120, 70), 260)
    return int(amount * MAN) // 100 * 100


def for_income_year(rng: random.Random, e: Earnings, years_back: int) -> tuple[int, int, int]:
    """(salary, pension, other) ``years_back`` years before the latest income year."""
    if years_back == 0:
        return e.salary, e.pension, e.other
    salary = int(e.salary * rng.uniform(0.94, 1.03)) if e.salary else 0
    # 年金額改定: +2.7% (令和6年度), +1.9% (令和7年度) — the earlier year was about 2–3% lower.
    pension = e.pension * 97 // 100 // 100 * 100 if e.pension else 0
    other = int(e.other * rng.uniform(0.8, 1.15)) if e.other else 0
    return salary, pension, other
