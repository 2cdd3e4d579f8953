"""Reliability: ``kill -9`` of the provider's gateway under load, then restart (issue 8).

Two client threads in 郡山市 send inquiries through the network to 熊本市 as fast as they can, each
with a fresh request id, and retry a failed send with the SAME id until it succeeds. Meanwhile
熊本市's gateway process is killed with SIGKILL (no shutdown, open transactions lost) and started
again. Afterwards:

- every inquiry the client saw succeed has exactly one 提供 record (情報提供等記録, kind provision)
  in 熊本市's database, and no request id has more than one;
- replaying every request id through the network returns the stored answer (same provider record
  id) and creates no new record.

No timing is asserted; only counts.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "network"))

import cities
from cities import KORIYAMA, KUMAMOTO

from kiban.gateway import client, inquiry, tenants
from kiban.security.context import Business

pytestmark = pytest.mark.slow

ASKED = ("insurer_no", "insured_no", "category")


@pytest.fixture(scope="module")
def world(
    pg_admin_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    with cities.world(pg_admin_url, tmp_path_factory.mktemp("kill9")) as w:
        cities.with_tokens_and_replica(w)
        yield w


class Load(threading.Thread):
    """One client: fresh request id per inquiry; a failed send is retried with the same id."""

    def __init__(self, w: dict[str, Any], ctx: Any, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.w, self.ctx, self.stop = w, ctx, stop
        self.succeeded: list[str] = []
        self.requests: dict[str, Any] = {}
        self.retries = 0
        self.errors: list[str] = []

    def run(self) -> None:
        r, ctx = self.w["koriyama"], self.ctx
        while not self.stop.is_set():
            try:
                request_id = client.start_inquiry(
                    r.app,
                    ctx,
                    city_code=KORIYAMA,
                    person_id=self.w["r_person"].person_id,
                    inquirer_agency=r.kaigo,
                    provider_agency=self.w["kumamoto"].kaigo,
                    procedure_code="kaigo.qualification",
                    dataset="kaigo.qualification",
                    items=ASKED,
                )
            except Exception as exc:  # the network is up throughout: a permit never fails
                self.errors.append(f"permit: {exc}")
                return
            with r.app.begin() as conn:  # what send_inquiry sends, kept for the replay
                self.requests[request_id] = inquiry.provision_request_for(
                    conn, city_code=KORIYAMA, request_id=request_id
                )
            for _ in range(200):
                try:
                    answer = client.send_inquiry(
                        r.app, city_code=KORIYAMA, request_id=request_id, timeout=1.0
                    )
                except client.NetworkUnavailable:
                    self.retries += 1
                    continue
                except Exception as exc:
                    self.errors.append(f"{request_id}: {exc!r}")
                    return
                if answer.status == "provided":
                    self.succeeded.append(request_id)
                else:
                    self.errors.append(f"{request_id}: {answer.status} {answer.reason}")
                break
            else:
                self.errors.append(f"{request_id}: never answered")
                return


def _provision_records(w: dict[str, Any]) -> dict[str, int]:
    rows = w["kumamoto"].scoped(
        "SELECT request_id, count(*) AS n FROM gateway.record"
        " WHERE city_code = :c AND kind = 'provision' GROUP BY request_id",
        c=KUMAMOTO,
    )
    return {row.request_id: int(row.n) for row in rows}


def test_kill9_under_load_loses_no_record_and_duplicates_none(world: dict[str, Any]) -> None:
    k, r = world["kumamoto"], world["koriyama"]
    stop = threading.Event()
    ctx = r.ctx(Business.KAIGO, "clerk", "r-kaigo-load")
    loads = [Load(world, ctx, stop) for _ in range(2)]
    for load in loads:
        load.start()
    time.sleep(2.0)
    before_kill = sum(len(load.succeeded) for load in loads)
    k.gateway.kill9()
    time.sleep(0.5)  # requests now fail at the network (502) and are retried with the same ids
    k.gateway.start()
    time.sleep(2.0)
    stop.set()
    for load in loads:
        load.join(timeout=60)
    assert not any(load.is_alive() for load in loads)
    errors = [e for load in loads for e in load.errors]
    assert not errors, errors[:5]
    succeeded = [rid for load in loads for rid in load.succeeded]
    assert all(load.succeeded for load in loads)
    assert before_kill > 0 and len(succeeded) > before_kill  # load ran before and after the kill
    assert sum(load.retries for load in loads) > 0  # the kill was felt by the clients

    print(
        f"kill9: {len(succeeded)} succeeded ({before_kill} before the kill), {sum(x.retries for x in loads)} retries"
    )
    records = _provision_records(world)
    assert all(records.get(rid) == 1 for rid in succeeded), {rid: records.get(rid) for rid in succeeded[:5]}
    assert max(records.values()) == 1  # no request id has two provision records, seen or not

    # Replay every request id through the network: the stored answer, no new record.
    with r.app.begin() as conn:
        bearer = tenants.network_api_token(conn, KORIYAMA)
        first = {
            rid: inquiry.load_inquiry(conn, city_code=KORIYAMA, request_id=rid).provider_record_id
            for rid in succeeded
        }
    requests = [load.requests[rid] for load in loads for rid in load.succeeded]
    with httpx.Client(base_url=world["net"].url, headers={"Authorization": f"Bearer {bearer}"}) as http:
        for req in requests:
            resp = http.post("/v1/route/provision", json=req.to_json())
            assert resp.status_code == 200, resp.text
            assert resp.json()["provider_record_id"] == first[req.request_id]
    assert _provision_records(world) == records
