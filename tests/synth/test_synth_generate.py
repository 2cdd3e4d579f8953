"""The generated city (in memory, 100,000 residents): determinism, realism, numbers and incomes."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from datetime import date

import pytest
from stdnum.jp import in_ as stdnum_mynumber
from synth_fixture import City

from kiban.shared.age import age_on
from kiban.shared.mynumber import is_valid
from kiban.synth import income
from kiban.synth.city import assessed_fiscal_years, birth_cutoff, city_params
from kiban.synth.generate import generate_chunk

AS_OF = date(2026, 4, 1)
N = "\\N"


def _age(iso: str, on: date = AS_OF) -> int:
    return age_on(date.fromisoformat(iso), on)


def _residents(city: City) -> list[list[str]]:
    return [r for r in city.copy["resident"] if r[9] == "住民"]


# -- determinism ------------------------------------------------------------------------------------


def test_same_seed_same_bytes_and_chunks_independent_of_city_size() -> None:
    small = city_params(5, 20_500, AS_OF)  # chunk 1 holds the last 500 residents
    large = city_params(5, 60_000, AS_OF)
    a = generate_chunk(small, 1)
    b = generate_chunk(small, 1)
    assert a.copy == b.copy and a.files == b.files
    assert a.counts.residents == 500
    c = generate_chunk(large, 0)
    d = generate_chunk(small, 0)
    assert c.copy == d.copy and c.files == d.files  # chunk k is the same whatever the city's size
    other = generate_chunk(city_params(6, 20_500, AS_OF), 1)
    assert other.copy["resident"] != a.copy["resident"]


def test_chunk_beyond_the_city_is_refused() -> None:
    with pytest.raises(ValueError):
        generate_chunk(city_params(5, 20_500, AS_OF), 2)


# -- population -------------------------------------------------------------------------------------


def test_age_pyramid_like_japan_today(city: City) -> None:
    # 総務省統計局 人口推計 2024-10-01: 65+ 29.3%, 75+ 16.8%, 0–14 11.2%.
    ages = [_age(r[8]) for r in _residents(city)]
    assert len(ages) == 100_000
    aged_65 = sum(1 for a in ages if a >= 65) / len(ages)
    aged_75 = sum(1 for a in ages if a >= 75) / len(ages)
    under_15 = sum(1 for a in ages if a < 15) / len(ages)
    assert aged_65 == pytest.approx(0.29, abs=0.015)
    assert aged_75 == pytest.approx(0.168, abs=0.02)
    assert under_15 == pytest.approx(0.112, abs=0.02)
    assert max(ages) <= 105
    assert city.counts.aged_65_plus == sum(1 for a in ages if a >= 65)
    assert city.counts.aged_75_plus == sum(1 for a in ages if a >= 75)
    assert city.counts.under_15 == sum(1 for a in ages if a < 15)


def test_birth_cutoff_follows_the_age_law() -> None:
    # Someone born on 1 April attains 65 on 31 March (年齢計算ニ関スル法律).
    cut = date.fromordinal(birth_cutoff(65, date(2026, 3, 31)))
    assert cut == date(1961, 4, 1)
    assert age_on(cut, date(2026, 3, 31)) == 65
    assert age_on(date(1961, 4, 2), date(2026, 3, 31)) == 64
    leap = date.fromordinal(birth_cutoff(18, date(2026, 2, 28)))
    assert age_on(leap, date(2026, 2, 28)) == 18


def test_sexes_and_names(city: City) -> None:
    rows = _residents(city)
    sexes = Counter(r[7] for r in rows)
    assert 0.46 < sexes["1"] / len(rows) < 0.52
    kana = re.compile(r"^[ァ-ヶー]+$")
    for r in rows[:5000]:
        assert kana.fullmatch(r[5]) and kana.fullmatch(r[6])
    assert len({r[3] for r in rows}) >= 150


# -- households -------------------------------------------------------------------------------------


def test_households_are_realistic(city: City) -> None:
    households = {h[0]: h for h in city.copy["household"]}
    members: dict[str, list[list[str]]] = defaultdict(list)
    for r in _residents(city):
        members[r[1]].append(r)
    assert set(members) == set(households)
    assert city.counts.households == len(households)
    for household_no, people in members.items():
        heads = [p for p in people if p[2] == "世帯主"]
        assert len(heads) == 1, household_no
        head = heads[0]
        assert households[household_no][6] == head[0]
        assert len({p[3] for p in people}) == 1  # one surname per household
        head_age = _age(head[8])
        by_rel: dict[str, list[int]] = defaultdict(list)
        for p in people:
            by_rel[p[2]].append(_age(p[8]))
        for spouse in by_rel["妻"] + by_rel["夫"]:
            assert abs(spouse - head_age) <= 15
        parent_ages = [head_age, *by_rel["妻"], *by_rel["夫"]]
        for child in by_rel["子"]:
            assert all(parent - child >= 15 for parent in parent_ages), household_no
        for elder in by_rel["父"] + by_rel["母"]:
            assert elder - head_age >= 18
        for grandchild in by_rel["孫"]:
            assert all(parent - grandchild >= 16 for parent in by_rel["子"] + by_rel["子の妻"])
        htype = households[household_no][1]
        if htype in ("family", "single_parent") and by_rel["子"]:
            mothers = [_age(p[8]) for p in people if p[2] in ("世帯主", "妻", "夫") and p[7] == "2"]
            for mother in mothers:  # children born when their mother was 20–42 (±1 for whole years)
                assert all(19 <= mother - child <= 43 for child in by_rel["子"]), household_no
        if htype in ("single", "single_elderly"):
            assert len(people) == 1
            assert (head_age >= 65) == (htype == "single_elderly") or abs(head_age - 65) <= 1
        if htype == "three_generation":
            assert by_rel["父"] or by_rel["母"] or by_rel["孫"]


def test_household_mix_and_addresses(city: City) -> None:
    households = city.copy["household"]
    types = Counter(h[1] for h in households)
    assert set(types) == {
        "single",
        "single_elderly",
        "couple",
        "elderly_couple",
        "family",
        "single_parent",
        "elderly_parent_child",
        "three_generation",
    }
    assert 1.9 < 100_000 / len(households) < 2.4  # persons per household
    with_katagaki = sum(1 for h in households if h[4] != N)
    assert 0.2 < with_katagaki / len(households) < 0.3  # about 25% in apartments
    for h in households[:5000]:
        assert re.fullmatch(r"[0-9]{3}-[0-9]{4}", h[2])
        assert re.search(r"(丁目[0-9]+番[0-9]+号|[0-9]+番地([0-9]+)?)$", h[3]), h[3]
    assert any(re.search(r" [0-9]{3,4}(号室)?$", h[4]) for h in households)


def test_numbers_are_unique_and_well_formed(city: City) -> None:
    people = city.copy["resident"]
    person_nos = [r[0] for r in people]
    assert len(set(person_nos)) == len(person_nos) == 101_000
    assert all(re.fullmatch(r"1[0-9]{9}", p) for p in person_nos)
    assert person_nos == sorted(person_nos)
    household_nos = [h[0] for h in city.copy["household"]]
    assert len(set(household_nos)) == len(household_nos)
    assert all(re.fullmatch(r"2[0-9]{9}", h) for h in household_nos)


def test_my_numbers_valid_and_unique(city: City) -> None:
    numbers = [r[2] for r in city.files["jumin.csv"]]
    assert len(numbers) == 101_000
    assert len(set(numbers)) == len(numbers)
    assert all(stdnum_mynumber.is_valid(n) for n in numbers)  # independent oracle (python-stdnum)
    assert all(is_valid(n) for n in numbers[:10_000])


def test_my_number_never_in_the_database_rows(city: City) -> None:
    twelve = re.compile(rb"(?<![0-9])[0-9]{12}(?![0-9])")
    for table, data in city.raw_copy.items():
        assert not twelve.search(data), table


def test_non_residents(city: City) -> None:
    others = [r for r in city.copy["resident"] if r[9] == "住登外"]
    assert len(others) == city.counts.non_residents == 1_000  # 1% beyond the 100,000 residents
    reasons = Counter(r[12] for r in others)
    assert set(reasons) == {"住所地特例（施設入所）", "転出（賦課・収納継続）"}
    for r in others:
        assert r[1] == N and r[2] == N
        assert r[13] != N and r[14] != N and r[11] != N
        assert r[10] <= r[11] <= AS_OF.isoformat()
        if r[12].startswith("住所地特例"):
            assert _age(r[8]) >= 74 and r[15] != N  # facility name in 方書


# -- incomes and welfare ----------------------------------------------------------------------------


def test_fiscal_years_assessed_by_as_of() -> None:
    assert assessed_fiscal_years(date(2026, 4, 1)) == (2024, 2025)
    assert assessed_fiscal_years(date(2026, 5, 31)) == (2024, 2025)
    assert assessed_fiscal_years(date(2026, 6, 1)) == (2025, 2026)
    assert assessed_fiscal_years(date(2027, 1, 15)) == (2025, 2026)


def test_income_rows_follow_the_rules(city: City) -> None:
    people = {r[0]: r for r in city.copy["resident"]}
    rows = city.copy["income"]
    assert len(rows) == city.counts.income_rows
    assert {r[1] for r in rows} == {"2024", "2025"}
    seen = set()
    for r in rows:
        person_no, fy = r[0], int(r[1])
        salary, salary_amount, pension, pension_amount, other, total, dependants = map(int, r[2:9])
        assert (person_no, fy) not in seen
        seen.add((person_no, fy))
        birth = date.fromisoformat(people[person_no][8])
        assert age_on(birth, date(fy, 1, 1)) >= 16  # 賦課期日
        assert total == salary_amount + pension_amount + other
        aged_65 = age_on(birth, date(fy - 1, 12, 31)) >= 65
        assert (salary_amount, pension_amount, total) == income.total_income(
            salary, pension, other, income_year=fy - 1, aged_65=aged_65
        )
        assert (r[9] == "課税") == (r[10] == N)
        if r[10] == "所得基準":
            assert total <= income.nontaxable_limit(fy, dependants)
        if r[9] == "課税":
            assert total > income.nontaxable_limit(fy, dependants)


def test_income_distributions_are_realistic(city: City) -> None:
    people = {r[0]: r for r in _residents(city)}
    latest = [r for r in city.copy["income"] if r[1] == "2025" and r[0] in people]
    elderly = [r for r in latest if _age(people[r[0]][8], date(2024, 12, 31)) >= 65]
    with_pension = [int(r[4]) for r in elderly if int(r[4]) > 0]
    assert len(with_pension) / len(elderly) > 0.9  # almost every 65+ has a public pension
    assert 700_000 <= statistics.median(with_pension) <= 2_000_000
    assert max(with_pension) <= 3_500_000
    working = [r for r in latest if 25 <= _age(people[r[0]][8], date(2024, 12, 31)) < 60]
    salaried = [int(r[2]) for r in working if int(r[2]) > 0]
    assert 0.7 < len(salaried) / len(working) < 0.9
    assert 2_000_000 <= statistics.median(salaried) <= 5_000_000
    statuses = Counter(r[9] for r in latest)
    assert 0.4 < statuses["課税"] / len(latest) < 0.75
    reasons = Counter(r[10] for r in latest)
    assert {"生活扶助", "所得基準", "寡婦", "ひとり親", "未成年者"} <= set(reasons)
    children = {
        p for p, r in people.items() if r[8] > "2009-01-02"
    }  # under 16 on 2025-01-01 (年齢計算ニ関スル法律)
    assert not any(r[0] in children for r in latest)


def test_welfare(city: City) -> None:
    households = {h[0]: h for h in city.copy["household"]}
    rows = city.copy["welfare"]
    active = {r[1] for r in rows if r[3] == N}
    assert 0.012 < len(active) / len(households) < 0.025  # about 1.5–2% of households
    assert city.counts.seiho_households == len(active)
    assert Counter(households[h][1] for h in active).most_common(1)[0][0] == "single_elderly"
    assert any(r[3] != N for r in rows)  # some periods have ended
    for r in rows:
        assert r[3] == N or r[2] < r[3] <= AS_OF.isoformat()
    # 生活扶助 on 1 January → 非課税 for that 年度.
    assisted = {
        (r[0], fy)
        for r in rows
        for fy in (2024, 2025)
        if r[2] <= f"{fy}-01-01" and (r[3] == N or r[3] >= f"{fy}-01-01")
    }
    for r in city.copy["income"]:
        if (r[0], int(r[1])) in assisted:
            assert r[10] == "生活扶助"


def test_text_is_safe_for_copy_and_csv(city: City) -> None:
    for table, data in city.raw_copy.items():
        assert b"\\" not in data.replace(b"\\N", b""), table  # no escapes needed in COPY text
    for name, data in city.raw_files.items():
        assert b'"' not in data, name
        text = data.decode()
        assert "\n" not in text.replace("\r\n", ""), name
    widths = {"jumin.csv": 19, "kazei.csv": 13, "seiho.csv": 7}
    for name, rows in city.files.items():
        assert all(len(r) == widths[name] for r in rows), name


def test_seiho_office_and_proxy_payment(city: City) -> None:
    people = {r[0]: r for r in _residents(city)}
    rows = city.files["seiho.csv"]
    assert {r[5] for r in rows} == {"基盤市福祉事務所"}
    for r in rows[:2000]:
        last = date.fromisoformat(r[4]) if r[4] else AS_OF
        aged_65 = _age(people[r[1]][8], last) >= 65
        assert r[6] == ("1" if aged_65 else "0"), r  # 代理納付: 第1号被保険者 only
    assert {"0", "1"} <= {r[6] for r in rows}
    # 長期譲渡所得等特別控除額: the synthetic city has no 譲渡所得.
    assert {r[12] for r in city.files["kazei.csv"]} == {"0"}
