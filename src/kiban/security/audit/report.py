"""The access-log review (ログ点検) behind `kiban audit report` and the 監査 screen.

domain.md §10.7 asks for anomaly reports — holidays, after hours, login errors — and seed 000
リスク対策 for periodic review of who looked at whom. Each finding here is a lead for a human
reviewer, not a verdict: the report lists, the 監査 staff judge.

* after-hours access: outside office hours on a working day, or any access on a closed day
  (weekend, 祝日, 年末年始);
* volume outliers: staff far above the median of their peers in the same business;
* repeated denials and login failures (per staff, per terminal);
* staff looking up persons of their own household or address (:class:`RelatedPersons`);
* bulk exports and prints.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from kiban.security.audit.holidays import closed_reason
from kiban.security.context import Action, Outcome

# Actions that touch a person's data (login bookkeeping is reviewed separately).
_SESSION_ACTIONS = (str(Action.LOGIN), str(Action.LOGOUT), str(Action.LOGIN_FAILURE))
_BULK_ACTIONS = (str(Action.EXPORT), str(Action.PRINT))


@dataclass(frozen=True)
class OfficeHours:
    """開庁時間: weekdays 8:30–17:15 JST by default, closed on 祝日 and 年末年始."""

    start: dt.time = dt.time(8, 30)
    end: dt.time = dt.time(17, 15)
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday = 0
    timezone: str = "Asia/Tokyo"
    year_end_closure: bool = True
    extra_closed: Mapping[dt.date, str] = dataclasses.field(
        default_factory=dict, hash=False
    )  # e.g. 庁舎停電日

    def closed_reason(self, day: dt.date) -> str | None:
        if day in self.extra_closed:
            return self.extra_closed[day]
        return closed_reason(day, weekdays=self.weekdays, year_end=self.year_end_closure)


@dataclass(frozen=True)
class Thresholds:
    volume_factor: float = 3.0  # more than this many times the business median …
    volume_min_count: int = 50  # … and at least this many accesses
    volume_min_peers: int = 3  # a median of fewer staff says nothing
    denials_min: int = 3
    login_failures_min: int = 3
    bulk_min_rows: int = 100


class RelatedPersons(Protocol):
    """Who a staff member is related to: 宛名番号 → relation ('self', 'household', 'address', …).

    The identity hub will provide the real answer (the staff member's own 宛名, their household and
    the people at their address); until then :class:`StaffRelatedPersonTable` reads
    ``security.staff_related_person``.
    """

    def __call__(self, staff_code: str) -> Mapping[str, str] | Iterable[str]: ...


class StaffRelatedPersonTable:
    """:class:`RelatedPersons` from ``security.staff_related_person`` (read once)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._by_staff: dict[str, dict[str, str]] | None = None

    def __call__(self, staff_code: str) -> Mapping[str, str]:
        if self._by_staff is None:
            by_staff: dict[str, dict[str, str]] = {}
            with self._engine.connect() as conn:
                for staff, atena, relation in conn.exec_driver_sql(
                    "SELECT staff_code, atena_no, relation FROM security.staff_related_person"
                ):
                    by_staff.setdefault(staff, {})[atena] = relation
            self._by_staff = by_staff
        return self._by_staff.get(staff_code, {})


class MappingRelatedPersons:
    """:class:`RelatedPersons` from a plain mapping staff_code → 宛名番号 (set) or 宛名番号 → relation."""

    def __init__(self, mapping: Mapping[str, Iterable[str] | Mapping[str, str]]) -> None:
        self._map: dict[str, dict[str, str]] = {}
        for staff, related in mapping.items():
            if isinstance(related, Mapping):
                self._map[staff] = dict(related)
            else:
                self._map[staff] = dict.fromkeys(related, "related")

    def __call__(self, staff_code: str) -> Mapping[str, str]:
        return self._map.get(staff_code, {})


@dataclass(frozen=True)
class AfterHoursAccess:
    staff_code: str
    day: dt.date
    reason: str  # 時間外, 土曜日, 日曜日, a 祝日 name, 年末年始
    count: int
    first_at: dt.datetime
    last_at: dt.datetime
    actions: tuple[str, ...]


@dataclass(frozen=True)
class VolumeOutlier:
    business: str
    staff_code: str
    count: int
    peer_median: float
    ratio: float
    peers: int


