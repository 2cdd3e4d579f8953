"""The 中間サーバー's calls to the 情報提供ネットワークシステム (ネットワーク接続): 符号取得 and 情報照会.

Used by staff screens and the CLI. Each step is its own short transaction, and no transaction is
held open across a network call: the access-log row of reading the 個人番号 is committed even when
the network then fails (the read happened), and an inquiry's state says how far it got, so a retry
continues with the same request id (the provider answers a replay with its stored response and
writes no second 情報提供等記録).

The 個人番号 leaves the city only sealed to the network's X25519 key inside a ``TokenRequest``
(seed 000: 個人番号を用いずに符号で連携; 中間サーバー ② 符号取得). It is never logged and never part
of an error message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import Engine

from kiban.gateway import inquiry, tenants, tokens
from kiban.gateway.errors import GatewayError, InquiryRefused, TenantMissing
from kiban.identity import vault
from kiban.network import protocol
from kiban.network.protocol import Permit, ProvisionRequest, ProvisionResponse
from kiban.rules.permit_list import agency_business, agency_city
from kiban.security.context import AccessContext, Business


class NetworkUnavailable(GatewayError):
    """The network (or, through it, the provider) could not be reached in time; retry later
    (``request_id``: the inquiry to send again with ``send_inquiry``, when one was opened)."""

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


_clients: dict[str, httpx.Client] = {}
_clients_lock = threading.Lock()


def http_client(base_url: str) -> httpx.Client:
    """One keep-alive client per network URL for the whole process (thread-safe)."""
    with _clients_lock:
        client = _clients.get(base_url)
        if client is None:
            client = httpx.Client(
                base_url=base_url,
                timeout=httpx.Timeout(10.0, connect=2.0),
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=50),
            )
            _clients[base_url] = client
        return client


def close_clients() -> None:
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


class _Network:
    """The network as this city knows it: URL, its keys, our bearer token (read in one transaction)."""

    def __init__(self, tenant: tenants.Tenant, api_token: str) -> None:
        if tenant.network_url is None or tenant.network_exchange_key is None:
            raise TenantMissing(
                f"テナント {tenant.city_code} は情報提供ネットワークシステムに参加していません"
            )
        self.url = tenant.network_url
        self.exchange_key = tenant.network_exchange_key
        self._headers = {"Authorization": f"Bearer {api_token}"}

    def post(self, path: str, body: dict[str, Any], *, timeout: float | None = None) -> httpx.Response:
        return http_client(self.url).post(
            path, json=body, headers=self._headers, timeout=timeout if timeout is not None else 10.0
        )


_NETWORK_TTL = 30.0  # seconds a process trusts its copy of the tenant's network settings
_networks: dict[tuple[str, str], tuple[float, _Network]] = {}


def _network(conn: Any, city_code: str) -> _Network:
    """The tenant's network settings, read (and the bearer decrypted) at most every 30 s per process."""
    key = (str(conn.engine.url), city_code)
    cached = _networks.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    net = _Network(tenants.load_tenant(conn, city_code), tenants.network_api_token(conn, city_code))
    _networks[key] = (time.monotonic() + _NETWORK_TTL, net)
    return net


def forget_network_settings() -> None:
    """Drop the cached settings (after ``kiban gateway join`` in the same process, and in tests)."""
    _networks.clear()


def _error_of(resp: httpx.Response) -> str:
    try:
        data = resp.json()
    except ValueError:
        return f"HTTP {resp.status_code}"
    if isinstance(data, dict):
        return str(data.get("error") or data.get("refusal") or f"HTTP {resp.status_code}")
    return f"HTTP {resp.status_code}"


def _check_business(ctx: AccessContext, agency_code: str) -> None:
    if ctx.business is not Business.CHUKAN and ctx.business.value != agency_business(agency_code):
        raise GatewayError(f"機関 {agency_code} の事務と操作中の事務（{ctx.business.label}）が一致しません")


