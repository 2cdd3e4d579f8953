"""System status (稼働状況) read by the health endpoint and the home screen."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text

from kiban import __version__
from kiban.db import migrate


@dataclass(frozen=True)
class Health:
    status: str
    database: str
    server_version: str | None
    schema_revision: str | None
    schema_head: str | None
    kiban_version: str = __version__


def check(engine: Engine) -> Health:
    """Database reachable and schema at head — what an operator's monitor needs to know."""
    head = migrate.head()
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
        revision = migrate.current(engine)
    except Exception as exc:  # the monitor must get an answer, not a 500
        return Health("error", f"unreachable: {type(exc).__name__}", None, None, head)
    ok = revision == head
    return Health("ok" if ok else "degraded", "ok", str(version), revision, head)
