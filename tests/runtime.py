"""A brug runtime on a scratch folder (local files and transcripts), for tests that add platforms to it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path

from brug.adapters.local import LocalChat, LocalFiles
from brug.app.service import Runtime, content_digest
from brug.content.library import Library
from brug.content.render import Renderer
from brug.store import Store


def local_runtime(
    folder: Path, library: Library, clock: Callable[[], datetime], state: str | None = None
) -> Runtime:
    """`state`: a database URL (e.g. the `state_url` fixture's); by default a SQLite file in `folder`."""
    zones: dict[str, tzinfo] = {}
    return Runtime(
        library=library,
        renderer=Renderer(),
        store=Store(state) if state else Store.at(folder / "state.db"),
        files=LocalFiles(folder / "ws"),
        chats={"local": LocalChat(folder / "ws", clock, zones)},
        clock=clock,
        content_digest=content_digest(),
        zones=zones,
    )
