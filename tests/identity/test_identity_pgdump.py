"""A database dump after the registry load holds no 個人番号: the real ``pg_dump``, every number checked.

The 個人番号 of jumin.csv lives only in identity.my_number_vault as AES-GCM ciphertext and an HMAC;
a stolen dump (or backup) must not reveal one (seed 000 Ⅲ-7 リスク1: 特定個人情報の漏えい).
"""

from __future__ import annotations

import re
import subprocess
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from tests_identity_helpers import find_pg_dump

from kiban.identity import load
from kiban.shared import mynumber
from kiban.synth.city import city_params
from kiban.synth.files import FileSet
from kiban.synth.generate import generate_chunk

_RUN = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")


def test_a_full_pg_dump_after_the_load_holds_no_my_number(
    db_engine: Engine, database_url: str, clean_identity: None, tmp_path: Path
) -> None:
    params = city_params(21, 2000, date(2026, 4, 1))
    files = FileSet(tmp_path)
    for k in range(params.chunks):
        for name, data in generate_chunk(params, k).files.items():
            files.write(name, data)
    files.commit()
    jumin = tmp_path / "jumin.csv"
    result = load.load_registry(db_engine, jumin, workers=2, today=date(2026, 4, 1))
    numbers = {line.split(",")[2] for line in jumin.read_text(encoding="utf-8").splitlines()[1:]}
    assert len(numbers) == result.rows and all(mynumber.is_valid(n) for n in numbers)

    with db_engine.connect() as conn:
        server = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    binary = find_pg_dump(server)
    if binary is None:
        pytest.skip(f"no pg_dump for PostgreSQL {server} on this machine")
    print(f"pg_dump: {binary} for PostgreSQL {server}")
    dump = subprocess.run(
        [binary, "--no-owner", "--no-privileges", "--dbname", database_url],
        capture_output=True,
        timeout=600,
        check=True,
    ).stdout.decode("utf-8")
    vault_rows = dump.split("COPY identity.my_number_vault", 1)[1].split("\n\\.\n", 1)[0].count("\n")
    assert vault_rows == result.rows  # the vault was dumped: ciphertext and blind index only
    assert not [n for n in numbers if n in dump]
    runs = {m.group() for m in _RUN.finditer(dump)}
    assert not {r for r in runs if mynumber.is_valid(r)} & numbers
