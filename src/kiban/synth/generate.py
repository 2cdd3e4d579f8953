"""Generation of one chunk of the synthetic city (合成都市の生成), deterministic by (seed, chunk index).

Pure computation, no I/O: ``generate_chunk`` returns COPY text for the ``synth`` tables and CSV text
for the source files (files.py), so worker processes can run it and the loader only streams bytes.
Plain tuples and string joins instead of objects per row keep a million residents within seconds.
"""

from __future__ import annotations

import random
from bisect import bisect
from datetime import date
from itertools import accumulate
from typing import Final

from kiban.synth import earnings, income, names, places
from kiban.synth.city import (
    CHUNK_RESIDENTS,
    DAYS_PER_YEAR,
    HOUSEHOLD_BASE,
    NON_RESIDENT_SHARE,
    PERSON_BASE,
    PERSON_STRIDE,
    Chunk,
    CityParams,
    birth_cutoff,
    mynumber,
)
from kiban.synth.households import FEMALE, MALE, TYPE_WEIGHTS, Member, compose
from kiban.synth.population import AgeSampler

# 生活保護 by household type (厚生労働省「被保護者調査」: about 55% of 被保護世帯 are 高齢者世帯, mostly
# single): tuned so about 1.5–2% of the city's households receive assistance.
_WELFARE_RATE: Final = {
    "single_elderly": 0.075,
    "single": 0.02,
    "single_parent": 0.06,
    "elderly_couple": 0.008,
    "elderly_parent_child": 0.01,
}
_WELFARE_CLOSED_SHARE: Final = 0.15  # of selected households, assistance already ended (廃止)
# Share of households living in an apartment (方書 present), by type; about 25% overall.
_APARTMENT_RATE: Final = {
    "single": 0.5,
    "couple": 0.35,
    "family": 0.2,
    "single_parent": 0.45,
    "single_elderly": 0.15,
    "elderly_couple": 0.07,
    "elderly_parent_child": 0.1,
    "three_generation": 0.02,
}
NONRESIDENT_REASONS: Final = ("住所地特例（施設入所）", "転出（賦課・収納継続）")
# The 実施機関 of 生活保護 for the city's residents: a 市 runs its own 福祉事務所 (社会福祉法第14条第1項).
_WELFARE_OFFICE: Final = places.CITY_NAME + "福祉事務所"

_TYPE_NAMES: Final = tuple(t for t, _ in TYPE_WEIGHTS)
_TYPE_CUM: Final = tuple(accumulate(w for _, w in TYPE_WEIGHTS))
_SURNAME_CUM: Final = tuple(accumulate(names.SURNAME_WEIGHTS))
_TOWN_CUM: Final = tuple(accumulate(t.weight for t in places.TOWNS))


class _Dates(dict[int, str]):
    """ISO strings of date ordinals, cached (birth dates repeat a lot): ``dates[ordinal]``."""

    def __missing__(self, ordinal: int) -> str:
        s = self[ordinal] = date.fromordinal(ordinal).isoformat()
        return s


_N = "\\N"  # COPY text NULL
_NULLS5 = "\t".join([_N] * 5)


class _Year:
    """Cut-off dates of one 住民税 年度, as ordinals, so per-person age tests are integer comparisons."""

    __slots__ = ("adult", "age_16", "aged_65", "dec31", "fiscal_year", "jan1", "limit", "years_back")

    def __init__(self, fiscal_year: int, years_back: int) -> None:
        jan1 = date(fiscal_year, 1, 1)  # 賦課期日 (地方税法第318条)
        dec31 = date(fiscal_year - 1, 12, 31)  # the income year's last day: age for 公的年金等控除
        self.fiscal_year = fiscal_year
        self.years_back = years_back
        self.jan1 = jan1.toordinal()
        self.dec31 = dec31.toordinal()
        self.aged_65 = birth_cutoff(65, dec31)
        self.adult = birth_cutoff(income.adult_age(fiscal_year), jan1)
        self.age_16 = birth_cutoff(16, jan1)  # younger people have no income row (年少扶養親族)
        self.limit = income.dependant_income_limit(fiscal_year)


