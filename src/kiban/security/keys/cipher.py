"""The ciphertext format and the pure crypto of the 個人番号 vault (暗号化・ブラインドインデックス).

No database, no files: a ``DataKey`` is an unwrapped key of one purpose and version, and the
functions here seal, open and index with it. ``kiban.security.keys.vault`` finds the right key.

Ciphertext (architecture.md §1: AES-256-GCM, key version in each ciphertext)::

    byte 0       format version (1)
    bytes 1..4   key version, unsigned big-endian
    bytes 5..16  random 96-bit nonce
    bytes 17..   AES-256-GCM ciphertext followed by its 16-byte tag

Associated data = the 5 header bytes + the canonical bytes of (table, column, row id). GCM
authenticates it without storing it, so a ciphertext copied to another row, column or table, or
whose header is edited to name another key version, fails the tag check (seed 000 Ⅲ-7 リスク1
特定個人情報の漏えい・滅失・毀損: a leaked or shuffled column must not be readable or swappable).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import struct
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kiban.security.keys.errors import DecryptionError

FORMAT_VERSION = 1
KEY_BYTES = 32  # AES-256 and HMAC-SHA256 keys alike
NONCE_BYTES = 12  # GCM's natural nonce; random per message (2^32 messages per key stays far below the bound)
TAG_BYTES = 16
HEADER = struct.Struct(">BI")  # format version, key version
MIN_CIPHERTEXT = HEADER.size + NONCE_BYTES + TAG_BYTES
MAX_KEY_VERSION = 2**31 - 1  # stored in a PostgreSQL integer
_SHA256_BLOCK = 64

VAULT = "vault"
BLIND_INDEX = "blind_index"
PURPOSES = (VAULT, BLIND_INDEX)

_IDENT = re.compile(r"[a-z_][a-z0-9_]*")


class DataKey:
    """An unwrapped data key (データ鍵) of one purpose and version.

    The key bytes live only in this object's slot; ``repr`` and ``str`` show purpose and version,
    never the key, so a log line or a traceback cannot leak it.
    """

    __slots__ = ("_aead", "_secret", "purpose", "version")

    def __init__(self, purpose: str, version: int, secret: bytes) -> None:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown key purpose {purpose!r}")
        if not 1 <= version <= MAX_KEY_VERSION:
            raise ValueError(f"key version out of range: {version}")
        if len(secret) != KEY_BYTES:
            raise ValueError(f"a data key has {KEY_BYTES} bytes")
        self.purpose = purpose
        self.version = version
        self._secret = bytes(secret)
        self._aead = AESGCM(self._secret) if purpose == VAULT else None

    def __repr__(self) -> str:
        return f"<DataKey {self.purpose} v{self.version}>"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would copy the key into whatever stores the pickle (a cache, a queue, a crash dump).
        raise TypeError("data keys are not picklable")

    def seal(self, plaintext: bytes, aad_context: bytes) -> bytes:
        """Encrypt ``plaintext``; ``aad_context`` comes from :func:`context_bytes`."""
        aead = self._vault_aead()
        header = HEADER.pack(FORMAT_VERSION, self.version)
        nonce = os.urandom(NONCE_BYTES)
        return header + nonce + aead.encrypt(nonce, plaintext, header + aad_context)

    def seal_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
        """``seal`` of each (plaintext, aad_context), the same format; one read of the CSPRNG for all
        the nonces (a bulk load seals a million numbers: the calls, not AES, are the cost)."""
        aead = self._vault_aead()
        header = HEADER.pack(FORMAT_VERSION, self.version)
        nonces = os.urandom(NONCE_BYTES * len(items))
        out = []
        for k, (plaintext, aad_context) in enumerate(items):
            nonce = nonces[k * NONCE_BYTES : (k + 1) * NONCE_BYTES]
            out.append(header + nonce + aead.encrypt(nonce, plaintext, header + aad_context))
        return out

    def open(self, blob: bytes, aad_context: bytes) -> bytes:
        """Decrypt a ciphertext sealed under this key; raises ``DecryptionError`` on any mismatch."""
        aead = self._vault_aead()
        _, version = parse_header(blob)
        if version != self.version:
            raise DecryptionError(f"ciphertext names key version {version}, not {self.version}")
        header = blob[: HEADER.size]
        nonce = blob[HEADER.size : HEADER.size + NONCE_BYTES]
        try:
            return aead.decrypt(nonce, blob[HEADER.size + NONCE_BYTES :], header + aad_context)
        except InvalidTag:
            # `from None`: the cryptography exception adds nothing and keeps the traceback short.
            raise DecryptionError("ciphertext failed authentication") from None

    def mac(self, value: bytes) -> bytes:
        """HMAC-SHA256 of ``value`` (blind-index keys only)."""
        if self.purpose != BLIND_INDEX:
            raise ValueError("only a blind_index key computes a blind index")
        # The one-shot C function: no HMAC object per value (a bulk load indexes a million numbers).
        return hmac.digest(self._secret, value, "sha256")

    def mac_many(self, values: Sequence[bytes]) -> list[bytes]:
        """``mac`` of each value: HMAC-SHA256 (RFC 2104) from the key's two padded blocks hashed once."""
        if self.purpose != BLIND_INDEX:
            raise ValueError("only a blind_index key computes a blind index")
        block = self._secret.ljust(_SHA256_BLOCK, b"\0")  # a 32-byte key is shorter than the block
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        out = []
        for value in values:
            i = inner.copy()
            i.update(value)
            o = outer.copy()
            o.update(i.digest())
            out.append(o.digest())
        return out

    def _vault_aead(self) -> AESGCM:
        if self._aead is None:
            raise ValueError("only a vault key encrypts; the blind-index key is kept separate")
        return self._aead

    def fingerprint(self) -> str:
        """A short, one-way identifier of the key (for tests and diagnostics; reveals nothing)."""
        return hashlib.sha256(b"kiban-data-key-fingerprint\x00" + self._secret).hexdigest()[:16]


