"""介護保険 資格管理 use cases: 被保険者番号の付番 and 資格の取得 (each through the guard, logged).

Every function takes an :class:`AccessContext` for 介護保険 and runs in the caller's transaction:
the grant is checked, the work done, the access-log row and the outbox announcement written
together, or nothing is (architecture.md §1). Announcements go to the resident registry and other
subscribers (seed 000 移転先1: 住民票に介護保険の資格を記載) and never hold a 個人番号.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from kiban.db import outbox
from kiban.identity import repo as identity_repo
from kiban.kaigo.eligibility import model
from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action, Business

__all__ = ["EligibilityError", "Qualification", "do_acquire", "do_assign_insured_no"]


class EligibilityError(Exception):
    """A 資格 change that the rules or the record refuse; the message is for the counter."""


@dataclass(frozen=True)
class Qualification:
    """One 資格 period (資格・異動履歴の1行), as the panel and the registry export show it."""

    insured_no: str
    person_no: str
    category: model.Category
    acquired_on: date
    acquire_reason: model.AcquisitionReason
    lost_on: date | None = None


def _require_kaigo(ctx: AccessContext) -> None:
    if ctx.business is not Business.KAIGO:
        raise EligibilityError("介護保険の事務として操作してください")


def _assign(conn: Connection, ctx: AccessContext, insurer_no: str, person_id: int) -> tuple[str, bool]:
    """The person's 被保険者番号, assigned now if they have none: (number, newly assigned)."""
    existing = conn.execute(
        text("SELECT insured_no FROM kaigo.insured WHERE insurer_no = :i AND person_id = :p FOR UPDATE"),
        {"i": insurer_no, "p": person_id},
    ).scalar()
    if existing is not None:
        return str(existing), False
    # ON CONFLICT: a concurrent assignment for the same person wins and this one reads it; the
    # sequence value it took is burnt, never reused (seed 003: no person gets two numbers).
    number = conn.execute(
        text(
            "INSERT INTO kaigo.insured (insurer_no, insured_no, person_id, assigned_by) "
            "VALUES (:i, lpad(nextval('kaigo.insured_no_seq')::text, 10, '0'), :p, :s) "
            "ON CONFLICT (insurer_no, person_id) DO NOTHING RETURNING insured_no"
        ),
        {"i": insurer_no, "p": person_id, "s": ctx.staff_id},
    ).scalar()
    if number is None:
        return _assign(conn, ctx, insurer_no, person_id)
    return str(number), True


def do_assign_insured_no(conn: Connection, ctx: AccessContext, *, insurer_no: str, person_no: str) -> str:
    """被保険者番号の自動付番 (標準仕様 0230275): the person's number, assigned once and for ever.

    A person who already has one (a former resident returning, a second call) gets the same number
    back: never a second one.
    """
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.CREATE, subjects=[person_no], log=False)
    ref = identity_repo.ref_by_no(conn, person_no)
    number, new = _assign(conn, ctx, insurer_no, ref.person_id)
    audit.record(
        conn, ctx, action=Action.CREATE if new else Action.VIEW, subjects=[person_no],
        detail={"what": "insured_no", "insurer_no": insurer_no, "new": new},
    )  # fmt: skip
    return number


def do_acquire(
    conn: Connection,
    ctx: AccessContext,
    *,
    insurer_no: str,
    person_no: str,
    category: model.Category,
    acquired_on: date,
    reason: model.AcquisitionReason,
) -> Qualification:
    """資格取得 (法第10条): an open period from ``acquired_on``; refused if it overlaps one on record."""
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.UPDATE, subjects=[person_no], log=False)
    ref = identity_repo.ref_by_no(conn, person_no)
    number, _ = _assign(conn, ctx, insurer_no, ref.person_id)
    try:
        with conn.begin_nested():
            conn.execute(
                text(
                    "INSERT INTO kaigo.qualification (insured_id, category, valid, acquire_reason, recorded_by) "
                    "SELECT insured_id, :c, daterange(:d, NULL), :r, :s FROM kaigo.insured "
                    "WHERE insurer_no = :i AND person_id = :p"
                ),
                {"c": int(category), "d": acquired_on, "r": reason.value, "s": ctx.staff_id,
                 "i": insurer_no, "p": ref.person_id},
            )  # fmt: skip
    except IntegrityError:
        raise EligibilityError(
            f"宛名番号 {person_no}（被保険者番号 {number}）には {acquired_on:%Y-%m-%d} と重なる資格があります"
        ) from None
    q = Qualification(number, person_no, category, acquired_on, reason)
    audit.record(
        conn, ctx, action=Action.UPDATE, subjects=[person_no],
        detail={"what": "qualification.acquire", "insured_no": number, "category": int(category),
                "acquired_on": acquired_on, "reason": reason.value},
    )  # fmt: skip
    outbox.emit(
        conn, "kaigo.qualification.acquired", person_no,
        {"person_no": person_no, "insurer_no": insurer_no, "insured_no": number, "category": int(category),
         "acquired_on": acquired_on, "reason": reason.value, "reason_label": reason.label},
        occurred_on=acquired_on,
    )  # fmt: skip
    return q
