"""情報提供等記録 (provision records, 情報提供等記録管理 TKM): one row for every inquiry and provision.

Who asked (inquirer agency), who provided (provider agency), when (both sides' timestamps), which
items, under which 照会事務, and the outcome — written in the same transaction as the answer, so
there is never a success without a record (seed 000 ⑤; issue 8). Kept 7 years: 番号法第23条
(情報提供等の記録) and 番号法施行令第30条 (情報提供等の記録の保存期間: 7年 — read in the 施行令's text,
2026-12-04; earlier notes said 第29条); the seeds name the function, not the period.

Append-only in the database (trigger) and hash-chained per city: ``hash = SHA-256(prev_hash ‖
canonical row)``; the head (seq, hash) in ``gateway.record_head`` is locked by every writer of the
city, so the chain has one order. :func:`verify_records` finds a changed, removed or inserted row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from kiban.gateway.tenants import scope

GENESIS = b"\x00" * 32
KEEP_YEARS = 7  # 番号法施行令第30条: 法第23条第1項の政令で定める期間は、7年
KINDS = {"inquiry": "照会", "provision": "提供"}
OUTCOMES = {
    "provided": "提供済",
    "held": "自動応答不可（確認待ち）",
    "released": "確認のうえ提供",
    "refused": "拒否",
    "not_found": "該当なし",
    "denied": "不正な要求（許可証・形式）",
}
PHASES = {"answer": "応答", "review": "確認後"}

_FIELDS = (
    "city_code",
    "seq",
    "kind",
    "phase",
    "request_id",
    "person_id",
    "inquirer_agency",
    "provider_agency",
    "procedure_code",
    "dataset",
    "items",
    "outcome",
    "reason",
    "permit_id",
    "list_version",
    "inquirer_at",
    "provider_at",
    "recorded_at",
    "staff_id",
    "keep_until",
)


@dataclass(frozen=True)
class Record:
    record_id: int
    city_code: str
    seq: int
    kind: str
    phase: str
    request_id: str
    person_id: int | None
    inquirer_agency: str
    provider_agency: str
    procedure_code: str
    dataset: str
    items: tuple[str, ...]
    outcome: str
    reason: str
    permit_id: str | None
    list_version: str | None
    inquirer_at: dt.datetime | None
    provider_at: dt.datetime | None
    recorded_at: dt.datetime
    staff_id: int | None
    keep_until: dt.date
    prev_hash: bytes
    hash: bytes

    @property
    def record_no(self) -> str:
        """The id given to the other side (``ProvisionResponse.provider_record_id``)."""
        return record_no(self.city_code, self.kind, self.request_id, self.phase)


def record_no(city_code: str, kind: str, request_id: str, phase: str = "answer") -> str:
    """A record's id, known before it is written (so the head lock is taken last, just before
    commit): city, P (提供) or I (照会), R after a review, the request id."""
    mark = ("P" if kind == "provision" else "I") + ("R" if phase == "review" else "")
    return f"{city_code}-{mark}-{request_id}"


def _value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return list(v)
    return v


def _canonical(fields: dict[str, Any]) -> str:
    return json.dumps(
        {k: _value(fields[k]) for k in _FIELDS}, ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )


def row_hash(prev_hash: bytes, fields: dict[str, Any]) -> bytes:
    """SHA-256 over the previous hash and the canonical JSON of the row's fields."""
    return hashlib.sha256(prev_hash + _canonical(fields).encode("utf-8")).digest()


# Stands for the seq in the canonical body until the database knows it (never a real seq).
_SEQ_MARK = 9_007_199_254_740_993
_SEQ_MARK_TEXT = str(_SEQ_MARK)

_APPEND = text(
    "WITH old AS (SELECT seq, hash FROM gateway.record_head WHERE city_code = :city_code FOR UPDATE),"
    " new AS (UPDATE gateway.record_head h SET seq = old.seq + 1,"
    "   hash = sha256(old.hash || convert_to(:prefix || (old.seq + 1)::text || :suffix, 'UTF8'))"
    "   FROM old WHERE h.city_code = :city_code RETURNING h.seq, h.hash, old.hash AS prev)"
    f" INSERT INTO gateway.record ({', '.join(_FIELDS)}, prev_hash, hash)"
    " SELECT " + ", ".join("new.seq" if f == "seq" else ":" + f for f in _FIELDS) + ", new.prev, new.hash"
    " FROM new RETURNING *"
)


def _ensure_head(conn: Connection, city_code: str) -> None:
    """The city's chain head row (made at its first record; a no-op afterwards, no lock taken)."""
    conn.execute(
        text(
            "INSERT INTO gateway.record_head (city_code, seq, hash) VALUES (:c, 0, :g) ON CONFLICT DO NOTHING"
        ),
        {"c": city_code, "g": GENESIS},
    )


