"""Grants through the approval flow (発効・失効管理), transfers, and the guard's decisions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kiban.security import admin, auth, guard, totp
from kiban.security.context import Action, Business
from kiban.security.errors import AccessDenied, ApprovalError, SessionExpired
from kiban.shared import clock
from security_factories import Org


@pytest.fixture
def admins(org: Org):  # type: ignore[no-untyped-def]
    dep = org.department("joho")
    s1, s2 = totp.new_secret(), totp.new_secret()
    org.staff("adm1", dep, [(Business.SYSTEM, "admin")], is_admin=True, totp_secret=s1)
    org.staff("adm2", dep, [(Business.SYSTEM, "admin")], is_admin=True, totp_secret=s2)
    t1, _ = org.terminal("a1", dep)
    t2, _ = org.terminal("a2", dep)
    _, a1 = org.login("adm1", t1, secret=s1)
    _, a2 = org.login("adm2", t2, secret=s2)
    return org.ctx(a1, Business.SYSTEM, "system.staff_admin"), org.ctx(
        a2, Business.SYSTEM, "system.staff_admin"
    )


def test_grant_takes_effect_only_after_another_admin_approves(org: Org, admins) -> None:  # type: ignore[no-untyped-def]
    a1, a2 = admins
    dep = org.department("kaigo")
    org.staff("clerk", dep)
    term, _ = org.terminal("c1", dep)
    _, clerk = org.login("clerk", term)
    ctx = org.ctx(clerk, Business.KAIGO)
    with org.engine.begin() as conn:
        rid = admin.do_request_grant(
            conn,
            a1,
            staff_code=org.code("clerk"),
            business=Business.KAIGO,
            department_code=dep,
            role_code="clerk",
            valid_from=clock.today(),
            valid_to=None,
            reason="4月1日付 配属",
        )
    with org.engine.begin() as conn, pytest.raises(AccessDenied):
        guard.require(conn, ctx, action=Action.VIEW)
    with org.engine.begin() as conn, pytest.raises(ApprovalError, match="自分が起案"):
        admin.do_decide(conn, a1, request_id=rid, approve=True)
    with org.engine.begin() as conn:
        admin.do_decide(conn, a2, request_id=rid, approve=True)
    with org.engine.begin() as conn:
        assert guard.require(conn, ctx, action=Action.VIEW).role_code == "clerk"
    with org.engine.begin() as conn, pytest.raises(ApprovalError, match="決裁済み"):
        admin.do_decide(conn, a2, request_id=rid, approve=True)


def test_revocation_ends_the_live_session_at_once(org: Org, admins) -> None:  # type: ignore[no-untyped-def]
    a1, a2 = admins
    dep = org.department("kokuho")
    org.staff("auditor", dep, [(Business.KANSA, "auditor")])
    term, _ = org.terminal("c1", dep)
    token, s = org.login("auditor", term)
    with org.engine.begin() as conn:
        grant_id = next(
            g.grant_id for g in admin.access_table(conn, a1) if g.staff_code == org.code("auditor")
        )
        rid = admin.do_request_revoke(conn, a1, grant_id=grant_id, reason="異動内示")
    with org.engine.begin() as conn:
        admin.do_decide(conn, a2, request_id=rid, approve=True)
    with org.engine.begin() as conn, pytest.raises(SessionExpired, match="権限が失効したため"):
        auth.load_session(conn, token, term)
    with org.engine.begin() as conn, pytest.raises(AccessDenied):
        guard.require(conn, org.ctx(s, Business.KANSA, "kansa.log_review"), action=Action.VIEW)


def test_transfer_ends_grants_of_the_old_department_and_the_session(org: Org, admins) -> None:  # type: ignore[no-untyped-def]
    a1, _ = admins
    old, new = org.department("kaigo"), org.department("kita")
    org.staff("clerk", old, [(Business.KANSA, "auditor")])
    term, _ = org.terminal("c1", old)
    token, _ = org.login("clerk", term)
    with org.engine.begin() as conn:
        assert (
            admin.do_transfer_staff(
                conn, a1, staff_code=org.code("clerk"), department_code=new, reason="10月1日付 人事異動"
            )
            == 1
        )
    with org.engine.begin() as conn, pytest.raises(SessionExpired, match="所属が変更された"):
        auth.load_session(conn, token, term)


@pytest.mark.parametrize(
    "state", ["none", "expired", "not_yet", "revoked", "wrong_business", "wrong_department"]
)
def test_guard_denies_and_logs_each_denial(org: Org, state: str, log_rows) -> None:  # type: ignore[no-untyped-def]
    dep, other = org.department("kaigo"), org.department("kokuho")
    today = clock.today()
    grants = {
        "none": [],
        "expired": [(Business.KANSA, "auditor")],
        "not_yet": [(Business.KANSA, "auditor")],
        "revoked": [(Business.KANSA, "auditor")],
        "wrong_business": [(Business.RENKEI, "operator")],
        "wrong_department": [],
    }[state]
    valid_from = today + timedelta(days=3) if state == "not_yet" else today - timedelta(days=60)
    valid_to = today - timedelta(days=1) if state == "expired" else None
    sid = org.staff("s", dep, grants, valid_from=valid_from, valid_to=valid_to)
    if state == "wrong_department":
        # A grant exists, but for a department the staff member does not belong to.
        from sqlalchemy import select
        from sqlalchemy.dialects.postgresql import Range

        from kiban.security import tables as t

        with org.engine.begin() as conn:
            other_id = conn.execute(
                select(t.department.c.department_id).where(t.department.c.code == other)
            ).scalar_one()
            conn.execute(
                t.grant.insert().values(
                    staff_id=sid,
                    business="kansa",
                    department_id=other_id,
                    role_code="auditor",
                    valid=Range(valid_from, None, bounds="[)"),
                )
            )
    if state == "revoked":
        from sqlalchemy import func, update

        from kiban.security import tables as t

        with org.engine.begin() as conn:
            conn.execute(update(t.grant).where(t.grant.c.staff_id == sid).values(revoked_at=func.now()))
    term, _ = org.terminal("c1", dep)
    _, s = org.login("s", term)
    ctx = org.ctx(s, Business.KANSA, "kansa.log_review")
    with org.engine.begin() as conn, pytest.raises(AccessDenied):
        guard.require(conn, ctx, action=Action.VIEW, subjects=["0000012345"])
    denied = [r for r in log_rows(org.code("s")) if r["outcome"] == "denied"]
    assert len(denied) == 1
    assert denied[0]["business"] == "kansa" and denied[0]["subjects"] == ["0000012345"]
    assert denied[0]["terminal_code"] == term.code


def test_guard_allows_a_valid_grant_and_logs_in_the_same_transaction(org: Org, log_rows) -> None:  # type: ignore[no-untyped-def]
    dep = org.department("kaigo")
    org.staff("s", dep, [(Business.KANSA, "auditor")])
    term, _ = org.terminal("c1", dep)
    _, s = org.login("s", term)
    ctx = org.ctx(s, Business.KANSA, "kansa.log_review")
    before = len(log_rows(org.code("s")))
    # Work that fails after the guard: its log row is rolled back with it ("no commit, no row").
    with pytest.raises(RuntimeError), org.engine.begin() as conn:
        guard.require(conn, ctx, action=Action.VIEW, subjects=["0000000001"])
        raise RuntimeError("the work failed")
    assert len(log_rows(org.code("s"))) == before
    with org.engine.begin() as conn:
        guard.require(conn, ctx, action=Action.VIEW, subjects=["0000000001"])
    row = log_rows(org.code("s"))[-1]
    assert (row["action"], row["outcome"], row["purpose_code"]) == ("view", "ok", "kansa.log_review")


def test_revoked_terminal_stops_at_once(org: Org, admins) -> None:  # type: ignore[no-untyped-def]
    a1, _ = admins
    dep = org.department("kaigo")
    org.staff("s", dep, [(Business.KANSA, "auditor")])
    term, secret = org.terminal("c1", dep)
    token, _ = org.login("s", term)
    a1t = a1.for_business(Business.SYSTEM, "system.terminal_admin")
    with org.engine.begin() as conn:
        admin.do_revoke_terminal(conn, a1t, code=term.code, reason="故障のため交換")
    with org.engine.begin() as conn:
        assert auth.terminal_from_secret(conn, secret) is None
    with org.engine.begin() as conn, pytest.raises(SessionExpired, match="端末の登録が抹消された"):
        auth.load_session(conn, token, term)


def test_staff_list_reports_ids_unused_for_90_days(org: Org, admins, db_engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    a1, _ = admins
    dep = org.department("kaigo")
    org.staff("idle", dep)
    org.staff("fresh", dep)
    # Created long ago and never used, as after a transfer that nobody followed up.
    with db_engine.begin() as conn:
        conn.execute(
            text("UPDATE security.staff SET created_at = now() - interval '91 days' WHERE code = :c"),
            {"c": org.code("idle")},
        )
    with org.engine.begin() as conn:
        rows = {r.code: r.unused for r in admin.staff_list(conn, a1)}
    assert rows[org.code("idle")] is True
    assert rows[org.code("fresh")] is False


def test_staff_page_filters_and_pages_the_list(org: Org, admins, db_engine) -> None:  # type: ignore[no-untyped-def]
    """A city has thousands of IDs: the screen narrows by ID / 氏名 / フリガナ (a part is enough),
    所属 and 「90日以上未使用」, and shows a page at a time."""
    from sqlalchemy import text

    a1, _ = admins
    kaigo, kokuho = org.department("kaigo"), org.department("kokuho")  # this test's own departments
    for n in range(5):
        org.staff(f"pg{n}", kaigo)
    org.staff("other", kokuho)
    with db_engine.begin() as conn:
        conn.execute(
            text("UPDATE security.staff SET created_at = now() - interval '91 days' WHERE code = :c"),
            {"c": org.code("pg3")},
        )
    with org.engine.begin() as conn:
        paged = admin.staff_page(conn, a1, department_code=kaigo, per_page=2)
        assert (paged.total, paged.pages, paged.page) == (5, 3, 1)
        assert [r.code for r in paged.rows] == [org.code("pg0"), org.code("pg1")]
        assert (paged.first, paged.last) == (1, 2)
        last = admin.staff_page(conn, a1, department_code=kaigo, per_page=2, page=99)  # clamped
        assert (last.page, [r.code for r in last.rows], last.first, last.last) == (3, [org.code("pg4")], 5, 5)
        one = admin.staff_page(conn, a1, query=org.code("pg3").upper())  # a part, any case
        assert [r.code for r in one.rows] == [org.code("pg3")]
        assert [r.code for r in admin.staff_page(conn, a1, department_code=kokuho).rows] == [
            org.code("other")
        ]
        idle = admin.staff_page(conn, a1, department_code=kaigo, unused_only=True)
        assert [r.code for r in idle.rows] == [org.code("pg3")]
        # LIKE's wildcards in what the administrator types are letters, not patterns.
        assert admin.staff_page(conn, a1, query="pg_-" + org.tag).total == 0
        assert admin.staff_page(conn, a1, query=org.tag + "%").total == 0
        none = admin.staff_page(conn, a1, query="no-such-id-" + org.tag)
        assert (none.total, none.pages, none.page, none.rows, none.first) == (0, 1, 1, [], 0)
