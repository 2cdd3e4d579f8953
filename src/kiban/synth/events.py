"""A month of resident events (住民異動) for a synthetic city, in the layout the hub imports
(docs/layouts/resident-events.md), so a demo has an events file to apply after the city's
``jumin.csv``.

Read from the city's ``jumin.csv`` (residents only); deterministic by seed and start date. Rates per
resident and year are round national figures (人口動態統計: 出生率 ≈ 6‰, 死亡率 ≈ 13‰; 住民基本台帳人口
移動報告: about 4% of residents move across a city boundary each year, each way; 婚姻率 ≈ 4‰ persons):

- 出生 — to a woman of 20–44 (世帯主, 妻 or 子の妻), into her household as 子 (or 孫);
- 死亡 — weighted by age (mortality doubling every ~8 years); a spouse left behind becomes 世帯主
  from the next day (世帯変更);
- 転出 — whole households: 転出予定 for each member, then 転出確定 from the new city (most on the
  planned date, some a few days off); a few abroad (国外転出, never confirmed);
- 転入 — new households of one to three persons, new 宛名番号・世帯番号・個人番号, a few from abroad;
- 転居 — whole households to a new address in the city;
- 婚姻 — a single man and a single woman each living alone: she takes his 氏 (氏名変更) and moves into
  his household as 妻 (転居 with 世帯番号 and 続柄).

Rows are in processing order (届出日, then the order of each story), with 異動ID
``J<届出日 yyyymmdd><serial>``. All dates fall in [start, start + days).
"""

from __future__ import annotations

import csv
import io
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Final

from kiban.identity.events import HEADER
from kiban.shared import mynumber
from kiban.synth import names, places
from kiban.synth.files import LAYOUTS

RATES: Final = {  # per resident (households: per household) and year
    "birth": 0.006,
    "death": 0.013,
    "move_out": 0.02,  # households
    "move_in": 0.02,  # households
    "move_within": 0.015,  # households
    "marriage": 0.002,  # couples
}
ABROAD_SHARE: Final = 0.05
DESTINATIONS: Final = tuple(f"{area}{n}番{n % 7 + 1}号" for _, area in places.OTHER_PLACES for n in (3, 18))
COUNTRIES: Final = ("アメリカ合衆国", "大韓民国", "ベトナム社会主義共和国", "オーストラリア連邦")
_CITY_PREFIX: Final = places.PREFECTURE_NAME + places.CITY_NAME


@dataclass
class _Person:
    person_no: str
    household_no: str
    relation: str
    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    sex: int
    birth_date: date
    postal_code: str
    address: str
    katagaki: str
    district: str


@dataclass
class _Month:
    rng: random.Random
    start: date
    days: int
    city: str
    next_person: int
    next_household: int
    rows: list[tuple[date, int, dict[str, str]]] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    numbers: set[str] = field(default_factory=set)

    def day(self, low: int = 0, high: int | None = None) -> date:
        return self.start + timedelta(days=self.rng.randint(low, (self.days - 1) if high is None else high))

    def notified(self, on: date, late: int = 13) -> date:
        return min(on + timedelta(days=self.rng.randint(0, late)), self.start + timedelta(days=self.days - 1))

    def add(self, notified: date, kind: str, on: date, person_no: str, **items: str) -> None:
        values = {
            "市区町村コード": self.city,
            "異動事由": kind,
            "異動日": on.isoformat(),
            "宛名番号": person_no,
        }
        values["届出日"] = notified.isoformat()
        self.rows.append((notified, len(self.rows), values | items))

    def number(self) -> str:
        while (n := mynumber.generate(self.rng)) in self.numbers:
            pass
        self.numbers.add(n)
        return n

    def count(self, base: int, rate: str) -> int:
        expected = base * RATES[rate] * self.days / 365
        return int(expected) + (self.rng.random() < expected - int(expected))


def read_residents(jumin: bytes) -> tuple[list[_Person], int]:
    """The residents (住民区分 住民) of a ``jumin.csv`` (header optional), and the highest 宛名番号
    of any row (住登外 persons included: new numbers must not collide with theirs)."""
    header = [c.header for c in LAYOUTS["jumin.csv"]]
    col = {name: i for i, name in enumerate(header)}
    out = []
    highest = 0
    for f in csv.reader(io.StringIO(jumin.decode("utf-8-sig"))):
        if not f or f[0] == header[0]:
            continue
        highest = max(highest, int(f[col["宛名番号"]]))
        if f[col["住民区分"]] != "住民":
            continue
        out.append(
            _Person(
                f[col["宛名番号"]], f[col["世帯番号"]], f[col["続柄"]], f[col["氏"]], f[col["名"]],
                f[col["氏カナ"]], f[col["名カナ"]], int(f[col["性別"]]), date.fromisoformat(f[col["生年月日"]]),
                f[col["郵便番号"]], f[col["住所"]], f[col["方書"]], f[col["地区コード"]],
            )
        )  # fmt: skip
    return out, highest


