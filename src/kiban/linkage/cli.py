"""``kiban linkage`` — the 庁内連携 hub's operator commands: the catalogue, and a delivery run."""

from __future__ import annotations

import typer

app = typer.Typer(help="庁内連携（連携項目一覧・配信）", no_args_is_help=True)


@app.callback()
def _linkage() -> None:
    """庁内連携の運用コマンド（連携項目一覧の表示、配信の実行）。"""


@app.command("catalogue")
def catalogue_command() -> None:
    """連携項目一覧（データセット・項目・個人番号の有無）、連携先、根拠法令を表示します。"""
    from rich.console import Console
    from rich.table import Table

    from kiban.rules.linkage import load_catalogue

    cat = load_catalogue()
    console = Console()
    items = Table(
        "データセット",
        "名称",
        "提供元",
        "トピック",
        "項目",
        "個人番号",
        title=f"連携項目一覧（{cat.version}）",
    )
    for d in cat.datasets:
        for n, i in enumerate(d.items):
            items.add_row(
                d.code if n == 0 else "",
                d.label if n == 0 else "",
                d.publisher if n == 0 else "",
                ", ".join(d.topics) if n == 0 else "",
                f"{i.code}（{i.label}）",
                "含む" if i.contains_my_number else "—",
            )
    console.print(items)
    consumers = Table("連携先", "名称", "個人番号利用事務", title="連携先")
    for c in cat.consumers:
        consumers.add_row(c.code, c.label, "はい" if c.uses_my_number else "いいえ（個人番号は連携しない）")
    console.print(consumers)
    bases = Table("根拠", "種別", "条項", "有効期間", "個人番号", title="根拠法令")
    for b in cat.bases:
        until = b.valid_to.isoformat() if b.valid_to else ""
        bases.add_row(
            b.code,
            b.kind,
            b.article,
            f"{b.valid_from.isoformat()}〜{until}",
            "可" if b.allows_my_number else "不可",
        )
    console.print(bases)


@app.command("deliver")
def deliver_command(
    consumer: str | None = typer.Option(None, "--consumer", help="連携先（省略時はすべての連携先）"),
    batch: int = typer.Option(500, "--batch", min=1, help="1トランザクションで処理する送信箱の件数"),
) -> None:
    """送信箱から各連携先へ配信します（利用登録の項目・期間のみ、転送記録つき、重複なし）。"""
    from kiban.db.engine import get_engine
    from kiban.linkage import delivery
    from kiban.linkage.errors import LinkageError
    from kiban.rules.linkage import load_catalogue
    from kiban.security.batch import ensure_batch_principal

    engine = get_engine()
    codes = [consumer] if consumer else [c.code for c in load_catalogue().consumers]
    with engine.begin() as conn:
        ensure_batch_principal(conn)
    total = 0
    for code in codes:
        count = 0
        try:
            while True:
                with engine.begin() as conn:
                    run = delivery.deliver_batch(conn, consumer=code, limit=batch)
                count += run.delivered
                if run.polled == 0:
                    break
        except LinkageError as exc:
            typer.echo(f"エラー: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"{code}: {count:,} 件を配信しました")
        total += count
    typer.echo(f"合計 {total:,} 件")
