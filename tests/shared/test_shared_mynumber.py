"""Tests for kiban.shared.mynumber (個人番号), cross-checked against python-stdnum."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.jp import in_ as stdnum_in

from kiban.shared import mynumber

DIGITS11 = st.text(alphabet="0123456789", min_size=11, max_size=11)


def test_published_sample_number() -> None:
    # 123456789018 is used as a sample in 総務省/デジタル庁 material.
    # From the right, P1..P11 = 1,0,9,8,7,6,5,4,3,2,1 and Q1..Q11 = 2,3,4,5,6,7,2,3,4,5,6:
    #   2+0+36+40+42+42+10+12+12+10+6 = 212;  212 mod 11 = 3;  11 - 3 = 8.
    assert stdnum_in.calc_check_digit("12345678901") == "8"
    assert mynumber.check_digit("12345678901") == 8
    assert mynumber.is_valid("123456789018")
    assert not mynumber.is_valid("123456789017")


@pytest.mark.parametrize(
    ("first11", "expected"),
    [
        # The python-stdnum doctest number 6214 9832 0257.  P1..P11 = 5,2,0,2,3,8,9,4,1,2,6:
        #   10+6+0+10+18+56+18+12+4+10+36 = 180;  180 mod 11 = 4;  11 - 4 = 7.
        ("62149832025", 7),
        # All zeros: sum 0, remainder 0 <= 1, so the check digit is 0.
        ("00000000000", 0),
        # Only P1 = 6: 6×Q1 = 6×2 = 12;  12 mod 11 = 1 <= 1, so the check digit is 0.
        ("00000000006", 0),
        # Only P1 = 1: 1×2 = 2;  2 mod 11 = 2;  11 - 2 = 9.
        ("00000000001", 9),
        # Only P11 = 9: 9×Q11 = 9×(11-5) = 54;  54 mod 11 = 10;  11 - 10 = 1.
        ("90000000000", 1),
        # Only P7 = 1: Q7 = 7-5 = 2 (weights restart after n = 6);  2 mod 11 = 2;  → 9.
        ("00001000000", 9),
    ],
)
def test_hand_computed_check_digits(first11: str, expected: int) -> None:
    assert mynumber.check_digit(first11) == expected
    assert int(stdnum_in.calc_check_digit(first11)) == expected
    assert mynumber.is_valid(first11 + str(expected))


def test_agrees_with_stdnum_on_10000_random_numbers() -> None:
    rng = random.Random(20250401)
    valid_seen = 0
    for i in range(10_000):
        if i % 2 == 0:
            number = mynumber.generate(rng)  # valid by construction
        else:
            number = "".join(rng.choice("0123456789") for _ in range(12))  # mostly invalid
        assert mynumber.check_digit(number[:11]) == int(stdnum_in.calc_check_digit(number[:11]))
        expected = stdnum_in.is_valid(number)
        assert mynumber.is_valid(number) is expected
        valid_seen += expected
    # Both classes must actually have been exercised.
    assert 5_000 <= valid_seen < 10_000


@given(DIGITS11)
def test_appending_check_digit_makes_valid(first11: str) -> None:
    cd = mynumber.check_digit(first11)
    assert 0 <= cd <= 9
    assert mynumber.is_valid(first11 + str(cd))
    for other in set(range(10)) - {cd}:
        assert not mynumber.is_valid(first11 + str(other))


@given(st.integers(min_value=0, max_value=2**32))
def test_generate_is_valid_and_deterministic(seed: int) -> None:
    number = mynumber.generate(random.Random(seed))
    assert re.fullmatch(r"[0-9]{12}", number)
    assert mynumber.is_valid(number)
    assert stdnum_in.is_valid(number)
    assert mynumber.generate(random.Random(seed)) == number


@given(st.text(max_size=14))
def test_is_valid_never_raises_and_matches_definition(text: str) -> None:
    result = mynumber.is_valid(text)
    if result:
        assert re.fullmatch(r"[0-9]{12}", text)
        assert stdnum_in.is_valid(text)


@pytest.mark.parametrize(
    "bad",
    [
        "１２３４５６７８９０１８",  # full-width digits must be normalised first
        "1234 5678 9018",
        "1234-5678-9018",
        "12345678901",  # 11 digits
        "1234567890180",  # 13 digits
        "12345678901A",
        "",
        " 123456789018",
        "123456789018\n",
        "١٢٣٤٥٦٧٨٩٠١٨",  # Arabic-Indic digits: str.isdigit() is True, but not ASCII
        None,
        123456789018,
        b"123456789018",
    ],
)
def test_is_valid_rejects_bad_input(bad: object) -> None:
    assert mynumber.is_valid(bad) is False


@pytest.mark.parametrize(
    "bad", ["1234567890", "123456789012", "1234567890A", "１２３４５６７８９０１", "", None]
)
def test_check_digit_rejects_bad_input_without_echoing(bad: object) -> None:
    with pytest.raises(ValueError, match="11 ASCII digits") as excinfo:
        mynumber.check_digit(bad)  # type: ignore[arg-type]
    assert re.search(r"[0-9]{3,}", str(excinfo.value)) is None


@pytest.mark.parametrize(
    "typed",
    [
        "123456789018",
        "１２３４５６７８９０１８",
        "1234 5678 9018",
        "１２３４　５６７８　９０１８",
        "1234-5678-9018",
        "１２３４－５６７８－９０１８",
        "1234ー5678ー9018",
        " 1234 5678 9018 ",
    ],
)
def test_normalize_accepts_counter_input(typed: str) -> None:
    assert mynumber.normalize(typed) == "123456789018"


@pytest.mark.parametrize(
    "typed",
    ["12345678901", "1234567890189", "1234 5678 901A", "", "①２３４５６７８９０１８", "1234/5678/9018", None],
)
def test_normalize_rejects_without_echoing_digits(typed: object) -> None:
    with pytest.raises(ValueError, match="個人番号は12桁の数字で入力してください") as excinfo:
        mynumber.normalize(typed)  # type: ignore[arg-type]
    assert re.search(r"[0-9]{3,}", str(excinfo.value)) is None


def test_normalize_does_not_check_the_check_digit() -> None:
    assert mynumber.normalize("1234 5678 9017") == "123456789017"
    assert not mynumber.is_valid(mynumber.normalize("1234 5678 9017"))


def test_mask() -> None:
    assert mynumber.mask("621498320257") == "****-****-0257"
    assert mynumber.mask("６２１４ ９８３２ ０２５７") == "****-****-0257"
    with pytest.raises(ValueError):
        mynumber.mask("0257")


@given(DIGITS11)
def test_mask_shows_only_last_four(first11: str) -> None:
    number = first11 + str(mynumber.check_digit(first11))
    masked = mynumber.mask(number)
    assert masked == "****-****-" + number[-4:]
    assert number[:8] not in masked
