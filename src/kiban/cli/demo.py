"""``kiban demo`` — the main job: everything kiban can do so far, on a fresh machine, with no setup.

Each step is a small function; the issues that add capabilities add their step here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy import text

from kiban.cli import demo_exchange
from kiban.cli import serve as serve_cmd
from kiban.cli import synth as synth_cmd
from kiban.cli.console import console
from kiban.db import config, migrate
from kiban.db.engine import database_url, get_engine
from kiban.security import keys
from kiban.security.bootstrap import DemoOrganisation, demo_organisation
from kiban.shared import clock


@dataclass
class DemoRun:
    residents: int
    seed: int
    organisation: DemoOrganisation | None = None
    city_files: Path | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    label: str
    run: Callable[[DemoRun], str]


def _database(_: DemoRun) -> str:
    url = database_url()
    migrate.upgrade(get_engine())
    with get_engine().begin() as conn:
        keys.ensure_keys(conn)  # vault keys (the KEK file is created in $KIBAN_HOME/keys on first use)
    where = "組込みPostgreSQL" if "host=/" in url else "設定されたサーバー"
    return f"{where}、スキーマ {migrate.current(get_engine())}"


def _city(run: DemoRun) -> str:
    s = synth_cmd.run(residents=run.residents, seed=run.seed)
    run.city_files = s.files_dir
    return f"住民 {s.residents:,} 人・{s.households:,} 世帯（65歳以上 {s.aged_65_plus:,} 人）"


def _identity(run: DemoRun) -> str:
    # The demo city's registry file into the 宛名 hub (住民記録 全件取込・初期移行), so the city has
    # persons to search; on a second run the same file is already imported and nothing changes.
    if run.city_files is None:
        return "取込ファイルがありません（省略）"
    return synth_cmd.load_identity(run.city_files)


def _organisation(run: DemoRun) -> str:
    with get_engine().begin() as conn:
        run.organisation = demo_organisation(conn, since=clock.today())
    return f"職員 {len(run.organisation.staff)} 名・端末 {run.organisation.terminal_code}"


def _kaigo(run: DemoRun) -> str:
    # 介護保険 資格: the monthly run insures every resident of 65 or over (on a fresh hub: all of
    # them, with their 65歳到達日 or 転入日); then, as a city does after each month end, the 65歳到達者
    # of the last month (and of this month so far) get their 被保険者証 in bulk.
    from kiban.kaigo import cli as kaigo_cli
    from kiban.kaigo.eligibility import jobs

    today = clock.today()
    result = jobs.run_attainment(get_engine(), as_of=today)
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    issued: list[str] = []
    for month in (last_month, this_month):
        out = config.home() / "out" / f"kaigo-certificates-{month:%Y%m}.pdf"
        batch = kaigo_cli.issue_month(month, today, out)
        if batch.done:
            issued.append(f"{month:%Y年%m月}の65歳到達者 {batch.done:,} 枚（{out}）")
    with get_engine().connect() as conn:
        insured = conn.execute(
            text("SELECT count(*) FROM kaigo.qualification WHERE superseded_at IS NULL AND upper_inf(valid)")
        ).scalar_one()
        holders = conn.execute(
            text(
                "SELECT p.person_no FROM kaigo.certificate c JOIN kaigo.insured i USING (insured_id) "
                "JOIN identity.person p ON p.person_id = i.person_id ORDER BY c.certificate_id DESC LIMIT 3"
            )
        ).scalars()
        examples = "、".join(f"/kaigo/persons/{no}" for no in holders)
    line = f"介護保険 被保険者 {insured:,} 人（今回の資格取得 {result.acquired:,} 人）"
    line += "\n被保険者証の一括交付: " + (
        "、".join(issued) if issued else "今回の対象者はいません（交付済み）"
    )
    if examples:
        line += f"\n交付済みの例（介護保険 担当でログインして開く）: {examples}"
    return line


# The synthetic 年金保険者の通知 (特別徴収対象者, 介護保険法第134条): a real city receives it from
# 日本年金機構 and the 共済組合 each May; the demo derives it from the synthetic 課税年金収入額, and
# the 前年度2月の特徴額 (which fixes the 仮徴収, 法第140条) from last year's 賦課.
_SYNTH_PENSION = """
INSERT INTO kaigo.pension_deduction (person_id, fiscal_year, pension_insurer, annual_pension, previous_february)
SELECT t.person_id, :fy, '日本年金機構', t.public_pension_income,
       (SELECT (a.payable / 6 / 100) * 100 FROM kaigo.assessment a JOIN kaigo.insured i USING (insured_id)
         WHERE i.person_id = t.person_id AND a.fiscal_year = :fy - 1 AND a.superseded_at IS NULL
           AND a.method = 'special')
  FROM identity.tax_income t
  JOIN kaigo.insured i ON i.person_id = t.person_id
 WHERE t.fiscal_year = :fy AND t.superseded_at IS NULL AND t.public_pension_income >= 180000
   AND NOT EXISTS (SELECT 1 FROM kaigo.pension_deduction d WHERE d.person_id = t.person_id
                      AND d.fiscal_year = :fy AND d.superseded_at IS NULL)
