"""特別徴収結果 (results of the 年金保険者's pension deductions) imported and 消込 against the
特別徴収 期別 (docs/layouts/kaigo-special-results.md).

The 年金保険者 deducts the 介護保険料 from the pension (介護保険法第135条 本徴収, 第140条 仮徴収) and pays it
to the 市町村 (法第137条), telling it through the 経由機関 which deductions were made and which were not
(死亡・支給停止 …). kiban's layout is modelled on that 経由機関 (国保連合会) 結果 file but is **not** its
byte-exact national format: it keys a record on the 被保険者番号 that kiban's own 特別徴収依頼
(docs/layouts/kaigo-special-request.md) sends, where the national record keys on the 基礎年金番号 and
年金コード, which kiban does not hold yet.

All-or-nothing like every payment file: each record is checked — layout first, then against the
records (the 被保険者 and the 特別徴収 期別 of that 年度 and 徴収月 must exist) — and one bad record
means nothing is written and the エラーリスト names every bad record, line and field. Idempotent twice
over: the same file again (sha256) changes nothing; a レコードID imported before is skipped, and the
same レコードID with other content is an error. A 徴収済 record becomes a payment (収納区分 ``pension``)
on its 期別 and goes through the engine's set-based 消込 (kiban.collection.payments.apply_rows); a
未徴収 record is kept with its reason, for the clerk to move the 期別 to 普通徴収.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Engine, text

from kiban.collection import payments as pay
from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action
from kiban.shared import clock

__all__ = [
    "HEADER",
    "NOT_COLLECTED_REASONS",
    "NotCollected",
    "PensionImportResult",
    "import_results",
]

HEADER = (
    "レコードID", "年度", "保険者番号", "被保険者番号", "年金保険者", "徴収月", "結果区分", "特別徴収額",
    "未徴収理由", "年金支払日",
)  # fmt: skip
MONTHS = (4, 6, 8, 10, 12, 2)  # 仮徴収 4・6・8月 (法第140条), 本徴収 10・12・2月 (法第135条)
RESULTS = {"1": "collected", "2": "not_collected"}
NOT_COLLECTED_REASONS = {
    "01": "死亡",
    "02": "年金の支給停止・差止",
    "03": "年金額が徴収額に満たない",
    "04": "転出・資格喪失等の異動",
    "09": "その他",
}
_RECORD_ID = re.compile(r"^[0-9A-Za-z_-]{1,40}$")
_D6 = re.compile(r"^[0-9]{6}$")
_D10 = re.compile(r"^[0-9]{10}$")


@dataclass(frozen=True)
class NotCollected:
    """A 未徴収 record: whose (被保険者番号), which 期 (年度・徴収月) and why."""

    line: int
    insured_no: str
    fiscal_year: int
    month: int
    reason: str


@dataclass
class PensionImportResult:
    file_id: int | None
    records: int
    collected: int = 0
    not_collected: tuple[NotCollected, ...] = ()
    duplicates: int = 0
    already_imported: bool = False
    payments: pay.PaymentImportResult | None = field(default=None)


@dataclass(frozen=True)
class _Record:
    line: int
    record_id: str
    fiscal_year: int
    insurer_no: str
    insured_no: str
    pension_insurer: str
    month: int
    result: str
    amount: int
    reason: str | None
    paid_on: date


def _parse(data: bytes, today: date) -> tuple[list[_Record], list[pay.RecordError]]:
    errors: list[pay.RecordError] = []
    rows: list[_Record] = []
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [pay.RecordError(0, "ファイル", "UTF-8 ではありません")]
    reader = csv.reader(io.StringIO(content, newline=""))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != HEADER:
        return [], [pay.RecordError(1, "見出し行", f"見出し行は {','.join(HEADER)} です")]
    seen: dict[str, int] = {}
    periods: dict[tuple[str, str, str, str], int] = {}
    for line, record in enumerate(reader, start=2):
        if not record or record == [""]:
            continue
        if len(record) != len(HEADER):
            errors.append(pay.RecordError(line, "列数", f"{len(HEADER)}列のところ {len(record)}列です"))
            continue
        rid, fy_t, insurer, insured, pension_insurer, month_t, result_t, amount_t, reason_t, paid_t = (
            v.strip() for v in record
        )
        bad = len(errors)

        def err(name: str, message: str, line: int = line) -> None:
            errors.append(pay.RecordError(line, name, message))

        if not _RECORD_ID.match(rid):
            err("レコードID", "英数字・-・_ の1〜40文字で入力してください")
        elif rid in seen:
            err("レコードID", f"{seen[rid]}行目と重複しています: {rid}")
        else:
            seen[rid] = line
        fy = int(fy_t) if fy_t.isascii() and fy_t.isdigit() and len(fy_t) == 4 else 0
        if not 2000 <= fy <= 2100:
            err("年度", f"4桁の年度で入力してください: {fy_t!r}")
        if not _D6.match(insurer):
            err("保険者番号", "6桁の数字で入力してください")
        if not _D10.match(insured):
            err("被保険者番号", "10桁の数字で入力してください")
        if not pension_insurer or len(pension_insurer) > 40:
            err("年金保険者", "1〜40文字で入力してください")
        month = int(month_t) if month_t.isascii() and month_t.isdigit() else 0
        if month not in MONTHS:
            err("徴収月", f"4・6・8・10・12・2 のいずれかです: {month_t!r}")
        result = RESULTS.get(result_t)
        if result is None:
            err("結果区分", f"1（徴収済）か 2（未徴収）です: {result_t!r}")
        amount = int(amount_t) if amount_t.isascii() and amount_t.isdigit() else -1
        if result == "collected" and not 0 < amount <= pay.MAX_AMOUNT:
            err("特別徴収額", f"徴収済は1〜{pay.MAX_AMOUNT:,}円の整数です: {amount_t!r}")
        elif result == "not_collected" and amount != 0:
            err("特別徴収額", f"未徴収は0円です: {amount_t!r}")
        if result == "not_collected" and reason_t not in NOT_COLLECTED_REASONS:
            err(
                "未徴収理由",
                f"未徴収には理由コード（{'・'.join(NOT_COLLECTED_REASONS)}）が必要です: {reason_t!r}",
            )
        elif result == "collected" and reason_t:
            err("未徴収理由", "徴収済の記録に未徴収理由は入れません")
        paid_on = today
        try:
            paid_on = date.fromisoformat(paid_t)
        except ValueError:
            err("年金支払日", f"YYYY-MM-DD の日付ではありません: {paid_t!r}")
        else:
            if paid_on > today:
                err("年金支払日", f"未来の日付です: {paid_t}")
            elif fy and month in MONTHS and (paid_on.year, paid_on.month) != (fy + (month < 4), month):
                err("年金支払日", f"{fy}年度の{month}月の支払日ではありません: {paid_t}")
        key = (fy_t, insurer, insured, month_t)
        if key in periods:
            err("徴収月", f"{periods[key]}行目と同じ被保険者・年度・徴収月です")
        else:
            periods[key] = line
        if len(errors) == bad:
            rows.append(
                _Record(line, rid, fy, insurer, insured, pension_insurer, month, str(result), amount,
                        reason_t or None, paid_on)
            )  # fmt: skip
    return rows, errors


_MATCH = """
SELECT v.line, i.person_id, p.person_no, r.receivable_id, r.payment_no
  FROM (SELECT unnest(CAST(:lines AS int[])) AS line, unnest(CAST(:fys AS int[])) AS fy,
               unnest(CAST(:insurers AS text[])) AS insurer_no, unnest(CAST(:insureds AS text[])) AS insured_no,
               unnest(CAST(:months AS int[])) AS month) v
  LEFT JOIN kaigo.insured i ON i.insurer_no = v.insurer_no AND i.insured_no = v.insured_no
  LEFT JOIN identity.person p ON p.person_id = i.person_id
  LEFT JOIN collection.receivable r ON r.person_id = i.person_id AND r.business = 'kaigo'
       AND r.fiscal_year = v.fy AND r.method = 'special' AND extract(month FROM r.due_date) = v.month
 ORDER BY v.line