def acquire_token(
    engine: Engine, ctx: AccessContext, *, city_code: str, person_id: int, agency_code: str
) -> str:
    """符号取得 (符号管理 FGU): the person's 符号 for ``agency_code``, asked from the network.

    Reads the 個人番号 from the identity vault (guarded, logged with the purpose 符号取得), seals it
    to the network's key with the agency code as associated data, and stores the returned 符号."""
    tokens.check_agency(agency_code)
    if agency_city(agency_code) != city_code:
        raise GatewayError(f"機関 {agency_code} は当団体（{city_code}）の機関ではありません")
    _check_business(ctx, agency_code)
    with engine.begin() as conn:
        tenants.scope(conn, city_code)
        net = _network(conn, city_code)
        subject = inquiry.subject_of(conn, person_id)
        # Through the vault's one guarded reader: one access-log row (出力, 符号取得), never the number.
        digits = vault.hand_over(
            conn, ctx, [subject], via=vault.TOKEN_ACQUISITION, detail={"agency": agency_code}
        ).get(subject)
        if digits is None:
            raise GatewayError(f"宛名 {subject}: 個人番号が登録されていないため符号を取得できません")
        sealed = protocol.seal(net.exchange_key, digits.encode("ascii"), agency_code.encode("utf-8"))
        del digits
    body = protocol.TokenRequest(agency_code=agency_code, sealed_my_number=sealed.to_json()).to_json()
    try:
        resp = net.post("/v1/tokens", body)
    except httpx.HTTPError as exc:
        raise NetworkUnavailable(
            f"宛名 {subject}: 情報提供ネットワークシステムに接続できません（{type(exc).__name__}）"
        ) from exc
    if resp.status_code != 200:
        raise GatewayError(f"宛名 {subject}: 符号を取得できません（{_error_of(resp)}）")
    answer = protocol.TokenResponse.from_json(resp.json())
    if answer.agency_code != agency_code:
        raise GatewayError(f"宛名 {subject}: 符号の応答の機関が一致しません（{answer.agency_code}）")
    with engine.begin() as conn:
        tokens.store_token(
            conn, city_code=city_code, person_id=person_id, agency_code=agency_code, token=answer.token
        )
    return answer.token


