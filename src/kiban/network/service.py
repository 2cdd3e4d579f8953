"""What the stand-in network does (情報提供ネットワークシステムの機能): agencies, 符号, permits, routing.

Seed 000 (中間サーバー ①–⑩, リスク対策 6) and the デジタル庁 共通機能標準仕様書: the network

- registers 情報照会者・情報提供者 (``register_agency``);
- issues 符号 (``issue_token``): it opens the sealed 個人番号, keeps only an HMAC of it under its own
  secret as the person link, and answers with a random token per (person, agency) — the same person
  and agency always get the same token, and two agencies' tokens are linkable only through this
  table;
- issues 情報提供許可証 by the 照会許可用照合リスト (``issue_permit``), recording each issue and refusal;
- routes 情報照会 to the provider and the answer back (``route_provision``), and later answers
  (自動応答不可 items released by a supervisor) to the inquirer (``route_answer``).

It never sees business data in the clear: answers are sealed to the inquirer's key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import psycopg

from kiban.network import protocol as p
from kiban.network.http import HttpError, HttpPool
from kiban.network.store import Pool
from kiban.rules.permit_list import PermitList, Refusal, agency_city, load_permit_list

log = logging.getLogger("kiban.network")

PERMIT_LIFETIME = dt.timedelta(minutes=10)


class NetworkError(Exception):
    """A request the network refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class PermitRefused(NetworkError):
    """The 照会許可用照合リスト does not allow the inquiry (recorded in ``permit_log``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 403)


@dataclass(frozen=True)
class Agency:
    agency_code: str
    city_code: str
    name: str
    endpoint: str
    exchange_public_key: bytes
    token_hash: bytes
    callback_token: str


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


async def _secret(conn: psycopg.AsyncConnection, name: str, make: Any) -> bytes:
    await conn.execute(
        "INSERT INTO network.secret (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
        (name, make()),
    )
    cur = await conn.execute("SELECT value FROM network.secret WHERE name = %s", (name,))
    row = await cur.fetchone()
    assert row is not None
    return bytes(row[0])


class Network:
    """The network's state in one process: its keys, the agency table (cached), its pool."""

    def __init__(self, pool: Pool, *, admin_token: str, permit_list: PermitList | None = None) -> None:
        self.pool = pool
        self._admin_hash = token_hash(admin_token)
        self.permit_list = permit_list or load_permit_list()
        self._agencies: dict[str, Agency] = {}
        self._by_token: dict[bytes, frozenset[str]] = {}
        # Keep-alive connections to each gateway, for the whole process.
        self._pools: dict[str, HttpPool] = {}

    async def start(self) -> None:
        async with self.pool.transaction() as conn:
            self._signing = p.signing_key_from(
                await _secret(conn, "signing", lambda: p.private_bytes(p.new_signing_key()))
            )
            self._exchange = p.exchange_key_from(
                await _secret(conn, "exchange", lambda: p.private_bytes(p.new_exchange_key()))
            )
            self._link_key = await _secret(conn, "person_link", lambda: secrets.token_bytes(32))
        self._signing_public = p.public_bytes(self._signing)
        await self._load_agencies()

    async def stop(self) -> None:
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()

    # ------------------------------------------------------------ keys and agencies

    def public_keys(self) -> dict[str, str]:
        return {
            "protocol": p.PROTOCOL_VERSION,
            "signing_public_key": p.b64e(p.public_bytes(self._signing)),
            "exchange_public_key": p.b64e(p.public_bytes(self._exchange)),
            "permit_list_version": self.permit_list.version,
        }

    async def _load_agencies(self) -> None:
        async with self.pool.transaction() as conn:
            cur = await conn.execute(
                "SELECT agency_code, city_code, name, endpoint, exchange_public_key, token_hash,"
                " callback_token FROM network.agency"
            )
            rows = await cur.fetchall()
        agencies = {r[0]: Agency(r[0], r[1], r[2], r[3], bytes(r[4]), bytes(r[5]), r[6]) for r in rows}
        by_token: dict[bytes, set[str]] = {}
        for a in agencies.values():
            by_token.setdefault(a.token_hash, set()).add(a.agency_code)
        self._agencies = agencies
        self._by_token = {k: frozenset(v) for k, v in by_token.items()}

    def check_admin(self, bearer: str | None) -> None:
        if bearer is None or not hmac.compare_digest(token_hash(bearer), self._admin_hash):
            raise NetworkError("管理用トークンが一致しません", 401)

    def caller(self, bearer: str | None) -> frozenset[str]:
        """The agencies the bearer token belongs to (system connections are authenticated)."""
        if not bearer:
            raise NetworkError("認証トークンがありません", 401)
        agencies = self._by_token.get(token_hash(bearer))
        if not agencies:
            raise NetworkError("認証トークンが登録されていません", 401)
        return agencies

    def agency(self, code: str) -> Agency:
        found = self._agencies.get(code)
        if found is None:
            raise NetworkError(f"機関 {code} は情報提供ネットワークシステムに登録されていません", 404)
        return found

    async def register_agency(self, reg: p.AgencyRegistration) -> dict[str, str]:
        """機関の登録 (or its update: endpoint, key and tokens are replaced)."""
        api_token = str(reg.extra.get("api_token", ""))
        callback_token = str(reg.extra.get("callback_token", ""))
        if len(api_token) < 24 or len(callback_token) < 24:
            raise NetworkError(f"機関 {reg.agency_code}: extra.api_token / extra.callback_token が短すぎます")
        if agency_city(reg.agency_code) != reg.city_code:
            raise NetworkError(f"機関 {reg.agency_code}: city_code {reg.city_code} と一致しません")
        if not reg.endpoint.startswith(("http://", "https://")):
            raise NetworkError(f"機関 {reg.agency_code}: endpoint が URL ではありません")
        key = p.b64d(reg.exchange_public_key)
        if len(key) != 32:
            raise NetworkError(f"機関 {reg.agency_code}: exchange_public_key が 32 バイトではありません")
        async with self.pool.transaction() as conn:
            await conn.execute(
                "INSERT INTO network.agency (agency_code, city_code, name, endpoint, exchange_public_key,"
                " token_hash, callback_token) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (agency_code) DO UPDATE SET city_code = EXCLUDED.city_code,"
                " name = EXCLUDED.name, endpoint = EXCLUDED.endpoint,"
                " exchange_public_key = EXCLUDED.exchange_public_key, token_hash = EXCLUDED.token_hash,"
                " callback_token = EXCLUDED.callback_token, updated_at = now()",
                (
                    reg.agency_code,
                    reg.city_code,
                    reg.name,
                    reg.endpoint.rstrip("/"),
                    key,
                    token_hash(api_token),
                    callback_token,
                ),
            )
        await self._load_agencies()
        log.info("agency registered: %s", reg.agency_code)
        return {"agency_code": reg.agency_code, **self.public_keys()}

    # ------------------------------------------------------------ 符号

    async def issue_token(self, caller: frozenset[str], req: p.TokenRequest) -> p.TokenResponse:
        """符号の発行: the same (person, agency) always gets the same random token."""
        if req.agency_code not in caller:
            raise NetworkError(
                f"機関 {req.agency_code} の符号は要求できません（認証された機関と異なる）", 403
            )
        sealed = p.Sealed.from_json(req.sealed_my_number)
        try:
            digits = p.open_sealed(self._exchange, sealed, req.agency_code.encode("utf-8")).decode("ascii")
        except (p.ProtocolError, UnicodeDecodeError) as exc:
            raise NetworkError("TokenRequest.sealed_my_number を復号できません") from exc
        if len(digits) != 12 or not digits.isdigit():
            raise NetworkError("TokenRequest.sealed_my_number: 個人番号は12桁の数字です")
        link = hmac.new(self._link_key, digits.encode("ascii"), hashlib.sha256).digest()
        del digits
        fresh = secrets.token_urlsafe(24)
        async with self.pool.transaction() as conn:
            await conn.execute(
                "INSERT INTO network.token (person_link, agency_code, token) VALUES (%s, %s, %s)"
                " ON CONFLICT (person_link, agency_code) DO NOTHING",
                (link, req.agency_code, fresh),
            )
            cur = await conn.execute(
                "SELECT token FROM network.token WHERE person_link = %s AND agency_code = %s",
                (link, req.agency_code),
            )
            row = await cur.fetchone()
        assert row is not None
        return p.TokenResponse(agency_code=req.agency_code, token=row[0])

    # ------------------------------------------------------------ 情報提供許可証

    async def issue_permit(self, caller: frozenset[str], req: p.PermitRequest) -> p.Permit:
        """情報提供許可証の発行 by the 照会許可用照合リスト; a refusal is recorded and raised."""
        if req.inquirer_agency not in caller:
            raise NetworkError(f"照会機関 {req.inquirer_agency} は認証された機関と異なります", 403)
        self.agency(req.provider_agency)
        items = tuple(req.items)
        if not items or not all(isinstance(i, str) and i for i in items):
            raise NetworkError("PermitRequest.items: 照会項目がありません")
        checked = self.permit_list.check(
            inquirer_agency=req.inquirer_agency,
            provider_agency=req.provider_agency,
            procedure_code=req.procedure_code,
            dataset=req.dataset,
            items=items,
        )
        # Two single-statement round trips: read the 符号 translation, then record the decision.
        reason = checked.reason if isinstance(checked, Refusal) else ""
        provider_token: str | None = None
        if not reason:
            rows = await self.pool.execute(
                "SELECT p.token FROM network.token i LEFT JOIN network.token p"
                " ON p.person_link = i.person_link AND p.agency_code = %s"
                " WHERE i.token = %s AND i.agency_code = %s",
                (req.provider_agency, req.inquirer_token, req.inquirer_agency),
            )
            if not rows:
                reason = "照会機関の符号が登録されていません（符号取得が必要です）"
            elif rows[0][0] is None:
                reason = f"提供機関 {req.provider_agency} に対象者の符号が登録されていません"
            else:
                provider_token = str(rows[0][0])
        if reason or provider_token is None:
            await self.pool.execute(
                "INSERT INTO network.permit_log (inquirer_agency, provider_agency, procedure_code,"
                " dataset, items, outcome, reason, list_version) VALUES (%s, %s, %s, %s, %s,"
                " 'refused', %s, %s)",
                (
                    req.inquirer_agency,
                    req.provider_agency,
                    req.procedure_code,
                    req.dataset,
                    list(items),
                    reason,
                    self.permit_list.version,
                ),
            )
            refused = True
        else:
            now = p.utcnow()
            permit = p.sign_permit(
                self._signing,
                p.Permit(
                    permit_id=p.new_id(),
                    inquirer_agency=req.inquirer_agency,
                    provider_agency=req.provider_agency,
                    provider_token=provider_token,
                    procedure_code=req.procedure_code,
                    dataset=req.dataset,
                    items=items,
                    list_version=self.permit_list.version,
                    issued_at=p.iso(now),
                    expires_at=p.iso(now + PERMIT_LIFETIME),
                ),
            )
            await self.pool.execute(
                "INSERT INTO network.permit_log (permit_id, inquirer_agency, provider_agency,"
                " procedure_code, dataset, items, outcome, list_version) VALUES (%s, %s, %s, %s,"
                " %s, %s, 'issued', %s)",
                (
                    permit.permit_id,
                    req.inquirer_agency,
                    req.provider_agency,
                    req.procedure_code,
                    req.dataset,
                    list(items),
                    self.permit_list.version,
                ),
            )
            refused = False
        if refused:
            raise PermitRefused(reason)
        return permit

    # ------------------------------------------------------------ routing

    def _pool_for(self, endpoint: str) -> HttpPool:
        pool = self._pools.get(endpoint)
        if pool is None:
            pool = self._pools[endpoint] = HttpPool(endpoint, size=64, timeout=10.0)
        return pool

    async def _post(self, agency: Agency, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            status, data = await self._pool_for(agency.endpoint).post_json(
                path, body, headers={"Authorization": f"Bearer {agency.callback_token}"}
            )
        except HttpError as exc:
            raise NetworkError(
                f"機関 {agency.agency_code} の中間サーバーに接続できません（{exc}）", 502
            ) from exc
        if status != 200:
            detail = str(data.get("error", "")) if isinstance(data, dict) else ""
            raise NetworkError(
                f"機関 {agency.agency_code} の中間サーバーがエラーを返しました（HTTP {status}）"
                + (f": {detail}" if detail else ""),
                502,
            )
        if not isinstance(data, dict):
            raise NetworkError(f"機関 {agency.agency_code} の応答が JSON オブジェクトではありません", 502)
        return data

    async def _log_route(
        self,
        *,
        kind: str,
        request_id: str,
        permit: p.Permit,
        received_at: dt.datetime,
        sender_sent_at: str,
        response: p.ProvisionResponse | None,
        error: str = "",
    ) -> None:
        await self.pool.execute(
            "INSERT INTO network.route_log (kind, request_id, permit_id, inquirer_agency,"
            " provider_agency, status, provider_record_id, sender_sent_at, received_at, error)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (kind, request_id) DO UPDATE SET attempts = network.route_log.attempts + 1,"
            " status = EXCLUDED.status, provider_record_id = EXCLUDED.provider_record_id,"
            " answered_at = clock_timestamp(), error = EXCLUDED.error",
            (
                kind,
                request_id,
                permit.permit_id,
                permit.inquirer_agency,
                permit.provider_agency,
                response.status if response else "error",
                response.provider_record_id if response else "",
                sender_sent_at,
                received_at,
                error,
            ),
        )

    def _own_permit(self, data: dict[str, Any]) -> p.Permit:
        permit = p.Permit.from_json(data)
        try:
            p.verify_permit(self._signing_public, permit)
        except p.ProtocolError as exc:
            raise NetworkError(str(exc), 403) from exc
        return permit

    async def route_provision(self, caller: frozenset[str], req: p.ProvisionRequest) -> p.ProvisionResponse:
        """情報照会の中継: to the provider's gateway and its answer back to the inquirer."""
        received_at = p.utcnow()
        permit = self._own_permit(req.permit)
        if permit.inquirer_agency not in caller:
            raise NetworkError(f"許可証の照会機関 {permit.inquirer_agency} は認証された機関と異なります", 403)
        provider = self.agency(permit.provider_agency)
        try:
            answer = p.ProvisionResponse.from_json(
                await self._post(provider, "/gateway/v1/provision", req.to_json())
            )
        except (NetworkError, p.ProtocolError, TypeError) as exc:
            await self._log_route(
                kind="provision",
                request_id=req.request_id,
                permit=permit,
                received_at=received_at,
                sender_sent_at=req.sent_at,
                response=None,
                error=str(exc),
            )
            if isinstance(exc, NetworkError):
                raise
            raise NetworkError(f"提供機関の応答が不正です: {exc}", 502) from exc
        if answer.request_id != req.request_id:
            raise NetworkError("提供機関の応答の request_id が照会と一致しません", 502)
        await self._log_route(
            kind="provision",
            request_id=req.request_id,
            permit=permit,
            received_at=received_at,
            sender_sent_at=req.sent_at,
            response=answer,
        )
        return answer

    async def route_answer(
        self, caller: frozenset[str], inquirer_agency: str, answer: p.ProvisionResponse
    ) -> dict[str, Any]:
        """後続の回答の中継 (a held answer released at the provider) to the inquirer's gateway."""
        received_at = p.utcnow()
        rows = await self.pool.execute(
            "SELECT permit_id, inquirer_agency, provider_agency FROM network.route_log"
            " WHERE kind = 'provision' AND request_id = %s",
            (answer.request_id,),
        )
        row = rows[0] if rows else None
        if row is None:
            raise NetworkError(f"照会 {answer.request_id} は中継の記録にありません", 404)
        if row[2] not in caller or row[1] != inquirer_agency:
            raise NetworkError(f"照会 {answer.request_id} の回答を送る権限がありません", 403)
        inquirer = self.agency(inquirer_agency)
        stub = p.Permit(
            permit_id=str(row[0]),
            inquirer_agency=str(row[1]),
            provider_agency=str(row[2]),
            provider_token="",
            procedure_code="",
            dataset="",
            items=(),
            list_version="",
            issued_at="",
            expires_at="",
        )
        try:
            ack = await self._post(inquirer, "/gateway/v1/answers", answer.to_json())
        except NetworkError as exc:
            await self._log_route(
                kind="answer",
                request_id=answer.request_id,
                permit=stub,
                received_at=received_at,
                sender_sent_at=answer.answered_at,
                response=None,
                error=str(exc),
            )
            raise
        await self._log_route(
            kind="answer",
            request_id=answer.request_id,
            permit=stub,
            received_at=received_at,
            sender_sent_at=answer.answered_at,
            response=answer,
        )
        return ack
