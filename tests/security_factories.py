"""Factories for security tests: departments, staff with grants, enrolled terminals, sessions.

Every test makes its own uniquely named organisation inside the session database, so tests do not
depend on each other's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects.postgresql import Range

from kiban.security import admin, auth, tokens, totp
from kiban.security import tables as t
from kiban.security.auth import StaffSession, Terminal
from kiban.security.context import AccessContext, Business
from kiban.shared import clock

PASSWORD = "Correct-Horse-42!"


@dataclass
class Org:
    engine: Engine
    tag: str

    def code(self, name: str) -> str:
        return f"{name}-{self.tag}"

    def department(self, name: str) -> str:
        code = self.code(name)
        with self.engine.begin() as conn:
            from kiban.security.bootstrap import ensure_department

            ensure_department(conn, code, f"{name}課")
        return code

    def staff(
        self,
        name: str,
        department: str,
        grants: list[tuple[Business, str]] = (),  # type: ignore[assignment]
        *,
        is_admin: bool = False,
        valid_from: date | None = None,
        valid_to: date | None = None,
        totp_secret: str | None = None,
    ) -> int:
        with self.engine.begin() as conn:
            dep_id = conn.execute(
                select(t.department.c.department_id).where(t.department.c.code == department)
            ).scalar_one()
            sid = admin.create_staff_unchecked(
                conn,
                code=self.code(name),
                name=name,
                name_kana="",
                department_id=dep_id,
                password=PASSWORD,
                must_change=False,
                is_admin=is_admin,
            )
            if totp_secret:
                auth.store_totp_secret(conn, sid, totp_secret, enrolled=True)
            for business, role in grants:
                start = valid_from or clock.today() - timedelta(days=30)
                end = valid_to + timedelta(days=1) if valid_to else None
                conn.execute(
                    t.grant.insert().values(
                        staff_id=sid,
                        business=business.value,
                        department_id=dep_id,
                        role_code=role,
                        valid=Range(start, end, bounds="[)"),
                    )
                )
        return sid

    def terminal(self, name: str, department: str) -> tuple[Terminal, str]:
        secret = tokens.new_token()
        with self.engine.begin() as conn:
            dep_id = conn.execute(
                select(t.department.c.department_id).where(t.department.c.code == department)
            ).scalar_one()
            conn.execute(
                t.terminal.insert().values(
                    code=self.code(name),
                    name=f"{name}端末",
                    department_id=dep_id,
                    secret_hash=tokens.digest(secret),
                    enrolled_at=func.now(),
                )
            )
            term = auth.terminal_from_secret(conn, secret)
        assert term is not None
        return term, secret

    def login(self, name: str, terminal: Terminal, *, secret: str | None = None) -> tuple[str, StaffSession]:
        token = auth.login(self.engine, staff_code=self.code(name), password=PASSWORD, terminal=terminal)
        with self.engine.begin() as conn:
            session = auth.load_session(conn, token, terminal)
        if session.mfa_required and secret:
            auth.verify_second_factor(self.engine, session, fresh_code(secret))
            with self.engine.begin() as conn:
                session = auth.load_session(conn, token, terminal)
        return token, session

    def ctx(self, session: StaffSession, business: Business, purpose: str = "") -> AccessContext:
        return AccessContext(
            staff_id=session.staff_id,
            staff_code=session.staff_code,
            department_code=session.department_code,
            terminal_code=session.terminal.code,
            business=business,
            purpose_code=purpose or f"{business.value}.counter",
            session_id=session.session_hash,
        )


def terminal_awaiting_enrolment(engine: Engine, code: str, department: str) -> str:
    """Register a terminal as an administrator would; return its one-time enrolment code."""
    enrol = tokens.new_enrol_code()
    with engine.begin() as conn:
        dep_id = conn.execute(
            select(t.department.c.department_id).where(t.department.c.code == department)
        ).scalar_one()
        conn.execute(
            t.terminal.insert().values(
                code=code,
                name=f"{code} 窓口",
                department_id=dep_id,
                enrol_code_hash=tokens.digest(enrol),
                enrol_expires_at=func.now() + timedelta(hours=24),
            )
        )
    return enrol


_last_step: dict[str, int] = {}


def fresh_code(secret: str) -> str:
    """A TOTP code not used before: a code is accepted once, so a second login within the same
    30-second step uses the next step (inside the ±1 step drift window)."""
    step = max(totp.current_step(), _last_step.get(secret, -1) + 1)
    _last_step[secret] = step
    return totp.hotp(secret, step)
