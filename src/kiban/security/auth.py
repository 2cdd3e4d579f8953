"""Authentication and sessions (認証・セッション管理).

- Only a registered, enrolled terminal may log in (domain.md §10.4).
- argon2id passwords with the policy of seeds 000/002; lockout after repeated failures.
- A second factor (TOTP) for every staff member holding a My-Number business role or the
  administrator role (総務省「地方公共団体における情報セキュリティポリシーに関するガイドライン」:
  マイナンバー利用事務系では二要素認証).
- One live session per staff member: a login while a session is live on another terminal is
  refused (seed 000 リスク対策); the database enforces it with a partial unique index.
- Idle and absolute timeouts; sessions live in PostgreSQL; each has its own CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, Engine, func, insert, select, update

from kiban.security import admin, audit, keys, passwords, tokens, totp
from kiban.security import tables as t
from kiban.security.context import Action, Business, Outcome
from kiban.security.errors import (
    AccountInactive,
    AccountLocked,
    AuthenticationFailed,
    InvalidSecondFactor,
    SessionConflict,
    SessionExpired,
    TerminalNotRegistered,
)
from kiban.security.passwords import DEFAULT_POLICY, PasswordPolicy


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta = timedelta(minutes=20)
    absolute: timedelta = timedelta(hours=9)


DEFAULT_SESSION_POLICY = SessionPolicy()


@dataclass(frozen=True)
class Terminal:
    terminal_id: int
    code: str
    name: str
    department_code: str


@dataclass(frozen=True)
class StaffSession:
    """The signed-in staff member as the web layer sees them. Carries no personal data of residents."""

    session_hash: str
    staff_id: int
    staff_code: str
    staff_name: str
    department_code: str
    department_name: str
    terminal: Terminal
    csrf_token: str
    mfa_verified: bool
    mfa_required: bool
    mfa_enrolled: bool
    must_change_password: bool
    business: Business | None
    purpose_code: str | None
    businesses: tuple[Business, ...]

    @property
    def ready(self) -> bool:
        """Fully signed in: second factor done if required, password current."""
        return (self.mfa_verified or not self.mfa_required) and not self.must_change_password


def terminal_from_secret(conn: Connection, secret: str | None) -> Terminal | None:
    if not secret:
        return None
    row = conn.execute(
        select(
            t.terminal.c.terminal_id, t.terminal.c.code, t.terminal.c.name, t.department.c.code.label("dep")
        )
        .join(t.department, t.department.c.department_id == t.terminal.c.department_id)
        .where(t.terminal.c.secret_hash == tokens.digest(secret), t.terminal.c.revoked_at.is_(None))
    ).first()
    return Terminal(int(row.terminal_id), row.code, row.name, row.dep) if row else None


def _mfa_required(conn: Connection, staff_id: int, is_admin: bool) -> bool:
    if is_admin:
        return True
    return any(b.uses_my_number or b is Business.SYSTEM for b, _, _ in admin.grants_of(conn, staff_id))


def login(
    engine: Engine,
    *,
    staff_code: str,
    password: str,
    terminal: Terminal | None,
    policy: PasswordPolicy = DEFAULT_POLICY,
    session_policy: SessionPolicy = DEFAULT_SESSION_POLICY,
) -> str:
    """Check ID and password at a registered terminal and open a session; return its token.

    Failures are logged and counted in their own committed transaction, then raised.
    """
    failure: Exception | None = None
    token = tokens.new_token()
    with engine.begin() as conn:
        code = staff_code.strip()[:32]
        if terminal is None:
            audit.record_anonymous(
                conn,
                staff_code=code,
                terminal_code=None,
                action=Action.LOGIN_FAILURE,
                outcome=Outcome.DENIED,
                detail={"reason": "unregistered_terminal"},
            )
            failure = TerminalNotRegistered(
                "この端末は登録されていません。システム管理者に端末の登録を依頼してください。"
            )
        else:
            failure = _check_and_open(conn, code, password, terminal, token, policy, session_policy)
    if failure is not None:
        raise failure
    return token


def _check_and_open(
    conn: Connection,
    code: str,
    password: str,
    terminal: Terminal,
    token: str,
    policy: PasswordPolicy,
    session_policy: SessionPolicy,
) -> Exception | None:
    def fail(reason: str) -> None:
        audit.record_anonymous(
            conn,
            staff_code=code,
            terminal_code=terminal.code,
            action=Action.LOGIN_FAILURE,
            outcome=Outcome.DENIED,
            detail={"reason": reason},
        )

    staff = conn.execute(select(t.staff).where(t.staff.c.code == code).with_for_update()).first()
    if staff is None:
        passwords.dummy_verify()
        fail("unknown_id")
        return AuthenticationFailed("職員IDまたはパスワードが正しくありません。")
    now = conn.execute(select(func.now())).scalar_one()
    if staff.locked_until is not None and staff.locked_until > now:
        fail("locked")
        until = staff.locked_until.astimezone().strftime("%H時%M分")
        return AccountLocked(
            f"パスワードの誤りが続いたため、{until}までログインできません。管理者に連絡してください。"
        )
    if staff.status != "active" or (staff.id_expires_on is not None and staff.id_expires_on < now.date()):
        passwords.dummy_verify()
        fail("inactive")
        return AccountInactive("この職員IDは使用できません（失効・停止）。")
    if staff.password_hash is None or not passwords.verify_password(staff.password_hash, password):
        failed = staff.failed_logins + 1
        values: dict[str, object] = {"failed_logins": failed}
        if failed >= policy.lockout_after:
            values["locked_until"] = now + policy.lockout_for
        conn.execute(update(t.staff).where(t.staff.c.staff_id == staff.staff_id).values(**values))
        fail("bad_password")
        if failed >= policy.lockout_after:
            return AccountLocked(
                "パスワードの誤りが続いたため、この職員IDをロックしました。管理者に連絡してください。"
            )
        return AuthenticationFailed("職員IDまたはパスワードが正しくありません。")

    # Sessions past their timeouts are ended first so they do not block the new login.
    conn.execute(
        update(t.session)
        .where(
            t.session.c.staff_id == staff.staff_id,
            t.session.c.ended_at.is_(None),
            (t.session.c.expires_at <= now) | (t.session.c.last_seen_at <= now - session_policy.idle),
        )
        .values(ended_at=now, end_reason="timeout")
    )
    live = conn.execute(
        select(t.session.c.session_hash, t.session.c.terminal_id, t.terminal.c.name)
        .join(t.terminal, t.terminal.c.terminal_id == t.session.c.terminal_id)
        .where(t.session.c.staff_id == staff.staff_id, t.session.c.ended_at.is_(None))
    ).first()
    if live is not None:
        if live.terminal_id != terminal.terminal_id:
            fail("session_on_other_terminal")
            return SessionConflict(
                f"この職員IDは別の端末（{live.name}）でログイン中です。同じIDで複数の端末から同時に"
                "ログインすることはできません。先の端末でログアウトしてください。"
            )
        # Same terminal (a closed browser): the old session is replaced.
        conn.execute(
            update(t.session)
            .where(t.session.c.session_hash == live.session_hash)
            .values(ended_at=now, end_reason="replaced")
        )

    mfa_required = _mfa_required(conn, staff.staff_id, staff.is_admin)
    must_change = staff.must_change_password or passwords.is_expired(staff.password_changed_at, now, policy)
    conn.execute(
        insert(t.session).values(
            session_hash=tokens.digest(token),
            staff_id=staff.staff_id,
            terminal_id=terminal.terminal_id,
            csrf_token=tokens.new_token(24),
            mfa_verified=False,
            created_at=now,
            last_seen_at=now,
            expires_at=now + session_policy.absolute,
        )
    )
    conn.execute(
        update(t.staff)
        .where(t.staff.c.staff_id == staff.staff_id)
        .values(failed_logins=0, locked_until=None, last_login_at=now)
    )
    audit.record_anonymous(
        conn,
        staff_code=code,
        terminal_code=terminal.code,
        action=Action.LOGIN,
        outcome=Outcome.OK,
        detail={"mfa_required": mfa_required, "must_change_password": must_change},
    )
    return None


def load_session(
    conn: Connection,
    token: str | None,
    terminal: Terminal | None,
    *,
    session_policy: SessionPolicy = DEFAULT_SESSION_POLICY,
    touch: bool = True,
) -> StaffSession:
    """The live session for this token on this terminal, or SessionExpired. Touches last_seen_at."""
    if not token or terminal is None:
        raise SessionExpired("ログインしてください。")
    h = tokens.digest(token)
    s, st, d = t.session, t.staff, t.department
    row = conn.execute(
        select(
            s,
            st.c.code,
            st.c.name,
            st.c.is_admin,
            st.c.totp_enrolled_at,
            st.c.must_change_password,
            st.c.password_changed_at,
            st.c.status,
            d.c.code.label("dep_code"),
            d.c.name.label("dep_name"),
        )
        .join(st, st.c.staff_id == s.c.staff_id)
        .join(d, d.c.department_id == st.c.department_id)
        .where(s.c.session_hash == h)
    ).first()
    if row is None or row.ended_at is not None:
        reason = {
            "grant_revoked": "権限が失効したため",
            "transfer": "所属が変更されたため",
            "terminal_revoked": "端末の登録が抹消されたため",
            "timeout": "一定時間操作がなかったため",
        }.get(row.end_reason if row else "", "")
        raise SessionExpired(
            f"{reason}セッションが終了しました。再度ログインしてください。"
            if reason
            else "ログインしてください。"
        )
    now = conn.execute(select(func.now())).scalar_one()
    if row.terminal_id != terminal.terminal_id:
        raise SessionExpired("この端末のセッションではありません。再度ログインしてください。")
    if row.expires_at <= now or row.last_seen_at <= now - session_policy.idle or row.status != "active":
        conn.execute(update(s).where(s.c.session_hash == h).values(ended_at=now, end_reason="timeout"))
        raise SessionExpired(
            "一定時間操作がなかったため、セッションが終了しました。再度ログインしてください。"
        )
    if touch:
        conn.execute(update(s).where(s.c.session_hash == h).values(last_seen_at=now))
    grants = admin.grants_of(conn, row.staff_id)
    return StaffSession(
        session_hash=h,
        staff_id=int(row.staff_id),
        staff_code=row.code,
        staff_name=row.name,
        department_code=row.dep_code,
        department_name=row.dep_name,
        terminal=terminal,
        csrf_token=row.csrf_token,
        mfa_verified=row.mfa_verified,
        mfa_required=row.is_admin or any(b.uses_my_number or b is Business.SYSTEM for b, _, _ in grants),
        mfa_enrolled=row.totp_enrolled_at is not None,
        must_change_password=row.must_change_password or passwords.is_expired(row.password_changed_at, now),
        business=Business(row.business) if row.business else None,
        purpose_code=row.purpose_code,
        businesses=tuple(sorted({b for b, _, _ in grants}, key=lambda b: list(Business).index(b))),
    )


def _log_session_event(
    conn: Connection,
    session: StaffSession,
    action: Action,
    outcome: Outcome,
    detail: dict[str, object] | None = None,
) -> None:
    """Log an event of a signed-in staff member that has no business context (logout, 2FA, password)."""
    audit.record_anonymous(
        conn,
        staff_code=session.staff_code,
        terminal_code=session.terminal.code,
        action=action,
        outcome=outcome,
        detail=detail,
    )


def logout(conn: Connection, session: StaffSession) -> None:
    conn.execute(
        update(t.session)
        .where(t.session.c.session_hash == session.session_hash, t.session.c.ended_at.is_(None))
        .values(ended_at=func.now(), end_reason="logout")
    )
    _log_session_event(conn, session, Action.LOGOUT, Outcome.OK)


def begin_totp_enrolment(conn: Connection, session: StaffSession) -> str:
    """Create (or return the pending) TOTP secret; it becomes active once a code is confirmed."""
    row = conn.execute(
        select(t.staff.c.totp_secret, t.staff.c.totp_enrolled_at).where(
            t.staff.c.staff_id == session.staff_id
        )
    ).one()
    if row.totp_enrolled_at is not None:
        raise InvalidSecondFactor("二要素認証は既に登録されています。")
    if row.totp_secret:
        return read_totp_secret(conn, session.staff_id, row.totp_secret)
    secret = totp.new_secret()
    store_totp_secret(conn, session.staff_id, secret, enrolled=False)
    return secret


# Second-factor secrets are encrypted with the vault keys, bound to their row (AAD), so a copy of
# the database does not give away anyone's second factor.
_TOTP_AAD = {"table": "security.staff", "column": "totp_secret"}


def store_totp_secret(conn: Connection, staff_id: int, secret: str, *, enrolled: bool) -> None:
    """Keep a TOTP secret (encrypted); ``enrolled`` marks it confirmed (bootstrap, tests)."""
    values: dict[str, object] = {"totp_secret": keys.encrypt(conn, secret, row_id=staff_id, **_TOTP_AAD)}
    if enrolled:
        values["totp_enrolled_at"] = func.now()
    conn.execute(update(t.staff).where(t.staff.c.staff_id == staff_id).values(**values))


def read_totp_secret(conn: Connection, staff_id: int, blob: bytes) -> str:
    return keys.decrypt(conn, bytes(blob), row_id=staff_id, **_TOTP_AAD).decode("ascii")


def verify_second_factor(
    engine: Engine, session: StaffSession, code: str, *, now: float | None = None
) -> None:
    """Confirm a TOTP code: completes enrolment if pending, marks the session verified."""
    ok = False
    with engine.begin() as conn:
        row = conn.execute(
            select(t.staff.c.totp_secret, t.staff.c.totp_enrolled_at, t.staff.c.totp_last_step)
            .where(t.staff.c.staff_id == session.staff_id)
            .with_for_update()
        ).one()
        step = (
            totp.verify(
                read_totp_secret(conn, session.staff_id, row.totp_secret),
                code,
                now=now,
                last_step=row.totp_last_step,
            )
            if row.totp_secret
            else None
        )
        if step is None:
            _log_session_event(
                conn, session, Action.LOGIN_FAILURE, Outcome.DENIED, {"reason": "bad_second_factor"}
            )
        else:
            ok = True
            values: dict[str, object] = {"totp_last_step": step}
            if row.totp_enrolled_at is None:
                values["totp_enrolled_at"] = func.now()
            conn.execute(update(t.staff).where(t.staff.c.staff_id == session.staff_id).values(**values))
            conn.execute(
                update(t.session)
                .where(t.session.c.session_hash == session.session_hash)
                .values(mfa_verified=True)
            )
            _log_session_event(conn, session, Action.LOGIN, Outcome.OK, {"second_factor": "totp"})
    if not ok:
        raise InvalidSecondFactor("確認コードが正しくありません。認証アプリの6桁の数字を入力してください。")


def change_password(
    conn: Connection,
    session: StaffSession,
    *,
    current: str,
    new: str,
    policy: PasswordPolicy = DEFAULT_POLICY,
) -> None:
    """パスワード変更: checks the current one, the policy, and the history (no reuse, no similar)."""
    row = conn.execute(select(t.staff.c.password_hash).where(t.staff.c.staff_id == session.staff_id)).one()
    if not passwords.verify_password(row.password_hash, current):
        raise AuthenticationFailed("現在のパスワードが正しくありません。")
    recent = list(
        conn.execute(
            select(t.password_history.c.hash)
            .where(t.password_history.c.staff_id == session.staff_id)
            .order_by(t.password_history.c.set_at.desc())
            .limit(policy.history)
        ).scalars()
    )
    passwords.check_new_password(
        new, staff_code=session.staff_code, current=current, recent_hashes=recent, policy=policy
    )
    h = passwords.hash_password(new)
    conn.execute(
        update(t.staff)
        .where(t.staff.c.staff_id == session.staff_id)
        .values(password_hash=h, password_changed_at=func.now(), must_change_password=False)
    )
    conn.execute(insert(t.password_history).values(staff_id=session.staff_id, hash=h))
    _log_session_event(conn, session, Action.UPDATE, Outcome.OK, {"password": "changed"})


def select_business(
    conn: Connection, session: StaffSession, *, business: Business, purpose_code: str
) -> None:
    """業務選択: the business and 処理事由 this session acts for (checked again by the guard per request)."""
    if business not in session.businesses:
        raise AccountInactive(f"{business.label}の権限がありません。")
    ok = conn.execute(
        select(t.purpose.c.code).where(
            t.purpose.c.code == purpose_code, t.purpose.c.business == business.value
        )
    ).first()
    if ok is None:
        raise AccountInactive("処理事由を選んでください。")
    conn.execute(
        update(t.session)
        .where(t.session.c.session_hash == session.session_hash)
        .values(business=business.value, purpose_code=purpose_code)
    )


def purposes(conn: Connection, business: Business) -> list[tuple[str, str]]:
    return [
        (r.code, r.label)
        for r in conn.execute(
            select(t.purpose.c.code, t.purpose.c.label)
            .where(t.purpose.c.business == business.value)
            .order_by(t.purpose.c.code)
        )
    ]
