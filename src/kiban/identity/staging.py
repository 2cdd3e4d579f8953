"""取込用の作業スキーマ (staging): the full load builds the five hub tables beside the live ones, in
several sessions at once, and swaps them in with one short transaction.

Why (docs/layouts/jumin-full-load.md §How it is fast): in one transaction PostgreSQL works in one
backend, and a million residents are about 30 CPU-seconds of COPY, index builds and foreign-key
checks in that one backend. Tables of a schema nobody else uses can be filled and indexed by
several sessions that each commit, and the live hub does not change until the swap:

1. ``prepare`` — ``identity_load.<table>`` for each of the five tables, ``LIKE`` the live one (columns,
   defaults, CHECK and NOT NULL constraints, identity columns whose new sequences continue the live
   ones), with the live table's owner and grants. Nobody else is granted the schema.
2. the rows go in by COPY from the worker processes, each over its own connection (kiban.identity.load);
3. ``plan`` / ``run`` — the primary keys, UNIQUE constraints and indexes of the live tables, read from
   the catalogue (pg_get_indexdef, pg_get_constraintdef: the migrations stay the single source of
   truth) and built on the staging tables in parallel sessions, then the foreign keys (added NOT VALID
   and validated, one session per referencing table), ANALYZE, and the live tables' own triggers;
4. ``swap`` (in the caller's transaction, which also writes the import record, the access-log row and
   the outbox event): lock the live tables, check they are still empty, drop the foreign keys other
   tables hold to them, drop them, move the staging tables into ``identity`` and add those foreign
   keys again (their tables hold no rows that point into an empty hub, so they validate at once).

A load that fails anywhere before the swap's commit leaves the live hub as it was; ``discard`` drops
the staging schema (also one a crashed load left behind). A test compares ``pg_dump --schema-only``
of the whole database before and after a load: the swapped tables are declared exactly as migrated.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from psycopg import sql

from kiban.identity.repo import IdentityError

SCHEMA: Final = "identity_load"
LIVE: Final = "identity"
# The five tables of the full load, each before the tables that refer to it.
TABLES: Final = ("person", "household", "person_version", "household_member", "my_number_vault")
# One full load at a time (a session advisory lock of the control connection); the key is the text
# 'kibanldr' read as a 64-bit integer, apart from the (class, person) pairs of migration 0015.
LOCK_KEY: Final = 0x6B6962616E6C6472
_LIKE: Final = (
    "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY INCLUDING GENERATED INCLUDING STORAGE "
    "INCLUDING COMPRESSION INCLUDING COMMENTS INCLUDING STATISTICS"
)


def _live(table: str) -> str:
    return f"{LIVE}.{table}"


def _staged(table: str) -> str:
    return f"{SCHEMA}.{table}"


def discard(raw: psycopg.Connection[Any]) -> None:
    """Drop the staging schema and all in it (an autocommit connection, or the caller commits)."""
    raw.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def _refuse_what_is_not_carried(raw: psycopg.Connection[Any]) -> None:
    """Row security, policies, rules and column grants would not follow the swap: refuse rather than
    lose them silently (the pg_dump test would also show it)."""
    found = raw.execute(
        """
        SELECT c.relname FROM pg_class c
         WHERE c.oid = ANY (%(t)s::regclass[])
           AND (c.relrowsecurity OR c.relforcerowsecurity OR c.reloptions IS NOT NULL
                OR EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
                OR EXISTS (SELECT 1 FROM pg_rewrite r WHERE r.ev_class = c.oid)
                OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attacl IS NOT NULL)
                OR EXISTS (SELECT 1 FROM pg_depend d WHERE d.refobjid = c.oid AND d.classid = 'pg_rewrite'::regclass))
        """,
        {"t": [_live(t) for t in TABLES]},
    ).fetchall()
    if found:
        names = ", ".join(r[0] for r in found)
        raise IdentityError(
            f"宛名ハブの表 {names} に行セキュリティ・規則・列権限・ビューがあります。全件取込はこれらを引き継げません"
        )


def prepare(raw: psycopg.Connection[Any]) -> None:
    """Create the staging schema and the five empty tables as the live ones (autocommit connection)."""
    _refuse_what_is_not_carried(raw)
    discard(raw)
    with raw.transaction():
        raw.execute(f"CREATE SCHEMA {SCHEMA}")
        for table in TABLES:
            raw.execute(f"CREATE TABLE {_staged(table)} (LIKE {_live(table)} {_LIKE})")
        owners = raw.execute(
            """
            SELECT c.relname, pg_get_userbyid(c.relowner)
              FROM pg_class c WHERE c.oid = ANY (%(t)s::regclass[])
            """,
            {"t": [_live(t) for t in TABLES]},
        ).fetchall()
        for table, owner in owners:
            raw.execute(
                sql.SQL("ALTER TABLE {} OWNER TO {}").format(
                    sql.Identifier(SCHEMA, table), sql.Identifier(owner)
                )
            )
        _copy_grants(raw, [(_live(t), _staged(t)) for t in TABLES])
        # Identity sequences: the staging table's new one continues where the live one is, with its grants.
        pairs = raw.execute(
            """
            SELECT pg_get_serial_sequence(%(live)s || '.' || c.relname, a.attname),
                   pg_get_serial_sequence(%(staged)s || '.' || c.relname, a.attname)
              FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
             WHERE c.oid = ANY (%(t)s::regclass[]) AND a.attidentity <> ''
            """,
            {"live": LIVE, "staged": SCHEMA, "t": [_live(t) for t in TABLES]},
        ).fetchall()
        for live_seq, staged_seq in pairs:
            state = raw.execute(f"SELECT last_value, is_called FROM {live_seq}").fetchone()
            assert state is not None
            raw.execute("SELECT setval(%s::regclass, %s, %s)", (staged_seq, state[0], state[1]))
        _copy_grants(raw, [(live, staged) for live, staged in pairs])


def _copy_grants(raw: psycopg.Connection[Any], pairs: Iterable[tuple[str, str]]) -> None:
    for live, staged in pairs:
        grants = raw.execute(
            """
            SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
                   a.is_grantable
              FROM pg_class c, aclexplode(c.relacl) a
             WHERE c.oid = %s::regclass AND a.grantee <> c.relowner
            """,
            (live,),
        ).fetchall()
        for privilege, grantee, grantable in grants:
            to = sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(grantee)
            raw.execute(
                sql.SQL("GRANT {} ON {} TO {}{}").format(
                    sql.SQL(privilege),
                    sql.Identifier(*staged.split(".")),
                    to,
                    sql.SQL(" WITH GRANT OPTION" if grantable else ""),
                )
            )


_REFERENCE = re.compile(rf"REFERENCES {LIVE}\.({'|'.join(TABLES)})\(")
Work = Callable[[psycopg.Connection[Any]], None]


@dataclass
class Job:
    """One step of the build: its statements run in one session, after the jobs named in ``after``.

    ``group``: jobs of one group run one at a time (the foreign keys: each locks two tables).
    ``cost``: the bigger first, among those ready (the trigram GIN index takes the longest).
    """

    name: str
    work: Work
    after: frozenset[str] = frozenset()
    group: str | None = None
    cost: int = 1


def _statements(texts: list[str]) -> Work:
    def work(conn: psycopg.Connection[Any]) -> None:
        for text in texts:
            conn.execute(text)  # catalogue-built DDL

    return work


def plan(raw: psycopg.Connection[Any], checks: dict[str, Work] | None = None) -> list[Job]:
    """The live tables' keys, indexes, foreign keys and triggers as jobs on the staging tables.

    Per table: its indexes (a primary key or UNIQUE constraint is built as its unique index first:
    CREATE INDEX takes a SHARE lock, so the builds of one table run side by side, where ADD
    CONSTRAINT would take the table whole) → ``attach`` (ADD CONSTRAINT … USING INDEX) → ``fk`` (the
    foreign keys NOT VALID, once the tables they refer to are attached) → ``validate`` → ``analyze``
    → ``triggers`` last. ``checks`` (per table) run after its ``attach``, before its triggers.
    """
    with raw.transaction():
        # Definitions with every name schema-qualified, whatever the session's search_path.
        raw.execute("SELECT set_config('search_path', 'pg_catalog', true)")
        rows = raw.execute(
            """
            SELECT c.contype::text, c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid),
                   CASE WHEN c.contype IN ('p', 'u') THEN pg_get_indexdef(c.conindid) END,
                   c.condeferrable, NULL::text
              FROM pg_constraint c
             WHERE c.contype IN ('p', 'u', 'x', 'f') AND c.conrelid = ANY (%(t)s::regclass[])
            UNION ALL
            SELECT 'i', i.indrelid::regclass::text, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid),
                   NULL, false, (SELECT m.amname::text FROM pg_class ic JOIN pg_am m ON m.oid = ic.relam
                                  WHERE ic.oid = i.indexrelid)
              FROM pg_index i
             WHERE i.indrelid = ANY (%(t)s::regclass[])
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            UNION ALL
            SELECT 't', t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled::text, false, NULL
              FROM pg_trigger t
             WHERE t.tgrelid = ANY (%(t)s::regclass[]) AND NOT t.tgisinternal
             ORDER BY 1, 2, 3
            """,
            {"t": [_live(t) for t in TABLES]},
        ).fetchall()
    index: dict[str, list[Job]] = {t: [] for t in TABLES}
    attach: dict[str, list[str]] = {t: [] for t in TABLES}
    fks: dict[str, list[str]] = {t: [] for t in TABLES}
    validate: dict[str, list[str]] = {t: [] for t in TABLES}
    refers: dict[str, set[str]] = {t: set() for t in TABLES}
    triggers: dict[str, list[str]] = {t: [] for t in TABLES}
    for kind, qualified, name, definition, extra, deferrable, method in rows:
        table = qualified.split(".", 1)[1]
        on, staged = f" ON {qualified} ", f" ON {_staged(table)} "
        if deferrable:
            raise IdentityError(f"{qualified} の制約 {name} は遅延可能です。全件取込はこれを引き継げません")
        if kind == "i":
            cost = 10 if method == "gin" else 3 if table == "person_version" else 2
            index[table].append(Job(f"index {name}", _statements([_once(definition, on, staged)]), cost=cost))
        elif kind in ("p", "u"):
            index[table].append(Job(f"index {name}", _statements([_once(extra, on, staged)]), cost=2))
            what = "PRIMARY KEY" if kind == "p" else "UNIQUE"
            attach[table].append(
                f'ALTER TABLE {_staged(table)} ADD CONSTRAINT "{name}" {what} USING INDEX "{name}"'
            )
        elif kind == "x":  # no index of its own to build first
            attach[table].append(f'ALTER TABLE {_staged(table)} ADD CONSTRAINT "{name}" {definition}')
        elif kind == "f":
            refers[table].update(m.group(1) for m in _REFERENCE.finditer(definition))
            target = _REFERENCE.sub(lambda m: f"REFERENCES {_staged(m.group(1))}(", definition)
            fks[table].append(f'ALTER TABLE {_staged(table)} ADD CONSTRAINT "{name}" {target} NOT VALID')
            validate[table].append(f'ALTER TABLE {_staged(table)} VALIDATE CONSTRAINT "{name}"')
        else:
            triggers[table].append(_once(definition, on, staged))
            if extra == "D":
                triggers[table].append(f'ALTER TABLE {_staged(table)} DISABLE TRIGGER "{name}"')
            elif extra != "O":
                raise IdentityError(
                    f"{qualified} のトリガー {name} の状態 {extra} は全件取込で引き継げません"
                )
    jobs: list[Job] = []
    for table in TABLES:
        jobs += index[table]
        jobs.append(
            Job(f"attach {table}", _statements(attach[table]), frozenset(j.name for j in index[table]))
        )
        last = f"attach {table}"
        if fks[table]:
            needs = {last} | {f"attach {r}" for r in refers[table] - {table}}
            jobs.append(Job(f"fk {table}", _statements(fks[table]), frozenset(needs), group="fk", cost=0))
            jobs.append(
                Job(f"validate {table}", _statements(validate[table]), frozenset({f"fk {table}"}), cost=3)
            )
            last = f"validate {table}"
        jobs.append(Job(f"analyze {table}", _statements([f"ANALYZE {_staged(table)}"]), frozenset({last})))
        before_triggers = {f"analyze {table}"}
        if checks and table in checks:
            jobs.append(Job(f"check {table}", checks[table], frozenset({f"attach {table}"})))
            before_triggers.add(f"check {table}")
        jobs.append(
            Job(f"triggers {table}", _statements(triggers[table]), frozenset(before_triggers), cost=0)
        )
    return jobs


def _once(definition: str, old: str, new: str) -> str:
    if definition.count(old) != 1:
        raise IdentityError(f"定義を作業用の表に書き換えられません: {definition}")
    return definition.replace(old, new)


Say = Callable[[int], None]


def _ranks(jobs: list[Job]) -> dict[str, int]:
    """Each job's cost plus the costliest chain of jobs waiting for it: the longest chain first, so
    the trigram index and what follows it on person_version start at once (list scheduling)."""
    waiting: dict[str, list[str]] = {j.name: [] for j in jobs}
    for j in jobs:
        for before in j.after:
            waiting.setdefault(before, []).append(j.name)
    rank: dict[str, int] = {}
    for j in reversed(jobs):  # the plan lists every job after the jobs it needs
        rank[j.name] = j.cost + max((rank[w] for w in waiting[j.name]), default=0)
    return rank


def run(url: str, jobs: list[Job], sessions: int, say: Say) -> None:
    """Run the jobs over ``sessions`` connections at once, each as soon as what it needs is done.

    The first error cancels the statements running in the other sessions and is raised.
    """
    conns = [psycopg.connect(url, autocommit=True) for _ in range(max(1, min(sessions, len(jobs))))]
    rank = _ranks(jobs)
    todo = sorted(jobs, key=lambda j: -rank[j.name])  # stable: the plan's order among equals
    done: set[str] = set()
    busy_groups: set[str] = set()
    running: set[str] = set()
    errors: list[BaseException] = []
    ready = threading.Condition()

    def next_job() -> Job | None:
        for job in todo:
            if job.after <= done and (job.group is None or job.group not in busy_groups):
                return job
        return None

    def session(conn: psycopg.Connection[Any]) -> None:
        while True:
            with ready:
                job = None
                while not errors and todo:
                    job = next_job()
                    if job is not None or not running:  # nothing runs that could make one ready
                        break
                    ready.wait()
                if errors or job is None:
                    ready.notify_all()
                    return
                todo.remove(job)
                running.add(job.name)
                if job.group:
                    busy_groups.add(job.group)
            try:
                job.work(conn)
            except BaseException as exc:
                with ready:
                    errors.append(exc)
                    ready.notify_all()
                for other in conns:
                    if other is not conn:
                        other.cancel_safe()  # stop the others' statements: the load is lost anyway
                return
            with ready:
                done.add(job.name)
                running.discard(job.name)
                if job.group:
                    busy_groups.discard(job.group)
                ready.notify_all()
            say(len(done))

    try:
        for c in conns:
            # The staging rows need no synchronous commit: the swap's commit flushes the WAL before it.
            c.execute("SET synchronous_commit = off")
            c.execute("SET maintenance_work_mem = '512MB'")
            c.execute("SET max_parallel_maintenance_workers = 0")
        threads = [
            threading.Thread(target=session, args=(c,), name=f"staging-{k}") for k, c in enumerate(conns)
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        for c in conns:
            c.close()
    if errors:
        first = next((e for e in errors if not isinstance(e, psycopg.errors.QueryCanceled)), errors[0])
        raise first
    if len(done) != len(jobs):
        raise IdentityError(
            f"作業用の表の構築が終わりませんでした（{len(jobs) - len(done)} 件の手順が残っています）"
        )


def swap(raw: psycopg.Connection[Any], *, lock_timeout: str = "30s") -> None:
    """Replace the five (empty) live tables by the staging ones, in the caller's open transaction.

    Raises ``NotEmpty`` with the count if the live hub gained persons meanwhile.
    """
    path = raw.execute("SELECT current_setting('search_path')").fetchone()
    raw.execute("SELECT set_config('lock_timeout', %s, true)", (lock_timeout,))
    raw.execute("SELECT set_config('search_path', 'pg_catalog', true)")  # definitions fully qualified
    try:
        raw.execute(f"LOCK TABLE {', '.join(_live(t) for t in TABLES)} IN ACCESS EXCLUSIVE MODE")
    except psycopg.errors.LockNotAvailable:
        raise IdentityError(
            "宛名ハブの表が他の処理で使用中のため、取込を完了できませんでした。しばらくしてから再実行してください"
        ) from None
    held = raw.execute(f"SELECT count(*) FROM {_live('person')}").fetchone()
    if held and held[0]:
        raise NotEmpty(int(held[0]))
    # Foreign keys of other tables (kaigo, collection, the hub's own facts …) to the five.
    inbound = raw.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
          FROM pg_constraint c
         WHERE c.contype = 'f' AND c.confrelid = ANY (%(t)s::regclass[])
           AND NOT c.conrelid = ANY (%(t)s::regclass[])
         ORDER BY 1, 2
        """,
        {"t": [_live(t) for t in TABLES]},
    ).fetchall()
    for table, name, _definition in inbound:
        raw.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    raw.execute(f"DROP TABLE {', '.join(_live(t) for t in TABLES)}")
    for table in TABLES:
        raw.execute(f"ALTER TABLE {_staged(table)} SET SCHEMA {LIVE}")
    for table, name, definition in inbound:
        raw.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')  # catalogue-built DDL
    raw.execute(f"DROP SCHEMA {SCHEMA}")
    raw.execute("SELECT set_config('search_path', %s, true)", (path[0] if path else "",))


class NotEmpty(Exception):
    """The live hub holds persons (someone registered one while the load ran)."""

    def __init__(self, held: int) -> None:
        super().__init__(held)
        self.held = held
