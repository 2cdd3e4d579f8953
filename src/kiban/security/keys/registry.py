"""The registry of encrypted columns (暗号化列の登録): what ``rotate`` must re-encrypt.

A context that stores ciphertexts (the identity vault) declares each column once, at import:

    register_encrypted_column("identity.my_number_vault", "ciphertext", "person_id")

Rotation may run in a process that never imported that context (``kiban keys rotate`` from an
operator's shell), so the declaration is also kept in ``security.encrypted_column``: ``rotate``
writes the in-process registrations there and reads back the union. A migration may insert its
row directly instead (see docs/keys.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import Connection, select, text
from sqlalchemy.dialects.postgresql import insert

from kiban.security.keys.cipher import check_column, check_table
from kiban.security.keys.tables import encrypted_column


@dataclass(frozen=True, order=True)
class EncryptedColumn:
    """One column of ciphertexts, the table it lives in (``schema.table``) and its row-id column.

    The row id is the one given as ``row_id`` to ``encrypt``: it is part of the associated data.
    """

    schema_table: str
    column: str
    id_column: str

    def __post_init__(self) -> None:
        check_table(self.schema_table)
        check_column(self.column)
        check_column(self.id_column)

    @property
    def target(self) -> str:
        """``schema.table.column`` — the name used in ``security.rekey_run``."""
        return f"{self.schema_table}.{self.column}"

    def quoted(self) -> tuple[str, str, str]:
        """(table, column, id column) as quoted SQL identifiers (names are checked on creation)."""
        schema, table = self.schema_table.split(".")
        return f'"{schema}"."{table}"', f'"{self.column}"', f'"{self.id_column}"'


_registry: dict[tuple[str, str], EncryptedColumn] = {}
_lock = threading.Lock()


def register_encrypted_column(schema_table: str, column: str, id_column: str) -> EncryptedColumn:
    """Declare a column of vault ciphertexts. Registering the same column twice is harmless;
    registering it with a different id column is a programming error."""
    col = EncryptedColumn(schema_table, column, id_column)
    with _lock:
        known = _registry.get((schema_table, column))
        if known is not None and known != col:
            raise ValueError(f"{col.target} is already registered with id column {known.id_column!r}")
        _registry[(schema_table, column)] = col
    return col


def unregister_encrypted_column(schema_table: str, column: str) -> None:
    """Forget an in-process registration (tests; the database declaration stays)."""
    with _lock:
        _registry.pop((schema_table, column), None)


def registered_columns() -> tuple[EncryptedColumn, ...]:
    """The columns registered in this process."""
    with _lock:
        return tuple(sorted(_registry.values()))


def declare(conn: Connection, col: EncryptedColumn) -> None:
    """Record ``col`` in ``security.encrypted_column`` (idempotent; needs the owner's rights)."""
    stmt = insert(encrypted_column).values(
        schema_table=col.schema_table, column_name=col.column, id_column=col.id_column
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[encrypted_column.c.schema_table, encrypted_column.c.column_name],
            set_={"id_column": stmt.excluded.id_column},
        )
    )


def known_columns(conn: Connection, *, persist: bool = False) -> tuple[EncryptedColumn, ...]:
    """In-process registrations ∪ the database's declarations; with ``persist`` the former are
    written to the database first, so a later process sees them too."""
    local = registered_columns()
    if persist:
        for col in local:
            declare(conn, col)
    stored = conn.execute(
        select(encrypted_column.c.schema_table, encrypted_column.c.column_name, encrypted_column.c.id_column)
    )
    merged = {(c.schema_table, c.column): c for c in (EncryptedColumn(*r) for r in stored)}
    merged.update({(c.schema_table, c.column): c for c in local})
    return tuple(sorted(merged.values()))


def id_type(conn: Connection, col: EncryptedColumn) -> str | None:
    """The SQL type of the id column, or None when the table or either column does not exist."""
    rows = conn.execute(
        text(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type "
            "FROM pg_attribute a WHERE a.attrelid = to_regclass(:t) AND a.attnum > 0 "
            "AND NOT a.attisdropped AND a.attname IN (:c, :i)"
        ),
        {"t": col.schema_table, "c": col.column, "i": col.id_column},
    ).all()
    types = {r.attname: r.type for r in rows}
    if col.column not in types or col.id_column not in types:
        return None
    return str(types[col.id_column])
