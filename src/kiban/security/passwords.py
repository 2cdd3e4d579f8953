"""Passwords (パスワード): argon2id hashes and the policy of seeds 000 and 002.

Seed 002 (熊谷市): 「パスワードには、有効期限の設定、同一又は類似パスワード再利用制限、最低文字数の設定等を
行っている」; seed 000 (熊本市): 「パスワードについては、定期的に変更することを義務付けている」.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from kiban.security.errors import PasswordPolicyViolation

# argon2id (the library default type) with the OWASP Password Storage Cheat Sheet's first
# configuration: m=19 MiB, t=2, p=1 — about 30 ms here, so a counter login stays quick.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@dataclass(frozen=True)
class PasswordPolicy:
    """Configured per city; defaults follow the 総務省 guideline's common practice."""

    min_length: int = 12
    max_age: timedelta = timedelta(days=90)
    history: int = 5  # the last N passwords may not be reused
    min_classes: int = 3  # of: lower, upper, digit, symbol
    lockout_after: int = 5
    lockout_for: timedelta = timedelta(minutes=30)


DEFAULT_POLICY = PasswordPolicy()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def dummy_verify() -> None:
    """Spend the same time as a real check when the ID does not exist (no user enumeration by timing)."""
    verify_password(_DUMMY, "not-the-password")


_DUMMY = _hasher.hash("dummy-password-for-timing")


def is_expired(changed_at: datetime | None, now: datetime, policy: PasswordPolicy = DEFAULT_POLICY) -> bool:
    return changed_at is None or now - changed_at > policy.max_age


def _skeleton(text: str) -> str:
    """What stays when case, width, digits and symbols are ignored: "Sakura2025!" → "sakura"."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if ch.isalpha())


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def is_similar(new: str, old: str) -> bool:
    """類似パスワード: the same letters with other digits/symbols/case, or at most 2 edits apart."""
    a, b = _skeleton(new), _skeleton(old)
    if a and a == b:
        return True
    return _distance(new.lower(), old.lower()) <= 2


def check_new_password(
    new: str,
    *,
    staff_code: str,
    current: str | None,
    recent_hashes: list[str],
    policy: PasswordPolicy = DEFAULT_POLICY,
) -> None:
    """Raise PasswordPolicyViolation with a message naming the rule that failed."""
    if len(new) < policy.min_length:
        raise PasswordPolicyViolation(f"パスワードは{policy.min_length}文字以上にしてください。")
    classes = sum(
        [
            any(c.islower() for c in new),
            any(c.isupper() for c in new),
            any(c.isdigit() for c in new),
            any(not c.isalnum() for c in new),
        ]
    )
    if classes < policy.min_classes:
        raise PasswordPolicyViolation(
            f"英小文字・英大文字・数字・記号のうち{policy.min_classes}種類以上を含めてください。"
        )
    if staff_code.lower() in new.lower():
        raise PasswordPolicyViolation("職員IDを含むパスワードは使えません。")
    if current is not None and is_similar(new, current):
        raise PasswordPolicyViolation("現在のパスワードと同じ、または類似したパスワードは使えません。")
    for h in recent_hashes[: policy.history]:
        if verify_password(h, new):
            raise PasswordPolicyViolation(f"過去{policy.history}回以内に使ったパスワードは使えません。")
