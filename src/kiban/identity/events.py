"""Resident events from the resident registry (住民異動): 出生, 転入, 転出予定, 転出確定, 転居, 死亡,
氏名変更, 世帯変更, 職権修正 — imported from the documented CSV layout docs/layouts/resident-events.md.

Import rules (domain.md §10.11; seed 000 リスク対策: 論理チェックでエラーとなったデータは取り込まない):

- the whole file is checked first: every row by itself (this module), then every row against the
  hub and the rows before it in the file (``events_apply.plan``: the 宛名番号 exists or not, the
  住民区分 allows the event, no event dated before the person's current record, 個人番号 not held by
  anyone else). One bad row and nothing is imported: ``ImportRejected`` carries the エラーリスト
  (line, 異動ID, 宛名番号, 項目名), also kept with the rejected import;
- the same file again (SHA-256) changes nothing; a row whose 異動ID is already recorded with the same
  content is skipped, with different content it is an error;
- everything is applied in ONE transaction: ``identity.resident_event`` (the row without the
  個人番号), the person's effective-dated versions, household memberships, the vault, and one outbox
  event ``identity.resident.<type>`` per applied event, with one access-log row for the import.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import typer
from sqlalchemy import Connection, Engine, select, text

from kiban.identity import importing, model, repo, vault
from kiban.identity import tables as t
from kiban.identity.importing import ImportRejected, ImportResult, Row, RowError
from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action, Outcome
from kiban.shared import clock
from kiban.shared.mynumber import contains_my_number

KIND: Final = "resident_events"
CLEAR: Final = "-"  # in a change event: "delete this optional item" (empty = unchanged)
SUBJECT_LIMIT: Final = 500  # the access-log row lists the persons of imports up to this size

HEADER: Final = (
    "異動ID", "市区町村コード", "異動事由", "異動日", "届出日", "宛名番号", "個人番号", "世帯番号", "続柄",
    "氏", "名", "氏カナ", "名カナ", "通称名", "通称名カナ", "性別", "生年月日", "郵便番号", "住所", "方書",
    "地区コード", "転入前住所", "転出先住所", "国外区分", "備考",
)  # fmt: skip


class EventType(StrEnum):
    """異動事由 of the layout, with the outbox topic ``identity.resident.<topic>``."""

    BIRTH = "出生"
    MOVED_IN = "転入"
    MOVE_OUT_PLANNED = "転出予定"
    MOVED_OUT = "転出確定"
    MOVED_WITHIN = "転居"
    DIED = "死亡"
    RENAMED = "氏名変更"
    HOUSEHOLD_CHANGED = "世帯変更"
    CORRECTED = "職権修正"

    @property
    def topic(self) -> str:
        return "identity.resident." + _TOPICS[self]


_TOPICS: Final = dict(
    zip(
        EventType,
        ("birth", "moved_in", "move_out_planned", "moved_out", "moved_within", "died", "renamed",
         "household_changed", "corrected"),
        strict=True,
    )
)  # fmt: skip

# Which columns each 異動事由 uses (docs/layouts/resident-events.md, 異動事由ごとの記載): R required,
# O optional, C optional and "-" deletes the item, . must be empty. 異動ID, 市区町村コード, 異動事由,
# 異動日 and 宛名番号 are always required.
_RULE_COLUMNS: Final = HEADER[4:5] + HEADER[6:]
_RULE_TABLE: Final = """
#         届出 番号 世帯 続柄 氏 名 氏カ 名カ 通称 通カ 性別 生年 郵便 住所 方書 地区 転入前 転出先 国外 備考
出生        R   O   R   R   R  R  R   R   O   O   R   R   O   R   O   O   .    .    .   O
転入        R   O   R   R   R  O  R   O   O   O   R   R   O   R   O   O   R    .    O   O
転出予定    R   .   .   .   .  .  .   .   .   .   .   .   O   .   O   .   .    R    O   O
転出確定    O   .   .   .   .  .  .   .   .   .   .   .   O   .   O   .   .    O    .   O
転居        R   .   O   O   .  .  .   .   .   .   .   .   O   R   O   O   .    .    .   O
死亡        R   .   .   .   .  .  .   .   .   .   .   .   .   .   .   .   .    .    .   O
氏名変更    R   .   .   .   O  C  O   C   C   C   .   .   .   .   .   .   .    .    .   O
世帯変更    O   .   R   R   .  .  .   .   .   .   .   .   .   .   .   .   .    .    .   O
職権修正    O   O   .   .   O  C  O   C   C   C   O   O   C   O   C   C   .    .    .   R
"""
RULES: Final[dict[EventType, dict[str, str]]] = {
    EventType(line.split()[0]): {
        column: mark for column, mark in zip(_RULE_COLUMNS, line.split()[1:], strict=True) if mark != "."
    }
    for line in _RULE_TABLE.strip().splitlines()[1:]
}
# 項目名 → PersonData field.
ITEMS: Final = dict(
    zip(
        HEADER[9:21],
        ("family_name", "given_name", "family_kana", "given_kana", "alias_name", "alias_kana", "sex",
         "birth_date", "postal_code", "address", "katagaki", "district_code"),
        strict=True,
    )
)  # fmt: skip
LABELS: Final = {v: k for k, v in ITEMS.items()}
_ALWAYS: Final = ("異動ID", "市区町村コード", "異動事由", "異動日", "宛名番号")
_EVENT_ID_RE: Final = re.compile(r"^[0-9A-Za-z-]{1,20}$")
# 届出 is made after the fact for these (住民基本台帳法第22条・第23条: 14日以内; 戸籍法第49条・第86条).
_NOTIFIED_AFTER: Final = {EventType.BIRTH, EventType.MOVED_IN, EventType.MOVED_WITHIN, EventType.DIED}


@dataclass(frozen=True)
class EventRowError(RowError):
    """An エラーリスト entry with the row's 宛名番号 too (``record_key`` is the 異動ID)."""

    person_no: str = ""


