"""Vault-key benchmark: encryption and rotation beside baselines measured in the same run.

    python bench/bench_keys.py --rows 200000 [--admin-url postgresql://…/postgres] [--json out.json]

Runs in a database of its own (created, migrated and dropped here) with a KEK in a temporary
folder, so it never rotates the keys of a real kiban database.

* ``Vault.encrypt`` is compared with bare AES-256-GCM on the same values (the cost of the header
  and the associated data);
* ``rotate`` is compared with an ``executemany`` UPDATE writing the same number of rows (the cost of
  decrypting, re-encrypting, locking and recording progress).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Bench

from kiban.db import config, embedded, migrate
from kiban.security import keys

TABLE = "keys_bench.vault"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--admin-url", default=None, help="admin database URL (default: the embedded server)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    admin = args.admin_url or embedded.start_admin(config.home() / "pg")
    name = f"kiban_bench_keys_{uuid.uuid4().hex[:8]}"
    embedded.ensure_database(admin, name)
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(config.to_sqlalchemy_url(url))
    with tempfile.TemporaryDirectory() as home:
        os.environ["KIBAN_KEY_FILE"] = str(Path(home) / "kek.bin")
        try:
            run(engine, args.rows, args.batch_size, args.json)
        finally:
            engine.dispose()
            embedded.drop_database(admin, name)


def run(engine: object, n: int, batch_size: int, json_path: str | None) -> None:
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    migrate.upgrade(engine)
    values = [f"{100000000000 + i * 7919 % 900000000000:012d}".encode() for i in range(n)]
    bench = Bench(f"vault keys, {n:,} values")
    with engine.begin() as conn:
        keys.ensure_keys(conn)
        vault = keys.Vault.load(conn)
        conn.execute(text("CREATE SCHEMA keys_bench"))
        conn.execute(text(f"CREATE TABLE {TABLE} (id bigint PRIMARY KEY, secret bytea)"))

    aead = AESGCM(os.urandom(32))
    bench.baseline("bare AES-256-GCM", lambda: [aead.encrypt(os.urandom(12), v, None) for v in values])
    blobs = bench.figure(
        "Vault.encrypt (header + AAD)",
        lambda: [vault.encrypt(v, table=TABLE, column="secret", row_id=i) for i, v in enumerate(values, 1)],
    )
    bench.figure(
        "Vault.decrypt",
        lambda: [vault.decrypt(b, table=TABLE, column="secret", row_id=i) for i, b in enumerate(blobs, 1)],
    )

    with engine.begin() as conn:
        conn.execute(
            text(f"INSERT INTO {TABLE} VALUES (:id, :s)"), [{"id": i, "s": b} for i, b in enumerate(blobs, 1)]
        )

    def plain_update() -> None:
        with engine.connect() as conn:
            for start in range(0, n, batch_size):
                with conn.begin():
                    chunk = [
                        {"id": i, "s": blobs[i - 1]} for i in range(start + 1, min(start + batch_size, n) + 1)
                    ]
                    conn.execute(text(f"UPDATE {TABLE} SET secret = :s WHERE id = :id"), chunk)

    bench.baseline(f"executemany UPDATE, batches of {batch_size}", plain_update)
    col = keys.EncryptedColumn(TABLE, "secret", "id")
    report = bench.figure(
        "kiban keys rotate", lambda: keys.rotate(engine, batch_size=batch_size, columns=[col]), rows=n
    )
    assert report.targets[0].rows_reencrypted == n
    bench.report(json_path)


if __name__ == "__main__":
    main()
