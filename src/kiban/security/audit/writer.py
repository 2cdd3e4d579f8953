"""Writing the access log (アクセスログの記録).

Every service writes one row per access **in the same transaction** as its work (domain.md §10.7;
seed 000 リスク対策: 処理日時・職員・部署・端末・処理事由・宛名番号). If the work rolls back, so does the
row — and a commit without its row cannot happen because the service writes both or raises.

The writer is on every request's path, so it does exactly one INSERT and takes no lock beyond the
row's own; sealing happens later, in the background (:mod:`kiban.security.audit.seal`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from kiban.security.context import AccessContext, Action, Outcome
from kiban.shared.mynumber import contains_my_number

STAFF_CODE_MAX = 32  # a typed, possibly unknown code is kept, but only this much of it
REDACTED = "[redacted]"

_INSERT = (
    "INSERT INTO audit.access_log (staff_id, staff_code, department_code, terminal_code, business, "
    "purpose_code, purpose_text, action, outcome, subjects, detail, request_id, session_id) VALUES ("
    "%(staff_id)s, %(staff_code)s, %(department_code)s, %(terminal_code)s, %(business)s, "
    "%(purpose_code)s, %(purpose_text)s, %(action)s, %(outcome)s, %(subjects)s::text[], "
    "%(detail)s::jsonb, %(request_id)s, %(session_id)s)"
)


class MyNumberInAuditLogError(ValueError):
    """The access log refused a value holding a 個人番号 (番号法: the log must never contain one).

    The message names the field, never the value.
    """

    def __init__(self, field: str) -> None:
        super().__init__(
            f"アクセスログに個人番号を記録することはできません（{field}） "
            f"(the access log never stores a My Number: refused in {field})"
        )
        self.field = field


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"access-log detail cannot hold a {type(value).__name__}")


def _subjects(subjects: Sequence[str]) -> list[str]:
    if isinstance(subjects, str):  # a lone str is a Sequence too; it would be split into characters
        raise TypeError("subjects must be a sequence of 宛名番号, not a single string")
    out: list[str] = []
    for s in subjects:
        if isinstance(s, bool) or not isinstance(s, str | int):
            raise TypeError("subjects must be 宛名番号 (str)")
        out.append(str(s))
    if out and contains_my_number("\x1f".join(out)):
        raise MyNumberInAuditLogError("subjects")
    return out


def _detail(detail: Mapping[str, Any] | None) -> str:
    if not detail:
        return "{}"
    text = json.dumps(detail, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    if contains_my_number(text):
        raise MyNumberInAuditLogError("detail")
    return text


def _free_text(value: str | None, field: str) -> str | None:
    if value and contains_my_number(value):
        raise MyNumberInAuditLogError(field)
    return value


def _insert(conn: Connection, params: dict[str, Any]) -> None:
    """The one INSERT, straight on the psycopg connection inside the caller's transaction.

    Every request pays for this statement, so it skips SQLAlchemy's execution layer (about a fifth
    of the statement's client cost) and is prepared on the server at first use.
    """
    if not conn.in_transaction():
        conn.begin()  # what SQLAlchemy's autobegin would do; the caller's commit() then covers the row
    driver = conn.connection.driver_connection
    try:
        driver.execute(_INSERT, params, prepare=True)  # type: ignore[union-attr]
    except psycopg.Error as exc:
        raise DBAPIError.instance(_INSERT, None, exc, psycopg.Error) from exc


def record(
    conn: Connection,
    ctx: AccessContext,
    *,
    action: Action,
    outcome: Outcome = Outcome.OK,
    subjects: Sequence[str] = (),
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Write one access-log row in the caller's transaction (no commit here).

    ``subjects`` are the 宛名番号 of the persons concerned — for a search, the persons shown;
    ``detail`` holds search criteria, counts, old/new values. Neither may hold a 個人番号:
    :class:`MyNumberInAuditLogError` (a ValueError) is raised without echoing the value.
    """
    params: dict[str, Any] = {
        "staff_id": ctx.staff_id,
        "staff_code": ctx.staff_code,
        "department_code": ctx.department_code,
        "terminal_code": ctx.terminal_code,
        "business": str(ctx.business),
        "purpose_code": _free_text(ctx.purpose_code, "purpose_code"),
        "purpose_text": _free_text(ctx.purpose_text, "purpose_text"),
        "action": str(action),
        "outcome": str(outcome),
        "subjects": _subjects(subjects),
        "detail": _detail(detail),
        "request_id": ctx.request_id,
        "session_id": ctx.session_id,
    }
    _insert(conn, params)


def record_anonymous(
    conn: Connection,
    *,
    staff_code: str | None,
    terminal_code: str | None,
    action: Action,
    outcome: Outcome,
    detail: Mapping[str, Any] | None = None,
    request_id: str | None = None,
) -> None:
    """Log an event before an :class:`AccessContext` exists: a login, or a failed login (ログイン失敗).

    ``staff_code`` is what was typed, possibly unknown: kept for the review of repeated failures,
    cut to 32 characters. Someone may type their 個人番号 into the ID field; that input is
    replaced by ``[redacted]`` rather than refused, so the failure itself is still recorded.
    """
    typed = staff_code[:STAFF_CODE_MAX] if staff_code is not None else None
    if typed is not None and contains_my_number(staff_code or ""):
        typed = REDACTED
    params: dict[str, Any] = {
        "staff_id": None,
        "staff_code": typed,
        "department_code": None,
        "terminal_code": terminal_code,
        "business": None,
        "purpose_code": None,
        "purpose_text": None,
        "action": str(action),
        "outcome": str(outcome),
        "subjects": [],
        "detail": _detail(detail),
        "request_id": request_id,
        "session_id": None,
    }
    _insert(conn, params)


def record_denial(
    engine: Engine,
    ctx: AccessContext,
    *,
    action: Action,
    subjects: Sequence[str] = (),
    reason: str,
) -> None:
    """Log a refused access in its OWN committed transaction (拒否の記録).

    The denied request's transaction is about to roll back, which would take an in-transaction row
    with it; repeated denials are one of the anomalies the 監査 review looks for (domain.md §10.7).
    """
    with engine.begin() as conn:
        record(conn, ctx, action=action, outcome=Outcome.DENIED, subjects=subjects, detail={"reason": reason})
