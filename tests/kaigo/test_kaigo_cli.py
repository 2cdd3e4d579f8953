"""``kiban kaigo``: the monthly run and the bulk issue as an operator runs them."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kiban.cli.main import app

pytestmark = pytest.mark.usefixtures("clean_identity")


def test_run_then_bulk_issue(new_person, tmp_path: Path) -> None:
    for day in (5, 20):  # 65 on 4 and 19 March 2026
        new_person(birth_date=date(1961, 3, day))
    new_person(birth_date=date(1961, 4, 2))  # 65 on 1 April: not yet
    runner = CliRunner()
    ran = runner.invoke(app, ["kaigo", "eligibility", "run", "--as-of", "2026-03-31", "--json"])
    assert ran.exit_code == 0, ran.output
    summary = json.loads(ran.output)
    assert (summary["acquired"], summary["promoted"]) == (2, 0)
    again = json.loads(
        runner.invoke(app, ["kaigo", "eligibility", "run", "--as-of", "2026-03-31", "--json"]).output
    )
    assert again["acquired"] == 0
    out = tmp_path / "cards.pdf"
    bulk = runner.invoke(app, ["kaigo", "certificates", "bulk", "--month", "2026-03", "--out", str(out)])
    assert bulk.exit_code == 0, bulk.output
    assert "2 枚" in bulk.output
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, check=True, text=True).stdout
    assert "Pages:           2" in info
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, check=True, text=True).stdout
    assert text.count("介護保険被保険者証") >= 2


def test_a_bad_date_is_named(new_person) -> None:
    result = CliRunner().invoke(app, ["kaigo", "eligibility", "run", "--as-of", "2026-13-01"])
    assert result.exit_code != 0 and "--as-of" in result.output
