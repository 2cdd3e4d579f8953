"""Helpers shared by the linkage tests (not fixtures)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, text

from kiban.linkage.applications import ApplicationForm


def form(
    consumer: str,
    dataset: str,
    items: tuple[str, ...],
    basis: str,
    *,
    valid_from: date = date(2024, 6, 1),
    valid_to: date | None = None,
    purpose: str = "資格確認のため",
) -> ApplicationForm:
    return ApplicationForm(consumer, dataset, items, basis, purpose, "業務外利用禁止", valid_from, valid_to)


def settle(engine: Engine, timeout: float = 120.0) -> None:
    """Wait until every outbox row is below the poll horizon (kiban.db.outbox: a row whose
    transaction id is not older than every running transaction waits). Transaction ids are
    cluster-wide, so a test session in another database of the shared test server can hold the
    horizon back for a while; nothing is ever skipped, only delayed."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM kiban_meta.outbox "
                    "WHERE xact_id >= pg_snapshot_xmin(pg_current_snapshot())"
                )
            ).scalar_one()
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{waiting} outbox rows still behind the poll horizon")
        time.sleep(0.1)
