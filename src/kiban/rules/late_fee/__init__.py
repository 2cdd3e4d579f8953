"""延滞金の割合と計算規則 (late-fee rates and calculation rules), as data: ``standard.toml``.

介護保険料（普通徴収）の延滞金 is fixed by each insurer's 条例 under 地方自治法第231条の3第2項; the
条例 copy 地方税法 (第326条・第369条 等, 特例は附則第3条の2): 年14.6%, 年7.3% for the period up to
「納期限の翌日から1月を経過する日まで」, each lowered while the year's 延滞金特例基準割合 is below 7.3%.

This module reads the yearly rates and the insurer profiles (端数・最低額・年7.3%側の月数), checks
them at load time — every rate against its 特例基準割合 and the formula of its era, every source
named, every setting in range — and hands them out. Errors name the file and the field. The
computation itself is :mod:`kiban.collection.late_fee`.

Pure: no database, no web, no CLI (import-linter contract).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any, Literal

__all__ = [
    "InsurerProfile",
    "LateFeeRules",
    "LateFeeRulesError",
    "Source",
    "UnknownInsurer",
    "YearNotVerified",
    "YearRates",
    "load_rules",
    "parse_rules",
]

SegmentRounding = Literal["none", "yen"]
_FORMULAS = ("from_2000", "from_2014")
_FILE = "standard.toml"


class LateFeeRulesError(ValueError):
    """The shipped rules are malformed or contradict themselves (message names file and field)."""


class UnknownInsurer(LookupError):
    """No profile is shipped under the insurer key asked for."""

    def __init__(self, key: str, known: tuple[str, ...]) -> None:
        super().__init__(f"保険者 {key!r} の延滞金の計算規則はありません（収録: {', '.join(known)}）")
        self.key = key


class YearNotVerified(LookupError):
    """The rates of a calendar year were not verified (or the insurer's are not known for it)."""

    def __init__(self, year: int, first: int, last: int, who: str) -> None:
        super().__init__(
            f"{year}年の延滞金の割合は確認できていないため計算できません（{who}の収録: {first}年〜{last}年）"
        )
        self.year = year


@dataclass(frozen=True)
class Source:
    """A published document a figure was checked against."""

    key: str
    title: str
    url: str


@dataclass(frozen=True)
class YearRates:
    """The two rates (年 %) of one calendar year and the 特例基準割合 they derive from."""

    year: int
    within: Decimal  # 納期限の翌日から1月（条例により3月）を経過する日まで
    after: Decimal  # それ以後
    basis: Decimal  # 特例基準割合（2021年以降は延滞金特例基準割合）
    formula: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class InsurerProfile:
    """One insurer's calculation rules (its 条例 and published practice)."""

    key: str
    name: str
    reduced_months: int
    principal_unit: int
    principal_minimum: int
    fee_unit: int
    fee_minimum: int
    segment_rounding: SegmentRounding
    first_year: int
    last_year: int
    sources: tuple[str, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class LateFeeRules:
    """The yearly rates and the insurer profiles of one rules file."""

    days_per_year: int
    statutory_within: Decimal
    statutory_after: Decimal
    rates: Mapping[int, YearRates]
    insurers: Mapping[str, InsurerProfile]
    sources: Mapping[str, Source]
    notes: tuple[str, ...]

    def insurer(self, key: str) -> InsurerProfile:
        """The profile ``key`` (:class:`UnknownInsurer` if none)."""
        try:
            return self.insurers[key]
        except KeyError:
            raise UnknownInsurer(key, tuple(sorted(self.insurers))) from None

    def rates_for(self, year: int, profile: InsurerProfile) -> YearRates:
        """The rates of calendar ``year`` for ``profile`` (:class:`YearNotVerified` if unknown)."""
        if not profile.first_year <= year <= profile.last_year:
            raise YearNotVerified(year, profile.first_year, profile.last_year, profile.name)
        if year not in self.rates:
            first, last = min(self.rates), max(self.rates)
            raise YearNotVerified(year, first, last, "割合表")
        return self.rates[year]


@cache
def load_rules() -> LateFeeRules:
    """Load and check the shipped ``standard.toml``."""
    text = resources.files(__package__).joinpath(_FILE).read_text(encoding="utf-8")
    return parse_rules(text, _FILE)


def parse_rules(text: str, filename: str = _FILE) -> LateFeeRules:
    """Parse and check rules from TOML ``text``; :class:`LateFeeRulesError` names ``filename`` and field."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LateFeeRulesError(f"{filename}: {exc}") from exc
    reader = _Reader(filename)
    rules = reader.build(raw)
    reader.check(rules)
    return rules


class _Reader:
    def __init__(self, filename: str) -> None:
        self.filename = filename

    def fail(self, field: str, message: str) -> LateFeeRulesError:
        return LateFeeRulesError(f"{self.filename}: {field}: {message}")

    def get(self, table: Mapping[str, Any], key: str, field: str) -> Any:
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
        # Strings, never TOML floats: 2.4 as a float is not 2.4.
        if not isinstance(value, str):
            raise self.fail(field, f'must be a decimal string such as "2.4", not {value!r}')
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise self.fail(field, f"{value!r} is not a decimal") from None
        if not result.is_finite() or not Decimal(0) < result <= Decimal("14.6"):
            raise self.fail(field, f"must be a percentage in (0, 14.6], not {value!r}")
        return result

    def str_list(self, value: Any, field: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(field, f"must be a list of strings, not {value!r}")
        return tuple(self.str_(v, f"{field}[{i}]") for i, v in enumerate(value))

    def build(self, raw: dict[str, Any]) -> LateFeeRules:
        sources_raw = self.get(raw, "sources", "")
        sources = {
            key: Source(
                key=key,
                title=self.str_(self.get(src, "title", f"sources.{key}"), f"sources.{key}.title"),
                url=self.str_(self.get(src, "url", f"sources.{key}"), f"sources.{key}.url"),
            )
            for key, src in sources_raw.items()
        }
        rates: dict[int, YearRates] = {}
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
                raise self.fail(f"{field}.formula", f"must be one of {_FORMULAS}, not {formula!r}")
            rates[year] = YearRates(
                year=year,
                within=self.percent(self.get(row, "within", field), f"{field}.within"),
                after=self.percent(self.get(row, "after", field), f"{field}.after"),
                basis=self.percent(self.get(row, "basis", field), f"{field}.basis"),
                formula=formula,
                sources=self.str_list(self.get(row, "sources", field), f"{field}.sources"),
            )
        insurers: dict[str, InsurerProfile] = {}
        for key, row in self.get(raw, "insurers", "").items():
            field = f"insurers.{key}"
            rounding = self.get(row, "segment_rounding", field)
            if rounding not in ("none", "yen"):
                raise self.fail(f"{field}.segment_rounding", f'must be "none" or "yen", not {rounding!r}')
            years = self.get(row, "years", field)
            if not isinstance(years, list) or len(years) != 2:
                raise self.fail(f"{field}.years", f"must be [first, last], not {years!r}")
            insurers[key] = InsurerProfile(
                key=key,
                name=self.str_(self.get(row, "name", field), f"{field}.name"),
                reduced_months=self.int_(
                    self.get(row, "reduced_months", field), f"{field}.reduced_months", minimum=1
                ),
                principal_unit=self.int_(
                    self.get(row, "principal_unit", field), f"{field}.principal_unit", minimum=1
                ),
                principal_minimum=self.int_(
                    self.get(row, "principal_minimum", field), f"{field}.principal_minimum"
                ),
                fee_unit=self.int_(self.get(row, "fee_unit", field), f"{field}.fee_unit", minimum=1),
                fee_minimum=self.int_(self.get(row, "fee_minimum", field), f"{field}.fee_minimum"),
                segment_rounding=rounding,
                first_year=self.int_(years[0], f"{field}.years[0]", minimum=1),
                last_year=self.int_(years[1], f"{field}.years[1]", minimum=1),
                sources=self.str_list(self.get(row, "sources", field), f"{field}.sources"),
                notes=self.str_list(row.get("notes", []), f"{field}.notes"),
            )
        return LateFeeRules(
            days_per_year=self.int_(self.get(raw, "days_per_year", ""), "days_per_year", minimum=1),
            statutory_within=self.percent(self.get(raw, "statutory_within", ""), "statutory_within"),
            statutory_after=self.percent(self.get(raw, "statutory_after", ""), "statutory_after"),
            rates=rates,
            insurers=insurers,
            sources=sources,
            notes=self.str_list(raw.get("notes", []), "notes"),
        )

    def check(self, rules: LateFeeRules) -> None:
        """Refuse rules whose figures do not hang together."""
        if rules.days_per_year != 365:
            # 昭和45年法律第13号第25条: 閏年の日を含む期間についても365日当たりの割合.
            raise self.fail("days_per_year", f"must be 365 (閏年も365日当たり), not {rules.days_per_year}")
        if (rules.statutory_within, rules.statutory_after) != (Decimal("7.3"), Decimal("14.6")):
            raise self.fail("statutory_within/after", "本則 is 年7.3% / 年14.6%")
        if not rules.rates:
            raise self.fail("rates", "no year")
        years = sorted(rules.rates)
        if years != list(range(years[0], years[-1] + 1)):
            raise self.fail("rates", f"the years must be consecutive: {years}")
        for year, rate in rules.rates.items():
            field = f"rates.{year}"
            if rate.formula == "from_2014":
                within = min(rules.statutory_within, rate.basis + Decimal(1))
                after = min(rules.statutory_after, rate.basis + Decimal("7.3"))
            else:
                within = min(rules.statutory_within, rate.basis)
                after = rules.statutory_after
            if rate.within != within:
                raise self.fail(
                    f"{field}.within",
                    f"{rate.within} but the {rate.formula} formula on basis {rate.basis} gives {within}",
                )
            if rate.after != after:
                raise self.fail(
                    f"{field}.after",
                    f"{rate.after} but the {rate.formula} formula on basis {rate.basis} gives {after}",
                )
            if (rate.formula == "from_2014") != (year >= 2014):
                raise self.fail(f"{field}.formula", f"{rate.formula!r} does not apply to {year}")
            self.check_sources(rules, rate.sources, f"{field}.sources")
        if not rules.insurers:
            raise self.fail("insurers", "no insurer")
        for key, profile in rules.insurers.items():
            field = f"insurers.{key}"
            if profile.reduced_months > 12:
                raise self.fail(
                    f"{field}.reduced_months", f"{profile.reduced_months} months is not a 条例's figure"
                )
            if profile.first_year > profile.last_year:
                raise self.fail(f"{field}.years", f"{profile.first_year} > {profile.last_year}")
            missing = [y for y in (profile.first_year, profile.last_year) if y not in rules.rates]
            if missing:
                raise self.fail(f"{field}.years", f"no rates for {missing}")
            self.check_sources(rules, profile.sources, f"{field}.sources")

    def check_sources(self, rules: LateFeeRules, keys: tuple[str, ...], field: str) -> None:
        if not keys:
            raise self.fail(field, "every figure needs a source")
        unknown = [k for k in keys if k not in rules.sources]
        if unknown:
            raise self.fail(field, f"unknown sources {unknown}")
