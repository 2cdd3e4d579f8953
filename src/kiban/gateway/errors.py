"""Errors of the 中間サーバー. Messages are Japanese, for staff, and name the record and field; none
ever holds a 個人番号 or a 符号."""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every 中間サーバー error."""


class TenantMissing(GatewayError):
    """The city is not registered as a tenant (or has not joined the network)."""


class TokenMissing(GatewayError):
    """The person has no 符号 for the agency yet (符号取得 first)."""


class InquiryRefused(GatewayError):
    """An inquiry the 照会許可用照合リスト does not allow; the refusal is recorded."""

    def __init__(self, message: str, *, request_id: str) -> None:
        super().__init__(message)
        self.request_id = request_id


class InquiryNotFound(GatewayError):
    """No inquiry with that request id in this city."""


class InquiryStateError(GatewayError):
    """The inquiry is not in a state that allows the step."""


class ReviewError(GatewayError):
    """A 自動応答不可 item that cannot be released or refused (already reviewed, unknown)."""
