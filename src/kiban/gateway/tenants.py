"""The city as a tenant of the 中間サーバー (テナント): scope, key pair, joining the network.

Row-level security on ``city_code`` separates the cities sharing one 中間サーバー (seed 000,
中間サーバー・プラットフォーム③: 地方公共団体ごとに区分管理…他団体が管理する情報には一切アクセス
できない). :func:`scope` is the first call of every gateway transaction; without it a transaction
sees no gateway row at all.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import Connection, text

from kiban.gateway.errors import GatewayError, TenantMissing
from kiban.network import protocol
from kiban.security import keys

_CITY = re.compile(r"^[0-9]{6}$")
_KEY_TABLE = "gateway.tenant"
_SCOPE_KEY = "kiban.gateway.scope"
# Re-encrypted by `kiban keys rotate` (run as the owner; a non-superuser owner is bound by RLS FORCE).
PRIVATE_KEY_COLUMN = keys.register_encrypted_column(_KEY_TABLE, "exchange_private_key", "city_code")
API_TOKEN_COLUMN = keys.register_encrypted_column(_KEY_TABLE, "api_token", "city_code")


@dataclass(frozen=True)
class Tenant:
    city_code: str
    name: str
    exchange_public_key: bytes
    network_signing_key: bytes | None
    network_url: str | None
    network_exchange_key: bytes | None = None
    result_retention_days: int = 30


def check_city_code(city_code: str) -> str:
    if not isinstance(city_code, str) or not _CITY.match(city_code):
        raise GatewayError(f"地方公共団体コードが不正です（6桁の数字）: {city_code!r}")
    return city_code


def scope(conn: Connection, city_code: str) -> None:
    """SET LOCAL kiban.city_code: this transaction reads and writes only this city's rows.

    Called by every gateway function; the setting is made once per transaction (and savepoint)."""
    key = (conn.get_transaction(), conn.get_nested_transaction(), city_code)
    cached = conn.info.get(_SCOPE_KEY)
    if cached is not None and cached[0] is key[0] and cached[1] is key[1] and cached[2] == city_code:
        return
    conn.execute(text("SELECT set_config('kiban.city_code', :c, true)"), {"c": check_city_code(city_code)})
    if key[0] is not None:
        conn.info[_SCOPE_KEY] = key


def register_tenant(
    conn: Connection, *, city_code: str, name: str, result_retention_days: int = 30
) -> Tenant:
    """Create the city's tenant with a new X25519 key pair; the private key is stored only
    encrypted under the vault keys (AES-256-GCM, bound to this row)."""
    scope(conn, city_code)
    if not name.strip():
        raise GatewayError(f"テナント {city_code}: 団体名がありません")
    if conn.execute(text("SELECT 1 FROM gateway.tenant WHERE city_code = :c"), {"c": city_code}).first():
        raise GatewayError(f"テナント {city_code} は登録済みです")
    key = protocol.new_exchange_key()
    wrapped = keys.encrypt(
        conn,
        protocol.private_bytes(key),
        table=_KEY_TABLE,
        column="exchange_private_key",
        row_id=city_code,
    )
    conn.execute(
        text(
            "INSERT INTO gateway.tenant (city_code, name, exchange_public_key, exchange_private_key,"
            " result_retention_days) VALUES (:c, :n, :pub, :priv, :days)"
        ),
        {
            "c": city_code,
            "n": name,
            "pub": protocol.public_bytes(key),
            "priv": wrapped,
            "days": result_retention_days,
        },
    )
    return load_tenant(conn, city_code)


def agencies(conn: Connection, city_code: str) -> list[str]:
    """The agencies this tenant has registered with the network (``kiban gateway join``)."""
    scope(conn, city_code)
    found = conn.execute(
        text("SELECT agencies FROM gateway.tenant WHERE city_code = :c"), {"c": city_code}
    ).scalar()
    return list(found or [])


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def set_network(
    conn: Connection,
    *,
    city_code: str,
    network_url: str,
    network_signing_key: bytes,
    network_exchange_key: bytes,
    api_token: str,
    network_api_token: str | None = None,
    agencies: Sequence[str] | None = None,
) -> None:
    """Join the 情報提供ネットワークシステム: its keys and URL, our bearer for calls to it (stored
    encrypted, it must be presented), the hash of the bearer it presents when it calls us, and the
    agencies (機関) registered with that pair (``agencies``: all of them, replacing the list)."""
    scope(conn, city_code)
    if len(network_signing_key) != 32 or len(network_exchange_key) != 32:
        raise GatewayError(f"テナント {city_code}: ネットワークの公開鍵の長さが不正です（32バイト）")
    if not api_token:
        raise GatewayError(f"テナント {city_code}: api_token がありません")
    sealed_token = keys.encrypt(conn, api_token, table=_KEY_TABLE, column="api_token", row_id=city_code)
    done = conn.execute(
        text(
            "UPDATE gateway.tenant SET network_url = :u, network_signing_key = :s,"
            " network_exchange_key = :x, api_token = :t,"
            " network_caller_hash = COALESCE(:h, network_caller_hash), joined_at = now(),"
            " agencies = COALESCE(CAST(:a AS text[]), agencies)"
            " WHERE city_code = :c"
        ),
        {
            "c": city_code,
            "a": sorted(set(agencies)) if agencies is not None else None,
            "u": network_url,
            "s": network_signing_key,
            "x": network_exchange_key,
            "t": sealed_token,
            "h": _digest(network_api_token) if network_api_token else None,
        },
    )
    if done.rowcount != 1:
        raise TenantMissing(f"テナント {city_code} が登録されていません")
    _tenant_cache.pop(city_code, None)


def _read_tenant(conn: Connection, city_code: str) -> tuple[Tenant, bytes | None]:
    scope(conn, city_code)
    row = conn.execute(
        text(
            "SELECT city_code, name, exchange_public_key, network_signing_key, network_url,"
            " network_exchange_key, result_retention_days, network_caller_hash"
            " FROM gateway.tenant WHERE city_code = :c"
        ),
        {"c": city_code},
    ).first()
    if row is None:
        raise TenantMissing(f"テナント {city_code} が登録されていません")
    tenant = Tenant(
        city_code=row.city_code,
        name=row.name,
        exchange_public_key=bytes(row.exchange_public_key),
        network_signing_key=bytes(row.network_signing_key) if row.network_signing_key else None,
        network_url=row.network_url,
        network_exchange_key=bytes(row.network_exchange_key) if row.network_exchange_key else None,
        result_retention_days=int(row.result_retention_days),
    )
    return tenant, bytes(row.network_caller_hash) if row.network_caller_hash else None


def load_tenant(conn: Connection, city_code: str) -> Tenant:
    return _read_tenant(conn, city_code)[0]


# The provision path reads the tenant (the network's key, the caller's token hash) for every
# request; a server process keeps it for a few seconds instead of two more round trips per request
# (issue 8 bench). A re-join or token change takes effect within TENANT_CACHE_SECONDS.
TENANT_CACHE_SECONDS = 5.0
_tenant_cache: dict[str, tuple[float, Tenant, bytes | None]] = {}


def cached_tenant(conn: Connection, city_code: str) -> tuple[Tenant, bytes | None]:
    """``(tenant, network caller hash)``, read at most every TENANT_CACHE_SECONDS per process."""
    now = time.monotonic()
    hit = _tenant_cache.get(city_code)
    if hit is not None and hit[0] > now:
        scope(conn, city_code)
        return hit[1], hit[2]
    tenant, caller = _read_tenant(conn, city_code)
    _tenant_cache[city_code] = (now + TENANT_CACHE_SECONDS, tenant, caller)
    return tenant, caller


def forget_tenants() -> None:
    """Drop the cached tenants (after a change in the same process, and in tests)."""
    _tenant_cache.clear()


def exchange_private_key(conn: Connection, city_code: str) -> X25519PrivateKey:
    """The city's X25519 private key (unwrapped in memory only)."""
    scope(conn, city_code)
    blob = conn.execute(
        text("SELECT exchange_private_key FROM gateway.tenant WHERE city_code = :c"), {"c": city_code}
    ).scalar()
    if blob is None:
        raise TenantMissing(f"テナント {city_code} が登録されていません")
    raw = keys.decrypt(conn, bytes(blob), table=_KEY_TABLE, column="exchange_private_key", row_id=city_code)
    return protocol.exchange_key_from(raw)


def network_api_token(conn: Connection, city_code: str) -> str:
    """The bearer this city presents to the network."""
    scope(conn, city_code)
    blob = conn.execute(
        text("SELECT api_token FROM gateway.tenant WHERE city_code = :c"), {"c": city_code}
    ).scalar()
    if blob is None:
        raise TenantMissing(f"テナント {city_code} はネットワークに参加していません")
    return keys.decrypt(conn, bytes(blob), table=_KEY_TABLE, column="api_token", row_id=city_code).decode()


def check_network_caller(conn: Connection, city_code: str, bearer: str) -> bool:
    """Is ``bearer`` the token the network presents to this city? (system connections are
    authenticated, seed 000 リスク4 ②). Compared in constant time on the SHA-256."""
    stored = cached_tenant(conn, city_code)[1]
    if stored is None or not bearer:
        return False
    return hmac.compare_digest(stored, _digest(bearer))
