"""データ使用承認願 (data-use applications) and the subscriptions (利用登録) their approval creates.

Seed 000 リスク対策 (特定個人情報の提供・移転に関するルール): a transfer through the 庁内連携システム
is allowed only on a データ使用承認願 stating the 使用根拠 (basis), 使用目的 (purpose), 使用条件
(conditions), 使用期間 (period) and 使用データ (items), checked and approved; the applications are kept
five years. Here one 連携運用担当 applies and a *different* 連携承認者 approves or refuses — refused by
this service and by the database (CHECK ``decided_by <> applied_by``). Approval creates the
subscription (consumer × dataset × items × basis × purpose × period); a 連携承認者 may revoke it.

Every function takes the staff's ``AccessContext`` for 庁内連携管理 (Business.RENKEI) and passes the
guard in its transaction (the access-log row is written with the change).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from kiban.linkage.errors import FieldError, LinkageError, NotFound, SelfApproval, ValidationFailed
from kiban.rules.linkage import Catalogue, load_catalogue
from kiban.security import guard
from kiban.security.context import AccessContext, Action, Business

OPERATOR_RANK = 1  # 連携運用担当
APPROVER_RANK = 2  # 連携承認者
RETENTION_YEARS = 5  # seed 000: 申請書類を5年間保存する
STATUS_LABELS = {"pending": "承認待ち", "approved": "承認", "refused": "却下"}


@dataclass(frozen=True)
class ApplicationForm:
    """What the applicant writes on the データ使用承認願."""

    consumer: str
    dataset: str
    items: tuple[str, ...]
    basis_code: str
    purpose: str
    conditions: str
    valid_from: dt.date | None
    valid_to: dt.date | None  # inclusive (the last day of use); None = until revoked


@dataclass(frozen=True)
class Application:
    application_id: int
    consumer: str
    dataset: str
    items: tuple[str, ...]
    basis_code: str
    purpose: str
    conditions: str
    valid_from: dt.date
    valid_to: dt.date | None  # inclusive
    includes_my_number: bool
    status: str
    applied_by: int
    applied_by_name: str
    applied_at: dt.datetime
    decided_by_name: str | None
    decided_at: dt.datetime | None
    decision_note: str | None
    retain_until: dt.date
    subscription_id: int | None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def number(self) -> str:
        return f"第{self.application_id}号"


@dataclass(frozen=True)
class Subscription:
    """利用登録: what an approved application lets one consumer receive."""

    subscription_id: int
    application_id: int
    consumer: str
    dataset: str
    items: tuple[str, ...]
    basis_code: str
    purpose: str
    valid_from: dt.date
    valid_to: dt.date | None  # inclusive
    includes_my_number: bool
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    revoke_reason: str | None

    def live_on(self, day: dt.date) -> bool:
        return (
            self.revoked_at is None
            and self.valid_from <= day
            and (self.valid_to is None or day <= self.valid_to)
        )


def in_renkei(ctx: AccessContext) -> None:
    if ctx.business is not Business.RENKEI:
        raise LinkageError("庁内連携の管理は業務「庁内連携管理」で行ってください")


def check_form(form: ApplicationForm, catalogue: Catalogue | None = None) -> list[FieldError]:
    """Every reason the application cannot be accepted (empty: it can)."""
    cat = catalogue or load_catalogue()
    errors: list[FieldError] = []
    consumer = dataset = basis = None
    try:
        consumer = cat.consumer(form.consumer)
    except KeyError:
        errors.append(FieldError("連携先", f"登録されていない連携先です（{form.consumer or '未入力'}）"))
    try:
        dataset = cat.dataset(form.dataset)
    except KeyError:
        errors.append(FieldError("データセット", f"連携項目一覧にありません（{form.dataset or '未入力'}）"))
    try:
        basis = cat.basis(form.basis_code)
    except KeyError:
        errors.append(
            FieldError("使用根拠", f"登録されていない根拠法令です（{form.basis_code or '未入力'}）")
        )
    if not form.purpose.strip():
        errors.append(FieldError("使用目的", "必須です"))
    if not form.items:
        errors.append(FieldError("使用データ（項目）", "1つ以上選んでください"))
    if dataset is not None:
        unknown = [i for i in form.items if i not in dataset.item_codes]
        if unknown:
            errors.append(
                FieldError("使用データ（項目）", f"{dataset.label}にない項目です: {', '.join(unknown)}")
            )
        numbered = [
            dataset.item(i).label
            for i in form.items
            if i in dataset.item_codes and dataset.item(i).contains_my_number
        ]
        if numbered and consumer is not None and not consumer.uses_my_number:
            # 番号法第9条: the number goes only to a 個人番号利用事務 (domain.md §10.9).
            errors.append(
                FieldError(
                    "使用データ（項目）",
                    f"{consumer.label}は個人番号利用事務ではないため、個人番号を含む項目は連携できません: "
                    + "、".join(numbered),
                )
            )
        elif numbered and basis is not None and not basis.allows_my_number:
            errors.append(
                FieldError(
                    "使用データ（項目）", f"根拠「{basis.title}」では個人番号を含む項目は連携できません"
                )
            )
    if basis is not None:
        if consumer is not None and consumer.code not in basis.consumers:
            errors.append(
                FieldError("使用根拠", f"{consumer.label}はこの根拠の対象ではありません（{basis.article}）")
            )
        if dataset is not None and dataset.code not in basis.datasets:
            errors.append(
                FieldError("使用根拠", f"{dataset.label}はこの根拠の対象ではありません（{basis.article}）")
            )
    if form.valid_from is None:
        errors.append(FieldError("使用期間（開始日）", "必須です"))
    else:
        if form.valid_to is not None and form.valid_to < form.valid_from:
            errors.append(FieldError("使用期間（終了日）", "開始日より前です"))
        if basis is not None:
            if not basis.valid_on(form.valid_from):
                errors.append(
                    FieldError("使用期間（開始日）", f"根拠法令の有効期間外です（{_basis_period(basis)}）")
                )
            elif basis.valid_to is not None and (form.valid_to is None or form.valid_to > basis.valid_to):
                errors.append(
                    FieldError(
                        "使用期間（終了日）",
                        f"根拠法令の有効期限（{basis.valid_to.isoformat()}）までの日付が必要です",
                    )
                )
    return errors


def _basis_period(basis: Any) -> str:
    end = basis.valid_to.isoformat() if basis.valid_to else ""
    return f"{basis.valid_from.isoformat()}〜{end}"


def apply(conn: Connection, ctx: AccessContext, form: ApplicationForm) -> int:
    """データ使用承認願の提出. Returns the application number; nothing written on a bad form."""
    in_renkei(ctx)
    guard.require(
        conn,
        ctx,
        action=Action.CREATE,
        min_rank=OPERATOR_RANK,
        detail={"screen": "データ使用承認願", "consumer": form.consumer, "dataset": form.dataset},
    )
    cat = load_catalogue()
    errors = check_form(form, cat)
    if errors:
        raise ValidationFailed("データ使用承認願（新規）", errors)
    assert form.valid_from is not None
    dataset = cat.dataset(form.dataset)
    includes = any(dataset.item(i).contains_my_number for i in form.items)
    return int(
        conn.execute(
            text(
                "INSERT INTO linkage.application (consumer, dataset, items, basis_code, purpose, conditions, "
                "valid, includes_my_number, consumer_uses_my_number, applied_by, retain_until) VALUES "
                "(:c, :d, :i, :b, :p, :cond, daterange(:vf, :vt, '[)'), :inc, :uses, :by, "
                "((now() AT TIME ZONE 'Asia/Tokyo') + make_interval(years => :years))::date) "
                "RETURNING application_id"
            ),
            {
                "c": form.consumer,
                "d": form.dataset,
                "i": list(form.items),
                "b": form.basis_code,
                "p": form.purpose.strip(),
                "cond": form.conditions.strip(),
                "vf": form.valid_from,
                "vt": form.valid_to + dt.timedelta(days=1) if form.valid_to else None,
                "inc": includes,
                "uses": cat.consumer(form.consumer).uses_my_number,
                "by": ctx.staff_id,
                "years": RETENTION_YEARS,
            },
        ).scalar_one()
    )


_SELECT = """
    SELECT a.application_id, a.consumer, a.dataset, a.items, a.basis_code, a.purpose, a.conditions,
           lower(a.valid) AS valid_from, upper(a.valid) - 1 AS valid_to, a.includes_my_number, a.status,
           a.applied_by, ap.name AS applied_by_name, a.applied_at, dc.name AS decided_by_name,
           a.decided_at, a.decision_note, a.retain_until, s.subscription_id
      FROM linkage.application a
      JOIN security.staff ap ON ap.staff_id = a.applied_by
      LEFT JOIN security.staff dc ON dc.staff_id = a.decided_by
      LEFT JOIN linkage.subscription s ON s.application_id = a.application_id
