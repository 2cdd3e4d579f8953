"""The network's keep-alive HTTP client against real sockets: reuse, a peer that closed an idle
connection, chunked bodies, an unreachable peer."""

from __future__ import annotations

import asyncio
import json

import pytest

from kiban.network.http import HttpError, HttpPool


async def _server(behaviour: str) -> tuple[asyncio.Server, list[int]]:
    """A tiny HTTP/1.1 server; ``connections`` counts the TCP connections it accepted."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(h.split(b":")[1])
                    for h in head.split(b"\r\n")
                    if h.lower().startswith(b"content-length")
                )
                body = json.loads(await reader.readexactly(length) or b"null")
                answer = json.dumps({"echo": body}).encode()
                if behaviour == "chunked":
                    half = len(answer) // 2
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + f"{half:x}\r\n".encode()
                        + answer[:half]
                        + f"\r\n{len(answer) - half:x}\r\n".encode()
                        + answer[half:]
                        + b"\r\n0\r\n\r\n"
                    )
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(answer) + answer)
                await writer.drain()
                if behaviour == "close_after_each":
                    writer.close()  # as a server whose keep-alive timed out: no Connection: close
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, connections


def _port(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


def test_connections_are_reused() -> None:
    async def run() -> tuple[list[int], list[object]]:
        server, connections = await _server("keep")
        pool = HttpPool(f"http://127.0.0.1:{_port(server)}", size=4)
        answers = [await pool.post_json("/x", {"n": i}) for i in range(10)]
        await pool.close()
        server.close()
        return connections, answers

    connections, answers = asyncio.run(run())
    assert len(connections) == 1
    assert answers[3] == (200, {"echo": {"n": 3}})


def test_a_connection_the_peer_closed_is_replaced_and_the_request_sent_again() -> None:
    async def run() -> tuple[list[int], list[object]]:
        server, connections = await _server("close_after_each")
        pool = HttpPool(f"http://127.0.0.1:{_port(server)}", size=4)
        answers = []
        for i in range(5):
            answers.append(await pool.post_json("/x", {"n": i}))
            await asyncio.sleep(0.01)
        await pool.close()
        server.close()
        return connections, answers

    connections, answers = asyncio.run(run())
    assert answers == [(200, {"echo": {"n": i}}) for i in range(5)]
    assert len(connections) == 5


def test_chunked_bodies_are_read() -> None:
    async def run() -> object:
        server, _ = await _server("chunked")
        pool = HttpPool(f"http://127.0.0.1:{_port(server)}")
        answer = await pool.post_json("/x", {"名": "熊本市"})
        await pool.close()
        server.close()
        return answer

    assert asyncio.run(run()) == (200, {"echo": {"名": "熊本市"}})


def test_an_unreachable_peer_is_an_http_error_in_japanese() -> None:
    async def run() -> None:
        await HttpPool("http://127.0.0.1:9", timeout=2.0).post_json("/x", {})

    with pytest.raises(HttpError, match="に接続できません"):
        asyncio.run(run())
