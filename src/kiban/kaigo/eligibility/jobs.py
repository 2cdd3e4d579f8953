"""資格の自動処理: resident events → 資格異動 (標準仕様 0230265), and the 65歳到達 run (0230270).

Two jobs, both as the batch principal through the guard:

- :func:`process_events` consumes ``identity.resident.*`` from the outbox. Its cursor advances in
  the same transaction as the 資格 changes (exactly once), and each change also names its resident
  event (``source_event`` UNIQUE), so an event is never applied twice. An event the rules cannot
  apply (a 転入 of a person who is already insured, say) goes on the 要確認 list of the run instead
  of stopping the others.
- :func:`run_attainment` (``kiban kaigo eligibility run --as-of``) is set-based: one statement
  each for 第2号 → 第1号 and for residents who have reached 65 (or are 65+ and not yet insured, e.g.
  after the registry's initial load) — over a city of a million it must finish in seconds
  (bench/bench_kaigo_eligibility.py). It is idempotent: a second run with the same date changes
  nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text

from kiban.db import outbox
from kiban.identity import repo as identity_repo
from kiban.kaigo.eligibility import model, service
from kiban.security import audit, guard
from kiban.security.batch import batch_context
from kiban.security.context import AccessContext, Action, Business
from kiban.shared import clock
from kiban.shared.age import age_on, attainment_date

__all__ = [
    "CONSUMER",
    "EventsResult",
    "RunResult",
    "latest_birth_attaining",
    "process_events",
    "run_attainment",
]

CONSUMER = "kaigo.eligibility"
TOPICS = ("identity.resident.*",)
PURPOSE = "kaigo.eligibility"
SUBJECT_LIMIT = 1000  # the access-log row names the persons of runs up to this size


@dataclass
class EventsResult:
    """What the event consumer did: counts by outcome and the 要確認 list (宛名番号, 異動ID, why)."""

    events: int = 0
    acquired: int = 0
    lost: int = 0
    corrected: int = 0
    unchanged: int = 0
    review: list[tuple[str, str, str]] = field(default_factory=list)


def process_events(engine: Engine, *, limit: int = 500) -> EventsResult:
    """Apply every pending resident event to the 資格 (in batches of ``limit``, one transaction each)."""
    result = EventsResult()
    while True:
        with engine.begin() as conn:
            ctx = batch_context(conn, Business.KAIGO, PURPOSE, "住民異動の資格反映")
            events = outbox.poll(conn, CONSUMER, TOPICS, limit=limit)
            for event in events:
                result.events += 1
                try:
                    with conn.begin_nested():
                        outcome = _apply(conn, ctx, event)
                except service.EligibilityError as exc:
                    result.review.append((event.key, str(event.payload.get("event_id", "")), str(exc)))
                    continue
                setattr(result, outcome, getattr(result, outcome) + 1)
            if events:
                outbox.ack(conn, CONSUMER, events[-1].seq)
        if len(events) < limit:
            return result


def _apply(conn: Connection, ctx: AccessContext, event: outbox.OutboxEvent) -> str:
    p = event.payload
    kind = event.topic.rsplit(".", 1)[-1]
    source = f"identity:{p.get('event_id')}" if p.get("event_id") else f"outbox:{event.seq}"
    if service.event_applied(conn, source):
        return "unchanged"
    person_no = str(p["person_no"])
    on = date.fromisoformat(str(p["effective_on"]))
    if kind == "moved_in":
        return _moved_in(conn, ctx, person_no, on, source)
    if kind in ("move_out_planned", "moved_out"):
        return _moved_out(conn, ctx, person_no, p, on, source)
    if kind == "died":
        died_on = date.fromisoformat(str(p.get("death_date") or p["effective_on"]))
        lost = service.do_lose(
            conn, ctx, person_no=person_no, lost_on=model.loss_date(model.LossReason.DIED, died_on),
            reason=model.LossReason.DIED, source_event=source,
        )  # fmt: skip
        return "lost" if lost else "unchanged"
    if kind == "corrected" and "birth_date" in (p.get("fields") or []):
        raise service.EligibilityError("生年月日の職権修正: 資格の取得日を確認してください")
    return "unchanged"


def _moved_in(conn: Connection, ctx: AccessContext, person_no: str, on: date, source: str) -> str:
    """転入 (法第10条第1号): a resident of 65 or over on the day of 転入 is insured from that day."""
    ref = identity_repo.ref_by_no(conn, person_no)
    version = identity_repo.version_on(conn, ref.person_id, on)
    if version is None or age_on(version.data.birth_date, on) < model.CATEGORY1_AGE:
        return "unchanged"  # under 65: 65歳到達 is the monthly run's; 第2号 only when needed
    if service.special_address_on(conn, ref.person_id, on) == "theirs":
        return "unchanged"  # 他市町村住所地特例者: the former city stays their insurer (法第13条)
    if service.in_exempt_facility(conn, ref.person_id, on):
        return "unchanged"
    service.do_acquire(
        conn, ctx, person_no=person_no, category=model.Category.FIRST, acquired_on=on,
        reason=model.AcquisitionReason.MOVED_IN, source_event=source,
    )  # fmt: skip
    return "acquired"


def _moved_out(
    conn: Connection, ctx: AccessContext, person_no: str, p: dict[str, Any], on: date, source: str
) -> str:
    """転出 (法第11条第1項): lost on the 転出日 for a move within Japan, the day after for 国外転出.

    A 転出確定 whose date differs from the 転出予定 moves the 喪失日 (職権修正 by the batch); our
    insured who moved into a 住所地特例対象施設 elsewhere stay ours (法第13条)."""
    ref = identity_repo.ref_by_no(conn, person_no)
    if service.special_address_on(conn, ref.person_id, on) == "ours":
        return "unchanged"
    abroad = bool(p.get("abroad"))
    lost_on = model.loss_date(model.LossReason.MOVED_OUT, on, abroad=abroad)
    planned = p.get("planned_on")
    if planned is not None:  # 転出確定 after a 転出予定
        planned_loss = model.loss_date(
            model.LossReason.MOVED_OUT, date.fromisoformat(str(planned)), abroad=abroad
        )
        if planned_loss == lost_on:
            return "unchanged"
        insurer = service.insurer_for_city(conn, _city_of(conn, ref.person_id))
        row = conn.execute(
            text(
                "SELECT q.qualification_id FROM kaigo.qualification q JOIN kaigo.insured i USING (insured_id) "
                "WHERE i.insurer_no = :i AND i.person_id = :p AND q.superseded_at IS NULL "
                "AND q.loss_reason = :r AND upper(q.valid) = :d"
            ),
            {
                "i": insurer.insurer_no,
                "p": ref.person_id,
                "r": model.LossReason.MOVED_OUT.value,
                "d": planned_loss,
            },
        ).first()
        if row is None:
            return "unchanged"  # not insured at the 転出予定
        service.do_correct(
            conn, ctx, qualification_id=row.qualification_id, lost_on=lost_on,
            reason=f"転出確定（転出日 {planned} → {on.isoformat()}）", source_event=source,
        )  # fmt: skip
        return "corrected"
    lost = service.do_lose(
        conn, ctx, person_no=person_no, lost_on=lost_on, reason=model.LossReason.MOVED_OUT,
        note="国外転出" if abroad else None, source_event=source,
    )  # fmt: skip
    return "lost" if lost else "unchanged"


def _city_of(conn: Connection, person_id: int) -> str:
    return str(
        conn.execute(
            text("SELECT city_code FROM identity.person WHERE person_id = :p"), {"p": person_id}
        ).scalar_one()
    )


# -- 65歳到達 -------------------------------------------------------------------------------------


def latest_birth_attaining(as_of: date, age: int = model.CATEGORY1_AGE) -> date:
    """The latest birth date whose ``age`` is attained on or before ``as_of`` (for an index range)."""
    try:
        guess = as_of.replace(year=as_of.year - age) + timedelta(days=3)
    except ValueError:  # 29 February in a common year
        guess = date(as_of.year - age, 3, 3)
    while attainment_date(guess, age) > as_of:
        guess -= timedelta(days=1)
    return guess


@dataclass(frozen=True)
class RunResult:
    run_id: int
    as_of: date
    promoted: int  # 第2号 → 第1号
    acquired: int  # 65歳到達 (and 65+ residents not yet insured)
    events: EventsResult


_PROMOTE = """
WITH due AS (
    SELECT q.qualification_id, q.insured_id, kaigo.attainment_65(v.birth_date) AS att
      FROM kaigo.qualification q
      JOIN kaigo.insured i USING (insured_id)
      JOIN identity.person_version v ON v.person_id = i.person_id AND upper_inf(v.valid) AND v.superseded_at IS NULL
     WHERE q.category = 2 AND q.superseded_at IS NULL AND upper_inf(q.valid)
       AND i.insurer_no = :insurer AND v.birth_date <= :max_birth
       AND kaigo.attainment_65(v.birth_date) <= :as_of AND v.resident_class = '住民'
), closed AS (
    UPDATE kaigo.qualification q SET valid = daterange(lower(q.valid), due.att), loss_reason = :loss
      FROM due WHERE q.qualification_id = due.qualification_id AND lower(q.valid) < due.att
    RETURNING q.qualification_id, q.insured_id, due.att
), changed AS (
    INSERT INTO kaigo.qualification_change (insured_id, qualification_id, kind, effective_on, reason_code, run_id, recorded_by)
    SELECT insured_id, qualification_id, 'category', att, :loss, :run, :staff FROM closed
)
INSERT INTO kaigo.qualification (insured_id, category, valid, acquire_reason, run_id, recorded_by)
SELECT insured_id, 1, daterange(att, NULL), :acq, :run, :staff FROM closed
RETURNING qualification_id
"""

# Residents of 65 or over on the run date who have no 第1号 period since their 取得日: those who
# reached 65 (取得日 = 到達日) and those already 65+ when they came to live here whose 転入 was not
# processed (取得日 = 住民となった日). Not those in an 適用除外施設 or insured elsewhere (他市町村
# 住所地特例者).
_CANDIDATES = """
CREATE TEMP TABLE kaigo_due ON COMMIT DROP AS
SELECT v.person_id,
       greatest(kaigo.attainment_65(v.birth_date), coalesce(v.resident_on, v.birth_date)) AS acq,
       kaigo.attainment_65(v.birth_date) >= coalesce(v.resident_on, v.birth_date) AS by_age
  FROM identity.person_version v
  JOIN identity.person p ON p.person_id = v.person_id
 WHERE upper_inf(v.valid) AND v.superseded_at IS NULL
   AND v.birth_date <= :max_birth AND v.resident_class = '住民' AND p.city_code = :city
   AND greatest(kaigo.attainment_65(v.birth_date), coalesce(v.resident_on, v.birth_date)) <= :as_of
   AND NOT EXISTS (
        SELECT 1 FROM kaigo.insured i JOIN kaigo.qualification q USING (insured_id)
         WHERE i.person_id = v.person_id AND i.insurer_no = :insurer AND q.superseded_at IS NULL
           AND q.category = 1
           AND (upper_inf(q.valid) OR upper(q.valid) > greatest(kaigo.attainment_65(v.birth_date),
                                                              coalesce(v.resident_on, v.birth_date))))
   AND NOT EXISTS (
        SELECT 1 FROM kaigo.facility_stay s
         WHERE s.person_id = v.person_id AND s.superseded_at IS NULL AND s.stay @> CAST(:as_of AS date))
   AND NOT EXISTS (
        SELECT 1 FROM kaigo.special_address s
         WHERE s.person_id = v.person_id AND s.superseded_at IS NULL AND s.direction = 'theirs'
           AND s.valid @> CAST(:as_of AS date))
