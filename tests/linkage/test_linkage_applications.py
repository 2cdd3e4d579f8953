"""データ使用承認願: checked on entry, decided by another administrator, kept five years."""

from __future__ import annotations

from datetime import date

import pytest
from linkage_helpers import form
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from kiban.linkage import applications
from kiban.linkage.errors import LinkageError, SelfApproval, ValidationFailed
from kiban.security.errors import AccessDenied


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def test_the_applicant_cannot_approve_or_refuse_their_own_application(
    app_engine: Engine, clean_linkage: None, renkei
) -> None:
    applicant = renkei()
    with app_engine.begin() as conn:
        app_id = applications.apply(
            conn, applicant, form("juki", "kaigo.qualification", ("insured_no",), "jumin-kihon-daicho-7")
        )
    for decide in (
        lambda conn: applications.approve(conn, applicant, application_id=app_id),
        lambda conn: applications.refuse(conn, applicant, application_id=app_id, reason="不要"),
    ):
        with app_engine.begin() as conn, pytest.raises(SelfApproval, match=f"第{app_id}号.*申請者本人"):
            decide(conn)
    assert count(app_engine, "SELECT count(*) FROM linkage.subscription") == 0
    # The database refuses it too, whatever the code does.
    with app_engine.begin() as conn, pytest.raises(IntegrityError, match="application_decided_by_another"):
        conn.execute(
            text(
                "UPDATE linkage.application SET status = 'approved', decided_by = applied_by, "
                "decided_at = now() WHERE application_id = :a"
            ),
            {"a": app_id},
        )
    other = renkei()
    with app_engine.begin() as conn:
        sub_id = applications.approve(conn, other, application_id=app_id, note="根拠確認済")
        app = applications.get_application(conn, other, app_id)
    assert (app.status, app.subscription_id) == ("approved", sub_id)
    # Kept five years from the day it was filed (seed 000).
    assert app.retain_until >= date(app.applied_at.year + 5, 1, 1)
    with app_engine.begin() as conn, pytest.raises(LinkageError, match="既に承認"):
        applications.refuse(conn, renkei(), application_id=app_id, reason="重複")


def test_approving_needs_a_linkage_approver(app_engine: Engine, clean_linkage: None, renkei) -> None:
    with app_engine.begin() as conn:
        app_id = applications.apply(
            conn, renkei("operator"), form("kenko", "identity.resident", ("type",), "jorei-kenko")
        )
    with app_engine.begin() as conn, pytest.raises(AccessDenied):
        applications.approve(conn, renkei("operator"), application_id=app_id)
    assert count(app_engine, "SELECT count(*) FROM linkage.subscription") == 0


def test_a_my_number_item_for_a_non_my_number_consumer_is_refused_naming_the_field(
    app_engine: Engine, clean_linkage: None, renkei
) -> None:
    with app_engine.begin() as conn, pytest.raises(ValidationFailed) as caught:
        applications.apply(
            conn,
            renkei(),
            form("chukan", "atena.basic", ("resident_class", "my_number"), "bango19-8-shorei-kaigo"),
        )
    message = str(caught.value)
    assert message.startswith("データ使用承認願（新規）")
    assert "使用データ（項目）" in message and "個人番号利用事務ではない" in message
    assert count(app_engine, "SELECT count(*) FROM linkage.application") == 0
    # And the database would refuse such a subscription too.
    with (
        app_engine.begin() as conn,
        pytest.raises(IntegrityError, match="my_number_only_to_my_number_business"),
    ):
        conn.execute(
            text(
                "INSERT INTO linkage.application (consumer, dataset, items, basis_code, purpose, valid, "
                "includes_my_number, consumer_uses_my_number, applied_by, retain_until) VALUES "
                "('chukan', 'atena.basic', ARRAY['my_number'], 'x', 'y', daterange('2025-01-01', NULL), "
                "true, false, :s, '2099-01-01')"
            ),
            {"s": renkei().staff_id},
        )