@dataclass(frozen=True)
class ParsedEvent:
    """One row that passed the checks of its own fields."""

    line_no: int
    event_id: str
    city_code: str
    type: EventType
    effective_on: date
    notified_on: date | None
    person_no: str
    digits: str | None  # the 個人番号, checked; never stored outside the vault
    household_no: str | None
    relation: str | None
    items: dict[str, Any]  # PersonData field → value; None = delete ("-")
    previous_address: str | None
    destination: str | None
    abroad: bool
    note: str | None
    payload: dict[str, str]  # the row without the 個人番号 (identity.resident_event.payload)
    content_sha256: bytes


def parse_row(row: Row, *, today: date) -> ParsedEvent | None:
    """Check one row by itself; errors go to the row's error list."""
    row.key = "" if contains_my_number(row.raw("異動ID")) else row.raw("異動ID")[:20]
    for name, value in row.values.items():
        if name != "個人番号" and contains_my_number(value):
            row.error(name, "個人番号と判別される12桁の数字を含めることはできません")
    if not row.ok:
        return None
    event_id = row.text("異動ID", max_len=20)
    if event_id is not None and not _EVENT_ID_RE.match(event_id):
        row.error("異動ID", "半角英数字とハイフンで20文字以内です")
    city_code = row.digits("市区町村コード", 6)
    kind = row.choice("異動事由", [str(e) for e in EventType])
    effective_on = row.date("異動日")
    person_no = row.digits("宛名番号", 10)
    if kind is None:
        return None
    etype = EventType(kind)
    rules = RULES[etype]
    parsed: dict[str, Any] = {}
    items: dict[str, Any] = {}
    for name in HEADER:
        if name in _ALWAYS:
            continue
        rule = rules.get(name)
        value = row.raw(name)
        if rule is None:
            if value:
                row.error(name, f"{etype}では記載しません")
            continue
        if value == CLEAR and name in ITEMS:
            if rule == "C":
                items[ITEMS[name]] = None
            else:
                row.error(name, f"{etype}では「{CLEAR}」（削除）を指定できません")
            continue
        if not value:
            if rule == "R":
                row.error(name, "必須です")
            continue
        parsed[name] = _typed(row, name, value)
        if name in ITEMS and parsed[name] is not None:
            items[ITEMS[name]] = parsed[name]
    if effective_on and etype is not EventType.MOVE_OUT_PLANNED and effective_on > today:
        row.error("異動日", "未来の日付です（未来の日付は転出予定だけです）")
    notified_on = parsed.get("届出日")
    if notified_on and notified_on > today:
        row.error("届出日", "未来の日付です")
    if notified_on and effective_on and etype in _NOTIFIED_AFTER and notified_on < effective_on:
        row.error("届出日", "異動日より前です")
    birth = parsed.get("生年月日")
    if etype is EventType.BIRTH and birth and effective_on and birth != effective_on:
        row.error("生年月日", "出生の異動日と一致しません")
    if etype is EventType.MOVED_IN and birth and effective_on and birth > effective_on:
        row.error("生年月日", "異動日より後です")
    if etype is EventType.MOVED_WITHIN and bool(row.raw("世帯番号")) != bool(row.raw("続柄")):
        row.error(
            "続柄" if row.raw("世帯番号") else "世帯番号",
            "転居で世帯を変える場合は世帯番号と続柄の両方を記載します",
        )
    if etype in (EventType.MOVE_OUT_PLANNED, EventType.MOVED_OUT) and not row.raw("転出先住所"):
        for name in ("郵便番号", "方書"):
            if row.raw(name):
                row.error(name, "転出先の郵便番号・方書は転出先住所と一緒に記載します")
    if etype is EventType.RENAMED and not items:
        row.error("氏", "氏名変更では氏・名・氏カナ・名カナ・通称名・通称名カナのいずれかを記載します")
    if not row.ok or None in (event_id, city_code, effective_on, person_no):
        return None
    payload = {k: v for k, v in row.values.items() if k != "個人番号"}
    payload["個人番号の記載"] = "あり" if row.raw("個人番号") else "なし"
    return ParsedEvent(
        line_no=row.line_no,
        event_id=str(event_id),
        city_code=str(city_code),
        type=etype,
        effective_on=effective_on,  # type: ignore[arg-type]
        notified_on=notified_on,
        person_no=str(person_no),
        digits=parsed.get("個人番号"),
        household_no=parsed.get("世帯番号"),
        relation=parsed.get("続柄"),
        items=items,
        previous_address=parsed.get("転入前住所"),
        destination=parsed.get("転出先住所"),
        abroad=parsed.get("国外区分") == "1",
        note=parsed.get("備考"),
        payload=payload,
        content_sha256=content_digest(payload),
    )


