"""SQLAlchemy Core tables of the ``identity`` schema and the outbox (DDL lives in migration 0007_identity).

Constraints (EXCLUDE periods, partial unique indexes, CHECKs) are the migration's; these definitions
are what queries are written against.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import DATERANGE, JSONB
from sqlalchemy.sql.elements import ColumnElement

metadata = MetaData(schema="identity")

check_anomaly = Table(
    "check_anomaly",
    metadata,
    Column("run_id", BigInteger, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("person_id", BigInteger),
    Column("person_no", Text),
    Column("detail", Text, nullable=False),
)

check_run = Table(
    "check_run",
    metadata,
    Column("run_id", BigInteger, primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("persons", Integer, nullable=False),
    Column("anomalies", Integer, nullable=False),
    Column("staff_id", BigInteger),
)

contact = Table(
    "contact",
    metadata,
    Column("contact_id", BigInteger, primary_key=True),
    Column("person_id", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),
    Column("label", Text),
    Column("organisation", Text),
    Column("phone", Text),
    Column("extension", Text),
    Column("fax", Text),
    Column("note", Text),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("recorded_by", BigInteger),
    Column("superseded_at", DateTime(timezone=True)),
)

household = Table(
    "household",
    metadata,
    Column("household_id", BigInteger, primary_key=True),
    Column("city_code", Text, nullable=False),
    Column("household_no", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

household_member = Table(
    "household_member",
    metadata,
    Column("member_id", BigInteger, primary_key=True),
    Column("household_id", BigInteger, nullable=False),
    Column("person_id", BigInteger, nullable=False),
    Column("relation", Text, nullable=False),
    Column("is_head", Boolean, nullable=False),
    Column("valid", DATERANGE, nullable=False),
    Column("join_reason", Text, nullable=False),
    Column("leave_reason", Text),
    Column("notified_on", Date),
    Column("event_pk", BigInteger),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("recorded_by", BigInteger),
    Column("superseded_at", DateTime(timezone=True)),
)

import_batch = Table(
    "import_batch",
    metadata,
    Column("import_id", BigInteger, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("file_name", Text, nullable=False),
    Column("file_sha256", LargeBinary, nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("applied_count", Integer, nullable=False),
    Column("skipped_count", Integer, nullable=False),
    Column("error_count", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("staff_id", BigInteger),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
)

import_error = Table(
    "import_error",
    metadata,
    Column("import_id", BigInteger, primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("record_key", Text, nullable=False),
    Column("field", Text, primary_key=True),
    Column("message", Text, nullable=False),
)

mailing_address = Table(
    "mailing_address",
    metadata,
    Column("mailing_id", BigInteger, primary_key=True),
    Column("person_id", BigInteger, nullable=False),
    Column("business", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("postal_code", Text),
    Column("address", Text, nullable=False),
    Column("katagaki", Text),
    Column("valid", DATERANGE, nullable=False),
    Column("start_reason", Text, nullable=False),
    Column("end_reason", Text),
    Column("note", Text),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("recorded_by", BigInteger),
    Column("superseded_at", DateTime(timezone=True)),
)

match_case = Table(
    "match_case",
    metadata,
    Column("case_id", BigInteger, primary_key=True),
    Column("source", Text, nullable=False),
    Column("source_ref", Text, nullable=False),
    Column("family_name", Text),
    Column("given_name", Text),
    Column("family_kana", Text),
    Column("given_kana", Text),
    Column("birth_date", Date),
    Column("sex", SmallInteger),
    Column("address", Text),
    Column("my_number_index", LargeBinary),
    Column("candidates", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    Column("linked_person_id", BigInteger),
    Column("auto_rule", Text),
    Column("first_person_id", BigInteger),
    Column("first_staff_id", BigInteger),
    Column("first_at", DateTime(timezone=True)),
    Column("first_note", Text),
    Column("second_staff_id", BigInteger),
    Column("second_at", DateTime(timezone=True)),
    Column("second_note", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

medical_insurance = Table(
    "medical_insurance",
    metadata,
    Column("insurance_id", BigInteger, primary_key=True),
    Column("person_id", BigInteger, nullable=False),
    Column("insurer_no", Text, nullable=False),
    Column("insurer_kind", Text, nullable=False),
    Column("symbol", Text),
    Column("number", Text),
    Column("insured_kind", Text, nullable=False),
    Column("valid", DATERANGE, nullable=False),
    Column("import_id", BigInteger),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("superseded_at", DateTime(timezone=True)),
)

my_number_vault = Table(
    "my_number_vault",
    metadata,
    Column("person_id", BigInteger, primary_key=True),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("blind_index", LargeBinary, nullable=False),
    Column("source", Text, nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("registered_by", BigInteger),
    Column("import_id", BigInteger),
)

old_age_pension_period = Table(
    "old_age_pension_period",
    metadata,
    Column("pension_id", BigInteger, primary_key=True),
    Column("person_id", BigInteger, nullable=False),
    Column("valid", DATERANGE, nullable=False),
    Column("import_id", BigInteger),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("superseded_at", DateTime(timezone=True)),
)

person = Table(
    "person",
    metadata,
    Column("person_id", BigInteger, primary_key=True),
    Column("city_code", Text, nullable=False),
    Column("person_no", Text, nullable=False),
    Column("integrated_no", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("import_id", BigInteger),
)

person_version = Table(
    "person_version",
    metadata,
    Column("version_id", BigInteger, primary_key=True),
    Column("person_id", BigInteger, nullable=False),
    Column("valid", DATERANGE, nullable=False),
    Column("family_name", Text, nullable=False),
    Column("given_name", Text, nullable=False),
    Column("family_kana", Text, nullable=False),
    Column("given_kana", Text, nullable=False),
    Column("alias_name", Text),
    Column("alias_kana", Text),
    Column("name_use", Text, nullable=False),
    Column("sex", SmallInteger, nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("postal_code", Text),
    Column("address", Text, nullable=False),
    Column("katagaki", Text),
    Column("in_city", Boolean, nullable=False),
    Column("district_code", Text),
    Column("resident_class", Text, nullable=False),
    Column("resident_on", Date),
    Column("nonresident_on", Date),
    Column("nonresident_reason", Text),
    Column("class_notified_on", Date),
    Column("nationality", Text),
    Column("stay_until", Date),
    Column("previous_address", Text),
    Column("kana_key", Text, nullable=False),
    Column("name_key", Text, nullable=False),
    Column("address_key", Text, nullable=False),
    Column("change_reason", Text, nullable=False),
    Column("event_pk", BigInteger),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("recorded_by", BigInteger),
    Column("superseded_at", DateTime(timezone=True)),
    Column("superseded_by", BigInteger),
    Column("supersede_reason", Text),
)

resident_event = Table(
    "resident_event",
    metadata,
    Column("event_pk", BigInteger, primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("city_code", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("effective_on", Date, nullable=False),
    Column("notified_on", Date),
    Column("person_id", BigInteger, nullable=False),
    Column("household_id", BigInteger),
    Column("payload", JSONB, nullable=False),
    Column("content_sha256", LargeBinary, nullable=False),
    Column("import_id", BigInteger),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("recorded_by", BigInteger),
)

tax_income = Table(
    "tax_income",
    metadata,
    Column("tax_income_id", BigInteger, primary_key=True),
    Column("person_id", BigInteger, nullable=False),
    Column("fiscal_year", Integer, nullable=False),
    Column("taxable", Boolean, nullable=False),
    Column("nontaxable_reason", Text),
    Column("salary_income", BigInteger, nullable=False),
    Column("salary_net", BigInteger, nullable=False),
    Column("public_pension_income", BigInteger, nullable=False),
    Column("pension_misc_income", BigInteger, nullable=False),
    Column("other_income", BigInteger, nullable=False),
    Column("total_income", BigInteger, nullable=False),
    Column("capital_gains_deduction", BigInteger, nullable=False),
    Column("dependants", Integer, nullable=False),
    Column("import_id", BigInteger),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("superseded_at", DateTime(timezone=True)),
)

welfare_period = Table(
    "welfare_period",
    metadata,
    Column("welfare_id", BigInteger, primary_key=True),
    Column("person_id", BigInteger, nullable=False),
    Column("household_no", Text),
    Column("valid", DATERANGE, nullable=False),
    Column("welfare_office", Text),
    Column("proxy_payment", Boolean, nullable=False),
    Column("import_id", BigInteger),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("superseded_at", DateTime(timezone=True)),
)


def func_now() -> ColumnElement[datetime]:
    """``now()`` for UPDATE … SET (a helper so modules need not import ``func`` for one call)."""
    return func.now()
