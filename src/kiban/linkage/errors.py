"""Errors of 庁内連携: each message is Japanese, names the record and the field, never a 個人番号."""

from __future__ import annotations

from dataclasses import dataclass


class LinkageError(Exception):
    """A request the linkage rules refuse (shown to staff as is)."""


@dataclass(frozen=True)
class FieldError:
    field: str  # 項目名 as on the form
    message: str


class ValidationFailed(LinkageError):
    """Bad input: every bad field of one record, nothing written."""

    def __init__(self, record: str, errors: list[FieldError]) -> None:
        self.record = record
        self.errors = errors
        super().__init__(f"{record}: " + "／".join(f"{e.field}: {e.message}" for e in errors))


class NotFound(LinkageError, LookupError):
    pass


class SelfApproval(LinkageError):
    """The applicant cannot decide their own データ使用承認願 (seed 000: 承認は別の管理者)."""


class UnknownConsumer(LinkageError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "連携先が登録されていません"


class MyNumberRefused(LinkageError):
    """Defence in depth: a record for a non-My-Number consumer held a 個人番号 (names the consumer)."""