def new_secret() -> bytes:
    """32 bytes from the operating system's CSPRNG."""
    return os.urandom(KEY_BYTES)


def parse_header(blob: bytes) -> tuple[int, int]:
    """(format version, key version) of a ciphertext, after checking its length and format."""
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise DecryptionError("ciphertext must be bytes")
    if len(blob) < MIN_CIPHERTEXT:
        raise DecryptionError("ciphertext is too short")
    fmt, version = HEADER.unpack_from(bytes(blob[: HEADER.size]))
    if fmt != FORMAT_VERSION:
        raise DecryptionError(f"unknown ciphertext format {fmt}")
    return fmt, version


def key_version_of(blob: bytes) -> int:
    """The key version a ciphertext was sealed under (read from its header, no key needed)."""
    return parse_header(blob)[1]


def check_table(table: str) -> str:
    """``schema.table`` in lower-case SQL identifiers; the form the registry and rotation use."""
    parts = table.split(".")
    if len(parts) != 2 or not all(_IDENT.fullmatch(p) for p in parts):
        raise ValueError(f"table must be 'schema.table' in lower-case identifiers, not {table!r}")
    return table


def check_column(column: str) -> str:
    if not _IDENT.fullmatch(column):
        raise ValueError(f"column must be a lower-case identifier, not {column!r}")
    return column


def canonical_row_id(row_id: int | str) -> str:
    """The row id as text. ``5`` and ``"5"`` are the same row: one id column has one type."""
    if isinstance(row_id, bool) or not isinstance(row_id, int | str):
        raise ValueError("row_id must be an int or a str")
    text = str(row_id)
    if not text:
        raise ValueError("row_id must not be empty")
    return text


def context_bytes(table: str, column: str, row_id: int | str) -> bytes:
    """Canonical, unambiguous bytes of (table, column, row id): each field length-prefixed.

    Length prefixes (not separators) so no choice of names can make two different contexts
    encode to the same bytes.
    """
    return _cell_prefix(table, column) + _field(canonical_row_id(row_id))


def contexts_bytes(table: str, column: str, row_ids: Sequence[int | str]) -> list[bytes]:
    """:func:`context_bytes` of each row id of one column."""
    prefix = _cell_prefix(table, column)
    return [prefix + _field(canonical_row_id(r)) for r in row_ids]


@functools.lru_cache(maxsize=256)
def _cell_prefix(table: str, column: str) -> bytes:
    # Cached: a bulk load encrypts one column of a million rows; the names are checked once.
    return b"kiban.vault" + _field(check_table(table)) + _field(check_column(column))


def _field(value: str) -> bytes:
    raw = value.encode("utf-8")
    return struct.pack(">I", len(raw)) + raw


def to_bytes(plaintext: bytes | str) -> bytes:
    if isinstance(plaintext, str):
        return plaintext.encode("utf-8")
    if isinstance(plaintext, bytes | bytearray | memoryview):
        return bytes(plaintext)
    raise TypeError("plaintext must be bytes or str")
