"""被保険者証・資格者証の交付, 再交付, 回収 and 証発行履歴 (標準仕様 0230286 被保険者証出力, 0230290
証発行履歴), and the bulk issue to everyone who reached 65 in a month (一括交付).

What was printed is kept with each issue (``kaigo.certificate.printed``: the card's items, never a
個人番号 — the form has no field for it), so a certificate can be shown again exactly as it was
handed over, and the history says who issued or took back which card, when and why.

A card is issued to a person with a current 資格 on the day of issue. A second card while the
first is out needs 再交付 with a reason (紛失・破損・記載事項の変更, 施行規則第27条・第28条); a card is
taken back (回収) when the 資格 is lost (施行規則第30条: 資格を喪失したときは…返還).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Connection, Engine, text

from kiban.identity import repo as identity_repo
from kiban.identity.model import CLERK_RANK
from kiban.kaigo.eligibility import model
from kiban.kaigo.eligibility.service import EligibilityError, _require_kaigo, insurer_by_no
from kiban.notices import insured_card
from kiban.security import audit, guard
from kiban.security.batch import batch_context
from kiban.security.context import AccessContext, Action, Business
from kiban.shared import clock

__all__ = [
    "BulkBatch",
    "Issued",
    "bulk_candidates",
    "bulk_status",
    "do_issue",
    "do_return",
    "reprint",
    "run_bulk",
    "start_bulk",
]

Kind = Literal["certificate", "qualification"]
KIND_LABELS = {"certificate": "被保険者証", "qualification": "資格者証"}
BULK_CHUNK = 200  # certificates per transaction (and per progress step) in a bulk issue
PURPOSE = "kaigo.eligibility"


@dataclass(frozen=True)
class Issued:
    certificate_id: int
    card: insured_card.InsuredCard
    pdf: bytes


@dataclass(frozen=True)
class BulkBatch:
    """一括交付の進捗 (the progress bar reads this)."""

    batch_id: int
    month: date
    issued_on: date
    total: int
    done: int
    status: str
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    has_pdf: bool

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return 0 if self.total == 0 else min(99, self.done * 100 // self.total)


def _current(conn: Connection, person_id: int, on: date) -> Any:
    """The person's 資格 on ``on`` (current rows only), with the insured number and insurer."""
    return conn.execute(
        text(
            "SELECT q.qualification_id, q.category, lower(q.valid) AS acquired_on, i.insured_id, i.insured_no, "
            "i.insurer_no FROM kaigo.qualification q JOIN kaigo.insured i USING (insured_id) "
            "WHERE i.person_id = :p AND q.superseded_at IS NULL AND q.valid @> CAST(:d AS date) "
            "ORDER BY lower(q.valid) DESC LIMIT 1"
        ),
        {"p": person_id, "d": on},
    ).first()


def _special_note(conn: Connection, person_id: int, on: date) -> str | None:
    name = conn.execute(
        text(
            "SELECT f.name FROM kaigo.special_address s JOIN kaigo.facility f USING (facility_id) "
            "WHERE s.person_id = :p AND s.direction = 'ours' AND s.superseded_at IS NULL AND s.valid @> CAST(:d AS date)"
        ),
        {"p": person_id, "d": on},
    ).scalar()
    return f"住所地特例（施設：{name}）" if name else None


def _card_for(
    conn: Connection,
    person_id: int,
    person_no: str,
    issued_on: date,
    *,
    reissue: bool,
    valid_until: date | None,
) -> tuple[Any, insured_card.InsuredCard]:
    q = _current(conn, person_id, issued_on)
    if q is None:
        raise EligibilityError(f"宛名番号 {person_no} は {issued_on:%Y-%m-%d} に介護保険の資格がありません")
    version = identity_repo.version_on(conn, person_id, issued_on) or identity_repo.current_version(
        conn, person_id
    )
    d = version.data
    insurer = insurer_by_no(conn, q.insurer_no)
    address = d.address + (f"　{d.katagaki}" if d.katagaki else "")
    card = insured_card.InsuredCard(
        insured_no=q.insured_no,
        address=address,
        name_kana=f"{d.family_kana}　{d.given_kana or ''}".strip(),
        name=f"{d.family_name}　{d.given_name or ''}".strip(),
        birth_date=d.birth_date,
        sex=int(d.sex),
        issued_on=issued_on,
        insurer_no=insurer.insurer_no,
        insurer_name=insurer.name,
        category=int(q.category),
        acquired_on=q.acquired_on,
        reissue=reissue,
        valid_until=valid_until,
        special_address_insurer=_special_note(conn, person_id, issued_on),
    )
    return q, card


