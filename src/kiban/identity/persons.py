"""Person services of the 宛名 hub (宛名の検索・照会・住登外登録・職権修正).

Every function takes an ``AccessContext``, passes the guard and writes the access-log row in the
caller's transaction (domain.md §10.7). Search results are ``PersonSummary`` rows — a type with no
個人番号 field, so no list screen can show one (domain.md §10.9; seed 003 リスク対策: 一覧系の画面
および帳票には個人番号は表示しない). The detail view carries the number only masked, and only for a
My-Number business (番号法第9条); the whole number needs ``vault.reveal``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import Range

from kiban.db import outbox
from kiban.identity import model, repo, vault
from kiban.identity import tables as t
from kiban.identity.model import CLERK_RANK, FieldError, PersonData, ResidentClass
from kiban.identity.repo import CURRENT, IdentityError, Membership, PersonRef, Version
from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action
from kiban.shared import kana

SEARCH_LIMIT = 50


class ValidationFailed(IdentityError):
    """Input refused by the logic checks; ``errors`` name each field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("入力に誤りがあります: " + "、".join(f"{e.field}（{e.message}）" for e in errors))


@dataclass(frozen=True)
class SearchCriteria:
    """検索条件. At least one must be given. ``my_number`` is looked up exactly, via the blind index."""

    person_no: str | None = None
    kana: str | None = None
    name: str | None = None
    birth_date: date | None = None
    address: str | None = None
    my_number: str | None = None

    def given(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) not in (None, "")
        }

    def for_log(self) -> dict[str, Any]:
        """The criteria as logged: the 個人番号 never, only that it was used."""
        out = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.given().items()}
        if "my_number" in out:
            out["my_number"] = "（個人番号で検索）"
        return out


@dataclass(frozen=True)
class PersonSummary:
    """One line of a result list (一覧). Deliberately has no 個人番号 field."""

    person_no: str
    name: str
    kana: str
    sex: int
    birth_date: date
    address: str
    katagaki: str | None
    resident_class: str

    @property
    def sex_label(self) -> str:
        return model.SEX_LABELS.get(self.sex, "")


@dataclass(frozen=True)
class SearchResult:
    rows: list[PersonSummary]
    truncated: bool
    method: str


@dataclass(frozen=True)
class MailingAddress:
    mailing_id: int
    business: str
    name: str
    postal_code: str | None
    address: str
    katagaki: str | None
    valid_from: date
    valid_to: date | None
    start_reason: str


@dataclass(frozen=True)
class HouseholdMember:
    membership: Membership
    person: PersonSummary


@dataclass(frozen=True)
class PersonDetail:
    """照会画面の内容. ``my_number_masked`` is set only for a My-Number business."""

    person_no: str
    integrated_no: str
    current: Version
    history: list[Version]
    has_my_number: bool
    my_number_masked: str | None
    household: Membership | None
    household_members: list[HouseholdMember]
    memberships: list[Membership]
    mailing: list[MailingAddress]


_SUMMARY_COLUMNS = (
    t.person.c.person_no,
    t.person_version.c.family_name,
    t.person_version.c.given_name,
    t.person_version.c.family_kana,
    t.person_version.c.given_kana,
    t.person_version.c.alias_name,
    t.person_version.c.name_use,
    t.person_version.c.sex,
    t.person_version.c.birth_date,
    t.person_version.c.address,
    t.person_version.c.katagaki,
    t.person_version.c.resident_class,
)


def _summary(row: Any) -> PersonSummary:
    name = f"{row.family_name}\u3000{row.given_name}".rstrip("\u3000")
    if row.name_use == "通称" and row.alias_name:
        name = row.alias_name
    return PersonSummary(
        person_no=row.person_no,
        name=name,
        kana=f"{row.family_kana}\u3000{row.given_kana}".rstrip("\u3000"),
        sex=row.sex,
        birth_date=row.birth_date,
        address=row.address,
        katagaki=row.katagaki,
        resident_class=row.resident_class,
    )


