"""The transfer log (連携記録): what moved, to whom, under which subscription, with both timestamps.

Seed 000 リスク対策 (特定個人情報の提供・移転): 連携時のログ、アクセスログ、収受両システムの
タイムスタンプを記録しチェックできる仕組み. A search is logged with the persons (宛名番号) shown.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from kiban.linkage.applications import in_renkei
from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action


@dataclass(frozen=True)
class TransferFilter:
    consumer: str | None = None
    dataset: str | None = None
    date_from: dt.date | None = None  # delivered on or after (office day)
    date_to: dt.date | None = None  # delivered on or before (office day)
    limit: int = 200


@dataclass(frozen=True)
class TransferRow:
    transfer_id: int
    consumer: str
    dataset: str
    topic: str
    seq: int
    person_no: str | None
    items: tuple[str, ...]
    my_number_included: bool
    payload_sha256: str
    published_at: dt.datetime
    delivered_at: dt.datetime
    received_at: dt.datetime | None
    subscription_id: int


def search(conn: Connection, ctx: AccessContext, f: TransferFilter) -> tuple[list[TransferRow], int]:
    """The newest transfers matching ``f`` (at most ``f.limit``) and how many match in all."""
    in_renkei(ctx)
    guard.require(conn, ctx, action=Action.SEARCH, log=False)
    where = (
        "(CAST(:c AS text) IS NULL OR consumer = :c) AND (CAST(:d AS text) IS NULL OR dataset = :d) "
        "AND (CAST(:f AS date) IS NULL OR delivered_at >= CAST(:f AS date)::timestamp AT TIME ZONE 'Asia/Tokyo') "
        "AND (CAST(:t AS date) IS NULL OR delivered_at < (CAST(:t AS date) + 1)::timestamp AT TIME ZONE 'Asia/Tokyo')"
    )
    params: dict[str, Any] = {"c": f.consumer, "d": f.dataset, "f": f.date_from, "t": f.date_to, "n": f.limit}
    total = int(
        conn.execute(text(f"SELECT count(*) FROM linkage.transfer WHERE {where}"), params).scalar_one()
    )
    rows = conn.execute(
        text(
            "SELECT transfer_id, consumer, dataset, topic, seq, person_no, items, my_number_included, "
            "payload_sha256, published_at, delivered_at, received_at, subscription_id "
            f"FROM linkage.transfer WHERE {where} ORDER BY transfer_id DESC LIMIT :n"
        ),
        params,
    ).all()
    found = [TransferRow(**{**r._mapping, "items": tuple(r.items)}) for r in rows]
    audit.record(
        conn,
        ctx,
        action=Action.SEARCH,
        subjects=sorted({r.person_no for r in found if r.person_no}),
        detail={
            "screen": "連携記録",
            "consumer": f.consumer,
            "dataset": f.dataset,
            "from": f.date_from.isoformat() if f.date_from else None,
            "to": f.date_to.isoformat() if f.date_to else None,
            "hits": total,
        },
    )
    return found, total