def _printed(card: insured_card.InsuredCard) -> str:
    return json.dumps(asdict(card), ensure_ascii=False, default=str)


def _card_of(printed: dict[str, Any]) -> insured_card.InsuredCard:
    values = dict(printed)
    for key in ("birth_date", "issued_on", "acquired_on", "valid_until"):
        if values.get(key):
            values[key] = date.fromisoformat(str(values[key]))
    return insured_card.InsuredCard(**values)


def _outstanding(conn: Connection, insured_id: int, kind: str) -> Any:
    return conn.execute(
        text(
            "SELECT certificate_id, issued_on FROM kaigo.certificate WHERE insured_id = :i AND kind = :k "
            "AND returned_on IS NULL ORDER BY certificate_id DESC LIMIT 1"
        ),
        {"i": insured_id, "k": kind},
    ).first()


def do_issue(
    conn: Connection,
    ctx: AccessContext,
    *,
    person_no: str,
    kind: Kind = "certificate",
    issued_on: date | None = None,
    reissue: bool = False,
    reason: str | None = None,
    valid_until: date | None = None,
) -> Issued:
    """交付 / 再交付: the card as PDF, recorded in the 証発行履歴 with what was printed.

    A 資格者証 (issued while the 被保険者証 is with the city for a 認定申請, 施行規則第27条) needs its
    有効期限. A card while another of the same kind is out is a 再交付 and needs its reason.
    """
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.PRINT, subjects=[person_no], min_rank=CLERK_RANK, log=False)
    issued_on = issued_on or clock.today()
    if kind not in KIND_LABELS:
        raise EligibilityError(f"証の種類 {kind} はありません（被保険者証・資格者証）")
    if kind == "qualification" and valid_until is None:
        raise EligibilityError("資格者証には有効期限を入力してください")
    if valid_until is not None and valid_until < issued_on:
        raise EligibilityError("有効期限は交付日以後の日付にしてください")
    ref = identity_repo.ref_by_no(conn, person_no)
    q, card = _card_for(conn, ref.person_id, person_no, issued_on, reissue=reissue, valid_until=valid_until)
    out = _outstanding(conn, q.insured_id, kind)
    if out is not None and not reissue:
        raise EligibilityError(
            f"{KIND_LABELS[kind]}は {out.issued_on:%Y-%m-%d} に交付済みで回収されていません（再交付として理由を入力してください）"
        )
    if reissue and not (reason and reason.strip()):
        raise EligibilityError("再交付の理由（紛失・破損・記載事項の変更など）を入力してください")
    certificate_id = conn.execute(
        text(
            "INSERT INTO kaigo.certificate (insured_id, kind, reissue, issued_on, valid_until, printed, reason, "
            "issued_by) VALUES (:i, :k, :r, :d, :v, CAST(:p AS jsonb), :reason, :s) RETURNING certificate_id"
        ),
        {"i": q.insured_id, "k": kind, "r": reissue, "d": issued_on, "v": valid_until, "p": _printed(card),
         "reason": reason.strip() if reason else None, "s": ctx.staff_id},
    ).scalar_one()  # fmt: skip
    audit.record(
        conn, ctx, action=Action.PRINT, subjects=[person_no],
        detail={"what": "kaigo.certificate", "certificate_id": certificate_id, "kind": kind, "reissue": reissue,
                "insured_no": q.insured_no},
    )  # fmt: skip
    return Issued(int(certificate_id), card, insured_card.render([card], kind=kind))


def do_return(
    conn: Connection, ctx: AccessContext, *, certificate_id: int, returned_on: date, note: str | None = None
) -> None:
    """回収: the card came back (資格喪失, 再交付で旧証を返還, 認定申請で一時預かり)."""
    _require_kaigo(ctx)
    # The grant first (a missing id must not answer before it), then again with the person.
    guard.require(conn, ctx, action=Action.UPDATE, min_rank=CLERK_RANK, log=False)
    row = _certificate(conn, certificate_id)
    guard.require(conn, ctx, action=Action.UPDATE, subjects=[row.person_no], min_rank=CLERK_RANK, log=False)
    if row.returned_on is not None:
        raise EligibilityError(f"この証は {row.returned_on:%Y-%m-%d} に回収済みです")
    if returned_on < row.issued_on:
        raise EligibilityError("回収日は交付日以後の日付にしてください")
    conn.execute(
        text(
            "UPDATE kaigo.certificate SET returned_on = :d, returned_by = :s, return_note = :n "
            "WHERE certificate_id = :c"
        ),
        {"d": returned_on, "s": ctx.staff_id, "n": (note or "").strip() or None, "c": certificate_id},
    )
    audit.record(
        conn, ctx, action=Action.UPDATE, subjects=[row.person_no],
        detail={"what": "kaigo.certificate.return", "certificate_id": certificate_id, "returned_on": returned_on},
    )  # fmt: skip


