"""A small keep-alive HTTP/1.1 client for the network's hot path (JSON POSTs to known gateways).

httpx's async pool costs about a millisecond of CPU per request and grows with the number of
waiting requests; the network routes every 情報照会 through here, so it keeps a fixed set of
persistent connections per gateway instead and speaks just enough HTTP/1.1: ``Content-Length`` or
chunked bodies, ``Connection: close``. A request that fails on a reused connection before any
response byte arrived (the server closed an idle connection) is sent once more on a new one; the
routed calls are idempotent by request id, so that is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import urlsplit


class HttpError(ConnectionError):
    """The peer could not be reached, closed the connection, or answered with broken HTTP."""


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise HttpError(f"HTTP の応答行が不正です: {lines[0][:60]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    for raw in lines[1:]:
        if raw:
            name, _, value = raw.partition(":")
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(chunks)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


class HttpPool:
    """Persistent connections to one ``http://host:port`` (at most ``size`` at a time)."""

    def __init__(self, base_url: str, *, size: int = 32, timeout: float = 10.0) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"http:// の URL が必要です: {base_url!r}")
        self.host = url.hostname
        self.port = url.port or 80
        self.prefix = url.path.rstrip("/")
        self.timeout = timeout
        self._idle: list[_Conn] = []
        self._slots = asyncio.Semaphore(size)

    async def _open(self) -> _Conn:
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise HttpError(f"{self.host}:{self.port} に接続できません（{type(exc).__name__}）") from exc
        return _Conn(reader, writer)

    async def _once(self, conn: _Conn, request: bytes) -> tuple[int, dict[str, str], bytes]:
        conn.writer.write(request)
        await conn.writer.drain()
        return await _read_response(conn.reader)

    async def post_json(
        self, path: str, body: Any, *, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """POST ``body`` as JSON; returns (status, decoded JSON or None)."""
        return await self.request_json("POST", path, body, headers=headers)

    async def request_json(
        self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        payload = (
            b"" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        )
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        request = (
            f"{method} {self.prefix}{path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n{extra}\r\n"
        ).encode("latin-1") + payload
        async with self._slots:
            try:
                status, _, data = await asyncio.wait_for(self._send(request), self.timeout)
            except TimeoutError as exc:
                raise HttpError(f"{self.host}:{self.port} の応答がありません（{self.timeout:g} 秒）") from exc
        try:
            decoded = json.loads(data) if data else None
        except ValueError:
            decoded = None
        return status, decoded

    async def _send(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        conn = self._idle.pop() if self._idle else None
        reused = conn is not None
        if conn is None:
            conn = await self._open()
        try:
            status, headers, data = await self._once(conn, request)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            conn.close()
            if not reused:
                raise HttpError(
                    f"{self.host}:{self.port} との通信が切れました（{type(exc).__name__}）"
                ) from exc
            conn = await self._open()  # the server had closed an idle connection: once more, fresh
            try:
                status, headers, data = await self._once(conn, request)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as again:
                conn.close()
                raise HttpError(
                    f"{self.host}:{self.port} との通信が切れました（{type(again).__name__}）"
                ) from again
        except BaseException:
            conn.close()  # cancelled mid-request (timeout): the connection's state is unknown
            raise
        if headers.get("connection", "").lower() == "close":
            conn.close()
        else:
            self._idle.append(conn)
        return status, headers, data

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
