"""Gateway bench: 情報照会・情報提供 through the network stand-in, open loop at a fixed rate.

    python bench/bench_gateway.py [--rate 100] [--duration 60] [--mode provision|inquiry|both]
                                  [--admin-url postgresql://…/postgres] [--json out.json]

Starts what the two-city test starts (tests/network/cities.py): ``kiban network serve`` on its own
database and ``kiban gateway serve`` for 熊本市 and 郡山市 on theirs, all on loopback, and one
resident with a 符号 in both cities and a 副本 in 熊本市. Then, open loop — each request has a
scheduled send time ``start + i / rate`` and its latency is measured *from that time*, so a slow
server cannot slow the load down and hide its own queueing (no coordinated omission):

* ``provision``: ``POST /v1/route/provision`` of 郡山市 → network → 熊本市's gateway (verify the
  permit, check the list, 符号 → person, answer from the 副本 sealed to the inquirer's key, the
  hash-chained 情報提供等記録, commit) → network (route log) → back. Permits are issued before the
  timed run, one per request (a fresh request id each).
* ``inquiry``: the whole ``kiban.gateway.client.inquire`` in 郡山市 (guard and access log, our list,
  permit from the network, route, decrypt and store the result, the 照会 record), in a thread pool.

Prints p50/p90/p99/max and the errors; target (issue 8): p50 ≤ 10 ms, p99 ≤ 50 ms at 100 requests/s
for 60 s. The baseline in the same run is ``GET /v1/keys`` of the network (one loopback HTTP round
trip, no database), measured the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "network"))

from kiban.db import config, embedded  # noqa: E402
from kiban.network import protocol  # noqa: E402
from kiban.network.http import HttpPool  # noqa: E402


def percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {
            "p50_ms": float("nan"),
            "p90_ms": float("nan"),
            "p99_ms": float("nan"),
            "max_ms": float("nan"),
        }
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "p50_ms": round(q[49] * 1000, 2),
        "p90_ms": round(q[89] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
    }


def line(name: str, n: int, errors: int, stats: dict[str, float], rate: float, seconds: float) -> str:
    return (
        f"  {name:<34} n={n:<6} errors={errors:<4} p50={stats['p50_ms']:7.2f} ms  p90={stats['p90_ms']:7.2f} ms"
        f"  p99={stats['p99_ms']:7.2f} ms  max={stats['max_ms']:8.2f} ms  ({rate:g}/s for {seconds:g} s)"
    )


async def open_loop(make_call: Any, count: int, rate: float) -> tuple[list[float], list[str]]:
    """Send ``count`` calls at scheduled times; latency = completion - scheduled time."""
    latencies: list[float] = []
    errors: list[str] = []
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    tasks = []

    async def one(i: int, scheduled: float) -> None:
        try:
            await make_call(i)
            latencies.append(loop.time() - scheduled)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:200])

    for i in range(count):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    return latencies, errors


async def bench_keys(net_url: str, count: int, rate: float) -> tuple[list[float], list[str]]:
    http = HttpPool(net_url, size=64, timeout=30.0)

    async def call(i: int) -> None:
        status, _ = await http.request_json("GET", "/v1/keys")
        if status != 200:
            raise RuntimeError(f"HTTP {status}")

    try:
        return await open_loop(call, count, rate)
    finally:
        await http.close()


async def bench_provision(w: dict[str, Any], count: int, rate: float) -> tuple[list[float], list[str]]:
    from kiban.gateway import tenants, tokens

    r, k = w["koriyama"], w["kumamoto"]
    with r.app.begin() as conn:
        bearer = tenants.network_api_token(conn, r.code)
        token = tokens.token_for(
            conn, city_code=r.code, person_id=w["r_person"].person_id, agency_code=r.kaigo
        )
    answer_key = protocol.new_exchange_key()
    permit_body = protocol.PermitRequest(
        inquirer_agency=r.kaigo,
        inquirer_token=token or "",
        provider_agency=k.kaigo,
        procedure_code="kaigo.qualification",
        dataset="kaigo.qualification",
        items=("insurer_no", "insured_no", "category", "acquired_on", "jushochi_tokurei"),
    ).to_json()
    headers = {"Authorization": f"Bearer {bearer}"}
    # The client side uses the network's own small keep-alive client: httpx's async pool costs
    # more CPU per request than the servers under test do, and would be measured instead of them.
    http = HttpPool(w["net"].url, size=64, timeout=30.0)
    sem = asyncio.Semaphore(16)

    async def permit() -> dict[str, Any]:
        async with sem:
            status, data = await http.post_json("/v1/permits", permit_body, headers=headers)
            if status != 200:
                raise RuntimeError(f"permit: HTTP {status} {data}")
            return dict(data)

    permits = await asyncio.gather(*(permit() for _ in range(count)))
    requests = [
        protocol.ProvisionRequest(
            request_id=uuid.uuid4().hex,
            permit=pm,
            inquirer_public_key=protocol.b64e(protocol.public_bytes(answer_key)),
            sent_at="",
        )
        for pm in permits
    ]
    answers: list[dict[str, Any]] = []

    async def call(i: int) -> None:
        req = requests[i]
        body = {**req.to_json(), "sent_at": protocol.iso(protocol.utcnow())}
        status, data = await http.post_json("/v1/route/provision", body, headers=headers)
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {str(data)[:120]}")
        if data["status"] != "provided":
            raise RuntimeError(data["status"])
        if not answers:
            answers.append(data)

    try:
        result = await open_loop(call, count, rate)
    finally:
        await http.close()
    # One answer opened, to show the timed path produced real, readable answers.
    if answers:
        first = protocol.ProvisionResponse.from_json(answers[0])
        permit_id = next(r.permit["permit_id"] for r in requests if r.request_id == first.request_id)
        plain = protocol.open_sealed(
            answer_key,
            protocol.Sealed.from_json(first.sealed_answer or {}),
            protocol.answer_aad(first.request_id, permit_id),
        )
        print(f"    a timed answer opened by the inquirer's key: {len(plain)} bytes", flush=True)
    return result


def bench_inquiry(w: dict[str, Any], count: int, rate: float, threads: int) -> tuple[list[float], list[str]]:
    from kiban.gateway import client
    from kiban.security.context import Business

    r, k = w["koriyama"], w["kumamoto"]
    ctx = r.ctx(Business.KAIGO, "clerk", "bench-kaigo")
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    give_up = time.perf_counter() + count / rate + 30.0  # bounded run even when saturated

    def one(scheduled: float) -> None:
        if time.perf_counter() > give_up:
            with lock:
                errors.append("not started within 30 s of the end of the schedule (saturated)")
            return
        try:
            client.inquire(
                r.app,
                ctx,
                city_code=r.code,
                person_id=w["r_person"].person_id,
                inquirer_agency=r.kaigo,
                provider_agency=k.kaigo,
                procedure_code="kaigo.qualification",
                dataset="kaigo.qualification",
                items=("insurer_no", "insured_no", "category", "acquired_on", "jushochi_tokurei"),
            )
            with lock:
                latencies.append(time.perf_counter() - scheduled)
        except Exception as exc:
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])

    pool = ThreadPoolExecutor(max_workers=threads)
    try:
        start = time.perf_counter() + 0.2
        for i in range(count):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, scheduled)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # an interrupt drops what has not started
        raise
    pool.shutdown(wait=True)
    return latencies, errors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--mode", choices=("provision", "inquiry", "both"), default="both")
    ap.add_argument("--admin-url", default=None, help="admin database URL (default: the embedded server)")
    ap.add_argument("--inquiry-threads", type=int, default=6, help="client threads of the inquiry mode")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    # SIGTERM as SIGINT: the finally blocks stop the processes and drop the databases.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    count = int(args.rate * args.duration)

    admin = args.admin_url or embedded.start_admin(config.home() / "pg")
    results: dict[str, Any] = {"rate": args.rate, "duration_s": args.duration, "figures": {}}
    with tempfile.TemporaryDirectory() as home:
        os.environ["KIBAN_KEY_FILE"] = str(Path(home) / "kek.bin")
        from kiban.db import engine as kengine
        from kiban.db import migrate

        # kiban_app (the role the gateways run as) is made by the migrations; a scratch database
        # makes sure it exists on this server before the cities are created.
        scratch = f"kiban_bench_gw_{uuid.uuid4().hex[:8]}"
        embedded.ensure_database(admin, scratch)
        from sqlalchemy.engine import make_url

        scratch_url = make_url(admin).set(database=scratch).render_as_string(hide_password=False)
        migrate.upgrade(kengine.get_engine(scratch_url))
        kengine.get_engine(scratch_url).dispose()
        embedded.drop_database(admin, scratch)

        import cities

        with cities.world(admin, Path(home)) as w:
            cities.with_tokens_and_replica(w)
            print(
                f"== gateway bench: open loop, {args.rate:g} requests/s for {args.duration:g} s ==",
                flush=True,
            )
            lat, err = asyncio.run(bench_keys(w["net"].url, min(count, 1000), args.rate))
            stats = percentiles(lat)
            print(
                line(
                    "baseline GET /v1/keys",
                    len(lat),
                    len(err),
                    stats,
                    args.rate,
                    min(count, 1000) / args.rate,
                )
            )
            results["figures"]["baseline_keys"] = {"n": len(lat), "errors": len(err), **stats}
            if args.mode in ("provision", "both"):
                lat, err = asyncio.run(bench_provision(w, count, args.rate))
                stats = percentiles(lat)
                print(line("provision via the network", len(lat), len(err), stats, args.rate, args.duration))
                results["figures"]["provision"] = {"n": len(lat), "errors": len(err), **stats}
                for e in sorted(set(err))[:5]:
                    print(f"    error: {e}")
            if args.mode in ("inquiry", "both"):
                lat, err = bench_inquiry(w, count, args.rate, args.inquiry_threads)
                stats = percentiles(lat)
                print(
                    line(
                        "inquiry (client.inquire, 郡山市)",
                        len(lat),
                        len(err),
                        stats,
                        args.rate,
                        args.duration,
                    )
                )
                results["figures"]["inquiry"] = {"n": len(lat), "errors": len(err), **stats}
                for e in sorted(set(err))[:5]:
                    print(f"    error: {e}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=2), "utf-8")


if __name__ == "__main__":
    main()
