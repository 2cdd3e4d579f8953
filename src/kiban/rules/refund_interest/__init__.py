"""還付加算金の割合と計算規則 (interest added to a refund of an over-paid levy), as data: ``standard.toml``.

地方税法第17条の4第1項: 過誤納金を還付・充当するときは、区分ごとに定める日の翌日から還付のための支出を
決定した日（又は充当をした日）までの日数に応じ、年7.3%の割合で計算した還付加算金を加算する. While the
特例 of 地方税法附則第3条の2 applies the rate is the year's 特例基準割合 (2000–2020) or 還付加算金特例
基準割合 = 平均貸付割合 + 年0.5% (2021–, at least 年0.1%), whenever that is below 7.3%.

This module reads the yearly rates and the rounding settings (基礎額・確定金額の単位と最低額), checks them
at load time — every rate against its basis and the formula of its era, every 2021+ basis against its
平均貸付割合, every source named — and hands them out. Errors name the file and the field. The
computation itself is :mod:`kiban.collection.refund_interest`.

Pure: no database, no web, no CLI (import-linter contract).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any

from kiban.rules.late_fee import Source

__all__ = [
    "RefundInterestRules",
    "RefundInterestRulesError",
    "Source",
    "YearNotVerified",
    "YearRate",
    "load_rules",
    "parse_rules",
]

_FORMULAS = {"from_2000": (2000, 2013), "from_2014": (2014, 2020), "from_2021": (2021, 9999)}
_FILE = "standard.toml"
_HALF = Decimal("0.5")


class RefundInterestRulesError(ValueError):
    """The shipped rules are malformed or contradict themselves (message names file and field)."""


class YearNotVerified(LookupError):
    """The 還付加算金の割合 of a calendar year was not verified."""

    def __init__(self, year: int, first: int, last: int) -> None:
        super().__init__(
            f"{year}年の還付加算金の割合は確認できていないため計算できません（収録: {first}年〜{last}年）"
        )
        self.year = year


@dataclass(frozen=True)
class YearRate:
    """The 還付加算金の割合 (年 %) of one calendar year and the basis it derives from."""

    year: int
    rate: Decimal
    basis: Decimal  # 特例基準割合（2021年以降は還付加算金特例基準割合）
    average_lending: Decimal | None  # 平均貸付割合（2021年以降）
    formula: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class RefundInterestRules:
    """The yearly rates and the rounding settings of one rules file."""

    days_per_year: int
    statutory_rate: Decimal
    minimum_rate: Decimal
    base_unit: int  # 計算の基礎となる過誤納金の端数を切り捨てる単位（円）
    base_minimum: int  # 過誤納金（切捨て前）がこれ未満なら還付加算金を計算しない（円）
    interest_unit: int  # 還付加算金の確定金額の端数を切り捨てる単位（円）
    interest_minimum: int  # 還付加算金の全額（切捨て前）がこれ未満なら加算しない（円）
    rates: Mapping[int, YearRate]
    sources: Mapping[str, Source]
    rounding_sources: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def first_year(self) -> int:
        return min(self.rates)

    @property
    def last_year(self) -> int:
        return max(self.rates)

    def rate_for(self, year: int) -> YearRate:
        """The rate of calendar ``year`` (:class:`YearNotVerified` if not shipped)."""
        try:
            return self.rates[year]
        except KeyError:
            raise YearNotVerified(year, self.first_year, self.last_year) from None


@cache
def load_rules() -> RefundInterestRules:
    """Load and check the shipped ``standard.toml``."""
    text = resources.files(__package__).joinpath(_FILE).read_text(encoding="utf-8")
    return parse_rules(text, _FILE)


def parse_rules(text: str, filename: str = _FILE) -> RefundInterestRules:
    """Parse and check rules from TOML ``text``; :class:`RefundInterestRulesError` names file and field."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RefundInterestRulesError(f"{filename}: {exc}") from exc
    reader = _Reader(filename)
    rules = reader.build(raw)
    reader.check(rules)
    return rules


