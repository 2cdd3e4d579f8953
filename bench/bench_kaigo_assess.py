"""Benchmark: 介護保険料 本算定 of a whole insurer (``kiban kaigo assess --fiscal-year Y``).

    python bench/bench_kaigo_assess.py [--insured 1000000] [--reuse] [--url postgresql://…/kiban_bench_assess]

The database is a scratch one (its name must contain "bench"; default ``kiban_bench_assess`` on the
local server, or ``$KIBAN_DATABASE_URL`` when set): without ``--reuse`` it is dropped, created again
and migrated to head. It is populated with set-based SQL as the owner role (INSERT … SELECT
generate_series, foreign-key triggers off), not through the import APIs, with ``--insured``
第1号被保険者 of 基盤市 (992011):

- identity.person, one household each for 60 % (alone) and two-person households for 40 % (both
  members insured), membership valid from 2020-01-01;
- identity.tax_income of 2025 for everyone: 35 % 非課税 with 課税年金収入 500,000–1,500,000 円
  (around the 80.9万 / 120万 limits), 65 % 課税 with 合計所得金額 0–10,000,000 円 (skewed to the low
  end), so all 13 stages of the national standard table occur;
- identity.welfare_period for 2 % (1.2 % since 2022, 0.3 % ended 2025-12-01, 0.5 % from 2025-09-10);
- kaigo.insured, kaigo.qualification (第1号: 97 % from before 2025-04-01, 2 % acquired in the year,
  1 % lost in the year with a loss_reason), kaigo.pension_deduction for 80 % (≥ 180,000 円).

Then, each run as a subprocess (``kiban kaigo assess --fiscal-year 2025 --json`` under
``/usr/bin/time -v``) while a side thread samples the PostgreSQL backends serving it:

1. 本算定 (first run): wall time, the Python process's peak RSS, the backends' peak RSS;
2. baselines: COPY of the current rows out, and back into an UNLOGGED copy of the table (and into a
   logged copy with the same indexes); the ratio of the 本算定 to the plain COPY in;
3. 更正 run with unchanged facts: must change nothing and keep the digest;
4. kill test: the rows and runs are wiped, the CLI is killed (SIGKILL) at a random point between
   20 % and 80 % of the first run's wall time and started again: its digest must be the same.

``--explain`` (or a first run over the target) prints EXPLAIN (ANALYZE, BUFFERS) of the first
chunk's SQL. The summary is written to ``out/bench/kaigo-assess.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kiban.db import config, embedded, migrate
from kiban.db import engine as db_engine
from kiban.kaigo.assessment import jobs
from kiban.kaigo.eligibility.model import AcquisitionReason, LossReason
from kiban.rules.kaigo_premium import load_table

FY = 2025
CITY = "992011"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/kiban_bench_assess"
TARGET_SECONDS = 60.0
TARGET_RSS_MB = 1024.0
OUT = Path(__file__).resolve().parent.parent / "out" / "bench" / "kaigo-assess.json"
CLI = [sys.executable, "-c", "from kiban.cli.main import app; app()"]
BUSY = "別の処理が実行中"

# One row per insured person, every attribute drawn from a seeded hash of its number (repeatable).
_SOURCE = """
CREATE UNLOGGED TABLE bench_src AS
WITH base AS (
    SELECT n,
           CASE WHEN n <= %(alone)s THEN n ELSE %(alone)s + (n - %(alone)s + 1) / 2 END AS household,
           CASE WHEN n <= %(alone)s OR (n - %(alone)s) %% 2 = 1 THEN '世帯主' ELSE '妻' END AS relation,
           abs(hashtextextended(n::text, 1)) %% 1000 AS u_tax,
           (abs(hashtextextended(n::text, 2)) %% 1000000) / 1e6 AS u_inc,
           abs(hashtextextended(n::text, 3)) %% 3000000 AS u_pension,
           abs(hashtextextended(n::text, 4)) %% 1000 AS u_welfare,
           abs(hashtextextended(n::text, 5)) %% 1000 AS u_qual,
           abs(hashtextextended(n::text, 6)) AS u_date,
           abs(hashtextextended(n::text, 7)) %% 1000 AS u_deduct,
           abs(hashtextextended(n::text, 8)) %% 3000000 AS u_annual
      FROM generate_series(1, %(n)s) AS n
), taxed AS (
    SELECT base.*,
           -- 生活保護 since 2022 (1.2 %%), ended 2025-12-01 (0.3 %%), from 2025-09-10 (0.5 %%).
           CASE WHEN u_welfare < 12 THEN daterange('2022-06-01', NULL)
                WHEN u_welfare < 15 THEN daterange('2021-01-01', '2025-12-01')
                WHEN u_welfare < 20 THEN daterange('2025-09-10', NULL) END AS welfare,
           u_tax >= 350 AND u_welfare >= 20 AS taxable
      FROM base
), incomes AS (
    SELECT taxed.*,
           CASE WHEN taxable THEN u_pension ELSE 500000 + floor(u_inc * 1000000)::bigint END AS pension,
           CASE WHEN taxable THEN floor(10000000 * u_inc * u_inc)::bigint END AS taxed_total
      FROM taxed
)
SELECT n, household, relation, welfare, taxable, pension,
       -- 公的年金等に係る雑所得: 課税年金収入 − 110万 (公的年金等控除, 65歳以上), within the total.
       CASE WHEN taxable THEN least(taxed_total, greatest(0, pension - 1100000))
            ELSE greatest(0, pension - 1100000) END AS misc,
       CASE WHEN taxable THEN taxed_total ELSE greatest(0, pension - 1100000) END AS total,
       CASE WHEN u_qual < 970 THEN daterange(date '2000-04-01' + (u_date %% 9131)::int, NULL)
            WHEN u_qual < 990 THEN daterange(date '2025-04-02' + (u_date %% 364)::int, NULL)
            ELSE daterange(date '2000-04-01' + (u_date %% 9131)::int, date '2025-04-02' + (u_date / 9131 %% 364)::int)
       END AS qualification,
       CASE WHEN u_qual >= 970 AND u_qual < 990 THEN %(age65)s
            WHEN u_date %% 4 = 0 THEN %(moved_in)s ELSE %(age65)s END AS acquire_reason,
       CASE WHEN u_qual >= 990 THEN CASE WHEN u_date %% 3 = 0 THEN %(moved_out)s ELSE %(died)s END END
           AS loss_reason,
       CASE WHEN u_deduct < 800 THEN 180000 + u_annual END AS annual_pension,
       u_deduct < 5 AS deduction_stopped
  FROM incomes
