"""延滞金の計算 (late fee on a levy paid after its 納期限) — pure, no database.

For each 期別 the fee runs 「納期限の翌日から納付の日までの期間の日数に応じ」 (both days counted):

* the period up to 「納期限の翌日から N月を経過する日」 (N = 1 in the 地方税法 model, 3 in some
  介護保険条例) at the year's lower rate, the rest at the higher rate;
* split at every 31 December, because the rates are fixed per calendar year (地方税法附則第3条の2;
  the cities publish them 「令和X年1月1日から12月31日まで」);
* split the day after every 一部納付: from then the base is the remaining amount (国税通則法第62条
  第1項 as the model);
* each piece is ``base × rate% × days / 365`` — 365 even in a leap year (昭和45年法律第13号第25条);
* the base of each piece is the remaining amount truncated to the insurer's unit (1,000円), and 0
  when the untruncated amount is below its minimum (2,000円) — 地方税法第20条の4の2第2項;
* the sum is truncated to the fee unit (100円) and not collected under the minimum (1,000円) —
  同条第5項.

Arithmetic is exact (``fractions.Fraction``); the Decimal amounts shown are cut at 6 decimal places
for display only. The rules (rates, units, minimums) are :mod:`kiban.rules.late_fee`.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Context, Decimal
from fractions import Fraction
from math import floor
from typing import Any, Literal

from kiban.rules.late_fee import (
    InsurerProfile,
    LateFeeRules,
    Source,
    UnknownInsurer,
    YearNotVerified,
    load_rules,
)
from kiban.shared.money import format_yen

__all__ = [
    "LateFee",
    "LateFeeError",
    "Segment",
    "UnknownInsurer",
    "YearNotVerified",
    "compute_late_fee",
    "reduced_period_end",
]

Period = Literal["within", "after"]
_SHOWN = Decimal("0.000001")


class LateFeeError(ValueError):
    """The facts given cannot be computed (a Japanese message for the counter)."""


@dataclass(frozen=True)
class Segment:
    """One piece of the period: one calendar year, one rate, one base."""

    start: date
    end: date  # inclusive
    days: int
    rate: Decimal  # 年 %
    base: int  # 計算の基礎となる額（切捨て後）
    amount: Decimal  # base × rate% × days / 365, cut at 6 decimal places for display
    period: Period  # within: 納期限の翌日から N月を経過する日まで / after: それ以後
    exact_amount: Fraction


@dataclass(frozen=True)
class LateFee:
    """The 延滞金 of one 期別 and how it was reached."""

    principal: int
    due_date: date
    paid_date: date
    insurer: InsurerProfile
    late_fee: int  # 徴収する額（端数切捨て・最低額の後）
    exact: Decimal  # 切捨て前の合計（表示用に小数第6位まで）
    subtotal: int  # 1円未満を切り捨てた合計（期間ごとに切り捨てる保険者はその合計）
    reduced_end: date  # 納期限の翌日から N月を経過する日
    segments: tuple[Segment, ...]
    payments: tuple[tuple[date, int], ...]
    notes: tuple[str, ...]
    sources: tuple[Source, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of ``kiban collection late-fee --json``."""
        return {
            "late_fee": self.late_fee,
            "principal": self.principal,
            "due_date": self.due_date.isoformat(),
            "paid_date": self.paid_date.isoformat(),
            "insurer": self.insurer.key,
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
            "payments": [{"date": d.isoformat(), "amount": a} for d, a in self.payments],
            "notes": list(self.notes),
            "sources": [{"title": s.title, "url": s.url} for s in self.sources],
        }

    def explanation(self) -> list[str]:
        """A readable Japanese explanation for the counter."""
        months = self.insurer.reduced_months
        lines = [
            f"延滞金の試算（{self.insurer.name}）",
            f"保険料額 {format_yen(self.principal)}、納期限 {_jp(self.due_date)}、納付日 {_jp(self.paid_date)}",
        ]
        if self.segments:
            lines.append(f"納期限の翌日から{months}月を経過する日: {_jp(self.reduced_end)}")
        for d, a in self.payments:
            lines.append(f"一部納付 {_jp(d)} {format_yen(a)}")
        for s in self.segments:
            side = f"{months}月以内" if s.period == "within" else f"{months}月経過後"
            lines.append(
                f"  {_jp(s.start)}〜{_jp(s.end)}（{s.days}日、{side}）"
                f" {format_yen(s.base)} × 年{s.rate}% × {s.days}日 ÷ 365日 = {s.amount}円"
            )
        lines.append(f"計 {self.exact}円 → 延滞金 {format_yen(self.late_fee)}")
        lines.extend(f"※ {n}" for n in self.notes)
        return lines


