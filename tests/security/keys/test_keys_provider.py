"""The key-encryption key (KEK) in a file, and plugging in another provider."""

from __future__ import annotations

import os
import stat
import sys
import types
from pathlib import Path

import pytest

from kiban.security import keys
from kiban.security.keys import provider as provider_mod
from kiban.security.keys.errors import KeyFileError, KeyProviderError, KeyUnwrapError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_file_is_created_on_first_use_0600_in_a_0700_folder(kek_home: Path) -> None:
    p = keys.FileKeyProvider()
    path = kek_home / "keys" / "kek.bin"
    assert p.path == path and not path.exists()  # nothing happens before first use
    wrapped = p.wrap(b"k" * 32, key_id="vault:1")
    assert path.stat().st_size == 32
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert b"k" * 32 not in wrapped
    # A new provider on the same file unwraps: the KEK persisted.
    assert keys.FileKeyProvider().unwrap(wrapped, key_id="vault:1") == b"k" * 32
    assert [f.name for f in path.parent.iterdir()] == ["kek.bin"]  # no temp file left behind


@pytest.mark.parametrize("loose", [0o644, 0o640, 0o604, 0o660])
def test_key_file_readable_by_others_is_refused(kek_home: Path, loose: int) -> None:
    keys.FileKeyProvider().wrap(b"k" * 32, key_id="vault:1")
    path = kek_home / "keys" / "kek.bin"
    path.chmod(loose)
    with pytest.raises(KeyFileError, match="chmod 600") as info:
        keys.FileKeyProvider().kek_id  # noqa: B018 — loading is the point
    assert str(path) in str(info.value)
    assert f"{loose:04o}" in str(info.value)


def test_malformed_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(b"too short")
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="32 bytes"):
        keys.FileKeyProvider(path).kek_id  # noqa: B018


def test_missing_key_file_without_create_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        keys.FileKeyProvider(tmp_path / "none.bin", create=False).kek_id  # noqa: B018


def test_a_second_creator_never_overwrites_the_first_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "kek.bin"
    provider_mod._create_key_file(path)
    first = path.read_bytes()
    provider_mod._create_key_file(path)  # a racing process arriving second
    assert path.read_bytes() == first


def test_wrapped_key_is_bound_to_its_purpose_and_version(kek_home: Path) -> None:
    p = keys.FileKeyProvider()
    wrapped = p.wrap(b"k" * 32, key_id="vault:1")
    with pytest.raises(KeyUnwrapError):
        p.unwrap(wrapped, key_id="vault:2")
    with pytest.raises(KeyUnwrapError):
        p.unwrap(wrapped, key_id="blind_index:1")


def test_another_kek_cannot_unwrap(tmp_path: Path) -> None:
    a, b = keys.FileKeyProvider(tmp_path / "a.bin"), keys.FileKeyProvider(tmp_path / "b.bin")
    assert a.kek_id != b.kek_id and a.kek_id.startswith("file:")
    with pytest.raises(KeyUnwrapError, match=r"b\.bin"):
        b.unwrap(a.wrap(b"k" * 32, key_id="vault:1"), key_id="vault:1")


def test_provider_repr_shows_no_key(kek_home: Path) -> None:
    p = keys.FileKeyProvider()
    p.wrap(b"k" * 32, key_id="vault:1")
    kek = (kek_home / "keys" / "kek.bin").read_bytes()
    assert kek.hex() not in repr(p) and "kek.bin" in repr(p)


def test_key_file_env_overrides_the_location(
    kek_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "elsewhere" / "master.key"
    monkeypatch.setenv("KIBAN_KEY_FILE", str(target))
    p = keys.provider_from_env()
    assert isinstance(p, keys.FileKeyProvider) and p.path == target


class FakeKms:
    """What an HSM/KMS adapter looks like: three members, no file."""

    kek_id = "kms:test-key"

    def wrap(self, dek: bytes, *, key_id: str) -> bytes:
        return key_id.encode() + b"|" + bytes(x ^ 0x5A for x in dek)

    def unwrap(self, wrapped: bytes, *, key_id: str) -> bytes:
        label, _, body = wrapped.partition(b"|")
        if label != key_id.encode():
            raise KeyUnwrapError("wrong key id")
        return bytes(x ^ 0x5A for x in body)


def test_provider_plugs_in_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("kiban_test_fake_kms")
    module.make = FakeKms  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kiban_test_fake_kms", module)
    monkeypatch.setenv("KIBAN_KEY_PROVIDER", "kiban_test_fake_kms:make")
    p = keys.provider_from_env()
    assert isinstance(p, FakeKms) and isinstance(p, keys.KeyProvider)


@pytest.mark.parametrize(
    "spec", ["no_colon", "kiban_test_missing_module:make", "os:no_such_factory", "os:getcwd"]
)
def test_bad_provider_spec_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    monkeypatch.setenv("KIBAN_KEY_PROVIDER", spec)
    with pytest.raises(KeyProviderError, match="KIBAN_KEY_PROVIDER"):
        keys.provider_from_env()


def test_the_environment_provider_follows_kiban_home(
    kek_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = keys.current_provider()
    assert keys.current_provider() is first  # cached while the environment is unchanged
    monkeypatch.setenv("KIBAN_HOME", str(tmp_path / "other"))
    second = keys.current_provider()
    assert isinstance(second, keys.FileKeyProvider)
    assert second.path == tmp_path / "other" / "keys" / "kek.bin"
    assert os.environ["KIBAN_HOME"].endswith("other")
