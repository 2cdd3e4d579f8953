"""Fixtures for the network stand-in: its own database, the process, and a fake gateway in-process.

The fake gateway is a test double of a city's 中間サーバー only (the system under test is the
network process); it answers provisions with an answer sealed to the inquirer's key.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cluster import Proc, admin_token_file, free_port, network_proc
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kiban.network import protocol as p


@pytest.fixture(scope="module")
def network_db(pg_admin_url: str) -> Iterator[str]:
    from kiban.db import embedded

    name = f"kiban_net_{uuid.uuid4().hex[:10]}"
    embedded.ensure_database(pg_admin_url, name)
    yield make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    embedded.drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def network(network_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, str]]:
    """The stand-in as a subprocess; yields (process, admin token)."""
    directory = tmp_path_factory.mktemp("network")
    path, token = admin_token_file(directory)
    proc = network_proc(network_db, path, directory)
    try:
        proc.start()
        yield proc, token
    finally:
        proc.stop()


@dataclass
class FakeGateway:
    """A city's receiving end: records what the network sent and answers from ``answers``."""

    callback_token: str
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status: str = "provided"
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> Starlette:
        async def provision(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {self.callback_token}":
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            body = await request.json()
            self.received.append(("provision", body))
            req = p.ProvisionRequest.from_json(body)
            permit = p.Permit.from_json(req.permit)
            sealed = p.seal(
                p.b64d(req.inquirer_public_key),
                b'{"insured_no":"0000000001"}',
                p.answer_aad(req.request_id, permit.permit_id),
            )
            return JSONResponse(
                p.ProvisionResponse(
                    request_id=req.request_id,
                    status=self.status,
                    provider_record_id=f"R-{len(self.received)}",
                    answered_at=p.iso(p.utcnow()),
                    sealed_answer=sealed.to_json() if self.status == "provided" else None,
                ).to_json()
            )

        async def answers(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {self.callback_token}":
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            self.received.append(("answer", await request.json()))
            return JSONResponse({"received": True})

        return Starlette(
            routes=[
                Route("/gateway/v1/provision", provision, methods=["POST"]),
                Route("/gateway/v1/answers", answers, methods=["POST"]),
            ]
        )


@pytest.fixture
def fake_gateway() -> Iterator[Any]:
    """``fake_gateway()`` → a running FakeGateway on a free port (stopped after the test)."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def make() -> FakeGateway:
        gw = FakeGateway(callback_token=uuid.uuid4().hex * 2, port=free_port())
        server = uvicorn.Server(uvicorn.Config(gw.app(), host="127.0.0.1", port=gw.port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        servers.append((server, thread))
        return gw

    try:
        yield make
    finally:
        for server, thread in servers:
            server.should_exit = True
            thread.join(timeout=5)


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path