def _current_join() -> Any:
    return select(*_SUMMARY_COLUMNS).select_from(
        t.person_version.join(t.person, t.person.c.person_id == t.person_version.c.person_id)
    )


def search(
    conn: Connection, ctx: AccessContext, criteria: SearchCriteria, *, limit: int = SEARCH_LIMIT
) -> SearchResult:
    """宛名検索: by 宛名番号, kana prefix, kanji name prefix, birth date, address part, or 個人番号
    (exact). Logged with the criteria (never the number) and the 宛名番号 of every person shown."""
    guard.require(conn, ctx, action=Action.SEARCH, log=False)  # first: a refused caller learns nothing
    if not criteria.given():
        raise ValidationFailed([FieldError("検索条件", "1つ以上入力してください")])
    stmt = _current_join().where(CURRENT)
    method = "条件検索"
    order: list[Any] = [t.person.c.person_no]
    if criteria.my_number:
        digits = vault.check_number(criteria.my_number)
        holder = vault.owner_of(conn, digits)
        stmt = stmt.where(t.person.c.person_id == (holder.person_id if holder else -1))
        method = "個人番号（完全一致）"
    if criteria.person_no:
        number = criteria.person_no.strip()
        if not (number.isascii() and number.isdigit() and len(number) == 10):
            raise ValidationFailed([FieldError("宛名番号", "10桁の数字です")])
        stmt = stmt.where(t.person.c.person_no == number)
    if criteria.kana:
        key = kana.search_key(criteria.kana)
        if not kana.is_katakana(key):
            raise ValidationFailed([FieldError("カナ氏名", "カタカナまたはひらがなで入力してください")])
        stmt = stmt.where(*_prefix_range(t.person_version.c.kana_key, key))
        order = [text("identity.person_version.kana_key USING ~<~"), t.person_version.c.person_id]
    if criteria.name:
        key = model.name_key(criteria.name, "")
        stmt = stmt.where(*_prefix_range(t.person_version.c.name_key, key))
        if not criteria.kana:
            order = [text("identity.person_version.name_key USING ~<~"), t.person_version.c.person_id]
    if criteria.birth_date:
        stmt = stmt.where(t.person_version.c.birth_date == criteria.birth_date)
    if criteria.address:
        key = model.address_key(criteria.address)
        if len(key) < 2:
            raise ValidationFailed([FieldError("住所", "2文字以上入力してください")])
        stmt = stmt.where(t.person_version.c.address_key.contains(key, autoescape=True))
    rows = conn.execute(stmt.order_by(*order).limit(limit + 1)).all()
    result = [_summary(r) for r in rows[:limit]]
    audit.record(
        conn,
        ctx,
        action=Action.SEARCH,
        subjects=[r.person_no for r in result],
        detail={"method": method, "criteria": criteria.for_log(), "hits": len(result)},
    )
    return SearchResult(result, len(rows) > limit, method)


def _prefix_range(column: Any, key: str) -> list[Any]:
    """A prefix as a range in the byte order of the ``text_pattern_ops`` index (``~>=~``, ``~<~``).

    Written as ``LIKE 'ヤマ%' ORDER BY kana_key`` the planner cannot use the index's order and, with
    LIKE's low row estimate, may read every current version (p99 586 ms over a million persons,
    bench/bench_identity.py); as a range in ``USING ~<~`` order it reads only the top rows (p99 0.24 ms).
    """
    if not key:
        return []
    upper = key[:-1] + chr(ord(key[-1]) + 1)
    return [column.op("~>=~")(key), column.op("~<~")(upper)]


def summaries(conn: Connection, person_ids: list[int]) -> dict[int, PersonSummary]:
    """Current summaries of persons (internal: callers have passed the guard for them)."""
    if not person_ids:
        return {}
    rows = conn.execute(
        _current_join().add_columns(t.person.c.person_id).where(CURRENT, t.person.c.person_id.in_(person_ids))
    ).all()
    return {r.person_id: _summary(r) for r in rows}


