"""Places of the fictional city 基盤市 (架空の市): its code, 町名, postal codes, 地区, apartment names.

Nothing here is a real place. The 地方公共団体コード uses the prefecture part ``99``, which JIS X 0401
does not assign (prefectures are 01–47), so it can never collide with a real municipality.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

CITY_NAME: Final = "基盤市"
CITY_KANA: Final = "キバンシ"
PREFECTURE_NAME: Final = "基盤県"


def local_government_check_digit(code5: str) -> int:
    """検査数字 of a 全国地方公共団体コード (JIS X 0402): the sixth digit after the five-digit code.

    総務省「全国地方公共団体コード」の検査数字: multiply the five digits by 6, 5, 4, 3, 2 (from the
    left), sum, take the remainder mod 11, subtract it from 11 and keep the last digit (so remainder
    0 → 1, remainder 1 → 0). Checked against real codes: 東京都千代田区 13101 → 131016,
    北海道札幌市 01100 → 011002 (see tests).
    """
    if len(code5) != 5 or not code5.isascii() or not code5.isdigit():
        raise ValueError("a local government code has five ASCII digits before its check digit")
    total = sum(int(d) * w for d, w in zip(code5, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


# 99 = no such prefecture; 2xx = a city (市) in the JIS X 0402 numbering (201 onwards for 市).
CITY_CODE5: Final = "99201"
CITY_CODE: Final = CITY_CODE5 + str(local_government_check_digit(CITY_CODE5))  # "992011"


@dataclass(frozen=True, slots=True)
class Town:
    """One 町 (or 大字) of the city.

    ``chome`` > 0: a 住居表示 area written ``桜町二丁目3番12号``; ``chome`` == 0: a 地番 area written
    ``大字坂下1234番地5`` (住居表示に関する法律 has not been applied there, as in many rural districts).
    """

    name: str
    postal_code: str
    district_code: str  # 地区コード (here: 日常生活圏域-like districts 01–08)
    chome: int
    weight: int  # relative number of households living there


# (name, district, chome, weight). Postal codes are fictional but well formed (NNN-NNNN); the 999-8
# range is used so they look like one delivery area; they are not checked against the real KEN_ALL.
_TOWN_ROWS: Final = (
    ("本町", "01", 4, 5),
    ("元町", "01", 3, 3),
    ("栄町", "01", 3, 4),
    ("駅前", "01", 2, 3),
    ("大手町", "01", 3, 3),
    ("東中央", "02", 5, 6),
    ("西中央", "02", 5, 6),
    ("南中央", "02", 4, 5),
    ("北中央", "02", 4, 5),
    ("桜町", "03", 4, 5),
    ("旭町", "03", 3, 4),
    ("緑町", "03", 3, 4),
    ("若葉町", "03", 3, 4),
    ("寿町", "03", 2, 3),
    ("幸町", "04", 3, 4),
    ("錦町", "04", 2, 3),
    ("新町", "04", 3, 4),
    ("城山", "04", 4, 4),
    ("松ケ丘", "04", 5, 5),
    ("梅ケ丘", "05", 4, 5),
    ("富士見", "05", 3, 4),
    ("日の出町", "05", 3, 4),
    ("春日", "05", 4, 5),
    ("柳町", "05", 2, 3),
    ("泉町", "06", 3, 4),
    ("宮下", "06", 3, 3),
    ("中島", "06", 4, 4),
    ("青葉台", "06", 5, 6),
    ("緑ケ丘", "06", 5, 6),
    ("朝日ケ丘", "07", 4, 5),
    ("星が丘", "07", 3, 4),
    ("港町", "07", 3, 3),
    ("川端", "07", 2, 3),
    ("南台", "07", 4, 4),
    ("西原", "08", 0, 3),
    ("東原", "08", 0, 3),
    ("北野", "08", 0, 3),
    ("大字坂下", "08", 0, 2),
    ("大字山田", "08", 0, 2),
    ("大字中里", "08", 0, 2),
    ("大字平井", "08", 0, 1),
    ("大字上野原", "08", 0, 1),
)

TOWNS: Final[tuple[Town, ...]] = tuple(
    Town(name, f"999-8{i + 1:03d}", district, chome, weight)
    for i, (name, district, chome, weight) in enumerate(_TOWN_ROWS)
)

_KANJI_NUMERALS: Final = ("", "一", "二", "三", "四", "五", "六", "七", "八", "九")


def house_address(rng: random.Random, town: Town) -> str:
    """A house address below the city: ``桜町二丁目3番12号`` or ``大字坂下1234番地5``."""
    # int(random() * n) rather than randint: a hot path, and just as deterministic.
    r = rng.random
    if town.chome:
        chome = _KANJI_NUMERALS[1 + int(r() * town.chome)]
        return f"{town.name}{chome}丁目{1 + int(r() * 30)}番{1 + int(r() * 25)}号"
    # 地番: about two thirds have a 枝番 (…番地5).
    lot = 1 + int(r() * 3200)
    if r() < 0.65:
        return f"{town.name}{lot}番地{1 + int(r() * 30)}"
    return f"{town.name}{lot}番地"


_BUILDING_PREFIX: Final = (
    "コーポ",
    "ハイツ",
    "メゾン",
    "グランドメゾン",
    "パークハイツ",
    "レジデンス",
    "サンハイツ",
    "ハイム",
    "シャトー",
    "ヴィラ",
    "ベルメゾン",
    "アーバン",
    "ロイヤル",
    "エステート",
    "サンライズ",
)
_BUILDING_STEM: Final = (
    "桜",
    "若葉",
    "緑",
    "青葉",
    "富士見",
    "さくら",
    "ひまわり",
    "あおば",
    "中央",
    "駅前",
    "リバーサイド",
    "フォレスト",
    "ガーデン",
    "ヒルズ",
    "コート",
)
_BUILDING_SUFFIX: Final = ("", "", "", "", "Ⅱ", "Ⅲ", "東館", "西館", "A棟", "B棟", "第2")


@dataclass(frozen=True, slots=True)
class Building:
    """An apartment building: its 方書 name, its address and how many rooms per floor."""

    name: str
    town: Town
    address: str
    floors: int
    rooms_per_floor: int
    tower: bool  # towers write rooms as ``1105``, low-rise buildings as ``203号室``

    def room_label(self, index: int) -> str:
        floor, room = divmod(index, self.rooms_per_floor)
        number = f"{floor + 1}{room + 1:02d}"
        return f"{self.name} {number}" if self.tower else f"{self.name} {number}号室"

    @property
    def rooms(self) -> int:
        return self.floors * self.rooms_per_floor


def new_building(rng: random.Random, town: Town) -> Building:
    """A new apartment building in ``town`` (names like ``コーポ桜 203号室``, ``グランドメゾン本町 1105``)."""
    prefix = rng.choice(_BUILDING_PREFIX)
    # Half the buildings are named after their 町 (グランドメゾン本町), half after a stem (コーポ桜).
    stem = town.name.removeprefix("大字") if rng.random() < 0.5 else rng.choice(_BUILDING_STEM)
    tower = rng.random() < 0.3
    floors = rng.randint(6, 15) if tower else rng.randint(2, 4)
    return Building(
        name=f"{prefix}{stem}{rng.choice(_BUILDING_SUFFIX)}",
        town=town,
        address=house_address(rng, town),
        floors=floors,
        rooms_per_floor=rng.randint(4, 8) if tower else rng.randint(2, 6),
        tower=tower,
    )


# Addresses outside the city for 住登外 persons (their 住所 is in another, equally fictional, place).
OTHER_PLACES: Final = (
    ("999-7101", "基盤県西基盤市緑町1丁目"),
    ("999-7205", "基盤県西基盤市本町3丁目"),
    ("999-6302", "基盤県南基盤町大字川原"),
    ("999-5110", "基盤県北基盤市旭ケ丘2丁目"),
    ("999-4420", "基盤県東基盤村大字田中"),
    ("999-0105", "架空都みなと区中央5丁目"),
)
# 住所地特例 (介護保険法第13条): a person of this city who entered a facility in another municipality
# stays insured here. These are the facilities they live in: 介護保険施設 and 特定施設 only (a グループホーム
# is a 地域密着型 service, to which 住所地特例 does not apply).
FACILITIES: Final = (
    "特別養護老人ホームさくらの里",
    "介護老人福祉施設みどり苑",
    "有料老人ホームひだまり",
    "介護付有料老人ホームやすらぎ",
    "養護老人ホームあおば",
    "特別養護老人ホーム清風園",
    "介護老人保健施設はまなす",
    "軽費老人ホーム陽だまり",
)
