"""``kiban collection late-fee``: the counter's 延滞金 試算 as other checks call it (no database).

Figures: see tests/collection/test_late_fee.py (地方税法第20条の4の2, 昭和45年法律第13号第25条,
rates of 袋井市 https://www.city.fukuroi.shizuoka.jp/soshiki/nouzei/3/nozei/9403.html).
"""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kiban.cli.main import app

runner = CliRunner()


def late_fee(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["collection", "late-fee", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_contract() -> None:
    code, out, err = late_fee(
        "--principal", "1000000", "--due-date", "2024-05-31", "--paid-date", "2024-09-30", "--json"
    )
    assert code == 0, err
    data = json.loads(out)  # ONE JSON object
    for key in ("late_fee", "principal", "due_date", "paid_date", "segments", "notes", "sources"):
        assert key in data
    # 1,000,000 × 2.4% × 30/365 + 1,000,000 × 8.7% × 92/365 = 23,901.36… → 23,900円
    assert data["late_fee"] == 23_900 and isinstance(data["late_fee"], int)
    assert data["principal"] == 1_000_000 and isinstance(data["principal"], int)
    assert (data["due_date"], data["paid_date"]) == ("2024-05-31", "2024-09-30")
    assert data["segments"] == [
        {"start": "2024-06-01", "end": "2024-06-30", "days": 30, "rate": "2.4", "base": 1_000_000,
         "amount": "1972.602739"},
        {"start": "2024-07-01", "end": "2024-09-30", "days": 92, "rate": "8.7", "base": 1_000_000,
         "amount": "21928.767123"},
    ]  # fmt: skip
    for seg in data["segments"]:
        assert (
            isinstance(seg["days"], int) and isinstance(seg["rate"], str) and isinstance(seg["amount"], str)
        )
    assert all(isinstance(n, str) for n in data["notes"]) and data["notes"]
    assert all(s["url"].startswith("http") and s["title"] for s in data["sources"])
    assert any("20-4-2" in s["url"] for s in data["sources"])  # 地方税法第20条の4の2


def test_json_under_the_minimum_and_with_insurer_and_payment() -> None:
    code, out, err = late_fee(
        "--principal", "50000", "--due-date", "2024-07-31", "--paid-date", "2024-08-20", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    # 50,000 × 2.4% × 20/365 = 65.75… → 0
    assert data["late_fee"] == 0 and data["exact"] == "65.753424"
    assert any("1,000円未満のため延滞金はかかりません" in n for n in data["notes"])

    code, out, err = late_fee(
        "--principal", "100000", "--due-date", "2024-06-30", "--paid-date", "2024-12-31",
        "--insurer", "shinjuku", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["late_fee"] == 2_700  # 新宿区 3か月: 2,797.80… → 2,700円

    code, out, err = late_fee(
        "--principal", "200000", "--due-date", "2024-05-31", "--paid-date", "2024-09-30",
        "--payment", "2024-06-30:150500", "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["late_fee"] == 1_400 and [s["base"] for s in data["segments"]] == [200_000, 49_000]


def test_text_output_is_a_japanese_explanation() -> None:
    code, out, err = late_fee(
        "--principal", "117300", "--due-date", "2024-01-31", "--paid-date", "2024-08-31"
    )
    assert code == 0, err
    # 富里市の計算例: 223円 + 5,131円 = 5,354円 → 5,300円
    assert "延滞金 5,300円" in out and "117,000円" in out and "2024年2月29日" in out and "365日" in out
    assert "{" not in out


def test_refuses_an_unverified_year() -> None:
    code, out, err = late_fee(
        "--principal", "100000", "--due-date", "2026-11-30", "--paid-date", "2027-02-01", "--json"
    )
    assert code == 1 and out == ""
    assert "2027年の延滞金の割合は確認できていない" in err


def test_refuses_paid_before_due_and_bad_facts() -> None:
    code, out, err = late_fee(
        "--principal", "100000", "--due-date", "2024-05-31", "--paid-date", "2024-05-01"
    )
    assert code == 1 and out == "" and "納付日" in err and "より前" in err
    code, _, err = late_fee("--principal=-5", "--due-date", "2024-05-31", "--paid-date", "2024-06-30")
    assert code == 1 and "負の値" in err
    code, _, err = late_fee(
        "--principal", "100", "--due-date", "2024-05-31", "--paid-date", "2024-06-30", "--insurer", "nagoya"
    )
    assert code == 1 and "nagoya" in err


def test_bad_arguments_exit_2() -> None:
    code, _, err = late_fee("--principal", "100000", "--due-date", "2024/05/31", "--paid-date", "2024-06-30")
    assert code == 2 and "YYYY-MM-DD" in err
    code, _, err = late_fee(
        "--principal", "100000", "--due-date", "2024-05-31", "--paid-date", "2024-06-30", "--payment", "x"
    )
    assert code == 2 and "--payment" in err
    code, _, _ = late_fee("--due-date", "2024-05-31", "--paid-date", "2024-06-30")
    assert code == 2