@pytest.mark.parametrize(
    ("args", "field", "words"),
    [
        (("kenko", "identity.resident", ("type",), "jumin-kihon-daicho-7"), "使用根拠", "対象ではありません"),
        (
            ("juki", "kaigo.qualification", ("nosuch",), "jumin-kihon-daicho-7"),
            "使用データ（項目）",
            "nosuch",
        ),
        (("nobody", "kaigo.qualification", ("insured_no",), "jumin-kihon-daicho-7"), "連携先", "nobody"),
        (
            ("chukan", "kaigo.qualification", ("insured_no",), "bango-beppyo2-kaigo"),
            "使用期間（開始日）",
            "有効期間外",
        ),
    ],
)
def test_bad_applications_name_the_field_and_write_nothing(
    app_engine: Engine, clean_linkage: None, renkei, args: tuple, field: str, words: str
) -> None:
    with app_engine.begin() as conn, pytest.raises(ValidationFailed) as caught:
        applications.apply(conn, renkei(), form(*args))
    assert f"{field}: " in str(caught.value) and words in str(caught.value)
    assert count(app_engine, "SELECT count(*) FROM linkage.application") == 0


BEPPYO2 = ("chukan", "kaigo.qualification", ("insured_no",), "bango-beppyo2-kaigo")


def test_the_former_beppyo2_basis_ends_the_day_before_the_shorei(
    app_engine: Engine, clean_linkage: None, renkei
) -> None:
    ctx = renkei()
    old = form(*BEPPYO2, valid_from=date(2024, 1, 1))
    with app_engine.begin() as conn, pytest.raises(ValidationFailed, match="2024-05-26"):
        applications.apply(conn, ctx, old)
    with app_engine.begin() as conn:
        applications.apply(conn, ctx, form(*BEPPYO2, valid_from=date(2024, 1, 1), valid_to=date(2024, 5, 26)))
        applications.apply(
            conn, ctx, form("chukan", "kaigo.qualification", ("insured_no",), "bango19-8-shorei-kaigo",
                            valid_from=date(2024, 5, 27))
        )  # fmt: skip


def test_overlapping_live_subscriptions_for_one_dataset_are_refused(
    app_engine: Engine, clean_linkage: None, renkei, subscribe
) -> None:
    subscribe("juki", "kaigo.qualification", ("insured_no",), "jumin-kihon-daicho-7")
    with app_engine.begin() as conn:
        app_id = applications.apply(
            conn, renkei(), form("juki", "kaigo.qualification", ("lost_on",), "jumin-kihon-daicho-7")
        )
    with app_engine.begin() as conn, pytest.raises(ValidationFailed, match=r"使用期間: .*重なります"):
        applications.approve(conn, renkei(), application_id=app_id)


def test_every_decision_is_in_the_access_log(app_engine: Engine, clean_linkage: None, renkei) -> None:
    a, b = renkei(), renkei()
    with app_engine.begin() as conn:
        app_id = applications.apply(conn, a, form("kenko", "identity.resident", ("type",), "jorei-kenko"))
        applications.refuse(conn, b, application_id=app_id, reason="目的が不明確")
    with app_engine.connect() as conn:
        rows = conn.execute(
            text("SELECT staff_code, action FROM audit.access_log WHERE staff_code IN (:a, :b) ORDER BY id"),
            {"a": a.staff_code, "b": b.staff_code},
        ).all()
    assert [(r.staff_code, r.action) for r in rows] == [(a.staff_code, "create"), (b.staff_code, "approve")]


def test_a_decided_application_can_be_neither_changed_nor_deleted(
    app_engine: Engine, db_engine: Engine, clean_linkage: None, renkei
) -> None:
    # Kept as decided for five years (seed 000 リスク対策 5): the trigger holds even for the owner.
    with app_engine.begin() as conn:
        app_id = applications.apply(
            conn, renkei(), form("juki", "kaigo.qualification", ("insured_no",), "jumin-kihon-daicho-7")
        )
        applications.approve(conn, renkei(), application_id=app_id)
    update = "UPDATE linkage.application SET purpose = '書換え' WHERE application_id = :a"
    delete = "DELETE FROM linkage.application WHERE application_id = :a"
    # kiban_app has no DELETE privilege at all; its UPDATE and the owner's both meet the trigger.
    for engine, sql in ((app_engine, update), (db_engine, update), (db_engine, delete)):
        with engine.begin() as conn, pytest.raises(IntegrityError, match=f"承認願.*{app_id}"):
            conn.execute(text(sql), {"a": app_id})
    with app_engine.connect() as conn:
        purpose = conn.execute(
            text("SELECT purpose FROM linkage.application WHERE application_id = :a"), {"a": app_id}
        ).scalar_one()
    assert purpose != "書換え"
