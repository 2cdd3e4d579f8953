"""Verifying the access log against its seal chain and the exported checkpoints (改ざん検証).

`verify` recomputes every sealed row's hash and the chain, then compares the chain with the signed
checkpoints. It names each kind of tampering with the first bad record id (domain.md §10.7):

* ``modified``   — a sealed row's content changed;
* ``reordered``  — a row now holds the content sealed for another id (rows swapped);
* ``deleted``    — a sealed row is missing;
* ``inserted``   — an unsealed row sits inside the sealed range (forged after sealing);
* ``seal_broken``— the seal table itself was edited (hash chain or sequence broken);
* ``truncated``  — the chain is shorter than the last exported checkpoint (tail removed);
* ``checkpoint_mismatch`` — the chain no longer reaches a checkpoint's hash (history rewritten);
* ``checkpoint_invalid`` / ``checkpoint_foreign`` — a checkpoint that fails its signature or
  belongs to another log.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine

from kiban.security.audit import checkpoint as cpmod
from kiban.security.audit.canonical import GENESIS, ROW_SELECT, link, row_hash
from kiban.security.audit.seal import SealHead, driver_connection

MAX_FINDINGS = 1000
_FETCH = 20_000
_END = 1 << 64  # sorts after every real xid

_STREAM_SQL = (
    f"SELECT s.seq, s.id, s.xid::text, s.row_hash, s.chain_hash, {ROW_SELECT} "
    "FROM audit.seal s LEFT JOIN audit.access_log l ON l.id = s.id ORDER BY s.seq"
)


class FindingKind(enum.StrEnum):
    MODIFIED = "modified"  # 改ざん
    REORDERED = "reordered"  # 順序の入替え
    DELETED = "deleted"  # 削除
    INSERTED = "inserted"  # 挿入・偽造
    SEAL_BROKEN = "seal_broken"  # 封印表の改ざん
    TRUNCATED = "truncated"  # 末尾の切詰め
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # 履歴の書換え
    CHECKPOINT_INVALID = "checkpoint_invalid"  # 署名の不一致
    CHECKPOINT_FOREIGN = "checkpoint_foreign"  # 別のログのチェックポイント


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    record_id: int | None
    message: str  # Japanese / English
    position: tuple[int, int] = field(default=(_END, 0), compare=False, repr=False)


@dataclass(frozen=True)
class VerifyResult:
    sealed: int  # rows checked against their seals
    pending: int  # rows not sealed yet (checked once the sealer has run)
    checkpoints: int  # signed checkpoints compared
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    @property
    def first_bad_id(self) -> int | None:
        """The id of the earliest bad record in chain order (None if clean or no record is named)."""
        return next((f.record_id for f in self.findings if f.record_id is not None), None)


class _Findings:
    def __init__(self) -> None:
        self.items: list[Finding] = []
        self.omitted = 0

    def add(self, kind: FindingKind, record_id: int | None, message: str, position: tuple[int, int]) -> None:
        if len(self.items) >= MAX_FINDINGS:
            self.omitted += 1
            return
        self.items.append(Finding(kind, record_id, message, position))


@dataclass
class _Pass:
    head: SealHead
    chain_at: dict[int, tuple[int, bytes]]  # count -> (id, chain hash) at checkpoint positions
    mismatches: list[tuple[int, int, bytes, tuple[int, int]]]  # (seq, id, current row hash, position)


def _stream(conn: Connection, found: _Findings, wanted: set[int]) -> _Pass:
    """One pass over the seal table joined to the log, in chain order."""
    raw = driver_connection(conn)
    chain_at: dict[int, tuple[int, bytes]] = {}
    if 0 in wanted:
        chain_at[0] = (0, GENESIS)
    mismatches: list[tuple[int, int, bytes, tuple[int, int]]] = []
    previous, expected, last = GENESIS, 1, (0, None, 0)
    with raw.cursor(name="kiban_audit_verify") as cur:
        cur.itersize = _FETCH
        cur.execute(_STREAM_SQL)
        for rec in cur:
            seq, sid, sxid, shash, schain = rec[0], rec[1], int(rec[2]), bytes(rec[3]), bytes(rec[4])
            pos = (sxid, sid)
            if seq != expected:
                found.add(
                    FindingKind.SEAL_BROKEN,
                    sid,
                    f"封印 {expected}〜{seq - 1} 番が失われています（id={sid} の直前） / "
                    f"seal entries {expected}..{seq - 1} are missing (before record id={sid})",
                    pos,
                )
            elif link(previous, sid, shash) != schain:
                found.add(
                    FindingKind.SEAL_BROKEN,
                    sid,
                    f"記録 id={sid} の封印ハッシュ連鎖が一致しません（封印表の改ざん） / "
                    f"the seal chain is broken at record id={sid} (seal table edited)",
                    pos,
                )
            row = rec[5:]
            if row[0] is None:
                found.add(
                    FindingKind.DELETED,
                    sid,
                    f"記録 id={sid} は封印済みですが削除されています / record id={sid} was sealed but is missing (deleted)",
                    pos,
                )
            else:
                current = row_hash(row)
                if current != shash:
                    mismatches.append((seq, sid, current, pos))
            if seq in wanted:
                chain_at[seq] = (sid, schain)
            previous, expected, last = schain, seq + 1, (seq, sid, sxid)
    head = SealHead(count=last[0], last_id=last[1], last_xid=last[2], chain_hash=previous)
    return _Pass(head, chain_at, mismatches)


def _classify_mismatches(
    conn: Connection, found: _Findings, mismatches: list[tuple[int, int, bytes, tuple[int, int]]]
) -> None:
    """A changed row is 'reordered' if its content is what was sealed for another id, else 'modified'."""
    if not mismatches:
        return
    sample = mismatches[:MAX_FINDINGS]
    sealed_as: dict[bytes, list[int]] = {}
    for rid, rhash in conn.exec_driver_sql(
        "SELECT id, row_hash FROM audit.seal WHERE row_hash = ANY(%(h)s)", {"h": [m[2] for m in sample]}
    ):
        sealed_as.setdefault(bytes(rhash), []).append(rid)
    for _seq, sid, current, pos in sample:
        others = [i for i in sealed_as.get(current, []) if i != sid]
        if others:
            found.add(
                FindingKind.REORDERED,
                sid,
                f"記録 id={sid} の内容は id={others[0]} として封印されたものです（順序の入替え） / "
                f"record id={sid} holds the content sealed for id={others[0]} (rows reordered)",
                pos,
            )
        else:
            found.add(
                FindingKind.MODIFIED,
                sid,
                f"記録 id={sid} の内容が封印後に変更されています（改ざん） / record id={sid} was modified after sealing",
                pos,
            )


def _unsealed(conn: Connection, found: _Findings, head: SealHead) -> int:
    """Rows inside the sealed range that have no seal were added afterwards; count the pending rest."""
    cursor = {"xid": str(head.last_xid), "id": head.last_id or 0}
    for rid, xid in conn.exec_driver_sql(
        "SELECT l.id, l.xid::text FROM audit.access_log l "
        "WHERE (l.xid, l.id) < (%(xid)s::xid8, %(id)s) "
        "AND NOT EXISTS (SELECT 1 FROM audit.seal s WHERE s.id = l.id) ORDER BY l.xid, l.id LIMIT 1001",
        cursor,
    ):
        found.add(
            FindingKind.INSERTED,
            rid,
            f"封印済みの範囲に封印のない記録 id={rid} があります（挿入・偽造） / "
            f"record id={rid} appeared inside the sealed range without a seal (inserted or forged)",
            (int(xid), rid),
        )
    # A transaction id the server has not issued yet cannot have written a real row.
    for rid, xid in conn.exec_driver_sql(
        "SELECT l.id, l.xid::text FROM audit.access_log l "
        "WHERE l.xid >= pg_snapshot_xmax(pg_current_snapshot()) ORDER BY l.id LIMIT 1001"
    ):
        found.add(
            FindingKind.INSERTED,
            rid,
            f"記録 id={rid} のトランザクション番号が未発行のものです（偽造） / record id={rid} carries a future transaction id (forged)",
            (int(xid), rid),
        )
    pending = conn.exec_driver_sql(
        "SELECT count(*) FROM audit.access_log l WHERE (l.xid, l.id) > (%(xid)s::xid8, %(id)s)", cursor
    ).scalar_one()
    return int(pending)


def _load_checkpoints(
    conn: Connection,
    found: _Findings,
    notes: list[str],
    checkpoint_dir: Path | None,
    public_key_path: Path | None,
    use_db_checkpoints: bool,
) -> list[cpmod.Checkpoint]:
    directory = checkpoint_dir or cpmod.default_checkpoint_dir()
    files = sorted(directory.glob("checkpoint-*.json")) if directory.is_dir() else []
    key_path = public_key_path or cpmod.public_key_path_for(cpmod.default_key_path())
    if not key_path.exists():
        if files:
            found.add(
                FindingKind.CHECKPOINT_INVALID,
                None,
                f"公開鍵 {key_path} がないためチェックポイントを検証できません / "
                f"public key {key_path} not found: checkpoints cannot be verified",
                (_END, 0),
            )
        else:
            notes.append(
                "チェックポイントがありません（末尾の切詰めは検出できません） / no checkpoint: tail truncation cannot be detected"
            )
        return []
    public_key = cpmod.load_public_key(key_path)
    checkpoints: list[cpmod.Checkpoint] = []
    for path in files:
        try:
            checkpoints.append(cpmod.read_checkpoint_file(path, public_key))
        except cpmod.CheckpointInvalid as exc:
            found.add(
                FindingKind.CHECKPOINT_INVALID,
                None,
                f"チェックポイントの署名を検証できません: {exc} / checkpoint rejected: {exc}",
                (_END, 0),
            )
    if use_db_checkpoints:
        rows, bad = cpmod.read_checkpoint_rows(conn, public_key)
        for source in bad:
            found.add(
                FindingKind.CHECKPOINT_INVALID,
                None,
                f"{source} の署名が一致しません / {source}: signature does not verify",
                (_END, 0),
            )
        seen = {(c.count, c.chain_hash, c.at) for c in checkpoints}
        checkpoints.extend(c for c in rows if (c.count, c.chain_hash, c.at) not in seen)
    if not files:
        notes.append(
            f"{directory} に書き出されたチェックポイントがありません / no exported checkpoint in {directory}"
        )
    this_log = cpmod.log_id(conn)
    usable: list[cpmod.Checkpoint] = []
    for c in checkpoints:
        if c.log_id != this_log:
            found.add(
                FindingKind.CHECKPOINT_FOREIGN,
                None,
                f"{c.source} は別のログ ({c.log_id}) のチェックポイントです / {c.source} belongs to another log ({c.log_id})",
                (_END, 0),
            )
        else:
            usable.append(c)
    return sorted(usable, key=lambda c: c.count)


def _compare(found: _Findings, checkpoints: Iterable[cpmod.Checkpoint], result: _Pass) -> None:
    """Every checkpoint must still be reachable: same id and chain hash at the same position."""
    intact: cpmod.Checkpoint | None = None
    for c in checkpoints:
        if c.count > result.head.count:
            found.add(
                FindingKind.TRUNCATED,
                c.last_id,
                f"末尾の記録が切り詰められています: チェックポイントは {c.count} 件（最終 id={c.last_id}）、"
                f"封印は {result.head.count} 件（最終 id={result.head.last_id}）しかありません / "
                f"tail truncated: checkpoint {c.source} covers {c.count} rows up to id={c.last_id}, "
                f"the chain now ends after {result.head.count} rows at id={result.head.last_id}",
                (_END, c.count),
            )
            continue
        at = result.chain_at.get(c.count)
        if at is not None and at[1] == c.chain_hash and (c.count == 0 or at[0] == c.last_id):
            intact = c
            continue
        since = f" (after id={intact.last_id})" if intact and intact.last_id else ""
        found.add(
            FindingKind.CHECKPOINT_MISMATCH,
            c.last_id,
            f"封印済みの履歴が id={c.last_id} までのチェックポイントと一致しません（書換え）{since} / "
            f"sealed history up to id={c.last_id} no longer matches checkpoint {c.source} (rewritten){since}",
            (_END, c.count),
        )


def verify(
    engine: Engine,
    checkpoint_dir: Path | None = None,
    *,
    public_key_path: Path | None = None,
    use_db_checkpoints: bool = True,
) -> VerifyResult:
    """Recompute the seal chain and compare it with the signed checkpoints (read-only)."""
    found = _Findings()
    notes: list[str] = []
    with engine.connect() as base:
        conn = base.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            # One snapshot for the whole check; bulk plan for the stream.
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1.0")
            checkpoints = _load_checkpoints(
                conn, found, notes, checkpoint_dir, public_key_path, use_db_checkpoints
            )
            result = _stream(conn, found, {c.count for c in checkpoints})
            _classify_mismatches(conn, found, result.mismatches)
            pending = _unsealed(conn, found, result.head)
            _compare(found, checkpoints, result)
    if found.omitted:
        notes.append(f"さらに {found.omitted} 件の検出を省略しました / {found.omitted} more findings omitted")
    findings = tuple(sorted(found.items, key=lambda f: f.position))
    return VerifyResult(
        sealed=result.head.count,
        pending=pending,
        checkpoints=len(checkpoints),
        findings=findings,
        notes=tuple(notes),
    )
