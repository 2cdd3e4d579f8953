"""The consistency check of the 宛名 hub (整合性チェック) and ``kiban identity check``.

Seed 000 (団体内統合宛名システム, 統合宛名管理機能): 「団体内統合宛名番号と個人番号の関連に不整合がないか
のチェックを定期的に行い、確認リストを出力する」. One run reads the whole hub in one snapshot and
records ``identity.check_run`` with one ``identity.check_anomaly`` per finding — the 確認リスト.

Most findings are impossible while the constraints of migration 0007 hold (one current version,
unique numbers, foreign keys) and the no-overlap trigger of 0015 (which the owner can disable). They are checked anyway: the check exists
to catch what a restore, a manual repair by the database owner, or a future bug slipped past them.
The vault check is the one only this run can do: a ciphertext opens only under its own row's
person_id (AES-GCM associated data), so a number moved to another person's row does not decrypt,
and a blind index that is not the HMAC of the decrypted number means the index and the number
have come apart.

Anomaly texts name the 宛名番号 (or 世帯番号) and the kind — never a 個人番号 (domain.md §10.9); a
text that would hold one is replaced by the kind's label.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import typer
from sqlalchemy import Connection, Engine, func, insert, select, text, update

from kiban.identity import staging
from kiban.identity import tables as t
from kiban.identity.repo import IdentityError
from kiban.identity.vault import COLUMN, TABLE
from kiban.security import audit, guard, keys
from kiban.security import tables as st
from kiban.security.context import AccessContext, Action
from kiban.shared import mynumber

KINDS: dict[str, str] = {
    "no_current_version": "現在の記録なし",
    "several_current_versions": "現在の記録が複数",
    "overlapping_versions": "有効期間の重複",
    "integrated_no_format": "統合宛名番号の形式誤り",
    "integrated_no_duplicate": "統合宛名番号の重複",
    "vault_undecryptable": "個人番号を復号できない",
    "vault_index_mismatch": "ブラインドインデックス不一致",
    "vault_invalid_number": "個人番号の検査用数字誤り",
    "vault_duplicate_index": "個人番号の重複",
    "vault_missing_person": "保管庫の宛名なし",
    "member_missing_person": "世帯員の宛名なし",
    "member_missing_household": "世帯員の世帯なし",
    "household_without_head": "世帯主なし",
    "household_several_heads": "世帯主が複数",
    "member_departed": "死亡・転出者の世帯加入",
    "event_missing_person": "住民異動の宛名なし",
    "event_missing_household": "住民異動の世帯なし",
    "load_left_behind": "全件取込の作業データ残存",
}

_CURRENT_V = "upper_inf(v.valid) AND v.superseded_at IS NULL"
_CURRENT_M = "upper_inf(m.valid) AND m.superseded_at IS NULL"
_VAULT_BATCH = 5000


@dataclass(frozen=True)
class Anomaly:
    """One line of the 確認リスト."""

    kind: str
    detail: str
    person_id: int | None = None
    person_no: str | None = None
    household_no: str | None = None

    @property
    def label(self) -> str:
        return KINDS.get(self.kind, self.kind)

    @property
    def subject(self) -> str:
        """What the 宛名番号 column shows: the 宛名番号, or the 世帯番号 for a household finding."""
        if self.person_no:
            return self.person_no
        return f"世帯 {self.household_no}" if self.household_no else ""


@dataclass
class CheckReport:
    run_id: int
    persons: int
    anomalies: list[Anomaly] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.anomalies

    def by_kind(self) -> dict[str, int]:
        return _count(self.anomalies)

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "persons": self.persons,
            "seconds": round(self.seconds, 3),
            "anomalies": [{**asdict(a), "label": a.label} for a in self.anomalies],
        }


def _rows(conn: Connection, sql: str) -> list[Any]:
    return list(conn.execute(text(sql)))


def _persons(conn: Connection) -> Iterator[Anomaly]:
    for r in _rows(
        conn,
        f"""SELECT p.person_id, p.person_no FROM identity.person p
             WHERE NOT EXISTS (SELECT 1 FROM identity.person_version v
                                WHERE v.person_id = p.person_id AND {_CURRENT_V})
             ORDER BY p.person_no""",
    ):
        yield Anomaly(
            "no_current_version",
            f"宛名番号 {r.person_no} に現在の記録（終了していない履歴）がありません",
            r.person_id,
            r.person_no,
        )
    several: set[int] = set()
    for r in _rows(
        conn,
        f"""SELECT v.person_id, p.person_no, count(*) AS n FROM identity.person_version v
              JOIN identity.person p ON p.person_id = v.person_id
             WHERE {_CURRENT_V} GROUP BY v.person_id, p.person_no HAVING count(*) > 1 ORDER BY p.person_no""",
    ):
        several.add(int(r.person_id))
        yield Anomaly(
            "several_current_versions",
            f"宛名番号 {r.person_no} に現在の記録が {r.n} 件あります",
            r.person_id,
            r.person_no,
        )
    # Sorted by start, any overlap shows between neighbours: if A overlaps C and B starts between
    # them, B starts before A ends.
    for r in _rows(
        conn,
        """SELECT DISTINCT s.person_id, p.person_no FROM (
               SELECT person_id, valid,
                      lag(valid) OVER (PARTITION BY person_id ORDER BY lower(valid), version_id) AS prev
                 FROM identity.person_version WHERE superseded_at IS NULL) s
             JOIN identity.person p ON p.person_id = s.person_id
            WHERE s.prev && s.valid ORDER BY p.person_no""",
    ):
        if int(r.person_id) not in several:
            yield Anomaly(
                "overlapping_versions",
                f"宛名番号 {r.person_no} の履歴の有効期間が重なっています",
                r.person_id,
                r.person_no,
            )
    for r in _rows(
        conn,
        """SELECT person_id, person_no, integrated_no, city_code FROM identity.person
            WHERE integrated_no !~ '^[0-9]{15}$' OR left(integrated_no, 6) <> city_code
            ORDER BY person_no""",
    ):
        yield Anomaly(
            "integrated_no_format",
            f"宛名番号 {r.person_no} の統合宛名番号は15桁の数字で、市区町村コード {r.city_code} で始まる"
            "必要があります",
            r.person_id,
            r.person_no,
        )
    for r in _rows(
        conn,
        """SELECT integrated_no, array_agg(person_no ORDER BY person_no) AS nos FROM identity.person
            GROUP BY integrated_no HAVING count(*) > 1 ORDER BY integrated_no""",
    ):
        for no in r.nos:
            others = "、".join(n for n in r.nos if n != no)
            yield Anomaly(
                "integrated_no_duplicate",
                f"宛名番号 {no} の統合宛名番号 {r.integrated_no} は宛名番号 {others} にも付番されています",
                None,
                no,
            )


def _vault(conn: Connection, progress: Callable[[int], None] | None) -> Iterator[Anomaly]:
    """Decrypt every vault row under its own person_id and recompute its blind index."""
    vault = keys.Vault.load(conn)
    seen = 0
    # A server-side cursor: a million rows are read in batches, not held at once.
    result = conn.execute(
        text(
            """SELECT m.person_id, p.person_no, m.ciphertext, m.blind_index FROM identity.my_number_vault m
                 LEFT JOIN identity.person p ON p.person_id = m.person_id ORDER BY m.person_id"""
        ),
        execution_options={"stream_results": True, "yield_per": _VAULT_BATCH},
    )
    for r in result:
        seen += 1
        if progress and seen % 100_000 == 0:
            progress(seen)
        if r.person_no is None:
            yield Anomaly(
                "vault_missing_person",
                f"個人番号保管庫の行（内部番号 {r.person_id}）に対応する宛名がありません",
                r.person_id,
            )
            continue
        try:
            digits = vault.decrypt(
                bytes(r.ciphertext), table=TABLE, column=COLUMN, row_id=r.person_id
            ).decode("ascii")
        except (keys.DecryptionError, UnicodeDecodeError):
            yield Anomaly(
                "vault_undecryptable",
                f"宛名番号 {r.person_no} の個人番号がこの宛名の鍵文脈で復号できません"
                "（別の宛名の行から移された、または改ざんされた可能性）",
                r.person_id,
                r.person_no,
            )
            continue
        if not mynumber.is_valid(digits):
            yield Anomaly(
                "vault_invalid_number",
                f"宛名番号 {r.person_no} の個人番号は12桁の数字でないか、検査用数字が一致しません",
                r.person_id,
                r.person_no,
            )
        if vault.blind_index(digits) != bytes(r.blind_index):
            yield Anomaly(
                "vault_index_mismatch",
                f"宛名番号 {r.person_no} のブラインドインデックスが保管している個人番号と一致しません"
                "（個人番号による検索・重複確認が誤ります）",
                r.person_id,
                r.person_no,
            )
    for r in _rows(
        conn,
        """SELECT array_agg(p.person_no ORDER BY p.person_no) AS nos FROM identity.my_number_vault m
             JOIN identity.person p ON p.person_id = m.person_id
            GROUP BY m.blind_index HAVING count(*) > 1""",
    ):
        for no in r.nos:
            others = "、".join(n for n in r.nos if n != no)
            yield Anomaly(
                "vault_duplicate_index",
                f"宛名番号 {no} の個人番号と同じ番号が宛名番号 {others} にも登録されています",
                None,
                no,
            )


def _households(conn: Connection) -> Iterator[Anomaly]:
    for r in _rows(
        conn,
        """SELECT m.member_id, m.person_id, h.household_no FROM identity.household_member m
             LEFT JOIN identity.person p ON p.person_id = m.person_id
             LEFT JOIN identity.household h ON h.household_id = m.household_id
            WHERE m.superseded_at IS NULL AND p.person_id IS NULL ORDER BY m.member_id""",
    ):
        yield Anomaly(
            "member_missing_person",
            f"世帯番号 {r.household_no or '（不明）'} の世帯員（内部番号 {r.person_id}）の宛名がありません",
            household_no=r.household_no,
        )
    for r in _rows(
        conn,
        """SELECT m.household_id, p.person_id, p.person_no FROM identity.household_member m
             JOIN identity.person p ON p.person_id = m.person_id
             LEFT JOIN identity.household h ON h.household_id = m.household_id
            WHERE m.superseded_at IS NULL AND h.household_id IS NULL ORDER BY p.person_no""",
    ):
        yield Anomaly(
            "member_missing_household",
            f"宛名番号 {r.person_no} の世帯員の記録が存在しない世帯（内部番号 {r.household_id}）を指しています",
            r.person_id,
            r.person_no,
        )
    for r in _rows(
        conn,
        f"""SELECT h.household_no, count(*) AS members,
                   array_agg(p.person_no ORDER BY p.person_no) AS nos,
                   array_agg(p.person_no ORDER BY p.person_no) FILTER (WHERE m.is_head) AS heads
              FROM identity.household_member m
              JOIN identity.household h ON h.household_id = m.household_id
              JOIN identity.person p ON p.person_id = m.person_id
             WHERE {_CURRENT_M}
             GROUP BY h.household_no
            HAVING count(*) FILTER (WHERE m.is_head) <> 1 ORDER BY h.household_no""",
    ):
        if not r.heads:
            shown = "、".join(r.nos[:10]) + (" ほか" if len(r.nos) > 10 else "")
            yield Anomaly(
                "household_without_head",
                f"世帯番号 {r.household_no} の現在の世帯員 {r.members} 人（宛名番号 {shown}）に世帯主がいません",
                household_no=r.household_no,
            )
        else:
            yield Anomaly(
                "household_several_heads",
                f"世帯番号 {r.household_no} に世帯主が {len(r.heads)} 人います（宛名番号 {'、'.join(r.heads)}）",
                household_no=r.household_no,
            )
    for r in _rows(
        conn,
        f"""SELECT p.person_id, p.person_no, v.resident_class, h.household_no
              FROM identity.household_member m
              JOIN identity.person p ON p.person_id = m.person_id
              JOIN identity.person_version v ON v.person_id = m.person_id AND {_CURRENT_V}
              JOIN identity.household h ON h.household_id = m.household_id
             WHERE {_CURRENT_M} AND v.resident_class IN ('死亡', '転出') ORDER BY p.person_no""",
    ):
        yield Anomaly(
            "member_departed",
            f"宛名番号 {r.person_no} は{r.resident_class}ですが、世帯番号 {r.household_no} の世帯員のままです",
            r.person_id,
            r.person_no,
            r.household_no,
        )


def _events(conn: Connection) -> Iterator[Anomaly]:
    for r in _rows(
        conn,
        """SELECT e.event_id, e.person_id FROM identity.resident_event e
             LEFT JOIN identity.person p ON p.person_id = e.person_id
            WHERE p.person_id IS NULL ORDER BY e.event_pk""",
    ):
        yield Anomaly(
            "event_missing_person",
            f"住民異動 {r.event_id} の宛名（内部番号 {r.person_id}）がありません",
            r.person_id,
        )
    for r in _rows(
        conn,
        """SELECT e.event_id, e.household_id, p.person_id, p.person_no FROM identity.resident_event e
             JOIN identity.person p ON p.person_id = e.person_id
             LEFT JOIN identity.household h ON h.household_id = e.household_id
            WHERE e.household_id IS NOT NULL AND h.household_id IS NULL ORDER BY e.event_pk""",
    ):
        yield Anomaly(
            "event_missing_household",
            f"宛名番号 {r.person_no} の住民異動 {r.event_id} が存在しない世帯（内部番号 {r.household_id}）を"
            "指しています",
            r.person_id,
            r.person_no,
        )


def _loads(conn: Connection) -> Iterator[Anomaly]:
    """A 住民記録 全件取込 that died: its import still 'running' and its staging schema (names,
    addresses, encrypted numbers outside the hub) left until the next load drops it. A load that is
    running holds the session lock, and is not a finding."""
    running = conn.execute(
        text(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
            " AND ((classid::bigint << 32) | objid::bigint) = :key)"
        ),
        {"key": staging.LOCK_KEY},
    ).scalar_one()
    if running:
        return
    left = conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = :s)"), {"s": staging.SCHEMA}
    ).scalar_one()
    imports = conn.execute(
        select(t.import_batch.c.import_id)
        .where(t.import_batch.c.kind == "registry_full", t.import_batch.c.status == "running")
        .order_by(t.import_batch.c.import_id)
    ).scalars()
    ids = "・".join(str(i) for i in imports)
    if left or ids:
        yield Anomaly(
            "load_left_behind",
            "住民記録 全件取込が途中で終わっています"
            + (f"（取込番号 {ids} が実行中のまま）" if ids else "")
            + (f"。作業用スキーマ {staging.SCHEMA} に取込途中の宛名が残っています" if left else "")
            + "。全件取込をやり直すと削除されます（宛名ハブには反映されていません）",
        )


def _safe(anomaly: Anomaly) -> Anomaly:
    # Nothing above puts a number in a text; this is the last line of defence (domain.md §10.9).
    if mynumber.contains_my_number(anomaly.detail):
        return Anomaly(
            anomaly.kind, anomaly.label, anomaly.person_id, anomaly.person_no, anomaly.household_no
        )
    return anomaly


def run_check(
    engine: Engine, ctx: AccessContext, *, progress: Callable[[int], None] | None = None
) -> CheckReport:
    """Run the whole check in one REPEATABLE READ snapshot and record the 確認リスト."""
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
        guard.require(conn, ctx, action=Action.VIEW, log=False)
        run_id = int(
            conn.execute(
                insert(t.check_run).values(staff_id=ctx.staff_id).returning(t.check_run.c.run_id)
            ).scalar_one()
        )
        persons = int(conn.execute(text("SELECT count(*) FROM identity.person")).scalar_one())
        found: list[Anomaly] = []
        for part in (_persons(conn), _vault(conn, progress), _households(conn), _events(conn), _loads(conn)):
            found.extend(_safe(a) for a in part)
        if found:
            conn.execute(
                insert(t.check_anomaly),
                [
                    {
                        "run_id": run_id,
                        "seq": i,
                        "kind": a.kind,
                        "person_id": a.person_id,
                        "person_no": a.person_no,
                        "detail": a.detail,
                    }
                    for i, a in enumerate(found, start=1)
                ],
            )
        conn.execute(
            update(t.check_run)
            .where(t.check_run.c.run_id == run_id)
            .values(finished_at=func.now(), persons=persons, anomalies=len(found))
        )
        subjects = sorted({a.person_no for a in found if a.person_no})
        audit.record(
            conn,
            ctx,
            action=Action.VIEW,
            subjects=subjects,
            detail={
                "screen": "整合性チェック",
                "run_id": run_id,
                "persons": persons,
                "anomalies": len(found),
                "kinds": dict(sorted(_count(found).items())),
            },
        )
    return CheckReport(run_id, persons, found, time.perf_counter() - started)


@dataclass(frozen=True)
class CheckRun:
    """One recorded run of the check (確認リストの見出し): when, by whom, how many persons and findings."""

    run_id: int
    started_at: Any
    finished_at: Any
    persons: int
    anomalies: int
    staff_code: str | None


def _run_query() -> Any:
    return (
        select(t.check_run, st.staff.c.code.label("staff_code"))
        .select_from(t.check_run.outerjoin(st.staff, st.staff.c.staff_id == t.check_run.c.staff_id))
        .order_by(t.check_run.c.run_id.desc())
    )


def _check_run(r: Any) -> CheckRun:
    return CheckRun(
        int(r.run_id), r.started_at, r.finished_at, int(r.persons), int(r.anomalies), r.staff_code
    )


def list_runs(conn: Connection, ctx: AccessContext, *, limit: int = 20) -> list[CheckRun]:
    """The latest runs, newest first (counts only: no personal data)."""
    guard.require(conn, ctx, action=Action.VIEW, detail={"screen": "整合性チェック履歴"})
    return [_check_run(r) for r in conn.execute(_run_query().limit(limit))]


def run_detail(conn: Connection, ctx: AccessContext, run_id: int) -> tuple[CheckRun, list[Anomaly]]:
    """One run and its 確認リスト. The list names 宛名番号, so the view is logged with them."""
    # The grant first (a refusal is logged): without one, nothing is said about the run.
    guard.require(conn, ctx, action=Action.VIEW, log=False)
    row = conn.execute(_run_query().where(t.check_run.c.run_id == run_id)).first()
    if row is None:
        raise IdentityError(f"整合性チェックの実行番号 {run_id} はありません")
    found = [
        Anomaly(a.kind, a.detail, a.person_id, a.person_no)
        for a in conn.execute(
            select(t.check_anomaly).where(t.check_anomaly.c.run_id == run_id).order_by(t.check_anomaly.c.seq)
        )
    ]
    subjects = sorted({a.person_no for a in found if a.person_no})
    guard.require(
        conn, ctx, action=Action.VIEW, subjects=subjects[:500],
        detail={"screen": "確認リスト", "run_id": run_id, "anomalies": len(found)},
    )  # fmt: skip
    return _check_run(row), found


def _count(found: list[Anomaly]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for a in found:
        counts[a.kind] = counts.get(a.kind, 0) + 1
    return counts


def check_command(
    as_json: bool = typer.Option(False, "--json", help="確認リストを JSON で出力する"),
) -> None:
    """整合性チェック: 統合宛名番号・個人番号・宛名・世帯の不整合を確認リストに出す（異常があれば終了コード 1）."""
    from rich.console import Console
    from rich.table import Table

    from kiban.db.engine import get_engine
    from kiban.security.batch import batch_context, ensure_batch_principal
    from kiban.security.context import Business

    console = Console()
    engine = get_engine()
    with engine.begin() as conn:
        ensure_batch_principal(conn)
        ctx = batch_context(conn, Business.ATENA, "atena.check", "整合性チェック")
    report = run_check(
        engine,
        ctx,
        progress=None if as_json else lambda n: console.print(f"  個人番号保管庫 {n:,} 件を確認 …"),
    )
    if as_json:
        typer.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        console.print(
            f"整合性チェック（実行番号 {report.run_id}）: 宛名 {report.persons:,} 件、"
            f"異常 {len(report.anomalies):,} 件、{report.seconds:.1f} 秒"
        )
        if report.anomalies:
            table = Table("種別", "宛名番号", "内容", title="確認リスト")
            for a in report.anomalies:
                table.add_row(a.label, a.subject, a.detail)
            console.print(table)
        else:
            console.print("異常はありません。")
    raise typer.Exit(1 if report.anomalies else 0)
