"""給付制限 (benefit restrictions) for a 第1号被保険者 with 介護保険料 arrears: 介護保険法第66条〜第69条.

Pure rules, no database.  Statuses are evaluated **as of a reference date** ``on``: an
installment counts as unpaid on ``on`` if it has no ``paid_on`` or was paid after ``on``.
A late payment therefore changes nothing for reference dates before it (nothing is
lifted retroactively), while from the payment day on it no longer counts, and once no
qualifying installment remains the condition is gone (介護保険法第66条第3項: the
市町村 removes the 支払方法変更の記載 when the arrears are 完納 — the discretionary
「著しく減少」 case is not modelled).  Whether a 処分 was actually made (予告, 弁明の機会,
被保険者証への記載, 適用開始日) is the caller's business; these functions answer "does
the statutory condition hold on ``on``, and since when".

* 第66条 支払方法の変更（償還払い化）: 保険料を滞納し、納期限から1年間（介護保険法施行規則で
  定める期間）が経過するまでの間に納付しない。  Period counted from the day after the
  納期限 (民法第140条) by the calendar (民法第143条): 納期限 2023-07-31 → 1年 =
  2023-08-01〜2024-07-31 → the condition holds from 2024-08-01 if still unpaid.
* 第67条 保険給付の一時差止: the same with 1年6か月 → 2023-08-01〜2025-01-31 → from
  2025-02-01.
* Both are excluded where there is a 特別の事情 (介護保険法施行令第30条 etc.: 災害による財産の
  著しい損害, 生計維持者の死亡・長期入院, 事業の休廃止, 農作物の不作 …) —
  ``special_circumstances=True``.  Installments already extinguished by 時効 are no longer
  滞納 in this sense; they feed 第69条 instead.
* 第69条 給付額減額: where 保険料徴収権消滅期間 exist in the 計算対象期間 (the 10 years up to the
  reference date, by 納期限), the 給付率 is lowered to 7割 (負担3割) — 6割 (負担4割) for a
  person whose normal 負担 is 3割 (since 2018-08) — for a number of months computed by
  :func:`reduction_period`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction
from typing import Literal

from kiban.collection.prescription import period_end
from kiban.shared.fiscal import fiscal_year
from kiban.shared.money import format_yen

__all__ = [
    "BENEFIT_SUSPENSION_MONTHS",
    "PAYMENT_METHOD_CHANGE_MONTHS",
    "REDUCTION_LOOKBACK_YEARS",
    "Installment",
    "ReductionPeriod",
    "RestrictionStatus",
    "condition_date",
    "reduction_period",
    "restriction_status",
]

_ONE_DAY = timedelta(days=1)

# 介護保険法第66条第1項・同法施行規則: 納期限から1年間.
PAYMENT_METHOD_CHANGE_MONTHS = 12
# 介護保険法第67条第1項・同法施行規則: 納期限から1年6月間.
BENEFIT_SUSPENSION_MONTHS = 18
# 介護保険法第69条・同法施行規則: 計算対象期間 = 基準日から遡って10年間.
REDUCTION_LOOKBACK_YEARS = 10


@dataclass(frozen=True)
class Installment:
    """One 期別 of 介護保険料 (保険料の期別).

    ``amount`` is the 調定額 in 円.  ``paid_on`` is the day it was paid in full (None:
    unpaid) — split a partly paid 期別 into a paid and an unpaid record.
    ``extinguished_on`` is the first day on which its 徴収権 no longer exists by 時効
    (:attr:`kiban.collection.prescription.PrescriptionResult.extinguished_on`), None if
    not prescribed.  ``fiscal_year`` is its 調定年度 (default: the 年度 of the 納期限).
    """

    due_date: date
    amount: int
    paid_on: date | None = None
    extinguished_on: date | None = None
    fiscal_year: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount <= 0:
            raise ValueError(f"保険料額は正の整数（円）でなければなりません: {self.amount!r}")
        if self.extinguished_on is not None:
            if self.extinguished_on <= self.due_date:
                raise ValueError("時効消滅日が納期限以前です")
            if self.paid_on is not None and self.paid_on >= self.extinguished_on:
                raise ValueError("時効消滅後の納付は記録できません（過誤納として還付の対象）")

    @property
    def assessment_year(self) -> int:
        """The 調定年度 of this installment."""
        return self.fiscal_year if self.fiscal_year is not None else fiscal_year(self.due_date)

    def is_paid_by(self, on: date) -> bool:
        """Whether the installment had been paid on or before ``on``."""
        return self.paid_on is not None and self.paid_on <= on

    def is_extinguished_by(self, on: date) -> bool:
        """Whether the 徴収権 had been extinguished by 時効 on or before ``on``."""
        return self.extinguished_on is not None and self.extinguished_on <= on and not self.is_paid_by(on)

    def is_in_arrears_on(self, on: date) -> bool:
        """Whether it is 滞納 on ``on``: past its 納期限, unpaid, and not yet prescribed."""
        return self.due_date < on and not self.is_paid_by(on) and not self.is_extinguished_by(on)


def condition_date(due_date: date, months: int) -> date:
    """Return the first day on which an installment unpaid since ``due_date`` has been so for ``months``.

    The period 「納期限から○月が経過するまでの間」 starts the day after the 納期限
    (民法第140条) and ends per 民法第143条; the condition holds from the next day.
    ``condition_date(date(2023, 7, 31), 12)`` → 2024-08-01.
    """
    return period_end(due_date + _ONE_DAY, months=months) + _ONE_DAY


@dataclass(frozen=True)
class RestrictionStatus:
    """給付制限の判定結果 as of ``on`` (第66条 支払方法変更, 第67条 一時差止).

    For each measure: whether its condition holds, the qualifying installment (the oldest
    one in arrears) and the earliest date from which the condition has held continuously.
    """

    on: date
    payment_method_change: bool
    payment_method_change_installment: Installment | None
    payment_method_change_from: date | None
    benefit_suspension: bool
    benefit_suspension_installment: Installment | None
    benefit_suspension_from: date | None
    special_circumstances: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)


def _oldest_qualifying(installments: Iterable[Installment], on: date, months: int) -> Installment | None:
    qualifying = [
        i for i in installments if i.is_in_arrears_on(on) and condition_date(i.due_date, months) <= on
    ]
    return min(qualifying, key=lambda i: i.due_date, default=None)


def restriction_status(
    installments: Sequence[Installment],
    on: date,
    *,
    special_circumstances: bool = False,
) -> RestrictionStatus:
    """Return whether 支払方法変更 (第66条) and 保険給付の一時差止 (第67条) conditions hold on ``on``."""
    change = _oldest_qualifying(installments, on, PAYMENT_METHOD_CHANGE_MONTHS)
    suspension = _oldest_qualifying(installments, on, BENEFIT_SUSPENSION_MONTHS)
    reasons: list[str] = []

    if special_circumstances and (change is not None or suspension is not None):
        reasons.append(
            "特別の事情（災害、生計維持者の死亡等。介護保険法施行令第30条等）があるため、"
            "支払方法の変更及び保険給付の一時差止は行わない"
        )
        return RestrictionStatus(on, False, None, None, False, None, None, True, tuple(reasons))

    change_from = condition_date(change.due_date, PAYMENT_METHOD_CHANGE_MONTHS) if change else None
    suspension_from = condition_date(suspension.due_date, BENEFIT_SUSPENSION_MONTHS) if suspension else None
    if change is not None:
        reasons.append(
            f"納期限 {change.due_date} の保険料（{format_yen(change.amount)}）を納期限から1年が経過するまでに"
            f"納付していないため、{change_from} から支払方法の変更（償還払い）の対象（介護保険法第66条）"
        )
    else:
        reasons.append(f"{on} 時点で納期限から1年を経過した滞納保険料はない（支払方法の変更の対象外）")
    if suspension is not None:
        reasons.append(
            f"納期限 {suspension.due_date} の保険料（{format_yen(suspension.amount)}）を納期限から1年6か月が"
            f"経過するまでに納付していないため、{suspension_from} から保険給付の一時差止の対象（介護保険法第67条）"
        )
    else:
        reasons.append(
            f"{on} 時点で納期限から1年6か月を経過した滞納保険料はない（保険給付の一時差止の対象外）"
        )
    return RestrictionStatus(
        on=on,
        payment_method_change=change is not None,
        payment_method_change_installment=change,
        payment_method_change_from=change_from,
        benefit_suspension=suspension is not None,
        benefit_suspension_installment=suspension,
        benefit_suspension_from=suspension_from,
        special_circumstances=special_circumstances,
        reasons=tuple(reasons),
    )


@dataclass(frozen=True)
class ReductionPeriod:
    """給付額減額 (第69条): the number of months and the lowered 給付率.

    ``extinguished_years`` / ``paid_years`` are the 保険料徴収権消滅期間 and 保険料納付済期間
    in years (per 調定年度: the share of that year's 調定額 extinguished / paid).  When
    ``months`` is 0 the normal 給付率 applies and is reported.
    """

    months: int
    benefit_rate_percent: int
    copay_percent: int
    extinguished_years: Fraction
    paid_years: Fraction
    explanation: tuple[str, ...] = field(default_factory=tuple)


def _years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 2月29日 → 2月28日
        return d.replace(year=d.year - years, day=28)


def reduction_period(
    installments: Sequence[Installment],
    on: date,
    *,
    normal_copay_tenths: Literal[1, 2, 3] = 1,
) -> ReductionPeriod:
    """Return the 給付額減額期間 (months) and 給付率 for a 認定 on ``on`` (介護保険法第69条).

    計算対象期間: installments whose 納期限 lies in [``on`` − 10年, ``on``].  For each
    調定年度 with 調定額 T, extinguished amount E and amount paid by ``on`` P, that year
    contributes E/T to X (徴収権消滅期間, years) and P/T to Y (納付済期間, years).  Then

        給付額減額期間（月） = X × X ÷ (X + Y) × 1/2 × 12   (1か月未満切り捨て)

    The 給付率 during the period is 70% (負担3割); 60% (負担4割) if the normal 負担 is 3割.
    """
    if normal_copay_tenths not in (1, 2, 3):
        raise ValueError(f"通常の利用者負担割合は1割・2割・3割のいずれかです: {normal_copay_tenths!r}")
    window_start = _years_before(on, REDUCTION_LOOKBACK_YEARS)
    in_window = [i for i in installments if window_start <= i.due_date <= on]

    per_year: dict[int, list[Installment]] = {}
    for inst in in_window:
        per_year.setdefault(inst.assessment_year, []).append(inst)

    extinguished = Fraction(0)
    paid = Fraction(0)
    lines = [f"計算対象期間: 納期限が {window_start} から {on} までの保険料（基準日から遡って10年間）"]
    for year in sorted(per_year):
        items = per_year[year]
        total = sum(i.amount for i in items)
        lost = sum(i.amount for i in items if i.is_extinguished_by(on))
        settled = sum(i.amount for i in items if i.is_paid_by(on))
        extinguished += Fraction(lost, total)
        paid += Fraction(settled, total)
        lines.append(
            f"{year}年度: 調定額 {format_yen(total)}、時効消滅 {format_yen(lost)}、納付済 {format_yen(settled)}"
        )

    normal_rate = 100 - normal_copay_tenths * 10
    if extinguished == 0:
        lines.append("保険料徴収権消滅期間がないため給付額減額の対象外")
        return ReductionPeriod(0, normal_rate, 100 - normal_rate, extinguished, paid, tuple(lines))

    months = math.floor(extinguished * extinguished / (extinguished + paid) / 2 * 12)
    lines.append(
        f"徴収権消滅期間 {float(extinguished):.3f}年、納付済期間 {float(paid):.3f}年 → "
        f"給付額減額期間 = 消滅期間×消滅期間÷(消滅期間＋納付済期間)×1/2×12 = {months}か月（1か月未満切り捨て）"
    )
    if months == 0:
        lines.append("給付額減額期間が1か月に満たないため給付率は変わらない")
        return ReductionPeriod(0, normal_rate, 100 - normal_rate, extinguished, paid, tuple(lines))

    rate = 60 if normal_copay_tenths == 3 else 70
    lines.append(
        f"減額期間中の給付率は{rate // 10}割（利用者負担{(100 - rate) // 10}割）。"
        "高額介護サービス費等・特定入所者介護サービス費等は支給されない（介護保険法第69条）"
    )
    return ReductionPeriod(months, rate, 100 - rate, extinguished, paid, tuple(lines))
