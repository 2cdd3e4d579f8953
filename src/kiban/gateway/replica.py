"""副本 (情報提供データベース, 副本登録 DBM): the items a business registers for provision.

Each registration is a new version with a SHA-256 digest of its canonical JSON; the newest
answers provisions, older ones stay for reconciliation with the 原本 (seed 000 リスク7:
情報提供データベースへのインポートデータの形式チェック…原本と照合するためのエクスポートデータ).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, text

from kiban.gateway.errors import GatewayError
from kiban.gateway.tenants import scope
from kiban.rules.permit_list import load_permit_list
from kiban.security import guard
from kiban.security.context import AccessContext, Action

_DATASET = re.compile(r"^[a-z_]+\.[a-z_]+$")
_SCALAR = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Replica:
    person_id: int
    dataset: str
    version: int
    items: dict[str, Any]
    digest: bytes
    source_ref: str
    registered_at: datetime


def canonical_items(items: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(items), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def digest_of(items: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(canonical_items(items)).digest()


def _known_items(dataset: str) -> set[str]:
    return {i for e in load_permit_list().entries if e.dataset == dataset for i in e.items}


def check_items(person_id: int, dataset: str, items: Mapping[str, Any]) -> dict[str, Any]:
    """形式チェック: a known dataset, only items some list entry names, scalar values (dates as ISO)."""
    where = f"副本（宛名 {person_id}・{dataset}）"
    if not isinstance(dataset, str) or not _DATASET.match(dataset):
        raise GatewayError(f"{where}: 特定個人情報の名前が不正です")
    known = _known_items(dataset)
    if not known:
        raise GatewayError(f"{where}: 照会許可用照合リストにない特定個人情報です")
    if not items:
        raise GatewayError(f"{where}: 項目がありません")
    out: dict[str, Any] = {}
    for name, value in items.items():
        if name not in known:
            raise GatewayError(f"{where}: 項目 {name} は提供対象の項目ではありません")
        if isinstance(value, date):
            value = value.isoformat()
        if not isinstance(value, _SCALAR):
            raise GatewayError(f"{where}: 項目 {name} の値の型が不正です")
        out[name] = value
    return out


def register_replica(
    conn: Connection,
    *,
    city_code: str,
    person_id: int,
    dataset: str,
    items: Mapping[str, Any],
    source_ref: str,
) -> None:
    """Register a new version of the 副本 (the old one kept)."""
    scope(conn, city_code)
    clean = check_items(person_id, dataset, items)
    if not source_ref:
        raise GatewayError(f"副本（宛名 {person_id}・{dataset}）: 原本の参照（source_ref）がありません")
    # Serialise versions of one person's dataset (two registrations at once get 1 and 2, not 1 and 1).
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 13))"),
        {"k": f"replica:{city_code}:{person_id}:{dataset}"},
    )
    conn.execute(
        text(
            "INSERT INTO gateway.replica (city_code, person_id, dataset, version, items, digest, source_ref)"
            " SELECT :c, :p, :d, COALESCE(max(version), 0) + 1, CAST(:i AS jsonb), :h, :s"
            " FROM gateway.replica WHERE city_code = :c AND person_id = :p AND dataset = :d"
        ),
        {
            "c": city_code,
            "p": person_id,
            "d": dataset,
            "i": json.dumps(clean, ensure_ascii=False),
            "h": digest_of(clean),
            "s": source_ref,
        },
    )


def _replica(row: Any) -> Replica:
    return Replica(
        person_id=int(row.person_id),
        dataset=row.dataset,
        version=int(row.version),
        items=dict(row.items),
        digest=bytes(row.digest),
        source_ref=row.source_ref,
        registered_at=row.registered_at,
    )


def current_replica(conn: Connection, *, city_code: str, person_id: int, dataset: str) -> Replica | None:
    scope(conn, city_code)
    row = conn.execute(
        text(
            "SELECT * FROM gateway.replica WHERE city_code = :c AND person_id = :p AND dataset = :d"
            " ORDER BY version DESC LIMIT 1"
        ),
        {"c": city_code, "p": person_id, "d": dataset},
    ).first()
    return None if row is None else _replica(row)


def current_replicas(conn: Connection, *, city_code: str) -> list[Replica]:
    """The newest version of every person's dataset."""
    scope(conn, city_code)
    rows = conn.execute(
        text(
            "SELECT DISTINCT ON (person_id, dataset) * FROM gateway.replica WHERE city_code = :c"
            " ORDER BY person_id, dataset, version DESC"
        ),
        {"c": city_code},
    )
    return [_replica(r) for r in rows]


def replica_history(conn: Connection, ctx: AccessContext, *, city_code: str, person_id: int) -> list[Replica]:
    """副本の照会 (view screen, access-logged): every registered version of a person's datasets."""
    from kiban.gateway.inquiry import subject_of

    scope(conn, city_code)
    guard.require(
        conn, ctx, action=Action.VIEW, subjects=[subject_of(conn, person_id)], detail={"gateway": "replica"}
    )
    rows = conn.execute(
        text(
            "SELECT * FROM gateway.replica WHERE city_code = :c AND person_id = :p ORDER BY dataset, version DESC"
        ),
        {"c": city_code, "p": person_id},
    )
    return [_replica(r) for r in rows]