"""

_POPULATE: tuple[tuple[str, str], ...] = (
    (
        "identity.person",
        "INSERT INTO identity.person (person_id, city_code, person_no, integrated_no) OVERRIDING SYSTEM VALUE "
        "SELECT n, %(city)s, lpad(n::text, 10, '0'), lpad(n::text, 15, '0') FROM bench_src ORDER BY n",
    ),
    (
        "identity.household",
        "INSERT INTO identity.household (household_id, city_code, household_no) OVERRIDING SYSTEM VALUE "
        "SELECT DISTINCT household, %(city)s, lpad((3000000000 + household)::text, 10, '0') "
        "FROM bench_src ORDER BY household",
    ),
    (
        "identity.household_member",
        "INSERT INTO identity.household_member (household_id, person_id, relation, is_head, valid, join_reason) "
        "SELECT household, n, relation, relation = '世帯主', daterange('2020-01-01', NULL), "
        "'初期移行（住民記録 全件取込）' FROM bench_src ORDER BY n",
    ),
    (
        "identity.tax_income",
        "INSERT INTO identity.tax_income (person_id, fiscal_year, taxable, nontaxable_reason, "
        "public_pension_income, pension_misc_income, other_income, total_income) "
        "SELECT n, %(fy)s, taxable, CASE WHEN NOT taxable THEN '所得基準' END, pension, misc, total - misc, total "
        "FROM bench_src ORDER BY n",
    ),
    (
        "identity.welfare_period",
        "INSERT INTO identity.welfare_period (person_id, household_no, valid, welfare_office) "
        "SELECT n, lpad((3000000000 + household)::text, 10, '0'), welfare, '基盤市福祉事務所' "
        "FROM bench_src WHERE welfare IS NOT NULL ORDER BY n",
    ),
    (
        "kaigo.insured",
        "INSERT INTO kaigo.insured (insured_id, insurer_no, insured_no, person_id) OVERRIDING SYSTEM VALUE "
        "SELECT n, %(city)s, lpad(n::text, 10, '0'), n FROM bench_src ORDER BY n",
    ),
    (
        "kaigo.qualification",
        "INSERT INTO kaigo.qualification (insured_id, category, valid, acquire_reason, loss_reason) "
        "SELECT n, 1, qualification, acquire_reason, loss_reason FROM bench_src ORDER BY n",
    ),
    (
        "kaigo.pension_deduction",
        "INSERT INTO kaigo.pension_deduction (person_id, fiscal_year, pension_insurer, annual_pension, "
        "previous_february, stopped_on) "
        "SELECT n, %(fy)s, '日本年金機構', annual_pension, (annual_pension * 0.1 / 6)::int, "
        "CASE WHEN deduction_stopped THEN date '2025-08-15' END "
        "FROM bench_src WHERE annual_pension IS NOT NULL ORDER BY n",
    ),
)

_SEQUENCES = (
    "SELECT setval(pg_get_serial_sequence('identity.person', 'person_id'), %(n)s)",
    "SELECT setval(pg_get_serial_sequence('identity.household', 'household_id'), %(households)s)",
    "SELECT setval(pg_get_serial_sequence('kaigo.insured', 'insured_id'), %(n)s)",
    "SELECT setval('identity.integrated_no_seq', %(n)s)",
    "SELECT setval('kaigo.insured_no_seq', %(n)s)",
)

_WIPE = "DELETE FROM kaigo.assessment; DELETE FROM kaigo.assess_run"
_CURRENT_ROWS = "SELECT * FROM kaigo.assessment WHERE superseded_at IS NULL"


# ---------------------------------------------------------------------------------------------------
# Database


def bench_url(explicit: str | None) -> str:
    """The scratch database's libpq URL, refusing anything that does not look like one."""
    url = config.to_libpq_url(explicit or config.configured_url() or DEFAULT_URL)
    name = str(conninfo_to_dict(url).get("dbname") or "")
    if "bench" not in name:
        sys.exit(f"database {name!r}: this benchmark drops and fills it; use a database named *bench*")
    return url


