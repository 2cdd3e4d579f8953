"""Age (年齢) computation under Japanese law.

年齢計算ニ関スル法律 (明治35年法律第50号) 第1項 counts age from the day of birth
(初日算入), and 第2項 applies 民法第143条.  Under 民法第143条第2項 a period counted in
years ends on the day BEFORE the day in the final year corresponding to its starting
day (起算日 = the birth date), so an age is attained on the day before each birthday
anniversary.  This is why, for example, someone born on 1 April attains 65 on 31 March
and belongs to the school/fiscal year of those born up to 1 April.
"""

from __future__ import annotations

from datetime import date, timedelta

__all__ = ["age_on", "attainment_date"]

_ONE_DAY = timedelta(days=1)


def attainment_date(birth: date, age: int) -> date:
    """Return the date on which a person born on ``birth`` attains (に達する) ``age`` years.

    That is the day before the ``age``-th birthday anniversary (民法第143条第2項本文).
    For a birth on 29 February the period ends on 28 February in every year: in a leap
    year the anniversary is 29 February and the day before is 28 February; in a common
    year there is no corresponding day, so by 民法第143条第2項ただし書 the period ends
    on the last day of February, i.e. 28 February.

    Age 0 is "attained" on the day of birth itself.  Raises ValueError if ``age`` < 0 or
    the result would fall outside the range of :class:`datetime.date`.
    """
    if isinstance(age, bool) or not isinstance(age, int):
        raise TypeError("age must be an int")
    if age < 0:
        raise ValueError(f"age must be >= 0 (got {age})")
    if age == 0:
        return birth
    year = birth.year + age
    if (birth.month, birth.day) == (1, 1):
        # The anniversary itself may be 1 January of year 10000, which date cannot
        # represent, while the attainment day (31 December) still can.
        if year - 1 > date.max.year:
            raise ValueError(f"attaining age {age} falls beyond year {date.max.year}")
        return date(year - 1, 12, 31)
    if year > date.max.year:
        raise ValueError(f"attaining age {age} falls beyond year {date.max.year}")
    if (birth.month, birth.day) == (2, 29):
        # Both leap and common years end on 28 Feb (see docstring); computing it
        # directly avoids constructing a non-existent 29 Feb.
        return date(year, 2, 28)
    return date(year, birth.month, birth.day) - _ONE_DAY


def age_on(birth: date, on: date) -> int:
    """Return the age (満年齢) on the date ``on`` of a person born on ``birth``.

    Consistent with :func:`attainment_date`: the age changes on the day before each
    birthday anniversary.  Raises ValueError if ``on`` is before ``birth``.
    """
    if on < birth:
        raise ValueError("the date is before the date of birth")
    # Start one above the difference in years: someone born on 1 January attains each
    # age on 31 December of the PREVIOUS calendar year.  At most two steps back follow.
    age = on.year - birth.year + 1
    while age > 0 and not _attained_by(birth, age, on):
        age -= 1
    return age


def _attained_by(birth: date, age: int, on: date) -> bool:
    try:
        return attainment_date(birth, age) <= on
    except ValueError:  # beyond date.max, hence certainly after ``on``
        return False