def _typed(row: Row, name: str, value: str) -> Any:
    if name in ("届出日", "生年月日"):
        return row.date(name)
    if name == "個人番号":
        try:
            return vault.check_number(value)
        except vault.InvalidMyNumber as exc:  # the message never echoes the number
            row.error(name, str(exc))
            return None
    if name == "世帯番号":
        return row.digits(name, 10)
    if name == "続柄":
        return row.choice(name, sorted(model.RELATIONS))
    if name == "性別":
        sex = row.choice(name, ["1", "2"])
        return int(sex) if sex else None
    if name == "国外区分":
        return row.choice(name, ["1"])
    return row.text(
        name, max_len=100 if name in ("氏", "名", "氏カナ", "名カナ", "通称名", "通称名カナ") else 200
    )


def content_digest(payload: dict[str, str]) -> bytes:
    """SHA-256 of the row as recorded (without the 個人番号, which is compared through the vault)."""
    canonical = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).digest()


@dataclass
class Parsed:
    """A file read and checked row by row."""

    events: list[ParsedEvent]
    errors: list[RowError]
    rows: int
    failed: dict[str, int]  # 宛名番号 → first line whose own checks failed
    persons: dict[int, str]  # line → 宛名番号 as written (for the error list)


def parse(data: bytes, *, today: date) -> Parsed:
    """All rows of a file. Raises ImportRejected on a bad header or encoding."""
    out = Parsed([], [], 0, {}, {})
    seen_ids: dict[str, int] = {}
    for line_no, fields in importing.read_csv(data, HEADER):
        out.rows += 1
        if len(fields) == len(HEADER):
            out.persons[line_no] = fields[HEADER.index("宛名番号")].strip()[:10]
        row = Row.of(line_no, fields, HEADER, out.errors)
        if not row.values:
            continue
        event = parse_row(row, today=today)
        if event is not None and event.event_id in seen_ids:
            row.error("異動ID", f"ファイル内で重複しています（{seen_ids[event.event_id]}行目と同じ）")
            event = None
        if event is None:
            out.failed.setdefault(row.raw("宛名番号"), line_no)
            continue
        seen_ids[event.event_id] = line_no
        out.events.append(event)
    return out


# -- the service -----------------------------------------------------------------------------------


