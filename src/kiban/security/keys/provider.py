"""Key providers (鍵管理): who holds the key-encryption key (KEK) that wraps the data keys.

Envelope encryption (architecture.md §1): data keys encrypt the 個人番号 and live in the database
only *wrapped*; the KEK that wraps them lives outside the database — in a key file by default, in
an HSM or a cloud KMS in production. A stolen database dump alone therefore decrypts nothing
(seed 000 Ⅲ-7 リスク1 漏えい対策).

Plug in another provider by naming a factory in ``KIBAN_KEY_PROVIDER=package.module:factory``;
the factory takes no arguments and returns an object satisfying :class:`KeyProvider`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kiban.db import config
from kiban.security.keys.errors import KeyFileError, KeyProviderError, KeyUnwrapError

PROVIDER_ENV = "KIBAN_KEY_PROVIDER"
KEY_FILE_ENV = "KIBAN_KEY_FILE"
KEK_BYTES = 32
_WRAP_FORMAT = b"\x01"
_NONCE_BYTES = 12


@runtime_checkable
class KeyProvider(Protocol):
    """Wraps and unwraps data keys with a KEK the database never sees.

    ``key_id`` names the data key being (un)wrapped (``"vault:3"``); implementations bind it to the
    wrapped bytes (as associated data, or a KMS encryption context) so a wrapped key copied onto
    another purpose or version does not unwrap. ``kek_id`` names the KEK; it is stored next to
    each wrapped key so an operator can tell which KEK a database needs.
    """

    @property
    def kek_id(self) -> str: ...

    def wrap(self, dek: bytes, *, key_id: str) -> bytes: ...

    def unwrap(self, wrapped: bytes, *, key_id: str) -> bytes: ...


def default_key_file() -> Path:
    """``$KIBAN_KEY_FILE``, else ``$KIBAN_HOME/keys/kek.bin`` (``KIBAN_HOME`` defaults to ``./var``)."""
    explicit = os.environ.get(KEY_FILE_ENV, "").strip()
    if explicit:
        return Path(explicit).resolve()
    return config.home() / "keys" / "kek.bin"


class FileKeyProvider:
    """The KEK in a file of 32 random bytes, created on first use (mode 0600 in a 0700 folder).

    The file is refused when group or others may read or write it: a KEK anyone on the machine can
    read protects nothing. Back it up separately from the database backup (docs/keys.md).
    """

    def __init__(self, path: Path | str | None = None, *, create: bool = True) -> None:
        self.path = Path(path).resolve() if path is not None else default_key_file()
        self._create = create
        self._aead: AESGCM | None = None
        self._kek_id: str | None = None

    def __repr__(self) -> str:
        return f"FileKeyProvider(path={str(self.path)!r})"

    @property
    def kek_id(self) -> str:
        self._load()
        assert self._kek_id is not None
        return self._kek_id

    def wrap(self, dek: bytes, *, key_id: str) -> bytes:
        aead = self._load()
        nonce = os.urandom(_NONCE_BYTES)
        return _WRAP_FORMAT + nonce + aead.encrypt(nonce, dek, key_id.encode("utf-8"))

    def unwrap(self, wrapped: bytes, *, key_id: str) -> bytes:
        aead = self._load()
        if wrapped[:1] != _WRAP_FORMAT or len(wrapped) < 1 + _NONCE_BYTES + 16:
            raise KeyUnwrapError(f"data key {key_id}: unknown wrapping format")
        nonce, body = wrapped[1 : 1 + _NONCE_BYTES], wrapped[1 + _NONCE_BYTES :]
        try:
            return aead.decrypt(nonce, body, key_id.encode("utf-8"))
        except InvalidTag:
            raise KeyUnwrapError(
                f"data key {key_id} does not unwrap with the KEK in {self.path} ({self.kek_id}); "
                "is this the key file this database was set up with?"
            ) from None

    # -- the file ---------------------------------------------------------------------------

    def _load(self) -> AESGCM:
        if self._aead is None:
            if not self.path.exists():
                if not self._create:
                    raise KeyFileError(f"key file {self.path} does not exist")
                _create_key_file(self.path)
            kek = _read_key_file(self.path)
            self._kek_id = "file:" + hashlib.sha256(b"kiban-kek-id\x00" + kek).hexdigest()[:16]
            self._aead = AESGCM(kek)
        return self._aead


def _create_key_file(path: Path) -> None:
    """Write a new KEK without ever overwriting one: a second process racing us keeps its key."""
    folder = path.parent
    if not folder.exists():
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)  # mkdir's mode is filtered by the umask; say it explicitly
    fd, tmp = tempfile.mkstemp(prefix=".kek-", dir=folder)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(os.urandom(KEK_BYTES))
            f.flush()
            os.fsync(f.fileno())
        # link() fails if the name exists, unlike rename(): the first writer wins, nobody's KEK is lost.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def _read_key_file(path: Path) -> bytes:
    try:
        st = path.stat()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"key file {path} is not a regular file")
    if sys.platform != "win32" and st.st_mode & 0o077:
        raise KeyFileError(
            f"key file {path} is accessible by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run: chmod 600 {path}"
        )
    data = path.read_bytes()
    if len(data) != KEK_BYTES:
        raise KeyFileError(f"key file {path} must hold exactly {KEK_BYTES} bytes, it holds {len(data)}")
    return data


def provider_from_env() -> KeyProvider:
    """The provider named by ``KIBAN_KEY_PROVIDER`` (``module:factory``), else the key file."""
    spec = os.environ.get(PROVIDER_ENV, "").strip()
    if not spec:
        return FileKeyProvider()
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise KeyProviderError(f"{PROVIDER_ENV} must look like 'package.module:factory', not {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise KeyProviderError(f"{PROVIDER_ENV}={spec!r}: {exc}") from None
    provider = factory()
    if not isinstance(provider, KeyProvider):
        raise KeyProviderError(
            f"{PROVIDER_ENV}={spec!r} returned {type(provider).__name__}, not a KeyProvider"
        )
    return provider
