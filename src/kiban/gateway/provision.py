"""情報提供 (provider side, 情報提供 TKY): answer a request routed by the network from the 副本.

:func:`handle_provision_request` is called by the gateway server for ``POST /gateway/v1/provision``.
It checks, in this order, and records every refusal (never a success without a record, and never a
refusal without one either): the permit's Ed25519 signature with the network's key → its expiry →
the provider agency is ours → the 照会許可用照合リスト again, with our own copy (seed 000 リスク5 ①)
→ the 符号 is known → the 副本 exists. Items flagged 自動応答不可 wait for a supervisor
(:mod:`kiban.gateway.review`); otherwise the answer is sealed to the inquirer's X25519 key with the
request id and permit id as associated data (seed 000 リスク6 ①: 情報照会者から受領した暗号化鍵で暗号化).

Idempotent by request id: a replay returns the stored response and writes no second record. The
record and the stored response are in the caller's transaction; the caller commits before sending.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Connection, text

from kiban.gateway import records, replica, tenants, tokens
from kiban.network import protocol
from kiban.network.protocol import Permit, ProvisionRequest, ProvisionResponse
from kiban.rules.permit_list import PermitListError, Refusal, agency_city, load_permit_list

_UNKNOWN = "-"


class _Refuse(Exception):
    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def _lock_and_read(conn: Connection, city_code: str, request_id: str) -> ProvisionResponse | None:
    """Serialise one request id (a concurrent replay waits here), then read its stored response.

    Two statements on purpose: a statement's snapshot is taken when it starts, so a read in the
    same statement as the lock would not see the response committed by the holder we waited for."""
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 13))"),
        {"k": f"provision:{city_code}:{request_id}"},
    )
    return stored_response(conn, city_code=city_code, request_id=request_id)


def stored_response(conn: Connection, *, city_code: str, request_id: str) -> ProvisionResponse | None:
    tenants.scope(conn, city_code)
    data = conn.execute(
        text("SELECT response FROM gateway.provision WHERE city_code = :c AND request_id = :r"),
        {"c": city_code, "r": request_id},
    ).scalar()
    return None if data is None else ProvisionResponse.from_json(dict(data))


def answer_plaintext(rep: replica.Replica, items: tuple[str, ...]) -> bytes:
    """What the inquirer will read: the asked items of the current 副本 version."""
    body = {
        "dataset": rep.dataset,
        "replica_version": rep.version,
        "items": {i: rep.items.get(i) for i in items},
    }
    return protocol.canonical(body)


def seal_answer(request: ProvisionRequest, permit: Permit, rep: replica.Replica) -> dict[str, str]:
    sealed = protocol.seal(
        protocol.b64d(request.inquirer_public_key),
        answer_plaintext(rep, tuple(permit.items)),
        protocol.answer_aad(request.request_id, permit.permit_id),
    )
    return sealed.to_json()


def handle_provision_request(
    conn: Connection, *, city_code: str, request: ProvisionRequest, received_at: dt.datetime
) -> ProvisionResponse:
    """情報提供: verify, answer from the 副本 (or hold it), record — see the module docstring."""
    tenants.scope(conn, city_code)
    previous = _lock_and_read(conn, city_code, request.request_id)
    if previous is not None:
        return previous
    tenant = tenants.cached_tenant(conn, city_code)[0]
    raw: dict[str, Any] = request.permit if isinstance(request.permit, dict) else {}
    meta: dict[str, Any] = {
        "inquirer_agency": str(raw.get("inquirer_agency") or _UNKNOWN),
        "provider_agency": str(raw.get("provider_agency") or _UNKNOWN),
        "procedure_code": str(raw.get("procedure_code") or _UNKNOWN),
        "dataset": str(raw.get("dataset") or _UNKNOWN),
        "items": [str(i) for i in raw.get("items") or []],
        "permit_id": raw.get("permit_id"),
        "list_version": raw.get("list_version"),
    }
    person_id: int | None = None
    sealed: dict[str, str] | None = None
    held_items: list[str] = []
    try:
        permit = _verified_permit(tenant, raw, received_at)
        entry = _listed(permit, city_code)
        found = tokens.person_for_token(conn, city_code=city_code, token=permit.provider_token)
        if found is None or found[1] != permit.provider_agency:
            raise _Refuse("not_found", "該当者がありません（符号が登録されていません）")
        person_id = found[0]
        rep = replica.current_replica(conn, city_code=city_code, person_id=person_id, dataset=permit.dataset)
        if rep is None:
            raise _Refuse("not_found", f"副本がありません（{permit.dataset}）")
        held_items = sorted(set(permit.items) & entry.no_auto_response)
        if not held_items:
            try:
                sealed = seal_answer(request, permit, rep)
            except protocol.ProtocolError as exc:
                raise _Refuse("denied", str(exc)) from exc
        outcome, reason = (
            ("held", "自動応答不可の項目を含むため監督者の確認待ち") if held_items else ("provided", "")
        )
    except _Refuse as refusal:
        outcome, reason = refusal.outcome, refusal.reason
    answered_at = dt.datetime.now(dt.UTC)
    status = {"provided": "provided", "held": "held", "not_found": "not_found"}.get(outcome, "refused")
    response = ProvisionResponse(
        request_id=request.request_id,
        status=status,
        provider_record_id=records.record_no(city_code, "provision", request.request_id),
        answered_at=protocol.iso(answered_at),
        sealed_answer=sealed,
        reason=reason,
    )
    if held_items and person_id is not None:
        conn.execute(
            text(
                "INSERT INTO gateway.held_provision (city_code, request_id, request, person_id,"
                " inquirer_agency, procedure_code, dataset, items, held_items, received_at)"
                " VALUES (:c, :r, CAST(:q AS jsonb), :p, :ia, :pc, :d, :i, :h, :t)"
            ),
            {
                "c": city_code,
                "r": request.request_id,
                "q": json.dumps(request.to_json(), ensure_ascii=False),
                "p": person_id,
                "ia": meta["inquirer_agency"],
                "pc": meta["procedure_code"],
                "d": meta["dataset"],
                "i": meta["items"],
                "h": held_items,
                "t": received_at,
            },
        )
    _store(conn, city_code, request.request_id, meta["inquirer_agency"], response, received_at)
    # The record last: it takes the city's chain head lock, held only until the caller commits.
    records.append(
        conn,
        city_code=city_code,
        kind="provision",
        request_id=request.request_id,
        replay_checked=True,  # _lock_and_read found no stored answer under this request's lock
        person_id=person_id,
        reason=reason,
        outcome=outcome,
        inquirer_at=_parse_time(request.sent_at),
        provider_at=received_at,
        recorded_at=answered_at,
        **meta,
    )
    return response


def _store(
    conn: Connection,
    city_code: str,
    request_id: str,
    inquirer_agency: str,
    response: ProvisionResponse,
    received_at: dt.datetime,
) -> None:
    conn.execute(
        text(
            "INSERT INTO gateway.provision (city_code, request_id, inquirer_agency, response, received_at)"
            " VALUES (:c, :r, :a, CAST(:j AS jsonb), :t)"
            " ON CONFLICT (city_code, request_id) DO UPDATE SET response = EXCLUDED.response"
        ),
        {
            "c": city_code,
            "r": request_id,
            "a": inquirer_agency,
            "j": json.dumps(response.to_json(), ensure_ascii=False),
            "t": received_at,
        },
    )


def _verified_permit(tenant: tenants.Tenant, raw: dict[str, Any], now: dt.datetime) -> Permit:
    if tenant.network_signing_key is None:
        raise _Refuse("denied", "情報提供ネットワークシステムに未参加のため許可証を検証できません")
    try:
        permit = Permit.from_json(raw)
    except (protocol.ProtocolError, TypeError) as exc:
        raise _Refuse("denied", f"情報提供許可証の形式が不正です: {exc}") from exc
    try:
        protocol.verify_permit(tenant.network_signing_key, permit, now=now)
    except (protocol.ProtocolError, ValueError, TypeError) as exc:
        raise _Refuse("denied", str(exc)) from exc
    return permit


def _listed(permit: Permit, city_code: str) -> Any:
    if agency_city(permit.provider_agency) != city_code:
        raise _Refuse("denied", f"提供者 {permit.provider_agency} は当団体（{city_code}）ではありません")
    try:
        plist = load_permit_list(permit.list_version)
    except PermitListError:
        raise _Refuse(
            "refused", f"照会許可用照合リスト {permit.list_version} を保持していないため提供できません"
        ) from None
    entry = plist.check(
        inquirer_agency=permit.inquirer_agency,
        provider_agency=permit.provider_agency,
        procedure_code=permit.procedure_code,
        dataset=permit.dataset,
        items=permit.items,
    )
    if isinstance(entry, Refusal):
        raise _Refuse("refused", entry.reason)
    return entry


def pending_answers(
    conn: Connection, *, city_code: str, limit: int = 100
) -> list[tuple[str, ProvisionResponse]]:
    """(inquirer_agency, response) produced by a supervisor's review and not yet sent."""
    tenants.scope(conn, city_code)
    rows = conn.execute(
        text(
            "SELECT inquirer_agency, response FROM gateway.outgoing_answer"
            " WHERE city_code = :c AND sent_at IS NULL ORDER BY answer_id LIMIT :n"
        ),
        {"c": city_code, "n": limit},
    )
    return [(r.inquirer_agency, ProvisionResponse.from_json(dict(r.response))) for r in rows]


def mark_answer_sent(conn: Connection, *, city_code: str, request_id: str) -> None:
    tenants.scope(conn, city_code)
    conn.execute(
        text(
            "UPDATE gateway.outgoing_answer SET sent_at = now()"
            " WHERE city_code = :c AND request_id = :r AND sent_at IS NULL"
        ),
        {"c": city_code, "r": request_id},
    )
