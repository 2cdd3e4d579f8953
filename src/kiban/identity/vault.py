"""The 個人番号 vault (個人番号保管庫): the only place kiban keeps the number.

One row per person in ``identity.my_number_vault``: the AES-256-GCM ciphertext (row id in the
associated data, so a ciphertext copied to another row does not open) and a keyed HMAC blind index
for exact lookup (architecture.md §1; docs/keys.md). At most one number per person (primary key) and
one person per number (unique blind index).

- Entry checks the check digit (番号法施行令第8条) and refuses a number already held by someone
  else; the existing 宛名番号 is named only to staff of the 宛名 business (those who may resolve it).
- Display is masked (``****-****-0257``); the full number only through ``reveal``, which needs a
  second factor, a purpose, and is logged as 個人番号の表示.
- No error message, log row or outbox event ever carries the number (they name the field instead).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from kiban.identity import repo
from kiban.identity import tables as t
from kiban.identity.model import CLERK_RANK
from kiban.identity.repo import IdentityError, PersonRef
from kiban.security import audit, guard, keys
from kiban.security.context import AccessContext, Action, Business
from kiban.shared import mynumber

TABLE = "identity.my_number_vault"
COLUMN = "ciphertext"

keys.register_encrypted_column(TABLE, COLUMN, "person_id")


class InvalidMyNumber(IdentityError):
    pass


class DuplicateMyNumber(IdentityError):
    """The number is already registered: to another person, or this person has another one."""

    def __init__(self, message: str, existing_person_no: str | None = None) -> None:
        super().__init__(message)
        self.existing_person_no = existing_person_no


def check_number(typed: str) -> str:
    """Normalise (全角・ハイフン可) and check the digit; raise InvalidMyNumber without echoing it."""
    try:
        digits = mynumber.normalize(typed)
    except ValueError:
        raise InvalidMyNumber("個人番号は12桁の数字です") from None
    if not mynumber.is_valid(digits):
        raise InvalidMyNumber("個人番号の検査用数字が一致しません（入力誤りの可能性があります）")
    return digits


@dataclass(frozen=True)
class Stored:
    """A number ready to insert: computed outside the database round trip (bulk imports)."""

    person_id: int
    ciphertext: bytes
    blind_index: bytes


def seal(v: keys.Vault, person_id: int, digits: str) -> Stored:
    return Stored(
        person_id,
        v.encrypt(digits, table=TABLE, column=COLUMN, row_id=person_id),
        v.blind_index(digits),
    )


def owner_of(conn: Connection, digits: str) -> PersonRef | None:
    """Who holds this number (no access check: callers are services that already passed the guard)."""
    row = conn.execute(
        select(t.person.c.person_id, t.person.c.person_no, t.person.c.integrated_no)
        .join(t.my_number_vault, t.my_number_vault.c.person_id == t.person.c.person_id)
        .where(t.my_number_vault.c.blind_index == keys.blind_index(conn, digits))
    ).first()
    return PersonRef(int(row.person_id), row.person_no, row.integrated_no) if row else None


def _may_name_holder(ctx: AccessContext) -> bool:
    # Seed 000: 重複の解消 is the 宛名 section's work; other businesses learn only that it failed.
    return ctx.business is Business.ATENA


def store(
    conn: Connection,
    ctx: AccessContext,
    ref: PersonRef,
    digits: str,
    *,
    source: str,
    import_id: int | None = None,
) -> bool:
    """Put ``digits`` (already checked) for ``ref`` in the vault. Returns False if it was already
    there (same person, same number). Raises DuplicateMyNumber otherwise. No guard here: callers."""
    holder = owner_of(conn, digits)
    if holder is not None:
        if holder.person_id == ref.person_id:
            return False
        if _may_name_holder(ctx):
            raise DuplicateMyNumber(
                f"この個人番号は既に宛名番号 {holder.person_no} に登録されています", holder.person_no
            )
        raise DuplicateMyNumber(
            "この個人番号は既に別の宛名に登録されています（宛名担当課に確認してください）"
        )
    if conn.execute(
        select(t.my_number_vault.c.person_id).where(t.my_number_vault.c.person_id == ref.person_id)
    ).first():
        raise DuplicateMyNumber(f"宛名番号 {ref.person_no} には別の個人番号が登録されています")
    sealed = seal(keys.Vault.load(conn), ref.person_id, digits)
    conn.execute(
        insert(t.my_number_vault).values(
            person_id=ref.person_id,
            ciphertext=sealed.ciphertext,
            blind_index=sealed.blind_index,
            source=source,
            registered_by=ctx.staff_id,
            import_id=import_id,
        )
    )
    return True


def register(
    conn: Connection, ctx: AccessContext, *, person_no: str, typed: str, source: str = "窓口"
) -> None:
    """個人番号の登録 at the counter (番号確認 against the card is the clerk's duty, seed 000)."""
    guard.require(
        conn,
        ctx,
        action=Action.CREATE,
        subjects=[person_no],
        min_rank=CLERK_RANK,
        detail={"item": "個人番号"},
    )
    digits = check_number(typed)
    store(conn, ctx, repo.ref_by_no(conn, person_no), digits, source=source)


def find_person(conn: Connection, ctx: AccessContext, typed: str) -> PersonRef | None:
    """Exact lookup by 個人番号 through the blind index, logged as such (the number is not logged)."""
    digits = check_number(typed)
    guard.require(conn, ctx, action=Action.SEARCH, log=False)
    found = owner_of(conn, digits)
    audit.record(
        conn,
        ctx,
        action=Action.SEARCH,
        subjects=[found.person_no] if found else [],
        detail={"method": "個人番号（完全一致）", "hits": 1 if found else 0},
    )
    return found


def has_number(conn: Connection, person_id: int) -> bool:
    return (
        conn.execute(
            select(t.my_number_vault.c.person_id).where(t.my_number_vault.c.person_id == person_id)
        ).first()
        is not None
    )


def _plain(conn: Connection, person_id: int) -> str | None:
    blob = conn.execute(
        select(t.my_number_vault.c.ciphertext).where(t.my_number_vault.c.person_id == person_id)
    ).scalar()
    if blob is None:
        return None
    return keys.decrypt(conn, bytes(blob), table=TABLE, column=COLUMN, row_id=person_id).decode("ascii")


def masked(conn: Connection, person_id: int) -> str | None:
    """``****-****-0257`` for a detail screen of a My-Number business (the caller logged the view)."""
    digits = _plain(conn, person_id)
    return mynumber.mask(digits) if digits else None


def reveal(conn: Connection, ctx: AccessContext, *, person_no: str, reason: str) -> str:
    """個人番号の表示: the deliberate act of showing the whole number, with a stated reason.

    The guard refuses it without a second factor or outside a My-Number business; the access log
    records the reveal with the reason (never the number)."""
    reason = reason.strip()
    if not reason:
        raise IdentityError("個人番号を表示する理由を入力してください")
    guard.require(
        conn,
        ctx,
        action=Action.REVEAL_MY_NUMBER,
        subjects=[person_no],
        min_rank=CLERK_RANK,
        detail={"reason": reason},
    )
    ref = repo.ref_by_no(conn, person_no)
    digits = _plain(conn, ref.person_id)
    if digits is None:
        raise IdentityError(f"宛名番号 {person_no} には個人番号が登録されていません")
    return f"{digits[:4]}-{digits[4:8]}-{digits[8:]}"


# 符号取得: the 中間サーバー asks the network for a person's 符号 with the number sealed to the
# network's key (seed 000 中間サーバー ① 符号管理機能); it never keeps or shows the number.
TOKEN_ACQUISITION = "符号取得"


def hand_over(
    conn: Connection,
    ctx: AccessContext,
    person_nos: list[str],
    *,
    via: str,
    detail: dict[str, object] | None = None,
) -> dict[str, str]:
    """個人番号の提供: 宛名番号 → 個人番号 for a system that may receive it, in memory only.

    The one way another context (庁内連携 to a 個人番号利用事務, the 中間サーバー's 符号取得) gets
    numbers: the guard checks the grant of ``ctx``'s business (a 個人番号利用事務, 番号法第9条, or the
    中間サーバー for ``via=TOKEN_ACQUISITION`` only) and
    writes one access-log row (出力) naming every person and ``via`` — never the number. Persons
    without a number are absent from the result.
    """
    wanted = sorted(set(person_nos))
    if not wanted:
        return {}
    if not ctx.business.uses_my_number and not (ctx.business is Business.CHUKAN and via == TOKEN_ACQUISITION):
        raise IdentityError(f"{ctx.business.label}の事務では個人番号を受け取れません（番号法第9条）")
    guard.require(
        conn,
        ctx,
        action=Action.EXPORT,
        subjects=wanted,
        detail={"item": "個人番号", "via": via, "count": len(wanted), **(detail or {})},
    )
    rows = conn.execute(
        select(t.person.c.person_no, t.my_number_vault.c.person_id, t.my_number_vault.c.ciphertext)
        .join(t.my_number_vault, t.my_number_vault.c.person_id == t.person.c.person_id)
        .where(t.person.c.person_no.in_(wanted))
    ).all()
    if not rows:
        return {}
    v = keys.Vault.load(conn)
    return {
        r.person_no: v.decrypt(bytes(r.ciphertext), table=TABLE, column=COLUMN, row_id=r.person_id).decode(
            "ascii"
        )
        for r in rows
    }
