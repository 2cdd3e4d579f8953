"""The 介護保険料 試算 API (POST /api/v1/kaigo/premium/simulate): the CLI's JSON contract over HTTP.

A 介護保険 reader (照会のみ) is enough; a 試算 reads no person, so it writes no access-log row. Bad input
is a 422 with the counter's Japanese message and the offending key; staff without a 介護保険 grant,
and callers without a session, are refused.
"""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from kiban.db.engine import get_app_engine
from kiban.kaigo.assessment.model import PremiumFacts, simulate
from kiban.security import totp
from kiban.security.context import Business
from kiban.web.app import create_app
from kiban.web.session import SESSION_COOKIE, TERMINAL_COOKIE
from security_factories import Org

URL = "/api/v1/kaigo/premium/simulate"


def _client(engine: Engine, org: Org, name: str, grants: list[tuple[Business, str]]) -> TestClient:
    dep = org.department(f"dep-{name}")
    secret = totp.new_secret()
    org.staff(name, dep, grants, totp_secret=secret)
    term, term_secret = org.terminal(f"term-{name}", dep)
    token, session = org.login(name, term, secret=secret)
    client = TestClient(create_app(engine))
    client.cookies.set(TERMINAL_COOKIE, term_secret)
    client.cookies.set(SESSION_COOKIE, token)
    client.headers["X-CSRF-Token"] = session.csrf_token
    return client


@pytest.fixture(scope="module")
def world(database_url: str) -> dict[str, object]:
    engine = get_app_engine(database_url)
    org = Org(engine, uuid.uuid4().hex[:8])
    return {
        "reader": _client(engine, org, "kaigo-reader", [(Business.KAIGO, "reader")]),
        "atena": _client(engine, org, "atena-clerk", [(Business.ATENA, "clerk")]),
        "org": org,
        "engine": engine,
    }


def _log_rows(db: Engine, staff_code: str) -> list[tuple[str, str]]:
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT action, outcome FROM audit.access_log WHERE staff_code = :s"), {"s": staff_code}
        )
        return [(r.action, r.outcome) for r in rows]


def test_standard_stage_5_kumamoto_fy2024(world, db_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    """本人非課税・世帯課税, X above 80万円 (FY2024) → 第5段階, the 基準額 76,800円."""
    client: TestClient = world["reader"]
    body = {
        "insurer": "kumamoto",
        "fiscal_year": 2024,
        "welfare": False,
        "old_age_welfare_pension": False,
        "household_exempt": False,
        "self_exempt": True,
        "total_income": 200_000,
        "pension_income": 900_000,
        "pension_misc_income": 200_000,
    }
    r = client.post(URL, json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["stage"], got["stage_count"], got["annual_premium"]) == (5, 15, 76_800)
    assert got["category"] == "self_exempt" and got["insurer_name"] == "熊本市"
    assert got["fiscal_year"] == 2024 and got["fiscal_year_label"] == "令和6年度"
    assert got["exempt_stage_income"] == 900_000  # 課税年金収入額 + (合計所得 − 雑所得 = 0)
    assert got["comparisons"] == [
        {"stage": 4, "quantity": "課税年金収入額＋その他の合計所得金額", "value": 900_000,
         "relation": ">", "threshold": 800_000, "holds": False},
    ]  # fmt: skip
    assert got["multiplier"] == "1" and got["base_annual"] == 76_800 and got["published_annual"] == 76_800
    assert got["sources"] and all(s["url"].startswith("https://") for s in got["sources"])
    # Exactly the CLI's JSON contract.
    facts = PremiumFacts(
        self_exempt=True, total_income=200_000, pension_income=900_000, pension_misc_income=200_000
    )
    assert got == simulate("kumamoto", 2024, facts).to_dict()
    # No person was read: no access-log row for a 試算 (only the sign-in's).
    assert {action for action, _ in _log_rows(db_engine, world["org"].code("kaigo-reader"))} <= {"login"}


def test_household_exempt_stage_1_is_0_285_of_the_base(world) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = world["reader"]
    r = client.post(
        URL,
        json={"insurer": "kumamoto", "fiscal_year": 2024, "household_exempt": True, "self_exempt": True,
              "pension_income": 780_000},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["stage"], got["annual_premium"], got["multiplier"]) == (1, 21_888, "0.285")  # 76,800 × 0.285
    assert got["exact_amount"] == "21888.000" and got["category"] == "household_exempt"
    assert "所得段階: 第1段階（全15段階）" in "\n".join(got["explanation"])


def test_base_override_and_welfare(world) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = world["reader"]
    r = client.post(
        URL, json={"insurer": "standard", "fiscal_year": 2026, "welfare": True, "base_annual": 80_000}
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["stage"], got["annual_premium"], got["base_from_table"]) == (1, 22_800, False)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"household_exempt": True, "self_exempt": False}, "self_exempt", "世帯非課税"),
        (
            {"self_exempt": True, "pension_income": 100, "pension_misc_income": 200},
            "pension_misc_income",
            "雑所得",
        ),
        ({"insurer": "nosuch"}, "insurer", "保険料段階表はありません"),
        ({"fiscal_year": 2026}, "fiscal_year", "のみ収録しています"),
        ({"total_income": 5_000_000}, "total_income", "試算できません"),
        ({"total_income": -1}, "total_income", "0円以上"),
        ({"total_income": "1200000"}, "total_income", "整数"),
        ({"total_income": 1.5}, "total_income", "整数"),
        ({"self_exempt": "yes"}, "self_exempt", "true / false"),
        ({"base_annual": 0}, "base_annual", "1円以上"),
        ({"household_exemption": True}, "household_exemption", "不明な項目"),
        ({"insurer": ""}, "insurer", "保険者"),
        ({"fiscal_year": None}, "fiscal_year", "整数"),
    ],
)
def test_bad_input_is_a_422_in_japanese(world, body: dict[str, object], field: str, words: str) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = world["reader"]
    r = client.post(URL, json={"insurer": "kumamoto", "fiscal_year": 2025} | body)
    assert r.status_code == 422, r.text
    got = r.json()
    assert got["field"] == field and words in got["error"], got
    assert got["detail"] == got["error"]  # the shape of the other /api/v1/kaigo refusals


def test_a_body_that_is_not_a_json_object_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = world["reader"]
    r = client.post(URL, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.json()["error"]
    r = client.post(URL, json=[1, 2])
    assert r.status_code == 422 and r.json()["field"] is None
    r = client.post(URL, data={"insurer": "kumamoto"})
    assert r.status_code == 415 and "application/json" in r.json()["error"]


def test_refused_without_a_kaigo_grant_or_a_session(world, database_url: str, db_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    body = {"insurer": "kumamoto", "fiscal_year": 2024, "household_exempt": True, "self_exempt": True}
    atena: TestClient = world["atena"]
    r = atena.post(URL, json=body)
    assert r.status_code == 403 and "権限がありません" in r.json()["detail"]
    # The guard logged the refusal (a denial is always logged).
    assert ("view", "denied") in _log_rows(db_engine, world["org"].code("atena-clerk"))

    anonymous = TestClient(create_app(get_app_engine(database_url)), follow_redirects=False)
    r = anonymous.post(URL, json=body)
    assert r.status_code == 401  # no terminal, no session
    assert "stage" not in r.text

    # A session without the CSRF header is refused like every other POST of the API.
    reader: TestClient = world["reader"]
    token = reader.headers.pop("X-CSRF-Token")
    try:
        r = reader.post(URL, json=body)
        assert r.status_code == 403
    finally:
        reader.headers["X-CSRF-Token"] = token
