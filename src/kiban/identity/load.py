"""住民記録 全件取込 (初期移行): the resident registry's full file ``jumin.csv`` into an empty 宛名 hub.

Layout: docs/layouts/synth-source-files.md §jumin.csv; load rules: docs/layouts/jumin-full-load.md.
Each row becomes a person (宛名番号, a new 団体内統合宛名番号), one current version (from 住民となった日,
for 住登外 persons from 住登外となった日), a household membership (住民) and the 個人番号 in the vault
(AES-256-GCM with the person id in the associated data, and the HMAC blind index) — never in clear.

Rules (domain.md §10.11; seed 000 リスク対策: 論理チェックでエラーとなったデータは取り込まない):

- every row is checked (importing.Row, model.check_person, the check digit of 番号法施行令第8条) and so
  is the file as a whole (宛名番号, 個人番号 and 世帯番号 unique; a household's rows consecutive, 世帯主
  first); one bad row and nothing is imported: ``ImportRejected`` with the エラーリスト (line, 宛名番号,
  項目名 — never the number), kept with the rejected import;
- the same file again (SHA-256) changes nothing; the initial migration is for an EMPTY hub only: a hub
  that already holds persons is refused (``HubNotEmpty``) — later changes arrive as 住民異動;
- all or nothing: the rows are built in a staging schema (kiban.identity.staging) and the live hub
  changes in ONE short transaction, the swap, with its access-log row and one outbox event
  ``identity.registry.loaded`` (counts only); the import is recorded as running (実行中) meanwhile,
  and its start is logged before any row is written.

Speed (a million residents): rows are checked, keyed and encrypted in *spawned* worker processes (a
script calling this must keep its top level behind ``if __name__ == "__main__":``), and each worker
COPYs its rows into the staging tables over its own connection. Ids are reserved up front
(``_reserve``) so a worker can bind each ciphertext to its person id. The staging tables get the live
tables' keys, indexes, foreign keys and triggers afterwards, built by several sessions at once from
the catalogue's definitions (the migration stays the single source of truth). Their unique indexes
are the fast duplicate check; a rejected file is scanned again to name both lines of every duplicate.
"""

from __future__ import annotations

import csv
import io
import operator
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Final

import psycopg
import typer
from sqlalchemy import Connection, Engine, create_engine, func, select
from sqlalchemy.pool import NullPool

from kiban.db import outbox
from kiban.db.config import to_libpq_url
from kiban.identity import importing, model, staging, vault
from kiban.identity import tables as t
from kiban.identity.importing import MAX_ERRORS, ImportRejected, ImportResult, Row, RowError
from kiban.identity.repo import IdentityError
from kiban.security import audit, guard, keys
from kiban.security.context import AccessContext, Action, Business, Outcome
from kiban.shared import clock

KIND: Final = "registry_full"
TOPIC: Final = "identity.registry.loaded"
HEADER: Final = (
    "市区町村コード", "宛名番号", "個人番号", "世帯番号", "住民区分", "続柄", "氏", "名", "氏カナ", "名カナ",
    "性別", "生年月日", "郵便番号", "住所", "方書", "地区コード", "住民となった日", "住登外となった日", "住登外事由",
)  # fmt: skip
REASON: Final = "初期移行（住民記録 全件取込）"  # change_reason, join_reason and the vault's source
RESIDENT, NON_RESIDENT = str(model.ResidentClass.RESIDENT), str(model.ResidentClass.NON_RESIDENT)
CHUNK_BYTES: Final = 2 << 20  # about 11,000 rows per worker task
SMALL_FILE: Final = 30_000  # rows; fewer are checked in this process (starting workers takes seconds)
_COPY: Final = {
    "person": "person_id, city_code, person_no, integrated_no, import_id",
    "household": "household_id, city_code, household_no",
    "person_version": "version_id, person_id, valid, family_name, given_name, family_kana, given_kana, sex, birth_date, "
    "postal_code, address, katagaki, in_city, district_code, resident_class, resident_on, nonresident_on, "
    "nonresident_reason, kana_key, name_key, address_key, change_reason, recorded_by",
    "household_member": "member_id, household_id, person_id, relation, is_head, valid, join_reason, recorded_by",
    "my_number_vault": "person_id, ciphertext, blind_index, source, registered_by, import_id",
}
# The no-overlap rule of migration 0015 is a row trigger (an advisory lock and a lookup per row): the
# staging tables get it after the COPY, and the loaded rows are checked at once instead, the way
# kiban.identity.check does — sorted by start, any overlap shows between neighbours.
_PERIOD_TABLES: Final = ("person_version", "household_member")
_OVERLAP: Final = """
SELECT person_id FROM (
    SELECT person_id, valid, lag(valid) OVER (PARTITION BY person_id ORDER BY lower(valid), {key}) AS prev
      FROM {schema}.{table}
     WHERE superseded_at IS NULL
       AND person_id IN (SELECT person_id FROM {schema}.{table} WHERE superseded_at IS NULL
                          GROUP BY person_id HAVING count(*) > 1)) s
 WHERE prev && valid LIMIT 1
"""

