"""介護保険料の徴収カレンダー (collection calendars): 普通徴収の納期 and 特別徴収の端数処理, one TOML per insurer.

普通徴収の納期 (期別と納期限) are fixed by each insurer's 条例 (介護保険法第133条; 介護保険条例参考例
第3条 — the article number differs from city to city). 特別徴収 months are fixed by law (仮徴収
4・6・8月: 法第140条; 本徴収 10・12・2月: 法第135条・第137条, the 年金支給月 of 国民年金法第18条第3項), so a
file only chooses the 端数 unit and which installment carries the remainder.

A 納期限 that falls on a 地方公共団体の休日 moves to the next day that is not one (地方自治法第4条の2第4項).
The 休日 are 日曜日・土曜日, 国民の祝日に関する法律の休日 and the 年末年始 the 条例 names (同条第2項);
the 祝日 are an explicit list (:data:`NATIONAL_HOLIDAYS`, 2024–2027), and a calendar whose 納期限
would fall outside that list is refused at load time rather than silently ignoring a holiday.

No database, no web (import-linter contract): :mod:`kiban.kaigo.assessment.installments` reads these.
"""

from __future__ import annotations

import calendar as _calendar
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Any, Literal

__all__ = [
    "HOLIDAY_YEARS",
    "NATIONAL_HOLIDAYS",
    "CalendarYearNotCovered",
    "CollectionCalendar",
    "CollectionCalendarError",
    "DemandFee",
    "OrdinaryPeriod",
    "Source",
    "UnknownCalendar",
    "calendar_keys",
    "load_calendar",
    "parse_calendar",
]

Remainder = Literal["first", "last"]

# 国民の祝日に関する法律（昭和23年法律第178号）第2条・第3条 の休日（振替休日・国民の休日を含む）.
# Source: 内閣府「国民の祝日について」https://www8.cao.go.jp/chosei/shukujitsu/gaiyou.html (2024–2026);
# 2027 (令和9年) 春分の日 3月21日・秋分の日 9月23日 follow 国立天文台「令和9年（2027）暦要項」
# https://eco.mtk.nao.ac.jp/koyomi/yoko/ — not re-checked against the page in this environment.
NATIONAL_HOLIDAYS: frozenset[date] = frozenset(
    date.fromisoformat(d)
    for d in (
        # 2024 (令和6年)
        "2024-01-01", "2024-01-08", "2024-02-11", "2024-02-12", "2024-02-23", "2024-03-20",
        "2024-04-29", "2024-05-03", "2024-05-04", "2024-05-05", "2024-05-06", "2024-07-15",
        "2024-08-11", "2024-08-12", "2024-09-16", "2024-09-22", "2024-09-23", "2024-10-14",
        "2024-11-03", "2024-11-04", "2024-11-23",
        # 2025 (令和7年)
        "2025-01-01", "2025-01-13", "2025-02-11", "2025-02-23", "2025-02-24", "2025-03-20",
        "2025-04-29", "2025-05-03", "2025-05-04", "2025-05-05", "2025-05-06", "2025-07-21",
        "2025-08-11", "2025-09-15", "2025-09-23", "2025-10-13", "2025-11-03", "2025-11-23",
        "2025-11-24",
        # 2026 (令和8年)
        "2026-01-01", "2026-01-12", "2026-02-11", "2026-02-23", "2026-03-20", "2026-04-29",
        "2026-05-03", "2026-05-04", "2026-05-05", "2026-05-06", "2026-07-20", "2026-08-11",
        "2026-09-21", "2026-09-22", "2026-09-23", "2026-10-12", "2026-11-03", "2026-11-23",
        # 2027 (令和9年)
        "2027-01-01", "2027-01-11", "2027-02-11", "2027-02-23", "2027-03-21", "2027-03-22",
        "2027-04-29", "2027-05-03", "2027-05-04", "2027-05-05", "2027-07-19", "2027-08-11",
        "2027-09-20", "2027-09-23", "2027-10-11", "2027-11-03", "2027-11-23",
    )
)  # fmt: skip
HOLIDAY_YEARS: tuple[int, ...] = (2024, 2025, 2026, 2027)

# 法第140条（仮徴収）and 法第135条・第137条（本徴収）: the 年金支給月 (国民年金法第18条第3項: 偶数月).
PROVISIONAL_MONTHS: tuple[int, ...] = (4, 6, 8)
DEFINITIVE_MONTHS: tuple[int, ...] = (10, 12, 2)
PENSION_PAYMENT_DAY = 15  # 年金支給日 (各偶数月の15日)
_UNITS = (1, 10, 100, 1000)


