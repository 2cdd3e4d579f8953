"""Vault keys (暗号鍵) for the 個人番号 vault: envelope encryption with AES-256-GCM, versioned data
keys, a separate HMAC key for the blind index, and resumable rotation (architecture.md §1).

    from kiban.security import keys

    keys.ensure_keys(conn)                                   # once, as the database owner
    blob = keys.encrypt(conn, "123456789018", table="identity.my_number_vault",
                        column="ciphertext", row_id=person_id)
    keys.decrypt(conn, blob, table=..., column=..., row_id=person_id)   # -> bytes
    keys.blind_index(conn, "123456789018")                   # -> 32 bytes for exact lookup

See docs/keys.md for the format, the key hierarchy, rotation and what an operator backs up.
"""

from kiban.security.keys.cipher import BLIND_INDEX, FORMAT_VERSION, VAULT, DataKey, key_version_of
from kiban.security.keys.errors import (
    DecryptionError,
    KeyFileError,
    KeyProviderError,
    KeysNotInitialised,
    KeyUnwrapError,
    KeyVaultError,
    RotationInProgress,
    UnknownKeyVersion,
)
from kiban.security.keys.provider import FileKeyProvider, KeyProvider, default_key_file, provider_from_env
from kiban.security.keys.registry import (
    EncryptedColumn,
    register_encrypted_column,
    registered_columns,
    unregister_encrypted_column,
)
from kiban.security.keys.rotate import (
    BlindIndexColumn,
    RotateReport,
    TargetReport,
    recompute_blind_index,
    rotate,
    rotate_blind_index,
)
from kiban.security.keys.status import KeysStatus, keys_status
from kiban.security.keys.store import (
    KeyInfo,
    active_version,
    clear_cache,
    current_provider,
    ensure_keys,
    list_keys,
    new_version,
    use_provider,
)
from kiban.security.keys.vault import Vault, blind_index, decrypt, encrypt

__all__ = [
    "BLIND_INDEX",
    "FORMAT_VERSION",
    "VAULT",
    "BlindIndexColumn",
    "DataKey",
    "DecryptionError",
    "EncryptedColumn",
    "FileKeyProvider",
    "KeyFileError",
    "KeyInfo",
    "KeyProvider",
    "KeyProviderError",
    "KeyUnwrapError",
    "KeyVaultError",
    "KeysNotInitialised",
    "KeysStatus",
    "RotateReport",
    "RotationInProgress",
    "TargetReport",
    "UnknownKeyVersion",
    "Vault",
    "active_version",
    "blind_index",
    "clear_cache",
    "current_provider",
    "decrypt",
    "default_key_file",
    "encrypt",
    "ensure_keys",
    "key_version_of",
    "keys_status",
    "list_keys",
    "new_version",
    "provider_from_env",
    "recompute_blind_index",
    "register_encrypted_column",
    "registered_columns",
    "rotate",
    "rotate_blind_index",
    "unregister_encrypted_column",
    "use_provider",
]
