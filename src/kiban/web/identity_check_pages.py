"""整合性チェック screen of the 宛名 hub: run the check (統合宛名番号 ↔ 個人番号 ↔ 宛名, duplicates,
dangling references; seed 000 「定期的なチェック…確認リストを出力する」) and read each run's 確認リスト.

The run reads the whole hub in one snapshot (a million persons take a while), so it runs after the
response; the list of runs shows it when it has finished. Operators schedule the same check as
``kiban identity check``.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from kiban.identity import check
from kiban.identity.repo import IdentityError
from kiban.security.context import AccessContext, Business
from kiban.web import deps
from kiban.web.nav import MenuItem, register
from kiban.web.session import access
from kiban.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
EngineDep = Annotated[Engine, Depends(deps.engine)]
Checker = Annotated[AccessContext, Depends(access(Business.ATENA, "atena.check"))]
PATH = "/atena/check"
log = logging.getLogger(__name__)

register(MenuItem("atena-check", "整合性チェック", PATH, Business.ATENA))


@router.get(PATH, response_class=HTMLResponse)
def runs_page(request: Request, engine: EngineDep, ctx: Checker) -> HTMLResponse:
    with engine.begin() as conn:
        runs = check.list_runs(conn, ctx)
    return render(request, "identity/checks.html", {"active": "atena-check", "runs": runs})


def run_in_background(engine: Engine, ctx: AccessContext) -> None:
    """The check after the response; a failure is logged (the run's transaction leaves nothing)."""
    try:
        check.run_check(engine, ctx)
    except Exception:
        log.exception("整合性チェックが異常終了しました（職員 %s）", ctx.staff_code)


@router.post(PATH)
def start(background: BackgroundTasks, engine: EngineDep, ctx: Checker) -> Response:
    with engine.begin() as conn:
        check.list_runs(conn, ctx, limit=1)  # the grant is checked (a refusal logged) before anything runs
    background.add_task(run_in_background, engine, ctx)
    return redirect(
        PATH, "整合性チェックを開始しました。終わると下の一覧に表示されます（画面を更新してください）。"
    )


@router.get(PATH + "/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, engine: EngineDep, ctx: Checker, run_id: int) -> HTMLResponse:
    try:
        with engine.begin() as conn:
            run, anomalies = check.run_detail(conn, ctx, run_id)
    except IdentityError as exc:
        return render(request, "error.html", {"title": "整合性チェック", "message": str(exc)}, 404)
    return render(
        request, "identity/check_run.html", {"active": "atena-check", "r": run, "anomalies": anomalies}
    )
