"""The 年金保険者's 特別徴収結果 on the 収納ファイル取込 screen (TestClient): the golden file of
tests/collection/golden is matched, its 未徴収 listed; the bad one is refused with its エラーリスト."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine
from test_api_collection import Staff

from collection.test_pension_results import GOLDEN, special
from identity.conftest import app_engine, clean_identity, org, staff_ctx
from kaigo.test_assessment_run import atena, city, town
from kiban.security.context import Business
from security_factories import Org

__all__ = ["app_engine", "atena", "city", "clean_identity", "org", "special", "staff_ctx", "town"]

pytestmark = pytest.mark.usefixtures("clean_identity")


def test_on_the_import_screen(special, app_engine: Engine, org: Org) -> None:
    clerk = Staff(app_engine, org, f"clerk-{uuid.uuid4().hex[:4]}", [(Business.KAIGO, "clerk")])
    # With a BOM: the same records, another file (sha256) than the collection tests' golden one.
    data = b"\xef\xbb\xbf" + (GOLDEN / "pension-results-2025.csv").read_bytes()
    page = clerk.post("/collection/payments/import", {"channel": "pension"}, upload=data)
    assert page.status_code == 200, page.text[:500]
    assert 'data-testid="not-collected"' in page.text and "年金の支給停止・差止" in page.text
    assert 'data-testid="count-applied">2件' in page.text
    bad = clerk.post(
        "/collection/payments/import",
        {"channel": "pension"},
        upload=(GOLDEN / "pension-results-bad.csv").read_bytes(),
    )
    assert bad.status_code == 422 and "2025年度12月の特別徴収の期別がありません" in bad.text
