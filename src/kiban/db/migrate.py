"""Schema migrations (スキーマ移行) — the only way the schema changes.

One linear Alembic history for the whole database; each migration touches the schema of one
context (``kiban_meta``, ``synth``, later ``security``, ``identity`` …). ``upgrade()`` is idempotent.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from kiban.db.engine import get_engine

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_SCHEMA = "kiban_meta"


def _config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine | None = None, revision: str = "head") -> None:
    """Bring the database to ``revision``; running it twice changes nothing the second time."""
    eng = engine or get_engine()
    command.upgrade(_config(eng), revision)


def current(engine: Engine | None = None) -> str | None:
    eng = engine or get_engine()
    with eng.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table_schema": VERSION_SCHEMA})
        return ctx.get_current_revision()


def head() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()
