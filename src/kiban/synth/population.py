"""The age structure (人口ピラミッド) the synthetic city imitates, and sampling from it.

Source: 総務省統計局「人口推計（2024年（令和6年）10月1日現在）」: total 1億2380万人; 0–14歳 11.2%,
15–64歳 59.6%, 65歳以上 29.3%, 75歳以上 16.8%. The 5-year group totals below (thousands) are
rounded readings of that release's table by age group; within a group every single year gets the
same weight. Household composition (households.py) draws each role's age from these weights inside
the role's range, so cohort bumps (団塊の世代 born 1947–49, 団塊ジュニア 1971–74) show through and
the city's 65+ share lands near the national one (tested: 29% ± 1.5 points).
"""

from __future__ import annotations

import random
from bisect import bisect
from itertools import accumulate
from typing import Final

TARGET_SHARES: Final = {"0-14": 0.112, "15-64": 0.596, "65+": 0.293, "75+": 0.168}

# (first age of the 5-year group, thousands of people), 人口推計 2024-10-01, rounded.
_GROUPS: Final = (
    (0, 4_060),
    (5, 4_750),
    (10, 5_200),
    (15, 5_400),
    (20, 6_250),
    (25, 6_400),
    (30, 6_400),
    (35, 7_050),
    (40, 7_700),
    (45, 8_900),
    (50, 9_700),
    (55, 8_400),
    (60, 7_450),
    (65, 7_300),
    (70, 8_600),
    (75, 7_600),
    (80, 6_000),
    (85, 4_000),
    (90, 1_950),
    (95, 560),
    (100, 90),
)
MAX_AGE: Final = 104

AGE_WEIGHTS: Final[tuple[float, ...]] = tuple(
    float(count) / 5 for first, count in _GROUPS for _ in range(first, min(first + 5, MAX_AGE + 1))
)


class AgeSampler:
    """Draw an age (float, in years) in [lo, hi + 1) with the population's weight for each whole year."""

    __slots__ = ("_cum", "_lo", "_total")

    def __init__(self, lo: int, hi: int) -> None:
        if not 0 <= lo <= hi <= MAX_AGE:
            raise ValueError(f"age range {lo}..{hi} outside 0..{MAX_AGE}")
        self._lo = lo
        self._cum = list(accumulate(AGE_WEIGHTS[lo : hi + 1]))
        self._total = self._cum[-1]

    def __call__(self, rng: random.Random) -> float:
        u = rng.random() * self._total
        i = bisect(self._cum, u)
        # The position inside the year comes from the same uniform draw (one random() per age).
        below = self._cum[i - 1] if i else 0.0
        return self._lo + i + (u - below) / (self._cum[i] - below)
