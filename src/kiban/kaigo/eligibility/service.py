"""介護保険 資格管理 use cases (資格の取得・喪失・区分変更・職権修正・回復・取消, 施設, 住所地特例).

Every function takes an :class:`AccessContext` for 介護保険 and runs in the caller's transaction:
the grant is checked, the work done, the 資格・異動履歴 row, the access-log row and the outbox
announcement written together, or nothing is (architecture.md §1). Announcements go to the
resident registry and other subscribers (seed 000 移転先1: 住民票に介護保険の資格を記載) and never
hold a 個人番号: only 宛名番号, 被保険者番号, dates, 区分 and 事由.

Periods are half-open ``[取得日, 喪失日)``. A period is closed by a loss; it is never overwritten
otherwise: a correction, a restoration or a cancellation supersedes the row (kept, with who, when
and why) and records its replacement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from kiban.db import outbox
from kiban.identity import repo as identity_repo
from kiban.identity.model import CLERK_RANK
from kiban.kaigo.eligibility import model
from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action, Business
from kiban.shared.age import age_on

__all__ = [
    "EligibilityError",
    "Facility",
    "Insurer",
    "Qualification",
    "do_acquire",
    "do_admit_exempt",
    "do_assign_insured_no",
    "do_cancel",
    "do_correct",
    "do_discharge_exempt",
    "do_end_special_address",
    "do_lose",
    "do_register_category2",
    "do_register_facility",
    "do_register_special_address",
    "do_restore",
    "facility_by_no",
    "insurer_for_city",
    "list_facilities",
]

TOPIC_PREFIX = "kaigo.qualification."


class EligibilityError(Exception):
    """A 資格 change that the rules or the record refuse; the message is for the counter."""


@dataclass(frozen=True)
class Insurer:
    """保険者 (介護保険法第3条)."""

    insurer_no: str
    name: str
    city_code: str


@dataclass(frozen=True)
class Qualification:
    """One 資格 period (資格・異動履歴の1行), as the panel and the registry export show it."""

    insured_no: str
    person_no: str
    category: model.Category
    acquired_on: date
    acquire_reason: model.AcquisitionReason
    lost_on: date | None = None
    loss_reason: model.LossReason | None = None
    qualification_id: int | None = None


@dataclass(frozen=True)
class Facility:
    """施設マスタの1件 (住所地特例対象施設・適用除外施設・その他)."""

    facility_id: int
    facility_no: str
    name: str
    type_code: str
    city_code: str
    city_name: str
    postal_code: str | None
    address: str
    opened_on: date | None
    closed_on: date | None

    @property
    def type(self) -> model.FacilityType:
        return model.facility_type(self.type_code)

    def rule_on(self, on: date) -> model.FacilityRule:
        return self.type.rule_on(on)


# -- lookups ---------------------------------------------------------------------------------------


def _require_kaigo(ctx: AccessContext) -> None:
    if ctx.business is not Business.KAIGO:
        raise EligibilityError("介護保険の事務として操作してください")


def insurer_for_city(conn: Connection, city_code: str) -> Insurer:
    row = conn.execute(
        text("SELECT insurer_no, name, city_code FROM kaigo.insurer WHERE city_code = :c"), {"c": city_code}
    ).first()
    if row is None:
        raise EligibilityError(f"市区町村コード {city_code} の保険者が登録されていません")
    return Insurer(row.insurer_no, row.name, row.city_code)


def insurer_by_no(conn: Connection, insurer_no: str) -> Insurer:
    row = conn.execute(
        text("SELECT insurer_no, name, city_code FROM kaigo.insurer WHERE insurer_no = :i"), {"i": insurer_no}
    ).first()
    if row is None:
        raise EligibilityError(f"保険者番号 {insurer_no} は登録されていません")
    return Insurer(row.insurer_no, row.name, row.city_code)


def _person_city(conn: Connection, person_id: int) -> str:
    return str(
        conn.execute(
            text("SELECT city_code FROM identity.person WHERE person_id = :p"), {"p": person_id}
        ).scalar_one()
    )


def _insurer_of(conn: Connection, person_id: int, insurer_no: str | None) -> Insurer:
    return (
        insurer_by_no(conn, insurer_no)
        if insurer_no
        else insurer_for_city(conn, _person_city(conn, person_id))
    )


def _facility_of(row: Any) -> Facility:
    return Facility(
        row.facility_id, row.facility_no, row.name, row.type_code, row.city_code, row.city_name,
        row.postal_code, row.address, row.opened_on, row.closed_on,
    )  # fmt: skip


_FACILITY_COLUMNS = "facility_id, facility_no, name, type_code, city_code, city_name, postal_code, address, opened_on, closed_on"


def facility_by_no(conn: Connection, facility_no: str) -> Facility:
    row = conn.execute(
        text(f"SELECT {_FACILITY_COLUMNS} FROM kaigo.facility WHERE facility_no = :n"), {"n": facility_no}
    ).first()
    if row is None:
        raise EligibilityError(f"施設番号 {facility_no} は施設マスタにありません")
    return _facility_of(row)


def _facility_by_id(conn: Connection, facility_id: int) -> Facility:
    row = conn.execute(
        text(f"SELECT {_FACILITY_COLUMNS} FROM kaigo.facility WHERE facility_id = :f"), {"f": facility_id}
    ).one()
    return _facility_of(row)


def list_facilities(conn: Connection, ctx: AccessContext) -> list[Facility]:
    """施設マスタ一覧 (not personal data, but read by 介護保険 staff only)."""
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.VIEW, log=False)
    rows = conn.execute(text(f"SELECT {_FACILITY_COLUMNS} FROM kaigo.facility ORDER BY facility_no")).all()
    return [_facility_of(r) for r in rows]


def do_register_facility(
    conn: Connection,
    ctx: AccessContext,
    *,
    facility_no: str,
    name: str,
    type_code: str,
    city_code: str,
    city_name: str,
    address: str,
    postal_code: str | None = None,
    opened_on: date | None = None,
    closed_on: date | None = None,
) -> Facility:
    """施設マスタ登録 (住所地特例対象施設・適用除外施設): the type decides the rule (model.FACILITY_TYPES)."""
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.CREATE, min_rank=CLERK_RANK, log=False)
    errors = []
    if not (len(facility_no) == 10 and facility_no.isascii() and facility_no.isalnum()):
        errors.append("施設番号は英数字10桁です")
    try:
        model.facility_type(type_code)
    except ValueError as exc:
        errors.append(str(exc))
    if not name.strip():
        errors.append("施設名を入力してください")
    if not address.strip():
        errors.append("所在地を入力してください")
    if not (len(city_code) == 6 and city_code.isdigit()):
        errors.append("所在市区町村コードは6桁の数字です")
    if opened_on and closed_on and closed_on < opened_on:
        errors.append("廃止日が開設日より前です")
    if errors:
        raise EligibilityError("施設マスタ: " + "、".join(errors))
    try:
        with conn.begin_nested():
            fid = conn.execute(
                text(
                    "INSERT INTO kaigo.facility (facility_no, name, type_code, city_code, city_name, postal_code, "
                    "address, opened_on, closed_on, recorded_by) VALUES (:n, :name, :t, :c, :cn, :pc, :a, :o, :cl, :s) "
                    "RETURNING facility_id"
                ),
                {"n": facility_no.upper(), "name": name.strip(), "t": type_code, "c": city_code, "cn": city_name.strip(),
                 "pc": postal_code or None, "a": address.strip(), "o": opened_on, "cl": closed_on, "s": ctx.staff_id},
            ).scalar_one()  # fmt: skip
    except IntegrityError:
        raise EligibilityError(f"施設番号 {facility_no} は登録済みです") from None
    audit.record(conn, ctx, action=Action.CREATE, detail={"what": "facility", "facility_no": facility_no})
    return _facility_by_id(conn, int(fid))


# -- the insured and their periods -----------------------------------------------------------------


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
    guard.require(conn, ctx, action=Action.CREATE, subjects=[person_no], min_rank=CLERK_RANK, log=False)
    ref = identity_repo.ref_by_no(conn, person_no)
    number, new = _assign(conn, ctx, insurer_no, ref.person_id)
    audit.record(
        conn, ctx, action=Action.CREATE if new else Action.VIEW, subjects=[person_no],
        detail={"what": "insured_no", "insurer_no": insurer_no, "new": new},
    )  # fmt: skip
    return number


_Q_COLUMNS = (
    "q.qualification_id, q.insured_id, q.category, lower(q.valid) AS acquired_on, upper(q.valid) AS lost_on, "
    "q.acquire_reason, q.loss_reason, i.insured_no, i.insurer_no, i.person_id"
)


def _qualification_of(row: Any, person_no: str) -> Qualification:
    return Qualification(
        row.insured_no, person_no, model.Category(row.category), row.acquired_on,
        model.AcquisitionReason(row.acquire_reason), row.lost_on,
        model.LossReason(row.loss_reason) if row.loss_reason else None, row.qualification_id,
    )  # fmt: skip


def _open_period(conn: Connection, insurer_no: str, person_id: int) -> Any:
    return conn.execute(
        text(
            f"SELECT {_Q_COLUMNS} FROM kaigo.qualification q JOIN kaigo.insured i USING (insured_id) "
            "WHERE i.insurer_no = :i AND i.person_id = :p AND q.superseded_at IS NULL AND upper_inf(q.valid) "
            "FOR UPDATE OF q"
        ),
        {"i": insurer_no, "p": person_id},
    ).first()


def _period(conn: Connection, qualification_id: int) -> Any:
    row = conn.execute(
        text(
            f"SELECT {_Q_COLUMNS}, p.person_no, q.superseded_at FROM kaigo.qualification q "
            "JOIN kaigo.insured i USING (insured_id) JOIN identity.person p ON p.person_id = i.person_id "
            "WHERE q.qualification_id = :q FOR UPDATE OF q"
        ),
        {"q": qualification_id},
    ).first()
    if row is None:
        raise EligibilityError(f"資格 {qualification_id} はありません")
    return row


def _record_change(
    conn: Connection,
    ctx: AccessContext,
    *,
    insured_id: int,
    qualification_id: int | None,
    kind: str,
    effective_on: date,
    reason_code: str | None = None,
    note: str | None = None,
    source_event: str | None = None,
) -> None:
    conn.execute(
        text(
            "INSERT INTO kaigo.qualification_change (insured_id, qualification_id, kind, effective_on, reason_code, "
            "note, source_event, recorded_by) VALUES (:i, :q, :k, :d, :r, :n, :src, :s)"
        ),
        {"i": insured_id, "q": qualification_id, "k": kind, "d": effective_on, "r": reason_code, "n": note,
         "src": source_event, "s": ctx.staff_id},
    )  # fmt: skip


def event_applied(conn: Connection, source_event: str) -> bool:
    """Whether a resident event has already changed a 資格 (an event is applied once)."""
    return (
        conn.execute(
            text("SELECT 1 FROM kaigo.qualification_change WHERE source_event = :e"), {"e": source_event}
        ).first()
        is not None
    )


def _announce(conn: Connection, what: str, q: Qualification, insurer_no: str, **extra: Any) -> None:
    """The registry export (seed 000 移転先1): 取得日, 喪失日, 被保険者区分 — never the 個人番号."""
    outbox.emit(
        conn, TOPIC_PREFIX + what, q.person_no,
        {"person_no": q.person_no, "insurer_no": insurer_no, "insured_no": q.insured_no,
         "category": int(q.category), "category_label": q.category.label,
         "acquired_on": q.acquired_on, "acquire_reason": q.acquire_reason.value,
         "lost_on": q.lost_on, "loss_reason": q.loss_reason.value if q.loss_reason else None,
         "qualification_id": q.qualification_id, **extra},
        occurred_on=q.lost_on if what == "lost" and q.lost_on else q.acquired_on,
    )  # fmt: skip


def do_acquire(
    conn: Connection,
    ctx: AccessContext,
    *,
    person_no: str,
    category: model.Category,
    acquired_on: date,
    reason: model.AcquisitionReason,
    insurer_no: str | None = None,
    note: str | None = None,
    source_event: str | None = None,
) -> Qualification:
    """資格取得 (法第10条): an open period from ``acquired_on``; refused if it overlaps one on record."""
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.UPDATE, subjects=[person_no], min_rank=CLERK_RANK, log=False)
    ref = identity_repo.ref_by_no(conn, person_no)
    insurer = _insurer_of(conn, ref.person_id, insurer_no)
    number, _ = _assign(conn, ctx, insurer.insurer_no, ref.person_id)
    try:
        with conn.begin_nested():
            row = conn.execute(
                text(
                    "INSERT INTO kaigo.qualification (insured_id, category, valid, acquire_reason, recorded_by) "
                    "SELECT insured_id, :c, daterange(:d, NULL), :r, :s FROM kaigo.insured "
                    "WHERE insurer_no = :i AND person_id = :p RETURNING qualification_id, insured_id"
                ),
                {"c": int(category), "d": acquired_on, "r": reason.value, "s": ctx.staff_id,
                 "i": insurer.insurer_no, "p": ref.person_id},
            ).one()  # fmt: skip
    except IntegrityError:
        raise EligibilityError(
            f"宛名番号 {person_no}（被保険者番号 {number}）には {acquired_on:%Y-%m-%d} 以降と重なる資格があります"
        ) from None
    q = Qualification(number, person_no, category, acquired_on, reason, qualification_id=row.qualification_id)
    _record_change(
        conn, ctx, insured_id=row.insured_id, qualification_id=row.qualification_id, kind="acquire",
        effective_on=acquired_on, reason_code=reason.value, note=note, source_event=source_event,
    )  # fmt: skip
    audit.record(
        conn, ctx, action=Action.UPDATE, subjects=[person_no],
        detail={"what": "qualification.acquire", "insured_no": number, "category": int(category),
                "acquired_on": acquired_on, "reason": reason.value, "source_event": source_event},
    )  # fmt: skip
    _announce(conn, "acquired", q, insurer.insurer_no, reason_label=reason.label)
    return q


def do_lose(
    conn: Connection,
    ctx: AccessContext,
    *,
    person_no: str,
    lost_on: date,
    reason: model.LossReason,
    insurer_no: str | None = None,
    note: str | None = None,
    source_event: str | None = None,
) -> Qualification | None:
    """資格喪失 (法第11条): the open period ends the day before ``lost_on``; None if none is open.

    A loss on or before the 取得日 (a 転入 and a 転出 on the same day) leaves no insured day: the
    period is cancelled (kept, superseded) rather than made empty.
    """
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.UPDATE, subjects=[person_no], min_rank=CLERK_RANK, log=False)
    ref = identity_repo.ref_by_no(conn, person_no)
    insurer = _insurer_of(conn, ref.person_id, insurer_no)
    row = _open_period(conn, insurer.insurer_no, ref.person_id)
    if row is None:
        return None
    why = f"{reason.label}" + (f"（{note}）" if note else "")
    if lost_on <= row.acquired_on:
        _supersede(conn, ctx, row.qualification_id, f"取得日以前の喪失: {why}")
        _record_change(
            conn, ctx, insured_id=row.insured_id, qualification_id=row.qualification_id, kind="cancel",
            effective_on=lost_on, reason_code=reason.value, note=why, source_event=source_event,
        )  # fmt: skip
        q = _qualification_of(row, person_no)
        audit.record(
            conn, ctx, action=Action.UPDATE, subjects=[person_no],
            detail={"what": "qualification.cancel", "qualification_id": row.qualification_id, "reason": why},
        )  # fmt: skip
        _announce(conn, "cancelled", q, insurer.insurer_no, note=why)
        return None
    conn.execute(
        text(
            "UPDATE kaigo.qualification SET valid = daterange(lower(valid), :d), loss_reason = :r "
            "WHERE qualification_id = :q"
        ),
        {"d": lost_on, "r": reason.value, "q": row.qualification_id},
    )
    q = _qualification_of(row, person_no)
    q = Qualification(q.insured_no, person_no, q.category, q.acquired_on, q.acquire_reason, lost_on, reason,
                      q.qualification_id)  # fmt: skip
    _record_change(
        conn, ctx, insured_id=row.insured_id, qualification_id=row.qualification_id, kind="lose",
        effective_on=lost_on, reason_code=reason.value, note=note, source_event=source_event,
    )  # fmt: skip
    audit.record(
        conn, ctx, action=Action.UPDATE, subjects=[person_no],
        detail={"what": "qualification.lose", "insured_no": q.insured_no, "lost_on": lost_on,
                "reason": reason.value, "source_event": source_event},
    )  # fmt: skip
    _announce(conn, "lost", q, insurer.insurer_no, reason_label=reason.label)
    return q


def do_register_category2(
    conn: Connection, ctx: AccessContext, *, person_no: str, acquired_on: date, note: str
) -> Qualification:
    """第2号被保険者の記録 (法第9条第2号): a resident of 40–64 with 医療保険, recorded when a 認定申請
    or the 医療保険加入情報 requires it. At 65 the monthly run makes them 第1号."""
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.UPDATE, subjects=[person_no], min_rank=CLERK_RANK, log=False)
    ref = identity_repo.ref_by_no(conn, person_no)
    version = identity_repo.version_on(conn, ref.person_id, acquired_on)
    if version is None or str(version.data.resident_class) != "住民":
        raise EligibilityError(f"宛名番号 {person_no} は {acquired_on:%Y-%m-%d} に住民ではありません")
    if model.category_on(version.data.birth_date, acquired_on) is not model.Category.SECOND:
        age = age_on(version.data.birth_date, acquired_on)
        raise EligibilityError(f"第2号被保険者は40歳以上65歳未満です（{acquired_on:%Y-%m-%d} に{age}歳）")
    if not note.strip():
        raise EligibilityError("第2号被保険者の記録には根拠（認定申請・医療保険加入情報）を入力してください")
    return do_acquire(
        conn, ctx, person_no=person_no, category=model.Category.SECOND, acquired_on=acquired_on,
        reason=model.AcquisitionReason.CATEGORY2, note=note.strip(),
    )  # fmt: skip


# -- 職権修正・回復・取消 ---------------------------------------------------------------------------


def _supersede(conn: Connection, ctx: AccessContext, qualification_id: int, reason: str) -> None:
    conn.execute(
        text(
            "UPDATE kaigo.qualification SET superseded_at = now(), superseded_by = :s, supersede_reason = :r "
            "WHERE qualification_id = :q"
        ),
        {"s": ctx.staff_id, "r": reason, "q": qualification_id},
    )


def _need_reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise EligibilityError("理由を入力してください（職権による修正・回復・取消には理由が必要です）")
    return reason.strip()


def _replace(
    conn: Connection,
    ctx: AccessContext,
    row: Any,
    *,
    category: model.Category,
    acquired_on: date,
    acquire_reason: model.AcquisitionReason,
    lost_on: date | None,
    loss_reason: model.LossReason | None,
    kind: str,
    reason: str,
    source_event: str | None = None,
) -> Qualification:
    if lost_on is not None and lost_on <= acquired_on:
        raise EligibilityError("喪失日は取得日より後の日付にしてください")
    if (lost_on is None) != (loss_reason is None):
        raise EligibilityError("喪失日と喪失事由は両方入力するか、両方空にしてください")
    _supersede(conn, ctx, row.qualification_id, f"{'職権修正' if kind == 'correct' else '回復'}: {reason}")
    try:
        with conn.begin_nested():
            new_id = conn.execute(
                text(
                    "INSERT INTO kaigo.qualification (insured_id, category, valid, acquire_reason, loss_reason, "
                    "recorded_by) VALUES (:i, :c, daterange(:a, :l), :ar, :lr, :s) RETURNING qualification_id"
                ),
                {"i": row.insured_id, "c": int(category), "a": acquired_on, "l": lost_on, "ar": acquire_reason.value,
                 "lr": loss_reason.value if loss_reason else None, "s": ctx.staff_id},
            ).scalar_one()  # fmt: skip
    except IntegrityError:
        raise EligibilityError("修正後の期間が他の資格の期間と重なります") from None
    _record_change(
        conn, ctx, insured_id=row.insured_id, qualification_id=int(new_id), kind=kind,
        effective_on=acquired_on, note=reason, source_event=source_event,
    )  # fmt: skip
    return Qualification(
        row.insured_no,
        row.person_no,
        category,
        acquired_on,
        acquire_reason,
        lost_on,
        loss_reason,
        int(new_id),
    )


def do_correct(
    conn: Connection,
    ctx: AccessContext,
    *,
    qualification_id: int,
    reason: str,
    acquired_on: date | None = None,
    lost_on: date | None = None,
    loss_reason: model.LossReason | None = None,
    category: model.Category | None = None,
    acquire_reason: model.AcquisitionReason | None = None,
    reopen: bool = False,
    source_event: str | None = None,
) -> Qualification:
    """職権修正: the period's dates, 区分 or 事由 corrected; the old row is kept (superseded)."""
    _require_kaigo(ctx)
    reason = _need_reason(reason)
    # The grant first (a missing id must not answer before it), then again with the person.
    guard.require(conn, ctx, action=Action.UPDATE, min_rank=CLERK_RANK, log=False)
    row = _period(conn, qualification_id)
    guard.require(conn, ctx, action=Action.UPDATE, subjects=[row.person_no], min_rank=CLERK_RANK, log=False)
    if row.superseded_at is not None:
        raise EligibilityError("この資格は既に修正・取消されています（最新の行を修正してください）")
    before = _qualification_of(row, row.person_no)
    new_lost = None if reopen else (lost_on if lost_on is not None else row.lost_on)
    new_loss_reason = None if reopen or new_lost is None else (loss_reason or before.loss_reason)
    q = _replace(
        conn, ctx, row,
        category=category or before.category, acquired_on=acquired_on or before.acquired_on,
        acquire_reason=acquire_reason or before.acquire_reason, lost_on=new_lost, loss_reason=new_loss_reason,
        kind="correct", reason=reason, source_event=source_event,
    )  # fmt: skip
    audit.record(
        conn, ctx, action=Action.UPDATE, subjects=[row.person_no],
        detail={"what": "qualification.correct", "reason": reason, "qualification_id": qualification_id,
                "before": _summary(before), "after": _summary(q)},
    )  # fmt: skip
    _announce(conn, "corrected", q, row.insurer_no, replaces=qualification_id, note=reason)
    return q


