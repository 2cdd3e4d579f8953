"""給付制限 for 介護保険料 arrears (kiban.collection.benefit_restriction).

Sources checked:
* 1年以上 → 支払方法変更（償還払い化）, 1年6か月以上 → 保険給付の一時差止, 2年以上（時効） → 給付額減額
  (負担3割、通常3割の人は4割): 北九州市 https://ssl.city.kitakyushu.lg.jp/ho-huku/file_0415.html ;
  松山市 FAQ https://info-faq.city.matsuyama.ehime.jp/print/faq/787 ; 神戸市
  https://help.city.kobe.lg.jp/hc/ja/articles/4488104264975 .
* 「当該保険料の納期限から1年間が経過するまでの間に当該保険料を納付しない場合」:
  浅口市介護保険料滞納者に対する給付制限取扱要綱 第2条
  http://ww1.city.asakuchi.okayama.jp/reiki/reiki_honbun/r331RG00000406.html ;
  「納期限から1年が経過した滞納保険料」: あさぎり町要綱 第2条
  https://www.town.asagiri.lg.jp/reiki/reiki_honbun/r002RG00000893.html .
* 給付額減額期間 = (徴収権消滅期間×徴収権消滅期間)÷(徴収権消滅期間+納付済期間)×1/2×12:
  介護110番 用語集「給付額減額期間」 http://kaigo110.co.jp/word/給付額減額期間 ; the same
  formula (periods in years per 調定年度, 10-year window, result truncated to whole months) in
  the ReamsPro 介護 source ``TainoJokyoResearcher.create給付額減額情報``.  No page with a
  numeric worked example was found, so the figures below are computed by hand from it.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from kiban.collection.benefit_restriction import (
    Installment,
    condition_date,
    reduction_period,
    restriction_status,
)

DUE = date(2023, 7, 31)


def test_condition_dates() -> None:
    # 納期限 2023-07-31: 1年 = 2023-08-01〜2024-07-31 → 2024-08-01; 1年6月 = 〜2025-01-31 → 2025-02-01.
    assert condition_date(DUE, 12) == date(2024, 8, 1)
    assert condition_date(DUE, 18) == date(2025, 2, 1)
    # 納期限 2023-08-31: 1年6月 = 2023-09-01〜2025-02-28 → 2025-03-01.
    assert condition_date(date(2023, 8, 31), 18) == date(2025, 3, 1)
    # 納期限 2023-12-30: 起算 2023-12-31, 18か月後の6月に31日なし → 2025-06-30 満了 → 2025-07-01.
    assert condition_date(date(2023, 12, 30), 18) == date(2025, 7, 1)


def test_just_under_one_year_is_not_a_payment_method_change() -> None:
    status = restriction_status([Installment(DUE, 6_000)], date(2024, 7, 31))
    assert not status.payment_method_change
    assert status.payment_method_change_from is None
    assert not status.benefit_suspension
    assert (
        status.reasons[0]
        == "2024-07-31 時点で納期限から1年を経過した滞納保険料はない（支払方法の変更の対象外）"
    )


def test_the_day_the_one_year_condition_is_met() -> None:
    inst = Installment(DUE, 6_000)
    status = restriction_status([inst], date(2024, 8, 1))
    assert status.payment_method_change
    assert status.payment_method_change_installment == inst
    assert status.payment_method_change_from == date(2024, 8, 1)
    assert not status.benefit_suspension
    assert status.reasons[0] == (
        "納期限 2023-07-31 の保険料（6,000円）を納期限から1年が経過するまでに納付していないため、"
        "2024-08-01 から支払方法の変更（償還払い）の対象（介護保険法第66条）"
    )


def test_eighteen_month_boundary() -> None:
    inst = Installment(DUE, 6_000)
    before = restriction_status([inst], date(2025, 1, 31))
    assert before.payment_method_change and not before.benefit_suspension
    met = restriction_status([inst], date(2025, 2, 1))
    assert met.benefit_suspension
    assert met.benefit_suspension_from == date(2025, 2, 1)
    assert met.payment_method_change_from == date(2024, 8, 1)
    assert "保険給付の一時差止の対象（介護保険法第67条）" in met.reasons[1]


def test_late_payment_lifts_nothing_retroactively_but_full_payment_clears_the_status() -> None:
    first = Installment(DUE, 6_000, paid_on=date(2024, 9, 15))
    second = Installment(date(2023, 8, 31), 6_000, paid_on=date(2024, 12, 1))
    # As of 2024-09-01 both are unpaid: the oldest (2023-07-31) qualifies, since 2024-08-01.
    status = restriction_status([first, second], date(2024, 9, 1))
    assert status.payment_method_change_installment == first
    assert status.payment_method_change_from == date(2024, 8, 1)
    # After the first is paid (late), the second still qualifies, since 2024-09-01.
    status = restriction_status([first, second], date(2024, 10, 1))
    assert status.payment_method_change_installment == second
    assert status.payment_method_change_from == date(2024, 9, 1)
    # Once everything is paid (完納, 第66条第3項) the condition no longer holds.
    assert not restriction_status([first, second], date(2024, 12, 1)).payment_method_change


def test_special_circumstances_exclude_both_measures() -> None:
    status = restriction_status([Installment(DUE, 6_000)], date(2025, 3, 1), special_circumstances=True)
    assert not status.payment_method_change and not status.benefit_suspension
    assert status.special_circumstances
    assert status.reasons[0].startswith("特別の事情")


def test_prescribed_installments_no_longer_count_as_arrears() -> None:
    # 時効消滅 (2025-08-01〜) → 第69条の問題になり、第66条・第67条の滞納には数えない.
    inst = Installment(DUE, 6_000, extinguished_on=date(2025, 8, 1))
    assert restriction_status([inst], date(2025, 7, 31)).benefit_suspension
    status = restriction_status([inst], date(2025, 8, 1))
    assert not status.payment_method_change and not status.benefit_suspension


def _year(fy: int, *, paid: bool = False, extinguished: bool = False, amount: int = 60_000) -> Installment:
    due = date(fy, 7, 31)
    return Installment(
        due,
        amount,
        paid_on=due if paid else None,
        extinguished_on=date(fy + 2, 8, 1) if extinguished else None,
    )


ON = date(2025, 10, 1)  # 計算対象期間: 納期限 2015-10-01〜2025-10-01 → FY2016〜FY2025.


def test_reduction_two_of_ten_years_extinguished() -> None:
    # X = 2, Y = 8: 2×2÷(2+8)×1/2×12 = 2.4 → 2か月; 負担1割の人は給付率7割.
    # FY2015 (納期限 2015-07-31) is outside the 10-year window and is ignored.
    installments = [_year(2015, extinguished=True)]
    installments += [_year(fy, extinguished=True) for fy in (2016, 2017)]
    installments += [_year(fy, paid=True) for fy in range(2018, 2026)]
    result = reduction_period(installments, ON)
    assert result.extinguished_years == 2
    assert result.paid_years == 8
    assert result.months == 2
    assert (result.benefit_rate_percent, result.copay_percent) == (70, 30)
    assert (
        result.explanation[0]
        == "計算対象期間: 納期限が 2015-10-01 から 2025-10-01 までの保険料（基準日から遡って10年間）"
    )


def test_reduction_for_a_person_with_normal_copay_three_tenths() -> None:
    # X = 3, Y = 5 (FY2024・FY2025 は未納だが時効未到来 → どちらにも数えない):
    # 3×3÷8×1/2×12 = 6.75 → 6か月; 通常3割の人は給付率6割（負担4割）.
    installments = [_year(fy, extinguished=True) for fy in (2016, 2017, 2018)]
    installments += [_year(fy, paid=True) for fy in range(2019, 2024)]
    installments += [_year(2024), _year(2025)]
    result = reduction_period(installments, ON, normal_copay_tenths=3)
    assert result.months == 6
    assert (result.benefit_rate_percent, result.copay_percent) == (60, 40)
    assert "給付率は6割（利用者負担4割）" in result.explanation[-1]


def test_reduction_partial_year_by_amount() -> None:
    # FY2016 の2期のうち1期（30,000円）が時効消滅 → 0.5年. X = 1.5, Y = 8.5:
    # 1.5×1.5÷10×1/2×12 = 1.35 → 1か月.
    installments = [
        Installment(date(2016, 7, 31), 30_000, extinguished_on=date(2018, 8, 1)),
        Installment(date(2016, 12, 26), 30_000, paid_on=date(2016, 12, 26)),
        _year(2017, extinguished=True),
    ]
    installments += [_year(fy, paid=True) for fy in range(2018, 2026)]
    result = reduction_period(installments, ON, normal_copay_tenths=2)
    assert result.extinguished_years == Fraction(3, 2)
    assert result.paid_years == Fraction(17, 2)
    assert result.months == 1
    assert result.benefit_rate_percent == 70
    assert "2016年度: 調定額 60,000円、時効消滅 30,000円、納付済 30,000円" in result.explanation


def test_reduction_nothing_ever_paid() -> None:
    # Nothing paid: FY2016〜FY2023 are extinguished by 2025-10-01, FY2024・FY2025 are not yet
    # (時効未到来). X = 8, Y = 0: 8×8÷8×1/2×12 = 48か月.
    installments = [_year(fy, extinguished=True) for fy in range(2016, 2024)] + [_year(2024), _year(2025)]
    result = reduction_period(installments, ON)
    assert (result.extinguished_years, result.paid_years) == (8, 0)
    assert result.months == 48


def test_no_extinguished_period_keeps_the_normal_rate() -> None:
    installments = [_year(fy, paid=True) for fy in range(2016, 2026)]
    assert reduction_period(installments, ON).months == 0
    assert reduction_period(installments, ON).benefit_rate_percent == 90
    assert reduction_period(installments, ON, normal_copay_tenths=2).benefit_rate_percent == 80


def test_reduction_shorter_than_a_month_is_zero() -> None:
    # X = 0.1 (6,000円/60,000円), Y = 9.9: 0.01÷10×1/2×12 = 0.006 → 0か月 → 給付率は通常どおり.
    installments = [
        Installment(date(2016, 7, 31), 6_000, extinguished_on=date(2018, 8, 1)),
        Installment(date(2016, 8, 31), 54_000, paid_on=date(2016, 8, 31)),
    ]
    installments += [_year(fy, paid=True) for fy in range(2017, 2026)]
    result = reduction_period(installments, ON)
    assert result.months == 0
    assert result.benefit_rate_percent == 90


def test_installment_validation_messages() -> None:
    with pytest.raises(ValueError, match="保険料額"):
        Installment(DUE, 0)
    with pytest.raises(ValueError, match="時効消滅後の納付"):
        Installment(DUE, 6_000, paid_on=date(2025, 8, 1), extinguished_on=date(2025, 8, 1))
    with pytest.raises(ValueError, match="通常の利用者負担割合"):
        reduction_period([], ON, normal_copay_tenths=4)  # type: ignore[arg-type]