def import_events(
    engine: Engine, data: bytes, file_name: str, ctx: AccessContext, *, today: date | None = None
) -> ImportResult:
    """Import a resident-events file (docs/layouts/resident-events.md), all or nothing.

    Raises ImportRejected (``.errors``: EventRowError entries; ``.import_id``: the recorded
    rejection) when any row is bad."""
    from kiban.identity import events_apply

    today = today or clock.today()
    sha = importing.digest(data)
    count = 0
    persons: dict[int, str] = {}  # line → 宛名番号, for the error list
    try:
        with engine.begin() as conn:
            guard.require(conn, ctx, action=Action.CREATE, log=False)
            # One import at a time: the checks read the state the apply step then changes.
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('identity.resident_events'))"))
            done = importing.already_imported(conn, KIND, sha)
            if done is not None:
                audit.record(
                    conn,
                    ctx,
                    action=Action.CREATE,
                    detail={"import": KIND, "file": file_name, "already_imported": done},
                )
                return _earlier_result(conn, done)
            parsed = parse(data, today=today)
            count, errors = parsed.rows, parsed.errors
            persons = parsed.persons
            fresh, skipped = _already_applied(conn, parsed.events, errors, parsed.failed)
            plans = events_apply.plan(conn, fresh, errors, today=today, failed=parsed.failed)
            if errors:
                raise ImportRejected(errors[: importing.MAX_ERRORS], total=len(errors))
            import_id = importing.begin(conn, kind=KIND, file_name=file_name, sha=sha, staff_id=ctx.staff_id)
            try:
                applied = events_apply.apply(conn, ctx, plans, import_id=import_id)
            except repo.IdentityError as exc:  # a check missed a case: nothing is kept, the row is named
                line = getattr(exc, "line_no", 0)
                raise ImportRejected(
                    [RowError(line, getattr(exc, "record_key", ""), "", f"反映できませんでした: {exc}")]
                ) from None
            importing.finish(conn, import_id, rows=count, applied=len(applied), skipped=skipped)
            subjects = sorted({p.person_no for p in applied})
            by_type: dict[str, int] = {}
            for p in applied:
                by_type[str(p.event.type)] = by_type.get(str(p.event.type), 0) + 1
            audit.record(
                conn,
                ctx,
                action=Action.CREATE if any(p.creates for p in applied) else Action.UPDATE,
                subjects=subjects if len(subjects) <= SUBJECT_LIMIT else [],
                detail={
                    "import": KIND,
                    "file": file_name,
                    "import_id": import_id,
                    "rows": count,
                    "applied": len(applied),
                    "skipped": skipped,
                    "persons": len(subjects),
                    "by_type": by_type,
                    # A large file: the persons are those of identity.resident_event with this import_id.
                    **({"subjects": "import_id"} if len(subjects) > SUBJECT_LIMIT else {}),
                },
            )
            return ImportResult(import_id, KIND, file_name, count, len(applied), skipped)
    except ImportRejected as exc:
        exc.errors = _with_persons(exc.errors, persons)
        exc.import_id = importing.record_rejection(
            engine,
            kind=KIND,
            file_name=file_name,
            sha=sha,
            staff_id=ctx.staff_id,
            errors=exc.errors,
            rows=count,
        )
        with engine.begin() as conn:  # the import's transaction (and its log row) was rolled back
            audit.record(
                conn,
                ctx,
                action=Action.CREATE,
                outcome=Outcome.ERROR,
                detail={
                    "import": KIND,
                    "file": file_name,
                    "import_id": exc.import_id,
                    "errors": len(exc.errors),
                },
            )
        raise


import_events_for_screen = import_events  # the 取込 screen's entry (same rules, the clerk's context)


def _earlier_result(conn: Connection, import_id: int) -> ImportResult:
    row = conn.execute(select(t.import_batch).where(t.import_batch.c.import_id == import_id)).one()
    return ImportResult(
        import_id,
        KIND,
        row.file_name,
        row.row_count,
        row.applied_count,
        row.skipped_count,
        already_imported=True,
    )


