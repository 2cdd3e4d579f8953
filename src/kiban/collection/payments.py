"""収納 and 消込: payment files from banks, 口座振替, コンビニ (速報・確報) and the counter, matched to
the 期別 by 納付番号 (docs/layouts/collection-payments.md).

An import is all-or-nothing: every record is checked first, and one bad record means nothing is
written and the エラーリスト names each bad record and field. It is idempotent twice over: the same
file again (sha256) changes nothing, and a record already imported from another file (same channel
and レコードID — a コンビニ 確報 repeating its 速報) is skipped; the same レコードID with different
content is an error. 消込 is set-based: several payments to one 期別 in one file are applied in
納付日・レコードID order; what exceeds the 期別's remaining amount is a 過誤納.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, Engine, text

from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action
from kiban.shared import clock

__all__ = [
    "CHANNELS",
    "HEADER",
    "PaymentError",
    "PaymentFileRejected",
    "PaymentImportResult",
    "PaymentRow",
    "RecordError",
    "apply_rows",
    "counter_payment",
    "import_payments",
    "payment_number",
    "valid_payment_number",
]

HEADER = ("レコードID", "納付番号", "納付日", "金額", "収納機関")
CHANNELS = {
    "bank": "金融機関窓口",
    "transfer": "口座振替",
    "konbini": "コンビニ収納",
    "pension": "年金特別徴収",
    "counter": "窓口収納",
}
BUSINESS_CODES = {"kaigo": "01", "kokuho": "02", "kouki": "03"}
MAX_AMOUNT = 99_999_999
_DIGITS20 = re.compile(r"^[0-9]{20}$")
_RECORD_ID = re.compile(r"^[0-9A-Za-z_-]{1,40}$")


class PaymentError(ValueError):
    """A refused request (message in Japanese, for the clerk)."""


@dataclass(frozen=True)
class RecordError:
    """One line of the エラーリスト: the file's line number, the field and what is wrong."""

    line: int
    field: str
    message: str


class PaymentFileRejected(PaymentError):
    """Nothing was imported: the file has bad records (``errors``)."""

    def __init__(self, errors: list[RecordError]) -> None:
        self.errors = errors
        super().__init__(f"収納ファイルに誤りが {len(errors)} 件あるため、取り込みませんでした")


@dataclass
class PaymentImportResult:
    file_id: int | None
    records: int
    imported: int = 0
    duplicates: int = 0
    applied: int = 0
    partial: int = 0
    over: int = 0
    unmatched: int = 0
    amount: int = 0
    already_imported: bool = False
    by_status: dict[str, int] = field(default_factory=dict)


def _luhn_chunk(chunk: str) -> int:
    """The Luhn sum of 4 digits whose rightmost digit sits at an even distance from the body's right
    end (doubled, as a digit sum), as are the one two to its left."""
    a, b, c, d = (int(x) for x in chunk)
    return a + (2 * b - 9 if b > 4 else 2 * b) + c + (2 * d - 9 if d > 4 else 2 * d)


# Every 4-digit chunk, counted from the right, is aligned the same way, so a table of the 10,000
# chunks gives the sum in five lookups: a 300,000-record file checks every 納付番号
# (bench/bench_collection_payments.py; 0.79 s digit by digit).
_LUHN4 = {f"{n:04d}": _luhn_chunk(f"{n:04d}") for n in range(10_000)}


