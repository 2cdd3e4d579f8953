"""Shared pieces of the Chromium tests: a served app, the browser, screenshots, signing in."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from security_factories import PASSWORD, Org, fresh_code, terminal_awaiting_enrolment

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path("out/screenshots")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def enrol_and_login(browser, base_url: str, org: Org, dep: str, terminal: str, staff: str, secret: str):  # type: ignore[no-untyped-def]
    enrol = terminal_awaiting_enrolment(org.engine, org.code(terminal), dep)
    context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.goto(f"{base_url}/terminal/enrol?terminal_code={org.code(terminal)}&code={enrol}")
    page.get_by_role("button", name="この端末を登録する").click()
    page.wait_for_url("**/login")
    assert "登録しました" in page.get_by_test_id("flash").inner_text()
    page.get_by_label("職員ID").fill(org.code(staff))
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url("**/mfa")
    page.get_by_label("確認コード（6桁）").fill(fresh_code(secret))
    page.get_by_role("button", name="確認").click()
    try:
        page.wait_for_url(base_url + "/", timeout=10_000)
    except Exception:
        shot(page, f"failed-login-{staff}")
        raise
    return context, page
