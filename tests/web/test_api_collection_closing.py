"""The 出納閉鎖・滞納繰越 screen over HTTP (TestClient): a clerk runs the 2025 carry-over (today is after
31 May 2026), the list and the accounts show, a second run changes nothing; a reader may look but not
run; outsiders are refused and logged; the POST needs the CSRF token."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import Engine, text
from test_api_collection import Staff

from collection.test_payments import assessed
from identity.conftest import app_engine, clean_identity, org, staff_ctx
from kaigo.test_assessment_run import A, atena, city, town
from kiban.security.context import Business
from kiban.shared import clock
from kiban.shared.mynumber import contains_my_number
from security_factories import Org

__all__ = ["app_engine", "assessed", "atena", "city", "clean_identity", "org", "staff_ctx", "town"]

pytestmark = pytest.mark.usefixtures("clean_identity")
PATH = "/collection/closing"


def _staff(engine: Engine, org: Org, role: str, business: Business = Business.KAIGO) -> Staff:
    return Staff(engine, org, f"{role}-{uuid.uuid4().hex[:4]}", [(business, role)])


def _carried(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM collection.carry_over")).scalar_one())


def test_a_clerk_runs_the_carry_over_and_sees_the_list(assessed, app_engine: Engine, org: Org) -> None:
    assert clock.today() > date(2026, 5, 31), "the 2025 出納閉鎖 must have passed"
    clerk = _staff(app_engine, org, "clerk")
    page = clerk.get(PATH)
    assert page.status_code == 200 and 'data-testid="closing-form"' in page.text
    assert clerk.post(PATH, {"fiscal_year": "二〇二五"}).status_code == 422
    early = clerk.post(PATH, {"fiscal_year": str(clock.today().year)})
    assert early.status_code == 422 and "出納閉鎖日" in early.text and "地方自治法第235条の5" in early.text
    done = clerk.post(PATH, {"fiscal_year": "2025"})
    assert done.status_code == 303, done.text[:400]
    n = _carried(app_engine)
    listed = clerk.get(f"{PATH}?fiscal_year=2025")
    assert listed.status_code == 200 and "令和7年度" in listed.text and "完了" in listed.text
    assert f">{A}</a>" in listed.text and "2,389円" in listed.text  # A's 第1期, carried whole
    assert "現年度分" in listed.text and "滞納繰越分" in listed.text
    assert not contains_my_number(listed.text)
    assert clerk.post(PATH, {"fiscal_year": "2025"}).status_code == 303 and _carried(app_engine) == n


def test_readers_look_outsiders_are_refused_and_csrf(assessed, app_engine: Engine, org: Org) -> None:
    reader = _staff(app_engine, org, "reader")
    # The list is a 担当者's search (the service asks rank 1): a reader gets the refusal shown.
    seen = reader.get(PATH)
    assert seen.status_code == 403 and 'data-testid="closing-form"' not in seen.text
    assert reader.post(PATH, {"fiscal_year": "2025"}).status_code == 403
    outsider = _staff(app_engine, org, "clerk", Business.ATENA)
    assert (
        outsider.get(PATH).status_code == 403
        and outsider.post(PATH, {"fiscal_year": "2025"}).status_code == 403
    )
    clerk = _staff(app_engine, org, "clerk")
    assert clerk.post(PATH, {"fiscal_year": "2025"}, csrf=False).status_code == 403
    assert _carried(app_engine) == 0