"""

_ASSIGN = """
INSERT INTO kaigo.insured (insurer_no, insured_no, person_id, assigned_by)
SELECT :insurer, lpad(nextval('kaigo.insured_no_seq')::text, 10, '0'), d.person_id, :staff
  FROM (SELECT person_id FROM kaigo_due d
         WHERE NOT EXISTS (SELECT 1 FROM kaigo.insured i WHERE i.insurer_no = :insurer AND i.person_id = d.person_id)
         ORDER BY person_id) d
ON CONFLICT (insurer_no, person_id) DO NOTHING
"""

_ACQUIRE = """
WITH acquired AS (
    INSERT INTO kaigo.qualification (insured_id, category, valid, acquire_reason, run_id, recorded_by)
    SELECT i.insured_id, 1, daterange(d.acq, NULL), CASE WHEN d.by_age THEN :age65 ELSE :moved_in END, :run, :staff
      FROM kaigo_due d JOIN kaigo.insured i ON i.insurer_no = :insurer AND i.person_id = d.person_id
    RETURNING qualification_id, insured_id, lower(valid) AS acq, acquire_reason
)
INSERT INTO kaigo.qualification_change (insured_id, qualification_id, kind, effective_on, reason_code, run_id, recorded_by)
SELECT insured_id, qualification_id, 'acquire', acq, acquire_reason, :run, :staff FROM acquired
"""

# The registry export (seed 000 移転先1), one event per new period, built in SQL from numbers and
# codes only: 宛名番号 and 被保険者番号 are ten digits, so no 個人番号 (twelve) can be in them.
_ANNOUNCE = """
INSERT INTO kiban_meta.outbox (topic, key, occurred_on, payload)
SELECT 'kaigo.qualification.acquired', p.person_no, lower(q.valid),
       jsonb_build_object('person_no', p.person_no, 'insurer_no', i.insurer_no, 'insured_no', i.insured_no,
                          'category', q.category, 'category_label', '第1号被保険者',
                          'acquired_on', lower(q.valid), 'acquire_reason', q.acquire_reason,
                          'lost_on', NULL, 'loss_reason', NULL, 'qualification_id', q.qualification_id,
                          'reason_label', CASE q.acquire_reason WHEN :age65 THEN '65歳到達' ELSE '転入' END,
                          'run_id', q.run_id)
  FROM kaigo.qualification q JOIN kaigo.insured i USING (insured_id) JOIN identity.person p ON p.person_id = i.person_id
 WHERE q.run_id = :run
 ORDER BY q.qualification_id
