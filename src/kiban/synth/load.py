"""Loading the synthetic city into the ``synth`` schema (合成都市の投入), all or nothing.

``load_city`` generates the chunks in worker processes and streams them into PostgreSQL with COPY
over ONE connection and ONE transaction: TRUNCATE the previous city, drop the synth tables' keys and
indexes, COPY … FREEZE every chunk, rebuild the keys and indexes, write the city row, commit. A
failure anywhere rolls all of it back, so the previous city stays intact (DDL is transactional in
PostgreSQL). Tables stay LOGGED: the city must survive a restart.

Why drop the foreign keys: a foreign key checks every COPY-ed row with a trigger (a query per row);
re-adding it at the end validates all rows with one join, many times faster. The definitions are read
back from the catalogue (pg_get_constraintdef), so the migration stays the only place the schema is
written. Primary keys and indexes stay: rows arrive in key order, so maintaining them during COPY is
cheap, and it happens while the workers are still generating — rebuilding them afterwards would add
to the serial tail, when only one core has work (measured in bench/bench_synth.py).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import psycopg
import sqlalchemy

from kiban.synth import places
from kiban.synth.city import Chunk, CityParams, Counts, city_params
from kiban.synth.files import FileSet, default_dir
from kiban.synth.generate import generate_chunk

# COPY column lists, in the order generate.py writes the fields.
COPY_COLUMNS: dict[str, tuple[str, ...]] = {
    "household": (
        "household_no",
        "household_type",
        "postal_code",
        "address",
        "katagaki",
        "district_code",
        "head_person_no",
    ),
    "resident": (
        "person_no",
        "household_no",
        "relationship",
        "family_name",
        "given_name",
        "family_name_kana",
        "given_name_kana",
        "sex",
        "birth_date",
        "resident_class",
        "resident_since",
        "nonresident_since",
        "nonresident_reason",
        "postal_code",
        "address",
        "katagaki",
    ),
    "income": (
        "person_no",
        "fiscal_year",
        "salary_income",
        "salary_deduction_result",
        "public_pension_income",
        "pension_misc_income",
        "other_income",
        "total_income",
        "dependants",
        "tax_status",
        "nontaxable_reason",
    ),
    "welfare": ("person_no", "household_no", "start_date", "end_date"),
}
SYNTH_TABLES = ("city", "household", "resident", "income", "welfare", "old_age_welfare_pension")


@dataclass(frozen=True, slots=True)
class CitySummary:
    """Aggregate figures of the loaded city (no personal data): for the CLI and the dashboard."""

    city_code: str
    city_name: str
    seed: int
    as_of: date
    residents: int
    non_residents: int
    households: int
    aged_65_plus: int
    aged_75_plus: int
    under_15: int
    seiho_households: int
    seiho_persons: int
    income_rows: int
    fiscal_years: tuple[int, ...]
    generated_at: datetime
    seconds: float
    files_dir: Path | None

    @property
    def aged_65_plus_share(self) -> float:
        """高齢化率 (65歳以上の割合)."""
        return self.aged_65_plus / self.residents


def libpq_url(engine: sqlalchemy.Engine) -> str:
    return engine.url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://")


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def load_city(
    engine: sqlalchemy.Engine,
    *,
    residents: int,
    seed: int,
    as_of: date = date(2026, 4, 1),
    out_dir: Path | None = None,
    write_files: bool = True,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> CitySummary:
    """Generate the synthetic city and replace the previous one, all or nothing.

    ``residents`` counts 住民; about 1% more 住登外 persons are added. The import files go to
    ``out_dir`` (default ``$KIBAN_HOME/synth/<seed>/``) unless ``write_files`` is False.
    ``progress(n)`` is called with the number of residents generated and loaded so far.
    ``workers`` (default: the number of cores) generate chunks in *spawned* processes, so a script
    that calls this must keep its top level behind ``if __name__ == "__main__":``.
    """
    started = time.perf_counter()
    params = city_params(seed, residents, as_of)
    folder = (out_dir or default_dir(seed)).resolve() if write_files else None
    counts = Counts()
    with psycopg.connect(libpq_url(engine), application_name="kiban-synth") as conn:
        files = FileSet(folder) if folder is not None else None
        try:
            with conn.transaction():
                conn.execute("TRUNCATE " + ", ".join(f"synth.{t}" for t in SYNTH_TABLES))
                rebuild = _drop_foreign_keys(conn)
                done = 0
                for chunk in _chunks(params, workers, write_files):
                    _copy_chunk(conn, chunk)
                    if files is not None:
                        for name, data in chunk.files.items():
                            files.write(name, data)
                    counts.add(chunk.counts)
                    done += params.chunk_residents(chunk.index)
                    if progress is not None:
                        progress(done)
                # Statistics for the planner (also for the foreign keys' validating joins), committed
                # together with the rows.
                conn.execute("ANALYZE " + ", ".join(f"synth.{t}" for t in COPY_COLUMNS))
                for statement in rebuild:
                    conn.execute(statement)  # catalogue-built DDL
                seconds = time.perf_counter() - started
                row = conn.execute(
                    """
                    INSERT INTO synth.city (city_code, name, seed, residents, non_residents, households,
                        aged_65_plus, aged_75_plus, under_15, seiho_households, seiho_persons, income_rows,
                        fiscal_years, as_of, load_seconds, files_dir)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    RETURNING generated_at
                    """,
                    (
                        places.CITY_CODE,
                        places.CITY_NAME,
                        seed,
                        counts.residents,
                        counts.non_residents,
                        counts.households,
                        counts.aged_65_plus,
                        counts.aged_75_plus,
                        counts.under_15,
                        counts.seiho_households,
                        counts.seiho_persons,
                        counts.income_rows,
                        list(params.fiscal_years),
                        as_of,
                        round(seconds, 3),
                        str(folder) if folder else None,
                    ),
                ).fetchone()
                assert row is not None
                if files is not None:
                    files.commit()  # published just before the database commits
        except BaseException:
            if files is not None:
                files.abort()
            raise
    return _summary(counts, params, row[0], time.perf_counter() - started, folder)


def _chunks(params: CityParams, workers: int | None, write_files: bool) -> Iterator[Chunk]:
    """The city's chunks in order, generated by ``workers`` processes (same bytes whatever the count)."""
    n_workers = min(workers or default_workers(), params.chunks)
    work = partial(generate_chunk, params, files=write_files)
    if n_workers <= 1:
        for k in range(params.chunks):
            yield work(k)
        return
    # spawn, not fork: the parent holds database connections and maybe threads.
    pool = ProcessPoolExecutor(n_workers, mp_context=get_context("spawn"))
    try:
        pending: deque[Future[Chunk]] = deque()
        next_k = 0
        while next_k < params.chunks or pending:
            # Keep a small window of chunks in flight so memory stays bounded if COPY is the slow side.
            while next_k < params.chunks and len(pending) < 2 * n_workers:
                pending.append(pool.submit(work, next_k))
                next_k += 1
            yield pending.popleft().result()
    finally:
        # On failure (or the consumer giving up) do not wait for chunks nobody will load.
        pool.shutdown(wait=True, cancel_futures=True)


