"""``kiban security`` — operator commands: first administrators, an authenticator for demos."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from kiban.db.engine import get_engine

app = typer.Typer(help="職員・権限・認証の運用コマンド", no_args_is_help=True)
console = Console()


@app.command("bootstrap")
def bootstrap(
    department: str = typer.Option("JOHO:情報政策課", help="管理者の所属 CODE:名称"),
    admin: list[str] = typer.Option(..., "--admin", help="管理者 CODE:氏名（2名以上）"),
) -> None:
    """Create the first administrators on an empty database (prints their one-time passwords)."""
    from kiban.security.bootstrap import bootstrap_admins

    dep_code, _, dep_name = department.partition(":")
    pairs = [(a.partition(":")[0], a.partition(":")[2] or a) for a in admin]
    with get_engine().begin() as conn:
        created = bootstrap_admins(conn, department=(dep_code, dep_name or dep_code), admins=pairs)
    table = Table("職員ID", "氏名", "初期パスワード（初回ログインで変更）")
    for c in created:
        table.add_row(c.code, c.name, c.password)
    console.print(table)


@app.command("totp-code")
def totp_code(secret: str = typer.Argument(..., help="認証アプリの登録キー")) -> None:
    """Print the current 6-digit code for a TOTP secret — an authenticator app on the command line.

    It reads nothing from the database: whoever runs it must already hold the secret.
    """
    from kiban.security import totp

    console.print(totp.hotp(secret.replace(" ", ""), totp.current_step()))
