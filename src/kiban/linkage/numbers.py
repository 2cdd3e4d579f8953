"""The My-Number path of 庁内連携 (個人番号の連携): linkage's only way to the vault.

A record carries the 個人番号 only to a consumer that is a 個人番号利用事務 (番号法第9条; domain.md
§10.9). The type ``NumberedConsumer`` can be built only from a consumer whose ``uses_my_number`` is
true, and ``numbers_for`` accepts nothing else — so a plain consumer's delivery has no way to reach
the vault. Each call goes through ``identity.vault.hand_over``: the guard for the consumer's business (its
grant, today) and one access-log row naming every person whose number was handed over, with the
consumer and the dataset; the number itself is never logged. Only the identity service decrypts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection

from kiban.identity import vault
from kiban.linkage.errors import LinkageError
from kiban.rules.linkage import ConsumerSpec
from kiban.security.context import AccessContext, Business


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
    return vault.hand_over(
        conn,
        ctx,
        wanted,
        via="庁内連携",
        detail={"consumer": consumer.spec.code, "dataset": dataset, "subscription_id": subscription_id},
    )