def _retrying(send: Any, deadline: float) -> httpx.Response:
    """POST until a definite answer: transport errors and 502/503 are retried (same body, same id)."""
    delay = 0.05
    while True:
        remaining = deadline - time.monotonic()
        try:
            resp: httpx.Response = send(max(remaining, 0.5))
            if resp.status_code not in (502, 503, 504):
                return resp
            problem = _error_of(resp)
        except httpx.TransportError as exc:
            problem = type(exc).__name__
        if time.monotonic() + delay >= deadline:
            raise NetworkUnavailable(
                f"情報提供ネットワークシステム経由で提供機関に到達できません（{problem}）"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def send_inquiry(
    engine: Engine,
    *,
    city_code: str,
    request_id: str,
    timeout: float = 5.0,
    request: ProvisionRequest | None = None,
) -> ProvisionResponse:
    """Route a permitted inquiry to the provider and take in the answer (情報照会の送信と回答受領).

    Safe to call again for the same request id after any failure: the request is the same (same id,
    same sent_at), the provider replies with its stored response, ``complete_inquiry`` is idempotent.
    ``request`` is the ``provision_request_for`` of this id when the caller already has it."""
    deadline = time.monotonic() + timeout
    with engine.begin() as conn:
        net = _network(conn, city_code)
        if request is None:
            request = inquiry.provision_request_for(conn, city_code=city_code, request_id=request_id)
    body = request.to_json()
    try:
        resp = _retrying(lambda left: net.post("/v1/route/provision", body, timeout=left), deadline)
    except NetworkUnavailable as exc:
        raise NetworkUnavailable(f"照会 {request_id}: {exc}", request_id=request_id) from exc
    if resp.status_code != 200:
        raise GatewayError(
            f"照会 {request_id}: 情報提供ネットワークシステムが受け付けませんでした（{_error_of(resp)}）"
        )
    answer = ProvisionResponse.from_json(resp.json())
    with engine.begin() as conn:
        inquiry.complete_inquiry(
            conn, city_code=city_code, request_id=request_id, response=answer, received_at=protocol.utcnow()
        )
    return answer


def _open_and_permit(
    engine: Engine,
    ctx: AccessContext,
    *,
    city_code: str,
    person_id: int,
    inquirer_agency: str,
    provider_agency: str,
    procedure_code: str,
    dataset: str,
    items: Sequence[str],
    timeout: float = 5.0,
) -> ProvisionRequest:
    deadline = time.monotonic() + timeout
    with engine.begin() as conn:
        request_id, permit_request = inquiry.open_inquiry(
            conn,
            ctx,
            city_code=city_code,
            person_id=person_id,
            inquirer_agency=inquirer_agency,
            provider_agency=provider_agency,
            procedure_code=procedure_code,
            dataset=dataset,
            items=items,
        )
        net = _network(conn, city_code)
    body = permit_request.to_json()
    try:
        resp = _retrying(lambda left: net.post("/v1/permits", body, timeout=left), deadline)
    except NetworkUnavailable:
        with engine.begin() as conn:
            inquiry.abandon_inquiry(
                conn,
                city_code=city_code,
                request_id=request_id,
                reason="許可証を取得できませんでした（通信不能）",
            )
        raise
    permit: Permit | None = None
    refusal: str | None = None
    if resp.status_code == 200:
        permit = Permit.from_json(resp.json())
    elif resp.status_code == 403 and "refusal" in resp.json():
        refusal = str(resp.json()["refusal"])
    else:
        refusal = f"情報提供ネットワークシステムが許可証の発行を拒否しました（{_error_of(resp)}）"
    with engine.begin() as conn:  # one transaction: the permit kept and the request to route built
        inquiry.attach_permit(
            conn, city_code=city_code, request_id=request_id, permit=permit, refusal=refusal
        )
        state = inquiry.load_inquiry(conn, city_code=city_code, request_id=request_id)
        routed = (
            inquiry.provision_request_for(conn, city_code=city_code, request_id=request_id)
            if state.status == "permitted"
            else None
        )
    if routed is None:
        raise InquiryRefused(f"照会できません: {state.reason or refusal}", request_id=request_id)
    return routed


def start_inquiry(
    engine: Engine,
    ctx: AccessContext,
    *,
    city_code: str,
    person_id: int,
    inquirer_agency: str,
    provider_agency: str,
    procedure_code: str,
    dataset: str,
    items: Sequence[str],
    timeout: float = 5.0,
) -> str:
    """情報照会の開始: open the inquiry and attach the network's permit; returns the request id
    (then ``send_inquiry``). A refusal (our list or the network's) is recorded and raised as
    :class:`InquiryRefused`."""
    return _open_and_permit(
        engine,
        ctx,
        city_code=city_code,
        person_id=person_id,
        inquirer_agency=inquirer_agency,
        provider_agency=provider_agency,
        procedure_code=procedure_code,
        dataset=dataset,
        items=items,
        timeout=timeout,
    ).request_id


def inquire(
    engine: Engine,
    ctx: AccessContext,
    *,
    city_code: str,
    person_id: int,
    inquirer_agency: str,
    provider_agency: str,
    procedure_code: str,
    dataset: str,
    items: Sequence[str],
    timeout: float = 5.0,
) -> str:
    """情報照会 (SKI): open → permit from the network → route to the provider → answer stored.

    Returns the request id. A refusal by the list (ours or the network's) is recorded and raised as
    :class:`InquiryRefused`; a 自動応答不可 answer leaves the inquiry ``held`` until the provider's
    supervisor releases it (the later answer arrives at ``/gateway/v1/answers``). Transport errors
    are retried with the same request id until ``timeout``; after :class:`NetworkUnavailable`,
    ``send_inquiry`` with the same id continues where it stopped."""
    deadline = time.monotonic() + timeout
    request = _open_and_permit(
        engine,
        ctx,
        city_code=city_code,
        person_id=person_id,
        inquirer_agency=inquirer_agency,
        provider_agency=provider_agency,
        procedure_code=procedure_code,
        dataset=dataset,
        items=items,
        timeout=timeout,
    )
    send_inquiry(
        engine,
        city_code=city_code,
        request_id=request.request_id,
        timeout=max(deadline - time.monotonic(), 1.0),
        request=request,
    )
    return request.request_id
