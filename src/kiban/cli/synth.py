"""``kiban synth`` — generate and load a synthetic city (合成都市)."""

from __future__ import annotations

from pathlib import Path

import typer

from kiban.cli.console import console, progress_bar
from kiban.db import migrate
from kiban.db.engine import get_engine
from kiban.synth.load import CitySummary, load_city


def synth(
    residents: int = typer.Option(10_000, "--residents", "-n", min=1, help="住民数"),
    seed: int = typer.Option(1, "--seed", "-s", help="乱数シード（同じシードで同じ都市）"),
    out: Path | None = typer.Option(None, "--out", help="取込ファイルの出力先（既定: var/synth/<seed>）"),
    files: bool = typer.Option(True, "--files/--no-files", help="取込ファイル（CSV）を書き出す"),
) -> None:
    """Generate a synthetic city and load it (replaces any previous synthetic city)."""
    summary = run(residents=residents, seed=seed, out=out, files=files)
    console.print(
        f"合成都市を作成しました: 住民 {summary.residents:,} 人、世帯 {summary.households:,}、"
        f"住登外 {summary.non_residents:,} 人（{summary.seconds:.1f} 秒）"
    )


def run(*, residents: int, seed: int, out: Path | None = None, files: bool = True) -> CitySummary:
    engine = get_engine()
    migrate.upgrade(engine)
    with progress_bar("合成都市を生成・登録", residents) as advance:
        return load_city(
            engine, residents=residents, seed=seed, out_dir=out, write_files=files, progress=advance
        )
