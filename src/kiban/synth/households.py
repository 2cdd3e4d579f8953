"""Household composition (世帯構成): who lives together, their 続柄 and ages.

Household types and their shares follow the shape of 令和2年国勢調査 (一般世帯の家族類型: 単独世帯
38%, 夫婦のみ 20%, 夫婦と子 25%, ひとり親と子 9%, その他 (三世代など) 8%; 65歳以上の単独世帯 about a third
of 単独世帯), tuned so the city's age pyramid matches population.py. Ages inside a household are
realistic: spouses a few years apart, children born when their mother was 20–42, children leave home
progressively after 18, 三世代 households with the head's parents or with a married child and 孫.

続柄 follow the 住民票 usage (住民基本台帳事務処理要領): 世帯主, 妻, 夫, 子 (all children, 長男・長女 are
no longer written), 父, 母, 子の妻, 子の夫, 孫.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

from kiban.synth.population import AgeSampler

MALE: Final = 1
FEMALE: Final = 2

HOUSEHOLD_TYPES: Final = (
    "single",  # 単独世帯 (65歳未満)
    "single_elderly",  # 高齢単身世帯
    "couple",  # 夫婦のみ (世帯主65歳未満)
    "elderly_couple",  # 高齢夫婦世帯 (世帯主65歳以上)
    "family",  # 夫婦と子
    "single_parent",  # ひとり親と子
    "elderly_parent_child",  # 高齢の親と未婚の子
    "three_generation",  # 三世代世帯
)

# Chosen household type → share of households (before children leave home turns some families into
# couples); tuned on 100,000 residents to give about 29% aged 65+ (75+ about 16.5%, under 15 about
# 11%) with about 2.1 persons per household (国勢調査 2020: 2.21 nationally, lower in cities).
TYPE_WEIGHTS: Final = (
    ("single", 0.20),
    ("single_elderly", 0.165),
    ("couple", 0.07),
    ("elderly_couple", 0.155),
    ("family", 0.24),
    ("single_parent", 0.05),
    ("elderly_parent_child", 0.06),
    ("three_generation", 0.06),
)


@dataclass(slots=True)
class Member:
    """One person of a household being built; ``age`` is a float in years at the city's as_of date."""

    relationship: str
    sex: int
    age: float
    widow: bool = False  # 寡婦 (夫と死別) — matters for the 住民税 非課税 rule
    single_parent: bool = False  # ひとり親


_SINGLE = AgeSampler(18, 64)
_ELDERLY = AgeSampler(65, 104)
_ADULT_PARTNER = AgeSampler(22, 64)
_MOTHER = AgeSampler(22, 62)
_LONE_PARENT = AgeSampler(24, 60)
_TG_MIDDLE = AgeSampler(40, 62)
_TG_OLD = AgeSampler(62, 82)
_EPC_CHILD = AgeSampler(35, 68)


def _spouse_age(rng: random.Random, husband: float) -> float:
    # Wives are on average about two years younger (人口動態統計: 平均初婚年齢 夫31.1 妻29.7 in 2023);
    # the spread keeps nearly all couples within ±10 years.
    return min(max(18.0, husband - min(max(rng.gauss(2.0, 3.0), -8.0), 12.0)), 104.5)


def _older_than_children(father: float, children: list[float]) -> float:
    # A father is at least 18 years older than each child (his age was drawn relative to the mother).
    return max([father, *(c + 18.0 + (father % 1.0) for c in children)])


def _children(rng: random.Random, mother: float, wanted: int) -> list[float]:
    """Ages of the children still at home of a mother aged ``mother``."""
    ages: list[float] = []
    born_at = min(max(rng.gauss(30.0, 4.0), 20.0), 40.0)
    for _ in range(wanted):
        if born_at > min(mother, 42.0):
            break
        age = mother - born_at
        # Children leave home as adults (国勢調査: most 30-somethings no longer live with parents).
        stay = 1.0 if age < 18 else 0.75 if age < 25 else 0.35 if age < 35 else 0.1
        if rng.random() < stay:
            ages.append(age)
        born_at += rng.uniform(1.5, 5.0)
    return ages


def _child_count(rng: random.Random) -> int:
    u = rng.random()
    return 1 if u < 0.38 else 2 if u < 0.83 else 3


def _couple(rng: random.Random, husband: float, wife_head_share: float) -> list[Member]:
    wife = _spouse_age(rng, husband)
    if rng.random() < wife_head_share:
        return [Member("世帯主", FEMALE, wife), Member("夫", MALE, husband)]
    return [Member("世帯主", MALE, husband), Member("妻", FEMALE, wife)]


