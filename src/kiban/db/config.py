"""Where kiban keeps its files and which PostgreSQL it talks to (設定).

One rule: ``KIBAN_DATABASE_URL`` selects a server; when it is unset, kiban runs its own embedded
PostgreSQL in ``$KIBAN_HOME/pg`` (default ``./var/pg``) so a fresh machine needs no configuration.
"""

from __future__ import annotations

import os
from pathlib import Path

DATABASE_URL_ENV = "KIBAN_DATABASE_URL"
HOME_ENV = "KIBAN_HOME"
DATABASE_NAME = "kiban"


def home() -> Path:
    """The folder for kiban's own files (embedded database, generated files, run state)."""
    return Path(os.environ.get(HOME_ENV, "var")).resolve()


def configured_url() -> str | None:
    """The server chosen by the operator, or None for the embedded server."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    return url or None


def to_sqlalchemy_url(url: str) -> str:
    """Make a libpq-style URL use the psycopg 3 driver (we never use psycopg2)."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"{DATABASE_URL_ENV} must be a postgresql:// URL")


def to_libpq_url(url: str) -> str:
    """The same URL for psycopg.connect (used for COPY in bulk loads)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)
