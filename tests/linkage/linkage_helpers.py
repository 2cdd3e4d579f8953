"""Helpers shared by the linkage tests (not fixtures)."""

from __future__ import annotations

from datetime import date

from kiban.linkage.applications import ApplicationForm


def form(
    consumer: str,
    dataset: str,
    items: tuple[str, ...],
    basis: str,
    *,
    valid_from: date = date(2024, 6, 1),
    valid_to: date | None = None,
    purpose: str = "資格確認のため",
) -> ApplicationForm:
    return ApplicationForm(consumer, dataset, items, basis, purpose, "業務外利用禁止", valid_from, valid_to)
