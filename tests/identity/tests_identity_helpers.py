"""Helpers shared by the identity tests (not fixtures)."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import Engine, text

from kiban.shared import mynumber


def valid_number(seed: int) -> str:
    """A check-digit-valid 個人番号, distinct per seed (synthetic)."""
    return mynumber.generate(random.Random(f"identity-test-{seed}"))


def log_rows(engine: Engine, staff_code: str, *, action: str | None = None) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT * FROM audit.access_log WHERE staff_code = :s "
                "AND (CAST(:a AS text) IS NULL OR action = :a) ORDER BY id"
            ),
            {"s": staff_code, "a": action},
        ).mappings()
        return [dict(r) for r in rows]
