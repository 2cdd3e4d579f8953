"""TOTP against the published test vectors of RFC 6238 Appendix B (SHA-1, 8 digits)."""

from __future__ import annotations

import base64

import pytest

from kiban.security import totp

# RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890".
SEED = base64.b32encode(b"12345678901234567890").decode()


@pytest.mark.parametrize(
    ("unix_time", "expected"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_rfc6238_vectors(unix_time: int, expected: str) -> None:
    assert totp.hotp(SEED, unix_time // 30, digits=8) == expected


def test_verify_accepts_one_step_of_drift_and_refuses_replay() -> None:
    secret = totp.new_secret()
    now = 1_800_000_000.0
    step = totp.current_step(now)
    code = totp.hotp(secret, step - 1)
    assert totp.verify(secret, code, now=now) == step - 1
    # The same code cannot be used again once its step was accepted.
    assert totp.verify(secret, code, now=now, last_step=step - 1) is None
    assert totp.verify(secret, totp.hotp(secret, step - 2), now=now) is None
    assert totp.verify(secret, "12345", now=now) is None
    assert totp.verify(secret, "abcdef", now=now) is None