@dataclass(frozen=True)
class RepeatedDenials:
    staff_code: str
    count: int
    first_at: dt.datetime
    last_at: dt.datetime
    businesses: tuple[str, ...]


@dataclass(frozen=True)
class LoginFailures:
    by: str  # "staff" or "terminal"
    key: str
    count: int
    first_at: dt.datetime
    last_at: dt.datetime


@dataclass(frozen=True)
class OwnHouseholdLookup:
    id: int
    at: dt.datetime
    staff_code: str
    business: str | None
    action: str
    atena_nos: tuple[str, ...]
    relations: tuple[str, ...]


@dataclass(frozen=True)
class BulkExport:
    id: int
    at: dt.datetime
    staff_code: str | None
    business: str | None
    action: str
    rows: int


@dataclass(frozen=True)
class ReviewReport:
    start: dt.date
    end: dt.date  # inclusive
    after_hours: tuple[AfterHoursAccess, ...]
    volume_outliers: tuple[VolumeOutlier, ...]
    repeated_denials: tuple[RepeatedDenials, ...]
    login_failures: tuple[LoginFailures, ...]
    own_household_lookups: tuple[OwnHouseholdLookup, ...]
    bulk_exports: tuple[BulkExport, ...]

    @property
    def total(self) -> int:
        return (
            len(self.after_hours)
            + len(self.volume_outliers)
            + len(self.repeated_denials)
            + len(self.login_failures)
            + len(self.own_household_lookups)
            + len(self.bulk_exports)
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        def default(value: Any) -> Any:
            if isinstance(value, dt.date | dt.datetime | dt.time):
                return value.isoformat()
            raise TypeError(type(value).__name__)

        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, default=default)


@dataclass(frozen=True)
class _Range:
    t0: dt.datetime
    t1: dt.datetime
    tz: ZoneInfo

    def params(self) -> dict[str, Any]:
        return {"t0": self.t0, "t1": self.t1}

    def local(self, value: dt.datetime) -> dt.datetime:
        return value.astimezone(self.tz)


def _after_hours(
    conn: Connection, rng: _Range, start: dt.date, end: dt.date, hours: OfficeHours
) -> list[AfterHoursAccess]:
    closed: dict[dt.date, str] = {}
    day = start
    while day <= end:
        reason = hours.closed_reason(day)
        if reason:
            closed[day] = reason
        day += dt.timedelta(days=1)
    rows = conn.exec_driver_sql(
        "SELECT staff_code, (at AT TIME ZONE %(tz)s)::date AS day, count(*), min(at), max(at), "
        "array_agg(DISTINCT action ORDER BY action) "
        "FROM audit.access_log WHERE at >= %(t0)s AND at < %(t1)s AND staff_code IS NOT NULL AND ("
        "(at AT TIME ZONE %(tz)s)::date = ANY(%(closed)s::date[]) "
        "OR (at AT TIME ZONE %(tz)s)::time < %(open)s OR (at AT TIME ZONE %(tz)s)::time >= %(close)s) "
        "GROUP BY 1, 2 ORDER BY 2, 1",
        {
            **rng.params(),
            "tz": hours.timezone,
            "closed": list(closed),
            "open": hours.start,
            "close": hours.end,
        },
    )
    return [
        AfterHoursAccess(
            staff_code=staff,
            day=day,
            reason=closed.get(day, "時間外"),
            count=int(n),
            first_at=rng.local(first),
            last_at=rng.local(last),
            actions=tuple(actions),
        )
        for staff, day, n, first, last, actions in rows
    ]


def _volume_outliers(conn: Connection, rng: _Range, limits: Thresholds) -> list[VolumeOutlier]:
    by_business: dict[str, list[tuple[str, int]]] = {}
    for business, staff, n in conn.exec_driver_sql(
        "SELECT business, staff_code, count(*) FROM audit.access_log "
        "WHERE at >= %(t0)s AND at < %(t1)s AND business IS NOT NULL AND staff_code IS NOT NULL "
        "AND outcome = %(ok)s AND action <> ALL(%(session)s) GROUP BY 1, 2",
        {**rng.params(), "ok": str(Outcome.OK), "session": list(_SESSION_ACTIONS)},
    ):
        by_business.setdefault(business, []).append((staff, int(n)))
    found: list[VolumeOutlier] = []
    for business, counts in sorted(by_business.items()):
        if len(counts) < limits.volume_min_peers:
            continue
        median = float(statistics.median(n for _, n in counts))
        for staff, n in sorted(counts, key=lambda c: -c[1]):
            if n >= limits.volume_min_count and n > limits.volume_factor * median:
                found.append(VolumeOutlier(business, staff, n, median, round(n / median, 1), len(counts)))
    return found


