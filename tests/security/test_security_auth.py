"""Login at a registered terminal, lockout, one live session per staff member, timeouts, 2FA."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from kiban.security import auth, totp
from kiban.security import tables as t
from kiban.security.context import Business
from kiban.security.errors import (
    AccountLocked,
    AuthenticationFailed,
    InvalidSecondFactor,
    SessionConflict,
    SessionExpired,
    TerminalNotRegistered,
)
from security_factories import PASSWORD, Org


def test_unregistered_terminal_cannot_log_in(org: Org, log_rows) -> None:  # type: ignore[no-untyped-def]
    dep = org.department("kaigo")
    org.staff("clerk", dep)
    with pytest.raises(TerminalNotRegistered, match="登録されていません"):
        auth.login(org.engine, staff_code=org.code("clerk"), password=PASSWORD, terminal=None)
    assert log_rows(org.code("clerk"))[-1]["action"] == "login_failure"


def test_wrong_password_is_logged_and_locks_after_five(org: Org, log_rows) -> None:  # type: ignore[no-untyped-def]
    dep = org.department("kaigo")
    org.staff("clerk", dep)
    term, _ = org.terminal("t1", dep)
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            auth.login(org.engine, staff_code=org.code("clerk"), password="wrong", terminal=term)
    with pytest.raises(AccountLocked):
        auth.login(org.engine, staff_code=org.code("clerk"), password="wrong", terminal=term)
    # Locked: even the right password is refused now.
    with pytest.raises(AccountLocked):
        auth.login(org.engine, staff_code=org.code("clerk"), password=PASSWORD, terminal=term)
    failures = [r for r in log_rows(org.code("clerk")) if r["action"] == "login_failure"]
    assert len(failures) == 6
    assert {r["terminal_code"] for r in failures} == {term.code}


def test_second_login_from_another_terminal_is_refused(org: Org) -> None:
    dep = org.department("kaigo")
    org.staff("clerk", dep)
    t1, _ = org.terminal("t1", dep)
    t2, _ = org.terminal("t2", dep)
    org.login("clerk", t1)
    with pytest.raises(SessionConflict, match="別の端末（t1端末）でログイン中"):
        auth.login(org.engine, staff_code=org.code("clerk"), password=PASSWORD, terminal=t2)
    # On the same terminal, a new login replaces the old session (a closed browser).
    token, _ = org.login("clerk", t1)
    with org.engine.begin() as conn:
        assert auth.load_session(conn, token, t1).staff_code == org.code("clerk")


def test_logout_frees_the_id_for_another_terminal(org: Org) -> None:
    dep = org.department("kaigo")
    org.staff("clerk", dep)
    t1, _ = org.terminal("t1", dep)
    t2, _ = org.terminal("t2", dep)
    _, session = org.login("clerk", t1)
    with org.engine.begin() as conn:
        auth.logout(conn, session)
    org.login("clerk", t2)


def test_idle_session_expires_and_no_longer_blocks(org: Org) -> None:
    dep = org.department("kaigo")
    org.staff("clerk", dep)
    t1, _ = org.terminal("t1", dep)
    t2, _ = org.terminal("t2", dep)
    token, session = org.login("clerk", t1)
    with org.engine.begin() as conn:
        conn.execute(
            update(t.session)
            .where(t.session.c.session_hash == session.session_hash)
            .values(last_seen_at=t.session.c.last_seen_at - timedelta(minutes=21))
        )
    with org.engine.begin() as conn, pytest.raises(SessionExpired, match="一定時間操作がなかった"):
        auth.load_session(conn, token, t1)
    org.login("clerk", t2)


def test_session_token_is_bound_to_its_terminal(org: Org) -> None:
    dep = org.department("kaigo")
    org.staff("clerk", dep)
    t1, _ = org.terminal("t1", dep)
    t2, _ = org.terminal("t2", dep)
    token, _ = org.login("clerk", t1)
    with org.engine.begin() as conn, pytest.raises(SessionExpired):
        auth.load_session(conn, token, t2)


def test_my_number_roles_need_a_second_factor(org: Org) -> None:
    dep = org.department("kaigo")
    secret = totp.new_secret()
    org.staff("clerk", dep, [(Business.KAIGO, "clerk")], totp_secret=secret)
    org.staff("auditor", dep, [(Business.KANSA, "auditor")])
    term, _ = org.terminal("t1", dep)
    term2, _ = org.terminal("t2", dep)
    _, clerk = org.login("clerk", term)
    assert clerk.mfa_required and not clerk.ready
    with pytest.raises(InvalidSecondFactor):
        auth.verify_second_factor(
            org.engine, clerk, "000000" if totp.hotp(secret, totp.current_step()) != "000000" else "111111"
        )
    auth.verify_second_factor(org.engine, clerk, totp.hotp(secret, totp.current_step()))
    _, auditor = org.login("auditor", term2)
    assert not auditor.mfa_required and auditor.ready


def test_password_change_enforces_history(org: Org) -> None:
    dep = org.department("kaigo")
    org.staff("clerk", dep)
    term, _ = org.terminal("t1", dep)
    _, session = org.login("clerk", term)
    with org.engine.begin() as conn:
        auth.change_password(conn, session, current=PASSWORD, new="Fresh-Meadow-93$")
    from kiban.security.errors import PasswordPolicyViolation

    with org.engine.begin() as conn, pytest.raises(PasswordPolicyViolation, match="過去5回"):
        auth.change_password(conn, session, current="Fresh-Meadow-93$", new=PASSWORD)


def test_second_factor_secret_is_stored_encrypted_and_bound_to_its_row(org: Org, db_engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from kiban.security import keys
    from kiban.security.keys import DecryptionError

    dep = org.department("kaigo")
    secret = totp.new_secret()
    sid = org.staff("clerk", dep, [(Business.KAIGO, "clerk")], totp_secret=secret)
    other = org.staff("other", dep)
    with db_engine.connect() as conn:
        blob = bytes(
            conn.execute(select(t.staff.c.totp_secret).where(t.staff.c.staff_id == sid)).scalar_one()
        )
        # A copy of the table does not reveal the secret …
        assert secret.encode() not in blob
        assert auth.read_totp_secret(conn, sid, blob) == secret
        # … and the ciphertext cannot be moved to another staff member's row.
        with pytest.raises(DecryptionError):
            keys.decrypt(conn, blob, table="security.staff", column="totp_secret", row_id=other)
