"""Delivery (連携データの配信): outbox → each consumer's inbox, exactly once, every transfer logged.

Per consumer a cursor on the transactional outbox (``kiban.db.outbox.poll/ack``, cursor name
``linkage:<consumer>``). Each event of a subscribed dataset is delivered when a subscription of the
consumer is live (not revoked) and the event was published (outbox ``created_at``, in the office's
time zone) within its period; it is projected onto the subscribed items only, written to the
consumer's inbox and to the transfer log with the publisher's timestamp, the hub's ``delivered_at``
and — when the consumer acknowledges — its ``received_at`` (seed 000 リスク対策: 収受両システムの
タイムスタンプを記録). Events of other datasets or outside every period are passed over, never delivered.

Exactly-once effect: the log row (UNIQUE consumer × seq), the inbox row, the consumer's handler and
the cursor advance are in ONE transaction — the caller's. A crash or a handler error rolls all of it
back and the next run delivers the same events again; a replay of an already logged event changes
nothing.

By construction (seeds 000, 003): a consumer with ``uses_my_number = false`` goes through
``_plain_records`` only, whose result type is ``PlainRecord`` (no number field) and which never
touches the vault; only ``_numbered_records`` (a ``NumberedConsumer``) reads it, through the guard
and the access log (``kiban.linkage.numbers``). A runtime scan refuses any record whose body holds a
check-digit-valid 12-digit number (defence in depth) and logs the refusal naming the consumer.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

from kiban.db import outbox
from kiban.db.outbox import OutboxEvent
from kiban.linkage import numbers
from kiban.linkage.applications import Subscription, subscriptions_of
from kiban.linkage.errors import UnknownConsumer
from kiban.linkage.records import Delivered, NumberedRecord, PlainRecord, project_plain
from kiban.rules.linkage import Catalogue, ConsumerSpec, load_catalogue
from kiban.security.context import AccessContext
from kiban.shared import clock
from kiban.shared.mynumber import contains_my_number

__all__ = ["CURSOR_PREFIX", "Handler", "Run", "acknowledge", "deliver_batch", "deliver_pending", "read_inbox"]

log = logging.getLogger(__name__)
CURSOR_PREFIX = "linkage:"
Handler = Callable[[Connection, Delivered], None]


@dataclass(frozen=True)
class _Planned:
    event: OutboxEvent
    subscription: Subscription
    record: PlainRecord


def consumer_spec(code: str, catalogue: Catalogue | None = None) -> ConsumerSpec:
    try:
        return (catalogue or load_catalogue()).consumer(code)
    except KeyError:
        raise UnknownConsumer(
            f"連携先 {code} は登録されていません（kiban linkage catalogue で確認）"
        ) from None


def _published_on(event: OutboxEvent) -> dt.date:
    return event.created_at.astimezone(clock.office_zone()).date()


def _plain_records(
    conn: Connection,
    consumer: ConsumerSpec,
    events: Sequence[OutboxEvent],
    subs: Sequence[Subscription],
    cat: Catalogue,
) -> list[_Planned]:
    """Project each event onto its subscription's items. Reads no vault; returns PlainRecord only."""
    planned: list[_Planned] = []
    for e in events:
        dataset = cat.dataset_of_topic(e.topic)
        if dataset is None:
            continue
        day = _published_on(e)
        sub = next((s for s in subs if s.dataset == dataset.code and s.live_on(day)), None)
        if sub is None:
            continue  # outside every period of this consumer's subscriptions: never delivered
        record = project_plain(e, dataset, sub.items)
        if contains_my_number(json.dumps(record.to_json(), ensure_ascii=False, default=str)):
            _refuse(conn, consumer, e, "連携データに個人番号の形式の値が含まれていたため配信しませんでした")
            continue
        planned.append(_Planned(e, sub, record))
    return planned


def _refuse(conn: Connection, consumer: ConsumerSpec, event: OutboxEvent, reason: str) -> None:
    # Names the consumer, the topic and the outbox sequence — never the value.
    log.warning(
        "linkage: refused seq %s (%s) for consumer %s: %s", event.seq, event.topic, consumer.code, reason
    )
    conn.execute(
        text(
            "INSERT INTO linkage.refusal (consumer, seq, topic, reason) VALUES (:c, :s, :t, :r) "
            "ON CONFLICT DO NOTHING"
        ),
        {"c": consumer.code, "s": event.seq, "t": event.topic, "r": reason},
    )


