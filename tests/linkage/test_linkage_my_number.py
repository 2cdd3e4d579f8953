"""A synthetic city with real numbers in the vault: a non-My-Number consumer never receives a 個人番号
(every delivered payload scanned), a My-Number consumer does, and that hand-over is access-logged."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from kiban.db import outbox
from kiban.identity import facts, load
from kiban.linkage import delivery
from kiban.linkage.records import Delivered, NumberedRecord, PlainRecord
from kiban.rules.linkage import load_catalogue
from kiban.security.batch import batch_context, ensure_batch_principal
from kiban.security.context import Business
from kiban.shared.mynumber import contains_my_number
from kiban.synth.city import city_params
from kiban.synth.files import FileSet
from kiban.synth.generate import generate_chunk

TODAY = date(2026, 4, 1)
IDENTITY_TABLES = (
    "identity.check_anomaly, identity.check_run, identity.match_case, identity.medical_insurance, "
    "identity.old_age_pension_period, identity.welfare_period, identity.tax_income, identity.contact, "
    "identity.mailing_address, identity.household_member, identity.household, identity.my_number_vault, "
    "identity.person_version, identity.resident_event, identity.person, identity.import_error, "
    "identity.import_batch"
)
ALL = {d.code: d.item_codes for d in load_catalogue().datasets}
PLAIN = {
    "juki": [("kaigo.qualification", "jumin-kihon-daicho-7")],
    "chiiki_houkatsu": [
        ("kaigo.qualification", "hogo69-chiiki-houkatsu"),
        ("identity.resident", "hogo69-chiiki-houkatsu"),
    ],
    "chukan": [("kaigo.qualification", "bango19-8-shorei-kaigo")],
    "kenko": [("identity.resident", "jorei-kenko"), ("kaigo.qualification", "jorei-kenko")],
}
NUMBERED = {
    "kaigo": [("atena.basic", "bango9-beppyo-kaigo"), ("identity.resident", "bango9-beppyo-kaigo")],
    "kokuho": [("atena.basic", "jorei9-2-tax-to-welfare"), ("identity.tax", "jorei9-2-tax-to-welfare")],
}


@pytest.fixture(scope="module")
def city_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("linkage-city")
    params = city_params(23, 400, TODAY)
    files = FileSet(folder)
    for k in range(params.chunks):
        for name, data in generate_chunk(params, k).files.items():
            files.write(name, data)
    files.commit()
    return folder


@pytest.fixture
def city(db_engine: Engine, clean_linkage: None, city_files: Path) -> dict[str, str]:
    """The city loaded into an empty hub (numbers in the vault), its 課税情報 imported, and each
    person's 介護保険 資格, 宛名 change and 転居 published; returns 宛名番号 → 個人番号."""
    with db_engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {IDENTITY_TABLES} RESTART IDENTITY CASCADE"))
    load.load_registry(db_engine, city_files / "jumin.csv", workers=1, today=TODAY)
    with db_engine.begin() as conn:
        ensure_batch_principal(conn)
        ctx = batch_context(conn, Business.ATENA, "atena.import", "課税情報の取込（試験）")
    facts.import_facts(db_engine, "kazei", (city_files / "kazei.csv").read_bytes(), "kazei.csv", ctx)
    rows = list(csv.DictReader(io.StringIO((city_files / "jumin.csv").read_text("utf-8"))))
    numbers = {r["宛名番号"]: r["個人番号"] for r in rows if r["個人番号"]}
    assert len(numbers) > 300
    with db_engine.begin() as conn:
        for n, person_no in enumerate(sorted(numbers)):
            outbox.emit(conn, "kaigo.qualification.acquired", person_no, {
                "person_no": person_no, "insurer_no": "992011", "insured_no": f"{n:010d}", "category": 1,
                "category_label": "第1号被保険者", "acquired_on": TODAY, "acquire_reason": "01",
                "lost_on": None, "loss_reason": None, "qualification_id": n + 1,
            }, occurred_on=TODAY)  # fmt: skip
            outbox.emit(
                conn, "identity.person.changed", person_no, {"person_no": person_no, "fields": ["address"]}
            )
            outbox.emit(conn, "identity.resident.moved_within", person_no, {
                "person_no": person_no, "type": "転居", "event_id": f"E{n}", "effective_on": TODAY,
                "my_number_registered": True,
            }, occurred_on=TODAY)  # fmt: skip
    return numbers


