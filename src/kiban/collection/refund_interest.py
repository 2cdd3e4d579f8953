"""還付加算金の計算 (interest added to the refund of an over-paid levy) — pure, no database.

地方税法第17条の4第1項: the interest runs 「当該各号に定める日の翌日から…還付のための支出を決定した日
又は充当をした日…までの期間の日数に応じ」 (both ends counted). The 起算日 depends on why the money is
over-paid (第1号〜第4号):

* 第1号 — 更正・決定・賦課決定 reduced a levy already paid (the common case for 保険料: a 賦課 changed
  after payment, 資格喪失): 「納付の日の翌日」 — :func:`accrual_start` gives it;
* 第2号 — 更正の請求に基づく更正: the earlier of 「更正の請求があった日の翌日から起算して3月を経過する日」
  and 「更正があった日の翌日から起算して1月を経過する日」, then the next day;
* 第3号 — a 住民税 reduced because the 所得税 was corrected: 「通知がされた日の翌日から起算して1月を経過する日」,
  then the next day;
* 第4号 — the rest (誤納 etc.): per the 政令.

Those dates depend on facts this module does not hold: the caller passes the 起算日 itself as ``start``.
第17条の4第2項 (除算期間: e.g. a refund not claimed within 30 days of the notice) is not modelled either.

Then:

* split at every 31 December, because the rates are fixed per calendar year (地方税法附則第3条の2);
* each piece is ``base × rate% × days / 365`` — 365 even in a leap year;
* the base is the over-paid amount truncated to 1,000円, and 0 when it is below 2,000円;
* the sum is truncated to 100円 and not added under 1,000円 (the cities apply 地方税法第20条の4の2 as for
  延滞金 — see the notes of :mod:`kiban.rules.refund_interest` on what could not be read in the law).

Arithmetic is exact (``fractions.Fraction``); the Decimal amounts shown are cut at 6 decimal places for
display only. The rules (rates, units, minimums) are :mod:`kiban.rules.refund_interest`.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Context, Decimal
from fractions import Fraction
from math import floor
from typing import Any

from kiban.rules.refund_interest import (
    RefundInterestRules,
    Source,
    YearNotVerified,
    load_rules,
)
from kiban.shared.money import format_yen

__all__ = [
    "RefundInterest",
    "RefundInterestError",
    "RefundSegment",
    "YearNotVerified",
    "accrual_start",
    "compute_refund_interest",
]

_SHOWN = Decimal("0.000001")


class RefundInterestError(ValueError):
    """The facts given cannot be computed (a Japanese message for the counter)."""


@dataclass(frozen=True)
class RefundSegment:
    """One calendar year's piece of the period."""

    start: date
    end: date  # inclusive
    days: int
    rate: Decimal  # 年 %
    base: int  # 計算の基礎となる過誤納金（切捨て後）
    amount: Decimal  # base × rate% × days / 365, cut at 6 decimal places for display
    exact_amount: Fraction


