"""The fictional city's code and places, and the name tables."""

from __future__ import annotations

import random
import re

import pytest

from kiban.synth import names, places
from kiban.synth.population import AGE_WEIGHTS, MAX_AGE, AgeSampler

KATAKANA = re.compile(r"^[ァ-ヶー]+$")


@pytest.mark.parametrize(
    "real_code",
    [
        "131016",
        "011002",
        "271004",
        "141003",
        "401307",
        "472018",
    ],  # 千代田区 札幌市 大阪市 横浜市 福岡市 那覇市
)
def test_local_government_check_digit_on_real_codes(real_code: str) -> None:
    assert places.local_government_check_digit(real_code[:5]) == int(real_code[5])


def test_remainders_zero_and_one_give_one_and_zero() -> None:
    # 11 − remainder, last digit: remainder 0 → 11 → 1, remainder 1 → 10 → 0.
    assert places.local_government_check_digit("00000") == 1
    assert places.local_government_check_digit("00005") == 1  # 5×2 = 10: remainder 10 → 11 − 10 = 1
    assert places.local_government_check_digit("00006") == 0  # 6×2 = 12 ≡ 1 → 10 → 0


def test_city_code_is_fictional_and_well_formed() -> None:
    assert places.CITY_CODE == "992011"
    assert int(places.CITY_CODE[:2]) > 47  # no such prefecture (JIS X 0401: 01–47)
    with pytest.raises(ValueError):
        places.local_government_check_digit("9920")


def test_towns() -> None:
    assert len(places.TOWNS) >= 40
    assert len({t.name for t in places.TOWNS}) == len(places.TOWNS)
    assert len({t.postal_code for t in places.TOWNS}) == len(places.TOWNS)
    for t in places.TOWNS:
        assert re.fullmatch(r"[0-9]{3}-[0-9]{4}", t.postal_code)
        assert re.fullmatch(r"0[1-8]", t.district_code)
        assert 0 <= t.chome <= 5


def test_addresses_and_rooms() -> None:
    rng = random.Random(1)
    chome_town = next(t for t in places.TOWNS if t.chome)
    lot_town = next(t for t in places.TOWNS if not t.chome)
    for _ in range(200):
        assert re.fullmatch(
            rf"{chome_town.name}[一二三四五]丁目[0-9]+番[0-9]+号", places.house_address(rng, chome_town)
        )
        assert re.fullmatch(rf"{lot_town.name}[0-9]+番地([0-9]+)?", places.house_address(rng, lot_town))
        b = places.new_building(rng, chome_town)
        label = b.room_label(rng.randrange(b.rooms))
        assert re.fullmatch(r"\S+ [0-9]{3,4}(号室)?", label)
        assert label.endswith("号室") != b.tower


def test_names() -> None:
    assert len(names.SURNAMES) >= 150
    assert len({k for k, _ in names.SURNAMES}) == len(names.SURNAMES)
    assert len(names.SURNAME_WEIGHTS) == len(names.SURNAMES)
    for table in (names.MALE_NAMES, names.FEMALE_NAMES):
        assert len(table) == len(names.GENERATION_STARTS)
        for group in table:
            assert len(group) >= 40
    everything = [*names.SURNAMES, *(n for t in (*names.MALE_NAMES, *names.FEMALE_NAMES) for n in t)]
    for kanji, kana in everything:
        assert kanji and "," not in kanji
        assert KATAKANA.fullmatch(kana), kana
    assert ("和子", "カズコ") in names.FEMALE_NAMES[0]
    assert ("陽菜", "ヒナ") in names.FEMALE_NAMES[3]
    assert ("湊", "ミナト") in names.MALE_NAMES[3]
    assert names.generation_of(1950) == 0
    assert names.generation_of(1975) == 1
    assert names.generation_of(2000) == 2
    assert names.generation_of(2024) == 3


def test_age_sampler_stays_in_range() -> None:
    assert len(AGE_WEIGHTS) == MAX_AGE + 1
    rng = random.Random(3)
    sample = AgeSampler(65, 104)
    ages = [sample(rng) for _ in range(10_000)]
    assert min(ages) >= 65
    assert max(ages) < 105
    with pytest.raises(ValueError):
        AgeSampler(10, 200)
