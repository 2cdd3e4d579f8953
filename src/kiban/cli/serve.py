"""``kiban serve`` — run the web UI and the API, and seal the access log in the background."""

from __future__ import annotations

import signal
import sys
import threading

import typer
import uvicorn

from kiban.cli.console import console
from kiban.db import migrate
from kiban.db.engine import get_app_engine, get_engine
from kiban.security import keys
from kiban.security.audit import seal

SEAL_INTERVAL_SECONDS = 5.0


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
    with engine.begin() as conn:
        keys.ensure_keys(conn)  # the app role can use keys but not create them
    # Requests only INSERT log rows; chaining them happens here, off the request path
    # (issue 3 §6: no single-row lock in the request path). The owner role writes the seals.
    stop = threading.Event()
    sealer = threading.Thread(
        target=seal.run_periodically,
        args=(engine,),
        kwargs={"interval": SEAL_INTERVAL_SECONDS, "stop": stop},
        name="audit-sealer",
        daemon=True,
    )
    sealer.start()
    # uvicorn re-raises SIGTERM after its graceful shutdown; turning it into SystemExit lets the
    # exit hooks run, so the embedded PostgreSQL is stopped cleanly instead of left orphaned.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    console.print(f"kiban を起動しました: [bold]http://{host}:{port}/[/bold]（終了は Ctrl+C）")
    try:
        uvicorn.run(create_app(get_app_engine()), host=host, port=port, log_level="warning")
    finally:
        stop.set()
        sealer.join(timeout=10)
