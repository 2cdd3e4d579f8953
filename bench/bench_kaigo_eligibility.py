"""Benchmark: the 介護保険 65歳到達 monthly run (``kiban.kaigo.eligibility.jobs.run_attainment``).

    KIBAN_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/kiban_bench_kaigo KIBAN_KEY_FILE=/tmp/bench.kek \\
        python bench/bench_kaigo_eligibility.py --residents 1000000 [--reload] [--json out.json]

The database must be a scratch one (its name must contain "bench"; it is created when missing and
migrated): every run empties the kaigo schema first. The identity hub is loaded the way
bench/bench_identity.py loads it (the city files in ``$KIBAN_HOME/synth/<seed>/``, generated when
missing, then ``load_registry``) unless it already holds that city (``--reload`` loads it again).
Before the runs, 第2号被保険者 are registered for one in ``--category2-every`` residents aged 40–64
(those who apply for 要介護認定 with a 特定疾病), so the 第2号 → 第1号 statement has rows to move.

Figures, in the same run on the same machine (target: the monthly run ≤ 30 s):
- setup: ``load_registry`` of the city (when it is loaded here);
- baseline: the current versions of everyone born on or before the run's latest 65歳到達 birth
  date, copied into a temporary table (the read the run cannot avoid on a first run);
- first run (``--first``, default 2026-03-31): the initial load — every resident of 65 or over gets a
  被保険者番号 and a 第1号 period;
- steady state (``--next``, default the end of the following month): the monthly run after it, which
  acquires only that month's 65歳到達 (THE figure for ≤ 30 s);
- repeat: the same date again, which must change nothing.

Each run is CHECKPOINTed before (so it does not pay for its predecessor's dirty pages) and executes
with auto_explain loaded (ANALYZE, BUFFERS, no per-node timing unless ``--explain-timing``; its cost
is within the noise; ``--explain-ms -1`` runs without it): the plan of every statement that took
``--explain-ms`` or longer is printed after a run over its target (and with ``--plans`` always) and
kept in the JSON.
"""

from __future__ import annotations

import argparse
import calendar
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from sqlalchemy import Engine, create_engine, event

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_identity import CURRENT, TABLES, city_file
from harness import Bench

from kiban.db import config, embedded, migrate
from kiban.db import engine as db_engine
from kiban.identity import load
from kiban.kaigo.eligibility import jobs
from kiban.kaigo.eligibility.model import AcquisitionReason
from kiban.security import keys

KAIGO_RESET = (
    "TRUNCATE kaigo.run, kaigo.insured RESTART IDENTITY CASCADE",
    "ALTER SEQUENCE kaigo.insured_no_seq RESTART",
    "DELETE FROM kiban_meta.outbox WHERE topic LIKE 'kaigo.%'",
)
FIRST_TARGET_S = 120.0
MONTHLY_TARGET_S = 30.0


def scratch_url() -> str:
    """The configured server's URL, refusing anything that does not look like a scratch database."""
    url = config.configured_url()
    if url is None:
        sys.exit("set KIBAN_DATABASE_URL to a scratch database (e.g. …/kiban_bench_kaigo)")
    url = config.to_libpq_url(url)
    name = conninfo_to_dict(url).get("dbname") or ""
    if "bench" not in str(name):
        sys.exit(f"database {name!r}: this benchmark empties the kaigo schema; use a database named *bench*")
    embedded.ensure_database(make_conninfo(url, dbname="postgres"), str(name))
    return url


def ensure_hub(engine: Engine, url: str, residents: int, seed: int, reload: bool, bench: Bench) -> int:
    """Load the city into the identity hub unless it holds it already; return the number of persons."""
    jumin = city_file(residents, seed, engine)
    rows = sum(1 for _ in jumin.open("rb")) - 1
    with psycopg.connect(url) as conn:
        held = conn.execute("SELECT count(*) FROM identity.person").fetchone()[0]  # type: ignore[index]
        if held == rows and not reload:
            print(f"  reusing the loaded hub ({held:,} persons; --reload to load it again)", flush=True)
            return int(held)
        conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
        conn.commit()
        conn.execute("CHECKPOINT")
    result = bench.figure(
        "setup: load_registry of the city",
        lambda: load.load_registry(engine, jumin, today=date(2026, 4, 1)),
        rows=rows,
    )
    return int(result.rows)


