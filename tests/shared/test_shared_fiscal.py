"""Tests for kiban.shared.fiscal (年度)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiban.shared.fiscal import (
    fiscal_months,
    fiscal_year,
    fiscal_year_end,
    fiscal_year_start,
    wareki_fiscal_year_label,
)


@pytest.mark.parametrize(
    ("d", "fy"),
    [
        (date(2026, 3, 31), 2025),
        (date(2026, 4, 1), 2026),
        (date(2025, 12, 31), 2025),
        (date(2026, 1, 1), 2025),
        (date(2025, 4, 1), 2025),
    ],
)
def test_fiscal_year(d: date, fy: int) -> None:
    assert fiscal_year(d) == fy


def test_start_end() -> None:
    assert fiscal_year_start(2025) == date(2025, 4, 1)
    assert fiscal_year_end(2025) == date(2026, 3, 31)


def test_fiscal_months() -> None:
    months = fiscal_months(2025)
    assert months[0] == (2025, 4)
    assert months[8] == (2025, 12)
    assert months[9] == (2026, 1)
    assert months[-1] == (2026, 3)
    assert len(months) == 12


@pytest.mark.parametrize(
    ("fy", "label"),
    [
        (2025, "令和7年度"),
        (2020, "令和2年度"),
        (2019, "令和元年度"),  # 令和 began 2019-05-01, but 年度2019 is called 令和元年度
        (2018, "平成30年度"),
        (1989, "平成元年度"),
        (1988, "昭和63年度"),
        (1965, "昭和40年度"),
        (1926, "昭和元年度"),
        (1912, "大正元年度"),
        (1873, "明治6年度"),
    ],
)
def test_wareki_fiscal_year_label(fy: int, label: str) -> None:
    assert wareki_fiscal_year_label(fy) == label


def test_wareki_fiscal_year_label_before_solar_calendar() -> None:
    with pytest.raises(ValueError):
        wareki_fiscal_year_label(1872)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)))
def test_date_lies_in_its_fiscal_year(d: date) -> None:
    fy = fiscal_year(d)
    assert fiscal_year_start(fy) <= d <= fiscal_year_end(fy)
    assert (d.year, d.month) in fiscal_months(fy)


@given(st.integers(min_value=1900, max_value=2200))
def test_consecutive_fiscal_years_tile(fy: int) -> None:
    assert (fiscal_year_start(fy + 1) - fiscal_year_end(fy)).days == 1
    assert fiscal_months(fy)[-1] < fiscal_months(fy + 1)[0]
    assert fiscal_year(fiscal_year_start(fy)) == fy
    assert fiscal_year(fiscal_year_end(fy)) == fy
