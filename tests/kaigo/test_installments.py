"""介護保険料の月割・特別徴収・普通徴収・更正 (pure rules, no database).

Rules (see kiban.kaigo.assessment.installments):
  月割     介護保険条例参考例第4条 (取得の月から、喪失の月の前月まで); 賦課期日 4月1日 (介護保険法第130条);
           喪失日 = 死亡の翌日 / 住所を有しなくなった日の翌日 (法第11条)
  特別徴収 法第134条・施行令第41条 (年額18万円以上), 仮徴収 法第140条, 本徴収 法第135条, 年金支給日 偶数月15日
           (国民年金法第18条第3項)
  普通徴収 法第131条・第133条 (納期は条例), 納期限が休日 → 翌日 (地方自治法第4条の2第4項)
The "standard" calendar is kiban's default (10期 7月〜翌年4月 月末, 100円未満は第1期), not a city's.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from fractions import Fraction
from importlib import resources

import pytest

from kiban.kaigo.assessment.installments import (
    Installment,
    InstallmentError,
    Schedule,
    choose_method,
    insured_month_count,
    insured_months,
    loss_date_after_death,
    ordinary_schedule,
    prorate,
    revise_schedule,
    segment_amount,
    special_schedule,
    switch_to_ordinary,
)
from kiban.rules.kaigo_collection import (
    NATIONAL_HOLIDAYS,
    CalendarYearNotCovered,
    CollectionCalendar,
    CollectionCalendarError,
    UnknownCalendar,
    calendar_keys,
    load_calendar,
    parse_calendar,
)
from kiban.shared.age import attainment_date
from kiban.shared.money import Rounding

FY = 2024
CAL = load_calendar("standard")
STANDARD_TEXT = resources.files("kiban.rules.kaigo_collection").joinpath("standard.toml").read_text("utf-8")
LONG_AGO = date(2010, 1, 1)
AMOUNTS = range(0, 300_000, 997)


def amounts(schedule: Schedule) -> list[int]:
    return [i.amount for i in schedule.installments]


def with_text(old: str, new: str, *, count: int = 1) -> str:
    assert old in STANDARD_TEXT, old
    return STANDARD_TEXT.replace(old, new, count)


# ------------------------------------------------------------------------------------------------
# 月割 (介護保険条例参考例第4条: 取得の月から、喪失の月の前月まで)


def test_acquisition_in_october_counts_october_to_march() -> None:
    # 取得 2024-10-05 → 10月〜3月 = 6か月; 74,700円 × 6/12 = 37,350円.
    months = insured_months(FY, [(date(2024, 10, 5), None)])
    assert months == (False,) * 6 + (True,) * 6
    assert prorate(74_700, 6, Rounding.TRUNCATE) == 37_350


def test_death_in_july_pays_april_to_june() -> None:
    # 法第11条: 死亡の翌日に喪失. 死亡 7月10日 → 喪失 7月11日 → 喪失の月(7月)の前月まで: 4・5・6月 = 3か月.
    loss = loss_date_after_death(date(2024, 7, 10))
    assert loss == date(2024, 7, 11)
    assert insured_month_count(FY, [(LONG_AGO, loss)]) == 3
    assert prorate(74_700, 3, Rounding.TRUNCATE) == 18_675  # 74,700 × 3/12


def test_death_on_last_day_of_month_loses_next_month() -> None:
    # 死亡 7月31日 → 喪失 8月1日 → 4〜7月 = 4か月 (the day-after rule moves the loss into August).
    assert insured_month_count(FY, [(LONG_AGO, loss_date_after_death(date(2024, 7, 31)))]) == 4


def test_moving_out_in_march_pays_april_to_february() -> None:
    # 転出: 喪失日 2025-03-10 (年度2024の3月) → 4月〜2月 = 11か月; 74,700 × 11/12 = 68,475円.
    assert insured_month_count(FY, [(LONG_AGO, date(2025, 3, 10))]) == 11
    assert prorate(74_700, 11, Rounding.TRUNCATE) == 68_475


def test_acquired_and_lost_in_same_month_counts_nothing() -> None:
    # 取得 10月5日・喪失 10月25日: 取得の月 (10月) ≤ 月 < 喪失の月 (10月) に当たる月はない → 0か月, 0円.
    assert insured_month_count(FY, [(date(2024, 10, 5), date(2024, 10, 25))]) == 0
    assert prorate(74_700, 0, Rounding.TRUNCATE) == 0


def test_out_and_back_in_same_month_counts_the_month_once() -> None:
    # 10月10日 転出 (喪失), 10月20日 転入 (取得): 10月は2つ目の期間で1回だけ数える → 12か月.
    periods = [(LONG_AGO, date(2024, 10, 10)), (date(2024, 10, 20), None)]
    months = insured_months(FY, periods)
    assert months[6] is True  # October = index 6 (April = 0)
    assert sum(months) == 12


def test_65th_birthday_on_1_april_is_a_full_year() -> None:
    # 年齢計算ニ関スル法律・民法第143条: 4月1日生まれは前日の3月31日に65歳に達し (法第10条) 取得.
    # → 年度2025は12か月すべて (賦課期日 4月1日に資格あり, 法第130条); 年度2024は3月の1か月.
    acquired = attainment_date(date(1960, 4, 1), 65)
    assert acquired == date(2025, 3, 31)
    assert insured_month_count(2025, [(acquired, None)]) == 12
    assert insured_month_count(2024, [(acquired, None)]) == 1


def test_period_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(InstallmentError, match="喪失日"):
        insured_months(FY, [(date(2024, 10, 5), date(2024, 10, 5))])


def test_prorate_rounding_rules() -> None:
    # 1,000 × 1/12 = 83.33…円; 1,000 × 5/12 = 416.66…円; 21,289 × 6/12 = 10,644.5円.
    assert prorate(1000, 1, Rounding.TRUNCATE) == 83
    assert prorate(1000, 1, Rounding.ROUND_UP) == 84
    assert prorate(1000, 1, Rounding.TRUNCATE_10) == 80
    assert prorate(1000, 5, Rounding.ROUND_HALF_UP) == 417
    assert prorate(1000, 5, Rounding.ROUND_HALF_UP_10) == 420
    assert prorate(21_289, 6, Rounding.TRUNCATE) == 10_644
    assert prorate(21_289, 6, Rounding.ROUND_HALF_UP) == 10_645
    assert prorate(74_701, 12, Rounding.TRUNCATE_100) == 74_701  # 12か月: the annual amount unchanged
    with pytest.raises(InstallmentError):
        prorate(74_700, 13, Rounding.TRUNCATE)
    with pytest.raises(TypeError):
        prorate(74_700.0, 6, Rounding.TRUNCATE)  # type: ignore[arg-type]


def _reference(annual: int, months: int, rule: Rounding) -> int:
    exact = Fraction(annual * months, 12 * rule.unit)
    whole, frac = divmod(exact, 1)
    if rule.name.startswith("TRUNCATE"):
        units = whole
    elif rule.name.startswith("ROUND_HALF_UP"):
        units = whole + (1 if frac >= Fraction(1, 2) else 0)
    else:
        units = whole + (1 if frac else 0)
    return int(units) * rule.unit


@pytest.mark.parametrize("rule", list(Rounding))
def test_prorate_matches_the_exact_fraction(rule: Rounding) -> None:
    for annual in AMOUNTS:
        for months in range(12):
            assert prorate(annual, months, rule) == _reference(annual, months, rule), (annual, months)


def test_segment_amount_for_welfare_from_october() -> None:
    # 10月から生活保護 (第1段階): 第5段階 74,700 × 6/12 = 37,350; 第1段階 21,289 × 6/12 = 10,644.5 → 10,644
    # (1円未満切捨て). 合計 47,994円.
    annual = {5: 74_700, 1: 21_289}
    assert segment_amount(annual, {5: 6, 1: 6}, Rounding.TRUNCATE) == 47_994
    assert segment_amount(annual, {5: 12}, Rounding.TRUNCATE) == 74_700
    with pytest.raises(InstallmentError, match="12か月"):
        segment_amount(annual, {5: 7, 1: 6}, Rounding.TRUNCATE)
    with pytest.raises(InstallmentError, match="第3段階"):
        segment_amount(annual, {3: 6}, Rounding.TRUNCATE)


# ------------------------------------------------------------------------------------------------
# 徴収方法 (法第134条, 施行令第41条: 年額18万円以上)


@pytest.mark.parametrize(
    ("pension", "method"),
    [
        (179_999, "ordinary"),
        (180_000, "special"),
        (2_000_000, "special"),
        (0, "ordinary"),
        (None, "ordinary"),
    ],
)
def test_threshold_of_180000_yen(pension: int | None, method: str) -> None:
    assert choose_method(pension) == method


# ------------------------------------------------------------------------------------------------
# 特別徴収 (仮徴収 法第140条, 本徴収 法第135条)


def test_special_schedule_with_remainder_in_october() -> None:
    # 年額 21,888円, 前年度2月 1,800円: 仮徴収 1,800 × 3 = 5,400円; 残り 16,488円 を3期で100円単位:
    # 16,488 ÷ 3 = 5,496 → 5,400円, 端数 16,488 − 10,800 = 5,688円 を10月に.
    s = special_schedule(FY, 21_888, 1_800, CAL)
    assert [(i.label, i.due_date, i.amount) for i in s.installments] == [
        ("仮徴収4月", date(2024, 4, 15), 1_800),
        ("仮徴収6月", date(2024, 6, 15), 1_800),
        ("仮徴収8月", date(2024, 8, 15), 1_800),
        ("本徴収10月", date(2024, 10, 15), 5_688),
        ("本徴収12月", date(2024, 12, 15), 5_400),
        ("本徴収2月", date(2025, 2, 15), 5_400),
    ]
    assert {i.method for i in s.installments} == {"special"}
    assert [i.period for i in s.installments] == [1, 2, 3, 4, 5, 6]
    assert s.total == 21_888 and s.overpaid == 0


def test_special_schedule_due_dates_are_not_shifted() -> None:
    # 2024-06-15 is a Saturday: the 特別徴収 is still recorded on the 15th (年金支給日の月).
    assert date(2024, 6, 15).weekday() == 5
    assert special_schedule(FY, 21_888, 1_800, CAL).installments[1].due_date == date(2024, 6, 15)


def test_special_remainder_last_and_other_units() -> None:
    # 同じ 16,488円: 端数を最後 (2月) に → 5,400・5,400・5,688; 1円単位 → 5,496 × 3; 10円単位 → 5,508・5,490・5,490.
    last = parse_calendar(with_text('remainder = "first"   # …', 'remainder = "last"   # …'), "last.toml")
    assert amounts(special_schedule(FY, 21_888, 1_800, last))[3:] == [5_400, 5_400, 5_688]
    unit1 = parse_calendar(with_text("unit = 100            #", "unit = 1            #"), "unit1.toml")
    assert amounts(special_schedule(FY, 21_888, 1_800, unit1))[3:] == [5_496, 5_496, 5_496]
    unit10 = parse_calendar(with_text("unit = 100            #", "unit = 10            #"), "unit10.toml")
    assert amounts(special_schedule(FY, 21_888, 1_800, unit10))[3:] == [5_508, 5_490, 5_490]


def test_provisional_exceeding_annual_is_overpaid() -> None:
    # 年額 30,000円 (所得が下がった), 前年度2月 12,000円: 仮徴収 36,000円 > 30,000円 → 本徴収 0円, 過誤納 6,000円.
    s = special_schedule(FY, 30_000, 12_000, CAL)
    assert amounts(s) == [12_000, 12_000, 12_000, 0, 0, 0]
    assert s.overpaid == 6_000
    assert s.total - s.overpaid == 30_000


def test_no_previous_february_falls_back_to_ordinary() -> None:
    # 仮徴収の基礎となる前年度2月の額がない (今年度から特別徴収の対象) → 年間を普通徴収で.
    s = special_schedule(FY, 74_700, None, CAL)
    assert s == ordinary_schedule(FY, 74_700, CAL)
    assert {i.method for i in s.installments} == {"ordinary"}


@pytest.mark.parametrize("previous_february", [0, 100, 1_800, 6_200, 12_345, 40_000])
def test_special_schedule_sums_to_annual(previous_february: int) -> None:
    for annual in AMOUNTS:
        s = special_schedule(FY, annual, previous_february, CAL)
        assert s.total - s.overpaid == annual
        assert s.overpaid == max(0, 3 * previous_february - annual)
        assert all(i.amount >= 0 for i in s.installments)
        if s.overpaid == 0:
            assert all(i.amount % 100 == 0 for i in s.installments[4:])  # 12月・2月 are whole 100円


# ------------------------------------------------------------------------------------------------
# 普通徴収 (法第131条・第133条; standard calendar: 10期, 7月〜翌年4月, 月末)


def test_ordinary_schedule_ten_periods_remainder_first() -> None:
    # 74,700 ÷ 10 = 7,470 → 100円未満切捨て 7,400円 × 9期; 第1期 = 74,700 − 66,600 = 8,100円.
    s = ordinary_schedule(FY, 74_700, CAL)
    assert amounts(s) == [8_100] + [7_400] * 9
    assert [i.label for i in s.installments] == [f"第{n}期" for n in range(1, 11)]
    assert s.total == 74_700 and s.overpaid == 0


def test_ordinary_due_dates_shift_off_weekends_and_year_end() -> None:
    # 地方自治法第4条の2第4項: 休日なら翌日. FY2024:
    # 第2期 8/31(土) → 9/2(月); 第5期 11/30(土) → 12/2(月);
    # 第6期 12/31 (年末年始 12/29〜1/3) → 1/4(土) → 1/6(月).
    dues = [i.due_date for i in ordinary_schedule(FY, 74_700, CAL).installments]
    assert dues == [
        date(2024, 7, 31),
        date(2024, 9, 2),
        date(2024, 9, 30),
        date(2024, 10, 31),
        date(2024, 12, 2),
        date(2025, 1, 6),
        date(2025, 1, 31),
        date(2025, 2, 28),
        date(2025, 3, 31),
        date(2025, 4, 30),
    ]


def test_national_holidays_are_closed_days() -> None:
    # 2024-09-22(日) → 9/23 振替休日 → 9/24(火); 2025-05-03(土) 憲法記念日 → 5/4・5/5・5/6(振替) → 5/7(水).
    assert CAL.next_open_day(date(2024, 9, 22)) == date(2024, 9, 24)
    assert CAL.next_open_day(date(2025, 5, 3)) == date(2025, 5, 7)
    assert CAL.next_open_day(date(2024, 7, 31)) == date(2024, 7, 31)
    # 振替休日 (国民の祝日に関する法律第3条第2項): the run of holidays just before it contains a Sunday —
    # a spot check of the hand-typed list.
    for d in (date(2024, 2, 12), date(2024, 11, 4), date(2025, 2, 24), date(2026, 5, 6), date(2027, 3, 22)):
        assert d in NATIONAL_HOLIDAYS
        run = []
        prev = d - timedelta(days=1)
        while prev in NATIONAL_HOLIDAYS:
            run.append(prev)
            prev -= timedelta(days=1)
        assert any(h.weekday() == 6 for h in run), d
    with pytest.raises(CalendarYearNotCovered, match="祝日表"):
        CAL.next_open_day(date(2028, 1, 1))


def test_ordinary_mid_year_start_spreads_over_remaining_periods() -> None:
    # 10月取得, 通知 2024-10-15: 納期限が通知日より後の 第4期 (10/31) 〜 第10期 の7期に 37,350円.
    # 37,350 ÷ 7 = 5,335.7 → 5,300円 × 6期; 第4期 = 37,350 − 31,800 = 5,550円.
    s = ordinary_schedule(FY, 37_350, CAL, start_after=date(2024, 10, 15))
    assert [i.period for i in s.installments] == [4, 5, 6, 7, 8, 9, 10]
    assert amounts(s) == [5_550] + [5_300] * 6
    # 通知日が納期限当日なら、その期は含めない (納期限が通知日より「後」の期のみ).
    assert ordinary_schedule(FY, 37_350, CAL, start_after=date(2024, 10, 31)).installments[0].period == 5


def test_ordinary_start_after_last_period_gets_one_extra_period() -> None:
    # 通知 2025-05-01 (第10期 4/30 の後): 随時期 1期, 納期限は翌月 (6月) の末日 6/30(月).
    s = ordinary_schedule(FY, 6_225, CAL, start_after=date(2025, 5, 1))
    assert s.installments == (Installment(11, "随時期（2025年6月）", "ordinary", date(2025, 6, 30), 6_225),)
    # 通知 2025-04-30 (第10期の納期限当日) → 翌月 5月の末日 5/31(土) → 6/2(月); the label keeps 5月.
    s = ordinary_schedule(FY, 6_225, CAL, start_after=date(2025, 4, 30))
    assert s.installments == (Installment(11, "随時期（2025年5月）", "ordinary", date(2025, 6, 2), 6_225),)


def test_ordinary_year_not_in_calendar_is_refused() -> None:
    with pytest.raises(CalendarYearNotCovered, match="2027年度"):
        ordinary_schedule(2027, 74_700, CAL)


def test_ordinary_sums_to_annual() -> None:
    starts = [None, date(2024, 7, 31), date(2024, 10, 15), date(2025, 3, 31), date(2025, 4, 30)]
    for start in starts:
        for annual in AMOUNTS:
            s = ordinary_schedule(FY, annual, CAL, start_after=start)
            assert s.total == annual and s.overpaid == 0
            assert all(i.amount % 100 == 0 for i in s.installments[1:])
            if start is not None:
                assert all(i.due_date > start for i in s.installments)


# ------------------------------------------------------------------------------------------------
# 更正 (賦課の変更): 納期限の到来した期は据え置き、残りの期で差額を調整


def test_revision_increase_after_three_periods() -> None:
    # 当初 74,700円 (8,100・7,400 × 9). 更正日 2024-09-30: 第1〜3期 (7/31, 9/2, 9/30) は到来済み = 22,900円.
    # 新年額 84,480円 → 残り 61,580円 を第4〜10期の7期に: 8,700円 × 6, 第4期 61,580 − 52,200 = 9,380円.
    before = ordinary_schedule(FY, 74_700, CAL)
    after = revise_schedule(before, 84_480, date(2024, 9, 30), CAL)
    assert amounts(after) == [8_100, 7_400, 7_400, 9_380] + [8_700] * 6
    assert after.total == 84_480 and after.overpaid == 0


def test_revision_decrease_after_three_periods() -> None:
    # 新年額 67,200円 → 残り 67,200 − 22,900 = 44,300円: 6,300円 × 6, 第4期 44,300 − 37,800 = 6,500円.
    after = revise_schedule(ordinary_schedule(FY, 74_700, CAL), 67_200, date(2024, 9, 30), CAL)
    assert amounts(after) == [8_100, 7_400, 7_400, 6_500] + [6_300] * 6
    assert after.total == 67_200


def test_revision_decrease_beyond_remaining_is_overpaid() -> None:
    # 新年額 20,000円 < 到来済み 22,900円 → 残りの期は 0円, 過誤納 2,900円.
    after = revise_schedule(ordinary_schedule(FY, 74_700, CAL), 20_000, date(2024, 9, 30), CAL)
    assert amounts(after) == [8_100, 7_400, 7_400] + [0] * 7
    assert after.overpaid == 2_900
    assert after.total - after.overpaid == 20_000


def test_revision_after_all_periods_adds_one_period() -> None:
    # 更正日 2025-05-01: 全期到来済み (74,700円). 新年額 80,000円 → 増額 5,300円 を随時期 (翌月 6月の末日 6/30).
    after = revise_schedule(ordinary_schedule(FY, 74_700, CAL), 80_000, date(2025, 5, 1), CAL)
    assert after.installments[-1] == Installment(
        11, "随時期（2025年6月）", "ordinary", date(2025, 6, 30), 5_300
    )
    assert after.total == 80_000
    # A second 更正 on 6/10, before that 随時期 is due, changes it: 5,300 + 1,000 = 6,300円.
    again = revise_schedule(after, 81_000, date(2025, 6, 10), CAL)
    assert amounts(again)[-1] == 6_300 and len(again.installments) == 11
    # After it is due (7/5), a further increase of 1,000円 is 随時期 number 12, due 8/31(日) → 9/1(月).
    later = revise_schedule(again, 82_000, date(2025, 7, 5), CAL)
    assert later.installments[-1] == Installment(
        12, "随時期（2025年8月）", "ordinary", date(2025, 9, 1), 1_000
    )
    assert later.total == 82_000


def test_revision_keeps_special_installments() -> None:
    # 特別徴収の期は年金保険者に通知済みのため据え置き. 特別徴収 21,888円 (前年度2月 1,800円) を 11月1日に
    # 24,000円 へ増額 → 差額 2,112円 は普通徴収の随時期 (翌月末 12/31 → 年末年始・1/4(土)・1/5(日) → 1/6(月)).
    before = special_schedule(FY, 21_888, 1_800, CAL)
    after = revise_schedule(before, 24_000, date(2024, 11, 1), CAL)
    assert after.by_method("special") == before.installments
    assert after.by_method("ordinary") == (
        Installment(11, "随時期（2024年12月）", "ordinary", date(2025, 1, 6), 2_112),
    )
    assert after.total == 24_000


@pytest.mark.parametrize("on", [date(2024, 7, 1), date(2024, 9, 30), date(2025, 1, 10), date(2025, 5, 1)])
def test_revision_sums(on: date) -> None:
    base = ordinary_schedule(FY, 74_700, CAL)
    for new_annual in AMOUNTS:
        s = revise_schedule(base, new_annual, on, CAL)
        assert s.total - s.overpaid == new_annual
        assert all(i.amount >= 0 for i in s.installments)
        # Past-due periods never change.
        assert [i for i in s.installments if i.due_date <= on] == [
            i for i in base.installments if i.due_date <= on
        ]


# ------------------------------------------------------------------------------------------------
# 特別徴収 → 普通徴収 (年金停止・資格喪失)


def test_switch_after_pension_stops() -> None:
    # 特別徴収 21,888円: 4・6・8月 1,800円, 10月 5,688円 は徴収済み (11,088円). 2024-11-01 に停止 →
    # 残り 10,800円 を 11/1 より後の普通徴収 第5〜10期 (6期) に 1,800円ずつ.
    s = switch_to_ordinary(special_schedule(FY, 21_888, 1_800, CAL), 21_888, date(2024, 11, 1), CAL)
    assert [i.label for i in s.by_method("special")] == ["仮徴収4月", "仮徴収6月", "仮徴収8月", "本徴収10月"]
    assert [(i.period, i.amount) for i in s.by_method("ordinary")] == [(n, 1_800) for n in range(5, 11)]
    assert s.total == 21_888


def test_switch_on_loss_with_reduced_annual() -> None:
    # 死亡 2024-11-20 → 喪失 11/21 → 4〜10月 = 7か月: 21,888 × 7/12 = 12,768円. 12月の年金から停止 (12/1):
    # 徴収済み 11,088円, 残り 1,680円 を 第5〜10期 に: 200円 × 5, 第5期 1,680 − 1,000 = 680円.
    months = insured_month_count(FY, [(LONG_AGO, loss_date_after_death(date(2024, 11, 20)))])
    annual = prorate(21_888, months, Rounding.TRUNCATE)
    assert (months, annual) == (7, 12_768)
    s = switch_to_ordinary(special_schedule(FY, 21_888, 1_800, CAL), annual, date(2024, 12, 1), CAL)
    assert amounts(s)[4:] == [680, 200, 200, 200, 200, 200]
    assert s.total == 12_768


def test_switch_with_collected_above_annual_is_overpaid() -> None:
    s = switch_to_ordinary(special_schedule(FY, 21_888, 1_800, CAL), 10_000, date(2024, 11, 1), CAL)
    assert s.by_method("ordinary") == ()
    assert s.overpaid == 1_088  # 11,088 − 10,000
    assert s.total - s.overpaid == 10_000


@pytest.mark.parametrize("stop", [date(2024, 4, 1), date(2024, 8, 16), date(2024, 12, 15), date(2025, 3, 1)])
def test_switch_sums(stop: date) -> None:
    for annual in AMOUNTS:
        s = switch_to_ordinary(special_schedule(FY, annual, 1_800, CAL), annual, stop, CAL)
        assert s.total - s.overpaid == annual
        assert all(i.due_date < stop for i in s.by_method("special"))
        assert all(i.due_date > stop for i in s.by_method("ordinary"))


# ------------------------------------------------------------------------------------------------
# カレンダーの読込み: bad data is refused with the file and the field named


def test_shipped_calendars() -> None:
    assert calendar_keys() == ("standard",)
    assert isinstance(CAL, CollectionCalendar)
    assert CAL.fiscal_years == (2024, 2025, 2026)
    assert (CAL.ordinary_unit, CAL.ordinary_remainder, CAL.special_unit) == (100, "first", 100)
    with pytest.raises(UnknownCalendar, match="kumamoto"):
        load_calendar("kumamoto")


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("unit = 100            #", "unit = 50            #", "special.unit"),
        ('remainder = "first"   # …', 'remainder = "middle"   # …', "special.remainder"),
        ("month = 7\n", "month = 13\n", r"ordinary.periods\[0\].month"),
        ("period = 2\n", "period = 3\n", r"ordinary.periods\[1\].period"),
        ("month = 8\n", "month = 6\n", r"ordinary.periods\[1\]"),
        ('key = "standard"\n', "", "key"),
        ("fiscal_years = [2024, 2025, 2026]", "fiscal_years = [2024, 2027]", "fiscal_years"),
        ("fiscal_years = [2024, 2025, 2026]", 'fiscal_years = "2024"', "fiscal_years"),
        ('due_day = "last"', "due_day = 32", "ordinary.due_day"),
        ("year_end_closure = true", 'year_end_closure = "yes"', "holidays.year_end_closure"),
        ('source = "special-law"', 'source = "nowhere"', "special.source"),
    ],
)
def test_bad_calendar_is_refused(old: str, new: str, field: str) -> None:
    with pytest.raises(CollectionCalendarError, match=rf"^bad\.toml: {field}"):
        parse_calendar(with_text(old, new), "bad.toml")


def test_period_beyond_the_closing_of_accounts_is_refused() -> None:
    # 地方自治法第235条の5: 出納閉鎖は翌年度5月31日 — a 第10期 in 翌年6月 cannot belong to the 年度.
    text = re.sub(r"month = 4\nyear_offset = 1", "month = 6\nyear_offset = 1", STANDARD_TEXT)
    with pytest.raises(CollectionCalendarError, match=r"bad\.toml: ordinary\.periods\[9\]: .*年度"):
        parse_calendar(text, "bad.toml")


def test_unparsable_calendar_is_refused() -> None:
    with pytest.raises(CollectionCalendarError, match=r"^bad\.toml: TOML"):
        parse_calendar("key = ", "bad.toml")
