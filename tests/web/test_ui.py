"""The staff UI in a real Chromium (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import Engine

from kiban.synth.load import load_city
from kiban.web.app import create_app

pytestmark = pytest.mark.ui
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path("out/screenshots")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(db_engine: Engine) -> Iterator[str]:
    load_city(db_engine, residents=3_000, seed=7, write_files=False)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(db_engine), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/setup.sh (apt package chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
            ],
        )
        yield b
        b.close()


def test_home_shows_the_city_in_aggregate(base_url: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(locale="ja-JP", viewport={"width": 1280, "height": 800})
    page.goto(base_url + "/")
    # The figures arrive through htmx after the page loads.
    residents = page.get_by_test_id("residents")
    residents.wait_for(timeout=10_000)
    assert residents.inner_text().replace(",", "").startswith("3000")
    share = page.get_by_test_id("aged65").inner_text()
    assert "%" in share
    assert page.get_by_role("link", name="ホーム").get_attribute("aria-current") == "page"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "home.png"), full_page=True)
    page.close()


def test_system_screen_shows_a_healthy_database(base_url: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(locale="ja-JP", viewport={"width": 1280, "height": 800})
    page.goto(base_url + "/")
    page.get_by_role("link", name="システム状態").click()
    page.wait_for_url("**/system")
    assert page.get_by_test_id("status").inner_text().strip() == "正常"
    page.screenshot(path=str(SHOTS / "system.png"), full_page=True)
    page.close()
