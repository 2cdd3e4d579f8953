"""``kiban demo`` steps for 庁内連携 and the 中間サーバー: data moves only where the law allows.

- 庁内連携: 連携 一郎 files a データ使用承認願 (the 中間サーバー's 副本登録 of the 介護保険 資格,
  番号法第19条第8号 主務省令) and 連携 花子 approves it; the delivery then runs and each delivered
  record becomes a 副本 version. A second 承認願 (地域包括支援センター, no 個人番号) is left pending
  for a 連携承認者 to decide on the screen.
- 中間サーバー: the demo city joins a network played in-process by a key pair the demo holds (the
  real stand-in is ``kiban network serve``; docs/network.md), three persons get 符号, and three
  inquiries from 郡山市 arrive — one answered at once, one held as 自動応答不可 for 中間 監督 to
  release or refuse, one outside the 照会許可用照合リスト and refused. Every one is in the
  情報提供等記録. Request ids are fixed, so a second demo run replays them and adds nothing.
"""

from __future__ import annotations

import datetime as dt
import secrets

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, text

from kiban.db.engine import get_engine
from kiban.gateway import provision, replica_sync, tenants, tokens
from kiban.linkage import applications
from kiban.network import protocol
from kiban.security.batch import BATCH_TERMINAL, ensure_batch_principal
from kiban.security.context import AccessContext, Business
from kiban.synth.places import CITY_CODE, CITY_NAME

KORIYAMA = "072036"  # 郡山市 (地方公共団体コード)
_REPLICA_ITEMS = ("insurer_no", "insured_no", "category", "acquired_on", "lost_on")


def _staff_ctx(conn: Connection, code: str, business: Business, purpose: str) -> AccessContext | None:
    """A demo staff member acting from the batch host (the demo's setup runs there, not at a counter)."""
    row = conn.execute(
        text(
            "SELECT s.staff_id, d.code FROM security.staff s JOIN security.department d USING (department_id) "
            "WHERE s.code = :c"
        ),
        {"c": code},
    ).first()
    if row is None:
        return None
    return AccessContext(
        staff_id=int(row.staff_id),
        staff_code=code,
        department_code=row.code,
        terminal_code=BATCH_TERMINAL,
        business=business,
        purpose_code=purpose,
        purpose_text="デモデータの作成",
    )


def _has_subscription(conn: Connection, consumer: str, dataset: str) -> bool:
    return (
        conn.execute(
            text(
                "SELECT 1 FROM linkage.application WHERE consumer = :c AND dataset = :d AND status <> 'refused'"
            ),
            {"c": consumer, "d": dataset},
        ).first()
        is not None
    )


def linkage_step() -> str:
    engine = get_engine()
    with engine.begin() as conn:
        ensure_batch_principal(conn)
        applicant = _staff_ctx(conn, "renkei1", Business.RENKEI, "renkei.operation")
        approver = _staff_ctx(conn, "renkei2", Business.RENKEI, "renkei.operation")
        if applicant is None or approver is None:
            return "庁内連携: デモ職員（renkei1・renkei2）がいないため省略（既存のデータベース）"
        filed: list[str] = []
        if not _has_subscription(conn, "chukan", "kaigo.qualification"):
            app_id = applications.apply(
                conn,
                applicant,
                applications.ApplicationForm(
                    "chukan",
                    "kaigo.qualification",
                    _REPLICA_ITEMS,
                    "bango19-8-shorei-kaigo",
                    "情報提供ネットワークシステムによる介護保険 資格の提供（副本登録）",
                    "番号法第19条第8号の主務省令に定める提供に限る",
                    dt.date(2024, 6, 1),
                    None,
                ),
            )
            applications.approve(conn, approver, application_id=app_id, note="根拠・項目を確認")
            filed.append(f"承認願 第{app_id}号（中間サーバー・介護保険 資格）を承認")
        if not _has_subscription(conn, "chiiki_houkatsu", "kaigo.qualification"):
            pending = applications.apply(
                conn,
                applicant,
                applications.ApplicationForm(
                    "chiiki_houkatsu",
                    "kaigo.qualification",
                    ("insured_no", "category", "acquired_on", "lost_on"),
                    "hogo69-chiiki-houkatsu",
                    "地域包括支援センターの総合相談支援（介護保険 資格の確認）",
                    "個人番号は連携しない・相談記録以外への利用禁止",
                    dt.date(2024, 6, 1),
                    None,
                ),
            )
            filed.append(f"承認願 第{pending}号（地域包括支援センター）は承認待ち（renkei2 が画面で決裁）")
    with engine.begin() as conn:
        # The 中間サーバー tenant must exist before its 副本 can be registered.
        if (
            conn.execute(text("SELECT 1 FROM gateway.tenant WHERE city_code = :c"), {"c": CITY_CODE}).first()
            is None
        ):
            tenants.register_tenant(conn, city_code=CITY_CODE, name=CITY_NAME)
        registered = replica_sync.sync_all(conn, city_code=CITY_CODE)
        transfers = conn.execute(text("SELECT count(*) FROM linkage.transfer")).scalar_one()
    lines = filed or ["承認願: 登録済み（変更なし）"]
    lines.append(f"連携: 転送記録 {transfers:,} 件・今回の副本登録 {registered:,} 件（中間サーバー）")
    lines.append("庁内連携の画面（renkei2 でログインして開く）: /linkage/applications")
    return "\n".join(lines)


