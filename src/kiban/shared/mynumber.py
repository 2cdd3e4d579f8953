"""個人番号 (My Number) helpers: check digit, validation, masking and counter-input normalisation.

The 12-digit 個人番号 is eleven digits derived from the 住民票コード followed by one
検査用数字 (check digit).  The check digit algorithm is public; the derivation of the
eleven digits is not, so nothing here can (or tries to) tell whether a number was
actually issued -- only whether it is well formed.

Privacy: a 個人番号 is 特定個人情報 (番号法第2条第8項).  Error messages in this module
therefore never echo the digits they were given; at most they state a length.
"""

from __future__ import annotations

import random
import re
from typing import Final

__all__ = ["check_digit", "generate", "is_valid", "mask", "normalize"]

_ASCII_DIGITS: Final = frozenset("0123456789")

# Weights Qn for n = 1..11, where n = 1 is the RIGHTMOST of the eleven digits.
# 平成26年総務省令第85号 第5条 (番号法施行令第8条の委任による「検査用数字を算出する算式」):
#   Qn = n + 1  (1 <= n <= 6)
#   Qn = n - 5  (7 <= n <= 11)
_WEIGHTS_FROM_RIGHT: Final = tuple(n + 1 if n <= 6 else n - 5 for n in range(1, 12))

_NORMALIZE_ERROR: Final = "個人番号は12桁の数字で入力してください (My Number must be 12 digits)"

# Characters a person at the counter may type between the digit groups.  Listed
# explicitly rather than relying on NFKC, because NFKC would also turn e.g. "①" or
# superscript digits into ASCII digits, which we do not want to accept silently.
_SEPARATORS: Final = frozenset(
    " \t\u3000"  # ASCII space, tab, 全角スペース
    "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d"  # hyphen/dash/minus variants incl. 全角ハイフン
    "\u30fc\uff70"  # 長音符 ー / half-width ｰ, commonly typed by mistake for a hyphen
)
_FULLWIDTH_TO_ASCII: Final = {ord("０") + i: ord("0") + i for i in range(10)}


def _is_ascii_digits(text: str, length: int) -> bool:
    # str.isdigit() is deliberately avoided: it accepts full-width and other Unicode digits.
    return len(text) == length and all(ch in _ASCII_DIGITS for ch in text)


def check_digit(first11: str) -> int:
    """Return the 検査用数字 (check digit) for the first eleven digits of a 個人番号.

    Implements 平成26年総務省令第85号 第5条 (referred to by 番号法施行令第8条):
    remainder = (Σ Pn×Qn) mod 11 over n = 1..11 counted from the right;
    check = 0 if remainder <= 1 else 11 - remainder.

    Raises ValueError unless ``first11`` is exactly eleven ASCII digits.
    """
    if not isinstance(first11, str):
        raise ValueError("first11 must be a str of exactly 11 ASCII digits")
    if not _is_ascii_digits(first11, 11):
        raise ValueError(f"first11 must be exactly 11 ASCII digits (got a string of length {len(first11)})")
    total = sum(
        int(digit) * weight for digit, weight in zip(reversed(first11), _WEIGHTS_FROM_RIGHT, strict=True)
    )
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def is_valid(number: object) -> bool:
    """Return True if ``number`` is a well-formed 個人番号: 12 ASCII digits with a correct check digit.

    Never raises: anything else (full-width digits, spaces, hyphens, non-str) gives False.
    Use :func:`normalize` first for input typed at a counter.
    """
    if not isinstance(number, str) or not _is_ascii_digits(number, 12):
        return False
    return check_digit(number[:11]) == int(number[11])


def normalize(text: str) -> str:
    """Normalise a 個人番号 as typed at a counter to 12 ASCII digits.

    Accepts full-width digits and spaces/hyphens between digits.  Does NOT verify the
    check digit -- call :func:`is_valid` on the result for that (kept separate so the
    screen can tell "wrong length" from "typo in a digit").

    Raises ValueError with a Japanese message that does not echo the input.
    """
    if not isinstance(text, str):
        raise ValueError(_NORMALIZE_ERROR)
    digits = "".join(ch for ch in text.translate(_FULLWIDTH_TO_ASCII) if ch not in _SEPARATORS)
    if not _is_ascii_digits(digits, 12):
        raise ValueError(_NORMALIZE_ERROR)
    return digits


def mask(number: str) -> str:
    """Mask a 個人番号 for display as ``****-****-0257`` (only the last four digits shown).

    Accepts anything :func:`normalize` accepts; raises ValueError otherwise.
    """
    digits = normalize(number)
    return f"****-****-{digits[8:]}"


def generate(rng: random.Random) -> str:
    """Generate a random, well-formed 個人番号 (for synthetic test residents only).

    The first eleven digits are uniform random; real numbers are derived from the
    住民票コード by an unpublished transformation, so these are merely check-digit valid.
    """
    first11 = "".join(str(rng.randrange(10)) for _ in range(11))
    return first11 + str(check_digit(first11))


# A 個人番号 as it may appear in free text: twelve digits (ASCII or full-width), optionally in
# 4-4-4 groups, not part of a longer run of digits. Candidates are confirmed with the check digit.
_DIGIT = "0-9\uff10-\uff19"
_SEP = "[-\\s\u2010-\u2015\u2212\uff0d\u30fc\uff70\u3000]?"
_CANDIDATE = re.compile(
    f"(?<![{_DIGIT}])([{_DIGIT}]{{4}}){_SEP}([{_DIGIT}]{{4}}){_SEP}([{_DIGIT}]{{4}})(?![{_DIGIT}])"
)
_FULLWIDTH_DIGITS = {ord("０") + i: ord("0") + i for i in range(10)}


def contains_my_number(text: str) -> bool:
    """True if ``text`` holds a well-formed 個人番号 (12 digits, check digit valid) anywhere.

    Used by every writer that must never store one: the access log, the outbox, error lists.
    """
    for match in _CANDIDATE.finditer(text):
        digits = "".join(match.groups()).translate(_FULLWIDTH_DIGITS)
        if is_valid(digits):
            return True
    return False