def _numbered_records(
    conn: Connection,
    ctx: AccessContext | None,
    consumer: numbers.NumberedConsumer,
    planned: Sequence[_Planned],
    cat: Catalogue,
) -> dict[int, NumberedRecord]:
    """seq → NumberedRecord for the records whose subscription includes the 個人番号 item."""
    out: dict[int, NumberedRecord] = {}
    by_sub: dict[int, list[_Planned]] = {}
    for p in planned:
        dataset = cat.dataset(p.subscription.dataset)
        if any(dataset.item(i).contains_my_number for i in p.subscription.items):
            by_sub.setdefault(p.subscription.subscription_id, []).append(p)
    if not by_sub:
        return out
    context = ctx or _batch_context(conn, consumer)
    for sub_id, group in by_sub.items():
        found = numbers.numbers_for(
            conn,
            context,
            consumer,
            [p.record.person_no for p in group if p.record.person_no],
            dataset=group[0].subscription.dataset,
            subscription_id=sub_id,
        )
        for p in group:
            out[p.event.seq] = NumberedRecord(p.record, found.get(p.record.person_no or ""))
    return out


def _batch_context(conn: Connection, consumer: numbers.NumberedConsumer) -> AccessContext:
    from kiban.security.batch import batch_context

    return batch_context(
        conn, consumer.business, numbers.purpose_of(consumer), f"庁内連携 {consumer.spec.label}への配信"
    )


@dataclass(frozen=True)
class Run:
    """What one call did: records delivered, outbox events read (delivered or passed over)."""

    delivered: int
    polled: int


def deliver_pending(
    conn: Connection,
    *,
    consumer: str,
    handler: Handler | None = None,
    limit: int = 500,
    ctx: AccessContext | None = None,
) -> int:
    """Deliver the consumer's next events (at most ``limit`` outbox rows); return how many were
    delivered. Runs in the caller's transaction: commit it to make the delivery (and the cursor)
    durable; roll it back and the same events are delivered again next time.

    ``handler(conn, delivered)`` — the consumer's own work (e.g. the 中間サーバー's 副本登録), called
    once per delivered record in the same transaction; when it returns, the transfer is stamped
    ``received_at``. Without a handler the records wait in the inbox (``read_inbox``/``acknowledge``).
    ``ctx`` — who receives a 個人番号 for a My-Number consumer (default: the batch principal acting
    for the consumer's business, 処理事由 ``<business>.linkage``).

    A return of 0 does not mean the outbox is drained (a batch may hold only events outside the
    subscriptions); ``deliver_batch`` says how many events were read.
    """
    return deliver_batch(conn, consumer=consumer, handler=handler, limit=limit, ctx=ctx).delivered


