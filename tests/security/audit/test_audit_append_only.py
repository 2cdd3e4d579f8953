"""The access log is append-only: the application role lacks the privileges, the owner meets triggers.

domain.md §10.7 (tamper-evident log); seed 000 リスク対策 (アクセスログの改ざん防止).
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from kiban.security import audit
from kiban.security.context import Action, Outcome

APP_REFUSALS = [
    "UPDATE audit.access_log SET outcome = 'ok'",
    "DELETE FROM audit.access_log",
    "TRUNCATE audit.access_log",
    "UPDATE audit.seal SET chain_hash = chain_hash",
    "DELETE FROM audit.seal",
    "TRUNCATE audit.checkpoint",
]

OWNER_REFUSALS = [
    *APP_REFUSALS,
    "DELETE FROM audit.checkpoint",
    "UPDATE audit.log_identity SET created_at = now()",
    "INSERT INTO audit.access_log (action, outcome) VALUES ('view', 'ok') "
    "ON CONFLICT (id) DO UPDATE SET outcome = 'denied'",
]


@pytest.fixture
def one_row(app_engine: Engine) -> None:
    with app_engine.begin() as conn:
        audit.record_anonymous(
            conn, staff_code="append-only", terminal_code="T-1", action=Action.LOGIN, outcome=Outcome.OK
        )


@pytest.mark.parametrize("sql", APP_REFUSALS)
def test_application_role_cannot_change_or_remove_log_rows(
    app_engine: Engine, one_row: None, sql: str
) -> None:
    with pytest.raises(ProgrammingError) as exc, app_engine.begin() as conn:
        conn.execute(text(sql))
    assert "permission denied" in str(exc.value.orig)


def test_application_role_cannot_backdate_or_place_a_row(app_engine: Engine) -> None:
    # at, xid and id are the database's to set: no back-dating, no slipping into the sealed range.
    for column, value in (("at", "'2020-01-01'"), ("xid", "'1'"), ("id", "1")):
        with pytest.raises(ProgrammingError) as exc, app_engine.begin() as conn:
            conn.execute(
                text(
                    f"INSERT INTO audit.access_log ({column}, action, outcome) OVERRIDING SYSTEM VALUE "
                    f"VALUES ({value}, 'view', 'ok')"
                )
            )
        assert "permission denied" in str(exc.value.orig)


def test_application_role_can_append_and_read(app_engine: Engine, one_row: None) -> None:
    with app_engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM audit.access_log WHERE staff_code = 'append-only'")
            ).scalar_one()
            >= 1
        )
        assert conn.execute(text("SELECT current_user")).scalar_one() == "kiban_app"


@pytest.mark.parametrize("sql", OWNER_REFUSALS)
def test_owner_is_refused_by_the_triggers(db_engine: Engine, one_row: None, sql: str) -> None:
    with pytest.raises(DBAPIError) as exc, db_engine.begin() as conn:
        conn.execute(text(sql))
    assert "append-only" in str(exc.value.orig)
