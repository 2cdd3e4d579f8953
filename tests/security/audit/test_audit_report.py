"""The access-log review finds each anomaly of domain.md §10.7 and leaves ordinary work alone."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from audit_helpers import AuditDb
from sqlalchemy import text

from kiban.security.audit.holidays import holidays
from kiban.security.audit.report import OfficeHours, ReviewReport, review

JST = ZoneInfo("Asia/Tokyo")
START, END = dt.date(2025, 6, 1), dt.date(2025, 7, 31)


def at(day: str, clock: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=JST)


class Log:
    def __init__(self, db: AuditDb) -> None:
        self.db = db
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        when: dt.datetime,
        staff: str | None,
        business: str | None = "kaigo",
        action: str = "view",
        outcome: str = "ok",
        subjects: tuple[str, ...] = (),
        detail: dict[str, Any] | None = None,
        terminal: str = "T-001",
    ) -> None:
        self.rows.append(
            {
                "at": when,
                "staff": staff,
                "business": business,
                "action": action,
                "outcome": outcome,
                "subjects": list(subjects),
                "detail": json.dumps(detail or {}),
                "terminal": terminal,
            }
        )

    def save(self) -> None:
        # Written as the owner: the test needs rows at chosen times, which the application cannot set.
        with self.db.owner.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO audit.access_log (at, staff_code, business, terminal_code, action, outcome, "
                    "subjects, detail) VALUES (:at, :staff, :business, :terminal, :action, :outcome, "
                    "CAST(:subjects AS text[]), CAST(:detail AS jsonb))"
                ),
                self.rows,
            )


@pytest.fixture
def log(audit_db: AuditDb) -> Iterator[Log]:
    log = Log(audit_db)
    # Ordinary weekday work of five clerks (10 each) and one who looks at 100 persons.
    for n in range(1, 6):
        for i in range(10):
            log.add(at("2025-06-03", f"10:{i:02d}:00"), f"s{n}", subjects=(f"A-{n}{i}",))
    for i in range(100):
        log.add(at("2025-06-04", f"09:{i // 60:02d}:{i % 60:02d}"), "s6", subjects=(f"A-9{i}",))
    # 国保: similar volumes, no outlier.
    for staff, n in (("t1", 60), ("t2", 55), ("t3", 58)):
        for i in range(n):
            log.add(at("2025-06-05", f"13:{i // 60:02d}:{i % 60:02d}"), staff, business="kokuho")
    # Office hours edges (障害福祉, 1 row each).
    log.add(at("2025-06-02", "20:00:00"), "a1", business="shogai")  # after 17:15
    log.add(at("2025-06-03", "08:29:00"), "a5", business="shogai")  # before 8:30
    log.add(at("2025-06-03", "08:30:00"), "a4", business="shogai")  # opening time: fine
    log.add(at("2025-06-03", "17:14:59"), "a4", business="shogai")  # still open: fine
    log.add(at("2025-06-07", "10:00:00"), "a2", business="shogai")  # Saturday
    log.add(at("2025-07-21", "11:00:00"), "a3", business="shogai")  # 海の日
    log.add(at("2025-05-31", "23:00:00"), "a6", business="shogai")  # before the range
    log.add(at("2025-08-01", "00:30:00"), "a6", business="shogai")  # after the range
    # Denials: three for d1 (flag), two for d2 (no flag).
    for i in range(3):
        log.add(at("2025-06-10", f"11:0{i}:00"), "d1", business="kouki", outcome="denied")
    for i in range(2):
        log.add(at("2025-06-10", f"11:1{i}:00"), "d2", business="kouki", outcome="denied")
    # Login failures: one typed code from four terminals; one terminal, three different codes.
    for i in range(4):
        log.add(
            at("2025-06-11", f"09:0{i}:00"), "ghost", None, "login_failure", "denied", terminal=f"T-{i + 1}"
        )
    for code in ("u1", "u2", "u3"):
        log.add(at("2025-06-11", "09:30:00"), code, None, "login_failure", "denied", terminal="T-9")
    log.add(at("2025-06-11", "09:40:00"), "typo", None, "login_failure", "denied", terminal="T-5")
    # Own household: h1 is related to A-100 (household) and A-101 (self).
    log.add(at("2025-06-12", "10:00:00"), "h1", "atena", subjects=("A-100",))
    log.add(at("2025-06-12", "10:05:00"), "h1", "atena", subjects=("A-200",))
    log.add(at("2025-06-12", "10:10:00"), "h1", "atena", "search", subjects=("A-300", "A-101"))
    log.add(at("2025-06-12", "10:20:00"), "h2", "atena", subjects=("A-100",))
    # Exports: one of 5,000 rows, one small; a print of 150 persons.
    log.add(
        at("2025-06-13", "15:00:00"), "b1", "kouki", "export", detail={"count": 5000, "layout": "kouki-list"}
    )
    log.add(at("2025-06-13", "15:10:00"), "b1", "kouki", "export", subjects=("A-1", "A-2", "A-3"))
    log.add(
        at("2025-06-13", "15:20:00"), "b2", "kouki", "print", subjects=tuple(f"P-{i}" for i in range(150))
    )
    log.save()
    audit_db.tamper(
        "INSERT INTO security.staff_related_person (staff_code, atena_no, relation) VALUES "
        "('h1', 'A-100', 'household'), ('h1', 'A-101', 'self')"
    )
    yield log


@pytest.fixture
def report(log: Log) -> ReviewReport:
    return review(log.db.app, start=START, end=END)


def test_after_hours_weekends_and_holidays(report: ReviewReport) -> None:
    assert [(a.day.isoformat(), a.staff_code, a.reason, a.count) for a in report.after_hours] == [
        ("2025-06-02", "a1", "時間外", 1),
        ("2025-06-03", "a5", "時間外", 1),
        ("2025-06-07", "a2", "土曜日", 1),
        ("2025-07-21", "a3", "海の日", 1),
    ]
    assert report.after_hours[0].first_at == at("2025-06-02", "20:00:00")


def test_office_hours_are_configurable(log: Log) -> None:
    late = review(log.db.app, start=START, end=END, office_hours=OfficeHours(end=dt.time(21, 0)))
    assert "a1" not in {a.staff_code for a in late.after_hours}


def test_volume_far_above_peers_in_the_same_business(report: ReviewReport) -> None:
    assert [(v.business, v.staff_code, v.count, v.peer_median) for v in report.volume_outliers] == [
        ("kaigo", "s6", 100, 10.0)
    ]


def test_repeated_denials(report: ReviewReport) -> None:
    assert [(d.staff_code, d.count, d.businesses) for d in report.repeated_denials] == [("d1", 3, ("kouki",))]


def test_login_failures_per_staff_code_and_per_terminal(report: ReviewReport) -> None:
    assert [(f.by, f.key, f.count) for f in report.login_failures] == [
        ("staff", "ghost", 4),
        ("terminal", "T-9", 3),
    ]


def test_staff_looking_up_their_own_household(report: ReviewReport) -> None:
    assert [(o.staff_code, o.action, o.atena_nos, o.relations) for o in report.own_household_lookups] == [
        ("h1", "view", ("A-100",), ("household",)),
        ("h1", "search", ("A-101",), ("self",)),
    ]


def test_related_persons_can_come_from_a_mapping_or_a_callable(log: Log) -> None:
    by_mapping = review(log.db.app, start=START, end=END, related={"h2": {"A-100"}})
    assert [(o.staff_code, o.atena_nos) for o in by_mapping.own_household_lookups] == [("h2", ("A-100",))]
    by_callable = review(
        log.db.app, start=START, end=END, related=lambda staff: {"A-200": "address"} if staff == "h1" else {}
    )
    assert [(o.staff_code, o.relations) for o in by_callable.own_household_lookups] == [("h1", ("address",))]


def test_bulk_exports_and_prints(report: ReviewReport) -> None:
    assert [(b.staff_code, b.action, b.rows) for b in report.bulk_exports] == [
        ("b1", "export", 5000),
        ("b2", "print", 150),
    ]


def test_report_serialises_to_json(report: ReviewReport) -> None:
    data = json.loads(report.to_json())
    assert data["start"] == "2025-06-01" and len(data["bulk_exports"]) == 2


# Published calendars (内閣府「国民の祝日について」; 2027 equinoxes per the usual formula).
EXPECTED_HOLIDAYS = {
    2024: "0101 0108 0211 0212 0223 0320 0429 0503 0504 0505 0506 0715 0811 0812 0916 0922 0923 1014 1103 1104 1123",
    2025: "0101 0113 0211 0223 0224 0320 0429 0503 0504 0505 0506 0721 0811 0915 0923 1013 1103 1123 1124",
    2026: "0101 0112 0211 0223 0320 0429 0503 0504 0505 0506 0720 0811 0921 0922 0923 1012 1103 1123",
    2027: "0101 0111 0211 0223 0321 0322 0429 0503 0504 0505 0719 0811 0920 0923 1011 1103 1123",
}


@pytest.mark.parametrize("year", sorted(EXPECTED_HOLIDAYS))
def test_public_holidays(year: int) -> None:
    assert sorted(d.strftime("%m%d") for d in holidays(year)) == EXPECTED_HOLIDAYS[year].split()


def test_year_end_closure_and_named_holidays() -> None:
    hours = OfficeHours()
    assert hours.closed_reason(dt.date(2025, 12, 29)) == "年末年始"
    assert hours.closed_reason(dt.date(2026, 9, 22)) == "国民の休日"
    assert hours.closed_reason(dt.date(2025, 2, 24)) == "振替休日"
    assert hours.closed_reason(dt.date(2025, 6, 2)) is None


def test_who_accessed_a_person(log: Log) -> None:
    from kiban.security.audit.report import accesses_to

    seen = accesses_to(log.db.app, "A-100")
    assert [(r.staff_code, r.action) for r in seen] == [("h2", "view"), ("h1", "view")]
    assert accesses_to(log.db.app, "A-100", start=dt.date(2025, 6, 13)) == ()
