"""``kiban kaigo premium simulate``: the counter's 試算 as other checks call it (no database)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kiban.cli.main import app

runner = CliRunner()


def simulate(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["kaigo", "premium", "simulate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_contract_household_exempt_stage_1() -> None:
    code, out, _ = simulate(
        "--insurer", "kumamoto", "--fiscal-year", "2025",
        "--household-exempt", "--self-exempt", "--pension-income", "809000", "--json",
    )  # fmt: skip
    assert code == 0, out
    data = json.loads(out)
    # 熊本市 保険料所得段階表（令和7年度）第1段階 年額21,888円
    # https://www.city.kumamoto.jp/hpkiji/pub/detail.aspx?c_id=5&id=9042
    assert data["stage"] == 1 and data["annual_premium"] == 21_888
    assert isinstance(data["stage"], int) and isinstance(data["annual_premium"], int)
    assert data["multiplier"] == "0.285" and data["base_annual"] == 76_800
    assert data["rounding"] == "TRUNCATE" and data["exact_amount"] == "21888.000"
    assert data["exempt_stage_income"] == 809_000
    assert data["comparisons"][0]["threshold"] == 809_000 and data["comparisons"][0]["holds"]
    assert data["explanation"] and data["sources"][0]["url"].startswith("https://www.city.kumamoto.jp/")


def test_json_taxed_koriyama() -> None:
    code, out, _ = simulate(
        "--insurer", "koriyama", "--fiscal-year", "2024", "--total-income", "1200000", "--json"
    )
    assert code == 0, out
    data = json.loads(out)
    # 郡山市 第7段階 年額98,280円 https://www.city.koriyama.lg.jp/soshiki/68/2218.html
    assert (data["stage"], data["annual_premium"], data["published_annual"]) == (7, 98_280, 98_280)
    assert data["category"] == "taxed"


def test_flags_default_to_taxed_with_no_income() -> None:
    code, out, _ = simulate("--insurer", "standard", "--fiscal-year", "2026", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["stage"] == 6 and data["annual_premium"] == 89_640  # 74,700 × 1.2


def test_welfare_and_old_age_pension() -> None:
    for flags in (["--welfare"], ["--old-age-welfare-pension", "--household-exempt", "--self-exempt"]):
        code, out, _ = simulate("--insurer", "koriyama", "--fiscal-year", "2025", *flags, "--json")
        assert code == 0, out
        assert json.loads(out)["annual_premium"] == 21_550  # 郡山市 第1段階 年額21,550円 (2218.html)


def test_text_output_is_a_japanese_explanation() -> None:
    code, out, _ = simulate(
        "--insurer", "kumamoto", "--fiscal-year", "2024",
        "--self-exempt", "--pension-income", "700000", "--total-income", "300000", "--pension-misc-income", "100000",
    )  # fmt: skip
    assert code == 0, out
    # 700,000 + (300,000 − 100,000) = 900,000 > 800,000 (令和6年度) → 第5段階 76,800円
    assert "第5段階" in out and "76,800円" in out and "900,000円" in out and "令和6年度" in out
    assert "{" not in out


def test_errors_exit_non_zero_with_a_message() -> None:
    cases = [
        (["--insurer", "nagoya", "--fiscal-year", "2025"], "nagoya"),
        (["--insurer", "standard", "--fiscal-year", "2023"], "2023"),
        (["--insurer", "kumamoto", "--fiscal-year", "2026"], "2026"),
        (["--insurer", "standard", "--fiscal-year", "2025", "--household-exempt"], "世帯非課税"),
        (["--insurer", "standard", "--fiscal-year", "2025", "--pension-misc-income", "1"], "雑所得"),
        (
            ["--insurer", "kumamoto", "--fiscal-year", "2025", "--total-income", "3200000"],
            "第9段階〜第15段階",
        ),
    ]
    for args, needle in cases:
        code, out, err = simulate(*args, "--json")
        assert code != 0, args
        assert out == "", args  # nothing half-printed on stdout
        assert needle in err and err.startswith("エラー: "), (args, err)
