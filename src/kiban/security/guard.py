"""The guard (アクセス制御): one function every service calls before touching personal data.

It checks, against the database at the moment of the request (so a revocation or a 人事異動 takes
effect at once): the terminal is registered and enrolled, the session is live, the staff member is
active, and a grant for this business × department × staff is valid today (domain.md §10.5;
seed 000 リスク対策: 個人番号利用事務 × 部署 × 担当者 の単位で権限を付与). A denial is written to the
access log in its own transaction, because the request's transaction will be rolled back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, func, literal, select

from kiban.security import audit
from kiban.security import tables as t
from kiban.security.context import AccessContext, Action, Business, Outcome
from kiban.security.errors import AccessDenied
from kiban.shared import clock


@dataclass(frozen=True)
class Granted:
    """Proof that the guard passed: which grant and role allowed the action."""

    grant_id: int
    business: Business
    role_code: str
    role_rank: int


def _deny(
    conn: Connection, ctx: AccessContext, action: Action, subjects: Sequence[str], reason: str
) -> AccessDenied:
    audit.record_denial(conn.engine, ctx, action=action, subjects=list(subjects), reason=reason)
    return AccessDenied("この操作を行う権限がありません。" + _REASONS.get(reason, ""))


_REASONS = {
    "terminal": "（登録されていない端末です）",
    "session": "（セッションが終了しています。再度ログインしてください）",
    "staff": "（職員IDが無効です）",
    "department": "（所属が変更されています。再度ログインしてください）",
    "grant": "",
    "rank": "（この操作には上位の役割が必要です）",
    "second_factor": "（二要素認証が必要です）",
}


def require(
    conn: Connection,
    ctx: AccessContext,
    *,
    action: Action,
    subjects: Sequence[str] = (),
    min_rank: int = 0,
    detail: Mapping[str, Any] | None = None,
    log: bool = True,
    on: date | None = None,
) -> Granted:
    """Check the grant or raise AccessDenied (after logging the denial).

    With ``log=True`` (the default) the access-log row is written now, in the caller's transaction;
    a service that logs richer detail after its work (a search: which persons were shown) passes
    ``log=False`` and calls ``audit.record`` itself before returning.
    """
    today = on or clock.today()
    term = conn.execute(
        select(t.terminal.c.terminal_id).where(
            t.terminal.c.code == ctx.terminal_code,
            t.terminal.c.revoked_at.is_(None),
            t.terminal.c.secret_hash.is_not(None),
        )
    ).first()
    if term is None:
        raise _deny(conn, ctx, action, subjects, "terminal")
    if ctx.session_id is not None:
        live = conn.execute(
            select(t.session.c.mfa_verified).where(
                t.session.c.session_hash == ctx.session_id,
                t.session.c.staff_id == ctx.staff_id,
                t.session.c.ended_at.is_(None),
                t.session.c.expires_at > func.now(),
            )
        ).first()
        if live is None:
            raise _deny(conn, ctx, action, subjects, "session")
    staff = conn.execute(
        select(t.staff.c.status, t.staff.c.id_expires_on, t.department.c.code)
        .join(t.department, t.department.c.department_id == t.staff.c.department_id)
        .where(t.staff.c.staff_id == ctx.staff_id)
    ).first()
    if staff is None or staff.status != "active" or (staff.id_expires_on and staff.id_expires_on < today):
        raise _deny(conn, ctx, action, subjects, "staff")
    if staff.code != ctx.department_code:
        raise _deny(conn, ctx, action, subjects, "department")
    row = conn.execute(
        select(t.grant.c.grant_id, t.grant.c.role_code, t.role.c.rank)
        .join(t.role, and_(t.role.c.business == t.grant.c.business, t.role.c.code == t.grant.c.role_code))
        .join(t.department, t.department.c.department_id == t.grant.c.department_id)
        .where(
            t.grant.c.staff_id == ctx.staff_id,
            t.grant.c.business == ctx.business.value,
            t.department.c.code == ctx.department_code,
            t.grant.c.revoked_at.is_(None),
            t.grant.c.valid.contains(literal(today)),
        )
        .order_by(t.role.c.rank.desc())
    ).first()
    if row is None:
        raise _deny(conn, ctx, action, subjects, "grant")
    if row.rank < min_rank:
        raise _deny(conn, ctx, action, subjects, "rank")
    if action is Action.REVEAL_MY_NUMBER and (not ctx.business.uses_my_number or not _mfa_done(conn, ctx)):
        raise _deny(conn, ctx, action, subjects, "second_factor")
    if log:
        audit.record(conn, ctx, action=action, outcome=Outcome.OK, subjects=list(subjects), detail=detail)
    return Granted(int(row.grant_id), ctx.business, str(row.role_code), int(row.rank))


def _mfa_done(conn: Connection, ctx: AccessContext) -> bool:
    if ctx.session_id is None:
        return False
    return bool(
        conn.execute(
            select(t.session.c.mfa_verified).where(t.session.c.session_hash == ctx.session_id)
        ).scalar()
    )
