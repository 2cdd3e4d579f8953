"""`kiban audit seal | checkpoint | verify | report` through the Typer app."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from audit_helpers import AuditDb
from typer.testing import CliRunner

from kiban.db import engine as db_engine_mod
from kiban.security import audit
from kiban.security.audit.cli import app
from kiban.security.context import AccessContext, Action, Business
from kiban.shared import clock

runner = CliRunner()


@pytest.fixture
def cli_db(audit_db: AuditDb, kiban_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AuditDb]:
    monkeypatch.setenv("KIBAN_DATABASE_URL", audit_db.url)
    db_engine_mod.reset()
    yield audit_db
    db_engine_mod.get_engine().dispose()
    db_engine_mod.reset()


def _write(db: AuditDb, n: int) -> list[int]:
    ctx = AccessContext(1, "k001", "kaigo-ka", "T-001", Business.KAIGO, "kaigo.eligibility")
    with db.app.begin() as conn:
        for i in range(n):
            audit.record(conn, ctx, action=Action.VIEW, subjects=[f"A-{i}"])
    return [int(i) for i in db.scalar("SELECT array_agg(id ORDER BY id) FROM audit.access_log")]


def test_seal_checkpoint_verify_and_tampering_exit_code(cli_db: AuditDb, kiban_home: Path) -> None:
    ids = _write(cli_db, 10)
    sealed = runner.invoke(app, ["seal"])
    assert sealed.exit_code == 0 and "10" in sealed.output
    cp = runner.invoke(app, ["checkpoint"])
    assert cp.exit_code == 0, cp.output
    assert list((kiban_home / "audit" / "checkpoints").glob("checkpoint-*.json"))
    ok = runner.invoke(app, ["verify"])
    assert ok.exit_code == 0, ok.output
    assert "改ざんは検出されませんでした" in ok.output

    cli_db.tamper("UPDATE audit.access_log SET subjects = '{A-999}' WHERE id = :id", {"id": ids[4]})
    bad = runner.invoke(app, ["verify"])
    assert bad.exit_code == 1
    assert (
        f"id={ids[4]}" in bad.output
        and "改ざんを検出しました" in bad.output
        and "First bad record" in bad.output
    )

    as_json = runner.invoke(app, ["verify", "--json"])
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["first_bad_id"] == ids[4]


def test_truncation_is_reported_by_the_command(cli_db: AuditDb) -> None:
    ids = _write(cli_db, 6)
    assert runner.invoke(app, ["checkpoint"]).exit_code == 0  # seals first
    cli_db.tamper("DELETE FROM audit.access_log WHERE id >= :id", {"id": ids[3]})
    cli_db.tamper("DELETE FROM audit.seal WHERE id >= :id", {"id": ids[3]})
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 1
    assert "truncated" in result.output and f"id={ids[-1]}" in result.output


def test_report_command(cli_db: AuditDb) -> None:
    _write(cli_db, 3)
    today = clock.today()
    span = [
        "--from",
        (today - dt.timedelta(days=1)).isoformat(),
        "--to",
        (today + dt.timedelta(days=1)).isoformat(),
    ]
    result = runner.invoke(app, ["report", *span, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= {
        "after_hours",
        "volume_outliers",
        "repeated_denials",
        "login_failures",
        "bulk_exports",
    }
    table = runner.invoke(app, ["report", *span])
    assert table.exit_code == 0, table.output
    assert "アクセスログ点検" in table.output
