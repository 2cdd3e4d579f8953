"""副本登録 through 庁内連携: what the ``chukan`` subscription allows becomes a 副本 version, once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

import pytest
from gateway_support import Network, make_city
from sqlalchemy import Engine, text

from identity.conftest import new_person
from kiban.db import outbox
from kiban.gateway import replica, replica_sync
from kiban.linkage import applications
from kiban.security.context import AccessContext, Business
from security_factories import Org

__all__ = ["new_person"]


@pytest.fixture
def clean_linkage(db_engine: Engine) -> Iterator[None]:
    with db_engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE linkage.inbox, linkage.transfer, linkage.refusal, linkage.subscription, "
                "linkage.application, kiban_meta.outbox, kiban_meta.outbox_cursor RESTART IDENTITY CASCADE"
            )
        )
    yield


@pytest.fixture
def subscribe(app_engine: Engine, org: Org) -> Callable[..., int]:
    """An approved subscription: applied by one 庁内連携 approver, approved by another."""
    dep = org.department("renkei")

    def staff(label: str) -> AccessContext:
        org.staff(label, dep, [(Business.RENKEI, "approver")])
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
            business=Business.RENKEI,
            purpose_code="renkei.operation",
        )

    applicant, approver = staff("applicant"), staff("approver")

    def make(consumer: str, dataset: str, items: tuple[str, ...], basis: str) -> int:
        form = applications.ApplicationForm(
            consumer, dataset, items, basis, "副本登録のため", "業務外利用禁止", date(2024, 6, 1), None
        )
        with app_engine.begin() as conn:
            app_id = applications.apply(conn, applicant, form)
        with app_engine.begin() as conn:
            return applications.approve(conn, approver, application_id=app_id)

    return make


def _qualification(person_no: str, insured_no: str, *, lost_on: date | None = None) -> dict[str, object]:
    # The payload kaigo.eligibility.service._announce writes (宛名番号, 被保険者番号 — no 個人番号).
    return {
        "person_no": person_no,
        "insurer_no": "992011",
        "insured_no": insured_no,
        "category": 1,
        "category_label": "第1号被保険者",
        "acquired_on": date(2024, 7, 1),
        "acquire_reason": "age65",
        "lost_on": lost_on,
        "loss_reason": None,
        "qualification_id": 1,
    }


def test_subscribed_items_become_one_replica_version_per_event_and_a_rerun_adds_none(
    app_engine: Engine,
    db_engine: Engine,
    clean_linkage: None,
    subscribe: Callable[..., int],
    new_person,
    network: Network,
) -> None:
    city = make_city(app_engine, network, "副本市")
    # The subscription leaves out acquire_reason: it must not reach the 副本.
    subscribe(
        "chukan",
        "kaigo.qualification",
        ("insurer_no", "insured_no", "category", "acquired_on", "lost_on"),
        "bango19-8-shorei-kaigo",
    )
    a, b = new_person(), new_person()
    with db_engine.begin() as conn:
        outbox.emit(
            conn, "kaigo.qualification.acquired", a.person_no, _qualification(a.person_no, "0000000101")
        )
        outbox.emit(
            conn, "kaigo.qualification.acquired", b.person_no, _qualification(b.person_no, "0000000102")
        )
        outbox.emit(
            conn,
            "kaigo.qualification.lost",
            a.person_no,
            _qualification(a.person_no, "0000000101", lost_on=date(2026, 3, 31)),
        )
    with app_engine.begin() as conn:
        assert replica_sync.sync_all(conn, city_code=city.code) == 3
    with app_engine.begin() as conn:
        assert replica_sync.sync_all(conn, city_code=city.code) == 0  # exactly once
        ra = replica.current_replica(
            conn, city_code=city.code, person_id=a.person_id, dataset="kaigo.qualification"
        )
        rb = replica.current_replica(
            conn, city_code=city.code, person_id=b.person_id, dataset="kaigo.qualification"
        )
    assert ra is not None and rb is not None
    assert ra.version == 2 and ra.items["lost_on"] == "2026-03-31"  # the newest event answers
    assert rb.version == 1 and rb.items == {
        "insurer_no": "992011",
        "insured_no": "0000000102",
        "category": 1,
        "acquired_on": "2024-07-01",
        "lost_on": None,
    }
    assert "acquire_reason" not in ra.items  # not subscribed, not registered
    with db_engine.connect() as conn:
        refs = conn.execute(
            text("SELECT source_ref FROM gateway.replica WHERE city_code = :c ORDER BY replica_id"),
            {"c": city.code},
        ).scalars()
        assert all(r.startswith("linkage:") for r in refs)  # each version traced to its transfer


def test_without_a_subscription_nothing_becomes_a_replica(
    app_engine: Engine, db_engine: Engine, clean_linkage: None, new_person, network: Network
) -> None:
    city = make_city(app_engine, network, "未承認市")
    a = new_person()
    with db_engine.begin() as conn:
        outbox.emit(
            conn, "kaigo.qualification.acquired", a.person_no, _qualification(a.person_no, "0000000201")
        )
    with app_engine.begin() as conn:
        assert replica_sync.sync_all(conn, city_code=city.code) == 0
        assert replica.current_replicas(conn, city_code=city.code) == []


def test_the_reconciliation_export_finds_a_stale_replica(
    app_engine: Engine,
    db_engine: Engine,
    clean_linkage: None,
    subscribe: Callable[..., int],
    new_person,
    network: Network,
    tmp_path,
) -> None:
    import csv
    import random

    from typer.testing import CliRunner

    from kiban.cli.main import app

    city = make_city(app_engine, network, "照合市")
    items = ("insurer_no", "insured_no", "category", "acquired_on", "lost_on")
    subscribe("chukan", "kaigo.qualification", items, "bango19-8-shorei-kaigo")
    a, b, c = new_person(), new_person(), new_person()
    numbers = {}
    with db_engine.begin() as conn:  # the 原本, as kaigo.eligibility holds it (c has no 副本 at all)
        for person, valid, loss in (
            (a, "[2024-07-01,)", None),
            (b, "[2024-07-01,2026-04-01)", "moved_out"),
            (c, "[2025-01-15,)", None),
        ):
            numbers[person.person_id] = f"{random.randrange(10**9, 10**10)}"
            insured = conn.execute(
                text(
                    "INSERT INTO kaigo.insured (insurer_no, insured_no, person_id) VALUES ('992011', :n, :p) "
                    "RETURNING insured_id"
                ),
                {"n": numbers[person.person_id], "p": person.person_id},
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO kaigo.qualification (insured_id, category, valid, acquire_reason, loss_reason) "
                    "VALUES (:i, 1, CAST(:v AS daterange), 'age65', :l)"
                ),
                {"i": insured, "v": valid, "l": loss},
            )
    with app_engine.begin() as conn:  # the 副本: a is current; b missed its 喪失
        for person in (a, b):
            replica.register_replica(
                conn,
                city_code=city.code,
                person_id=person.person_id,
                dataset="kaigo.qualification",
                items={
                    "insurer_no": "992011",
                    "insured_no": numbers[person.person_id],
                    "category": 1,
                    "acquired_on": "2024-07-01",
                    "lost_on": None,
                },
                source_ref="test",
            )
    out = tmp_path / "reconcile.csv"
    ran = CliRunner().invoke(app, ["gateway", "reconcile", "--city", city.code, "--out", str(out)])
    assert ran.exit_code == 0, ran.output
    rows = list(csv.DictReader(out.read_text("utf-8-sig").splitlines()))
    mine = [r for r in rows if r["宛名ID"] in (str(a.person_id), str(b.person_id))]
    (missing,) = [r for r in rows if r["宛名ID"] == str(c.person_id)]
    assert missing["区分"] == "副本なし" and '"acquired_on": "2025-01-15"' in missing["原本"]
    assert mine == [
        {
            "宛名ID": str(b.person_id),
            "特定個人情報": "kaigo.qualification",
            "項目": "lost_on",
            "区分": "値の不一致",
            "副本": "",
            "原本": "2026-04-01",
        }
    ]


def test_verify_and_checkpoint_from_the_command_line(app_engine: Engine, network: Network, tmp_path) -> None:
    from typer.testing import CliRunner

    from kiban.cli.main import app

    city = make_city(app_engine, network, "検査市")
    runner = CliRunner()
    made = runner.invoke(app, ["gateway", "checkpoint", "--city", city.code, "--out-dir", str(tmp_path)])
    assert made.exit_code == 0, made.output
    (checkpoint,) = tmp_path.glob(f"gateway-{city.code}-*.json")
    ok = runner.invoke(app, ["gateway", "verify", "--city", city.code, "--checkpoint", str(checkpoint)])
    assert ok.exit_code == 0 and "異常はありません" in ok.output, ok.output
    checkpoint.write_text(checkpoint.read_text("utf-8").replace('"seq": 0', '"seq": 7'), "utf-8")
    forged = runner.invoke(app, ["gateway", "verify", "--city", city.code, "--checkpoint", str(checkpoint)])
    assert forged.exit_code == 1 and "検証できません" in forged.output  # the altered checkpoint fails
