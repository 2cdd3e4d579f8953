"""The access context (アクセス文脈): who reads or changes personal data, where, for which business, and why.

Every service that touches personal data takes an ``AccessContext`` and passes it to the guard,
which checks the grant and writes the access-log row in the same transaction (domain.md §10.7;
seed 000 リスク対策: 処理日時・職員・部署・端末・処理事由・宛名番号 are recorded for every access).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field


class Business(enum.StrEnum):
    """事務 — the unit a grant is given for (番号法 別表 / 条例 businesses and the city's own)."""

    KAIGO = "kaigo"  # 介護保険
    KOKUHO = "kokuho"  # 国民健康保険
    KOUKI = "kouki"  # 後期高齢者医療
    SHOGAI = "shogai"  # 障害者福祉
    ATENA = "atena"  # 宛名管理
    RENKEI = "renkei"  # 庁内連携管理
    KANSA = "kansa"  # 監査
    SYSTEM = "system"  # システム管理（職員・権限・端末）
    CHUKAN = "chukan"  # 中間サーバー

    @property
    def label(self) -> str:
        return BUSINESS_LABELS[self]

    @property
    def uses_my_number(self) -> bool:
        """個人番号利用事務 — roles in these businesses need a second factor (総務省ガイドライン)."""
        return self in MY_NUMBER_BUSINESSES


BUSINESS_LABELS: dict[Business, str] = {
    Business.KAIGO: "介護保険",
    Business.KOKUHO: "国民健康保険",
    Business.KOUKI: "後期高齢者医療",
    Business.SHOGAI: "障害者福祉",
    Business.ATENA: "宛名管理",
    Business.RENKEI: "庁内連携管理",
    Business.KANSA: "監査",
    Business.SYSTEM: "システム管理",
    Business.CHUKAN: "中間サーバー",
}

# 番号法第9条・別表: the city's My-Number businesses among ours. 監査 and システム管理 never see
# the 個人番号; 庁内連携管理 moves data but its operators do not view it.
MY_NUMBER_BUSINESSES = frozenset(
    {Business.KAIGO, Business.KOKUHO, Business.KOUKI, Business.SHOGAI, Business.ATENA}
)


class Action(enum.StrEnum):
    """操作区分 recorded in the access log."""

    VIEW = "view"  # 照会
    SEARCH = "search"  # 検索
    CREATE = "create"  # 登録
    UPDATE = "update"  # 更新
    DELETE = "delete"  # 削除
    PRINT = "print"  # 印刷
    EXPORT = "export"  # 出力（媒体・ファイル）
    REVEAL_MY_NUMBER = "reveal_my_number"  # 個人番号の表示
    APPROVE = "approve"  # 決裁
    LOGIN = "login"
    LOGOUT = "logout"
    LOGIN_FAILURE = "login_failure"


ACTION_LABELS: dict[str, str] = {
    "view": "照会",
    "search": "検索",
    "create": "登録",
    "update": "更新",
    "delete": "削除",
    "print": "印刷",
    "export": "出力",
    "reveal_my_number": "個人番号の表示",
    "approve": "決裁",
    "login": "ログイン",
    "logout": "ログアウト",
    "login_failure": "ログイン失敗",
}


class Outcome(enum.StrEnum):
    OK = "ok"
    DENIED = "denied"
    ERROR = "error"


@dataclass(frozen=True)
class AccessContext:
    """Who (職員), where (部署・端末), for what (事務・処理事由), and which request.

    Built only by the web layer's authenticated dependency or by a batch's operator login — never
    by hand inside a service.
    """

    staff_id: int
    staff_code: str
    department_code: str
    terminal_code: str
    business: Business
    purpose_code: str
    purpose_text: str = ""
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    session_id: str | None = None

    def for_business(self, business: Business, purpose_code: str, purpose_text: str = "") -> AccessContext:
        """The same person and terminal acting for another business (the guard checks the grant)."""
        return AccessContext(
            staff_id=self.staff_id,
            staff_code=self.staff_code,
            department_code=self.department_code,
            terminal_code=self.terminal_code,
            business=business,
            purpose_code=purpose_code,
            purpose_text=purpose_text,
            request_id=self.request_id,
            session_id=self.session_id,
        )
