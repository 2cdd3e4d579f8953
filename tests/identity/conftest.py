"""Fixtures for identity tests: staff contexts with real grants, and a clean identity schema."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, text

from kiban.db.engine import get_app_engine
from kiban.identity import model, repo
from kiban.security.context import AccessContext, Business
from security_factories import Org

IDENTITY_TABLES = (
    "identity.check_anomaly, identity.check_run, identity.match_case, identity.medical_insurance, "
    "identity.old_age_pension_period, identity.welfare_period, identity.tax_income, identity.contact, "
    "identity.mailing_address, identity.household_member, identity.household, identity.my_number_vault, "
    "identity.person_version, identity.resident_event, identity.person, identity.import_error, "
    "identity.import_batch, kiban_meta.outbox, kiban_meta.outbox_cursor"
)


@pytest.fixture
def app_engine(database_url: str) -> Engine:
    return get_app_engine(database_url)


@pytest.fixture
def clean_identity(db_engine: Engine) -> Iterator[None]:
    """An empty identity schema (tests that count rows or load whole files need one)."""
    with db_engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {IDENTITY_TABLES} RESTART IDENTITY CASCADE"))
    yield


@pytest.fixture
def org(app_engine: Engine) -> Org:
    return Org(app_engine, uuid.uuid4().hex[:8])


StaffFactory = Callable[..., AccessContext]


@pytest.fixture
def staff_ctx(org: Org) -> StaffFactory:
    """``staff_ctx(business, role="clerk", purpose=None, name=None, mfa=False)`` → an AccessContext of
    a new staff member with that grant on an enrolled terminal. With ``mfa=True`` the member has
    signed in with a second factor (needed to reveal a 個人番号)."""
    from kiban.security import totp

    dep = org.department("atena")
    counter = iter(range(1000))

    def make(
        business: Business = Business.ATENA,
        role: str = "clerk",
        *,
        purpose: str | None = None,
        name: str | None = None,
        mfa: bool = False,
    ) -> AccessContext:
        label = name or f"s{next(counter)}"
        secret = totp.new_secret() if mfa else None
        org.staff(label, dep, [(business, role)], totp_secret=secret)
        term, _ = org.terminal(f"t-{label}", dep)
        if mfa:
            _, session = org.login(label, term, secret=secret)
            return org.ctx(session, business, purpose or f"{business.value}.counter")
        return AccessContext(
            staff_id=_staff_id(org, label),
            staff_code=org.code(label),
            department_code=dep,
            terminal_code=term.code,
            business=business,
            purpose_code=purpose
            or ("atena.maintenance" if business is Business.ATENA else f"{business.value}.counter"),
        )

    return make


def _staff_id(org: Org, label: str) -> int:
    with org.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT staff_id FROM security.staff WHERE code = :c"), {"c": org.code(label)}
            ).scalar_one()
        )


def build_person_data(**overrides: object) -> model.PersonData:
    """A valid resident; override any item."""
    base = model.PersonData(
        family_name="山田",
        given_name="花子",
        family_kana="ヤマダ",
        given_kana="ハナコ",
        sex=2,
        birth_date=date(1958, 6, 10),
        address="基盤県基盤市元町二丁目24番6号",
        resident_class=model.ResidentClass.RESIDENT,
        postal_code="999-8002",
        district_code="01",
        resident_on=date(1990, 4, 1),
    )
    return base.replace(**overrides)


@pytest.fixture
def person_data() -> Callable[..., model.PersonData]:
    """``person_data(**overrides)`` → a valid resident's PersonData."""
    return build_person_data


@pytest.fixture
def new_person(db_engine: Engine) -> Callable[..., repo.PersonRef]:
    """Register a person directly (as the registry import would) and return the reference."""
    seq = iter(range(10**6))

    def make(
        person_no: str | None = None, *, valid_from: date = date(1990, 4, 1), **items: object
    ) -> repo.PersonRef:
        number = person_no or f"17{uuid.uuid4().int % 10**8:08d}"
        with db_engine.begin() as conn:
            next(seq)
            return repo.create_person(
                conn,
                city_code="992011",
                person_no=number,
                data=build_person_data(**items),
                valid_from=valid_from,
                reason="試験登録",
            )

    return make
