"""被保険者証の交付・再交付・回収, 証発行履歴 and the monthly bulk issue, read back from real PDFs."""

from __future__ import annotations

import subprocess
from datetime import date

import pytest
from sqlalchemy import Engine, text

from kiban.kaigo.eligibility import certificates, jobs, read, service
from kiban.security.context import Business

pytestmark = pytest.mark.usefixtures("clean_identity")


def pdf_text(pdf: bytes) -> str:
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return out.stdout.decode()


def pdf_pages(pdf: bytes) -> int:
    out = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return int(next(line.split()[-1] for line in out.splitlines() if line.startswith("Pages:")))


@pytest.fixture
def kaigo(staff_ctx):
    return staff_ctx(Business.KAIGO, purpose="kaigo.eligibility")


def test_issue_reissue_and_return(app_engine: Engine, new_person, kaigo) -> None:
    person = new_person(birth_date=date(1961, 4, 1), family_name="介護", given_name="一子")
    jobs.run_attainment(app_engine, as_of=date(2026, 3, 31))
    with app_engine.begin() as conn:
        issued = certificates.do_issue(conn, kaigo, person_no=person.person_no, issued_on=date(2026, 4, 3))
    body = pdf_text(issued.pdf)
    assert "介護保険被保険者証" in body and issued.card.insured_no in body
    compact = "".join(body.split())
    assert "氏名介護一子" in compact
    assert "交付年月日令和8年4月3日" in compact  # 和暦 (2026 = 令和8年)
    assert "生年月日昭和36年4月1日" in compact
    with pytest.raises(service.EligibilityError, match="再交付"), app_engine.begin() as conn:
        certificates.do_issue(conn, kaigo, person_no=person.person_no, issued_on=date(2026, 5, 1))
    with pytest.raises(service.EligibilityError, match="理由"), app_engine.begin() as conn:
        certificates.do_issue(
            conn, kaigo, person_no=person.person_no, issued_on=date(2026, 5, 1), reissue=True
        )
    with app_engine.begin() as conn:
        again = certificates.do_issue(
            conn, kaigo, person_no=person.person_no, issued_on=date(2026, 5, 1), reissue=True, reason="紛失"
        )
        certificates.do_return(
            conn, kaigo, certificate_id=issued.certificate_id, returned_on=date(2026, 5, 1)
        )
    assert "再交付" in pdf_text(again.pdf)
    with pytest.raises(service.EligibilityError, match="回収済み"), app_engine.begin() as conn:
        certificates.do_return(
            conn, kaigo, certificate_id=issued.certificate_id, returned_on=date(2026, 5, 2)
        )
    with app_engine.begin() as conn:
        panel = read.panel(conn, kaigo, person.person_no)
        _, shown = certificates.reprint(conn, kaigo, certificate_id=issued.certificate_id)
        prints = conn.execute(
            text(
                "SELECT count(*) FROM audit.access_log WHERE request_id = :r AND action = 'print' "
                "AND subjects @> ARRAY[:p]::text[]"
            ),
            {"r": kaigo.request_id, "p": person.person_no},
        ).scalar_one()
    # 証発行履歴: both cards, the first taken back, the second a 再交付 with its reason.
    history = sorted(panel.certificates, key=lambda c: c.certificate_id)
    assert [(c.reissue, c.returned_on, c.reason) for c in history] == [
        (False, date(2026, 5, 1), None),
        (True, None, "紛失"),
    ]
    assert "令和8年4月3日" in "".join(pdf_text(shown).split())  # shown again as it was printed
    assert prints == 3  # two issues and one reprint, each logged


def test_no_card_without_a_qualification(app_engine: Engine, new_person, kaigo) -> None:
    person = new_person(birth_date=date(1980, 1, 1))
    with pytest.raises(service.EligibilityError, match="資格がありません"), app_engine.begin() as conn:
        certificates.do_issue(conn, kaigo, person_no=person.person_no, issued_on=date(2026, 4, 3))


def test_a_qualification_certificate_needs_its_expiry(app_engine: Engine, new_person, kaigo) -> None:
    person = new_person(birth_date=date(1950, 1, 1))
    jobs.run_attainment(app_engine, as_of=date(2026, 4, 1))
    with pytest.raises(service.EligibilityError, match="有効期限"), app_engine.begin() as conn:
        certificates.do_issue(conn, kaigo, person_no=person.person_no, kind="qualification")
    with app_engine.begin() as conn:
        issued = certificates.do_issue(
            conn, kaigo, person_no=person.person_no, kind="qualification", issued_on=date(2026, 4, 3),
            valid_until=date(2026, 7, 2),
        )  # fmt: skip
    body = "".join(pdf_text(issued.pdf).split())
    assert "介護保険資格者証" in body and "令和8年7月2日" in body


def test_bulk_issue_for_the_month_of_attainment(app_engine: Engine, new_person, kaigo) -> None:
    april = [new_person(birth_date=date(1961, 4, d)).person_no for d in (2, 15, 30)]  # 65 on 1, 14, 29 April
    may = new_person(birth_date=date(1961, 5, 20)).person_no
    older = new_person(
        birth_date=date(1950, 1, 1)
    ).person_no  # insured by the run, but not by 65歳到達 this month
    jobs.run_attainment(app_engine, as_of=date(2026, 5, 31))
    with app_engine.begin() as conn:
        batch_id = certificates.start_bulk(conn, kaigo, month=date(2026, 4, 1), issued_on=date(2026, 4, 30))
        assert certificates.bulk_status(conn, batch_id).total == 3
    done = certificates.run_bulk(app_engine, batch_id, chunk=2)  # two chunks: progress moves 2 → 3
    assert (done.status, done.done, done.total, done.percent) == ("done", 3, 3, 100)
    with app_engine.begin() as conn:
        pdf = certificates.bulk_pdf(conn, kaigo, batch_id)
        issued_to = set(
            conn.execute(
                text(
                    "SELECT p.person_no FROM kaigo.certificate c JOIN kaigo.insured i USING (insured_id) "
                    "JOIN identity.person p ON p.person_id = i.person_id WHERE c.batch_id = :b"
                ),
                {"b": batch_id},
            ).scalars()
        )
        left = certificates.bulk_candidates(conn, date(2026, 4, 1))
    assert left == []  # a second batch for the month would find nobody
    assert issued_to == set(april) and may not in issued_to and older not in issued_to
    assert pdf_pages(pdf) == 3
