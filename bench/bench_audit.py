"""Access-log benchmark: what logging costs a request, and how fast the log verifies.

    python bench/bench_audit.py [--requests 3000] [--seconds 2] [--rounds 12] [--rows 1000000]
                                [--admin-url postgresql://…/postgres] [--json out.json]

Runs in a database of its own (created, migrated and dropped here), as the application role for
requests and as the owner for the bulk rows. Targets (issue: access log):

* per-request overhead of the log ≤ 0.5 ms p50 and ≤ 1 ms p99;
* ≤ 20 % throughput loss with 4 concurrent writers (separate processes, as web workers are);
* ``verify`` over 1,000,000 rows ≤ 30 s — beside a plain streaming read of the same rows.

Two request shapes, each run with and without the log row:

* ``minimal`` — BEGIN, SELECT and UPDATE of one business row, COMMIT: the worst case, where the
  log's one extra statement is a fifth of the round trips;
* ``guarded`` — the shape of every kiban service: ``guard.require`` (terminal, session, staff and
  grant checks; it writes the log row when ``log=True``), then the same SELECT and UPDATE.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Bench

from kiban.db import config, embedded, migrate
from kiban.db.engine import app_url
from kiban.security import audit, guard
from kiban.security.audit.checkpoint import checkpoint
from kiban.security.audit.seal import driver_connection, seal
from kiban.security.audit.verify import _STREAM_SQL, verify
from kiban.security.context import AccessContext, Action, Business

WORK_ROWS = 10_000
STRIPE = WORK_ROWS // 4
SHAPES = ("minimal", "guarded")


def make_ctx(staff_id: int) -> AccessContext:
    return AccessContext(
        staff_id=staff_id,
        staff_code="bench-k07",
        department_code="bench-kaigo",
        terminal_code="BENCH-T07",
        business=Business.KAIGO,
        purpose_code="kaigo.eligibility",
        purpose_text="資格確認",
        session_id="bench-session",
    )


def request(engine: Engine, ctx: AccessContext, i: int, *, shape: str, log: bool) -> None:
    """One request: (guard,) read a person's row, update it, log the access."""
    rid = i % WORK_ROWS + 1
    subjects = [f"{100000000 + rid}"]
    detail = {"field": "n", "from": i, "to": i + 1}
    with engine.begin() as conn:
        if shape == "guarded":
            guard.require(conn, ctx, action=Action.UPDATE, subjects=subjects, detail=detail, log=log)
        conn.execute(text("SELECT id, n, payload FROM bench_audit.work WHERE id = :id"), {"id": rid}).one()
        conn.execute(text("UPDATE bench_audit.work SET n = n + 1 WHERE id = :id"), {"id": rid})
        if log and shape == "minimal":
            audit.record(conn, ctx, action=Action.UPDATE, subjects=subjects, detail=detail)


def latencies(
    engine: Engine, ctx: AccessContext, n: int, *, shape: str, log: bool, offset: int
) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        request(engine, ctx, offset + i, shape=shape, log=log)
        out.append(time.perf_counter() - t0)
    return out


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def _worker(url: str, staff_id: int, shape: str, seed: int, commands: Any, results: Any, start: Any) -> None:
    """A writer process: runs timed rounds on command until told to stop (None)."""
    engine = create_engine(config.to_sqlalchemy_url(url), pool_size=1)
    ctx = make_ctx(staff_id)
    for log in (False, True):  # connect and warm up both paths outside the timed windows
        for i in range(20):
            request(engine, ctx, seed * STRIPE + i, shape=shape, log=log)
    done = 0
    while (command := commands.get()) is not None:
        log, seconds = command
        start.wait()  # all writers start together
        count, deadline = 0, time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            # Each writer keeps to its own stripe of rows: no row-lock waits between writers.
            request(engine, ctx, seed * STRIPE + done % STRIPE, shape=shape, log=log)
            count += 1
            done += 1
        results.put(count)
    engine.dispose()


class Writers:
    """Four writer processes (web workers are processes), kept alive across rounds."""

    def __init__(self, url: str, staff_id: int, shape: str, writers: int = 4) -> None:
        ctx = mp.get_context("spawn")
        self.results = ctx.Queue()
        self.start = start = ctx.Barrier(writers)  # kept: the children unpickle it after start()
        self.commands = [ctx.Queue() for _ in range(writers)]
        self.procs = [
            ctx.Process(target=_worker, args=(url, staff_id, shape, w, q, self.results, start))
            for w, q in enumerate(self.commands)
        ]
        for p in self.procs:
            p.start()

    def rate(self, *, log: bool, seconds: float) -> float:
        for q in self.commands:
            q.put((log, seconds))
        return sum(int(self.results.get()) for _ in self.procs) / seconds

    def close(self) -> None:
        for q in self.commands:
            q.put(None)
        for p in self.procs:
            p.join()


