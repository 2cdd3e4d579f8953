"""Messages between intermediate servers (中間サーバー) and the network stand-in, and their crypto.

The shape follows the 情報提供ネットワークシステム as the seeds describe it (seed 000 中間サーバー
①–⑩; デジタル庁 共通機能標準仕様書 中間サーバー interfaces):

1. 符号取得 — a city's gateway asks the network for the 符号 of a person *for its own agency*. The
   個人番号 travels only sealed to the network's X25519 key (``seal``); the network keeps a keyed
   hash of it, never the number, and answers with a random token for that agency, so two agencies'
   tokens for one person cannot be linked without the network's table.
2. 情報提供許可証 — before an inquiry the inquirer asks for a permit (``PermitRequest``); the network
   checks the 照会許可用照合リスト (inquirer's 事務 × provider × items), translates the inquirer's
   符号 into the provider's, and signs a ``Permit`` with its Ed25519 key. Outside the list: refused.
3. 情報照会 / 情報提供 — the inquirer sends a ``ProvisionRequest`` (the signed permit, a request id
   for idempotency, its X25519 public key) to the network, which routes it to the provider's gateway.
   The provider verifies the permit, builds the answer from its 副本 and returns it sealed to the
   inquirer's key (X25519 → HKDF-SHA256 → AES-256-GCM), with the request id and permit id as
   associated data so an answer cannot be replayed onto another request.

Everything on the wire is JSON with base64url for bytes. Signatures cover a canonical JSON (sorted
keys, no spaces, UTF-8) of every field except the signature itself.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import uuid
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Self

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kiban.shared import mynumber

PROTOCOL_VERSION = "kiban-ips/1"
_HKDF_INFO = b"kiban-ips/1 provision answer"


class ProtocolError(ValueError):
    """A message that is malformed, wrongly signed or cannot be opened."""


# ---------------------------------------------------------------- encoding


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ProtocolError("base64url の値が不正です") from exc


def canonical(obj: Any) -> bytes:
    """The bytes a signature covers: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


_TWELVE_DIGITS_IN_A_ROW = re.compile(r"[0-9]{12}")


def new_id() -> str:
    """A request or permit id: 32 hex digits of a random UUID, drawn again while it holds twelve
    decimal digits in a row.

    Ids go into the access log and the 情報提供等記録, whose writers refuse anything that could be a
    個人番号 (12 digits with a valid check digit). About one UUID in 800 carries such a run, and its
    provision would then fail at the log (seen in a test run); an id without one never can.
    """
    while True:
        value = uuid.uuid4().hex
        if not _TWELVE_DIGITS_IN_A_ROW.search(value):
            return value


_ID_CHARS = re.compile(r"[\x21-\x7e]{1,64}")  # printable ASCII, no spaces


def check_request_id(value: object) -> str:
    """A request id as another city's gateway may send it: 1–64 printable ASCII characters, and no
    12-digit run that reads as a 個人番号 (check digit valid). The access log and the 情報提供等記録
    refuse such a value, so a request carrying one could never be answered or recorded: it is refused
    at the door, and the message does not repeat the id."""
    if not isinstance(value, str) or not _ID_CHARS.fullmatch(value):
        raise ProtocolError("request_id は 1〜64 文字の英数字・記号です")
    if mynumber.contains_my_number(value):
        raise ProtocolError("request_id に個人番号と読める12桁の数字を含めることはできません")
    return value


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).isoformat(timespec="microseconds")


# ---------------------------------------------------------------- keys