# The fast path: one regular expression per line, as strict as Row + check_person (a test proves it
# on whole synthetic cities); any line it does not accept is checked the slow way, which names errors.
_T = r"[^,\s](?:[^,]*[^,\s])?"  # a text item: Row strips blanks, so none at either end here
_K = r"(?=[^,]*?[\u30a1-\u30fa\u30fd\u30fe])[\u30a1-\u30fe](?:[\u30a1-\u30fe \u3000]*[\u30a1-\u30fe])?"
_D = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_FAST = re.compile(
    rf"([0-9]{{6}}),([0-9]{{10}}),([0-9]{{12}}),([0-9]{{10}})?,({RESIDENT}|{NON_RESIDENT}),({_T})?,({_T}),"
    rf"({_T})?,({_K}),({_K})?,([12]),({_D}),([0-9]{{3}}-[0-9]{{4}})?,({_T}),({_T})?,([0-9]{{2}})?,"
    rf"({_D})?,({_D})?,({_T})?"
)
# 検査用数字 (平成26年総務省令第85号第5条): weights of the first eleven digits, left to right.
_WEIGHTS: Final = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)

Values = tuple[str | None, ...]  # the 19 items, None when empty; dates as ISO text
Progress = Callable[[str, int, int], None]  # (stage, done, total)


class HubNotEmpty(ImportRejected):
    """The hub already holds persons: the full load (初期移行) is for an empty hub only."""


@dataclass
class RegistryLoadResult(ImportResult):
    residents: int = 0
    non_residents: int = 0
    households: int = 0
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class _Params:
    import_id: int
    staff_id: int
    person_id: int  # the first reserved id of each kind; row on line L gets start + L - 2
    serial: int
    household_id: int
    version_id: int
    member_id: int
    today: str


@dataclass
class _Done:
    """What a worker returns for one chunk of lines."""

    rows: int = 0
    residents: int = 0
    households: int = 0
    errors: list[RowError] = field(default_factory=list)


# -- checking one line --------------------------------------------------------------------------


def _weighted(digits: int, weights: tuple[int, ...]) -> dict[str, int]:
    """The weighted digit sum of every ``digits``-digit string (a table: three lookups per number)."""
    return {
        f"{k:0{digits}d}": sum(map(operator.mul, f"{k:0{digits}d}".encode(), weights)) - 48 * sum(weights)
        for k in range(10**digits)
    }


_SUM_0_4: Final = _weighted(4, _WEIGHTS[:4])
_SUM_4_8: Final = _weighted(4, _WEIGHTS[4:8])
_SUM_8_11: Final = _weighted(3, _WEIGHTS[8:11])


def _digit_ok(number: str) -> bool:
    """The check digit of a 12-digit string (the fast path has seen 12 ASCII digits)."""
    rest = (_SUM_0_4[number[:4]] + _SUM_4_8[number[4:8]] + _SUM_8_11[number[8:11]]) % 11
    return (0 if rest <= 1 else 11 - rest) == ord(number[11]) - 48


def _fast(line: str, today: str) -> Values | None:
    """The 19 items of a line that certainly passes every check, else None (check it the slow way)."""
    m = _FAST.fullmatch(line) if len(line) <= 200 else None  # 200: Row.text's limit, for every item
    if m is None:
        return None
    v = m.groups()
    birth, resident_on, nonresident_on = v[11], v[16], v[17]
    if not _digit_ok(v[2]) or not "1870-01-01" <= birth <= today:
        return None
    try:
        for d in (birth, resident_on, nonresident_on):
            if d is not None:
                date.fromisoformat(d)
    except ValueError:
        return None
    if v[4] == RESIDENT:
        ok = v[3] and v[5] in model.RELATIONS and resident_on and not nonresident_on and not v[18]
        ok = ok and resident_on >= birth
    else:
        ok = not v[3] and not v[5] and nonresident_on and v[18] and nonresident_on >= birth
        ok = ok and (resident_on is None or resident_on >= birth)
    return v if ok else None


