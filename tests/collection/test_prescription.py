"""時効 of 介護保険料 (kiban.collection.prescription).

Rules checked (see the module docstring for the full list):
* 介護保険法第200条第1項 (2年) and 第2項 (督促は時効の更新の効力を生ずる) — text as quoted on
  https://ameblo.jp/isswomiyou/entry-12852435702.html (介護保険法 第十三章 雑則 第二百条).
* 民法第143条第2項 (暦による計算、応当日の前日に満了、応当日がなければ月末) — quoted in
  suikawiki-data ids/16/764.txt (民法 e-Gov 版の引用).
* 起算日 = 納期限の翌日 (民法第140条 初日不算入); 「納期から2年過ぎた分の保険料は、さかのぼって
  納めることができません」 — https://reiki.city.koka.lg.jp/10385.htm (甲賀市).
"""

from __future__ import annotations

from datetime import date

import pytest

from kiban.collection.prescription import (
    PrescriptionEvent,
    is_prescribed,
    period_end,
    prescription_date,
)


def test_no_event_completes_two_years_after_the_day_after_due() -> None:
    # 納期限 2023-07-31 → 起算日 2023-08-01 → 応当日 2025-08-01 の前日 2025-07-31 に満了 (民法第143条第2項).
    result = prescription_date(date(2023, 7, 31), [])
    assert result.starts_on == date(2023, 8, 1)
    assert result.completes_on == date(2025, 7, 31)
    assert result.extinguished_on == date(2025, 8, 1)
    assert result.history == ()
    assert (
        result.explanation[0]
        == "納期限 2023-07-31 の翌日 2023-08-01 から起算して2年、時効完成日（満了日）は 2025-07-31"
    )
    # Convention: still collectable on the 満了日, extinguished from the next day.
    assert not is_prescribed(date(2023, 7, 31), [], date(2025, 7, 31))
    assert is_prescribed(date(2023, 7, 31), [], date(2025, 8, 1))


def test_demand_renews_from_the_day_after_the_deadline_in_the_notice() -> None:
    # 督促状 2023-08-20 送付, 指定期限 2023-08-30 → 新たな起算日 2023-08-31 → 満了 2025-08-30 (第200条第2項).
    demand = PrescriptionEvent("demand", date(2023, 8, 20), demand_deadline=date(2023, 8, 30))
    result = prescription_date(date(2023, 7, 31), [demand])
    assert result.starts_on == date(2023, 8, 31)
    assert result.completes_on == date(2025, 8, 30)
    assert result.history == ((demand, date(2023, 8, 31), date(2025, 8, 30)),)
    assert "督促状の指定期限 2023-08-30 の翌日から新たに進行" in result.explanation[1]


def test_demand_delivery_rule_is_the_documented_alternative() -> None:
    # 送達日 2023-08-20 の翌日 2023-08-21 から起算 → 満了 2025-08-20.
    demand = PrescriptionEvent("demand", date(2023, 8, 20), demand_deadline=date(2023, 8, 30))
    result = prescription_date(date(2023, 7, 31), [demand], demand_restart="delivery")
    assert result.completes_on == date(2025, 8, 20)


def test_demand_without_recorded_deadline_uses_ten_days_after_sending() -> None:
    # 地方税法第18条の2 style: 2023-08-20 から起算して10日を経過した日 = 2023-08-30 → 起算 2023-08-31.
    result = prescription_date(date(2023, 7, 31), [PrescriptionEvent("demand", date(2023, 8, 20))])
    assert result.completes_on == date(2025, 8, 30)
    assert "10日を経過した日 2023-08-30" in result.explanation[1]


def test_second_demand_does_not_renew_again() -> None:
    first = PrescriptionEvent("demand", date(2023, 8, 20), demand_deadline=date(2023, 8, 30))
    second = PrescriptionEvent("demand", date(2024, 3, 1), demand_deadline=date(2024, 3, 11))
    result = prescription_date(date(2023, 7, 31), [second, first])  # order of input does not matter
    assert result.completes_on == date(2025, 8, 30)
    assert result.history[1] == (second, date(2023, 8, 31), date(2025, 8, 30))
    assert "2024-03-01 の督促は2回目以降のため時効更新の効力を有しない" in result.explanation


def test_instalment_pledge_after_demand_renews_from_the_next_day() -> None:
    # 分納誓約書 2024-06-10 (承認, 民法第152条) → 起算 2024-06-11 → 満了 2026-06-10.
    events = [
        PrescriptionEvent("demand", date(2023, 8, 20), demand_deadline=date(2023, 8, 30)),
        PrescriptionEvent("acknowledgement", date(2024, 6, 10)),
    ]
    result = prescription_date(date(2023, 7, 31), events)
    assert result.starts_on == date(2024, 6, 11)
    assert result.completes_on == date(2026, 6, 10)


