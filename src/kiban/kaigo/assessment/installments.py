"""The pure rules of 月割 (proration) and 徴収 (特別徴収・普通徴収) of the 介護保険 第1号保険料.

No database, no web: yen are ``int``, fractions are exact (``Decimal``), never ``float``.

* 月割 — the premium is assessed for the 年度 (4月〜翌年3月) on the 賦課期日 4月1日 (介護保険法第130条).
  A person who becomes a 第1号被保険者 later pays from the month containing the 取得日; one who loses
  the qualification pays up to the month BEFORE the month containing the 喪失日 (介護保険条例参考例
  第4条 as adopted in each city's 条例). The 喪失日 is the day after death or after the day the person
  ceased to live in the city (法第11条), which the caller records.
* 特別徴収 (年金からの天引き, 法第134条〜第140条) for an annual pension of 18万円 or more (法第134条,
  施行令第41条): 仮徴収 in April, June and August at the previous 年度's February amount (法第140条),
  本徴収 in October, December and February sharing the rest (法第135条).
* 普通徴収 (納付書・口座振替, 法第131条; 地方自治法第231条): the insurer's 期別 and 納期限
  (:mod:`kiban.rules.kaigo_collection`).

Not modelled here: the further conditions of 特別徴収 (which pension is 特別徴収対象年金, the
notice deadlines to the 年金保険者 of 法第134条・第136条, 仮徴収額の平準化), the actual payments (a
``Schedule`` is what is *assessed* per period; whether an ``overpaid`` amount is a 還付 or reduces an
unpaid fixed installment is the collection engine's question).
"""

from __future__ import annotations

import calendar as _calendar
import decimal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from kiban.rules.kaigo_collection import DEFINITIVE_MONTHS, PROVISIONAL_MONTHS, CollectionCalendar
from kiban.shared.fiscal import fiscal_months
from kiban.shared.money import Rounding, apply_rounding, split_installments

__all__ = [
    "SPECIAL_COLLECTION_THRESHOLD",
    "Installment",
    "InstallmentError",
    "Method",
    "Schedule",
    "choose_method",
    "insured_month_count",
    "insured_months",
    "loss_date_after_death",
    "ordinary_schedule",
    "prorate",
    "revise_schedule",
    "segment_amount",
    "special_schedule",
    "switch_to_ordinary",
]

Method = Literal["special", "ordinary"]

# 介護保険法第134条第1項、介護保険法施行令第41条: 特別徴収の対象は年額18万円以上の老齢等年金の受給者.
SPECIAL_COLLECTION_THRESHOLD = 180_000

_ONE_DAY = timedelta(days=1)


class InstallmentError(ValueError):
    """Inputs the rules cannot work with; the message (Japanese) is for the person at the counter."""


@dataclass(frozen=True)
class Installment:
    """One 期 (installment) of a 徴収: 特別徴収 (``special``) or 普通徴収 (``ordinary``).

    ``period`` numbers the installments of one method (特別徴収 1–6: 仮徴収4・6・8月, 本徴収10・12・2月;
    普通徴収: the calendar's 第N期, 随時期 after them).
    """

    period: int
    label: str
    method: Method
    due_date: date
    amount: int


@dataclass(frozen=True)
class Schedule:
    """徴収予定 (installment schedule) of one 年度.

    Invariant: ``total - overpaid`` is the annual amount. ``overpaid`` (過誤納見込額) is what fixed
    installments (仮徴収, or periods already due) exceed the annual amount by.
    """

    fiscal_year: int
    installments: tuple[Installment, ...]
    overpaid: int = 0

    @property
    def total(self) -> int:
        """Sum of all installment amounts."""
        return sum(i.amount for i in self.installments)

    def by_method(self, method: Method) -> tuple[Installment, ...]:
        """The installments of one method, in due-date order."""
        return tuple(i for i in self.installments if i.method == method)


def _require_yen(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} は円単位の整数で指定してください（{type(value).__name__} は使えません）")
    if value < 0:
        raise InstallmentError(f"{name} は0円以上でなければなりません（{value}円）")
    return value


# ---------------------------------------------------------------------------------------------
# 月割


def loss_date_after_death(death: date) -> date:
    """資格喪失日 on death: the day after (介護保険法第11条第1項「死亡した日の翌日から」)."""
    return death + _ONE_DAY