def prepare_database(url: str, reuse: bool) -> None:
    """Create (or, without ``--reuse``, recreate) the bench database and migrate it to head."""
    name = str(conninfo_to_dict(url)["dbname"])
    admin = make_conninfo(url, dbname="postgres")
    if not reuse:
        embedded.drop_database(admin, name)
    embedded.ensure_database(admin, name)
    engine = db_engine.get_engine(url)
    migrate.upgrade(engine)
    engine.dispose()


def populated(url: str, insured: int) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM kaigo.insured), (SELECT count(*) FROM identity.tax_income)"
        ).fetchone()
    return row is not None and int(row[0]) == insured and int(row[1]) == insured


def populate(url: str, insured: int) -> dict[str, Any]:
    """Fill the hub and the kaigo tables set-based; return the seconds per table and the counts."""
    pairs = insured // 5  # 40 % of the insured live in two-person households
    alone = insured - 2 * pairs
    params = {
        "n": insured, "alone": alone, "households": alone + pairs, "city": CITY, "fy": FY,
        "age65": AcquisitionReason.AGE_65.value, "moved_in": AcquisitionReason.MOVED_IN.value,
        "moved_out": LossReason.MOVED_OUT.value, "died": LossReason.DIED.value,
    }  # fmt: skip
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute(
            "TRUNCATE kaigo.assessment, kaigo.assess_run, kaigo.pension_deduction, kaigo.reduction, "
            "kaigo.qualification_change, kaigo.qualification, kaigo.insured, identity.welfare_period, "
            "identity.tax_income, identity.household_member, identity.household, identity.person "
            "RESTART IDENTITY CASCADE"
        )
        try:  # the rows are consistent by construction: skip the per-row foreign-key triggers
            conn.execute("SET session_replication_role = replica")
        except psycopg.Error:
            conn.rollback()
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("DROP TABLE IF EXISTS bench_src")
        t0 = time.perf_counter()
        conn.execute(_SOURCE, params)
        seconds["source rows"] = time.perf_counter() - t0
        rows: dict[str, int] = {}
        for table, statement in _POPULATE:
            t0 = time.perf_counter()
            rows[table] = conn.execute(statement, params).rowcount
            seconds[table] = time.perf_counter() - t0
            print(f"    {table:<28} {rows[table]:>10,} rows {seconds[table]:7.1f} s", flush=True)
        for statement in _SEQUENCES:
            conn.execute(statement, params)
        conn.execute("DROP TABLE bench_src")
        conn.commit()
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
    seconds["VACUUM ANALYZE"] = time.perf_counter() - t0
    total = time.perf_counter() - started
    print(
        f"    {'VACUUM ANALYZE + CHECKPOINT':<28} {'':>10}      {seconds['VACUUM ANALYZE']:7.1f} s",
        flush=True,
    )
    return {"seconds": round(total, 2), "steps": {k: round(v, 2) for k, v in seconds.items()}, "rows": rows}


