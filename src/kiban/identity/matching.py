"""名寄せ (record matching) of records that arrive without a 宛名番号, and its two-person review queue.

``match`` finds the candidates by the 4 情報 (and by the 個人番号's blind index when the record has
one), scores them, and records an ``identity.match_case``: linked at once only under the rules of
``matching_model.decide``; otherwise pending for review, or ``no_match``.

The review follows seed 000 「名寄せ結果を複数人で検査する」: a case is settled only when two
different staff members reach the same answer.

- The first confirmation (``confirm``: this person; ``reject``: 該当なし) is recorded as first_*;
  the case stays pending.
- The same staff member answering again is refused (``SameReviewer``).
- A second, different staff member giving the same answer settles it: ``confirmed`` (linked) or
  ``rejected``.
- A second staff member giving a different answer does not settle anything: their answer becomes
  the new first answer, with the disagreement written into its note (and in the access log), and a
  third answer — from anyone but them — is needed. Choosing "reject on disagreement" instead would
  lose the correct answer whenever the first reviewer erred; the queue keeps the case open.

No 個人番号 is stored: an incoming number becomes its blind index (``my_number_index``) and the
candidates name persons by person_id and 宛名番号 only. Every call passes the guard and writes the
access-log row with the candidates' 宛名番号 as subjects (domain.md §10.7).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import CompoundSelect, Connection, any_, func, insert, select, union, update
from sqlalchemy.dialects.postgresql import array

from kiban.db import outbox
from kiban.identity import tables as t
from kiban.identity import vault
from kiban.identity.matching_model import (
    Incoming,
    Scored,
    agreement,
    check_incoming,
    decide,
    incoming_keys,
    keys_of,
    rank,
    score,
)
from kiban.identity.model import CLERK_RANK, FieldError
from kiban.identity.persons import PersonSummary, ValidationFailed, summaries
from kiban.identity.repo import CURRENT, IdentityError
from kiban.security import audit, guard, keys
from kiban.security import tables as st
from kiban.security.context import AccessContext, Action
from kiban.shared.mynumber import contains_my_number

__all__ = [
    "CandidateView",
    "CaseDetail",
    "CaseNotFound",
    "CaseSummary",
    "Incoming",
    "MatchOutcome",
    "ReviewOutcome",
    "SameReviewer",
    "candidate_query",
    "case_detail",
    "confirm",
    "match",
    "pending_cases",
    "reject",
]

# Candidates come from two partial indexes (birth date, exact kana key); a common reading can have
# many holders, so the limit is generous — the rules then keep only those worth reviewing.
CANDIDATE_LIMIT = 5000
STATUS_LABELS = {
    "auto_linked": "自動名寄せ",
    "pending": "確認待ち",
    "confirmed": "確認済み（名寄せ）",
    "rejected": "確認済み（該当なし）",
    "no_match": "該当なし",
}
NO_MATCH_LABEL = "該当なし"


class CaseNotFound(IdentityError):
    pass


class SameReviewer(IdentityError):
    """The two answers of the review must come from two different staff members."""


@dataclass(frozen=True)
class Candidate:
    """One candidate of a case, as stored in ``match_case.candidates`` (no 個人番号)."""

    person_id: int
    person_no: str
    score: int
    agree: dict[str, bool | None]
    note: str
    my_number_match: bool

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Candidate:
        return cls(**{f.name: value[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class MatchOutcome:
    case_id: int
    status: str  # auto_linked | pending | no_match (or, for an existing case, its current status)
    reason: str
    linked_person_no: str | None
    candidates: tuple[Candidate, ...]
    already: bool = False  # the same source_ref was matched before; nothing changed

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


def candidate_query(incoming: Incoming, *, holder_id: int | None = None) -> CompoundSelect[Any]:
    """Current versions born that day, or with exactly that reading, or holding the incoming number:
    one branch per partial index (person_version_birth, person_version_kana, person_version_current),
    so each is an index scan however large the hub — never a scan of all persons."""
    keys_in = incoming_keys(incoming)
    pv = t.person_version
    columns = (
        pv.c.person_id,
        t.person.c.person_no,
        pv.c.family_name,
        pv.c.given_name,
        pv.c.family_kana,
        pv.c.given_kana,
        pv.c.birth_date,
        pv.c.sex,
        pv.c.address,
        pv.c.kana_key,
        pv.c.name_key,
    )
    base = select(*columns).join(t.person, t.person.c.person_id == pv.c.person_id).where(CURRENT)
    branches = [
        base.where(pv.c.birth_date == keys_in.birth_date).limit(CANDIDATE_LIMIT),
        base.where(pv.c.kana_key == keys_in.kana).limit(CANDIDATE_LIMIT),
    ]
    if holder_id is not None:
        branches.append(base.where(pv.c.person_id == holder_id))
    return union(*branches)


def _scored(
    conn: Connection, incoming: Incoming, holder_id: int | None, incoming_index: bool
) -> list[Scored]:
    keys_in = incoming_keys(incoming)
    kept: list[tuple[Any, Any]] = []
    for r in conn.execute(candidate_query(incoming, holder_id=holder_id)).all():
        agree = agreement(
            keys_in,
            keys_of(
                family_name=r.family_name,
                given_name=r.given_name,
                family_kana=r.family_kana,
                given_kana=r.given_kana,
                birth_date=r.birth_date,
                sex=r.sex,
                address=r.address,
                kana_key=r.kana_key,
                name_key=r.name_key,
            ),
        )
        if agree.relevant or r.person_id == holder_id:
            kept.append((r, agree))
    numbered: set[int] = set()
    if kept and incoming_index:
        # Only meaningful when a number came in: then another registered number is a conflict.
        numbered = set(
            conn.execute(
                select(t.my_number_vault.c.person_id).where(
                    t.my_number_vault.c.person_id == any_(array([r.person_id for r, _ in kept]))
                )
            ).scalars()
        )
    return rank(
        [
            Scored(
                person_id=int(r.person_id),
                person_no=r.person_no,
                agree=agree,
                score=score(agree),
                holds_incoming_number=r.person_id == holder_id,
                has_other_number=r.person_id != holder_id and r.person_id in numbered,
            )
            for r, agree in kept
        ]
    )


def _incoming_values(incoming: Incoming) -> dict[str, Any]:
    return {
        "family_name": (incoming.family_name or "").strip(),
        "given_name": (incoming.given_name or "").strip(),
        "family_kana": (incoming.family_kana or "").strip(),
        "given_kana": (incoming.given_kana or "").strip(),
        "birth_date": incoming.birth_date,
        "sex": incoming.sex,
        "address": (incoming.address or "").strip(),
    }


def _person_no(conn: Connection, person_id: int | None) -> str | None:
    if person_id is None:
        return None
    return conn.execute(select(t.person.c.person_no).where(t.person.c.person_id == person_id)).scalar()


def _outcome(conn: Connection, row: Any, *, already: bool) -> MatchOutcome:
    return MatchOutcome(
        case_id=int(row.case_id),
        status=row.status,
        reason=row.auto_rule or "",
        linked_person_no=_person_no(conn, row.linked_person_id),
        candidates=tuple(Candidate.from_json(c) for c in row.candidates),
        already=already,
    )


def _check_free_text(field: str, value: str) -> None:
    if contains_my_number(value):
        raise ValidationFailed([FieldError(field, "個人番号を含めることはできません")])


def match(
    conn: Connection, ctx: AccessContext, incoming: Incoming, *, source: str, source_ref: str
) -> MatchOutcome:
    """名寄せ: find who ``incoming`` is. The same (source, source_ref) again returns the recorded
    case unchanged; with different content it is refused."""
    guard.require(conn, ctx, action=Action.SEARCH, min_rank=CLERK_RANK, log=False)
    errors = check_incoming(incoming)
    if not source.strip():
        errors.append(FieldError("連携元", "必須です"))
    if not source_ref.strip():
        errors.append(FieldError("参照番号", "必須です"))
    if errors:
        raise ValidationFailed(errors)
    _check_free_text("連携元", source)
    _check_free_text("参照番号", source_ref)
    index: bytes | None = None
    holder_id: int | None = None
    if incoming.my_number:
        digits = vault.check_number(incoming.my_number)
        index = keys.blind_index(conn, digits)
        holder_id = conn.execute(
            select(t.my_number_vault.c.person_id).where(t.my_number_vault.c.blind_index == index)
        ).scalar()
    values = _incoming_values(incoming)
    existing = conn.execute(
        select(t.match_case).where(t.match_case.c.source == source, t.match_case.c.source_ref == source_ref)
    ).first()
    if existing is not None:
        same = all(getattr(existing, k) == v for k, v in values.items()) and (
            (bytes(existing.my_number_index) if existing.my_number_index is not None else None) == index
        )
        if not same:
            raise IdentityError(
                f"連携元「{source}」の参照番号 {source_ref} は既に別の内容で名寄せされています（名寄せ番号 "
                f"{existing.case_id}）"
            )
        outcome = _outcome(conn, existing, already=True)
        _log_match(conn, ctx, outcome, source, source_ref, index is not None)
        return outcome
    scored = _scored(conn, incoming, holder_id, index is not None)
    decision = decide(scored)
    candidates = tuple(
        Candidate(c.person_id, c.person_no, c.score, c.agree.as_dict(), c.note, c.holds_incoming_number)
        for c in scored
    )
    case_id = conn.execute(
        insert(t.match_case)
        .values(
            source=source,
            source_ref=source_ref,
            my_number_index=index,
            candidates=[c.as_json() for c in candidates],
            status=decision.status,
            linked_person_id=decision.person_id,
            auto_rule=str(decision.reason),
            **values,
        )
        .returning(t.match_case.c.case_id)
    ).scalar_one()
    linked_no = next((c.person_no for c in candidates if c.person_id == decision.person_id), None)
    outcome = MatchOutcome(int(case_id), decision.status, str(decision.reason), linked_no, candidates)
    _log_match(conn, ctx, outcome, source, source_ref, index is not None)
    if linked_no is not None:
        _emit_linked(conn, outcome.case_id, source, source_ref, linked_no, str(decision.reason))
    return outcome


def _log_match(
    conn: Connection,
    ctx: AccessContext,
    outcome: MatchOutcome,
    source: str,
    source_ref: str,
    by_number: bool,
) -> None:
    audit.record(
        conn,
        ctx,
        action=Action.SEARCH,
        subjects=[c.person_no for c in outcome.candidates],
        detail={
            "screen": "名寄せ",
            "case_id": outcome.case_id,
            "source": source,
            "source_ref": source_ref,
            "method": "個人番号（ブラインドインデックス）・4情報" if by_number else "4情報",
            "status": outcome.status,
            "reason": outcome.reason,
            "hits": len(outcome.candidates),
            "already": outcome.already,
        },
    )


def _emit_linked(
    conn: Connection, case_id: int, source: str, source_ref: str, person_no: str, how: str
) -> None:
    outbox.emit(
        conn,
        "identity.match.linked",
        person_no,
        {"case_id": case_id, "source": source, "source_ref": source_ref, "person_no": person_no, "rule": how},
    )


# -- the review queue -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseSummary:
    """One line of the review queue (名寄せ確認待ち一覧). The incoming record's reading and birth
    date identify it for the reviewer; no 個人番号 (none is kept)."""

    case_id: int
    source: str
    source_ref: str
    created_at: datetime
    reason: str
    kana: str
    birth_date: date | None
    candidates: int
    top_score: int
    first_staff_code: str | None  # set: one answer recorded, a second staff member must answer

    @property
    def step_label(self) -> str:
        return "2人目の確認待ち" if self.first_staff_code else "1人目の確認待ち"


def _staff_codes(conn: Connection, ids: Iterable[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    rows = conn.execute(select(st.staff.c.staff_id, st.staff.c.code).where(st.staff.c.staff_id.in_(ids)))
    return {int(r.staff_id): r.code for r in rows}


def pending_cases(conn: Connection, ctx: AccessContext, limit: int = 50) -> list[CaseSummary]:
    """The review queue, oldest first."""
    guard.require(conn, ctx, action=Action.VIEW, log=False)
    rows = conn.execute(
        select(t.match_case)
        .where(t.match_case.c.status == "pending")
        .order_by(t.match_case.c.created_at, t.match_case.c.case_id)
        .limit(limit)
    ).all()
    codes = _staff_codes(conn, (r.first_staff_id for r in rows))
    out = [
        CaseSummary(
            case_id=int(r.case_id),
            source=r.source,
            source_ref=r.source_ref,
            created_at=r.created_at,
            reason=r.auto_rule or "",
            kana=f"{r.family_kana or ''}\u3000{r.given_kana or ''}".strip("\u3000"),
            birth_date=r.birth_date,
            candidates=len(r.candidates),
            top_score=max((int(c["score"]) for c in r.candidates), default=0),
            first_staff_code=codes.get(r.first_staff_id),
        )
        for r in rows
    ]
    audit.record(
        conn,
        ctx,
        action=Action.VIEW,
        detail={"screen": "名寄せ確認待ち一覧", "cases": [c.case_id for c in out]},
    )
    return out


@dataclass(frozen=True)
class CandidateView:
    """A candidate next to the incoming record: its score, what agrees, and the person's current
    version (None if the person has none any more — the consistency check reports that)."""

    candidate: Candidate
    person: PersonSummary | None


@dataclass(frozen=True)
class CaseDetail:
    """名寄せ確認画面: the incoming 4 情報 side by side with each candidate's current version."""

    case_id: int
    source: str
    source_ref: str
    status: str
    reason: str
    created_at: datetime
    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    birth_date: date | None
    sex: int | None
    address: str
    with_my_number: bool  # the record carried a 個人番号 (only its blind index was kept)
    candidates: tuple[CandidateView, ...]
    linked_person_no: str | None
    first_choice: str | None  # 宛名番号, 「該当なし」, or None before the first answer
    first_staff_code: str | None
    first_at: datetime | None
    first_note: str | None
    second_staff_code: str | None
    second_at: datetime | None
    second_note: str | None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


