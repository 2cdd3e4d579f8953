"""The outbox's poll horizon: never pass over a seq still in flight, never wait for what cannot write.

kiban.db.outbox: a writer holds a shared advisory lock and one on its first seq until it ends; a
reader stops below the lowest seq held by another session of this database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text

from kiban.db import outbox
from kiban.db.engine import get_app_engine

TOPIC = "test.horizon"


@pytest.fixture
def consumer() -> str:
    return "horizon-" + uuid.uuid4().hex[:8]


@pytest.fixture
def topic() -> Iterator[str]:
    yield f"{TOPIC}.{uuid.uuid4().hex[:8]}"


def _keys(engine: Engine, consumer: str, topic: str) -> list[str]:
    with engine.begin() as conn:
        return [e.key for e in outbox.poll(conn, consumer, [topic])]


def test_a_lower_seq_of_a_newer_transaction_is_not_passed_over(
    db_engine: Engine, consumer: str, topic: str
) -> None:
    # B gets its xid first, A takes the lower seq, B the higher one and commits first. The old rule
    # (stop at the first visible row with xact_id >= pg_snapshot_xmin) delivered B's row here,
    # because B's xid is older than A's — and A's event was then skipped for ever.
    with db_engine.connect() as a, db_engine.connect() as b:
        tb = b.begin()
        b.execute(text("SELECT pg_current_xact_id()"))  # B's xid is assigned now
        ta = a.begin()
        a.execute(text("SELECT pg_current_xact_id()"))
        outbox.emit(a, topic, "a-lower-seq", {})
        outbox.emit(b, topic, "b-higher-seq", {})
        tb.commit()
        assert _keys(db_engine, consumer, topic) == []  # B waits behind A's in-flight lower seq
        ta.commit()
    assert _keys(db_engine, consumer, topic) == ["a-lower-seq", "b-higher-seq"]


def test_a_long_transaction_in_another_database_does_not_hold_delivery_back(
    db_engine: Engine, pg_admin_url: str, consumer: str, topic: str
) -> None:
    # A batch, a bench or a backup in another database of the same server keeps pg_snapshot_xmin
    # back for as long as it runs; under the old rule every consumer here stalled behind it.
    with psycopg.connect(pg_admin_url) as other:
        other.execute("SELECT pg_current_xact_id()")  # an open transaction with an xid, elsewhere
        with db_engine.begin() as conn:
            outbox.emit(conn, topic, "delivered", {})
        assert _keys(db_engine, consumer, topic) == ["delivered"]
        other.rollback()


def test_a_long_transaction_here_that_writes_no_event_does_not_hold_delivery_back(
    db_engine: Engine, consumer: str, topic: str
) -> None:
    with db_engine.connect() as long:
        tx = long.begin()
        long.execute(text("SELECT pg_current_xact_id()"))
        with db_engine.begin() as conn:
            outbox.emit(conn, topic, "delivered", {})
        assert _keys(db_engine, consumer, topic) == ["delivered"]
        tx.rollback()


def test_a_writer_between_its_two_locks_makes_the_reader_wait(
    db_engine: Engine, consumer: str, topic: str
) -> None:
    with db_engine.begin() as conn:
        outbox.emit(conn, topic, "committed", {})
    with db_engine.connect() as half:
        tx = half.begin()
        # What _enter does first: the writer's lock, before it has taken a seq.
        half.execute(
            text("SELECT pg_advisory_xact_lock_shared(:k1, :k2)"),
            {"k1": outbox._WRITER_KEY[0], "k2": outbox._WRITER_KEY[1]},
        )
        assert _keys(db_engine, consumer, topic) == []
        tx.rollback()
    assert _keys(db_engine, consumer, topic) == ["committed"]


def test_a_rolled_back_writer_leaves_a_gap_that_is_passed(
    db_engine: Engine, consumer: str, topic: str
) -> None:
    with db_engine.connect() as gone:
        tx = gone.begin()
        outbox.emit(gone, topic, "rolled-back", {})
        with db_engine.begin() as conn:
            outbox.emit(conn, topic, "kept", {})
        assert _keys(db_engine, consumer, topic) == []
        tx.rollback()
    with db_engine.begin() as conn:
        got = outbox.poll(conn, consumer, [topic])
        assert [e.key for e in got] == ["kept"]
        outbox.ack(conn, consumer, got[-1].seq)
    assert _keys(db_engine, consumer, topic) == []


def test_a_set_based_insert_announced_with_begin_bulk_is_waited_for(
    db_engine: Engine, consumer: str, topic: str
) -> None:
    with db_engine.connect() as bulk:
        tx = bulk.begin()
        outbox.begin_bulk(bulk)
        bulk.execute(
            text(
                "INSERT INTO kiban_meta.outbox (topic, key, payload) "
                "SELECT :t, 'bulk-' || g, '{}'::jsonb FROM generate_series(1, 3) g"
            ),
            {"t": topic},
        )
        with db_engine.begin() as conn:
            outbox.emit(conn, topic, "after", {})
        assert _keys(db_engine, consumer, topic) == []
        tx.commit()
    assert _keys(db_engine, consumer, topic) == ["bulk-1", "bulk-2", "bulk-3", "after"]


def test_the_application_role_can_write_and_read_with_the_horizon(
    database_url: str, consumer: str, topic: str
) -> None:
    app = get_app_engine(database_url)
    with app.begin() as conn:
        outbox.emit(conn, topic, "as-kiban_app", {})
        outbox.emit_many(conn, [(topic, "second", None, {})])
    assert _keys(app, consumer, topic) == ["as-kiban_app", "second"]