def _permit(
    network: Ed25519PrivateKey, provider_token: str, items: tuple[str, ...], n: int
) -> protocol.Permit:
    now = protocol.utcnow()
    return protocol.sign_permit(
        network,
        protocol.Permit(
            permit_id=f"demo-permit-{n}",
            inquirer_agency=f"{KORIYAMA}-kaigo",
            provider_agency=f"{CITY_CODE}-kaigo",
            provider_token=provider_token,
            procedure_code="kaigo.qualification",
            dataset="kaigo.qualification",
            items=items,
            list_version="2026.1",
            issued_at=protocol.iso(now),
            expires_at=protocol.iso(now + dt.timedelta(minutes=5)),
        ),
    )


def gateway_step() -> str:
    engine = get_engine()
    with engine.begin() as conn:
        tenant = tenants.load_tenant(conn, CITY_CODE)
        if tenant.network_signing_key is not None:
            counts = _record_counts(conn)
            return f"中間サーバー: 参加済み（変更なし）・情報提供等記録 {counts}"
        network = protocol.new_signing_key()
        tenants.set_network(
            conn,
            city_code=CITY_CODE,
            network_url="http://127.0.0.1:9/",  # nothing listens: the demo plays the network itself
            network_signing_key=protocol.public_bytes(network),
            network_exchange_key=protocol.public_bytes(protocol.new_exchange_key()),
            api_token=secrets.token_urlsafe(24),
        )
        people = conn.execute(
            text(
                "SELECT DISTINCT person_id FROM gateway.replica WHERE city_code = :c ORDER BY person_id LIMIT 3"
            ),
            {"c": CITY_CODE},
        ).scalars()
        persons = list(people)
        if len(persons) < 3:
            return "中間サーバー: 副本がないため照会の例は省略"
        agency = f"{CITY_CODE}-kaigo"
        issued = []
        for pid in persons:
            token = secrets.token_urlsafe(24)  # what the network's 符号取得 would return
            tokens.store_token(conn, city_code=CITY_CODE, person_id=pid, agency_code=agency, token=token)
            issued.append(token)
    inquirer = protocol.new_exchange_key()
    asks: list[tuple[str, tuple[str, ...]]] = [
        ("即時提供", ("insurer_no", "insured_no", "category", "acquired_on", "lost_on")),
        ("自動応答不可", ("insured_no", "facility_name")),
        ("リスト外", ("insured_no", "copay_ratio")),
    ]
    outcomes: list[str] = []
    for n, ((label, items), token) in enumerate(zip(asks, issued, strict=True), start=1):
        request = protocol.ProvisionRequest(
            request_id=f"demo-{KORIYAMA}-{n}",
            permit=_permit(network, token, items, n).to_json(),
            inquirer_public_key=protocol.b64e(protocol.public_bytes(inquirer)),
            sent_at=protocol.iso(protocol.utcnow()),
        )
        with engine.begin() as conn:
            response = provision.handle_provision_request(
                conn, city_code=CITY_CODE, request=request, received_at=protocol.utcnow()
            )
        outcomes.append(f"{label} → {_STATUS.get(response.status, response.status)}")
    with engine.connect() as conn:
        counts = _record_counts(conn)
    return (
        "中間サーバー: 郡山市からの照会 " + "・".join(outcomes) + f"\n情報提供等記録 {counts}"
        "\n自動応答不可の確認（chukan2 でログインして開く）: /gateway/held"
    )


_STATUS = {"provided": "提供", "held": "保留（監督者の確認待ち）", "refused": "拒否", "not_found": "該当なし"}


def _record_counts(conn: Connection) -> str:
    tenants.scope(conn, CITY_CODE)
    rows = conn.execute(
        text(
            "SELECT outcome, count(*) FROM gateway.record WHERE city_code = :c AND kind = 'provision' "
            "GROUP BY 1 ORDER BY 1"
        ),
        {"c": CITY_CODE},
    ).all()
    return "、".join(f"{_OUTCOME.get(r[0], r[0])} {r[1]} 件" for r in rows) or "0 件"


_OUTCOME = {
    "provided": "提供",
    "held": "保留",
    "released": "確認後提供",
    "refused": "拒否",
    "not_found": "該当なし",
    "denied": "拒否（許可証）",
}