_FOREIGN_PLACE_AGE: Final = AgeSampler(75, 104)
_MOVED_OUT_AGE: Final = AgeSampler(20, 95)
_CITY_PREFIX: Final = places.PREFECTURE_NAME + places.CITY_NAME
_CODE: Final = places.CITY_CODE
_GENERATION_STARTS: Final = tuple(date(max(y, 1), 1, 1).toordinal() for y in names.GENERATION_STARTS)


def generate_chunk(params: CityParams, k: int, *, files: bool = True) -> Chunk:
    """Chunk ``k`` of the city described by ``params`` (the same bytes whoever calls it)."""
    n = params.chunk_residents(k)
    if n <= 0:
        raise ValueError(f"chunk {k} is beyond the city's {params.residents} residents")
    rng = random.Random(f"kiban-synth/{params.seed}/chunk/{k}")
    gen = _ChunkWriter(params, k, files)
    done = 0
    household_index = 0
    type_total = _TYPE_CUM[-1]
    while done < n:
        htype, members = compose(rng, _TYPE_NAMES[bisect(_TYPE_CUM, rng.random() * type_total)])
        if len(members) > n - done:  # the chunk's last household is cut to fit exactly
            members = members[: n - done]
            htype = _retype(htype, members)
        gen.household(rng, household_index, done, htype, members)
        done += len(members)
        household_index += 1
    for i in range(int(n * NON_RESIDENT_SHARE + 0.5)):
        gen.non_resident(rng, n + i)
    return gen.finish()


def _retype(htype: str, members: list[Member]) -> str:
    """The type of a household cut short at the end of a chunk."""
    relationships = {m.relationship for m in members}
    elderly_head = members[0].age >= 65
    if len(members) == 1:
        members[0].single_parent = False
        return "single_elderly" if elderly_head else "single"
    if relationships <= {"世帯主", "妻", "夫"}:
        return "elderly_couple" if elderly_head else "couple"
    if htype == "three_generation" and relationships <= {"世帯主", "妻", "夫", "子"}:
        return "family"
    return htype


