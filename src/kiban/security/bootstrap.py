"""Bootstrap (初期設定): the first departments and administrators, and the demo organisation.

Grants normally need a request and a different administrator's approval; before any administrator
exists that is impossible, so the operator's bootstrap creates the first two administrators
directly — once, only on an empty staff table — and the access log records that it happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects.postgresql import Range

from kiban.security import admin, audit, auth, tokens, totp
from kiban.security import tables as t
from kiban.security.context import Action, Business, Outcome
from kiban.security.errors import SecurityError
from kiban.shared import clock


@dataclass(frozen=True)
class StaffSpec:
    code: str
    name: str
    name_kana: str
    department: str
    grants: tuple[tuple[Business, str], ...]
    is_admin: bool = False


@dataclass(frozen=True)
class CreatedStaff:
    code: str
    name: str
    password: str
    totp_secret: str | None
    roles: str


def ensure_department(conn: Connection, code: str, name: str) -> int:
    found = conn.execute(select(t.department.c.department_id).where(t.department.c.code == code)).scalar()
    if found is not None:
        return int(found)
    return int(
        conn.execute(
            insert(t.department).values(code=code, name=name).returning(t.department.c.department_id)
        ).scalar_one()
    )


def _grant_directly(
    conn: Connection, staff_id: int, department_id: int, business: Business, role: str, since: date
) -> None:
    conn.execute(
        insert(t.grant).values(
            staff_id=staff_id,
            business=business.value,
            department_id=department_id,
            role_code=role,
            valid=Range(since, None, bounds="[)"),
        )
    )


ROLE_LABELS = {
    "clerk": "担当者",
    "chief": "係長",
    "reader": "照会のみ",
    "admin": "管理者",
    "auditor": "監査担当",
    "operator": "連携運用担当",
    "approver": "連携承認者",
}
# Where one role code means something else in another business (migration 0013: security.role).
BUSINESS_ROLE_LABELS = {
    (Business.CHUKAN, "operator"): "中間サーバー担当者",
    (Business.CHUKAN, "supervisor"): "中間サーバー監督者",
}


def _roles_label(grants: tuple[tuple[Business, str], ...]) -> str:
    return "、".join(
        f"{b.label}・{BUSINESS_ROLE_LABELS.get((b, role)) or ROLE_LABELS.get(role, role)}"
        for b, role in grants
    )


def create_staff(
    conn: Connection, spec: StaffSpec, *, password: str, enrol_totp: bool, since: date
) -> CreatedStaff:
    dep_id = conn.execute(
        select(t.department.c.department_id).where(t.department.c.code == spec.department)
    ).scalar_one()
    sid = admin.create_staff_unchecked(
        conn,
        code=spec.code,
        name=spec.name,
        name_kana=spec.name_kana,
        department_id=dep_id,
        password=password,
        must_change=not enrol_totp,
        is_admin=spec.is_admin,
    )
    secret = None
    if enrol_totp:
        secret = totp.new_secret()
        auth.store_totp_secret(conn, sid, secret, enrolled=True)
    for business, role in spec.grants:
        _grant_directly(conn, sid, dep_id, business, role, since)
    return CreatedStaff(spec.code, spec.name, password, secret, _roles_label(spec.grants))


def bootstrap_admins(
    conn: Connection, *, department: tuple[str, str], admins: list[tuple[str, str]], since: date | None = None
) -> list[CreatedStaff]:
    """The first administrators (at least two, so that every later grant can be approved by another)."""
    if conn.execute(select(func.count()).select_from(t.staff)).scalar_one() > 0:
        raise SecurityError("職員が既に登録されています。初期設定は空のデータベースでのみ行えます。")
    if len(admins) < 2:
        raise SecurityError("起案と決裁を別の管理者が行うため、管理者は2名以上登録してください。")
    ensure_department(conn, *department)
    out = []
    for code, name in admins:
        spec = StaffSpec(code, name, "", department[0], ((Business.SYSTEM, "admin"),), is_admin=True)
        out.append(
            create_staff(
                conn, spec, password=tokens.new_token(12), enrol_totp=False, since=since or clock.today()
            )
        )
    audit.record_anonymous(
        conn,
        staff_code=None,
        terminal_code=None,
        action=Action.CREATE,
        outcome=Outcome.OK,
        detail={"bootstrap": [c for c, _ in admins]},
    )
    return out


DEMO_DEPARTMENTS = [
    ("JOHO", "情報政策課"),
    ("SHIMIN", "市民課"),
    ("KAIGO", "高齢介護福祉課"),
    ("KOKUHO", "国保年金課"),
    ("KITA-KUMIN", "北区役所 区民課"),
    ("KANSA", "監査事務局"),
]

DEMO_STAFF = [
    StaffSpec("admin1", "管理 一郎", "カンリ イチロウ", "JOHO", ((Business.SYSTEM, "admin"),), is_admin=True),
    StaffSpec("admin2", "管理 花子", "カンリ ハナコ", "JOHO", ((Business.SYSTEM, "admin"),), is_admin=True),
    StaffSpec("atena1", "宛名 担当", "アテナ タントウ", "SHIMIN", ((Business.ATENA, "clerk"),)),
    StaffSpec(
        "kaigo1",
        "介護 太郎",
        "カイゴ タロウ",
        "KAIGO",
        ((Business.KAIGO, "clerk"), (Business.ATENA, "reader")),
    ),
    StaffSpec(
        "kaigo2",
        "介護 係長",
        "カイゴ カカリチョウ",
        "KAIGO",
        ((Business.KAIGO, "chief"), (Business.ATENA, "reader")),
    ),
    StaffSpec(
        "kokuho1",
        "国保 次郎",
        "コクホ ジロウ",
        "KOKUHO",
        ((Business.KOKUHO, "clerk"), (Business.ATENA, "reader")),
    ),
    StaffSpec(
        "kita1",
        "北区 窓口",
        "キタク マドグチ",
        "KITA-KUMIN",
        ((Business.KAIGO, "reader"), (Business.KOKUHO, "reader")),
    ),
    StaffSpec("kansa1", "監査 三郎", "カンサ サブロウ", "KANSA", ((Business.KANSA, "auditor"),)),
    # 庁内連携: the データ使用承認願 is filed by one 連携承認者 and approved by another (seed 000).
    StaffSpec("renkei1", "連携 一郎", "レンケイ イチロウ", "JOHO", ((Business.RENKEI, "approver"),)),
    StaffSpec("renkei2", "連携 花子", "レンケイ ハナコ", "JOHO", ((Business.RENKEI, "approver"),)),
    # 中間サーバー: a 担当者 and the 監督者 who releases or refuses 自動応答不可 items.
    StaffSpec("chukan1", "中間 担当", "チュウカン タントウ", "JOHO", ((Business.CHUKAN, "operator"),)),
    StaffSpec("chukan2", "中間 監督", "チュウカン カントク", "JOHO", ((Business.CHUKAN, "supervisor"),)),
]

DEMO_PASSWORD = "Kiban-Demo-2026!"


@dataclass(frozen=True)
class DemoOrganisation:
    staff: list[CreatedStaff]
    terminal_code: str
    enrol_code: str


def demo_organisation(conn: Connection, *, since: date) -> DemoOrganisation:
    """Demo departments, staff (fixed password, second factor enrolled) and one terminal to enrol.

    The demo replaces any previous demo organisation only when the staff table is empty; a second
    ``kiban demo`` on the same database re-issues the terminal's enrolment code.
    """
    for code, name in DEMO_DEPARTMENTS:
        ensure_department(conn, code, name)
    created: list[CreatedStaff] = []
    if conn.execute(select(func.count()).select_from(t.staff)).scalar_one() == 0:
        for spec in DEMO_STAFF:
            created.append(create_staff(conn, spec, password=DEMO_PASSWORD, enrol_totp=True, since=since))
    else:
        for spec in DEMO_STAFF:
            row = conn.execute(
                select(t.staff.c.staff_id, t.staff.c.totp_secret).where(t.staff.c.code == spec.code)
            ).first()
            if row is not None:
                # Demo only: the operator's own re-run prints the demo accounts' keys again.
                secret = (
                    auth.read_totp_secret(conn, row.staff_id, row.totp_secret) if row.totp_secret else None
                )
                created.append(
                    CreatedStaff(spec.code, spec.name, DEMO_PASSWORD, secret, _roles_label(spec.grants))
                )
    enrol = tokens.new_enrol_code()
    term = conn.execute(select(t.terminal.c.terminal_id).where(t.terminal.c.code == "DEMO-01")).scalar()
    values = {
        "enrol_code_hash": tokens.digest(enrol),
        "enrol_expires_at": func.now() + admin.ENROL_CODE_VALID,
    }
    if term is None:
        dep = conn.execute(
            select(t.department.c.department_id).where(t.department.c.code == "KAIGO")
        ).scalar_one()
        conn.execute(
            insert(t.terminal).values(
                code="DEMO-01", name="高齢介護福祉課 窓口1番", department_id=dep, **values
            )
        )
    else:
        conn.execute(
            update(t.terminal).where(t.terminal.c.terminal_id == term).values(revoked_at=None, **values)
        )
    audit.record_anonymous(
        conn,
        staff_code=None,
        terminal_code="DEMO-01",
        action=Action.CREATE,
        outcome=Outcome.OK,
        detail={"demo_organisation": len(created)},
    )
    return DemoOrganisation(created, "DEMO-01", enrol)
