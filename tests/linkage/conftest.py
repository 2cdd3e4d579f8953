"""Fixtures for 庁内連携 tests: 連携運用担当 / 連携承認者 contexts, clean tables, approved subscriptions."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from linkage_helpers import form
from sqlalchemy import Engine, text

from kiban.db.engine import get_app_engine
from kiban.linkage import applications
from kiban.security.context import AccessContext, Business
from security_factories import Org

LINKAGE_TABLES = (
    "linkage.inbox, linkage.transfer, linkage.refusal, linkage.subscription, linkage.application, "
    "kiban_meta.outbox, kiban_meta.outbox_cursor"
)


@pytest.fixture
def app_engine(database_url: str) -> Engine:
    return get_app_engine(database_url)


@pytest.fixture
def clean_linkage(db_engine: Engine) -> Iterator[None]:
    with db_engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {LINKAGE_TABLES} RESTART IDENTITY CASCADE"))
    yield


@pytest.fixture
def org(app_engine: Engine) -> Org:
    return Org(app_engine, uuid.uuid4().hex[:8])


StaffFactory = Callable[..., AccessContext]


@pytest.fixture
def renkei(org: Org) -> StaffFactory:
    """``renkei(role="operator"|"approver")`` → the AccessContext of a new 庁内連携管理 staff member."""
    dep = org.department("renkei")
    counter = iter(range(1000))

    def make(role: str = "approver", business: Business = Business.RENKEI) -> AccessContext:
        label = f"r{next(counter)}"
        org.staff(label, dep, [(business, role)])
        term, _ = org.terminal(f"t-{label}", dep)
        with org.engine.connect() as conn:
            staff_id = conn.execute(
                text("SELECT staff_id FROM security.staff WHERE code = :c"), {"c": org.code(label)}
            ).scalar_one()
        return AccessContext(
            staff_id=int(staff_id),
            staff_code=org.code(label),
            department_code=dep,
            terminal_code=term.code,
            business=business,
            purpose_code="renkei.operation",
        )

    return make


Subscribe = Callable[..., int]


@pytest.fixture
def subscribe(app_engine: Engine, renkei: StaffFactory) -> Subscribe:
    """``subscribe(consumer, dataset, items, basis, **period)`` → an approved subscription's id
    (applied by one 連携承認者, approved by another)."""
    applicant, approver = renkei(), renkei()

    def make(consumer: str, dataset: str, items: tuple[str, ...], basis: str, **kw: object) -> int:
        with app_engine.begin() as conn:
            app_id = applications.apply(conn, applicant, form(consumer, dataset, items, basis, **kw))  # type: ignore[arg-type]
        with app_engine.begin() as conn:
            return applications.approve(conn, approver, application_id=app_id)

    return make
