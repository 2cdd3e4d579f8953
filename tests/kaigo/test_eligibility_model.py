"""介護保険 資格 dates against the law (介護保険法第9条–第11条, 施行法第11条, 年齢計算ニ関スル法律)."""

from __future__ import annotations

from datetime import date

import pytest

from kiban.kaigo.eligibility import model
from kiban.kaigo.eligibility.model import Category, FacilityRule, LossReason


# 年齢計算ニ関スル法律・民法第143条第2項: 65 is attained the day before the 65th birthday, so a
# 1 April birthday attains it on 31 March, in the fiscal year before; for 29 February the period
# ends on the last day of February (民法第143条第2項ただし書).
@pytest.mark.parametrize(
    ("birth", "resident_from", "expected"),
    [
        (date(1961, 4, 1), date(1990, 1, 1), date(2026, 3, 31)),  # 65th birthday on 1 April
        (date(1961, 4, 2), date(1990, 1, 1), date(2026, 4, 1)),
        (date(1960, 2, 29), date(1990, 1, 1), date(2025, 2, 28)),  # 29 Feb, common year: 28 Feb
        (date(1964, 2, 29), date(1990, 1, 1), date(2029, 2, 28)),  # 29 Feb → 28 Feb in every year
        (date(1963, 3, 1), date(1990, 1, 1), date(2028, 2, 29)),  # 1 Mar in a leap year: 29 Feb
        (date(1956, 5, 10), date(2026, 11, 16), date(2026, 11, 16)),  # 転入 at 70: the 転入日 (法第10条第1号)
    ],
)
def test_category1_acquisition_date(birth: date, resident_from: date, expected: date) -> None:
    assert model.category1_acquisition_date(birth, resident_from) == expected


def test_category_follows_age_on_the_day() -> None:
    birth = date(1961, 7, 15)
    assert model.category_on(birth, date(2026, 7, 13)) is Category.SECOND  # 64
    assert model.category_on(birth, date(2026, 7, 14)) is Category.FIRST  # attains 65 on 14 July
    assert model.category_on(birth, date(2001, 7, 13)) is None  # 39
    assert model.category_on(birth, date(2001, 7, 14)) is Category.SECOND  # attains 40


# 介護保険法第11条第1項: 住所を有しなくなった日の翌日に喪失; ただし同日に他市町村に住所を有するに
# 至ったときはその日に喪失.
def test_loss_dates_follow_article_11() -> None:
    assert model.loss_date(LossReason.DIED, date(2026, 10, 31)) == date(2026, 11, 1)
    assert model.loss_date(LossReason.MOVED_OUT, date(2026, 10, 31), abroad=True) == date(2026, 11, 1)
    # Within Japan the new city insures from the 転出日: our status ends that very day.
    assert model.loss_date(LossReason.MOVED_OUT, date(2026, 10, 31)) == date(2026, 10, 31)
    assert model.loss_date(LossReason.ENTERED_EXEMPT_FACILITY, date(2026, 6, 30)) == date(2026, 7, 1)
    assert model.loss_date_on_exempt_admission(date(2026, 12, 31)) == date(2027, 1, 1)


def test_facility_rules() -> None:
    sakoju = model.facility_type("24")  # サービス付き高齢者向け住宅: 住所地特例 from 2015-04-01
    assert sakoju.rule_on(date(2015, 3, 31)) is FacilityRule.NONE
    assert sakoju.rule_on(date(2015, 4, 1)) is FacilityRule.SPECIAL_ADDRESS
    assert model.facility_type("31").rule_on(date(2026, 1, 1)) is FacilityRule.NONE  # 地域密着型特定施設
    assert model.facility_type("51").rule is FacilityRule.EXEMPT  # 障害者支援施設
    with pytest.raises(ValueError, match="99"):
        model.facility_type("99")
