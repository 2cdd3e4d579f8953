"""The staging build's scheduler (staging.run): several sessions, each job after what it needs, one
job of a group at a time, and the first error stops the others."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from kiban.identity import staging
from kiban.identity.repo import IdentityError
from kiban.identity.staging import Job


def _url(database_url: str) -> str:
    return database_url.replace("postgresql+psycopg://", "postgresql://")


class Clock:
    """When each job ran, and in which backend."""

    def __init__(self) -> None:
        self.spans: dict[str, tuple[float, float, int]] = {}
        self.lock = threading.Lock()

    def job(self, name: str, seconds: float, *, after: tuple[str, ...] = (), group: str | None = None) -> Job:
        def work(conn: psycopg.Connection[Any]) -> None:
            start = time.monotonic()
            row = conn.execute("SELECT pg_backend_pid(), pg_sleep(%s)", (seconds,)).fetchone()
            assert row is not None
            with self.lock:
                self.spans[name] = (start, time.monotonic(), row[0])

        return Job(name, work, frozenset(after), group)


def test_each_job_runs_after_what_it_needs_and_a_group_one_at_a_time(database_url: str) -> None:
    c = Clock()
    jobs = [
        c.job("a", 0.3),
        c.job("b", 0.3),
        c.job("c", 0.1, after=("a", "b")),
        c.job("g1", 0.3, group="fk"),
        c.job("g2", 0.3, group="fk"),
        c.job("d", 0.1, after=("c", "g1")),
    ]
    said: list[int] = []
    started = time.monotonic()
    staging.run(_url(database_url), jobs, 3, said.append)
    took = time.monotonic() - started
    s = c.spans
    assert set(s) == {"a", "b", "c", "g1", "g2", "d"}
    assert s["c"][0] >= max(s["a"][1], s["b"][1]) and s["d"][0] >= max(s["c"][1], s["g1"][1])
    first, second = sorted((s["g1"], s["g2"]))
    assert second[0] >= first[1]  # never side by side
    assert len({pid for _s, _e, pid in s.values()}) == 3  # three sessions did the work
    assert took < 1.2  # side by side: about 0.6 s (a ‖ b ‖ g1, then c ‖ g2, then d); one by one 1.4 s
    assert said == sorted(said) and said[-1] == len(jobs)


def test_the_first_error_stops_the_other_sessions_and_is_raised(database_url: str) -> None:
    c = Clock()

    def bad(conn: psycopg.Connection[Any]) -> None:
        time.sleep(0.3)
        conn.execute("SELECT 1 / 0")

    jobs = [Job("bad", bad), c.job("long", 30), c.job("later", 0.1, after=("long",))]
    started = time.monotonic()
    with pytest.raises(psycopg.errors.DivisionByZero):
        staging.run(_url(database_url), jobs, 2, lambda _k: None)
    assert time.monotonic() - started < 10  # the 30-second statement was cancelled
    assert "later" not in c.spans


def test_a_job_that_can_never_start_is_an_error_not_a_hang(database_url: str) -> None:
    c = Clock()
    jobs = [c.job("a", 0.1), c.job("b", 0.1, after=("not in the plan",))]
    with pytest.raises(IdentityError, match="残っています"):
        staging.run(_url(database_url), jobs, 2, lambda _k: None)
    assert set(c.spans) == {"a"}


def test_the_longest_chain_starts_first(database_url: str) -> None:
    """With one session the order is the rank: the trigram index of person_version (cost 10) and the
    steps waiting for it come before the short builds of the other tables."""
    with psycopg.connect(_url(database_url), autocommit=True) as conn:
        jobs = staging.plan(conn)
    rank = staging._ranks(jobs)
    order = [j.name for j in sorted(jobs, key=lambda j: -rank[j.name])]
    assert order[0] == "index identity.person_version_address"
    names = {j.name for j in jobs}
    assert {
        "attach person",
        "fk person_version",
        "validate my_number_vault",
        "triggers household_member",
    } <= names
    # every job is listed after what it needs (the ranks are computed in that order)
    seen: set[str] = set()
    for j in jobs:
        assert j.after <= seen, j.name
        seen.add(j.name)
