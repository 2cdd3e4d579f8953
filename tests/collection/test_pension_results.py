"""特別徴収結果 from the 年金保険者 (docs/layouts/kaigo-special-results.md): golden files over the dated
town, A collected by 特別徴収 in 2025 (前年度2月 3,500円: 仮徴収 3,500 × 3, 本徴収 3,789 / 3,500 / 3,500 —
tests/kaigo/golden/special-request-2025.csv)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from collection.test_payments import clerk, counts
from kaigo.test_assessment_run import FY, A, B, atena, city, town
from kiban.collection import payments
from kiban.kaigo.assessment import jobs as assess_jobs
from kiban.kaigo.assessment import pension_results
from kiban.kaigo.assessment import receivables as kaigo_receivables

__all__ = ["atena", "city", "clerk", "town"]

pytestmark = pytest.mark.usefixtures("clean_identity")
GOLDEN = Path(__file__).parent / "golden"
TODAY = date(2026, 3, 31)


@pytest.fixture
def special(town, app_engine: Engine, db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO kaigo.pension_deduction (person_id, fiscal_year, pension_insurer, annual_pension,"
                " previous_february) SELECT person_id, :fy, '日本年金機構', 800000, 3500 FROM identity.person"
                " WHERE person_no = :a"
            ),
            {"fy": FY, "a": A},
        )
    assess_jobs.assess(app_engine, fiscal_year=FY)
    kaigo_receivables.sync(app_engine, fiscal_year=FY)


def special_rows(engine: Engine) -> list[tuple[str, int, int]]:
    with engine.connect() as conn:
        return [
            tuple(r)  # type: ignore[misc]
            for r in conn.execute(
                text(
                    "SELECT r.label, r.amount, r.paid FROM collection.receivable r JOIN identity.person p"
                    " USING (person_id) WHERE p.person_no = :p AND r.method = 'special' ORDER BY r.period"
                ),
                {"p": A},
            )
        ]


def test_the_golden_results_file_is_matched_to_the_special_periods(
    special, app_engine: Engine, clerk
) -> None:
    data = (GOLDEN / "pension-results-2025.csv").read_bytes()
    result = pension_results.import_results(
        app_engine, clerk, data=data, file_name="tokucho.csv", today=TODAY
    )
    assert result.payments is not None
    p = result.payments
    assert (result.records, result.collected, p.applied, p.partial, p.over, p.unmatched) == (4, 3, 2, 1, 0, 0)
    assert special_rows(app_engine) == [
        ("仮徴収4月", 3_500, 3_500), ("仮徴収6月", 3_500, 3_500), ("仮徴収8月", 3_500, 3_000),
        ("本徴収10月", 3_789, 0), ("本徴収12月", 3_500, 0), ("本徴収2月", 3_500, 0),
    ]  # fmt: skip
    [stopped] = result.not_collected
    assert (stopped.line, stopped.month, stopped.reason) == (5, 10, "年金の支給停止・差止")
    with app_engine.connect() as conn:
        kept = conn.execute(
            text("SELECT result, count(*) FROM collection.pension_result GROUP BY 1 ORDER BY 1")
        ).all()
        channel = conn.execute(text("SELECT DISTINCT channel FROM collection.payment")).scalars().all()
    assert [tuple(k) for k in kept] == [("collected", 3), ("not_collected", 1)] and channel == ["pension"]
    # The same file again changes nothing; a new file repeating its records adds only what is new.
    before = counts(app_engine)
    again = pension_results.import_results(app_engine, clerk, data=data, file_name="tokucho.csv", today=TODAY)
    assert again.already_imported and counts(app_engine) == before
    more = data + "NK2025-12-000001,2025,992011,0000000001,日本年金機構,12,1,3500,,2025-12-15\r\n".encode()
    added = pension_results.import_results(app_engine, clerk, data=more, file_name="t2.csv", today=TODAY)
    assert (added.records, added.duplicates, added.collected, added.not_collected) == (5, 4, 1, ())
    assert special_rows(app_engine)[4] == ("本徴収12月", 3_500, 3_500)


def test_a_bad_results_file_imports_nothing_and_lists_every_bad_record(
    special, app_engine: Engine, clerk
) -> None:
    with app_engine.connect() as conn:
        b_no = conn.execute(
            text(
                "SELECT i.insured_no FROM kaigo.insured i JOIN identity.person p USING (person_id) WHERE p.person_no = :b"
            ),
            {"b": B},
        ).scalar_one()
    assert b_no == "0000000005"  # B is collected by 普通徴収 (no 前年度2月): no special 期別
    before = counts(app_engine)
    with pytest.raises(payments.PaymentFileRejected) as rejected:
        pension_results.import_results(
            app_engine, clerk, data=(GOLDEN / "pension-results-bad.csv").read_bytes(), file_name="bad.csv",
            today=TODAY,
        )  # fmt: skip
    listed = "".join(f"{e.line}\t{e.field}\t{e.message}\n" for e in rejected.value.errors)
    # Lines 3–9 are each wrong (line 2 is good): the layout's errors and, for the rest, the records'.
    assert listed == (GOLDEN / "pension-results-bad.errors.txt").read_text(encoding="utf-8")
    assert counts(app_engine) == before
    with app_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM collection.pension_result")).scalar_one() == 0


def test_from_the_command_line(special, app_engine: Engine, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kiban.cli.main import app

    runner = CliRunner()
    good = tmp_path / "tokucho.csv"  # LF line ends: another file (sha256) than the other tests' golden one
    good.write_bytes((GOLDEN / "pension-results-2025.csv").read_bytes().replace(b"\r\n", b"\n"))
    ran = runner.invoke(app, ["collection", "import", str(good), "--channel", "pension"])
    assert (
        ran.exit_code == 0 and "徴収済 3（完納 2・一部 1・過納 0）、未徴収 1、計 10,000 円" in ran.output
    ), ran.output
    again = runner.invoke(app, ["collection", "import", str(good), "--channel", "pension"])
    assert "取込済み" in again.output
    bad = runner.invoke(
        app, ["collection", "import", str(GOLDEN / "pension-results-bad.csv"), "--channel", "pension"]
    )
    assert bad.exit_code == 1 and "8行目 被保険者番号: 保険者 992011 の被保険者ではありません" in bad.output