def insured_months(fiscal_year: int, periods: Iterable[tuple[date, date | None]]) -> tuple[bool, ...]:
    """月割の対象月: 12 booleans for 年度 ``fiscal_year``, April at index 0 and March at 11.

    ``periods`` are the 第1号被保険者 qualification periods ``(取得日, 喪失日 or None)``, half-open. A
    month counts when some period has month(取得日) <= month < month(喪失日) (介護保険条例参考例第4条:
    取得の月から、喪失の月の前月まで). Consequences:

    * acquired and lost in the same month → that period counts for no month at all;
    * out on 10 October and back on 20 October (two periods) → October counts once, by the second;
    * a qualification from before 4月1日 counts from April (賦課期日, 法第130条).
    """
    keys = []
    for start, end in periods:
        if end is not None and end <= start:
            raise InstallmentError(f"資格期間の喪失日（{end}）が取得日（{start}）より後ではありません")
        keys.append((start.year * 12 + start.month, None if end is None else end.year * 12 + end.month))
    result = []
    for year, month in fiscal_months(fiscal_year):
        k = year * 12 + month
        result.append(any(s <= k and (e is None or k < e) for s, e in keys))
    return tuple(result)


def insured_month_count(fiscal_year: int, periods: Iterable[tuple[date, date | None]]) -> int:
    """Number of 月割 months of 年度 ``fiscal_year`` (see :func:`insured_months`)."""
    return sum(insured_months(fiscal_year, periods))


def _exact_twelfths(numerator: int) -> Decimal:
    """``numerator / 12`` as a Decimal that rounds exactly as the true fraction does.

    numerator/12 = q + r/12. For r in {0, 3, 6, 9} the Decimal is exact. Otherwise r/12 is a
    recurring decimal; truncating it to 40 digits keeps it strictly inside (0, 1) and on the same
    side of 0.5 (r < 6 ⇔ < 0.5), and every rounding boundary of a unit of 1円 or more is a multiple of
    0.5円 — so any :class:`Rounding` gives the same result as on the exact fraction.
    """
    q, r = divmod(numerator, 12)
    ctx = decimal.Context(prec=40, rounding=decimal.ROUND_DOWN)
    return Decimal(q) + ctx.divide(Decimal(r), Decimal(12))


def prorate(annual: int, months: int, rounding: Rounding) -> int:
    """月割額: ``annual × months / 12``, exactly, then the insurer's 端数処理 ``rounding``.

    ``months == 12`` returns ``annual`` unchanged; ``months == 0`` returns 0. Example: 74,700円 × 6/12 =
    37,350円.
    """
    _require_yen("annual", annual)
    if isinstance(months, bool) or not isinstance(months, int):
        raise TypeError("月数は整数で指定してください")
    if not 0 <= months <= 12:
        raise InstallmentError(f"月数は0〜12です（{months}）")
    if months == 12:
        return annual
    return apply_rounding(_exact_twelfths(annual * months), rounding)


def segment_amount(
    annual_by_stage: Mapping[int, int], months_by_stage: Mapping[int, int], rounding: Rounding
) -> int:
    """段階ごとの月割の合計 (e.g. 生活保護 from mid-year: 第1段階 from the month it starts).

    Σ prorate(annual[s], months[s]); each segment is rounded on its own before the sum (an insurer
    that rounds only the sum would differ by at most the rounding unit per segment).
    """
    total_months = sum(months_by_stage.values())
    if total_months > 12:
        raise InstallmentError(f"段階ごとの月数の合計が12か月を超えています（{total_months}か月）")
    total = 0
    for stage, months in months_by_stage.items():
        if stage not in annual_by_stage:
            raise InstallmentError(f"第{stage}段階の年額がありません")
        total += prorate(annual_by_stage[stage], months, rounding)
    return total


# ---------------------------------------------------------------------------------------------
# 特別徴収 / 普通徴収


