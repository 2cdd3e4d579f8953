"""中間サーバー data layer bench: one provision in-process, and the chain check of the records.

    python bench/bench_gateway_records.py [--requests 2000] [--writers 4] [--rows 100000]
                                          [--admin-url postgresql://…/postgres] [--json out.json]

Runs in a database of its own (created, migrated and dropped here), as kiban_app under RLS:

* ``handle_provision_request`` one at a time (verify the permit's Ed25519 signature, our list, 符号 →
  person, 副本, seal to the inquirer's X25519 key, the hash-chained 情報提供等記録, the stored
  response, commit) — p50/p99 per request, beside a baseline transaction of the same number of
  round trips' worth of work: one INSERT of the stored response and COMMIT;
* ``--writers`` threads providing at once for the same city: every record takes the city's chain
  head lock, so this is the throughput the chain allows one city;
* ``verify_records`` over ``--rows`` records, beside a plain read of the same rows.

The HTTP path through the network stand-in is bench/bench_gateway.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Bench

from kiban.db import config, embedded, migrate
from kiban.db.engine import app_url
from kiban.gateway import provision, records, replica, tenants, tokens
from kiban.network import protocol
from kiban.network.protocol import Permit, ProvisionRequest
from kiban.security import keys

ASKER, GIVER = "072036", "431001"


def setup(app: Engine, net_sign, net_x) -> list[str]:  # type: ignore[no-untyped-def]
    with app.begin() as conn:
        tenants.register_tenant(conn, city_code=GIVER, name="熊本市")
        tenants.set_network(
            conn,
            city_code=GIVER,
            network_url="http://127.0.0.1:1/",
            network_signing_key=protocol.public_bytes(net_sign),
            network_exchange_key=protocol.public_bytes(net_x),
            api_token="bench",
            network_api_token="bench-caller",
        )
    toks = []
    with app.begin() as conn:
        for pid in range(1, 201):
            tok = uuid.uuid4().hex
            tokens.store_token(conn, city_code=GIVER, person_id=pid, agency_code=f"{GIVER}-kaigo", token=tok)
            replica.register_replica(
                conn,
                city_code=GIVER,
                person_id=pid,
                dataset="kaigo.qualification",
                items={
                    "insurer_no": GIVER,
                    "insured_no": f"{pid:010d}",
                    "category": "1",
                    "acquired_on": "2020-04-01",
                },
                source_ref=f"bench#{pid}",
            )
            toks.append(tok)
    return toks


def request(net_sign, token: str, inquirer_pub: str) -> ProvisionRequest:  # type: ignore[no-untyped-def]
    now = protocol.utcnow()
    import datetime as dt

    permit = protocol.sign_permit(
        net_sign,
        Permit(
            permit_id=uuid.uuid4().hex,
            inquirer_agency=f"{ASKER}-kaigo",
            provider_agency=f"{GIVER}-kaigo",
            provider_token=token,
            procedure_code="kaigo.qualification",
            dataset="kaigo.qualification",
            items=("insurer_no", "insured_no", "category", "acquired_on"),
            list_version="2026.1",
            issued_at=protocol.iso(now),
            expires_at=protocol.iso(now + dt.timedelta(hours=1)),
        ),
    )
    return ProvisionRequest(uuid.uuid4().hex, permit.to_json(), inquirer_pub, protocol.iso(now))


def one(app: Engine, req: ProvisionRequest) -> float:
    start = time.perf_counter()
    with app.begin() as conn:
        response = provision.handle_provision_request(
            conn, city_code=GIVER, request=req, received_at=protocol.utcnow()
        )
    assert response.status == "provided", response.reason
    return time.perf_counter() - start


def baseline_one(app: Engine, i: int) -> float:
    start = time.perf_counter()
    with app.begin() as conn:
        tenants.scope(conn, GIVER)
        conn.execute(
            text(
                "INSERT INTO gateway.outgoing_answer (city_code, request_id, inquirer_agency, response)"
                " VALUES (:c, :r, 'x', '{}'::jsonb)"
            ),
            {"c": GIVER, "r": f"base-{i}-{uuid.uuid4().hex}"},
        )
    return time.perf_counter() - start


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def run(owner: Engine, url: str, args: argparse.Namespace) -> None:
    migrate.upgrade(owner)
    with owner.begin() as conn:
        keys.ensure_keys(conn)
    app = create_engine(config.to_sqlalchemy_url(app_url(url)), pool_size=args.writers + 1)
    net_sign, net_x = protocol.new_signing_key(), protocol.new_exchange_key()
    toks = setup(app, net_sign, net_x)
    inquirer_pub = protocol.b64e(protocol.public_bytes(protocol.new_exchange_key()))
    bench = Bench("中間サーバー: 情報提供 in-process and the 情報提供等記録 chain")

    reqs = [request(net_sign, toks[i % len(toks)], inquirer_pub) for i in range(args.requests)]
    base: list[float] = []
    bench.baseline(
        f"{args.requests} × INSERT + COMMIT (kiban_app, RLS)",
        lambda: base.extend(baseline_one(app, i) for i in range(args.requests)),
    )
    lat: list[float] = []
    bench.figure(f"{args.requests} × handle_provision_request", lambda: lat.extend(one(app, r) for r in reqs))
    print(
        f"  latency: baseline p50 {pct(base, 0.5):.2f} ms p99 {pct(base, 0.99):.2f} ms; "
        f"provision p50 {pct(lat, 0.5):.2f} ms p99 {pct(lat, 0.99):.2f} ms",
        flush=True,
    )
    bench.results[f"{args.requests} × handle_provision_request"].extra.update(
        p50_ms=round(pct(lat, 0.5), 2), p99_ms=round(pct(lat, 0.99), 2)
    )

    more = [request(net_sign, toks[i % len(toks)], inquirer_pub) for i in range(args.requests)]
    chunks = [more[i :: args.writers] for i in range(args.writers)]

    def writers() -> None:
        threads = [threading.Thread(target=lambda c=c: [one(app, r) for r in c]) for c in chunks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    name = f"{args.requests} provisions, {args.writers} writers, one city"
    bench.figure(name, writers)
    rps = args.requests / bench.results[name].seconds
    bench.results[name].extra.update(rps=round(rps))
    print(f"  {args.writers} writers: {rps:,.0f} provisions/s for one city (chain head lock)", flush=True)

    # Bulk records for the chain check: the honest writer, in batches.
    have = 2 * args.requests

    def fill() -> None:
        # The chain continued exactly as records.append would (same fields, same hashes), written
        # in bulk by the owner: the figure below is the check, not the writing.
        import datetime as dt

        with owner.begin() as conn:
            tenants.scope(conn, GIVER)
            head = conn.execute(
                text("SELECT seq, hash FROM gateway.record_head WHERE city_code = :c"), {"c": GIVER}
            ).one()
            seq, prev = int(head.seq), bytes(head.hash)
            now = dt.datetime.now(dt.UTC)
            batch = []
            for i in range(args.rows - have):
                seq += 1
                fields = {
                    "city_code": GIVER,
                    "seq": seq,
                    "kind": "provision",
                    "phase": "answer",
                    "request_id": f"bulk-{i}",
                    "person_id": i % 200,
                    "inquirer_agency": f"{ASKER}-kaigo",
                    "provider_agency": f"{GIVER}-kaigo",
                    "procedure_code": "kaigo.qualification",
                    "dataset": "kaigo.qualification",
                    "items": ["insured_no"],
                    "outcome": "provided",
                    "reason": "",
                    "permit_id": None,
                    "list_version": "2026.1",
                    "inquirer_at": now,
                    "provider_at": now,
                    "recorded_at": now,
                    "staff_id": None,
                    "keep_until": records._keep_until(now),
                }
                digest = records.row_hash(prev, fields)
                batch.append({**fields, "prev_hash": prev, "hash": digest})
                prev = digest
            cols = (*records._FIELDS, "prev_hash", "hash")
            conn.execute(
                text(
                    f"INSERT INTO gateway.record ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
                ),
                batch,
            )
            conn.execute(
                text("UPDATE gateway.record_head SET seq = :s, hash = :h WHERE city_code = :c"),
                {"s": seq, "h": prev, "c": GIVER},
            )

    if args.rows > have:
        bench.baseline(f"write {args.rows - have:,} more chained records (bulk, owner)", fill)

    def plain() -> int:
        with app.begin() as conn:
            tenants.scope(conn, GIVER)
            return sum(
                1
                for _ in conn.execute(
                    text("SELECT * FROM gateway.record WHERE city_code = :c ORDER BY seq"), {"c": GIVER}
                )
            )

    n = bench.baseline("read the same rows, no hashing", plain)

    def check() -> list[str]:
        with app.begin() as conn:
            return records.verify_records(conn, GIVER)

    problems = bench.figure(f"verify_records of {n:,} records", check, rows=n)
    assert problems == [], problems[:3]
    app.dispose()
    bench.report(args.json)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--admin-url", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    admin = args.admin_url or embedded.start_admin(config.home() / "pg")
    name = f"kiban_bench_gwrec_{uuid.uuid4().hex[:8]}"
    embedded.ensure_database(admin, name)
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    owner = create_engine(config.to_sqlalchemy_url(url))
    with tempfile.TemporaryDirectory() as home:
        os.environ["KIBAN_KEY_FILE"] = str(Path(home) / "kek.bin")
        try:
            run(owner, url, args)
        finally:
            owner.dispose()
            embedded.drop_database(admin, name)


if __name__ == "__main__":
    main()
