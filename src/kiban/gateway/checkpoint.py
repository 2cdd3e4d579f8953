"""Signed checkpoints of a city's 情報提供等記録 chain (署名付きチェックポイント).

The chain (:mod:`kiban.gateway.records`) catches a changed, removed or inserted record — unless the
one who changed it also recomputed every later SHA-256 and moved the chain head, which anyone who
can disable the append-only trigger can do. A checkpoint states "city C's chain had record ``seq``
with hash ``h``", signed with an Ed25519 key kept outside the database and written as a JSON file
outside it too (as ``kiban audit checkpoint`` does for the access log). A rewritten history no longer
has ``h`` at ``seq``; a cut tail no longer has ``seq``. Keep the folder and the public key where the
database administrator cannot write.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, text

from kiban.db import config
from kiban.gateway.records import verify_records
from kiban.gateway.tenants import scope
from kiban.network import protocol
from kiban.security.audit.checkpoint import key_id, load_or_create_key

KEY_FILE = "gateway-records-ed25519.pem"
VERSION = 1


def default_key_path() -> Path:
    return config.home() / "keys" / KEY_FILE


def signing_key(path: Path | None = None) -> Ed25519PrivateKey:
    """The checkpoint key (created on first use, 0600, its public key beside it)."""
    return load_or_create_key(path or default_key_path())


@dataclass(frozen=True)
class RecordCheckpoint:
    city_code: str
    seq: int
    hash: bytes
    at: str
    key_id: str

    def payload(self) -> dict[str, object]:
        return {
            "v": VERSION,
            "kind": "gateway.record",
            "city_code": self.city_code,
            "seq": self.seq,
            "hash": self.hash.hex(),
            "at": self.at,
            "key_id": self.key_id,
        }


class CheckpointInvalid(Exception):
    """A checkpoint file that cannot be read or whose signature does not verify."""


def write_checkpoint(conn: Connection, city_code: str, *, key: Ed25519PrivateKey, out_dir: Path) -> Path:
    """Sign the city's chain head now and write it as ``out_dir/gateway-<city>-<seq>.json``."""
    scope(conn, city_code)
    head = conn.execute(
        text("SELECT seq, hash FROM gateway.record_head WHERE city_code = :c"), {"c": city_code}
    ).first()
    seq, digest = (int(head.seq), bytes(head.hash)) if head else (0, b"\x00" * 32)
    cp = RecordCheckpoint(
        city_code, seq, digest, protocol.iso(dt.datetime.now(dt.UTC)), key_id(key.public_key())
    )
    body = cp.payload()
    signature = key.sign(protocol.canonical(body))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"gateway-{city_code}-{seq:010d}.json"
    path.write_text(
        json.dumps({**body, "signature": protocol.b64e(signature)}, ensure_ascii=False, indent=1), "utf-8"
    )
    return path


def read_checkpoint(path: Path, public_key: Ed25519PublicKey) -> RecordCheckpoint:
    try:
        data = json.loads(path.read_text("utf-8"))
        signature = protocol.b64d(data.pop("signature"))
        public_key.verify(signature, protocol.canonical(data))
        return RecordCheckpoint(
            str(data["city_code"]),
            int(data["seq"]),
            bytes.fromhex(data["hash"]),
            str(data["at"]),
            str(data["key_id"]),
        )
    except (InvalidSignature, KeyError, ValueError, TypeError, OSError, protocol.ProtocolError) as exc:
        raise CheckpointInvalid(f"チェックポイント {path.name} を検証できません（署名・形式）") from exc


def verify_with_checkpoint(
    conn: Connection, city_code: str, path: Path, public_key: Ed25519PublicKey
) -> list[str]:
    """The chain check plus: the record the checkpoint names is still there with the same hash."""
    cp = read_checkpoint(path, public_key)
    if cp.city_code != city_code:
        return [f"チェックポイント {path.name} は団体 {cp.city_code} のものです"]
    problems = verify_records(conn, city_code)
    if cp.seq == 0:
        return problems
    row = conn.execute(
        text("SELECT hash FROM gateway.record WHERE city_code = :c AND seq = :s"),
        {"c": city_code, "s": cp.seq},
    ).first()
    if row is None:
        problems.append(f"チェックポイント（{cp.at}）の記録 {cp.seq} がありません（末尾の削除の疑い）")
    elif bytes(row.hash) != cp.hash:
        problems.append(
            f"記録 {cp.seq} のハッシュがチェックポイント（{cp.at}）と一致しません（記録の書き換えの疑い）"
        )
    return problems
