"""Japanese public holidays (国民の祝日) and the city's closed days, for the after-hours review.

Rules of 国民の祝日に関する法律 as amended up to 2018 (in force from 2020), with the equinox days
from the usual astronomical approximation (the official dates are announced each February for the
next year; the formula agrees with every announced date up to 2027). 天皇誕生日 moved in 2020 and the
2020/2021 Olympic moves are not modelled, so years before 2022 are refused; the rules are tested
against the published 2024–2027 calendars. 年末年始 (12/29–1/3) are closed days of the city office
(地方自治法第4条の2 / 休日条例), not 祝日; :func:`closed_reason` includes them unless told not to.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache


def _nth_monday(year: int, month: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (7 - first.weekday()) % 7  # days to the first Monday
    return first + dt.timedelta(days=offset + 7 * (n - 1))


def _vernal_equinox(year: int) -> int:
    return int(20.8431 + 0.242194 * (year - 1980) - (year - 1980) // 4)


def _autumnal_equinox(year: int) -> int:
    return int(23.2488 + 0.242194 * (year - 1980) - (year - 1980) // 4)


@lru_cache(maxsize=64)
def holidays(year: int) -> dict[dt.date, str]:
    """国民の祝日, 振替休日 and 国民の休日 of ``year`` (2022–2099 rules)."""
    if not 2022 <= year <= 2099:
        raise ValueError("holiday rules are implemented for 2022–2099 only (祝日は2022〜2099年のみ)")
    d = dt.date
    named: dict[dt.date, str] = {
        d(year, 1, 1): "元日",
        _nth_monday(year, 1, 2): "成人の日",
        d(year, 2, 11): "建国記念の日",
        d(year, 2, 23): "天皇誕生日",
        d(year, 3, _vernal_equinox(year)): "春分の日",
        d(year, 4, 29): "昭和の日",
        d(year, 5, 3): "憲法記念日",
        d(year, 5, 4): "みどりの日",
        d(year, 5, 5): "こどもの日",
        _nth_monday(year, 7, 3): "海の日",
        d(year, 8, 11): "山の日",
        _nth_monday(year, 9, 3): "敬老の日",
        d(year, 9, _autumnal_equinox(year)): "秋分の日",
        _nth_monday(year, 10, 2): "スポーツの日",
        d(year, 11, 3): "文化の日",
        d(year, 11, 23): "勤労感謝の日",
    }
    result = dict(named)
    # 第3条第3項 国民の休日: a weekday between two 祝日 (e.g. 2026-09-22).
    for day in named:
        between = day + dt.timedelta(days=1)
        if between not in named and between + dt.timedelta(days=1) in named:
            result[between] = "国民の休日"
    # 第3条第2項 振替休日: a 祝日 on Sunday moves the rest day to the next day that is not a 祝日.
    for day in sorted(named):
        if day.weekday() == 6:
            substitute = day + dt.timedelta(days=1)
            while substitute in named:
                substitute += dt.timedelta(days=1)
            result[substitute] = "振替休日"
    return result


def holiday_name(day: dt.date) -> str | None:
    return holidays(day.year).get(day)


def year_end_closure(day: dt.date) -> bool:
    """年末年始の休日 (12月29日〜1月3日)."""
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


def closed_reason(day: dt.date, *, weekdays: frozenset[int], year_end: bool = True) -> str | None:
    """Why the office is closed on ``day`` (土曜日, 日曜日, a 祝日 name, 年末年始), or None if open."""
    name = holiday_name(day)
    if name:
        return name
    if year_end and year_end_closure(day):
        return "年末年始"
    if day.weekday() not in weekdays:
        return "土曜日" if day.weekday() == 5 else "日曜日" if day.weekday() == 6 else "閉庁日"
    return None
