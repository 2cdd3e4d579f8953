"""Typed security exceptions. Messages are for the person at the counter (Japanese) and never
contain a password, a token or a 個人番号."""

from __future__ import annotations


class SecurityError(Exception):
    """Base class; ``str(exc)`` is safe to show on screen."""


class AuthenticationFailed(SecurityError):
    """ID or password wrong (the message never says which, to not help guessing)."""


class AccountLocked(SecurityError):
    pass


class AccountInactive(SecurityError):
    pass


class SessionConflict(SecurityError):
    """A live session of the same staff exists on another terminal (seed 000: 多重ログイン禁止)."""


class SessionExpired(SecurityError):
    pass


class TerminalNotRegistered(SecurityError):
    pass


class SecondFactorRequired(SecurityError):
    pass


class InvalidSecondFactor(SecurityError):
    pass


class PasswordPolicyViolation(SecurityError):
    pass


class AccessDenied(SecurityError):
    """No valid grant for this business × department × staff, or the action is beyond the role."""


class ApprovalError(SecurityError):
    """An approval flow rule was broken (self-approval, already decided …)."""


class NotFound(SecurityError):
    pass