def _already_applied(
    conn: Connection, events: list[ParsedEvent], errors: list[RowError], failed: dict[str, int]
) -> tuple[list[ParsedEvent], int]:
    """Drop rows whose 異動ID is recorded with the same content (skipped); a different content is an error."""
    if not events:
        return [], 0
    recorded = {
        r.event_id: r
        for r in conn.execute(
            select(
                t.resident_event.c.event_id, t.resident_event.c.content_sha256, t.resident_event.c.person_id
            ).where(t.resident_event.c.event_id.in_([e.event_id for e in events]))
        )
    }
    fresh: list[ParsedEvent] = []
    skipped = 0
    for e in events:
        found = recorded.get(e.event_id)
        if found is None:
            fresh.append(e)
            continue
        same = bytes(found.content_sha256) == e.content_sha256
        if same and e.digits:  # the number is not in the digest: it must be the one the vault holds
            holder = vault.owner_of(conn, e.digits)
            same = holder is not None and holder.person_id == found.person_id
        if same:
            skipped += 1
        else:
            errors.append(
                RowError(e.line_no, e.event_id, "異動ID", "異動ID が既に別の内容で取り込まれています")
            )
            failed.setdefault(e.person_no, e.line_no)
    return fresh, skipped


def _with_persons(errors: list[RowError], persons: dict[int, str]) -> list[RowError]:
    """The error list with each row's 宛名番号, in line and column order."""
    out = [
        e
        if isinstance(e, EventRowError)
        else EventRowError(e.line_no, e.record_key, e.field, e.message, persons.get(e.line_no, ""))
        for e in errors
    ]
    return sorted(out, key=lambda e: (e.line_no, HEADER.index(e.field) if e.field in HEADER else -1))


# -- history for the person detail screen ---------------------------------------------------------


@dataclass(frozen=True)
class EventRecord:
    """One 住民異動 of a person as recorded (異動履歴). The payload never holds the 個人番号."""

    event_id: str
    event_type: str
    effective_on: date
    notified_on: date | None
    household_no: str | None
    payload: dict[str, Any]
    import_id: int | None
    recorded_at: datetime


def events_of(conn: Connection, ctx: AccessContext, person_no: str) -> list[EventRecord]:
    """異動履歴: the registry events of one person, oldest first. Logged as a view of this person."""
    guard.require(conn, ctx, action=Action.VIEW, subjects=[person_no], detail={"screen": "異動履歴"})
    ref = repo.ref_by_no(conn, person_no)
    rows = conn.execute(
        select(t.resident_event, t.household.c.household_no)
        .select_from(
            t.resident_event.outerjoin(
                t.household, t.household.c.household_id == t.resident_event.c.household_id
            )
        )
        .where(t.resident_event.c.person_id == ref.person_id)
        .order_by(t.resident_event.c.effective_on, t.resident_event.c.event_pk)
    )
    return [
        EventRecord(
            r.event_id,
            r.event_type,
            r.effective_on,
            r.notified_on,
            r.household_no,
            dict(r.payload),
            r.import_id,
            r.recorded_at,
        )
        for r in rows
    ]


# -- the batch command ----------------------------------------------------------------------------


def events_command(
    path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="住民異動ファイル（CSV）"
    ),
) -> None:
    """Import a resident-events file (docs/layouts/resident-events.md) as the batch principal; exit 1
    with the error list (行・異動ID・宛名番号・項目・内容) when it is rejected."""
    import time

    from rich.console import Console
    from rich.table import Table

    from kiban.db.engine import get_engine
    from kiban.security.batch import batch_context, ensure_batch_principal
    from kiban.security.context import Business

    console = Console()
    engine = get_engine()
    with engine.begin() as conn:
        ensure_batch_principal(conn)
        ctx = batch_context(conn, Business.ATENA, "atena.import", f"住民異動の取込 {path.name}")
    started = time.perf_counter()
    data = path.read_bytes()
    try:
        result = import_events(engine, data, path.name, ctx)
    except ImportRejected as exc:
        console.print(f"[red]{exc}[/red]（取込番号 {exc.import_id}）")
        table = Table("行", "異動ID", "宛名番号", "項目", "内容")
        for e in exc.errors[:200]:
            table.add_row(str(e.line_no), e.record_key, getattr(e, "person_no", ""), e.field, e.message)
        console.print(table)
        if len(exc.errors) > 200:
            console.print(
                f"… ほか {len(exc.errors) - 200:,} 件（画面「取込」でエラーリスト全体を確認できます）"
            )
        raise typer.Exit(1) from None
    except repo.IdentityError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    if result.already_imported:
        console.print(f"このファイルは取込済みです（取込番号 {result.import_id}）。変更はありません。")
        return
    console.print(
        f"取り込みました（取込番号 {result.import_id}）: {result.rows:,} 件、反映 {result.applied:,} 件、"
        f"取込済みのため省略 {result.skipped:,} 件、{time.perf_counter() - started:.1f} 秒"
    )