def _cross(
    cls: str, household_no: str, relation: str, nonresident_on: str, reason: str
) -> list[tuple[str, str]]:
    """Rules between items of this layout (beyond check_person): 住民 are in a household, 住登外 not."""
    bad = []
    if cls == RESIDENT:
        if not household_no:
            bad.append((HEADER[3], "住民には必須です"))
        if not relation:
            bad.append((HEADER[5], "住民には必須です"))
        elif relation not in model.RELATIONS:
            bad.append((HEADER[5], "次のいずれかです: " + "・".join(sorted(model.RELATIONS))))
        bad += [
            (name, "住民は空です")
            for name, value in ((HEADER[17], nonresident_on), (HEADER[18], reason))
            if value
        ]
    else:
        bad += [
            (name, "住登外者は空です")
            for name, value in ((HEADER[3], household_no), (HEADER[5], relation))
            if value
        ]
        if not nonresident_on:
            bad.append((HEADER[17], "住登外者には必須です"))
    return bad


def _slow(line_no: int, fields: list[str], errors: list[RowError], today: date) -> Values | None:
    """Check one row with importing.Row and model.check_person; errors go to the エラーリスト."""
    row = Row.of(line_no, fields, HEADER, errors)
    if not row.values:
        return None
    row.key = row.raw(HEADER[1])
    city, person_no = row.digits(HEADER[0], 6), row.digits(HEADER[1], 10)
    number = row.digits(HEADER[2], 12)
    if number is not None:
        try:
            number = vault.check_number(number)
        except vault.InvalidMyNumber as exc:
            row.error(HEADER[2], str(exc))
    household_no = row.digits(HEADER[3], 10, required=False)
    cls = row.choice(HEADER[4], (RESIDENT, NON_RESIDENT))
    relation = row.text(HEADER[5], required=False)
    texts = {i: row.text(HEADER[i], required=i in (6, 8, 13)) for i in (6, 7, 8, 9, 12, 13, 14, 15, 18)}
    sex = row.choice(HEADER[10], ("1", "2"))
    dates = {i: row.date(HEADER[i], required=i == 11) for i in (11, 16, 17)}
    if None not in (texts[6], texts[8], texts[13], sex, dates[11], cls):
        data = model.PersonData(
            texts[6], texts[7] or "", texts[8], texts[9] or "", int(sex), dates[11], texts[13],  # type: ignore[arg-type]
            model.ResidentClass(cls or ""), postal_code=texts[12], katagaki=texts[14], district_code=texts[15],
            in_city=cls == RESIDENT, resident_on=dates[16], nonresident_on=dates[17], nonresident_reason=texts[18],
        )  # fmt: skip
        for fe in model.check_person(data, today=today):
            row.error(fe.field, fe.message)
    if cls is not None:
        raw = [row.raw(HEADER[i]) for i in (3, 5, 17, 18)]
        for name, message in _cross(cls, *raw):
            row.error(name, message)
    if not row.ok:
        return None
    iso = {i: d.isoformat() if d else None for i, d in dates.items()}
    return (city, person_no, number, household_no, cls, relation, texts[6], texts[7], texts[8], texts[9], sex,
            iso[11], texts[12], texts[13], texts[14], texts[15], iso[16], iso[17], texts[18])  # fmt: skip


@lru_cache(maxsize=1 << 16)
def _kana_part(kana: str) -> str:
    # For full-width katakana (the fast path's kana) the key of a concatenation is the concatenation
    # of the keys; the surnames and given names of a city repeat, so this is mostly a cache hit.
    return model.kana_key(kana, "")


def _escape(value: str | None) -> str | None:
    if value is None:
        return None
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


# -- one chunk (in a worker process) ------------------------------------------------------------

_VAULT: keys.Vault | None = None
_CONN: psycopg.Connection[Any] | None = None


def _init_worker(url: str, expected: tuple[Any, ...]) -> None:
    """Each worker reads the keys itself (data keys are never pickled) and checks they are the parent's;
    it COPYs its rows into the staging tables over its own connection."""
    global _VAULT, _CONN
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        found = keys.Vault.load(conn)
    engine.dispose()
    if _key_check(found) != expected:
        raise keys.KeyVaultError("作業プロセスの暗号鍵が親プロセスと一致しません（KIBAN_KEY_FILE を確認）")
    _VAULT = found
    _CONN = _copy_connection(to_libpq_url(url))


