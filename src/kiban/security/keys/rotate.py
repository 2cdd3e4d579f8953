"""Key rotation (鍵ローテーション): move every vault ciphertext onto a new key version, resumably.

``rotate`` creates the next vault key (the previous one is retired but kept, so every ciphertext
still decrypts while the run is under way), then walks each registered column in id order, in
batches, re-encrypting rows not yet on the new version. Each batch commits together with its
progress row in ``security.rekey_run`` (architecture.md §3 jobs: a run table with state so a killed
run resumes or reruns to the same result). A second ``rotate`` while a run is unfinished resumes
it instead of making yet another key.

Rows are locked (``FOR UPDATE``) within their batch, so a counter clerk saving the same row waits
for the batch instead of having their new ciphertext overwritten by a re-encrypted old one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from kiban.security.keys import store
from kiban.security.keys.cipher import (
    BLIND_INDEX,
    VAULT,
    DataKey,
    check_column,
    context_bytes,
    key_version_of,
)
from kiban.security.keys.errors import KeyVaultError, RotationInProgress
from kiban.security.keys.registry import EncryptedColumn, id_type, known_columns
from kiban.security.keys.tables import rekey_run
from kiban.security.keys.vault import open_cell

# pg_try_advisory_lock key ("kibanrot"), held for the whole run on the run's own session.
_ROTATE_LOCK = 0x6B6962616E726F74

Progress = Callable[[str, int, int], None]
"""``progress(target, rows_done, rows_total)``, called when a target starts and after each commit."""


@dataclass
class TargetReport:
    target: str
    rows_total: int = 0
    rows_done: int = 0
    rows_reencrypted: int = 0
    missing: bool = False


@dataclass
class RotateReport:
    from_version: int
    to_version: int
    resumed: bool
    targets: list[TargetReport] = field(default_factory=list)


def rotate(
    engine: Engine,
    *,
    batch_size: int = 1000,
    progress: Progress | None = None,
    columns: Iterable[EncryptedColumn] | None = None,
) -> RotateReport:
    """Rotate the vault key and re-encrypt every known encrypted column (or ``columns``).

    Runs as the database owner. Raises ``RotationInProgress`` when another process is rotating.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    with engine.connect() as conn:
        if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _ROTATE_LOCK}).scalar():
            conn.rollback()
            raise RotationInProgress("another `kiban keys rotate` is running on this database")
        conn.commit()
        try:
            with conn.begin():
                report, runs = _plan(conn, None if columns is None else tuple(columns))
                keys = _KeyCache(conn)
            for run_id, col in runs:
                report.targets.append(
                    _run_target(conn, run_id, col, report.to_version, keys, batch_size, progress)
                )
            return report
        finally:
            _unlock(conn)


def _unlock(conn: Connection) -> None:
    try:
        conn.rollback()
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ROTATE_LOCK})
        conn.commit()
    except SQLAlchemyError:
        # A broken connection: discarding it (rather than pooling it) ends the session and its lock.
        conn.invalidate()


def _plan(
    conn: Connection, columns: tuple[EncryptedColumn, ...] | None
) -> tuple[RotateReport, list[tuple[int, EncryptedColumn]]]:
    """Resume the unfinished run, or start one: new key version and a run row per column."""
    store.ensure_keys(conn)
    targets = known_columns(conn, persist=True) if columns is None else columns
    running = conn.execute(
        select(rekey_run.c.target, rekey_run.c.from_version, rekey_run.c.to_version).where(
            rekey_run.c.state == "running"
        )
    ).all()
    if running:
        versions = {(r.from_version, r.to_version) for r in running}
        if len(versions) != 1:
            raise KeyVaultError(f"unfinished rotation runs disagree on versions: {sorted(versions)}")
        ((from_version, to_version),) = versions
        resumed = True
        targets = _with_unfinished(conn, targets, {r.target for r in running})
    else:
        from_version = store.active_version(conn, VAULT) or 0
        to_version = store.new_version(conn, VAULT)
        resumed = False
    runs: list[tuple[int, EncryptedColumn]] = []
    for col in targets:
        row = conn.execute(
            select(rekey_run.c.run_id, rekey_run.c.state).where(
                rekey_run.c.target == col.target, rekey_run.c.to_version == to_version
            )
        ).one_or_none()
        if row is None:
            run_id = conn.execute(
                rekey_run.insert()
                .values(
                    target=col.target,
                    from_version=from_version,
                    to_version=to_version,
                    rows_done=0,
                    rows_reencrypted=0,
                    state="running",
                )
                .returning(rekey_run.c.run_id)
            ).scalar_one()
            runs.append((run_id, col))
        elif row.state == "running":
            runs.append((row.run_id, col))
    return RotateReport(from_version, to_version, resumed), runs


