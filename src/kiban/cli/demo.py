"""``kiban demo`` — the main job: everything kiban can do so far, on a fresh machine, with no setup.

Each step is a small function; the issues that add capabilities add their step here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import typer
from rich.table import Table

from kiban.cli import serve as serve_cmd
from kiban.cli import synth as synth_cmd
from kiban.cli.console import console
from kiban.db import migrate
from kiban.db.engine import database_url, get_engine
from kiban.security import keys
from kiban.security.bootstrap import DemoOrganisation, demo_organisation
from kiban.shared import clock


@dataclass
class DemoRun:
    residents: int
    seed: int
    organisation: DemoOrganisation | None = None
    city_files: Path | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    label: str
    run: Callable[[DemoRun], str]


def _database(_: DemoRun) -> str:
    url = database_url()
    migrate.upgrade(get_engine())
    with get_engine().begin() as conn:
        keys.ensure_keys(conn)  # vault keys (the KEK file is created in $KIBAN_HOME/keys on first use)
    where = "組込みPostgreSQL" if "host=/" in url else "設定されたサーバー"
    return f"{where}、スキーマ {migrate.current(get_engine())}"


def _city(run: DemoRun) -> str:
    s = synth_cmd.run(residents=run.residents, seed=run.seed)
    run.city_files = s.files_dir
    return f"住民 {s.residents:,} 人・{s.households:,} 世帯（65歳以上 {s.aged_65_plus:,} 人）"


def _identity(run: DemoRun) -> str:
    # The demo city's registry file into the 宛名 hub (住民記録 全件取込・初期移行), so the city has
    # persons to search; on a second run the same file is already imported and nothing changes.
    if run.city_files is None:
        return "取込ファイルがありません（省略）"
    return synth_cmd.load_identity(run.city_files)


def _organisation(run: DemoRun) -> str:
    with get_engine().begin() as conn:
        run.organisation = demo_organisation(conn, since=clock.today())
    return f"職員 {len(run.organisation.staff)} 名・端末 {run.organisation.terminal_code}"


STEPS: list[Step] = [
    Step("データベースを準備", _database),
    Step("合成都市を作成", _city),
    # After the organisation: the load acts as the batch principal, a staff ID, and the demo creates
    # its staff only while the staff table is empty (kiban.security.bootstrap.demo_organisation).
    Step("デモ用の職員・権限・端末を作成", _organisation),
    Step("住民記録を宛名ハブに取込", _identity),
]


def _print_login(org: DemoOrganisation, host: str, port: int) -> None:
    base = f"http://{host}:{port}"
    console.print("\n[bold]ログイン方法[/bold]")
    # soft_wrap: the URL must stay on one line to be copied whole.
    console.print(
        f"1. この端末を登録: {base}/terminal/enrol?terminal_code={org.terminal_code}&code={org.enrol_code}",
        soft_wrap=True,
    )
    console.print("   を開き「この端末を登録する」を押します（登録コードは1回限り・24時間有効）。")
    password = org.staff[0].password if org.staff else "（既存のパスワード）"
    console.print(f"2. 職員IDとパスワードでログイン。パスワードは全員 [bold]{password}[/bold]（デモ専用）。")
    console.print(
        "3. 確認コード（二要素認証）は別の端末で `kiban security totp-code <登録キー>` を実行して表示します。"
    )
    table = Table()
    table.add_column("職員ID", no_wrap=True)
    table.add_column("氏名", no_wrap=True)
    table.add_column("権限", overflow="fold")
    # The key must never be cut short: the staff member types or pastes all 32 characters.
    table.add_column("二要素認証の登録キー", no_wrap=True, min_width=32)
    for s in org.staff:
        table.add_row(s.code, s.name, s.roles, s.totp_secret or "")
    console.print(table)


def demo(
    residents: int = typer.Option(10_000, "--residents", "-n", min=1, help="合成都市の住民数"),
    seed: int = typer.Option(1, "--seed", "-s", help="乱数シード"),
    host: str = typer.Option("127.0.0.1", help="待受アドレス"),
    port: int = typer.Option(8000, help="待受ポート"),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="最後に Web 画面を起動する"),
) -> None:
    """Create the database, a synthetic city and demo staff, then serve the web UI."""
    run = DemoRun(residents=residents, seed=seed)
    started = time.perf_counter()
    for i, step in enumerate(STEPS, 1):
        console.rule(f"[{i}/{len(STEPS)}] {step.label}")
        console.print(step.run(run))
    console.print(f"\n準備が完了しました（{time.perf_counter() - started:.1f} 秒）。")
    if run.organisation is not None:
        _print_login(run.organisation, host, port)
    if serve:
        serve_cmd.run(host=host, port=port)