def _copy_connection(url: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(url)
    # The staging rows need no synchronous commit: the swap's commit flushes the WAL before it.
    conn.execute("SET synchronous_commit = off")
    conn.commit()
    return conn


def _key_check(v: keys.Vault) -> tuple[Any, ...]:
    return (v.active.version, v.active.fingerprint(), v.blind_index("kiban.identity.load"))


def _process(
    p: _Params,
    first_line: int,
    chunk: bytes,
    emit: bool,
    v: keys.Vault | None = None,
    conn: psycopg.Connection[Any] | None = None,
) -> _Done:
    """Check one chunk of lines and, while the file is clean, key, encrypt and COPY them into the
    staging tables (one transaction per chunk, over this worker's connection or ``conn``)."""
    v = v or _VAULT
    conn = conn or _CONN
    assert v is not None and conn is not None
    done = _Done()
    errors = done.errors
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = first_line + chunk[: exc.start].count(b"\n")
        errors.append(RowError(bad_line, "", "", "UTF-8 ではありません（文字コードを確認してください）"))
        text, emit = chunk.decode("utf-8", errors="replace"), False
    # Quoted items, or characters COPY must escape (a tab, a backslash; a lone carriage return is an error).
    special = any(c in text for c in '"\\\t') or text.count("\r") != text.count("\r\n")
    today = date.fromisoformat(p.today)
    out: dict[str, list[str]] = {name: [] for name in _COPY}
    person, household, version, member, number = (out[n] for n in _COPY)  # in _COPY order
    staff, import_id, n = p.staff_id, p.import_id, r"\N"
    numbers: list[tuple[int, str]] = []  # (person id, 個人番号) to seal
    addresses: dict[tuple[str | None, str | None], str] = {}
    head_no: str | None = None
    head_line = 0
    household_id = 0
    for i, line in enumerate(text.split("\n")):
        if line.endswith("\r"):
            line = line[:-1]
        if not line or line.isspace():
            continue
        line_no = first_line + i
        done.rows += 1
        vals = None if special else _fast(line, p.today)
        if vals is None:
            try:
                fields = next(csv.reader([line]))
            except csv.Error:  # a line break inside an item: the layout has none
                errors.append(RowError(line_no, "", "", "項目の中に改行文字があります"))
                continue
            vals = _slow(line_no, fields, errors, today)
            if vals is None:
                head_no = fields[3].strip() if len(fields) > 3 else None
                continue
        (city, person_no, digits, household_no, cls, relation, fam, giv, fkana, gkana, sex, birth, postal, addr,
         kata, district, resident_on, nonresident_on, reason) = vals  # fmt: skip
        if household_no is not None and household_no != head_no:
            head_no, head_line = household_no, line_no
            household_id = p.household_id + line_no - 2
            done.households += 1
            if relation != "世帯主":
                errors.append(RowError(line_no, person_no or "", HEADER[5], "世帯の先頭の行は世帯主です"))
            elif emit:
                household.append(f"{household_id}\t{city}\t{household_no}\n")
        elif household_no is not None and relation == "世帯主":
            errors.append(
                RowError(line_no, person_no or "", HEADER[5], f"世帯主が2人います（{head_line}行目）")
            )
        else:
            head_no = household_no
        if cls == RESIDENT:
            done.residents += 1
        if not emit or errors:
            emit = emit and not errors
            continue
        pid = p.person_id + line_no - 2
        if special:
            kana_key = model.kana_key(fkana, gkana or "")  # type: ignore[arg-type]
        else:
            kana_key = _kana_part(fkana) + (_kana_part(gkana) if gkana else "")
        name_key = model.name_key(fam, giv or "")  # type: ignore[arg-type]
        address_key = addresses.get((addr, kata))  # a household's members share it
        if address_key is None:
            address_key = addresses[(addr, kata)] = model.address_key(addr, kata)  # type: ignore[arg-type]
        if special:
            fam, giv, fkana, gkana, addr, kata, relation, reason = map(
                _escape, (fam, giv, fkana, gkana, addr, kata, relation, reason)
            )
            kana_key, name_key, address_key = map(_escape, (kana_key, name_key, address_key))  # type: ignore[assignment]
        person.append(
            f"{pid}\t{city}\t{person_no}\t{city}{p.serial + line_no - 2:09d}\t{import_id}\n"  # model.integrated_no
        )
        since = nonresident_on if cls == NON_RESIDENT else resident_on
        version.append(
            f"{p.version_id + line_no - 2}\t{pid}\t[{since},)\t{fam}\t{giv or ''}\t{fkana}\t{gkana or ''}\t{sex}\t{birth}\t{postal or n}\t"
            f"{addr}\t{kata or n}\t{'t' if cls == RESIDENT else 'f'}\t{district or n}\t{cls}\t"
            f"{resident_on or n}\t{nonresident_on or n}\t{reason or n}\t{kana_key}\t{name_key}\t{address_key}\t"
            f"{REASON}\t{staff}\n"
        )
        if household_no is not None:
            member.append(
                f"{p.member_id + line_no - 2}\t{household_id}\t{pid}\t{relation}\t{'t' if relation == '世帯主' else 'f'}\t[{resident_on},)\t"
                f"{REASON}\t{staff}\n"
            )
        numbers.append((pid, digits))  # type: ignore[arg-type]
    if emit and not errors:
        # The vault's rows at once: one CSPRNG read for the nonces, the HMAC key's blocks hashed once.
        sealed = v.encrypt_many(numbers, table=vault.TABLE, column=vault.COLUMN)
        blind = v.blind_indexes([digits for _pid, digits in numbers])
        tail = f"\t{REASON}\t{staff}\t{import_id}\n"
        number.extend(
            f"{pid}\t\\\\x{c.hex()}\t\\\\x{b.hex()}{tail}"
            for (pid, _d), c, b in zip(numbers, sealed, blind, strict=True)
        )
        with conn.transaction():
            for table, columns in _COPY.items():
                if out[table]:
                    with conn.cursor().copy(f"COPY {staging.SCHEMA}.{table} ({columns}) FROM STDIN") as copy:
                        copy.write("".join(out[table]).encode())
    return done


# -- the load (in the parent) -------------------------------------------------------------------


def _household_of(line: bytes) -> bytes:
    parts = line.split(b",", 4)
    return parts[3].strip() if len(parts) > 4 else b""


def _chunks(data: bytes, start: int, size: int) -> Iterator[tuple[int, bytes]]:
    """(first line number, lines) pieces of about ``size`` bytes; a household is never split."""
    line, pos, end_of_data = 2, start, len(data)
    while pos < end_of_data:
        end = data.find(b"\n", min(pos + size, end_of_data - 1))
        end = end_of_data if end < 0 else end + 1
        while end < end_of_data:
            after = data.find(b"\n", end)
            after = end_of_data if after < 0 else after + 1
            last = _household_of(data[(data.rfind(b"\n", pos, end - 1) + 1 or pos) : end])
            if not last or last != _household_of(data[end:after]):
                break
            end = after
        yield line, data[pos:end]
        line += data.count(b"\n", pos, end)
        pos = end


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def _worker_count(n: int | None, lines: int) -> int:
    return n or (default_workers() if lines > SMALL_FILE else 1)


def load_registry(
    engine: Engine,
    path: Path | str,
    ctx: AccessContext | None = None,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    today: date | None = None,
) -> RegistryLoadResult:
    """Import ``jumin.csv`` (the whole registry) into an empty hub, all or nothing.

    ``ctx`` defaults to the batch principal (purpose atena.import). ``workers`` processes check,
    encrypt and COPY, and as many sessions build the indexes (default: the cores, or this process
    alone for a small file; 1 = in this process). ``progress(stage, done, total)`` is called per
    chunk of rows and per step of the rebuild. Raises ``ImportRejected`` (the error list) or
    ``HubNotEmpty``; the import is recorded as running while it runs (実行中).
    """
    started = time.perf_counter()
    path = Path(path)
    data = path.read_bytes()
    if ctx is None:
        from kiban.security.batch import batch_context, ensure_batch_principal

        with engine.begin() as conn:
            ensure_batch_principal(conn)
            ctx = batch_context(conn, Business.ATENA, "atena.import", f"住民記録 全件取込 {path.name}")
    sha = importing.digest(data)
    rows = 0
    import_id: int | None = None
    url = engine.url.render_as_string(hide_password=False)
    try:
        with engine.begin() as conn:
            guard.require(conn, ctx, action=Action.CREATE, log=False)
            done = importing.already_imported(conn, KIND, sha)
            if done is not None:
                audit.record(
                    conn, ctx, action=Action.CREATE, detail={"file": path.name, "already_imported": done}
                )
                return RegistryLoadResult(done, KIND, path.name, 0, 0, 0, already_imported=True)
            body = data.find(b"\n") + 1 or len(data)
            next(importing.read_csv(data[:body], HEADER), None)  # the header row (raises ImportRejected)
            rows = data.count(b"\n", body) + (0 if data.endswith(b"\n") else 1)
            if not data[body:].strip():
                raise ImportRejected([RowError(2, "", "", "データ行がありません")])
            _refuse_if_held(conn)
        with psycopg.connect(to_libpq_url(url), autocommit=True) as control:
            # One full load at a time: this session's lock, released when it ends however it ends.
            if not control.execute("SELECT pg_try_advisory_lock(%s)", (staging.LOCK_KEY,)).fetchone()[0]:  # type: ignore[index]
                raise IdentityError("別の住民記録 全件取込が実行中です。終わってから実行してください")
            try:
                with engine.begin() as conn:
                    _refuse_if_held(conn)
                    for abandoned in importing.running(conn, KIND):  # a load that died on the way
                        importing.fail(conn, abandoned)
                    import_id = importing.begin(
                        conn, kind=KIND, file_name=path.name, sha=sha, staff_id=ctx.staff_id
                    )
                    # Logged before any row is written: from here until the swap the rows are in the
                    # staging schema, outside the hub, and a load that dies leaves them there until
                    # the next one drops them — the log shows who started it and when.
                    audit.record(
                        conn,
                        ctx,
                        action=Action.CREATE,
                        detail={"file": path.name, "import_id": import_id, "stage": "started"},
                    )
                result = _load(
                    engine,
                    control,
                    ctx,
                    import_id,
                    data,
                    body,
                    path.name,
                    workers,
                    progress,
                    today or clock.today(),
                )
            finally:
                staging.discard(control)
    except ImportRejected as exc:
        exc.import_id = importing.record_rejection(
            engine,
            kind=KIND,
            file_name=path.name,
            sha=sha,
            staff_id=ctx.staff_id,
            errors=exc.errors,
            rows=rows,
            import_id=import_id,
        )
        with engine.begin() as conn:  # the import's transaction (and its log row) was rolled back
            detail = {"file": path.name, "import_id": exc.import_id, "errors": len(exc.errors)}
            audit.record(conn, ctx, action=Action.CREATE, outcome=Outcome.ERROR, detail=detail)
        raise
    except BaseException:
        if import_id is not None:
            with engine.begin() as conn:
                importing.fail(conn, import_id)
        raise
    result.seconds = time.perf_counter() - started
    return result


def _refuse_if_held(conn: Connection, held: int | None = None) -> None:
    if held is None:
        held = int(conn.execute(select(func.count()).select_from(t.person)).scalar_one())
    if held:
        raise HubNotEmpty([RowError(1, "", "", f"宛名ハブには既に {held:,} 人の宛名が登録されています。"
                                   "住民記録の全件取込（初期移行）は空の宛名ハブにだけ行えます。"
                                   "以後の異動は住民異動の取込（kiban identity events）で反映してください")])  # fmt: skip


def _load(
    engine: Engine,
    control: psycopg.Connection[Any],
    ctx: AccessContext,
    import_id: int,
    data: bytes,
    body: int,
    file_name: str,
    workers: int | None,
    progress: Progress | None,
    today: date,
) -> RegistryLoadResult:
    """The rows into the staging tables, their indexes and keys, then the swap (staging.py)."""
    say = progress or (lambda _stage, _done, _total: None)
    url = engine.url.render_as_string(hide_password=False)
    with engine.connect() as conn:
        v = keys.Vault.load(conn)
    lines = data.count(b"\n", body) + 1  # an upper bound of the rows: one id of each kind per line
    total = _Done()
    with _workers(workers, lines, url, v) as pool:
        staging.prepare(control)  # while the workers start
        params = _Params(
            import_id,
            ctx.staff_id,
            _reserve(control, f"{staging.SCHEMA}.person", "person_id", lines),
            _serials(control, lines),
            _reserve(control, f"{staging.SCHEMA}.household", "household_id", lines),
            _reserve(control, f"{staging.SCHEMA}.person_version", "version_id", lines),
            _reserve(control, f"{staging.SCHEMA}.household_member", "member_id", lines),
            today.isoformat(),
        )
        here = None if pool is not None else _copy_connection(to_libpq_url(url))
        try:
            for part in _stream(pool, params, data, body, v, lambda: not total.errors, here):
                total.rows += part.rows
                total.residents += part.residents
                total.households += part.households
                total.errors += part.errors
                say("取込", total.rows, lines)
        finally:
            if here is not None:
                here.close()
    say("取込", total.rows, total.rows)
    if total.errors:
        errors = sorted(set(total.errors + _duplicates(data, body)), key=lambda e: (e.line_no, e.field))
        raise ImportRejected(errors[:MAX_ERRORS], total=len(errors))
    jobs = staging.plan(control, {table: _overlap_check(table) for table in _PERIOD_TABLES})
    sessions = _worker_count(workers, lines)  # as many sessions build the indexes
    say("索引の再構築", 0, len(jobs))
    try:
        staging.run(to_libpq_url(url), jobs, sessions, lambda k: say("索引の再構築", k, len(jobs)))
    except psycopg.errors.UniqueViolation:
        errors = _duplicates(data, body)  # a duplicate in the file: name both lines
        if not errors:
            raise
        raise ImportRejected(errors[:MAX_ERRORS], total=len(errors)) from None
    with engine.begin() as conn:
        raw: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
        try:
            staging.swap(raw)
        except staging.NotEmpty as exc:  # someone registered a person while the load ran
            _refuse_if_held(conn, exc.held)
        importing.finish(conn, import_id, rows=total.rows, applied=total.rows, skipped=0)
        counts = {
            "persons": total.rows,
            "residents": total.residents,
            "non_residents": total.rows - total.residents,
            "households": total.households,
        }
        outbox.emit(conn, TOPIC, str(import_id), {"import_id": import_id, **counts}, occurred_on=today)
        # The persons are those of the import (person.import_id), not listed here.
        guard.require(
            conn,
            ctx,
            action=Action.CREATE,
            detail={"file": file_name, "rows": total.rows, "import_id": import_id, "subjects": "import_id"},
        )
    return RegistryLoadResult(
        import_id, KIND, file_name, total.rows, total.rows, 0, False,
        total.residents, total.rows - total.residents, total.households,
    )  # fmt: skip


def _overlap_check(table: str) -> Callable[[psycopg.Connection[Any]], None]:
    """The set-based no-overlap check of the loaded periods (the triggers are created after it)."""

    def check(conn: psycopg.Connection[Any]) -> None:
        key = "version_id" if table == "person_version" else "member_id"
        if table == "person_version":
            # The UNIQUE index person_version_current (built before this check) allows one current
            # version per person; if every loaded version is current, none can overlap another.
            other = conn.execute(
                f"SELECT 1 FROM {staging.SCHEMA}.person_version"
                " WHERE superseded_at IS NOT NULL OR NOT upper_inf(valid) LIMIT 1"
            ).fetchone()
            if other is None:
                return
        clash = conn.execute(_OVERLAP.format(schema=staging.SCHEMA, table=table, key=key)).fetchone()
        if clash is not None:  # the load gives each person one period: this is a bug, not bad input
            raise IdentityError(f"identity.{table}: 有効期間の重なる行ができました（person_id {clash[0]}）")

    return check


def _serials(raw: psycopg.Connection[Any], n: int) -> int:
    """The first of ``n`` reserved 統合宛名番号 serials; the rows format them as ``model.integrated_no``
    does (city code + 9 digits), so the whole block is checked against its range here."""
    first = _reserve(raw, "identity.integrated_no_seq", None, n)
    model.integrated_no("000000", first + n - 1)  # raises when the 9 digits would not hold the last
    return first


def _reserve(raw: psycopg.Connection[Any], table: str, column: str | None, n: int) -> int:
    """Reserve ``n`` consecutive values of a sequence; return the first.

    With ``column``: the identity sequence of ``table``, a staging table nobody else writes, so one
    ``setval`` reserves the block.
    Without: ``table`` is a sequence others may draw from at any time (integrated_no_seq: repo draws
    before it inserts), reserved value by value and checked to be consecutive.
    """
    if column is not None:
        sequence = raw.execute("SELECT pg_get_serial_sequence(%s, %s)", (table, column)).fetchone()[0]  # type: ignore[index]
        first = raw.execute("SELECT nextval(%s::regclass)", (sequence,)).fetchone()[0]  # type: ignore[index]
        raw.execute("SELECT setval(%s::regclass, %s)", (sequence, first + n - 1))
        return int(first)
    first, last, count = raw.execute(
        "SELECT min(v), max(v), count(*) FROM (SELECT nextval(%s::regclass) AS v FROM generate_series(1, %s)) s",
        (table, n),
    ).fetchone()  # type: ignore[misc]
    if last - first + 1 != count:
        raise IdentityError("番号の採番が他の処理と重なりました。もう一度実行してください")
    return int(first)


@contextmanager
def _workers(n: int | None, lines: int, url: str, v: keys.Vault) -> Iterator[ProcessPoolExecutor | None]:
    """The worker processes (None: work in this process), started at once: they import kiban, read
    the keys and connect while the parent prepares the staging tables and reserves ids."""
    n = _worker_count(n, lines)
    if n <= 1:
        yield None
        return
    pool = ProcessPoolExecutor(
        n, get_context("spawn"), initializer=_init_worker, initargs=(url, _key_check(v))
    )
    try:
        for _ in range(n):
            pool.submit(_ready)
        yield pool
    except BrokenProcessPool:
        raise IdentityError(
            "作業プロセスが起動できませんでした（暗号鍵・データベースの設定を確認してください）"
        ) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ready() -> None:
    """A first task for each new worker, so that it starts now."""


def _stream(
    pool: ProcessPoolExecutor | None,
    params: _Params,
    data: bytes,
    body: int,
    v: keys.Vault,
    emit: Callable[[], bool],
    conn: psycopg.Connection[Any] | None,
) -> Iterator[_Done]:
    """The chunks' results in file order; ``emit()`` says whether rows are still wanted for COPY
    (in this process over ``conn``)."""
    jobs = _chunks(data, body, CHUNK_BYTES)
    if pool is None:
        for first_line, chunk in jobs:
            yield _process(params, first_line, chunk, emit(), v, conn)
        return
    window = 3 * default_workers()  # bounded memory when COPY is the slower side
    pending: deque[Future[_Done]] = deque()
    more = True
    while more or pending:
        while more and len(pending) < window:
            job = next(jobs, None)
            if job is None:
                more = False
            else:
                pending.append(pool.submit(_process, params, job[0], job[1], emit()))
        if pending:
            yield pending.popleft().result()


def _duplicates(data: bytes, body: int) -> list[RowError]:
    """Every duplicate 宛名番号, 個人番号 and (not consecutive) 世帯番号, naming both lines."""
    first: dict[int, dict[str, int]] = {1: {}, 2: {}, 3: {}}
    said = {
        1: "行目と同じ宛名番号です",
        2: "行目と同じ個人番号です",
        3: "行目の世帯と同じ世帯番号です（世帯員は続けて記載します）",
    }
    errors, previous = [], ""
    reader = csv.reader(io.StringIO(data[body:].decode("utf-8", errors="replace"), newline=""))
    for fields in reader:
        if len(fields) != len(HEADER):
            previous = ""
            continue
        line = reader.line_num + 1
        values = [fields[i].strip() for i in (1, 2, 3)]
        for i, value in zip((1, 2, 3), values, strict=True):
            if not value or (i == 3 and value == previous):
                continue
            seen = first[i].setdefault(value, line)
            if seen != line:
                errors.append(RowError(line, values[0], HEADER[i], f"{seen}{said[i]}"))
        previous = values[2]
    return errors


# -- the command --------------------------------------------------------------------------------


def load_registry_command(
    path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="住民記録 全件（jumin.csv）"
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        "-w",
        min=1,
        help="検査・暗号化・COPY の作業プロセス数（索引の構築も同じ数のセッションで行う）",
    ),
) -> None:
    """住民記録 全件取込（初期移行）: load jumin.csv into the empty hub; exit 1 with the error list."""
    from rich.console import Console

    from kiban.db.engine import get_engine

    console = Console()
    try:
        result = run_with_progress(get_engine(), path, console, workers=workers)
    except ImportRejected as exc:
        print_rejection(console, exc)
        raise typer.Exit(1) from None
    except IdentityError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(summary_line(result))


