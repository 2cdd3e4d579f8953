"""鍵ローテーション: re-encrypting registered columns, resumably, and recomputing the blind index."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text

from kiban.security import keys
from kiban.security.keys.errors import RotationInProgress

PROBE = "keys_probe.vault_probe"  # made by the ``engine`` fixture; ``probe`` fills it
Probe = Any  # conftest.Probe (conftest modules are not imported by name)


class Interrupted(Exception):
    """Stands in for a killed process (the batch that raised it has already committed)."""


def runs(engine: Engine) -> list[tuple[str, int, int, int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT target, from_version, to_version, rows_done, state FROM security.rekey_run ORDER BY run_id"
            )
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_rotation_moves_every_row_to_the_new_version(engine: Engine, probe: Probe) -> None:
    values = probe.fill(250, null_every=10)  # 225 values, 25 NULLs
    keys.register_encrypted_column(PROBE, "secret", "id")
    seen: list[tuple[str, int, int]] = []

    report = keys.rotate(engine, batch_size=100, progress=lambda t, d, n: seen.append((t, d, n)))

    assert (report.from_version, report.to_version, report.resumed) == (1, 2, False)
    (target,) = report.targets
    assert (target.target, target.rows_total, target.rows_done, target.rows_reencrypted) == (
        f"{PROBE}.secret",
        225,
        225,
        225,
    )
    assert {keys.key_version_of(b) for b in probe.rows().values()} == {2}
    assert probe.decrypt_all() == values
    assert seen == [(f"{PROBE}.secret", d, 225) for d in (0, 100, 200, 225)]
    assert runs(engine) == [(f"{PROBE}.secret", 1, 2, 225, "done")]
    with engine.connect() as conn:
        states = {(k.purpose, k.version): k.state for k in keys.list_keys(conn)}
    assert states[("vault", 1)] == "retired" and states[("vault", 2)] == "active"


def test_interrupted_rotation_resumes_to_the_same_end_state(engine: Engine, probe: Probe) -> None:
    values = probe.fill(250)
    keys.register_encrypted_column(PROBE, "secret", "id")

    def die_after_first_batch(target: str, done: int, total: int) -> None:
        if done >= 100:
            raise Interrupted

    with pytest.raises(Interrupted):
        keys.rotate(engine, batch_size=100, progress=die_after_first_batch)

    # Half-way: the first batch is on v2, the rest still on v1 — and every row still decrypts.
    midway = probe.rows()
    assert [keys.key_version_of(midway[i]) for i in (1, 100, 101, 250)] == [2, 2, 1, 1]
    assert probe.decrypt_all() == values
    assert runs(engine) == [(f"{PROBE}.secret", 1, 2, 100, "running")]
    # The application keeps encrypting meanwhile, with the new key.
    with engine.begin() as conn:
        assert keys.key_version_of(keys.encrypt(conn, "x", table=PROBE, column="secret", row_id=999)) == 2

    report = keys.rotate(engine, batch_size=100)

    assert (report.from_version, report.to_version, report.resumed) == (1, 2, True)  # no v3
    assert report.targets[0].rows_reencrypted == 150  # only what was left
    after = probe.rows()
    assert all(after[i] == midway[i] for i in range(1, 101))  # the first batch was not redone
    assert {keys.key_version_of(b) for b in after.values()} == {2}
    assert probe.decrypt_all() == values
    assert runs(engine) == [(f"{PROBE}.secret", 1, 2, 250, "done")]
    with engine.connect() as conn:
        assert keys.active_version(conn, keys.VAULT) == 2


def test_rows_already_on_the_new_version_are_skipped(engine: Engine, probe: Probe) -> None:
    probe.fill(30)
    keys.register_encrypted_column(PROBE, "secret", "id")
    with engine.begin() as conn:
        keys.new_version(conn, keys.VAULT)  # v2 active…
        blob = keys.encrypt(conn, "fresh", table=PROBE, column="secret", row_id=5)
        conn.execute(text(f"UPDATE {PROBE} SET secret = :b WHERE id = 5"), {"b": blob})
    report = keys.rotate(engine, batch_size=7)  # …so rotation makes v3
    assert report.to_version == 3 and report.targets[0].rows_reencrypted == 30
    # And a second rotation afterwards is a new rotation to v4, not a no-op.
    report = keys.rotate(engine, batch_size=7)
    assert (report.from_version, report.to_version, report.targets[0].rows_reencrypted) == (3, 4, 30)
    assert probe.decrypt_all()[5] == b"fresh"


def test_registration_is_remembered_in_the_database(engine: Engine, probe: Probe) -> None:
    probe.fill(3)
    keys.register_encrypted_column(PROBE, "secret", "id")
    keys.rotate(engine)
    keys.unregister_encrypted_column(PROBE, "secret")  # like an operator's shell that never imported it
    report = keys.rotate(engine)
    assert [t.target for t in report.targets] == [f"{PROBE}.secret"]
    assert {keys.key_version_of(b) for b in probe.rows().values()} == {3}


def test_registration_rejects_a_conflicting_id_column() -> None:
    keys.register_encrypted_column(PROBE, "secret", "id")
    try:
        with pytest.raises(ValueError, match="already registered"):
            keys.register_encrypted_column(PROBE, "secret", "other_id")
        with pytest.raises(ValueError):
            keys.register_encrypted_column("no_schema", "secret", "id")
    finally:
        keys.unregister_encrypted_column(PROBE, "secret")


def test_a_second_concurrent_rotation_is_refused(engine: Engine, probe: Probe) -> None:
    probe.fill(5)
    keys.register_encrypted_column(PROBE, "secret", "id")
    with engine.connect() as other:
        other.execute(text("SELECT pg_advisory_lock(x'6B6962616E726F74'::bigint)"))
        with pytest.raises(RotationInProgress):
            keys.rotate(engine)
        other.execute(text("SELECT pg_advisory_unlock(x'6B6962616E726F74'::bigint)"))
        other.commit()
    assert keys.rotate(engine).to_version == 2


def test_rotating_the_blind_index_key_recomputes_the_index(engine: Engine, probe: Probe) -> None:
    values = probe.fill(40)
    target = keys.BlindIndexColumn(keys.EncryptedColumn(PROBE, "secret", "id"), "idx")
    with engine.begin() as conn:
        assert keys.recompute_blind_index(conn, target, batch_size=16) == 40
        before = {r.id: bytes(r.idx) for r in conn.execute(text(f"SELECT id, idx FROM {PROBE}"))}
        assert before[3] == keys.blind_index(conn, values[3].decode())

    assert keys.rotate_blind_index(engine, [target], batch_size=16) == 2

    with engine.connect() as conn:
        after = {r.id: bytes(r.idx) for r in conn.execute(text(f"SELECT id, idx FROM {PROBE}"))}
        assert all(after[i] != before[i] for i in values)
        lookup = keys.blind_index(conn, values[17].decode())
        found = conn.execute(text(f"SELECT id FROM {PROBE} WHERE idx = :ix"), {"ix": lookup}).scalars().all()
        assert found == [17]


def test_status_counts_rows_per_key_version(engine: Engine, probe: Probe) -> None:
    probe.fill(250)
    keys.register_encrypted_column(PROBE, "secret", "id")

    def stop(target: str, done: int, total: int) -> None:
        if done >= 100:
            raise Interrupted

    with pytest.raises(Interrupted):
        keys.rotate(engine, batch_size=100, progress=stop)
    with engine.connect() as conn:
        st = keys.keys_status(conn)
    (col,) = [c for c in st.columns if c.target == f"{PROBE}.secret"]
    assert col.rows_by_version == {1: 150, 2: 100}
    assert [(r.target, r.rows_done) for r in st.unfinished] == [(f"{PROBE}.secret", 100)]


def test_a_batch_that_fails_midway_leaves_nothing_half_done(engine: Engine, probe: Probe) -> None:
    values = probe.fill(250)
    keys.register_encrypted_column(PROBE, "secret", "id")
    with engine.begin() as conn:  # row 150 holds a ciphertext copied from row 149: it must not decrypt
        conn.execute(
            text(f"UPDATE {PROBE} SET secret = (SELECT secret FROM {PROBE} WHERE id = 149) WHERE id = 150")
        )

    with pytest.raises(keys.DecryptionError, match=r"row 150 \(key version 1\)"):
        keys.rotate(engine, batch_size=100)

    # Batch 1 committed; batch 2 (rows 101-200) rolled back as a whole.
    versions = {i: keys.key_version_of(b) for i, b in probe.rows().items()}
    assert {versions[i] for i in range(1, 101)} == {2} and {versions[i] for i in range(101, 251)} == {1}
    assert runs(engine) == [(f"{PROBE}.secret", 1, 2, 100, "running")]

    with engine.begin() as conn:  # the operator restores row 150 from its source
        blob = keys.encrypt(conn, values[150], table=PROBE, column="secret", row_id=150)
        conn.execute(text(f"UPDATE {PROBE} SET secret = :b WHERE id = 150"), {"b": blob})
    report = keys.rotate(engine, batch_size=100)
    assert report.resumed and report.targets[0].rows_reencrypted == 149  # row 150 was already on v2
    assert probe.decrypt_all() == values


def test_text_row_ids_rotate_too(engine: Engine) -> None:
    table = "keys_probe.coded"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (code text PRIMARY KEY, secret bytea)"))
        vault = keys.Vault.load(conn)
        codes = [f"P-{i:04d}" for i in range(1, 26)]
        conn.execute(
            text(f"INSERT INTO {table} VALUES (:c, :s)"),
            [{"c": c, "s": vault.encrypt(c[::-1], table=table, column="secret", row_id=c)} for c in codes],
        )
    col = keys.EncryptedColumn(table, "secret", "code")
    report = keys.rotate(engine, batch_size=4, columns=[col])
    assert report.targets[0].rows_reencrypted == 25
    with engine.connect() as conn:
        for code, blob in conn.execute(text(f"SELECT code, secret FROM {table}")):
            assert keys.key_version_of(bytes(blob)) == 2
            assert (
                keys.decrypt(conn, bytes(blob), table=table, column="secret", row_id=code)
                == code[::-1].encode()
            )


def test_a_declared_column_whose_table_was_dropped_is_skipped(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE keys_probe.gone (id bigint PRIMARY KEY, secret bytea)"))
    keys.register_encrypted_column("keys_probe.gone", "secret", "id")
    try:
        keys.rotate(engine)  # declares it in security.encrypted_column
    finally:
        keys.unregister_encrypted_column("keys_probe.gone", "secret")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE keys_probe.gone"))
    report = keys.rotate(engine)
    assert [(t.target, t.missing) for t in report.targets] == [("keys_probe.gone.secret", True)]
    with engine.connect() as conn:
        assert [c.missing for c in keys.keys_status(conn).columns] == [True]
