"""本算定 and 更正 of 介護保険料 for a whole insurer: ``kiban kaigo assess --fiscal-year Y``.

One job, set-based in PostgreSQL, chunk by chunk of 被保険者 (each chunk one transaction with its
access-log row). For every 第1号被保険者 insured at some time in 年度 Y it computes from the facts
on the 賦課期日 (1 April, or the 資格取得日 if later — 介護保険法施行令第38条):

* the 所得段階 (生活保護, 老齢福祉年金, 世帯非課税, 本人非課税, 合計所得金額 — the insurer's table
  as data, :mod:`kiban.kaigo.assessment.sql`);
* the 月数 (月割, 介護保険条例参考例第4条 as adopted by the cities' 条例): from the month of
  acquisition up to the month before the month of loss; a month in which 生活保護 starts after the
  賦課期日 is charged at the 生活保護 stage from that month (same article, 第3項);
* the amount: Σ 年額 × 月数 / 12 with the insurer's 端数処理, less an approved 減免;
* the 徴収方法: 特別徴収 when the pension insurer reported a pension of 18万円 or more
  (法第134条, 施行令第41条), else 普通徴収.

Then it compares with the current 賦課 row: nothing changed → nothing written; otherwise the row
is superseded by a new version (初回: 本算定 ``initial``; later: ``new`` for someone first assessed,
``correction`` for a 更正 — the difference is kept as ``previous_payable``). So the first run is
the 本算定, every later run is the 更正 run, and a rerun with unchanged facts changes nothing.

A run is resumable: ``kaigo.assess_run`` keeps a cursor (the last 被保険者 ID committed). A run
killed at any point leaves whole chunks behind it; the next start resumes the open run, and the
result digest (md5 over every current row in 被保険者番号 order) is the same as an unbroken run's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, text

from kiban.kaigo.assessment import sql as rules_sql
from kiban.kaigo.eligibility import service as eligibility_service
from kiban.rules.kaigo_premium import PremiumTable, load_table
from kiban.security import audit, guard
from kiban.security.batch import batch_context
from kiban.security.context import Action, Business

__all__ = ["PURPOSE", "AssessError", "AssessRun", "assess", "result_digest"]

PURPOSE = "kaigo.assessment"
CHUNK = 200_000
SPECIAL_COLLECTION_MIN_PENSION = 180_000  # 年額18万円以上 (介護保険法第134条第1項, 施行令第41条)


class AssessError(ValueError):
    """The run cannot start (no table for the year, another run holds the lock …)."""


@dataclass(frozen=True)
class AssessRun:
    """What a run did: counts by outcome and the result digest."""

    run_id: int
    fiscal_year: int
    kind: str
    resumed: bool
    total: int
    counts: dict[str, int]
    digest: str


def _month_index(expr: str) -> str:
    return f"(extract(year FROM {expr})::int * 12 + extract(month FROM {expr})::int - 1)"


def _compute_sql(table: PremiumTable, fiscal_year: int, base_annual: int) -> str:
    """SELECT of the new 賦課 rows of the 被保険者 with :lo < insured_id <= :hi."""
    annual = rules_sql.annual_by_stage(table, base_annual)
    annual_array = "(ARRAY[" + ",".join(str(a) for a in annual) + "])"
    ws = table.welfare_stage
    stage = rules_sql.stage_case(table, fiscal_year)
    qs = f"greatest({_month_index('s')}, :fy_start_idx)"
    qe = f"least(coalesce({_month_index('e')}, :fy_end_idx), :fy_end_idx)"
    ws_idx = _month_index("lower(w.valid)")
    # The month that holds the last day of the 生活保護 period counts (開始月から廃止月まで).
    we_idx = f"coalesce({_month_index('(upper(w.valid) - 1)')} + 1, :fy_end_idx)"
    amount_split = (
        rules_sql.prorate_sql(f"{annual_array}[stage]", "months - welfare_months", table.rounding)
        + " + "
        + rules_sql.prorate_sql(f"{annual_array}[{ws}]", "welfare_months", table.rounding)
    )
    amount_whole = rules_sql.prorate_sql(f"{annual_array}[stage]", "months", table.rounding)
    return f"""
