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
    # 介護保険: the residents of 65+ are insured and last month's 65歳到達者 have their cards.
    assert "介護保険 被保険者" in result.stdout and "被保険者証の一括交付" in result.stdout
    # 介護保険料: the 本算定 of the year whose 住民税 is known, by stage, and the notices as a PDF.
    assert "介護保険料 本算定" in result.stdout and "第1段階" in result.stdout
    notices = sorted((tmp_path / "home" / "out").glob("kaigo-premium-notices-*.pdf"))
    assert notices and notices[0].read_bytes().startswith(b"%PDF")
    # 収納・滞納: a bank file is matched and the unpaid 期別 get their 督促状.
    assert "収納ファイル:" in result.stdout and "を消込" in result.stdout and "督促:" in result.stdout
    # 庁内連携: a 承認願 approved by a second administrator, and the 資格 delivered as 副本.
    out = "".join(result.stdout.split())  # rich wraps long lines anywhere in Japanese text
    assert "承認願第1号（中間サーバー・介護保険資格）を承認" in out and "承認待ち" in out
    assert "今回の副本登録" in out and "今回の副本登録0件" not in out
    # 中間サーバー: one inquiry answered, one held for the 監督者, one outside the list refused.
    assert "即時提供→提供" in out and "保留（監督者の確認待ち）" in out and "リスト外→拒否" in out
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


def test_serve_stops_the_embedded_server_on_sigterm(tmp_path: Path) -> None:
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("KIBAN_DATABASE_URL", "KIBAN_KEY_FILE")}
    env["KIBAN_HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiban.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.3)
        # A service manager stops kiban with SIGTERM; the database must stop with it.
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (tmp_path / "home" / "pg" / "postmaster.pid").exists()


def test_a_killed_process_does_not_keep_the_embedded_server_alive(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KIBAN_DATABASE_URL", "KIBAN_KEY_FILE")}
    env["KIBAN_HOME"] = str(tmp_path / "home")
    pgdata = tmp_path / "home" / "pg"
    # A process that dies without its exit hooks (SIGKILL) leaves the server running and its pid
    # in the wheel's handle list.
    code = "from kiban.db.engine import database_url; import os, signal; database_url(); os.kill(os.getpid(), signal.SIGKILL)"
    subprocess.run([sys.executable, "-c", code], env=env, check=False, timeout=60)
    assert (pgdata / "postmaster.pid").exists()
    # The next kiban command forgets the dead pid, so it stops the server when it exits.
    r = subprocess.run(
        [sys.executable, "-m", "kiban.cli.main", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert not (pgdata / "postmaster.pid").exists()
