"""By construction: the plain path has no way to a 個人番号 (types and imports, checked)."""

from __future__ import annotations

import ast
import inspect
import typing

import pytest

from kiban.linkage import delivery, numbers, records
from kiban.linkage.errors import LinkageError
from kiban.linkage.records import NumberedRecord, PlainRecord
from kiban.rules.linkage import load_catalogue


def test_a_numbered_record_is_not_a_plain_record_and_a_plain_record_has_no_number_field() -> None:
    assert not issubclass(NumberedRecord, PlainRecord)
    assert "my_number" not in typing.get_type_hints(PlainRecord)
    assert typing.get_type_hints(records.project_plain)["return"] is PlainRecord


def test_the_records_module_cannot_reach_the_vault() -> None:
    tree = ast.parse(inspect.getsource(records))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert not any(m and (m.startswith("kiban.identity") or m.startswith("kiban.security")) for m in imported)
    # The plain projection's code names no vault and no number path (docstrings aside).
    used = set(delivery._plain_records.__code__.co_names)
    assert not used & {"numbers", "numbers_for", "vault", "keys", "_numbered_records"}


@pytest.mark.parametrize("code", ["chukan", "juki", "chiiki_houkatsu", "kenko"])
def test_only_a_my_number_business_becomes_a_numbered_consumer(code: str) -> None:
    with pytest.raises(LinkageError, match="個人番号利用事務ではありません"):
        numbers.numbered(load_catalogue().consumer(code))
    assert numbers.numbered(load_catalogue().consumer("kaigo")).business.value == "kaigo"
