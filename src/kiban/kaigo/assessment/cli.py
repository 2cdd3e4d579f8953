"""``kiban kaigo premium`` — the counter's 試算 of a 第1号被保険者's annual premium (no database).

The command line is a contract other checks call (issue 6): keep the option names.
"""

from __future__ import annotations

import json

import typer

from kiban.kaigo.assessment.model import (
    AssessmentError,
    FiscalYearNotCovered,
    PremiumFacts,
    UnknownInsurer,
    simulate,
)

app = typer.Typer(help="介護保険料（第1号被保険者）の試算", no_args_is_help=True)


@app.callback()
def _premium() -> None:
    """介護保険料（第1号被保険者）の所得段階と年額の試算。"""


@app.command("simulate")
def simulate_command(
    insurer: str = typer.Option(..., "--insurer", help="保険料段階表のキー（standard, kumamoto, koriyama）"),
    fiscal_year: int = typer.Option(..., "--fiscal-year", help="賦課年度（西暦、例: 2025）"),
    welfare: bool = typer.Option(False, "--welfare", help="生活保護受給中"),
    old_age_welfare_pension: bool = typer.Option(
        False, "--old-age-welfare-pension", help="老齢福祉年金受給者"
    ),
    household_exempt: bool = typer.Option(False, "--household-exempt", help="世帯全員が住民税非課税"),
    self_exempt: bool = typer.Option(False, "--self-exempt", help="本人が住民税非課税"),
    total_income: int = typer.Option(
        0, "--total-income", help="合計所得金額（長期・短期譲渡所得の特別控除後、円）"
    ),
    pension_income: int = typer.Option(0, "--pension-income", help="課税年金収入額（円）"),
    pension_misc_income: int = typer.Option(0, "--pension-misc-income", help="公的年金等に係る雑所得（円）"),
    as_json: bool = typer.Option(False, "--json", help="結果を JSON で出力"),
) -> None:
    """所得段階と年額保険料を試算し、判定の根拠（区分・割合・基準額・端数処理・出典）を示します。"""
    facts = PremiumFacts(
        welfare=welfare,
        old_age_welfare_pension=old_age_welfare_pension,
        household_exempt=household_exempt,
        self_exempt=self_exempt,
        total_income=total_income,
        pension_income=pension_income,
        pension_misc_income=pension_misc_income,
    )
    try:
        result = simulate(insurer, fiscal_year, facts)
    except (UnknownInsurer, FiscalYearNotCovered, AssessmentError) as exc:
        typer.echo(f"エラー: {exc.args[0] if exc.args else exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    for line in result.explanation():
        typer.echo(line)
