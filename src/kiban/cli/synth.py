"""``kiban synth`` — generate and load a synthetic city (合成都市), then its registry into the 宛名 hub."""

from __future__ import annotations

from pathlib import Path

import typer

from kiban.cli.console import console, progress_bar
from kiban.db import migrate
from kiban.db.engine import get_engine
from kiban.identity import load as identity_load
from kiban.identity.importing import ImportRejected
from kiban.synth.load import CitySummary, load_city


def synth(
    residents: int = typer.Option(10_000, "--residents", "-n", min=1, help="住民数"),
    seed: int = typer.Option(1, "--seed", "-s", help="乱数シード（同じシードで同じ都市）"),
    out: Path | None = typer.Option(None, "--out", help="取込ファイルの出力先（既定: var/synth/<seed>）"),
    files: bool = typer.Option(True, "--files/--no-files", help="取込ファイル（CSV）を書き出す"),
    identity: bool = typer.Option(
        True, "--identity/--no-identity", help="住民記録（jumin.csv）を宛名ハブに取り込む（初期移行）"
    ),
) -> None:
    """Generate a synthetic city and load it (replaces any previous synthetic city)."""
    summary = run(residents=residents, seed=seed, out=out, files=files)
    console.print(
        f"合成都市を作成しました: 住民 {summary.residents:,} 人、世帯 {summary.households:,}、"
        f"住登外 {summary.non_residents:,} 人（{summary.seconds:.1f} 秒）"
    )
    if identity and summary.files_dir is not None:
        try:
            console.print(load_identity(summary.files_dir))
        except ImportRejected as exc:
            identity_load.print_rejection(console, exc)
            raise typer.Exit(1) from None


def run(*, residents: int, seed: int, out: Path | None = None, files: bool = True) -> CitySummary:
    engine = get_engine()
    migrate.upgrade(engine)
    with progress_bar("合成都市を生成・登録", residents) as advance:
        return load_city(
            engine, residents=residents, seed=seed, out_dir=out, write_files=files, progress=advance
        )


def load_identity(folder: Path) -> str:
    """住民記録 全件取込 of the city's jumin.csv into the 宛名 hub; a line for the operator.

    The initial migration is for an empty hub: a hub already holding another city's persons is left
    as it is (a note, not a failure — the synthetic city itself was made). Other rejections raise.
    """
    try:
        result = identity_load.run_with_progress(get_engine(), folder / "jumin.csv", console)
    except identity_load.HubNotEmpty as exc:
        return (
            f"[yellow]宛名ハブには取り込みませんでした: {exc.errors[0].message}[/yellow]"
            "（空の宛名ハブで `kiban synth` を実行するか、--no-identity を指定してください）"
        )
    return "宛名ハブ: " + identity_load.summary_line(result)
