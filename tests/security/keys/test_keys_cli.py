"""``kiban keys init | status | rotate`` through Typer's test runner."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from kiban.security import keys
from kiban.security.keys import cli

PROBE = "keys_probe.vault_probe"
runner = CliRunner()


@pytest.fixture
def on_keys_db(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setattr(cli, "get_engine", lambda: engine)
    monkeypatch.setenv("COLUMNS", "200")
    return engine


def test_init_status_rotate(on_keys_db: Engine, probe: Any) -> None:
    with on_keys_db.begin() as conn:
        conn.execute(text("TRUNCATE security.data_key"))
    keys.clear_cache()

    r = runner.invoke(cli.app, ["init"])
    assert r.exit_code == 0, r.output
    assert "vault: 有効な版 v1" in r.output and "blind_index: 有効な版 v1" in r.output
    assert "file:" in r.output  # which KEK this database needs

    probe.fill(30)
    keys.register_encrypted_column(PROBE, "secret", "id")
    r = runner.invoke(cli.app, ["rotate", "--batch-size", "8"])
    assert r.exit_code == 0, r.output
    assert "vault v1 → v2" in r.output
    assert f"{PROBE}.secret: 30 行, うち再暗号化 30 行" in r.output

    r = runner.invoke(cli.app, ["status"])
    assert r.exit_code == 0, r.output
    assert f"{PROBE}.secret" in r.output and "v2: 30" in r.output
    assert "retired" in r.output and "active" in r.output


def test_errors_are_one_clear_line(
    on_keys_db: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # The operator points at the wrong key file: rotation refuses before making any new key.
    monkeypatch.setenv("KIBAN_KEY_FILE", str(tmp_path / "another-kek.bin"))
    r = runner.invoke(cli.app, ["rotate"])
    assert r.exit_code == 1
    assert "エラー" in r.output and "wrapped by KEK" in r.output and "refusing" in r.output
    assert "Traceback" not in r.output
    monkeypatch.delenv("KIBAN_KEY_FILE")
    with on_keys_db.connect() as conn:
        assert keys.active_version(conn, keys.VAULT) == 1