"""


def _application(r: Any) -> Application:
    return Application(
        application_id=r.application_id,
        consumer=r.consumer,
        dataset=r.dataset,
        items=tuple(r.items),
        basis_code=r.basis_code,
        purpose=r.purpose,
        conditions=r.conditions,
        valid_from=r.valid_from,
        valid_to=r.valid_to,
        includes_my_number=r.includes_my_number,
        status=r.status,
        applied_by=r.applied_by,
        applied_by_name=r.applied_by_name,
        applied_at=r.applied_at,
        decided_by_name=r.decided_by_name,
        decided_at=r.decided_at,
        decision_note=r.decision_note,
        retain_until=r.retain_until,
        subscription_id=r.subscription_id,
    )


def list_applications(
    conn: Connection, ctx: AccessContext, *, status: str | None = None
) -> list[Application]:
    """データ使用承認願の一覧 (newest first)."""
    in_renkei(ctx)
    guard.require(
        conn, ctx, action=Action.SEARCH, detail={"screen": "データ使用承認願一覧", "status": status}
    )
    rows = conn.execute(
        text(_SELECT + " WHERE CAST(:st AS text) IS NULL OR a.status = :st ORDER BY a.application_id DESC"),
        {"st": status},
    ).all()
    return [_application(r) for r in rows]


def get_application(conn: Connection, ctx: AccessContext, application_id: int) -> Application:
    in_renkei(ctx)
    guard.require(
        conn, ctx, action=Action.VIEW, detail={"screen": "データ使用承認願", "application_id": application_id}
    )
    row = conn.execute(text(_SELECT + " WHERE a.application_id = :a"), {"a": application_id}).first()
    if row is None:
        raise NotFound(f"データ使用承認願 第{application_id}号 はありません")
    return _application(row)


def _pending_for_decision(conn: Connection, ctx: AccessContext, application_id: int) -> Any:
    row = conn.execute(
        text(
            "SELECT application_id, consumer, dataset, items, basis_code, purpose, conditions, "
            "lower(valid) AS valid_from, upper(valid) - 1 AS valid_to, includes_my_number, "
            "consumer_uses_my_number, status, applied_by FROM linkage.application "
            "WHERE application_id = :a FOR UPDATE"
        ),
        {"a": application_id},
    ).first()
    if row is None:
        raise NotFound(f"データ使用承認願 第{application_id}号 はありません")
    if row.status != "pending":
        raise LinkageError(
            f"データ使用承認願 第{application_id}号 は既に{STATUS_LABELS[row.status]}されています"
        )
    if row.applied_by == ctx.staff_id:
        raise SelfApproval(
            f"データ使用承認願 第{application_id}号: 申請者本人は承認・却下できません（別の連携承認者が決裁します）"
        )
    return row


def approve(conn: Connection, ctx: AccessContext, *, application_id: int, note: str = "") -> int:
    """承認: the application becomes a subscription (returned). The form is checked again against
    today's catalogue and bases (a basis may have ended since it was filed)."""
    in_renkei(ctx)
    guard.require(
        conn,
        ctx,
        action=Action.APPROVE,
        min_rank=APPROVER_RANK,
        detail={"screen": "データ使用承認願", "decision": "approve", "application_id": application_id},
    )
    row = _pending_for_decision(conn, ctx, application_id)
    form = ApplicationForm(
        row.consumer, row.dataset, tuple(row.items), row.basis_code, row.purpose, row.conditions,
        row.valid_from, row.valid_to,
    )  # fmt: skip
    errors = check_form(form)
    if errors:
        raise ValidationFailed(f"データ使用承認願 第{application_id}号", errors)
    clash = conn.execute(
        text(
            "SELECT s.subscription_id FROM linkage.subscription s JOIN linkage.application a "
            "ON a.application_id = :a WHERE s.consumer = a.consumer AND s.dataset = a.dataset "
            "AND s.revoked_at IS NULL AND s.valid && a.valid LIMIT 1"
        ),
        {"a": application_id},
    ).scalar()
    if clash is not None:
        raise ValidationFailed(
            f"データ使用承認願 第{application_id}号",
            [
                FieldError(
                    "使用期間", f"同じ連携先・データセットの有効な利用登録（第{clash}号）と期間が重なります"
                )
            ],
        )
    conn.execute(
        text(
            "UPDATE linkage.application SET status = 'approved', decided_by = :s, decided_at = now(), "
            "decision_note = :n WHERE application_id = :a"
        ),
        {"s": ctx.staff_id, "n": note.strip() or None, "a": application_id},
    )
    return int(
        conn.execute(
            text(
                "INSERT INTO linkage.subscription (application_id, consumer, dataset, items, basis_code, "
                "purpose, valid, includes_my_number, consumer_uses_my_number) "
                "SELECT application_id, consumer, dataset, items, basis_code, purpose, valid, "
                "includes_my_number, consumer_uses_my_number FROM linkage.application WHERE application_id = :a "
                "RETURNING subscription_id"
            ),
            {"a": application_id},
        ).scalar_one()
    )


