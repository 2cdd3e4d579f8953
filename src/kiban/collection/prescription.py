"""時効 (prescription) of 介護保険料: when the right to collect an installment is extinguished.

Pure date arithmetic, no database.  The rules encoded here:

* 介護保険法第200条第1項: 保険料その他この法律の規定による徴収金を徴収する権利は、これを
  行使することができる時から2年を経過したときは、時効によって消滅する。
* The right can be exercised once the 納期限 has passed, so the period is counted from the
  day AFTER the 納期限 (民法第166条第1項第2号 / 第140条 初日不算入; cities write
  「納期限の翌日から起算して2年」).
* 民法第143条: a period in years is counted by the calendar and ends on the day BEFORE the
  day of the final year corresponding to the 起算日; where the final month has no such day
  it ends on the last day of that month (第143条第2項ただし書).
  納期限 2023-07-31 → 起算日 2023-08-01 → 時効完成日 2025-07-31.
* **Reporting convention.**  ``completes_on`` is the LAST DAY of the period (満了日).  The
  right is extinguished at the end of that day, so it is still collectable ON
  ``completes_on`` and is extinguished from ``extinguished_on`` = ``completes_on`` + 1 day.
  :func:`is_prescribed` is therefore ``on > completes_on``.
* 介護保険法第200条第2項: 督促は時効の更新の効力を生ずる。  Only the FIRST 督促 of an
  installment renews the period (a further 督促 is a mere 催告; the "first demand only"
  reading is the common administrative practice for 公債権; it was not confirmed
  against a primary source).  Where the renewed period starts is a choice
  (``demand_restart``):

  - ``"deadline"`` (default, common municipal practice): renewal takes effect when the
    期限 指定 in the 督促状 (地方自治法第231条の3第1項) expires, and the new period starts
    on the day after that 指定期限.  If no 指定期限 is recorded, the 地方税法第18条の2第1項
    style date is used: the day on which 10 days have passed counting from the day the
    督促状 was sent (``on`` + 10 days).
  - ``"delivery"``: renewal takes effect on the day the 督促状 is 送達 (``on``) and the new
    period starts the next day.

* 民法第152条第1項 (承認): an acknowledgement of the debt — a 分納誓約書, or a partial
  payment, which is an acknowledgement by conduct — renews the period on that day; the new
  period starts the next day (初日不算入).
* 民法第148条 (強制執行等, e.g. 差押え) is out of scope in detail; the generic
  ``"interruption"`` kind models its end result: the period is renewed on ``on`` (the day
  the procedure ends) and restarts the next day.  The 完成猶予 while it runs is not
  modelled.
* An event after the period has completed has no effect: a 公債権 is extinguished without
  援用 and its benefit cannot be waived (地方自治法第236条第2項), so a late partial payment
  does not revive it.  An event whose new start would not be later than the current
  起算日 (e.g. a payment before the 納期限) changes nothing.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal, NamedTuple

__all__ = [
    "DemandRestart",
    "EventKind",
    "PrescriptionEvent",
    "PrescriptionResult",
    "PrescriptionStep",
    "is_prescribed",
    "period_end",
    "prescription_date",
]

EventKind = Literal["demand", "acknowledgement", "partial_payment", "interruption"]
DemandRestart = Literal["deadline", "delivery"]

_ONE_DAY = timedelta(days=1)
# 地方税法第18条の2第1項第2号 style fallback: 督促状を発した日から起算して10日を経過した日.
_DEMAND_FALLBACK_DAYS = 10

_KIND_LABELS: dict[str, str] = {
    "demand": "督促",
    "acknowledgement": "承認（分納誓約等）",
    "partial_payment": "一部納付（承認）",
    "interruption": "差押え等",
}


@dataclass(frozen=True)
class PrescriptionEvent:
    """An event affecting 時効 (時効の更新事由) of one installment.

    ``kind``: ``"demand"`` (督促; ``on`` = the day the 督促状 was sent/送達,
    ``demand_deadline`` = the 期限 指定 in it), ``"acknowledgement"`` (承認, e.g. 分納誓約書),
    ``"partial_payment"`` (一部納付 — an acknowledgement), ``"interruption"`` (差押え等,
    ``on`` = the day the procedure ended).
    """

    kind: EventKind
    on: date
    demand_deadline: date | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KIND_LABELS:
            raise ValueError(f"時効の事由の種類が不正です: {self.kind!r}")
        if self.demand_deadline is not None:
            if self.kind != "demand":
                raise ValueError("指定期限は督促にのみ指定できます")
            if self.demand_deadline < self.on:
                raise ValueError(f"督促状の指定期限 {self.demand_deadline} が督促日 {self.on} より前です")


class PrescriptionStep(NamedTuple):
    """One processed event: the 起算日 and 時効完成日 in force after it (unchanged if no effect)."""

    event: PrescriptionEvent
    new_start: date
    new_completion: date


@dataclass(frozen=True)
class PrescriptionResult:
    """The outcome of :func:`prescription_date` (時効完成日の算定結果).

    ``completes_on`` is the last day of the period (満了日); the right is extinguished
    from ``extinguished_on`` (the next day).  ``explanation`` holds Japanese lines for
    staff screens and notices.
    """

    due_date: date
    starts_on: date
    completes_on: date
    history: tuple[PrescriptionStep, ...] = field(default_factory=tuple)
    explanation: tuple[str, ...] = field(default_factory=tuple)

    @property
    def extinguished_on(self) -> date:
        """The first day on which the right no longer exists (時効消滅日)."""
        return self.completes_on + _ONE_DAY


def period_end(start: date, *, years: int = 0, months: int = 0) -> date:
    """Return the last day of a period of ``years`` years and ``months`` months from ``start``.

    ``start`` is the 起算日 (the first day counted).  民法第143条第2項: the period ends on
    the day before the day corresponding to ``start`` in the final month; if that month
    has no corresponding day (e.g. 29日〜31日), it ends on the last day of that month.
    ``period_end(date(2024, 2, 29), years=2)`` → 2026-02-28 (no 2月29日 in 2026).
    """
    total = years * 12 + months
    if total <= 0:
        raise ValueError("期間は1か月以上でなければなりません")
    index = start.year * 12 + (start.month - 1) + total
    year, month = divmod(index, 12)
    month += 1
    last_day = calendar.monthrange(year, month)[1]
    if start.day > last_day:
        return date(year, month, last_day)
    return date(year, month, start.day) - _ONE_DAY


def _renewal_start(event: PrescriptionEvent, demand_restart: DemandRestart) -> tuple[date, str]:
    """Return (new 起算日, Japanese note) for an effective renewal by ``event``."""
    if event.kind == "demand":
        if demand_restart == "delivery":
            return event.on + _ONE_DAY, f"督促状の送達日 {event.on} の翌日から新たに進行"
        if event.demand_deadline is not None:
            deadline = event.demand_deadline
            return deadline + _ONE_DAY, f"督促状の指定期限 {deadline} の翌日から新たに進行"
        deadline = event.on + timedelta(days=_DEMAND_FALLBACK_DAYS)
        return (
            deadline + _ONE_DAY,
            f"指定期限の記録がないため督促状を発した日から10日を経過した日 {deadline} の翌日から新たに進行",
        )
    return event.on + _ONE_DAY, f"{_KIND_LABELS[event.kind]}の日 {event.on} の翌日から新たに進行"


def prescription_date(
    due_date: date,
    events: Sequence[PrescriptionEvent],
    *,
    years: int = 2,
    demand_restart: DemandRestart = "deadline",
) -> PrescriptionResult:
    """Return the 時効完成日 of an installment due on ``due_date`` after ``events``.

    介護保険法第200条 (2年); 起算日 = 納期限の翌日; renewals per the module docstring.
    Events are applied in date order (a 督促 by ``on``); only the first 督促 renews.
    """
    if years <= 0:
        raise ValueError("時効期間は1年以上でなければなりません")
    if demand_restart not in ("deadline", "delivery"):
        raise ValueError(f"督促による更新の起算方法が不正です: {demand_restart!r}")

    start = due_date + _ONE_DAY
    completion = period_end(start, years=years)
    lines = [f"納期限 {due_date} の翌日 {start} から起算して{years}年、時効完成日（満了日）は {completion}"]
    history: list[PrescriptionStep] = []
    demanded = False

    for event in sorted(events, key=lambda e: e.on):
        label = _KIND_LABELS[event.kind]
        if event.on > completion:
            lines.append(f"{event.on} の{label}は時効完成（{completion}）後のため効力を有しない")
            history.append(PrescriptionStep(event, start, completion))
            continue
        if event.kind == "demand":
            if event.on <= due_date:
                raise ValueError(f"督促日 {event.on} が納期限 {due_date} 以前です")
            if demanded:
                lines.append(f"{event.on} の督促は2回目以降のため時効更新の効力を有しない")
                history.append(PrescriptionStep(event, start, completion))
                continue
            demanded = True
        new_start, note = _renewal_start(event, demand_restart)
        if new_start <= start:
            lines.append(f"{event.on} の{label}は起算日 {start} 以前の事由のため時効に影響しない")
            history.append(PrescriptionStep(event, start, completion))
            continue
        start = new_start
        completion = period_end(start, years=years)
        lines.append(f"{event.on} の{label}により時効が更新され、{note}、時効完成日は {completion}")
        history.append(PrescriptionStep(event, start, completion))

    lines.append(
        f"{completion} の経過をもって徴収権は時効により消滅する（{completion + _ONE_DAY} 以降は徴収不能）"
    )
    return PrescriptionResult(
        due_date=due_date,
        starts_on=start,
        completes_on=completion,
        history=tuple(history),
        explanation=tuple(lines),
    )


def is_prescribed(
    due_date: date,
    events: Sequence[PrescriptionEvent],
    on: date,
    *,
    years: int = 2,
    demand_restart: DemandRestart = "deadline",
) -> bool:
    """Return whether the right to collect is extinguished by 時効 as of ``on`` (時効消滅の判定).

    Only events that happened on or before ``on`` are taken into account.  True iff ``on``
    is after the 時効完成日 (the period has fully elapsed).
    """
    known = [e for e in events if e.on <= on]
    result = prescription_date(due_date, known, years=years, demand_restart=demand_restart)
    return on > result.completes_on
