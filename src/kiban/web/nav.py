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


# The order staff see, declared here rather than left to the order modules are imported in: per
# business the everyday counter work first (search, registration), then files and batches, then the
# masters and checks; the administrators' and auditors' screens after the businesses.
ORDER: tuple[str, ...] = (
    "home",
    "business",
    # 宛名
    "atena",
    "atena-non-resident",
    "atena-imports",
    "atena-matching",
    "atena-check",
    # 介護保険 (and its 保険料 収納)
    "kaigo-insured",
    "kaigo-premium",
    "kaigo-premium-bulk",
    "kaigo-bulk",
    "collection-import",
    "collection-arrears",
    "kaigo-facilities",
    # 庁内連携
    "linkage-applications",
    "linkage-subscriptions",
    "linkage-transfers",
    "linkage-catalogue",
    # 中間サーバー
    "gateway-held",
    "gateway-inquiries",
    "gateway-records",
    "gateway-replicas",
    # システム管理, 監査
    "staff",
    "terminals",
    "grants",
    "access-table",
    "audit",
    "audit-access-table",
    "system",
)


def _place(item: MenuItem) -> int:
    # An entry not in ORDER goes just before システム状態 (tests/web/test_nav.py asks every one to be placed).
    return ORDER.index(item.key) if item.key in ORDER else ORDER.index("system") - 1


def menu(businesses: tuple[Business, ...] | None = None) -> list[MenuItem]:
    """Entries visible to a staff member holding ``businesses`` (all when None), in ``ORDER``."""
    shown = [m for m in _MENU if m.business is None or businesses is None or m.business in businesses]
    return sorted(shown, key=_place)  # stable: unplaced entries keep their registration order


def register(item: MenuItem) -> None:
    """Add a business's entry (called by that business's web module)."""
    if all(m.key != item.key for m in _MENU):
        _MENU.append(item)
