"""What an operator sees about the vault keys (鍵の状態): versions, columns, rows per key version.

Read-only: counts come from the ciphertext headers (bytes 1..4 hold the key version), so no key
is unwrapped and nothing is decrypted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, select, text

from kiban.security.keys import store
from kiban.security.keys.registry import id_type, known_columns
from kiban.security.keys.tables import rekey_run


@dataclass(frozen=True)
class ColumnStatus:
    target: str
    rows_by_version: dict[int, int] = field(default_factory=dict)
    missing: bool = False


@dataclass(frozen=True)
class RunStatus:
    run_id: int
    target: str
    from_version: int
    to_version: int
    rows_done: int
    rows_reencrypted: int
    state: str
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class KeysStatus:
    keys: list[store.KeyInfo]
    columns: list[ColumnStatus]
    runs: list[RunStatus]

    @property
    def unfinished(self) -> list[RunStatus]:
        return [r for r in self.runs if r.state == "running"]


def keys_status(conn: Connection, *, recent_runs: int = 20) -> KeysStatus:
    columns: list[ColumnStatus] = []
    for col in known_columns(conn):
        if id_type(conn, col) is None:
            columns.append(ColumnStatus(col.target, missing=True))
            continue
        table, column, _ = col.quoted()
        rows = conn.execute(
            text(
                f"SELECT substring({column} FROM 2 FOR 4) AS v, count(*) AS n "
                f"FROM {table} WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY 1"
            )
        )
        counts: dict[int, int] = {}
        for r in rows:
            raw = bytes(r.v)
            version = int.from_bytes(raw, "big") if len(raw) == 4 else 0  # 0: not a vault ciphertext
            counts[version] = counts.get(version, 0) + int(r.n)
        columns.append(ColumnStatus(col.target, counts))
    runs = [
        RunStatus(**r._asdict())
        for r in conn.execute(
            select(
                rekey_run.c.run_id,
                rekey_run.c.target,
                rekey_run.c.from_version,
                rekey_run.c.to_version,
                rekey_run.c.rows_done,
                rekey_run.c.rows_reencrypted,
                rekey_run.c.state,
                rekey_run.c.started_at,
                rekey_run.c.finished_at,
            )
            .order_by(rekey_run.c.run_id.desc())
            .limit(recent_runs)
        )
    ]
    return KeysStatus(store.list_keys(conn), columns, runs)
