"""``kiban keys`` — operator commands for the vault keys (暗号鍵の管理).

Run as the database owner: the application role may only read wrapped keys. The lead registers
this app in ``kiban.cli.main``; nothing here imports ``kiban.cli`` (the dependency rule).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from kiban.db.engine import get_engine
from kiban.security.keys.errors import KeyVaultError
from kiban.security.keys.rotate import Progress as ProgressCallback
from kiban.security.keys.rotate import rotate as rotate_keys
from kiban.security.keys.status import keys_status
from kiban.security.keys.store import current_provider, ensure_keys

app = typer.Typer(
    help="暗号鍵の管理（個人番号の保管庫・ブラインドインデックス）",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold plaintexts or keys; never print them
)
console = Console()


@contextmanager
def _operator_errors() -> Iterator[None]:
    """Print a vault-key error as one clear line (it never contains a value or a key) and exit 1."""
    try:
        yield
    except KeyVaultError as exc:
        console.print(f"[red]エラー:[/red] {exc}")
        raise typer.Exit(1) from None


@app.command("init")
def init() -> None:
    """Create the first data keys (vault, blind index) if missing; creates the key file on first use."""
    with _operator_errors(), get_engine().begin() as conn:
        versions = ensure_keys(conn)
        provider = current_provider()
        console.print(f"鍵暗号化鍵 (KEK): {provider!r}  {provider.kek_id}")
    for purpose, version in versions.items():
        console.print(f"{purpose}: 有効な版 v{version}")


@app.command("status")
def status() -> None:
    """Show key versions, encrypted columns with rows per key version, and recent rotation runs."""
    with _operator_errors(), get_engine().connect() as conn:
        st = keys_status(conn)
    keys = Table(title="データ鍵")
    for name in ("purpose", "version", "state", "KEK", "created", "retired"):
        keys.add_column(name)
    for k in st.keys:
        keys.add_row(k.purpose, f"v{k.version}", k.state, k.kek_id, _when(k.created_at), _when(k.retired_at))
    console.print(keys)
    cols = Table(title="暗号化列（鍵の版ごとの行数）")
    cols.add_column("column")
    cols.add_column("rows by key version")
    for c in st.columns:
        detail = (
            "（テーブルなし）"
            if c.missing
            else ", ".join(f"v{v}: {n:,}" for v, n in sorted(c.rows_by_version.items()))
        )
        cols.add_row(c.target, detail or "0")
    console.print(cols)
    for r in st.unfinished:
        console.print(
            f"[yellow]未完了のローテーション[/yellow] {r.target}: v{r.from_version} → v{r.to_version}, "
            f"{r.rows_done:,} 行処理済み — `kiban keys rotate` で再開します"
        )


@app.command("rotate")
def rotate(
    batch_size: int = typer.Option(1000, "--batch-size", min=1, help="Rows per committed batch."),
) -> None:
    """鍵ローテーション: make a new vault key version and re-encrypt every registered column.

    Resumable: if a previous run was interrupted, this continues it instead of making another key.
    """
    with _operator_errors(), _progress() as progress:
        report = rotate_keys(get_engine(), batch_size=batch_size, progress=progress)
    verb = "再開して完了" if report.resumed else "完了"
    console.print(f"鍵ローテーション{verb}: vault v{report.from_version} → v{report.to_version}")
    for t in report.targets:
        note = (
            "（テーブルなし）" if t.missing else f"{t.rows_done:,} 行, うち再暗号化 {t.rows_reencrypted:,} 行"
        )
        console.print(f"  {t.target}: {note}")


@contextmanager
def _progress() -> Iterator[ProgressCallback]:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def advance(target: str, done: int, total: int) -> None:
            if target not in tasks:
                tasks[target] = bar.add_task(target, total=total)
            bar.update(tasks[target], completed=done, total=total)

        yield advance


def _when(value: object) -> str:
    return "" if value is None else str(value)[:19]
