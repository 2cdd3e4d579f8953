"""``kiban identity`` — operator commands of the 宛名 hub (imports, checks). Staff use the web UI.

Each command runs as the batch principal (kiban.security.batch): its reads and changes go through
the guard and the access log like a clerk's.
"""

from __future__ import annotations

import typer

app = typer.Typer(help="宛名・個人番号ハブ（団体内統合宛名システム）の取込とチェック", no_args_is_help=True)

# Commands are added below by the modules that implement them (one line each):
from kiban.identity.facts import facts_command  # noqa: E402 — 課税・生活保護・老齢福祉年金・医療保険の取込

app.command("facts")(facts_command)
app.command("events")(__import__("kiban.identity.events", fromlist=["events_command"]).events_command)
app.command("check")(__import__("kiban.identity.check", fromlist=["check_command"]).check_command)
app.command("load-registry")(__import__("kiban.identity.load", fromlist=["x"]).load_registry_command)