def _case(conn: Connection, case_id: int, *, lock: bool = False) -> Any:
    stmt = select(t.match_case).where(t.match_case.c.case_id == case_id)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise CaseNotFound(f"名寄せ番号 {case_id} はありません")
    return row


def case_detail(conn: Connection, ctx: AccessContext, case_id: int) -> CaseDetail:
    guard.require(conn, ctx, action=Action.VIEW, log=False)
    row = _case(conn, case_id)
    candidates = [Candidate.from_json(c) for c in row.candidates]
    current = summaries(conn, [c.person_id for c in candidates])
    codes = _staff_codes(conn, (row.first_staff_id, row.second_staff_id))
    first_choice = None
    if row.first_staff_id is not None:
        first_choice = _person_no(conn, row.first_person_id) or NO_MATCH_LABEL
    detail = CaseDetail(
        case_id=int(row.case_id),
        source=row.source,
        source_ref=row.source_ref,
        status=row.status,
        reason=row.auto_rule or "",
        created_at=row.created_at,
        family_name=row.family_name or "",
        given_name=row.given_name or "",
        family_kana=row.family_kana or "",
        given_kana=row.given_kana or "",
        birth_date=row.birth_date,
        sex=row.sex,
        address=row.address or "",
        with_my_number=row.my_number_index is not None,
        candidates=tuple(CandidateView(c, current.get(c.person_id)) for c in candidates),
        linked_person_no=_person_no(conn, row.linked_person_id),
        first_choice=first_choice,
        first_staff_code=codes.get(row.first_staff_id),
        first_at=row.first_at,
        first_note=row.first_note,
        second_staff_code=codes.get(row.second_staff_id),
        second_at=row.second_at,
        second_note=row.second_note,
    )
    audit.record(
        conn,
        ctx,
        action=Action.VIEW,
        subjects=[c.person_no for c in candidates],
        detail={"screen": "名寄せ確認", "case_id": detail.case_id},
    )
    return detail