def _with_unfinished(
    conn: Connection, targets: tuple[EncryptedColumn, ...], unfinished: set[str]
) -> tuple[EncryptedColumn, ...]:
    """Add the columns of unfinished runs that the caller did not name: a resumed run completes
    everything it started, or ``rotate`` would resume the same stuck run forever."""
    named = {c.target for c in targets}
    extra = {c.target: c for c in known_columns(conn) if c.target in unfinished - named}
    lost = unfinished - named - set(extra)
    if lost:
        raise KeyVaultError(
            f"unfinished rotation of {', '.join(sorted(lost))}, which is no longer registered; "
            "register it again, or mark its security.rekey_run row done if the column was dropped"
        )
    return tuple(sorted((*targets, *extra.values())))


class _KeyCache:
    """Vault keys by version for one run (a key created meanwhile is fetched on first sight)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._keys = store.all_keys(conn, VAULT)

    def get(self, version: int) -> DataKey:
        key = self._keys.get(version)
        if key is None:
            key = store.key_version(self._conn, VAULT, version)  # raises UnknownKeyVersion
            self._keys[version] = key
        return key


def _run_target(
    conn: Connection,
    run_id: int,
    col: EncryptedColumn,
    to_version: int,
    keys: _KeyCache,
    batch_size: int,
    progress: Progress | None,
) -> TargetReport:
    report = TargetReport(col.target)
    with conn.begin():
        run = conn.execute(select(rekey_run).where(rekey_run.c.run_id == run_id)).one()
        sql_type = id_type(conn, col)
        if sql_type is None:
            # The declared table or column is gone (dropped by a later migration): nothing to move.
            report.missing = True
            _finish(conn, run_id)
            return report
        table, column, id_column = col.quoted()
        report.rows_total = conn.execute(
            text(f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL")
        ).scalar_one()
        new_key = keys.get(to_version)
    report.rows_done = run.rows_done
    last: str | None = run.last_row_id
    if progress:
        progress(col.target, report.rows_done, report.rows_total)
    after = f"AND {id_column} > CAST(:last AS {sql_type})"
    while True:
        with conn.begin():
            rows = conn.execute(
                text(
                    f"SELECT {id_column} AS id, {column} AS blob FROM {table} "
                    f"WHERE {column} IS NOT NULL {after if last is not None else ''} "
                    f"ORDER BY {id_column} LIMIT :n FOR UPDATE"
                ),
                {"last": last, "n": batch_size},
            ).all()
            if not rows:
                _finish(conn, run_id)
                break
            changes = _reencrypt(rows, col, new_key, keys)
            if changes:
                conn.execute(text(f"UPDATE {table} SET {column} = :blob WHERE {id_column} = :id"), changes)
            last = str(rows[-1].id)
            report.rows_done += len(rows)
            report.rows_reencrypted += len(changes)
            conn.execute(
                update(rekey_run)
                .where(rekey_run.c.run_id == run_id)
                .values(
                    last_row_id=last,
                    rows_done=report.rows_done,
                    rows_reencrypted=rekey_run.c.rows_reencrypted + len(changes),
                )
            )
        if progress:
            progress(col.target, report.rows_done, report.rows_total)
    return report


def _reencrypt(
    rows: Iterable[Any], col: EncryptedColumn, new_key: DataKey, keys: _KeyCache
) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    for row in rows:
        blob = bytes(row.blob)
        version = key_version_of(blob)
        if version == new_key.version:
            continue  # already moved (by an earlier attempt, or written by the application since)
        row_id = row.id if isinstance(row.id, int | str) else str(row.id)
        context = context_bytes(col.schema_table, col.column, row_id)
        plaintext = open_cell(keys.get(version), blob, context, col.schema_table, col.column, row_id)
        changes.append({"id": row.id, "blob": new_key.seal(plaintext, context)})
    return changes


def _finish(conn: Connection, run_id: int) -> None:
    conn.execute(
        update(rekey_run).where(rekey_run.c.run_id == run_id).values(state="done", finished_at=func.now())
    )


# -- the blind index -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BlindIndexColumn:
    """A blind-index column and the vault column in the same row whose plaintext it indexes."""

    source: EncryptedColumn
    index_column: str
    normalise: Callable[[str], str] | None = None

    def __post_init__(self) -> None:
        check_column(self.index_column)


def recompute_blind_index(
    conn: Connection, target: BlindIndexColumn, *, version: int | None = None, batch_size: int = 1000
) -> int:
    """Set ``index_column`` to the blind index (under ``version``, default the active key) of each
    row's decrypted source value; returns the number of rows. Runs in the caller's transaction."""
    col = target.source
    sql_type = id_type(conn, col)
    if sql_type is None:
        raise KeyVaultError(f"{col.target} does not exist")
    table, column, id_column = col.quoted()
    index_column = '"' + target.index_column + '"'
    blind = (
        store.active_key(conn, BLIND_INDEX)
        if version is None
        else store.key_version(conn, BLIND_INDEX, version)
    )
    keys = _KeyCache(conn)
    last: str | None = None
    count = 0
    after = f"AND {id_column} > CAST(:last AS {sql_type})"
    while True:
        rows = conn.execute(
            text(
                f"SELECT {id_column} AS id, {column} AS blob FROM {table} WHERE {column} IS NOT NULL "
                f"{after if last is not None else ''} ORDER BY {id_column} LIMIT :n FOR UPDATE"
            ),
            {"last": last, "n": batch_size},
        ).all()
        if not rows:
            return count
        changes = []
        for row in rows:
            blob = bytes(row.blob)
            row_id = row.id if isinstance(row.id, int | str) else str(row.id)
            context = context_bytes(col.schema_table, col.column, row_id)
            value = open_cell(
                keys.get(key_version_of(blob)), blob, context, col.schema_table, col.column, row_id
            )
            text_value = value.decode("utf-8")
            if target.normalise is not None:
                text_value = target.normalise(text_value)
            changes.append({"id": row.id, "ix": blind.mac(text_value.encode("utf-8"))})
        conn.execute(text(f"UPDATE {table} SET {index_column} = :ix WHERE {id_column} = :id"), changes)
        last = str(rows[-1].id)
        count += len(rows)


def rotate_blind_index(engine: Engine, targets: Iterable[BlindIndexColumn], *, batch_size: int = 1000) -> int:
    """Create a new blind-index key and recompute every index column, all in one transaction.

    One transaction on purpose: a lookup must never see the new key beside old index values (it
    would find nobody). The index holds only the HMAC, so the work is a decrypt and an HMAC per row.
    Returns the new blind-index key version.
    """
    targets = tuple(targets)
    with engine.begin() as conn:
        store.ensure_keys(conn)
        version = store.new_version(conn, BLIND_INDEX)
        for target in targets:
            recompute_blind_index(conn, target, version=version, batch_size=batch_size)
    return version
