"""Encrypt, decrypt and index values of the 個人番号 vault (暗号化・復号・ブラインドインデックス).

Two ways in:

* ``encrypt(conn, …)``, ``decrypt(conn, …)``, ``blind_index(conn, …)`` — one value, one small
  query for the key (the unwrapped key itself comes from the process cache);
* ``Vault.load(conn)`` — a snapshot of every key for batch work (bulk loads, rotation): no query
  per value.

Only the identity service calls these, for a purpose that allows it, and it logs that it did
(architecture.md §1). The associated data binds each ciphertext to its table, column, row and key
version, so the database itself cannot be used to move a 個人番号 onto another person's row.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from kiban.security.keys import store
from kiban.security.keys.cipher import (
    BLIND_INDEX,
    VAULT,
    DataKey,
    canonical_row_id,
    context_bytes,
    contexts_bytes,
    key_version_of,
    to_bytes,
)
from kiban.security.keys.errors import DecryptionError, KeysNotInitialised, UnknownKeyVersion


def encrypt(conn: Connection, plaintext: bytes | str, *, table: str, column: str, row_id: int | str) -> bytes:
    """Seal ``plaintext`` for one cell under the active vault key (str is encoded as UTF-8)."""
    key = store.active_key(conn, VAULT)
    return key.seal(to_bytes(plaintext), context_bytes(table, column, row_id))


def decrypt(conn: Connection, blob: bytes, *, table: str, column: str, row_id: int | str) -> bytes:
    """Open a ciphertext of one cell with the key version its header names (active or retired)."""
    context = context_bytes(table, column, row_id)
    version = key_version_of(bytes(blob))
    key = store.key_version(conn, VAULT, version)
    return open_cell(key, bytes(blob), context, table, column, row_id)


def blind_index(conn: Connection, value: str, *, version: int | None = None) -> bytes:
    """ブラインドインデックス: HMAC-SHA256 of ``value`` under the blind-index key (32 bytes).

    Deterministic, so an exact-match lookup is ``WHERE index_column = :blind_index(value)``
    without decrypting anything. The key is separate from the vault keys and has its own
    versions, so rotating the vault key never changes an index value; rotating the blind-index
    key does, and ``rotate_blind_index`` recomputes the index column in the same transaction.
    Normalise ``value`` (e.g. digits only) before calling: the index matches bytes exactly.
    """
    key = (
        store.active_key(conn, BLIND_INDEX)
        if version is None
        else store.key_version(conn, BLIND_INDEX, version)
    )
    return key.mac(value.encode("utf-8"))


class Vault:
    """A snapshot of the vault and blind-index keys, for work over many rows.

    A key created after the snapshot is not seen; load a new ``Vault`` per batch or transaction.
    """

    __slots__ = ("_blind", "_keys", "active")

    def __init__(self, keys: dict[int, DataKey], active: DataKey, blind: DataKey | None) -> None:
        self._keys = keys
        self.active = active
        self._blind = blind

    @classmethod
    def load(cls, conn: Connection) -> Vault:
        keys = store.all_keys(conn, VAULT)
        version = store.active_version(conn, VAULT)
        if version is None:
            raise KeysNotInitialised("no active vault key; run `kiban keys init` as the database owner")
        blind_version = store.active_version(conn, BLIND_INDEX)
        blind = store.key_version(conn, BLIND_INDEX, blind_version) if blind_version is not None else None
        return cls(keys, keys[version], blind)

    def __repr__(self) -> str:
        return f"<Vault active=v{self.active.version} versions={sorted(self._keys)}>"

    def encrypt(self, plaintext: bytes | str, *, table: str, column: str, row_id: int | str) -> bytes:
        return self.active.seal(to_bytes(plaintext), context_bytes(table, column, row_id))

    def encrypt_many(
        self, rows: Sequence[tuple[int | str, bytes | str]], *, table: str, column: str
    ) -> list[bytes]:
        """``encrypt`` of each (row id, plaintext) of one column, in order."""
        aad = contexts_bytes(table, column, [r for r, _p in rows])
        return self.active.seal_many([(to_bytes(p), a) for (_r, p), a in zip(rows, aad, strict=True)])

    def decrypt(self, blob: bytes, *, table: str, column: str, row_id: int | str) -> bytes:
        context = context_bytes(table, column, row_id)
        version = key_version_of(bytes(blob))
        key = self._keys.get(version)
        if key is None:
            raise UnknownKeyVersion(f"no vault key of version {version} in this database")
        return open_cell(key, bytes(blob), context, table, column, row_id)

    def blind_index(self, value: str) -> bytes:
        if self._blind is None:
            raise KeysNotInitialised("no active blind_index key; run `kiban keys init` as the database owner")
        return self._blind.mac(value.encode("utf-8"))

    def blind_indexes(self, values: Sequence[str]) -> list[bytes]:
        """``blind_index`` of each value, in order."""
        if self._blind is None:
            raise KeysNotInitialised("no active blind_index key; run `kiban keys init` as the database owner")
        return self._blind.mac_many([value.encode("utf-8") for value in values])


def open_cell(key: DataKey, blob: bytes, context: bytes, table: str, column: str, row_id: int | str) -> bytes:
    """Decrypt one cell's ciphertext with ``key``; the error names the cell, never the value."""
    try:
        return key.open(blob, context)
    except DecryptionError:
        # Name the cell (internal ids only), never the value; one message for every cause.
        raise DecryptionError(
            f"ciphertext of {table}.{column} row {canonical_row_id(row_id)} (key version {key.version}) "
            "does not decrypt: tampered, moved from another cell, or relabelled"
        ) from None