def _repeated_denials(conn: Connection, rng: _Range, limits: Thresholds) -> list[RepeatedDenials]:
    rows = conn.exec_driver_sql(
        "SELECT staff_code, count(*), min(at), max(at), array_agg(DISTINCT coalesce(business, '')) "
        "FROM audit.access_log WHERE at >= %(t0)s AND at < %(t1)s AND outcome = %(denied)s "
        "AND action <> %(failure)s AND staff_code IS NOT NULL "
        "GROUP BY 1 HAVING count(*) >= %(n)s ORDER BY 2 DESC, 1",
        {
            **rng.params(),
            "denied": str(Outcome.DENIED),
            "failure": str(Action.LOGIN_FAILURE),
            "n": limits.denials_min,
        },
    )
    return [
        RepeatedDenials(staff, int(n), rng.local(first), rng.local(last), tuple(b for b in businesses if b))
        for staff, n, first, last, businesses in rows
    ]


def _login_failures(conn: Connection, rng: _Range, limits: Thresholds) -> list[LoginFailures]:
    found: list[LoginFailures] = []
    for by, column in (("staff", "staff_code"), ("terminal", "terminal_code")):
        rows = conn.exec_driver_sql(
            f"SELECT coalesce({column}, '(不明)'), count(*), min(at), max(at) FROM audit.access_log "
            "WHERE at >= %(t0)s AND at < %(t1)s AND action = %(failure)s "
            "GROUP BY 1 HAVING count(*) >= %(n)s ORDER BY 2 DESC, 1",
            {**rng.params(), "failure": str(Action.LOGIN_FAILURE), "n": limits.login_failures_min},
        )
        found.extend(
            LoginFailures(by, key, int(n), rng.local(first), rng.local(last)) for key, n, first, last in rows
        )
    return found


def _related_pairs(related: RelatedPersons, staff: str) -> Iterable[tuple[str, str, str]]:
    found = related(staff)
    if isinstance(found, Mapping):
        return ((staff, atena, relation) for atena, relation in found.items())
    return ((staff, atena, "related") for atena in found)


def _own_household(conn: Connection, rng: _Range, related: RelatedPersons) -> list[OwnHouseholdLookup]:
    staff_codes = conn.exec_driver_sql(
        "SELECT DISTINCT staff_code FROM audit.access_log WHERE at >= %(t0)s AND at < %(t1)s "
        "AND staff_code IS NOT NULL AND cardinality(subjects) > 0",
        rng.params(),
    ).scalars()
    pairs = [pair for staff in staff_codes for pair in _related_pairs(related, staff)]
    if not pairs:
        return []
    rows = conn.exec_driver_sql(
        "WITH rel AS (SELECT * FROM unnest(%(s)s::text[], %(a)s::text[], %(r)s::text[]) AS t(staff_code, atena_no, relation)) "
        "SELECT l.id, l.at, l.staff_code, l.business, l.action, "
        "array_agg(rel.atena_no ORDER BY rel.atena_no), array_agg(rel.relation ORDER BY rel.atena_no) "
        "FROM audit.access_log l JOIN rel ON rel.staff_code = l.staff_code AND rel.atena_no = ANY(l.subjects) "
        "WHERE l.at >= %(t0)s AND l.at < %(t1)s AND l.action <> ALL(%(session)s) "
        "GROUP BY l.id ORDER BY l.at, l.id",
        {
            **rng.params(),
            "s": [p[0] for p in pairs],
            "a": [p[1] for p in pairs],
            "r": [p[2] for p in pairs],
            "session": list(_SESSION_ACTIONS),
        },
    )
    return [
        OwnHouseholdLookup(rid, rng.local(at), staff, business, action, tuple(atenas), tuple(relations))
        for rid, at, staff, business, action, atenas, relations in rows
    ]