def choose_method(annual_pension: int | None) -> Method:
    """徴収方法: ``special`` (特別徴収) when the 年金保険者 reports an annual pension ≥ 180,000円.

    介護保険法第134条・施行令第41条 (年額18万円以上). ``None`` (no report from any 年金保険者) and
    anything below → ``ordinary`` (普通徴収, 法第131条).
    """
    if annual_pension is None:
        return "ordinary"
    _require_yen("annual_pension", annual_pension)
    return "special" if annual_pension >= SPECIAL_COLLECTION_THRESHOLD else "ordinary"


def _spread(total: int, n: int, unit: int, remainder: Literal["first", "last"]) -> list[int]:
    # 端数 (the part below ``unit``) to the first or last 期 (cf. 地方税法第20条の4の2第6項).
    return split_installments(total, n, unit=unit, remainder=remainder)


def _extra_period(calendar: CollectionCalendar, number: int, on: date, amount: int) -> Installment:
    """A 随時期 due on the last day of the month after ``on`` (after the 休日 shift), labelled by that month."""
    year, month = (on.year + 1, 1) if on.month == 12 else (on.year, on.month + 1)
    due = calendar.next_open_day(date(year, month, _calendar.monthrange(year, month)[1]))
    return Installment(number, f"随時期（{year}年{month}月）", "ordinary", due, amount)


def special_schedule(
    fiscal_year: int, annual: int, previous_february: int | None, calendar: CollectionCalendar
) -> Schedule:
    """特別徴収の年間予定: 仮徴収 4・6・8月 and 本徴収 10・12・2月, each due on the 15th (年金支給日).

    * 仮徴収 (法第140条): each = ``previous_february`` (前年度2月の特別徴収額).
    * 本徴収 (法第135条): ``annual − 仮徴収計`` in three, to the calendar's unit (default 100円) with the
      端数 on the first (October) or last installment. If that is ≤ 0 the three are 0円 and the excess
      is ``overpaid`` (過誤納).
    * No previous February (特別徴収 new this 年度, no 仮徴収): the whole year is 普通徴収 — this
      returns :func:`ordinary_schedule`. (Starting 本徴収 in October with the earlier months as
      普通徴収 is the other practice; it is not offered here.)

    Due dates are the 15th with no 休日 shift (the pension payment moves, the deduction month does not).
    """
    _require_yen("annual", annual)
    if previous_february is None:
        return ordinary_schedule(fiscal_year, annual, calendar)
    _require_yen("previous_february", previous_february)
    installments = [
        Installment(
            i + 1,
            f"仮徴収{month}月",
            "special",
            calendar.special_due_date(fiscal_year, month),
            previous_february,
        )
        for i, month in enumerate(PROVISIONAL_MONTHS)
    ]
    rest = annual - previous_february * len(PROVISIONAL_MONTHS)
    amounts = (
        _spread(rest, len(DEFINITIVE_MONTHS), calendar.special_unit, calendar.special_remainder)
        if rest > 0
        else [0] * len(DEFINITIVE_MONTHS)
    )
    installments += [
        Installment(
            len(PROVISIONAL_MONTHS) + i + 1,
            f"本徴収{month}月",
            "special",
            calendar.special_due_date(fiscal_year, month),
            amount,
        )
        for i, (month, amount) in enumerate(zip(DEFINITIVE_MONTHS, amounts, strict=True))
    ]
    return Schedule(fiscal_year, tuple(installments), overpaid=max(0, -rest))


def ordinary_schedule(
    fiscal_year: int, annual: int, calendar: CollectionCalendar, *, start_after: date | None = None
) -> Schedule:
    """普通徴収の年間予定 over the calendar's 期別 (法第131条; 納期 by 条例, 法第133条).

    Each period = ``annual`` split to the calendar's unit (default 100円), the 端数 on the first
    period (or last, per calendar). With ``start_after`` (the date the 通知書 is issued, e.g. for an
    acquisition mid-year), only the periods whose 納期限 is strictly after that date carry the
    amount; when none is left, one 随時期 due at the end of the following month carries it all.
    """
    _require_yen("annual", annual)
    dated = calendar.ordinary_due_dates(fiscal_year)
    if start_after is not None:
        dated = tuple((p, d) for p, d in dated if d > start_after)
    if not dated:
        assert start_after is not None
        number = calendar.ordinary_periods[-1].period + 1
        return Schedule(fiscal_year, (_extra_period(calendar, number, start_after, annual),))
    amounts = _spread(annual, len(dated), calendar.ordinary_unit, calendar.ordinary_remainder)
    return Schedule(
        fiscal_year,
        tuple(
            Installment(p.period, p.label, "ordinary", d, a) for (p, d), a in zip(dated, amounts, strict=True)
        ),
    )