class _ChunkWriter:
    def __init__(self, params: CityParams, k: int, files: bool) -> None:
        self.params = params
        self.files = files
        self.chunk = Chunk(k)
        self.person_base = k * PERSON_STRIDE
        self.household_base = HOUSEHOLD_BASE + k * CHUNK_RESIDENTS
        self.as_of = params.as_of.toordinal()
        self.cut_65 = birth_cutoff(65, params.as_of)
        self.cut_75 = birth_cutoff(75, params.as_of)
        self.cut_15 = birth_cutoff(15, params.as_of)
        latest = params.fiscal_years[-1]
        self.years = [_Year(fy, latest - fy) for fy in params.fiscal_years]
        self.iso = _Dates()
        self.buildings: dict[int, places.Building] = {}
        self.rooms_used: dict[int, int] = {}
        self.households: list[str] = []
        self.residents: list[str] = []
        self.incomes: list[str] = []
        self.welfare: list[str] = []
        self.jumin: list[str] = []
        self.kazei: list[str] = []
        self.seiho: list[str] = []

    # -- households -------------------------------------------------------------------------------
    def household(self, rng: random.Random, j: int, first: int, htype: str, members: list[Member]) -> None:
        iso = self.iso
        counts = self.chunk.counts
        household_no = str(self.household_base + j)
        town_index = bisect(_TOWN_CUM, rng.random() * _TOWN_CUM[-1])
        town = places.TOWNS[town_index]
        katagaki = None
        if rng.random() < _APARTMENT_RATE[htype]:
            address, katagaki = self._room(rng, town_index)
        else:
            address = places.house_address(rng, town)
        family, family_kana = names.SURNAMES[bisect(_SURNAME_CUM, rng.random() * _SURNAME_CUM[-1])]
        head_age = members[0].age
        years_here = min(
            rng.expovariate(1 / (8.0 if htype in ("single", "couple") else 15.0)), max(head_age - 18.0, 0.0)
        )
        moved_in = self.as_of - int(years_here * DAYS_PER_YEAR)
        welfare: tuple[int, int | None] | None = None
        if rng.random() < _WELFARE_RATE.get(htype, 0.003):
            welfare = self._welfare_period(rng, moved_in)
        first_person = PERSON_BASE + self.person_base + first
        head_no = str(first_person)
        self.households.append(
            f"{household_no}\t{htype}\t{town.postal_code}\t{address}\t{katagaki or _N}\t{town.district_code}\t{head_no}\n"
        )
        counts.households += 1
        on_welfare = welfare is not None and welfare[1] is None
        if on_welfare:
            counts.seiho_households += 1
        people = []
        as_of = self.as_of
        files = self.files
        # The address part of the registry line is the same for every member.
        where = f"{town.postal_code},{_CITY_PREFIX}{address},{katagaki or ''},{town.district_code}"
        index = self.person_base + first  # global index for the 個人番号 bijection
        for i, m in enumerate(members):
            person_no = str(first_person + i)
            birth = min(as_of - int(m.age * DAYS_PER_YEAR), as_of)
            since = max(birth, moved_in)
            given, given_kana = self._given_name(rng, m.sex, birth)
            birth_iso = iso[birth]
            since_iso = iso[since]
            names_part = f"{family}\t{given}\t{family_kana}\t{given_kana}\t{m.sex}\t{birth_iso}"
            self.residents.append(
                f"{person_no}\t{household_no}\t{m.relationship}\t{names_part}\t住民\t{since_iso}\t{_NULLS5}\n"
            )
            if files:
                self.jumin.append(
                    f"{_CODE},{person_no},{mynumber(self.params, index + i)},{household_no},住民,{m.relationship},"
                    f"{names_part.replace(chr(9), ',')},{where},{since_iso},,\r\n"
                )
            if birth <= self.cut_65:
                counts.aged_65_plus += 1
                if birth <= self.cut_75:
                    counts.aged_75_plus += 1
            elif birth > self.cut_15:
                counts.under_15 += 1
            if welfare is not None:
                self._welfare_rows(person_no, household_no, birth, since, welfare, on_welfare)
            people.append((person_no, birth, since, m, earnings.draw(rng, m.sex, m.age, welfare=on_welfare)))
        counts.residents += len(members)
        for year in self.years:
            self._household_incomes(rng, year, people, welfare)

    def _room(self, rng: random.Random, town_index: int) -> tuple[str, str]:
        """Address and 方書 of the next free room in the town's current building (a new one when full)."""
        building = self.buildings.get(town_index)
        room = self.rooms_used.get(town_index, 0)
        if building is None or room >= building.rooms:
            building = self.buildings[town_index] = places.new_building(rng, places.TOWNS[town_index])
            room = 0
        self.rooms_used[town_index] = room + 1
        return building.address, building.room_label(room)

    def _given_name(self, rng: random.Random, sex: int, birth: int) -> tuple[str, str]:
        generation = bisect(_GENERATION_STARTS, birth) - 1
        table = (names.MALE_NAMES if sex == MALE else names.FEMALE_NAMES)[generation]
        return table[int(rng.random() * len(table))]

    # -- 生活保護 ---------------------------------------------------------------------------------
    def _welfare_period(self, rng: random.Random, moved_in: int) -> tuple[int, int | None]:
        """A 生活保護 period of a household that has lived here since ``moved_in`` (end None = ongoing)."""
        if rng.random() < _WELFARE_CLOSED_SHARE and moved_in < self.as_of - 120:
            end = max(self.as_of - int(rng.uniform(0.1, 3.0) * DAYS_PER_YEAR), moved_in + 60)
            return max(end - int(rng.uniform(0.5, 6.0) * DAYS_PER_YEAR), moved_in), end
        return max(self.as_of - int(rng.uniform(0.1, 12.0) * DAYS_PER_YEAR), moved_in), None

    def _welfare_rows(
        self,
        person_no: str,
        household_no: str,
        birth: int,
        since: int,
        period: tuple[int, int | None],
        active: bool,
    ) -> None:
        start, end = period
        start = max(start, since)  # a child born during the assistance is covered from birth
        if end is not None and end <= start:
            return
        iso = self.iso
        self.welfare.append(f"{person_no}\t{household_no}\t{iso[start]}\t{iso[end] if end else _N}\n")
        if self.files:
            # 代理納付 (生活保護法第37条の2): the office pays the 介護保険料 of a 第1号被保険者 (65+) itself.
            # The synthetic rule, without drawing from the random stream (so no other value moves): a
            # person 65 or over on the period's last day (the as-of date while it runs) has it.
            last = self.as_of if end is None else end
            aged_65 = birth <= (self.cut_65 if end is None else birth_cutoff(65, date.fromordinal(last)))
            self.seiho.append(
                f"{_CODE},{person_no},{household_no},{iso[start]},{iso[end] if end else ''},"
                f"{_WELFARE_OFFICE},{1 if aged_65 else 0}\r\n"
            )
        if active:
            self.chunk.counts.seiho_persons += 1

    # -- 住民税 -----------------------------------------------------------------------------------
    def _household_incomes(
        self,
        rng: random.Random,
        year: _Year,
        people: list[tuple[str, int, int, Member, earnings.Earnings]],
        welfare: tuple[int, int | None] | None,
    ) -> None:
        assisted = (
            welfare is not None
            and welfare[0] <= year.jan1
            and (welfare[1] is None or welfare[1] >= year.jan1)
        )
        rows = []
        totals = {}
        for person_no, birth, since, m, e in people:
            if birth > year.age_16 or since > year.jan1:
                continue
            salary, pension, other = earnings.for_income_year(rng, e, year.years_back)
            aged_65 = birth <= year.aged_65
            if pension and not aged_65 and not e.early_pension:
                pension = 0
            salary_amount, pension_amount, total = income.total_income(
                salary, pension, other, income_year=year.fiscal_year - 1, aged_65=aged_65
            )
            totals[person_no] = total
            rows.append((person_no, birth, m, salary, salary_amount, pension, pension_amount, other, total))
        if not rows:
            return
        # The highest earner claims the others as 同一生計配偶者 / 扶養親族 (simple rule: one claimant).
        claimant = max(rows, key=lambda r: r[8])[0]
        dependants = sum(
            1
            for person_no, birth, since, _m, _e in people
            if person_no != claimant
            and birth <= year.dec31
            and since <= year.jan1
            and totals.get(person_no, 0) <= year.limit
        )
        for person_no, birth, m, salary, salary_amount, pension, pension_amount, other, total in rows:
            self._income_row(
                year,
                person_no,
                birth,
                (salary, salary_amount, pension, pension_amount, other, total),
                dependants if person_no == claimant else 0,
                m.widow,
                m.single_parent,
                assisted,
            )

    def _income_row(
        self,
        year: _Year,
        person_no: str,
        birth: int,
        amounts: tuple[int, int, int, int, int, int],
        dependants: int,
        widow: bool = False,
        single_parent: bool = False,
        assisted: bool = False,
    ) -> None:
        salary, salary_amount, pension, pension_amount, other, total = amounts
        reason = income.nontaxable_reason(
            year.fiscal_year,
            total,
            dependants=dependants,
            minor=birth > year.adult,
            widow=widow,
            single_parent=single_parent,
            livelihood_assistance=assisted,
        )
        fy = year.fiscal_year
        # One f-string per line (no join/replace): this runs 1.5 times per resident.
        if reason is None:
            self.incomes.append(
                f"{person_no}\t{fy}\t{salary}\t{salary_amount}\t{pension}\t{pension_amount}\t{other}\t{total}\t"
                f"{dependants}\t課税\t{_N}\n"
            )
            if self.files:
                self.kazei.append(
                    f"{_CODE},{person_no},{fy},{salary},{salary_amount},{pension},{pension_amount},{other},{total},"
                    f"{dependants},課税,,0\r\n"
                )
        else:
            self.incomes.append(
                f"{person_no}\t{fy}\t{salary}\t{salary_amount}\t{pension}\t{pension_amount}\t{other}\t{total}\t"
                f"{dependants}\t非課税\t{reason}\n"
            )
            if self.files:
                self.kazei.append(
                    f"{_CODE},{person_no},{fy},{salary},{salary_amount},{pension},{pension_amount},{other},{total},"
                    f"{dependants},非課税,{reason},0\r\n"
                )

    # -- 住登外 -----------------------------------------------------------------------------------
    def non_resident(self, rng: random.Random, i: int) -> None:
        """A 住登外 person known to the city: a 住所地特例 facility resident or a former resident."""
        iso = self.iso
        person_no = str(PERSON_BASE + self.person_base + i)
        postal, place = rng.choice(places.OTHER_PLACES)
        address = (
            f"{place}{rng.randint(1, 30)}番{rng.randint(1, 20)}号"
            if place.endswith("丁目")
            else f"{place}{rng.randint(1, 2500)}番地"
        )
        if rng.random() < 0.6:
            reason = NONRESIDENT_REASONS[0]
            sex = FEMALE if rng.random() < 0.7 else MALE
            age = _FOREIGN_PLACE_AGE(rng)
            katagaki: str | None = rng.choice(places.FACILITIES)
            left = self.as_of - int(rng.uniform(0.1, 8.0) * DAYS_PER_YEAR)
        else:
            reason = NONRESIDENT_REASONS[1]
            sex = MALE if rng.random() < 0.55 else FEMALE
            age = _MOVED_OUT_AGE(rng)
            katagaki = None
            left = self.as_of - int(rng.uniform(0.05, 3.0) * DAYS_PER_YEAR)
        birth = self.as_of - int(age * DAYS_PER_YEAR)
        since = max(birth, left - int(rng.uniform(3.0, 50.0) * DAYS_PER_YEAR))
        family, family_kana = names.SURNAMES[bisect(_SURNAME_CUM, rng.random() * _SURNAME_CUM[-1])]
        given, given_kana = self._given_name(rng, sex, birth)
        self.residents.append(
            f"{person_no}\t{_N}\t{_N}\t{family}\t{given}\t{family_kana}\t{given_kana}\t{sex}\t{iso[birth]}\t"
            f"住登外\t{iso[since]}\t{iso[left]}\t{reason}\t{postal}\t{address}\t{katagaki or _N}\n"
        )
        if self.files:
            self.jumin.append(
                f"{_CODE},{person_no},{mynumber(self.params, self.person_base + i)},,住登外,,{family},{given},"
                f"{family_kana},{given_kana},{sex},{iso[birth]},{postal},{address},{katagaki or ''},,"
                f"{iso[since]},{iso[left]},{reason}\r\n"
            )
        self.chunk.counts.non_residents += 1
        if reason == NONRESIDENT_REASONS[1]:
            # A former resident was taxed here for the years whose 賦課期日 fell while living here.
            e = earnings.draw(rng, sex, age, welfare=False)
            for year in self.years:
                if birth > year.age_16 or not since <= year.jan1 <= left:
                    continue
                salary, pension, other = earnings.for_income_year(rng, e, year.years_back)
                aged_65 = birth <= year.aged_65
                if pension and not aged_65 and not e.early_pension:
                    pension = 0
                salary_amount, pension_amount, total = income.total_income(
                    salary, pension, other, income_year=year.fiscal_year - 1, aged_65=aged_65
                )
                self._income_row(
                    year, person_no, birth, (salary, salary_amount, pension, pension_amount, other, total), 0
                )

    def finish(self) -> Chunk:
        chunk = self.chunk
        chunk.counts.income_rows = len(self.incomes)
        chunk.copy = {
            "household": "".join(self.households).encode(),
            "resident": "".join(self.residents).encode(),
            "income": "".join(self.incomes).encode(),
            "welfare": "".join(self.welfare).encode(),
        }
        if self.files:
            chunk.files = {
                "jumin.csv": "".join(self.jumin).encode(),
                "kazei.csv": "".join(self.kazei).encode(),
                "seiho.csv": "".join(self.seiho).encode(),
            }
        return chunk
