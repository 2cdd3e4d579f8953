"""Benchmark: 住民記録 全件取込 (``kiban.identity.load.load_registry``) and searches over the loaded hub.

    KIBAN_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/kiban_bench_load KIBAN_KEY_FILE=/tmp/bench.kek \\
        python bench/bench_identity.py --residents 1000000 --reset [--workers 2] [--json out.json]

The database must be a scratch one: ``--reset`` empties the identity schema first (the load is for an
empty hub). The city files are reused from ``$KIBAN_HOME/synth/<seed>/`` when that jumin.csv has the
requested number of residents, else generated with ``kiban.synth.load.load_city``.

Figures, in the same run on the same machine:
- baseline: a raw COPY of jumin.csv as it is (19 text columns, CSV) into a temporary table;
- figure: ``load_registry`` on the empty hub — check, key, encrypt (AES-GCM + HMAC blind index) and
  COPY into the five staging tables in worker processes, then keys, indexes, foreign keys, ANALYZE
  and triggers built by as many sessions, and the swap into the hub; with the time of each half;
- searches over the loaded hub, each ~1000 times with varied values, database-side execution time
  from EXPLAIN (ANALYZE) (p50/p99, target p99 ≤ 5 ms): exact 宛名番号 (with the current version),
  exact 個人番号 by blind index, and the kana-prefix top 50 — as written in the issue (LIKE, ORDER BY
  kana_key, person_id: the planner cannot use person_version_kana's order, a text_pattern_ops index),
  in the index's order (ORDER BY kana_key USING ~<~), and with the prefix as an explicit range
  (kana_key ~>=~ p AND kana_key ~<~ p+1: LIKE's row estimate for a kana prefix can be 100× too low,
  and then the planner scans every current version instead).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Bench

from kiban.db import engine as db_engine
from kiban.db import migrate
from kiban.identity import load, model
from kiban.security import keys
from kiban.synth.files import default_dir
from kiban.synth.load import libpq_url, load_city

TABLES = (
    "identity.check_anomaly, identity.check_run, identity.match_case, identity.medical_insurance, "
    "identity.old_age_pension_period, identity.welfare_period, identity.tax_income, identity.contact, "
    "identity.mailing_address, identity.household_member, identity.household, identity.my_number_vault, "
    "identity.person_version, identity.resident_event, identity.person, identity.import_error, "
    "identity.import_batch, kiban_meta.outbox"
)
CURRENT = "upper_inf(v.valid) AND v.superseded_at IS NULL"


def city_file(residents: int, seed: int, engine: Any) -> Path:
    folder = default_dir(seed)
    jumin = folder / "jumin.csv"
    if jumin.exists():
        with jumin.open("rb") as f:
            have = sum(1 for line in f if b",\xe4\xbd\x8f\xe6\xb0\x91," in line)  # ",住民,"
        if have == residents:
            print(f"  reusing {jumin} ({have:,} residents)", flush=True)
            return jumin
    print(f"  generating a {residents:,}-resident city in {folder}", flush=True)
    load_city(engine, residents=residents, seed=seed, out_dir=folder)
    return jumin


def raw_copy(url: str, jumin: Path) -> None:
    columns = ", ".join(f"c{i} text" for i in range(19))
    with psycopg.connect(url) as conn:
        conn.execute(f"CREATE TEMP TABLE raw_jumin ({columns})")
        with conn.cursor().copy("COPY raw_jumin FROM STDIN (FORMAT csv, HEADER true)") as copy:
            copy.write(jumin.read_bytes())
        conn.rollback()


def execution_ms(conn: psycopg.Connection[Any], sql: str, params: tuple[Any, ...]) -> tuple[float, int, str]:
    """Database-side execution time, rows returned and the indexes the plan used."""
    plan = conn.execute(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}", params).fetchone()[0]  # type: ignore[index]
    top = plan[0]
    used = sorted(set(re.findall(r'"Index Name": "(\w+)"', json.dumps(top["Plan"])))) or ["no index"]
    return float(top["Execution Time"]), int(top["Plan"]["Actual Rows"]), "+".join(used)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    cut = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50_ms": round(cut[49], 3), "p99_ms": round(cut[98], 3), "max_ms": round(ordered[-1], 3)}


def searches(url: str, jumin: Path, n: int, rng: random.Random) -> dict[str, dict[str, Any]]:
    lines = jumin.read_text(encoding="utf-8").splitlines()[1:]
    picked = [line.split(",") for line in rng.sample(lines, n)]
    engine = db_engine.get_engine()
    with engine.connect() as sa:
        vault = keys.Vault.load(sa)
    blind = [vault.blind_index(f[2]) for f in picked]
    prefixes = [model.kana_key(f[8], "")[:2] for f in picked]
    queries = {
        "exact 宛名番号 (+ current version)": (
            "SELECT p.person_id, p.integrated_no, v.family_name, v.given_name, v.address FROM identity.person p "
            f"JOIN identity.person_version v ON v.person_id = p.person_id AND {CURRENT} WHERE p.person_no = %s",
            [(f[1],) for f in picked],
        ),
        "exact 個人番号 (blind index)": (
            "SELECT person_id FROM identity.my_number_vault WHERE blind_index = %s",
            [(b,) for b in blind],
        ),
        "kana prefix top 50 (ORDER BY kana_key)": (
            f"SELECT v.person_id, v.kana_key FROM identity.person_version v WHERE {CURRENT} "
            "AND v.kana_key LIKE %s ORDER BY v.kana_key, v.person_id LIMIT 50",
            [(p + "%",) for p in prefixes],
        ),
        "kana prefix top 50 (LIKE, index order ~<~)": (
            f"SELECT v.person_id, v.kana_key FROM identity.person_version v WHERE {CURRENT} "
            "AND v.kana_key LIKE %s ORDER BY v.kana_key USING ~<~, v.person_id LIMIT 50",
            [(p + "%",) for p in prefixes],
        ),
        "kana prefix top 50 (range, index order ~<~)": (
            f"SELECT v.person_id, v.kana_key FROM identity.person_version v WHERE {CURRENT} "
            "AND v.kana_key ~>=~ %s AND v.kana_key ~<~ %s ORDER BY v.kana_key USING ~<~, v.person_id LIMIT 50",
            [(p, p[:-1] + chr(ord(p[-1]) + 1)) for p in prefixes],
        ),
    }
    out: dict[str, dict[str, Any]] = {}
    with psycopg.connect(url) as conn:
        for name, (sql, params) in queries.items():
            for p in params[:20]:  # warm the cache and the plan
                execution_ms(conn, sql, p)
            times, hits, plans = [], 0, Counter[str]()
            for p in params:
                ms, rows, used = execution_ms(conn, sql, p)
                times.append(ms)
                hits += rows > 0
                plans[used] += 1
            index = ", ".join(f"{k} ×{v}" for k, v in plans.most_common())
            out[name] = {**percentiles(times), "runs": len(times), "hits": hits, "index": index}
            print(f"  {name:<46} p50 {out[name]['p50_ms']:7.3f} ms  p99 {out[name]['p99_ms']:7.3f} ms  "
                  f"max {out[name]['max_ms']:7.3f} ms  ({hits}/{len(times)} found, {index})", flush=True)  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--reset", action="store_true", help="empty the identity schema first (scratch DB!)")
    parser.add_argument("--json", default=None, help="also write the results as JSON here")
    args = parser.parse_args()

    engine = db_engine.get_engine()
    migrate.upgrade(engine)
    url = libpq_url(engine)
    with engine.begin() as conn:
        keys.ensure_keys(conn)
    jumin = city_file(args.residents, args.seed, engine)
    rows = sum(1 for _ in jumin.open("rb")) - 1
    with psycopg.connect(url) as conn:
        held = conn.execute("SELECT count(*) FROM identity.person").fetchone()[0]  # type: ignore[index]
        if held and not args.reset:
            sys.exit(f"the hub holds {held:,} persons; use a scratch database and --reset")
        if args.reset:
            conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
            conn.commit()
        conn.execute("CHECKPOINT")  # start from clean buffers: the load writes a lot of WAL

    bench = Bench(f"identity registry load, {rows:,} rows ({args.workers or load.default_workers()} workers)")
    bench.baseline("raw COPY of jumin.csv into a temp table", lambda: raw_copy(url, jumin), rows=rows)
    started = time.perf_counter()
    stages: dict[str, float] = {}

    def progress(stage: str, _done: int, _total: int) -> None:
        stages.setdefault(stage, time.perf_counter() - started)

    result = bench.figure(
        "load_registry (check, encrypt, COPY, build, swap)",
        lambda: load.load_registry(
            engine, jumin, workers=args.workers, progress=progress, today=date(2026, 4, 1)
        ),
    )
    total = time.perf_counter() - started
    marks = {
        "start → first chunk loaded": stages.get("取込", 0.0),
        "rows loaded": stages.get("索引の再構築", total),
    }
    print(
        f"  rows/s {result.rows / total:,.0f} (target 50,000); persons {result.rows:,}; households "
        f"{result.households:,}; first chunk after {marks['start → first chunk loaded']:.1f} s; all rows COPY-ed "
        f"after {marks['rows loaded']:.1f} s; indexes, constraints, ANALYZE, commit {total - marks['rows loaded']:.1f} s",
        flush=True,
    )
    print(
        f"== searches over {result.rows:,} persons (database-side execution time, {args.queries} runs each) =="
    )
    found = searches(url, jumin, args.queries, random.Random(args.seed))
    bench.report(None)
    if args.json:
        data = {
            "rows": result.rows,
            "seconds": round(total, 2),
            "rows_per_second": round(result.rows / total),
            "stages": {k: round(v, 2) for k, v in marks.items()},
            "searches": found,
            "bench": {k: round(m.seconds, 3) for k, m in bench.results.items()},
        }
        Path(args.json).write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