def do_restore(conn: Connection, ctx: AccessContext, *, qualification_id: int, reason: str) -> Qualification:
    """回復: a period closed by a loss that should not have happened (a 転出取消, a 住所地特例) is open again."""
    _require_kaigo(ctx)
    reason = _need_reason(reason)
    # The grant first (a missing id must not answer before it), then again with the person.
    guard.require(conn, ctx, action=Action.UPDATE, min_rank=CLERK_RANK, log=False)
    row = _period(conn, qualification_id)
    guard.require(conn, ctx, action=Action.UPDATE, subjects=[row.person_no], min_rank=CLERK_RANK, log=False)
    if row.superseded_at is not None:
        raise EligibilityError("この資格は既に修正・取消されています")
    if row.lost_on is None:
        raise EligibilityError("この資格は喪失していません（回復の必要はありません）")
    before = _qualification_of(row, row.person_no)
    q = _replace(
        conn, ctx, row, category=before.category, acquired_on=before.acquired_on,
        acquire_reason=before.acquire_reason, lost_on=None, loss_reason=None, kind="restore", reason=reason,
    )  # fmt: skip
    audit.record(
        conn, ctx, action=Action.UPDATE, subjects=[row.person_no],
        detail={"what": "qualification.restore", "reason": reason, "qualification_id": qualification_id,
                "before": _summary(before)},
    )  # fmt: skip
    _announce(conn, "restored", q, row.insurer_no, replaces=qualification_id, note=reason)
    return q


