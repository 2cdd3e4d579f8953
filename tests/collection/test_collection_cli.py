"""The operator's commands over the dated town: 本算定, 調定, a payment file (bad, then good, then
again), 督促, notices, exports — the way a night batch runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collection.test_payments import file, rows_of
from kaigo.test_assessment_run import FY, A, atena, city, town
from kiban.cli.main import app

__all__ = ["atena", "city", "town"]

pytestmark = pytest.mark.usefixtures("clean_identity")


def test_the_night_batch(town, app_engine, tmp_path: Path) -> None:
    runner = CliRunner()
    ran = runner.invoke(app, ["kaigo", "assess", "--fiscal-year", str(FY), "--json"])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output.splitlines()[-1])["initial"] == 6
    sync = runner.invoke(app, ["kaigo", "receivables", "--fiscal-year", str(FY)])
    assert sync.exit_code == 0 and "6 人" in sync.output, sync.output
    a = rows_of(app_engine, A)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(file(f"R1,{a[0].payment_no},2025-07-30,0,基盤銀行"))
    refused = runner.invoke(app, ["collection", "import", str(bad), "--channel", "bank"])
    assert refused.exit_code == 1 and "2行目 金額" in refused.output
    good = tmp_path / "good.csv"
    good.write_bytes(file(f"R1,{a[0].payment_no},2025-07-30,2389,基盤銀行"))
    imported = runner.invoke(app, ["collection", "import", str(good), "--channel", "bank"])
    assert imported.exit_code == 0 and "完納 1" in imported.output, imported.output
    again = runner.invoke(app, ["collection", "import", str(good), "--channel", "bank"])
    assert "取込済み" in again.output
    demand = runner.invoke(app, ["collection", "demand", "--as-of", "2025-09-15"])
    assert demand.exit_code == 0 and "督促 9 期別・5 人" in demand.output, demand.output
    out = tmp_path / "notices.pdf"
    notices = runner.invoke(app, ["kaigo", "notices", "--fiscal-year", str(FY), "--out", str(out)])
    assert notices.exit_code == 0, notices.output
    assert (
        "Pages:           6" in subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True).stdout
    )
    export = tmp_path / "export.csv"
    assert (
        runner.invoke(app, ["kaigo", "export", "--fiscal-year", str(FY), "--out", str(export)]).exit_code == 0
    )
    assert export.read_bytes().decode("utf-8-sig").startswith("年度,被保険者番号,宛名番号")


def test_reminder_letters_and_the_carry_over_from_the_command_line(town, app_engine, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["kaigo", "assess", "--fiscal-year", str(FY)]).exit_code == 0
    assert runner.invoke(app, ["kaigo", "receivables", "--fiscal-year", str(FY)]).exit_code == 0
    assert runner.invoke(app, ["collection", "demand", "--as-of", "2025-09-15"]).exit_code == 0
    out = tmp_path / "saikoku.pdf"
    reminder = runner.invoke(
        app, ["collection", "demand", "--reminder", "--as-of", "2025-10-20", "--pdf", str(out)]
    )
    assert reminder.exit_code == 0 and "催告 10 期別・5 人" in reminder.output, reminder.output
    body = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "介護保険料催告書" in body and "督促日" in body
    early = runner.invoke(
        app, ["collection", "carry-over", "--fiscal-year", str(FY), "--as-of", "2026-05-31"]
    )
    assert early.exit_code == 1 and "出納閉鎖日（令和8年5月31日）が過ぎていない" in early.output
    first = runner.invoke(
        app, ["collection", "carry-over", "--fiscal-year", str(FY), "--as-of", "2026-06-01"]
    )
    assert first.exit_code == 0 and f"{FY}年度 滞納繰越" in first.output, first.output
    again = runner.invoke(
        app, ["collection", "carry-over", "--fiscal-year", str(FY), "--as-of", "2026-06-02"]
    )
    assert "追加 0・修正 0・取消 0" in again.output
    assert first.output.split("（")[0] == again.output.split("（")[0]  # the same totals