WITH q AS (
    SELECT i.insured_id, i.person_id, lower(q.valid) AS s, upper(q.valid) AS e
      FROM kaigo.insured i JOIN kaigo.qualification q USING (insured_id)
     WHERE i.insurer_no = :insurer AND i.insured_id > :lo AND i.insured_id <= :hi
       AND q.superseded_at IS NULL AND q.category = 1
       AND q.valid && daterange(:fy_start, :fy_end)
), per AS (
    SELECT insured_id, person_id, greatest(min(s), :fy_start) AS basis_date,
           sum(greatest(0, {qe} - {qs}))::int AS months
      FROM q GROUP BY insured_id, person_id
), wm AS (
    SELECT q.insured_id, sum(greatest(0, least({qe}, {we_idx}) - greatest({qs}, {ws_idx})))::int AS welfare_months
      FROM q JOIN identity.welfare_period w
        ON w.person_id = q.person_id AND w.superseded_at IS NULL AND w.valid && daterange(:fy_start, :fy_end)
     GROUP BY q.insured_id
), hh AS (
    -- 世帯非課税: every member of the household on the 賦課期日 has a 課税情報 row that says 非課税.
    SELECT per.insured_id, bool_and(coalesce(NOT t2.taxable, false)) AS household_exempt
      FROM per
      JOIN identity.household_member m
        ON m.person_id = per.person_id AND m.superseded_at IS NULL AND m.valid @> per.basis_date
      JOIN identity.household_member m2
        ON m2.household_id = m.household_id AND m2.superseded_at IS NULL AND m2.valid @> per.basis_date
      LEFT JOIN identity.tax_income t2
        ON t2.person_id = m2.person_id AND t2.fiscal_year = :fy AND t2.superseded_at IS NULL
     GROUP BY per.insured_id
), facts AS MATERIALIZED (
    -- Materialised: the stage CASE refers to each fact many times, and inlined it would repeat the
    -- EXISTS lookups per reference (bench/bench_kaigo_assess.py: 11.8 s → 2.6 s a chunk).
    SELECT per.insured_id, per.person_id, per.basis_date, per.months,
           EXISTS (SELECT 1 FROM identity.welfare_period w WHERE w.person_id = per.person_id
                      AND w.superseded_at IS NULL AND w.valid @> per.basis_date) AS welfare,
           EXISTS (SELECT 1 FROM identity.old_age_pension_period o WHERE o.person_id = per.person_id
                      AND o.superseded_at IS NULL AND o.valid @> per.basis_date) AS old_age_pension,
           t.person_id IS NULL AS no_tax_info,
           coalesce(NOT t.taxable, false) AS self_exempt,
           -- 住登外 (no household that day): the person is taken alone.
           coalesce(hh.household_exempt, coalesce(NOT t.taxable, false)) AND coalesce(NOT t.taxable, false)
               AS household_exempt,
           -- 合計所得金額 after 長期・短期譲渡所得の特別控除 (施行令第38条第4項), at least 0.
           greatest(0, coalesce(t.total_income - t.capital_gains_deduction, 0)) AS total_income,
           coalesce(t.public_pension_income, 0) AS pension_income,
           coalesce(t.pension_misc_income, 0) AS pension_misc_income,
           least(per.months, coalesce(wm.welfare_months, 0)) AS raw_welfare_months
      FROM per
      LEFT JOIN identity.tax_income t
        ON t.person_id = per.person_id AND t.fiscal_year = :fy AND t.superseded_at IS NULL
      LEFT JOIN hh ON hh.insured_id = per.insured_id
      LEFT JOIN wm ON wm.insured_id = per.insured_id
), staged AS (
    SELECT facts.*, ({stage}) AS stage FROM facts
), sized AS (
    SELECT staged.*,
           CASE WHEN stage IS NULL OR stage = {ws} THEN 0 ELSE raw_welfare_months END AS welfare_months
      FROM staged
)
SELECT sized.insured_id, basis_date, welfare, old_age_pension, household_exempt, self_exempt,
       no_tax_info, total_income, pension_income, pension_misc_income, stage, months, welfare_months,
       CASE WHEN stage IS NULL THEN NULL ELSE {annual_array}[stage] END AS annual_full,
       CASE WHEN stage IS NULL THEN NULL
            WHEN welfare_months > 0 THEN {amount_split}
            ELSE {amount_whole} END AS amount,
       CASE WHEN pd.annual_pension >= {SPECIAL_COLLECTION_MIN_PENSION} AND pd.stopped_on IS NULL
            THEN 'special' ELSE 'ordinary' END AS method,
       r.amount AS reduction_approved
  FROM sized
  LEFT JOIN kaigo.pension_deduction pd
    ON pd.person_id = sized.person_id AND pd.fiscal_year = :fy AND pd.superseded_at IS NULL
  LEFT JOIN kaigo.reduction r
    ON r.insured_id = sized.insured_id AND r.fiscal_year = :fy AND r.status = 'approved'
