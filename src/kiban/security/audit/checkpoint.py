"""Signed checkpoints of the seal chain, exported outside the database (署名付きチェックポイント).

A checkpoint states "the chain had ``count`` rows ending at ``last_id`` with hash ``chain_hash``",
signed with Ed25519 and written as a JSON file outside the database. Whoever can rewrite the
database — even a superuser who disables the append-only triggers and recomputes every hash — cannot
produce a matching signature, so `verify` detects a truncated tail or a rewritten history against the
last exported checkpoint (domain.md §10.7 tamper evidence).

Keep the checkpoint folder and the public key where the database administrator cannot write
(another host, WORM storage): that separation is the whole point.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, Engine

from kiban.db import config
from kiban.security.audit.seal import head

KEY_FILE = "audit-ed25519.pem"
PUBLIC_KEY_FILE = "audit-ed25519.pub.pem"
PAYLOAD_VERSION = 1


def default_key_path() -> Path:
    return config.home() / "keys" / KEY_FILE


def default_checkpoint_dir() -> Path:
    return config.home() / "audit" / "checkpoints"


def public_key_path_for(key_path: Path) -> Path:
    return (
        key_path.with_name(PUBLIC_KEY_FILE) if key_path.name == KEY_FILE else key_path.with_suffix(".pub.pem")
    )


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_or_create_key(key_path: Path | None = None) -> Ed25519PrivateKey:
    """The signing key; generated on first use (0600) with its public key beside it."""
    path = key_path or default_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # O_EXCL: two processes starting at once must not overwrite each other's key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_or_create_key(path)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        public_key_path_for(path).write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return key
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return loaded


def load_public_key(path: Path) -> Ed25519PublicKey:
    loaded = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(loaded, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return loaded


def canonical_payload(payload: dict[str, Any]) -> bytes:
    """The signed bytes: the payload as JSON with sorted keys and compact separators."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint (either an exported file or an ``audit.checkpoint`` row)."""

    log_id: str
    count: int
    last_id: int | None
    chain_hash: bytes
    at: str
    source: str  # file path, or "audit.checkpoint #id"

    def payload(self) -> dict[str, Any]:
        return {
            "v": PAYLOAD_VERSION,
            "log_id": self.log_id,
            "count": self.count,
            "last_id": self.last_id,
            "chain_hash": self.chain_hash.hex(),
            "at": self.at,
        }


class CheckpointInvalid(Exception):
    """An exported checkpoint whose signature does not verify, or that cannot be read."""


def log_id(conn: Connection) -> str:
    return str(
        conn.exec_driver_sql("SELECT log_id FROM audit.log_identity ORDER BY created_at LIMIT 1").scalar_one()
    )


def checkpoint(engine: Engine, key_path: Path | None = None, out_dir: Path | None = None) -> Path:
    """Sign the current end of the sealed chain; write the JSON file and an ``audit.checkpoint`` row.

    Only sealed rows are covered — run :func:`~kiban.security.audit.seal.seal` first (the CLI does).
    Returns the path of the written file.
    """
    key = load_or_create_key(key_path)
    target = out_dir or default_checkpoint_dir()
    target.mkdir(parents=True, exist_ok=True)
    with engine.begin() as conn:
        end = head(conn)
        cp = Checkpoint(
            log_id=log_id(conn),
            count=end.count,
            last_id=end.last_id,
            chain_hash=end.chain_hash,
            at=dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
            source="",
        )
        payload = cp.payload()
        signature = key.sign(canonical_payload(payload))
        kid = key_id(key.public_key())
        stamp = cp.at.replace(":", "").replace("-", "").replace("+0000", "Z")
        path = target / f"checkpoint-{cp.count:012d}-{stamp}.json"
        document = {
            "payload": payload,
            "key_id": kid,
            "signature": base64.b64encode(signature).decode(),
        }
        # Write to a temporary name first: a crash never leaves a half-written checkpoint.
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        conn.exec_driver_sql(
            "INSERT INTO audit.checkpoint (at, log_id, last_id, count, chain_hash, key_id, signature, file_name) "
            "VALUES (%(at)s, %(log_id)s, %(last_id)s, %(count)s, %(chain_hash)s, %(key_id)s, %(signature)s, %(file)s)",
            {
                "at": dt.datetime.fromisoformat(cp.at),
                "log_id": uuid.UUID(cp.log_id),
                "last_id": cp.last_id,
                "count": cp.count,
                "chain_hash": cp.chain_hash,
                "key_id": kid,
                "signature": signature,
                "file": path.name,
            },
        )
        os.replace(tmp, path)
    return path


def _parse(payload: Any, source: str) -> Checkpoint:
    try:
        if payload["v"] != PAYLOAD_VERSION:
            raise CheckpointInvalid(f"{source}: unknown checkpoint version")
        return Checkpoint(
            log_id=str(payload["log_id"]),
            count=int(payload["count"]),
            last_id=None if payload["last_id"] is None else int(payload["last_id"]),
            chain_hash=bytes.fromhex(payload["chain_hash"]),
            at=str(payload["at"]),
            source=source,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointInvalid(f"{source}: malformed checkpoint") from exc


def read_checkpoint_file(path: Path, public_key: Ed25519PublicKey) -> Checkpoint:
    """Read one exported checkpoint and check its signature with the trusted public key."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        payload = document["payload"]
        signature = base64.b64decode(document["signature"], validate=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointInvalid(f"{path.name}: unreadable checkpoint") from exc
    try:
        public_key.verify(signature, canonical_payload(payload))
    except InvalidSignature as exc:
        raise CheckpointInvalid(f"{path.name}: signature does not verify") from exc
    return _parse(payload, str(path))


def read_checkpoint_rows(
    conn: Connection, public_key: Ed25519PublicKey
) -> tuple[list[Checkpoint], list[str]]:
    """Checkpoints recorded in the database (weaker: an attacker may delete them, but not forge them)."""
    good: list[Checkpoint] = []
    bad: list[str] = []
    rows = conn.exec_driver_sql(
        "SELECT id, at, log_id::text, last_id, count, chain_hash, signature FROM audit.checkpoint ORDER BY id"
    ).all()
    for row in rows:
        source = f"audit.checkpoint #{row[0]}"
        cp = Checkpoint(
            log_id=row[2],
            count=int(row[4]),
            last_id=row[3],
            chain_hash=bytes(row[5]),
            at=row[1].astimezone(dt.UTC).isoformat(timespec="microseconds"),
            source=source,
        )
        try:
            public_key.verify(bytes(row[6]), canonical_payload(cp.payload()))
        except InvalidSignature:
            bad.append(source)
            continue
        good.append(cp)
    return good, bad
