"""Tests for kiban.shared.wareki (和暦)."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiban.shared.wareki import ERAS, EraYear, WarekiError, era_of, parse, to_era_code, to_wareki

SUPPORTED_DATES = st.dates(min_value=date(1873, 1, 1), max_value=date(2100, 12, 31))


@pytest.mark.parametrize(
    ("d", "text"),
    [
        (date(2025, 4, 1), "令和7年4月1日"),
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(1873, 1, 1), "明治6年1月1日"),
        (date(1912, 7, 29), "明治45年7月29日"),
        (date(1912, 7, 30), "大正元年7月30日"),
        (date(1926, 12, 24), "大正15年12月24日"),
        (date(1926, 12, 25), "昭和元年12月25日"),
        (date(1965, 1, 1), "昭和40年1月1日"),
        (date(2020, 1, 1), "令和2年1月1日"),
    ],
)
def test_to_wareki_and_back(d: date, text: str) -> None:
    assert to_wareki(d) == text
    assert parse(text) == d


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("令和7年4月1日", date(2025, 4, 1)),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("R7.4.1", date(2025, 4, 1)),
        ("R07.04.01", date(2025, 4, 1)),
        ("r7.4.1", date(2025, 4, 1)),
        ("Ｒ７．４．１", date(2025, 4, 1)),  # full-width via NFKC
        ("令和７年４月１日", date(2025, 4, 1)),
        ("S40.1.1", date(1965, 1, 1)),
        ("s40.1.1", date(1965, 1, 1)),
        ("H31/4/30", date(2019, 4, 30)),
        ("H31-4-30", date(2019, 4, 30)),
        ("T1.7.30", date(1912, 7, 30)),
        ("M6.1.1", date(1873, 1, 1)),
        ("R元.5.1", date(2019, 5, 1)),
        ("5070401", date(2025, 4, 1)),
        ("５０７０４０１", date(2025, 4, 1)),
        ("4310430", date(2019, 4, 30)),
        ("3640107", date(1989, 1, 7)),
        ("1060101", date(1873, 1, 1)),
        (" 令和7年 4月 1日 ", date(2025, 4, 1)),
    ],
)
def test_parse_accepted_forms(text: str, expected: date) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("令和0年4月1日", "令和0年は存在しません"),
        ("R0.4.1", "令和0年は存在しません"),
        ("5000401", "令和0年は存在しません"),
        ("平成32年1月1日", "平成32年は存在しません"),
        ("H32.1.1", "平成32年は存在しません"),
        ("大正16年1月1日", "大正16年は存在しません"),
        ("昭和64年1月8日", "昭和の期間外"),
        ("平成31年5月1日", "平成の期間外"),
        ("平成元年1月7日", "平成の期間外"),
        ("令和元年4月30日", "令和の期間外"),
        ("明治45年7月30日", "明治の期間外"),
        ("大正元年7月29日", "大正の期間外"),
        ("令和7年2月30日", "暦に存在しない日付"),
        ("令和7年13月1日", "暦に存在しない日付"),
        ("R7.2.29", "暦に存在しない日付"),  # 2025 is a common year
        ("5070229", "暦に存在しない日付"),
        ("明治5年12月2日", "太陽暦採用"),
        ("M1.10.23", "太陽暦採用"),
        ("大化1年1月1日", "不明な元号"),
        ("X7.4.1", "不明な元号"),
        ("6010101", "不明な元号"),
        ("0070401", "不明な元号"),
        ("garbage", "解釈できません"),
        ("", "解釈できません"),
        ("2025-04-01", "解釈できません"),
        ("令和7年4月1", "解釈できません"),
        ("R7.4/1", "解釈できません"),
        ("50704011", "解釈できません"),
        ("R١.٤.١", "解釈できません"),  # non-ASCII digits that survive NFKC
    ],
)
def test_parse_errors_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(WarekiError, match=fragment) as excinfo:
        parse(text)
    assert isinstance(excinfo.value, ValueError)
    # Bilingual: an English explanation follows the Japanese one.
    assert " / " in str(excinfo.value)


def test_parse_rejects_non_str() -> None:
    with pytest.raises(WarekiError):
        parse(20250401)  # type: ignore[arg-type]


def test_dates_before_solar_calendar_rejected() -> None:
    with pytest.raises(WarekiError, match="1873"):
        to_wareki(date(1872, 12, 31))
    with pytest.raises(WarekiError):
        era_of(date(1868, 10, 23))
    with pytest.raises(ValueError):
        to_era_code(date(1800, 1, 1))


def test_era_of() -> None:
    ey = era_of(date(2025, 4, 1))
    assert ey == EraYear(name="令和", letter="R", code=5, year=7)
    assert ey.year_label == "7"
    assert era_of(date(2019, 5, 1)).year_label == "元"
    assert era_of(date(1965, 1, 1)) == EraYear("昭和", "S", 3, 40)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ey.year = 8  # type: ignore[misc]


def test_to_era_code() -> None:
    assert to_era_code(date(2025, 4, 1)) == "5070401"
    assert to_era_code(date(2019, 5, 1)) == "5010501"
    assert to_era_code(date(2019, 4, 30)) == "4310430"
    assert to_era_code(date(1873, 1, 1)) == "1060101"
    with pytest.raises(WarekiError):
        to_era_code(date(2118, 1, 1))  # 令和100年 does not fit in two digits


def test_era_table_is_contiguous() -> None:
    codes = [era.code for era in ERAS]
    assert codes == [1, 2, 3, 4, 5]
    assert [era.letter for era in ERAS] == ["M", "T", "S", "H", "R"]
    for prev, nxt in itertools.pairwise(ERAS):
        assert prev.end is not None
        assert prev.end + timedelta(days=1) == nxt.start
    assert ERAS[-1].end is None


@pytest.mark.parametrize("era", ERAS[1:], ids=lambda e: e.name)
def test_era_boundary_days(era: object) -> None:
    from kiban.shared.wareki import Era

    assert isinstance(era, Era)
    first, before = era.start, era.start - timedelta(days=1)
    assert era_of(first).name == era.name
    assert era_of(first).year == 1
    assert to_wareki(first).startswith(f"{era.name}元年")
    assert era_of(before).name != era.name
    for d in (first, before):
        assert parse(to_wareki(d)) == d
        assert parse(to_era_code(d)) == d


@given(SUPPORTED_DATES)
def test_round_trip_kanji(d: date) -> None:
    assert parse(to_wareki(d)) == d


@given(SUPPORTED_DATES)
def test_round_trip_era_code(d: date) -> None:
    code = to_era_code(d)
    assert len(code) == 7 and code.isascii() and code.isdigit()
    assert parse(code) == d


@given(SUPPORTED_DATES, st.sampled_from([".", "/", "-"]), st.booleans())
def test_round_trip_letter_form(d: date, sep: str, zero_pad: bool) -> None:
    ey = era_of(d)
    fmt = "{:02d}" if zero_pad else "{}"
    text = ey.letter + sep.join(fmt.format(v) for v in (ey.year, d.month, d.day))
    assert parse(text) == d
    assert parse(text.lower()) == d