class _Reader:
    def __init__(self, filename: str) -> None:
        self.filename = filename

    def fail(self, field: str, message: str) -> RefundInterestRulesError:
        return RefundInterestRulesError(f"{self.filename}: {field}: {message}")

    def get(self, table: Mapping[str, Any], key: str, field: str) -> Any:
        if not isinstance(table, Mapping):
            raise self.fail(field or "(top)", "must be a table")
        if key not in table:
            raise self.fail(f"{field}.{key}" if field else key, "missing")
        return table[key]

    def int_(self, value: Any, field: str, *, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, f"must be an integer, not {value!r}")
        if value < minimum:
            raise self.fail(field, f"must be >= {minimum}, not {value}")
        return value

    def str_(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field, f"must be a non-empty string, not {value!r}")
        return value

    def percent(self, value: Any, field: str) -> Decimal:
        # Strings, never TOML floats: 0.9 as a float is not 0.9.
        if not isinstance(value, str):
            raise self.fail(field, f'must be a decimal string such as "0.9", not {value!r}')
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise self.fail(field, f"{value!r} is not a decimal") from None
        if not result.is_finite() or not Decimal(0) <= result <= Decimal("7.3"):
            raise self.fail(field, f"must be a percentage in [0, 7.3], not {value!r}")
        return result

    def str_list(self, value: Any, field: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(field, f"must be a list of strings, not {value!r}")
        return tuple(self.str_(v, f"{field}[{i}]") for i, v in enumerate(value))

    def build(self, raw: dict[str, Any]) -> RefundInterestRules:
        sources: dict[str, Source] = {}
        for key, src in self.get(raw, "sources", "").items():
            field = f"sources.{key}"
            sources[key] = Source(
                key=key,
                title=self.str_(self.get(src, "title", field), f"{field}.title"),
                url=self.str_(self.get(src, "url", field), f"{field}.url"),
            )
        rates: dict[int, YearRate] = {}
        for year_text, row in self.get(raw, "rates", "").items():
            field = f"rates.{year_text}"
            try:
                year = int(year_text)
            except ValueError:
                raise self.fail(field, "the key must be a calendar year") from None
            if not isinstance(row, dict):
                raise self.fail(field, "must be a table")
            formula = self.str_(self.get(row, "formula", field), f"{field}.formula")
            if formula not in _FORMULAS:
                raise self.fail(f"{field}.formula", f"must be one of {tuple(_FORMULAS)}, not {formula!r}")
            lending = row.get("average_lending")
            rates[year] = YearRate(
                year=year,
                rate=self.percent(self.get(row, "rate", field), f"{field}.rate"),
                basis=self.percent(self.get(row, "basis", field), f"{field}.basis"),
                average_lending=None
                if lending is None
                else self.percent(lending, f"{field}.average_lending"),
                formula=formula,
                sources=self.str_list(self.get(row, "sources", field), f"{field}.sources"),
            )
        return RefundInterestRules(
            days_per_year=self.int_(self.get(raw, "days_per_year", ""), "days_per_year", minimum=1),
            statutory_rate=self.percent(self.get(raw, "statutory_rate", ""), "statutory_rate"),
            minimum_rate=self.percent(self.get(raw, "minimum_rate", ""), "minimum_rate"),
            base_unit=self.int_(self.get(raw, "base_unit", ""), "base_unit", minimum=1),
            base_minimum=self.int_(self.get(raw, "base_minimum", ""), "base_minimum"),
            interest_unit=self.int_(self.get(raw, "interest_unit", ""), "interest_unit", minimum=1),
            interest_minimum=self.int_(self.get(raw, "interest_minimum", ""), "interest_minimum"),
            rates=rates,
            sources=sources,
            rounding_sources=self.str_list(self.get(raw, "rounding_sources", ""), "rounding_sources"),
            notes=self.str_list(raw.get("notes", []), "notes"),
        )

    def check(self, rules: RefundInterestRules) -> None:
        """Refuse rules whose figures do not hang together."""
        if rules.days_per_year != 365:
            raise self.fail("days_per_year", f"must be 365 (閏年も365日当たり), not {rules.days_per_year}")
        if rules.statutory_rate != Decimal("7.3"):
            raise self.fail("statutory_rate", "本則 is 年7.3% (地方税法第17条の4第1項)")
        if rules.minimum_rate != Decimal("0.1"):
            raise self.fail("minimum_rate", "the 2021+ floor is 年0.1%")
        if not rules.rates:
            raise self.fail("rates", "no year")
        years = sorted(rules.rates)
        if years != list(range(years[0], years[-1] + 1)):
            raise self.fail("rates", f"the years must be consecutive: {years}")
        for year, row in rules.rates.items():
            field = f"rates.{year}"
            first, last = _FORMULAS[row.formula]
            if not first <= year <= last:
                raise self.fail(f"{field}.formula", f"{row.formula!r} does not apply to {year}")
            if row.formula == "from_2021":
                if row.average_lending is None:
                    raise self.fail(f"{field}.average_lending", "missing (平均貸付割合, 2021年以降)")
                if row.basis != row.average_lending + _HALF:
                    raise self.fail(
                        f"{field}.basis",
                        f"{row.basis} but 平均貸付割合 {row.average_lending} + 0.5 = {row.average_lending + _HALF}",
                    )
                expected = min(rules.statutory_rate, max(rules.minimum_rate, row.basis))
            else:
                if row.average_lending is not None:
                    raise self.fail(f"{field}.average_lending", f"no 平均貸付割合 before 2021 ({year})")
                expected = min(rules.statutory_rate, row.basis)
            if row.rate != expected:
                raise self.fail(
                    f"{field}.rate",
                    f"{row.rate} but the {row.formula} formula on basis {row.basis} gives {expected}",
                )
            self.check_sources(rules, row.sources, f"{field}.sources")
        self.check_sources(rules, rules.rounding_sources, "rounding_sources")

    def check_sources(self, rules: RefundInterestRules, keys: tuple[str, ...], field: str) -> None:
        if not keys:
            raise self.fail(field, "every figure needs a source")
        unknown = [k for k in keys if k not in rules.sources]
        if unknown:
            raise self.fail(field, f"unknown sources {unknown}")