def _certificate(conn: Connection, certificate_id: int) -> Any:
    row = conn.execute(
        text(
            "SELECT c.certificate_id, c.kind, c.issued_on, c.returned_on, c.printed, p.person_no "
            "FROM kaigo.certificate c JOIN kaigo.insured i USING (insured_id) "
            "JOIN identity.person p ON p.person_id = i.person_id WHERE c.certificate_id = :c"
        ),
        {"c": certificate_id},
    ).first()
    if row is None:
        raise EligibilityError(f"証 {certificate_id} の交付記録はありません")
    return row


def reprint(conn: Connection, ctx: AccessContext, *, certificate_id: int) -> tuple[str, bytes]:
    """The certificate as it was issued (for the history screen): (person_no, PDF). Logged as a print."""
    _require_kaigo(ctx)
    # The grant first (a missing id must not answer before it), then again with the person.
    guard.require(conn, ctx, action=Action.PRINT, min_rank=CLERK_RANK, log=False)
    row = _certificate(conn, certificate_id)
    guard.require(conn, ctx, action=Action.PRINT, subjects=[row.person_no], min_rank=CLERK_RANK, log=False)
    audit.record(
        conn, ctx, action=Action.PRINT, subjects=[row.person_no],
        detail={"what": "kaigo.certificate.reprint", "certificate_id": certificate_id},
    )  # fmt: skip
    return str(row.person_no), insured_card.render([_card_of(row.printed)], kind=row.kind)


# -- 一括交付 (65歳到達者) ------------------------------------------------------------------------

# Those who became 第1号 by reaching 65 in the month, still insured, without a card since.
_CANDIDATES = """
SELECT p.person_no, p.person_id
  FROM kaigo.qualification q
  JOIN kaigo.insured i USING (insured_id)
  JOIN identity.person p ON p.person_id = i.person_id
 WHERE q.superseded_at IS NULL AND q.category = 1 AND q.acquire_reason = :age65
   AND lower(q.valid) >= :start AND lower(q.valid) < :end AND upper_inf(q.valid)
   AND NOT EXISTS (SELECT 1 FROM kaigo.certificate c WHERE c.insured_id = i.insured_id
                    AND c.kind = 'certificate' AND c.issued_on >= lower(q.valid))
 ORDER BY p.person_no
"""


def _month_range(month: date) -> tuple[date, date]:
    start = month.replace(day=1)
    end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return start, end


def bulk_candidates(conn: Connection, month: date) -> list[str]:
    start, end = _month_range(month)
    return [
        str(r.person_no)
        for r in conn.execute(
            text(_CANDIDATES), {"age65": model.AcquisitionReason.AGE_65.value, "start": start, "end": end}
        )
    ]


def start_bulk(conn: Connection, ctx: AccessContext, *, month: date, issued_on: date | None = None) -> int:
    """Open a 一括交付 batch for the month's 65歳到達者; :func:`run_bulk` then issues in chunks."""
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.PRINT, min_rank=CLERK_RANK, log=False)
    # One batch at a time; a batch whose process died (no 'done'/'failed' after an hour) no longer blocks.
    running = conn.execute(
        text(
            "SELECT batch_id FROM kaigo.issue_batch WHERE status = 'running' "
            "AND started_at > now() - interval '1 hour'"
        )
    ).scalar()
    if running is not None:
        raise EligibilityError(f"一括交付 {running} が実行中です。終わってから開始してください")
    start, _ = _month_range(month)
    total = len(bulk_candidates(conn, start))
    batch_id = conn.execute(
        text(
            "INSERT INTO kaigo.issue_batch (month, issued_on, total, started_by) VALUES (:m, :d, :t, :s) "
            "RETURNING batch_id"
        ),
        {"m": start, "d": issued_on or clock.today(), "t": total, "s": ctx.staff_id},
    ).scalar_one()
    audit.record(
        conn, ctx, action=Action.PRINT,
        detail={"what": "kaigo.certificate.bulk.start", "batch_id": batch_id, "month": start, "total": total},
    )  # fmt: skip
    return int(batch_id)


