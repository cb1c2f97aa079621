"""One brug at a time per state database: two processes posting the same slot would post it twice."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class AlreadyRunning(RuntimeError):
    """Another process holds the lock; the caller tells it in the user's language."""

    def __init__(self, holder: str, state: Path) -> None:
        super().__init__(holder, state)
        self.holder = holder  # the other process's id, or '?'
        self.state = state


@contextmanager
def instance_lock(state: Path) -> Iterator[None]:
    """Hold an exclusive lock beside the state database for as long as the block runs.

    The lock belongs to the database itself, not to the path written in a configuration: a symlink or
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
