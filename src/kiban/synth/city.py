"""The synthetic city as a whole (合成都市の諸元): chunking, numbering, 個人番号, assessed 年度.

The city is cut into chunks of CHUNK_RESIDENTS residents. Chunk k always holds the same people —
its random stream is seeded by (seed, k) and its 宛名番号 / 世帯番号 ranges are fixed by k — so the
city is identical whichever process, and however many processes, generate it. A chunk returns
ready-to-COPY text for the database tables and ready-to-write CSV text for the source files.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final

from kiban.shared.age import age_on
from kiban.shared.fiscal import fiscal_year
from kiban.shared.mynumber import check_digit

CHUNK_RESIDENTS: Final = 20_000
PERSON_STRIDE: Final = 25_000  # 宛名番号 per chunk: its residents, then its 住登外 persons, then a gap
PERSON_BASE: Final = 1_000_000_001  # 宛名番号 are 10 digits, the first is 1000000001
HOUSEHOLD_BASE: Final = 2_000_000_001  # 世帯番号 are 10 digits starting with 2 (never equal to a 宛名番号)
NON_RESIDENT_SHARE: Final = 0.01  # 住登外 persons as a share of residents (extra, not counted in N)
DAYS_PER_YEAR: Final = 365.2425


@dataclass(frozen=True, slots=True)
class CityParams:
    """What every chunk needs to know about the whole city."""

    seed: int
    residents: int
    as_of: date
    fiscal_years: tuple[int, ...]
    mynumber_a: int  # 個人番号 bijection: first11 = (a × index + b) mod 10**11, gcd(a, 10) = 1
    mynumber_b: int

    @property
    def chunks(self) -> int:
        return -(-self.residents // CHUNK_RESIDENTS)

    def chunk_residents(self, k: int) -> int:
        return min(CHUNK_RESIDENTS, self.residents - k * CHUNK_RESIDENTS)


def city_params(seed: int, residents: int, as_of: date) -> CityParams:
    """The parameters of the city of ``residents`` residents generated from ``seed`` as of ``as_of``."""
    if residents < 1:
        raise ValueError("a city needs at least one resident")
    rng = random.Random(f"kiban-synth/{seed}/mynumber")
    a = rng.randrange(10**10, 10**11) | 1
    while a % 5 == 0:
        a += 2
    return CityParams(seed, residents, as_of, assessed_fiscal_years(as_of), a, rng.randrange(10**11))


def assessed_fiscal_years(as_of: date, count: int = 2) -> tuple[int, ...]:
    """The 住民税 年度 already assessed on ``as_of``: the latest ``count`` of them, oldest first.

    年度 N is decided by the end of May of N (特別徴収税額の通知 by 5月31日, 地方税法第321条の4), so from
    6月1日 the current 年度 is known; before that, the latest assessed one is the previous 年度.
    """
    fy = fiscal_year(as_of)
    latest = fy if as_of >= date(fy, 6, 1) else fy - 1
    return tuple(range(latest - count + 1, latest + 1))


def mynumber(params: CityParams, index: int) -> str:
    """A valid 個人番号 for the person with global index ``index`` (unique: an affine bijection)."""
    first11 = f"{(params.mynumber_a * index + params.mynumber_b) % 10**11:011d}"
    return first11 + str(check_digit(first11))


def birth_cutoff(age: int, on: date) -> int:
    """Ordinal of the latest birth date of someone who has attained ``age`` on ``on`` (年齢計算ニ関スル法律)."""
    guess = date(on.year - age, on.month, 1) + timedelta(days=on.day)  # ≈ the day after the anniversary
    while age_on(guess, on) < age:
        guess -= timedelta(days=1)
    while age_on(guess + timedelta(days=1), on) >= age:
        guess += timedelta(days=1)
    return guess.toordinal()


@dataclass(slots=True)
class Counts:
    """Aggregate counts of one chunk or, summed with :meth:`add`, of the whole city."""

    residents: int = 0
    non_residents: int = 0
    households: int = 0
    aged_65_plus: int = 0
    aged_75_plus: int = 0
    under_15: int = 0
    seiho_households: int = 0
    seiho_persons: int = 0
    income_rows: int = 0

    def add(self, other: Counts) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(slots=True)
class Chunk:
    """One chunk's output: COPY text per table and CSV text per file (no header rows), UTF-8."""

    index: int
    copy: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    counts: Counts = field(default_factory=Counts)
