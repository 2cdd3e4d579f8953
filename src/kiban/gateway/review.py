"""自動応答不可の確認 (supervisor review of held provisions).

Items flagged 自動応答不可 are not answered automatically: the request waits here until a
supervisor of the 中間サーバー (role rank 2, 監督者) looks at what would be sent and releases or
refuses it (seed 000 リスク5 ③: 送信内容を改めて確認し、提供を行う; domain.md §9: supervisor
approval). Release builds the sealed answer from the current 副本, records outcome ``released`` and
queues the answer for the sender; a refusal is recorded and a refused answer queued likewise, so the
inquirer's inquiry ends either way. Staff here see the items, never a 個人番号.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from kiban.gateway import records, replica, tenants
from kiban.gateway.errors import ReviewError
from kiban.gateway.inquiry import subject_of
from kiban.gateway.provision import _store, seal_answer
from kiban.network import protocol
from kiban.network.protocol import Permit, ProvisionRequest, ProvisionResponse
from kiban.security import guard
from kiban.security.context import AccessContext, Action, Business

SUPERVISOR_RANK = 2  # security.role ('chukan', 'supervisor')
STATUS_LABELS = {"waiting": "確認待ち", "released": "提供済（確認後）", "refused": "提供しない"}


@dataclass(frozen=True)
class HeldProvision:
    held_id: int
    request_id: str
    person_id: int
    inquirer_agency: str
    procedure_code: str
    dataset: str
    items: tuple[str, ...]
    held_items: tuple[str, ...]
    received_at: dt.datetime
    status: str
    reviewed_by: int | None
    reviewed_at: dt.datetime | None
    review_note: str | None


def _held(row: Any) -> HeldProvision:
    m = row._mapping
    return HeldProvision(
        held_id=int(m["held_id"]),
        request_id=m["request_id"],
        person_id=int(m["person_id"]),
        inquirer_agency=m["inquirer_agency"],
        procedure_code=m["procedure_code"],
        dataset=m["dataset"],
        items=tuple(m["items"]),
        held_items=tuple(m["held_items"]),
        received_at=m["received_at"],
        status=m["status"],
        reviewed_by=m["reviewed_by"],
        reviewed_at=m["reviewed_at"],
        review_note=m["review_note"],
    )


def _require_chukan(ctx: AccessContext) -> None:
    if ctx.business is not Business.CHUKAN:
        raise ReviewError("自動応答不可の確認は中間サーバーの事務で行ってください")


def held_queue(
    conn: Connection, ctx: AccessContext, *, city_code: str, status: str = "waiting", limit: int = 200
) -> list[HeldProvision]:
    """The 自動応答不可 queue (ids, agencies, items' names — no values)."""
    _require_chukan(ctx)
    tenants.scope(conn, city_code)
    guard.require(conn, ctx, action=Action.SEARCH, log=False)
    rows = conn.execute(
        text(
            "SELECT * FROM gateway.held_provision WHERE city_code = :c AND status = :s"
            " ORDER BY received_at, held_id LIMIT :n"
        ),
        {"c": city_code, "s": status, "n": limit},
    ).all()
    found = [_held(r) for r in rows]
    from kiban.security import audit

    audit.record(
        conn,
        ctx,
        action=Action.SEARCH,
        subjects=sorted({subject_of(conn, h.person_id) for h in found}),
        detail={"gateway": "held_queue", "status": status, "count": len(found)},
    )
    return found


def _load(conn: Connection, city_code: str, request_id: str) -> tuple[HeldProvision, ProvisionRequest]:
    row = conn.execute(
        text("SELECT * FROM gateway.held_provision WHERE city_code = :c AND request_id = :r FOR UPDATE"),
        {"c": city_code, "r": request_id},
    ).first()
    if row is None:
        raise ReviewError(f"確認待ちの提供 {request_id} はありません")
    held = _held(row)
    if held.status != "waiting":
        raise ReviewError(f"提供 {request_id} は確認済みです（{STATUS_LABELS[held.status]}）")
    return held, ProvisionRequest.from_json(dict(row.request))


def preview(conn: Connection, ctx: AccessContext, *, city_code: str, request_id: str) -> dict[str, Any]:
    """What a release would send (the asked items of the current 副本), for the supervisor's look."""
    _require_chukan(ctx)
    tenants.scope(conn, city_code)
    row = conn.execute(
        text("SELECT * FROM gateway.held_provision WHERE city_code = :c AND request_id = :r"),
        {"c": city_code, "r": request_id},
    ).first()
    if row is None:
        raise ReviewError(f"確認待ちの提供 {request_id} はありません")
    held = _held(row)
    guard.require(
        conn,
        ctx,
        action=Action.VIEW,
        subjects=[subject_of(conn, held.person_id)],
        detail={"gateway": "held_preview", "request_id": request_id},
    )
    rep = replica.current_replica(conn, city_code=city_code, person_id=held.person_id, dataset=held.dataset)
    return {
        "held": held,
        "items": {i: (rep.items.get(i) if rep else None) for i in held.items},
        "replica_version": rep.version if rep else None,
    }


def _finish(
    conn: Connection,
    ctx: AccessContext,
    held: HeldProvision,
    request: ProvisionRequest,
    *,
    status: str,
    outcome: str,
    reason: str,
    note: str,
    sealed: dict[str, str] | None,
    city_code: str,
) -> ProvisionResponse:
    permit = request.permit
    answered_at = dt.datetime.now(dt.UTC)
    response = ProvisionResponse(
        request_id=held.request_id,
        status="provided" if outcome == "released" else "refused",
        provider_record_id=records.record_no(city_code, "provision", held.request_id, "review"),
        answered_at=protocol.iso(answered_at),
        sealed_answer=sealed,
        reason=reason,
    )
    conn.execute(
        text(
            "UPDATE gateway.held_provision SET status = :s, reviewed_by = :by, reviewed_at = now(),"
            " review_note = :note WHERE held_id = :id"
        ),
        {"s": status, "by": ctx.staff_id, "note": note, "id": held.held_id},
    )
    conn.execute(
        text(
            "INSERT INTO gateway.outgoing_answer (city_code, request_id, inquirer_agency, response)"
            " VALUES (:c, :r, :a, CAST(:j AS jsonb))"
        ),
        {
            "c": city_code,
            "r": held.request_id,
            "a": held.inquirer_agency,
            "j": json.dumps(response.to_json(), ensure_ascii=False),
        },
    )
    # A replay of the request from now on gets the answer the supervisor decided.
    _store(conn, city_code, held.request_id, held.inquirer_agency, response, held.received_at)
    records.append(  # last: the chain head lock is held until the caller commits
        conn,
        city_code=city_code,
        kind="provision",
        phase="review",
        request_id=held.request_id,
        person_id=held.person_id,
        inquirer_agency=held.inquirer_agency,
        provider_agency=str(permit.get("provider_agency", "")),
        procedure_code=held.procedure_code,
        dataset=held.dataset,
        items=held.items,
        outcome=outcome,
        reason=reason,
        permit_id=permit.get("permit_id"),
        list_version=permit.get("list_version"),
        inquirer_at=None,
        provider_at=held.received_at,
        staff_id=ctx.staff_id,
        recorded_at=answered_at,
    )
    return response


def release_held(
    conn: Connection, ctx: AccessContext, *, city_code: str, request_id: str, note: str = ""
) -> ProvisionResponse:
    """確認のうえ提供: seal the answer from the current 副本 and queue it for the sender."""
    _require_chukan(ctx)
    tenants.scope(conn, city_code)
    held, request = _load(conn, city_code, request_id)
    guard.require(
        conn,
        ctx,
        action=Action.APPROVE,
        subjects=[subject_of(conn, held.person_id)],
        min_rank=SUPERVISOR_RANK,
        detail={"gateway": "held_release", "request_id": request_id, "items": list(held.items)},
    )
    permit = Permit.from_json(dict(request.permit))
    rep = replica.current_replica(conn, city_code=city_code, person_id=held.person_id, dataset=held.dataset)
    if rep is None:
        return _finish(
            conn,
            ctx,
            held,
            request,
            status="refused",
            outcome="not_found",
            reason="副本がありません",
            note=note,
            sealed=None,
            city_code=city_code,
        )
    sealed = seal_answer(request, permit, rep)
    return _finish(
        conn,
        ctx,
        held,
        request,
        status="released",
        outcome="released",
        reason="",
        note=note,
        sealed=sealed,
        city_code=city_code,
    )


def refuse_held(
    conn: Connection, ctx: AccessContext, *, city_code: str, request_id: str, reason: str
) -> ProvisionResponse:
    """提供しない: record the refusal with its reason and queue a refused answer."""
    _require_chukan(ctx)
    tenants.scope(conn, city_code)
    if not reason.strip():
        raise ReviewError(f"提供 {request_id}: 提供しない理由を入力してください")
    held, request = _load(conn, city_code, request_id)
    guard.require(
        conn,
        ctx,
        action=Action.APPROVE,
        subjects=[subject_of(conn, held.person_id)],
        min_rank=SUPERVISOR_RANK,
        detail={"gateway": "held_refuse", "request_id": request_id},
    )
    return _finish(
        conn,
        ctx,
        held,
        request,
        status="refused",
        outcome="refused",
        reason=f"監督者が提供しないと判断: {reason}",
        note=reason,
        sealed=None,
        city_code=city_code,
    )
