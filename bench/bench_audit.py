"""Access-log benchmark: what logging costs a request, and how fast the log verifies.

    python bench/bench_audit.py [--requests 5000] [--seconds 5] [--rows 1000000]
                                [--admin-url postgresql://…/postgres] [--json out.json]

Runs in a database of its own (created, migrated and dropped here), as the application role for
requests and as the owner for the bulk rows. Targets (issue: access log):

* per-request overhead of ``audit.record`` ≤ 0.5 ms p50 and ≤ 1 ms p99 — a small transaction
  (one SELECT and one UPDATE of a business row) with and without the log INSERT;
* ≤ 20 % throughput loss with 4 concurrent writers (separate processes, as web workers are);
* ``verify`` over 1,000,000 rows ≤ 30 s — beside a plain streaming read of the same rows.
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
from kiban.security import audit
from kiban.security.audit.checkpoint import checkpoint
from kiban.security.audit.seal import driver_connection, seal
from kiban.security.audit.verify import _STREAM_SQL, verify
from kiban.security.context import AccessContext, Action, Business

WORK_ROWS = 10_000
CTX = AccessContext(
    staff_id=7,
    staff_code="k00007",
    department_code="kaigo-ka",
    terminal_code="T-0007",
    business=Business.KAIGO,
    purpose_code="kaigo.eligibility",
    purpose_text="資格確認",
    session_id="s" * 32,
)


def request(engine: Engine, i: int, *, log: bool) -> None:
    """One representative request: read a person's row, update it, log the access."""
    rid = i % WORK_ROWS + 1
    with engine.begin() as conn:
        conn.execute(text("SELECT id, n, payload FROM bench_audit.work WHERE id = :id"), {"id": rid}).one()
        conn.execute(text("UPDATE bench_audit.work SET n = n + 1 WHERE id = :id"), {"id": rid})
        if log:
            audit.record(
                conn,
                CTX,
                action=Action.UPDATE,
                subjects=[f"{100000000 + rid}"],
                detail={"field": "n", "from": i, "to": i + 1},
            )