def compose(rng: random.Random, household_type: str) -> tuple[str, list[Member]]:
    """Members of a new household of the chosen type; the first member is always the 世帯主.

    Returns the actual type, which differs from the chosen one when every child has left home
    (family → couple or elderly_couple, single_parent → single or single_elderly).
    """
    if household_type == "single":
        sex = MALE if rng.random() < 0.58 else FEMALE
        return "single", [Member("世帯主", sex, _SINGLE(rng))]
    if household_type == "single_elderly":
        # Two thirds of elderly people living alone are women (国勢調査), most of them widows.
        if rng.random() < 0.67:
            return "single_elderly", [Member("世帯主", FEMALE, _ELDERLY(rng), widow=rng.random() < 0.8)]
        return "single_elderly", [Member("世帯主", MALE, _ELDERLY(rng))]
    if household_type == "couple":
        return "couple", _couple(rng, _ADULT_PARTNER(rng), 0.06)
    if household_type == "elderly_couple":
        husband = min(_ELDERLY(rng), 100.0)
        return "elderly_couple", _couple(rng, husband, 0.05)
    if household_type == "family":
        mother = _MOTHER(rng)
        father = max(20.0, mother + rng.gauss(2.0, 3.0))
        members = (
            [Member("世帯主", FEMALE, mother), Member("夫", MALE, father)]
            if rng.random() < 0.06
            else [Member("世帯主", MALE, father), Member("妻", FEMALE, mother)]
        )
        kids = _children(rng, mother, _child_count(rng))
        father_member = members[0] if members[0].sex == MALE else members[1]
        father_member.age = _older_than_children(father_member.age, kids)
        members += [Member("子", MALE if rng.random() < 0.512 else FEMALE, a) for a in kids]
        if not kids:
            return ("elderly_couple" if members[0].age >= 65 else "couple"), members
        return "family", members
    if household_type == "single_parent":
        # About 85% of ひとり親世帯 are mother-and-children (全国ひとり親世帯等調査 令和3年度).
        sex = FEMALE if rng.random() < 0.85 else MALE
        parent_age = _LONE_PARENT(rng)
        parent = Member("世帯主", sex, parent_age, single_parent=True)
        # A father's children are dated from an implied mother two years younger.
        kids = _children(
            rng, parent_age if sex == FEMALE else parent_age - 2.0, 1 if rng.random() < 0.55 else 2
        )
        if not kids:
            parent.single_parent = False
            return ("single_elderly" if parent_age >= 65 else "single"), [parent]
        return "single_parent", [parent] + [
            Member("子", MALE if rng.random() < 0.512 else FEMALE, a) for a in kids
        ]
    if household_type == "elderly_parent_child":
        child_sex = MALE if rng.random() < 0.55 else FEMALE
        child = _EPC_CHILD(rng)
        parent_age = min(child + rng.uniform(24.0, 38.0), 104.5)
        head = Member("世帯主", child_sex, child)
        if rng.random() < 0.8:
            return "elderly_parent_child", [head, Member("母", FEMALE, parent_age, widow=rng.random() < 0.85)]
        return "elderly_parent_child", [head, Member("父", MALE, parent_age)]
    if household_type == "three_generation":
        return "three_generation", _three_generation(rng)
    raise ValueError(f"unknown household type {household_type!r}")


def _three_generation(rng: random.Random) -> list[Member]:
    if rng.random() < 0.5:
        # A middle-aged couple with their children and the head's parent(s).
        head = _TG_MIDDLE(rng)
        members = [Member("世帯主", MALE, head), Member("妻", FEMALE, _spouse_age(rng, head))]
        kids = _children(rng, members[1].age, _child_count(rng))
        members[0].age = head = _older_than_children(head, kids)
        members += [Member("子", MALE if rng.random() < 0.512 else FEMALE, a) for a in kids]
        father_age = min(head + rng.uniform(24.0, 38.0), 104.0)
        mother_age = min(max(father_age - rng.gauss(2.0, 2.5), head + 20.0), 104.0)
        if rng.random() < 0.3:
            members += [Member("父", MALE, father_age), Member("母", FEMALE, mother_age)]
        else:
            members.append(Member("母", FEMALE, mother_age, widow=rng.random() < 0.85))
        return members
    # An older head (often widowed) with a married son, his wife and their children.
    head_age = _TG_OLD(rng)
    widowed = rng.random() < 0.3
    if widowed:
        head_sex = FEMALE if rng.random() < 0.7 else MALE
        members = [Member("世帯主", head_sex, head_age, widow=head_sex == FEMALE)]
        mother = head_age if head_sex == FEMALE else head_age - 2.0
    else:
        members = [Member("世帯主", MALE, head_age), Member("妻", FEMALE, _spouse_age(rng, head_age))]
        mother = members[1].age
    son = mother - min(max(rng.gauss(28.0, 3.5), 20.0), 40.0)
    if son < 22.0:
        son = 22.0 + rng.random() * 3.0
        son = min(son, mother - 20.0)
    daughter_in_law = _spouse_age(rng, son)
    members += [Member("子", MALE, son), Member("子の妻", FEMALE, daughter_in_law)]
    # Children dated from the younger parent; at least one 孫, else this is a two-generation household.
    younger = min(son, daughter_in_law)
    grandchildren = _children(rng, younger, _child_count(rng)) or [
        rng.uniform(0.0, max(0.5, min(12.0, younger - 20.0)))
    ]
    members += [Member("孫", MALE if rng.random() < 0.512 else FEMALE, a) for a in grandchildren]
    return members
