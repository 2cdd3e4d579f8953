"""Dated scenarios for 介護保険 資格: resident events go in through the identity hub's real import
(docs/layouts/resident-events.md), the kaigo jobs read them from the outbox, and the periods are read
back from the database."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, text

from kiban.identity.events import HEADER, import_events
from kiban.kaigo.eligibility import jobs

CITY = "992011"
INSURER = "992011"
HH = "3000000101"
_ids = itertools.count(1)


def row(kind: str, on: str, person_no: str, **items: object) -> str:
    values = {
        "異動ID": f"K{next(_ids):08d}",
        "市区町村コード": CITY,
        "異動事由": kind,
        "異動日": on,
        "宛名番号": person_no,
    } | {k: str(v) for k, v in items.items()}
    assert not set(values) - set(HEADER)
    return ",".join(values.get(h, "") for h in HEADER)


def moved_in(person_no: str, on: str, birth: str, *, household: str = HH, **over: object) -> str:
    items: dict[str, object] = {
        "届出日": on,
        "世帯番号": household,
        "続柄": "世帯主",
        "氏": "基盤",
        "名": "一郎",
        "氏カナ": "キバン",
        "名カナ": "イチロウ",
        "性別": 1,
        "生年月日": birth,
        "郵便番号": "999-8002",
        "住所": "基盤県基盤市元町二丁目24番6号",
        "地区コード": "01",
        "転入前住所": "架空都みなと区中央5丁目30番7号",
    }
    return row("転入", on, person_no, **(items | over))


def move_out(person_no: str, on: str, *, abroad: bool = False, notified: str | None = None) -> str:
    return row(
        "転出予定", on, person_no, 届出日=notified or on, 転出先住所="架空都みどり区1番地",
        **({"国外区分": "1"} if abroad else {}),
    )  # fmt: skip


def died(person_no: str, on: str) -> str:
    return row("死亡", on, person_no, 届出日=on)


def csv(*lines: str) -> bytes:
    return ("\r\n".join((",".join(HEADER), *lines)) + "\r\n").encode()


@dataclass(frozen=True)
class PeriodRow:
    insured_no: str
    category: int
    acquired_on: date
    lost_on: date | None
    acquire_reason: str
    loss_reason: str | None


class City:
    """A test city: import resident events, run the kaigo jobs, read the periods."""

    def __init__(self, engine: Engine, atena_ctx: object) -> None:
        self.engine = engine
        self.ctx = atena_ctx

    def events(self, *lines: str, today: str) -> jobs.EventsResult:
        import_events(
            self.engine, csv(*lines), f"idou-{next(_ids)}.csv", self.ctx, today=date.fromisoformat(today)
        )  # type: ignore[arg-type]
        return jobs.process_events(self.engine)

    def periods(self, person_no: str, *, live: bool = True) -> list[PeriodRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT i.insured_no, q.category, lower(q.valid) AS a, upper(q.valid) AS l, q.acquire_reason, "
                    "q.loss_reason FROM kaigo.qualification q JOIN kaigo.insured i USING (insured_id) "
                    "JOIN identity.person p ON p.person_id = i.person_id WHERE p.person_no = :p "
                    + ("AND q.superseded_at IS NULL " if live else "")
                    + "ORDER BY lower(q.valid), q.qualification_id"
                ),
                {"p": person_no},
            ).all()
        return [PeriodRow(r.insured_no, r.category, r.a, r.l, r.acquire_reason, r.loss_reason) for r in rows]

    def spans(self, person_no: str) -> list[tuple[int, date, date | None]]:
        return [(p.category, p.acquired_on, p.lost_on) for p in self.periods(person_no)]