"""


# Current rows in the chunk that the new computation does not reproduce: supersede, then insert.
_DIFF = """
CREATE TEMP TABLE kaigo_assess_diff ON COMMIT DROP AS
SELECT n.*, c.assessment_id AS current_id, c.version AS current_version, c.payable AS current_payable
  FROM kaigo_assess_new n
  LEFT JOIN kaigo.assessment c
    ON c.insured_id = n.insured_id AND c.fiscal_year = :fy AND c.superseded_at IS NULL
 WHERE n.stage IS NOT NULL
   AND (c.assessment_id IS NULL
        OR (c.stage, c.months, c.welfare_months, c.amount, c.reduction, c.method, c.basis_date)
           IS DISTINCT FROM (n.stage, n.months, n.welfare_months, n.amount,
                             least(coalesce(n.reduction_approved, 0), n.amount), n.method, n.basis_date))
UNION ALL
-- Assessed before, no longer insured at all in the year (資格の取消 …): 更正 to nothing.
SELECT c.insured_id, c.basis_date, c.welfare, c.old_age_pension, c.household_exempt, c.self_exempt,
       c.no_tax_info, c.total_income, c.pension_income, c.pension_misc_income, c.stage, 0, 0,
       c.annual_full, 0, c.method, NULL, c.assessment_id, c.version, c.payable
  FROM kaigo.assessment c
  JOIN kaigo.insured i USING (insured_id)
 WHERE c.fiscal_year = :fy AND c.superseded_at IS NULL AND i.insurer_no = :insurer
   AND c.insured_id > :lo AND c.insured_id <= :hi AND c.amount > 0
   AND NOT EXISTS (SELECT 1 FROM kaigo_assess_new n WHERE n.insured_id = c.insured_id)
"""

_SUPERSEDE = """
UPDATE kaigo.assessment a SET superseded_at = clock_timestamp()
  FROM kaigo_assess_diff d WHERE a.assessment_id = d.current_id
"""

_INSERT = """
INSERT INTO kaigo.assessment
    (insured_id, fiscal_year, version, kind, run_id, basis_date, welfare, old_age_pension,
     household_exempt, self_exempt, no_tax_info, total_income, pension_income, pension_misc_income,
     stage, months, welfare_months, annual_full, amount, reduction, previous_payable, method, recorded_by)
SELECT insured_id, :fy, coalesce(current_version, 0) + 1,
       CASE WHEN current_id IS NOT NULL THEN 'correction' WHEN :initial THEN 'initial' ELSE 'new' END,
       :run, basis_date, welfare, old_age_pension, household_exempt, self_exempt, no_tax_info,
       total_income, pension_income, pension_misc_income, stage, months, welfare_months, annual_full,
       amount, least(coalesce(reduction_approved, 0), amount), current_payable, method, :staff
  FROM kaigo_assess_diff
"""

_DIGEST = """
SELECT md5(coalesce(string_agg(concat_ws(':', i.insured_no, a.stage, a.months, a.welfare_months,
                                         a.amount, a.reduction, a.method), ',' ORDER BY i.insured_no), ''))
  FROM kaigo.assessment a JOIN kaigo.insured i USING (insured_id)
 WHERE a.fiscal_year = :fy AND a.superseded_at IS NULL AND i.insurer_no = :insurer