def _keep_until(at: dt.datetime) -> dt.date:
    day = at.date()
    try:
        return day.replace(year=day.year + KEEP_YEARS)
    except ValueError:  # 29 February
        return day.replace(year=day.year + KEEP_YEARS, day=28)


def existing(conn: Connection, *, city_code: str, kind: str, request_id: str, phase: str) -> Record | None:
    scope(conn, city_code)
    row = conn.execute(
        text(
            "SELECT * FROM gateway.record WHERE city_code = :c AND kind = :k AND request_id = :r"
            " AND phase = :p"
        ),
        {"c": city_code, "k": kind, "r": request_id, "p": phase},
    ).first()
    return None if row is None else _record(row)


def _lock_head(conn: Connection, city_code: str) -> Any:
    """The city's chain head, locked FOR UPDATE (created at the city's first record)."""
    lock = text("SELECT seq, hash FROM gateway.record_head WHERE city_code = :c FOR UPDATE")
    head = conn.execute(lock, {"c": city_code}).first()
    if head is None:
        conn.execute(
            text(
                "INSERT INTO gateway.record_head (city_code, seq, hash) VALUES (:c, 0, :g) ON CONFLICT DO NOTHING"
            ),
            {"c": city_code, "g": GENESIS},
        )
        head = conn.execute(lock, {"c": city_code}).one()
    return head


def append(
    conn: Connection,
    *,
    city_code: str,
    kind: str,
    request_id: str,
    inquirer_agency: str,
    provider_agency: str,
    procedure_code: str,
    dataset: str,
    items: Sequence[str],
    outcome: str,
    phase: str = "answer",
    person_id: int | None = None,
    reason: str = "",
    permit_id: str | None = None,
    list_version: str | None = None,
    inquirer_at: dt.datetime | None = None,
    provider_at: dt.datetime | None = None,
    staff_id: int | None = None,
    recorded_at: dt.datetime | None = None,
    replay_checked: bool = False,
) -> Record:
    """Append one record to the city's chain (or return the one already there for this request,
    kind and phase: a replay adds nothing).

    Takes the city's chain head lock until the caller commits: call it last in the transaction."""
    assert kind in KINDS and outcome in OUTCOMES and phase in PHASES
    scope(conn, city_code)
    # A replay adds nothing. Checked before the head lock: concurrent replays of one request id are
    # serialised by the caller (provision._lock_and_read), and a conflict left would roll back the
    # whole transaction, head included, so the chain can never advance without its record.
    found = (
        None
        if replay_checked
        else existing(conn, city_code=city_code, kind=kind, request_id=request_id, phase=phase)
    )
    if found is not None:
        return found
    recorded_at = recorded_at or dt.datetime.now(dt.UTC)
    if recorded_at.tzinfo is None:
        recorded_at = recorded_at.replace(tzinfo=dt.UTC)
    fields: dict[str, Any] = {
        "city_code": city_code,
        "seq": _SEQ_MARK,
        "kind": kind,
        "phase": phase,
        "request_id": request_id,
        "person_id": person_id,
        "inquirer_agency": inquirer_agency,
        "provider_agency": provider_agency,
        "procedure_code": procedure_code,
        "dataset": dataset,
        "items": list(items),
        "outcome": outcome,
        "reason": reason,
        "permit_id": permit_id,
        "list_version": list_version,
        "inquirer_at": inquirer_at,
        "provider_at": provider_at,
        "recorded_at": recorded_at,
        "staff_id": staff_id,
        "keep_until": _keep_until(recorded_at),
    }
    for key in ("inquirer_at", "provider_at"):
        stamp = fields[key]
        if isinstance(stamp, dt.datetime) and stamp.tzinfo is None:
            fields[key] = stamp.replace(tzinfo=dt.UTC)
    # The row's canonical body with its seq left open: the seq is the head's + 1, known only under
    # the head lock, so the database fills it in and computes SHA-256(prev_hash ‖ body) itself — the
    # same bytes as row_hash — in ONE statement that locks the head, advances it and inserts the
    # record. The lock is then held for that statement and the commit only (issue 8 bench: three
    # statements and Python work under the lock queued every provision of the city behind it).
    prefix, mark, suffix = _canonical(fields).partition(f'"seq":{_SEQ_MARK}')
    if not mark or _SEQ_MARK_TEXT in prefix + suffix:
        raise ValueError("情報提供等記録: 正規化した記録の形式が不正です")
    params = {k: v for k, v in fields.items() if k != "seq"} | {"prefix": prefix + '"seq":', "suffix": suffix}
    row = conn.execute(_APPEND, params).first()
    if row is None:  # the city's first record: make its head, then append
        _ensure_head(conn, city_code)
        row = conn.execute(_APPEND, params).one()
    return _record(row)


