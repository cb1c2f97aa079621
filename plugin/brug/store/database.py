"""Where brug's memory lives and how a process talks to it: URLs, the engine, transactions, migrating.

SQLAlchemy Core on SQLite by default (a file, in WAL mode), or on PostgreSQL (psycopg 3) when `state`
in brug.toml is a `postgresql://` URL. Opening a store brings an older database up to date inside
one transaction (on PostgreSQL under an advisory lock, so two processes starting at once migrate
once). The helpers at the end are shared by the per-concern parts of the store, and make their
writes safe when several processes share one PostgreSQL: `_insert_new` and `_upsert` are single
`INSERT … ON CONFLICT` statements, `_one_at_a_time` lets writers that read before they write take
turns per partnership, and `Database._retrying` runs a transaction again when a concurrent one took
a unique key first.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

from sqlalchemy import Connection, Engine, Table, TextClause, create_engine, event, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError

from brug.store import schema
from brug.store.schema import metadata, schema_version


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _now() -> datetime:
    return datetime.now(UTC)


_WRITE = re.compile(r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE)
MIGRATION_LOCK = 0x62727567  # "brug": PostgreSQL advisory lock held while one process migrates
PARTNERSHIP_LOCK = 0x6E756D62  # "numb": advisory locks per partnership while it numbers rows (see _one_at_a_time)
CONFLICT_RETRIES = 10  # runs of a transaction that lost a unique key to a concurrent one

T = TypeVar("T")


def is_database_url(location: Path | str) -> bool:
    """Whether `state` names a database server (a URL) rather than a SQLite file."""
    return isinstance(location, str) and "://" in location


def engine_url(url: str) -> str:
    """The SQLAlchemy URL for a state URL: `postgresql://` and `postgres://` use psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def shown_url(url: str) -> str:
    """A state URL fit for messages and logs: never its password."""
    return make_url(url).render_as_string(hide_password=True)


class Database:
    """One engine over brug's tables, brought to the latest schema when opened.

    The per-concern parts of `Store` all work through `_tx`: one transaction per call.
    """

    def __init__(self, url: str) -> None:
        self.url = engine_url(url)
        self.engine: Engine = create_engine(self.url)
        # single reads on PostgreSQL go without BEGIN and COMMIT: two round trips fewer each
        self._reader: Engine = (
            create_engine(self.url, isolation_level="AUTOCOMMIT") if self.is_postgresql else self.engine
        )
        self.writes: dict[str, int] = {}  # per table: statements that changed it, made by this process
        for engine in {id(e): e for e in (self.engine, self._reader)}.values():
            event.listen(engine, "after_cursor_execute", self._count_write)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        elif self.is_postgresql:
            for engine in (self.engine, self._reader):
                event.listen(engine, "connect", _postgresql_session)
                event.listen(engine, "checkin", _resting)
                event.listen(engine, "checkout", _ping_after_rest)
        # several instances (app/leases.py): (instance id, check) — the outbox claims a post only while the
        # check passes, inside the claiming transaction; None: one instance, which holds everything
        self.outbox_guard: tuple[str, Callable[[Connection, str], None]] | None = None
        # several instances: (connection, chat platform) -> raises LeaseLost unless this instance holds the
        # platform's listener lease; checked where a listener claims an event and stores its sync token
        self.listener_guard: Callable[[Connection, str], None] | None = None
        # the query behind the guard (`Coordinator.held_query`), so a new post is claimed in one statement
        self.outbox_lease: Callable[[str], tuple[TextClause, dict[str, Any]]] | None = None
        self.migrate()

    def _count_write(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        """Count the writes per table, so that what is read often (the portfolio's figures) can be kept
        until one of its tables changes."""
        found = _WRITE.match(statement)
        if found is not None:
            table = found.group(1)
            self.writes[table] = self.writes.get(table, 0) + 1

    def written(self, *tables: str) -> int:
        """How many statements of this process changed these tables so far."""
        return sum(self.writes.get(table, 0) for table in tables)

    @property
    def is_postgresql(self) -> bool:
        return self.url.startswith("postgresql")

    @classmethod
    def at(cls, path: Path) -> Self:
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path}")

    @classmethod
    def open(cls, location: Path | str) -> Self:
        """The store `state` names: a SQLite file (made when missing) or a database URL."""
        return cls(location) if is_database_url(location) else cls.at(Path(location))

    # --- schema ------------------------------------------------------------------------------------

    def migrate(self) -> int:
        """Bring the database to SCHEMA_VERSION; returns the version it was at."""
        with self.engine.begin() as conn:
            if self.is_postgresql:  # two processes starting at once: one migrates, the other waits
                conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
            metadata.create_all(conn, tables=[schema_version])
            current = conn.execute(select(schema_version.c.version)).scalar()
            if current is None:
                conn.execute(insert(schema_version).values(version=0))
                current = 0
            if current > schema.SCHEMA_VERSION:
                raise RuntimeError(f"the database {shown_url(self.url)} was made by a newer brug (schema {current})")
            for version in range(current, schema.SCHEMA_VERSION):
                schema.MIGRATIONS[version](conn)
            conn.execute(update(schema_version).values(version=schema.SCHEMA_VERSION))
        return current

    @property
    def version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(schema_version.c.version)).scalar_one())

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection for one reading statement (on PostgreSQL in autocommit: no transaction around it)."""
        with self._reader.connect() as conn:
            yield conn

    @contextmanager
    def _single(self) -> Iterator[Connection]:
        """A connection for one writing statement, which is its own transaction: on PostgreSQL in autocommit
        (one round trip instead of three with BEGIN and COMMIT), on SQLite in a transaction as `_tx`.

        Only for a write that is whole in one statement (an upsert, an `INSERT … ON CONFLICT`, one UPDATE);
        a read after it on the same connection sees it committed."""
        if self.is_postgresql:
            with self._reader.connect() as conn:
                yield conn
        else:
            with self.engine.begin() as conn:
                yield conn

    def _retrying(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a transaction, and again when a concurrent one took a unique key meanwhile
        (the next run sees that row). For writes that read first and insert after."""
        for attempt in range(1, CONFLICT_RETRIES + 1):
            try:
                with self._tx() as conn:
                    return work(conn)
            except IntegrityError:
                if attempt == CONFLICT_RETRIES:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.engine.dispose()
        self._reader.dispose()


