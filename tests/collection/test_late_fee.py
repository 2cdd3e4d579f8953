"""延滞金: the rules file and the computation, every expected figure written out (no database).

Formula (地方税法第326条・第369条, 附則第3条の2 as the 条例 copy them; 税研「延滞金」
https://www.zeiken.co.jp/yougo/…/延滞金.html):
    延滞金 = Σ 基礎額 × 年割合 × 日数 ÷ 365   per piece (1月以内 / 以後, per calendar year)
    365 even in a leap year — 昭和45年法律第13号第25条 https://jplaws.app/d/345AC0000000013-m.html
    基礎額: 1,000円未満切捨て, 2,000円未満は0 — 地方税法第20条の4の2第2項
    確定金額: 100円未満切捨て, 1,000円未満は0 — 同条第5項
            https://www.zeiken.co.jp/hourei/HHCHI000000/20-4-2.html
Rates (年 %, 1月以内 / 以後): 2021 2.5/8.8, 2022–2025 2.4/8.7, 2026 2.8/9.1 —
    袋井市 https://www.city.fukuroi.shizuoka.jp/soshiki/nouzei/3/nozei/9403.html,
    米沢市 http://www.city.yonezawa.yamagata.jp/soshiki/1/1004/2/10389.html
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from kiban.collection.late_fee import (
    LateFeeError,
    UnknownInsurer,
    YearNotVerified,
    compute_late_fee,
    reduced_period_end,
)
from kiban.rules.late_fee import LateFeeRulesError, load_rules, parse_rules

D = date.fromisoformat


def pieces(result) -> list[tuple[str, str, int, str, int]]:
    return [(s.start.isoformat(), s.end.isoformat(), s.days, str(s.rate), s.base) for s in result.segments]


# ------------------------------------------------------------------ the rules file


def test_every_verified_rate_of_the_file() -> None:
    rules = load_rules()
    table = {y: (str(r.within), str(r.after)) for y, r in rules.rates.items()}
    # 台東区・江東区・三重県・厚木市 (2014–2024), 袋井市・米沢市・世田谷区 (2021–2026),
    # 安曇野市・富里市 (2000–2013: 特例基準割合 = 公定歩合 + 4%, 14.6% 据置き)
    assert table[2014] == ("2.9", "9.2")
    assert table[2015] == table[2016] == ("2.8", "9.1")
    assert table[2017] == ("2.7", "9.0")
    assert table[2018] == table[2019] == table[2020] == ("2.6", "8.9")
    assert table[2021] == ("2.5", "8.8")
    assert table[2022] == table[2023] == table[2024] == table[2025] == ("2.4", "8.7")
    assert table[2026] == ("2.8", "9.1")  # 平均貸付割合 0.8% + 1% = 1.8% → 2.8 / 9.1 (米沢市)
    assert table[2010] == ("4.3", "14.6") and table[2008] == ("4.7", "14.6")
    assert min(rules.rates) == 2000 and max(rules.rates) == 2026
    # 延滞金特例基準割合 = 平均貸付割合 + 1% (not + 0.5%): 2025 平均貸付割合 0.4% (令和6年11月29日告示)
    assert rules.rates[2025].basis == Decimal("1.4")
    assert rules.days_per_year == 365


def test_profiles() -> None:
    rules = load_rules()
    std, shinjuku = rules.insurer("standard"), rules.insurer("shinjuku")
    settings = ("reduced_months", "principal_unit", "principal_minimum", "fee_unit", "fee_minimum")
    assert tuple(getattr(std, f) for f in settings) == (1, 1000, 2000, 100, 1000)
    # 新宿区: 「納期限の翌日から3か月を経過する日まで」 https://www.city.shinjuku.lg.jp/fukushi/kaigo02_002040.html
    assert tuple(getattr(shinjuku, f) for f in settings) == (3, 1000, 2000, 100, 1000)
    assert (shinjuku.first_year, shinjuku.last_year) == (2022, 2024)
    for profile in (std, shinjuku):
        assert all(k in rules.sources for k in profile.sources)


def _shipped() -> str:
    from importlib import resources

    return resources.files("kiban.rules.late_fee").joinpath("standard.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (
            '2024 = { within = "2.4", after = "8.7"',
            '2024 = { within = "2.5", after = "8.7"',
            "rates.2024.within",
        ),
        (
            '2026 = { within = "2.8", after = "9.1"',
            '2026 = { within = "2.8", after = "9.2"',
            "rates.2026.after",
        ),
        ('2024 = { within = "2.4"', "2024 = { within = 2.4", "rates.2024.within"),
        ('"yonezawa", "setagaya-kaigo"] }', '"nowhere"] }', "rates.2026.sources"),
        ("days_per_year = 365", "days_per_year = 366", "days_per_year"),
        ("fee_unit = 100              #", 'fee_unit = "100"              #', "insurers.standard.fee_unit"),
        (
            'segment_rounding = "none"   # 法',
            'segment_rounding = "half"   # 法',
            "insurers.standard.segment_rounding",
        ),
        ("years = [2000, 2026]", "years = [2000, 2027]", "insurers.standard.years"),
    ],
)
def test_a_broken_file_is_refused_naming_file_and_field(old: str, new: str, field: str) -> None:
    text = _shipped()
    assert old in text
    with pytest.raises(LateFeeRulesError) as err:
        parse_rules(text.replace(old, new, 1), "standard.toml")
    assert str(err.value).startswith(f"standard.toml: {field}:")


# ------------------------------------------------------------------ the one-month boundary


@pytest.mark.parametrize(
    ("due", "months", "end"),
    [
        ("2024-05-31", 1, "2024-06-30"),  # 豊橋市の例: 6月1日〜6月30日
        ("2024-01-31", 1, "2024-02-29"),  # 富里市の例: 2月1日〜 (うるう年の2月末日)
        ("2026-02-02", 1, "2026-03-02"),  # 中央市の例: 2月3日〜3月2日
        ("2025-09-01", 1, "2025-10-01"),  # 福岡市の例: 9月2日〜10月1日
        (
            "2025-01-30",
            1,
            "2025-02-28",
        ),  # 起算日1月31日: 2月に応当日なし → 2月末日 (民法第143条第2項ただし書)
        ("2024-12-30", 1, "2025-01-30"),
        ("2024-06-30", 3, "2024-09-30"),  # 新宿区: 3か月
    ],
)
def test_reduced_period_end(due: str, months: int, end: str) -> None:
    assert reduced_period_end(D(due), months) == D(end)


# ------------------------------------------------------------------ computations


def test_paid_within_the_first_month_is_under_the_minimum() -> None:
    r = compute_late_fee(50_000, D("2024-07-31"), D("2024-08-20"))
    # 8/1–8/20 = 20日 at 2.4% (2024): 50,000 × 0.024 × 20 / 365 = 24,000 / 365 = 65.753424…円
    # → 1,000円未満 → 0 (地方税法第20条の4の2第5項)
    assert pieces(r) == [("2024-08-01", "2024-08-20", 20, "2.4", 50_000)]
    assert r.segments[0].exact_amount == Fraction(24_000, 365)
    assert r.exact == Decimal("65.753424")
    assert r.late_fee == 0
    assert any("1,000円未満のため延滞金はかかりません" in n for n in r.notes)


def test_crossing_the_one_month_boundary() -> None:
    r = compute_late_fee(1_000_000, D("2024-05-31"), D("2024-09-30"))
    # 6/1–6/30 30日 × 2.4%: 1,000,000 × 0.024 × 30 / 365 =   720,000 / 365 =  1,972.602739…
    # 7/1–9/30 92日 × 8.7%: 1,000,000 × 0.087 × 92 / 365 = 8,004,000 / 365 = 21,928.767123…
    # 計 8,724,000 / 365 = 23,901.369863… → 100円未満切捨て 23,900円
    assert pieces(r) == [
        ("2024-06-01", "2024-06-30", 30, "2.4", 1_000_000),
        ("2024-07-01", "2024-09-30", 92, "8.7", 1_000_000),
    ]
    assert [s.period for s in r.segments] == ["within", "after"]
    assert r.exact == Decimal("23901.369863")
    assert r.late_fee == 23_900


def test_crossing_a_year_boundary_2024_2025() -> None:
    r = compute_late_fee(300_000, D("2024-11-30"), D("2025-03-31"))
    # 2024-12-01–12-31 31日 × 2.4% (2024): 300,000 × 0.024 × 31 / 365 =   223,200 / 365 =   611.506849…
    # 2025-01-01–03-31 90日 × 8.7% (2025): 300,000 × 0.087 × 90 / 365 = 2,349,000 / 365 = 6,435.616438…
    # 計 2,572,200 / 365 = 7,047.123287… → 7,000円
    assert pieces(r) == [
        ("2024-12-01", "2024-12-31", 31, "2.4", 300_000),
        ("2025-01-01", "2025-03-31", 90, "8.7", 300_000),
    ]
    assert r.exact == Decimal("7047.123287") and r.late_fee == 7_000


def test_crossing_a_year_boundary_where_the_rate_changes_2025_2026() -> None:
    r = compute_late_fee(300_000, D("2025-11-30"), D("2026-03-31"))
    # 2025-12 31日 × 2.4% (2025):          223,200 / 365 =   611.506849…
    # 2026-01-01–03-31 90日 × 9.1% (2026): 300,000 × 0.091 × 90 / 365 = 2,457,000 / 365 = 6,731.506849…
    # 計 2,680,200 / 365 = 7,343.013698… → 7,300円
    assert pieces(r) == [
        ("2025-12-01", "2025-12-31", 31, "2.4", 300_000),
        ("2026-01-01", "2026-03-31", 90, "9.1", 300_000),
    ]
    assert r.exact == Decimal("7343.013698") and r.late_fee == 7_300


def test_a_year_split_even_inside_the_first_month() -> None:
    r = compute_late_fee(500_000, D("2025-12-15"), D("2026-01-10"))
    # 12/16–12/31 16日 × 2.4% (2025): 500,000 × 0.024 × 16 / 365 = 192,000 / 365 = 526.027397…
    # 1/1–1/10   10日 × 2.8% (2026): 500,000 × 0.028 × 10 / 365 = 140,000 / 365 = 383.561643…
    # 計 332,000 / 365 = 909.589041… → 1,000円未満 → 0
    assert pieces(r) == [
        ("2025-12-16", "2025-12-31", 16, "2.4", 500_000),
        ("2026-01-01", "2026-01-10", 10, "2.8", 500_000),
    ]
    assert r.exact == Decimal("909.589041") and r.late_fee == 0


def test_principal_truncated_to_1000_yen() -> None:
    r = compute_late_fee(123_456, D("2024-05-31"), D("2024-12-31"))
    # 基礎 123,000円 (123,456 の1,000円未満切捨て)
    # 6/1–6/30 30日 × 2.4%: 123,000 × 0.024 × 30 / 365 =    88,560 / 365 =   242.630136…
    # 7/1–12/31 184日 × 8.7%: 123,000 × 0.087 × 184 / 365 = 1,968,984 / 365 = 5,394.476712…
    # 計 2,057,544 / 365 = 5,637.106849… → 5,600円
    assert [s.base for s in r.segments] == [123_000, 123_000]
    assert r.exact == Decimal("5637.106849") and r.late_fee == 5_600
    assert any("123,000円 で計算" in n for n in r.notes)


def test_principal_under_2000_yen_has_no_fee() -> None:
    # 地方税法第20条の4の2第2項「その税額の全額が2,000円未満であるときは…全額を切り捨てる」
    r = compute_late_fee(1_999, D("2020-01-31"), D("2024-12-31"))
    assert r.late_fee == 0 and r.segments == () and r.exact == 0
    assert any("2,000円未満のため延滞金はかかりません" in n for n in r.notes)
    # 2,999 → base 2,000: 6/1/2024 – 5/31/2025 …
    r = compute_late_fee(2_999, D("2024-05-31"), D("2025-05-31"))
    assert {s.base for s in r.segments} == {2_000}


def test_fee_minimum_and_unit_at_the_edges() -> None:
    # 1,000,000円, 7/1–7/?? at 8.7%: find the first day the fee reaches 1,000円.
    # 6/1–6/30 at 2.4% alone: 1,972.60… → 1,900円 (≥ 1,000: collected, 100円未満切捨て)
    r = compute_late_fee(1_000_000, D("2024-05-31"), D("2024-06-30"))
    assert r.late_fee == 1_900
    # 100,000円, 2.4%: 152日分でも 1月以内は30日だけ; 100,000 × 0.024 × 30 / 365 = 197.26…
    # + 7/1–8/12 43日 × 8.7% = 100,000 × 0.087 × 43 / 365 = 374,100 / 365 = 1,024.93… → 計 1,222.19… → 1,200円
    r = compute_late_fee(100_000, D("2024-05-31"), D("2024-08-12"))
    assert r.exact == Decimal("1222.191780") and r.late_fee == 1_200
    # one day less: 7/1–8/11 42日: 365,400 / 365 = 1,001.09…; 計 437,400 / 365 = 1,198.35… → 1,100円
    r = compute_late_fee(100_000, D("2024-05-31"), D("2024-08-11"))
    assert r.late_fee == 1_100


def test_leap_year_2024_is_still_365_published_tomisato() -> None:
    # 富里市の計算例 https://www.city.tomisato.lg.jp/0000000057.html
    # 「令和6年1月31日が納期限の市民税・県民税117,300円を、令和6年8月31日に納付した場合 …
    #  延滞金額:223円+5,131円=5,354円、100円未満切り捨て→延滞金額は5,300円」
    # 2/1–2/29 29日 (2月29日を含む) × 2.4%: 117,000 × 0.024 × 29 / 365 =    81,432 / 365 =   223.10…
    # 3/1–8/31 184日 × 8.7%:                 117,000 × 0.087 × 184 / 365 = 1,872,936 / 365 = 5,131.33…
    r = compute_late_fee(117_300, D("2024-01-31"), D("2024-08-31"))
    assert pieces(r) == [
        ("2024-02-01", "2024-02-29", 29, "2.4", 117_000),
        ("2024-03-01", "2024-08-31", 184, "8.7", 117_000),
    ]
    assert [int(s.amount) for s in r.segments] == [223, 5_131]
    assert r.subtotal == 5_354 and r.late_fee == 5_300
    assert any("365日" in n for n in r.notes)
    # the same days over 366 would give 81,432 / 366 = 222.49…: the divisor is 365
    assert r.segments[0].exact_amount == Fraction(81_432, 365)


def test_published_example_chuo_2026_rates() -> None:
    # 中央市「市税の延滞金計算について」https://www.city.chuo.yamanashi.jp/soshiki/zeimu/shuunou/10746.html
    # 「納めるべき税額が56,400円、納期限が令和8年2月2日のとき、令和8年5月29日に全額納付した場合 …
    #  56,000円 × 2.8% × 28日 / 365日 = 120円 / 56,000円 × 9.1% × 88日 / 365日 = 1,228円
    #  120円 + 1,228円 = 1,348円 ⇒ 1,300円（100円未満切捨）」
    r = compute_late_fee(56_400, D("2026-02-02"), D("2026-05-29"))
    assert pieces(r) == [
        ("2026-02-03", "2026-03-02", 28, "2.8", 56_000),
        ("2026-03-03", "2026-05-29", 88, "9.1", 56_000),
    ]
    assert [int(s.amount) for s in r.segments] == [120, 1_228]
    assert r.subtotal == 1_348 and r.late_fee == 1_300


def test_published_example_toyohashi_across_2021_2022() -> None:
    # 豊橋市 延滞金の計算方法 (例) https://www.city.toyohashi.lg.jp/dd.aspx?menuid=10874
    # (stored copy: https://www-city-toyohashi-lg-jp.cache.yimg.jp/dd.aspx?menuid=10874)
    # 「令和3年度固定資産税・都市計画税 第1期 65,000円 を令和4年1月31日に納付 … 納期限が令和3年5月31日
    #  (a)(65,000円×0.025×30日)/365日 + (b)(65,000円×0.088×184日)/365日 + (c)(65,000円×0.087×31日)/365日
    #  = 133円 + 2,883円 + 480 = (d)3,496円 ≒ 3,400円」 (the city truncates each piece to 1円)
    r = compute_late_fee(65_000, D("2021-05-31"), D("2022-01-31"))
    assert pieces(r) == [
        ("2021-06-01", "2021-06-30", 30, "2.5", 65_000),
        ("2021-07-01", "2021-12-31", 184, "8.8", 65_000),
        ("2022-01-01", "2022-01-31", 31, "8.7", 65_000),
    ]
    assert [int(s.amount) for s in r.segments] == [133, 2_883, 480]
    assert r.late_fee == 3_400
    # with the city's per-piece truncation (segment_rounding = "yen") the subtotal is its 3,496円
    text = _shipped().replace('segment_rounding = "none"   # 法', 'segment_rounding = "yen"   # 法', 1)
    city = compute_late_fee(65_000, D("2021-05-31"), D("2022-01-31"), rules=parse_rules(text))
    assert city.subtotal == 3_496 and city.late_fee == 3_400
    assert r.subtotal == 3_497  # the exact sum 3,497.356… (standard: no per-piece truncation)


def test_partial_payment_lowers_the_base_from_the_next_day() -> None:
    # 一部納付: 「その納付の日の翌日以後の期間に係る…計算の基礎となる税額は、その納付された税額を控除した金額」
    # (国税通則法第62条第1項 as the model, https://www.zeiken.co.jp/hourei/HHTUS000000/62.html)
    # 200,000円, 納期限 5/31, 6/30 に 150,500円 納付 → 7/1 から残額 49,500 → 基礎 49,000円, 9/30 完納
    # 6/1–6/30 30日 × 2.4%: 200,000 × 0.024 × 30 / 365 = 144,000 / 365 =   394.520547…
    # 7/1–9/30 92日 × 8.7%:  49,000 × 0.087 × 92 / 365 = 392,196 / 365 = 1,074.509589…
    # 計 536,196 / 365 = 1,469.030136… → 1,400円   (without the payment: 4,780.27… → 4,700円)
    r = compute_late_fee(200_000, D("2024-05-31"), D("2024-09-30"), payments=[(D("2024-06-30"), 150_500)])
    assert pieces(r) == [
        ("2024-06-01", "2024-06-30", 30, "2.4", 200_000),
        ("2024-07-01", "2024-09-30", 92, "8.7", 49_000),
    ]
    assert r.exact == Decimal("1469.030136") and r.late_fee == 1_400
    assert compute_late_fee(200_000, D("2024-05-31"), D("2024-09-30")).late_fee == 4_700
    assert any("49,500円" in n for n in r.notes)


def test_partial_payment_inside_a_period_splits_it() -> None:
    # 6/15 に 100,000円: 6/1–6/15 は 200,000円, 6/16–6/30 は 100,000円 (same rate, new base)
    r = compute_late_fee(200_000, D("2024-05-31"), D("2024-07-10"), payments=[(D("2024-06-15"), 100_000)])
    assert pieces(r) == [
        ("2024-06-01", "2024-06-15", 15, "2.4", 200_000),
        ("2024-06-16", "2024-06-30", 15, "2.4", 100_000),
        ("2024-07-01", "2024-07-10", 10, "8.7", 100_000),
    ]
    # 200,000×0.024×15 = 72,000; 100,000×0.024×15 = 36,000; 100,000×0.087×10 = 87,000 → 195,000 / 365 = 534.24… → 0
    assert r.exact == Decimal("534.246575") and r.late_fee == 0


def test_a_payment_that_leaves_the_base_unchanged_keeps_one_piece() -> None:
    # 123,456 − 400 = 123,056 → still 123,000: no new piece
    r = compute_late_fee(123_456, D("2024-05-31"), D("2024-06-30"), payments=[(D("2024-06-10"), 400)])
    assert pieces(r) == [("2024-06-01", "2024-06-30", 30, "2.4", 123_000)]


def test_a_remainder_under_2000_stops_the_fee() -> None:
    r = compute_late_fee(100_000, D("2024-05-31"), D("2024-12-31"), payments=[(D("2024-06-30"), 98_500)])
    # from 7/1 the remaining 1,500円 < 2,000円 → no base; only June: 100,000 × 0.024 × 30 / 365 = 197.26… → 0
    assert pieces(r) == [("2024-06-01", "2024-06-30", 30, "2.4", 100_000)] and r.late_fee == 0


def test_shinjuku_three_months_at_the_lower_rate() -> None:
    # 新宿区: 「保険料額×（納期限の翌日から3か月を経過する日までの日数）× A/365 + … × B/365」
    # 100,000円, 納期限 6/30/2024, 完納 12/31/2024
    # 7/1–9/30 92日 × 2.4%: 100,000 × 0.024 × 92 / 365 = 220,800 / 365 =   604.931506…
    # 10/1–12/31 92日 × 8.7%: 100,000 × 0.087 × 92 / 365 = 800,400 / 365 = 2,192.876712…
    # 計 1,021,200 / 365 = 2,797.808219… → 2,700円
    r = compute_late_fee(100_000, D("2024-06-30"), D("2024-12-31"), insurer="shinjuku")
    assert pieces(r) == [
        ("2024-07-01", "2024-09-30", 92, "2.4", 100_000),
        ("2024-10-01", "2024-12-31", 92, "8.7", 100_000),
    ]
    assert r.late_fee == 2_700
    # the standard (1月): 7/1–7/31 31日 × 2.4% = 74,400; 8/1–12/31 153日 × 8.7% = 1,331,100
    # 計 1,405,500 / 365 = 3,850.68… → 3,800円
    assert compute_late_fee(100_000, D("2024-06-30"), D("2024-12-31")).late_fee == 3_800


def test_paid_on_the_due_date() -> None:
    r = compute_late_fee(100_000, D("2024-05-31"), D("2024-05-31"))
    assert r.late_fee == 0 and r.segments == () and any("納期限までに納付" in n for n in r.notes)


def test_zero_principal() -> None:
    assert compute_late_fee(0, D("2024-05-31"), D("2024-12-31")).late_fee == 0


# ------------------------------------------------------------------ refusals


def test_refusals_have_japanese_messages() -> None:
    with pytest.raises(LateFeeError, match=r"納付日.*納期限.*より前"):
        compute_late_fee(10_000, D("2024-05-31"), D("2024-05-30"))
    with pytest.raises(LateFeeError, match="負の値"):
        compute_late_fee(-1, D("2024-05-31"), D("2024-06-30"))
    with pytest.raises(LateFeeError, match="整数"):
        compute_late_fee(1000.0, D("2024-05-31"), D("2024-06-30"))  # type: ignore[arg-type]
    with pytest.raises(YearNotVerified, match="2027年の延滞金の割合は確認できていない"):
        compute_late_fee(100_000, D("2026-11-30"), D("2027-01-05"))
    with pytest.raises(YearNotVerified, match="1999年"):
        compute_late_fee(100_000, D("1999-11-30"), D("2000-01-05"))
    with pytest.raises(YearNotVerified, match="新宿区の収録: 2022年〜2024年"):
        compute_late_fee(100_000, D("2024-11-30"), D("2025-01-05"), insurer="shinjuku")
    with pytest.raises(UnknownInsurer, match="nagoya"):
        compute_late_fee(100_000, D("2024-05-31"), D("2024-06-30"), insurer="nagoya")
    with pytest.raises(LateFeeError, match=r"完納の日.*より後"):
        compute_late_fee(100_000, D("2024-05-31"), D("2024-06-30"), payments=[(D("2024-07-01"), 1_000)])
    with pytest.raises(LateFeeError, match="1円以上"):
        compute_late_fee(100_000, D("2024-05-31"), D("2024-06-30"), payments=[(D("2024-06-10"), 0)])
    with pytest.raises(LateFeeError, match="超えています"):
        compute_late_fee(100_000, D("2024-05-31"), D("2024-06-30"), payments=[(D("2024-06-10"), 100_001)])
