"""Money (金額) arithmetic: yen as ``int``, rates as ``Decimal``, explicit rounding rules.

Floats never enter money math: binary floating point cannot represent rates such as
0.285 exactly, and an off-by-one-yen result on a 賦課 notice is a legal error.  Every
function here therefore rejects ``float`` (and ``bool``) with TypeError, and performs
multiplication in a local decimal context that traps any inexact result, so the only
rounding that ever happens is the one named by the caller's :class:`Rounding` rule.
"""

from __future__ import annotations

import decimal
import enum
from decimal import Decimal
from typing import Literal

__all__ = ["Rounding", "apply_rounding", "format_yen", "multiply", "split_installments"]


_UNITS: tuple[int, ...] = (1, 10, 100, 1000)


class Rounding(enum.Enum):
    """端数処理 (rounding rule) for yen amounts.

    Each member names the unit it rounds to and the direction.  Negative amounts are
    rounded by magnitude (toward zero for truncation): refunds and corrections are
    computed as the difference of two positive, already-rounded assessments, and a
    rule such as 地方税法第20条の4の2 (「端数金額を切り捨てる」) speaks of the size of the
    fraction, not of rounding toward minus infinity.
    """

    # (Japanese name, power of ten of the unit, decimal rounding mode)
    TRUNCATE = ("切捨て", 0, decimal.ROUND_DOWN)
    ROUND_HALF_UP = ("四捨五入", 0, decimal.ROUND_HALF_UP)
    ROUND_UP = ("切上げ", 0, decimal.ROUND_UP)
    TRUNCATE_10 = ("10円未満切捨て", 1, decimal.ROUND_DOWN)
    TRUNCATE_100 = ("100円未満切捨て", 2, decimal.ROUND_DOWN)  # e.g. 地方税法第20条の4の2第3項 確定金額
    TRUNCATE_1000 = ("1,000円未満切捨て", 3, decimal.ROUND_DOWN)  # e.g. 同条第1項 課税標準額
    ROUND_HALF_UP_10 = ("10円未満四捨五入", 1, decimal.ROUND_HALF_UP)
    ROUND_HALF_UP_100 = ("100円未満四捨五入", 2, decimal.ROUND_HALF_UP)

    def __init__(self, label: str, exponent: int, mode: str) -> None:
        self._label = label
        self._exponent = exponent
        self._mode = mode

    @property
    def label(self) -> str:
        """The Japanese name of the rule, e.g. ``10円未満切捨て``."""
        return self._label

    @property
    def unit(self) -> int:
        """The yen unit the result is a multiple of (1, 10, 100 or 1000)."""
        return _UNITS[self._exponent]


def _require_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int (yen), not {type(value).__name__}")
    return value


def _require_finite_decimal(name: str, value: object) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(
            f"{name} must be a Decimal, not {type(value).__name__} (floats must never enter money math)"
        )
    if not value.is_finite():
        raise ValueError(f"{name} must be finite")
    return value


def _precision_for(*values: Decimal) -> int:
    # Enough significant digits for the exact product of the operands plus headroom,
    # so results never depend on the (mutable, thread-local) global context.
    total = 10
    for v in values:
        # Only finite values reach here; a positive exponent (e.g. Decimal("1E+6")) adds
        # integer digits that are not in the coefficient.
        total += v.adjusted() + 1 if v.adjusted() >= 0 else 0
        total += len(v.as_tuple().digits)
    return total


def apply_rounding(amount: Decimal | int, rule: Rounding) -> int:
    """Round ``amount`` (yen, possibly fractional) to an int according to ``rule``.

    Negative amounts are rounded by magnitude (see :class:`Rounding`).  Raises TypeError
    for float or bool, ValueError for NaN/infinity.
    """
    if not isinstance(rule, Rounding):
        raise TypeError("rule must be a Rounding")
    if isinstance(amount, (bool, float)):
        raise TypeError(f"amount must be an int or Decimal, not {type(amount).__name__}")
    value = Decimal(amount) if isinstance(amount, int) else _require_finite_decimal("amount", amount)
    # Decimal's ROUND_DOWN / ROUND_HALF_UP / ROUND_UP act on the magnitude, which is
    # exactly the sign convention documented above.
    ctx = decimal.Context(prec=_precision_for(value), rounding=rule._mode, traps=[decimal.InvalidOperation])
    units = value.scaleb(-rule._exponent, context=ctx).quantize(Decimal(1), context=ctx)
    return int(units) * rule.unit


def multiply(yen: int, rate: Decimal, rule: Rounding) -> int:
    """Return ``yen × rate`` rounded by ``rule``, computed exactly in Decimal.

    Example: 76,800円 × 0.285 = 21,888円 (TRUNCATE); 75,600円 × 0.285 = 21,546 → 21,540円
    (TRUNCATE_10).  Raises TypeError if ``yen`` is not an int or ``rate`` not a Decimal.
    """
    yen_d = Decimal(_require_int("yen", yen))
    rate_d = _require_finite_decimal("rate", rate)
    # Trap Inexact/Rounded: the product must be exact before the named rounding rule.
    ctx = decimal.Context(
        prec=_precision_for(yen_d, rate_d),
        traps=[decimal.InvalidOperation, decimal.Inexact, decimal.Rounded, decimal.Overflow],
    )
    return apply_rounding(ctx.multiply(yen_d, rate_d), rule)


def split_installments(
    total: int,
    n: int,
    *,
    unit: int = 1,
    remainder: Literal["first", "last"] = "first",
) -> list[int]:
    """Divide an annual amount into ``n`` 期 (installments / 納期).

    Every installment except the remainder-bearer is the same multiple of ``unit``; the
    remainder goes to the first installment by default, following 地方税法第20条の4の2第6項
    (分割金額の1,000円未満の端数は最初の納期限に係る分割金額に合算; 条例で異なる定めが可能,
    which is why ``unit`` is a parameter).  The sum always equals ``total``.

    Raises ValueError if ``n`` < 1, ``total`` < 0 or ``unit`` < 1.
    """
    _require_int("total", total)
    _require_int("n", n)
    _require_int("unit", unit)
    if n < 1:
        raise ValueError(f"n must be >= 1 (got {n})")
    if total < 0:
        raise ValueError(f"total must be >= 0 (got {total})")
    if unit < 1:
        raise ValueError(f"unit must be >= 1 (got {unit})")
    if remainder not in ("first", "last"):
        raise ValueError(f"remainder must be 'first' or 'last' (got {remainder!r})")
    base = total // (n * unit) * unit
    bearer = total - base * (n - 1)
    if remainder == "first":
        return [bearer] + [base] * (n - 1)
    return [base] * (n - 1) + [bearer]


def format_yen(yen: int) -> str:
    """Format yen with thousands separators, e.g. ``21,888円`` (negative: ``-1,000円``)."""
    return f"{_require_int('yen', yen):,}円"