def _insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The engine's own INSERT, which knows ON CONFLICT (PostgreSQL and SQLite spell it alike)."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _insert_new(conn: Connection, table: Table, unique: Sequence[str], **values: Any) -> bool:
    """Insert a row unless one with the same `unique` columns exists; whether it was new.

    One statement (`INSERT … ON CONFLICT DO NOTHING`), so two processes inserting the same key at once
    make one row: on PostgreSQL the second waits for the first to commit and then inserts nothing.
    The row comes back (RETURNING) only when it was inserted: an INSERT's rowcount is not reliable
    across drivers (psycopg gives -1 here).
    """
    insert_once = _insert(conn, table).values(**values).on_conflict_do_nothing(index_elements=list(unique))
    return conn.execute(insert_once.returning(*(table.c[name] for name in unique))).first() is not None


def _upsert(
    conn: Connection, table: Table, key: dict[str, Any], values: dict[str, Any], on_update: dict[str, Any] | None = None
) -> None:
    """Update the row with this key, or insert it; `on_update` holds values only for an existing row.

    One statement (`INSERT … ON CONFLICT DO UPDATE`): never a duplicate key between two processes.
    """
    upsert = _insert(conn, table).values(**key, **values)
    conn.execute(upsert.on_conflict_do_update(index_elements=list(key), set_={**values, **(on_update or {})}))


def _one_at_a_time(conn: Connection, what: str, partnership_id: str) -> None:
    """On PostgreSQL, hold a lock on (what, partnership) until the transaction ends: writers that read
    before they write (the next number, "did this origin count already?") take turns. SQLite writes
    one transaction at a time anyway, and brug runs one process per SQLite file."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(PARTNERSHIP_LOCK, func.hashtext(f"{what}:{partnership_id}"))))


def _number_for(conn: Connection, table: Table, partnership_id: str, origin: str) -> tuple[int, bool]:
    """The number of the row this origin made before, or the partnership's next number (1, 2, …) and True."""
    _one_at_a_time(conn, table.name, partnership_id)
    existing = conn.execute(
        select(table.c.number).where(table.c.partnership_id == partnership_id, table.c.origin == origin)
    ).scalar()
    if existing is not None:
        return int(existing), False
    return _next_number(conn, table, partnership_id), True


def _next_number(conn: Connection, table: Table, partnership_id: str) -> int:
    """The number the next row of a partnership gets in a table numbered per partnership (1, 2, …).

    Numbering takes turns per partnership (`_one_at_a_time`) until the row is in; a unique index on
    (partnership, number) is the backstop, and `Database._retrying` runs a transaction again then.
    """
    _one_at_a_time(conn, table.name, partnership_id)
    last = conn.execute(select(func.max(table.c.number)).where(table.c.partnership_id == partnership_id)).scalar()
    return (last or 0) + 1


def _chunks(items: Sequence[str], size: int = 1000) -> Iterator[list[str]]:
    """Lists of at most `size` values (SQLite takes at most 32,766 in one statement)."""
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


PING_AFTER_REST = 30.0  # seconds a pooled PostgreSQL connection may rest before it is checked on its way out


def _resting(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
    record.info["resting_since"] = time.monotonic()


def _ping_after_rest(dbapi_connection, record, _proxy) -> None:  # type: ignore[no-untyped-def]
    """A connection that rested a while may have been cut (a server restart): check it, and let the pool
    open a new one if so. A ping before every use (`pool_pre_ping`) cost three round trips per call."""
    since = record.info.get("resting_since")
    if since is None or time.monotonic() - since < PING_AFTER_REST:
        return
    try:
        dbapi_connection.execute("SELECT 1")
        if not dbapi_connection.autocommit:
            dbapi_connection.rollback()
    except Exception as err:  # noqa: BLE001 - whatever broke it, the pool replaces it
        raise DisconnectionError(str(err)) from err


def _postgresql_session(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    """Times come back in UTC, as brug stores them (SQLite gives them back as written)."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.commit()
