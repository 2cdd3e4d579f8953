"""情報照会 (inquirer side, 情報照会 SKI): open an inquiry, attach the network's permit, build the
request, receive the answer, delete the result after the configured period.

An inquiry is sent only after the network issued a permit checked against the 照会許可用照合リスト
(seed 000 リスク1 ①); we check our own copy of the list first, and a refusal is recorded either way.
The result is kept encrypted (vault keys) and deleted ``result_retention_days`` after the inquiry
completed or was abandoned (seed 000 リスク4 ③: 情報照会が完了又は中断した情報照会結果については、
一定期間経過後に…自動で削除).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from kiban.gateway import records, tenants, tokens
from kiban.gateway.errors import (
    GatewayError,
    InquiryNotFound,
    InquiryRefused,
    InquiryStateError,
    TokenMissing,
)
from kiban.network import protocol
from kiban.network.protocol import Permit, PermitRequest, ProvisionRequest, ProvisionResponse
from kiban.rules.permit_list import Refusal, agency_business, agency_city, load_permit_list
from kiban.security import audit, guard, keys
from kiban.security.context import AccessContext, Action, Business, Outcome

RESULT_COLUMN = ("gateway.inquiry", "result")
RESULT_ENCRYPTED = keys.register_encrypted_column(RESULT_COLUMN[0], RESULT_COLUMN[1], "inquiry_id")


def subject_of(conn: Connection, person_id: int) -> str:
    """The 宛名番号 the access log names for a person (the internal id when unknown here)."""
    value = conn.execute(
        text("SELECT person_no FROM identity.person WHERE person_id = :p"), {"p": person_id}
    ).scalar()
    return str(value) if value is not None else str(person_id)


def _check_business(ctx: AccessContext, inquirer_agency: str) -> None:
    if ctx.business is not Business.CHUKAN and ctx.business.value != agency_business(inquirer_agency):
        raise GatewayError(
            f"照会機関 {inquirer_agency} の事務と操作中の事務（{ctx.business.label}）が一致しません"
        )


def open_inquiry(
    conn: Connection,
    ctx: AccessContext,
    *,
    city_code: str,
    person_id: int,
    inquirer_agency: str,
    provider_agency: str,
    procedure_code: str,
    dataset: str,
    items: Sequence[str],
) -> tuple[str, PermitRequest]:
    """Open an inquiry for a person; return its request id and the permit request for the network.

    Outside the list: :class:`InquiryRefused` — the refusal and its record are committed in their
    own transaction (the caller's is rolled back by the exception)."""
    tenants.scope(conn, city_code)
    tokens.check_agency(inquirer_agency)
    tokens.check_agency(provider_agency)
    if agency_city(inquirer_agency) != city_code:
        raise GatewayError(f"照会機関 {inquirer_agency} は当団体（{city_code}）の機関ではありません")
    asked = tuple(dict.fromkeys(items))
    if not asked:
        raise GatewayError(f"照会（宛名 {person_id}）: 照会項目がありません")
    _check_business(ctx, inquirer_agency)
    subject = subject_of(conn, person_id)
    detail = {"gateway": "inquiry", "provider": provider_agency, "dataset": dataset, "items": list(asked)}
    guard.require(conn, ctx, action=Action.VIEW, subjects=[subject], detail=detail)
    request_id = protocol.new_id()
    entry = load_permit_list().check(
        inquirer_agency=inquirer_agency,
        provider_agency=provider_agency,
        procedure_code=procedure_code,
        dataset=dataset,
        items=asked,
    )
    values = {
        "c": city_code,
        "r": request_id,
        "p": person_id,
        "ia": inquirer_agency,
        "pa": provider_agency,
        "pc": procedure_code,
        "d": dataset,
        "i": list(asked),
        "by": ctx.staff_id,
    }
    if isinstance(entry, Refusal):
        _record_refusal(conn, ctx, values, entry.reason, subject)
        raise InquiryRefused(f"照会できません: {entry.reason}", request_id=request_id)
    token = tokens.token_for(conn, city_code=city_code, person_id=person_id, agency_code=inquirer_agency)
    if token is None:
        raise TokenMissing(
            f"宛名 {subject}: {inquirer_agency} の符号がありません（符号取得を先に行ってください）"
        )
    conn.execute(
        text(
            "INSERT INTO gateway.inquiry (city_code, request_id, person_id, inquirer_agency, provider_agency,"
            " procedure_code, dataset, items, status, opened_by)"
            " VALUES (:c, :r, :p, :ia, :pa, :pc, :d, :i, 'opened', :by)"
        ),
        values,
    )
    return request_id, PermitRequest(
        inquirer_agency=inquirer_agency,
        inquirer_token=token,
        provider_agency=provider_agency,
        procedure_code=procedure_code,
        dataset=dataset,
        items=asked,
    )


def _record_refusal(
    conn: Connection, ctx: AccessContext, values: dict[str, Any], reason: str, subject: str
) -> None:
    """In its own transaction: the refused inquiry, its 情報提供等記録 and the access-log row."""
    with conn.engine.begin() as own:
        tenants.scope(own, values["c"])
        own.execute(
            text(
                "INSERT INTO gateway.inquiry (city_code, request_id, person_id, inquirer_agency,"
                " provider_agency, procedure_code, dataset, items, status, outcome, reason, opened_by,"
                " completed_at) VALUES (:c, :r, :p, :ia, :pa, :pc, :d, :i, 'refused', 'refused', :why,"
                " :by, now())"
            ),
            {**values, "why": reason},
        )
        audit.record(
            own,
            ctx,
            action=Action.VIEW,
            outcome=Outcome.DENIED,
            subjects=[subject],
            detail={"gateway": "inquiry_refused", "request_id": values["r"], "reason": reason},
        )
        records.append(
            own,
            city_code=values["c"],
            kind="inquiry",
            request_id=values["r"],
            person_id=values["p"],
            inquirer_agency=values["ia"],
            provider_agency=values["pa"],
            procedure_code=values["pc"],
            dataset=values["d"],
            items=values["i"],
            outcome="refused",
            reason=reason,
            staff_id=ctx.staff_id,
        )


@dataclass(frozen=True)
class Inquiry:
    inquiry_id: int
    city_code: str
    request_id: str
    person_id: int
    inquirer_agency: str
    provider_agency: str
    procedure_code: str
    dataset: str
    items: tuple[str, ...]
    status: str
    outcome: str | None
    reason: str | None
    permit: dict[str, Any] | None
    sent_at: dt.datetime | None
    provider_record_id: str | None
    answered_at: dt.datetime | None
    has_result: bool
    opened_at: dt.datetime
    completed_at: dt.datetime | None
    abandoned_at: dt.datetime | None
    delete_after: dt.datetime | None
    result_deleted_at: dt.datetime | None


_COLUMNS = (
    "inquiry_id, city_code, request_id, person_id, inquirer_agency, provider_agency, procedure_code,"
    " dataset, items, status, outcome, reason, permit, sent_at, provider_record_id, answered_at,"
    " result IS NOT NULL AS has_result, opened_at, completed_at, abandoned_at, delete_after,"
    " result_deleted_at"
)


def _inquiry(row: Any) -> Inquiry:
    data = row._mapping
    return Inquiry(**{**data, "items": tuple(data["items"])})


def load_inquiry(conn: Connection, *, city_code: str, request_id: str, lock: bool = False) -> Inquiry:
    tenants.scope(conn, city_code)
    row = conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM gateway.inquiry WHERE city_code = :c AND request_id = :r"
            + (" FOR UPDATE" if lock else "")
        ),
        {"c": city_code, "r": request_id},
    ).first()
    if row is None:
        raise InquiryNotFound(f"照会 {request_id} はありません")
    return _inquiry(row)