@dataclass(frozen=True)
class RefundInterest:
    """The 還付加算金 on one over-paid amount and how it was reached."""

    amount: int  # 過誤納金
    start: date  # 起算日（この日から数える）
    end: date  # 還付のための支出を決定した日（又は充当をした日）, inclusive
    interest: int  # 加算する額（端数切捨て・最低額の後）
    exact: Decimal  # 切捨て前の合計（表示用に小数第6位まで）
    subtotal: int  # 1円未満を切り捨てた合計
    segments: tuple[RefundSegment, ...]
    notes: tuple[str, ...]
    sources: tuple[Source, ...]

    @property
    def days(self) -> int:
        return sum(s.days for s in self.segments)

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of ``kiban collection refund-interest --json``."""
        return {
            "interest": self.interest,
            "amount": self.amount,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "exact": str(self.exact),
            "segments": [
                {
                    "start": s.start.isoformat(),
                    "end": s.end.isoformat(),
                    "days": s.days,
                    "rate": str(s.rate),
                    "base": s.base,
                    "amount": str(s.amount),
                }
                for s in self.segments
            ],
            "notes": list(self.notes),
            "sources": [{"title": s.title, "url": s.url} for s in self.sources],
        }

    def explanation(self) -> list[str]:
        """A readable Japanese explanation for the counter."""
        lines = [
            "還付加算金の試算",
            f"過誤納金 {format_yen(self.amount)}、起算日 {_jp(self.start)}、支出決定日 {_jp(self.end)}",
        ]
        for s in self.segments:
            lines.append(
                f"  {_jp(s.start)}〜{_jp(s.end)}（{s.days}日）"
                f" {format_yen(s.base)} × 年{s.rate}% × {s.days}日 ÷ 365日 = {s.amount}円"
            )
        lines.append(f"計 {self.exact}円 → 還付加算金 {format_yen(self.interest)}")
        lines.extend(f"※ {n}" for n in self.notes)
        return lines


def _jp(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _shown(value: Fraction) -> Decimal:
    ctx = Context(prec=50)
    return ctx.divide(Decimal(value.numerator), Decimal(value.denominator)).quantize(
        _SHOWN, rounding=ROUND_DOWN
    )


def accrual_start(paid_on: date) -> date:
    """The 起算日 of 地方税法第17条の4第1項第1号 (更正・決定・賦課決定による過納金): 「納付の日の翌日」."""
    return paid_on + timedelta(days=1)


def _base(amount: int, rules: RefundInterestRules) -> int:
    """計算の基礎となる額: 0 under the minimum, else truncated to the unit."""
    if amount < rules.base_minimum:
        return 0
    return amount // rules.base_unit * rules.base_unit


def compute_refund_interest(
    amount: int, start: date, end: date, *, rules: RefundInterestRules | None = None
) -> RefundInterest:
    """The 還付加算金 on ``amount`` (yen) for the days from ``start`` to ``end``, both counted.

    ``start`` is the 起算日 itself — for an over-payment after a reduced 賦課 (第17条の4第1項第1号) the day
    after the payment: ``accrual_start(paid_on)``. ``end`` is the day the refund is decided (支出決定日)
    or the day of the 充当. ``end`` may be the day before ``start`` (decided on the payment day: no day,
    no interest). Raises :class:`RefundInterestError` for facts that cannot be computed and
    :class:`YearNotVerified` for a day of the period in a year whose rate is not verified.
    """
    rules = rules or load_rules()
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise RefundInterestError(f"過誤納金の額は円単位の整数で指定してください: {amount!r}")
    if amount < 0:
        raise RefundInterestError(f"過誤納金の額が負の値です: {amount:,}円")
    if not isinstance(start, date) or not isinstance(end, date):
        raise RefundInterestError("起算日と支出決定日は日付で指定してください")
    if end < start - timedelta(days=1):
        raise RefundInterestError(f"支出決定日（{_jp(end)}）が起算日（{_jp(start)}）より前です")

    years = range(start.year, end.year + 1) if start <= end else range(0)
    year_rates = {year: rules.rate_for(year) for year in years}  # refuses an unverified year
    base = _base(amount, rules)

    segments: list[RefundSegment] = []
    if base:
        for year, row in year_rates.items():
            seg_start = max(start, date(year, 1, 1))
            seg_end = min(end, date(year, 12, 31))
            days = (seg_end - seg_start).days + 1
            exact = Fraction(base) * Fraction(row.rate) / 100 * days / rules.days_per_year
            segments.append(RefundSegment(seg_start, seg_end, days, row.rate, base, _shown(exact), exact))

    exact_total = sum((s.exact_amount for s in segments), Fraction(0))
    subtotal = floor(exact_total)
    # The minimum is tested on the whole amount, then the unit truncated (as 地方税法第20条の4の2第5項).
    interest = (
        0 if subtotal < rules.interest_minimum else subtotal // rules.interest_unit * rules.interest_unit
    )

    notes: list[str] = []
    if start > end:
        notes.append("起算日が支出決定日の翌日のため、加算日数はなく還付加算金はありません。")
    elif amount < rules.base_minimum:
        notes.append(
            f"過誤納金が{format_yen(rules.base_minimum)}未満のため還付加算金は加算されません"
            "（地方税法第20条の4の2の例）。"
        )
    elif amount % rules.base_unit:
        notes.append(
            f"計算の基礎となる過誤納金 {format_yen(amount)} の{format_yen(rules.base_unit)}未満の端数を切り捨て、"
            f"{format_yen(base)} で計算します（地方税法第20条の4の2の例）。"
        )
    if any(calendar.isleap(s.start.year) and s.start <= date(s.start.year, 2, 29) <= s.end for s in segments):
        notes.append("うるう年の日を含む期間も365日当たりの割合で計算します。")
    if segments and interest == 0:
        notes.append(
            f"還付加算金の額（{format_yen(subtotal)}）が{format_yen(rules.interest_minimum)}未満のため"
            "加算されません（地方税法第20条の4の2の例）。"
        )
    elif interest and interest != subtotal:
        notes.append(
            f"還付加算金 {format_yen(subtotal)} の{format_yen(rules.interest_unit)}未満の端数を切り捨て、"
            f"{format_yen(interest)} です（地方税法第20条の4の2の例）。"
        )
    notes.append(
        "起算日は過誤納金の区分による（地方税法第17条の4第1項第1号〜第4号）。"
        "賦課の減額による過納金は「納付の日の翌日」; 更正の請求に基づく更正・所得税の更正に基因する減額などは別の日。"
    )
    notes.append(
        "終期は還付のための支出を決定した日（又は充当をした日）。通知から30日を経過しても還付請求がない期間など"
        "第17条の4第2項の除算期間は考慮していない。"
    )
    notes.append(
        "本計算は地方税法の例による。介護保険料等の過誤納金に還付加算金を付すか・その計算は、保険者の条例等で確認すること。"
    )

    source_keys = ["jimu-17-4", "taru-17-4", *rules.rounding_sources]
    for row in year_rates.values():
        source_keys.extend(k for k in row.sources if k not in source_keys)
    return RefundInterest(
        amount=amount,
        start=start,
        end=end,
        interest=interest,
        exact=_shown(exact_total),
        subtotal=subtotal,
        segments=tuple(segments),
        notes=tuple(notes),
        sources=tuple(rules.sources[k] for k in dict.fromkeys(source_keys) if k in rules.sources),
    )
