"""`brug store copy`: move brug's memory from one database to another (SQLite to PostgreSQL, mostly).

Both stores are brought to the latest schema first, so the copy is table by table and column by
column. The target must be empty: a copy never merges into, or overwrites, a store in use. It runs
in one transaction on the target, so a failed copy leaves nothing behind, and on PostgreSQL the
sequences of numbered tables continue after the copied rows.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, insert, select, text

from brug.store import Store
from brug.store.schema import metadata, schema_version

BATCH = 1000


class TargetNotEmpty(RuntimeError):
    """The target store already holds data (the name of a table that has rows)."""

    def __init__(self, table: str) -> None:
        super().__init__(table)
        self.table = table


def copied_tables() -> list[str]:
    """The tables a copy carries, parents before children (the schema version is the target's own)."""
    return [t.name for t in metadata.sorted_tables if t is not schema_version]


def copy_store(source: Store, target: Store, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Copy every row of `source` into the empty `target`; returns the number of rows per table."""
    tables = [metadata.tables[name] for name in copied_tables()]
    counts: dict[str, int] = {}
    with source.engine.connect() as reading, target.engine.begin() as writing:
        for table in tables:
            if writing.execute(select(table).limit(1)).first() is not None:
                raise TargetNotEmpty(table.name)
        for table in tables:
            copied = 0
            rows = reading.execution_options(yield_per=BATCH).execute(select(table))
            for batch in rows.partitions(BATCH):
                writing.execute(insert(table), [dict(r._mapping) for r in batch])
                copied += len(batch)
                if progress is not None:
                    progress(table.name, copied)
            counts[table.name] = copied
        if target.is_postgresql:
            _continue_sequences(writing, tables)
    return counts


def _continue_sequences(conn, tables) -> None:  # type: ignore[no-untyped-def]
    """Copied ids were given explicitly: the serial columns' sequences must start after them."""
    for table in tables:
        column = table.autoincrement_column
        if column is None:
            continue
        last = conn.execute(select(func.max(column))).scalar()
        if last is not None:
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence(:table, :column), :last)"),
                {"table": table.name, "column": column.name, "last": last},
            )


def row_counts(store: Store) -> dict[str, int]:
    """Rows per copied table: to check a copy against its source."""
    with store.engine.connect() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(metadata.tables[name])).scalar_one())
            for name in copied_tables()
        }