def detail(conn: Connection, ctx: AccessContext, person_no: str) -> PersonDetail:
    """宛名照会: the person, their history, household, 送付先. Logged as a view of this person."""
    guard.require(conn, ctx, action=Action.VIEW, subjects=[person_no], detail={"screen": "宛名照会"})
    ref = repo.ref_by_no(conn, person_no)
    current = repo.current_version(conn, ref.person_id)
    household = repo.current_membership(conn, ref.person_id)
    members: list[HouseholdMember] = []
    if household is not None:
        people = repo.household_members(conn, household.household_id)
        names = summaries(conn, [m.person_id for m in people])
        members = sorted(
            (HouseholdMember(m, names[m.person_id]) for m in people if m.person_id in names),
            key=lambda h: (_RELATION_ORDER.get(h.membership.relation, 99), h.person.birth_date),
        )
    has_number = vault.has_number(conn, ref.person_id)
    masked = vault.masked(conn, ref.person_id) if has_number and ctx.business.uses_my_number else None
    return PersonDetail(
        person_no=ref.person_no,
        integrated_no=ref.integrated_no,
        current=current,
        history=repo.history(conn, ref.person_id),
        has_my_number=has_number,
        my_number_masked=masked,
        household=household,
        household_members=members,
        memberships=repo.memberships_of(conn, ref.person_id),
        mailing=_mailing(conn, ref.person_id),
    )


# 世帯員の表示順: 世帯主, 配偶者, 子, 親 …, then by birth date (as on a 住民票).
_RELATION_ORDER = {
    "世帯主": 0,
    "妻": 1,
    "夫": 1,
    "子": 2,
    "子の妻": 3,
    "子の夫": 3,
    "孫": 4,
    "父": 5,
    "母": 5,
}


# -- 住登外 ----------------------------------------------------------------------------------------

NON_RESIDENT_REASONS = (
    "住所地特例（施設入所）",
    "転出（賦課・収納継続）",
    "他市町村の被保険者（住所地特例）",
    "その他",
)


def register_non_resident(
    conn: Connection,
    ctx: AccessContext,
    *,
    city_code: str,
    data: PersonData,
    since: date,
    my_number: str | None = None,
) -> PersonRef:
    """住登外登録: a person the city must track who is not its resident (住所地特例 persons placed in
    another city, former residents with premiums still assessed or collected). The hub assigns the
    宛名番号 (19xxxxxxxx) and the 統合宛名番号."""
    data = data.replace(
        resident_class=ResidentClass.NON_RESIDENT, nonresident_on=data.nonresident_on or since
    )
    errors = model.check_person(data)
    if data.nonresident_reason not in NON_RESIDENT_REASONS:
        errors.append(FieldError("住登外事由", "次のいずれかです: " + "・".join(NON_RESIDENT_REASONS)))
    digits = None
    if my_number:
        try:
            digits = vault.check_number(my_number)
        except vault.InvalidMyNumber as exc:
            errors.append(FieldError("個人番号", str(exc)))
    if errors:
        raise ValidationFailed(errors)
    guard.require(conn, ctx, action=Action.CREATE, min_rank=CLERK_RANK, log=False)
    ref = repo.create_person(
        conn,
        city_code=city_code,
        person_no=None,
        data=data,
        valid_from=since,
        reason="住登外登録",
        staff_id=ctx.staff_id,
    )
    if digits:
        vault.store(conn, ctx, ref, digits, source="住登外登録")
    audit.record(
        conn,
        ctx,
        action=Action.CREATE,
        subjects=[ref.person_no],
        detail={"screen": "住登外登録", "reason": data.nonresident_reason},
    )
    outbox.emit(
        conn,
        "identity.person.registered",
        ref.person_no,
        {
            "person_no": ref.person_no,
            "resident_class": str(data.resident_class),
            "reason": data.nonresident_reason,
        },
        occurred_on=since,
    )
    return ref


