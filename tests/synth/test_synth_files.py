"""The files' layouts match their documentation (docs/layouts/synth-source-files.md) and the data."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from synth_fixture import City

from kiban.synth import files
from kiban.synth.city import city_params
from kiban.synth.generate import generate_chunk

DOC = Path(__file__).resolve().parents[2] / "docs" / "layouts" / "synth-source-files.md"


def _documented_columns() -> dict[str, list[tuple[int, str, str]]]:
    """File name → [(number, 項目名, 型)] from the tables under each ``## <file>`` heading."""
    out: dict[str, list[tuple[int, str, str]]] = {}
    current = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"## (\S+\.csv)", line)
        if heading:
            current = heading.group(1)
            out[current] = []
            continue
        row = re.match(r"\| (\d+) \| ([^|]+) \| ([^|]+) \|", line)
        if current and row:
            out[current].append((int(row.group(1)), row.group(2).strip(), row.group(3).strip()))
    return out


def test_documentation_lists_every_column_in_order() -> None:
    documented = _documented_columns()
    assert set(documented) == set(files.LAYOUTS)
    for name, columns in files.LAYOUTS.items():
        rows = documented[name]
        assert [n for n, _, _ in rows] == list(range(1, len(columns) + 1)), name
        assert [h for _, h, _ in rows] == [c.header for c in columns], name
        assert [k for _, _, k in rows] == [c.kind for c in columns], name


def test_header_rows(city: City) -> None:
    for name, columns in files.LAYOUTS.items():
        assert files.header(name) == (",".join(c.header for c in columns) + "\r\n").encode()
        assert all(len(row) == len(columns) for row in city.files[name]), name


def test_values_match_the_documented_types(city: City) -> None:
    patterns = {
        "数字": r"[0-9]+",
        "金額": r"-?[0-9]+",
        "日付": r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
        "文字8": r"[0-9]{3}-[0-9]{4}",
        "文字": r"[^,\r\n\"]+",
    }
    for name, columns in files.LAYOUTS.items():
        for i, column in enumerate(columns):
            kind = column.kind
            digits = re.fullmatch(r"数字(\d+)", kind)
            pattern = rf"[0-9]{{{digits.group(1)}}}" if digits else patterns[kind]
            for row in city.files[name][:3000]:
                value = row[i]
                assert value == "" or re.fullmatch(pattern, value), (name, column.header, value)


def test_documented_example_lines_are_real() -> None:
    examples = re.findall(r"`(992011,[^`]+)`", DOC.read_text(encoding="utf-8"))
    assert len(examples) >= 4
    chunk = generate_chunk(city_params(1, 10_000, date(2026, 4, 1)), 0)
    # The docs mask the 個人番号 column of jumin.csv (no valid number outside tests, even synthetic).
    lines = {
        re.sub(r"^(992011,\d{10}),\d{12},", r"\1,************,", line)
        for data in chunk.files.values()
        for line in data.decode().split("\r\n")
    }
    for example in examples:
        assert example in lines, example
