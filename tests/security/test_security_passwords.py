"""Password policy of seeds 000/002: minimum length, classes, no reuse, no similar passwords."""

from __future__ import annotations

import pytest

from kiban.security import passwords
from kiban.security.errors import PasswordPolicyViolation


def test_hash_is_argon2id_and_verifies() -> None:
    h = passwords.hash_password("Correct-Horse-42!")
    assert h.startswith("$argon2id$")
    assert passwords.verify_password(h, "Correct-Horse-42!")
    assert not passwords.verify_password(h, "correct-horse-42!")
    assert not passwords.verify_password("garbage", "x")


@pytest.mark.parametrize(
    ("new", "fragment"),
    [
        ("Short-1!", "12文字以上"),
        ("alllowercaseletters", "3種類以上"),
        ("Tanaka-user01-X!", "職員ID"),
        ("Sakura-Blossom-2027?", "類似"),  # same letters as the current one, other digits/symbols
        ("Sakura-Blossom-2026", "類似"),  # two edits away
    ],
)
def test_policy_names_the_rule_that_failed(new: str, fragment: str) -> None:
    with pytest.raises(PasswordPolicyViolation, match=fragment):
        passwords.check_new_password(
            new, staff_code="user01", current="Sakura-Blossom-2026!", recent_hashes=[]
        )


def test_recent_passwords_cannot_be_reused() -> None:
    old = "Previous-Pass-77#"
    with pytest.raises(PasswordPolicyViolation, match="過去5回"):
        passwords.check_new_password(
            old, staff_code="u1", current="Entirely-Other-1!", recent_hashes=[passwords.hash_password(old)]
        )
    passwords.check_new_password(
        "Brand-New-Words-5$",
        staff_code="u1",
        current="Entirely-Other-1!",
        recent_hashes=[passwords.hash_password(old)],
    )
