"""Engine and unit of work (エンジン・作業単位).

Engines are created on first use, never at import time, so importing kiban has no side effects.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Connection, Engine, create_engine

from kiban.db import config, embedded


@lru_cache(maxsize=1)
def database_url() -> str:
    """The libpq URL of the kiban database: the configured server, else the embedded one."""
    url = config.configured_url()
    if url is not None:
        return config.to_libpq_url(url)
    return embedded.start(config.home() / "pg")


@lru_cache(maxsize=4)
def get_engine(url: str | None = None) -> Engine:
    target = url or database_url()
    return create_engine(
        config.to_sqlalchemy_url(target),
        pool_pre_ping=True,
        connect_args={"application_name": "kiban"},
    )


APP_ROLE = "kiban_app"


def app_url(owner_url: str | None = None) -> str:
    """The URL the application runs with: the same server and database as the role ``kiban_app``.

    ``KIBAN_APP_DATABASE_URL`` overrides it (a real deployment gives kiban_app a password or a
    certificate). The owner role is for migrations and batch loads only.
    """
    import os

    from sqlalchemy.engine import make_url

    explicit = os.environ.get("KIBAN_APP_DATABASE_URL", "").strip()
    if explicit:
        return config.to_libpq_url(explicit)
    url = make_url(owner_url or database_url()).set(username=APP_ROLE, password=None)
    return url.render_as_string(hide_password=False)


@lru_cache(maxsize=4)
def get_app_engine(owner_url: str | None = None) -> Engine:
    """Engine for request handling, as ``kiban_app`` (no UPDATE/DELETE on the access log)."""
    return create_engine(
        config.to_sqlalchemy_url(app_url(owner_url)),
        pool_pre_ping=True,
        pool_size=10,
        connect_args={"application_name": "kiban-app"},
    )


@contextmanager
def transaction(engine: Engine | None = None) -> Iterator[Connection]:
    """One unit of work: everything inside commits together or not at all."""
    eng = engine or get_engine()
    with eng.begin() as conn:
        yield conn


def reset() -> None:
    """Forget cached engines (tests switch databases)."""
    get_engine.cache_clear()
    get_app_engine.cache_clear()
    database_url.cache_clear()