def do_cancel(conn: Connection, ctx: AccessContext, *, qualification_id: int, reason: str) -> Qualification:
    """取消: a period recorded in error is withdrawn as if it never was (kept, superseded, with the reason)."""
    _require_kaigo(ctx)
    reason = _need_reason(reason)
    # The grant first (a missing id must not answer before it), then again with the person.
    guard.require(conn, ctx, action=Action.UPDATE, min_rank=CLERK_RANK, log=False)
    row = _period(conn, qualification_id)
    guard.require(conn, ctx, action=Action.UPDATE, subjects=[row.person_no], min_rank=CLERK_RANK, log=False)
    if row.superseded_at is not None:
        raise EligibilityError("この資格は既に修正・取消されています")
    _supersede(conn, ctx, qualification_id, f"取消: {reason}")
    _record_change(
        conn, ctx, insured_id=row.insured_id, qualification_id=qualification_id, kind="cancel",
        effective_on=row.acquired_on, note=reason,
    )  # fmt: skip
    q = _qualification_of(row, row.person_no)
    audit.record(
        conn, ctx, action=Action.UPDATE, subjects=[row.person_no],
        detail={"what": "qualification.cancel", "reason": reason, "qualification_id": qualification_id,
                "before": _summary(q)},
    )  # fmt: skip
    _announce(conn, "cancelled", q, row.insurer_no, note=reason)
    return q


