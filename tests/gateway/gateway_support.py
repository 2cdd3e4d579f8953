"""Helpers of the 中間サーバー tests: tenants, a signing network, permits, a provision round trip.

The network is played by a key pair in the test (N's stand-in does the same in the end-to-end
tests); everything else is the real gateway code on the real database as ``kiban_app``.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import Engine

from kiban.gateway import provision, replica, tenants, tokens
from kiban.network import protocol
from kiban.network.protocol import Permit, ProvisionRequest, ProvisionResponse

QUALIFICATION = ("insurer_no", "insured_no", "category", "acquired_on")
HELD_ITEMS = ("insurer_no", "insured_no", "facility_name")


@dataclass
class Network:
    signing: Ed25519PrivateKey
    exchange: X25519PrivateKey

    def permit(
        self,
        *,
        inquirer: str,
        provider: str,
        provider_token: str,
        items: Sequence[str] = QUALIFICATION,
        procedure_code: str = "kaigo.qualification",
        dataset: str = "kaigo.qualification",
        expires_in: dt.timedelta = dt.timedelta(minutes=5),
        key: Ed25519PrivateKey | None = None,
    ) -> Permit:
        now = protocol.utcnow()
        return protocol.sign_permit(
            key or self.signing,
            Permit(
                permit_id=protocol.new_id(),
                inquirer_agency=inquirer,
                provider_agency=provider,
                provider_token=provider_token,
                procedure_code=procedure_code,
                dataset=dataset,
                items=tuple(items),
                list_version="2026.1",
                issued_at=protocol.iso(now),
                expires_at=protocol.iso(now + expires_in),
            ),
        )


@pytest.fixture(scope="session")
def network() -> Network:
    return Network(protocol.new_signing_key(), protocol.new_exchange_key())


@dataclass
class City:
    code: str
    name: str
    caller_token: str

    @property
    def kaigo(self) -> str:
        return f"{self.code}-kaigo"


_used: set[str] = set()


def new_city_code() -> str:
    while True:
        code = f"{random.randrange(100000, 999999)}"
        if code not in _used:
            _used.add(code)
            return code


def make_city(engine: Engine, network: Network, name: str) -> City:
    city = City(new_city_code(), name, secrets.token_urlsafe(24))
    with engine.begin() as conn:
        tenants.register_tenant(conn, city_code=city.code, name=name)
        tenants.set_network(
            conn,
            city_code=city.code,
            network_url="http://127.0.0.1:1/",
            network_signing_key=protocol.public_bytes(network.signing),
            network_exchange_key=protocol.public_bytes(network.exchange),
            api_token=secrets.token_urlsafe(24),
            network_api_token=city.caller_token,
        )
    return city


@pytest.fixture
def cities(app_engine: Engine, network: Network) -> tuple[City, City]:
    """(inquirer 熊本市-like, provider 郡山市-like), fresh codes per test, as kiban_app."""
    return make_city(app_engine, network, "照会市"), make_city(app_engine, network, "提供市")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def provider_person(
    engine: Engine, city: City, *, items: dict[str, object] | None = None, person_id: int | None = None
) -> tuple[int, str]:
    """A person known to the provider: a 符号 for its 介護保険 agency and a 副本 of the 資格."""
    pid = person_id or random.randrange(10**6, 10**9)
    token = new_token()
    with engine.begin() as conn:
        tokens.store_token(conn, city_code=city.code, person_id=pid, agency_code=city.kaigo, token=token)
        replica.register_replica(
            conn,
            city_code=city.code,
            person_id=pid,
            dataset="kaigo.qualification",
            items=items
            or {
                "insurer_no": "072036",
                "insured_no": "0000123456",
                "category": "1",
                "acquired_on": "2020-04-01",
                "lost_on": None,
                "jushochi_tokurei": True,
                "facility_name": "特別養護老人ホーム 基盤の里",
            },
            source_ref="kaigo.qualification#1",
        )
    return pid, token


def request_for(
    permit: Permit, inquirer_key: X25519PrivateKey, request_id: str | None = None
) -> ProvisionRequest:
    return ProvisionRequest(
        request_id=request_id or protocol.new_id(),
        permit=permit.to_json(),
        inquirer_public_key=protocol.b64e(protocol.public_bytes(inquirer_key)),
        sent_at=protocol.iso(protocol.utcnow()),
    )


def provide(engine: Engine, city: City, request: ProvisionRequest) -> ProvisionResponse:
    with engine.begin() as conn:
        return provision.handle_provision_request(
            conn, city_code=city.code, request=request, received_at=protocol.utcnow()
        )


def open_and_permit(
    engine: Engine,
    ctx: object,
    network: Network,
    asker: City,
    giver: City,
    *,
    giver_token: str,
    items: Sequence[str] = QUALIFICATION,
    person_id: int | None = None,
) -> tuple[str, ProvisionRequest]:
    """The inquirer opens an inquiry for a person (with its own 符号), the network's permit is
    attached (the test signs it, translating to the provider's 符号); returns the routed request."""
    from kiban.gateway import inquiry

    pid = person_id or random.randrange(10**6, 10**9)
    with engine.begin() as conn:
        tokens.store_token(
            conn, city_code=asker.code, person_id=pid, agency_code=asker.kaigo, token=new_token()
        )
        request_id, _ = inquiry.open_inquiry(
            conn,
            ctx,  # type: ignore[arg-type]
            city_code=asker.code,
            person_id=pid,
            inquirer_agency=asker.kaigo,
            provider_agency=giver.kaigo,
            procedure_code="kaigo.qualification",
            dataset="kaigo.qualification",
            items=items,
        )
    permit = network.permit(
        inquirer=asker.kaigo, provider=giver.kaigo, provider_token=giver_token, items=items
    )
    with engine.begin() as conn:
        inquiry.attach_permit(conn, city_code=asker.code, request_id=request_id, permit=permit)
        request = inquiry.provision_request_for(conn, city_code=asker.code, request_id=request_id)
    return request_id, request


def receive(engine: Engine, city: City, request_id: str, response: ProvisionResponse) -> None:
    from kiban.gateway import inquiry

    with engine.begin() as conn:
        inquiry.complete_inquiry(
            conn, city_code=city.code, request_id=request_id, response=response, received_at=protocol.utcnow()
        )
