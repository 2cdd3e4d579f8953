"""``kiban audit`` — seal, checkpoint, verify and review the access log (アクセスログ).

Registered by the lead in ``kiban.cli.main`` as ``app.add_typer(audit_cli.app, name="audit")``.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from kiban.db.engine import get_engine
from kiban.security.audit import checkpoint as cpmod
from kiban.security.audit import report as reportmod
from kiban.security.audit import seal as sealmod
from kiban.security.audit import verify as verifymod

app = typer.Typer(
    help="アクセスログの封印・検証・点検 (access log: seal, checkpoint, verify, review)",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
console = Console()


@app.command("seal")
def seal_command(
    batch_size: int = typer.Option(
        sealmod.DEFAULT_BATCH, "--batch-size", min=1, help="1 トランザクションの行数"
    ),
    every: float = typer.Option(0.0, "--every", min=0.0, help="この秒数ごとに繰り返す（0 = 1 回だけ）"),
) -> None:
    """Seal new access-log rows into the hash chain (封印)."""
    engine = get_engine()
    if every > 0:
        console.print(f"{every:g} 秒ごとに封印します（Ctrl+C で終了） / sealing every {every:g} s")
        stop = threading.Event()
        try:
            sealmod.run_periodically(engine, interval=every, stop=stop)
        except KeyboardInterrupt:
            stop.set()
        return
    sealed = sealmod.seal(engine, batch_size=batch_size)
    console.print(f"{sealed:,} 件を封印しました / sealed {sealed:,} rows")


@app.command("checkpoint")
def checkpoint_command(
    key: Path | None = typer.Option(None, "--key", help="署名鍵（既定: $KIBAN_HOME/keys/audit-ed25519.pem）"),
    out: Path | None = typer.Option(None, "--out", help="出力先（既定: $KIBAN_HOME/audit/checkpoints）"),
    seal_first: bool = typer.Option(True, "--seal/--no-seal", help="先に封印する"),
) -> None:
    """Seal, then sign the end of the chain and export it as a checkpoint file (チェックポイント)."""
    engine = get_engine()
    if seal_first:
        sealmod.seal(engine)
    path = cpmod.checkpoint(engine, key, out)
    payload = json.loads(path.read_text(encoding="utf-8"))["payload"]
    console.print(
        f"チェックポイントを書き出しました: {path}（{payload['count']:,} 件、最終 id={payload['last_id']}） / "
        f"checkpoint written"
    )


@app.command("verify")
def verify_command(
    checkpoints: Path | None = typer.Option(None, "--checkpoints", help="チェックポイントの場所"),
    public_key: Path | None = typer.Option(None, "--public-key", help="検証用の公開鍵"),
    as_json: bool = typer.Option(False, "--json", help="JSON で出力"),
) -> None:
    """Verify the access log against its seals and checkpoints; exit 1 if tampering is found (改ざん検証)."""
    result = verifymod.verify(get_engine(), checkpoints, public_key_path=public_key)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": result.ok,
                    "sealed": result.sealed,
                    "pending": result.pending,
                    "checkpoints": result.checkpoints,
                    "first_bad_id": result.first_bad_id,
                    "findings": [
                        {"kind": str(f.kind), "record_id": f.record_id, "message": f.message}
                        for f in result.findings
                    ],
                    "notes": list(result.notes),
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        for note in result.notes:
            console.print(f"[dim]{note}[/dim]")
        for finding in result.findings:
            console.print(f"[red]{finding.kind}[/red]  {finding.message}", highlight=False)
        if result.ok:
            console.print(
                f"[green]改ざんは検出されませんでした[/green]: 封印 {result.sealed:,} 件、未封印 {result.pending:,} 件、"
                f"チェックポイント {result.checkpoints} 件 / no tampering found "
                f"({result.sealed:,} sealed, {result.pending:,} pending, {result.checkpoints} checkpoints)"
            )
    if not result.ok:
        first = result.first
        assert first is not None
        where = f"id={result.first_bad_id}" if result.first_bad_id is not None else str(first.kind)
        typer.echo(
            f"改ざんを検出しました。最初の不正な記録: {where}（{first.kind}） / "
            f"Tampering detected. First bad record: {where} ({first.kind})",
            err=True,
        )
        raise typer.Exit(1)


@app.command("report")
def report_command(
    start: dt.datetime = typer.Option(..., "--from", formats=["%Y-%m-%d"], help="開始日（この日を含む）"),
    end: dt.datetime = typer.Option(..., "--to", formats=["%Y-%m-%d"], help="終了日（この日を含む）"),
    as_json: bool = typer.Option(False, "--json", help="JSON で出力"),
) -> None:
    """Review the access log: after hours, volume, denials, login failures, own household, bulk exports (ログ点検)."""
    rep = reportmod.review(get_engine(), start=start.date(), end=end.date())
    if as_json:
        typer.echo(rep.to_json())
        return
    console.print(
        f"アクセスログ点検 {rep.start} 〜 {rep.end}: {rep.total} 件 / access-log review: {rep.total} findings"
    )
    _table(
        "時間外・閉庁日のアクセス (after hours)",
        ["職員", "日付", "理由", "件数", "最初", "最後"],
        [
            [a.staff_code, str(a.day), a.reason, str(a.count), f"{a.first_at:%H:%M}", f"{a.last_at:%H:%M}"]
            for a in rep.after_hours
        ],
    )
    _table(
        "同じ事務の職員より突出した件数 (volume outliers)",
        ["事務", "職員", "件数", "中央値", "倍率"],
        [
            [v.business, v.staff_code, str(v.count), f"{v.peer_median:g}", f"×{v.ratio}"]
            for v in rep.volume_outliers
        ],
    )
    _table(
        "繰り返し拒否 (repeated denials)",
        ["職員", "件数", "事務"],
        [[d.staff_code, str(d.count), ", ".join(d.businesses)] for d in rep.repeated_denials],
    )
    _table(
        "ログイン失敗 (login failures)",
        ["単位", "職員/端末", "件数", "最初", "最後"],
        [
            [f.by, f.key, str(f.count), f"{f.first_at:%m-%d %H:%M}", f"{f.last_at:%m-%d %H:%M}"]
            for f in rep.login_failures
        ],
    )
    _table(
        "本人・同一世帯・同一住所の照会 (own household lookups)",
        ["id", "日時", "職員", "操作", "宛名番号", "関係"],
        [
            [
                str(o.id),
                f"{o.at:%Y-%m-%d %H:%M}",
                o.staff_code,
                o.action,
                ", ".join(o.atena_nos),
                ", ".join(o.relations),
            ]
            for o in rep.own_household_lookups
        ],
    )
    _table(
        "大量出力・印刷 (bulk exports)",
        ["id", "日時", "職員", "操作", "件数"],
        [
            [str(b.id), f"{b.at:%Y-%m-%d %H:%M}", b.staff_code or "", b.action, str(b.rows)]
            for b in rep.bulk_exports
        ],
    )


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    if not rows:
        console.print(f"{title}: なし")
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
