"""Exports of the 中間サーバー: a resident's 情報提供等記録 (本人開示) and the reconciliation of the
副本 with the 原本.

- 本人開示: who asked, who provided, when, which items and the outcome, for one person, as CSV or
  JSON (番号法第23条 records are disclosed to the person on request; domain.md §10.18). Access-logged
  as an export; no 個人番号 and no 符号 is in it.
- 副本と原本の照合 (seed 000 リスク7: 副本データを既存業務システムの原本と照合するための
  エクスポートデータ): compares the current 副本 of every person and dataset with a mapping the
  business system supplies.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from kiban.gateway import records, replica
from kiban.gateway.inquiry import subject_of
from kiban.gateway.tenants import scope
from kiban.security import guard
from kiban.security.context import AccessContext, Action

DISCLOSURE_COLUMNS = (
    ("seq", "記録番号"),
    ("kind", "種別"),
    ("recorded_at", "記録日時"),
    ("inquirer_agency", "照会機関"),
    ("provider_agency", "提供機関"),
    ("procedure_code", "照会事務"),
    ("dataset", "特定個人情報"),
    ("items", "項目"),
    ("outcome", "結果"),
    ("inquirer_at", "照会側日時"),
    ("provider_at", "提供側日時"),
    ("reason", "理由"),
)


def _row(rec: records.Record) -> dict[str, Any]:
    return {
        "seq": rec.seq,
        "kind": records.KINDS[rec.kind],
        "recorded_at": rec.recorded_at.isoformat(),
        "inquirer_agency": rec.inquirer_agency,
        "provider_agency": rec.provider_agency,
        "procedure_code": rec.procedure_code,
        "dataset": rec.dataset,
        "items": list(rec.items),
        "outcome": records.OUTCOMES[rec.outcome],
        "inquirer_at": rec.inquirer_at.isoformat() if rec.inquirer_at else "",
        "provider_at": rec.provider_at.isoformat() if rec.provider_at else "",
        "reason": rec.reason,
    }


def export_person_records(
    conn: Connection, ctx: AccessContext, *, city_code: str, person_id: int, fmt: str = "csv"
) -> str:
    """本人開示: the person's 情報提供等記録 as CSV (UTF-8 with a header in Japanese) or JSON."""
    if fmt not in ("csv", "json"):
        raise ValueError("fmt は csv または json です")
    scope(conn, city_code)
    subject = subject_of(conn, person_id)
    guard.require(
        conn,
        ctx,
        action=Action.EXPORT,
        subjects=[subject],
        detail={"gateway": "record_disclosure", "format": fmt},
    )
    found = records.search(
        conn, city_code=city_code, where=records.RecordFilter(person_id=person_id, limit=100_000)
    )
    rows = [_row(r) for r in sorted(found, key=lambda r: r.seq)]
    if fmt == "json":
        return json.dumps({"person": subject, "records": rows}, ensure_ascii=False, indent=1)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([label for _, label in DISCLOSURE_COLUMNS])
    for row in rows:
        writer.writerow([" ".join(row[k]) if k == "items" else row[k] for k, _ in DISCLOSURE_COLUMNS])
    return out.getvalue()


@dataclass(frozen=True)
class Difference:
    """One disagreement between 副本 and 原本 (``item`` None: the whole record is on one side)."""

    person_id: int
    dataset: str
    item: str | None
    replica_value: Any
    original_value: Any
    kind: str  # 'value' | 'missing_in_replica' | 'missing_in_original'

    @property
    def label(self) -> str:
        return {
            "value": "値の不一致",
            "missing_in_replica": "副本なし",
            "missing_in_original": "原本なし",
        }[self.kind]


def reconcile(
    conn: Connection, city_code: str, originals: Mapping[tuple[int, str], Mapping[str, Any]]
) -> list[Difference]:
    """Compare each current 副本 with the 原本 the caller supplies (keyed by (person_id, dataset)).

    Only datasets that appear in ``originals`` are compared, so a business reconciles its own."""
    datasets = {d for _, d in originals}
    current = {
        (r.person_id, r.dataset): r
        for r in replica.current_replicas(conn, city_code=city_code)
        if r.dataset in datasets
    }
    out: list[Difference] = []
    for key in sorted(set(current) | set(originals)):
        person_id, dataset = key
        rep = current.get(key)
        orig = originals.get(key)
        if rep is None:
            out.append(Difference(person_id, dataset, None, None, dict(orig or {}), "missing_in_replica"))
            continue
        if orig is None:
            out.append(Difference(person_id, dataset, None, dict(rep.items), None, "missing_in_original"))
            continue
        wanted = replica.check_items(person_id, dataset, orig)
        for item in sorted(set(rep.items) | set(wanted)):
            if rep.items.get(item) != wanted.get(item):
                out.append(
                    Difference(person_id, dataset, item, rep.items.get(item), wanted.get(item), "value")
                )
    return out


def reconciliation_csv(differences: list[Difference]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["宛名ID", "特定個人情報", "項目", "区分", "副本", "原本"])
    for d in differences:
        writer.writerow(
            [d.person_id, d.dataset, d.item or "", d.label, _cell(d.replica_value), _cell(d.original_value)]
        )
    return out.getvalue()


def _iso(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=_iso)
    return str(value)
