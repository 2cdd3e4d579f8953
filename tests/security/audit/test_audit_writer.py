"""The writer: one row per access, in the work's own transaction; denials survive; never a 個人番号."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from kiban.security import audit
from kiban.security.context import AccessContext, Action, Business, Outcome
from kiban.shared import mynumber

MY_NUMBERS = [mynumber.generate(random.Random(seed)) for seed in range(5)]


def _rows(engine: Engine, request_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        result = conn.execute(
            text("SELECT * FROM audit.access_log WHERE request_id = :r ORDER BY id"), {"r": request_id}
        )
        return [dict(r) for r in result.mappings()]


def test_row_records_who_where_why_and_whom(
    app_engine: Engine, make_ctx: Callable[..., AccessContext]
) -> None:
    ctx = make_ctx(session_id="sess-1")
    with app_engine.begin() as conn:
        audit.record(
            conn,
            ctx,
            action=Action.SEARCH,
            subjects=["100000001", "100000002"],
            detail={"criteria": {"kana": "ヤマダ", "born_from": date(1950, 1, 1)}, "count": 2},
        )
    (row,) = _rows(app_engine, ctx.request_id)
    assert row["at"] is not None and row["xid"] is not None
    assert (row["staff_id"], row["staff_code"], row["department_code"], row["terminal_code"]) == (
        1,
        "k001",
        "kaigo-ka",
        "T-001",
    )
    assert (row["business"], row["purpose_code"], row["purpose_text"]) == (
        "kaigo",
        "kaigo.eligibility",
        "資格確認",
    )
    assert (row["action"], row["outcome"], row["session_id"]) == ("search", "ok", "sess-1")
    assert row["subjects"] == ["100000001", "100000002"]
    assert row["detail"] == {"criteria": {"kana": "ヤマダ", "born_from": "1950-01-01"}, "count": 2}


def test_rolled_back_work_leaves_no_log_row(
    app_engine: Engine, make_ctx: Callable[..., AccessContext]
) -> None:
    ctx = make_ctx()
    with app_engine.connect() as conn:
        conn.execute(text("CREATE TEMP TABLE work (n int)"))
        conn.commit()
        with conn.begin() as tx:
            conn.execute(text("INSERT INTO work VALUES (1)"))
            audit.record(conn, ctx, action=Action.UPDATE, subjects=["100000001"], detail={"from": 1, "to": 2})
            tx.rollback()
        assert conn.execute(text("SELECT count(*) FROM work")).scalar_one() == 0
    assert _rows(app_engine, ctx.request_id) == []


def test_denial_is_logged_even_though_the_request_rolls_back(
    app_engine: Engine, make_ctx: Callable[..., AccessContext]
) -> None:
    ctx = make_ctx(business=Business.KOKUHO)
    with app_engine.connect() as conn, conn.begin() as tx:
        audit.record(conn, ctx, action=Action.VIEW, subjects=["100000009"])
        audit.record_denial(app_engine, ctx, action=Action.VIEW, subjects=["100000009"], reason="no_grant")
        tx.rollback()
    (row,) = _rows(app_engine, ctx.request_id)
    assert (row["outcome"], row["business"], row["subjects"]) == ("denied", "kokuho", ["100000009"])
    assert row["detail"] == {"reason": "no_grant"}


def test_login_failure_keeps_the_typed_code_but_only_32_characters(app_engine: Engine) -> None:
    request_id = uuid.uuid4().hex
    with app_engine.begin() as conn:
        audit.record_anonymous(
            conn,
            staff_code="x" * 40,
            terminal_code="T-009",
            action=Action.LOGIN_FAILURE,
            outcome=Outcome.DENIED,
            detail={"reason": "bad_password"},
            request_id=request_id,
        )
    (row,) = _rows(app_engine, request_id)
    assert row["staff_code"] == "x" * 32
    assert (row["staff_id"], row["business"], row["action"]) == (None, None, "login_failure")


def test_a_my_number_typed_into_the_id_field_is_redacted_not_stored(app_engine: Engine) -> None:
    request_id = uuid.uuid4().hex
    with app_engine.begin() as conn:
        audit.record_anonymous(
            conn,
            staff_code=MY_NUMBERS[0],
            terminal_code="T-009",
            action=Action.LOGIN_FAILURE,
            outcome=Outcome.DENIED,
            request_id=request_id,
        )
    (row,) = _rows(app_engine, request_id)
    assert row["staff_code"] == "[redacted]"


@pytest.mark.parametrize(
    ("where", "subjects", "detail", "ctx_kw"),
    [
        ("subjects", [MY_NUMBERS[0]], None, {}),
        ("detail", [], {"criteria": {"number": MY_NUMBERS[1]}}, {}),
        ("detail", [], {"n": int(next(n for n in MY_NUMBERS if n[0] != "0"))}, {}),
        (
            "detail",
            [],
            {"memo": f"番号は{MY_NUMBERS[3][:4]}-{MY_NUMBERS[3][4:8]}-{MY_NUMBERS[3][8:]}です"},
            {},
        ),
        (
            "detail",
            [],
            {"memo": MY_NUMBERS[4].translate({ord("0") + i: ord("０") + i for i in range(10)})},
            {},
        ),
        ("detail", [], {MY_NUMBERS[0]: "as a key"}, {}),
        ("purpose_text", [], None, {"purpose_text": f"本人確認 {MY_NUMBERS[1]}"}),
    ],
)
def test_a_my_number_is_refused_without_echoing_it(
    app_engine: Engine,
    make_ctx: Callable[..., AccessContext],
    where: str,
    subjects: list[str],
    detail: dict[str, Any] | None,
    ctx_kw: dict[str, Any],
) -> None:
    ctx = make_ctx(**ctx_kw)
    with app_engine.begin() as conn, pytest.raises(ValueError) as exc:
        audit.record(conn, ctx, action=Action.VIEW, subjects=subjects, detail=detail)
    assert where in str(exc.value)
    assert not any(n in str(exc.value) for n in MY_NUMBERS)
    assert _rows(app_engine, ctx.request_id) == []


def test_numbers_that_are_not_a_my_number_are_accepted(
    app_engine: Engine, make_ctx: Callable[..., AccessContext]
) -> None:
    valid = MY_NUMBERS[0]
    wrong_check_digit = valid[:11] + str((int(valid[11]) + 1) % 10)
    ctx = make_ctx()
    with app_engine.begin() as conn:
        audit.record(
            conn,
            ctx,
            action=Action.VIEW,
            subjects=[wrong_check_digit, "1234567890"],
            detail={"long_run": valid + "9", "phone": "03-1234-5678", "insured_no": "0000123456"},
        )
    assert len(_rows(app_engine, ctx.request_id)) == 1


def test_subjects_must_be_a_sequence_not_one_string(make_ctx: Callable[..., AccessContext]) -> None:
    with pytest.raises(TypeError):
        audit.record(None, make_ctx(), action=Action.VIEW, subjects="100000001")  # type: ignore[arg-type]


@given(
    st.integers(min_value=0, max_value=10**11 - 1),
    st.text(alphabet="あいうabc :-/", max_size=5),
    st.text(alphabet="あいうabc :-/", max_size=5),
)
def test_any_my_number_in_text_is_found(first11: int, before: str, after: str) -> None:
    digits = f"{first11:011d}"
    number = digits + str(mynumber.check_digit(digits))
    assert audit.contains_my_number(before + number + after)
    assert not audit.contains_my_number(before + number[:11] + str((int(number[11]) + 1) % 10) + after)
