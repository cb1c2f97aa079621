"""A brug runtime on a scratch folder (local files and transcripts), for tests that add platforms to it."""

from __future__ import annotations

import functools
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path

from brug.adapters.local import LocalChat, LocalFiles
from brug.app.service import Runtime, content_digest
from brug.content.library import Library
from brug.content.render import Renderer
from brug.store import Store


@functools.cache
def shared_renderer() -> Renderer:
    """One renderer of brug's own templates per test process: it compiles each template once (a runtime
    keeps one renderer too); what it renders is the same for every runtime."""
    return Renderer()


@functools.cache
def _migrated_sqlite() -> Path:
    """An empty SQLite store brought to the latest schema by brug's own migrations, once per process."""
    path = Path(tempfile.mkdtemp(prefix="brug-schema-")) / "state.db"
    Store.at(path).close()
    assert not path.with_name("state.db-wal").exists()  # closed: everything is in the one file
    return path


def fresh_sqlite(path: Path) -> Path:
    """A new, empty store file at `path` (a copy of the migrated one: the migrations are tested on their own
    in test_store; opening the copy still runs `migrate`, which finds it at the latest version)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_migrated_sqlite(), path)
    return path


def local_runtime(
    folder: Path, library: Library, clock: Callable[[], datetime], state: str | None = None
) -> Runtime:
    """`state`: a database URL (e.g. the `state_url` fixture's); by default a SQLite file in `folder`."""
    zones: dict[str, tzinfo] = {}
    return Runtime(
        library=library,
        renderer=shared_renderer(),
        store=Store(state) if state else Store.at(fresh_sqlite(folder / "state.db")),
        files=LocalFiles(folder / "ws"),
        chats={"local": LocalChat(folder / "ws", clock, zones)},
        clock=clock,
        content_digest=content_digest(),
        zones=zones,
    )