@dataclass(frozen=True)
class ReviewOutcome:
    case_id: int
    status: str  # pending | confirmed | rejected
    step: str  # first | settled | disagreed
    linked_person_no: str | None
    message: str


def confirm(
    conn: Connection, ctx: AccessContext, case_id: int, person_no: str, note: str = ""
) -> ReviewOutcome:
    """This record is the person ``person_no`` (one of the candidates)."""
    return _answer(conn, ctx, case_id, person_no.strip(), note)


def reject(conn: Connection, ctx: AccessContext, case_id: int, note: str = "") -> ReviewOutcome:
    """該当なし: none of the candidates is this record's person (also needs two staff members)."""
    return _answer(conn, ctx, case_id, None, note)


def _answer(
    conn: Connection, ctx: AccessContext, case_id: int, person_no: str | None, note: str
) -> ReviewOutcome:
    guard.require(conn, ctx, action=Action.UPDATE, min_rank=CLERK_RANK, log=False)
    note = (note or "").strip()
    _check_free_text("備考", note)
    row = _case(conn, case_id, lock=True)
    if row.status != "pending":
        raise IdentityError(f"名寄せ番号 {case_id} は処理済みです（{STATUS_LABELS[row.status]}）")
    candidates = [Candidate.from_json(c) for c in row.candidates]
    chosen: Candidate | None = None
    if person_no is not None:
        chosen = next((c for c in candidates if c.person_no == person_no), None)
        if chosen is None:
            raise IdentityError(
                f"宛名番号 {person_no} はこの名寄せの候補にありません（候補にない場合は「該当なし」として"
                "ください）"
            )
    choice_id = chosen.person_id if chosen else None
    choice_label = chosen.person_no if chosen else NO_MATCH_LABEL
    linked_no: str | None = None
    if row.first_staff_id is None:
        conn.execute(
            update(t.match_case)
            .where(t.match_case.c.case_id == case_id)
            .values(
                first_person_id=choice_id, first_staff_id=ctx.staff_id, first_at=func.now(), first_note=note
            )
        )
        status, step = "pending", "first"
        message = f"1人目の確認（{choice_label}）を記録しました。別の職員の確認を待っています。"
    elif row.first_staff_id == ctx.staff_id:
        raise SameReviewer(
            "同じ職員が2回確認することはできません。名寄せの結果は別の職員が確認してください（複数人による検査）"
        )
    elif row.first_person_id == choice_id:
        status, step = ("confirmed" if chosen else "rejected"), "settled"
        conn.execute(
            update(t.match_case)
            .where(t.match_case.c.case_id == case_id)
            .values(
                status=status,
                linked_person_id=choice_id,
                second_staff_id=ctx.staff_id,
                second_at=func.now(),
                second_note=note,
            )
        )
        if chosen:
            linked_no = chosen.person_no
            message = f"2人の確認が一致しました。宛名番号 {chosen.person_no} と名寄せしました。"
        else:
            message = "2人の確認が一致しました。該当なしとして処理しました。"
    else:
        # Disagreement: nothing is settled; this answer becomes the first one (seed 000: 複数人で検査).
        earlier = _person_no(conn, row.first_person_id) or NO_MATCH_LABEL
        earlier_staff = _staff_codes(conn, (row.first_staff_id,)).get(row.first_staff_id, "")
        recorded = f"確認不一致（先の確認: {earlier}、職員 {earlier_staff}）" + (f" {note}" if note else "")
        conn.execute(
            update(t.match_case)
            .where(t.match_case.c.case_id == case_id)
            .values(
                first_person_id=choice_id,
                first_staff_id=ctx.staff_id,
                first_at=func.now(),
                first_note=recorded,
            )
        )
        status, step = "pending", "disagreed"
        message = (
            f"先の確認（{earlier}）と一致しません。この確認（{choice_label}）を1人目として記録し直しました。"
            "別の職員の確認が必要です。"
        )
    audit.record(
        conn,
        ctx,
        action=Action.UPDATE,
        subjects=[c.person_no for c in candidates],
        detail={
            "screen": "名寄せ確認",
            "case_id": case_id,
            "answer": choice_label,
            "step": step,
            "status": status,
        },
    )
    if linked_no is not None:
        _emit_linked(conn, case_id, row.source, row.source_ref, linked_no, "2人確認")
    elif status == "rejected":
        outbox.emit(
            conn,
            "identity.match.rejected",
            f"case-{case_id}",
            {"case_id": case_id, "source": row.source, "source_ref": row.source_ref},
        )
    return ReviewOutcome(case_id, status, step, linked_no, message)
