"""The menu of the staff UI (業務メニュー). Each business adds its entries when its screens exist;
an entry tied to a business is shown only to staff holding a grant for it."""

from __future__ import annotations

from dataclasses import dataclass

from kiban.security.context import Business


@dataclass(frozen=True)
class MenuItem:
    key: str
    label: str
    href: str
    business: Business | None = None


_MENU: list[MenuItem] = [
    MenuItem("home", "ホーム", "/"),
    MenuItem("business", "業務選択", "/business"),
    MenuItem("staff", "職員管理", "/admin/staff", Business.SYSTEM),
    MenuItem("terminals", "端末管理", "/admin/terminals", Business.SYSTEM),
    MenuItem("grants", "権限の起案・決裁", "/admin/grants", Business.SYSTEM),
    MenuItem("access-table", "アクセス権限表", "/admin/access-table", Business.SYSTEM),
    MenuItem("audit", "アクセスログ点検", "/audit/review", Business.KANSA),
    MenuItem("audit-access-table", "アクセス権限表", "/audit/access-table", Business.KANSA),
    MenuItem("system", "システム状態", "/system"),
]


def menu(businesses: tuple[Business, ...] | None = None) -> list[MenuItem]:
    """Entries visible to a staff member holding ``businesses`` (all when None)."""
    return [m for m in _MENU if m.business is None or businesses is None or m.business in businesses]


def register(item: MenuItem) -> None:
    """Add a business's entry (called by that business's web module)."""
    if all(m.key != item.key for m in _MENU):
        _MENU.insert(len(_MENU) - 1, item)
