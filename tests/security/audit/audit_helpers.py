"""Helpers shared by the access-log tests (imported by name: tests have no packages)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text


@dataclass
class AuditDb:
    url: str
    owner: Engine  # the schema owner (migrations); in tests a superuser
    app: Engine  # kiban_app, what requests run as

    def tamper(self, sql: str, params: dict[str, Any] | None = None) -> None:
        """Change the log as an attacker with owner rights would: triggers off, then SQL."""
        with self.owner.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(sql), params or {})

    def scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        with self.owner.connect() as conn:
            return conn.execute(text(sql), params or {}).scalar()
