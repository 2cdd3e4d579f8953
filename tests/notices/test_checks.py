"""The field checks every notice runs (kiban.notices.checks), on their own: no PDF is drawn."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

import pytest

from kiban.notices.checks import FieldChecks, check_date, check_yen

LABELS = {"insured_no": "被保険者番号", "payment_no": "納付番号", "notes": "備考", "name": "氏名"}
CHECKS = FieldChecks(LABELS, "督促状")


def test_label_is_the_japanese_name_or_the_field_name() -> None:
    assert CHECKS.label("insured_no") == "被保険者番号"
    assert CHECKS.label("office_fax") == "office_fax"  # unlabelled: no KeyError


def test_digits_names_the_field_by_its_japanese_label() -> None:
    CHECKS.digits("insured_no", "0000012345", 10)
    with pytest.raises(
        ValueError, match=r"^被保険者番号は10桁の数字です / insured_no must be 10 ASCII digits"
    ):
        CHECKS.digits("insured_no", "12345", 10)


@pytest.mark.parametrize("value", ["０００００１２３４５", "000001234X", 12345, None])
def test_digits_refuses_anything_but_ascii_digits(value: object) -> None:
    with pytest.raises(ValueError, match="被保険者番号は10桁の数字です"):
        CHECKS.digits("insured_no", value, 10)


def test_digits_names_an_unlabelled_field_by_its_own_name() -> None:
    with pytest.raises(ValueError, match=r"^office_fax_noは6桁の数字です / office_fax_no must be 6"):
        CHECKS.digits("office_fax_no", "12", 6)


def test_text_required() -> None:
    CHECKS.text("name", "基盤　太郎")
    for value in ("", " \u3000", None, 3):
        with pytest.raises(ValueError, match=r"^氏名を指定してください / name must be a non-empty str$"):
            CHECKS.text("name", value)


def test_text_optional_takes_none_and_blank_but_not_another_type() -> None:
    CHECKS.text("name", None, required=False)
    CHECKS.text("name", "", required=False)
    with pytest.raises(ValueError, match=r"^氏名を指定してください"):
        CHECKS.text("name", 3, required=False)


def test_text_names_an_unlabelled_field_by_its_own_name() -> None:
    with pytest.raises(ValueError, match=r"^late_fee_noteを指定してください / late_fee_note must"):
        CHECKS.text("late_fee_note", "")


@pytest.mark.parametrize(
    "value",
    [
        "123456789012",
        "個人番号 1234-5678-9012 を確認",
        "1234 5678 9012",
        "番号１２３４５６７８９０１２です",
        "1234\u30005678\u30009012",
    ],
)
def test_no_individual_number_refuses_twelve_digits_without_echoing_them(value: str) -> None:
    with pytest.raises(ValueError) as raised:
        CHECKS.no_individual_number("notes", value)
    message = str(raised.value)
    assert message.startswith("備考に12桁の番号があります。個人番号は督促状に印字できません / notes contains")
    assert message.endswith("must never be printed on a notice")
    assert not re.search(r"\d{4}", message.translate({ord("０") + i: ord("0") + i for i in range(10)}))


@pytest.mark.parametrize(
    "value",
    [
        "01202500000056782013",  # 納付番号, 20 digits
        "00012345678",  # 11 digits
        "1234567890123",  # 13 digits (法人番号)
        "電話 000-123-4567",
        "1234-5678-90123",
    ],
)
def test_no_individual_number_accepts_other_numbers(value: str) -> None:
    CHECKS.no_individual_number("notes", value)


def test_the_document_word_is_the_notices_own() -> None:
    for document, english, tail in (
        ("催告書", "notice", "on a notice"),
        ("確認書", "確認書", "on a 確認書"),
    ):
        checks = FieldChecks({"notes": "備考"}, document, english_document=english)
        with pytest.raises(ValueError, match=f"個人番号は{document}に印字できません / .*{tail}$"):
            checks.no_individual_number("notes", "123456789012")


@dataclass(frozen=True)
class _Doc:
    name: str
    notes: tuple[str, ...] = ()
    count: int = 0
    when: date | None = None


def test_no_individual_number_in_every_str_and_tuple_field() -> None:
    CHECKS.no_individual_number_in(_Doc("基盤　太郎", ("納付番号 01202500000056782013",), 123456789012))
    with pytest.raises(ValueError, match=r"^氏名に12桁の番号があります"):
        CHECKS.no_individual_number_in(_Doc("123456789012"))
    with pytest.raises(ValueError, match=r"^備考に12桁の番号があります") as raised:
        CHECKS.no_individual_number_in(_Doc("基盤　太郎", ("確認済み", "番号 1234-5678-9012")))
    assert "9012" not in str(raised.value)


def test_check_date_refuses_a_datetime() -> None:
    check_date("納期限 / due_date", date(2025, 7, 31))
    for value in (datetime(2025, 7, 31, 9, 0), "2025-07-31", None):
        with pytest.raises(ValueError, match=r"^納期限 / due_dateは日付です / must be a date"):
            check_date("納期限 / due_date", value)


def test_check_yen() -> None:
    assert check_yen("督促手数料 / fee", 100) == 100
    assert check_yen("督促手数料 / fee", 0) == 0
    assert check_yen("差額", -500, negative=True) == -500
    with pytest.raises(ValueError, match=r"^督促手数料 / feeは整数（円）です / must be an int"):
        check_yen("督促手数料 / fee", True)
    with pytest.raises(ValueError, match="は整数（円）です"):
        check_yen("督促手数料 / fee", 100.0)
    with pytest.raises(ValueError, match=r"^督促手数料 / feeは0円以上です / must not be negative: -1$"):
        check_yen("督促手数料 / fee", -1)
