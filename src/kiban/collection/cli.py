"""``kiban collection`` — the counter's tools and batches of 収納・滞納 (no database for ``late-fee``).

The command line of ``late-fee`` is a contract other checks call: keep the option names and the
JSON keys (``late_fee``, ``principal``, ``due_date``, ``paid_date``, ``segments``, ``notes``,
``sources``). Exit code 1 for facts that cannot be computed, 2 for malformed arguments; the message
is Japanese, on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import typer
from sqlalchemy import Connection, Engine

from kiban.collection.late_fee import LateFeeError, UnknownInsurer, YearNotVerified, compute_late_fee
from kiban.security.context import AccessContext

app = typer.Typer(help="収納・滞納のツールとバッチ", no_args_is_help=True)

# The letters (督促状・催告書) of a 督促 run, per business: the engine sits below the businesses
# (import-linter layers), so the entry point (kiban.cli.main) registers each business's printer here.
LETTERS: dict[str, Callable[[Engine, int], bytes]] = {}
# 督促手数料 per the insurers' 条例 (地方自治法第231条の3第2項), per business, registered the same way.
FEES: dict[str, Callable[[Connection, int], None]] = {}
# The 年金保険者's 特別徴収結果 (``--channel pension``) per business: (engine, ctx, data, file name) → summary.
PENSION_RESULTS: dict[str, Callable[[Engine, AccessContext, bytes, str], str]] = {}


@app.callback()
def _collection() -> None:
    """収納・滞納のツールとバッチ（延滞金の試算など）。"""


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{name} は YYYY-MM-DD で指定してください: {value!r}") from None


def _payment(value: str) -> tuple[date, int]:
    when, sep, amount = value.partition(":")
    if not sep:
        raise typer.BadParameter(f"--payment は YYYY-MM-DD:金額 で指定してください: {value!r}")
    try:
        yen = int(amount.replace(",", ""))
    except ValueError:
        raise typer.BadParameter(f"--payment の金額は円単位の整数で指定してください: {value!r}") from None
    return _date(when, "--payment の日付"), yen


@app.command("late-fee")
def late_fee_command(
    principal: int = typer.Option(..., "--principal", help="延滞している保険料額（期別、円）"),
    due_date: str = typer.Option(..., "--due-date", help="納期限 YYYY-MM-DD"),
    paid_date: str = typer.Option(..., "--paid-date", help="納付日（完納の日） YYYY-MM-DD"),
    insurer: str = typer.Option("standard", "--insurer", help="計算規則のキー（standard, shinjuku）"),
    payment: list[str] = typer.Option([], "--payment", help="一部納付 YYYY-MM-DD:金額（繰り返し指定可）"),
    as_json: bool = typer.Option(False, "--json", help="結果を JSON で出力"),
) -> None:
    """延滞金を試算し、期間・割合・日数・端数処理と出典を示します。"""
    due = _date(due_date, "--due-date")
    paid = _date(paid_date, "--paid-date")
    payments = [_payment(p) for p in payment]
    try:
        result = compute_late_fee(principal, due, paid, insurer=insurer, payments=payments)
    except (LateFeeError, UnknownInsurer, YearNotVerified) as exc:
        typer.echo(f"エラー: {exc.args[0] if exc.args else exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    for line in result.explanation():
        typer.echo(line)


def _batch_ctx(business: str, job: str):  # type: ignore[no-untyped-def]
    from kiban.db.engine import get_engine
    from kiban.security.batch import batch_context
    from kiban.security.context import Business

    engine = get_engine()
    with engine.begin() as conn:
        ctx = batch_context(conn, Business(business), f"{business}.collection", job)
    return engine, ctx


@app.command("import")
def import_command(
    path: str = typer.Argument(..., help="収納ファイル（docs/layouts/collection-payments.md）"),
    channel: str = typer.Option(..., "--channel", help="bank / transfer / konbini / pension"),
    business: str = typer.Option("kaigo", "--business", help="業務（kaigo）"),
) -> None:
    """収納ファイルを取り込み、消込します（1件でも誤りがあれば何も取り込まず、エラーリストを表示）。"""
    from pathlib import Path

    from kiban.collection import payments

    engine, ctx = _batch_ctx(business, f"収納ファイル取込 {Path(path).name}")
    pension = PENSION_RESULTS.get(business) if channel == "pension" else None
    try:
        if pension is not None:  # the 年金保険者's 特別徴収結果 (docs/layouts/kaigo-special-results.md)
            summary = pension(engine, ctx, Path(path).read_bytes(), Path(path).name)
            typer.echo(summary)
            return
        result = payments.import_payments(
            engine, ctx, channel=channel, data=Path(path).read_bytes(), file_name=Path(path).name
        )
    except payments.PaymentFileRejected as exc:
        typer.echo(f"エラー: {exc}", err=True)
        for e in exc.errors:
            typer.echo(f"  {e.line}行目 {e.field}: {e.message}", err=True)
        raise typer.Exit(1) from None
    except payments.PaymentError as exc:
        typer.echo(f"エラー: {exc}", err=True)
        raise typer.Exit(1) from None
    if result.already_imported:
        typer.echo(f"このファイルは取込済みです（取込番号 {result.file_id}）。何も変更していません")
        return
    typer.echo(
        f"取込番号 {result.file_id}: {result.records:,} 件（重複 {result.duplicates:,}）、完納 {result.applied:,}、"
        f"一部 {result.partial:,}、過納 {result.over:,}、未確認 {result.unmatched:,}、計 {result.amount:,} 円"
    )


@app.command("demand")
def demand_command(
    business: str = typer.Option("kaigo", "--business", help="業務（kaigo）"),
    as_of: str = typer.Option(None, "--as-of", help="基準日 YYYY-MM-DD（既定: 今日）"),
    reminder: bool = typer.Option(False, "--reminder", help="督促済みで未納の期別へ催告（催告書）"),
    deadline_days: int = typer.Option(10, "--deadline-days", help="指定期限・納付期限（発付日からの日数）"),
    pdf: Path = typer.Option(None, "--pdf", help="督促状・催告書の PDF を書き出すファイル"),
) -> None:
    """納期限を過ぎた未納の期別へ督促（1期別1回）または催告を記録し、督促状・催告書を作ります。"""
    from kiban.collection import demands

    engine, ctx = _batch_ctx(business, "督促・催告の実行")
    run = demands.demand_run(
        engine, ctx, business=business, as_of=_date(as_of, "--as-of") if as_of else None,
        deadline_days=deadline_days, kind="reminder" if reminder else "demand", charge_fees=FEES.get(business),
    )  # fmt: skip
    label = "催告" if reminder else "督促"
    typer.echo(
        f"{label} {run.demands:,} 期別・{run.persons:,} 人、未納 {run.unpaid:,} 円（一括 {run.batch_id}）"
        + (f"。納期限後20日を過ぎた督促 {run.late:,} 件" if run.late and not reminder else "")
        + (f"。督促手数料 {run.fees:,} 円（条例）" if run.fees else "")
    )
    printer = LETTERS.get(business)
    if run.demands and printer is not None:
        letters = printer(engine, run.batch_id)
        if pdf is not None:
            pdf.write_bytes(letters)
            typer.echo(f"{'催告書' if reminder else '督促状'}: {pdf}")


@app.command("carry-over")
def carry_over_command(
    fiscal_year: int = typer.Option(..., "--fiscal-year", help="出納閉鎖した年度"),
    business: str = typer.Option("kaigo", "--business", help="業務（kaigo）"),
    as_of: str = typer.Option(None, "--as-of", help="実行日 YYYY-MM-DD（既定: 今日。出納閉鎖日の翌日以後）"),
) -> None:
    """出納閉鎖（翌年度5月31日）後、年度の未納の期別を滞納繰越分へ繰り越します（再実行しても同じ結果）。"""
    from kiban.collection import closing

    engine, ctx = _batch_ctx(business, f"滞納繰越（{fiscal_year}年度）")
    try:
        run = closing.carry_over(
            engine, ctx, business=business, fiscal_year=fiscal_year,
            today=_date(as_of, "--as-of") if as_of else None,
        )  # fmt: skip
    except closing.ClosingError as exc:
        typer.echo(f"エラー: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"{fiscal_year}年度 滞納繰越 {run.receivables:,} 期別・{run.persons:,} 人、{run.amount:,} 円"
        f"（今回 追加 {run.added:,}・修正 {run.revised:,}・取消 {run.withdrawn:,}"
        + ("、中断からの再開" if run.resumed else "")
        + "）"
    )


@app.command("refund-interest")
def refund_interest_command(
    amount: int = typer.Option(..., "--amount", help="過誤納金の額（円）"),
    start: str = typer.Option(
        ..., "--from", help="起算日 YYYY-MM-DD（賦課の減額による過納金は納付の日の翌日）"
    ),
    end: str = typer.Option(..., "--to", help="還付のための支出を決定した日（又は充当をした日） YYYY-MM-DD"),
    as_json: bool = typer.Option(False, "--json", help="結果を JSON で出力"),
) -> None:
    """還付加算金を試算し、期間・割合・日数・端数処理と出典を示します。"""
    from kiban.collection.refund_interest import (
        RefundInterestError,
        compute_refund_interest,
    )
    from kiban.collection.refund_interest import YearNotVerified as RefundYearNotVerified

    first = _date(start, "--from")
    last = _date(end, "--to")
    try:
        result = compute_refund_interest(amount, first, last)
    except (RefundInterestError, RefundYearNotVerified) as exc:
        typer.echo(f"エラー: {exc.args[0] if exc.args else exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    for line in result.explanation():
        typer.echo(line)