def _bulk_exports(conn: Connection, rng: _Range, limits: Thresholds) -> list[BulkExport]:
    # Size = persons listed in subjects, or the row count an export states in detail {"count": n}.
    rows = conn.exec_driver_sql(
        "SELECT id, at, staff_code, business, action, rows FROM ("
        "  SELECT id, at, staff_code, business, action, GREATEST(cardinality(subjects), "
        "    CASE WHEN jsonb_typeof(detail->'count') = 'number' THEN (detail->>'count')::numeric ELSE 0 END"
        "  )::bigint AS rows FROM audit.access_log "
        "  WHERE at >= %(t0)s AND at < %(t1)s AND action = ANY(%(bulk)s)) x "
        "WHERE rows >= %(n)s ORDER BY at, id",
        {**rng.params(), "bulk": list(_BULK_ACTIONS), "n": limits.bulk_min_rows},
    )
    return [
        BulkExport(rid, rng.local(at), staff, business, action, int(n))
        for rid, at, staff, business, action, n in rows
    ]


def review(
    engine: Engine,
    *,
    start: dt.date,
    end: dt.date,
    office_hours: OfficeHours | None = None,
    related: RelatedPersons | Mapping[str, Iterable[str]] | None = None,
    thresholds: Thresholds | None = None,
) -> ReviewReport:
    """Review the access log from ``start`` to ``end`` (both inclusive, local dates of the office).

    ``related`` says which 宛名番号 belong to each staff member's own household or address: a
    :class:`RelatedPersons` callable, a plain mapping staff_code → 宛名番号, or None for the
    ``security.staff_related_person`` table.
    """
    if end < start:
        raise ValueError("end must not be before start (終了日が開始日より前です)")
    hours = office_hours or OfficeHours()
    limits = thresholds or Thresholds()
    if related is None:
        related = StaffRelatedPersonTable(engine)
    elif isinstance(related, Mapping):
        related = MappingRelatedPersons(related)
    tz = ZoneInfo(hours.timezone)
    rng = _Range(
        dt.datetime.combine(start, dt.time(), tz),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tz),
        tz,
    )
    with engine.connect() as conn:
        return ReviewReport(
            start=start,
            end=end,
            after_hours=tuple(_after_hours(conn, rng, start, end, hours)),
            volume_outliers=tuple(_volume_outliers(conn, rng, limits)),
            repeated_denials=tuple(_repeated_denials(conn, rng, limits)),
            login_failures=tuple(_login_failures(conn, rng, limits)),
            own_household_lookups=tuple(_own_household(conn, rng, related)),
            bulk_exports=tuple(_bulk_exports(conn, rng, limits)),
        )


@dataclass(frozen=True)
class AccessRecord:
    """One access-log row as the 監査 screen and a 開示請求 answer show it."""

    id: int
    at: dt.datetime
    staff_code: str | None
    department_code: str | None
    terminal_code: str | None
    business: str | None
    purpose_code: str | None
    action: str
    outcome: str


def accesses_to(
    engine: Engine,
    atena_no: str,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    timezone: str = "Asia/Tokyo",
    limit: int = 1000,
) -> tuple[AccessRecord, ...]:
    """Who accessed the person ``atena_no`` (宛名番号), newest first — "searchable at once" (§10.7).

    Uses the GIN index on ``subjects``; ``start``/``end`` are inclusive local dates.
    """
    tz = ZoneInfo(timezone)
    t0 = dt.datetime.combine(start, dt.time(), tz) if start else None
    t1 = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tz) if end else None
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, at, staff_code, department_code, terminal_code, business, purpose_code, action, outcome "
            "FROM audit.access_log WHERE subjects @> ARRAY[%(a)s]::text[] "
            "AND (%(t0)s::timestamptz IS NULL OR at >= %(t0)s) AND (%(t1)s::timestamptz IS NULL OR at < %(t1)s) "
            "ORDER BY at DESC, id DESC LIMIT %(n)s",
            {"a": atena_no, "t0": t0, "t1": t1, "n": limit},
        )
        return tuple(AccessRecord(r[0], r[1].astimezone(tz), *r[2:]) for r in rows)
