"""Delivery through the outbox: only subscribed items, only within the period, exactly once, logged."""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta

import pytest
from sqlalchemy import Connection, Engine, text

from kiban.db import outbox
from kiban.linkage import applications, delivery
from kiban.linkage.records import Delivered, NumberedRecord, PlainRecord
from kiban.shared import clock

QUAL = {
    "person_no": "1700000001",
    "insurer_no": "992011",
    "insured_no": "0000012345",
    "category": 1,
    "category_label": "第1号被保険者",
    "acquired_on": "2026-04-01",
    "acquire_reason": "01",
    "lost_on": None,
    "loss_reason": None,
    "qualification_id": 7,
}


def publish(engine: Engine, topic: str, payload: dict[str, object], key: str | None = None) -> None:
    with engine.begin() as conn:
        outbox.emit(
            conn, topic, key or str(payload.get("person_no", "x")), payload, occurred_on=date(2026, 4, 1)
        )


def deliver(engine: Engine, consumer: str, handler: delivery.Handler | None = None) -> int:
    with engine.begin() as conn:
        return delivery.deliver_pending(conn, consumer=consumer, handler=handler)


def transfers(engine: Engine, consumer: str) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.*, i.payload FROM linkage.transfer t JOIN linkage.inbox i USING (transfer_id) "
                "WHERE t.consumer = :c ORDER BY seq"
            ),
            {"c": consumer},
        ).mappings()
        return [dict(r) for r in rows]


def test_an_unsubscribed_item_or_dataset_never_reaches_the_consumer(
    db_engine: Engine, clean_linkage: None, subscribe
) -> None:
    subscribe("juki", "kaigo.qualification", ("insured_no", "acquired_on", "lost_on"), "jumin-kihon-daicho-7")
    publish(db_engine, "kaigo.qualification.acquired", QUAL)
    publish(db_engine, "identity.resident.moved_within", {"person_no": "1700000001", "type": "転居"})
    publish(db_engine, "identity.facts.tax_income.changed", {"person_no": "1700000001", "taxable": True})
    seen: list[Delivered] = []
    assert deliver(db_engine, "juki", lambda conn, d: seen.append(d)) == 1
    (d,) = seen
    assert isinstance(d.record, PlainRecord)
    assert dict(d.record.items) == {"insured_no": "0000012345", "acquired_on": "2026-04-01", "lost_on": None}
    assert (d.record.person_no, d.record.topic, d.record.dataset) == (
        "1700000001",
        "kaigo.qualification.acquired",
        "kaigo.qualification",
    )
    (row,) = transfers(db_engine, "juki")
    assert row["items"] == ["insured_no", "acquired_on", "lost_on"]
    assert set(row["payload"]["items"]) == {"insured_no", "acquired_on", "lost_on"}  # type: ignore[index]
    assert "category" not in json.dumps(row["payload"])
    assert row["payload_sha256"] == d.record.digest()
    # Nothing more to deliver: the other datasets are not this consumer's.
    assert deliver(db_engine, "juki") == 0


def test_expired_future_and_revoked_subscriptions_deliver_nothing(
    db_engine: Engine, app_engine: Engine, clean_linkage: None, subscribe, renkei
) -> None:
    today = clock.today()
    subscribe(
        "juki", "kaigo.qualification", ("insured_no",), "jumin-kihon-daicho-7",
        valid_from=date(2025, 1, 1), valid_to=today - timedelta(days=1),
    )  # fmt: skip
    subscribe(
        "chiiki_houkatsu", "kaigo.qualification", ("insured_no",), "hogo69-chiiki-houkatsu",
        valid_from=today + timedelta(days=1),
    )  # fmt: skip
    live = subscribe("kenko", "kaigo.qualification", ("insured_no",), "jorei-kenko")
    publish(db_engine, "kaigo.qualification.acquired", QUAL)
    assert deliver(db_engine, "juki") == 0
    assert deliver(db_engine, "chiiki_houkatsu") == 0
    assert deliver(db_engine, "kenko") == 1
    with app_engine.begin() as conn:
        applications.revoke(conn, renkei(), subscription_id=live, reason="事業終了")
    publish(db_engine, "kaigo.qualification.lost", QUAL | {"lost_on": "2026-05-01"})
    assert deliver(db_engine, "kenko") == 0
    assert [t["topic"] for t in transfers(db_engine, "kenko")] == ["kaigo.qualification.acquired"]
    assert transfers(db_engine, "juki") == [] and transfers(db_engine, "chiiki_houkatsu") == []