def reset_kaigo(url: str, category2_every: int, on: date) -> int:
    """Empty the kaigo schema, then register 第2号被保険者 aged 40–64 on ``on``; return how many."""
    with psycopg.connect(url) as conn:
        for statement in KAIGO_RESET:
            conn.execute(statement)
        youngest = jobs.latest_birth_attaining(on, 40)
        oldest = jobs.latest_birth_attaining(on, 65)
        conn.execute(
            "CREATE TEMP TABLE category2 ON COMMIT DROP AS SELECT v.person_id FROM identity.person_version v "
            f"WHERE {CURRENT} AND v.resident_class = '住民' AND v.birth_date > %s AND v.birth_date <= %s "
            "AND v.person_id %% %s = 0",
            (oldest, youngest, category2_every),
        )
        conn.execute(
            "INSERT INTO kaigo.insured (insurer_no, insured_no, person_id) "
            "SELECT i.insurer_no, lpad(nextval('kaigo.insured_no_seq')::text, 10, '0'), c.person_id "
            "FROM category2 c CROSS JOIN kaigo.insurer i ORDER BY c.person_id"
        )
        seeded = conn.execute(
            "INSERT INTO kaigo.qualification (insured_id, category, valid, acquire_reason) "
            "SELECT insured_id, 2, daterange(%s, NULL), %s FROM kaigo.insured",
            (on, AcquisitionReason.CATEGORY2.value),
        ).rowcount
        conn.execute("ANALYZE kaigo.insured, kaigo.qualification")
        conn.commit()
    return seeded


@dataclass
class Plans:
    """The auto_explain output of the run engine's sessions (NOTICE level, so the client gets it)."""

    min_ms: int
    timing: bool
    collected: list[str] = field(default_factory=list)

    def attach(self, engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _load(dbapi_conn: psycopg.Connection[Any], _record: Any) -> None:
            dbapi_conn.add_notice_handler(self._notice)
            for setting in (
                "LOAD 'auto_explain'",
                f"SET auto_explain.log_min_duration = {int(self.min_ms)}",
                "SET auto_explain.log_analyze = on",
                "SET auto_explain.log_buffers = on",
                f"SET auto_explain.log_timing = {'on' if self.timing else 'off'}",
                "SET auto_explain.log_level = notice",
            ):
                dbapi_conn.execute(setting)
            dbapi_conn.commit()

    def _notice(self, diag: psycopg.errors.Diagnostic) -> None:
        if diag.message_primary and "plan:" in diag.message_primary:
            self.collected.append(diag.message_primary)

    def take(self) -> list[str]:
        taken, self.collected = self.collected, []
        return taken


def next_month_end(day: date) -> date:
    """The last day of the month after ``day``'s."""
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, calendar.monthrange(year, month)[1])


def residents_65_plus(url: str, on: date) -> int:
    """Current residents of 65 or over on ``on`` (all of them are 第1号 after a run for that date)."""
    with psycopg.connect(url) as conn:
        return int(
            conn.execute(  # type: ignore[index]
                f"SELECT count(*) FROM identity.person_version v WHERE {CURRENT} AND v.resident_class = '住民' "
                "AND v.birth_date <= %s AND kaigo.attainment_65(v.birth_date) <= %s "
                "AND coalesce(v.resident_on, v.birth_date) <= %s",
                (jobs.latest_birth_attaining(on), on, on),
            ).fetchone()[0]
        )


