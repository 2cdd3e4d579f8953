"""The menu of the staff UI (業務メニュー). Each business adds its entry when its screens exist."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MenuItem:
    key: str
    label: str
    href: str


_MENU: list[MenuItem] = [
    MenuItem("home", "ホーム", "/"),
    MenuItem("system", "システム状態", "/system"),
]


def menu() -> list[MenuItem]:
    return list(_MENU)


def register(item: MenuItem) -> None:
    """Add a business's entry (called by that business's web module)."""
    if all(m.key != item.key for m in _MENU):
        _MENU.insert(len(_MENU) - 1, item)
