"""The JSON API: health, OpenAPI document, aggregate city figures."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine

from kiban.db import migrate
from kiban.web.app import create_app


def test_health_reports_database_and_schema(db_engine: Engine) -> None:
    client = TestClient(create_app(db_engine))
    r = client.get("/api/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["schema_revision"] == migrate.head()
    assert body["server_version"]


def test_health_is_503_when_the_database_is_unreachable() -> None:
    # A monitor must see the outage, not a 200 or an HTML error page.
    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    r = TestClient(create_app(dead)).get("/api/v1/health")
    assert r.status_code == 503
    assert r.json()["status"] == "error"


def test_openapi_document_lists_the_api(db_engine: Engine) -> None:
    doc = TestClient(create_app(db_engine)).get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/health" in doc["paths"]
    assert "/api/v1/city/summary" in doc["paths"]
    # Screens are not API: they stay out of the document.
    assert "/" not in doc["paths"]


def test_screens_need_a_terminal_and_a_session(db_engine: Engine) -> None:
    client = TestClient(create_app(db_engine), follow_redirects=False)
    r = client.get("/")
    assert r.status_code == 303 and r.headers["location"].startswith("/terminal/enrol")
    assert client.get("/api/v1/city/summary").status_code == 401


def test_screens_are_japanese_and_load_htmx_locally(db_engine: Engine) -> None:
    client = TestClient(create_app(db_engine))
    html = client.get("/login").text
    assert '<html lang="ja">' in html
    assert "ログイン" in html
    assert 'src="/static/vendor/htmx-2.0.11.min.js"' in html
    assert client.get("/static/vendor/htmx-2.0.11.min.js").status_code == 200
    # Nothing is fetched from outside: the city network is closed (domain.md §10.15).
    assert "http://" not in html and "https://" not in html
