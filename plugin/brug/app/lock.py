"""Who may work with a state database at the same time.

For a SQLite file one brug at a time: the lock is a file beside it (flock), so a second `brug run` is
refused. For PostgreSQL it is a session advisory lock on a connection held for as long as the lock:
the server lets it go when the process ends or dies, so a killed brug never leaves a stale lock
behind. There `brug run` takes it *shared* — any number of instances run side by side and divide the
partnerships between them with leases (brug/app/leases.py) — while `brug apply` and `brug store copy`
take it exclusively: they wait for no lease and so run only when no instance does.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from brug.store import engine_url, is_database_url

LOCK_CLASS = 0x62727567  # "brug"; the second key is the schema's name, so each schema has its own lock


class AlreadyRunning(RuntimeError):
    """Another process holds the lock; the caller tells it in the user's language."""

    def __init__(self, holder: str, state: Path | str) -> None:
        super().__init__(holder, state)
        self.holder = holder  # the other process's id, or '?'
        self.state = state


@contextmanager
def instance_lock(state: Path | str, *, shared: bool = False) -> Iterator[None]:
    """Hold a lock on the state database for as long as the block runs: exclusive, or (on PostgreSQL)
    shared with other instances of `brug run`. A SQLite file has only the exclusive lock."""
    if is_database_url(state):
        with _advisory_lock(str(state), shared=shared):
            yield
    else:
        with _file_lock(Path(state)):
            yield


@contextmanager
def _file_lock(state: Path) -> Iterator[None]:
    """The lock belongs to the database itself, not to the path written in a configuration: a symlink or
    a path with '..' that leads to the same file gets the same lock.
    """
    state = state.resolve()
    path = state.with_name(state.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise AlreadyRunning(holder, state) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _advisory_lock(url: str, *, shared: bool = False) -> Iterator[None]:
    """A session advisory lock per schema; the holder names itself in application_name ("brug <pid>")."""
    kind = "_shared" if shared else ""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.pool import NullPool

    engine = create_engine(engine_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT set_config('application_name', :name, false)"), {"name": f"brug {os.getpid()}"})
            key = {"cls": LOCK_CLASS}
            try_lock = text(f"SELECT pg_try_advisory_lock{kind}(:cls, hashtext(current_schema()))")
            got = conn.execute(try_lock, key).scalar()
            conn.commit()
            if not got:
                name = conn.execute(
                    text(
                        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :cls "
                        "AND l.objid = hashtext(current_schema())::oid AND l.objsubid = 2"
                    ),
                    key,
                ).scalar()
                holder = name.removeprefix("brug ") if name and name.startswith("brug ") else "?"
                raise AlreadyRunning(holder, url)
            try:
                yield
            finally:
                with contextlib.suppress(DBAPIError):  # a connection the server ended took the lock with it
                    conn.execute(text(f"SELECT pg_advisory_unlock{kind}(:cls, hashtext(current_schema()))"), key)
                    conn.commit()
    finally:
        engine.dispose()
