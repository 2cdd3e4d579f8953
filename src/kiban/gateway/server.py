"""The 中間サーバー's HTTP server for the network's calls (ネットワークからの受信), one city per process.

| route | caller | what |
|---|---|---|
| ``POST /gateway/v1/provision`` | the network (its bearer) | 情報提供: ``ProvisionRequest`` → ``ProvisionResponse`` |
| ``POST /gateway/v1/answers`` | the network (its bearer) | a later answer (released 自動応答不可 items) |
| ``GET /gateway/v1/health`` | anyone | liveness |

Each request is one transaction as ``kiban_app`` (row-level security scoped to the city), and it is
committed before the response is sent: a provision answered is a provision recorded (seed 000
⑤ 情報提供等記録; issue 8 "durable before any success response").

A background sender forwards answers a supervisor released (``pending_answers``) to the network's
``/v1/route/answer`` and marks them sent; an answer sent twice (a crash between the send and the
mark) is harmless, ``complete_inquiry`` at the inquirer is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kiban.gateway import client, inquiry, provision, tenants
from kiban.gateway.errors import GatewayError
from kiban.network import protocol
from kiban.network.protocol import ProvisionRequest, ProvisionResponse

log = logging.getLogger("kiban.gateway.server")


class _Json(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class _Unauthorized(Exception):
    pass


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def _body(request: Request) -> dict[str, Any]:
    data = json.loads(await request.body())
    if not isinstance(data, dict):
        raise protocol.ProtocolError("要求の本文が JSON オブジェクトではありません")
    return data


def _provision(engine: Engine, city_code: str, bearer: str, request: ProvisionRequest) -> dict[str, Any]:
    received_at = protocol.utcnow()
    with engine.begin() as conn:
        if not tenants.check_network_caller(conn, city_code, bearer):
            raise _Unauthorized
        response = provision.handle_provision_request(
            conn, city_code=city_code, request=request, received_at=received_at
        )
    # committed: the 情報提供等記録 is durable before the answer leaves
    return response.to_json()


def _answer(engine: Engine, city_code: str, bearer: str, response: ProvisionResponse) -> dict[str, Any]:
    received_at = protocol.utcnow()
    with engine.begin() as conn:
        if not tenants.check_network_caller(conn, city_code, bearer):
            raise _Unauthorized
        inquiry.complete_inquiry(
            conn,
            city_code=city_code,
            request_id=response.request_id,
            response=response,
            received_at=received_at,
        )
    return {"request_id": response.request_id, "received": True}


def send_released_answers(engine: Engine, city_code: str) -> int:
    """後続の回答の送信: released answers to the network, each marked sent once acknowledged."""
    with engine.begin() as conn:
        pending = provision.pending_answers(conn, city_code=city_code)
        if not pending:
            return 0
        tenant = tenants.load_tenant(conn, city_code)
        token = tenants.network_api_token(conn, city_code)
    if tenant.network_url is None:
        return 0
    http = client.http_client(tenant.network_url)
    sent = 0
    for inquirer_agency, response in pending:
        try:
            resp = http.post(
                "/v1/route/answer",
                json={"inquirer_agency": inquirer_agency, "response": response.to_json()},
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as exc:
            log.warning("answer %s not sent: %s", response.request_id, type(exc).__name__)
            break
        if resp.status_code != 200:
            log.warning("answer %s refused by the network: HTTP %s", response.request_id, resp.status_code)
            continue
        with engine.begin() as conn:
            provision.mark_answer_sent(conn, city_code=city_code, request_id=response.request_id)
        sent += 1
    return sent


class _Sender(threading.Thread):
    def __init__(self, engine: Engine, city_code: str, interval: float) -> None:
        super().__init__(name=f"gateway-sender-{city_code}", daemon=True)
        self.engine, self.city_code, self.interval = engine, city_code, interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                send_released_answers(self.engine, self.city_code)
            except Exception:  # keep sending later; the queue is durable
                log.exception("released answers of %s: send failed", self.city_code)


def create_app(
    city_code: str, engine: Engine, *, sender_interval: float = 0.5, db_workers: int = 8
) -> Starlette:
    """The gateway's ASGI app for one city.

    Database work runs on ``db_workers`` threads (not the 40 of the default thread pool): every
    provision ends holding the city's 情報提供等記録 chain-head lock until commit, and with many
    Python threads the holder waits for the GIL while the others queue on the lock."""
    tenants.check_city_code(city_code)
    workers = ThreadPoolExecutor(max_workers=db_workers, thread_name_prefix=f"gateway-db-{city_code}")

    async def in_worker(fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(workers, fn, *args)

    async def provision_endpoint(request: Request) -> Response:
        try:
            req = ProvisionRequest.from_json(await _body(request))
            return _Json(await in_worker(_provision, engine, city_code, _bearer(request), req))
        except _Unauthorized:
            return _Json({"error": "ネットワークの認証トークンが一致しません"}, status_code=401)
        except (protocol.ProtocolError, ValueError, TypeError) as exc:
            return _Json({"error": f"ProvisionRequest の形式が不正です: {exc}"}, status_code=400)
        except GatewayError as exc:
            return _Json({"error": str(exc)}, status_code=409)

    async def answers_endpoint(request: Request) -> Response:
        try:
            resp = ProvisionResponse.from_json(await _body(request))
            return _Json(await in_worker(_answer, engine, city_code, _bearer(request), resp))
        except _Unauthorized:
            return _Json({"error": "ネットワークの認証トークンが一致しません"}, status_code=401)
        except (protocol.ProtocolError, ValueError, TypeError) as exc:
            return _Json({"error": f"ProvisionResponse の形式が不正です: {exc}"}, status_code=400)
        except GatewayError as exc:
            return _Json({"error": str(exc)}, status_code=409)

    async def health(request: Request) -> Response:
        return _Json({"city_code": city_code, "ok": True})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sender = _Sender(engine, city_code, sender_interval) if sender_interval > 0 else None
        if sender is not None:
            sender.start()
        try:
            yield
        finally:
            if sender is not None:
                sender.stopping.set()
                sender.join(timeout=5)
            client.close_clients()
            workers.shutdown(wait=False, cancel_futures=True)

    return Starlette(
        routes=[
            Route("/gateway/v1/provision", provision_endpoint, methods=["POST"]),
            Route("/gateway/v1/answers", answers_endpoint, methods=["POST"]),
            Route("/gateway/v1/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def serve(
    city_code: str,
    engine: Engine,
    *,
    host: str,
    port: int,
    sender_interval: float = 0.5,
    db_workers: int = 8,
) -> None:
    import uvicorn

    from kiban.network.server import fast_uvicorn_options

    uvicorn.run(
        create_app(city_code, engine, sender_interval=sender_interval, db_workers=db_workers),
        host=host,
        port=port,
        **fast_uvicorn_options(),
    )