def _finish_values(conn: Connection, city_code: str, at: dt.datetime) -> dict[str, Any]:
    days = tenants.load_tenant(conn, city_code).result_retention_days
    return {"at": at, "del": at + dt.timedelta(days=days)}


def attach_permit(
    conn: Connection, *, city_code: str, request_id: str, permit: Permit | None, refusal: str | None = None
) -> None:
    """Keep the network's 情報提供許可証, or record its refusal (outcome refused)."""
    inq = load_inquiry(conn, city_code=city_code, request_id=request_id, lock=True)
    if inq.status != "opened":
        if permit is not None and inq.permit == permit.to_json():
            return  # the same permit again (a retry)
        if permit is None and inq.status == "refused":
            return
        raise InquiryStateError(f"照会 {request_id}: 許可証を受け付ける状態ではありません（{inq.status}）")
    if permit is None:
        reason = refusal or "情報提供ネットワークシステムが許可証を発行しませんでした"
        _finish(conn, inq, status="refused", outcome="refused", reason=reason, phase="answer")
        return
    tenant = tenants.load_tenant(conn, city_code)
    problem = None
    if tenant.network_signing_key is None:
        problem = "情報提供ネットワークシステムに未参加のため許可証を検証できません"
    else:
        try:
            protocol.verify_permit(tenant.network_signing_key, permit)
        except protocol.ProtocolError as exc:
            problem = str(exc)
    if problem is None and (
        permit.inquirer_agency != inq.inquirer_agency
        or permit.provider_agency != inq.provider_agency
        or permit.dataset != inq.dataset
        or tuple(permit.items) != inq.items
    ):
        problem = "許可証の内容が照会と一致しません"
    if problem is not None:
        _finish(conn, inq, status="refused", outcome="denied", reason=problem, phase="answer", permit=permit)
        return
    conn.execute(
        text(
            "UPDATE gateway.inquiry SET status = 'permitted', permit = CAST(:j AS jsonb), permit_id = :pid"
            " WHERE inquiry_id = :id"
        ),
        {
            "j": json.dumps(permit.to_json(), ensure_ascii=False),
            "pid": permit.permit_id,
            "id": inq.inquiry_id,
        },
    )


