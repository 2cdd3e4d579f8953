"""Versioned data keys in ``security.data_key`` and the in-process cache of unwrapped keys (暗号鍵).

One active key per purpose (``vault`` encrypts, ``blind_index`` computes the HMAC index); older
vault versions stay, retired, so every ciphertext that names them still decrypts until rotation
has moved it on. Keys are stored wrapped by the provider's KEK; unwrapped keys are cached per
(purpose, version, wrapped bytes) so an HSM/KMS round trip happens once per process, and a cache
entry can never serve a different database's key of the same version number.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select, text, update

from kiban.db import config
from kiban.security.keys.cipher import PURPOSES, DataKey, new_secret
from kiban.security.keys.errors import KeysNotInitialised, KeyUnwrapError, UnknownKeyVersion
from kiban.security.keys.provider import KEY_FILE_ENV, PROVIDER_ENV, KeyProvider, provider_from_env
from kiban.security.keys.tables import data_key

# pg_advisory_xact_lock key ("kibankey"): creating versions is serialised, so two processes cannot
# both make "version 2" or both leave a key active.
_KEYS_LOCK = 0x6B6962616E6B6579

_cache: dict[tuple[str, int, bytes], DataKey] = {}
_cache_lock = threading.Lock()
_override: KeyProvider | None = None
_from_env: tuple[tuple[str, str, str], KeyProvider] | None = None


@dataclass(frozen=True)
class KeyInfo:
    """What an operator may see about a data key: never the key, wrapped or not."""

    purpose: str
    version: int
    state: str
    kek_id: str
    created_at: datetime | None
    retired_at: datetime | None


# -- provider and cache --------------------------------------------------------------------------


def use_provider(provider: KeyProvider | None) -> None:
    """Use ``provider`` in this process instead of the environment's (None: back to the environment)."""
    global _override
    _override = provider
    clear_cache()


def current_provider() -> KeyProvider:
    """The explicit provider, else the one the environment names (re-read when the environment changes)."""
    global _from_env
    if _override is not None:
        return _override
    env = (
        os.environ.get(PROVIDER_ENV, ""),
        os.environ.get(KEY_FILE_ENV, ""),
        str(config.home()),
    )
    if _from_env is None or _from_env[0] != env:
        _from_env = (env, provider_from_env())
    return _from_env[1]


def clear_cache() -> None:
    """Forget every unwrapped key and the environment's provider (tests; after a KEK change)."""
    global _from_env
    with _cache_lock:
        _cache.clear()
        _from_env = None


def _unwrap(purpose: str, version: int, wrapped: bytes, kek_id: str) -> DataKey:
    slot = (purpose, version, hashlib.sha256(wrapped).digest())
    hit = _cache.get(slot)
    if hit is not None:
        return hit
    provider = current_provider()
    try:
        secret = provider.unwrap(wrapped, key_id=f"{purpose}:{version}")
    except KeyUnwrapError:
        if kek_id != provider.kek_id:
            raise KeyUnwrapError(
                f"data key {purpose}:{version} was wrapped by KEK {kek_id}, "
                f"but this process uses KEK {provider.kek_id}"
            ) from None
        raise
    key = DataKey(purpose, version, secret)
    with _cache_lock:
        _cache[slot] = key
    return key


# -- reading ---------------------------------------------------------------------------------


def active_key(conn: Connection, purpose: str) -> DataKey:
    """The key new ciphertexts (or index values) are made with."""
    row = conn.execute(
        select(data_key.c.version, data_key.c.wrapped, data_key.c.kek_id).where(
            data_key.c.purpose == purpose, data_key.c.state == "active"
        )
    ).one_or_none()
    if row is None:
        raise KeysNotInitialised(f"no active {purpose} key; run `kiban keys init` as the database owner")
    return _unwrap(purpose, row.version, bytes(row.wrapped), row.kek_id)


