"""Processes on loopback for the network and gateway tests: free ports, start, wait, kill.

Every process is started in its own process group and killed in a ``finally`` (fixtures), so a
failing test leaves nothing running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    name: str
    args: list[str]
    env: dict[str, str]
    health_url: str
    log_path: Path
    url: str = ""
    popen: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Proc:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}): {self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.health_url, timeout=1.0).status_code < 500:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not start: {self.log_tail()}")

    def kill9(self) -> None:
        assert self.popen is not None
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text("utf-8", errors="replace")[-n:]
        except OSError:
            return ""


def kiban(*args: str) -> list[str]:
    return [sys.executable, "-m", "kiban.cli.main", *args]


def network_proc(database_url: str, admin_token_file: Path, log_dir: Path) -> Proc:
    port = free_port()
    return Proc(
        "network",
        kiban(
            "network",
            "serve",
            "--database-url",
            database_url,
            "--port",
            str(port),
            "--admin-token-file",
            str(admin_token_file),
        ),
        dict(os.environ),
        f"http://127.0.0.1:{port}/v1/keys",
        log_dir / f"network-{port}.log",
        url=f"http://127.0.0.1:{port}",
    )


def admin_token_file(directory: Path) -> tuple[Path, str]:
    token = uuid.uuid4().hex + uuid.uuid4().hex
    path = directory / "network-admin.token"
    path.write_text(token + "\n", "utf-8")
    return path, token


@contextlib.contextmanager
def running(*procs: Proc) -> Iterator[None]:
    try:
        for p in procs:
            p.start()
        yield
    finally:
        for p in reversed(procs):
            p.stop()
