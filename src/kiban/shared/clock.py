"""The office's calendar day (庁舎の日付): every "today" in kiban is the date in the city's time zone.

A server's own clock may run in UTC (a CI machine, a container); a city works in 日本標準時. Between
00:00 and 09:00 JST the UTC date is still yesterday, so ``clock.today()`` would date a grant, a
notice or a review period a day early. The zone is ``KIBAN_TIMEZONE`` (default ``Asia/Tokyo``).
"""

from __future__ import annotations

import os
from datetime import date, datetime
from zoneinfo import ZoneInfo

__all__ = ["now", "office_zone", "today"]

DEFAULT_ZONE = "Asia/Tokyo"


def office_zone() -> ZoneInfo:
    """The city's time zone."""
    return ZoneInfo(os.environ.get("KIBAN_TIMEZONE") or DEFAULT_ZONE)


def now() -> datetime:
    """The current moment, aware, in the city's time zone."""
    return datetime.now(office_zone())


def today() -> date:
    """Today's date in the city's time zone."""
    return now().date()
