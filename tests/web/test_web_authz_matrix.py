"""Authorization matrix: every route of the application × every grant state.

Each route has an entry in ``POLICY``; a route added without one fails ``test_every_route_has_a_policy``.
For each route and each state (no terminal, no grant, expired, not yet valid, revoked, wrong
business, wrong department, granted) the test asserts allowed or denied, and that every denial
of a signed-in staff member was written to the access log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.dialects.postgresql import Range
from starlette.routing import Mount

from kiban.db.engine import get_app_engine
from kiban.identity import repo
from kiban.identity.model import PersonData, ResidentClass
from kiban.security import auth, totp
from kiban.security import tables as t
from kiban.security.auth import Terminal
from kiban.security.context import Business
from kiban.security.errors import SessionExpired
from kiban.shared import clock
from kiban.web.app import create_app
from kiban.web.session import SESSION_COOKIE, TERMINAL_COOKIE
from security_factories import Org

PUBLIC, SIGNED_IN, READY = "public", "signed_in", "ready"

# (method, path) → PUBLIC | SIGNED_IN | READY | Business (a grant for it is required)
POLICY: dict[tuple[str, str], object] = {
    ("GET", "/api/v1/health"): PUBLIC,
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    ("GET", "/static"): PUBLIC,
    ("GET", "/terminal/enrol"): PUBLIC,
    ("POST", "/terminal/enrol"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): SIGNED_IN,
    ("GET", "/mfa"): SIGNED_IN,
    ("POST", "/mfa"): SIGNED_IN,
    ("GET", "/password"): SIGNED_IN,
    ("POST", "/password"): SIGNED_IN,
    ("GET", "/business"): SIGNED_IN,
    ("POST", "/business"): SIGNED_IN,
    ("GET", "/"): READY,
    ("GET", "/partials/city-summary"): READY,
    ("GET", "/system"): READY,
    ("GET", "/api/v1/city/summary"): READY,
    ("GET", "/admin/staff"): Business.SYSTEM,
    ("POST", "/admin/staff"): Business.SYSTEM,
    ("POST", "/admin/staff/{code}/transfer"): Business.SYSTEM,
    ("POST", "/admin/staff/{code}/retire"): Business.SYSTEM,
    ("POST", "/admin/staff/{code}/unlock"): Business.SYSTEM,
    ("GET", "/admin/terminals"): Business.SYSTEM,
    ("POST", "/admin/terminals"): Business.SYSTEM,
    ("POST", "/admin/terminals/{code}/revoke"): Business.SYSTEM,
    ("GET", "/admin/grants"): Business.SYSTEM,
    ("POST", "/admin/grants/request"): Business.SYSTEM,
    ("POST", "/admin/grants/{grant_id}/revoke"): Business.SYSTEM,
    ("POST", "/admin/requests/{request_id}/decide"): Business.SYSTEM,
    ("GET", "/admin/access-table"): Business.SYSTEM,
    ("GET", "/audit/access-table"): Business.KANSA,
    ("GET", "/audit/review"): Business.KANSA,
    ("GET", "/atena"): Business.ATENA,
    ("POST", "/atena/search-by-number"): Business.ATENA,
    ("GET", "/atena/persons/{person_no}"): Business.ATENA,
    ("POST", "/atena/persons/{person_no}/reveal"): Business.ATENA,
    ("POST", "/atena/persons/{person_no}/my-number"): Business.ATENA,
    ("GET", "/atena/persons/{person_no}/correct"): Business.ATENA,
    ("POST", "/atena/persons/{person_no}/correct"): Business.ATENA,
    ("POST", "/atena/persons/{person_no}/mailing"): Business.ATENA,
    ("POST", "/atena/persons/{person_no}/mailing/end"): Business.ATENA,
    ("GET", "/atena/imports"): Business.ATENA,
    ("GET", "/atena/check"): Business.ATENA,
    ("POST", "/atena/check"): Business.ATENA,
    ("GET", "/atena/check/{run_id}"): Business.ATENA,
    ("POST", "/atena/imports"): Business.ATENA,
    ("GET", "/atena/imports/{import_id}"): Business.ATENA,
    ("GET", "/atena/matching"): Business.ATENA,
    ("POST", "/atena/matching"): Business.ATENA,
    ("GET", "/atena/matching/{case_id}"): Business.ATENA,
    ("POST", "/atena/matching/{case_id}/confirm"): Business.ATENA,
    ("POST", "/atena/matching/{case_id}/reject"): Business.ATENA,
    ("GET", "/atena/non-residents/new"): Business.ATENA,
    ("POST", "/atena/non-residents"): Business.ATENA,
    ("GET", "/api/v1/identity/persons"): Business.ATENA,
    ("POST", "/api/v1/identity/persons/search-by-number"): Business.ATENA,
    ("GET", "/api/v1/identity/persons/{person_no}"): Business.ATENA,
    ("GET", "/kaigo/insured"): Business.KAIGO,
    ("GET", "/kaigo/persons/{person_no}"): Business.KAIGO,
    ("GET", "/kaigo/persons/{person_no}/qualifications/{qualification_id}/correct"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/qualifications/{qualification_id}/correct"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/qualifications/{qualification_id}/restore"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/qualifications/{qualification_id}/cancel"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/acquire"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/lose"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/category2"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/exempt/admit"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/exempt/discharge"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/special-address"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/special-address/{special_id}/end"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/certificates"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/certificates/{certificate_id}/return"): Business.KAIGO,
    ("GET", "/kaigo/certificates/{certificate_id}/pdf"): Business.KAIGO,
    ("GET", "/kaigo/facilities"): Business.KAIGO,
    ("POST", "/kaigo/facilities"): Business.KAIGO,
    ("GET", "/kaigo/certificates/bulk"): Business.KAIGO,
    ("POST", "/kaigo/certificates/bulk"): Business.KAIGO,
    ("GET", "/kaigo/certificates/bulk/{batch_id}"): Business.KAIGO,
    ("GET", "/kaigo/certificates/bulk/{batch_id}/pdf"): Business.KAIGO,
    ("GET", "/kaigo/premium/simulate"): Business.KAIGO,
    ("GET", "/kaigo/persons/{person_no}/premium"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/premium/reductions"): Business.KAIGO,
    ("GET", "/kaigo/persons/{person_no}/premium/{fiscal_year}/notice.pdf"): Business.KAIGO,
    ("POST", "/kaigo/premium/reductions/{reduction_id}/decide"): Business.KAIGO,
    ("GET", "/kaigo/premium/bulk"): Business.KAIGO,
    ("POST", "/kaigo/premium/bulk"): Business.KAIGO,
    ("GET", "/kaigo/premium/bulk/{batch_id}"): Business.KAIGO,
    ("GET", "/kaigo/premium/bulk/{batch_id}/pdf"): Business.KAIGO,
    ("POST", "/kaigo/premium/assess"): Business.KAIGO,
    ("GET", "/kaigo/premium/export.csv"): Business.KAIGO,
    ("GET", "/kaigo/persons/{person_no}/account"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/account/payments"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/account/appropriate"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/account/refund"): Business.KAIGO,
    ("GET", "/kaigo/persons/{person_no}/account/receipt.pdf"): Business.KAIGO,
    ("GET", "/collection/payments/import"): Business.KAIGO,
    ("POST", "/collection/payments/import"): Business.KAIGO,
    ("POST", "/collection/receivables/sync"): Business.KAIGO,
    ("GET", "/collection/arrears"): Business.KAIGO,
    ("POST", "/collection/demands"): Business.KAIGO,
    ("GET", "/collection/demands/{batch_id}/pdf"): Business.KAIGO,
    ("GET", "/collection/writeoffs"): Business.KAIGO,
    ("POST", "/collection/writeoffs"): Business.KAIGO,
    ("GET", "/collection/closing"): Business.KAIGO,
    ("POST", "/collection/closing"): Business.KAIGO,
    ("GET", "/kaigo/persons/{person_no}/arrears"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/arrears/plans"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/arrears/contacts"): Business.KAIGO,
    ("POST", "/kaigo/persons/{person_no}/arrears/fees"): Business.KAIGO,
    ("GET", "/kaigo/persons/{person_no}/arrears/restriction.pdf"): Business.KAIGO,
    ("GET", "/api/v1/kaigo/persons/{person_no}/eligibility"): Business.KAIGO,
    ("GET", "/api/v1/kaigo/facilities"): Business.KAIGO,
    ("POST", "/api/v1/kaigo/certificates"): Business.KAIGO,
    ("GET", "/api/v1/kaigo/certificates/bulk/{batch_id}"): Business.KAIGO,
    ("POST", "/api/v1/kaigo/premium/simulate"): Business.KAIGO,
    ("GET", "/linkage/catalogue"): Business.RENKEI,
    ("GET", "/linkage/applications"): Business.RENKEI,
    ("GET", "/linkage/applications/new"): Business.RENKEI,
    ("POST", "/linkage/applications"): Business.RENKEI,
    ("GET", "/linkage/applications/{application_id}"): Business.RENKEI,
    ("POST", "/linkage/applications/{application_id}/approve"): Business.RENKEI,
    ("POST", "/linkage/applications/{application_id}/refuse"): Business.RENKEI,
    ("GET", "/linkage/subscriptions"): Business.RENKEI,
    ("POST", "/linkage/subscriptions/{subscription_id}/revoke"): Business.RENKEI,
    ("GET", "/linkage/transfers"): Business.RENKEI,
    ("GET", "/gateway/held"): Business.CHUKAN,
    ("GET", "/gateway/held/{request_id}"): Business.CHUKAN,
    ("POST", "/gateway/held/{request_id}/release"): Business.CHUKAN,
    ("POST", "/gateway/held/{request_id}/refuse"): Business.CHUKAN,
    ("GET", "/gateway/records"): Business.CHUKAN,
    ("GET", "/gateway/records/disclosure"): Business.CHUKAN,
    ("GET", "/gateway/inquiries"): Business.CHUKAN,
    ("GET", "/gateway/inquiries/{request_id}"): Business.CHUKAN,
    ("GET", "/gateway/replicas"): Business.CHUKAN,
}

STATES = [
    "no_terminal",
    "none",
    "expired",
    "not_yet",
    "revoked",
    "wrong_business",
    "wrong_department",
    "granted",
]


def _walk(routes: list[object], prefix: str = "") -> Iterator[tuple[str, str]]:
    for r in routes:
        if hasattr(r, "original_router"):  # FastAPI ≥ 0.16x keeps included routers as objects
            yield from _walk(r.original_router.routes, prefix + r.include_context.prefix)  # type: ignore[attr-defined]
        elif isinstance(r, Mount):
            yield ("GET", prefix + r.path)
        elif hasattr(r, "methods") and hasattr(r, "path"):
            for m in r.methods or ():  # type: ignore[attr-defined]
                if m != "HEAD":
                    yield (m, prefix + r.path)  # type: ignore[attr-defined]


def app_routes() -> set[tuple[str, str]]:
    return set(_walk(list(create_app().routes)))


def test_every_route_has_a_policy() -> None:
    routes = app_routes()
    assert routes - POLICY.keys() == set(), "new routes need an entry in POLICY"
    assert POLICY.keys() - routes == set(), "POLICY names routes that no longer exist"


@dataclass
class Actor:
    state: str
    client: TestClient
    staff_code: str | None
    csrf: str | None
    org: Org | None = None
    name: str = ""
    terminal: Terminal | None = None
    secret: str = ""

    def ensure_signed_in(self) -> None:
        """Routes like POST /logout end the session: sign in again before the next request."""
        if self.org is None or self.terminal is None:
            return
        with self.org.engine.begin() as conn:
            try:
                auth.load_session(conn, self.client.cookies.get(SESSION_COOKIE), self.terminal, touch=False)
                return
            except SessionExpired:
                pass
        token, session = self.org.login(self.name, self.terminal, secret=self.secret)
        self.client.cookies.set(SESSION_COOKIE, token)
        self.csrf = session.csrf_token


def _form(path: str, actor: Actor, victim: str, dep: str) -> dict[str, str]:
    base = {"csrf_token": actor.csrf or ""}
    return base | {
        "/admin/staff": {
            "code": f"new{uuid.uuid4().hex[:6]}",
            "name": "新規 職員",
            "name_kana": "シンキ",
            "department_code": dep,
            "initial_password": "Initial-Pass-99!",
        },
        "/admin/staff/{code}/transfer": {"department_code": dep, "reason": "異動"},
        "/admin/staff/{code}/retire": {"reason": "退職"},
        "/admin/terminals": {"code": f"T{uuid.uuid4().hex[:6]}", "name": "窓口", "department_code": dep},
        "/admin/terminals/{code}/revoke": {"reason": "交換"},
        "/admin/grants/request": {
            "staff_code": victim,
            "role": "kansa:auditor",
            "department_code": dep,
            "valid_from": clock.today().isoformat(),
            "reason": "配属",
        },
        "/admin/grants/{grant_id}/revoke": {"reason": "異動"},
        "/admin/requests/{request_id}/decide": {"decision": "reject"},
        "/terminal/enrol": {"terminal_code": "nope", "code": "AAAA-BBBB-CCCC"},
        "/login": {"staff_code": "nobody", "password": "x"},
        "/mfa": {"code": "000000"},
        "/password": {"current": "x", "new": "y", "confirm": "y"},
        "/business": {"purpose_code": "kansa.log_review"},
        "/atena/search-by-number": {"my_number": "123456789018"},
        "/atena/persons/{person_no}/reveal": {"reason": "番号確認"},
        "/atena/persons/{person_no}/my-number": {"my_number": "123456789018"},
        "/atena/persons/{person_no}/correct": {"reason": "訂正", "given_kana": "ハナエ"},
        "/atena/persons/{person_no}/mailing": {
            "name": "送付先",
            "address": "基盤県基盤市元町1番地",
            "since": "2025-04-01",
            "reason": "家族宛",
        },
        "/atena/persons/{person_no}/mailing/end": {"on": "2099-01-01", "reason": "終了"},
        "/atena/non-residents": {
            "family_name": "試験",
            "family_kana": "シケン",
            "sex": "1",
            "birth_date": "1940-01-01",
            "address": "架空都中央1番",
            "reason": "その他",
            "since": "2024-01-01",
        },
        "/kaigo/persons/{person_no}/qualifications/{qualification_id}/correct": {
            "reason": "訂正",
            "acquired_on": "2015-01-01",
        },
        "/kaigo/persons/{person_no}/qualifications/{qualification_id}/restore": {"reason": "転出取消"},
        "/kaigo/persons/{person_no}/qualifications/{qualification_id}/cancel": {"reason": "誤登録"},
        "/kaigo/persons/{person_no}/acquire": {
            "category": "1",
            "acquired_on": "2015-01-01",
            "acquire_reason": "09",
            "note": "職権",
        },
        "/kaigo/persons/{person_no}/lose": {"lost_on": "2099-01-01", "loss_reason": "09"},
        "/kaigo/persons/{person_no}/category2": {"acquired_on": "2000-01-01", "note": "認定申請"},
        "/kaigo/persons/{person_no}/exempt/admit": {"facility_no": "NOSUCH0000", "admitted_on": "2025-01-01"},
        "/kaigo/persons/{person_no}/exempt/discharge": {"discharged_on": "2025-02-01"},
        "/kaigo/persons/{person_no}/special-address": {"facility_no": "NOSUCH0000", "from_on": "2025-01-01"},
        "/kaigo/persons/{person_no}/special-address/{special_id}/end": {
            "ended_on": "2025-02-01",
            "reason": "退所",
        },
        "/kaigo/persons/{person_no}/certificates": {"kind": "certificate"},
        "/kaigo/persons/{person_no}/certificates/{certificate_id}/return": {"returned_on": "2025-02-01"},
        "/kaigo/facilities": {
            "facility_no": f"M{uuid.uuid4().hex[:9].upper()}",
            "name": "試験施設",
            "type_code": "11",
            "city_code": "132012",
            "city_name": "他市",
            "address": "架空都中央1番",
        },
        "/kaigo/certificates/bulk": {"month": "2000-01", "issued_on": "2000-02-01"},
        "/api/v1/kaigo/certificates": {"person_no": victim},
        "/linkage/applications/{application_id}/refuse": {"reason": "目的が不明確"},
        "/linkage/subscriptions/{subscription_id}/revoke": {"reason": "事業終了"},
        "/gateway/held/{request_id}/refuse": {"reason": "確認の結果"},
    }.get(path, {})


@pytest.fixture(scope="module")
def world(database_url: str, db_engine: Engine) -> Iterator[dict[str, object]]:
    engine = get_app_engine(database_url)
    org = Org(engine, uuid.uuid4().hex[:8])
    dep, other = org.department("joho"), org.department("soumu")
    victim = org.staff("victim", dep)
    victim_term, _ = org.terminal("victim-term", dep)
    today = clock.today()
    app = create_app(engine)
    actors: dict[tuple[str, object], Actor] = {}
    for business in (
        Business.SYSTEM,
        Business.KANSA,
        Business.ATENA,
        Business.KAIGO,
        Business.RENKEI,
        Business.CHUKAN,
    ):
        role = {
            Business.SYSTEM: "admin",
            Business.KANSA: "auditor",
            Business.ATENA: "clerk",
            Business.KAIGO: "clerk",
            Business.RENKEI: "approver",
            Business.CHUKAN: "supervisor",
        }[business]
        for i, state in enumerate(STATES):
            name = f"{business.value[:3]}{i}"
            client = TestClient(app, follow_redirects=False)
            if state == "no_terminal":
                actors[(state, business)] = Actor(state, client, None, None)
                continue
            secret = totp.new_secret()
            grants = {
                "none": [],
                "wrong_business": [(Business.KANSA, "auditor")]
                if business is Business.RENKEI
                else [(Business.RENKEI, "operator")],
                "wrong_department": [],
            }.get(state, [(business, role)])
            valid_from = today + timedelta(days=2) if state == "not_yet" else today - timedelta(days=90)
            valid_to = today - timedelta(days=1) if state == "expired" else None
            sid = org.staff(
                name,
                dep,
                grants,
                totp_secret=secret,
                valid_from=valid_from,
                valid_to=valid_to,
                is_admin=False,
            )
            with engine.begin() as conn:
                if state == "revoked":
                    conn.execute(
                        update(t.grant).where(t.grant.c.staff_id == sid).values(revoked_at=func.now())
                    )
                if state == "wrong_department":
                    other_id = conn.execute(
                        select(t.department.c.department_id).where(t.department.c.code == other)
                    ).scalar_one()
                    conn.execute(
                        t.grant.insert().values(
                            staff_id=sid,
                            business=business.value,
                            department_id=other_id,
                            role_code=role,
                            valid=Range(valid_from, None, bounds="[)"),
                        )
                    )
            term, term_secret = org.terminal(f"t-{name}", dep)
            token, session = org.login(name, term, secret=secret)
            client.cookies.set(TERMINAL_COOKIE, term_secret)
            client.cookies.set(SESSION_COOKIE, token)
            actors[(state, business)] = Actor(
                state, client, org.code(name), session.csrf_token, org, name, term, secret
            )
    with engine.connect() as conn:
        grant_id = conn.execute(select(func.max(t.grant.c.grant_id))).scalar_one()
    with db_engine.begin() as conn:
        person = repo.create_person(
            conn,
            city_code="992011",
            person_no=f"18{uuid.uuid4().int % 10**8:08d}",
            data=PersonData(
                "試験",
                "花子",
                "シケン",
                "ハナコ",
                2,
                date(1950, 1, 1),
                "基盤県基盤市元町1番地",
                ResidentClass.RESIDENT,
                resident_on=date(1950, 1, 1),
            ),
            valid_from=date(1950, 1, 1),
            reason="試験",
        )
    yield {
        "actors": actors,
        "victim": org.code("victim"),
        "victim_id": victim,
        "victim_term": victim_term.code,
        "dep": dep,
        "grant_id": grant_id,
        "person_no": person.person_no,
        "db": db_engine,
    }


def _denials(db: Engine, staff_code: str) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM audit.access_log WHERE staff_code = :s AND outcome = 'denied'"),
                {"s": staff_code},
            ).scalar_one()
        )


def _denied(response) -> bool:  # type: ignore[no-untyped-def]
    if response.status_code in (401, 403):
        return True
    location = response.headers.get("location", "")
    if response.status_code not in (302, 303, 307):
        return False
    path, _, query = location.partition("?")
    # "/login" without "next=" is where a successful logout lands, not a refusal.
    return path in ("/terminal/enrol", "/mfa", "/password") or (path == "/login" and "next=" in query)


@pytest.mark.parametrize("route", sorted(POLICY, key=lambda r: (r[1], r[0])), ids=lambda r: f"{r[0]} {r[1]}")
@pytest.mark.parametrize("state", STATES)
def test_route_by_grant_state(route: tuple[str, str], state: str, world: dict[str, object]) -> None:
    method, path = route
    policy = POLICY[route]
    business = policy if isinstance(policy, Business) else Business.SYSTEM
    actor = world["actors"][(state, business)]  # type: ignore[index]
    concrete = (
        path.replace("{code}", world["victim_term"] if "terminals" in path else world["victim"])  # type: ignore[arg-type]
        .replace("{grant_id}", str(world["grant_id"]))
        .replace("{request_id}", "999999999")
        .replace("{person_no}", world["person_no"])  # type: ignore[arg-type]
        # 介護保険 records that do not exist: the guard still answers first (a refusal is logged).
        .replace("{qualification_id}", "999999999")
        .replace("{special_id}", "999999999")
        .replace("{certificate_id}", "999999999")
        .replace("{batch_id}", "999999999")
        .replace("{reduction_id}", "999999999")
        .replace("{fiscal_year}", "2025")
        .replace("{application_id}", "999999999")
        .replace("{subscription_id}", "999999999")
        .replace("{import_id}", "999999999")
        .replace("{case_id}", "999999999")
        .replace("{run_id}", "999999999")
    )
    if path == "/static":
        concrete = "/static/kiban.css"
    actor.ensure_signed_in()
    before = _denials(world["db"], actor.staff_code) if actor.staff_code else 0  # type: ignore[arg-type]
    if method == "GET":
        response = actor.client.get(concrete)
    else:
        response = actor.client.post(concrete, data=_form(path, actor, world["victim"], world["dep"]))  # type: ignore[arg-type]

    if policy == PUBLIC:
        # Public routes: never refused for lack of a session (a wrong password is a 401 page).
        assert response.status_code not in (403, 500)
        assert response.headers.get("location", "").split("?")[0] not in ("/terminal/enrol", "/mfa")
        return
    elif policy in (SIGNED_IN, READY):
        expected_allowed = state != "no_terminal"
    else:
        expected_allowed = state == "granted"
    assert response.status_code != 500, response.text[:500]
    assert _denied(response) is (not expected_allowed), (
        state,
        route,
        response.status_code,
        response.headers.get("location"),
    )
    if isinstance(policy, Business) and actor.staff_code and not expected_allowed:
        assert _denials(world["db"], actor.staff_code) > before, "a denial must be written to the access log"  # type: ignore[arg-type]
