"""還付加算金: the rules file, the computation and the CLI, every expected figure written out (no database).

Formula (地方税法第17条の4第1項, 特例 附則第3条の2; 広島市 http://www.city.hiroshima.lg.jp/site/shizei-nouhu/2139.html,
和歌山県 https://www-pref-wakayama-lg-jp.cache.yimg.jp/prefg/010500/entaikin/kanpukasankin.html):
    還付加算金 = Σ 基礎額 × 年割合 × 日数 ÷ 365   per calendar year, 起算日 and 支出決定日 both counted
    基礎額: 1,000円未満切捨て, 2,000円未満は0;  確定金額: 100円未満切捨て, 1,000円未満は0
Rates (年 %): 2021 1.0, 2022–2025 0.9, 2026 1.3 (平均貸付割合 0.5 / 0.4 / 0.8 + 0.5) —
    袋井市 https://www.city.fukuroi.shizuoka.jp/soshiki/nouzei/3/nozei/9403.html,
    日野市 https://www.city.hino.lg.jp/kurashi/zei/oshirase/1002732.html (2026 1.3%),
    豊川市 https://www.city.toyokawa.lg.jp/kurashi_tetsuzuki/zeikin/9/12672.html (2022–2025 0.9%)
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from typer.testing import CliRunner

from kiban.cli.main import app
from kiban.collection.refund_interest import (
    RefundInterestError,
    YearNotVerified,
    accrual_start,
    compute_refund_interest,
)
from kiban.rules import late_fee, refund_interest
from kiban.rules.refund_interest import RefundInterestRulesError, load_rules, parse_rules

D = date.fromisoformat
runner = CliRunner()


def pieces(result) -> list[tuple[str, str, int, str, int]]:
    return [(s.start.isoformat(), s.end.isoformat(), s.days, str(s.rate), s.base) for s in result.segments]


# ------------------------------------------------------------------ the rules file


def test_shipped_rates() -> None:
    rules = load_rules()
    assert (rules.first_year, rules.last_year) == (2000, 2026)
    got = {y: str(rules.rates[y].rate) for y in (2000, 2009, 2013, 2014, 2017, 2020, 2021, 2022, 2025, 2026)}
    assert got == {
        2000: "4.5", 2009: "4.5", 2013: "4.3", 2014: "1.9", 2017: "1.7", 2020: "1.6",
        2021: "1.0", 2022: "0.9", 2025: "0.9", 2026: "1.3",
    }  # fmt: skip
    assert rules.rates[2026].average_lending == Decimal("0.8")
    assert rules.rates[2025].average_lending == Decimal("0.4")
    assert (rules.base_unit, rules.base_minimum, rules.interest_unit, rules.interest_minimum) == (
        1000,
        2000,
        100,
        1000,
    )
    for row in rules.rates.values():
        assert row.sources and all(k in rules.sources for k in row.sources)


def test_rates_agree_with_the_late_fee_table() -> None:
    """Same 告示, two additions: 延滞金特例基準割合 = 平均貸付割合 + 1, 還付加算金 = 平均貸付割合 + 0.5.

    2000–2020 the 還付加算金の割合 was the 特例基準割合 itself, the late-fee table's ``basis``.
    """
    fee = late_fee.load_rules()
    refund = refund_interest.load_rules()
    for year, row in refund.rates.items():
        basis = fee.rates[year].basis
        if year >= 2021:
            assert row.average_lending == basis - 1, year
        else:
            assert row.rate == basis, year


def _shipped_text() -> str:
    from importlib import resources

    return resources.files("kiban.rules.refund_interest").joinpath("standard.toml").read_text("utf-8")


def test_rules_refuse_a_rate_off_its_formula() -> None:
    text = _shipped_text()
    bad = text.replace(
        '2026 = { rate = "1.3", basis = "1.3"', '2026 = { rate = "1.8", basis = "1.8"'
    )  # 平均貸付割合 0.8 + 1 — the 延滞金 figure, not the 還付加算金 one
    with pytest.raises(RefundInterestRulesError, match=r"standard.toml: rates.2026.basis"):
        parse_rules(bad)
    bad = text.replace('2024 = { rate = "0.9"', '2024 = { rate = "1.0"')
    with pytest.raises(RefundInterestRulesError, match=r"rates.2024.rate: 1.0 but"):
        parse_rules(bad)
    bad = text.replace('sources = ["fukuroi", "hino", "profession-2026"]', "sources = []")
    with pytest.raises(RefundInterestRulesError, match=r"rates.2026.sources: every figure needs a source"):
        parse_rules(bad)
    bad = text.replace(
        'rate = "4.5", basis = "4.5", formula = "from_2000"',
        'rate = 4.5, basis = "4.5", formula = "from_2000"',
        1,
    )
    with pytest.raises(RefundInterestRulesError, match=r"rates.2000.rate: must be a decimal string"):
        parse_rules(bad)


# ------------------------------------------------------------------ the computation


def test_one_year_crossing() -> None:
    # 賦課の減額: 納付 2025-06-30 → 起算日 2025-07-01 (第17条の4第1項第1号), 支出決定 2026-03-31.
    #   2025-07-01〜2025-12-31: 184日 × 年0.9%: 1,000,000 × 0.009 × 184/365 = 1,656,000/365 = 4,536.986…
    #   2026-01-01〜2026-03-31:  90日 × 年1.3%: 1,000,000 × 0.013 × 90/365  = 1,170,000/365 = 3,205.479…
    #   計 7,742.465… → 7,742円 → 100円未満切捨て 7,700円
    start = accrual_start(D("2025-06-30"))
    assert start == D("2025-07-01")
    result = compute_refund_interest(1_000_000, start, D("2026-03-31"))
    assert pieces(result) == [
        ("2025-07-01", "2025-12-31", 184, "0.9", 1_000_000),
        ("2026-01-01", "2026-03-31", 90, "1.3", 1_000_000),
    ]
    assert result.segments[0].exact_amount == Fraction(1_656_000, 365)
    assert result.segments[1].exact_amount == Fraction(1_170_000, 365)
    assert result.exact == Decimal("7742.465753")
    assert (result.subtotal, result.interest, result.days) == (7742, 7700, 274)
    assert any("100円未満の端数を切り捨て、7,700円" in n for n in result.notes)


def test_base_truncated_to_1000_and_leap_year_still_365() -> None:
    # 2024 is a leap year: 2024-01-01〜2024-12-31 = 366日, still ÷365.
    # 基礎額 1,234,567 → 1,234,000; 1,234,000 × 0.009 × 366/365 = 11,106 × 366/365 = 4,064,796/365 = 11,136.42…
    # → 11,136円 → 11,100円
    result = compute_refund_interest(1_234_567, D("2024-01-01"), D("2024-12-31"))
    assert pieces(result) == [("2024-01-01", "2024-12-31", 366, "0.9", 1_234_000)]
    assert result.segments[0].exact_amount == Fraction(4_064_796, 365)
    assert (result.subtotal, result.interest) == (11_136, 11_100)
    assert any("1,234,000円 で計算します" in n for n in result.notes)
    assert any("うるう年" in n for n in result.notes)


def test_interest_under_1000_is_not_added() -> None:
    # 100,000 × 0.009 × 365/365 = 900円 < 1,000円 → 0
    result = compute_refund_interest(100_000, D("2025-01-01"), D("2025-12-31"))
    assert result.exact == Decimal("900.000000") and result.subtotal == 900
    assert result.interest == 0
    assert any("1,000円未満のため加算されません" in n for n in result.notes)
    # 112,000 × 0.009 × 365/365 = 1,008円 → 1,000円 (the minimum is tested before the 100円 cut)
    result = compute_refund_interest(112_000, D("2025-01-01"), D("2025-12-31"))
    assert (result.subtotal, result.interest) == (1_008, 1_000)


def test_amount_under_2000_has_no_interest() -> None:
    # 1,999円 < 2,000円: no base at all, whatever the period.
    result = compute_refund_interest(1_999, D("2021-01-01"), D("2026-12-31"))
    assert result.segments == () and result.interest == 0
    assert any("2,000円未満のため還付加算金は加算されません" in n for n in result.notes)
    # 2,999円 → 基礎額 2,000円: 2,000 × 0.01 × 365/365 = 20円 → 0
    result = compute_refund_interest(2_999, D("2021-01-01"), D("2021-12-31"))
    assert pieces(result) == [("2021-01-01", "2021-12-31", 365, "1.0", 2_000)]
    assert result.interest == 0


def test_decided_on_the_payment_day_gives_no_days() -> None:
    result = compute_refund_interest(500_000, accrual_start(D("2025-05-10")), D("2025-05-10"))
    assert result.segments == () and result.interest == 0
    assert any("加算日数はなく" in n for n in result.notes)


def test_unverified_year_is_refused() -> None:
    with pytest.raises(YearNotVerified, match=r"2027年の還付加算金の割合は確認できていない.*2000年〜2026年"):
        compute_refund_interest(1_000_000, D("2026-11-01"), D("2027-01-31"))
    with pytest.raises(YearNotVerified, match=r"1999年"):
        compute_refund_interest(1_000_000, D("1999-12-01"), D("2000-01-31"))


def test_bad_facts_are_refused() -> None:
    with pytest.raises(RefundInterestError, match="より前です"):
        compute_refund_interest(10_000, D("2025-05-10"), D("2025-05-08"))
    with pytest.raises(RefundInterestError, match="負の値"):
        compute_refund_interest(-1, D("2025-05-10"), D("2025-06-08"))
    with pytest.raises(RefundInterestError, match="整数"):
        compute_refund_interest(1.5, D("2025-05-10"), D("2025-06-08"))  # type: ignore[arg-type]


# ------------------------------------------------------------------ the CLI


def refund(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["collection", "refund-interest", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_json_contract() -> None:
    code, out, err = refund("--amount", "1000000", "--from", "2025-07-01", "--to", "2026-03-31", "--json")
    assert code == 0, err
    data = json.loads(out)  # ONE JSON object
    for key in ("interest", "segments", "notes", "sources"):
        assert key in data
    # same case as test_one_year_crossing: 4,536.986… + 3,205.479… = 7,742.46… → 7,700円
    assert data["interest"] == 7_700 and isinstance(data["interest"], int)
    assert data["segments"] == [
        {"start": "2025-07-01", "end": "2025-12-31", "days": 184, "rate": "0.9", "base": 1_000_000,
         "amount": "4536.986301"},
        {"start": "2026-01-01", "end": "2026-03-31", "days": 90, "rate": "1.3", "base": 1_000_000,
         "amount": "3205.479452"},
    ]  # fmt: skip
    assert all(isinstance(n, str) for n in data["notes"]) and data["notes"]
    assert all(s["url"].startswith("http") and s["title"] for s in data["sources"])
    assert any("hino" in s["url"] for s in data["sources"])  # 2026 1.3%


def test_cli_text_and_errors() -> None:
    code, out, err = refund("--amount", "1000000", "--from", "2025-07-01", "--to", "2026-03-31")
    assert code == 0, err
    assert "還付加算金 7,700円" in out
    code, out, err = refund("--amount", "1000000", "--from", "2026-12-01", "--to", "2027-01-10", "--json")
    assert code == 1 and out == ""
    assert "2027年の還付加算金の割合は確認できていない" in err
    code, out, err = refund("--amount", "1000000", "--from", "2026/12/01", "--to", "2027-01-10")
    assert code == 2
