"""``kiban network`` — run the 情報提供ネットワークシステム stand-in as its own process."""

from __future__ import annotations

import secrets
from pathlib import Path

import typer

app = typer.Typer(help="情報提供ネットワークシステム（検証用の代替）", no_args_is_help=True)


@app.callback()
def _network() -> None:
    """情報提供ネットワークシステムの代替プロセス（試験・デモ用）。"""


def read_token_file(path: Path, option: str) -> str:
    try:
        token = path.read_text("utf-8").strip()
    except OSError:
        raise typer.BadParameter(f"{option}: ファイル {path} を読めません") from None
    if len(token) < 24:
        raise typer.BadParameter(f"{option}: ファイル {path} のトークンが短すぎます（24文字以上）")
    return token


@app.command("admin-token")
def admin_token(path: Path = typer.Argument(..., help="書き出すファイル（既にあれば変更しません）")) -> None:
    """管理用トークンを生成してファイルに書き出します（権限 600）。"""
    if path.exists():
        typer.echo(f"{path} は既にあります")
        return
    path.write_text(secrets.token_urlsafe(32) + "\n", "utf-8")
    path.chmod(0o600)
    typer.echo(f"{path} に管理用トークンを書き出しました")


@app.command("serve")
def serve(
    database_url: str = typer.Option(
        ..., "--database-url", help="ネットワーク自身のデータベース（postgresql://…）"
    ),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8700, "--port"),
    admin_token_file: Path = typer.Option(
        ..., "--admin-token-file", help="機関登録に使う管理用トークンのファイル"
    ),
    pool_size: int = typer.Option(4, "--pool-size", help="データベース接続数"),
) -> None:
    """情報提供ネットワークシステムの代替を起動します（スキーマ network を作成、鍵は初回起動時に生成）。"""
    from kiban.network.server import serve as run

    token = read_token_file(admin_token_file, "--admin-token-file")
    run(database_url, host=host, port=port, admin_token=token, pool_size=pool_size)
