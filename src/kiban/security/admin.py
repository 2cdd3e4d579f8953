"""Organisation and grants (職員・部署・端末・権限の管理) with the approval flow (決裁).

Every change here is an administrator's action under the guard (business ``system``) and is written
to the access log in the same transaction. Grants are issued and revoked only by a request of one
administrator approved by a different one (発効・失効管理; seed 002 リスク対策 <アクセス権限の発効・失効の管理>).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, and_, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.exc import IntegrityError

from kiban.security import audit, guard, passwords, tokens
from kiban.security import tables as t
from kiban.security.context import AccessContext, Action, Business, Outcome
from kiban.security.errors import ApprovalError, NotFound, SecurityError
from kiban.shared import clock

ADMIN_RANK = 2
ENROL_CODE_VALID = timedelta(hours=24)


def _require_admin(conn: Connection, ctx: AccessContext, action: Action, **detail: object) -> None:
    if ctx.business is not Business.SYSTEM:
        raise SecurityError("職員・権限の管理はシステム管理の業務で行ってください。")
    guard.require(conn, ctx, action=action, min_rank=ADMIN_RANK, detail=detail or None)


def _department_id(conn: Connection, code: str) -> int:
    dep = conn.execute(select(t.department.c.department_id).where(t.department.c.code == code)).scalar()
    if dep is None:
        raise NotFound(f"部署コード {code} は登録されていません。")
    return int(dep)


def _staff_id(conn: Connection, code: str) -> int:
    sid = conn.execute(select(t.staff.c.staff_id).where(t.staff.c.code == code)).scalar()
    if sid is None:
        raise NotFound(f"職員ID {code} は登録されていません。")
    return int(sid)


def end_sessions(
    conn: Connection, *, staff_id: int | None = None, terminal_id: int | None = None, reason: str
) -> int:
    """End live sessions at once (revocation, transfer, retirement, terminal revocation)."""
    cond: list[ColumnElement[bool]] = [t.session.c.ended_at.is_(None)]
    if staff_id is not None:
        cond.append(t.session.c.staff_id == staff_id)
    if terminal_id is not None:
        cond.append(t.session.c.terminal_id == terminal_id)
    res = conn.execute(update(t.session).where(*cond).values(ended_at=func.now(), end_reason=reason))
    return res.rowcount or 0


# --- departments and staff -------------------------------------------------------------------


def do_create_department(conn: Connection, ctx: AccessContext, *, code: str, name: str) -> int:
    """部署の登録."""
    _require_admin(conn, ctx, Action.CREATE, department=code)
    return int(
        conn.execute(
            insert(t.department).values(code=code, name=name).returning(t.department.c.department_id)
        ).scalar_one()
    )


def do_create_staff(
    conn: Connection,
    ctx: AccessContext,
    *,
    code: str,
    name: str,
    name_kana: str,
    department_code: str,
    initial_password: str,
    id_expires_on: date | None = None,
) -> int:
    """職員IDの発行: one personal ID per person; the first password must be changed at first login."""
    _require_admin(conn, ctx, Action.CREATE, staff=code)
    if conn.execute(select(t.staff.c.staff_id).where(t.staff.c.code == code)).first():
        raise SecurityError(f"職員ID {code} は既に使われています（IDの共用・再利用はできません）。")
    passwords.check_new_password(initial_password, staff_code=code, current=None, recent_hashes=[])
    return create_staff_unchecked(
        conn,
        code=code,
        name=name,
        name_kana=name_kana,
        department_id=_department_id(conn, department_code),
        password=initial_password,
        must_change=True,
        id_expires_on=id_expires_on,
    )


def create_staff_unchecked(
    conn: Connection,
    *,
    code: str,
    name: str,
    name_kana: str,
    department_id: int,
    password: str,
    must_change: bool,
    is_admin: bool = False,
    id_expires_on: date | None = None,
) -> int:
    """Insert a staff row (used by do_create_staff after the guard, and by the bootstrap)."""
    h = passwords.hash_password(password)
    sid = conn.execute(
        insert(t.staff)
        .values(
            code=code,
            name=name,
            name_kana=name_kana,
            department_id=department_id,
            is_admin=is_admin,
            password_hash=h,
            password_changed_at=func.now(),
            must_change_password=must_change,
            id_expires_on=id_expires_on,
        )
        .returning(t.staff.c.staff_id)
    ).scalar_one()
    conn.execute(insert(t.password_history).values(staff_id=sid, hash=h))
    return int(sid)


def do_transfer_staff(
    conn: Connection, ctx: AccessContext, *, staff_code: str, department_code: str, reason: str
) -> int:
    """人事異動: grants of the old department end at once, and so do live sessions. Returns grants ended."""
    _require_admin(conn, ctx, Action.UPDATE, staff=staff_code, to=department_code, reason=reason)
    sid = _staff_id(conn, staff_code)
    new_dep = _department_id(conn, department_code)
    ended = conn.execute(
        update(t.grant)
        .where(t.grant.c.staff_id == sid, t.grant.c.revoked_at.is_(None), t.grant.c.department_id != new_dep)
        .values(revoked_at=func.now(), revoke_reason=f"人事異動: {reason}")
    ).rowcount
    conn.execute(update(t.staff).where(t.staff.c.staff_id == sid).values(department_id=new_dep))
    end_sessions(conn, staff_id=sid, reason="transfer")
    return ended or 0


def do_retire_staff(conn: Connection, ctx: AccessContext, *, staff_code: str, reason: str) -> None:
    """退職・ID失効: the ID can never log in again; grants and sessions end."""
    _require_admin(conn, ctx, Action.UPDATE, staff=staff_code, status="retired", reason=reason)
    sid = _staff_id(conn, staff_code)
    conn.execute(update(t.staff).where(t.staff.c.staff_id == sid).values(status="retired"))
    conn.execute(
        update(t.grant)
        .where(t.grant.c.staff_id == sid, t.grant.c.revoked_at.is_(None))
        .values(revoked_at=func.now(), revoke_reason=f"退職: {reason}")
    )
    end_sessions(conn, staff_id=sid, reason="retired")


def do_unlock_staff(conn: Connection, ctx: AccessContext, *, staff_code: str) -> None:
    """ロック解除 by an administrator."""
    _require_admin(conn, ctx, Action.UPDATE, staff=staff_code, unlock=True)
    conn.execute(
        update(t.staff).where(t.staff.c.code == staff_code).values(failed_logins=0, locked_until=None)
    )


# --- terminals ---------------------------------------------------------------------------------


def do_register_terminal(
    conn: Connection, ctx: AccessContext, *, code: str, name: str, department_code: str
) -> str:
    """端末の登録: returns a one-time enrolment code to type at that terminal within 24 hours."""
    _require_admin(conn, ctx, Action.CREATE, terminal=code)
    enrol = tokens.new_enrol_code()
    try:
        with conn.begin_nested():
            conn.execute(
                insert(t.terminal).values(
                    code=code,
                    name=name,
                    department_id=_department_id(conn, department_code),
                    enrol_code_hash=tokens.digest(enrol),
                    enrol_expires_at=func.now() + ENROL_CODE_VALID,
                    registered_by=ctx.staff_id,
                )
            )
    except IntegrityError as exc:
        raise SecurityError(f"端末コード {code} は既に登録されています。") from exc
    return enrol


def do_enrol_terminal(conn: Connection, *, code: str, enrol_code: str) -> str:
    """端末の利用登録 at the terminal itself: trades the one-time code for a long-lived secret."""
    row = conn.execute(
        select(t.terminal.c.terminal_id, t.terminal.c.enrol_code_hash, t.terminal.c.enrol_expires_at).where(
            t.terminal.c.code == code, t.terminal.c.revoked_at.is_(None)
        )
    ).first()
    ok = (
        row is not None
        and row.enrol_code_hash is not None
        and row.enrol_code_hash == tokens.digest(enrol_code.strip().upper())
        and row.enrol_expires_at > datetime.now(row.enrol_expires_at.tzinfo)
    )
    if not ok or row is None:
        audit.record_anonymous(
            conn,
            staff_code=None,
            terminal_code=code[:32],
            action=Action.CREATE,
            outcome=Outcome.DENIED,
            detail={"terminal_enrolment": "invalid code"},
        )
        raise SecurityError("端末コードまたは登録コードが正しくないか、有効期限が切れています。")
    secret = tokens.new_token()
    conn.execute(
        update(t.terminal)
        .where(t.terminal.c.terminal_id == row.terminal_id)
        .values(
            secret_hash=tokens.digest(secret),
            enrolled_at=func.now(),
            enrol_code_hash=None,
            enrol_expires_at=None,
        )
    )
    audit.record_anonymous(
        conn,
        staff_code=None,
        terminal_code=code,
        action=Action.CREATE,
        outcome=Outcome.OK,
        detail={"terminal_enrolment": "enrolled"},
    )
    return secret


def do_revoke_terminal(conn: Connection, ctx: AccessContext, *, code: str, reason: str) -> None:
    """端末の登録抹消: its sessions end and its secret stops working at once."""
    _require_admin(conn, ctx, Action.UPDATE, terminal=code, revoked=True, reason=reason)
    tid = conn.execute(
        update(t.terminal)
        .where(t.terminal.c.code == code)
        .values(revoked_at=func.now(), secret_hash=None)
        .returning(t.terminal.c.terminal_id)
    ).scalar()
    if tid is None:
        raise NotFound(f"端末コード {code} は登録されていません。")
    end_sessions(conn, terminal_id=int(tid), reason="terminal_revoked")


# --- grants and their approval -----------------------------------------------------------------


def do_request_grant(
    conn: Connection,
    ctx: AccessContext,
    *,
    staff_code: str,
    business: Business,
    department_code: str,
    role_code: str,
    valid_from: date,
    valid_to: date | None,
    reason: str,
) -> int:
    """権限付与の起案. ``valid_to`` is the last valid day (inclusive) or None for open-ended."""
    _require_admin(
        conn,
        ctx,
        Action.CREATE,
        grant_request="issue",
        staff=staff_code,
        business=business.value,
        role=role_code,
    )
    if valid_to is not None and valid_to < valid_from:
        raise SecurityError("有効期間の終了日が開始日より前です。")
    if not conn.execute(
        select(t.role.c.code).where(t.role.c.business == business.value, t.role.c.code == role_code)
    ).first():
        raise NotFound(f"{business.label}に役割 {role_code} はありません。")
    return int(
        conn.execute(
            insert(t.grant_request)
            .values(
                kind="issue",
                staff_id=_staff_id(conn, staff_code),
                business=business.value,
                department_id=_department_id(conn, department_code),
                role_code=role_code,
                valid_from=valid_from,
                valid_to=valid_to,
                reason=reason.strip(),
                requested_by=ctx.staff_id,
            )
            .returning(t.grant_request.c.request_id)
        ).scalar_one()
    )


def do_request_revoke(conn: Connection, ctx: AccessContext, *, grant_id: int, reason: str) -> int:
    """権限失効の起案."""
    _require_admin(conn, ctx, Action.CREATE, grant_request="revoke", grant_id=grant_id)
    g = conn.execute(
        select(t.grant).where(t.grant.c.grant_id == grant_id, t.grant.c.revoked_at.is_(None))
    ).first()
    if g is None:
        raise NotFound(f"有効な権限（番号 {grant_id}）はありません。")
    return int(
        conn.execute(
            insert(t.grant_request)
            .values(
                kind="revoke",
                staff_id=g.staff_id,
                business=g.business,
                department_id=g.department_id,
                role_code=g.role_code,
                valid_from=g.valid.lower,
                valid_to=None,
                grant_id=grant_id,
                reason=reason.strip(),
                requested_by=ctx.staff_id,
            )
            .returning(t.grant_request.c.request_id)
        ).scalar_one()
    )


def do_decide(conn: Connection, ctx: AccessContext, *, request_id: int, approve: bool) -> None:
    """決裁: a different administrator approves (the grant takes effect) or rejects."""
    _require_admin(conn, ctx, Action.APPROVE, request_id=request_id, approve=approve)
    req = conn.execute(
        select(t.grant_request).where(t.grant_request.c.request_id == request_id).with_for_update()
    ).first()
    if req is None:
        raise NotFound(f"起案（番号 {request_id}）はありません。")
    if req.state != "pending":
        raise ApprovalError("この起案は既に決裁済みです。")
    if req.requested_by == ctx.staff_id:
        raise ApprovalError("自分が起案した申請は決裁できません。別の管理者が決裁してください。")
    conn.execute(
        update(t.grant_request)
        .where(t.grant_request.c.request_id == request_id)
        .values(state="approved" if approve else "rejected", decided_by=ctx.staff_id, decided_at=func.now())
    )
    if not approve:
        return
    if req.kind == "issue":
        upper = req.valid_to + timedelta(days=1) if req.valid_to else None
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(t.grant).values(
                        staff_id=req.staff_id,
                        business=req.business,
                        department_id=req.department_id,
                        role_code=req.role_code,
                        valid=Range(req.valid_from, upper, bounds="[)"),
                        issued_by_request=request_id,
                    )
                )
        except IntegrityError as exc:
            raise ApprovalError("同じ職員・事務・部署で期間の重なる権限が既にあります。") from exc
    else:
        conn.execute(
            update(t.grant)
            .where(t.grant.c.grant_id == req.grant_id, t.grant.c.revoked_at.is_(None))
            .values(revoked_at=func.now(), revoke_reason=req.reason)
        )
        # Revocation takes effect at once: the staff member's live session ends now.
        end_sessions(conn, staff_id=req.staff_id, reason="grant_revoked")


# --- read models ---


UNUSED_AFTER = timedelta(days=90)


STAFF_PAGE_SIZE = 100


def _unused() -> ColumnElement[bool]:
    """An active ID not used for 90 days (never signed in, or last signed in before then)."""
    last_use = func.coalesce(t.staff.c.last_login_at, t.staff.c.created_at)
    return and_(t.staff.c.status == "active", last_use < func.now() - UNUSED_AFTER)


def _staff_select() -> Any:
    return (
        select(
            t.staff.c.code,
            t.staff.c.name,
            t.staff.c.name_kana,
            t.staff.c.status,
            t.staff.c.locked_until,
            t.staff.c.totp_enrolled_at,
            t.staff.c.last_login_at,
            t.department.c.name.label("dep"),
            _unused().label("unused"),
        )
        .join(t.department, t.department.c.department_id == t.staff.c.department_id)
        .order_by(t.staff.c.code)
    )


def staff_list(conn: Connection, ctx: AccessContext) -> list[Row[Any]]:
    """職員一覧 for the administrator: IDs, names, departments, state — no resident data.

    ``unused`` flags an active ID not used for 90 days (never, or last login before then): domain.md
    §10.6 asks that unused IDs be reported so they can be lapsed.
    """
    _require_admin(conn, ctx, Action.VIEW, screen="staff_list")
    return list(conn.execute(_staff_select()).all())


@dataclass(frozen=True)
class StaffPage:
    """One page of the 職員一覧 as the screen shows it, and how many IDs match in all."""

    rows: list[Row[Any]]
    total: int
    page: int
    pages: int
    per_page: int

    @property
    def first(self) -> int:
        """The 1-based position of the page's first row in the whole list (0 when empty)."""
        return (self.page - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.per_page + len(self.rows)


def staff_page(
    conn: Connection,
    ctx: AccessContext,
    *,
    query: str = "",
    department_code: str = "",
    unused_only: bool = False,
    page: int = 1,
    per_page: int = STAFF_PAGE_SIZE,
) -> StaffPage:
    """The 職員一覧 filtered by 職員ID / 氏名 / フリガナ (contains), 所属 and 「90日以上未使用」, a page at
    a time: a city has thousands of IDs, and the screen must open at once and show the one just issued."""
    _require_admin(conn, ctx, Action.VIEW, screen="staff_list")
    stmt = _staff_select()
    text = query.strip()
    if text:
        stmt = stmt.where(
            t.staff.c.code.icontains(text, autoescape=True)
            | t.staff.c.name.icontains(text, autoescape=True)
            | t.staff.c.name_kana.icontains(text, autoescape=True)
        )
    if department_code:
        stmt = stmt.where(t.department.c.code == department_code)
    if unused_only:
        stmt = stmt.where(_unused())
    total = int(conn.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one())
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = list(conn.execute(stmt.limit(per_page).offset((page - 1) * per_page)).all())
    return StaffPage(rows, total, page, pages, per_page)


def terminal_list(conn: Connection, ctx: AccessContext) -> list[Row[Any]]:
    """登録端末の一覧."""
    _require_admin(conn, ctx, Action.VIEW, screen="terminal_list")
    return list(
        conn.execute(
            select(
                t.terminal.c.code,
                t.terminal.c.name,
                t.terminal.c.enrolled_at,
                t.terminal.c.revoked_at,
                t.terminal.c.enrol_expires_at,
                t.department.c.name.label("dep"),
            )
            .join(t.department, t.department.c.department_id == t.terminal.c.department_id)
            .order_by(t.terminal.c.code)
        ).all()
    )


# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessRow:
    """One line of the アクセス権限表 (who can access what)."""

    grant_id: int
    staff_code: str
    staff_name: str
    department: str
    business: Business
    role: str
    valid_from: date
    valid_to: date | None
    state: str  # 有効 / 期間前 / 期限切れ / 失効


@dataclass(frozen=True)
class RequestRow:
    request_id: int
    kind: str
    staff_code: str
    staff_name: str
    business: Business
    department: str
    role: str
    valid_from: date
    valid_to: date | None
    reason: str
    requested_by: str
    requested_at: datetime
    state: str


def access_table(
    conn: Connection, ctx: AccessContext, *, on: date | None = None, include_ended: bool = False
) -> list[AccessRow]:
    """アクセス権限表: every grant with its state on ``on`` — for the annual roster and audits."""
    if ctx.business not in (Business.SYSTEM, Business.KANSA):
        raise SecurityError("アクセス権限表はシステム管理または監査の業務で参照してください。")
    guard.require(conn, ctx, action=Action.VIEW, detail={"screen": "access_table"})
    day = on or clock.today()
    s, d, r = t.staff, t.department, t.role
    rows = conn.execute(
        select(
            t.grant,
            s.c.code.label("staff_code"),
            s.c.name.label("staff_name"),
            d.c.name.label("dep"),
            r.c.label.label("role_label"),
        )
        .join(s, s.c.staff_id == t.grant.c.staff_id)
        .join(d, d.c.department_id == t.grant.c.department_id)
        .join(r, and_(r.c.business == t.grant.c.business, r.c.code == t.grant.c.role_code))
        .order_by(s.c.code, t.grant.c.business)
    ).all()
    out = []
    for g in rows:
        upper = g.valid.upper
        if g.revoked_at is not None:
            state = "失効"
        elif g.valid.lower > day:
            state = "期間前"
        elif upper is not None and upper <= day:
            state = "期限切れ"
        else:
            state = "有効"
        if state in ("失効", "期限切れ") and not include_ended:
            continue
        out.append(
            AccessRow(
                int(g.grant_id),
                g.staff_code,
                g.staff_name,
                g.dep,
                Business(g.business),
                g.role_label,
                g.valid.lower,
                upper - timedelta(days=1) if upper else None,
                state,
            )
        )
    return out


def requests(conn: Connection, ctx: AccessContext, *, pending_only: bool = True) -> list[RequestRow]:
    """起案の一覧 (決裁待ち)."""
    _require_admin(conn, ctx, Action.VIEW, screen="grant_requests")
    s, req_by, d, r = t.staff.alias("s"), t.staff.alias("rb"), t.department, t.role
    q = (
        select(
            t.grant_request,
            s.c.code.label("staff_code"),
            s.c.name.label("staff_name"),
            d.c.name.label("dep"),
            r.c.label.label("role_label"),
            req_by.c.code.label("req_by"),
        )
        .join(s, s.c.staff_id == t.grant_request.c.staff_id)
        .join(req_by, req_by.c.staff_id == t.grant_request.c.requested_by)
        .join(d, d.c.department_id == t.grant_request.c.department_id)
        .join(r, and_(r.c.business == t.grant_request.c.business, r.c.code == t.grant_request.c.role_code))
        .order_by(t.grant_request.c.request_id.desc())
    )
    if pending_only:
        q = q.where(t.grant_request.c.state == "pending")
    return [
        RequestRow(
            int(x.request_id),
            x.kind,
            x.staff_code,
            x.staff_name,
            Business(x.business),
            x.dep,
            x.role_label,
            x.valid_from,
            x.valid_to,
            x.reason,
            x.req_by,
            x.requested_at,
            x.state,
        )
        for x in conn.execute(q).all()
    ]


def grants_of(conn: Connection, staff_id: int, *, on: date | None = None) -> list[tuple[Business, str, int]]:
    """Valid grants of one staff member in their current department: (business, role, rank).

    Used at login to offer the 業務選択 and to decide whether a second factor is required; the
    staff member reads their own grants, so no guard.
    """
    day = on or clock.today()
    rows = conn.execute(
        select(t.grant.c.business, t.grant.c.role_code, t.role.c.rank)
        .join(t.role, and_(t.role.c.business == t.grant.c.business, t.role.c.code == t.grant.c.role_code))
        .join(
            t.staff,
            and_(
                t.staff.c.staff_id == t.grant.c.staff_id, t.staff.c.department_id == t.grant.c.department_id
            ),
        )
        .where(
            t.grant.c.staff_id == staff_id,
            t.grant.c.revoked_at.is_(None),
            t.grant.c.valid.contains(literal(day)),
        )
        .order_by(t.grant.c.business)
    ).all()
    return [(Business(r.business), r.role_code, int(r.rank)) for r in rows]
