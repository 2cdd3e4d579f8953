"""介護保険 資格 panel (資格・異動履歴): what the counter sees of one person, read through the guard.

One call reads everything the panel shows — periods (with the superseded ones, so a correction
can be followed), the change history, facility stays, 住所地特例 and 証発行履歴 — and writes one
access-log row for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, text

from kiban.identity import repo as identity_repo
from kiban.kaigo.eligibility import model
from kiban.kaigo.eligibility.service import EligibilityError, _require_kaigo, insurer_for_city
from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action

__all__ = ["Certificate", "Change", "Panel", "Period", "SpecialAddress", "Stay", "insured_list", "panel"]


@dataclass(frozen=True)
class Period:
    qualification_id: int
    category: model.Category
    acquired_on: date
    acquire_reason: model.AcquisitionReason
    lost_on: date | None
    loss_reason: model.LossReason | None
    recorded_at: datetime
    superseded_at: datetime | None
    supersede_reason: str | None

    @property
    def current(self) -> bool:
        return self.superseded_at is None


@dataclass(frozen=True)
class Change:
    change_id: int
    kind: str
    effective_on: date
    reason_code: str | None
    note: str | None
    source_event: str | None
    recorded_at: datetime
    recorded_by: str | None

    @property
    def kind_label(self) -> str:
        return _KIND_LABELS.get(self.kind, self.kind)

    @property
    def reason_label(self) -> str:
        if self.reason_code is None:
            return ""
        for enum_ in (model.AcquisitionReason, model.LossReason):
            try:
                return enum_(self.reason_code).label if self.kind in _KINDS_OF[enum_] else ""
            except ValueError:
                continue
        return self.reason_code


_KIND_LABELS = {
    "acquire": "取得",
    "lose": "喪失",
    "category": "区分変更",
    "correct": "職権修正",
    "restore": "回復",
    "cancel": "取消",
}
_KINDS_OF: dict[Any, tuple[str, ...]] = {
    model.AcquisitionReason: ("acquire",),
    model.LossReason: ("lose", "category", "cancel"),
}


@dataclass(frozen=True)
class Stay:
    stay_id: int
    facility_no: str
    facility_name: str
    admitted_on: date
    discharged_on: date | None


@dataclass(frozen=True)
class SpecialAddress:
    special_id: int
    direction: str  # 'ours' | 'theirs'
    facility_no: str
    facility_name: str
    facility_city: str
    insurer_no: str
    insurer_name: str
    insured_no: str | None
    from_on: date
    until: date | None
    end_reason: str | None

    @property
    def label(self) -> str:
        return "住所地特例（当市の被保険者）" if self.direction == "ours" else "他市町村住所地特例者"


@dataclass(frozen=True)
class Certificate:
    certificate_id: int
    kind: str
    reissue: bool
    issued_on: date
    valid_until: date | None
    returned_on: date | None
    reason: str | None
    batch_id: int | None

    @property
    def label(self) -> str:
        base = "被保険者証" if self.kind == "certificate" else "資格者証"
        return ("再交付 " if self.reissue else "交付 ") + base


@dataclass(frozen=True)
class Panel:
    person_no: str
    insurer_no: str
    insurer_name: str
    insured_no: str | None
    periods: list[Period]
    changes: list[Change]
    stays: list[Stay]
    special: list[SpecialAddress]
    certificates: list[Certificate]

    @property
    def current(self) -> Period | None:
        """The open period, if the person is insured now."""
        for p in self.periods:
            if p.current and p.lost_on is None:
                return p
        return None

    def status_on(self, on: date) -> Period | None:
        for p in self.periods:
            if p.current and p.acquired_on <= on and (p.lost_on is None or on < p.lost_on):
                return p
        return None


def panel(conn: Connection, ctx: AccessContext, person_no: str) -> Panel:
    """The 介護保険 資格 panel of one person (照会, logged)."""
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.VIEW, subjects=[person_no], log=False)
    ref = identity_repo.ref_by_no(conn, person_no)
    city = conn.execute(
        text("SELECT city_code FROM identity.person WHERE person_id = :p"), {"p": ref.person_id}
    )
    insurer = insurer_for_city(conn, str(city.scalar_one()))
    insured = conn.execute(
        text("SELECT insured_id, insured_no FROM kaigo.insured WHERE insurer_no = :i AND person_id = :p"),
        {"i": insurer.insurer_no, "p": ref.person_id},
    ).first()
    periods: list[Period] = []
    changes: list[Change] = []
    certificates: list[Certificate] = []
    if insured is not None:
        periods = [
            Period(
                r.qualification_id,
                model.Category(r.category),
                r.acquired_on,
                model.AcquisitionReason(r.acquire_reason),
                r.lost_on,
                model.LossReason(r.loss_reason) if r.loss_reason else None,
                r.recorded_at,
                r.superseded_at,
                r.supersede_reason,
            )
            for r in conn.execute(
                text(
                    "SELECT qualification_id, category, lower(valid) AS acquired_on, upper(valid) AS lost_on, "
                    "acquire_reason, loss_reason, recorded_at, superseded_at, supersede_reason "
                    "FROM kaigo.qualification WHERE insured_id = :i "
                    "ORDER BY lower(valid), qualification_id"
                ),
                {"i": insured.insured_id},
            )
        ]
        changes = [
            Change(
                r.change_id,
                r.kind,
                r.effective_on,
                r.reason_code,
                r.note,
                r.source_event,
                r.recorded_at,
                r.name,
            )
            for r in conn.execute(
                text(
                    "SELECT c.change_id, c.kind, c.effective_on, c.reason_code, c.note, c.source_event, "
                    "c.recorded_at, s.name FROM kaigo.qualification_change c "
                    "LEFT JOIN security.staff s ON s.staff_id = c.recorded_by "
                    "WHERE c.insured_id = :i ORDER BY c.change_id"
                ),
                {"i": insured.insured_id},
            )
        ]
        certificates = [
            Certificate(
                r.certificate_id,
                r.kind,
                r.reissue,
                r.issued_on,
                r.valid_until,
                r.returned_on,
                r.reason,
                r.batch_id,
            )
            for r in conn.execute(
                text(
                    "SELECT certificate_id, kind, reissue, issued_on, valid_until, returned_on, reason, batch_id "
                    "FROM kaigo.certificate WHERE insured_id = :i ORDER BY certificate_id"
                ),
                {"i": insured.insured_id},
            )
        ]
    stays = [
        Stay(r.stay_id, r.facility_no, r.name, r.admitted_on, r.discharged_on)
        for r in conn.execute(
            text(
                "SELECT s.stay_id, f.facility_no, f.name, lower(s.stay) AS admitted_on, upper(s.stay) AS discharged_on "
                "FROM kaigo.facility_stay s JOIN kaigo.facility f USING (facility_id) "
                "WHERE s.person_id = :p AND s.superseded_at IS NULL ORDER BY lower(s.stay)"
            ),
            {"p": ref.person_id},
        )
    ]
    special = [
        SpecialAddress(
            r.special_id,
            r.direction,
            r.facility_no,
            r.name,
            r.city_name,
            r.insurer_no,
            r.insurer_name,
            r.insured_no,
            r.from_on,
            r.until,
            r.end_reason,
        )
        for r in conn.execute(
            text(
                "SELECT s.special_id, s.direction, f.facility_no, f.name, f.city_name, s.insurer_no, s.insurer_name, "
                "s.insured_no, lower(s.valid) AS from_on, upper(s.valid) AS until, s.end_reason "
                "FROM kaigo.special_address s JOIN kaigo.facility f USING (facility_id) "
                "WHERE s.person_id = :p AND s.superseded_at IS NULL ORDER BY lower(s.valid)"
            ),
            {"p": ref.person_id},
        )
    ]
    audit.record(conn, ctx, action=Action.VIEW, subjects=[person_no], detail={"what": "kaigo.panel"})
    return Panel(
        person_no, insurer.insurer_no, insurer.name, insured.insured_no if insured else None,
        periods, changes, stays, special, certificates,
    )  # fmt: skip


@dataclass(frozen=True)
class InsuredRow:
    """被保険者一覧の1行 (no 個人番号; name and 宛名番号 only)."""

    person_no: str
    insured_no: str
    name: str
    kana: str
    birth_date: date
    category: model.Category
    acquired_on: date
    acquire_reason: model.AcquisitionReason


def insured_list(
    conn: Connection,
    ctx: AccessContext,
    *,
    acquired_from: date | None = None,
    acquired_to: date | None = None,
    insured_no: str | None = None,
    limit: int = 100,
) -> list[InsuredRow]:
    """被保険者一覧: current insured persons, optionally by 取得日 range or 被保険者番号 (logged as a search)."""
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.SEARCH, log=False)
    if insured_no is not None and not (insured_no.isdigit() and len(insured_no) == 10):
        raise EligibilityError("被保険者番号は10桁の数字です")
    rows = conn.execute(
        text(
            "SELECT p.person_no, i.insured_no, concat_ws(' ', v.family_name, v.given_name) AS name, "
            "concat_ws(' ', v.family_kana, v.given_kana) AS kana, v.birth_date, q.category, lower(q.valid) AS acquired_on, "
            "q.acquire_reason FROM kaigo.qualification q JOIN kaigo.insured i USING (insured_id) "
            "JOIN identity.person p ON p.person_id = i.person_id "
            "JOIN identity.person_version v ON v.person_id = i.person_id AND upper_inf(v.valid) "
            "AND v.superseded_at IS NULL "
            "WHERE q.superseded_at IS NULL AND upper_inf(q.valid) "
            "AND (CAST(:f AS date) IS NULL OR lower(q.valid) >= :f) "
            "AND (CAST(:t AS date) IS NULL OR lower(q.valid) <= :t) "
            "AND (CAST(:n AS text) IS NULL OR i.insured_no = :n) "
            "ORDER BY lower(q.valid) DESC, i.insured_no LIMIT :l"
        ),
        {"f": acquired_from, "t": acquired_to, "n": insured_no, "l": limit},
    ).all()
    result = [
        InsuredRow(
            r.person_no,
            r.insured_no,
            r.name.strip(),
            r.kana.strip(),
            r.birth_date,
            model.Category(r.category),
            r.acquired_on,
            model.AcquisitionReason(r.acquire_reason),
        )
        for r in rows
    ]
    audit.record(
        conn, ctx, action=Action.SEARCH, subjects=[r.person_no for r in result],
        detail={"what": "kaigo.insured_list", "acquired_from": acquired_from, "acquired_to": acquired_to,
                "insured_no": insured_no, "shown": len(result)},
    )  # fmt: skip
    return result


__all__ += ["EligibilityError", "InsuredRow"]
