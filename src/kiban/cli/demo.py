"""``kiban demo`` — the main job: everything kiban can do so far, on a fresh machine, with no setup.

Each step is a small function; the issues that add capabilities add their step here (staff
accounts with the security issue, resident import with the identity issue, …).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import typer

from kiban.cli import serve as serve_cmd
from kiban.cli import synth as synth_cmd
from kiban.cli.console import console
from kiban.db import migrate
from kiban.db.engine import database_url, get_engine


@dataclass(frozen=True)
class DemoOptions:
    residents: int
    seed: int


@dataclass(frozen=True)
class Step:
    label: str
    run: Callable[[DemoOptions], str]


def _database(_: DemoOptions) -> str:
    url = database_url()
    migrate.upgrade(get_engine())
    where = "組込みPostgreSQL" if "host=/" in url else "設定されたサーバー"
    return f"{where}、スキーマ {migrate.current(get_engine())}"


def _city(opts: DemoOptions) -> str:
    s = synth_cmd.run(residents=opts.residents, seed=opts.seed)
    return f"住民 {s.residents:,} 人・{s.households:,} 世帯（65歳以上 {s.aged_65_plus:,} 人）"


STEPS: list[Step] = [
    Step("データベースを準備", _database),
    Step("合成都市を作成", _city),
]


def demo(
    residents: int = typer.Option(10_000, "--residents", "-n", min=1, help="合成都市の住民数"),
    seed: int = typer.Option(1, "--seed", "-s", help="乱数シード"),
    host: str = typer.Option("127.0.0.1", help="待受アドレス"),
    port: int = typer.Option(8000, help="待受ポート"),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="最後に Web 画面を起動する"),
) -> None:
    """Create the database, a synthetic city and demo data, then serve the web UI."""
    opts = DemoOptions(residents=residents, seed=seed)
    started = time.perf_counter()
    for i, step in enumerate(STEPS, 1):
        console.rule(f"[{i}/{len(STEPS)}] {step.label}")
        console.print(step.run(opts))
    console.print(f"\n準備が完了しました（{time.perf_counter() - started:.1f} 秒）。")
    console.print(
        "ログイン: 職員アカウントと認証は次の段階（セキュリティ基盤）で追加されます。"
        "現在の画面は集計値とシステム状態のみを表示します。"
    )
    if serve:
        serve_cmd.run(host=host, port=port)
