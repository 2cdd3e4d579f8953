"""介護保険 第1号保険料の所得段階表 (premium stage tables), one TOML file per insurer.

Each insurer fixes its own 基準額, number of stages, 区分 (thresholds), 割合 (multipliers) and
端数処理 in its 条例 (介護保険法第129条第2項; 介護保険法施行令第38条・第39条 give the standard
stages). This module only reads those figures, checks that they hang together, and hands them out;
the stage determination itself is :mod:`kiban.kaigo.assessment.model`.

A table is refused at load time when a published annual amount differs from
``基準額 × 割合`` under the table's rounding: a typo in a figure cannot reach a notice.
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any

from kiban.shared.fiscal import wareki_fiscal_year_label
from kiban.shared.money import Rounding, multiply

__all__ = [
    "ExemptBracket",
    "FiscalYearNotCovered",
    "PremiumTable",
    "PremiumTableError",
    "Source",
    "StageRate",
    "TaxedBracket",
    "UnknownInsurer",
    "UnverifiedRange",
    "load_table",
    "table_keys",
]


class PremiumTableError(ValueError):
    """A shipped table is malformed or contradicts its own published amounts."""


class UnknownInsurer(LookupError):
    """No table is shipped under the insurer key asked for."""

    def __init__(self, key: str) -> None:
        super().__init__(f"保険者 {key!r} の保険料段階表はありません（収録: {', '.join(table_keys())}）")
        self.key = key


class FiscalYearNotCovered(LookupError):
    """The fiscal year lies outside the years a table was verified for."""

    def __init__(self, table: PremiumTable, fiscal_year: int) -> None:
        years = "、".join(f"{wareki_fiscal_year_label(y)}（{y}年度）" for y in table.fiscal_years)
        super().__init__(
            f"{table.name}（{table.period}）の保険料段階表は {years} のみ収録しています: {fiscal_year}年度"
        )
        self.fiscal_year = fiscal_year


@dataclass(frozen=True)
class Source:
    """A published document a figure was checked against."""

    key: str
    title: str
    url: str


@dataclass(frozen=True)
class StageRate:
    """One 所得段階: its 割合 and, where the insurer publishes it, the annual amount."""

    stage: int
    multiplier: Decimal
    label: str
    source: str
    published_annual: int | None = None


@dataclass(frozen=True)
class ExemptBracket:
    """A 非課税 stage chosen by 課税年金収入額 + その他の合計所得金額 ≤ ``max`` (以下).

    ``max`` is a yen amount, the string ``"low"`` (the year's 基準所得金額) or None (no upper limit).
    """

    stage: int
    max: int | str | None


@dataclass(frozen=True)
class TaxedBracket:
    """A 本人課税 stage chosen by 合計所得金額 < ``below`` (未満); None: no upper limit (以上)."""

    stage: int
    below: int | None


@dataclass(frozen=True)
class UnverifiedRange:
    """本人課税 incomes from ``start`` (以上) whose stages could not be checked: a 試算 is refused."""

    start: int
    stages: str
    reason: str


@dataclass(frozen=True)
class PremiumTable:
    """所得段階表 of one insurer for one 介護保険事業計画期間."""

    key: str
    name: str
    period: str
    fiscal_years: tuple[int, ...]
    stage_count: int
    welfare_stage: int
    old_age_welfare_pension_stage: int
    base_annual: int
    base_source: str
    base_note: str
    rounding: Rounding
    rounding_note: str
    low_threshold: Mapping[int, int]
    household_exempt: tuple[ExemptBracket, ...]
    self_exempt: tuple[ExemptBracket, ...]
    taxed: tuple[TaxedBracket, ...]
    unverified_taxed: UnverifiedRange | None
    stages: Mapping[int, StageRate]
    sources: Mapping[str, Source]
    notes: tuple[str, ...]

    def require_year(self, fiscal_year: int) -> None:
        """Raise :class:`FiscalYearNotCovered` unless the table covers 年度 ``fiscal_year``."""
        if fiscal_year not in self.fiscal_years:
            raise FiscalYearNotCovered(self, fiscal_year)

    def low_threshold_for(self, fiscal_year: int) -> int:
        """基準所得金額 of stages 1 and 4 in 年度 ``fiscal_year`` (80万円, 80.9万円 from FY2025, …)."""
        self.require_year(fiscal_year)
        return self.low_threshold[fiscal_year]

    def exempt_limit(self, bracket: ExemptBracket, fiscal_year: int) -> int | None:
        """The inclusive upper limit of a 非課税 bracket in ``fiscal_year`` (None: unbounded)."""
        if bracket.max == "low":
            return self.low_threshold_for(fiscal_year)
        assert bracket.max is None or isinstance(bracket.max, int)
        return bracket.max

    def rate(self, stage: int) -> StageRate:
        """The 割合 (and published amount) of ``stage``."""
        return self.stages[stage]


def table_keys() -> tuple[str, ...]:
    """Keys of the shipped tables, e.g. ``('koriyama', 'kumamoto', 'standard')``."""
    return tuple(
        sorted(
            entry.name.removesuffix(".toml")
            for entry in resources.files(__package__).iterdir()
            if entry.name.endswith(".toml")
        )
    )


@cache
def load_table(key: str) -> PremiumTable:
    """Load and check the table named ``key`` (:class:`UnknownInsurer` if none is shipped)."""
    if key not in table_keys():
        raise UnknownInsurer(key)
    text = resources.files(__package__).joinpath(f"{key}.toml").read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
        table = _build(raw)
    except (KeyError, TypeError, tomllib.TOMLDecodeError) as exc:
        raise PremiumTableError(f"{key}.toml: {exc!r}") from exc
    if table.key != key:
        raise PremiumTableError(f"{key}.toml declares key {table.key!r}")
    _check(table)
    return table


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PremiumTableError(f"{what} must be an integer yen amount, not {value!r}")
    return value


def _decimal(value: Any, what: str) -> Decimal:
    # Multipliers are strings in the TOML: a TOML float would be a binary float before Decimal saw it.
    if not isinstance(value, str):
        raise PremiumTableError(f'{what} must be a decimal string such as "0.285", not {value!r}')
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise PremiumTableError(f"{what}: {value!r} is not a decimal") from None
    if not result.is_finite() or result <= 0:
        raise PremiumTableError(f"{what} must be positive: {value!r}")
    return result


def _exempt(rows: list[dict[str, Any]], what: str) -> tuple[ExemptBracket, ...]:
    out = []
    for row in rows:
        limit = row.get("max")
        if limit is not None and limit != "low":
            limit = _int(limit, f"{what}.max")
        out.append(ExemptBracket(stage=_int(row["stage"], f"{what}.stage"), max=limit))
    return tuple(out)


def _build(raw: dict[str, Any]) -> PremiumTable:
    rounding_name = raw["rounding"]
    if rounding_name not in Rounding.__members__:
        raise PremiumTableError(f"unknown rounding {rounding_name!r}")
    unverified = raw.get("unverified_taxed")
    return PremiumTable(
        key=raw["key"],
        name=raw["name"],
        period=raw["period"],
        fiscal_years=tuple(_int(y, "fiscal_years") for y in raw["fiscal_years"]),
        stage_count=_int(raw["stage_count"], "stage_count"),
        welfare_stage=_int(raw["welfare_stage"], "welfare_stage"),
        old_age_welfare_pension_stage=_int(
            raw["old_age_welfare_pension_stage"], "old_age_welfare_pension_stage"
        ),
        base_annual=_int(raw["base_annual"], "base_annual"),
        base_source=raw["base_source"],
        base_note=raw["base_note"],
        rounding=Rounding[rounding_name],
        rounding_note=raw["rounding_note"],
        low_threshold={int(y): _int(v, f"low_threshold.{y}") for y, v in raw["low_threshold"].items()},
        household_exempt=_exempt(raw["household_exempt"], "household_exempt"),
        self_exempt=_exempt(raw["self_exempt"], "self_exempt"),
        taxed=tuple(
            TaxedBracket(
                stage=_int(row["stage"], "taxed.stage"),
                below=None if row.get("below") is None else _int(row["below"], "taxed.below"),
            )
            for row in raw["taxed"]
        ),
        unverified_taxed=None
        if unverified is None
        else UnverifiedRange(
            start=_int(unverified["from"], "unverified_taxed.from"),
            stages=unverified["stages"],
            reason=unverified["reason"],
        ),
        stages={
            _int(row["stage"], "stages.stage"): StageRate(
                stage=row["stage"],
                multiplier=_decimal(row["multiplier"], f"stage {row['stage']} multiplier"),
                label=row["label"],
                source=row["source"],
                published_annual=None
                if row.get("published_annual") is None
                else _int(row["published_annual"], f"stage {row['stage']} published_annual"),
            )
            for row in raw["stages"]
        },
        sources={
            key: Source(key=key, title=src["title"], url=src["url"]) for key, src in raw["sources"].items()
        },
        notes=tuple(raw.get("notes", ())),
    )


def _check_exempt(table: PremiumTable, brackets: tuple[ExemptBracket, ...], what: str) -> None:
    if not brackets or brackets[-1].max is not None:
        raise PremiumTableError(f"{table.key}: the last {what} bracket must have no upper limit")
    for year in table.fiscal_years:
        limits = [table.exempt_limit(b, year) for b in brackets[:-1]]
        if any(a is None or b is None or a >= b for a, b in itertools.pairwise(limits)):
            raise PremiumTableError(f"{table.key}: {what} limits must rise ({year}: {limits})")


def _check(table: PremiumTable) -> None:
    """Refuse a table whose brackets, stages or published amounts do not hang together."""
    missing = [y for y in table.fiscal_years if y not in table.low_threshold]
    if missing:
        raise PremiumTableError(f"{table.key}: no 基準所得金額 for fiscal years {missing}")
    _check_exempt(table, table.household_exempt, "household_exempt")
    _check_exempt(table, table.self_exempt, "self_exempt")
    belows = [b.below for b in table.taxed]
    if table.unverified_taxed is None:
        if belows[-1] is not None:
            raise PremiumTableError(f"{table.key}: the last taxed bracket must have no upper limit")
        bounded = belows[:-1]
    else:
        if belows[-1] != table.unverified_taxed.start:
            raise PremiumTableError(f"{table.key}: the unverified range must start where the brackets end")
        bounded = belows
    if any(b is None for b in bounded) or bounded != sorted(bounded, key=lambda b: b or 0):
        raise PremiumTableError(f"{table.key}: taxed limits must rise: {belows}")
    used = (
        {table.welfare_stage, table.old_age_welfare_pension_stage}
        | {b.stage for b in table.household_exempt + table.self_exempt}
        | {b.stage for b in table.taxed}
    )
    if used - set(table.stages):
        raise PremiumTableError(
            f"{table.key}: brackets name stages without a rate: {sorted(used - set(table.stages))}"
        )
    if max(table.stages) > table.stage_count:
        raise PremiumTableError(f"{table.key}: stage above stage_count {table.stage_count}")
    if table.base_source not in table.sources:
        raise PremiumTableError(f"{table.key}: unknown base source {table.base_source!r}")
    for rate in table.stages.values():
        if rate.source not in table.sources:
            raise PremiumTableError(f"{table.key}: stage {rate.stage} cites unknown source {rate.source!r}")
        if rate.published_annual is not None:
            computed = multiply(table.base_annual, rate.multiplier, table.rounding)
            if computed != rate.published_annual:
                raise PremiumTableError(
                    f"{table.key}: stage {rate.stage}: {table.base_annual} × {rate.multiplier} "
                    f"({table.rounding.label}) = {computed}, but the published amount is {rate.published_annual}"
                )
