"""The 納付番号's check digit: the Luhn (mod 10) digit, computed by a 4-digit table on the import's
hot path (kiban.collection.payments), checked here against an independent implementation."""

from __future__ import annotations

import random

import pytest
from stdnum import luhn

from kiban.collection import payments


@pytest.mark.parametrize(
    ("body", "digit"),
    [
        ("7992739871", "3"),  # the worked example of ISO/IEC 7812-1 Annex B as usually quoted: 79927398713
        ("0", "0"),
        ("1", "8"),
        ("0120251234567890201", luhn.calc_check_digit("0120251234567890201")),
    ],
)
def test_known_check_digits(body: str, digit: str) -> None:
    assert payments._check_digit(body) == digit


def test_agrees_with_python_stdnum_for_every_length() -> None:
    rng = random.Random(20251231)
    for _ in range(20_000):
        body = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 25)))
        assert payments._check_digit(body) == luhn.calc_check_digit(body), body


def test_every_single_mistyped_digit_is_caught() -> None:
    number = payments.payment_number("kaigo", 2025, "0000012345", "ordinary", 3)
    assert payments.valid_payment_number(number)
    for i in range(20):
        for d in "0123456789":
            if d != number[i]:
                assert not payments.valid_payment_number(number[:i] + d + number[i + 1 :]), (i, d)
