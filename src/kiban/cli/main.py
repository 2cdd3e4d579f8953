"""The ``kiban`` command (運用コマンド) — for operators and batches; staff work in the web UI."""

from __future__ import annotations

import logging

import typer

from kiban import __version__
from kiban.cli import db as db_cmd
from kiban.cli import demo as demo_cmd
from kiban.cli import reconcile
from kiban.cli import serve as serve_cmd
from kiban.cli import synth as synth_cmd
from kiban.collection import cli as collection_cli
from kiban.gateway import cli as gateway_cli
from kiban.identity import cli as identity_cli
from kiban.kaigo import cli as kaigo_cli
from kiban.linkage import cli as linkage_cli
from kiban.network import cli as network_cli
from kiban.security import cli as security_cli
from kiban.security.audit import cli as audit_cli
from kiban.security.keys import cli as keys_cli

app = typer.Typer(
    name="kiban",
    help="kiban (基盤) — 社会保障業務システム. `kiban demo` で一式を起動します。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold personal data; never print them
)
app.add_typer(db_cmd.app, name="db")
app.add_typer(security_cli.app, name="security")
app.add_typer(keys_cli.app, name="keys")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(identity_cli.app, name="identity")
app.add_typer(kaigo_cli.app, name="kaigo")
app.add_typer(collection_cli.app, name="collection")
app.add_typer(linkage_cli.app, name="linkage")
app.add_typer(network_cli.app, name="network")
# 副本 against 原本 reads the 介護保険 資格 too, so it is wired here, above both contexts.
gateway_cli.app.command("reconcile")(reconcile.reconcile_command)
app.add_typer(gateway_cli.app, name="gateway")


def _kaigo_letters(engine, batch_id: int) -> bytes:  # type: ignore[no-untyped-def]
    """督促状・催告書 of a 介護保険料 督促 run (the collection engine cannot import kaigo)."""
    from kiban.kaigo.assessment import receivables

    return receivables.demand_pdf(engine, batch_id)


def _kaigo_fees(conn, batch_id: int) -> None:  # type: ignore[no-untyped-def]
    """督促手数料 per the 介護保険 insurers' 条例 (kiban.rules.kaigo_collection [demand_fee])."""
    from kiban.kaigo.assessment import receivables

    receivables.charge_demand_fees(conn, batch_id)


def _kaigo_pension_results(engine, ctx, data: bytes, name: str) -> str:  # type: ignore[no-untyped-def]
    """特別徴収結果 of the 年金保険者 (docs/layouts/kaigo-special-results.md); a one-line summary."""
    from kiban.kaigo.assessment import pension_results

    r = pension_results.import_results(engine, ctx, data=data, file_name=name)
    if r.already_imported:
        return f"このファイルは取込済みです（取込番号 {r.file_id}）。何も変更していません"
    p = r.payments
    assert p is not None
    return (
        f"取込番号 {r.file_id}: {r.records:,} 件（重複 {r.duplicates:,}）、徴収済 {r.collected:,}（完納 {p.applied:,}・"
        f"一部 {p.partial:,}・過納 {p.over:,}）、未徴収 {len(r.not_collected):,}、計 {p.amount:,} 円"
    )


collection_cli.LETTERS["kaigo"] = _kaigo_letters
collection_cli.PENSION_RESULTS["kaigo"] = _kaigo_pension_results
collection_cli.FEES["kaigo"] = _kaigo_fees
app.command("synth")(synth_cmd.synth)
app.command("serve")(serve_cmd.serve)
app.command("demo")(demo_cmd.demo)


@app.command()
def version() -> None:
    """Print the kiban version."""
    typer.echo(__version__)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress to stderr.")) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


if __name__ == "__main__":
    app()
