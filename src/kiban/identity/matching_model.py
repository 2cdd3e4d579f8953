"""The rules of 名寄せ (record matching) that need no database: normalising the 4 情報, scoring a
candidate, and deciding whether a record may be linked without a person looking at it.

Seed 000 (介護保険, 庁内連携における措置): 「対象者の住所・氏名・生年月日・性別等で…宛名との名寄せを
行い、名寄せ結果を複数人で検査することで、誤って別人の情報を取得することを防ぐ」; seeds 000/001 list
the 4情報（氏名、性別、生年月日、住所）. domain.md §10.11: 名寄せ by address + name + birthdate + sex,
confirmed by two or more people. Seed 001: the 符号 is never used for 名寄せ.

So a record is linked automatically only when it cannot be anyone else:

- its 個人番号 (compared through the blind index only) is held by exactly one person, or
- exactly one current person agrees on all four — kana name (and kanji name when given), birth date,
  sex and the normalised address.

Everything else — the same name, birth date and sex at another address (a move not yet recorded, or
a namesake), a relative at the same address, two persons with the same four — goes to the review
queue, where two different staff members must reach the same answer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache

from kiban.identity import model
from kiban.shared import kana


@dataclass(frozen=True)
class Incoming:
    """A record that arrived without a 宛名番号 (連携データ・申請書等の4情報).

    ``my_number`` is plaintext only in memory: the service stores its blind index, never the number,
    and ``repr`` never shows it.
    """

    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    birth_date: date
    sex: int
    address: str
    katagaki: str | None = None
    my_number: str | None = None

    def __repr__(self) -> str:  # the number must not reach a log line through repr()
        return (
            f"Incoming(family_kana={self.family_kana!r}, given_kana={self.given_kana!r}, "
            f"birth_date={self.birth_date!r}, sex={self.sex!r}, my_number={'***' if self.my_number else None})"
        )


class Reason(StrEnum):
    """The reason code of a decision (match_case.auto_rule)."""

    MY_NUMBER = "個人番号一致"
    FOUR_ITEMS = "4情報一致"
    FOUR_ITEMS_SEVERAL = "4情報一致（複数）"
    MY_NUMBER_CONFLICT = "個人番号一致・4情報相違"
    OTHER_MY_NUMBER = "個人番号相違"
    ADDRESS_DIFFERS = "住所相違"
    FAMILY_MEMBER = "同一住所の家族の可能性"
    PARTIAL = "一部一致"
    NONE = "該当なし"


AUTO_REASONS = frozenset({Reason.MY_NUMBER, Reason.FOUR_ITEMS})

# Weights of the items that agree (sum 100). The score orders the candidates for the reviewer; it
# never decides a link by itself (only the rules in ``decide`` do).
WEIGHTS = {"kana": 30, "name": 10, "birth_date": 25, "sex": 10, "address": 25}
FAMILY_KANA_WEIGHT = 10  # only the family name's reading agrees
FAMILY_NAME_WEIGHT = 3
# A probable relative at the same address is listed, but low (the issue: never auto, low score).
FAMILY_MEMBER_CAP = 40


# -- normalisation -----------------------------------------------------------------------------

_KANJI_DIGITS = {
    "〇": 0,
    "零": 0,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_KANJI_UNITS = {"十": 10, "百": 100, "千": 1000}
_KANJI_CHARS = "".join(_KANJI_DIGITS) + "".join(_KANJI_UNITS)
# A kanji numeral is converted only where it is a 丁目・番地・号 number: before one of those words, a
# hyphen or の, or at the end. Place names (四日市, 八王子, 一ツ橋) keep their kanji.
_KANJI_NUMBER = re.compile(f"[{_KANJI_CHARS}]+(?=丁目|番地|番|号|の|ノ|-|$)")
_DASHES = re.compile("[\u2010-\u2015\u2212\u30fc\uff70\ufe63\uff0d]")
_BLOCK_WORDS = re.compile(r"(?<=\d)(?:丁目|番地|番|号)")
_NO_BETWEEN = re.compile(r"(?<=[\d-])[のノ](?=\d)")


def kanji_number(text: str) -> int:
    """二十四 → 24, 百二 → 102, 二四 / 二〇 → 24 / 20 (digit by digit when there is no 十百千)."""
    if not any(ch in _KANJI_UNITS for ch in text):
        return int("".join(str(_KANJI_DIGITS[ch]) for ch in text))
    total, digit = 0, None
    for ch in text:
        if ch in _KANJI_UNITS:
            total += (digit if digit is not None else 1) * _KANJI_UNITS[ch]
            digit = None
        else:
            digit = _KANJI_DIGITS[ch] if digit is None else digit * 10 + _KANJI_DIGITS[ch]
    return total + (digit or 0)


@lru_cache(maxsize=65536)  # a household shares its address; candidates repeat it
def address_match_key(address: str) -> str:
    """The address as compared for 名寄せ: ``model.address_key`` (NFKC, no spaces), kanji numerals of
    丁目・番地・号 as digits, and 丁目/番地/番/号/の written as hyphens — so 「元町二丁目24番6号」,
    「元町２丁目２４－６」 and 「元町2-24-6」 give the same key. The 方書 is not part of it."""
    key = model.address_key(address)
    key = _DASHES.sub("-", unicodedata.normalize("NFKC", key))
    key = _KANJI_NUMBER.sub(lambda m: str(kanji_number(m.group())), key)
    key = _BLOCK_WORDS.sub("-", key)
    key = _NO_BETWEEN.sub("-", key)
    key = re.sub(r"-{2,}", "-", key)
    return key.rstrip("-")


@dataclass(frozen=True)
class Keys:
    """The normalised 4 情報 of one record (incoming or registered)."""

    kana: str
    family_kana: str
    name: str
    family_name: str
    birth_date: date
    sex: int
    address: str


def keys_of(
    *,
    family_name: str,
    given_name: str,
    family_kana: str,
    given_kana: str,
    birth_date: date,
    sex: int,
    address: str,
    kana_key: str | None = None,
    name_key: str | None = None,
) -> Keys:
    """The keys of one record; ``kana_key``/``name_key`` as stored with a version (the same functions
    made them) save recomputing them for every candidate."""
    return Keys(
        kana=kana_key if kana_key is not None else model.kana_key(family_kana, given_kana),
        family_kana=_family_kana_key(family_kana),
        name=name_key if name_key is not None else model.name_key(family_name or "", given_name or ""),
        family_name=_family_name_key(family_name or ""),
        birth_date=birth_date,
        sex=sex,
        address=address_match_key(address or ""),
    )


@lru_cache(maxsize=4096)
def _family_kana_key(family_kana: str) -> str:
    return kana.search_key(family_kana)


@lru_cache(maxsize=4096)
def _family_name_key(family_name: str) -> str:
    return model.name_key(family_name, "")


def incoming_keys(incoming: Incoming) -> Keys:
    return keys_of(
        family_name=incoming.family_name,
        given_name=incoming.given_name,
        family_kana=incoming.family_kana,
        given_kana=incoming.given_kana,
        birth_date=incoming.birth_date,
        sex=incoming.sex,
        address=incoming.address,
    )


def check_incoming(incoming: Incoming) -> list[model.FieldError]:
    """The minimum for matching: a kana reading, a birth date, a sex code and an address."""
    errors: list[model.FieldError] = []
    if not kana.is_katakana(kana.to_katakana(incoming.family_kana or "")):
        errors.append(model.FieldError("氏カナ", "カタカナまたはひらがなで入力してください"))
    if incoming.given_kana and not kana.is_katakana(kana.to_katakana(incoming.given_kana)):
        errors.append(model.FieldError("名カナ", "カタカナまたはひらがなで入力してください"))
    if incoming.sex not in (1, 2):
        errors.append(model.FieldError("性別", "1（男）または 2（女）です"))
    if not isinstance(incoming.birth_date, date):
        errors.append(model.FieldError("生年月日", "日付を入力してください"))
    if not (incoming.address or "").strip():
        errors.append(model.FieldError("住所", "必須です"))
    return errors


# -- scoring -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    """Which of the 4 情報 agree (name split into its reading and its kanji)."""

    kana: bool
    family_kana: bool
    name: bool  # the kanji name agrees (False when the incoming record has none)
    family_name: bool
    birth_date: bool
    sex: bool
    address: bool
    no_kanji: bool = False  # the incoming record carries only the reading

    @property
    def name_agrees(self) -> bool:
        """The name agrees: the reading, and the kanji too when the incoming record has one."""
        return self.kana and (self.name or self.no_kanji)

    @property
    def all_four(self) -> bool:
        return self.name_agrees and self.birth_date and self.sex and self.address

    @property
    def family_member(self) -> bool:
        """Same family name and address, but another given name or birth date: a relative, never
        the person (the issue's rule: never automatic)."""
        return self.family_kana and self.address and not (self.kana and self.birth_date)

    @property
    def relevant(self) -> bool:
        """Worth showing a reviewer: two of name / birth date / address, or a relative at the address.
        (A namesake elsewhere, or a stranger born the same day, is not a candidate.)"""
        hits = sum((self.kana or self.name, self.birth_date, self.address))
        return hits >= 2 or self.family_member

    def as_dict(self) -> dict[str, bool | None]:
        return {
            "kana": self.kana,
            "name": None if self.no_kanji else self.name,
            "birth_date": self.birth_date,
            "sex": self.sex,
            "address": self.address,
        }


def agreement(incoming: Keys, registered: Keys) -> Agreement:
    return Agreement(
        kana=incoming.kana == registered.kana,
        family_kana=incoming.family_kana == registered.family_kana,
        name=bool(incoming.name) and incoming.name == registered.name,
        family_name=bool(incoming.family_name) and incoming.family_name == registered.family_name,
        birth_date=incoming.birth_date == registered.birth_date,
        sex=incoming.sex == registered.sex,
        address=bool(incoming.address) and incoming.address == registered.address,
        # No kanji name on the incoming record: the reading alone is the name.
        no_kanji=not incoming.name,
    )


def score(agree: Agreement) -> int:
    points = 0
    points += WEIGHTS["kana"] if agree.kana else FAMILY_KANA_WEIGHT if agree.family_kana else 0
    if agree.name:
        points += WEIGHTS["name"]
    elif agree.family_name:
        points += FAMILY_NAME_WEIGHT
    points += WEIGHTS["birth_date"] if agree.birth_date else 0
    points += WEIGHTS["sex"] if agree.sex else 0
    points += WEIGHTS["address"] if agree.address else 0
    if agree.family_member:
        points = min(points, FAMILY_MEMBER_CAP)
    return points


@dataclass(frozen=True)
class Scored:
    """One candidate as the rules see it."""

    person_id: int
    person_no: str
    agree: Agreement
    score: int
    holds_incoming_number: bool = False  # the incoming 個人番号 is this person's (blind index)
    has_other_number: bool = False  # this person has a 個人番号, and it is not the incoming one

    @property
    def note(self) -> str:
        if self.holds_incoming_number:
            return "個人番号一致"
        if self.agree.all_four:
            return "4情報一致"
        if self.agree.family_member:
            return "同一住所の家族の可能性"
        if self.agree.name_agrees and self.agree.birth_date and self.agree.sex:
            return "住所相違"
        return "一部一致"


@dataclass(frozen=True)
class Decision:
    """What ``decide`` concluded: link to ``person_id`` (auto), review, or nothing found."""

    status: str  # auto_linked | pending | no_match
    reason: Reason
    person_id: int | None = None


def decide(candidates: list[Scored]) -> Decision:
    """The auto-link rule (自動名寄せの条件). Anything not certain goes to two reviewers."""
    holders = [c for c in candidates if c.holds_incoming_number]
    if len(holders) == 1:
        holder = holders[0]
        # The number is the strongest evidence, but a holder who differs in both the name and the
        # birth date points at a wrong number in the source (seed 000: 個人番号の真正性確認).
        if holder.agree.kana or holder.agree.birth_date:
            return Decision("auto_linked", Reason.MY_NUMBER, holder.person_id)
        return Decision("pending", Reason.MY_NUMBER_CONFLICT)
    exact = [c for c in candidates if c.agree.all_four]
    if len(exact) == 1:
        if exact[0].has_other_number:
            # The four agree but the person holds another 個人番号: two people, or one wrong number.
            return Decision("pending", Reason.OTHER_MY_NUMBER)
        return Decision("auto_linked", Reason.FOUR_ITEMS, exact[0].person_id)
    if len(exact) > 1:
        return Decision("pending", Reason.FOUR_ITEMS_SEVERAL)
    if not candidates:
        return Decision("no_match", Reason.NONE)
    best = max(candidates, key=lambda c: c.score)
    if any(c.agree.name_agrees and c.agree.birth_date and c.agree.sex for c in candidates):
        return Decision("pending", Reason.ADDRESS_DIFFERS)
    if best.agree.family_member:
        return Decision("pending", Reason.FAMILY_MEMBER)
    return Decision("pending", Reason.PARTIAL)


def rank(candidates: list[Scored]) -> list[Scored]:
    """Best first; the person holding the incoming number before anyone else."""
    return sorted(candidates, key=lambda c: (not c.holds_incoming_number, -c.score, c.person_no))
