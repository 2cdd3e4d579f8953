"""Facts other businesses need (他業務が必要とする情報): 住民税 課税情報, 生活保護・老齢福祉年金の受給期間,
医療保険加入情報 — imported from the departments that own them and read by 介護保険 (賦課: 保険料段階),
国保 and 後期 through the services in ``kiban.identity.facts_read`` (re-exported here).

Import rules (domain.md §10.11; seed 000 リスク対策: 論理チェックでエラーとなったデータは取り込まない),
shared by the four kinds of docs/layouts/facts.md:

- the whole file is checked first — every row, and every 宛名番号 against the hub; one bad row and
  nothing is imported: ``ImportRejected`` carries the エラーリスト (line, 宛名番号, 項目名), which is
  also kept with the rejected import (``importing.record_rejection``);
- the same file again (same kind and SHA-256) changes nothing; a row equal to what is recorded is
  skipped, so overlapping files are harmless too;
- history is never overwritten: a different row for the same person and 年度 (更正) or the same
  period (廃止・喪失 now known) supersedes the recorded one (``superseded_at``) and is added anew;
- all in one transaction with one access-log row (guard) and the outbox events announcing it:
  ``identity.facts.<topic>.changed`` per changed row, or — for a city-wide file — one
  ``identity.facts.<topic>.loaded`` naming the import (readers take its rows by ``import_id``).

The rows go to the database with COPY into a temporary table and are compared and applied there in
a few set-based statements, so a city-wide annual tax file (about a million rows) is one import.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection, Engine, text

from kiban.db import outbox
from kiban.identity import facts_layouts as fl
from kiban.identity.facts_layouts import LAYOUTS, Layout, TaxRow, layout
from kiban.identity.facts_read import (
    FactsSummary,
    HouseholdTaxStatus,
    MedicalInsurance,
    MemberTaxStatus,
    PensionPeriod,
    TaxIncome,
    WelfarePeriod,
    facts_summary,
    household_tax_status,
    medical_insurance_on,
    old_age_pension_on,
    tax_income_of,
    welfare_on,
)
from kiban.identity.importing import (
    MAX_ERRORS,
    ImportRejected,
    ImportResult,
    RowError,
    already_imported,
    begin,
    digest,
    finish,
    record_rejection,
)
from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action, Outcome
from kiban.shared.mynumber import contains_my_number

__all__ = [
    "FactsImportResult",
    "FactsSummary",
    "HouseholdTaxStatus",
    "MedicalInsurance",
    "MemberTaxStatus",
    "PensionPeriod",
    "TaxIncome",
    "WelfarePeriod",
    "facts_command",
    "facts_summary",
    "household_tax_status",
    "import_facts",
    "medical_insurance_on",
    "old_age_pension_on",
    "tax_income_of",
    "welfare_on",
]

EVENT_LIMIT = 1000  # more changed rows than this: one ``.loaded`` event instead of one per row
SUBJECT_LIMIT = 1000  # the access-log row lists the persons of files up to this size


@dataclass
class FactsImportResult(ImportResult):
    """ImportResult plus how many of the applied rows replaced (superseded) a recorded one."""

    corrected: int = 0


@dataclass
class _Applied:
    applied: int
    corrected: int
    events: list[tuple[str, str, Any, dict[str, Any]]] | None  # None: too many, announce the import


def import_facts(
    engine: Engine,
    kind: str,
    data: bytes,
    file_name: str,
    ctx: AccessContext,
    *,
    progress: Callable[[str], None] | None = None,
) -> FactsImportResult:
    """Import one facts file (``kind`` = kazei | seiho | rofuku | iryo; docs/layouts/facts.md)."""
    spec = layout(kind)
    sha = digest(data)
    file_name = _safe_name(file_name)
    say = progress or (lambda _message: None)
    count = 0
    try:
        with engine.begin() as conn:
            guard.require(conn, ctx, action=Action.CREATE, log=False)
            # One import of a kind at a time: the same file sent twice at once is then applied once,
            # and two files never race for the same person's current row.
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"identity.facts.{kind}"})
            done = already_imported(conn, kind, sha)
            if done is not None:
                audit.record(
                    conn,
                    ctx,
                    action=Action.CREATE,
                    detail={"import": kind, "file": file_name, "already_imported": done},
                )
                return FactsImportResult(done, kind, file_name, 0, 0, 0, already_imported=True)
            say("検査")
            parsed = fl.parse(kind, data)
            count = parsed.count
            say(f"宛名番号の照合（{len(parsed.rows):,} 件）")
            _load(conn, spec, parsed.rows)
            errors = parsed.errors + _person_errors(conn)
            if errors:
                errors.sort(key=lambda e: (e.line_no, e.field))
                raise ImportRejected(errors[:MAX_ERRORS], total=len(errors))
            import_id = begin(conn, kind=kind, file_name=file_name, sha=sha, staff_id=ctx.staff_id)
            say("反映")
            outcome = (
                _apply_tax(conn, import_id) if kind == "kazei" else _apply_periods(conn, spec, import_id)
            )
            finish(conn, import_id, rows=count, applied=outcome.applied, skipped=count - outcome.applied)
            _announce(conn, spec, import_id, outcome, count)
            persons = sorted({r.person_no for r in parsed.rows})
            audit.record(
                conn,
                ctx,
                action=Action.CREATE,
                subjects=persons if len(persons) <= SUBJECT_LIMIT else [],
                detail={
                    "import": kind,
                    "file": file_name,
                    "import_id": import_id,
                    "rows": count,
                    "persons": len(persons),
                    "applied": outcome.applied,
                    "corrected": outcome.corrected,
                    # A city-wide file: the persons are those of the import's rows (import_id).
                    **({"subjects": "import_id"} if len(persons) > SUBJECT_LIMIT else {}),
                },
            )
            return FactsImportResult(
                import_id,
                kind,
                file_name,
                count,
                outcome.applied,
                count - outcome.applied,
                False,
                outcome.corrected,
            )
    except ImportRejected as exc:
        exc.import_id = record_rejection(
            engine,
            kind=kind,
            file_name=file_name,
            sha=sha,
            staff_id=ctx.staff_id,
            errors=exc.errors,
            rows=count,
        )
        with engine.begin() as conn:  # the import's own transaction (and its log row) was rolled back
            audit.record(
                conn,
                ctx,
                action=Action.CREATE,
                outcome=Outcome.ERROR,
                detail={
                    "import": kind,
                    "file": file_name,
                    "import_id": exc.import_id,
                    "errors": len(exc.errors),
                },
            )
        raise


def _safe_name(file_name: str) -> str:
    """The file name as logged and listed: a 12-digit run that could be a 個人番号 (a time stamp
    such as ``kazei_202604011234.csv`` may pass the check digit) is masked, never stored."""
    if not contains_my_number(file_name):
        return file_name
    masked = re.sub(r"[0-9０-９]{4}[-\s]?[0-9０-９]{4}[-\s]?[0-9０-９]{4}", "************", file_name)
    return masked if not contains_my_number(masked) else re.sub(r"[0-9０-９]", "*", file_name)


# -- loading into a temporary table ----------------------------------------------------------------

_TAX_COLUMNS = TaxRow._fields[3:]  # fiscal_year … dependants, in the order TaxRow holds them
_TAX_TYPES = "int, boolean, text, bigint, bigint, bigint, bigint, bigint, bigint, bigint, int"
# The kind's own columns of each period table (the file columns they come from: facts_layouts).
_PERIOD_COLUMNS: dict[str, tuple[str, ...]] = {
    "welfare_period": ("household_no", "welfare_office", "proxy_payment"),
    "old_age_pension_period": (),
    "medical_insurance": ("insurer_no", "insurer_kind", "symbol", "number", "insured_kind"),
}
_PERIOD_TYPES = {
    "household_no": "text",
    "welfare_office": "text",
    "proxy_payment": "boolean",
    "insurer_no": "text",
    "insurer_kind": "text",
    "symbol": "text",
    "number": "text",
    "insured_kind": "text",
}


def _load(conn: Connection, spec: Layout, rows: list[Any]) -> None:
    """COPY the checked rows into ``facts_in``, then ``facts_rows`` = them with the person resolved."""
    columns: tuple[str, ...]
    if spec.kind == "kazei":
        columns = _TAX_COLUMNS
        types = [t.strip() for t in _TAX_TYPES.split(",")]
    else:
        columns = ("valid_from", "valid_to", *_PERIOD_COLUMNS[spec.table])
        types = ["date", "date", *(_PERIOD_TYPES[c] for c in columns[2:])]
    defs = ", ".join(f"{c} {t}" for c, t in zip(columns, types, strict=True))
    conn.execute(text("DROP TABLE IF EXISTS pg_temp.facts_in, pg_temp.facts_rows, pg_temp.facts_fresh"))
    conn.execute(
        text(
            f"CREATE TEMP TABLE facts_in (line_no int, person_no text, city_code text, {defs}) ON COMMIT DROP"
        )
    )
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(
        f"COPY facts_in (line_no, person_no, city_code, {', '.join(columns)}) FROM STDIN"
    ) as copy:
        if spec.kind == "kazei":
            for r in rows:
                copy.write_row(r)
        else:
            extra = columns[2:]
            for p in rows:
                copy.write_row(
                    (p.line_no, p.person_no, p.city_code, p.start, p.end, *(p.values[c] for c in extra))
                )
    conn.execute(
        text(
            "CREATE TEMP TABLE facts_rows ON COMMIT DROP AS "
            "SELECT i.*, p.person_id, p.city_code AS person_city FROM facts_in i "
            "LEFT JOIN identity.person p ON p.person_no = i.person_no"
        )
    )
    # Temporary tables are never auto-analysed; the joins need the key columns' statistics only.
    conn.execute(text("ANALYZE facts_rows (person_no, person_id)"))


def _person_errors(conn: Connection) -> list[RowError]:
    rows = conn.execute(
        text(
            "SELECT line_no, person_no, person_id IS NULL AS unknown FROM facts_rows "
            "WHERE person_id IS NULL OR person_city <> city_code ORDER BY line_no LIMIT :limit"
        ),
        {"limit": MAX_ERRORS},
    )
    return [
        RowError(r.line_no, r.person_no, fl.PERSON, "宛名が登録されていません")
        if r.unknown
        else RowError(r.line_no, r.person_no, fl.CITY, "宛名の市区町村コードと一致しません")
        for r in rows
    ]


# -- applying --------------------------------------------------------------------------------------


def _apply_tax(conn: Connection, import_id: int) -> _Applied:
    """One current row per person and 年度: a different row supersedes it (更正), an equal one is skipped."""
    values = ", ".join(f"t.{c}" for c in _TAX_COLUMNS[1:])
    incoming = ", ".join(f"r.{c}" for c in _TAX_COLUMNS[1:])
    corrected = conn.execute(
        text(
            "WITH upd AS (UPDATE identity.tax_income t SET superseded_at = now() FROM facts_rows r "
            "WHERE t.person_id = r.person_id AND t.fiscal_year = r.fiscal_year AND t.superseded_at IS NULL "
            f"AND ({values}) IS DISTINCT FROM ({incoming}) RETURNING t.person_id, t.fiscal_year) "
            "SELECT person_id, fiscal_year, count(*) OVER () AS n FROM upd LIMIT :limit"
        ),
        {"limit": EVENT_LIMIT + 1},
    ).all()
    columns = ", ".join(_TAX_COLUMNS)
    inserted = conn.execute(
        text(
            f"WITH ins AS (INSERT INTO identity.tax_income (person_id, {columns}, import_id) "
            f"SELECT r.person_id, {', '.join(f'r.{c}' for c in _TAX_COLUMNS)}, :import_id FROM facts_rows r "
            "WHERE NOT EXISTS (SELECT 1 FROM identity.tax_income t WHERE t.person_id = r.person_id "
            "AND t.fiscal_year = r.fiscal_year AND t.superseded_at IS NULL) "
            "RETURNING person_id, fiscal_year, taxable, total_income) "
            "SELECT p.person_no, x.person_id, x.fiscal_year, x.taxable, x.total_income, x.n "
            "FROM (SELECT *, count(*) OVER () AS n FROM ins LIMIT :limit) x "
            "JOIN identity.person p ON p.person_id = x.person_id ORDER BY p.person_no, x.fiscal_year"
        ),
        {"import_id": import_id, "limit": EVENT_LIMIT + 1},
    ).all()
    applied = inserted[0].n if inserted else 0
    n_corrected = corrected[0].n if corrected else 0
    if applied > EVENT_LIMIT:
        return _Applied(applied, n_corrected, None)
    replaced = {(r.person_id, r.fiscal_year) for r in corrected}
    events = [
        (
            r.person_no,
            "corrected" if (r.person_id, r.fiscal_year) in replaced else "new",
            None,
            {"fiscal_year": r.fiscal_year, "taxable": r.taxable, "total_income": r.total_income},
        )
        for r in inserted
    ]
    return _Applied(applied, n_corrected, events)


def _apply_periods(conn: Connection, spec: Layout, import_id: int) -> _Applied:
    """A period of the file replaces every live period of the person it overlaps (the source system's
    record is the truth: 廃止・喪失 now known, a corrected start); an equal period is skipped."""
    own = _PERIOD_COLUMNS[spec.table]
    table = f"identity.{spec.table}"
    same = "".join(f" AND w.{c} IS NOT DISTINCT FROM r.{c}" for c in own)
    conn.execute(
        text(
            "CREATE TEMP TABLE facts_fresh ON COMMIT DROP AS "
            "SELECT r.*, daterange(r.valid_from, r.valid_to, '[)') AS valid FROM facts_rows r "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} w WHERE w.person_id = r.person_id "
            "AND w.superseded_at IS NULL AND w.valid = daterange(r.valid_from, r.valid_to, '[)')"
            f"{same})"
        )
    )
    conn.execute(text("ANALYZE facts_fresh"))
    corrected = conn.execute(
        text(
            f"WITH upd AS (UPDATE {table} w SET superseded_at = now() FROM facts_fresh f "
            "WHERE w.person_id = f.person_id AND w.superseded_at IS NULL AND w.valid && f.valid "
            "RETURNING w.person_id) SELECT person_id, count(*) OVER () AS n FROM upd LIMIT :limit"
        ),
        {"limit": EVENT_LIMIT + 1},
    ).all()
    extra = "".join(f", {c}" for c in own)
    announced = {"proxy_payment", "insurer_kind", "insured_kind"}  # no numbers in events
    shown = "".join(f", x.{c}" for c in own if c in announced)
    inserted = conn.execute(
        text(
            f"WITH ins AS (INSERT INTO {table} (person_id, valid{extra}, import_id) "
            f"SELECT person_id, valid{extra}, :import_id FROM facts_fresh "
            f"RETURNING person_id, lower(valid) AS valid_from, upper(valid) AS valid_to{extra}) "
            f"SELECT p.person_no, x.person_id, x.valid_from, x.valid_to, x.n{shown} "
            "FROM (SELECT *, count(*) OVER () AS n FROM ins LIMIT :limit) x "
            "JOIN identity.person p ON p.person_id = x.person_id ORDER BY p.person_no, x.valid_from"
        ),
        {"import_id": import_id, "limit": EVENT_LIMIT + 1},
    ).all()
    applied = inserted[0].n if inserted else 0
    n_corrected = corrected[0].n if corrected else 0
    if applied > EVENT_LIMIT:
        return _Applied(applied, n_corrected, None)
    replaced = {r.person_id for r in corrected}
    events = []
    for r in inserted:
        payload = {"valid_from": r.valid_from, "valid_to": r.valid_to}  # valid_to: exclusive, None = open
        payload |= {c: getattr(r, c) for c in own if c in announced}
        events.append((r.person_no, "corrected" if r.person_id in replaced else "new", r.valid_from, payload))
    return _Applied(applied, n_corrected, events)


def _announce(conn: Connection, spec: Layout, import_id: int, outcome: _Applied, rows: int) -> None:
    """The outbox: one event per changed row, or one for the whole import (city-wide files)."""
    if outcome.events is None:
        outbox.emit(
            conn,
            f"identity.facts.{spec.topic}.loaded",
            str(import_id),
            {
                "import_id": import_id,
                "kind": spec.kind,
                "rows": rows,
                "applied": outcome.applied,
                "corrected": outcome.corrected,
            },
        )
        return
    outbox.emit_many(
        conn,
        [
            (
                f"identity.facts.{spec.topic}.changed",
                person_no,
                occurred_on,
                {"person_no": person_no, "change": change, "import_id": import_id, **payload},
            )
            for person_no, change, occurred_on, payload in outcome.events
        ],
    )


# -- the command -----------------------------------------------------------------------------------

_console = Console()


def facts_command(
    kind: str = typer.Argument(
        ..., help="kazei（課税情報） | seiho（生活保護） | rofuku（老齢福祉年金） | iryo（医療保険）"
    ),
    path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="取込ファイル（CSV）"),
) -> None:
    """課税情報・生活保護・老齢福祉年金・医療保険のファイルを取り込む（様式: docs/layouts/facts.md）。

    Runs as the batch principal; on a rejected file prints the エラーリスト and exits with 1."""
    import time

    from kiban.db.engine import get_engine
    from kiban.identity.repo import IdentityError
    from kiban.security.batch import batch_context, ensure_batch_principal
    from kiban.security.context import Business

    if kind not in LAYOUTS:
        _console.print(f"[red]取込の種類は次のいずれかです: {' | '.join(LAYOUTS)}[/red]")
        raise typer.Exit(2)
    engine = get_engine()
    with engine.begin() as conn:
        ensure_batch_principal(conn)
        ctx = batch_context(conn, Business.ATENA, "atena.import", f"{LAYOUTS[kind].label}の取込 {path.name}")
    started = time.perf_counter()
    data = path.read_bytes()

    def say(step: str) -> None:
        _console.print(f"  {step} …（{time.perf_counter() - started:.1f} 秒）")

    _console.print(f"{LAYOUTS[kind].label}: {path.name}（{len(data):,} バイト）")
    try:
        result = import_facts(engine, kind, data, path.name, ctx, progress=say)
    except ImportRejected as exc:
        _console.print(f"[red]{exc}[/red]（取込番号 {exc.import_id}）")
        table = Table("行", "宛名番号", "項目", "内容")
        for e in exc.errors[:200]:
            table.add_row(str(e.line_no), e.record_key, e.field, e.message)
        _console.print(table)
        if len(exc.errors) > 200:
            _console.print(
                f"… ほか {len(exc.errors) - 200:,} 件（画面「取込」でエラーリスト全体を確認できます）"
            )
        raise typer.Exit(1) from None
    except IdentityError as exc:
        _console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    seconds = time.perf_counter() - started
    if result.already_imported:
        _console.print(f"このファイルは取込済みです（取込番号 {result.import_id}）。変更はありません。")
        return
    _console.print(
        f"取り込みました（取込番号 {result.import_id}）: {result.rows:,} 件、反映 {result.applied:,} 件"
        f"（うち訂正 {result.corrected:,} 件）、同じ内容のため省略 {result.skipped:,} 件、{seconds:.1f} 秒"
    )