def _finish(
    conn: Connection,
    inq: Inquiry,
    *,
    status: str,
    outcome: str,
    reason: str,
    phase: str,
    permit: Permit | None = None,
    response: ProvisionResponse | None = None,
    received_at: dt.datetime | None = None,
    result: bytes | None = None,
) -> None:
    at = received_at or dt.datetime.now(dt.UTC)
    ends = _finish_values(conn, inq.city_code, at)
    conn.execute(
        text(
            "UPDATE gateway.inquiry SET status = :s, outcome = :o, reason = :why,"
            " permit = COALESCE(CAST(:j AS jsonb), permit), permit_id = COALESCE(:pid, permit_id),"
            " provider_record_id = COALESCE(:prid, provider_record_id),"
            " answered_at = COALESCE(:ans, answered_at),"
            " result = COALESCE(:res, result),"
            " completed_at = CASE WHEN :done THEN :at ELSE completed_at END,"
            " abandoned_at = CASE WHEN :gone THEN :at ELSE abandoned_at END,"
            " delete_after = CASE WHEN :done OR :gone THEN :del ELSE delete_after END"
            " WHERE inquiry_id = :id"
        ),
        {
            "s": status,
            "o": outcome,
            "why": reason,
            "j": json.dumps(permit.to_json(), ensure_ascii=False) if permit else None,
            "pid": permit.permit_id if permit else None,
            "prid": response.provider_record_id if response else None,
            "ans": _time(response.answered_at) if response else None,
            "res": result,
            "done": status in ("completed", "refused"),
            "gone": status == "abandoned",
            "id": inq.inquiry_id,
            **ends,
        },
    )
    permit_id = permit.permit_id if permit else (inq.permit or {}).get("permit_id")
    records.append(
        conn,
        city_code=inq.city_code,
        kind="inquiry",
        phase=phase,
        request_id=inq.request_id,
        person_id=inq.person_id,
        inquirer_agency=inq.inquirer_agency,
        provider_agency=inq.provider_agency,
        procedure_code=inq.procedure_code,
        dataset=inq.dataset,
        items=inq.items,
        outcome=outcome,
        reason=reason,
        permit_id=permit_id,
        list_version=(permit.list_version if permit else (inq.permit or {}).get("list_version")),
        inquirer_at=inq.sent_at,
        provider_at=_time(response.answered_at) if response else None,
    )


