"""照会許可用照合リスト (the permit list), as versioned data: ``v*.toml``.

Both the network stand-in (which issues 情報提供許可証) and each city's 中間サーバー (which checks an
incoming request again before answering) read the same list (seed 000 リスク対策 6). An entry allows
an inquirer business to ask a provider business for some items of one dataset under one 照会事務;
``no_auto_response`` items (自動応答不可) wait for a supervisor at the provider.

Pure: no database, no web, no CLI (import-linter contract). Errors name the file and the field.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "PermitEntry",
    "PermitList",
    "PermitListError",
    "Refusal",
    "agency_business",
    "agency_city",
    "load_permit_list",
    "parse_permit_list",
]


class PermitListError(ValueError):
    """The shipped list is malformed (the message names the file and the field)."""


@dataclass(frozen=True)
class Refusal:
    """Why the list does not allow an inquiry (Japanese, shown to staff and recorded)."""

    reason: str


@dataclass(frozen=True)
class PermitEntry:
    code: str
    procedure_code: str
    procedure_name: str
    inquirer_business: str
    provider_business: str
    dataset: str
    items: tuple[str, ...]
    no_auto_response: frozenset[str]
    basis: str


def agency_city(agency_code: str) -> str:
    """ "431001-kaigo" → "431001" (地方公共団体コード)."""
    return agency_code.split("-", 1)[0]


def agency_business(agency_code: str) -> str:
    """ "431001-kaigo" → "kaigo"."""
    parts = agency_code.split("-", 1)
    return parts[1] if len(parts) == 2 else ""


@dataclass(frozen=True)
class PermitList:
    version: str
    valid_from: dt.date
    source: str
    entries: tuple[PermitEntry, ...]
    labels: dict[str, str] = field(default_factory=dict)  # item code → 項目名

    def label(self, item: str) -> str:
        """The item's Japanese name (the code itself when none is shipped)."""
        return self.labels.get(item, item)

    def procedure_name(self, procedure_code: str) -> str:
        for e in self.entries:
            if e.procedure_code == procedure_code:
                return e.procedure_name
        return procedure_code

    def entry(self, code: str) -> PermitEntry:
        for e in self.entries:
            if e.code == code:
                return e
        raise KeyError(code)

    def check(
        self,
        *,
        inquirer_agency: str,
        provider_agency: str,
        procedure_code: str,
        dataset: str,
        items: Iterable[str],
    ) -> PermitEntry | Refusal:
        """The entry that allows this inquiry, or why none does. Every asked item must be listed."""
        asked = tuple(items)
        if not asked:
            raise ValueError("照会項目がありません")
        if agency_city(inquirer_agency) == agency_city(provider_agency):
            return Refusal("同一団体内の照会は情報提供ネットワークシステムを経由しません（庁内連携を使用）")
        candidates = [
            e
            for e in self.entries
            if e.procedure_code == procedure_code
            and e.dataset == dataset
            and e.inquirer_business == agency_business(inquirer_agency)
            and e.provider_business == agency_business(provider_agency)
        ]
        if not candidates:
            return Refusal(
                f"照会許可用照合リスト（{self.version}）に該当する項目がありません"
                f"（照会事務 {procedure_code}・特定個人情報 {dataset}・提供者 {provider_agency}）"
            )
        for e in candidates:
            outside = [i for i in asked if i not in e.items]
            if not outside:
                return e
        outside = [i for i in asked if all(i not in e.items for e in candidates)]
        return Refusal(
            f"照会許可用照合リスト（{self.version}）で許可されていない項目です: {', '.join(outside)}"
        )


def _req(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in table:
        raise PermitListError(f"{where}: {key} がありません")
    value = table[key]
    if not isinstance(value, kind):
        raise PermitListError(f"{where}: {key} の型が不正です（{kind.__name__} が必要）")
    return value


def _strings(value: Sequence[Any], where: str) -> tuple[str, ...]:
    if not all(isinstance(v, str) and v for v in value):
        raise PermitListError(f"{where}: 文字列の配列が必要です")
    if len(set(value)) != len(value):
        raise PermitListError(f"{where}: 重複があります")
    return tuple(value)


def parse_permit_list(data: dict[str, Any], *, file: str = "<data>") -> PermitList:
    version = _req(data, "version", str, file)
    valid_from = _req(data, "valid_from", str, file)
    try:
        start = dt.date.fromisoformat(valid_from)
    except ValueError as exc:
        raise PermitListError(f"{file}: valid_from が日付ではありません") from exc
    source = _req(data, "source", str, file)
    entries: list[PermitEntry] = []
    for n, raw in enumerate(_req(data, "entry", list, file), start=1):
        where = f"{file} entry[{n}]"
        if not isinstance(raw, dict):
            raise PermitListError(f"{where}: 表ではありません")
        items = _strings(_req(raw, "items", list, where), f"{where}.items")
        held = _strings(raw.get("no_auto_response", []), f"{where}.no_auto_response")
        if not set(held) <= set(items):
            raise PermitListError(f"{where}.no_auto_response: items にない項目があります")
        entries.append(
            PermitEntry(
                code=_req(raw, "code", str, where),
                procedure_code=_req(raw, "procedure_code", str, where),
                procedure_name=_req(raw, "procedure_name", str, where),
                inquirer_business=_req(raw, "inquirer_business", str, where),
                provider_business=_req(raw, "provider_business", str, where),
                dataset=_req(raw, "dataset", str, where),
                items=items,
                no_auto_response=frozenset(held),
                basis=_req(raw, "basis", str, where),
            )
        )
    codes = [e.code for e in entries]
    if len(set(codes)) != len(codes):
        raise PermitListError(f"{file}: entry.code が重複しています")
    labels = data.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, str) and v for v in labels.values()):
        raise PermitListError(f'{file}: labels は 項目コード = "項目名" の表です')
    unnamed = sorted({i for e in entries for i in e.items} - set(labels))
    if labels and unnamed:
        raise PermitListError(f"{file}: labels に項目名のない項目があります: {', '.join(unnamed)}")
    return PermitList(version, start, source, tuple(entries), dict(labels))


@cache
def load_permit_list(version: str | None = None) -> PermitList:
    """The shipped list of ``version`` (default: the newest file)."""
    files = sorted(
        (
            f
            for f in resources.files(__package__).iterdir()
            if f.name.startswith("v") and f.name.endswith(".toml")
        ),
        key=lambda f: f.name,
    )
    lists = [parse_permit_list(tomllib.loads(f.read_text("utf-8")), file=f.name) for f in files]
    if not lists:
        raise PermitListError("照会許可用照合リストがありません")
    if version is None:
        return max(lists, key=lambda pl: pl.valid_from)
    for pl in lists:
        if pl.version == version:
            return pl
    raise PermitListError(f"照会許可用照合リスト {version} はありません")
