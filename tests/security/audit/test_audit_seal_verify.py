"""Sealing, checkpoints and verification: every kind of tampering is found, with the first bad id.

The attacker is the database owner (or a superuser) with the append-only triggers switched off.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from audit_helpers import AuditDb
from sqlalchemy import Engine, text

from kiban.security import audit
from kiban.security.audit.checkpoint import checkpoint
from kiban.security.audit.seal import seal
from kiban.security.audit.verify import FindingKind, VerifyResult, verify
from kiban.security.context import AccessContext, Action

# The columns an attacker edits when swapping two rows' contents.
CONTENT = (
    "at, staff_id, staff_code, department_code, terminal_code, business, purpose_code, purpose_text, "
    "action, outcome, subjects, detail, request_id, session_id, xid"
)


def write(engine: Engine, ctx_factory: Callable[..., AccessContext], n: int, start: int = 0) -> list[int]:
    with engine.begin() as conn:
        for i in range(start, start + n):
            ctx = ctx_factory(staff_code=f"k{i % 3:03d}")
            audit.record(conn, ctx, action=Action.VIEW, subjects=[f"{100000000 + i}"], detail={"i": i})
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT id FROM audit.access_log ORDER BY id")).scalars())


def sealed_log(db: AuditDb, make_ctx: Callable[..., AccessContext], home: Path, n: int = 20) -> list[int]:
    ids = write(db.app, make_ctx, n)
    assert seal(db.app, batch_size=7) == n  # several batches
    checkpoint(db.app)
    return ids


def check(db: AuditDb, home: Path) -> VerifyResult:
    return verify(db.app, home / "audit" / "checkpoints")


def test_clean_log_verifies(
    audit_db: AuditDb, make_ctx: Callable[..., AccessContext], kiban_home: Path
) -> None:
    ids = sealed_log(audit_db, make_ctx, kiban_home)
    write(audit_db.app, make_ctx, 3, start=100)  # not sealed yet: pending, not a finding
    result = check(audit_db, kiban_home)
    assert result.ok, result.findings
    assert (result.sealed, result.pending, result.checkpoints) == (len(ids), 3, 1)
    assert result.first_bad_id is None
    assert seal(audit_db.app) == 3
    assert seal(audit_db.app) == 0  # nothing left: sealing twice changes nothing


def test_key_is_created_private_with_its_public_key(
    audit_db: AuditDb, make_ctx: Callable[..., AccessContext], kiban_home: Path
) -> None:
    sealed_log(audit_db, make_ctx, kiban_home, n=2)
    key = kiban_home / "keys" / "audit-ed25519.pem"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert (kiban_home / "keys" / "audit-ed25519.pub.pem").exists()
    (file,) = (kiban_home / "audit" / "checkpoints").glob("checkpoint-*.json")
    payload = json.loads(file.read_text())["payload"]
    assert payload["count"] == 2 and payload["last_id"] is not None
    assert audit_db.scalar("SELECT count(*) FROM audit.checkpoint") == 1


def test_modified_row_is_found(
    audit_db: AuditDb, make_ctx: Callable[..., AccessContext], kiban_home: Path
) -> None:
    ids = sealed_log(audit_db, make_ctx, kiban_home)
    audit_db.tamper("UPDATE audit.access_log SET staff_code = 'someone-else' WHERE id = :id", {"id": ids[7]})
    result = check(audit_db, kiban_home)
    assert not result.ok
    assert result.first_bad_id == ids[7]
    assert result.findings[0].kind == FindingKind.MODIFIED
    assert [f.record_id for f in result.findings] == [ids[7]]  # one bad row, one finding


def test_deleted_row_is_found(
    audit_db: AuditDb, make_ctx: Callable[..., AccessContext], kiban_home: Path
) -> None:
    ids = sealed_log(audit_db, make_ctx, kiban_home)
    audit_db.tamper("DELETE FROM audit.access_log WHERE id IN (:a, :b)", {"a": ids[4], "b": ids[12]})
    result = check(audit_db, kiban_home)
    assert [(f.kind, f.record_id) for f in result.findings] == [
        (FindingKind.DELETED, ids[4]),
        (FindingKind.DELETED, ids[12]),
    ]


def test_reordered_rows_are_found(
    audit_db: AuditDb, make_ctx: Callable[..., AccessContext], kiban_home: Path
) -> None:
    ids = sealed_log(audit_db, make_ctx, kiban_home)
    a, b = ids[9], ids[10]
    audit_db.tamper(
        f"UPDATE audit.access_log l SET ({CONTENT}) = (SELECT {CONTENT} FROM audit.access_log o "
        "WHERE o.id = CASE WHEN l.id = :a THEN :b ELSE :a END) WHERE l.id IN (:a, :b)",
        {"a": a, "b": b},
    )
    result = check(audit_db, kiban_home)
    assert result.first_bad_id == a
    assert [(f.kind, f.record_id) for f in result.findings] == [
        (FindingKind.REORDERED, a),
        (FindingKind.REORDERED, b),
    ]
    assert f"id={b}" in result.findings[0].message


def test_truncated_tail_is_found_against_the_exported_checkpoint(
    audit_db: AuditDb, make_ctx: Callable[..., AccessContext], kiban_home: Path
) -> None:
    ids = sealed_log(audit_db, make_ctx, kiban_home)
    # A careful attacker removes the last rows and their seals, leaving a self-consistent chain.
    audit_db.tamper("DELETE FROM audit.access_log WHERE id > :id", {"id": ids[-4]})
    audit_db.tamper("DELETE FROM audit.seal WHERE id > :id", {"id": ids[-4]})
    audit_db.tamper("DELETE FROM audit.checkpoint")
    result = check(audit_db, kiban_home)
    assert [f.kind for f in result.findings] == [FindingKind.TRUNCATED]
    assert result.first_bad_id == ids[-1]
    assert f"id={ids[-4]}" in result.findings[0].message


def test_truncation_without_any_checkpoint_is_not_claimed_as_verified(
    audit_db: AuditDb, make_ctx: Callable[..., AccessContext], kiban_home: Path
) -> None:
    write(audit_db.app, make_ctx, 5)
    seal(audit_db.app)
    result = check(audit_db, kiban_home)
    assert result.ok
    assert any("no checkpoint" in note for note in result.notes)


def test_rewritten_history_is_caught_by_the_checkpoint(
    audit_db: AuditDb, make_ctx: Callable[..., AccessContext], kiban_home: Path
) -> None:
    ids = sealed_log(audit_db, make_ctx, kiban_home)
    # Edit a row, throw the seals away and reseal: every hash in the database is consistent again.
    audit_db.tamper("UPDATE audit.access_log SET subjects = '{999999999}' WHERE id = :id", {"id": ids[3]})
    audit_db.tamper("DELETE FROM audit.seal")
    seal(audit_db.owner)
    result = check(audit_db, kiban_home)
    assert [f.kind for f in result.findings] == [FindingKind.CHECKPOINT_MISMATCH]
    assert result.first_bad_id == ids[-1]


def test_forged_row_inside_the_sealed_range_is_found(
    audit_db: AuditDb, make_ctx: Callable[..., AccessContext], kiban_home: Path
) -> None:
    ids = sealed_log(audit_db, make_ctx, kiban_home)
    # Back-dated: an older transaction id, so it would sort inside the sealed part of the chain.
    forged = ids[-1] + 1000
    audit_db.tamper(
        "INSERT INTO audit.access_log (id, xid, staff_code, action, outcome) OVERRIDING SYSTEM VALUE "
        "SELECT :id, (xid::text::bigint - 1)::text::xid8, 'k000', 'view', 'ok' FROM audit.access_log WHERE id = :at",
        {"id": forged, "at": ids[5]},
    )
    result = check(audit_db, kiban_home)
    assert [(f.kind, f.record_id) for f in result.findings] == [(FindingKind.INSERTED, forged)]


def test_edited_seal_table_is_found(
    audit_db: AuditDb, make_ctx: Callable[..., AccessContext], kiban_home: Path
) -> None:
    ids = sealed_log(audit_db, make_ctx, kiban_home)
    audit_db.tamper("UPDATE audit.seal SET chain_hash = sha256(chain_hash) WHERE id = :id", {"id": ids[6]})
    result = check(audit_db, kiban_home)
    assert result.first_bad_id == ids[6]
    assert result.findings[0].kind == FindingKind.SEAL_BROKEN


def test_edited_checkpoint_file_fails_its_signature(
    audit_db: AuditDb, make_ctx: Callable[..., AccessContext], kiban_home: Path
) -> None:
    sealed_log(audit_db, make_ctx, kiban_home)
    (file,) = (kiban_home / "audit" / "checkpoints").glob("checkpoint-*.json")
    document = json.loads(file.read_text())
    document["payload"]["count"] -= 5
    file.write_text(json.dumps(document))
    result = check(audit_db, kiban_home)
    kinds = [f.kind for f in result.findings]
    assert FindingKind.CHECKPOINT_INVALID in kinds
    assert "signature" in result.findings[kinds.index(FindingKind.CHECKPOINT_INVALID)].message


def test_checkpoint_of_another_log_is_reported(
    audit_db: AuditDb, make_ctx: Callable[..., AccessContext], kiban_home: Path
) -> None:
    sealed_log(audit_db, make_ctx, kiban_home)
    audit_db.tamper("UPDATE audit.log_identity SET log_id = gen_random_uuid()")
    result = verify(audit_db.app, kiban_home / "audit" / "checkpoints", use_db_checkpoints=False)
    assert [f.kind for f in result.findings] == [FindingKind.CHECKPOINT_FOREIGN]


def test_a_transaction_that_commits_late_is_sealed_not_skipped(
    audit_db: AuditDb, make_ctx: Callable[..., AccessContext], kiban_home: Path
) -> None:
    # The slow transaction takes the smaller id, a fast one commits first: sealing by id alone would
    # chain the fast row and never come back for the slow one.
    with audit_db.app.connect() as slow:
        slow.begin()
        audit.record(slow, make_ctx(staff_code="slow"), action=Action.UPDATE, subjects=["100000001"])
        fast_ids = write(audit_db.app, make_ctx, 2)
        assert seal(audit_db.app) == 0  # the fast rows wait behind the open transaction
        slow.commit()
    assert seal(audit_db.app) == 3
    result = check(audit_db, kiban_home)
    assert result.ok and result.sealed == 3 and min(fast_ids) > 0


def test_an_open_transaction_in_another_database_does_not_stall_sealing(
    audit_db: AuditDb, db_engine: Engine, make_ctx: Callable[..., AccessContext]
) -> None:
    write(audit_db.app, make_ctx, 3)
    with db_engine.connect() as elsewhere:
        elsewhere.begin()
        elsewhere.execute(text("SELECT pg_current_xact_id()"))  # holds back the cluster-wide xmin
        assert seal(audit_db.app) == 3


def test_concurrent_sealers_do_not_double_seal(
    audit_db: AuditDb, make_ctx: Callable[..., AccessContext], kiban_home: Path
) -> None:
    write(audit_db.app, make_ctx, 50)
    counts: list[int] = []
    threads = [
        threading.Thread(target=lambda: counts.append(seal(audit_db.app, batch_size=5))) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seal(audit_db.app)
    result = check(audit_db, kiban_home)
    assert result.ok and result.sealed == 50


@pytest.mark.parametrize("kind", ["modified", "deleted"])
def test_verify_before_any_checkpoint_still_finds_row_tampering(
    audit_db: AuditDb, make_ctx: Callable[..., AccessContext], kiban_home: Path, kind: str
) -> None:
    ids = write(audit_db.app, make_ctx, 6)
    seal(audit_db.app)
    if kind == "modified":
        audit_db.tamper("UPDATE audit.access_log SET detail = '{\"i\": 0}' WHERE id = :id", {"id": ids[2]})
    else:
        audit_db.tamper("DELETE FROM audit.access_log WHERE id = :id", {"id": ids[2]})
    result = check(audit_db, kiban_home)
    assert result.first_bad_id == ids[2] and result.findings[0].kind == kind


def test_row_with_a_transaction_id_from_the_future_is_found(
    audit_db: AuditDb, make_ctx: Callable[..., AccessContext], kiban_home: Path
) -> None:
    sealed_log(audit_db, make_ctx, kiban_home, n=3)
    audit_db.tamper(
        "INSERT INTO audit.access_log (xid, staff_code, action, outcome) "
        "VALUES ((pg_current_xact_id()::text::bigint + 1000000)::text::xid8, 'k000', 'view', 'ok')"
    )
    forged = audit_db.scalar("SELECT max(id) FROM audit.access_log")
    result = check(audit_db, kiban_home)
    assert [(f.kind, f.record_id) for f in result.findings] == [(FindingKind.INSERTED, forged)]


def test_checkpoints_without_the_trusted_public_key_fail(
    audit_db: AuditDb, make_ctx: Callable[..., AccessContext], kiban_home: Path
) -> None:
    sealed_log(audit_db, make_ctx, kiban_home, n=3)
    (kiban_home / "keys" / "audit-ed25519.pub.pem").unlink()
    result = check(audit_db, kiban_home)
    assert [f.kind for f in result.findings] == [FindingKind.CHECKPOINT_INVALID]
    assert "public key" in result.findings[0].message