def _time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def provision_request_for(conn: Connection, *, city_code: str, request_id: str) -> ProvisionRequest:
    """The request to route to the provider; the same on every retry (same id, same sent_at)."""
    inq = load_inquiry(conn, city_code=city_code, request_id=request_id, lock=True)
    if inq.status not in ("permitted", "sent") or inq.permit is None:
        raise InquiryStateError(f"照会 {request_id}: 許可証がないため送信できません（{inq.status}）")
    sent_at = inq.sent_at
    if sent_at is None:
        sent_at = dt.datetime.now(dt.UTC)
        conn.execute(
            text("UPDATE gateway.inquiry SET status = 'sent', sent_at = :t WHERE inquiry_id = :id"),
            {"t": sent_at, "id": inq.inquiry_id},
        )
    tenant = tenants.load_tenant(conn, city_code)
    return ProvisionRequest(
        request_id=request_id,
        permit=dict(inq.permit),
        inquirer_public_key=protocol.b64e(tenant.exchange_public_key),
        sent_at=protocol.iso(sent_at),
    )


def complete_inquiry(
    conn: Connection,
    *,
    city_code: str,
    request_id: str,
    response: ProvisionResponse,
    received_at: dt.datetime,
) -> None:
    """Receive the provider's answer (or its later answer after a 自動応答不可 review). Idempotent."""
    inq = load_inquiry(conn, city_code=city_code, request_id=request_id, lock=True)
    if response.request_id != request_id:
        raise GatewayError(f"照会 {request_id}: 回答の request_id が一致しません")
    if inq.status in ("completed", "refused", "abandoned"):
        return  # already answered: a duplicate delivery changes nothing
    if inq.status == "held" and response.status == "held":
        return
    if inq.status not in ("sent", "held"):
        raise InquiryStateError(f"照会 {request_id}: 回答を受け付ける状態ではありません（{inq.status}）")
    phase = "review" if inq.status == "held" else "answer"
    if response.status == "held":
        _finish(
            conn,
            inq,
            status="held",
            outcome="held",
            reason=response.reason or "提供者の確認待ち",
            phase=phase,
            response=response,
            received_at=received_at,
        )
        return
    if response.status != "provided":
        outcome = "not_found" if response.status == "not_found" else "refused"
        _finish(
            conn,
            inq,
            status="completed",
            outcome=outcome,
            reason=response.reason,
            phase=phase,
            response=response,
            received_at=received_at,
        )
        return
    permit_id = str((inq.permit or {}).get("permit_id", ""))
    try:
        if response.sealed_answer is None:
            raise protocol.ProtocolError("回答に暗号文がありません")
        plain = protocol.open_sealed(
            tenants.exchange_private_key(conn, city_code),
            protocol.Sealed.from_json(response.sealed_answer),
            protocol.answer_aad(request_id, permit_id),
        )
        json.loads(plain)
    except (protocol.ProtocolError, ValueError) as exc:
        _finish(
            conn,
            inq,
            status="abandoned",
            outcome="denied",
            reason=f"回答を受け取れません: {exc}",
            phase=phase,
            response=response,
            received_at=received_at,
        )
        return
    blob = keys.encrypt(conn, plain, table=RESULT_COLUMN[0], column=RESULT_COLUMN[1], row_id=inq.inquiry_id)
    _finish(
        conn,
        inq,
        status="completed",
        outcome="released" if phase == "review" else "provided",
        reason="",
        phase=phase,
        response=response,
        received_at=received_at,
        result=blob,
    )


