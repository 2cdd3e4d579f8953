"""和暦 (Japanese era calendar) formatting and parsing.

Supported eras and their first days:

* 明治 (M, code 1) -- from 1873-01-01 (明治6年1月1日) only.  Japan adopted the solar
  calendar by 明治5年太政官布告第337号, which made 明治5年12月3日 (lunar) into
  明治6年1月1日; earlier Meiji dates are lunisolar and are rejected.
* 大正 (T, code 2) -- 1912-07-30
* 昭和 (S, code 3) -- 1926-12-25
* 平成 (H, code 4) -- 1989-01-08 (元号を改める政令, 昭和64年政令第1号)
* 令和 (R, code 5) -- 2019-05-01 (元号を改める政令, 平成31年政令第143号)

The numeric era codes are those used in local-government interchange files, where a
date is written EYYMMDD (e.g. ``5070401`` = 令和7年4月1日).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Final

__all__ = [
    "ERAS",
    "Era",
    "EraYear",
    "WarekiError",
    "era_of",
    "parse",
    "to_era_code",
    "to_wareki",
]


class WarekiError(ValueError):
    """A 和暦 date that cannot be parsed or does not exist."""


@dataclass(frozen=True, slots=True)
class Era:
    """One 元号 (era): its name, letter, interchange code and first and last day."""

    name: str
    letter: str
    code: int
    start: date
    end: date | None  # None for the current era

    def contains(self, d: date) -> bool:
        return self.start <= d and (self.end is None or d <= self.end)

    @property
    def last_year(self) -> int | None:
        """The last year number of the era (e.g. 31 for 平成), or None for the current era."""
        return None if self.end is None else self.end.year - self.start.year + 1


@dataclass(frozen=True, slots=True)
class EraYear:
    """The era and era year (和暦年) in which a date falls, e.g. 令和 7."""

    name: str
    letter: str
    code: int
    year: int

    @property
    def year_label(self) -> str:
        """``元`` for the first year (元年), otherwise the number."""
        return "元" if self.year == 1 else str(self.year)


# The first day of the Meiji solar calendar; see the module docstring.
SOLAR_CALENDAR_START: Final = date(1873, 1, 1)

# 明治's start is the Gregorian equivalent of 慶応4年9月8日 (改元の詔, retroactive to 1 January
# 1868); it only anchors the year arithmetic (1868 = 明治元年), since dates before
# SOLAR_CALENDAR_START are rejected anyway.
ERAS: Final[tuple[Era, ...]] = (
    Era("明治", "M", 1, date(1868, 10, 23), date(1912, 7, 29)),
    Era("大正", "T", 2, date(1912, 7, 30), date(1926, 12, 24)),
    Era("昭和", "S", 3, date(1926, 12, 25), date(1989, 1, 7)),
    Era("平成", "H", 4, date(1989, 1, 8), date(2019, 4, 30)),
    Era("令和", "R", 5, date(2019, 5, 1), None),
)
_BY_NAME: Final = {era.name: era for era in ERAS}
_BY_LETTER: Final = {era.letter: era for era in ERAS}
_BY_CODE: Final = {era.code: era for era in ERAS}


def _era_for(d: date) -> Era:
    if d < SOLAR_CALENDAR_START:
        raise WarekiError(
            "1873年1月1日（明治6年1月1日）より前の日付は扱えません（太陰太陽暦） / "
            "dates before 1873-01-01 (adoption of the solar calendar) are not supported"
        )
    for era in reversed(ERAS):
        if d >= era.start:
            return era
    raise AssertionError("unreachable: 明治 starts before the solar calendar")  # pragma: no cover


def era_of(d: date) -> EraYear:
    """Return the era (元号) and era year in which ``d`` falls.

    Raises WarekiError for dates before 1873-01-01.
    """
    era = _era_for(d)
    return EraYear(era.name, era.letter, era.code, d.year - era.start.year + 1)


def to_wareki(d: date) -> str:
    """Format ``d`` as a 和暦 date, e.g. ``令和7年4月1日``; the first year is ``元年``."""
    ey = era_of(d)
    return f"{ey.name}{ey.year_label}年{d.month}月{d.day}日"


def to_era_code(d: date) -> str:
    """Format ``d`` in the 7-digit interchange form EYYMMDD, e.g. ``5070401`` (令和7年4月1日)."""
    ey = era_of(d)
    if ey.year > 99:
        raise WarekiError(
            f"{ey.name}{ey.year}年は7桁形式で表せません / era year {ey.year} does not fit in EYYMMDD"
        )
    return f"{ey.code}{ey.year:02d}{d.month:02d}{d.day:02d}"


_KANJI_RE: Final = re.compile(
    r"(?P<era>明治|大正|昭和|平成|令和)(?P<year>元|[0-9]{1,2})年(?P<month>[0-9]{1,2})月(?P<day>[0-9]{1,2})日"
)
_LETTER_RE: Final = re.compile(
    r"(?P<era>[MTSHR])(?P<year>元|[0-9]{1,2})(?P<sep>[./-])(?P<month>[0-9]{1,2})(?P=sep)(?P<day>[0-9]{1,2})"
)
# Shapes that look like a wareki date but whose era is not one of ours, so the error
# can say "unknown era" instead of a generic parse failure.
_UNKNOWN_ERA_RE: Final = re.compile(
    r"[^\x00-\x7f0-9]{1,4}(?:元|[0-9]{1,2})年[0-9]{1,2}月[0-9]{1,2}日"
    r"|[A-Z](?:元|[0-9]{1,2})([./-])[0-9]{1,2}\1[0-9]{1,2}"
    r"|[06-9][0-9]{6}"
)
_CODE_RE: Final = re.compile(r"(?P<era>[1-5])(?P<year>[0-9]{2})(?P<month>[0-9]{2})(?P<day>[0-9]{2})")


def parse(text: str) -> date:
    """Parse a 和暦 date.

    Accepted forms (after NFKC, so full-width digits and letters work; whitespace is
    ignored)::

        令和7年4月1日   令和元年5月1日
        R7.4.1   R07.04.01   r7.4.1   H31/4/30   S40-1-1
        5070401          (EYYMMDD with era code 1=明治 … 5=令和)

    Raises WarekiError (a ValueError) naming the problem: unknown era or format,
    year 0, a year beyond the era's last year, a date outside the era, or a day that
    does not exist in the calendar.
    """
    if not isinstance(text, str):
        raise WarekiError("和暦の日付は文字列で指定してください / a wareki date must be a str")
    # NFKC folds full-width digits/letters to ASCII; whitespace anywhere is ignored so
    # that "令和 7年 4月 1日" as printed on some forms is accepted too.
    normalized = "".join(unicodedata.normalize("NFKC", text).split())
    upper = normalized.upper()
    if m := _KANJI_RE.fullmatch(normalized):
        era = _BY_NAME[m["era"]]
    elif m := _LETTER_RE.fullmatch(upper):
        era = _BY_LETTER[m["era"]]
    elif m := _CODE_RE.fullmatch(normalized):
        era = _BY_CODE[int(m["era"])]
    elif _UNKNOWN_ERA_RE.fullmatch(upper):
        raise WarekiError(
            f"不明な元号です: {text!r}（明治・大正・昭和・平成・令和、M・T・S・H・R、1〜5のみ） / "
            "unknown era (supported: 明治 大正 昭和 平成 令和, letters M T S H R, codes 1-5)"
        )
    else:
        raise WarekiError(
            f"和暦の日付として解釈できません: {text!r} / cannot parse as a wareki date "
            "(expected e.g. 令和7年4月1日, R7.4.1 or 5070401)"
        )
    year = 1 if m["year"] == "元" else int(m["year"])
    return _build(era, year, int(m["month"]), int(m["day"]))


def _build(era: Era, year: int, month: int, day: int) -> date:
    label = f"{era.name}{year}年{month}月{day}日"
    if year == 0:
        raise WarekiError(
            f"{era.name}0年は存在しません（最初の年は元年） / {era.name} year 0 does not exist (the first year is 元年)"
        )
    last_year = era.last_year
    if last_year is not None and year > last_year:
        assert era.end is not None
        raise WarekiError(
            f"{era.name}{year}年は存在しません（{era.name}は{last_year}年{era.end.month}月{era.end.day}日まで） / "
            f"{era.name} year {year} does not exist ({era.name} ended in year {last_year})"
        )
    gregorian_year = era.start.year + year - 1
    try:
        d = date(gregorian_year, month, day)
    except ValueError:
        raise WarekiError(f"{label}は暦に存在しない日付です / {label} is not a valid calendar date") from None
    if d < SOLAR_CALENDAR_START:
        raise WarekiError(
            f"{label}は明治6年1月1日（太陽暦採用）より前です / {label} is before 1873-01-01 (adoption of the solar calendar)"
        )
    if not era.contains(d):
        first = to_wareki(max(era.start, SOLAR_CALENDAR_START))
        last = "" if era.end is None else to_wareki(era.end)
        raise WarekiError(
            f"{label}は{era.name}の期間外です（{first}〜{last}） / {label} is outside the {era.name} era ({d.isoformat()})"
        )
    return d
