"""What every screen does with a form and a document (画面共通の入力・帳票): read a date as staff type
it, refuse an unreadable value with a message for the counter, and hand a PDF to the browser.

They were written for the 介護保険 資格 screens and then imported from there by every other
screen; they belong to none of them.
"""

from __future__ import annotations

from datetime import date

from fastapi.responses import Response

from kiban.shared import wareki

__all__ = ["InputError", "parse_date", "pdf_response"]


class InputError(ValueError):
    """A form value the screen cannot read (a date in an unknown format, a missing choice)."""


def parse_date(text: str | None, label: str, *, required: bool = False) -> date | None:
    """A date as staff type it: 2026-04-01, 令和8年4月1日, R8.4.1."""
    value = (text or "").strip()
    if not value:
        if required:
            raise InputError(f"{label}を入力してください")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    try:
        return wareki.parse(value)
    except ValueError:
        raise InputError(f"{label}: 日付として読めません（例: 2026-04-01、R8.4.1、令和8年4月1日）") from None


def pdf_response(pdf: bytes, filename: str) -> Response:
    """A PDF shown in the browser (inline), not kept by it or anything between: every document
    of kiban names a person (a bulk run names thousands), so none may sit in a cache."""
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "no-store"},
    )
