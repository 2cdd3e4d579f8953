"""The My-Number path of 庁内連携 (個人番号の連携): the only place linkage reads the vault.

A record carries the 個人番号 only to a consumer that is a 個人番号利用事務 (番号法第9条; domain.md
§10.9). The type ``NumberedConsumer`` can be built only from a consumer whose ``uses_my_number`` is
true, and ``numbers_for`` accepts nothing else — so a plain consumer's delivery has no way to reach
the vault. Each call passes the guard for the consumer's business (its grant, today) and writes one
access-log row naming every person whose number was handed over, with the consumer and the reason;
the number itself is never logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, text

from kiban.identity.vault import COLUMN, TABLE
from kiban.linkage.errors import LinkageError
from kiban.rules.linkage import ConsumerSpec
from kiban.security import guard, keys
from kiban.security.context import AccessContext, Action, Business


@dataclass(frozen=True)
class NumberedConsumer:
    """A consumer proven to be a 個人番号利用事務 (build with ``numbered``)."""

    spec: ConsumerSpec
    business: Business


def numbered(spec: ConsumerSpec) -> NumberedConsumer:
    if not spec.uses_my_number or spec.business is None:
        raise LinkageError(f"連携先 {spec.label} は個人番号利用事務ではありません")
    business = Business(spec.business)
    if not business.uses_my_number:
        raise LinkageError(f"連携先 {spec.label} の業務（{business.label}）は個人番号利用事務ではありません")
    return NumberedConsumer(spec, business)


def purpose_of(consumer: NumberedConsumer) -> str:
    """The 処理事由 of a delivery for the consumer's business (security.purpose, migration 0012)."""
    return f"{consumer.business.value}.linkage"


def numbers_for(
    conn: Connection,
    ctx: AccessContext,
    consumer: NumberedConsumer,
    person_nos: Iterable[str],
    *,
    dataset: str,
    subscription_id: int,
) -> dict[str, str]:
    """宛名番号 → 個人番号 for the persons the vault holds a number for, logged as one export."""
    wanted = sorted(set(person_nos))
    if not wanted:
        return {}
    if ctx.business is not consumer.business:
        raise LinkageError(
            f"連携先 {consumer.spec.label} の個人番号は{consumer.business.label}の業務でのみ受領できます"
        )
    guard.require(
        conn,
        ctx,
        action=Action.EXPORT,
        subjects=wanted,
        detail={
            "item": "個人番号",
            "via": "庁内連携",
            "consumer": consumer.spec.code,
            "dataset": dataset,
            "subscription_id": subscription_id,
            "count": len(wanted),
        },
    )
    rows = conn.execute(
        text(
            "SELECT p.person_no, v.person_id, v.ciphertext FROM identity.person p "
            "JOIN identity.my_number_vault v ON v.person_id = p.person_id WHERE p.person_no = ANY(:nos)"
        ),
        {"nos": wanted},
    ).all()
    if not rows:
        return {}
    vault = keys.Vault.load(conn)
    return {
        r.person_no: vault.decrypt(
            bytes(r.ciphertext), table=TABLE, column=COLUMN, row_id=r.person_id
        ).decode("ascii")
        for r in rows
    }