def stage_mix(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT coalesce(stage::text, 'review'), count(*) FROM kaigo.assessment "
            "WHERE superseded_at IS NULL AND fiscal_year = %s GROUP BY 1 ORDER BY min(stage)",
            (FY,),
        ).fetchall()
    return {str(k): int(v) for k, v in rows}


def wipe(url: str) -> None:
    with psycopg.connect(url) as conn:
        for statement in _WIPE.split(";"):
            conn.execute(statement)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE kaigo.assessment, kaigo.assess_run")
        conn.execute("CHECKPOINT")


def server_settings(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name IN ('server_version', "
            "'shared_buffers', 'work_mem', 'max_parallel_workers_per_gather', 'synchronous_commit', "
            "'wal_level', 'max_wal_size') ORDER BY name"
        ).fetchall()
    return {str(k): str(v) for k, v in rows}


def temp_bytes(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()")
        got = row.fetchone()
    return int(got[0]) if got else 0


# ---------------------------------------------------------------------------------------------------
# The CLI in a subprocess, and the backends that serve it


def _kb(status: str, key: str) -> int:
    match = re.search(rf"^{key}:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else 0


@dataclass
class BackendSampler:
    """Samples the PostgreSQL backends of the CLI (application_name 'kiban') from a side thread."""

    url: str
    interval: float = 0.2
    peak_hwm_kb: int = 0  # VmHWM: includes the shared buffers the backend touched
    peak_anon_kb: int = 0  # RssAnon: the backend's private memory (work_mem, hash tables, sorts)
    backends: set[int] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> BackendSampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        name = conninfo_to_dict(self.url)["dbname"]
        with psycopg.connect(self.url, autocommit=True, application_name="kiban-bench-sampler") as conn:
            while not self._stop.is_set():
                pids = [
                    int(r[0])
                    for r in conn.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = 'kiban'",
                        (name,),
                    ).fetchall()
                ]
                for pid in pids:
                    self.backends.add(pid)
                    try:
                        status = Path(f"/proc/{pid}/status").read_text()
                    except OSError:  # ended between the query and the read
                        continue
                    self.peak_hwm_kb = max(self.peak_hwm_kb, _kb(status, "VmHWM"))
                    self.peak_anon_kb = max(self.peak_anon_kb, _kb(status, "RssAnon"))
                self._stop.wait(self.interval)

    def figures(self) -> dict[str, Any]:
        return {
            "backends_seen": len(self.backends),
            "backend_peak_vmhwm_mb": round(self.peak_hwm_kb / 1024, 1),
            "backend_peak_rss_anon_mb": round(self.peak_anon_kb / 1024, 1),
        }


def cli_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env[config.DATABASE_URL_ENV] = url
    env.pop("KIBAN_APP_DATABASE_URL", None)
    return env


def run_cli(url: str, label: str) -> dict[str, Any]:
    """``kiban kaigo assess --fiscal-year FY --json`` to completion: wall time, peak RSS, its summary."""
    timer = "/usr/bin/time" if Path("/usr/bin/time").exists() else None
    with tempfile.NamedTemporaryFile("r", suffix=".time", delete=False) as tf:
        time_file = tf.name
    command = [*CLI, "kaigo", "assess", "--fiscal-year", str(FY), "--json"]
    if timer:
        command = [timer, "-v", "-o", time_file, *command]
    temp_before = temp_bytes(url)
    deadline = time.monotonic() + 30
    while True:
        with BackendSampler(url) as sampler:
            started = time.perf_counter()
            proc = subprocess.run(command, env=cli_env(url), capture_output=True, text=True, check=False)
            wall = time.perf_counter() - started
        if proc.returncode != 0 and BUSY in proc.stderr and time.monotonic() < deadline:
            time.sleep(1)  # the killed run's backend has not noticed yet: its advisory lock is held
            continue
        break
    if proc.returncode != 0:
        raise SystemExit(f"{label}: the CLI failed ({proc.returncode}):\n{proc.stderr}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    peak_kb = 0
    if timer:
        report = Path(time_file).read_text()
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
        peak_kb = int(match.group(1)) if match else 0
    else:
        import resource

        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    Path(time_file).unlink(missing_ok=True)
    result = {
        "label": label,
        "wall_seconds": round(wall, 2),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        **sampler.figures(),
        "server_temp_mb": round((temp_bytes(url) - temp_before) / 2**20, 1),
        "summary": summary,
    }
    print(
        f"  {label:<40} {wall:8.2f} s   peak RSS {result['peak_rss_mb']:7.1f} MB   "
        f"backend VmHWM {result['backend_peak_vmhwm_mb']:.0f} MB (private {result['backend_peak_rss_anon_mb']:.0f} MB), "
        f"temp {result['server_temp_mb']:.0f} MB   kind={summary['kind']} resumed={summary['resumed']} "
        f"initial={summary.get('initial')} new={summary.get('new')} correction={summary.get('correction')} "
        f"review={summary.get('review')}",
        flush=True,
    )
    return result


def open_run(url: str) -> tuple[int, int] | None:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT cursor_id, done FROM kaigo.assess_run WHERE fiscal_year = %s AND status = 'running'",
            (FY,),
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else None


def kill_test(url: str, at_seconds: float, digest: str, label: str) -> dict[str, Any]:
    """Wipe, start the CLI, SIGKILL it after ``at_seconds``, start it again; compare the digest."""
    wipe(url)
    command = [*CLI, "kaigo", "assess", "--fiscal-year", str(FY), "--json"]
    proc = subprocess.Popen(
        command,
        env=cli_env(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(at_seconds)
    finished_early = proc.poll() is not None
    if not finished_early:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    left = open_run(url)
    print(
        f"  {label}: killed after {at_seconds:.1f} s"
        + (" (it had already finished!)" if finished_early else "")
        + (f"; open run at cursor {left[0]:,} ({left[1]:,} done)" if left else "; no open run left"),
        flush=True,
    )
    resumed = run_cli(url, f"{label}: restart to completion")
    same = resumed["summary"]["digest"] == digest
    print(f"  {label}: digest {'SAME' if same else 'DIFFERENT'}", flush=True)
    return {
        "killed_after_seconds": round(at_seconds, 2),
        "finished_before_kill": finished_early,
        "open_run_cursor": left[0] if left else None,
        "done_at_kill": left[1] if left else None,
        "restart": resumed,
        "digest_same": same,
    }


# ---------------------------------------------------------------------------------------------------
# Baselines: COPY of the same rows


def copy_baselines(url: str, dump: Path) -> dict[str, Any]:
    """COPY the current rows out to a file, then back into an UNLOGGED copy of the table (columns
    only), and into a logged copy with the table's indexes and constraints."""
    with psycopg.connect(url) as conn:
        conn.execute("CHECKPOINT")
        conn.commit()
        t0 = time.perf_counter()
        with dump.open("wb") as out, conn.cursor().copy(f"COPY ({_CURRENT_ROWS}) TO STDOUT") as copy:
            for block in copy:
                out.write(block)
        copy_out = time.perf_counter() - t0
        conn.rollback()
        seconds = {}
        for table, like in (
            ("bench_scratch", "CREATE UNLOGGED TABLE bench_scratch (LIKE kaigo.assessment)"),
            (
                "bench_scratch_indexed",
                "CREATE TABLE bench_scratch_indexed (LIKE kaigo.assessment INCLUDING DEFAULTS "
                "INCLUDING CONSTRAINTS INCLUDING INDEXES)",
            ),
        ):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(like)
            conn.commit()
            t0 = time.perf_counter()
            with dump.open("rb") as src, conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                while block := src.read(1 << 20):
                    copy.write(block)
            conn.commit()
            seconds[table] = time.perf_counter() - t0
        rows = int(conn.execute("SELECT count(*) FROM bench_scratch").fetchone()[0])  # type: ignore[index]
        conn.execute("DROP TABLE bench_scratch, bench_scratch_indexed")
        conn.commit()
    return {
        "rows": rows,
        "dump_mb": round(dump.stat().st_size / 2**20, 1),
        "copy_out_seconds": round(copy_out, 2),
        "copy_in_unlogged_seconds": round(seconds["bench_scratch"], 2),
        "copy_in_logged_indexed_seconds": round(seconds["bench_scratch_indexed"], 2),
    }


# ---------------------------------------------------------------------------------------------------
# EXPLAIN of one chunk


def explain_chunk(url: str, chunk: int = jobs.CHUNK) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the first chunk's compute SQL and diff, rolled back."""
    engine = db_engine.get_engine(url)
    table = load_table("standard")
    with engine.connect() as conn:
        base = conn.execute(text("SELECT base_annual FROM kaigo.insurer WHERE insurer_no = :i"), {"i": CITY})
        base_annual = base.scalar_one() or table.base_annual
        hi = conn.execute(
            text(
                "SELECT max(insured_id) FROM (SELECT insured_id FROM kaigo.insured ORDER BY insured_id LIMIT :n) x"
            ),
            {"n": chunk},
        ).scalar_one()
        compute = jobs._compute_sql(table, FY, int(base_annual))
        params: dict[str, Any] = {
            "insurer": CITY, "fy": FY, "fy_start": date(FY, 4, 1), "fy_end": date(FY + 1, 4, 1),
            "fy_start_idx": FY * 12 + 3, "fy_end_idx": (FY + 1) * 12 + 3, "run": 0, "initial": True,
            "lo": 0, "hi": int(hi), "staff": None,
        }  # fmt: skip
        plans = []
        for label, statement in (
            ("compute (CREATE TEMP TABLE kaigo_assess_new AS …)", compute),
            ("diff (CREATE TEMP TABLE kaigo_assess_diff AS …)", None),
        ):
            if statement is None:
                conn.execute(text(f"CREATE TEMP TABLE kaigo_assess_new AS {compute}"), params)
                statement = jobs._DIFF.replace("CREATE TEMP TABLE kaigo_assess_diff ON COMMIT DROP AS", "")
            rows = conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {statement}"), params).scalars().all()
            plans.append(f"-- {label}\n" + "\n".join(str(r) for r in rows))
        conn.rollback()
    engine.dispose()
    return plans


# ---------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--insured", type=int, default=1_000_000)
    parser.add_argument(
        "--url", default=None, help=f"scratch database (default $KIBAN_DATABASE_URL or {DEFAULT_URL})"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database (and its rows when they match)"
    )
    parser.add_argument("--kills", type=int, default=2, help="kill tests at random points (0: none)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the kill points")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN (ANALYZE, BUFFERS) of one chunk")
    parser.add_argument("--json", default=str(OUT), help="write the summary here")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    url = bench_url(args.url)
    print(f"== 介護保険料 本算定 over {args.insured:,} 第1号被保険者 ({conninfo_to_dict(url)['dbname']}) ==")
    started = time.perf_counter()
    t0 = time.perf_counter()
    prepare_database(url, args.reuse)
    prepared = time.perf_counter() - t0
    print(f"  database {'reused' if args.reuse else 'created'} and migrated in {prepared:.1f} s", flush=True)
    population: dict[str, Any] | None = None
    if args.reuse and populated(url, args.insured):
        print("  reusing the populated rows (drop --reuse to populate again)", flush=True)
        wipe(url)
    else:
        print("  populating (set-based SQL as the owner role):", flush=True)
        population = populate(url, args.insured)
        print(f"  population: {population['seconds']:.1f} s", flush=True)
    settings = server_settings(url)
    print("  server: " + ", ".join(f"{k}={v}" for k, v in settings.items()), flush=True)

    first = run_cli(url, "本算定 (first run)")
    digest = first["summary"]["digest"]
    mix = stage_mix(url)
    print("  stages: " + ", ".join(f"{k}:{v:,}" for k, v in mix.items()), flush=True)

    dump = Path(tempfile.gettempdir()) / "kiban_bench_assess.copy"
    copies = copy_baselines(url, dump)
    dump.unlink(missing_ok=True)
    ratio = first["wall_seconds"] / copies["copy_in_unlogged_seconds"]
    print(
        f"  COPY out of the {copies['rows']:,} current rows {copies['copy_out_seconds']:.2f} s; "
        f"COPY into an UNLOGGED copy {copies['copy_in_unlogged_seconds']:.2f} s; "
        f"into a logged copy with the indexes {copies['copy_in_logged_indexed_seconds']:.2f} s; "
        f"本算定 / COPY in (UNLOGGED) = ×{ratio:.1f}",
        flush=True,
    )

    # A 更正 run comes days after the 本算定, when autovacuum has analyzed the new rows; without it the
    # planner still believes kaigo.assessment empty (see the "diff" plan of --explain).
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE kaigo.assessment")
        conn.execute("CHECKPOINT")
    rerun = run_cli(url, "更正 run (unchanged facts)")
    rerun_changed = sum(int(rerun["summary"].get(k, 0)) for k in ("initial", "new", "correction"))
    rerun_same = rerun["summary"]["digest"] == digest
    print(
        f"  更正 run: {rerun_changed:,} rows changed; digest {'unchanged' if rerun_same else 'CHANGED'}",
        flush=True,
    )

    plans: list[str] = []
    if args.explain or first["wall_seconds"] > TARGET_SECONDS:
        plans = explain_chunk(url)
        for plan in plans:
            print("    " + plan.replace("\n", "\n    "), flush=True)

    kills = []
    for k in range(args.kills):
        at = first["wall_seconds"] * rng.uniform(0.2, 0.8)
        kills.append(kill_test(url, at, digest, f"kill test {k + 1}"))

    data: dict[str, Any] = {
        "insured": args.insured,
        "fiscal_year": FY,
        "server": settings,
        "population": population,
        "first_run": first,
        "stages": mix,
        "copy": {**copies, "assess_over_copy_in": round(ratio, 2)},
        "rerun": {**rerun, "changed": rerun_changed, "digest_unchanged": rerun_same},
        "kill_tests": kills,
        "targets": {
            "seconds": TARGET_SECONDS,
            "rss_mb": TARGET_RSS_MB,
            "within_time": first["wall_seconds"] <= TARGET_SECONDS,
            "within_memory": first["peak_rss_mb"] <= TARGET_RSS_MB,
        },
        "plans": plans,
    }
    print("== summary ==")
    rows = [
        ("population", f"{population['seconds']:.1f} s" if population else "reused"),
        ("本算定 wall", f"{first['wall_seconds']:.2f} s (target ≤ {TARGET_SECONDS:.0f} s)"),
        ("本算定 peak RSS (Python)", f"{first['peak_rss_mb']:.1f} MB (target ≤ {TARGET_RSS_MB:.0f} MB)"),
        (
            "本算定 backend peak",
            f"VmHWM {first['backend_peak_vmhwm_mb']:.0f} MB, private {first['backend_peak_rss_anon_mb']:.0f} MB",
        ),
        ("COPY out (current rows)", f"{copies['copy_out_seconds']:.2f} s ({copies['rows']:,} rows)"),
        ("COPY in (UNLOGGED)", f"{copies['copy_in_unlogged_seconds']:.2f} s"),
        ("COPY in (logged, indexes)", f"{copies['copy_in_logged_indexed_seconds']:.2f} s"),
        ("本算定 / COPY in (UNLOGGED)", f"×{ratio:.1f}"),
        ("更正 rerun wall", f"{rerun['wall_seconds']:.2f} s, changed {rerun_changed}, digest "
         f"{'unchanged' if rerun_same else 'CHANGED'}"),
    ]  # fmt: skip
    for i, kill in enumerate(kills, 1):
        rows.append(
            (
                f"kill test {i}",
                f"killed at {kill['killed_after_seconds']:.1f} s (cursor {kill['open_run_cursor']}), restart "
                f"{kill['restart']['wall_seconds']:.2f} s → {'SAME' if kill['digest_same'] else 'DIFFERENT'}",
            )
        )
    for name, value in rows:
        print(f"  {name:<28} {value}")
    print(f"  total {time.perf_counter() - started:.1f} s")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"  written {out}")


if __name__ == "__main__":
    main()