def _check_digit(body: str) -> str:
    """Luhn check digit (mod 10) over the digits of ``body``: catches a mistyped digit and most
    swapped neighbours. Leading zeros add nothing, so the body is padded to whole chunks."""
    if len(body) != 19:
        body = body.zfill(-(-len(body) // 4) * 4)
        return str(-sum(_LUHN4[body[i : i + 4]] for i in range(0, len(body), 4)) % 10)
    t = _LUHN4  # the 納付番号's 19 digits, written out: this is the hot path of an import
    return str(-(t["0" + body[:3]] + t[body[3:7]] + t[body[7:11]] + t[body[11:15]] + t[body[15:]]) % 10)


def payment_number(business: str, fiscal_year: int, person_no: str, method: str, period: int) -> str:
    """納付番号 (20 digits): 業務2 + 年度4 + 宛名番号10 + 徴収方法1 + 期2 + check digit 1."""
    body = f"{BUSINESS_CODES[business]}{fiscal_year:04d}{person_no}{'1' if method == 'special' else '2'}{period:02d}"
    if len(body) != 19 or not body.isdigit():
        raise PaymentError(f"納付番号を作れません（宛名番号 {person_no}・期 {period}）")
    return body + _check_digit(body)


def valid_payment_number(value: str) -> bool:
    return bool(_DIGITS20.match(value)) and _check_digit(value[:19]) == value[19]


def _parse(
    data: bytes, today: date
) -> tuple[list[tuple[str, str, date, int, str | None, int]], list[RecordError]]:
    errors: list[RecordError] = []
    rows: list[tuple[str, str, date, int, str | None, int]] = []
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [RecordError(0, "ファイル", "UTF-8 ではありません")]
    reader = csv.reader(io.StringIO(content, newline=""))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != HEADER:
        return [], [RecordError(1, "見出し行", f"見出し行は {','.join(HEADER)} です")]
    seen: dict[str, int] = {}
    for line, record in enumerate(reader, start=2):
        if not record or record == [""]:
            continue
        if len(record) != len(HEADER):
            errors.append(RecordError(line, "列数", f"{len(HEADER)}列のところ {len(record)}列です"))
            continue
        record_id, payment_no, paid_on_text, amount_text, agency = map(str.strip, record)
        bad = len(errors)
        if not _RECORD_ID.match(record_id):
            errors.append(RecordError(line, "レコードID", "英数字・-・_ の1〜40文字で入力してください"))
        elif record_id in seen:
            errors.append(
                RecordError(line, "レコードID", f"{seen[record_id]}行目と重複しています: {record_id}")
            )
        else:
            seen[record_id] = line
        if not valid_payment_number(payment_no):
            errors.append(RecordError(line, "納付番号", "20桁の数字で、検査数字が正しくありません"))
        try:
            paid_on = date.fromisoformat(paid_on_text)
            if paid_on > today:
                errors.append(RecordError(line, "納付日", f"未来の日付です: {paid_on_text}"))
        except ValueError:
            errors.append(RecordError(line, "納付日", f"YYYY-MM-DD の日付ではありません: {paid_on_text!r}"))
            paid_on = today
        if not amount_text.isdigit() or not 0 < int(amount_text) <= MAX_AMOUNT:
            errors.append(
                RecordError(line, "金額", f"1〜{MAX_AMOUNT:,}円の整数で入力してください: {amount_text!r}")
            )
        if len(agency) > 40:
            errors.append(RecordError(line, "収納機関", "40文字以内で入力してください"))
        if len(errors) == bad:
            rows.append((record_id, payment_no, paid_on, int(amount_text), agency or None, line))
    return rows, errors


_SIZE = """
CREATE TEMP TABLE pay_sized ON COMMIT DROP AS
WITH fresh AS (
    SELECT i.*, r.receivable_id, r.amount - r.paid AS remaining
      FROM pay_in i LEFT JOIN collection.receivable r ON r.payment_no = i.payment_no
     WHERE NOT i.duplicate
), ordered AS (
    SELECT fresh.*,
           coalesce(sum(amount) OVER (PARTITION BY receivable_id ORDER BY paid_on, record_id
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
      FROM fresh
), sized AS (
    SELECT ordered.*,
           CASE WHEN receivable_id IS NULL THEN 0 ELSE greatest(0, least(amount, remaining - before)) END AS applied
      FROM ordered
)
SELECT record_id, payment_no, paid_on, amount, agency, receivable_id, applied,
       CASE WHEN receivable_id IS NULL THEN 0 ELSE amount - applied END AS excess,
       CASE WHEN receivable_id IS NULL THEN 'unmatched'
            WHEN applied = amount AND before + amount = remaining THEN 'applied'
            WHEN applied = amount THEN 'partial'
            ELSE 'over' END AS status
  FROM sized
"""

# The payments, and from the RETURNING of the same statement the 過誤納 of the over-payments: no
# second pass over collection.payment to find the ids just given.
_APPLY = """
WITH applied AS (
    INSERT INTO collection.payment
        (file_id, channel, record_id, payment_no, paid_on, amount, agency, receivable_id, applied, excess,
         status, recorded_by)
    SELECT :file, :channel, record_id, payment_no, paid_on, amount, agency, receivable_id, applied, excess,
           status, :staff
      FROM pay_sized
    RETURNING payment_id, receivable_id, excess
)
INSERT INTO collection.overpayment (business, person_id, fiscal_year, amount, cause, payment_id, receivable_id)
SELECT r.business, r.person_id, r.fiscal_year, a.excess, 'over_payment', a.payment_id, r.receivable_id
  FROM applied a JOIN collection.receivable r USING (receivable_id)
 WHERE a.excess > 0
"""

# From the temp table, not from collection.payment: the cost stays that of this file, however many
# payments the city has taken before.
_POST = """
UPDATE collection.receivable r SET paid = r.paid + s.applied, updated_at = now()
  FROM (SELECT receivable_id, sum(applied)::int AS applied FROM pay_sized
         WHERE receivable_id IS NOT NULL GROUP BY receivable_id) s
 WHERE r.receivable_id = s.receivable_id AND s.applied > 0
"""


def import_payments(
    engine: Engine,
    ctx: AccessContext,
    *,
    channel: str,
    data: bytes,
    file_name: str,
    today: date | None = None,
) -> PaymentImportResult:
    """Import one payment file and 消込 it (all-or-nothing, idempotent); see the module docstring."""
    if channel not in CHANNELS:
        raise PaymentError(f"収納区分 {channel!r} はありません（{'・'.join(CHANNELS)}）")
    sha = hashlib.sha256(data).hexdigest()
    with engine.connect() as conn:  # the same file again: answered before any parsing
        seen = conn.execute(
            text("SELECT file_id, records FROM collection.payment_file WHERE sha256 = :s"), {"s": sha}
        ).first()
    if seen is not None:
        return PaymentImportResult(int(seen.file_id), int(seen.records), already_imported=True)
    rows, errors = _parse(data, today or clock.today())
    if errors:
        raise PaymentFileRejected(errors)
    with engine.begin() as conn:
        guard.require(conn, ctx, action=Action.CREATE, min_rank=1, log=False)
        result = apply_rows(conn, ctx, channel=channel, rows=rows, file_name=file_name, sha=sha)
    return result


PaymentRow = tuple[str, str, date, int, str | None, int]  # レコードID, 納付番号, 納付日, 金額, 収納機関, 行


def apply_rows(
    conn: Connection,
    ctx: AccessContext,
    *,
    channel: str,
    rows: list[PaymentRow],
    file_name: str,
    sha: str,
) -> PaymentImportResult:
    """Record one checked file's payments and 消込 them, in the caller's transaction (which has passed
    the guard): the file row, duplicates by レコードID skipped, a changed record refused
    (:class:`PaymentFileRejected`, nothing written), the access-log row. Also used by the
    年金保険者's 特別徴収結果 import (kiban.kaigo.assessment.pension_results), whose rows it converts."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('collection.payments'))"))
    done = conn.execute(
        text("SELECT file_id, records FROM collection.payment_file WHERE sha256 = :s"), {"s": sha}
    ).first()
    if done is not None:
        return PaymentImportResult(int(done.file_id), int(done.records), already_imported=True)
    conn.execute(
        text(
            "CREATE TEMP TABLE pay_in (record_id text, payment_no text, paid_on date, amount int, agency text,"
            " line int, duplicate boolean NOT NULL DEFAULT false) ON COMMIT DROP"
        )
    )
    raw = conn.connection.driver_connection
    assert raw is not None
    with (
        raw.cursor() as cur,
        cur.copy("COPY pay_in (record_id, payment_no, paid_on, amount, agency, line) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
    conflicts = conn.execute(
        text(
            "SELECT i.line, i.record_id FROM pay_in i JOIN collection.payment p"
            " ON p.channel = :c AND p.record_id = i.record_id"
            " WHERE (p.payment_no, p.paid_on, p.amount) IS DISTINCT FROM (i.payment_no, i.paid_on, i.amount)"
            " ORDER BY i.line"
        ),
        {"c": channel},
    ).all()
    if conflicts:
        raise PaymentFileRejected(
            [
                RecordError(int(c.line), "レコードID", f"{c.record_id} は取込済みで内容が異なります")
                for c in conflicts
            ]
        )
    conn.execute(
        text(
            "UPDATE pay_in i SET duplicate = true FROM collection.payment p"
            " WHERE p.channel = :c AND p.record_id = i.record_id"
        ),
        {"c": channel},
    )
    duplicates = int(conn.execute(text("SELECT count(*) FROM pay_in WHERE duplicate")).scalar_one())
    file_id = int(
        conn.execute(
            text(
                "INSERT INTO collection.payment_file (channel, file_name, sha256, records, imported, duplicates,"
                " imported_by) VALUES (:c, :n, :s, :r, :i, :d, :by) RETURNING file_id"
            ),
            {"c": channel, "n": file_name[-200:], "s": sha, "r": len(rows), "i": len(rows) - duplicates,
             "d": duplicates, "by": ctx.staff_id},
        ).scalar_one()
    )  # fmt: skip
    params = {"file": file_id, "channel": channel, "staff": ctx.staff_id}
    # The window sort of _SIZE and the hash joins of _POST hold the whole file: at the default 4 MB
    # they spill to disk (300,000 records, bench/bench_collection_payments.py). For this transaction only.
    conn.execute(text("SET LOCAL work_mem = '128MB'"))
    conn.execute(text(_SIZE), params)
    conn.execute(text("ANALYZE pay_sized"))  # temp tables are never auto-analysed
    conn.execute(text(_APPLY), params)
    conn.execute(text(_POST), params)
    stats = {
        str(s): (int(n), int(a))
        for s, n, a in conn.execute(
            text(
                "SELECT status, count(*), sum(amount) FROM collection.payment WHERE file_id = :f GROUP BY 1"
            ),
            {"f": file_id},
        ).all()
    }
    result = PaymentImportResult(
        file_id, len(rows), imported=len(rows) - duplicates, duplicates=duplicates,
        applied=stats.get("applied", (0, 0))[0], partial=stats.get("partial", (0, 0))[0],
        over=stats.get("over", (0, 0))[0], unmatched=stats.get("unmatched", (0, 0))[0],
        amount=sum(a for _, a in stats.values()), by_status={k: v[0] for k, v in stats.items()},
    )  # fmt: skip
    # The persons are those of collection.payment with this file_id (a file may hold 300,000).
    audit.record(
        conn, ctx, action=Action.CREATE,
        detail={"what": "collection.payments.import", "file_id": file_id, "channel": channel,
                "records": len(rows), "duplicates": duplicates, "by_status": result.by_status,
                "subjects": "file_id"},
    )  # fmt: skip
    return result


def counter_payment(
    conn: Connection,
    ctx: AccessContext,
    *,
    payment_no: str,
    amount: int,
    paid_on: date | None = None,
    note: str = "",
) -> int:
    """窓口での収納 and its 消込 (manual, by a clerk): one payment to one 期別 by its 納付番号."""
    guard.require(conn, ctx, action=Action.CREATE, min_rank=1, log=False)
    if not valid_payment_number(payment_no):
        raise PaymentError("納付番号が正しくありません（20桁・検査数字）")
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        raise PaymentError("金額は1円以上の整数で入力してください")
    r = conn.execute(
        text(
            "SELECT r.receivable_id, r.amount - r.paid AS remaining, r.business, r.person_id, r.fiscal_year,"
            " p.person_no FROM collection.receivable r JOIN identity.person p USING (person_id)"
            " WHERE r.payment_no = :n FOR UPDATE OF r"
        ),
        {"n": payment_no},
    ).first()
    if r is None:
        raise PaymentError(f"納付番号 {payment_no} の期別はありません")
    applied = min(amount, int(r.remaining))
    excess = amount - applied
    status = "over" if excess else ("applied" if applied == r.remaining else "partial")
    record_id = f"C{clock.now():%Y%m%d%H%M%S%f}-{ctx.staff_id}"
    payment_id = conn.execute(
        text(
            "INSERT INTO collection.payment (channel, record_id, payment_no, paid_on, amount, receivable_id, applied,"
            " excess, status, recorded_by, note) VALUES ('counter', :rid, :n, :d, :a, :r, :ap, :ex, :st, :s, :note)"
            " RETURNING payment_id"
        ),
        {"rid": record_id, "n": payment_no, "d": paid_on or clock.today(), "a": amount, "r": r.receivable_id,
         "ap": applied, "ex": excess, "st": status, "s": ctx.staff_id, "note": note or None},
    ).scalar_one()  # fmt: skip
    conn.execute(
        text(
            "UPDATE collection.receivable SET paid = paid + :a, updated_at = now() WHERE receivable_id = :r"
        ),
        {"a": applied, "r": r.receivable_id},
    )
    if excess:
        conn.execute(
            text(
                "INSERT INTO collection.overpayment (business, person_id, fiscal_year, amount, cause, payment_id,"
                " receivable_id) VALUES (:b, :p, :fy, :a, 'over_payment', :pay, :r)"
            ),
            {"b": r.business, "p": r.person_id, "fy": r.fiscal_year, "a": excess, "pay": payment_id,
             "r": r.receivable_id},
        )  # fmt: skip
    audit.record(
        conn, ctx, action=Action.CREATE, subjects=[r.person_no],
        detail={"what": "collection.payment.counter", "payment_id": payment_id, "amount": amount, "status": status},
    )  # fmt: skip
    return int(payment_id)