def refuse(conn: Connection, ctx: AccessContext, *, application_id: int, reason: str) -> None:
    """却下 (with the reason, kept with the application)."""
    in_renkei(ctx)
    guard.require(
        conn,
        ctx,
        action=Action.APPROVE,
        min_rank=APPROVER_RANK,
        detail={"screen": "データ使用承認願", "decision": "refuse", "application_id": application_id},
    )
    if not reason.strip():
        raise ValidationFailed(
            f"データ使用承認願 第{application_id}号", [FieldError("却下の理由", "必須です")]
        )
    _pending_for_decision(conn, ctx, application_id)
    conn.execute(
        text(
            "UPDATE linkage.application SET status = 'refused', decided_by = :s, decided_at = now(), "
            "decision_note = :n WHERE application_id = :a"
        ),
        {"s": ctx.staff_id, "n": reason.strip(), "a": application_id},
    )


_SUB_SELECT = """
    SELECT subscription_id, application_id, consumer, dataset, items, basis_code, purpose,
           lower(valid) AS valid_from, upper(valid) - 1 AS valid_to, includes_my_number, created_at,
           revoked_at, revoke_reason
      FROM linkage.subscription
"""


def _subscription(r: Any) -> Subscription:
    return Subscription(
        subscription_id=r.subscription_id,
        application_id=r.application_id,
        consumer=r.consumer,
        dataset=r.dataset,
        items=tuple(r.items),
        basis_code=r.basis_code,
        purpose=r.purpose,
        valid_from=r.valid_from,
        valid_to=r.valid_to,
        includes_my_number=r.includes_my_number,
        created_at=r.created_at,
        revoked_at=r.revoked_at,
        revoke_reason=r.revoke_reason,
    )


