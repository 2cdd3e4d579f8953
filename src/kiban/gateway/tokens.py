"""符号 (情報提供用個人識別符号) per person per agency, as the network issued it (符号管理 FGU).

The network issues a random token per (person, agency), so two agencies' tokens for one person
cannot be linked without the network's table (MOSIP's per-partner token). Here a token maps to
exactly one (person, agency): ``UNIQUE (city_code, token)``. Used only for the network exchange,
never for 名寄せ (seed 000: 情報連携においてのみ、情報提供用個人識別符号を用いることがシステム上担保).
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from kiban.gateway.errors import GatewayError
from kiban.gateway.tenants import scope

_AGENCY = re.compile(r"^[0-9]{6}-[a-z_]+$")


def check_agency(agency_code: str) -> str:
    if not isinstance(agency_code, str) or not _AGENCY.match(agency_code):
        raise GatewayError(f"機関コードが不正です（地方公共団体コード-事務）: {agency_code!r}")
    return agency_code


def store_token(conn: Connection, *, city_code: str, person_id: int, agency_code: str, token: str) -> None:
    """Keep the 符号 the network issued (a re-issue replaces the old one)."""
    scope(conn, city_code)
    check_agency(agency_code)
    if not isinstance(token, str) or len(token) < 16:
        raise GatewayError(f"宛名 {person_id}・機関 {agency_code}: 符号の形式が不正です")
    try:
        with conn.begin_nested():
            conn.execute(
                text(
                    "INSERT INTO gateway.token (city_code, person_id, agency_code, token)"
                    " VALUES (:c, :p, :a, :t) ON CONFLICT (city_code, person_id, agency_code)"
                    " DO UPDATE SET token = EXCLUDED.token, stored_at = now()"
                ),
                {"c": city_code, "p": person_id, "a": agency_code, "t": token},
            )
    except IntegrityError as exc:
        raise GatewayError(
            f"宛名 {person_id}・機関 {agency_code}: この符号は別の宛名または機関に登録済みです"
        ) from exc


def token_for(conn: Connection, *, city_code: str, person_id: int, agency_code: str) -> str | None:
    scope(conn, city_code)
    value = conn.execute(
        text("SELECT token FROM gateway.token WHERE city_code = :c AND person_id = :p AND agency_code = :a"),
        {"c": city_code, "p": person_id, "a": agency_code},
    ).scalar()
    return None if value is None else str(value)


def person_for_token(conn: Connection, *, city_code: str, token: str) -> tuple[int, str] | None:
    """(person_id, agency_code) of a 符号, or None."""
    scope(conn, city_code)
    row = conn.execute(
        text("SELECT person_id, agency_code FROM gateway.token WHERE city_code = :c AND token = :t"),
        {"c": city_code, "t": token},
    ).first()
    return None if row is None else (int(row.person_id), str(row.agency_code))