"""


def _kaigo_premium(run: DemoRun) -> str:
    # 介護保険料: the 住民税 課税情報 and 生活保護 files of the synthetic city into the hub, then the
    # 本算定 of last year and this year (the city's 7月 本算定), and this year's 決定通知書 in bulk.
    from kiban.identity import facts
    from kiban.kaigo.assessment import jobs as assess_jobs
    from kiban.kaigo.assessment import receivables as kaigo_receivables
    from kiban.kaigo.assessment import service as assess_service
    from kiban.security.batch import batch_context
    from kiban.security.context import Business
    from kiban.shared.fiscal import fiscal_year

    engine = get_engine()
    if run.city_files is not None:
        for kind, name in (("kazei", "kazei.csv"), ("seiho", "seiho.csv")):
            path = run.city_files / name
            if path.exists():
                with engine.begin() as conn:
                    ctx = batch_context(conn, Business.ATENA, "atena.import", f"{name}の取込（デモ）")
                facts.import_facts(engine, kind, path.read_bytes(), name, ctx)
    # The latest 年度 whose 住民税 is known (the synthetic city's files hold the last two): the
    # 本算定 needs the 課税状況 of its own 年度 (介護保険法施行令第38条).
    with engine.connect() as conn:
        known = conn.execute(text("SELECT max(fiscal_year) FROM identity.tax_income")).scalar()
    fy = int(known) if known else fiscal_year(clock.today())
    runs = []
    for year in (fy - 1, fy):
        with engine.begin() as conn:
            conn.execute(text(_SYNTH_PENSION), {"fy": year})
        runs.append(assess_jobs.assess(engine, fiscal_year=year))
        # 調定: the 期別 with their 納付番号, so 収納 and 消込 have something to match.
        kaigo_receivables.sync(engine, fiscal_year=year)
    out = config.home() / "out" / f"kaigo-premium-notices-{fy}.pdf"
    batch_id, pdf = assess_service.bulk_notices(engine, fiscal_year=fy, run_id=runs[-1].run_id)
    if pdf:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(pdf)
    with engine.connect() as conn:
        stages = conn.execute(
            text(
                "SELECT stage, count(*), sum(payable) FROM kaigo.assessment WHERE fiscal_year = :fy"
                " AND superseded_at IS NULL GROUP BY stage ORDER BY stage"
            ),
            {"fy": fy},
        ).all()
        special = conn.execute(
            text(
                "SELECT count(*) FROM kaigo.assessment WHERE fiscal_year = :fy AND superseded_at IS NULL"
                " AND method = 'special'"
            ),
            {"fy": fy},
        ).scalar_one()
        example = conn.execute(
            text(
                "SELECT p.person_no FROM kaigo.assessment a JOIN kaigo.insured i USING (insured_id)"
                " JOIN identity.person p ON p.person_id = i.person_id WHERE a.fiscal_year = :fy"
                " AND a.superseded_at IS NULL ORDER BY i.insured_no LIMIT 1"
            ),
            {"fy": fy},
        ).scalar()
    total = sum(n for _, n, _ in stages)
    amount = sum(int(s or 0) for _, _, s in stages)
    last = runs[-1]
    label = "本算定" if last.kind == "initial" else "更正"
    line = (
        f"{fy}年度 介護保険料 {label}: {total:,} 人、決定額の合計 {amount:,} 円"
        f"（特別徴収 {special:,} 人・普通徴収 {total - special:,} 人、今回の変更 "
        f"{sum(last.counts.get(k, 0) for k in ('initial', 'new', 'correction')):,} 人）"
    )
    line += "\n所得段階別: " + "、".join(f"第{s}段階 {n:,}人" for s, n, _ in stages if s is not None)
    if pdf:
        line += f"\n決定通知書: {out}（一括作成 {batch_id}）"
    else:
        line += "\n決定通知書: 今回の対象者はいません（作成済み）"
    if example:
        line += f"\n保険料の画面の例（介護保険 担当でログインして開く）: /kaigo/persons/{example}/premium"
    return line


def _collection(run: DemoRun) -> str:
    # 収納・滞納: a synthetic bank file pays the 普通徴収 期別 already due (one person in twelve stops
    # paying from the 第7期, one 期別 in fifty is paid twice over), then the 督促 run and its 督促状. A second demo
    # run imports nothing new (the same file) and demands nothing twice.
    from kiban.collection import demands, payments
    from kiban.kaigo.assessment import receivables as kaigo_receivables
    from kiban.security.batch import batch_context
    from kiban.security.context import Business

    engine = get_engine()
    today = clock.today()
    with engine.connect() as conn:
        due = conn.execute(
            text(
                "SELECT receivable_id, person_id, period, payment_no, due_date, amount FROM collection.receivable"
                " WHERE business = 'kaigo' AND method = 'ordinary' AND amount > 0 AND due_date < :d"
                " ORDER BY receivable_id"
            ),
            {"d": today},
        ).all()
    if not due:
        return "納期限の来た普通徴収の期別はありません（省略）"
    lines = [",".join(payments.HEADER)]
    for r in due:
        if r.person_id % 12 == 0 and r.period >= 7:
            continue  # one in twelve has stopped paying from the 第7期: 滞納
        amount = int(r.amount) * (2 if r.receivable_id % 50 == 0 else 1)
        paid_on = min(r.due_date, today)
        lines.append(f"DEMO{r.receivable_id:09d},{r.payment_no},{paid_on.isoformat()},{amount},基盤銀行")
    data = ("\r\n".join(lines) + "\r\n").encode()
    with engine.begin() as conn:
        ctx = batch_context(conn, Business.KAIGO, "kaigo.collection", "収納ファイル取込（デモ）")
    result = payments.import_payments(engine, ctx, channel="bank", data=data, file_name="demo-bank.csv")
    run_ = demands.demand_run(engine, ctx, business="kaigo", as_of=today)
    out = config.home() / "out" / "kaigo-demands.pdf"
    if run_.demands:
        pdf = kaigo_receivables.demand_pdf(engine, run_.batch_id)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(pdf)
    line = (
        "収納ファイル: 取込済み（変更なし）"
        if result.already_imported
        else f"収納ファイル: {result.imported:,} 件を消込（完納 {result.applied:,}・過納 {result.over:,}）"
    )
    line += f"\n督促: {run_.demands:,} 期別・{run_.persons:,} 人" + (
        f"（督促状 {out}）" if run_.demands else "（新たな対象なし）"
    )
    line += "\n滞納整理の画面（介護保険 担当でログインして開く）: /collection/arrears"
    return line


STEPS: list[Step] = [
    Step("データベースを準備", _database),
    Step("合成都市を作成", _city),
    # After the organisation: the load acts as the batch principal, a staff ID, and the demo creates
    # its staff only while the staff table is empty (kiban.security.bootstrap.demo_organisation).
    Step("デモ用の職員・権限・端末を作成", _organisation),
    Step("住民記録を宛名ハブに取込", _identity),
    Step("介護保険の資格処理と被保険者証の一括交付", _kaigo),
    Step("介護保険料の本算定と決定通知書の一括作成", _kaigo_premium),
    Step("介護保険料の収納・消込と督促", _collection),
    Step("庁内連携: データ使用承認願と副本登録", lambda _: demo_exchange.linkage_step()),
    Step("中間サーバー: 他団体からの情報照会と情報提供等記録", lambda _: demo_exchange.gateway_step()),
]


def _print_login(org: DemoOrganisation, host: str, port: int) -> None:
    base = f"http://{host}:{port}"
    console.print("\n[bold]ログイン方法[/bold]")
    # soft_wrap: the URL must stay on one line to be copied whole.
    console.print(
        f"1. この端末を登録: {base}/terminal/enrol?terminal_code={org.terminal_code}&code={org.enrol_code}",
        soft_wrap=True,
    )
    console.print("   を開き「この端末を登録する」を押します（登録コードは1回限り・24時間有効）。")
    password = org.staff[0].password if org.staff else "（既存のパスワード）"
    console.print(f"2. 職員IDとパスワードでログイン。パスワードは全員 [bold]{password}[/bold]（デモ専用）。")
    console.print(
        "3. 確認コード（二要素認証）は別の端末で `kiban security totp-code <登録キー>` を実行して表示します。"
    )
    table = Table()
    table.add_column("職員ID", no_wrap=True)
    table.add_column("氏名", no_wrap=True)
    table.add_column("権限", overflow="fold")
    # The key must never be cut short: the staff member types or pastes all 32 characters.
    table.add_column("二要素認証の登録キー", no_wrap=True, min_width=32)
    for s in org.staff:
        table.add_row(s.code, s.name, s.roles, s.totp_secret or "")
    console.print(table)


def demo(
    residents: int = typer.Option(10_000, "--residents", "-n", min=1, help="合成都市の住民数"),
    seed: int = typer.Option(1, "--seed", "-s", help="乱数シード"),
    host: str = typer.Option("127.0.0.1", help="待受アドレス"),
    port: int = typer.Option(8000, help="待受ポート"),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="最後に Web 画面を起動する"),
) -> None:
    """Create the database, a synthetic city and demo staff, then serve the web UI."""
    run = DemoRun(residents=residents, seed=seed)
    started = time.perf_counter()
    for i, step in enumerate(STEPS, 1):
        console.rule(f"[{i}/{len(STEPS)}] {step.label}")
        console.print(step.run(run))
    console.print(f"\n準備が完了しました（{time.perf_counter() - started:.1f} 秒）。")
    if run.organisation is not None:
        _print_login(run.organisation, host, port)
    if serve:
        serve_cmd.run(host=host, port=port)