SETUP_SQL = [
    "CREATE SCHEMA bench_audit",
    "CREATE TABLE bench_audit.work (id int PRIMARY KEY, n bigint NOT NULL, payload text)",
    f"INSERT INTO bench_audit.work SELECT g, 0, repeat('x', 200) FROM generate_series(1, {WORK_ROWS}) g",
    "GRANT USAGE ON SCHEMA bench_audit TO kiban_app",
    "GRANT SELECT, UPDATE ON bench_audit.work TO kiban_app",
    # One staff member with a live grant, session and enrolled terminal, for guard.require.
    "INSERT INTO security.department (code, name) VALUES ('bench-kaigo', '介護保険課')",
    "INSERT INTO security.staff (code, name, department_id) "
    "SELECT 'bench-k07', 'ベンチ職員', department_id FROM security.department WHERE code = 'bench-kaigo'",
    "INSERT INTO security.terminal (code, name, department_id, secret_hash) "
    "SELECT 'BENCH-T07', 'ベンチ端末', department_id, 'bench-secret' FROM security.department WHERE code = 'bench-kaigo'",
    "INSERT INTO security.grant_ (staff_id, business, department_id, role_code, valid) "
    "SELECT s.staff_id, 'kaigo', s.department_id, 'clerk', daterange('2020-01-01', NULL) "
    "FROM security.staff s WHERE s.code = 'bench-k07'",
    "INSERT INTO security.session (session_hash, staff_id, terminal_id, csrf_token, expires_at) "
    "SELECT 'bench-session', s.staff_id, t.terminal_id, 'x', now() + interval '1 day' "
    "FROM security.staff s, security.terminal t WHERE s.code = 'bench-k07' AND t.code = 'BENCH-T07'",
]

BULK_SQL = """
INSERT INTO audit.access_log (at, staff_id, staff_code, department_code, terminal_code, business, purpose_code,
                              purpose_text, action, outcome, subjects, detail, request_id, session_id)
SELECT timestamptz '2025-04-01 08:30+09' + g * interval '37 ms',
       g %% 500, 'k' || lpad((g %% 500)::text, 5, '0'), 'dept-' || (g %% 20), 'T-' || (g %% 300),
       (ARRAY['kaigo','kokuho','kouki','shogai','atena'])[1 + g %% 5], 'kaigo.eligibility', '資格確認',
       (ARRAY['view','search','update','print'])[1 + g %% 4], 'ok',
       ARRAY[(100000000 + g %% 400000)::text, (100000000 + (g * 7) %% 400000)::text],
       jsonb_build_object('criteria', jsonb_build_object('kana', 'ヤマダ', 'born', '1950-01-01'), 'count', g %% 50),
       md5(g::text), md5((g %% 1000)::text)
FROM generate_series(%(lo)s::int, %(hi)s::int) AS g
"""


def bulk_rows(owner: Engine, n: int) -> None:
    chunk = 200_000  # several transactions, so several xids, as in real life
    with owner.connect() as conn:
        for lo in range(1, n + 1, chunk):
            with conn.begin():
                conn.exec_driver_sql(BULK_SQL, {"lo": lo, "hi": min(lo + chunk - 1, n)})
        conn.exec_driver_sql("ANALYZE audit.access_log")
        conn.commit()


def plain_read(engine: Engine) -> int:
    """The same stream verify reads, fetched and discarded (the I/O floor)."""
    count = 0
    with engine.connect() as conn, conn.begin():
        conn.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1.0")
        with driver_connection(conn).cursor(name="bench_read") as cur:
            cur.itersize = 20_000
            cur.execute(_STREAM_SQL)
            for _ in cur:
                count += 1
    return count


