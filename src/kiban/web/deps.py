"""Request dependencies shared by pages and API endpoints."""

from __future__ import annotations

from fastapi import FastAPI, Request
from sqlalchemy import Engine

from kiban.db.engine import get_engine


def set_engine(app: FastAPI, engine: Engine | None) -> None:
    app.state.engine = engine


def engine(request: Request) -> Engine:
    """The database engine: the app's own if one was given, else the configured database."""
    eng: Engine | None = request.app.state.engine
    return eng if eng is not None else get_engine()