def test_a_rollback_mid_delivery_then_a_rerun_delivers_each_event_exactly_once(
    db_engine: Engine, clean_linkage: None, subscribe
) -> None:
    subscribe("chukan", "kaigo.qualification", ("insurer_no", "insured_no"), "bango19-8-shorei-kaigo")
    for n in range(5):
        publish(db_engine, "kaigo.qualification.acquired", QUAL | {"person_no": f"17000000{n:02d}"})
    effects: list[int] = []

    def crashing(conn: Connection, d: Delivered) -> None:
        # The consumer's own work, in the delivery's transaction (the 中間サーバー's 副本登録).
        conn.execute(text("SELECT 1"))
        effects.append(d.record.seq if isinstance(d.record, PlainRecord) else -1)
        if len(effects) == 3:
            raise RuntimeError("the consumer crashed")

    with pytest.raises(RuntimeError):
        deliver(db_engine, "chukan", crashing)
    assert transfers(db_engine, "chukan") == []
    with db_engine.connect() as conn:
        assert outbox.cursor(conn, "linkage:chukan") == 0
    done: list[int] = []
    assert deliver(db_engine, "chukan", lambda conn, d: done.append(d.plain.seq)) == 5
    assert len(done) == len(set(done)) == 5
    # A replay of the same events (the cursor put back, as after a lost acknowledgement) changes nothing.
    with db_engine.begin() as conn:
        conn.execute(
            text("UPDATE kiban_meta.outbox_cursor SET last_seq = 0 WHERE consumer = 'linkage:chukan'")
        )
    again: list[int] = []
    assert deliver(db_engine, "chukan", lambda conn, d: again.append(1)) == 0
    assert again == []
    assert [t["seq"] for t in transfers(db_engine, "chukan")] == sorted(done)


def test_the_transfer_log_keeps_both_systems_timestamps(
    db_engine: Engine, clean_linkage: None, subscribe
) -> None:
    subscribe("juki", "kaigo.qualification", ("insured_no",), "jumin-kihon-daicho-7")
    publish(db_engine, "kaigo.qualification.acquired", QUAL)
    assert deliver(db_engine, "juki") == 1
    with db_engine.connect() as conn:
        created = conn.execute(text("SELECT created_at FROM kiban_meta.outbox")).scalar_one()
        inbox = delivery.read_inbox(conn, consumer="juki")
    (row,) = transfers(db_engine, "juki")
    assert row["published_at"] == created
    assert row["delivered_at"] >= created  # type: ignore[operator]
    assert row["received_at"] is None
    assert [d.transfer_id for d in inbox] == [row["transfer_id"]]
    with db_engine.begin() as conn:
        assert delivery.acknowledge(conn, consumer="juki", transfer_ids=[row["transfer_id"]]) == 1  # type: ignore[list-item]
        assert delivery.acknowledge(conn, consumer="juki", transfer_ids=[row["transfer_id"]]) == 0  # type: ignore[list-item]
    (row,) = transfers(db_engine, "juki")
    assert row["received_at"] >= row["delivered_at"]  # type: ignore[operator]
    with db_engine.connect() as conn:
        assert delivery.read_inbox(conn, consumer="juki") == []


def test_a_number_slipped_into_an_event_is_refused_naming_the_consumer(
    db_engine: Engine, clean_linkage: None, subscribe, caplog: pytest.LogCaptureFixture
) -> None:
    import random

    from kiban.shared import mynumber

    digits = mynumber.generate(random.Random("linkage-slip"))
    subscribe("juki", "kaigo.qualification", ("insured_no",), "jumin-kihon-daicho-7")
    # A publisher bypassing outbox.emit (which refuses numbers) — the hub must still not pass it on.
    with db_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO kiban_meta.outbox (topic, key, payload) VALUES "
                "('kaigo.qualification.acquired', '1700000001', CAST(:p AS jsonb))"
            ),
            {"p": json.dumps(QUAL | {"insured_no": digits})},
        )
    try:
        with caplog.at_level(logging.WARNING, logger="kiban.linkage"):
            assert deliver(db_engine, "juki") == 0
        assert transfers(db_engine, "juki") == []
        with db_engine.connect() as conn:
            refusal = conn.execute(text("SELECT consumer, reason FROM linkage.refusal")).one()
        assert refusal.consumer == "juki" and "個人番号" in refusal.reason
        assert any("juki" in r.getMessage() for r in caplog.records)
        assert all(digits not in r.getMessage() for r in caplog.records)
    finally:
        with db_engine.begin() as conn:  # the session's leak scan must not find it in the outbox
            conn.execute(text("DELETE FROM kiban_meta.outbox"))


def test_an_unknown_consumer_is_refused_by_name(db_engine: Engine) -> None:
    with db_engine.begin() as conn, pytest.raises(delivery.UnknownConsumer, match="nosuch"):
        delivery.deliver_pending(conn, consumer="nosuch")


def test_numbered_record_never_prints_its_number() -> None:
    import datetime as dt

    plain = PlainRecord(
        1, "atena.basic", "identity.person.changed", "1700000001", None, dt.datetime.now(dt.UTC)
    )
    assert "123456789018" not in repr(NumberedRecord(plain, "123456789018"))


def test_the_application_role_can_deliver(
    app_engine: Engine, db_engine: Engine, clean_linkage: None, subscribe
) -> None:
    """The web application and the 中間サーバー run as kiban_app: delivery needs no owner rights, and the
    transfer log cannot be rewritten by it (only ``received_at`` is stamped)."""
    subscribe("chukan", "kaigo.qualification", ("insured_no",), "bango19-8-shorei-kaigo")
    publish(app_engine, "kaigo.qualification.acquired", QUAL)
    with app_engine.begin() as conn:
        assert delivery.deliver_pending(conn, consumer="chukan", handler=lambda c, d: None) == 1
    from sqlalchemy.exc import ProgrammingError

    with app_engine.begin() as conn, pytest.raises(ProgrammingError, match="permission denied"):
        conn.execute(text("UPDATE linkage.transfer SET items = ARRAY['x']"))
    with app_engine.begin() as conn, pytest.raises(ProgrammingError, match="permission denied"):
        conn.execute(text("DELETE FROM linkage.transfer"))
