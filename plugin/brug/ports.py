"""The small interfaces every platform adapter implements (local folder, Nextcloud, Matrix)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Protocol

from brug.planner import DocumentRecord, FileState
from brug.workspace.chat import ChatWorkspace


class PlatformError(RuntimeError):
    """A platform refused or could not be reached; adapters raise subclasses of this."""


class Unreachable(PlatformError):
    """The platform did not answer (refused, timed out). The adapter has said so once; what waits is
    tried again later, so callers log this at debug level only."""


try:  # nio (Matrix) talks through aiohttp, whose connection errors are not all OSErrors
    from aiohttp import ClientError as _ClientError

    NETWORK_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError, _ClientError)
except ImportError:  # pragma: no cover - without the matrix extra
    NETWORK_ERRORS = (OSError, TimeoutError)


class WriteConflict(Exception):
    """The document changed (or appeared) between looking and writing: someone is working on it."""


@dataclass(frozen=True)
class WriteCondition:
    """Only write when the document is absent (`create_only`) or still as brug left it (`if_fingerprint`)."""

    create_only: bool = False
    if_fingerprint: str | None = None


class FileSpace(Protocol):
    """Where a partnership's documents live."""

    platform: str

    async def ensure_folders(self, partnership: str, folders: Sequence[PurePosixPath]) -> None: ...

    async def snapshot(
        self, partnership: str, paths: Sequence[PurePosixPath], records: Mapping[str, DocumentRecord]
    ) -> dict[PurePosixPath, FileState | None]:
        """The state of each path; content hashes where the platform can give them cheaply."""
        ...

    async def exists(self, partnership: str, path: PurePosixPath) -> bool: ...

    async def read(self, partnership: str, path: PurePosixPath) -> str | None:
        """The document's text, or None when it is not there."""
        ...

    async def write(self, partnership: str, path: PurePosixPath, content: str, condition: WriteCondition) -> str:
        """Write and return the new fingerprint; raise WriteConflict when the condition fails."""
        ...

    def href(self, partnership: str, path: PurePosixPath) -> str:
        """How documents of this partnership link to `path`."""
        ...


class Progress(Protocol):
    """What a long apply shows while it works (the CLI's progress bar); adapters report into it."""

    def step(self, partnership: str, what: str) -> None: ...

    def rate_limited(self, platform: str, wait: float, left: float | None, hint: str) -> None:
        """The platform slows brug down: `wait` seconds now, about `left` seconds for what remains;
        `hint` says how its administrator can lift the limit."""
        ...


class ProgressRelay:
    """Passes progress on to whoever shows it (`show`), or to nobody: adapters get one at start."""

    def __init__(self) -> None:
        self.shown: Progress | None = None

    def show(self, progress: Progress | None) -> None:
        self.shown = progress

    def step(self, partnership: str, what: str) -> None:
        if self.shown is not None:
            self.shown.step(partnership, what)

    def rate_limited(self, platform: str, wait: float, left: float | None, hint: str) -> None:
        if self.shown is not None:
            self.shown.rate_limited(platform, wait, left, hint)


@dataclass
class ReconcileReport:
    """What reconciling a partnership's rooms on a chat platform did (or could not do)."""

    created: list[str] = field(default_factory=list)
    invited: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kicked: list[str] = field(default_factory=list)
    not_removed: list[str] = field(default_factory=list)


class ChatProvisioner(Protocol):
    """A chat platform where brug builds rooms for a partnership (Matrix, Talk)."""

    platform: str

    def pending(self, want: ChatWorkspace) -> list[str]:
        """What `reconcile` would still do, judged without asking the platform."""
        ...

    async def reconcile(self, want: ChatWorkspace, *, remove_members: bool = False) -> ReconcileReport: ...


class ChatSpace(Protocol):
    """Where a partnership's messages are posted."""

    platform: str

    async def post(self, partnership: str, room: str, key: str, kind: str, markdown: str) -> str:
        """Post once per key (a repeated key returns the first message's reference)."""
        ...
