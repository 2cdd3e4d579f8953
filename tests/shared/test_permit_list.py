"""The 照会許可用照合リスト as data: what it allows, what it refuses and why, and its load-time checks."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kiban.rules.permit_list import PermitEntry, PermitListError, Refusal, load_permit_list, parse_permit_list

KUMAMOTO, KORIYAMA = "431001-kaigo", "072036-kaigo"


def check(**kw: Any) -> PermitEntry | Refusal:
    args = {
        "inquirer_agency": KORIYAMA,
        "provider_agency": KUMAMOTO,
        "procedure_code": "kaigo.qualification",
        "dataset": "kaigo.qualification",
        "items": ("insured_no", "acquired_on"),
    } | kw
    return load_permit_list().check(**args)


def test_the_jushochi_tokurei_inquiry_is_allowed_and_its_facility_item_is_held() -> None:
    entry = check(items=("insurer_no", "insured_no", "facility_name"))
    assert isinstance(entry, PermitEntry) and entry.code == "kaigo-jushochi-tokurei"
    # 自動応答不可 (seed 000): the facility waits for the provider's supervisor.
    assert entry.no_auto_response == {"facility_name"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"items": ("insured_no", "copay_ratio")}, "許可されていない項目です: copay_ratio"),
        ({"procedure_code": "kaigo.premium"}, "該当する項目がありません"),
        ({"provider_agency": "431001-kokuho"}, "該当する項目がありません"),
        ({"inquirer_agency": "431001-kaigo"}, "同一団体内の照会"),
    ],
)
def test_an_inquiry_outside_the_list_is_refused_with_the_reason(
    change: dict[str, Any], expected: str
) -> None:
    refusal = check(**change)
    assert isinstance(refusal, Refusal) and expected in refusal.reason


def test_an_inquiry_with_no_items_is_an_error() -> None:
    with pytest.raises(ValueError, match="照会項目"):
        check(items=())


def test_every_listed_item_has_a_japanese_name() -> None:
    pl = load_permit_list()
    items = {i for e in pl.entries for i in e.items}
    assert all(pl.label(i) != i for i in items)
    assert pl.label("insurer_no") == "保険者番号" and pl.label("unknown_item") == "unknown_item"
    assert pl.procedure_name("kaigo.qualification").startswith("介護保険法による被保険者の資格")


def _raw() -> dict[str, Any]:
    import tomllib
    from importlib import resources

    return tomllib.loads(
        resources.files("kiban.rules.permit_list").joinpath("v2026_1.toml").read_text("utf-8")
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("version"), "f.toml: version がありません"),
        (lambda d: d.update(valid_from="2024-13-01"), "valid_from が日付ではありません"),
        (lambda d: d["entry"][0].pop("dataset"), r"entry\[1\]: dataset がありません"),
        (lambda d: d["entry"][1].update(items=["a", "a"]), r"entry\[2\].items: 重複があります"),
        (lambda d: d["entry"][0].update(no_auto_response=["nope"]), "no_auto_response: items にない項目"),
        (lambda d: d["entry"].append(copy.deepcopy(d["entry"][0])), "entry.code が重複"),
        (lambda d: d["labels"].pop("facility_name"), "項目名のない項目があります: facility_name"),
    ],
)
def test_a_malformed_list_is_refused_naming_the_file_and_field(mutate: Any, message: str) -> None:
    data = _raw()
    mutate(data)
    with pytest.raises(PermitListError, match=message):
        parse_permit_list(data, file="f.toml")