def list_subscriptions(conn: Connection, ctx: AccessContext) -> list[Subscription]:
    """利用登録の一覧."""
    in_renkei(ctx)
    guard.require(conn, ctx, action=Action.SEARCH, detail={"screen": "利用登録一覧"})
    rows = conn.execute(text(_SUB_SELECT + " ORDER BY consumer, dataset, subscription_id")).all()
    return [_subscription(r) for r in rows]


def subscriptions_of(conn: Connection, consumer: str, *, lock: bool = False) -> list[Subscription]:
    """The consumer's subscriptions not revoked (delivery reads these; no staff involved). With
    ``lock`` the rows are held FOR SHARE, so a revocation waits for the delivery to commit."""
    rows = conn.execute(
        text(
            _SUB_SELECT
            + " WHERE consumer = :c AND revoked_at IS NULL ORDER BY subscription_id"
            + (" FOR SHARE" if lock else "")
        ),
        {"c": consumer},
    ).all()
    return [_subscription(r) for r in rows]


def revoke(conn: Connection, ctx: AccessContext, *, subscription_id: int, reason: str) -> None:
    """利用登録の取消: from now on nothing is delivered under it."""
    in_renkei(ctx)
    guard.require(
        conn,
        ctx,
        action=Action.UPDATE,
        min_rank=APPROVER_RANK,
        detail={"screen": "利用登録", "action": "revoke", "subscription_id": subscription_id},
    )
    if not reason.strip():
        raise ValidationFailed(f"利用登録 第{subscription_id}号", [FieldError("取消の理由", "必須です")])
    done = conn.execute(
        text(
            "UPDATE linkage.subscription SET revoked_at = now(), revoked_by = :s, revoke_reason = :r "
            "WHERE subscription_id = :i AND revoked_at IS NULL RETURNING subscription_id"
        ),
        {"s": ctx.staff_id, "r": reason.strip(), "i": subscription_id},
    ).first()
    if done is None:
        exists = conn.execute(
            text("SELECT 1 FROM linkage.subscription WHERE subscription_id = :i"), {"i": subscription_id}
        ).first()
        if exists is None:
            raise NotFound(f"利用登録 第{subscription_id}号 はありません")
        raise LinkageError(f"利用登録 第{subscription_id}号 は既に取り消されています")
