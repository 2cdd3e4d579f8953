"""Tests for kiban.shared.age (年齢計算ニ関スル法律 / 民法第143条)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiban.shared.age import age_on, attainment_date

ONE_DAY = timedelta(days=1)

# Births that exercise the edge cases: 29 Feb, 1 Mar, 1 Jan, 1 Apr, 31 Dec, plus any day.
SPECIAL_BIRTHS = st.builds(
    date,
    st.integers(min_value=1873, max_value=2100),
    st.sampled_from([1, 2, 3, 4, 12]),
    st.sampled_from([1]),
) | st.builds(
    date,
    st.sampled_from([y for y in range(1876, 2100) if y % 4 == 0 and y not in (1900, 2100)]),
    st.just(2),
    st.just(29),
)
BIRTHS = SPECIAL_BIRTHS | st.dates(min_value=date(1873, 1, 1), max_value=date(2100, 12, 31))
AGES = st.integers(min_value=1, max_value=130)


@pytest.mark.parametrize(
    ("birth", "age", "expected"),
    [
        (date(1960, 4, 1), 65, date(2025, 3, 31)),  # born 1 April: attains 65 on 31 March
        (date(1960, 4, 2), 65, date(2025, 4, 1)),
        (date(2000, 1, 1), 1, date(2000, 12, 31)),  # attains age 1 in the birth year
        (date(2000, 3, 1), 1, date(2001, 2, 28)),
        (date(2000, 3, 1), 4, date(2004, 2, 29)),
        (date(1950, 12, 31), 75, date(2025, 12, 30)),
        # 29 February, leap anniversary: the day before 29 Feb is 28 Feb.
        (date(2000, 2, 29), 4, date(2004, 2, 28)),
        # 29 February, common-year anniversary: no corresponding day, so the period ends
        # on the last day of February (民法第143条第2項ただし書).
        (date(2000, 2, 29), 1, date(2001, 2, 28)),
        (date(1960, 2, 29), 65, date(2025, 2, 28)),
        (date(2000, 2, 29), 100, date(2100, 2, 28)),  # 2100 is not a leap year
        (date(1996, 2, 29), 4, date(2000, 2, 28)),  # 2000 is a leap year
    ],
)
def test_attainment_date_examples(birth: date, age: int, expected: date) -> None:
    assert attainment_date(birth, age) == expected
    assert age_on(birth, expected) == age
    assert age_on(birth, expected - ONE_DAY) == age - 1


def test_age_zero_is_the_birth_date() -> None:
    assert attainment_date(date(2025, 4, 1), 0) == date(2025, 4, 1)
    assert age_on(date(2025, 4, 1), date(2025, 4, 1)) == 0


def test_negative_age_raises() -> None:
    with pytest.raises(ValueError):
        attainment_date(date(2000, 1, 1), -1)


def test_non_int_age_raises() -> None:
    with pytest.raises(TypeError):
        attainment_date(date(2000, 1, 1), 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        attainment_date(date(2000, 1, 1), True)


def test_beyond_date_range_raises_value_error() -> None:
    with pytest.raises(ValueError):
        attainment_date(date(9990, 5, 5), 10)


def test_age_on_before_birth_raises() -> None:
    with pytest.raises(ValueError):
        age_on(date(2000, 1, 2), date(2000, 1, 1))


def test_age_on_near_date_max() -> None:
    assert age_on(date(9000, 1, 1), date(9999, 12, 31)) == 1000
    assert age_on(date(9000, 6, 1), date(9999, 12, 31)) == 999


@given(BIRTHS, AGES)
def test_age_on_consistent_with_attainment_date(birth: date, age: int) -> None:
    attained = attainment_date(birth, age)
    assert age_on(birth, attained) == age
    assert age_on(birth, attained - ONE_DAY) == age - 1
    # Attainment is always the day before the anniversary (or 28 Feb for 29 Feb births).
    if (birth.month, birth.day) == (2, 29):
        assert (attained.month, attained.day) == (2, 28)
    else:
        assert attained + ONE_DAY == birth.replace(year=birth.year + age)


@given(BIRTHS, st.integers(min_value=0, max_value=130 * 366))
def test_age_on_matches_brute_force_count(birth: date, offset: int) -> None:
    on = birth + timedelta(days=offset)
    expected = sum(1 for n in range(1, 132) if attainment_date(birth, n) <= on)
    assert age_on(birth, on) == expected


@given(BIRTHS, st.integers(min_value=0, max_value=40_000), st.integers(min_value=0, max_value=400))
def test_age_on_is_monotonic(birth: date, offset: int, step: int) -> None:
    a = birth + timedelta(days=offset)
    b = a + timedelta(days=step)
    assert age_on(birth, a) <= age_on(birth, b)