"""


def run_attainment(
    engine: Engine, *, as_of: date | None = None, city_code: str | None = None, events: bool = True
) -> RunResult:
    """The monthly (or daily) run: pending resident events first, then 65歳到達 and 第2号→第1号."""
    as_of = as_of or clock.today()
    pending = process_events(engine) if events else EventsResult()
    with engine.begin() as conn:
        ctx = batch_context(conn, Business.KAIGO, PURPOSE, f"65歳到達処理（基準日 {as_of.isoformat()}）")
        guard.require(conn, ctx, action=Action.UPDATE, log=False)
        # One run at a time: the candidates are read, then numbered and inserted.
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('kaigo.eligibility.run'))"))
        city = city_code or _only_city(conn)
        insurer = service.insurer_for_city(conn, city)
        run_id = int(
            conn.execute(
                text(
                    "INSERT INTO kaigo.run (kind, as_of, started_by) VALUES ('attainment', :d, :s) RETURNING run_id"
                ),
                {"d": as_of, "s": ctx.staff_id},
            ).scalar_one()
        )
        params: dict[str, Any] = {
            "as_of": as_of, "max_birth": latest_birth_attaining(as_of), "insurer": insurer.insurer_no,
            "city": city, "run": run_id, "staff": ctx.staff_id,
            "age65": model.AcquisitionReason.AGE_65.value, "moved_in": model.AcquisitionReason.MOVED_IN.value,
            "acq": model.AcquisitionReason.AGE_65.value, "loss": model.LossReason.BECAME_CATEGORY1.value,
        }  # fmt: skip
        promoted = len(conn.execute(text(_PROMOTE), params).all())
        conn.execute(text(_CANDIDATES), params)
        conn.execute(text("ANALYZE kaigo_due"))
        conn.execute(text(_ASSIGN), params)
        acquired = conn.execute(text(_ACQUIRE), params).rowcount
        outbox.begin_bulk(conn)  # a set-based INSERT into the outbox announces itself like emit()
        conn.execute(text(_ANNOUNCE), params)
        counts = {"promoted": promoted, "acquired": acquired, "events": pending.events,
                  "review": len(pending.review)}  # fmt: skip
        conn.execute(
            text(
                "UPDATE kaigo.run SET finished_at = clock_timestamp(), counts = CAST(:c AS jsonb) WHERE run_id = :r"
            ),
            {"c": _json(counts), "r": run_id},
        )
        total = promoted + acquired
        subjects: list[str] = []
        if 0 < total <= SUBJECT_LIMIT:
            subjects = list(
                conn.execute(
                    text(
                        "SELECT p.person_no FROM kaigo.qualification q JOIN kaigo.insured i USING (insured_id) "
                        "JOIN identity.person p ON p.person_id = i.person_id WHERE q.run_id = :r ORDER BY 1"
                    ),
                    {"r": run_id},
                ).scalars()
            )
        audit.record(
            conn, ctx, action=Action.UPDATE, subjects=subjects,
            detail={"what": "kaigo.eligibility.run", "run_id": run_id, "as_of": as_of, **counts,
                    # A large run: the persons are those of kaigo.qualification with this run_id.
                    **({"subjects": "run_id"} if total > SUBJECT_LIMIT else {})},
        )  # fmt: skip
    return RunResult(run_id, as_of, promoted, acquired, pending)


def _only_city(conn: Connection) -> str:
    cities = list(conn.execute(text("SELECT city_code FROM kaigo.insurer ORDER BY city_code")).scalars())
    if len(cities) != 1:
        raise service.EligibilityError("保険者が複数登録されています: 市区町村コードを指定してください")
    return str(cities[0])


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, default=str)
