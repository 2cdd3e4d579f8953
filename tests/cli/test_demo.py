"""`kiban demo` on a machine with no configuration: its own embedded PostgreSQL, a city, a summary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_without_configuration_builds_a_city(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KIBAN_DATABASE_URL", "KIBAN_KEY_FILE")}
    env["KIBAN_HOME"] = str(tmp_path / "home")
    env["COLUMNS"] = "200"
    result = subprocess.run(
        [sys.executable, "-m", "kiban.cli.main", "demo", "--residents", "2000", "--seed", "3", "--no-serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "組込みPostgreSQL" in result.stdout
    assert "住民 2,000 人" in result.stdout
    # The embedded server kept its data under KIBAN_HOME and was stopped when the command ended.
    pgdata = tmp_path / "home" / "pg"
    assert (pgdata / "PG_VERSION").exists()
    assert not (pgdata / "postmaster.pid").exists()


def test_db_upgrade_twice_is_idempotent(database_url: str) -> None:
    env = dict(os.environ, KIBAN_DATABASE_URL=database_url, COLUMNS="200")
    for _ in range(2):
        r = subprocess.run(
            [sys.executable, "-m", "kiban.cli.main", "db", "upgrade"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert r.returncode == 0, r.stderr[-2000:]
    assert "スキーマは最新です" in r.stdout
