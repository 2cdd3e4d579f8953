"""``kiban db`` — database operations."""

from __future__ import annotations

import typer

from kiban.cli.console import console
from kiban.db import migrate
from kiban.db.engine import get_engine

app = typer.Typer(help="データベースの操作", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Migrate the database to the latest schema (idempotent)."""
    engine = get_engine()
    before = migrate.current(engine)
    migrate.upgrade(engine)
    after = migrate.current(engine)
    if before == after:
        console.print(f"スキーマは最新です（{after}）。")
    else:
        console.print(f"スキーマを更新しました: {before or '（なし）'} → {after}")


@app.command("status")
def status() -> None:
    """Show the server and the schema revision."""
    from kiban.web.status import check

    h = check(get_engine())
    console.print(
        f"状態: {h.status}  PostgreSQL {h.server_version}  スキーマ {h.schema_revision} / 最新 {h.schema_head}"
    )
    if h.status != "ok":
        raise typer.Exit(1)