def run_with_progress(
    engine: Engine, path: Path, console: Any, *, workers: int | None = None
) -> RegistryLoadResult:
    """``load_registry`` as the batch principal with a progress bar per stage (for the commands)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, Any] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"宛名ハブ: {stage}", total=total)
            bar.update(tasks[stage], completed=done, total=total)

        return load_registry(engine, path, workers=workers, progress=advance)


def print_rejection(console: Any, exc: ImportRejected, *, limit: int = 200) -> None:
    """The エラーリスト (行, 宛名番号, 項目, 内容) of a rejected load."""
    from rich.table import Table

    console.print(f"[red]{exc}[/red]（取込番号 {exc.import_id}）")
    table = Table("行", "宛名番号", "項目", "内容")
    for e in exc.errors[:limit]:
        table.add_row(str(e.line_no), e.record_key, e.field, e.message)
    console.print(table)
    if len(exc.errors) > limit:
        console.print(
            f"… ほか {len(exc.errors) - limit:,} 件（画面「取込」でエラーリスト全体を確認できます）"
        )


def summary_line(result: RegistryLoadResult) -> str:
    """One line for the operator (counts only, no personal data)."""
    if result.already_imported:
        return f"このファイルは取込済みです（取込番号 {result.import_id}）。変更はありません。"
    return (
        f"取り込みました（取込番号 {result.import_id}）: 宛名 {result.rows:,} 人（住民 {result.residents:,}、"
        f"住登外 {result.non_residents:,}）、世帯 {result.households:,}、{result.seconds:.1f} 秒"
        f"（{result.rows_per_second:,.0f} 行/秒）"
    )