def key_version(conn: Connection, purpose: str, version: int) -> DataKey:
    """The key of one version, active or retired."""
    row = conn.execute(
        select(data_key.c.wrapped, data_key.c.kek_id).where(
            data_key.c.purpose == purpose, data_key.c.version == version
        )
    ).one_or_none()
    if row is None:
        raise UnknownKeyVersion(f"no {purpose} key of version {version} in this database")
    return _unwrap(purpose, version, bytes(row.wrapped), row.kek_id)


def all_keys(conn: Connection, purpose: str) -> dict[int, DataKey]:
    """Every version of one purpose, unwrapped (a snapshot for batch work)."""
    rows = conn.execute(
        select(data_key.c.version, data_key.c.wrapped, data_key.c.kek_id).where(data_key.c.purpose == purpose)
    )
    return {r.version: _unwrap(purpose, r.version, bytes(r.wrapped), r.kek_id) for r in rows}


def list_keys(conn: Connection) -> list[KeyInfo]:
    rows = conn.execute(
        select(
            data_key.c.purpose,
            data_key.c.version,
            data_key.c.state,
            data_key.c.kek_id,
            data_key.c.created_at,
            data_key.c.retired_at,
        ).order_by(data_key.c.purpose, data_key.c.version)
    )
    return [KeyInfo(**r._asdict()) for r in rows]


def active_version(conn: Connection, purpose: str) -> int | None:
    return conn.execute(
        select(data_key.c.version).where(data_key.c.purpose == purpose, data_key.c.state == "active")
    ).scalar_one_or_none()


# -- creating --------------------------------------------------------------------------------


def ensure_keys(conn: Connection) -> dict[str, int]:
    """Create version 1 of each purpose that has no active key; return the active versions.

    Idempotent. Runs as the database owner (the application role may only read keys).
    """
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _KEYS_LOCK})
    versions: dict[str, int] = {}
    for purpose in PURPOSES:
        current = active_version(conn, purpose)
        versions[purpose] = current if current is not None else _create(conn, purpose)
    return versions


def new_version(conn: Connection, purpose: str) -> int:
    """Create the next version of ``purpose`` as the active key and retire the previous one.

    The retired key stays in the table: ciphertexts under it decrypt until they are re-encrypted
    (鍵ローテーション, see ``rotate``). Commits with the caller's transaction.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown key purpose {purpose!r}")
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _KEYS_LOCK})
    conn.execute(
        update(data_key)
        .where(data_key.c.purpose == purpose, data_key.c.state == "active")
        .values(state="retired", retired_at=func.now())
    )
    return _create(conn, purpose)


def _create(conn: Connection, purpose: str) -> int:
    last = conn.execute(select(func.max(data_key.c.version)).where(data_key.c.purpose == purpose)).scalar()
    version = (last or 0) + 1
    provider = current_provider()
    # A process holding the wrong KEK (wrong key file, wrong KMS key) must fail here, not commit a
    # new key that every other process would be unable to unwrap.
    # Compare with the newest key of each purpose (new_version has just retired this purpose's).
    others = set(
        conn.execute(
            text(
                "SELECT DISTINCT kek_id FROM security.data_key d WHERE version = "
                "(SELECT max(version) FROM security.data_key m WHERE m.purpose = d.purpose)"
            )
        ).scalars()
    )
    if others - {provider.kek_id}:
        raise KeyUnwrapError(
            f"the current data keys are wrapped by KEK {', '.join(sorted(others))}, but this process uses "
            f"KEK {provider.kek_id}; refusing to create {purpose}:{version} under a different KEK"
        )
    secret = new_secret()
    wrapped = provider.wrap(secret, key_id=f"{purpose}:{version}")
    conn.execute(
        data_key.insert().values(
            purpose=purpose, version=version, wrapped=wrapped, kek_id=provider.kek_id, state="active"
        )
    )
    # Prime the cache: the next encrypt needs no provider round trip (an HSM/KMS call costs ms).
    with _cache_lock:
        _cache[(purpose, version, hashlib.sha256(wrapped).digest())] = DataKey(purpose, version, secret)
    return version
