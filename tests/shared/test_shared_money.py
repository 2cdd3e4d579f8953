"""Tests for kiban.shared.money (金額・端数処理)."""

from __future__ import annotations

import decimal
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiban.shared.money import Rounding, apply_rounding, format_yen, multiply, split_installments

AMOUNTS = st.decimals(min_value=-(10**12), max_value=10**12, allow_nan=False, allow_infinity=False, places=4)
RATES = st.decimals(min_value=0, max_value=10, allow_nan=False, allow_infinity=False, places=6)
YEN = st.integers(min_value=-(10**12), max_value=10**12)


def test_spec_examples() -> None:
    # 76,800 × 0.285 = 21,888.000 exactly: binary floats would give 21887.999999999996.
    assert multiply(76800, Decimal("0.285"), Rounding.TRUNCATE) == 21888
    # 75,600 × 0.285 = 21,546 → 10円未満切捨て → 21,540.
    assert multiply(75600, Decimal("0.285"), Rounding.TRUNCATE_10) == 21540


def test_multiply_ignores_global_decimal_context() -> None:
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        ctx.rounding = decimal.ROUND_CEILING
        assert multiply(76800, Decimal("0.285"), Rounding.TRUNCATE) == 21888
        # 123,456,789,012 × 123,456 = 15,241,481,342,665,472 → × 10⁻⁷ = 1,524,148,134.2665472
        assert multiply(123_456_789_012, Decimal("0.0123456"), Rounding.TRUNCATE) == 1_524_148_134
        assert apply_rounding(Decimal("123456.5"), Rounding.TRUNCATE) == 123456


@pytest.mark.parametrize(
    ("rule", "label", "value", "expected"),
    [
        (Rounding.TRUNCATE, "切捨て", Decimal("1255.99"), 1255),
        (Rounding.ROUND_HALF_UP, "四捨五入", Decimal("1255.5"), 1256),
        (Rounding.ROUND_HALF_UP, "四捨五入", Decimal("1255.49"), 1255),
        (Rounding.ROUND_UP, "切上げ", Decimal("1255.01"), 1256),
        (Rounding.ROUND_UP, "切上げ", Decimal("1255"), 1255),
        (Rounding.TRUNCATE_10, "10円未満切捨て", Decimal("1259.9"), 1250),
        (Rounding.TRUNCATE_100, "100円未満切捨て", 1299, 1200),
        (Rounding.TRUNCATE_1000, "1,000円未満切捨て", 1999, 1000),
        (Rounding.TRUNCATE_1000, "1,000円未満切捨て", 999, 0),
        (Rounding.ROUND_HALF_UP_10, "10円未満四捨五入", 1255, 1260),
        (Rounding.ROUND_HALF_UP_10, "10円未満四捨五入", Decimal("1254.99"), 1250),
        (Rounding.ROUND_HALF_UP_100, "100円未満四捨五入", 1250, 1300),
        (Rounding.ROUND_HALF_UP_100, "100円未満四捨五入", 1249, 1200),
    ],
)
def test_rules(rule: Rounding, label: str, value: Decimal | int, expected: int) -> None:
    assert rule.label == label
    assert apply_rounding(value, rule) == expected
    # Negative amounts round by magnitude.
    assert apply_rounding(-value, rule) == -expected


def test_negative_truncation_is_toward_zero() -> None:
    assert apply_rounding(Decimal("-1.9"), Rounding.TRUNCATE) == -1
    assert apply_rounding(-1999, Rounding.TRUNCATE_1000) == -1000
    assert apply_rounding(Decimal("-0.5"), Rounding.ROUND_HALF_UP) == -1


def test_units() -> None:
    assert {r.name: r.unit for r in Rounding} == {
        "TRUNCATE": 1,
        "ROUND_HALF_UP": 1,
        "ROUND_UP": 1,
        "TRUNCATE_10": 10,
        "TRUNCATE_100": 100,
        "TRUNCATE_1000": 1000,
        "ROUND_HALF_UP_10": 10,
        "ROUND_HALF_UP_100": 100,
    }


def test_large_and_exponent_values() -> None:
    assert apply_rounding(Decimal("1E+30"), Rounding.TRUNCATE_1000) == 10**30
    assert apply_rounding(Decimal("123456789012345678901234567890.5"), Rounding.ROUND_HALF_UP) == (
        123456789012345678901234567891
    )
    assert multiply(10**20, Decimal("1E+10"), Rounding.TRUNCATE) == 10**30


@pytest.mark.parametrize("bad", [1.5, 0.0, True, "100", None])
def test_apply_rounding_rejects_non_money(bad: object) -> None:
    with pytest.raises(TypeError):
        apply_rounding(bad, Rounding.TRUNCATE)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_non_finite_rejected(bad: Decimal) -> None:
    with pytest.raises(ValueError):
        apply_rounding(bad, Rounding.TRUNCATE)
    with pytest.raises(ValueError):
        multiply(100, bad, Rounding.TRUNCATE)