def _record(row: Any) -> Record:
    return Record(
        record_id=int(row.record_id),
        city_code=row.city_code,
        seq=int(row.seq),
        kind=row.kind,
        phase=row.phase,
        request_id=row.request_id,
        person_id=None if row.person_id is None else int(row.person_id),
        inquirer_agency=row.inquirer_agency,
        provider_agency=row.provider_agency,
        procedure_code=row.procedure_code,
        dataset=row.dataset,
        items=tuple(row.items),
        outcome=row.outcome,
        reason=row.reason,
        permit_id=row.permit_id,
        list_version=row.list_version,
        inquirer_at=row.inquirer_at,
        provider_at=row.provider_at,
        recorded_at=row.recorded_at,
        staff_id=None if row.staff_id is None else int(row.staff_id),
        keep_until=row.keep_until,
        prev_hash=bytes(row.prev_hash),
        hash=bytes(row.hash),
    )


def _fields_of(rec: Record) -> dict[str, Any]:
    return {k: getattr(rec, k) for k in _FIELDS}


def verify_records(conn: Connection, city_code: str) -> list[str]:
    """Check the city's chain; return the problems found (empty: intact). Each names the record."""
    scope(conn, city_code)
    problems: list[str] = []
    prev = GENESIS
    expected_seq = 1
    # Streamed as plain tuples (no Record per row): the chain check reads every record of the city.
    rows = conn.execute(
        text(
            f"SELECT {', '.join(_FIELDS)}, prev_hash, hash FROM gateway.record"
            " WHERE city_code = :c ORDER BY seq, record_id"
        ).execution_options(yield_per=10_000),
        {"c": city_code},
    )
    n = len(_FIELDS)
    for row in rows:
        fields = dict(zip(_FIELDS, row[:n], strict=True))
        seq, request_id = int(fields["seq"]), fields["request_id"]
        prev_hash, digest = bytes(row[n]), bytes(row[n + 1])
        if seq != expected_seq:
            if seq > expected_seq:
                problems.append(f"記録 {expected_seq}〜{seq - 1} がありません（削除の疑い）")
            else:
                problems.append(f"記録 {seq} が重複しています（挿入の疑い）")
        if prev_hash != prev:
            problems.append(f"記録 {seq}（{request_id}）: 直前の記録との連鎖が一致しません")
        if row_hash(prev_hash, fields) != digest:
            problems.append(f"記録 {seq}（{request_id}）: 内容がハッシュと一致しません（改ざんの疑い）")
        prev = digest
        expected_seq = seq + 1
    head = conn.execute(
        text("SELECT seq, hash FROM gateway.record_head WHERE city_code = :c"), {"c": city_code}
    ).first()
    last_seq = expected_seq - 1
    if head is None:
        if last_seq:
            problems.append("記録の連鎖の先頭（record_head）がありません")
    elif int(head.seq) != last_seq or bytes(head.hash) != prev:
        problems.append(
            f"最後の記録が連鎖の先頭と一致しません（先頭 {int(head.seq)}・記録 {last_seq}：末尾の削除または追加の疑い）"
        )
    return problems


@dataclass(frozen=True)
class RecordFilter:
    """情報提供等記録の検索条件."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    kind: str | None = None
    agency: str | None = None
    outcome: str | None = None
    person_id: int | None = None
    limit: int = 200


def search(conn: Connection, *, city_code: str, where: RecordFilter) -> list[Record]:
    scope(conn, city_code)
    clauses = ["city_code = :c"]
    params: dict[str, Any] = {"c": city_code, "lim": where.limit}
    if where.date_from:
        clauses.append("recorded_at >= CAST(:df AS date)")
        params["df"] = where.date_from
    if where.date_to:
        clauses.append("recorded_at < CAST(:dt AS date) + 1")
        params["dt"] = where.date_to
    if where.kind:
        clauses.append("kind = :k")
        params["k"] = where.kind
    if where.agency:
        clauses.append("(inquirer_agency = :a OR provider_agency = :a)")
        params["a"] = where.agency
    if where.outcome:
        clauses.append("outcome = :o")
        params["o"] = where.outcome
    if where.person_id is not None:
        clauses.append("person_id = :p")
        params["p"] = where.person_id
    rows = conn.execute(
        text(f"SELECT * FROM gateway.record WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT :lim"),
        params,
    )
    return [_record(r) for r in rows]