def deliver_batch(
    conn: Connection,
    *,
    consumer: str,
    handler: Handler | None = None,
    limit: int = 500,
    ctx: AccessContext | None = None,
) -> Run:
    """``deliver_pending`` with the number of outbox events read (0: nothing more for now)."""
    cat = load_catalogue()
    spec = consumer_spec(consumer, cat)
    subs = subscriptions_of(conn, spec.code, lock=True)
    if not subs:
        return Run(0, 0)
    topics = sorted({t for s in subs for t in cat.dataset(s.dataset).topics})
    events = outbox.poll(conn, CURSOR_PREFIX + spec.code, topics, limit=limit)
    if not events:
        return Run(0, 0)
    planned = _plain_records(conn, spec, events, subs, cat)
    numbered: dict[int, NumberedRecord] = {}
    if spec.uses_my_number:
        numbered = _numbered_records(conn, ctx, numbers.numbered(spec), planned, cat)
    delivered = 0
    for p in planned:
        record: PlainRecord | NumberedRecord = numbered.get(p.event.seq, p.record)
        transfer_id = conn.execute(
            text(
                "INSERT INTO linkage.transfer (consumer, seq, subscription_id, dataset, topic, person_no, items, "
                "my_number_included, payload_sha256, published_at) VALUES "
                "(:c, :s, :sub, :d, :t, :p, :i, :mn, :h, :pub) ON CONFLICT (consumer, seq) DO NOTHING "
                "RETURNING transfer_id"
            ),
            {
                "c": spec.code,
                "s": p.event.seq,
                "sub": p.subscription.subscription_id,
                "d": p.subscription.dataset,
                "t": p.event.topic,
                "p": p.record.person_no,
                "i": list(p.subscription.items),
                "mn": isinstance(record, NumberedRecord) and record.my_number is not None,
                "h": p.record.digest(),
                "pub": p.event.created_at,
            },
        ).scalar()
        if transfer_id is None:
            continue  # already delivered (a replay): nothing changes
        conn.execute(
            text(
                "INSERT INTO linkage.inbox (transfer_id, consumer, payload) VALUES (:t, :c, CAST(:b AS jsonb))"
            ),
            {
                "t": transfer_id,
                "c": spec.code,
                "b": json.dumps(p.record.to_json(), ensure_ascii=False, default=str),
            },
        )
        if handler is not None:
            handler(conn, Delivered(int(transfer_id), spec.code, p.subscription.subscription_id, record))
            _stamp_received(conn, spec.code, [int(transfer_id)])
        delivered += 1
    outbox.ack(conn, CURSOR_PREFIX + spec.code, events[-1].seq)
    return Run(delivered, len(events))


def _stamp_received(conn: Connection, consumer: str, transfer_ids: Sequence[int]) -> int:
    result = conn.execute(
        text(
            "UPDATE linkage.transfer SET received_at = clock_timestamp() WHERE consumer = :c "
            "AND transfer_id = ANY(:ids) AND received_at IS NULL"
        ),
        {"c": consumer, "ids": list(transfer_ids)},
    )
    return int(result.rowcount or 0)


def read_inbox(conn: Connection, *, consumer: str, limit: int = 500) -> list[Delivered]:
    """The consumer's delivered records not yet acknowledged, oldest first. For a My-Number consumer
    the number is read again through the logged path (the inbox never stores it)."""
    cat = load_catalogue()
    spec = consumer_spec(consumer, cat)
    rows = conn.execute(
        text(
            "SELECT t.transfer_id, t.subscription_id, t.published_at, t.my_number_included, i.payload "
            "FROM linkage.transfer t JOIN linkage.inbox i ON i.transfer_id = t.transfer_id "
            "WHERE t.consumer = :c AND t.received_at IS NULL ORDER BY t.transfer_id LIMIT :n"
        ),
        {"c": spec.code, "n": limit},
    ).all()
    out = [
        Delivered(
            r.transfer_id, spec.code, r.subscription_id, PlainRecord.from_json(r.payload, r.published_at)
        )
        for r in rows
    ]
    if not spec.uses_my_number or not any(r.my_number_included for r in rows):
        return out
    consumer_n = numbers.numbered(spec)
    context = _batch_context(conn, consumer_n)
    wanted = [d for d, r in zip(out, rows, strict=True) if r.my_number_included]
    found = numbers.numbers_for(
        conn,
        context,
        consumer_n,
        [d.plain.person_no for d in wanted if d.plain.person_no],
        dataset=",".join(sorted({d.plain.dataset for d in wanted})),
        subscription_id=wanted[0].subscription_id,
    )
    keep = {d.transfer_id for d in wanted}
    return [
        Delivered(
            d.transfer_id,
            d.consumer,
            d.subscription_id,
            NumberedRecord(d.plain, found.get(d.plain.person_no or "")),
        )
        if d.transfer_id in keep
        else d
        for d in out
    ]


def acknowledge(conn: Connection, *, consumer: str, transfer_ids: Sequence[int]) -> int:
    """受領確認: the consumer has taken these records; stamps ``received_at`` (the consumer's timestamp
    in the transfer log). Returns how many were newly acknowledged (twice changes nothing)."""
    return _stamp_received(conn, consumer_spec(consumer).code, transfer_ids)