"""


def import_results(
    engine: Engine, ctx: AccessContext, *, data: bytes, file_name: str, today: date | None = None
) -> PensionImportResult:
    """Import one 特別徴収結果 file and 消込 its 徴収済 records (all-or-nothing, idempotent)."""
    sha = hashlib.sha256(data).hexdigest()
    with engine.connect() as conn:
        seen = conn.execute(
            text("SELECT file_id, records FROM collection.payment_file WHERE sha256 = :s"), {"s": sha}
        ).first()
    if seen is not None:
        return PensionImportResult(int(seen.file_id), int(seen.records), already_imported=True)
    # Every bad record is listed: those the layout refuses, and the rest checked against the records.
    rows, errors = _parse(data, today or clock.today())
    with engine.begin() as conn:
        guard.require(conn, ctx, action=Action.CREATE, min_rank=1, log=False)
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('collection.pension_results'))"))
        params = {
            "lines": [r.line for r in rows], "fys": [r.fiscal_year for r in rows],
            "insurers": [r.insurer_no for r in rows], "insureds": [r.insured_no for r in rows],
            "months": [r.month for r in rows],
        }  # fmt: skip
        matched = {int(m.line): m for m in conn.execute(text(_MATCH), params)}
        before = {
            str(b.record_id): b
            for b in conn.execute(
                text(
                    "SELECT record_id, fiscal_year, insurer_no, insured_no, month, result, amount, reason, paid_on"
                    " FROM collection.pension_result WHERE record_id = ANY(:ids)"
                ),
                {"ids": [r.record_id for r in rows]},
            )
        }
        for r in rows:
            m = matched[r.line]
            if m.person_id is None:
                errors.append(
                    pay.RecordError(r.line, "被保険者番号", f"保険者 {r.insurer_no} の被保険者ではありません")
                )
            elif m.receivable_id is None:
                errors.append(
                    pay.RecordError(
                        r.line, "徴収月", f"{r.fiscal_year}年度{r.month}月の特別徴収の期別がありません"
                    )
                )
            old = before.get(r.record_id)
            if old is not None and (
                old.fiscal_year, old.insurer_no, old.insured_no, old.month, old.result, old.amount, old.reason,
                old.paid_on,
            ) != (
                r.fiscal_year, r.insurer_no, r.insured_no, r.month, r.result, r.amount, r.reason, r.paid_on,
            ):  # fmt: skip
                errors.append(
                    pay.RecordError(r.line, "レコードID", f"{r.record_id} は取込済みで内容が異なります")
                )
        if errors:
            raise pay.PaymentFileRejected(sorted(errors, key=lambda e: e.line))
        fresh = [r for r in rows if r.record_id not in before]
        collected = [r for r in rows if r.result == "collected"]
        result = pay.apply_rows(
            conn, ctx, channel="pension", file_name=file_name, sha=sha,
            rows=[(r.record_id, str(matched[r.line].payment_no), r.paid_on, r.amount, r.pension_insurer, r.line)
                  for r in collected],
        )  # fmt: skip
        assert result.file_id is not None
        for r in fresh:
            conn.execute(
                text(
                    "INSERT INTO collection.pension_result (file_id, line, record_id, fiscal_year, insurer_no,"
                    " insured_no, pension_insurer, month, result, amount, reason, paid_on, receivable_id)"
                    " VALUES (:f, :l, :rid, :fy, :ins, :no, :pi, :m, :res, :a, :why, :d, :r)"
                ),
                {"f": result.file_id, "l": r.line, "rid": r.record_id, "fy": r.fiscal_year, "ins": r.insurer_no,
                 "no": r.insured_no, "pi": r.pension_insurer, "m": r.month, "res": r.result, "a": r.amount,
                 "why": r.reason, "d": r.paid_on, "r": matched[r.line].receivable_id},
            )  # fmt: skip
        not_collected = tuple(
            NotCollected(r.line, r.insured_no, r.fiscal_year, r.month, NOT_COLLECTED_REASONS[str(r.reason)])
            for r in fresh
            if r.result == "not_collected"
        )
        audit.record(
            conn, ctx, action=Action.CREATE,
            subjects=sorted({str(matched[r.line].person_no) for r in fresh})[:1000],
            detail={"what": "collection.pension_results.import", "file_id": result.file_id, "records": len(rows),
                    "collected": len(collected), "not_collected": len(not_collected),
                    "duplicates": len(rows) - len(fresh)},
        )  # fmt: skip
    return PensionImportResult(
        result.file_id, len(rows), collected=len([r for r in fresh if r.result == "collected"]),
        not_collected=not_collected, duplicates=len(rows) - len(fresh), payments=result,
    )  # fmt: skip
