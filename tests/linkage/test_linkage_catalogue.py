"""The catalogue, consumers and legal bases as data: the shipped files load, a bad file is named."""

from __future__ import annotations

import tomllib
from datetime import date
from importlib import resources

import pytest

from kiban.rules.linkage import CatalogueError, load_catalogue, parse_catalogue
from kiban.security.context import Business


def shipped() -> tuple[dict, dict, dict]:
    root = resources.files("kiban.rules.linkage")
    return tuple(
        tomllib.loads(root.joinpath(n).read_text("utf-8"))
        for n in ("catalogue.toml", "consumers.toml", "bases.toml")
    )  # type: ignore[return-value]


def test_the_shipped_catalogue_maps_datasets_to_the_real_outbox_topics() -> None:
    cat = load_catalogue()
    assert cat.dataset_of_topic("kaigo.qualification.lost").code == "kaigo.qualification"  # type: ignore[union-attr]
    assert cat.dataset_of_topic("identity.resident.moved_in").code == "identity.resident"  # type: ignore[union-attr]
    # identity.facts layouts (kiban.identity.facts_layouts): tax_income, welfare.
    assert cat.dataset_of_topic("identity.facts.tax_income.changed").code == "identity.tax"  # type: ignore[union-attr]
    assert cat.dataset_of_topic("identity.facts.welfare.changed").code == "identity.welfare"  # type: ignore[union-attr]
    assert cat.dataset_of_topic("identity.facts.tax_income.loaded") is None  # a whole-file notice, no person
    numbered = [(d.code, i.code) for d in cat.datasets for i in d.items if i.contains_my_number]
    assert numbered == [("atena.basic", "my_number")]


def test_consumers_agree_with_the_businesses_of_the_guard() -> None:
    cat = load_catalogue()
    for c in cat.consumers:
        if c.uses_my_number:
            assert c.business is not None and Business(c.business).uses_my_number, c.code
    assert {c.code for c in cat.consumers if c.uses_my_number} == {"kaigo", "kokuho", "kouki", "shogai"}
    assert not cat.consumer("chukan").uses_my_number  # the 中間サーバー works with 符号


def test_the_former_beppyo2_and_the_shorei_meet_on_2024_05_27() -> None:
    cat = load_catalogue()
    old, new = cat.basis("bango-beppyo2-kaigo"), cat.basis("bango19-8-shorei-kaigo")
    assert old.valid_on(date(2024, 5, 26)) and not old.valid_on(date(2024, 5, 27))
    assert new.valid_on(date(2024, 5, 27)) and not new.valid_on(date(2024, 5, 26))
    assert all(b.source and b.article for b in cat.bases)


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (
            lambda c, k, b: c["dataset"][0].pop("topics"),
            "catalogue.toml dataset kaigo.qualification: topics がありません",
        ),
        (
            lambda c, k, b: c["dataset"][5]["items"][3].update(my_number=False),
            "保管庫から読む項目は個人番号の項目だけ",
        ),
        (
            lambda c, k, b: k["consumer"][0].update(uses_my_number="yes"),
            "consumers.toml consumer[1]: uses_my_number の型",
        ),
        (
            lambda c, k, b: b["basis"][0].update(valid_to="2000-01-01"),
            "bases.toml basis bango9-beppyo-kaigo.valid_to",
        ),
        (
            lambda c, k, b: b["basis"][0]["consumers"].append("nobody"),
            "未登録の連携先・データセットです: nobody",
        ),
        (lambda c, k, b: c["dataset"][1]["topics"].append("kaigo.qualification.*"), "重複しています"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_file_and_field(break_it, message: str) -> None:  # type: ignore[no-untyped-def]
    c, k, b = shipped()
    break_it(c, k, b)
    with pytest.raises(
        CatalogueError, match=message.replace(".", r"\.").replace("[", r"\[").replace("]", r"\]")
    ):
        parse_catalogue(c, k, b)
