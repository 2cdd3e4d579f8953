"""``kiban serve`` — run the web UI and the API."""

from __future__ import annotations

import typer
import uvicorn

from kiban.cli.console import console
from kiban.db import migrate
from kiban.db.engine import get_app_engine, get_engine


def serve(
    host: str = typer.Option("127.0.0.1", help="待受アドレス"),
    port: int = typer.Option(8000, help="待受ポート"),
) -> None:
    """Serve the staff UI and /api/v1 (migrates the database first)."""
    run(host=host, port=port)


def run(*, host: str, port: int) -> None:
    from kiban.web.app import create_app

    engine = get_engine()
    migrate.upgrade(engine)
    console.print(f"kiban を起動しました: [bold]http://{host}:{port}/[/bold]（終了は Ctrl+C）")
    uvicorn.run(create_app(get_app_engine()), host=host, port=port, log_level="warning")
