"""Typed read models of 庁内連携 (連携データ): what a consumer receives.

A consumer not allowed to use My Number (番号法第9条; seeds 000, 003: 個人番号利用事務以外へは個人番号を
連携しない) receives ``PlainRecord`` — a type that has no number field at all. Only a My-Number
consumer receives ``NumberedRecord``, which is *not* a subclass of ``PlainRecord``: a function typed
to return ``PlainRecord`` cannot hand one over by mistake (mypy refuses it), and the plain projection
below reads only outbox payload keys, which ``kiban.db.outbox.emit`` guarantees hold no 個人番号.

Pure: no database, no vault.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kiban.db.outbox import OutboxEvent
from kiban.rules.linkage import DatasetSpec

JsonValue = str | int | float | bool | None | list[Any] | dict[str, Any]


@dataclass(frozen=True)
class PlainRecord:
    """連携データ（個人番号なし）: the envelope and the subscribed items that are not the number."""

    seq: int  # outbox sequence
    dataset: str
    topic: str
    person_no: str | None  # 宛名番号 (the key given to every business, domain.md §3)
    occurred_on: dt.date | None
    published_at: dt.datetime  # the publisher's timestamp (outbox created_at)
    items: Mapping[str, JsonValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The body stored in the consumer's inbox and digested in the transfer log."""
        return {
            "seq": self.seq,
            "dataset": self.dataset,
            "topic": self.topic,
            "person_no": self.person_no,
            "occurred_on": self.occurred_on.isoformat() if self.occurred_on else None,
            "items": dict(self.items),
        }

    def digest(self) -> str:
        body = json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode("utf-8")).hexdigest()

    @classmethod
    def from_json(cls, body: Mapping[str, Any], published_at: dt.datetime) -> PlainRecord:
        occurred = body.get("occurred_on")
        return cls(
            seq=int(body["seq"]),
            dataset=str(body["dataset"]),
            topic=str(body["topic"]),
            person_no=body.get("person_no"),
            occurred_on=dt.date.fromisoformat(occurred) if occurred else None,
            published_at=published_at,
            items=dict(body.get("items") or {}),
        )


@dataclass(frozen=True)
class NumberedRecord:
    """連携データ（個人番号つき）: for a 個人番号利用事務 only. ``my_number`` is None when the vault holds
    no number for the person. Never stored: built in memory at hand-over (see ``numbers``)."""

    record: PlainRecord
    my_number: str | None = field(repr=False)

    def __repr__(self) -> str:  # never print the number (logs, tracebacks)
        return f"NumberedRecord(record={self.record!r}, my_number=<{'あり' if self.my_number else 'なし'}>)"


@dataclass(frozen=True)
class Delivered:
    """One delivery handed to a consumer's handler (in the transaction of its transfer-log row)."""

    transfer_id: int
    consumer: str
    subscription_id: int
    record: PlainRecord | NumberedRecord

    @property
    def plain(self) -> PlainRecord:
        """The record without the number (for code that needs only the items)."""
        return self.record.record if isinstance(self.record, NumberedRecord) else self.record


def person_no_of(event: OutboxEvent) -> str | None:
    value = event.payload.get("person_no")
    return str(value) if value else None


def project_plain(event: OutboxEvent, dataset: DatasetSpec, items: tuple[str, ...]) -> PlainRecord:
    """The event projected onto the subscribed items that come from the payload (never the vault,
    never an item that contains the 個人番号 — catalogue flag)."""
    allowed = {
        i.code
        for i in dataset.items
        if i.code in items and i.source == "payload" and not i.contains_my_number
    }
    return PlainRecord(
        seq=event.seq,
        dataset=dataset.code,
        topic=event.topic,
        person_no=person_no_of(event),
        occurred_on=event.occurred_on,
        published_at=event.created_at,
        items={k: v for k, v in sorted(event.payload.items()) if k in allowed},
    )
