"""``kiban collection`` — the counter's tools and batches of 収納・滞納 (no database for ``late-fee``).

The command line of ``late-fee`` is a contract other checks call: keep the option names and the
JSON keys (``late_fee``, ``principal``, ``due_date``, ``paid_date``, ``segments``, ``notes``,
``sources``). Exit code 1 for facts that cannot be computed, 2 for malformed arguments; the message
is Japanese, on stderr.
"""

from __future__ import annotations

import json
from datetime import date

import typer

from kiban.collection.late_fee import LateFeeError, UnknownInsurer, YearNotVerified, compute_late_fee

app = typer.Typer(help="収納・滞納のツールとバッチ", no_args_is_help=True)


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
