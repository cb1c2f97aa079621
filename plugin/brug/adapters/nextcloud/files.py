"""A partnership's documents in Nextcloud Files, co-edited live in Nextcloud Text.

brug never rewrites a document a person may be editing: a new document is created with
`If-None-Match: *`, an update only with `If-Match: <the ETag brug saw>`; 412 (changed meanwhile) and
423 (locked, someone is working in it) become a WriteConflict, and the planner then writes a new
version beside it. The fingerprint of a document is its ETag.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from urllib.parse import quote

from brug.adapters.nextcloud.client import NextcloudClient, NextcloudError
from brug.planner import DocumentRecord, FileState
from brug.ports import WriteCondition, WriteConflict

PLATFORM = "nextcloud"


class NextcloudFiles:
    platform = PLATFORM

    def __init__(self, client: NextcloudClient, root: str = "brug") -> None:
        self.client = client
        self.root = root.strip("/")

    def folder(self, partnership: str) -> str:
        return f"{self.root}/{partnership}"

    def _path(self, partnership: str, path: PurePosixPath) -> str:
        return f"{self.folder(partnership)}/{path}"

    async def ensure_folders(self, partnership: str, folders: Sequence[PurePosixPath]) -> None:
        wanted = [self.root, self.folder(partnership)]
        for folder in folders:
            parts = folder.parts
            wanted += [self._path(partnership, PurePosixPath(*parts[: i + 1])) for i in range(len(parts))]
        for folder in dict.fromkeys(wanted):
            await self.client.mkcol(folder)

    async def snapshot(
        self, partnership: str, paths: Sequence[PurePosixPath], records: Mapping[str, DocumentRecord]
    ) -> dict[PurePosixPath, FileState | None]:
        known = {r.path for r in records.values()}
        listings: dict[PurePosixPath, dict[str, str] | None] = {}
        out: dict[PurePosixPath, FileState | None] = {}
        for path in paths:
            if path.parent not in listings:
                listings[path.parent] = await self.client.etags(self._path(partnership, path.parent))
            etag = (listings[path.parent] or {}).get(path.name)
            if etag is None:
                out[path] = None
                continue
            sha = None
            if str(path) not in known:  # a file brug has no record of: its content decides (adopt or not)
                text = await self.client.get_text(self._path(partnership, path))
                sha = hashlib.sha256(text.encode("utf-8")).hexdigest() if text is not None else None
            out[path] = FileState(etag, sha)
        return out

    async def exists(self, partnership: str, path: PurePosixPath) -> bool:
        listing = await self.client.etags(self._path(partnership, path.parent))
        return listing is not None and path.name in listing

    async def read(self, partnership: str, path: PurePosixPath) -> str | None:
        return await self.client.get_text(self._path(partnership, path))

    async def write(self, partnership: str, path: PurePosixPath, content: str, condition: WriteCondition) -> str:
        headers = {"Content-Type": "text/markdown; charset=utf-8"}
        if condition.create_only:
            headers["If-None-Match"] = "*"
        elif condition.if_fingerprint:
            headers["If-Match"] = condition.if_fingerprint
        target = self._path(partnership, path)
        response = await self.client.put(target, content.encode("utf-8"), headers)
        if response.status_code in (404, 409):  # a parent folder went missing: make it and try once more
            await self.ensure_folders(partnership, [path.parent] if str(path.parent) != "." else [])
            response = await self.client.put(target, content.encode("utf-8"), headers)
        if response.status_code in (412, 423):
            raise WriteConflict(f"{path} ({'changed meanwhile' if response.status_code == 412 else 'locked'})")
        if response.status_code not in (200, 201, 204):
            raise NextcloudError(f"PUT {target}", response.status_code)
        etag = response.headers.get("OC-ETag") or response.headers.get("ETag")
        if not etag:
            etag = ((await self.client.etags(self._path(partnership, path.parent))) or {}).get(path.name, "")
        return etag

    def href(self, partnership: str, path: PurePosixPath) -> str:
        folder = f"/{self.folder(partnership)}/{path.parent}".rstrip("/.")
        base = self.client.account.url.rstrip("/")
        return f"{base}/index.php/apps/files/?dir={quote(folder)}&scrollto={quote(path.name)}"
