"""The batch principal (バッチ処理の実行者): who a scheduled job or an operator's import acts as.

A batch (a nightly resident-event import, the consistency check) reads and changes personal data
too, so it goes through the guard and the access log like a person at a counter (domain.md §10.7).
It acts as the staff ID ``batch`` on the terminal ``batch-host``:

- the ID has no password and the terminal's secret is a random value nobody holds, so neither
  can be used to sign in to the web UI;
- its grants are ordinary rows in ``security.grant_`` (visible in the access table, revocable);
- each context carries the operating-system user who started the job in ``purpose_text``, so the
  access log says which operator ran what.

Only the database owner can create the principal (``ensure_batch_principal``): an operator's
shell, never the web application.
"""

from __future__ import annotations

import getpass
import hashlib
import secrets
from datetime import date

from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects.postgresql import Range

from kiban.security import tables as t
from kiban.security.context import AccessContext, Business

BATCH_DEPARTMENT = ("BATCH", "バッチ処理（システム）")
BATCH_STAFF = "batch"
BATCH_TERMINAL = "batch-host"
# Batches act as 担当者 (clerk) of each business they serve; never as a 係長.
BATCH_BUSINESSES = (Business.ATENA, Business.KAIGO, Business.KOKUHO, Business.KOUKI, Business.SHOGAI)


def ensure_batch_principal(conn: Connection, *, businesses: tuple[Business, ...] = BATCH_BUSINESSES) -> int:
    """Create (once) the batch staff ID, its department, terminal and clerk grants; return staff_id."""
    dep = conn.execute(
        select(t.department.c.department_id).where(t.department.c.code == BATCH_DEPARTMENT[0])
    ).scalar()
    if dep is None:
        dep = conn.execute(
            insert(t.department)
            .values(code=BATCH_DEPARTMENT[0], name=BATCH_DEPARTMENT[1])
            .returning(t.department.c.department_id)
        ).scalar_one()
    staff_id = conn.execute(select(t.staff.c.staff_id).where(t.staff.c.code == BATCH_STAFF)).scalar()
    if staff_id is None:
        staff_id = conn.execute(
            insert(t.staff)
            .values(
                code=BATCH_STAFF,
                name="バッチ処理",
                name_kana="バッチショリ",
                department_id=dep,
                password_hash=None,  # cannot sign in
                must_change_password=False,
            )
            .returning(t.staff.c.staff_id)
        ).scalar_one()
    if (
        conn.execute(select(t.terminal.c.terminal_id).where(t.terminal.c.code == BATCH_TERMINAL)).first()
        is None
    ):
        unguessable = hashlib.sha256(secrets.token_bytes(32)).hexdigest()
        conn.execute(
            insert(t.terminal).values(
                code=BATCH_TERMINAL,
                name="バッチ処理サーバ",
                department_id=dep,
                secret_hash="batch:" + unguessable,
            )
        )
    held = set(
        conn.execute(
            select(t.grant.c.business).where(t.grant.c.staff_id == staff_id, t.grant.c.revoked_at.is_(None))
        ).scalars()
    )
    for business in businesses:
        if business.value not in held:
            conn.execute(
                insert(t.grant).values(
                    staff_id=staff_id,
                    business=business.value,
                    department_id=dep,
                    role_code="clerk",
                    valid=Range(date(2000, 1, 1), None, bounds="[)"),
                )
            )
    return int(staff_id)


def batch_context(conn: Connection, business: Business, purpose_code: str, job: str) -> AccessContext:
    """The AccessContext of a batch job (the principal must exist: ``ensure_batch_principal``)."""
    staff_id = conn.execute(select(t.staff.c.staff_id).where(t.staff.c.code == BATCH_STAFF)).scalar()
    if staff_id is None:
        ensure_batch_principal(conn)
        staff_id = conn.execute(select(t.staff.c.staff_id).where(t.staff.c.code == BATCH_STAFF)).scalar_one()
    try:
        operator = getpass.getuser()
    except (KeyError, OSError):
        operator = "unknown"
    return AccessContext(
        staff_id=int(staff_id),
        staff_code=BATCH_STAFF,
        department_code=BATCH_DEPARTMENT[0],
        terminal_code=BATCH_TERMINAL,
        business=business,
        purpose_code=purpose_code,
        purpose_text=f"{job}（実行者: {operator}）",
    )