def _summary(q: Qualification) -> dict[str, Any]:
    return {
        "category": int(q.category),
        "acquired_on": q.acquired_on,
        "acquire_reason": q.acquire_reason.value,
        "lost_on": q.lost_on,
        "loss_reason": q.loss_reason.value if q.loss_reason else None,
    }


# -- 適用除外施設 (介護保険法施行法第11条) --------------------------------------------------------


def do_admit_exempt(
    conn: Connection, ctx: AccessContext, *, person_no: str, facility_no: str, admitted_on: date
) -> Qualification | None:
    """適用除外施設への入所: the stay is recorded and the 資格 lost the day after admission."""
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.UPDATE, subjects=[person_no], min_rank=CLERK_RANK, log=False)
    ref = identity_repo.ref_by_no(conn, person_no)
    facility = facility_by_no(conn, facility_no)
    if facility.rule_on(admitted_on) is not model.FacilityRule.EXEMPT:
        raise EligibilityError(f"{facility.name} は適用除外施設ではありません（{facility.type.label}）")
    try:
        with conn.begin_nested():
            conn.execute(
                text(
                    "INSERT INTO kaigo.facility_stay (person_id, facility_id, stay, recorded_by) "
                    "VALUES (:p, :f, daterange(:d, NULL), :s)"
                ),
                {"p": ref.person_id, "f": facility.facility_id, "d": admitted_on, "s": ctx.staff_id},
            )
    except IntegrityError:
        raise EligibilityError(
            f"宛名番号 {person_no} には {admitted_on:%Y-%m-%d} 以降と重なる入所期間があります"
        ) from None
    audit.record(
        conn, ctx, action=Action.UPDATE, subjects=[person_no],
        detail={"what": "exempt.admit", "facility_no": facility_no, "admitted_on": admitted_on},
    )  # fmt: skip
    return do_lose(
        conn, ctx, person_no=person_no, lost_on=model.loss_date_on_exempt_admission(admitted_on),
        reason=model.LossReason.ENTERED_EXEMPT_FACILITY, note=facility.name,
    )  # fmt: skip