def run_bulk(engine: Engine, batch_id: int, *, chunk: int = BULK_CHUNK) -> BulkBatch:
    """Issue the batch's certificates, ``chunk`` per transaction (``done`` moves the progress bar),
    then render one PDF of them all (printed in 宛名番号 order, for the mail room)."""
    try:
        with engine.begin() as conn:
            b = conn.execute(
                text("SELECT month, issued_on, started_by FROM kaigo.issue_batch WHERE batch_id = :b"),
                {"b": batch_id},
            ).one()
        while True:
            with engine.begin() as conn:
                ctx = batch_context(
                    conn, Business.KAIGO, PURPOSE, f"被保険者証一括交付（{b.month:%Y年%m月}）"
                )
                persons = bulk_candidates(conn, b.month)[:chunk]
                for person_no in persons:
                    issued = do_issue(conn, ctx, person_no=person_no, issued_on=b.issued_on)
                    conn.execute(
                        text("UPDATE kaigo.certificate SET batch_id = :b WHERE certificate_id = :c"),
                        {"b": batch_id, "c": issued.certificate_id},
                    )
                conn.execute(
                    text("UPDATE kaigo.issue_batch SET done = done + :n WHERE batch_id = :b"),
                    {"n": len(persons), "b": batch_id},
                )
            if len(persons) < chunk:
                break
        with engine.begin() as conn:
            printed = conn.execute(
                text(
                    "SELECT c.printed FROM kaigo.certificate c JOIN kaigo.insured i USING (insured_id) "
                    "JOIN identity.person p ON p.person_id = i.person_id WHERE c.batch_id = :b ORDER BY p.person_no"
                ),
                {"b": batch_id},
            ).scalars()
            cards = [_card_of(p) for p in printed]
            pdf = insured_card.render(cards, kind="certificate") if cards else None
            conn.execute(
                text(
                    "UPDATE kaigo.issue_batch SET status = 'done', pdf = :pdf, finished_at = now(), "
                    "total = greatest(total, done) WHERE batch_id = :b"
                ),
                {"pdf": pdf, "b": batch_id},
            )
    except Exception as exc:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE kaigo.issue_batch SET status = 'failed', error = :e, finished_at = now() WHERE batch_id = :b"
                ),
                {"e": str(exc)[:500], "b": batch_id},
            )
        raise
    with engine.connect() as conn:
        return bulk_status(conn, batch_id)


def bulk_status(conn: Connection, batch_id: int) -> BulkBatch:
    row = conn.execute(
        text(
            "SELECT batch_id, month, issued_on, total, done, status, error, started_at, finished_at, "
            "pdf IS NOT NULL AS has_pdf FROM kaigo.issue_batch WHERE batch_id = :b"
        ),
        {"b": batch_id},
    ).first()
    if row is None:
        raise EligibilityError(f"一括交付 {batch_id} はありません")
    return BulkBatch(
        row.batch_id, row.month, row.issued_on, row.total, row.done, row.status, row.error,
        row.started_at, row.finished_at, row.has_pdf,
    )  # fmt: skip


def bulk_pdf(conn: Connection, ctx: AccessContext, batch_id: int) -> bytes:
    """The batch's PDF (all its certificates), logged as a print of the batch."""
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.PRINT, min_rank=CLERK_RANK, log=False)
    pdf = conn.execute(
        text("SELECT pdf FROM kaigo.issue_batch WHERE batch_id = :b"), {"b": batch_id}
    ).scalar()
    if pdf is None:
        raise EligibilityError(f"一括交付 {batch_id} の PDF はまだありません")
    audit.record(
        conn, ctx, action=Action.PRINT, detail={"what": "kaigo.certificate.bulk.pdf", "batch_id": batch_id}
    )
    return bytes(pdf)


def list_batches(conn: Connection, ctx: AccessContext, *, limit: int = 20) -> list[BulkBatch]:
    _require_kaigo(ctx)
    guard.require(conn, ctx, action=Action.VIEW, log=False)
    ids = conn.execute(
        text("SELECT batch_id FROM kaigo.issue_batch ORDER BY batch_id DESC LIMIT :n"), {"n": limit}
    ).scalars()
    return [bulk_status(conn, int(i)) for i in list(ids)]
