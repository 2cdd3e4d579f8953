"""The transactional outbox (送信箱): how a context tells others what changed.

A service writes its change and the outbox row in ONE transaction (``emit``), so an event exists
exactly when its change committed. A consumer reads in ``seq`` order from its cursor and advances
the cursor in the same transaction as its own work (``consume``), which gives exactly-once effect
at the consumer: a crash before commit replays the events, a commit records both.

Ordering: ``seq`` comes from an identity column, so a transaction that took a seq earlier may commit
it after a later seq of another transaction is already visible. ``poll`` must never pass over such an
in-flight seq, and it must not wait for transactions that cannot write the outbox. So a writer
announces itself before it takes its first seq of a transaction (``_enter``): a shared advisory lock
on a fixed key, then one on the negated first seq it holds; both vanish at commit or rollback. A
reader takes the sequence's last value first, then the advisory locks held in *this* database by
other sessions, and reads only up to the lowest seq still held (nothing at all while a writer is
between its two locks, which lasts microseconds). Every seq up to the sequence value read first was
taken by a writer that already held the fixed lock, so it is either committed and visible, or in
the lock table, or rolled back: nothing is ever skipped, and a long transaction in another database
(a batch, a bench, a backup) no longer holds delivery back. The earlier rule — stop at the first
visible row with ``xact_id >= pg_snapshot_xmin`` — waited on every transaction of the cluster, and
could still pass over a lower seq of a transaction whose xid was newer than the committed row's.

Payloads must never hold a 個人番号 (domain.md §10.9): ``emit`` refuses one, naming the topic only.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from kiban.shared.mynumber import contains_my_number


@dataclass(frozen=True)
class OutboxEvent:
    seq: int
    topic: str
    key: str
    occurred_on: dt.date | None
    payload: dict[str, Any]
    created_at: dt.datetime


class MyNumberInOutboxError(ValueError):
    def __init__(self, topic: str) -> None:
        super().__init__(f"送信箱のイベントに個人番号を含めることはできません（{topic}）")


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# pg_advisory_xact_lock_shared(int4, int4) key of "this transaction writes the outbox" ('kb', 'oxb').
_WRITER_KEY = (0x6B62, 0x6F7862)
_FIRST_SEQ_SETTING = "kiban.outbox_first_seq"


def _enter(conn: Connection) -> None:
    """Announce this transaction as an outbox writer, once per transaction (see the module docstring).

    The fixed lock comes first, in its own statement, then the first seq and the lock on its negation;
    every seq the transaction takes later is higher. A transaction-local setting remembers it was done.
    """
    entered = conn.execute(
        text("SELECT pg_advisory_xact_lock_shared(:k1, :k2), current_setting(:name, true)"),
        {"k1": _WRITER_KEY[0], "k2": _WRITER_KEY[1], "name": _FIRST_SEQ_SETTING},
    ).one()[1]
    if entered:
        return
    conn.execute(
        text(
            "SELECT pg_advisory_xact_lock_shared(-s.seq), set_config(:name, s.seq::text, true) "
            "FROM (SELECT nextval(pg_get_serial_sequence('kiban_meta.outbox', 'seq')) AS seq) s"
        ),
        {"name": _FIRST_SEQ_SETTING},
    )


def begin_bulk(conn: Connection) -> None:
    """Call before a set-based ``INSERT INTO kiban_meta.outbox … SELECT`` written in SQL."""
    _enter(conn)


def _body(topic: str, key: str, payload: Mapping[str, Any]) -> str:
    body = json.dumps(payload, ensure_ascii=False, default=_json_default, sort_keys=True)
    if contains_my_number(body) or contains_my_number(key):
        raise MyNumberInOutboxError(topic)
    return body


_INSERT = text(
    "INSERT INTO kiban_meta.outbox (topic, key, occurred_on, payload) "
    "VALUES (:topic, :key, :occurred_on, CAST(:payload AS jsonb))"
)


def emit(
    conn: Connection,
    topic: str,
    key: str,
    payload: Mapping[str, Any],
    *,
    occurred_on: dt.date | None = None,
) -> None:
    """Append one event in the caller's transaction."""
    body = _body(topic, key, payload)
    _enter(conn)
    conn.execute(_INSERT, {"topic": topic, "key": key, "occurred_on": occurred_on, "payload": body})