def do_discharge_exempt(
    conn: Connection, ctx: AccessContext, *, person_no: str, discharged_on: date
) -> Qualification | None:
    """適用除外施設からの退所: the stay ends and a 65+ resident is insured again from that day."""
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.UPDATE, subjects=[person_no], min_rank=CLERK_RANK, log=False)
    ref = identity_repo.ref_by_no(conn, person_no)
    stay = conn.execute(
        text(
            "SELECT s.stay_id, lower(s.stay) AS admitted_on, f.name FROM kaigo.facility_stay s "
            "JOIN kaigo.facility f USING (facility_id) WHERE s.person_id = :p AND s.superseded_at IS NULL "
            "AND upper_inf(s.stay) FOR UPDATE OF s"
        ),
        {"p": ref.person_id},
    ).first()
    if stay is None:
        raise EligibilityError(f"宛名番号 {person_no} には入所中の適用除外施設がありません")
    if discharged_on <= stay.admitted_on:
        raise EligibilityError("退所日は入所日より後の日付にしてください")
    conn.execute(
        text("UPDATE kaigo.facility_stay SET stay = daterange(lower(stay), :d) WHERE stay_id = :s"),
        {"d": discharged_on, "s": stay.stay_id},
    )
    audit.record(
        conn, ctx, action=Action.UPDATE, subjects=[person_no],
        detail={"what": "exempt.discharge", "discharged_on": discharged_on},
    )  # fmt: skip
    version = identity_repo.version_on(conn, ref.person_id, discharged_on)
    if version is None or str(version.data.resident_class) != "住民":
        return None
    if model.category_on(version.data.birth_date, discharged_on) is not model.Category.FIRST:
        return None  # 40–64: recorded as 第2号 only when needed (do_register_category2)
    return do_acquire(
        conn, ctx, person_no=person_no, category=model.Category.FIRST, acquired_on=discharged_on,
        reason=model.AcquisitionReason.LEFT_EXEMPT_FACILITY, note=stay.name,
    )  # fmt: skip


