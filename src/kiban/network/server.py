"""The stand-in network's HTTP interface (情報提供ネットワークシステムの API), an async Starlette app.

| route | caller | what |
|---|---|---|
| ``POST /v1/agencies`` | operator (admin bearer) | register or update an agency (``AgencyRegistration``) |
| ``GET /v1/keys`` | anyone | the network's public signing and exchange keys |
| ``POST /v1/tokens`` | agency | 符号取得 (``TokenRequest`` → ``TokenResponse``) |
| ``POST /v1/permits`` | inquirer | 情報提供許可証 (``PermitRequest`` → ``Permit``; 403 ``refusal``) |
| ``POST /v1/route/provision`` | inquirer | ``ProvisionRequest`` → provider → ``ProvisionResponse`` |
| ``POST /v1/route/answer`` | provider | a later answer → inquirer's ``/gateway/v1/answers`` |

Every call but ``/v1/keys`` carries ``Authorization: Bearer <token>``. Errors are JSON
``{"error": "<日本語>"}``; a refused permit is 403 ``{"refusal": "<理由>"}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kiban.network import protocol as p
from kiban.network.service import Network, NetworkError, PermitRefused
from kiban.network.store import Pool, ensure_schema

log = logging.getLogger("kiban.network")


class _Json(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body())
    except ValueError as exc:
        raise NetworkError("要求の本文が JSON ではありません") from exc
    if not isinstance(data, dict):
        raise NetworkError("要求の本文が JSON オブジェクトではありません")
    return data


Handler = Callable[[Network, Request], Awaitable[Any]]


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        net: Network = request.app.state.network
        try:
            return _Json(await handler(net, request))
        except PermitRefused as exc:
            return _Json({"refusal": str(exc)}, status_code=403)
        except NetworkError as exc:
            return _Json({"error": str(exc)}, status_code=exc.status)
        except (p.ProtocolError, TypeError) as exc:
            return _Json({"error": f"メッセージの形式が不正です: {exc}"}, status_code=400)

    return run


async def _agencies(net: Network, request: Request) -> Any:
    net.check_admin(_bearer(request))
    return await net.register_agency(p.AgencyRegistration.from_json(await _body(request)))


async def _keys(net: Network, request: Request) -> Any:
    return net.public_keys()


async def _tokens(net: Network, request: Request) -> Any:
    caller = net.caller(_bearer(request))
    return (await net.issue_token(caller, p.TokenRequest.from_json(await _body(request)))).to_json()


async def _permits(net: Network, request: Request) -> Any:
    caller = net.caller(_bearer(request))
    return (await net.issue_permit(caller, p.PermitRequest.from_json(await _body(request)))).to_json()


async def _route_provision(net: Network, request: Request) -> Any:
    caller = net.caller(_bearer(request))
    req = p.ProvisionRequest.from_json(await _body(request))
    return (await net.route_provision(caller, req)).to_json()


async def _route_answer(net: Network, request: Request) -> Any:
    caller = net.caller(_bearer(request))
    body = await _body(request)
    inquirer = body.get("inquirer_agency")
    if not isinstance(inquirer, str) or not isinstance(body.get("response"), dict):
        raise NetworkError("inquirer_agency と response が必要です")
    return await net.route_answer(caller, inquirer, p.ProvisionResponse.from_json(body["response"]))


def create_app(database_url: str, *, admin_token: str, pool_size: int = 4) -> Starlette:
    """The network as an ASGI app; the schema and keys are ready once the lifespan has started."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await ensure_schema(database_url)
        pool = Pool(database_url, size=pool_size)
        await pool.open()
        net = Network(pool, admin_token=admin_token)
        await net.start()
        app.state.network = net
        try:
            yield
        finally:
            await net.stop()
            await pool.close()

    return Starlette(
        routes=[
            Route("/v1/agencies", _endpoint(_agencies), methods=["POST"]),
            Route("/v1/keys", _endpoint(_keys), methods=["GET"]),
            Route("/v1/tokens", _endpoint(_tokens), methods=["POST"]),
            Route("/v1/permits", _endpoint(_permits), methods=["POST"]),
            Route("/v1/route/provision", _endpoint(_route_provision), methods=["POST"]),
            Route("/v1/route/answer", _endpoint(_route_answer), methods=["POST"]),
        ],
        lifespan=lifespan,
    )


def fast_uvicorn_options() -> dict[str, Any]:
    """uvloop and httptools when installed; no access log (it would also be a place for data)."""
    # Keep-alive well beyond uvicorn's 5 s so the peers' pools stay warm between bursts.
    opts: dict[str, Any] = {"access_log": False, "log_level": "warning", "timeout_keep_alive": 75}
    try:
        import uvloop  # noqa: F401

        opts["loop"] = "uvloop"
    except ImportError:
        opts["loop"] = "asyncio"
    try:
        import httptools  # noqa: F401

        opts["http"] = "httptools"
    except ImportError:
        opts["http"] = "h11"
    return opts


def serve(database_url: str, *, host: str, port: int, admin_token: str, pool_size: int = 4) -> None:
    import uvicorn

    uvicorn.run(
        create_app(database_url, admin_token=admin_token, pool_size=pool_size),
        host=host,
        port=port,
        **fast_uvicorn_options(),
    )