def test_floats_rejected() -> None:
    with pytest.raises(TypeError, match="float"):
        multiply(76800, 0.285, Rounding.TRUNCATE)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        multiply(76800.0, Decimal("0.285"), Rounding.TRUNCATE)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        multiply(True, Decimal("0.285"), Rounding.TRUNCATE)
    with pytest.raises(TypeError):
        multiply(76800, 1, Rounding.TRUNCATE)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        apply_rounding(Decimal(1), "TRUNCATE")  # type: ignore[arg-type]


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_float_rate_rejected(rate: float) -> None:
    with pytest.raises(TypeError):
        multiply(1000, rate, Rounding.ROUND_HALF_UP)  # type: ignore[arg-type]


@given(YEN, RATES)
def test_multiply_is_exact(yen: int, rate: Decimal) -> None:
    exact = Fraction(yen) * Fraction(rate)
    assert multiply(yen, rate, Rounding.TRUNCATE) == int(exact)  # int() truncates toward zero


@given(AMOUNTS, st.sampled_from(list(Rounding)))
def test_rounding_properties(amount: Decimal, rule: Rounding) -> None:
    result = apply_rounding(amount, rule)
    assert result % rule.unit == 0
    assert abs(result - amount) < rule.unit
    assert apply_rounding(-amount, rule) == -result
    if rule.name.startswith("TRUNCATE"):
        assert abs(result) <= abs(amount)
    elif rule is Rounding.ROUND_UP:
        assert abs(result) >= abs(amount)
    else:
        assert abs(result - amount) * 2 <= rule.unit


@given(AMOUNTS, AMOUNTS, st.sampled_from(list(Rounding)))
def test_rounding_is_monotonic(a: Decimal, b: Decimal, rule: Rounding) -> None:
    lo, hi = sorted((a, b))
    assert apply_rounding(lo, rule) <= apply_rounding(hi, rule)


@given(st.integers(min_value=-(10**9), max_value=10**9), st.sampled_from(list(Rounding)))
def test_int_amount_same_as_decimal(amount: int, rule: Rounding) -> None:
    assert apply_rounding(amount, rule) == apply_rounding(Decimal(amount), rule)


def test_split_installments_examples() -> None:
    # 地方税法第20条の4の2第6項: the fraction goes to the first 納期.
    assert split_installments(100_000, 3, unit=1000) == [34_000, 33_000, 33_000]
    assert split_installments(100_000, 3, unit=100) == [33_400, 33_300, 33_300]
    assert split_installments(100_000, 3, unit=100, remainder="last") == [33_300, 33_300, 33_400]
    assert split_installments(100_000, 3) == [33_334, 33_333, 33_333]
    assert split_installments(250, 10, unit=100) == [250] + [0] * 9  # 全額が単位未満
    assert split_installments(0, 8, unit=100) == [0] * 8
    assert split_installments(12_345, 1, unit=1000) == [12_345]


def test_split_installments_errors() -> None:
    with pytest.raises(ValueError):
        split_installments(100, 0)
    with pytest.raises(ValueError):
        split_installments(-1, 3)
    with pytest.raises(ValueError):
        split_installments(100, 3, unit=0)
    with pytest.raises(ValueError):
        split_installments(100, 3, remainder="middle")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        split_installments(100.0, 3)  # type: ignore[arg-type]


@given(
    st.integers(min_value=0, max_value=10**10),
    st.integers(min_value=1, max_value=12),
    st.sampled_from([1, 10, 100, 1000]),
    st.sampled_from(["first", "last"]),
)
def test_split_installments_properties(total: int, n: int, unit: int, remainder: str) -> None:
    parts = split_installments(total, n, unit=unit, remainder=remainder)  # type: ignore[arg-type]
    assert len(parts) == n
    assert sum(parts) == total
    bearer, others = (parts[0], parts[1:]) if remainder == "first" else (parts[-1], parts[:-1])
    assert len(set(others)) <= 1
    assert all(p % unit == 0 and p >= 0 for p in others)
    if others:
        assert 0 <= bearer - others[0] < n * unit


@pytest.mark.parametrize(
    ("yen", "text"),
    [(21888, "21,888円"), (0, "0円"), (999, "999円"), (1_000_000, "1,000,000円"), (-1234, "-1,234円")],
)
def test_format_yen(yen: int, text: str) -> None:
    assert format_yen(yen) == text


def test_format_yen_rejects_non_int() -> None:
    with pytest.raises(TypeError):
        format_yen(Decimal("1.5"))  # type: ignore[arg-type]
