"""``kiban kaigo`` — operator commands of 介護保険 資格管理 (the daily/monthly jobs). Staff use the web UI.

Each command runs as the batch principal (kiban.security.batch): its reads and changes go through
the guard and the access log like a clerk's.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import typer

from kiban.db.engine import get_engine
from kiban.kaigo.assessment import jobs as assess_jobs
from kiban.kaigo.assessment.cli import app as premium_app
from kiban.kaigo.eligibility import certificates, jobs, service
from kiban.security.batch import batch_context
from kiban.security.context import Business

app = typer.Typer(help="介護保険（資格管理・被保険者証）のバッチ", no_args_is_help=True)
eligibility = typer.Typer(help="資格の自動処理（住民異動の反映・65歳到達）", no_args_is_help=True)
certs = typer.Typer(help="被保険者証の一括交付", no_args_is_help=True)
app.add_typer(eligibility, name="eligibility")
app.add_typer(certs, name="certificates")
app.add_typer(premium_app, name="premium")


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{name} は YYYY-MM-DD で指定してください: {value!r}") from None


@eligibility.command("run")
def run_command(
    as_of: str = typer.Option(None, "--as-of", help="基準日 YYYY-MM-DD（既定: 今日）"),
    city: str = typer.Option(None, "--city", help="市区町村コード（保険者が1つなら省略可）"),
    events: bool = typer.Option(True, "--events/--no-events", help="先に未処理の住民異動を反映する"),
    as_json: bool = typer.Option(False, "--json", help="結果を JSON で出力"),
) -> None:
    """65歳到達・第2号→第1号の資格処理（標準仕様 0230270）。同じ基準日で再実行しても変わりません。"""
    try:
        result = jobs.run_attainment(
            get_engine(), as_of=_date(as_of, "--as-of"), city_code=city, events=events
        )
    except service.EligibilityError as exc:
        typer.echo(f"エラー: {exc}", err=True)
        raise typer.Exit(1) from None
    summary = {
        "run_id": result.run_id,
        "as_of": result.as_of.isoformat(),
        "acquired": result.acquired,
        "promoted": result.promoted,
        "events": result.events.events,
        "review": [{"person_no": p, "event_id": e, "reason": r} for p, e, r in result.events.review],
    }
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    typer.echo(
        f"基準日 {result.as_of:%Y-%m-%d}: 資格取得 {result.acquired:,} 人、第2号→第1号 {result.promoted:,} 人、"
        f"住民異動 {result.events.events:,} 件（要確認 {len(result.events.review)} 件） 実行番号 {result.run_id}"
    )
    for person_no, event_id, reason in result.events.review:
        typer.echo(f"  要確認 宛名番号 {person_no} 異動ID {event_id}: {reason}")


@eligibility.command("events")
def events_command() -> None:
    """未処理の住民異動（転入・転出・死亡など）を資格に反映します（1件1回）。"""
    result = jobs.process_events(get_engine())
    typer.echo(
        f"住民異動 {result.events:,} 件: 取得 {result.acquired}、喪失 {result.lost}、修正 {result.corrected}、"
        f"変更なし {result.unchanged}、要確認 {len(result.review)}"
    )
    for person_no, event_id, reason in result.review:
        typer.echo(f"  要確認 宛名番号 {person_no} 異動ID {event_id}: {reason}")


@certs.command("bulk")
def bulk_command(
    month: str = typer.Option(..., "--month", help="65歳到達の月 YYYY-MM"),
    issued_on: str = typer.Option(None, "--issued-on", help="交付日 YYYY-MM-DD（既定: 今日）"),
    out: Path = typer.Option(None, "--out", help="PDF の出力先"),
) -> None:
    """その月に65歳に到達した第1号被保険者へ被保険者証を一括交付し、PDF を出力します。"""
    try:
        first = date.fromisoformat(month + "-01")
    except ValueError:
        raise typer.BadParameter(f"--month は YYYY-MM で指定してください: {month!r}") from None
    batch = issue_month(first, _date(issued_on, "--issued-on"), out)
    typer.echo(
        f"{first:%Y年%m月} 65歳到達者への被保険者証 {batch.done:,} 枚を交付しました（一括交付 {batch.batch_id}）"
    )
    if out is not None and batch.has_pdf:
        typer.echo(f"PDF: {out}")


def issue_month(month: date, issued_on: date | None, out: Path | None) -> certificates.BulkBatch:
    """Start and run a 一括交付 for ``month`` as the batch principal; write the PDF to ``out``."""
    engine = get_engine()
    with engine.begin() as conn:
        ctx = batch_context(conn, Business.KAIGO, certificates.PURPOSE, "被保険者証一括交付")
        batch_id = certificates.start_bulk(conn, ctx, month=month, issued_on=issued_on)
    batch = certificates.run_bulk(engine, batch_id)
    if out is not None and batch.has_pdf:
        with engine.begin() as conn:
            ctx = batch_context(conn, Business.KAIGO, certificates.PURPOSE, "被保険者証一括交付の出力")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(certificates.bulk_pdf(conn, ctx, batch_id))
    return batch


@app.command("assess")
def assess_command(
    fiscal_year: int = typer.Option(..., "--fiscal-year", help="賦課年度（例: 2026）"),
    city: str = typer.Option(None, "--city", help="市区町村コード（保険者が1つなら省略可）"),
    as_json: bool = typer.Option(False, "--json", help="結果を JSON で出力"),
) -> None:
    """介護保険料の本算定（初回）・更正（2回目以降）。中断しても再実行で続きから処理します。"""
    bar_state: dict[str, object] = {}

    def progress(done: int, total: int) -> None:
        if as_json:
            return
        bar = bar_state.get("bar")
        if bar is None:
            bar = typer.progressbar(length=max(total, 1), label="賦課処理", file=sys.stderr)
            bar.__enter__()
            bar_state["bar"] = bar
            bar_state["pos"] = 0
        step = done - int(bar_state["pos"])  # type: ignore[call-overload]
        bar.update(step)  # type: ignore[attr-defined]
        bar_state["pos"] = done

    try:
        result = assess_jobs.assess(get_engine(), fiscal_year=fiscal_year, city_code=city, progress=progress)
    except (assess_jobs.AssessError, service.EligibilityError) as exc:
        typer.echo(f"エラー: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        if "bar" in bar_state:
            bar_state["bar"].__exit__(None, None, None)  # type: ignore[attr-defined]
    summary = {
        "run_id": result.run_id,
        "fiscal_year": result.fiscal_year,
        "kind": result.kind,
        "resumed": result.resumed,
        "insured": result.total,
        **result.counts,
        "digest": result.digest,
    }
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    label = "本算定" if result.kind == "initial" else "更正"
    c = result.counts
    typer.echo(
        f"{fiscal_year}年度 {label}（実行番号 {result.run_id}{'・再開' if result.resumed else ''}）: "
        f"本算定 {c.get('initial', 0):,} 人、新規賦課 {c.get('new', 0):,} 人、更正 {c.get('correction', 0):,} 人、"
        f"要確認 {c.get('review', 0):,} 人 結果ダイジェスト {result.digest}"
    )


@app.command("notices")
def notices_command(
    fiscal_year: int = typer.Option(..., "--fiscal-year", help="賦課年度"),
    run: int = typer.Option(None, "--run", help="この賦課処理（実行番号）で変わった人だけ"),
    issued_on: str = typer.Option(None, "--issued-on", help="発行日 YYYY-MM-DD（既定: 今日）"),
    out: Path = typer.Option(..., "--out", help="PDF の出力先"),
) -> None:
    """介護保険料額決定（変更）通知書を一括作成し、PDF を出力します（発行履歴に記録）。"""
    from kiban.kaigo.assessment import service as assess_service

    with typer.progressbar(length=1, label="通知書", file=sys.stderr) as bar:
        state = {"pos": 0}

        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - state["pos"])
            state["pos"] = done

        batch_id, pdf = assess_service.bulk_notices(
            get_engine(), fiscal_year=fiscal_year, run_id=run, issued_on=_date(issued_on, "--issued-on"),
            progress=progress,
        )  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pdf)
    typer.echo(f"{fiscal_year}年度 決定通知書 {state['pos']:,} 通（一括作成 {batch_id}）: {out}")


@app.command("export")
def export_command(
    fiscal_year: int = typer.Option(..., "--fiscal-year", help="賦課年度"),
    out: Path = typer.Option(..., "--out", help="CSV の出力先"),
) -> None:
    """賦課結果 CSV（被保険者番号・段階・月数・決定額・徴収方法。個人番号は含みません）。"""
    from kiban.kaigo.assessment import service as assess_service

    engine = get_engine()
    with engine.begin() as conn:
        ctx = batch_context(
            conn, Business.KAIGO, assess_service.PURPOSE, f"賦課結果の出力（{fiscal_year}年度）"
        )
        data = assess_service.export_csv(conn, ctx, fiscal_year=fiscal_year)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    typer.echo(f"{fiscal_year}年度 賦課結果 {data.count(bytes([10])) - 1:,} 行: {out}")


@app.command("special-request")
def special_request_command(
    fiscal_year: int = typer.Option(..., "--fiscal-year", help="賦課年度"),
    out: Path = typer.Option(..., "--out", help="CSV の出力先"),
) -> None:
    """年金保険者への特別徴収依頼（docs/layouts/kaigo-special-request.md）を出力します。"""
    from kiban.kaigo.assessment import service as assess_service

    engine = get_engine()
    with engine.begin() as conn:
        ctx = batch_context(
            conn, Business.KAIGO, assess_service.PURPOSE, f"特別徴収依頼の作成（{fiscal_year}年度）"
        )
        data = assess_service.special_request_csv(conn, ctx, fiscal_year=fiscal_year)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    typer.echo(f"{fiscal_year}年度 特別徴収依頼 {data.count(bytes([10])) - 1:,} 人: {out}")


@app.command("receivables")
def receivables_command(fiscal_year: int = typer.Option(..., "--fiscal-year", help="賦課年度")) -> None:
    """賦課から期別の調定（納付番号つき）を作成・更正します（収納・消込の前提）。"""
    from kiban.kaigo.assessment import receivables as kaigo_receivables

    totals = kaigo_receivables.sync(get_engine(), fiscal_year=fiscal_year)
    typer.echo(
        f"{fiscal_year}年度 調定: {totals['persons']:,} 人、新規 {totals['created']:,} 期、変更 {totals['revised']:,} 期、"
        f"過誤納 {totals['overpaid']:,} 円"
    )
