"""Sealing the access log in the background (封印: SHA-256 hash chain).

Requests only INSERT log rows; this batch job chains them afterwards, so no request ever waits on a
single "last hash" row (architecture.md §6: keep hot paths free of single-row locks).

Chain order is ``(xid, id)``, not ``id`` alone: identity values are handed out at INSERT time but
transactions commit in any order, so a row with a smaller id may become visible after a larger one.
A batch takes only rows whose writing transaction is older than every transaction that may still
write to this log — no such transaction can still be running, and every later row gets a larger
xid — so the set of rows before the seal cursor is closed for good and a late commit is never skipped.

That horizon is the snapshot's ``xmin`` minus the transactions known to run in *other* databases of
the same cluster (xids are cluster-wide; a long transaction elsewhere must not stall our sealing).
A transaction whose database cannot be told is kept, so the horizon only ever errs on the safe side.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from sqlalchemy import Connection, Engine

from kiban.security.audit.canonical import GENESIS, ROW_SELECT, link, row_hash

_log = logging.getLogger(__name__)

# One sealer at a time (pg_try_advisory_xact_lock); a second one just returns.
SEAL_LOCK_KEY = 0x6B6962616E415544  # "kibanAUD"
DEFAULT_BATCH = 20_000

_BATCH_SQL = (
    f"SELECT {ROW_SELECT} FROM audit.access_log l "
    "WHERE l.xid < %(xmin)s::xid8 AND (l.xid, l.id) > (%(xid)s::xid8, %(id)s) "
    "ORDER BY l.xid, l.id LIMIT %(limit)s"
)


@dataclass(frozen=True)
class SealHead:
    """The end of the sealed chain: ``count`` rows, the last one ``last_id``."""

    count: int
    last_id: int | None
    last_xid: int
    chain_hash: bytes


def driver_connection(conn: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under a SQLAlchemy one (same transaction), for COPY and named cursors."""
    return cast("psycopg.Connection[Any]", conn.connection.driver_connection)


def head(conn: Connection) -> SealHead:
    row = conn.exec_driver_sql(
        "SELECT seq, id, xid::text, chain_hash FROM audit.seal ORDER BY seq DESC LIMIT 1"
    ).first()
    if row is None:
        return SealHead(0, None, 0, GENESIS)
    return SealHead(int(row[0]), int(row[1]), int(row[2]), bytes(row[3]))


# pg_stat_activity.backend_xid is visible to every role; prepared transactions name their database.
_HORIZON_SQL = """
WITH elsewhere AS (
    SELECT backend_xid AS x FROM pg_stat_activity
     WHERE backend_xid IS NOT NULL AND datid IS NOT NULL
       AND datid <> (SELECT oid FROM pg_database WHERE datname = current_database())
    UNION ALL
    SELECT transaction FROM pg_prepared_xacts WHERE database <> current_database()
)
SELECT coalesce(
    (SELECT min(x8) FROM pg_snapshot_xip(pg_current_snapshot()) AS x8
      WHERE NOT EXISTS (SELECT 1 FROM elsewhere e WHERE e.x = xid(x8))),
    pg_snapshot_xmax(pg_current_snapshot()))::text
"""


def horizon(conn: Connection) -> int:
    """Every row written by a transaction with xid below this is final (committed or gone)."""
    return int(conn.exec_driver_sql(_HORIZON_SQL).scalar_one())


def _seal_batch(conn: Connection, batch_size: int) -> int:
    start = head(conn)
    xmin = str(horizon(conn))
    raw = driver_connection(conn)
    with raw.cursor() as cur:
        cur.execute(
            _BATCH_SQL,
            {"xmin": xmin, "xid": str(start.last_xid), "id": start.last_id or 0, "limit": batch_size},
        )
        rows = cur.fetchall()
        if not rows:
            return 0
        seq, chain = start.count, start.chain_hash
        with cur.copy("COPY audit.seal (seq, id, xid, row_hash, chain_hash) FROM STDIN") as copy:
            for row in rows:
                rhash = row_hash(row)
                chain = link(chain, row[0], rhash)
                seq += 1
                copy.write_row((seq, row[0], row[15], rhash, chain))
    return len(rows)


def seal(engine: Engine, *, batch_size: int = DEFAULT_BATCH) -> int:
    """Chain every row that can be sealed now; return how many were sealed.

    Each batch is its own short transaction. If another sealer holds the lock, return at once.
    """
    total = 0
    while True:
        with engine.begin() as conn:
            locked = conn.exec_driver_sql("SELECT pg_try_advisory_xact_lock(%(k)s)", {"k": SEAL_LOCK_KEY})
            if not locked.scalar_one():
                _log.info("another sealer is running")
                return total
            sealed = _seal_batch(conn, batch_size)
        total += sealed
        if sealed < batch_size:
            return total


def run_periodically(engine: Engine, *, interval: float, stop: threading.Event) -> None:
    """Seal every ``interval`` seconds until ``stop`` is set (a background thread or `kiban audit seal --every`)."""
    while not stop.is_set():
        try:
            sealed = seal(engine)
            if sealed:
                _log.info("sealed %d access-log rows", sealed)
        except Exception:  # keep sealing after a transient database error; the next round catches up
            _log.exception("audit sealing failed")
        stop.wait(interval)