def correct(
    conn: Connection, ctx: AccessContext, *, person_no: str, changes: dict[str, Any], reason: str
) -> Version:
    """職権修正・訂正: the current record was wrong. The wrong row is kept (superseded) with who and why."""
    reason = reason.strip()
    if not reason:
        raise ValidationFailed([FieldError("修正理由", "必須です")])
    guard.require(conn, ctx, action=Action.UPDATE, subjects=[person_no], min_rank=CLERK_RANK, log=False)
    ref = repo.ref_by_no(conn, person_no)
    before = repo.current_version(conn, ref.person_id, lock=True)
    after = before.data.replace(**changes)
    errors = model.check_person(after)
    if errors:
        raise ValidationFailed(errors)
    changed = sorted(k for k in changes if getattr(before.data, k) != getattr(after, k))
    if not changed:
        raise ValidationFailed([FieldError("修正内容", "変更された項目がありません")])
    version = repo.correct_person(
        conn, ref.person_id, data=after, reason=f"職権修正: {reason}", staff_id=ctx.staff_id
    )
    audit.record(
        conn,
        ctx,
        action=Action.UPDATE,
        subjects=[person_no],
        detail={"screen": "職権修正", "fields": changed, "reason": reason},
    )
    outbox.emit(
        conn,
        "identity.person.corrected",
        person_no,
        {"person_no": person_no, "fields": changed},
        occurred_on=before.valid_from,
    )
    return version


def change_non_resident(
    conn: Connection,
    ctx: AccessContext,
    *,
    person_no: str,
    changes: dict[str, Any],
    effective_on: date,
    reason: str,
) -> Version:
    """住登外者の異動 (address, facility): residents change only through the registry's events."""
    guard.require(conn, ctx, action=Action.UPDATE, subjects=[person_no], min_rank=CLERK_RANK, log=False)
    ref = repo.ref_by_no(conn, person_no)
    before = repo.current_version(conn, ref.person_id, lock=True)
    if before.data.resident_class is not ResidentClass.NON_RESIDENT:
        raise IdentityError("住民の異動は住民記録システムからの異動情報で行います（職権修正を除く）")
    after = before.data.replace(**changes)
    errors = model.check_person(after)
    if errors:
        raise ValidationFailed(errors)
    version = repo.change_person(
        conn,
        ref.person_id,
        data=after,
        effective_on=effective_on,
        reason=reason or "住登外者の異動",
        staff_id=ctx.staff_id,
    )
    audit.record(
        conn,
        ctx,
        action=Action.UPDATE,
        subjects=[person_no],
        detail={"screen": "住登外異動", "fields": sorted(changes)},
    )
    outbox.emit(
        conn,
        "identity.person.changed",
        person_no,
        {"person_no": person_no, "fields": sorted(changes)},
        occurred_on=effective_on,
    )
    return version


# -- 送付先 ----------------------------------------------------------------------------------------


def _mailing(conn: Connection, person_id: int) -> list[MailingAddress]:
    rows = conn.execute(
        select(t.mailing_address)
        .where(t.mailing_address.c.person_id == person_id, t.mailing_address.c.superseded_at.is_(None))
        .order_by(t.mailing_address.c.business, func.lower(t.mailing_address.c.valid).desc())
    )
    return [
        MailingAddress(
            r.mailing_id,
            r.business,
            r.name,
            r.postal_code,
            r.address,
            r.katagaki,
            r.valid.lower,
            r.valid.upper,
            r.start_reason,
        )
        for r in rows
    ]


