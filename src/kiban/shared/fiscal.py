"""年度 (fiscal year) helpers.

The national and local-government fiscal year runs from 1 April to 31 March of the
next calendar year (財政法第11条; 地方自治法第208条第1項), and is named by the
calendar year in which it starts.
"""

from __future__ import annotations

from datetime import date

from kiban.shared.wareki import era_of

__all__ = ["fiscal_months", "fiscal_year", "fiscal_year_end", "fiscal_year_start", "wareki_fiscal_year_label"]


def fiscal_year(d: date) -> int:
    """Return the 年度 containing ``d``: 2026-03-31 → 2025, 2026-04-01 → 2026."""
    return d.year if d.month >= 4 else d.year - 1


def fiscal_year_start(fy: int) -> date:
    """Return the first day (4月1日) of 年度 ``fy``."""
    return date(fy, 4, 1)


def fiscal_year_end(fy: int) -> date:
    """Return the last day (翌年3月31日) of 年度 ``fy``."""
    return date(fy + 1, 3, 31)


def fiscal_months(fy: int) -> list[tuple[int, int]]:
    """Return the twelve (year, month) pairs of 年度 ``fy``, April first and March last."""
    return [(fy, month) for month in range(4, 13)] + [(fy + 1, month) for month in range(1, 4)]


def wareki_fiscal_year_label(fy: int) -> str:
    """Return the 和暦 name of 年度 ``fy``, e.g. ``令和7年度``.

    A 年度 takes the era name and number of its starting calendar year as that year is
    named after any 改元 in it: 2019 is 令和元年度 even though 令和 began on 1 May 2019,
    and 1989 is 平成元年度.  Using 31 December of ``fy`` gives exactly that.
    Raises ValueError (WarekiError) for years before the solar calendar (1873).
    """
    ey = era_of(date(fy, 12, 31))
    return f"{ey.name}{ey.year_label}年度"