def in_exempt_facility(conn: Connection, person_id: int, on: date) -> bool:
    return (
        conn.execute(
            text(
                "SELECT 1 FROM kaigo.facility_stay WHERE person_id = :p AND superseded_at IS NULL AND stay @> :d"
            ),
            {"p": person_id, "d": on},
        ).first()
        is not None
    )


# -- 住所地特例 (介護保険法第13条) --------------------------------------------------------------


def special_address_on(conn: Connection, person_id: int, on: date) -> str | None:
    """'ours' (our insured in another city's facility), 'theirs' (another insurer's) or None."""
    value = conn.execute(
        text(
            "SELECT direction FROM kaigo.special_address WHERE person_id = :p AND superseded_at IS NULL "
            "AND valid @> :d"
        ),
        {"p": person_id, "d": on},
    ).scalar()
    return str(value) if value else None


def do_register_special_address(
    conn: Connection,
    ctx: AccessContext,
    *,
    person_no: str,
    facility_no: str,
    from_on: date,
    other_insurer_no: str | None = None,
    other_insurer_name: str | None = None,
    other_insured_no: str | None = None,
) -> int:
    """住所地特例の登録, in either direction, decided by where the facility is.

    - A facility in another city (適用): our insured moved there and stay ours (法第13条第1項). A
      loss already recorded for that 転出 is restored (回復).
    - A facility in our city (他市町村住所地特例者): another insurer's insured living here; their
      insurer and 被保険者番号 are recorded, and an acquisition made for their 転入 is withdrawn (取消).
    """
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.UPDATE, subjects=[person_no], min_rank=CLERK_RANK, log=False)
    ref = identity_repo.ref_by_no(conn, person_no)
    facility = facility_by_no(conn, facility_no)
    if facility.rule_on(from_on) is not model.FacilityRule.SPECIAL_ADDRESS:
        raise EligibilityError(f"{facility.name} は住所地特例対象施設ではありません（{facility.type.label}）")
    ours = insurer_for_city(conn, _person_city(conn, ref.person_id))
    theirs = facility.city_code == ours.city_code
    if theirs:
        if not (other_insurer_no and other_insurer_no.isdigit() and len(other_insurer_no) == 6):
            raise EligibilityError("他市町村住所地特例者: 保険者番号（6桁）を入力してください")
        if not other_insurer_name or not other_insurer_name.strip():
            raise EligibilityError("他市町村住所地特例者: 保険者名を入力してください")
        if other_insured_no and not (other_insured_no.isdigit() and len(other_insured_no) == 10):
            raise EligibilityError("他市町村住所地特例者: 被保険者番号は10桁の数字です")
        if other_insurer_no == ours.insurer_no:
            raise EligibilityError("他市町村住所地特例者の保険者に当市は指定できません")
        insurer_no, insurer_name, insured_no = other_insurer_no, other_insurer_name.strip(), other_insured_no
    else:
        insurer_no, insurer_name = ours.insurer_no, ours.name
        insured_no, _ = _assign(conn, ctx, ours.insurer_no, ref.person_id)
    try:
        with conn.begin_nested():
            special_id = conn.execute(
                text(
                    "INSERT INTO kaigo.special_address (direction, person_id, facility_id, insurer_no, insurer_name, "
                    "insured_no, valid, recorded_by) VALUES (:dir, :p, :f, :i, :n, :no, daterange(:d, NULL), :s) "
                    "RETURNING special_id"
                ),
                {"dir": "theirs" if theirs else "ours", "p": ref.person_id, "f": facility.facility_id, "i": insurer_no,
                 "n": insurer_name, "no": insured_no, "d": from_on, "s": ctx.staff_id},
            ).scalar_one()  # fmt: skip
    except IntegrityError:
        raise EligibilityError(
            f"宛名番号 {person_no} には {from_on:%Y-%m-%d} 以降と重なる住所地特例があります"
        ) from None
    audit.record(
        conn, ctx, action=Action.UPDATE, subjects=[person_no],
        detail={"what": "special_address.register", "direction": "theirs" if theirs else "ours",
                "facility_no": facility_no, "from_on": from_on, "insurer_no": insurer_no},
    )  # fmt: skip
    note = f"住所地特例（{facility.name}）"
    if theirs:
        # They are the other insurer's: an acquisition we made for their 転入 is withdrawn.
        for row in _periods_from(conn, ours.insurer_no, ref.person_id, from_on):
            if row.acquire_reason == model.AcquisitionReason.MOVED_IN.value:
                do_cancel(conn, ctx, qualification_id=row.qualification_id, reason=f"他市町村{note}")
    else:
        lost = conn.execute(
            text(
                f"SELECT {_Q_COLUMNS} FROM kaigo.qualification q JOIN kaigo.insured i USING (insured_id) "
                "WHERE i.insurer_no = :i AND i.person_id = :p AND q.superseded_at IS NULL "
                "AND q.loss_reason = :r AND upper(q.valid) >= :d ORDER BY lower(q.valid) DESC LIMIT 1"
            ),
            {"i": ours.insurer_no, "p": ref.person_id, "r": model.LossReason.MOVED_OUT.value, "d": from_on},
        ).first()
        if lost is not None and _open_period(conn, ours.insurer_no, ref.person_id) is None:
            do_restore(conn, ctx, qualification_id=lost.qualification_id, reason=note)
    return int(special_id)