def _respread(
    fiscal_year: int,
    fixed: list[Installment],
    open_slots: list[tuple[int, str, date]],
    annual: int,
    on: date,
    calendar: CollectionCalendar,
    *,
    keep_empty: bool,
) -> Schedule:
    """Fixed installments stay; ``annual − fixed`` goes over the open slots (or a 随時期, or overpaid).

    With nothing left to collect, the open slots are kept at 0円 when ``keep_empty`` (existing periods
    of a 更正) and dropped otherwise (new periods of a switch).
    """
    rest = annual - sum(i.amount for i in fixed)
    new: list[Installment] = []
    if open_slots and (rest > 0 or keep_empty):
        amounts = (
            _spread(rest, len(open_slots), calendar.ordinary_unit, calendar.ordinary_remainder)
            if rest > 0
            else [0] * len(open_slots)
        )
        new = [
            Installment(n, label, "ordinary", due, a)
            for (n, label, due), a in zip(open_slots, amounts, strict=True)
        ]
    elif not open_slots and rest > 0:
        numbers = [i.period for i in fixed if i.method == "ordinary"]
        last_period = calendar.ordinary_periods[-1].period
        new = [_extra_period(calendar, max([last_period, *numbers]) + 1, on, rest)]
    ordered = sorted(fixed + new, key=lambda i: (i.due_date, i.method, i.period))
    return Schedule(fiscal_year, tuple(ordered), overpaid=max(0, -rest))


def revise_schedule(existing: Schedule, new_annual: int, on: date, calendar: CollectionCalendar) -> Schedule:
    """更正 (賦課の変更) on date ``on`` to ``new_annual``.

    Installments due on or before ``on`` are fixed, and so are all 特別徴収 installments (the
    年金保険者 has been notified, 法第136条; stopping them is :func:`switch_to_ordinary`). The rest
    ``new_annual − fixed`` is split afresh over the 普通徴収 periods not yet due (same unit and 端数
    rule as the calendar), which spreads the difference over them. With no such period, an increase goes
    into one 随時期 due at the end of the following month; a decrease beyond what remains sets the
    remaining periods to 0円 and reports the excess as ``overpaid``.
    """
    _require_yen("new_annual", new_annual)
    fixed = [i for i in existing.installments if i.method == "special" or i.due_date <= on]
    open_slots = [
        (i.period, i.label, i.due_date)
        for i in existing.installments
        if i.method == "ordinary" and i.due_date > on
    ]
    return _respread(existing.fiscal_year, fixed, open_slots, new_annual, on, calendar, keep_empty=True)


def switch_to_ordinary(
    existing: Schedule, annual: int, stopped_on: date, calendar: CollectionCalendar
) -> Schedule:
    """特別徴収の中止 → 普通徴収 (e.g. 年金の支給停止, 資格喪失; 特別徴収の停止は介護保険法第138条 — 条番号は未確認).

    ``stopped_on`` is the first date on which nothing is deducted any more: 特別徴収 installments due
    before it were collected and stay; later ones are dropped. 普通徴収 installments already due on or
    before ``stopped_on`` stay too. The rest of ``annual`` (the possibly re-assessed annual amount)
    goes over the calendar's 普通徴収 periods due after ``stopped_on``; with none left, one 随時期 at
    the end of the following month; a negative rest is ``overpaid`` (and no 普通徴収 period is added).
    """
    _require_yen("annual", annual)
    kept = [
        i
        for i in existing.installments
        if (i.method == "special" and i.due_date < stopped_on)
        or (i.method == "ordinary" and i.due_date <= stopped_on)
    ]
    taken = {i.period for i in kept if i.method == "ordinary"}
    open_slots = [
        (p.period, p.label, d)
        for p, d in calendar.ordinary_due_dates(existing.fiscal_year)
        if d > stopped_on and p.period not in taken
    ]
    return _respread(existing.fiscal_year, kept, open_slots, annual, stopped_on, calendar, keep_empty=False)