def month_of_events(jumin: bytes, *, seed: int, start: date, days: int = 30) -> bytes:
    """The events file (UTF-8, CRLF, header row) of ``days`` days from ``start``."""
    residents, highest = read_residents(jumin)
    if not residents:
        raise ValueError("jumin.csv に住民がありません")
    m = _Month(
        random.Random(f"kiban-events-{seed}-{start.isoformat()}"),
        start,
        days,
        places.CITY_CODE,
        highest + 1,
        max(int(p.household_no) for p in residents) + 1,
    )
    households: dict[str, list[_Person]] = {}
    for p in residents:
        households.setdefault(p.household_no, []).append(p)
    _births(m, residents)
    _deaths(m, residents, households)
    _marriages(m, households)
    _moves_out(m, households)
    _moves_within(m, households)
    _moves_in(m, len(households))
    return _render(m)


def write_month(directory: Path, *, seed: int, start: date, days: int = 30) -> Path:
    """Write ``idou-<yyyymm>.csv`` next to the city's ``jumin.csv`` in ``directory``."""
    target = directory / f"idou-{start:%Y%m}.csv"
    data = month_of_events((directory / "jumin.csv").read_bytes(), seed=seed, start=start, days=days)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def _age(p: _Person, on: date) -> int:
    return on.year - p.birth_date.year - ((on.month, on.day) < (p.birth_date.month, p.birth_date.day))


def _free(m: _Month, people: list[_Person]) -> Iterator[_Person]:
    order = list(people)
    m.rng.shuffle(order)
    return (p for p in order if p.person_no not in m.used)


def _where(p: _Person) -> dict[str, str]:
    return {"郵便番号": p.postal_code, "住所": p.address, "方書": p.katagaki, "地区コード": p.district}


def _name(m: _Month, sex: int, year: int) -> tuple[str, str]:
    pool = (names.MALE_NAMES if sex == 1 else names.FEMALE_NAMES)[names.generation_of(year)]
    return m.rng.choice(pool)


def _births(m: _Month, residents: list[_Person]) -> None:
    mothers = [
        p
        for p in residents
        if p.sex == 2 and 20 <= _age(p, m.start) <= 44 and p.relation in ("世帯主", "妻", "子の妻")
    ]
    for mother in list(_free(m, mothers))[: m.count(len(residents), "birth")]:
        m.used.add(mother.person_no)
        on, sex = m.day(), m.rng.choice((1, 2))
        given, kana = _name(m, sex, on.year)
        baby = f"{m.next_person:010d}"
        m.next_person += 1
        m.add(
            m.notified(on), "出生", on, baby,
            個人番号=m.number(), 世帯番号=mother.household_no, 続柄="孫" if mother.relation == "子の妻" else "子",
            氏=mother.family_name, 名=given, 氏カナ=mother.family_kana, 名カナ=kana, 性別=str(sex),
            生年月日=on.isoformat(), **_where(mother),
        )  # fmt: skip


def _deaths(m: _Month, residents: list[_Person], households: dict[str, list[_Person]]) -> None:
    candidates = list(_free(m, residents))
    weights = [math.exp((_age(p, m.start) - 80) / 11.5) for p in candidates]
    wanted = m.count(len(residents), "death")
    chosen: dict[str, _Person] = {}
    for _ in range(wanted * 20 if candidates else 0):
        if len(chosen) >= wanted:
            break
        p = m.rng.choices(candidates, weights)[0]
        chosen.setdefault(p.person_no, p)
    for p in chosen.values():
        if p.person_no in m.used:
            continue
        m.used.add(p.person_no)
        on = m.day(0, m.days - 2)
        m.add(m.notified(on, 6), "死亡", on, p.person_no)
        spouse = [
            s for s in households[p.household_no] if s.relation in ("妻", "夫") and s.person_no not in m.used
        ]
        if p.relation == "世帯主" and spouse:
            m.used.add(spouse[0].person_no)
            after = on + timedelta(days=1)
            m.add(
                m.notified(after, 6),
                "世帯変更",
                after,
                spouse[0].person_no,
                世帯番号=p.household_no,
                続柄="世帯主",
            )


def _singles(
    m: _Month, households: dict[str, list[_Person]], sex: int, ages: tuple[int, int]
) -> list[_Person]:
    return [
        h[0]
        for h in households.values()
        if len(h) == 1 and h[0].sex == sex and ages[0] <= _age(h[0], m.start) <= ages[1]
    ]


