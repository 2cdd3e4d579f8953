"""The rules of the 宛名 hub (団体内統合宛名システム) that need no database: what a person record is,
how it is checked before registration, its search keys, and number formats.

Seed 003 《宛名情報》 lists the items; seed 000 リスク対策 asks for logic checks before registration
(論理チェック) and that invalid data never enters (domain.md §10.11).
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from kiban.shared import clock, kana

CITY_CODE_RE = re.compile(r"^[0-9]{6}$")
PERSON_NO_RE = re.compile(r"^[0-9]{10}$")
HOUSEHOLD_NO_RE = re.compile(r"^[0-9]{10}$")
POSTAL_RE = re.compile(r"^[0-9]{3}-[0-9]{4}$")
DISTRICT_RE = re.compile(r"^[0-9]{2}$")


class ResidentClass(StrEnum):
    """住民区分."""

    RESIDENT = "住民"
    NON_RESIDENT = "住登外"
    MOVED_OUT = "転出"
    DECEASED = "死亡"


RELATIONS = frozenset(
    {
        "世帯主",
        "妻",
        "夫",
        "子",
        "父",
        "母",
        "子の妻",
        "子の夫",
        "孫",
        "兄",
        "姉",
        "弟",
        "妹",
        "祖父",
        "祖母",
        "同居人",
        "縁故者",
    }
)
SEX_LABELS = {1: "男", 2: "女"}
# Changing a record or revealing a 個人番号 needs a 担当者 (clerk) role or higher; 照会のみ (reader, rank 0)
# may search and view (seed 000: 権限は業務に必要な範囲に限定).
CLERK_RANK = 1


@dataclass(frozen=True)
class FieldError:
    """One bad item: which field (項目名, as in the file or the form) and why."""

    field: str
    message: str


@dataclass(frozen=True)
class PersonData:
    """The items of one person version (seed 003 《宛名情報》 items 6–41, the changing ones)."""

    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    sex: int
    birth_date: date
    address: str
    resident_class: ResidentClass
    postal_code: str | None = None
    katagaki: str | None = None
    district_code: str | None = None
    in_city: bool = True
    alias_name: str | None = None
    alias_kana: str | None = None
    name_use: str = "本名"
    resident_on: date | None = None
    nonresident_on: date | None = None
    nonresident_reason: str | None = None
    class_notified_on: date | None = None
    nationality: str | None = None
    stay_until: date | None = None
    previous_address: str | None = None

    def replace(self, **changes: object) -> PersonData:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def full_name(self) -> str:
        return f"{self.family_name}\u3000{self.given_name}".rstrip("\u3000")

    @property
    def full_kana(self) -> str:
        return f"{self.family_kana}\u3000{self.given_kana}".rstrip("\u3000")

    @property
    def display_name(self) -> str:
        """The name to print: the 通称 when the person chose to use it (氏名利用区分)."""
        return self.alias_name if self.name_use == "通称" and self.alias_name else self.full_name


def kana_key(family_kana: str, given_kana: str) -> str:
    """Search key of the reading: family + given, normalised (kiban.shared.kana.search_key)."""
    return kana.search_key(family_kana + given_kana)


def name_key(family_name: str, given_name: str) -> str:
    """Search key of the kanji name: NFKC, no spaces. 外字 are kept as they are."""
    return "".join(unicodedata.normalize("NFKC", family_name + given_name).split())


def address_key(address: str, katagaki: str | None = None) -> str:
    """Search key of the address: NFKC (full-width digits → ASCII), no spaces, 丁目 kanji numerals kept."""
    text = unicodedata.normalize("NFKC", address + (katagaki or ""))
    return "".join(text.split()).replace("－", "-").replace("ー", "-") if text else ""


def search_keys(data: PersonData) -> dict[str, str]:
    return {
        "kana_key": kana_key(data.family_kana, data.given_kana),
        "name_key": name_key(data.family_name, data.given_name),
        "address_key": address_key(data.address, data.katagaki),
    }


def check_person(data: PersonData, *, today: date | None = None) -> list[FieldError]:
    """Logic checks before registration (登録前の論理チェック). Field names are the file's 項目名."""
    errors: list[FieldError] = []
    if not data.family_name.strip():
        errors.append(FieldError("氏", "必須です"))
    if not data.family_kana.strip():
        errors.append(FieldError("氏カナ", "必須です"))
    elif not kana.is_katakana(data.family_kana):
        errors.append(FieldError("氏カナ", "全角カタカナで入力してください"))
    if data.given_kana and not kana.is_katakana(data.given_kana):
        errors.append(FieldError("名カナ", "全角カタカナで入力してください"))
    if data.alias_kana and not kana.is_katakana(data.alias_kana):
        errors.append(FieldError("通称名カナ", "全角カタカナで入力してください"))
    if data.name_use == "通称" and not data.alias_name:
        errors.append(FieldError("氏名利用区分", "通称を使う場合は通称名が必要です"))
    if data.sex not in (1, 2):
        errors.append(FieldError("性別", "1（男）または 2（女）です"))
    limit = today or clock.today()
    if data.birth_date > limit:
        errors.append(FieldError("生年月日", "未来の日付です"))
    if data.birth_date.year < 1870:
        errors.append(FieldError("生年月日", "1870年より前の日付です"))
    if data.postal_code and not POSTAL_RE.match(data.postal_code):
        errors.append(FieldError("郵便番号", "NNN-NNNN の形式です"))
    if not data.address.strip():
        errors.append(FieldError("住所", "必須です"))
    if data.district_code and not DISTRICT_RE.match(data.district_code):
        errors.append(FieldError("地区コード", "2桁の数字です"))
    if data.resident_class is ResidentClass.RESIDENT and data.resident_on is None:
        errors.append(FieldError("住民となった日", "住民には必須です"))
    if data.resident_class is ResidentClass.NON_RESIDENT and not data.nonresident_reason:
        errors.append(FieldError("住登外事由", "住登外者には必須です"))
    if data.resident_on and data.resident_on < data.birth_date:
        errors.append(FieldError("住民となった日", "生年月日より前です"))
    if data.nonresident_on and data.nonresident_on < data.birth_date:
        errors.append(FieldError("住登外となった日", "生年月日より前です"))
    return errors


def integrated_no(city_code: str, serial: int) -> str:
    """団体内統合宛名番号: the city code and a 9-digit serial (15 digits — never 12, so it cannot be
    mistaken for a 個人番号 by any check)."""
    if not CITY_CODE_RE.match(city_code) or not 0 < serial < 10**9:
        raise ValueError("統合宛名番号を採番できません（市区町村コードまたは連番が範囲外です）")
    return f"{city_code}{serial:09d}"
