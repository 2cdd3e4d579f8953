"""``kiban gateway reconcile`` — 副本 against 原本 (seed 000 リスク7: 原本と照合するためのエクスポート).

Lives in the entry-point layer because it reads two contexts: the 原本 is the 介護保険 資格 as the
kaigo context holds it today, the 副本 is what the 中間サーバー would answer with. Read as the batch
principal for 介護保険 (one access-log row naming the run, 処理事由 kaigo.linkage); only the items
the ``chukan`` subscription registers are compared. The export names persons by their internal id,
never a 個人番号.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import text

from kiban.db.engine import get_engine
from kiban.gateway import exports, tenants
from kiban.gateway.replica_sync import CONSUMER
from kiban.linkage.applications import subscriptions_of
from kiban.security import guard
from kiban.security.batch import batch_context
from kiban.security.context import Action, Business
from kiban.shared import clock

# The current 資格 per person, in the shape kaigo.eligibility publishes it (kaigo.qualification.*):
# 取得日 = lower(valid), 喪失日 = upper(valid) ([acquired_on, lost_on), kaigo.eligibility.model).
_ORIGINALS = """
SELECT DISTINCT ON (i.person_id) i.person_id, i.insurer_no, i.insured_no, q.category,
       lower(q.valid) AS acquired_on, CASE WHEN upper_inf(q.valid) THEN NULL ELSE upper(q.valid) END AS lost_on
  FROM kaigo.qualification q JOIN kaigo.insured i USING (insured_id)
 WHERE q.superseded_at IS NULL
 ORDER BY i.person_id, lower(q.valid) DESC, q.qualification_id DESC
"""


def reconcile_command(
    city: str = typer.Option(..., "--city", help="地方公共団体コード（6桁）"),
    out: Path = typer.Option(..., "--out", help="照合結果 CSV の書出し先"),
) -> None:
    """副本と原本（介護保険 資格）を照合し、不一致を CSV に書き出します。"""
    with get_engine().begin() as conn:
        ctx = batch_context(conn, Business.KAIGO, "kaigo.linkage", f"副本と原本の照合（{city}）")
        guard.require(conn, ctx, action=Action.EXPORT, detail={"job": "gateway.reconcile", "city": city})
        tenants.load_tenant(conn, city)
        today = clock.today()
        items = sorted(
            {
                i
                for s in subscriptions_of(conn, CONSUMER)
                if s.dataset == "kaigo.qualification" and s.live_on(today)
                for i in s.items
            }
        )
        if not items:
            typer.echo("エラー: 中間サーバー（chukan）の介護保険 資格の利用登録がありません", err=True)
            raise typer.Exit(1)
        originals: dict[tuple[int, str], dict[str, Any]] = {}
        for r in conn.execute(text(_ORIGINALS)).mappings():
            originals[(int(r["person_id"]), "kaigo.qualification")] = {
                k: (r[k].isoformat() if isinstance(r[k], date) else r[k]) for k in items if k in r
            }
        differences = exports.reconcile(conn, city, originals)
    out.write_text(exports.reconciliation_csv(differences), encoding="utf-8-sig")
    typer.echo(f"{city}: 副本 {len(originals):,} 人分を照合、不一致 {len(differences):,} 件（{out}）")