class CollectionCalendarError(ValueError):
    """A calendar file is malformed; the message names the file and the field."""


class UnknownCalendar(LookupError):
    """No calendar is shipped under the key asked for."""

    def __init__(self, key: str) -> None:
        super().__init__(f"保険者 {key!r} の徴収カレンダーはありません（収録: {', '.join(calendar_keys())}）")
        self.key = key


class CalendarYearNotCovered(LookupError):
    """A 年度 (or a date) outside what a calendar or the 祝日 list was checked for."""


@dataclass(frozen=True)
class Source:
    """A published document a figure was checked against."""

    key: str
    title: str
    url: str


@dataclass(frozen=True)
class DemandFee:
    """督促手数料 of an insurer's 条例 (地方自治法第231条の3第2項: 条例で定めるところにより手数料を徴収
    することができる). Only an insurer whose 条例 sets one has a ``[demand_fee]`` table; none by default.

    ``per`` is ``"letter"`` (督促状1通につき — the usual wording) or ``"period"`` (期別ごと).
    """

    amount: int
    per: Literal["letter", "period"]
    ordinance: str  # the 条例 and article, as printed in the notes
    source: str


@dataclass(frozen=True)
class OrdinaryPeriod:
    """One 普通徴収の期 (期別): its number, label and the month of its 納期限.

    ``year_offset`` 0 is the calendar year in which the 年度 starts, 1 the next (e.g. 第10期 in
    翌年4月 is month 4, offset 1).
    """

    period: int
    label: str
    month: int
    year_offset: int


@dataclass(frozen=True)
class CollectionCalendar:
    """徴収カレンダー of one insurer: 普通徴収の納期, 端数処理 of both methods, the 休日."""

    key: str
    name: str
    fiscal_years: tuple[int, ...]
    ordinary_periods: tuple[OrdinaryPeriod, ...]
    ordinary_due_day: int | None  # None: the last day of the month (月末)
    ordinary_unit: int
    ordinary_remainder: Remainder
    special_unit: int
    special_remainder: Remainder
    year_end_closure: bool  # 12月29日〜1月3日 as 休日 (地方自治法第4条の2第2項第3号)
    sources: dict[str, Source]
    notes: tuple[str, ...]
    demand_fee: DemandFee | None = None  # 督促手数料 when the 条例 sets one

    def require_year(self, fiscal_year: int) -> None:
        """Raise :class:`CalendarYearNotCovered` unless the calendar covers 年度 ``fiscal_year``."""
        if fiscal_year not in self.fiscal_years:
            years = "・".join(str(y) for y in self.fiscal_years)
            raise CalendarYearNotCovered(
                f"{self.name}の徴収カレンダーは {years} 年度のみ収録しています: {fiscal_year}年度"
            )

    def is_closed(self, d: date) -> bool:
        """True if ``d`` is a 地方公共団体の休日 (土日・祝日・年末年始) under this calendar."""
        if d.year not in HOLIDAY_YEARS:
            raise CalendarYearNotCovered(
                f"{d.isoformat()} は祝日表（{HOLIDAY_YEARS[0]}〜{HOLIDAY_YEARS[-1]}年）の範囲外です"
            )
        if d.weekday() >= 5 or d in NATIONAL_HOLIDAYS:
            return True
        return self.year_end_closure and ((d.month == 12 and d.day >= 29) or (d.month == 1 and d.day <= 3))

    def next_open_day(self, d: date) -> date:
        """``d`` itself, or the next day that is not a 休日 (地方自治法第4条の2第4項)."""
        while self.is_closed(d):
            d += timedelta(days=1)
        return d

    def due_in_month(self, year: int, month: int) -> date:
        """The 普通徴収 納期限 of a period in ``year``/``month``, after the 休日 shift."""
        last = _calendar.monthrange(year, month)[1]
        day = last if self.ordinary_due_day is None else min(self.ordinary_due_day, last)
        return self.next_open_day(date(year, month, day))

    def ordinary_due_dates(self, fiscal_year: int) -> tuple[tuple[OrdinaryPeriod, date], ...]:
        """Every 普通徴収 period of 年度 ``fiscal_year`` with its 納期限."""
        self.require_year(fiscal_year)
        return tuple(
            (p, self.due_in_month(fiscal_year + p.year_offset, p.month)) for p in self.ordinary_periods
        )

    def special_due_date(self, fiscal_year: int, month: int) -> date:
        """The 特別徴収 date of ``month`` in 年度 ``fiscal_year``: the 15th (年金支給日).

        No 休日 shift is applied: the 年金 is paid on the preceding working day when the 15th is a
        休日, but the 特別徴収 is the deduction from that payment, recorded by month here.
        """
        return date(fiscal_year if month >= 4 else fiscal_year + 1, month, PENSION_PAYMENT_DAY)


