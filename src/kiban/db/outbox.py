"""The transactional outbox (送信箱): how a context tells others what changed.

A service writes its change and the outbox row in ONE transaction (``emit``), so an event exists
exactly when its change committed. A consumer reads in ``seq`` order from its cursor and advances
the cursor in the same transaction as its own work (``consume``), which gives exactly-once effect
at the consumer: a crash before commit replays the events, a commit records both.

Ordering: ``seq`` comes from an identity column, so a transaction that started earlier may commit a
lower ``seq`` after a reader has passed it. ``poll`` therefore stops before the first row whose
transaction is not yet visible to every snapshot (``xact_id >= pg_snapshot_xmin``) — nothing is
ever skipped. The linkage hub (庁内連携, issue 8) builds subscriptions and legal-basis checks on it.

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


def emit(
    conn: Connection,
    topic: str,
    key: str,
    payload: Mapping[str, Any],
    *,
    occurred_on: dt.date | None = None,
) -> None:
    """Append one event in the caller's transaction."""
    body = json.dumps(payload, ensure_ascii=False, default=_json_default, sort_keys=True)
    if contains_my_number(body) or contains_my_number(key):
        raise MyNumberInOutboxError(topic)
    conn.execute(
        text(
            "INSERT INTO kiban_meta.outbox (topic, key, occurred_on, payload) "
            "VALUES (:topic, :key, :occurred_on, CAST(:payload AS jsonb))"
        ),
        {"topic": topic, "key": key, "occurred_on": occurred_on, "payload": body},
    )


def emit_many(conn: Connection, rows: Sequence[tuple[str, str, dt.date | None, Mapping[str, Any]]]) -> None:
    """Append several events (topic, key, occurred_on, payload) in one statement."""
    params = []
    for topic, key, occurred_on, payload in rows:
        body = json.dumps(payload, ensure_ascii=False, default=_json_default, sort_keys=True)
        if contains_my_number(body) or contains_my_number(key):
            raise MyNumberInOutboxError(topic)
        params.append({"topic": topic, "key": key, "occurred_on": occurred_on, "payload": body})
    if params:
        conn.execute(
            text(
                "INSERT INTO kiban_meta.outbox (topic, key, occurred_on, payload) "
                "VALUES (:topic, :key, :occurred_on, CAST(:payload AS jsonb))"
            ),
            params,
        )


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
    horizon = conn.execute(
        text(
            "SELECT min(seq) FROM kiban_meta.outbox WHERE seq > :last "
            "AND xact_id >= pg_snapshot_xmin(pg_current_snapshot()) AND xact_id IS DISTINCT FROM pg_current_xact_id_if_assigned()"
        ),
        {"last": last},
    ).scalar()
    rows = conn.execute(
        text(
            "SELECT seq, topic, key, occurred_on, payload, created_at FROM kiban_meta.outbox "
            f"WHERE seq > :last AND ({_topic_clause(topics)}) "
            + ("AND seq < :horizon " if horizon is not None else "")
            + "ORDER BY seq LIMIT :limit"
        ),
        params | ({"horizon": horizon} if horizon is not None else {}),
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