def _periods_from(conn: Connection, insurer_no: str, person_id: int, on: date) -> list[Any]:
    return list(
        conn.execute(
            text(
                f"SELECT {_Q_COLUMNS} FROM kaigo.qualification q JOIN kaigo.insured i USING (insured_id) "
                "WHERE i.insurer_no = :i AND i.person_id = :p AND q.superseded_at IS NULL "
                "AND lower(q.valid) >= :d ORDER BY lower(q.valid)"
            ),
            {"i": insurer_no, "p": person_id, "d": on},
        ).all()
    )


def do_end_special_address(
    conn: Connection, ctx: AccessContext, *, special_id: int, ended_on: date, reason: str
) -> Qualification | None:
    """住所地特例の終了 (退所・転居・死亡): the record ends the day before ``ended_on``.

    Ours ending: the person no longer lives in a facility elsewhere, so our 資格 is lost on
    ``ended_on`` (転出 rules: the new city insures them from that day). Theirs ending while the
    person stays in our city (moving from the facility to a home here): we insure them from
    ``ended_on`` if 65 or over.
    """
    _require_kaigo(ctx)
    reason = _need_reason(reason)
    # The grant first (a missing id must not answer before it), then again with the person.
    guard.require(conn, ctx, action=Action.UPDATE, min_rank=CLERK_RANK, log=False)
    row = conn.execute(
        text(
            "SELECT s.special_id, s.direction, s.person_id, lower(s.valid) AS from_on, p.person_no "
            "FROM kaigo.special_address s JOIN identity.person p USING (person_id) "
            "WHERE s.special_id = :s AND s.superseded_at IS NULL AND upper_inf(s.valid) FOR UPDATE OF s"
        ),
        {"s": special_id},
    ).first()
    if row is None:
        raise EligibilityError(f"住所地特例 {special_id} は終了済みか、ありません")
    guard.require(conn, ctx, action=Action.UPDATE, subjects=[row.person_no], min_rank=CLERK_RANK, log=False)
    if ended_on <= row.from_on:
        raise EligibilityError("終了日は開始日より後の日付にしてください")
    conn.execute(
        text(
            "UPDATE kaigo.special_address SET valid = daterange(lower(valid), :d), end_reason = :r WHERE special_id = :s"
        ),
        {"d": ended_on, "r": reason, "s": special_id},
    )
    audit.record(
        conn, ctx, action=Action.UPDATE, subjects=[row.person_no],
        detail={"what": "special_address.end", "special_id": special_id, "ended_on": ended_on, "reason": reason},
    )  # fmt: skip
    if row.direction == "ours":
        return do_lose(
            conn, ctx, person_no=row.person_no, lost_on=ended_on, reason=model.LossReason.MOVED_OUT,
            note=f"住所地特例終了: {reason}",
        )  # fmt: skip
    version = identity_repo.version_on(conn, row.person_id, ended_on)
    if version is None or str(version.data.resident_class) != "住民":
        return None
    if model.category_on(version.data.birth_date, ended_on) is not model.Category.FIRST:
        return None
    return do_acquire(
        conn, ctx, person_no=row.person_no, category=model.Category.FIRST, acquired_on=ended_on,
        reason=model.AcquisitionReason.EX_OFFICIO, note=f"他市町村住所地特例の終了: {reason}",
    )  # fmt: skip