def calendar_keys() -> tuple[str, ...]:
    """Keys of the shipped calendars, e.g. ``('standard',)``."""
    return tuple(
        sorted(
            entry.name.removesuffix(".toml")
            for entry in resources.files(__package__).iterdir()
            if entry.name.endswith(".toml")
        )
    )


@cache
def load_calendar(key: str) -> CollectionCalendar:
    """Load and check the calendar named ``key`` (:class:`UnknownCalendar` if none is shipped)."""
    if key not in calendar_keys():
        raise UnknownCalendar(key)
    text = resources.files(__package__).joinpath(f"{key}.toml").read_text(encoding="utf-8")
    cal = parse_calendar(text, f"{key}.toml")
    if cal.key != key:
        raise CollectionCalendarError(
            f"{key}.toml: key: ファイル名と異なるキー {cal.key!r} が宣言されています"
        )
    return cal


def parse_calendar(text: str, filename: str) -> CollectionCalendar:
    """Parse and check calendar TOML ``text``; errors name ``filename`` and the field."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CollectionCalendarError(f"{filename}: TOML として読めません: {exc}") from exc
    return _Reader(filename).build(raw)


class _Reader:
    def __init__(self, filename: str) -> None:
        self.filename = filename

    def fail(self, field: str, message: str) -> CollectionCalendarError:
        return CollectionCalendarError(f"{self.filename}: {field}: {message}")

    def get(self, table: dict[str, Any], name: str, field: str) -> Any:
        if name not in table:
            raise self.fail(field, "必須の項目がありません")
        return table[name]

    def text(self, table: dict[str, Any], name: str, field: str) -> str:
        value = self.get(table, name, field)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field, f"空でない文字列を指定してください（{value!r}）")
        return value

    def integer(self, value: Any, field: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(field, f"{low}〜{high} の整数を指定してください（{value!r}）")
        return value

    def table(self, raw: dict[str, Any], name: str, field: str) -> dict[str, Any]:
        value = self.get(raw, name, field)
        if not isinstance(value, dict):
            raise self.fail(field, "テーブルを指定してください")
        return value

    def unit(self, table: dict[str, Any], field: str) -> int:
        value = self.get(table, "unit", field)
        if isinstance(value, bool) or value not in _UNITS:
            raise self.fail(field, f"端数の単位は 1・10・100・1000 円のいずれかです（{value!r}）")
        return int(value)

    def remainder(self, table: dict[str, Any], field: str) -> Remainder:
        value = self.get(table, "remainder", field)
        if value == "first":
            return "first"
        if value == "last":
            return "last"
        raise self.fail(field, f'端数を加える期は "first" か "last" です（{value!r}）')

    def build(self, raw: dict[str, Any]) -> CollectionCalendar:
        sources_raw = self.table(raw, "sources", "sources")
        sources = {}
        for name, src in sources_raw.items():
            if not isinstance(src, dict):
                raise self.fail(f"sources.{name}", "テーブルを指定してください")
            sources[name] = Source(
                key=name,
                title=self.text(src, "title", f"sources.{name}.title"),
                url=self.text(src, "url", f"sources.{name}.url"),
            )
        years_raw = self.get(raw, "fiscal_years", "fiscal_years")
        if not isinstance(years_raw, list) or not years_raw:
            raise self.fail("fiscal_years", "年度の配列を指定してください")
        years = tuple(self.integer(y, "fiscal_years", 2000, 2100) for y in years_raw)

        ordinary = self.table(raw, "ordinary", "ordinary")
        due_day_raw = self.get(ordinary, "due_day", "ordinary.due_day")
        due_day = None if due_day_raw == "last" else self.integer(due_day_raw, "ordinary.due_day", 1, 31)
        periods_raw = self.get(ordinary, "periods", "ordinary.periods")
        if not isinstance(periods_raw, list) or not periods_raw:
            raise self.fail("ordinary.periods", "期別を1つ以上指定してください")
        periods = []
        for i, row in enumerate(periods_raw):
            field = f"ordinary.periods[{i}]"
            if not isinstance(row, dict):
                raise self.fail(field, "テーブルを指定してください")
            number = self.integer(self.get(row, "period", f"{field}.period"), f"{field}.period", 1, 24)
            if number != i + 1:
                raise self.fail(
                    f"{field}.period", f"期は1から順に番号を付けてください（{i + 1} のはずが {number}）"
                )
            periods.append(
                OrdinaryPeriod(
                    period=number,
                    label=self.text(row, "label", f"{field}.label"),
                    month=self.integer(self.get(row, "month", f"{field}.month"), f"{field}.month", 1, 12),
                    year_offset=self.integer(
                        self.get(row, "year_offset", f"{field}.year_offset"), f"{field}.year_offset", 0, 1
                    ),
                )
            )
            source = self.text(row, "source", f"{field}.source")
            if source not in sources:
                raise self.fail(f"{field}.source", f"sources にない出典 {source!r} です")
        special = self.table(raw, "special", "special")
        holidays = self.table(raw, "holidays", "holidays")
        for name, section in (("special", special), ("ordinary", ordinary), ("holidays", holidays)):
            source = self.text(section, "source", f"{name}.source")
            if source not in sources:
                raise self.fail(f"{name}.source", f"sources にない出典 {source!r} です")
        year_end = self.get(holidays, "year_end_closure", "holidays.year_end_closure")
        if not isinstance(year_end, bool):
            raise self.fail("holidays.year_end_closure", f"true か false を指定してください（{year_end!r}）")
        notes = raw.get("notes", [])
        if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
            raise self.fail("notes", "文字列の配列を指定してください")

        demand_fee = self.demand_fee(raw, sources)
        cal = CollectionCalendar(
            key=self.text(raw, "key", "key"),
            name=self.text(raw, "name", "name"),
            fiscal_years=years,
            ordinary_periods=tuple(periods),
            ordinary_due_day=due_day,
            ordinary_unit=self.unit(ordinary, "ordinary.unit"),
            ordinary_remainder=self.remainder(ordinary, "ordinary.remainder"),
            special_unit=self.unit(special, "special.unit"),
            special_remainder=self.remainder(special, "special.remainder"),
            year_end_closure=year_end,
            sources=sources,
            notes=tuple(notes),
            demand_fee=demand_fee,
        )
        self.check_dates(cal)
        return cal

    def demand_fee(self, raw: dict[str, Any], sources: dict[str, Source]) -> DemandFee | None:
        """The optional ``[demand_fee]``: 1〜1,000円 (no 条例 seen sets more), per 督促状 or 期別."""
        if "demand_fee" not in raw:
            return None
        table = self.table(raw, "demand_fee", "demand_fee")
        amount = self.integer(self.get(table, "amount", "demand_fee.amount"), "demand_fee.amount", 1, 1000)
        per = self.get(table, "per", "demand_fee.per")
        if per not in ("letter", "period"):
            raise self.fail(
                "demand_fee.per", f'"letter"（督促状1通につき）か "period"（期別ごと）です（{per!r}）'
            )
        source = self.text(table, "source", "demand_fee.source")
        if source not in sources:
            raise self.fail("demand_fee.source", f"sources にない出典 {source!r} です")
        return DemandFee(amount, per, self.text(table, "ordinance", "demand_fee.ordinance"), source)

    def check_dates(self, cal: CollectionCalendar) -> None:
        """Every 納期限 lies within the 年度 + 出納整理期間, in order, inside the 祝日 list."""
        for fy in cal.fiscal_years:
            previous: date | None = None
            for i, period in enumerate(cal.ordinary_periods):
                field = f"ordinary.periods[{i}]"
                nominal = date(fy + period.year_offset, period.month, 1)
                # 地方自治法第235条の5: 出納閉鎖 is 翌年度の5月31日; no 納期 of the 年度 may lie beyond it,
                # nor before the 年度 starts (賦課期日 4月1日, 介護保険法第130条).
                if not date(fy, 4, 1) <= nominal <= date(fy + 1, 5, 31):
                    raise self.fail(
                        field, f"{fy}年度の納期 {nominal:%Y年%m月} が年度（出納整理期間を含む）の外です"
                    )
                try:
                    due = cal.due_in_month(nominal.year, nominal.month)
                except CalendarYearNotCovered as exc:
                    raise self.fail("fiscal_years", f"{fy}年度: {exc}") from None
                if previous is not None and due <= previous:
                    raise self.fail(
                        field, f"{fy}年度の納期限 {due} が前の期（{previous}）より後ではありません"
                    )
                previous = due
