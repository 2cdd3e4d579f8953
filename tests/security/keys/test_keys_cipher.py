"""The ciphertext format and its associated data, with keys in memory (no database)."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiban.security.keys import cipher
from kiban.security.keys.cipher import BLIND_INDEX, VAULT, DataKey, context_bytes
from kiban.security.keys.errors import DecryptionError

T, C = "identity.my_number_vault", "ciphertext"
KEY = DataKey(VAULT, 3, bytes(range(32)))


def seal(
    plaintext: bytes, row_id: int | str = 1, key: DataKey = KEY, table: str = T, column: str = C
) -> bytes:
    return key.seal(plaintext, context_bytes(table, column, row_id))


def test_round_trip_and_layout() -> None:
    blob = seal(b"123456789018", 42)
    assert blob[0] == cipher.FORMAT_VERSION
    assert int.from_bytes(blob[1:5], "big") == 3 == cipher.key_version_of(blob)
    assert len(blob) == 1 + 4 + 12 + len(b"123456789018") + 16
    assert KEY.open(blob, context_bytes(T, C, 42)) == b"123456789018"


def test_each_encryption_uses_a_fresh_nonce() -> None:
    a, b = seal(b"same"), seal(b"same")
    assert a != b and a[5:17] != b[5:17]


@pytest.mark.parametrize(
    ("table", "column", "row_id"),
    [
        ("identity.other_vault", C, 42),  # moved to another table
        (T, "other_column", 42),  # to another column
        (T, C, 43),  # to another row
    ],
)
def test_ciphertext_moved_to_another_cell_fails(table: str, column: str, row_id: int) -> None:
    blob = seal(b"123456789018", 42)
    with pytest.raises(DecryptionError):
        KEY.open(blob, context_bytes(table, column, row_id))


def test_relabelled_key_version_fails_even_with_the_right_key() -> None:
    # Same key bytes under another version number: only the header differs, and the tag catches it.
    blob = seal(b"123456789018", 42)
    relabelled = blob[:1] + (4).to_bytes(4, "big") + blob[5:]
    other = DataKey(VAULT, 4, bytes(range(32)))
    with pytest.raises(DecryptionError):
        other.open(relabelled, context_bytes(T, C, 42))


def test_wrong_key_fails() -> None:
    with pytest.raises(DecryptionError):
        DataKey(VAULT, 3, bytes(32)).open(seal(b"x"), context_bytes(T, C, 1))


@settings(max_examples=60, deadline=None)
@given(plaintext=st.binary(max_size=64), position=st.integers(min_value=0), bit=st.integers(0, 7))
def test_any_flipped_bit_is_refused(plaintext: bytes, position: int, bit: int) -> None:
    blob = bytearray(seal(plaintext, 7))
    blob[position % len(blob)] ^= 1 << bit
    with pytest.raises(DecryptionError):
        KEY.open(bytes(blob), context_bytes(T, C, 7))


def test_truncated_or_unknown_format_is_refused() -> None:
    blob = seal(b"x")
    with pytest.raises(DecryptionError):
        KEY.open(blob[: cipher.MIN_CIPHERTEXT - 1], context_bytes(T, C, 1))
    with pytest.raises(DecryptionError, match="format"):
        KEY.open(b"\x02" + blob[1:], context_bytes(T, C, 1))


def test_int_and_text_row_ids_name_the_same_row() -> None:
    assert context_bytes(T, C, 5) == context_bytes(T, C, "5")
    with pytest.raises(ValueError):
        context_bytes(T, C, True)


def test_context_encoding_is_unambiguous() -> None:
    # Length prefixes: shifting characters between fields cannot produce the same bytes.
    assert context_bytes("a.bc", "d", 1) != context_bytes("a.b", "cd", 1)
    assert context_bytes("a.b", "c", "12") != context_bytes("a.b", "c1", "2")


@pytest.mark.parametrize("table", ["vault", "Identity.Vault", "a.b.c", 'a."b"', "a.b; drop"])
def test_table_names_must_be_schema_qualified_identifiers(table: str) -> None:
    with pytest.raises(ValueError):
        context_bytes(table, C, 1)


def test_keys_never_show_their_bytes() -> None:
    secret = bytes(range(100, 132))
    key = DataKey(VAULT, 9, secret)
    for text in (repr(key), str(key), f"{key}"):
        assert text == "<DataKey vault v9>"
        assert secret.hex() not in text
    with pytest.raises(TypeError):
        pickle.dumps(key)
    assert not hasattr(key, "__dict__")


def test_decryption_errors_carry_no_plaintext() -> None:
    blob = seal(b"123456789018", 42)
    with pytest.raises(DecryptionError) as info:
        KEY.open(blob, context_bytes(T, C, 43))
    assert "123456789018" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_purposes_are_kept_apart() -> None:
    blind = DataKey(BLIND_INDEX, 1, bytes(32))
    with pytest.raises(ValueError):
        blind.seal(b"x", context_bytes(T, C, 1))
    with pytest.raises(ValueError):
        KEY.mac(b"x")
    assert blind.mac(b"123456789018") == blind.mac(b"123456789018")
    assert blind.mac(b"123456789018") != blind.mac(b"123456789026")
    assert len(blind.mac(b"x")) == 32


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10**12), st.binary(max_size=40)), min_size=1, max_size=30))
def test_sealing_many_is_sealing_each(rows: list[tuple[int, bytes]]) -> None:
    """The bulk path (one CSPRNG read for all nonces) gives ciphertexts that open as single ones do,
    each bound to its own row, each with its own nonce."""
    blobs = KEY.seal_many(
        [(p, c) for (_r, p), c in zip(rows, cipher.contexts_bytes(T, C, [r for r, _ in rows]), strict=True)]
    )
    assert len(blobs) == len(rows)
    for (row_id, plaintext), blob in zip(rows, blobs, strict=True):
        assert blob[:5] == seal(plaintext, row_id)[:5] and len(blob) == len(seal(plaintext, row_id))
        assert KEY.open(blob, context_bytes(T, C, row_id)) == plaintext
        with pytest.raises(DecryptionError):
            KEY.open(blob, context_bytes(T, C, row_id + 1))
    assert len({b[5:17] for b in blobs}) == len(blobs)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=100), max_size=20), st.binary(min_size=32, max_size=32))
def test_many_blind_indexes_are_the_hmac_of_each(values: list[bytes], secret: bytes) -> None:
    import hmac

    key = DataKey(BLIND_INDEX, 1, secret)
    assert (
        key.mac_many(values)
        == [key.mac(v) for v in values]
        == [hmac.digest(secret, v, "sha256") for v in values]
    )
    with pytest.raises(ValueError, match="blind_index"):
        KEY.mac_many(values)
