"""``kiban gateway`` — run a city's 中間サーバー, join the network, 符号取得, 情報照会, purge.

The city's kiban database comes from ``KIBAN_DATABASE_URL``; requests are handled as ``kiban_app``
(row-level security applies). ``join`` is an operator's act and runs as the database owner.
Errors are Japanese on stderr with exit code 1.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import typer

app = typer.Typer(help="中間サーバー（情報照会・情報提供）", no_args_is_help=True)


@app.callback()
def _gateway() -> None:
    """中間サーバー: 情報提供ネットワークシステムとの接続、符号取得、情報照会。"""


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"エラー: {exc.args[0] if exc.args else exc}", err=True)
    return typer.Exit(1)


@app.command("serve")
def serve(
    city: str = typer.Option(..., "--city", help="地方公共団体コード（6桁）"),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8710, "--port"),
    sender_interval: float = typer.Option(
        0.5, "--sender-interval", help="後続の回答を送る間隔（秒、0 で停止）"
    ),
    db_workers: int = typer.Option(
        8, "--db-workers", envvar="KIBAN_GATEWAY_DB_WORKERS", help="データベース処理のスレッド数"
    ),
) -> None:
    """中間サーバーの受信口（/gateway/v1/provision, /gateway/v1/answers）を起動します。"""
    from kiban.db.engine import get_app_engine
    from kiban.gateway.server import serve as run

    run(city, get_app_engine(), host=host, port=port, sender_interval=sender_interval, db_workers=db_workers)


@app.command("join")
def join(
    city: str = typer.Option(..., "--city", help="地方公共団体コード（6桁）"),
    network: str = typer.Option(..., "--network", help="情報提供ネットワークシステムの URL"),
    admin_token_file: Path = typer.Option(
        ..., "--admin-token-file", help="ネットワークの管理用トークンのファイル"
    ),
    endpoint: str = typer.Option(
        ..., "--endpoint", help="この中間サーバーの URL（ネットワークからの受信先）"
    ),
    name: str = typer.Option("", "--name", help="団体名（テナントが未登録のとき必要）"),
    business: list[str] = typer.Option(["kaigo"], "--business", help="登録する事務（繰り返し指定可）"),
) -> None:
    """テナントを登録し（未登録なら）、当団体の機関を情報提供ネットワークシステムに登録します。"""
    import httpx

    from kiban.db.engine import get_engine
    from kiban.gateway import tenants
    from kiban.gateway.errors import GatewayError, TenantMissing
    from kiban.network import protocol
    from kiban.network.cli import read_token_file

    admin = read_token_file(admin_token_file, "--admin-token-file")
    engine = get_engine()
    try:
        with engine.begin() as conn:
            try:
                tenant = tenants.load_tenant(conn, city)
            except TenantMissing:
                if not name.strip():
                    raise GatewayError(
                        f"テナント {city} が未登録です。--name に団体名を指定してください"
                    ) from None
                tenant = tenants.register_tenant(conn, city_code=city, name=name)
            # One token pair per tenant: a new pair is registered for every agency it has, not only
            # the ones named now (else an earlier business's agency keeps a pair nobody holds).
            joined = tenants.agencies(conn, city) if tenant.network_url in (None, network) else []
        agencies = sorted(set(joined) | {f"{city}-{biz}" for biz in business})
        api_token, callback_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with httpx.Client(base_url=network, timeout=10.0) as http:
            keys = http.get("/v1/keys").json()
            for agency in agencies:
                biz = agency.split("-", 1)[1]
                reg = protocol.AgencyRegistration(
                    agency_code=agency,
                    city_code=city,
                    name=f"{tenant.name} {biz}",
                    endpoint=endpoint,
                    exchange_public_key=protocol.b64e(tenant.exchange_public_key),
                    extra={"api_token": api_token, "callback_token": callback_token},
                )
                resp = http.post(
                    "/v1/agencies", json=reg.to_json(), headers={"Authorization": f"Bearer {admin}"}
                )
                if resp.status_code != 200:
                    raise GatewayError(f"機関 {reg.agency_code} を登録できません: {resp.text}")
        with engine.begin() as conn:
            tenants.set_network(
                conn,
                city_code=city,
                network_url=network,
                network_signing_key=protocol.b64d(keys["signing_public_key"]),
                network_exchange_key=protocol.b64d(keys["exchange_public_key"]),
                api_token=api_token,
                network_api_token=callback_token,
                agencies=agencies,
            )
    except (GatewayError, httpx.HTTPError, protocol.ProtocolError) as exc:
        raise _fail(exc) from None
    typer.echo(f"{city}: 情報提供ネットワークシステムに参加しました（機関 {', '.join(agencies)}）")


def _context(business: str, job: str):  # type: ignore[no-untyped-def]
    from kiban.db.engine import get_app_engine, get_engine
    from kiban.security.batch import batch_context
    from kiban.security.context import Business

    with get_engine().begin() as conn:
        ctx = batch_context(conn, Business(business), f"{business}.gateway", job)
    return get_app_engine(), ctx


def _person_id(engine, person_no: str) -> int:  # type: ignore[no-untyped-def]
    from kiban.identity import repo

    with engine.begin() as conn:
        return int(repo.ref_by_no(conn, person_no).person_id)


@app.command("token")
def token(
    city: str = typer.Option(..., "--city"),
    person_no: str = typer.Option(..., "--person-no", help="宛名番号"),
    agency: str = typer.Option("", "--agency", help="機関コード（既定: <団体>-kaigo）"),
) -> None:
    """対象者の符号を情報提供ネットワークシステムから取得します（個人番号は暗号化して送信）。"""
    from kiban.gateway import client
    from kiban.gateway.errors import GatewayError
    from kiban.identity.repo import IdentityError
    from kiban.rules.permit_list import agency_business

    agency = agency or f"{city}-kaigo"
    try:
        engine, ctx = _context(agency_business(agency), "符号取得")
        client.acquire_token(
            engine, ctx, city_code=city, person_id=_person_id(engine, person_no), agency_code=agency
        )
    except (GatewayError, IdentityError, ValueError) as exc:
        raise _fail(exc) from None
    typer.echo(f"宛名番号 {person_no}: 機関 {agency} の符号を取得しました")


@app.command("inquire")
def inquire(
    city: str = typer.Option(..., "--city"),
    person_no: str = typer.Option(..., "--person-no", help="宛名番号"),
    provider: str = typer.Option(..., "--provider", help="提供機関コード（例 431001-kaigo）"),
    procedure: str = typer.Option("kaigo.qualification", "--procedure", help="照会事務"),
    dataset: str = typer.Option("kaigo.qualification", "--dataset", help="特定個人情報"),
    item: list[str] = typer.Option(..., "--item", help="照会項目（繰り返し指定可）"),
    inquirer: str = typer.Option("", "--inquirer", help="照会機関コード（既定: <団体>-kaigo）"),
) -> None:
    """情報照会を行います（許可証の取得 → 提供機関への送信 → 回答の受領）。"""
    from kiban.gateway import client, inquiry
    from kiban.gateway.errors import GatewayError
    from kiban.identity.repo import IdentityError
    from kiban.rules.permit_list import agency_business

    inquirer = inquirer or f"{city}-kaigo"
    try:
        engine, ctx = _context(agency_business(inquirer), "情報照会")
        request_id = client.inquire(
            engine,
            ctx,
            city_code=city,
            person_id=_person_id(engine, person_no),
            inquirer_agency=inquirer,
            provider_agency=provider,
            procedure_code=procedure,
            dataset=dataset,
            items=item,
        )
        with engine.begin() as conn:
            state = inquiry.load_inquiry(conn, city_code=city, request_id=request_id)
    except (GatewayError, IdentityError, ValueError) as exc:
        raise _fail(exc) from None
    typer.echo(f"照会 {request_id}: {state.status}（{state.outcome or '-'}）")


@app.command("purge")
def purge(city: str = typer.Option(..., "--city")) -> None:
    """保存期間を過ぎた照会結果を削除します（照会の記録と情報提供等記録は残ります）。"""
    from kiban.db.engine import get_app_engine
    from kiban.gateway import inquiry
    from kiban.network import protocol

    with get_app_engine().begin() as conn:
        count = inquiry.purge_expired(conn, city_code=city, now=protocol.utcnow())
    typer.echo(f"{city}: 照会結果 {count} 件を削除しました")


@app.command("replica-sync")
def replica_sync_command(city: str = typer.Option(..., "--city", help="地方公共団体コード（6桁）")) -> None:
    """庁内連携から届いた連携データを副本として登録します（利用登録された項目のみ）。"""
    from kiban.db.engine import get_app_engine
    from kiban.gateway import replica_sync
    from kiban.gateway.errors import GatewayError
    from kiban.identity.repo import IdentityError

    try:
        with get_app_engine().begin() as conn:
            count = replica_sync.sync_all(conn, city_code=city)
    except (GatewayError, IdentityError, ValueError) as exc:
        raise _fail(exc) from None
    typer.echo(f"{city}: 副本 {count} 件を登録しました")


@app.command("checkpoint")
def checkpoint_command(
    city: str = typer.Option(..., "--city"),
    out_dir: Path = typer.Option(
        Path("var/checkpoints"), "--out-dir", help="署名付きチェックポイントの書出し先"
    ),
) -> None:
    """情報提供等記録の連鎖の先頭に署名し、データベースの外へ書き出します（定期実行）。"""
    from kiban.db.engine import get_app_engine
    from kiban.gateway import checkpoint

    with get_app_engine().begin() as conn:
        path = checkpoint.write_checkpoint(conn, city, key=checkpoint.signing_key(), out_dir=out_dir)
    typer.echo(f"{city}: チェックポイント {path}")


@app.command("verify")
def verify_command(
    city: str = typer.Option(..., "--city"),
    checkpoint_file: Path | None = typer.Option(
        None, "--checkpoint", help="照合する署名付きチェックポイント"
    ),
) -> None:
    """情報提供等記録の改ざんを検査します（連鎖、および指定したチェックポイントとの照合）。"""
    from kiban.db.engine import get_app_engine
    from kiban.gateway import checkpoint, records

    try:
        with get_app_engine().begin() as conn:
            if checkpoint_file is None:
                problems = records.verify_records(conn, city)
            else:
                public = checkpoint.signing_key().public_key()
                problems = checkpoint.verify_with_checkpoint(conn, city, checkpoint_file, public)
    except checkpoint.CheckpointInvalid as exc:
        raise _fail(exc) from None
    for p in problems:
        typer.echo(f"異常: {p}", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{city}: 情報提供等記録に異常はありません")
