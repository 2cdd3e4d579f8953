"""通知書の項目チェック: the field checks every notice of this package runs before drawing.

Each notice (:mod:`~kiban.notices.premium_notice`, :mod:`~kiban.notices.demand_notice`,
:mod:`~kiban.notices.refund_notice`, …) refuses a dataclass whose printed fields are not what
the notice may print.  The checks are the same for all of them; what differs is the Japanese
name of each field and the word for the document in the messages (通知書, 督促状, 催告書,
確認書).  So they live here once, and each notice binds them to its own labels in one
:class:`FieldChecks`: a field a notice checks is named by that notice's word for it, and a
field no notice has labelled yet is named by its own name instead of failing with a
``KeyError``.

No 個人番号 is printed on any of them (番号法第19条): :meth:`FieldChecks.no_individual_number`
refuses a printed string holding one, and its message names the field and the document, never
the digits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import fields
from datetime import date, datetime
from typing import TYPE_CHECKING, Final, Protocol

from kiban.shared.fiscal import wareki_fiscal_year_label

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "DIGITS",
    "POSTAL",
    "TWELVE_DIGITS",
    "Addressee",
    "FieldChecks",
    "check_addressee",
    "check_date",
    "check_fiscal_year",
    "check_yen",
]

DIGITS: Final = re.compile(r"[0-9]+")
POSTAL: Final = re.compile(r"([0-9]{3})-?([0-9]{4})")
# A 個人番号 written out: exactly twelve digits not touching another digit, or grouped
# 4-4-4 with spaces or hyphens.  ``\d`` also matches full-width digits.
TWELVE_DIGITS: Final = re.compile(r"(?<!\d)(?:\d{12}|\d{4}[ \u3000\-‐－]\d{4}[ \u3000\-‐－]\d{4})(?!\d)")


def check_date(label: str, value: object) -> None:
    """Refuse anything but a plain :class:`~datetime.date`; ``label`` is e.g. 「納期限 / due_date」."""
    # A datetime is a date too, but compares with neither a date nor the 指定期限 as meant.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValueError(f"{label}は日付です / must be a date: {value!r}")


def check_yen(label: str, value: object, *, negative: bool = False) -> int:
    """An amount in whole yen: an int (not a bool), and not below 0 unless ``negative``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{label}は整数（円）です / must be an int (yen): {value!r}")
    if value < 0 and not negative:
        raise ValueError(f"{label}は0円以上です / must not be negative: {value!r}")
    return value


def check_fiscal_year(value: object) -> None:
    """A 年度 as an int that the 和暦 can name."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"年度は整数です / fiscal_year must be an int: {value!r}")
    wareki_fiscal_year_label(value)  # refuses years before the solar calendar


class FieldChecks:
    """The field checks, bound to one notice's Japanese field labels and its document word.

    ``labels`` maps a field name to its Japanese name (e.g. ``"insured_no"`` →
    「被保険者番号」); ``document`` is the word for the document in the 個人番号 message
    (「個人番号は督促状に印字できません」).  ``english_document`` is the word the English half of
    that message uses: "notice" for most notices, while the 還付通知書 and the 納付済確認書 have
    always repeated their Japanese word there, and their messages stay as they were.
    """

    __slots__ = ("_document", "_english_document", "_labels")

    def __init__(self, labels: Mapping[str, str], document: str, *, english_document: str = "notice") -> None:
        self._labels = labels
        self._document = document
        self._english_document = english_document

    def label(self, name: str) -> str:
        """The Japanese name of the field, or the field name itself where there is none."""
        return self._labels.get(name, name)

    def digits(self, name: str, value: object, length: int) -> None:
        """Exactly ``length`` ASCII digits; a full-width digit is refused like any other character."""
        if not (isinstance(value, str) and len(value) == length and DIGITS.fullmatch(value)):
            raise ValueError(
                f"{self.label(name)}は{length}桁の数字です / {name} must be {length} ASCII digits: {value!r}"
            )

    def text(self, name: str, value: object, *, required: bool = True) -> None:
        """A str, not blank when ``required``; None is accepted only when not ``required``."""
        if value is None and not required:
            return
        if not isinstance(value, str) or (required and not value.strip()):
            raise ValueError(f"{self.label(name)}を指定してください / {name} must be a non-empty str")

    def no_individual_number(self, name: str, value: str) -> None:
        """Refuse a printed string holding a 12-digit number (a 個人番号 written out)."""
        # 番号法第19条: a 個人番号 may not be handed over outside the cases it lists, and a
        # mailed notice is none of them.  The message names the field, never the digits.
        if TWELVE_DIGITS.search(value):
            raise ValueError(
                f"{self.label(name)}に12桁の番号があります。個人番号は{self._document}に印字できません / "
                f"{name} contains a 12-digit number; a 個人番号 must never be printed on a {self._english_document}"
            )

    def no_individual_number_in(self, obj: DataclassInstance) -> None:
        """:meth:`no_individual_number` on every str field, or str in a tuple field, of ``obj``."""
        # Whichever field a 個人番号 comes in by (備考 most likely), it is not printed.
        for f in fields(obj):
            value = getattr(obj, f.name)
            if isinstance(value, str):
                self.no_individual_number(f.name, value)
            elif isinstance(value, tuple):
                for item in value:
                    if isinstance(item, str):
                        self.no_individual_number(f.name, item)


class Addressee(Protocol):
    """What a document mailed in the window envelope carries: the 宛名 and the 発行者.

    :func:`check_addressee` checks these fields, and the window-envelope header
    (:func:`kiban.notices.layout.header`) prints them.
    """

    @property
    def issued_on(self) -> date: ...
    @property
    def insurer_no(self) -> str: ...
    @property
    def insurer_name(self) -> str: ...
    @property
    def office(self) -> str: ...
    @property
    def office_phone(self) -> str: ...
    @property
    def postal_code(self) -> str | None: ...
    @property
    def address(self) -> str: ...
    @property
    def katagaki(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def person_no(self) -> str: ...
    @property
    def insured_no(self) -> str: ...
    @property
    def notes(self) -> tuple[str, ...]: ...


def check_addressee(checks: FieldChecks, doc: Addressee, number_field: str) -> None:
    """The fields every mailed document of this package shares (宛名, 発行者).

    ``number_field`` names the document's own number (``"notice_no"``, ``"certificate_no"``);
    the messages use the labels of ``checks``, the notice's own.
    """
    check_date("発行日 / issued_on", doc.issued_on)
    checks.digits("insurer_no", doc.insurer_no, 6)
    checks.digits("person_no", doc.person_no, 10)
    checks.digits("insured_no", doc.insured_no, 10)
    for name in (number_field, "insurer_name", "office", "office_phone", "address", "name"):
        checks.text(name, getattr(doc, name))
    checks.text("katagaki", doc.katagaki, required=False)
    if doc.postal_code is not None and not POSTAL.fullmatch(doc.postal_code):
        raise ValueError(
            f"郵便番号は7桁の数字です（例 812-8577） / postal_code must be NNN-NNNN: {doc.postal_code!r}"
        )
    if not isinstance(doc.notes, tuple) or not all(isinstance(s, str) for s in doc.notes):
        raise ValueError("備考は文字列のタプルです / notes must be a tuple of str")