def copy_candidates(url: str, on: date) -> int:
    """The baseline: the rows a first run must read, copied as they are (rolled back)."""
    with psycopg.connect(url) as conn:
        copied = conn.execute(
            "CREATE TEMP TABLE raw_candidates AS SELECT v.person_id, v.birth_date, v.resident_on "
            f"FROM identity.person_version v WHERE {CURRENT} AND v.birth_date <= %s",
            (jobs.latest_birth_attaining(on),),
        ).rowcount
        conn.rollback()
    return copied


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reload", action="store_true", help="load the identity hub again")
    parser.add_argument("--first", type=date.fromisoformat, default=date(2026, 3, 31))
    parser.add_argument("--next", type=date.fromisoformat, default=None, help="default: next month's end")
    parser.add_argument("--category2-every", type=int, default=200)
    parser.add_argument("--explain-ms", type=int, default=1000, help="-1: without auto_explain")
    parser.add_argument("--explain-timing", action="store_true", help="per-node timing in the plans")
    parser.add_argument("--plans", action="store_true", help="print the plans of every run")
    parser.add_argument("--json", default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    following: date = args.next or next_month_end(args.first)

    url = scratch_url()
    engine = db_engine.get_engine()
    migrate.upgrade(engine)
    with engine.begin() as conn:
        keys.ensure_keys(conn)

    bench = Bench(f"kaigo 65歳到達 run over a city of {args.residents:,} residents")
    started = time.perf_counter()
    persons = ensure_hub(engine, url, args.residents, args.seed, args.reload, bench)
    setup = bench.results.get("setup: load_registry of the city")
    category2 = reset_kaigo(url, args.category2_every, date(args.first.year, 1, 5))
    expected = {d: residents_65_plus(url, d) for d in (args.first, following)}
    print(
        f"  {persons:,} persons; {expected[args.first]:,} residents 65+ on {args.first}, "
        f"{expected[following]:,} on {following}; {category2:,} 第2号 registered",
        flush=True,
    )

    plans = Plans(args.explain_ms, args.explain_timing)
    run_engine = create_engine(engine.url, connect_args={"application_name": "kiban-bench"})
    if args.explain_ms >= 0:
        plans.attach(run_engine)
    bench.baseline(
        "raw copy of the candidates' current versions",
        lambda: copy_candidates(url, args.first),
    )
    runs: dict[str, dict[str, Any]] = {}
    for key, label, as_of, target in (
        ("first", "first run (initial load)", args.first, FIRST_TARGET_S),
        ("steady", "steady-state monthly run", following, MONTHLY_TARGET_S),
        ("repeat", "repeat run (same date)", following, MONTHLY_TARGET_S),
    ):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
        name = f"{label} {as_of}"
        result = bench.figure(name, partial(jobs.run_attainment, run_engine, as_of=as_of, events=False))
        seconds = bench.results[name].seconds
        bench.results[name].extra.update(acquired=result.acquired, promoted=result.promoted)
        taken = plans.take()
        runs[key] = {
            "as_of": as_of.isoformat(),
            "seconds": round(seconds, 2),
            "target_seconds": target,
            "within_target": seconds <= target,
            "acquired": result.acquired,
            "promoted": result.promoted,
            "plans": taken,
        }
        print(
            f"    acquired {result.acquired:,}, promoted {result.promoted:,}; "
            f"{'within' if seconds <= target else 'OVER'} the target of {target:.0f} s",
            flush=True,
        )
        if taken and (args.plans or seconds > target):
            for plan in taken:
                print("    " + plan.replace("\n", "\n    "), flush=True)
    # Every resident of 65 or over is 第1号 after a run: what each run must have added.
    wanted = {
        "first": expected[args.first],
        "steady": expected[following] - expected[args.first],
        "repeat": 0,
    }
    for key, count in wanted.items():
        made = runs[key]["acquired"] + runs[key]["promoted"]
        if made != count:
            print(f"  !! the {key} run made {made:,} residents 第1号, expected {count:,}", flush=True)
    bench.report(None)
    print(f"  total {time.perf_counter() - started:.1f} s")
    if args.json:
        data = {
            "residents": args.residents,
            "persons": persons,
            "setup_seconds": round(setup.seconds, 2) if setup else None,
            "category2_registered": category2,
            "residents_65_plus": {d.isoformat(): n for d, n in expected.items()},
            "runs": runs,
            "bench": {k: round(m.seconds, 3) for k, m in bench.results.items()},
        }
        Path(args.json).write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
