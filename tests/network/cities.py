"""Two real cities for the end-to-end tests: each its own kiban database, migrated to head, with
staff, a resident with a 個人番号 in the vault, a tenant joined to the network stand-in (through
``kiban gateway join``) and its gateway process (``kiban gateway serve``).

熊本市 (431001) and 郡山市 (072036): a 熊本市 insured under 住所地特例 (介護保険法第13条) who lives in a
郡山市 facility is on both cities' registers with the same 個人番号.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from cluster import Proc, admin_token_file, free_port, kiban, network_proc, running
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from kiban.db import embedded, engine, migrate
from kiban.gateway import tenants
from kiban.identity import model, repo, vault
from kiban.security import keys
from kiban.security.context import AccessContext, Business
from kiban.shared import mynumber
from security_factories import Org


@dataclass
class CityDb:
    code: str
    name: str
    url: str
    db_name: str
    owner: Engine
    app: Engine
    org: Org
    log_dir: Path
    gateway: Proc | None = None
    contexts: dict[str, AccessContext] = field(default_factory=dict)

    @property
    def kaigo(self) -> str:
        return f"{self.code}-kaigo"

    def env(self) -> dict[str, str]:
        return {**os.environ, "KIBAN_DATABASE_URL": self.url}

    def ctx(self, business: Business, role: str, label: str) -> AccessContext:
        """A staff member of this city with one grant on an enrolled terminal (no web session)."""
        key = f"{business}:{role}:{label}"
        if key not in self.contexts:
            dep = self.org.department(f"{self.code}-{business.value}")
            sid = self.org.staff(label, dep, [(business, role)])
            term, _ = self.org.terminal(f"t-{label}", dep)
            self.contexts[key] = AccessContext(
                staff_id=sid,
                staff_code=self.org.code(label),
                department_code=dep,
                terminal_code=term.code,
                business=business,
                purpose_code="chukan.operation"
                if business is Business.CHUKAN
                else f"{business.value}.counter",
            )
        return self.contexts[key]

    def scoped(self, sql: str, **params: Any) -> list[Any]:
        """Rows of a gateway query as the application (RLS scoped to this city)."""
        with self.app.begin() as conn:
            tenants.scope(conn, self.code)
            return list(conn.execute(text(sql), params).all())


KUMAMOTO, KORIYAMA = "431001", "072036"


def create_city(pg_admin_url: str, code: str, name: str, log_dir: Path) -> CityDb:
    """A fresh kiban database for one city, migrated to head, with its vault keys."""
    db_name = f"kiban_city_{code}_{uuid.uuid4().hex[:8]}"
    embedded.ensure_database(pg_admin_url, db_name)
    url = make_url(pg_admin_url).set(database=db_name).render_as_string(hide_password=False)
    owner = engine.get_engine(url)
    migrate.upgrade(owner)
    with owner.begin() as conn:
        keys.ensure_keys(conn)
    app = engine.get_app_engine(url)
    return CityDb(code, name, url, db_name, owner, app, Org(app, uuid.uuid4().hex[:6]), log_dir)


def drop_city(pg_admin_url: str, city: CityDb) -> list[str]:
    """Drop the database; returns the places where a 個人番号 was found in clear (must be none)."""
    from leak_scan import my_numbers_stored_in_clear

    with city.owner.connect() as conn:
        leaks = my_numbers_stored_in_clear(conn)
    city.owner.dispose()
    city.app.dispose()
    embedded.drop_database(pg_admin_url, city.db_name)
    return leaks


def resident(city: CityDb, digits: str, *, person_no: str | None = None) -> repo.PersonRef:
    """A resident on the city's 宛名 with the 個人番号 in the vault (as the registry import does)."""
    clerk = city.ctx(Business.ATENA, "clerk", "atena-clerk")
    with city.owner.begin() as conn:
        ref = repo.create_person(
            conn,
            city_code=city.code,
            person_no=person_no or f"{random.randrange(10**9, 10**10)}",
            data=model.PersonData(
                family_name="基盤",
                given_name="花子",
                family_kana="キバン",
                given_kana="ハナコ",
                sex=2,
                birth_date=date(1940, 6, 10),
                address="福島県郡山市朝日一丁目1番1号 特別養護老人ホーム 基盤の里",
                resident_class=model.ResidentClass.RESIDENT,
                postal_code="963-8601",
                district_code="01",
                resident_on=date(2019, 4, 1),
            ),
            valid_from=date(2019, 4, 1),
            reason="試験登録",
        )
        vault.store(conn, clerk, ref, digits, source="試験")
    return ref