def _copy_chunk(conn: psycopg.Connection, chunk: Chunk) -> None:
    for table, columns in COPY_COLUMNS.items():
        data = chunk.copy[table]
        if not data:
            continue
        # FREEZE: the tables were truncated in this transaction, so rows can be written frozen
        # (no later hint-bit rewrite or anti-wraparound vacuum of a million fresh rows).
        sql = f"COPY synth.{table} ({', '.join(columns)}) FROM STDIN WITH (FREEZE)"
        with conn.cursor().copy(sql) as copy:
            copy.write(data)


def _drop_foreign_keys(conn: psycopg.Connection) -> list[str]:
    """Drop the foreign keys from, and into, the bulk tables; return the statements that re-add them."""
    regclasses = [f"synth.{t}" for t in COPY_COLUMNS]
    rows = conn.execute(
        """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint
        WHERE contype = 'f' AND (conrelid = ANY (%s::regclass[]) OR confrelid = ANY (%s::regclass[]))
        ORDER BY 1, 2
        """,
        (regclasses, regclasses),
    ).fetchall()
    restore = []
    for table, name, definition in rows:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    return restore


def _summary(
    counts: Counts, params: CityParams, generated_at: datetime, seconds: float, folder: Path | None
) -> CitySummary:
    return CitySummary(
        city_code=places.CITY_CODE,
        city_name=places.CITY_NAME,
        seed=params.seed,
        as_of=params.as_of,
        residents=counts.residents,
        non_residents=counts.non_residents,
        households=counts.households,
        aged_65_plus=counts.aged_65_plus,
        aged_75_plus=counts.aged_75_plus,
        under_15=counts.under_15,
        seiho_households=counts.seiho_households,
        seiho_persons=counts.seiho_persons,
        income_rows=counts.income_rows,
        fiscal_years=params.fiscal_years,
        generated_at=generated_at,
        seconds=seconds,
        files_dir=folder,
    )


def summary(engine: sqlalchemy.Engine) -> CitySummary | None:
    """The loaded city's aggregate figures (one row read, no personal data), or None if none is loaded."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                sqlalchemy.text(
                    "SELECT city_code, name, seed, as_of, residents, non_residents, households, aged_65_plus,"
                    " aged_75_plus, under_15, seiho_households, seiho_persons, income_rows, fiscal_years,"
                    " generated_at, load_seconds, files_dir FROM synth.city LIMIT 1"
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        return None
    return CitySummary(
        city_code=row["city_code"],
        city_name=row["name"],
        seed=row["seed"],
        as_of=row["as_of"],
        residents=row["residents"],
        non_residents=row["non_residents"],
        households=row["households"],
        aged_65_plus=row["aged_65_plus"],
        aged_75_plus=row["aged_75_plus"],
        under_15=row["under_15"],
        seiho_households=row["seiho_households"],
        seiho_persons=row["seiho_persons"],
        income_rows=row["income_rows"],
        fiscal_years=tuple(row["fiscal_years"]),
        generated_at=row["generated_at"],
        seconds=float(row["load_seconds"] or 0.0),
        files_dir=Path(row["files_dir"]) if row["files_dir"] else None,
    )
