"""The embedded default: a folder per partnership on this machine, and chat transcripts in it.

Documents are plain Markdown files; brug's fingerprint of a file is its modification time and size,
and its content hash is read only when that fingerprint says the file changed. Chat rooms are
transcripts: `chat/<room>.md` for people and `chat/<room>.jsonl` for machines, one entry per post key.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path, PurePosixPath

from brug.planner import DocumentRecord, FileState
from brug.ports import WriteCondition, WriteConflict

CHAT_FOLDER = "chat"


def _create_exclusively(target: Path, content: str) -> None:
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise WriteConflict(str(target)) from None
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(content)


def _append_durably(path: Path, line: str) -> None:
    """Append and fsync (run in a thread: fsync must not hold up the event loop)."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def _file_mode(existing: Path) -> int:
    """The mode a replaced file had, or the ordinary mode for a new file (0666 less the umask)."""
    try:
        return existing.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fingerprint(stat: os.stat_result) -> str:
    return f"{stat.st_mtime_ns}:{stat.st_size}"


class LocalFiles:
    platform = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, partnership: str) -> Path:
        return self.root / partnership

    def _path(self, partnership: str, path: PurePosixPath) -> Path:
        return self.folder(partnership).joinpath(*path.parts)

    async def ensure_folders(self, partnership: str, folders: Sequence[PurePosixPath]) -> None:
        for folder in folders:
            self._path(partnership, folder).mkdir(parents=True, exist_ok=True)

    async def snapshot(
        self, partnership: str, paths: Sequence[PurePosixPath], records: Mapping[str, DocumentRecord]
    ) -> dict[PurePosixPath, FileState | None]:
        known = {r.path: r.fingerprint for r in records.values()}
        out: dict[PurePosixPath, FileState | None] = {}
        folder = os.path.join(self.root, partnership)  # plain strings: a reconcile stats 100,000 files
        for path in paths:
            real = os.path.join(folder, *path.parts)
            try:
                fingerprint = _fingerprint(os.stat(real))
            except FileNotFoundError:
                out[path] = None
                continue
            sha = None if known.get(str(path)) == fingerprint else hashlib.sha256(Path(real).read_bytes()).hexdigest()
            out[path] = FileState(fingerprint, sha)
        return out

    async def exists(self, partnership: str, path: PurePosixPath) -> bool:
        return self._path(partnership, path).exists()

    async def read(self, partnership: str, path: PurePosixPath) -> str | None:
        try:
            return self._path(partnership, path).read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return None

    async def write(self, partnership: str, path: PurePosixPath, content: str, condition: WriteCondition) -> str:
        target = self._path(partnership, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".brug-", suffix=".tmp")
        os.chmod(tmp, _file_mode(target))  # mkstemp makes 0600; documents are for the whole team
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(content)
            if condition.create_only:
                try:
                    os.link(tmp, target)  # atomic: fails if a file appeared meanwhile
                except FileExistsError:
                    raise WriteConflict(str(path)) from None
                except OSError:  # a filesystem without hard links (some network shares): O_EXCL instead
                    _create_exclusively(target, content)
            else:
                if condition.if_fingerprint is not None:
                    try:
                        current = _fingerprint(target.stat())
                    except FileNotFoundError:
                        current = None
                    if current != condition.if_fingerprint:
                        raise WriteConflict(str(path))
                os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return _fingerprint(target.stat())

    def href(self, partnership: str, path: PurePosixPath) -> str:
        return str(path)


class LocalChat:
    """Chat rooms as transcripts in the partnership's folder: what brug 'posted', in order."""

    platform = "local"

    def __init__(self, root: Path, clock: Callable[[], datetime], zones: Mapping[str, tzinfo] | None = None) -> None:
        self.root = root
        self.clock = clock
        # each partnership's time zone (shared with the runtime): transcripts show local time and the zone
        self.zones: Mapping[str, tzinfo] = zones if zones is not None else {}
        self._keys: dict[Path, dict[str, str]] = {}
        self._sizes: dict[Path, int] = {}  # the transcript's size when last read or written by this process

    def transcript(self, partnership: str, room: str, suffix: str) -> Path:
        return self.root / partnership / CHAT_FOLDER / f"{room}{suffix}"

    def _posted(self, machine: Path) -> dict[str, str]:
        """The keys already in a transcript. Read again when the file changed behind this process's back:
        another instance (sharing the workspace) may have posted in it since."""
        size = machine.stat().st_size if machine.exists() else 0
        if machine not in self._keys or self._sizes.get(machine) != size:
            self._sizes[machine] = size
            keys: dict[str, str] = {}
            if machine.exists():
                for line in machine.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        entry = json.loads(line)
                        keys[entry["key"]] = entry["ref"]
            self._keys[machine] = keys
        return self._keys[machine]

    def entries(self, partnership: str, room: str) -> list[dict[str, str]]:
        machine = self.transcript(partnership, room, ".jsonl")
        if not machine.exists():
            return []
        return [json.loads(line) for line in machine.read_text(encoding="utf-8").splitlines() if line.strip()]

    async def post(self, partnership: str, room: str, key: str, kind: str, markdown: str) -> str:
        machine = self.transcript(partnership, room, ".jsonl")
        posted = self._posted(machine)
        if key in posted:
            return posted[key]
        machine.parent.mkdir(parents=True, exist_ok=True)
        at = self.clock().astimezone(self.zones.get(partnership, UTC))
        ref = f"{room}#{len(posted) + 1}"
        entry = {"key": key, "ref": ref, "kind": kind, "room": room, "at": at.isoformat(), "markdown": markdown}
        await asyncio.to_thread(_append_durably, machine, json.dumps(entry, ensure_ascii=False) + "\n")
        self._sizes[machine] = machine.stat().st_size
        with self.transcript(partnership, room, ".md").open("a", encoding="utf-8") as handle:
            handle.write(f"---\n\n**brug** · {at:%Y-%m-%d %H:%M %Z} · {kind}\n\n{markdown.rstrip()}\n\n")
        posted[key] = ref
        return ref