def latency_figures(bench: Bench, app: Engine, ctx: AccessContext, shape: str, n: int) -> None:
    for log in (True, False):  # warm up both paths (prepared statements, caches)
        latencies(app, ctx, 300, shape=shape, log=log, offset=0)
    without: list[float] = []
    with_log: list[float] = []

    def interleaved() -> None:  # blocks alternate, so drift in the machine's load hits both sides
        for block in range(0, n, 250):
            size = min(250, n - block)
            without.extend(latencies(app, ctx, size, shape=shape, log=False, offset=block))
            with_log.extend(latencies(app, ctx, size, shape=shape, log=True, offset=block))

    name = f"{shape}: {n:,} requests each side, one writer"
    bench.baseline(name, interleaved)
    p50, p99 = (pct(without, 50), pct(with_log, 50)), (pct(without, 99), pct(with_log, 99))
    bench.results[name].extra.update(
        p50_ms=f"{p50[0]:.3f}→{p50[1]:.3f}",
        p99_ms=f"{p99[0]:.3f}→{p99[1]:.3f}",
        overhead_p50_ms=round(p50[1] - p50[0], 3),
        overhead_p99_ms=round(p99[1] - p99[0], 3),
    )
    print(
        f"  {shape}: log overhead p50 {p50[1] - p50[0]:.3f} ms (target ≤ 0.5), p99 {p99[1] - p99[0]:.3f} ms "
        f"(target ≤ 1); request p50 {p50[0]:.3f} → {p50[1]:.3f} ms, p99 {p99[0]:.3f} → {p99[1]:.3f} ms",
        flush=True,
    )


def throughput_figures(bench: Bench, link: str, staff_id: int, shape: str, args: argparse.Namespace) -> None:
    rounds: dict[bool, list[float]] = {False: [], True: []}

    def alternate() -> None:
        writers = Writers(link, staff_id, shape)
        try:
            # Back-to-back pairs in ABBA order, so drift and other load on the machine hit both sides.
            for r in range(args.rounds):
                for log in (False, True) if r % 2 == 0 else (True, False):
                    rounds[log].append(writers.rate(log=log, seconds=args.seconds))
        finally:
            writers.close()

    name = f"{shape}: 4 writers, {args.rounds} × {args.seconds:g} s each side"
    bench.baseline(name, alternate)
    without_rps, with_rps = statistics.median(rounds[False]), statistics.median(rounds[True])
    per_round = [1 - w / o for o, w in zip(rounds[False], rounds[True], strict=True)]
    loss = statistics.median(per_round)
    bench.results[name].extra.update(rps=f"{without_rps:,.0f}→{with_rps:,.0f}", loss_pct=round(loss * 100, 1))
    print(
        f"  {shape}: 4 writers {without_rps:,.0f} → {with_rps:,.0f} req/s (medians), loss {loss:.1%} "
        f"(median of paired rounds; target ≤ 20 %); rounds " + ", ".join(f"{x:.0%}" for x in per_round),
        flush=True,
    )


def run(owner: Engine, url: str, args: argparse.Namespace) -> None:
    migrate.upgrade(owner)
    with owner.begin() as conn:
        for statement in SETUP_SQL:
            conn.execute(text(statement))
        staff_id = int(
            conn.execute(text("SELECT staff_id FROM security.staff WHERE code = 'bench-k07'")).scalar_one()
        )
    link = app_url(url)
    app = create_engine(config.to_sqlalchemy_url(link), pool_size=1)
    ctx = make_ctx(staff_id)
    bench = Bench("access log (アクセスログ)")

    for shape in SHAPES:
        latency_figures(bench, app, ctx, shape, args.requests)
    for shape in SHAPES:
        throughput_figures(bench, link, staff_id, shape, args)

    sealed = bench.baseline("seal the rows of the request runs", lambda: seal(app))
    print(f"  sealed {sealed:,} rows from the request runs", flush=True)
    bench.baseline(f"insert {args.rows:,} rows (INSERT … SELECT)", lambda: bulk_rows(owner, args.rows))
    bench.figure(f"seal {args.rows:,} rows", lambda: seal(app, batch_size=50_000), rows=args.rows)
    with tempfile.TemporaryDirectory() as home:
        os.environ["KIBAN_HOME"] = home
        checkpoint(app)
        bench.baseline("stream the same rows, no hashing", lambda: plain_read(app))
        result = bench.figure("kiban audit verify", lambda: verify(app, Path(home) / "audit" / "checkpoints"))
    assert result.ok, result.findings
    print(f"  verified {result.sealed:,} sealed rows (target: 1,000,000 in ≤ 30 s)", flush=True)
    app.dispose()
    bench.report(args.json)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=3000, help="requests per side for the latency figures")
    ap.add_argument("--seconds", type=float, default=2.0, help="duration of each throughput round")
    ap.add_argument("--rounds", type=int, default=12, help="alternating throughput rounds per side")
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows for the verify figure")
    ap.add_argument("--admin-url", default=None, help="admin database URL (default: the embedded server)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    admin = args.admin_url or embedded.start_admin(config.home() / "pg")
    name = f"kiban_bench_audit_{uuid.uuid4().hex[:8]}"
    embedded.ensure_database(admin, name)
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    owner = create_engine(config.to_sqlalchemy_url(url))
    try:
        run(owner, url, args)
    finally:
        owner.dispose()
        embedded.drop_database(admin, name)


if __name__ == "__main__":
    main()