def run_all(engine: Engine, consumer: str) -> list[Delivered]:
    got: list[Delivered] = []

    def keep(conn: Connection, d: Delivered) -> None:
        got.append(d)

    while True:
        with engine.begin() as conn:
            run = delivery.deliver_batch(conn, consumer=consumer, handler=keep, limit=400)
        if run.polled == 0:
            return got


def test_no_non_my_number_consumer_receives_a_number_and_my_number_consumers_do(
    db_engine: Engine, subscribe, city: dict[str, str]
) -> None:
    for consumer, subs in (PLAIN | NUMBERED).items():
        for dataset, basis in subs:
            subscribe(consumer, dataset, ALL[dataset], basis, valid_from=date(2025, 4, 1))
    clear = set(city.values())
    plain_total = 0
    for consumer in PLAIN:
        got = run_all(db_engine, consumer)
        assert got, consumer
        plain_total += len(got)
        for d in got:
            assert type(d.record) is PlainRecord, consumer
            body = json.dumps(d.record.to_json(), ensure_ascii=False, default=str)
            assert not contains_my_number(body), consumer
            assert not any(number in body for number in clear), consumer
            assert not hasattr(d.record, "my_number")
    persons = len(city)
    assert plain_total == persons * (1 + 2 + 1 + 2)

    kaigo = run_all(db_engine, "kaigo")
    numbered = [d.record for d in kaigo if isinstance(d.record, NumberedRecord)]
    assert len(numbered) == persons  # atena.basic, one per person, each with the vault's number
    assert all(r.my_number == city[r.record.person_no or ""] for r in numbered)
    assert all(type(d.record) is PlainRecord for d in kaigo if d.plain.dataset == "identity.resident")
    kokuho = run_all(db_engine, "kokuho")
    assert sum(isinstance(d.record, NumberedRecord) for d in kokuho) == persons
    assert any(d.plain.dataset == "identity.tax" for d in kokuho)

    with db_engine.connect() as conn:
        # The inbox and the transfer log never hold the number, whoever the consumer.
        # (The payload digest is left out: 64 hex characters hold a 12-digit run now and then.)
        for table in ("linkage.inbox", "linkage.transfer", "linkage.refusal"):
            for (body,) in conn.execute(
                text(f"SELECT (to_jsonb(x) - 'payload_sha256')::text FROM {table} x")
            ):
                assert not contains_my_number(body), table
        flagged = conn.execute(
            text("SELECT consumer, count(*) FROM linkage.transfer WHERE my_number_included GROUP BY consumer")
        ).all()
        assert dict((r[0], r[1]) for r in flagged) == {"kaigo": persons, "kokuho": persons}
        # Each hand-over of numbers is one access-log row for the consumer's business, naming the persons.
        logged = conn.execute(
            text(
                "SELECT business, purpose_code, subjects, detail FROM audit.access_log "
                "WHERE action = 'export' AND detail->>'item' = '個人番号' ORDER BY id"
            )
        ).all()
    assert {r.business for r in logged} == {"kaigo", "kokuho"}
    assert {r.purpose_code for r in logged} == {"kaigo.linkage", "kokuho.linkage"}
    assert {r.detail["consumer"] for r in logged} == {"kaigo", "kokuho"}
    covered = {s for r in logged if r.business == "kaigo" for s in r.subjects}
    assert covered == set(city)