def emit_many(conn: Connection, rows: Sequence[tuple[str, str, dt.date | None, Mapping[str, Any]]]) -> None:
    """Append several events (topic, key, occurred_on, payload) in one statement."""
    params = [
        {"topic": topic, "key": key, "occurred_on": occurred_on, "payload": _body(topic, key, payload)}
        for topic, key, occurred_on, payload in rows
    ]
    if params:
        _enter(conn)
        conn.execute(_INSERT, params)


def _topic_clause(topics: Sequence[str]) -> str:
    # A topic pattern ending in '.*' subscribes to a family ("identity.resident.*").
    return " OR ".join(
        f"topic LIKE :t{i}" if t.endswith("*") else f"topic = :t{i}" for i, t in enumerate(topics)
    )


def poll(conn: Connection, consumer: str, topics: Sequence[str], *, limit: int = 500) -> list[OutboxEvent]:
    """The next events for ``consumer`` after its cursor, locking the cursor row until commit (two
    workers of one consumer never take the same events)."""
    conn.execute(
        text("INSERT INTO kiban_meta.outbox_cursor (consumer) VALUES (:c) ON CONFLICT DO NOTHING"),
        {"c": consumer},
    )
    last = conn.execute(
        text("SELECT last_seq FROM kiban_meta.outbox_cursor WHERE consumer = :c FOR UPDATE"), {"c": consumer}
    ).scalar_one()
    params: dict[str, Any] = {"last": last, "limit": limit}
    for i, t in enumerate(topics):
        params[f"t{i}"] = t[:-1] + "%" if t.endswith("*") else t
    # 1. Every seq up to ``bound`` was taken by a writer already holding the fixed lock.
    bound = conn.execute(
        text("SELECT pg_sequence_last_value(pg_get_serial_sequence('kiban_meta.outbox', 'seq'))")
    ).scalar()
    if bound is None or bound <= last:
        return []
    # 2. Writers of this database still in flight (other sessions; prepared transactions too): the
    #    lowest seq each holds. One between its two locks holds no seq yet: wait for it.
    writers = conn.execute(
        text(
            "SELECT bool_or(objsubid = 2 AND classid = :k1 AND objid = :k2) AS writer, "
            "       min(-((classid::bigint << 32) | objid::bigint)) FILTER (WHERE objsubid = 1 "
            "           AND (classid::bigint << 32) | objid::bigint < 0) AS first_seq "
            "FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND pid IS DISTINCT FROM pg_backend_pid() "
            "GROUP BY pid, virtualtransaction"
        ),
        {"k1": _WRITER_KEY[0], "k2": _WRITER_KEY[1]},
    ).all()
    held = [w.first_seq for w in writers if w.writer]
    if any(seq is None for seq in held):
        return []
    upper = min([bound + 1, *held])
    params["upper"] = upper
    # 3. Committed rows below both.
    rows = conn.execute(
        text(
            "SELECT seq, topic, key, occurred_on, payload, created_at FROM kiban_meta.outbox "
            f"WHERE seq > :last AND seq < :upper AND ({_topic_clause(topics)}) "
            "ORDER BY seq LIMIT :limit"
        ),
        params,
    ).all()
    return [OutboxEvent(r.seq, r.topic, r.key, r.occurred_on, r.payload, r.created_at) for r in rows]


def ack(conn: Connection, consumer: str, seq: int) -> None:
    """Advance the consumer's cursor (in the consumer's transaction)."""
    conn.execute(
        text(
            "UPDATE kiban_meta.outbox_cursor SET last_seq = greatest(last_seq, :seq), updated_at = now() "
            "WHERE consumer = :c"
        ),
        {"c": consumer, "seq": seq},
    )


def cursor(conn: Connection, consumer: str) -> int:
    value = conn.execute(
        text("SELECT last_seq FROM kiban_meta.outbox_cursor WHERE consumer = :c"), {"c": consumer}
    ).scalar()
    return int(value or 0)
