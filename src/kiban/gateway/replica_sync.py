"""副本登録 through 庁内連携: the 中間サーバー as the linkage consumer ``chukan``.

Business systems never write the 副本 themselves (seed 003 共通基盤: 事前に登録された項目のみ連携;
seed 000 中間サーバー ③ 副本登録): they publish through the outbox, the linkage hub delivers what the
``chukan`` subscription allows — as ``PlainRecord``, without the 個人番号 (the 中間サーバー works
with 符号) — and each delivery becomes a new 副本 version of the person's dataset, in the same
transaction as the transfer-log row and the cursor, so a crash replays and never doubles.

Only items the 照会許可用照合リスト can ask for are kept (``replica.check_items`` refuses others);
the 原本 reference names the transfer, so a reconciliation can trace every version to its source.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from kiban.gateway import replica
from kiban.identity import repo as identity_repo
from kiban.linkage.delivery import deliver_batch
from kiban.linkage.records import Delivered
from kiban.rules.permit_list import load_permit_list

CONSUMER = "chukan"

# 庁内連携 dataset → the 特定個人情報 the network asks for (the same names today).
PROVISION_DATASETS = {"kaigo.qualification": "kaigo.qualification"}


@dataclass(frozen=True)
class SyncResult:
    registered: int  # 副本 versions written
    read: int  # outbox events read for the consumer (0: nothing more for now)


def _provision_items(dataset: str) -> set[str]:
    return {i for e in load_permit_list().entries if e.dataset == dataset for i in e.items}


def sync(conn: Connection, *, city_code: str, limit: int = 500) -> SyncResult:
    """Deliver the ``chukan`` consumer's next records and register each as a 副本 version."""
    registered = 0

    def handler(c: Connection, d: Delivered) -> None:
        nonlocal registered
        record = d.plain
        dataset = PROVISION_DATASETS.get(record.dataset)
        if dataset is None or record.person_no is None:
            return  # subscribed, but nothing the network can ask for: received, not registered
        wanted = _provision_items(dataset)
        items = {k: v for k, v in record.items.items() if k in wanted}
        if not items:
            return
        person = identity_repo.ref_by_no(c, record.person_no)
        replica.register_replica(
            c,
            city_code=city_code,
            person_id=person.person_id,
            dataset=dataset,
            items=items,
            source_ref=f"linkage:{d.transfer_id}",
        )
        registered += 1

    run = deliver_batch(conn, consumer=CONSUMER, handler=handler, limit=limit)
    return SyncResult(registered, run.polled)


def sync_all(conn: Connection, *, city_code: str, limit: int = 500, max_rounds: int = 10_000) -> int:
    """``sync`` until the consumer has nothing more to read now; the number of 副本 versions written."""
    total = 0
    for _ in range(max_rounds):
        result = sync(conn, city_code=city_code, limit=limit)
        total += result.registered
        if result.read == 0:
            break
    return total