def _jp(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _shown(value: Fraction) -> Decimal:
    ctx = Context(prec=50)
    return ctx.divide(Decimal(value.numerator), Decimal(value.denominator)).quantize(
        _SHOWN, rounding=ROUND_DOWN
    )


def reduced_period_end(due_date: date, months: int) -> date:
    """「納期限の翌日から ``months``月を経過する日」.

    The period starts on the day after the 納期限 and is reckoned by the calendar (民法第143条, which
    地方税法第20条の5 applies): it ends the day before the day of the last month that corresponds to
    the start day, or on that month's last day when it has no such day. E.g. 納期限 5月31日 → 6月30日,
    1月31日 → 2月末日, 2月2日 → 3月2日 (中央市の計算例: 2月3日〜3月2日).
    """
    start = due_date + timedelta(days=1)
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    last_day = calendar.monthrange(year, month)[1]
    if start.day > last_day:
        return date(year, month, last_day)
    return date(year, month, start.day) - timedelta(days=1)


def _base(remaining: int, profile: InsurerProfile) -> int:
    """計算の基礎となる額: 0 under the minimum, else truncated to the unit (地方税法第20条の4の2第2項)."""
    if remaining < profile.principal_minimum:
        return 0
    return remaining // profile.principal_unit * profile.principal_unit


def _require_yen(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LateFeeError(f"{what}は円単位の整数で指定してください: {value!r}")
    return value


def compute_late_fee(
    principal: int,
    due_date: date,
    paid_date: date,
    *,
    insurer: str = "standard",
    payments: Sequence[tuple[date, int]] = (),
    rules: LateFeeRules | None = None,
) -> LateFee:
    """The 延滞金 on ``principal`` due on ``due_date`` and paid in full on ``paid_date``.

    ``payments`` are 一部納付 (date, yen) before the final payment; each lowers the base from the day
    after it. Raises :class:`LateFeeError` for facts that cannot be computed, :class:`UnknownInsurer`
    and :class:`YearNotVerified` (a day of the period in a year whose rates are not verified).
    """
    rules = rules or load_rules()
    profile = rules.insurer(insurer)
    _require_yen(principal, "保険料額")
    if principal < 0:
        raise LateFeeError(f"保険料額が負の値です: {principal:,}円")
    if not isinstance(due_date, date) or not isinstance(paid_date, date):
        raise LateFeeError("納期限と納付日は日付で指定してください")
    if paid_date < due_date:
        raise LateFeeError(f"納付日（{_jp(paid_date)}）が納期限（{_jp(due_date)}）より前です")
    paid_parts: list[tuple[date, int]] = []
    for when, amount in sorted(payments, key=lambda p: p[0]):
        _require_yen(amount, "一部納付の額")
        if amount <= 0:
            raise LateFeeError(f"一部納付の額は1円以上で指定してください: {amount:,}円（{_jp(when)}）")
        if when > paid_date:
            raise LateFeeError(f"一部納付の日（{_jp(when)}）が完納の日（{_jp(paid_date)}）より後です")
        paid_parts.append((when, amount))
    if sum(a for _, a in paid_parts) > principal:
        raise LateFeeError(
            f"一部納付の合計 {sum(a for _, a in paid_parts):,}円 が保険料額 {principal:,}円 を超えています"
        )

    start, end = due_date + timedelta(days=1), paid_date
    reduced_end = reduced_period_end(due_date, profile.reduced_months)
    notes: list[str] = []
    years = range(start.year, end.year + 1) if start <= end else range(0)
    year_rates = {year: rules.rates_for(year, profile) for year in years}  # refuses an unverified year

    # Cut points: the first day of each new piece.
    cuts = {reduced_end + timedelta(days=1)}
    cuts |= {date(y, 1, 1) for y in range(start.year + 1, end.year + 1)}
    cuts |= {when + timedelta(days=1) for when, _ in paid_parts}
    starts = [start, *sorted(c for c in cuts if start < c <= end)]
    segments: list[Segment] = []
    for i, seg_start in enumerate(starts):
        seg_end = starts[i + 1] - timedelta(days=1) if i + 1 < len(starts) else end
        if seg_start > seg_end:
            continue
        remaining = principal - sum(a for when, a in paid_parts if when < seg_start)
        base = _base(remaining, profile)
        if base == 0:
            continue
        period: Period = "within" if seg_end <= reduced_end else "after"
        rates = year_rates[seg_start.year]
        rate = rates.within if period == "within" else rates.after
        days = (seg_end - seg_start).days + 1
        exact = Fraction(base) * Fraction(rate) / 100 * days / rules.days_per_year
        prev = segments[-1] if segments else None
        if prev and (prev.rate, prev.base, prev.period, prev.end.year) == (
            rate,
            base,
            period,
            seg_start.year,
        ):
            # A payment that did not change the truncated base: one piece, not two.
            days += prev.days
            exact += prev.exact_amount
            seg_start = prev.start
            segments.pop()
        segments.append(Segment(seg_start, seg_end, days, rate, base, _shown(exact), period, exact))

    exact_total = sum((s.exact_amount for s in segments), Fraction(0))
    if profile.segment_rounding == "yen":
        subtotal = sum(floor(s.exact_amount) for s in segments)
    else:
        subtotal = floor(exact_total)
    # 地方税法第20条の4の2第5項: the minimum is tested on the whole amount, then the unit truncated.
    late_fee = 0 if subtotal < profile.fee_minimum else subtotal // profile.fee_unit * profile.fee_unit

    # Notes, in the order a clerk reads them.
    if paid_date == due_date:
        notes.append("納期限までに納付されているため延滞金はかかりません。")
    elif principal < profile.principal_minimum:
        notes.append(
            f"保険料額が{format_yen(profile.principal_minimum)}未満のため延滞金はかかりません"
            "（地方税法第20条の4の2第2項の例）。"
        )
    elif principal % profile.principal_unit:
        notes.append(
            f"計算の基礎となる保険料額 {format_yen(principal)} の{format_yen(profile.principal_unit)}未満の端数を"
            f"切り捨て、{format_yen(_base(principal, profile))} で計算します（地方税法第20条の4の2第2項の例）。"
        )
    for when, amount in paid_parts:
        remaining = principal - sum(a for w, a in paid_parts if w <= when)
        notes.append(
            f"{_jp(when)}の一部納付 {format_yen(amount)}: 翌日以後の計算の基礎は残額 {format_yen(remaining)}"
            f"（端数切捨て後 {format_yen(_base(remaining, profile))}）です（国税通則法第62条第1項の例）。"
        )
    if any(s.start <= date(s.start.year, 2, 29) <= s.end for s in segments if calendar.isleap(s.start.year)):
        notes.append("うるう年の日を含む期間も365日当たりの割合で計算します（昭和45年法律第13号第25条）。")
    if profile.segment_rounding == "yen" and segments:
        notes.append(f"期間ごとに1円未満を切り捨てて合計します（{format_yen(subtotal)}）。")
    if segments and late_fee == 0:
        notes.append(
            f"延滞金の額（{format_yen(subtotal)}）が{format_yen(profile.fee_minimum)}未満のため"
            "延滞金はかかりません（地方税法第20条の4の2第5項の例）。"
        )
    elif late_fee and late_fee != subtotal:
        notes.append(
            f"延滞金 {format_yen(subtotal)} の{format_yen(profile.fee_unit)}未満の端数を切り捨て、"
            f"{format_yen(late_fee)} です（地方税法第20条の4の2第5項の例）。"
        )
    notes.extend(profile.notes)

    source_keys = list(profile.sources)
    for year in year_rates:
        source_keys.extend(k for k in year_rates[year].sources if k not in source_keys)
    return LateFee(
        principal=principal,
        due_date=due_date,
        paid_date=paid_date,
        insurer=profile,
        late_fee=late_fee,
        exact=_shown(exact_total),
        subtotal=subtotal,
        reduced_end=reduced_end,
        segments=tuple(segments),
        payments=tuple(paid_parts),
        notes=tuple(notes),
        sources=tuple(rules.sources[k] for k in dict.fromkeys(source_keys)),
    )