def _marriages(m: _Month, households: dict[str, list[_Person]]) -> None:
    men = list(_free(m, _singles(m, households, 1, (25, 45))))
    women = list(_free(m, _singles(m, households, 2, (23, 43))))
    for husband, wife in list(zip(men, women, strict=False))[: m.count(len(households), "marriage")]:
        if (wife.address, wife.katagaki) == (husband.address, husband.katagaki):
            continue
        m.used |= {husband.person_no, wife.person_no}
        on = m.day()
        told = m.notified(on)
        m.add(told, "氏名変更", on, wife.person_no, 氏=husband.family_name, 氏カナ=husband.family_kana)
        m.add(told, "転居", on, wife.person_no, 世帯番号=husband.household_no, 続柄="妻", **_where(husband))


def _moves_out(m: _Month, households: dict[str, list[_Person]]) -> None:
    for members in _households(m, households, "move_out"):
        planned = m.day(3)
        abroad = m.rng.random() < ABROAD_SHARE
        told = planned - timedelta(days=m.rng.randint(0, min(14, (planned - m.start).days)))
        destination = m.rng.choice(COUNTRIES if abroad else DESTINATIONS)
        roll = m.rng.random()
        confirmed = None if abroad or roll < 0.15 else planned
        if confirmed and roll > 0.85:
            confirmed = planned + timedelta(days=m.rng.choice((-2, -1, 1, 2)))
        for p in members:
            m.add(
                told, "転出予定", planned, p.person_no, 転出先住所=destination, 国外区分="1" if abroad else ""
            )
        last = m.start + timedelta(days=m.days - 1)
        if confirmed is not None and max(planned, confirmed) + timedelta(days=3) <= last:
            arrived = max(planned, confirmed) + timedelta(
                days=m.rng.randint(3, (last - max(planned, confirmed)).days)
            )
            for p in members:
                m.add(arrived, "転出確定", confirmed, p.person_no)


def _households(m: _Month, households: dict[str, list[_Person]], rate: str) -> list[list[_Person]]:
    whole = [h for h in households.values() if all(p.person_no not in m.used for p in h)]
    m.rng.shuffle(whole)
    chosen = whole[: m.count(len(households), rate)]
    for h in chosen:
        m.used |= {p.person_no for p in h}
    return chosen


def _new_address(m: _Month) -> dict[str, str]:
    town = m.rng.choices(places.TOWNS, [t.weight for t in places.TOWNS])[0]
    return {
        "郵便番号": town.postal_code,
        "住所": _CITY_PREFIX + places.house_address(m.rng, town),
        "方書": "",
        "地区コード": town.district_code,
    }


def _moves_within(m: _Month, households: dict[str, list[_Person]]) -> None:
    for members in _households(m, households, "move_within"):
        on, where = m.day(), _new_address(m)
        told = m.notified(on)
        for p in members:
            if where["住所"] != p.address:
                m.add(told, "転居", on, p.person_no, **where)


def _moves_in(m: _Month, household_count: int) -> None:
    for _ in range(m.count(household_count, "move_in")):
        on, where = m.day(), _new_address(m)
        told, abroad = m.notified(on), m.rng.random() < ABROAD_SHARE
        family = m.rng.choice(names.SURNAMES)
        household = f"{m.next_household:010d}"
        m.next_household += 1
        head_age = m.rng.randint(22, 45)
        people = [("世帯主", m.rng.choice((1, 1, 2)), head_age)]
        if m.rng.random() < 0.5:
            people.append(
                ("妻" if people[0][1] == 1 else "夫", 3 - people[0][1], head_age + m.rng.randint(-3, 3))
            )
            if m.rng.random() < 0.5:
                people.append(("子", m.rng.choice((1, 2)), m.rng.randint(0, max(0, head_age - 22))))
        for relation, sex, age in people:
            born = on - timedelta(days=age * 365 + m.rng.randint(1, 360))
            given, kana = _name(m, sex, born.year)
            person_no = f"{m.next_person:010d}"
            m.next_person += 1
            m.add(
                told, "転入", on, person_no, 個人番号=m.number(), 世帯番号=household, 続柄=relation,
                氏=family[0], 名=given, 氏カナ=family[1], 名カナ=kana, 性別=str(sex), 生年月日=born.isoformat(),
                転入前住所=m.rng.choice(COUNTRIES if abroad else DESTINATIONS), 国外区分="1" if abroad else "",
                **where,
            )  # fmt: skip


def _render(m: _Month) -> bytes:
    out = io.StringIO()
    out.write(",".join(HEADER) + "\r\n")
    serial: dict[date, int] = {}
    for told, _, values in sorted(m.rows, key=lambda r: (r[0], r[1])):
        serial[told] = serial.get(told, 0) + 1
        values = {"異動ID": f"J{told:%Y%m%d}{serial[told]:05d}"} | values
        out.write(",".join(values.get(h, "") for h in HEADER) + "\r\n")
    return out.getvalue().encode("utf-8")