def latencies(engine: Engine, n: int, *, log: bool, offset: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        request(engine, offset + i, log=log)
        out.append(time.perf_counter() - t0)
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


def _worker(url: str, seconds: float, log: bool, seed: int, ready: Any, out: Any) -> None:
    engine = create_engine(config.to_sqlalchemy_url(url), pool_size=1)
    request(engine, seed, log=log)  # connect and warm up outside the timed window
    ready.wait()  # all writers start together
    done, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        request(engine, seed * 100_000 + done, log=log)
        done += 1
    engine.dispose()
    out.put(done)


def throughput(url: str, seconds: float, *, log: bool, writers: int = 4) -> float:
    """Requests per second of ``writers`` processes running the same request for ``seconds``."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    ready = ctx.Barrier(writers)
    procs = [ctx.Process(target=_worker, args=(url, seconds, log, w, ready, queue)) for w in range(writers)]
    for p in procs:
        p.start()
    total: int = sum(int(queue.get()) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


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
FROM generate_series(%(lo)s, %(hi)s) AS g
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
    with engine.connect() as conn, conn.begin(), driver_connection(conn).cursor(name="bench_read") as cur:
        cur.itersize = 20_000
        cur.execute(_STREAM_SQL)
        for _ in cur:
            count += 1
    return count


def run(owner: Engine, url: str, args: argparse.Namespace) -> None:
    migrate.upgrade(owner)
    with owner.begin() as conn:
        conn.execute(text("CREATE SCHEMA bench_audit"))
        conn.execute(
            text("CREATE TABLE bench_audit.work (id int PRIMARY KEY, n bigint NOT NULL, payload text)")
        )
        conn.execute(
            text("INSERT INTO bench_audit.work SELECT g, 0, repeat('x', 200) FROM generate_series(1, :n) g"),
            {"n": WORK_ROWS},
        )
        conn.execute(text("GRANT USAGE ON SCHEMA bench_audit TO kiban_app"))
        conn.execute(text("GRANT SELECT, UPDATE ON bench_audit.work TO kiban_app"))
    app_link = app_url(url)
    app = create_engine(config.to_sqlalchemy_url(app_link), pool_size=1)
    n = args.requests

    bench = Bench("access log (アクセスログ)")
    latencies(app, 500, log=True, offset=0)  # warm up both paths (prepared statements, caches)
    latencies(app, 500, log=False, offset=0)
    without: list[float] = []
    with_log: list[float] = []

    # Interleave in blocks so drift in the machine's load hits both sides alike.
    def both() -> None:
        for block in range(0, n, 250):
            without.extend(latencies(app, min(250, n - block), log=False, offset=block))
            with_log.extend(latencies(app, min(250, n - block), log=True, offset=block))

    bench.baseline(f"{n:,} × 2 requests, interleaved", both)
    p50 = (pct(without, 50), pct(with_log, 50))
    p99 = (pct(without, 99), pct(with_log, 99))
    bench.results[f"{n:,} × 2 requests, interleaved"].extra.update(
        p50_ms_without=round(p50[0], 3),
        p50_ms_with=round(p50[1], 3),
        p99_ms_without=round(p99[0], 3),
        p99_ms_with=round(p99[1], 3),
        overhead_p50_ms=round(p50[1] - p50[0], 3),
        overhead_p99_ms=round(p99[1] - p99[0], 3),
    )
    print(
        f"  per-request overhead: p50 {p50[1] - p50[0]:.3f} ms (target ≤ 0.5), "
        f"p99 {p99[1] - p99[0]:.3f} ms (target ≤ 1)   "
        f"[without p50 {p50[0]:.3f} / p99 {p99[0]:.3f}; with p50 {p50[1]:.3f} / p99 {p99[1]:.3f}]",
        flush=True,
    )

    # Alternate rounds without / with the log: other load on the machine then hits both sides alike.
    rounds: dict[bool, list[float]] = {False: [], True: []}

    def alternate() -> None:
        for _ in range(args.rounds):
            for log in (False, True):
                rounds[log].append(throughput(app_link, args.seconds, log=log))

    name = f"4 writers, {args.rounds} × {args.seconds:g} s each side"
    bench.baseline(name, alternate)
    without_rps, with_rps = statistics.median(rounds[False]), statistics.median(rounds[True])
    losses = [1 - w / o for o, w in zip(rounds[False], rounds[True], strict=True)]
    loss = 1 - with_rps / without_rps
    bench.results[name].extra.update(
        rps_without=round(without_rps), rps_with=round(with_rps), loss_pct=round(loss * 100, 1)
    )
    print(
        f"  throughput (median of {args.rounds}): {without_rps:,.0f} req/s without, {with_rps:,.0f} req/s with log "
        f"→ loss {loss:.1%} (target ≤ 20 %); per round: " + ", ".join(f"{x:.1%}" for x in losses),
        flush=True,
    )

    sealed_requests = bench.baseline("seal the rows of the request runs", lambda: seal(app))
    print(f"  sealed {sealed_requests:,} rows from the request runs", flush=True)
    bench.figure(f"insert {args.rows:,} rows (INSERT … SELECT)", lambda: bulk_rows(owner, args.rows))
    total = bench.figure(f"seal {args.rows:,} rows", lambda: seal(app, batch_size=50_000), rows=args.rows)
    assert total == args.rows, total
    with tempfile.TemporaryDirectory() as home:
        os.environ["KIBAN_HOME"] = home
        checkpoint(app)
        bench.baseline("stream the same rows, no hashing", lambda: plain_read(app))
        result = bench.figure("kiban audit verify", lambda: verify(app, Path(home) / "audit" / "checkpoints"))
    assert result.ok, result.findings
    print(f"  verified {result.sealed:,} sealed rows (target ≤ 30 s)", flush=True)
    app.dispose()
    bench.report(args.json)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=5000, help="requests per side for the latency figures")
    ap.add_argument("--seconds", type=float, default=3.0, help="duration of each throughput run")
    ap.add_argument("--rounds", type=int, default=5, help="alternating throughput rounds per side")
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