def test_partial_payment_renews_as_acknowledgement() -> None:
    # 一部納付 2025-01-15 → 起算 2025-01-16 → 満了 2027-01-15.
    events = [
        PrescriptionEvent("demand", date(2023, 8, 20), demand_deadline=date(2023, 8, 30)),
        PrescriptionEvent("acknowledgement", date(2024, 6, 10)),
        PrescriptionEvent("partial_payment", date(2025, 1, 15)),
    ]
    result = prescription_date(date(2023, 7, 31), events)
    assert result.completes_on == date(2027, 1, 15)
    assert [step.new_completion for step in result.history] == [
        date(2025, 8, 30),
        date(2026, 6, 10),
        date(2027, 1, 15),
    ]


def test_payment_after_completion_does_not_revive_the_right() -> None:
    # 地方自治法第236条第2項: 援用不要・時効利益の放棄不可 → 2025-08-05 の一部納付は無効.
    late = PrescriptionEvent("partial_payment", date(2025, 8, 5))
    result = prescription_date(date(2023, 7, 31), [late])
    assert result.completes_on == date(2025, 7, 31)
    assert "2025-08-05 の一部納付（承認）は時効完成（2025-07-31）後のため効力を有しない" in result.explanation


def test_event_before_the_start_changes_nothing() -> None:
    early = PrescriptionEvent("partial_payment", date(2023, 7, 20))
    assert prescription_date(date(2023, 7, 31), [early]).completes_on == date(2025, 7, 31)


def test_interruption_renews_like_an_acknowledgement() -> None:
    # 差押え等の終了 2024-02-01 → 起算 2024-02-02 → 満了 2026-02-01.
    result = prescription_date(date(2023, 7, 31), [PrescriptionEvent("interruption", date(2024, 2, 1))])
    assert result.completes_on == date(2026, 2, 1)


def test_leap_day_due_date() -> None:
    # 納期限 2024-02-29 → 起算 2024-03-01 → 応当日 2026-03-01 の前日 = 2026-02-28.
    assert prescription_date(date(2024, 2, 29), []).completes_on == date(2026, 2, 28)
    # 納期限 2024-02-28 → 起算 2024-02-29; 2026 has no 2月29日 → 月末 2026-02-28 (第143条第2項ただし書).
    assert prescription_date(date(2024, 2, 28), []).completes_on == date(2026, 2, 28)
    # 納期限 2026-02-28 → 起算 2026-03-01 → 応当日 2028-03-01 の前日 = 2028-02-29 (閏日).
    assert prescription_date(date(2026, 2, 28), []).completes_on == date(2028, 2, 29)


def test_period_end_month_end_without_corresponding_day() -> None:
    # 起算 2023-08-31, 6か月 → 2024-02 に31日なし → 2024-02-29 (月末).
    assert period_end(date(2023, 8, 31), months=6) == date(2024, 2, 29)
    assert period_end(date(2023, 8, 1), years=1) == date(2024, 7, 31)
    with pytest.raises(ValueError):
        period_end(date(2023, 8, 1))


def test_is_prescribed_only_counts_events_known_on_the_date() -> None:
    pledge = PrescriptionEvent("acknowledgement", date(2025, 7, 1))
    # On 2025-06-30 the pledge has not happened yet, and the original period is still running.
    assert not is_prescribed(date(2023, 7, 31), [pledge], date(2025, 6, 30))
    # The pledge (2025-07-01, before the 2025-07-31 completion) renews it to 2027-07-01.
    assert not is_prescribed(date(2023, 7, 31), [pledge], date(2025, 8, 1))
    assert is_prescribed(date(2023, 7, 31), [pledge], date(2027, 7, 2))


def test_invalid_inputs_are_rejected_in_japanese() -> None:
    with pytest.raises(ValueError, match="督促日"):
        prescription_date(date(2023, 7, 31), [PrescriptionEvent("demand", date(2023, 7, 31))])
    with pytest.raises(ValueError, match="指定期限は督促にのみ"):
        PrescriptionEvent("acknowledgement", date(2024, 1, 1), demand_deadline=date(2024, 1, 10))
    with pytest.raises(ValueError, match="指定期限"):
        PrescriptionEvent("demand", date(2024, 1, 10), demand_deadline=date(2024, 1, 1))
