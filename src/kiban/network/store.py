"""The stand-in network's own database (情報提供ネットワークシステムのデータ): schema ``network``.

The network is an outside system, not a kiban context: it does not use kiban's migrations. Its
schema is created at start with ``CREATE … IF NOT EXISTS`` in the database it is given. It holds:

- ``secret``: its Ed25519 signing key, its X25519 exchange key and the HMAC key of the person link
  (generated on first start; a second process started at the same moment keeps the first's keys);
- ``agency``: the registered 情報照会者・情報提供者 (endpoint, public key, the SHA-256 of the bearer
  token the agency presents, and the token the network presents when it calls the agency);
- ``token``: 符号 per (person link, agency). The person link is an HMAC of the 個人番号 under the
  network's own secret — the number itself is never stored (seed 000: 個人番号を用いない符号);
- ``permit_log``: every 情報提供許可証 issued and every refusal;
- ``route_log``: every routed request and answer, with the network's own timestamps.

Access is asynchronous (psycopg ``AsyncConnection``) through a small fixed pool, one short
transaction per request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import psycopg

DDL = """
CREATE SCHEMA IF NOT EXISTS network;
CREATE TABLE IF NOT EXISTS network.secret (
    name text PRIMARY KEY,
    value bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS network.agency (
    agency_code text PRIMARY KEY,
    city_code text NOT NULL,
    name text NOT NULL,
    endpoint text NOT NULL,
    exchange_public_key bytea NOT NULL CHECK (length(exchange_public_key) = 32),
    token_hash bytea NOT NULL,
    callback_token text NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS network.token (
    person_link bytea NOT NULL,
    agency_code text NOT NULL REFERENCES network.agency (agency_code),
    token text NOT NULL UNIQUE,
    issued_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_link, agency_code)
);
CREATE TABLE IF NOT EXISTS network.permit_log (
    log_id bigserial PRIMARY KEY,
    permit_id text UNIQUE,
    inquirer_agency text NOT NULL,
    provider_agency text NOT NULL,
    procedure_code text NOT NULL,
    dataset text NOT NULL,
    items text[] NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('issued', 'refused')),
    reason text NOT NULL DEFAULT '',
    list_version text NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS network.route_log (
    log_id bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('provision', 'answer')),
    request_id text NOT NULL,
    permit_id text NOT NULL,
    inquirer_agency text NOT NULL,
    provider_agency text NOT NULL,
    status text NOT NULL,
    provider_record_id text NOT NULL DEFAULT '',
    sender_sent_at text NOT NULL DEFAULT '',
    received_at timestamptz NOT NULL,
    answered_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts integer NOT NULL DEFAULT 1,
    error text NOT NULL DEFAULT '',
    UNIQUE (kind, request_id)
);
"""


async def ensure_schema(url: str) -> None:
    """Create the ``network`` schema and tables if missing (idempotent, safe to race)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        # Two processes starting at once would race on CREATE … IF NOT EXISTS in the catalogs.
        await conn.execute("SELECT pg_advisory_lock(hashtext('kiban.network.ddl'))")
        try:
            await conn.execute(DDL)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext('kiban.network.ddl'))")


class Pool:
    """A fixed set of ``AsyncConnection``s handed out one transaction at a time."""

    def __init__(self, url: str, size: int = 4) -> None:
        self._url = url
        self._size = size
        self._free: asyncio.Queue[psycopg.AsyncConnection] = asyncio.Queue()
        self._all: list[psycopg.AsyncConnection] = []

    async def _connect(self) -> psycopg.AsyncConnection:
        conn = await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, application_name="kiban-network"
        )
        self._all.append(conn)
        return conn

    async def open(self) -> None:
        for _ in range(self._size):
            self._free.put_nowait(await self._connect())

    async def close(self) -> None:
        for conn in self._all:
            with contextlib.suppress(Exception):
                await conn.close()
        self._all.clear()

    async def execute(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """One statement in autocommit: its own transaction, one round trip (the hot path's writes)."""
        conn = await self._free.get()
        try:
            if conn.closed or conn.broken:
                self._all.remove(conn)
                conn = await self._connect()
            cur = await conn.execute(sql, params)
            return list(await cur.fetchall()) if cur.description else []
        finally:
            self._free.put_nowait(conn)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection]:
        conn = await self._free.get()
        try:
            if conn.closed or conn.broken:
                self._all.remove(conn)
                conn = await self._connect()
            async with conn.transaction():
                yield conn
        finally:
            self._free.put_nowait(conn)
