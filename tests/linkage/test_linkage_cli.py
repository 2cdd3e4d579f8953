"""``kiban linkage catalogue`` and ``kiban linkage deliver``."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, text
from typer.testing import CliRunner

from kiban.cli.main import app
from kiban.db import outbox


def test_catalogue_lists_datasets_consumers_and_bases() -> None:
    result = CliRunner().invoke(app, ["linkage", "catalogue"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "宛名基本情報" in result.output and "含む" in result.output
    assert "中間サーバー（副本登録）" in result.output and "番号法第19条第8号 主務省令" in result.output


def test_deliver_runs_every_consumer_and_is_a_no_op_when_run_again(
    db_engine: Engine, clean_linkage: None, subscribe
) -> None:
    subscribe("juki", "kaigo.qualification", ("insured_no",), "jumin-kihon-daicho-7")
    subscribe("kenko", "identity.resident", ("type",), "jorei-kenko")
    with db_engine.begin() as conn:
        for n in range(3):
            outbox.emit(conn, "kaigo.qualification.acquired", f"170000010{n}",
                        {"person_no": f"170000010{n}", "insured_no": f"{n:010d}"}, occurred_on=date(2026, 4, 1))  # fmt: skip
        outbox.emit(conn, "identity.resident.died", "1700000100", {"person_no": "1700000100", "type": "死亡"})
    first = CliRunner().invoke(app, ["linkage", "deliver", "--batch", "2"])
    assert first.exit_code == 0, first.output
    assert "juki: 3 件" in first.output and "kenko: 1 件" in first.output and "合計 4 件" in first.output
    again = CliRunner().invoke(app, ["linkage", "deliver", "--consumer", "juki"])
    assert again.exit_code == 0 and "juki: 0 件" in again.output
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM linkage.transfer")).scalar_one() == 4
    unknown = CliRunner().invoke(app, ["linkage", "deliver", "--consumer", "nosuch"])
    assert unknown.exit_code == 1 and "nosuch" in unknown.output
