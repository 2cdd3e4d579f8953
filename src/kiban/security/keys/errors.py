"""Typed errors of the vault keys (暗号鍵). No message ever contains a plaintext, a data key or the
key-encryption key: they name the table, column, row id and key version, which are internal keys."""

from __future__ import annotations

from kiban.security.errors import SecurityError


class KeyVaultError(SecurityError):
    """Base class of the vault-key errors; ``str(exc)`` is safe to log and to show an operator."""


class DecryptionError(KeyVaultError):
    """A ciphertext did not decrypt: tampered, moved to another row/column/table, relabelled with
    another key version, or its key is unknown. Deliberately one type — the caller learns nothing
    about *why*, and neither does anyone reading the log."""


class UnknownKeyVersion(DecryptionError):
    """The ciphertext names a key version that this database does not hold."""


class KeysNotInitialised(KeyVaultError):
    """No active data key of a purpose: an operator runs ``kiban keys init`` once (as the owner)."""


class KeyFileError(KeyVaultError):
    """The key file (KEK) is missing where it must exist, malformed, or readable by others."""


class KeyUnwrapError(KeyVaultError):
    """A stored data key could not be unwrapped: this process uses a different KEK than the one
    that wrapped it (wrong key file, wrong HSM/KMS key) or the stored row was altered."""


class KeyProviderError(KeyVaultError):
    """``KIBAN_KEY_PROVIDER`` does not name a usable provider factory."""


class RotationInProgress(KeyVaultError):
    """Another process holds the rotation lock; two rotations at once would fight over rows."""