def set_mailing_address(
    conn: Connection,
    ctx: AccessContext,
    *,
    person_no: str,
    name: str,
    postal_code: str | None,
    address: str,
    katagaki: str | None,
    since: date,
    reason: str,
) -> None:
    """送付先の登録 for the context's business (seed 000 送付先情報): notices of that business go there
    while it is valid. An open 送付先 of the same business ends the day before ``since``."""
    errors = []
    if not name.strip():
        errors.append(FieldError("送付先氏名", "必須です"))
    if not address.strip():
        errors.append(FieldError("送付先住所", "必須です"))
    if postal_code and not model.POSTAL_RE.match(postal_code):
        errors.append(FieldError("郵便番号", "NNN-NNNN の形式です"))
    if not reason.strip():
        errors.append(FieldError("開始理由", "必須です"))
    if errors:
        raise ValidationFailed(errors)
    guard.require(
        conn,
        ctx,
        action=Action.UPDATE,
        subjects=[person_no],
        min_rank=CLERK_RANK,
        detail={"screen": "送付先登録"},
    )
    ref = repo.ref_by_no(conn, person_no)
    _end_open_mailing(conn, ref.person_id, ctx.business.value, since, "新しい送付先の登録")
    conn.execute(
        insert(t.mailing_address).values(
            person_id=ref.person_id,
            business=ctx.business.value,
            name=name.strip(),
            postal_code=postal_code or None,
            address=address.strip(),
            katagaki=(katagaki or "").strip() or None,
            valid=Range(since, None, bounds="[)"),
            start_reason=reason.strip(),
            recorded_by=ctx.staff_id,
        )
    )


def end_mailing_address(
    conn: Connection, ctx: AccessContext, *, person_no: str, on: date, reason: str
) -> None:
    """送付先の終了: from ``on`` notices go to the person's own address again."""
    guard.require(
        conn,
        ctx,
        action=Action.UPDATE,
        subjects=[person_no],
        min_rank=CLERK_RANK,
        detail={"screen": "送付先終了"},
    )
    ref = repo.ref_by_no(conn, person_no)
    if not _end_open_mailing(conn, ref.person_id, ctx.business.value, on, reason or "終了"):
        raise IdentityError("終了する送付先がありません")


def _end_open_mailing(conn: Connection, person_id: int, business: str, on: date, reason: str) -> bool:
    open_row = conn.execute(
        select(t.mailing_address.c.mailing_id, t.mailing_address.c.valid).where(
            t.mailing_address.c.person_id == person_id,
            t.mailing_address.c.business == business,
            t.mailing_address.c.superseded_at.is_(None),
            func.upper_inf(t.mailing_address.c.valid),
        )
    ).first()
    if open_row is None:
        return False
    values: dict[str, Any] = {"end_reason": reason}
    if on <= open_row.valid.lower:
        values["superseded_at"] = func.now()
    else:
        values["valid"] = Range(open_row.valid.lower, on, bounds="[)")
    conn.execute(
        update(t.mailing_address)
        .where(t.mailing_address.c.mailing_id == open_row.mailing_id)
        .values(**values)
    )
    return True


@dataclass(frozen=True)
class NoticeAddress:
    """Where a notice goes (宛先): the business's 送付先 when one is valid, else the person's address."""

    name: str
    postal_code: str | None
    address: str
    katagaki: str | None
    is_mailing_address: bool


def notice_address(conn: Connection, ctx: AccessContext, *, person_no: str, on: date) -> NoticeAddress:
    guard.require(conn, ctx, action=Action.VIEW, subjects=[person_no], detail={"item": "送付先"})
    ref = repo.ref_by_no(conn, person_no)
    row = conn.execute(
        select(t.mailing_address).where(
            t.mailing_address.c.person_id == ref.person_id,
            t.mailing_address.c.business == ctx.business.value,
            t.mailing_address.c.superseded_at.is_(None),
            t.mailing_address.c.valid.contains(on),
        )
    ).first()
    if row is not None:
        return NoticeAddress(row.name, row.postal_code, row.address, row.katagaki, True)
    version = repo.version_on(conn, ref.person_id, on) or repo.current_version(conn, ref.person_id)
    d = version.data
    return NoticeAddress(d.display_name, d.postal_code, d.address, d.katagaki, False)
