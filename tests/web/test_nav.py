"""The staff menu's order is declared (nav.ORDER), not the order the web modules happen to be imported in."""

from __future__ import annotations

import kiban.web.app  # noqa: F401  # every screen module registers its entries
from kiban.security.context import Business
from kiban.web import nav


def test_every_entry_has_its_declared_place_and_the_menu_follows_it() -> None:
    keys = [m.key for m in nav.menu()]
    assert set(keys) <= set(nav.ORDER), set(keys) - set(nav.ORDER)  # a new screen must be placed
    assert keys == [k for k in nav.ORDER if k in keys]
    assert keys[:2] == ["home", "business"] and keys[-1] == "system"


def test_a_clerk_of_the_atena_section_sees_search_first() -> None:
    labels = [m.label for m in nav.menu((Business.ATENA,))]
    assert labels == [
        "ホーム",
        "業務選択",
        "宛名検索",
        "住登外登録",
        "取込（住民記録・課税等）",
        "名寄せ",
        "整合性チェック",
        "システム状態",
    ]


def test_an_unplaced_entry_goes_before_the_system_page(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(nav, "_MENU", list(nav._MENU))
    nav.register(nav.MenuItem("new-screen", "新しい画面", "/new", Business.ATENA))
    labels = [m.label for m in nav.menu((Business.ATENA,))]
    assert labels[-2:] == ["新しい画面", "システム状態"]
