"""``kiban gateway join`` run again for another business: every agency of the city keeps working.

A tenant holds one token pair for the network. Before migration 0016 a second join registered a new
pair for the new business only, and the first business's agency was left on a pair the tenant no
longer held: its calls to the network and the network's calls back both failed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import psycopg
from cities import create_city, drop_city
from cluster import Proc, kiban

from kiban.gateway import tenants
from kiban.network.service import token_hash

CITY = "431001"


def _join(city: Any, network: Proc, token_file: Path, business: str) -> str:
    args = ["gateway", "join", "--city", city.code, "--name", city.name, "--network", network.url]
    args += [
        "--admin-token-file",
        str(token_file),
        "--endpoint",
        "http://127.0.0.1:9",
        "--business",
        business,
    ]
    done = subprocess.run(
        kiban(*args),
        env=city.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_joining_again_for_another_business_keeps_one_pair_for_every_agency(
    network: tuple[Proc, str], network_db: str, pg_admin_url: str, tmp_path: Path
) -> None:
    proc, admin = network
    token_file = tmp_path / "admin.token"
    token_file.write_text(admin + "\n", "utf-8")
    city = create_city(pg_admin_url, CITY, "熊本市", tmp_path)
    try:
        _join(city, proc, token_file, "kaigo")
        said = _join(city, proc, token_file, "kokuho")
        assert f"{CITY}-kaigo, {CITY}-kokuho" in said
        with psycopg.connect(network_db.replace("postgresql+psycopg://", "postgresql://")) as conn:
            rows = conn.execute(
                "SELECT agency_code, token_hash, callback_token FROM network.agency WHERE city_code = %s"
                " ORDER BY agency_code",
                (CITY,),
            ).fetchall()
        assert [r[0] for r in rows] == [f"{CITY}-kaigo", f"{CITY}-kokuho"]
        assert len({(bytes(r[1]), r[2]) for r in rows}) == 1  # one pair, the newest, for both
        with city.owner.begin() as conn:
            assert tenants.agencies(conn, CITY) == [f"{CITY}-kaigo", f"{CITY}-kokuho"]
            bearer = tenants.network_api_token(conn, CITY)
            assert token_hash(bearer) == bytes(rows[0][1])  # what the tenant presents, the network knows
            assert tenants.check_network_caller(conn, CITY, rows[0][2])  # and the other way round
    finally:
        assert drop_city(pg_admin_url, city) == []
