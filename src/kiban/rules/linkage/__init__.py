"""庁内連携 catalogue (連携項目一覧), consumers (連携先) and legal bases (根拠法令) as versioned data.

``catalogue.toml`` — the datasets each business publishes, mapped to outbox topics, and their items
(each says whether it contains the 個人番号); ``consumers.toml`` — the business systems that
receive, each with ``uses_my_number``; ``bases.toml`` — the legal bases with validity and source.

Pure: no database, no web, no CLI (import-linter contract). Errors name the file and the field.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "Catalogue",
    "CatalogueError",
    "ConsumerSpec",
    "DatasetSpec",
    "ItemSpec",
    "LegalBasis",
    "load_catalogue",
    "parse_catalogue",
]


class CatalogueError(ValueError):
    """A shipped data file is malformed (the message names the file and the field)."""


@dataclass(frozen=True)
class ItemSpec:
    """連携項目: one item of a dataset. ``source`` is ``payload`` (a key of the outbox payload) or
    ``vault`` (the 個人番号, read from the vault at hand-over — never in a payload)."""

    code: str
    label: str
    contains_my_number: bool = False
    source: str = "payload"


@dataclass(frozen=True)
class DatasetSpec:
    """連携データセット: what one business publishes, and the outbox topics it comes from."""

    code: str
    label: str
    publisher: str
    topics: tuple[str, ...]
    items: tuple[ItemSpec, ...]

    def item(self, code: str) -> ItemSpec:
        for i in self.items:
            if i.code == code:
                return i
        raise KeyError(code)

    @property
    def item_codes(self) -> tuple[str, ...]:
        return tuple(i.code for i in self.items)

    def matches(self, topic: str) -> bool:
        return any(topic.startswith(t[:-1]) if t.endswith("*") else topic == t for t in self.topics)


@dataclass(frozen=True)
class ConsumerSpec:
    """連携先: a business system. ``business`` is the kiban Business it acts for, if any."""

    code: str
    label: str
    uses_my_number: bool
    business: str | None


@dataclass(frozen=True)
class LegalBasis:
    """根拠法令: one versioned entry (番号法 別表 / 主務省令 / 条例), valid [valid_from, valid_to]."""

    code: str
    kind: str
    title: str
    article: str
    valid_from: dt.date
    valid_to: dt.date | None  # inclusive; None = open
    source: str
    allows_my_number: bool
    consumers: frozenset[str]
    datasets: frozenset[str]

    def valid_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    @property
    def label(self) -> str:
        return f"{self.kind}: {self.article}"


@dataclass(frozen=True)
class Catalogue:
    version: str
    datasets: tuple[DatasetSpec, ...]
    consumers: tuple[ConsumerSpec, ...]
    bases: tuple[LegalBasis, ...]

    def dataset(self, code: str) -> DatasetSpec:
        for d in self.datasets:
            if d.code == code:
                return d
        raise KeyError(code)

    def consumer(self, code: str) -> ConsumerSpec:
        for c in self.consumers:
            if c.code == code:
                return c
        raise KeyError(code)

    def basis(self, code: str) -> LegalBasis:
        for b in self.bases:
            if b.code == code:
                return b
        raise KeyError(code)

    def dataset_of_topic(self, topic: str) -> DatasetSpec | None:
        for d in self.datasets:
            if d.matches(topic):
                return d
        return None


def _req(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in table:
        raise CatalogueError(f"{where}: {key} がありません")
    value = table[key]
    if not isinstance(value, kind):
        raise CatalogueError(f"{where}: {key} の型が不正です（{kind.__name__} が必要）")
    return value


def _strings(value: list[Any], where: str) -> tuple[str, ...]:
    if not value or not all(isinstance(v, str) and v for v in value):
        raise CatalogueError(f"{where}: 空でない文字列の配列が必要です")
    if len(set(value)) != len(value):
        raise CatalogueError(f"{where}: 重複があります")
    return tuple(value)


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise CatalogueError(f"{where}: 日付ではありません（YYYY-MM-DD）") from None


def _unique(codes: list[str], where: str) -> None:
    seen: set[str] = set()
    for c in codes:
        if c in seen:
            raise CatalogueError(f"{where}: code {c} が重複しています")
        seen.add(c)


def _datasets(data: dict[str, Any], file: str) -> tuple[DatasetSpec, ...]:
    out: list[DatasetSpec] = []
    for n, raw in enumerate(_req(data, "dataset", list, file), start=1):
        where = f"{file} dataset[{n}]"
        if not isinstance(raw, dict):
            raise CatalogueError(f"{where}: 表ではありません")
        code = _req(raw, "code", str, where)
        where = f"{file} dataset {code}"
        items: list[ItemSpec] = []
        for m, it in enumerate(_req(raw, "items", list, where), start=1):
            iw = f"{where} items[{m}]"
            if not isinstance(it, dict):
                raise CatalogueError(f"{iw}: 表ではありません")
            source = it.get("source", "payload")
            if source not in ("payload", "vault"):
                raise CatalogueError(f"{iw}.source: payload か vault を指定してください")
            mn = it.get("my_number", False)
            if not isinstance(mn, bool):
                raise CatalogueError(f"{iw}.my_number: true / false を指定してください")
            if source == "vault" and not mn:
                raise CatalogueError(f"{iw}: 保管庫から読む項目は個人番号の項目だけです")
            items.append(ItemSpec(_req(it, "code", str, iw), _req(it, "label", str, iw), mn, source))
        _unique([i.code for i in items], f"{where}.items")
        out.append(
            DatasetSpec(
                code=code,
                label=_req(raw, "label", str, where),
                publisher=_req(raw, "publisher", str, where),
                topics=_strings(_req(raw, "topics", list, where), f"{where}.topics"),
                items=tuple(items),
            )
        )
    _unique([d.code for d in out], f"{file} dataset")
    return tuple(out)


def _consumers(data: dict[str, Any], file: str) -> tuple[ConsumerSpec, ...]:
    out: list[ConsumerSpec] = []
    for n, raw in enumerate(_req(data, "consumer", list, file), start=1):
        where = f"{file} consumer[{n}]"
        if not isinstance(raw, dict):
            raise CatalogueError(f"{where}: 表ではありません")
        business = raw.get("business")
        if business is not None and not isinstance(business, str):
            raise CatalogueError(f"{where}.business: 文字列が必要です")
        out.append(
            ConsumerSpec(
                code=_req(raw, "code", str, where),
                label=_req(raw, "label", str, where),
                uses_my_number=_req(raw, "uses_my_number", bool, where),
                business=business,
            )
        )
    _unique([c.code for c in out], f"{file} consumer")
    return tuple(out)


def _bases(data: dict[str, Any], file: str) -> tuple[LegalBasis, ...]:
    out: list[LegalBasis] = []
    for n, raw in enumerate(_req(data, "basis", list, file), start=1):
        where = f"{file} basis[{n}]"
        if not isinstance(raw, dict):
            raise CatalogueError(f"{where}: 表ではありません")
        code = _req(raw, "code", str, where)
        where = f"{file} basis {code}"
        start = _date(_req(raw, "valid_from", str, where), f"{where}.valid_from")
        end = _date(raw["valid_to"], f"{where}.valid_to") if "valid_to" in raw else None
        if end is not None and end < start:
            raise CatalogueError(f"{where}.valid_to: valid_from より前です")
        out.append(
            LegalBasis(
                code=code,
                kind=_req(raw, "kind", str, where),
                title=_req(raw, "title", str, where),
                article=_req(raw, "article", str, where),
                valid_from=start,
                valid_to=end,
                source=_req(raw, "source", str, where),
                allows_my_number=_req(raw, "allows_my_number", bool, where),
                consumers=frozenset(_strings(_req(raw, "consumers", list, where), f"{where}.consumers")),
                datasets=frozenset(_strings(_req(raw, "datasets", list, where), f"{where}.datasets")),
            )
        )
    _unique([b.code for b in out], f"{file} basis")
    return tuple(out)


def parse_catalogue(
    catalogue: dict[str, Any],
    consumers: dict[str, Any],
    bases: dict[str, Any],
    *,
    files: tuple[str, str, str] = ("catalogue.toml", "consumers.toml", "bases.toml"),
) -> Catalogue:
    """Check the three files against each other (a basis names only known consumers and datasets;
    a basis allowing no 個人番号 is not needed to say so twice)."""
    datasets = _datasets(catalogue, files[0])
    cons = _consumers(consumers, files[1])
    bs = _bases(bases, files[2])
    known_d = {d.code for d in datasets}
    known_c = {c.code for c in cons}
    for b in bs:
        unknown = sorted((b.datasets - known_d) | (b.consumers - known_c))
        if unknown:
            raise CatalogueError(
                f"{files[2]} basis {b.code}: 未登録の連携先・データセットです: {', '.join(unknown)}"
            )
    topics: dict[str, str] = {}
    for d in datasets:
        for t in d.topics:
            if t in topics:
                raise CatalogueError(
                    f"{files[0]} dataset {d.code}.topics: {t} は {topics[t]} と重複しています"
                )
            topics[t] = d.code
    return Catalogue(_req(catalogue, "version", str, files[0]), datasets, cons, bs)


@cache
def load_catalogue() -> Catalogue:
    """The shipped catalogue, consumers and legal bases."""
    root = resources.files(__package__)

    def read(name: str) -> dict[str, Any]:
        try:
            return tomllib.loads(root.joinpath(name).read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise CatalogueError(f"{name}: TOML の形式が不正です（{exc}）") from None

    return parse_catalogue(read("catalogue.toml"), read("consumers.toml"), read("bases.toml"))