def abandon_inquiry(conn: Connection, *, city_code: str, request_id: str, reason: str) -> None:
    """中断: an inquiry that will not be answered (timeout, withdrawn); its result clock starts."""
    inq = load_inquiry(conn, city_code=city_code, request_id=request_id, lock=True)
    if inq.status in ("completed", "refused", "abandoned"):
        return
    at = dt.datetime.now(dt.UTC)
    conn.execute(
        text(
            "UPDATE gateway.inquiry SET status = 'abandoned', reason = :why, abandoned_at = :at,"
            " delete_after = :del WHERE inquiry_id = :id"
        ),
        {"why": reason, "id": inq.inquiry_id, **_finish_values(conn, city_code, at)},
    )


def read_result(conn: Connection, ctx: AccessContext, *, city_code: str, request_id: str) -> dict[str, Any]:
    """照会結果の閲覧 (access-logged): the decrypted answer of a completed inquiry."""
    inq = load_inquiry(conn, city_code=city_code, request_id=request_id)
    guard.require(
        conn,
        ctx,
        action=Action.VIEW,
        subjects=[subject_of(conn, inq.person_id)],
        detail={"gateway": "inquiry_result", "request_id": request_id},
    )
    blob = conn.execute(
        text("SELECT result FROM gateway.inquiry WHERE inquiry_id = :id"), {"id": inq.inquiry_id}
    ).scalar()
    if blob is None:
        if inq.result_deleted_at is not None:
            raise InquiryStateError(f"照会 {request_id}: 照会結果は保存期間の経過により削除されました")
        raise InquiryStateError(f"照会 {request_id}: 照会結果はありません（{inq.status}）")
    plain = keys.decrypt(
        conn, bytes(blob), table=RESULT_COLUMN[0], column=RESULT_COLUMN[1], row_id=inq.inquiry_id
    )
    data: dict[str, Any] = json.loads(plain)
    return data


def list_inquiries(
    conn: Connection, ctx: AccessContext, *, city_code: str, limit: int = 200
) -> list[Inquiry]:
    """照会一覧 (no personal items: ids, agencies, status); the persons shown are logged."""
    tenants.scope(conn, city_code)
    guard.require(conn, ctx, action=Action.SEARCH, log=False)
    rows = conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM gateway.inquiry WHERE city_code = :c ORDER BY inquiry_id DESC LIMIT :n"
        ),
        {"c": city_code, "n": limit},
    ).all()
    found = [_inquiry(r) for r in rows]
    audit.record(
        conn,
        ctx,
        action=Action.SEARCH,
        subjects=sorted({subject_of(conn, i.person_id) for i in found}),
        detail={"gateway": "inquiry_list", "count": len(found)},
    )
    return found


def purge_expired(conn: Connection, *, city_code: str, now: dt.datetime) -> int:
    """Delete the results of inquiries past ``delete_after``; return how many (the row and its
    情報提供等記録 stay)."""
    tenants.scope(conn, city_code)
    done = conn.execute(
        text(
            "UPDATE gateway.inquiry SET result = NULL, result_deleted_at = :now"
            " WHERE city_code = :c AND result IS NOT NULL AND delete_after <= :now"
        ),
        {"c": city_code, "now": now},
    )
    return int(done.rowcount)


def view_inquiry(
    conn: Connection, ctx: AccessContext, *, city_code: str, request_id: str
) -> tuple[Inquiry, dict[str, Any] | None]:
    """照会の閲覧 (access-logged once): the inquiry and, while it is kept, its decrypted result."""
    inq = load_inquiry(conn, city_code=city_code, request_id=request_id)
    if inq.has_result:
        return inq, read_result(conn, ctx, city_code=city_code, request_id=request_id)
    guard.require(
        conn,
        ctx,
        action=Action.VIEW,
        subjects=[subject_of(conn, inq.person_id)],
        detail={"gateway": "inquiry", "request_id": request_id},
    )
    return inq, None
