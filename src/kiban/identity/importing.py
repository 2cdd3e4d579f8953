"""What every file import of the hub shares (取込の共通処理): reading a documented CSV layout, checking
each row into an error list (エラーリスト), and recording the import.

The rule (domain.md §10.11; seed 000 リスク対策: 論理チェックでエラーとなったデータは取り込まない):
validate the whole file first; if any row is bad, import **nothing** and return the error list, each
entry naming the line, the record (宛名番号 or event id) and the field. The rejected import and its
error list are kept (``identity.import_batch`` / ``import_error``) in their own transaction, so the
operator can print the list later. A file already imported (same kind, same SHA-256) is not applied
again.

Error messages never echo a 個人番号; they name the field (項目名) and what is wrong.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from kiban.identity import tables as t
from kiban.identity.repo import IdentityError
from kiban.security import guard
from kiban.security.context import AccessContext, Action
from kiban.shared.mynumber import contains_my_number

MAX_ERRORS = 1000  # an error list longer than this is cut (the file is wrong as a whole)


@dataclass(frozen=True)
class RowError:
    """One entry of the エラーリスト."""

    line_no: int
    record_key: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.line_no}行目" + (f"（{self.record_key}）" if self.record_key else "")
        return f"{where} {self.field}: {self.message}" if self.field else f"{where} {self.message}"


class ImportRejected(IdentityError):
    """The file was not imported; ``errors`` is the error list."""

    def __init__(
        self, errors: Sequence[RowError], *, import_id: int | None = None, total: int | None = None
    ) -> None:
        self.errors = list(errors)
        self.import_id = import_id
        count = total if total is not None else len(self.errors)
        super().__init__(f"取込を中止しました: エラー {count} 件（1件も取り込んでいません）")


@dataclass
class ImportResult:
    import_id: int
    kind: str
    file_name: str
    rows: int
    applied: int
    skipped: int
    already_imported: bool = False


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def read_csv(data: bytes, header: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
    """Rows of a documented layout: UTF-8 (a BOM is tolerated), a header row equal to ``header``.

    Yields (line number, fields). A wrong header or encoding raises ImportRejected at once."""
    try:
        body = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportRejected(
            [RowError(line, "", "", "UTF-8 ではありません（文字コードを確認してください）")]
        ) from None
    reader = csv.reader(io.StringIO(body, newline=""))
    first = next(reader, None)
    if first is None:
        raise ImportRejected([RowError(1, "", "", "ファイルが空です")])
    if [h.strip() for h in first] != list(header):
        raise ImportRejected(
            [RowError(1, "", "見出し行", "項目名が様式と一致しません（様式: " + ",".join(header) + "）")]
        )
    for fields in reader:
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        yield reader.line_num, fields


@dataclass
class Row:
    """One row under validation: typed accessors that add to the error list instead of raising."""

    line_no: int
    values: dict[str, str]
    errors: list[RowError]
    key: str = ""
    _bad: bool = field(default=False, init=False)

    @classmethod
    def of(cls, line_no: int, fields: list[str], header: Sequence[str], errors: list[RowError]) -> Row:
        row = cls(line_no, {}, errors)
        if len(fields) != len(header):
            row.error("", f"項目数が {len(fields)} です（様式は {len(header)} 項目）")
            return row
        row.values = {h: v.strip() for h, v in zip(header, fields, strict=True)}
        return row

    @property
    def ok(self) -> bool:
        return not self._bad

    def error(self, field_name: str, message: str) -> None:
        self._bad = True
        if contains_my_number(message):  # a defence: messages are ours, but never risk it
            message = "値が不正です"
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(RowError(self.line_no, self.key, field_name, message))

    def raw(self, name: str) -> str:
        return self.values.get(name, "")

    def text(self, name: str, *, required: bool = True, max_len: int = 200) -> str | None:
        value = self.raw(name)
        if not value:
            if required and self.values:
                self.error(name, "必須です")
            return None
        if len(value) > max_len:
            self.error(name, f"{max_len}文字を超えています")
            return None
        return value

    def digits(self, name: str, length: int | None = None, *, required: bool = True) -> str | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        if not (value.isascii() and value.isdigit()) or (length is not None and len(value) != length):
            self.error(name, f"{length}桁の半角数字です" if length else "半角数字です")
            return None
        return value

    def integer(self, name: str, *, required: bool = True, minimum: int = 0) -> int | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        try:
            number = int(value)
        except ValueError:
            self.error(name, "整数ではありません")
            return None
        if number < minimum:
            self.error(name, f"{minimum} 以上です")
            return None
        return number

    def date(self, name: str, *, required: bool = True) -> date | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        try:
            return date.fromisoformat(value) if len(value) == 10 else _bad_date()
        except ValueError:
            self.error(name, "日付は YYYY-MM-DD の形式です（実在する日付）")
            return None

    def choice(self, name: str, options: Sequence[str], *, required: bool = True) -> str | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        if value not in options:
            self.error(name, "次のいずれかです: " + "・".join(options))
            return None
        return value


def _bad_date() -> date:
    raise ValueError("not YYYY-MM-DD")


def already_imported(conn: Connection, kind: str, sha: bytes) -> int | None:
    found = conn.execute(
        select(t.import_batch.c.import_id).where(
            t.import_batch.c.kind == kind,
            t.import_batch.c.file_sha256 == sha,
            t.import_batch.c.status == "imported",
        )
    ).scalar()
    return int(found) if found is not None else None


def begin(conn: Connection, *, kind: str, file_name: str, sha: bytes, staff_id: int | None) -> int:
    return int(
        conn.execute(
            insert(t.import_batch)
            .values(kind=kind, file_name=file_name, file_sha256=sha, status="running", staff_id=staff_id)
            .returning(t.import_batch.c.import_id)
        ).scalar_one()
    )


def finish(conn: Connection, import_id: int, *, rows: int, applied: int, skipped: int) -> None:
    conn.execute(
        update(t.import_batch)
        .where(t.import_batch.c.import_id == import_id)
        .values(
            status="imported",
            row_count=rows,
            applied_count=applied,
            skipped_count=skipped,
            finished_at=t.func_now(),
        )
    )


def record_rejection(
    engine: Engine,
    *,
    kind: str,
    file_name: str,
    sha: bytes,
    staff_id: int | None,
    errors: Sequence[RowError],
    rows: int,
    import_id: int | None = None,
) -> int:
    """Keep the rejected import and its error list (own transaction: the import's was rolled back).

    ``import_id``: an import recorded as running in its own committed transaction (the full load),
    now rejected; without it a new record is made.
    """
    with engine.begin() as conn:
        if import_id is None:
            import_id = begin(conn, kind=kind, file_name=file_name, sha=sha, staff_id=staff_id)
        if errors:
            seen: set[tuple[int, str]] = set()
            params = []
            for e in errors:
                if (e.line_no, e.field) in seen:
                    continue
                seen.add((e.line_no, e.field))
                params.append(
                    {
                        "import_id": import_id,
                        "line_no": e.line_no,
                        "record_key": e.record_key,
                        "field": e.field,
                        "message": e.message,
                    }
                )
            conn.execute(insert(t.import_error), params)
        conn.execute(
            update(t.import_batch)
            .where(t.import_batch.c.import_id == import_id)
            .values(status="rejected", row_count=rows, error_count=len(errors), finished_at=t.func_now())
        )
    return import_id


def running(conn: Connection, kind: str) -> list[int]:
    """Imports of ``kind`` recorded as running."""
    found = conn.execute(
        select(t.import_batch.c.import_id).where(
            t.import_batch.c.kind == kind, t.import_batch.c.status == "running"
        )
    )
    return [int(i) for i in found.scalars()]


def fail(conn: Connection, import_id: int) -> None:
    """A running import that stopped on something other than its data (status ``failed``)."""
    conn.execute(
        update(t.import_batch)
        .where(t.import_batch.c.import_id == import_id, t.import_batch.c.status == "running")
        .values(status="failed", finished_at=t.func_now())
    )


def error_list(conn: Connection, import_id: int) -> list[RowError]:
    rows = conn.execute(
        select(t.import_error)
        .where(t.import_error.c.import_id == import_id)
        .order_by(t.import_error.c.line_no, t.import_error.c.field)
    )
    return [RowError(r.line_no, r.record_key, r.field, r.message) for r in rows]


def read_file(path: Path) -> tuple[str, bytes]:
    return path.name, path.read_bytes()


@dataclass(frozen=True)
class ImportRecord:
    """One line of the import list (取込履歴)."""

    import_id: int
    kind: str
    file_name: str
    status: str
    rows: int
    applied: int
    skipped: int
    errors: int
    staff_code: str | None
    started_at: Any
    finished_at: Any


def list_imports(conn: Connection, ctx: AccessContext, *, limit: int = 50) -> list[ImportRecord]:
    """取込履歴 for the operator's screen (no personal data: counts and file names only)."""
    guard.require(conn, ctx, action=Action.VIEW, detail={"screen": "取込履歴"})
    return [_record(r) for r in conn.execute(_import_query().limit(limit))]


def import_detail(
    conn: Connection, ctx: AccessContext, import_id: int
) -> tuple[ImportRecord, list[RowError]]:
    """One import and its error list (エラーリスト); the list names 宛名番号, so the view is logged."""
    # The grant first (a refusal is logged): a caller without one learns nothing, not even whether
    # the import exists. The logged view, with the persons named, follows once they are known.
    guard.require(conn, ctx, action=Action.VIEW, log=False)
    row = conn.execute(_import_query().where(t.import_batch.c.import_id == import_id)).first()
    if row is None:
        raise IdentityError("指定の取込はありません")
    errors = error_list(conn, import_id)
    keys = sorted({e.record_key for e in errors if e.record_key.isdigit() and len(e.record_key) == 10})
    guard.require(
        conn,
        ctx,
        action=Action.VIEW,
        subjects=keys[:500],
        detail={"screen": "エラーリスト", "import_id": import_id},
    )
    return _record(row), errors


def _import_query() -> Any:
    from kiban.security import tables as st

    return (
        select(t.import_batch, st.staff.c.code.label("staff_code"))
        .select_from(t.import_batch.outerjoin(st.staff, st.staff.c.staff_id == t.import_batch.c.staff_id))
        .order_by(t.import_batch.c.import_id.desc())
    )


def _record(r: Any) -> ImportRecord:
    return ImportRecord(
        r.import_id, r.kind, r.file_name, r.status, r.row_count, r.applied_count, r.skipped_count,
        r.error_count, r.staff_code, r.started_at, r.finished_at,
    )  # fmt: skip
