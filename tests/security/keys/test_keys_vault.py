"""Encrypting, decrypting and indexing through the database's versioned data keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from kiban.security import keys
from kiban.security.keys.errors import DecryptionError, KeysNotInitialised, KeyUnwrapError, UnknownKeyVersion

T, C = "identity.my_number_vault", "ciphertext"
MY_NUMBER = "123456789018"


def test_round_trip(engine: Engine) -> None:
    with engine.begin() as conn:
        blob = keys.encrypt(conn, MY_NUMBER, table=T, column=C, row_id=42)
        assert MY_NUMBER.encode() not in blob
        assert keys.key_version_of(blob) == 1
        assert keys.decrypt(conn, blob, table=T, column=C, row_id=42) == MY_NUMBER.encode()
        assert keys.decrypt(conn, blob, table=T, column=C, row_id="42") == MY_NUMBER.encode()
        raw = keys.encrypt(conn, b"\x00\xffbinary", table=T, column=C, row_id="p-1")
        assert keys.decrypt(conn, raw, table=T, column=C, row_id="p-1") == b"\x00\xffbinary"


def test_ensure_keys_is_idempotent(engine: Engine) -> None:
    with engine.begin() as conn:
        assert keys.ensure_keys(conn) == {"vault": 1, "blind_index": 1}
        assert keys.ensure_keys(conn) == {"vault": 1, "blind_index": 1}
        assert [(k.purpose, k.version, k.state) for k in keys.list_keys(conn)] == [
            ("blind_index", 1, "active"),
            ("vault", 1, "active"),
        ]


@pytest.mark.parametrize(
    ("table", "column", "row_id"),
    [("identity.other", C, 42), (T, "other", 42), (T, C, 43)],
    ids=["table", "column", "row"],
)
def test_ciphertext_bound_to_its_cell(engine: Engine, table: str, column: str, row_id: int) -> None:
    with engine.begin() as conn:
        blob = keys.encrypt(conn, MY_NUMBER, table=T, column=C, row_id=42)
        with pytest.raises(DecryptionError) as info:
            keys.decrypt(conn, blob, table=table, column=column, row_id=row_id)
    assert MY_NUMBER not in str(info.value)


def test_relabelled_with_another_existing_version_fails(engine: Engine) -> None:
    with engine.begin() as conn:
        blob = keys.encrypt(conn, MY_NUMBER, table=T, column=C, row_id=42)
        keys.new_version(conn, keys.VAULT)
        relabelled = blob[:1] + (2).to_bytes(4, "big") + blob[5:]
        with pytest.raises(DecryptionError):
            keys.decrypt(conn, relabelled, table=T, column=C, row_id=42)
        with pytest.raises(UnknownKeyVersion):
            keys.decrypt(conn, blob[:1] + (99).to_bytes(4, "big") + blob[5:], table=T, column=C, row_id=42)


def test_tampered_ciphertext_fails(engine: Engine) -> None:
    with engine.begin() as conn:
        blob = bytearray(keys.encrypt(conn, MY_NUMBER, table=T, column=C, row_id=42))
        blob[20] ^= 0x01
        with pytest.raises(DecryptionError):
            keys.decrypt(conn, bytes(blob), table=T, column=C, row_id=42)


def test_new_version_retires_the_old_which_still_decrypts(engine: Engine) -> None:
    with engine.begin() as conn:
        old = keys.encrypt(conn, MY_NUMBER, table=T, column=C, row_id=1)
        assert keys.new_version(conn, keys.VAULT) == 2
        new = keys.encrypt(conn, MY_NUMBER, table=T, column=C, row_id=1)
        assert (keys.key_version_of(old), keys.key_version_of(new)) == (1, 2)
        assert keys.decrypt(conn, old, table=T, column=C, row_id=1) == MY_NUMBER.encode()
        states = {(k.purpose, k.version): k.state for k in keys.list_keys(conn)}
        assert states == {("vault", 1): "retired", ("vault", 2): "active", ("blind_index", 1): "active"}
    # A second active key of a purpose is refused by the database itself.
    with pytest.raises(DBAPIError), engine.begin() as conn:
        conn.execute(
            text("UPDATE security.data_key SET state = 'active', retired_at = NULL WHERE version = 1")
        )


def test_blind_index(engine: Engine) -> None:
    with engine.begin() as conn:
        ix = keys.blind_index(conn, MY_NUMBER)
        assert len(ix) == 32
        assert keys.blind_index(conn, MY_NUMBER) == ix  # deterministic: usable for an exact lookup
        assert keys.blind_index(conn, "123456789026") != ix
        # Rotating the vault key leaves the index alone: the blind-index key is separate.
        keys.new_version(conn, keys.VAULT)
        keys.new_version(conn, keys.VAULT)
        assert keys.blind_index(conn, MY_NUMBER) == ix
        # A different blind-index key gives a different index; the old version still reproduces it.
        assert keys.new_version(conn, keys.BLIND_INDEX) == 2
        assert keys.blind_index(conn, MY_NUMBER) != ix
        assert keys.blind_index(conn, MY_NUMBER, version=1) == ix
        # It is not a plain hash of the value, nor the vault key's HMAC.
        import hashlib

        assert ix != hashlib.sha256(MY_NUMBER.encode()).digest()


def test_another_database_key_gives_another_index(engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        first = keys.blind_index(conn, MY_NUMBER)
    # Same value, same code, a freshly initialised database (new KEK, new data keys).
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE security.data_key"))
    keys.use_provider(keys.FileKeyProvider(tmp_path / "second-kek.bin"))
    with engine.begin() as conn:
        keys.ensure_keys(conn)
        assert keys.blind_index(conn, MY_NUMBER) != first


def test_vault_snapshot_matches_the_single_value_functions(engine: Engine) -> None:
    with engine.begin() as conn:
        old = keys.encrypt(conn, "old", table=T, column=C, row_id=1)
        keys.new_version(conn, keys.VAULT)
        vault = keys.Vault.load(conn)
        assert vault.active.version == 2
        assert vault.decrypt(old, table=T, column=C, row_id=1) == b"old"
        blob = vault.encrypt("new", table=T, column=C, row_id=2)
        assert keys.decrypt(conn, blob, table=T, column=C, row_id=2) == b"new"
        assert vault.blind_index(MY_NUMBER) == keys.blind_index(conn, MY_NUMBER)
        assert "v2" in repr(vault)


def test_without_keys_the_error_says_what_to_do(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE security.data_key"))
    with pytest.raises(KeysNotInitialised, match="kiban keys init"), engine.begin() as conn:
        keys.encrypt(conn, MY_NUMBER, table=T, column=C, row_id=1)


def test_a_process_with_another_kek_cannot_read_the_keys(engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        blob = keys.encrypt(conn, MY_NUMBER, table=T, column=C, row_id=1)
    keys.use_provider(keys.FileKeyProvider(tmp_path / "wrong-kek.bin"))
    with pytest.raises(KeyUnwrapError, match="wrapped by KEK file:") as info, engine.connect() as conn:
        keys.decrypt(conn, blob, table=T, column=C, row_id=1)
    assert MY_NUMBER not in str(info.value)
    # Nor may it add a key the other processes could not unwrap.
    with pytest.raises(KeyUnwrapError, match="refusing"), engine.begin() as conn:
        keys.new_version(conn, keys.VAULT)


def test_unwrapped_keys_are_cached_per_version(engine: Engine) -> None:
    calls: list[str] = []
    real = keys.current_provider()

    class Counting:
        kek_id = real.kek_id

        def wrap(self, dek: bytes, *, key_id: str) -> bytes:
            return real.wrap(dek, key_id=key_id)

        def unwrap(self, wrapped: bytes, *, key_id: str) -> bytes:
            calls.append(key_id)
            return real.unwrap(wrapped, key_id=key_id)

    keys.use_provider(Counting())  # also empties the cache
    with engine.begin() as conn:
        for i in range(5):
            blob = keys.encrypt(conn, MY_NUMBER, table=T, column=C, row_id=i)
            keys.decrypt(conn, blob, table=T, column=C, row_id=i)
            keys.blind_index(conn, MY_NUMBER)
    assert sorted(calls) == ["blind_index:1", "vault:1"]


def test_data_keys_are_never_deleted(engine: Engine) -> None:
    with pytest.raises(DBAPIError, match="never deleted"), engine.begin() as conn:
        conn.execute(text("DELETE FROM security.data_key WHERE purpose = 'vault'"))


def test_application_role_reads_keys_but_cannot_make_them(engine: Engine, keys_url: str) -> None:
    from kiban.db.engine import get_app_engine

    with engine.begin() as conn:
        privileges = conn.execute(
            text(
                "SELECT has_table_privilege('kiban_app', 'security.data_key', 'SELECT'), "
                "has_table_privilege('kiban_app', 'security.data_key', 'INSERT'), "
                "has_table_privilege('kiban_app', 'security.data_key', 'UPDATE'), "
                "has_table_privilege('kiban_app', 'security.rekey_run', 'SELECT'), "
                "has_table_privilege('kiban_app', 'security.encrypted_column', 'SELECT')"
            )
        ).one()
        assert tuple(privileges) == (True, False, False, False, False)
    app = get_app_engine(keys_url)
    with app.begin() as conn:
        blob = keys.encrypt(conn, MY_NUMBER, table=T, column=C, row_id=7)
        assert keys.decrypt(conn, blob, table=T, column=C, row_id=7) == MY_NUMBER.encode()
    with pytest.raises(DBAPIError, match="permission denied"), app.begin() as conn:
        keys.new_version(conn, keys.VAULT)