def join_and_serve(city: CityDb, network: Proc, admin_token_file: Path) -> Proc:
    """``kiban gateway join`` then ``kiban gateway serve`` (started; the caller stops it)."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    done = subprocess.run(
        kiban(
            "gateway",
            "join",
            "--city",
            city.code,
            "--name",
            city.name,
            "--network",
            network.url,
            "--admin-token-file",
            str(admin_token_file),
            "--endpoint",
            endpoint,
        ),
        env=city.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    city.gateway = gateway_proc(city, port)
    return city.gateway.start()


def gateway_proc(city: CityDb, port: int) -> Proc:
    return Proc(
        f"gateway-{city.code}",
        kiban("gateway", "serve", "--city", city.code, "--port", str(port), "--sender-interval", "0.2"),
        city.env(),
        f"http://127.0.0.1:{port}/gateway/v1/health",
        city.log_dir / f"gateway-{city.code}.log",
        url=f"http://127.0.0.1:{port}",
    )


def new_my_number() -> str:
    return mynumber.generate(random.Random())


QUALIFICATION_OF_KUMAMOTO_INSURED = {
    "insurer_no": "431007",  # 熊本市 介護保険 保険者番号 (the insurer under 住所地特例)
    "insured_no": "0001234567",
    "category": "1",
    "acquired_on": "2005-06-10",
    "lost_on": None,
    "jushochi_tokurei": True,
    "facility_name": "特別養護老人ホーム 基盤の里（郡山市）",
}


@contextlib.contextmanager
def world(pg_admin_url: str, logs: Path) -> Iterator[dict[str, Any]]:
    """The network (own database), 熊本市 and 郡山市 (own databases, joined, gateways serving) and
    one resident with the same 個人番号 in both vaults. Everything is stopped and dropped after."""
    net_db = f"kiban_net_{uuid.uuid4().hex[:10]}"
    embedded.ensure_database(pg_admin_url, net_db)
    net_url = make_url(pg_admin_url).set(database=net_db).render_as_string(hide_password=False)
    token_file, _ = admin_token_file(logs)
    net = network_proc(net_url, token_file, logs)
    cities: list[CityDb] = []
    try:
        with running(net):
            kumamoto = create_city(pg_admin_url, KUMAMOTO, "熊本市", logs)
            cities.append(kumamoto)
            koriyama = create_city(pg_admin_url, KORIYAMA, "郡山市", logs)
            cities.append(koriyama)
            join_and_serve(kumamoto, net, token_file)
            join_and_serve(koriyama, net, token_file)
            digits = new_my_number()
            yield {
                "net": net,
                "net_url": net_url,
                "kumamoto": kumamoto,
                "koriyama": koriyama,
                "k_person": resident(kumamoto, digits),
                "r_person": resident(koriyama, digits),
                "digits": digits,
            }
    finally:
        leaks: list[str] = []
        for city in cities:
            if city.gateway is not None:
                city.gateway.stop()
            leaks += drop_city(pg_admin_url, city)
        embedded.drop_database(pg_admin_url, net_db)
        assert not leaks, f"a 個人番号 was stored in clear: {leaks}"


def with_tokens_and_replica(w: dict[str, Any]) -> dict[str, str]:
    """符号取得 in both cities through the client API and 熊本市's 副本 of the person's 資格."""
    from kiban.gateway import client, replica

    k, r = w["kumamoto"], w["koriyama"]
    found = {}
    for key, city, person in (("kumamoto", k, w["k_person"]), ("koriyama", r, w["r_person"])):
        found[key] = client.acquire_token(
            city.app,
            city.ctx(Business.KAIGO, "clerk", f"{city.code}-kaigo"),
            city_code=city.code,
            person_id=person.person_id,
            agency_code=city.kaigo,
        )
    with k.app.begin() as conn:
        replica.register_replica(
            conn,
            city_code=k.code,
            person_id=w["k_person"].person_id,
            dataset="kaigo.qualification",
            items=QUALIFICATION_OF_KUMAMOTO_INSURED,
            source_ref="kaigo.qualification:e2e",
        )
    return found