"""


def result_digest(conn: Connection, insurer_no: str, fiscal_year: int) -> str:
    """md5 over every current 賦課 row of the year (被保険者番号, 段階, 月数, 金額, 減免, 徴収方法)."""
    return str(conn.execute(text(_DIGEST), {"fy": fiscal_year, "insurer": insurer_no}).scalar_one())


def _settings(conn: Connection, city_code: str | None) -> tuple[str, PremiumTable, int]:
    city = city_code or _only_city(conn)
    insurer = eligibility_service.insurer_for_city(conn, city)
    row = conn.execute(
        text("SELECT premium_table, base_annual FROM kaigo.insurer WHERE insurer_no = :i"),
        {"i": insurer.insurer_no},
    ).one()
    table = load_table(str(row.premium_table))
    base = int(row.base_annual) if row.base_annual is not None else table.base_annual
    return insurer.insurer_no, table, base


def _only_city(conn: Connection) -> str:
    cities = list(conn.execute(text("SELECT city_code FROM kaigo.insurer ORDER BY city_code")).scalars())
    if len(cities) != 1:
        raise AssessError("保険者が複数登録されています: 市区町村コードを指定してください")
    return str(cities[0])


def _lock_key(insurer_no: str, fiscal_year: int) -> str:
    return f"kaigo.assess:{insurer_no}:{fiscal_year}"


def assess(
    engine: Engine,
    *,
    fiscal_year: int,
    city_code: str | None = None,
    chunk: int = CHUNK,
    progress: Callable[[int, int], None] | None = None,
    stop_after_chunks: int | None = None,
) -> AssessRun:
    """Run (or resume) 本算定 / 更正 of 年度 ``fiscal_year``; see the module docstring.

    ``progress(done, total)`` is called after each committed chunk. ``stop_after_chunks`` stops
    the run early, as a kill would (for tests of resumption); the run stays open.
    """
    if chunk < 1:
        raise AssessError("chunk は1以上です")
    with engine.connect() as lock_conn:
        with engine.begin() as conn:
            insurer_no, table, base = _settings(conn, city_code)
            try:
                table.require_year(fiscal_year)
            except LookupError as exc:
                raise AssessError(str(exc)) from None
            rules_sql.stage_case(table, fiscal_year)  # fails before anything is written
        got = lock_conn.execute(
            text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": _lock_key(insurer_no, fiscal_year)}
        ).scalar_one()
        lock_conn.commit()
        if not got:
            raise AssessError(f"{fiscal_year}年度の賦課処理は別の処理が実行中です")
        try:
            return _run(engine, insurer_no, table, base, fiscal_year, chunk, progress, stop_after_chunks)
        finally:
            lock_conn.execute(
                text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": _lock_key(insurer_no, fiscal_year)}
            )
            lock_conn.commit()


def _run(
    engine: Engine,
    insurer_no: str,
    table: PremiumTable,
    base: int,
    fiscal_year: int,
    chunk: int,
    progress: Callable[[int, int], None] | None,
    stop_after_chunks: int | None,
) -> AssessRun:
    fy_start, fy_end = date(fiscal_year, 4, 1), date(fiscal_year + 1, 4, 1)
    with engine.begin() as conn:
        ctx = batch_context(conn, Business.KAIGO, PURPOSE, f"介護保険料 賦課（{fiscal_year}年度）")
        guard.require(conn, ctx, action=Action.UPDATE, log=False)
        open_run = conn.execute(
            text(
                "SELECT run_id, kind, cursor_id, total, done, counts, premium_table, base_annual "
                "FROM kaigo.assess_run WHERE insurer_no = :i AND fiscal_year = :fy AND status = 'running'"
            ),
            {"i": insurer_no, "fy": fiscal_year},
        ).first()
        if open_run is not None:
            if (open_run.premium_table, open_run.base_annual) != (table.key, base):
                raise AssessError(
                    f"実行中の賦課処理（実行番号 {open_run.run_id}）は料率表 {open_run.premium_table}・"
                    f"基準額 {open_run.base_annual:,}円で始まっています。設定を戻して再開してください"
                )
            run_id, kind, cursor = int(open_run.run_id), str(open_run.kind), int(open_run.cursor_id)
            total, done, counts = int(open_run.total), int(open_run.done), dict(open_run.counts)
            resumed = True
        else:
            earlier = conn.execute(
                text(
                    "SELECT 1 FROM kaigo.assess_run WHERE insurer_no = :i AND fiscal_year = :fy AND status = 'done'"
                ),
                {"i": insurer_no, "fy": fiscal_year},
            ).first()
            kind = "correction" if earlier else "initial"
            total = int(
                conn.execute(
                    text("SELECT count(*) FROM kaigo.insured WHERE insurer_no = :i"), {"i": insurer_no}
                ).scalar_one()
            )
            run_id = int(
                conn.execute(
                    text(
                        "INSERT INTO kaigo.assess_run (insurer_no, fiscal_year, kind, premium_table, base_annual,"
                        " total, started_by) VALUES (:i, :fy, :k, :t, :b, :n, :s) RETURNING run_id"
                    ),
                    {"i": insurer_no, "fy": fiscal_year, "k": kind, "t": table.key, "b": base, "n": total,
                     "s": ctx.staff_id},
                ).scalar_one()
            )  # fmt: skip
            cursor, done, resumed = 0, 0, False
            counts = {"initial": 0, "new": 0, "correction": 0, "review": 0}
    compute = _compute_sql(table, fiscal_year, base)
    # Fresh statistics before the diff joins against the current rows (a 更正 run after a 本算定
    # that autovacuum has not yet analysed would otherwise plan a nested-loop anti join).
    with engine.begin() as conn:
        conn.execute(text("ANALYZE kaigo.assessment"))
    params: dict[str, Any] = {
        "insurer": insurer_no, "fy": fiscal_year, "fy_start": fy_start, "fy_end": fy_end,
        "fy_start_idx": fiscal_year * 12 + 3, "fy_end_idx": (fiscal_year + 1) * 12 + 3,
        "run": run_id, "initial": kind == "initial",
    }  # fmt: skip
    chunks = 0
    while True:
        if stop_after_chunks is not None and chunks >= stop_after_chunks:
            return AssessRun(run_id, fiscal_year, kind, resumed, total, counts, "")
        with engine.begin() as conn:
            ctx = batch_context(conn, Business.KAIGO, PURPOSE, f"介護保険料 賦課（{fiscal_year}年度）")
            hi_row = conn.execute(
                text(
                    "SELECT max(insured_id) AS hi, count(*) AS n FROM (SELECT insured_id FROM kaigo.insured"
                    " WHERE insurer_no = :i AND insured_id > :lo ORDER BY insured_id LIMIT :n) x"
                ),
                {"i": insurer_no, "lo": cursor, "n": chunk},
            ).one()
            if hi_row.hi is None:
                digest = result_digest(conn, insurer_no, fiscal_year)
                conn.execute(
                    text(
                        "UPDATE kaigo.assess_run SET status = 'done', finished_at = clock_timestamp(),"
                        " digest = :d, counts = CAST(:c AS jsonb) WHERE run_id = :r"
                    ),
                    {"d": digest, "c": json.dumps(counts), "r": run_id},
                )
                # The digest stays on the run row, not in the log: an md5 in hex holds a check-digit-valid
                # run of 12 digits about once in 800, which the log refuses as a 個人番号 — and the same
                # data give the same digest, so that year's run could never finish.
                audit.record(
                    conn, ctx, action=Action.UPDATE,
                    detail={"what": "kaigo.assess.done", "run_id": run_id, "fiscal_year": fiscal_year,
                            "kind": kind, **counts},
                )  # fmt: skip
                return AssessRun(run_id, fiscal_year, kind, resumed, total, counts, digest)
            hi, n = int(hi_row.hi), int(hi_row.n)
            step = {**params, "lo": cursor, "hi": hi, "staff": ctx.staff_id}
            # JIT compiles the wide CASE for seconds per chunk and gains nothing on a 100,000-row set.
            conn.execute(text("SET LOCAL jit = off"))
            # The hashes of household_member and tax_income spill 1.4 GB to disk at the default 4 MB.
            conn.execute(text("SET LOCAL work_mem = '64MB'"))
            conn.execute(text(f"CREATE TEMP TABLE kaigo_assess_new ON COMMIT DROP AS {compute}"), step)
            conn.execute(text("ANALYZE kaigo_assess_new"))  # temp tables are never auto-analysed
            review = int(
                conn.execute(text("SELECT count(*) FROM kaigo_assess_new WHERE stage IS NULL")).scalar_one()
            )
            conn.execute(text(_DIFF), step)
            by_kind = {
                str(k): int(c)
                for k, c in conn.execute(
                    text(
                        "SELECT CASE WHEN current_id IS NOT NULL THEN 'correction'"
                        " WHEN :initial THEN 'initial' ELSE 'new' END, count(*) FROM kaigo_assess_diff GROUP BY 1"
                    ),
                    step,
                ).all()
            }
            conn.execute(text(_SUPERSEDE), step)
            conn.execute(text(_INSERT), step)
            for key, value in by_kind.items():
                counts[key] = counts.get(key, 0) + value
            counts["review"] = counts.get("review", 0) + review
            cursor, done = hi, done + n
            conn.execute(
                text(
                    "UPDATE kaigo.assess_run SET cursor_id = :c, done = :d, counts = CAST(:k AS jsonb)"
                    " WHERE run_id = :r"
                ),
                {"c": cursor, "d": done, "k": json.dumps(counts), "r": run_id},
            )
            # The persons of this chunk's changes are the rows of kaigo.assessment with this run_id.
            audit.record(
                conn, ctx, action=Action.UPDATE,
                detail={"what": "kaigo.assess.chunk", "run_id": run_id, "fiscal_year": fiscal_year,
                        "range": [step["lo"], hi], "changed": sum(by_kind.values()), "review": review,
                        "subjects": "run_id"},
            )  # fmt: skip
        chunks += 1
        if progress is not None:
            progress(min(done, total), total)