def new_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def new_exchange_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def public_bytes(key: Ed25519PrivateKey | X25519PrivateKey | Ed25519PublicKey | X25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, (Ed25519PrivateKey, X25519PrivateKey)) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def private_bytes(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def exchange_key_from(raw: bytes) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(raw)


def signing_key_from(raw: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(raw)


# ---------------------------------------------------------------- sealing (X25519 + AES-256-GCM)


@dataclass(frozen=True)
class Sealed:
    """A payload encrypted to one recipient's X25519 key (ephemeral-static ECDH)."""

    ephemeral_public_key: str  # base64url, 32 bytes
    nonce: str  # base64url, 12 bytes
    ciphertext: str  # base64url, AES-256-GCM ciphertext with its 16-byte tag

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        try:
            return cls(str(data["ephemeral_public_key"]), str(data["nonce"]), str(data["ciphertext"]))
        except (KeyError, TypeError) as exc:
            raise ProtocolError("暗号化された回答の形式が不正です") from exc


def _derive(shared: bytes, eph_pub: bytes, recipient_pub: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=eph_pub + recipient_pub, info=_HKDF_INFO).derive(
        shared
    )


def seal(recipient_public_key: bytes, plaintext: bytes, aad: bytes) -> Sealed:
    """Encrypt ``plaintext`` so only the holder of the recipient's private key can read it."""
    try:
        recipient = X25519PublicKey.from_public_bytes(recipient_public_key)
    except ValueError as exc:
        raise ProtocolError("照会機関の公開鍵が不正です") from exc
    eph = X25519PrivateKey.generate()
    eph_pub = public_bytes(eph)
    key = _derive(eph.exchange(recipient), eph_pub, recipient_public_key)
    nonce = os.urandom(12)
    ct = AESGCM(key).encrypt(nonce, plaintext, aad)
    return Sealed(b64e(eph_pub), b64e(nonce), b64e(ct))


def open_sealed(recipient_private_key: X25519PrivateKey, sealed: Sealed, aad: bytes) -> bytes:
    """Decrypt a ``Sealed``; a wrong key, altered bytes or other associated data raise ProtocolError."""
    eph_pub = b64d(sealed.ephemeral_public_key)
    try:
        shared = recipient_private_key.exchange(X25519PublicKey.from_public_bytes(eph_pub))
        key = _derive(shared, eph_pub, public_bytes(recipient_private_key))
        return AESGCM(key).decrypt(b64d(sealed.nonce), b64d(sealed.ciphertext), aad)
    except (InvalidTag, ValueError) as exc:
        raise ProtocolError("回答を復号できません（鍵・内容・関連データの不一致）") from exc


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class _Message:
    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        if not isinstance(data, dict):
            raise ProtocolError(f"{cls.__name__}: JSON オブジェクトではありません")
        known = {f.name: f for f in fields(cls)}
        missing = [
            n
            for n, f in known.items()
            if n not in data and f.default is MISSING and f.default_factory is MISSING
        ]
        if missing:
            raise ProtocolError(f"{cls.__name__}: 項目がありません: {', '.join(sorted(missing))}")
        kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in known}
        return cls(**kwargs)


@dataclass(frozen=True)
class TokenRequest(_Message):
    """符号取得: the 個人番号, sealed to the network's key, for the requesting agency."""

    agency_code: str
    sealed_my_number: dict[str, str]  # Sealed.to_json(); aad = agency_code


@dataclass(frozen=True)
class TokenResponse(_Message):
    agency_code: str
    token: str  # 符号: opaque, random per (person, agency)


@dataclass(frozen=True)
class PermitRequest(_Message):
    """情報提供許可証の発行依頼 (one inquiry)."""

    inquirer_agency: str
    inquirer_token: str  # the person's 符号 for the inquirer
    provider_agency: str
    procedure_code: str  # 照会事務 (番号法 別表 / 主務省令 entry, e.g. "kaigo.jushochi_tokurei")
    dataset: str  # 特定個人情報 (e.g. "kaigo.qualification")
    items: tuple[str, ...]


@dataclass(frozen=True)
class Permit(_Message):
    """情報提供許可証, signed by the network. ``provider_token`` is the person's 符号 for the provider."""

    permit_id: str
    inquirer_agency: str
    provider_agency: str
    provider_token: str
    procedure_code: str
    dataset: str
    items: tuple[str, ...]
    list_version: str  # 照会許可用照合リスト version that allowed it
    issued_at: str
    expires_at: str
    signature: str = ""

    def signed_part(self) -> dict[str, Any]:
        body = self.to_json()
        body.pop("signature")
        body["items"] = list(self.items)
        body["v"] = PROTOCOL_VERSION
        return body


def sign_permit(key: Ed25519PrivateKey, permit: Permit) -> Permit:
    sig = key.sign(canonical(permit.signed_part()))
    return Permit(**{**permit.to_json(), "items": permit.items, "signature": b64e(sig)})


def verify_permit(network_public_key: bytes, permit: Permit, *, now: dt.datetime | None = None) -> None:
    """Raise ProtocolError unless the network signed this permit and it has not expired."""
    try:
        Ed25519PublicKey.from_public_bytes(network_public_key).verify(
            b64d(permit.signature), canonical(permit.signed_part())
        )
    except (InvalidSignature, ValueError) as exc:
        raise ProtocolError("情報提供許可証の署名が不正です") from exc
    if dt.datetime.fromisoformat(permit.expires_at) < (now or utcnow()):
        raise ProtocolError("情報提供許可証の有効期限が切れています")


@dataclass(frozen=True)
class ProvisionRequest(_Message):
    """情報照会 as routed to the provider: the permit, an idempotency key, the key to answer to."""

    request_id: str  # unique per inquiry; a replay with the same id gets the same answer, no new record
    permit: dict[str, Any]  # Permit.to_json()
    inquirer_public_key: str  # base64url X25519
    sent_at: str  # the inquirer's timestamp (both sides' times are recorded, seed 000)

    def __post_init__(self) -> None:
        check_request_id(self.request_id)


@dataclass(frozen=True)
class ProvisionResponse(_Message):
    """情報提供 (or why not). ``status``: provided | held (自動応答不可, answered later) | refused | not_found."""

    request_id: str
    status: str
    provider_record_id: str  # the provider's 情報提供等記録 id — written before this response is sent
    answered_at: str
    sealed_answer: dict[str, str] | None = None  # Sealed.to_json(); aad = answer_aad(...)
    reason: str = ""


def answer_aad(request_id: str, permit_id: str) -> bytes:
    return f"{PROTOCOL_VERSION}|{request_id}|{permit_id}".encode()


@dataclass(frozen=True)
class AgencyRegistration(_Message):
    """A city's gateway as a network participant (情報照会者・情報提供者)."""

    agency_code: str  # e.g. the 地方公共団体コード + business, "431001-kaigo"
    city_code: str
    name: str
    endpoint: str  # base URL the network routes provision requests to
    exchange_public_key: str  # base64url X25519, for answers sealed to this agency
    extra: dict[str, Any] = field(default_factory=dict)
