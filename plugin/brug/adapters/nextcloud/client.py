"""The HTTP side of Nextcloud that every part of the adapter shares: auth, OCS envelopes, WebDAV.

nc-py-api's `AsyncNextcloud` covers Teams and Talk conversations; what it does not cover (conditional
WebDAV writes, Talk chat with a stable referenceId and long-polling, Deck, CalDAV, shares with a
rate-limit queue) goes through this client, on the same user and app password.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote
from xml.etree import ElementTree

import httpx

from brug.ports import PlatformError

log = logging.getLogger(__name__)

DAV_NS = {"d": "DAV:", "oc": "http://owncloud.org/ns", "nc": "http://nextcloud.org/ns"}
PROPFIND_ETAGS = (
    '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">'
    "<d:prop><d:getetag/><d:resourcetype/><oc:fileid/></d:prop></d:propfind>"
)


class NextcloudError(PlatformError):
    def __init__(self, what: str, status: int, detail: str = "") -> None:
        super().__init__(f"{what}: HTTP {status} {detail}".strip())
        self.status = status


@dataclass(frozen=True)
class NextcloudAccount:
    url: str
    user: str
    password: str


class _Http(httpx.AsyncClient):
    """httpx, with an unreachable server reported as a NextcloudError (a platform error) like any refusal."""

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        try:
            return await super().send(request, **kwargs)
        except httpx.TransportError as err:
            raise NextcloudError(f"{request.method} {request.url.path}", 0, f"{type(err).__name__}: {err}") from err


class NextcloudClient:
    def __init__(
        self,
        account: NextcloudAccount,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        timeout: float = 60,
    ) -> None:
        self.account = account
        self.sleep = sleep
        self.http = _Http(
            base_url=account.url.rstrip("/"),
            auth=(account.user, account.password),
            headers={"OCS-APIRequest": "true", "Accept": "application/json"},
            timeout=timeout,
            trust_env=False,
        )

    async def close(self) -> None:
        await self.http.aclose()

    # --- OCS -------------------------------------------------------------------------------------------

    async def ocs(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        ok: tuple[int, ...] = (200, 201),
    ) -> Any:
        """An OCS v2 call; returns `ocs.data`, raises NextcloudError otherwise."""
        response = await self.http.request(
            method, f"/ocs/v2.php/{path}", params={**(params or {}), "format": "json"}, json=json
        )
        if response.status_code not in ok:
            raise NextcloudError(f"{method} {path}", response.status_code, _message(response))
        if not response.content:
            return None
        return response.json()["ocs"]["data"]

    # --- WebDAV ----------------------------------------------------------------------------------------

    def dav_path(self, path: str) -> str:
        return f"/remote.php/dav/files/{quote(self.account.user)}/{quote(path.strip('/'))}"

    async def mkcol(self, path: str) -> bool:
        """Create a folder; True when it was created, False when it was there."""
        response = await self.http.request("MKCOL", self.dav_path(path))
        if response.status_code == 201:
            return True
        if response.status_code == 405:
            return False
        raise NextcloudError(f"MKCOL {path}", response.status_code, _message(response))

    async def etags(self, folder: str) -> dict[str, str] | None:
        """The ETag of every entry directly in `folder` by name (None when the folder does not exist)."""
        response = await self.http.request(
            "PROPFIND",
            self.dav_path(folder),
            headers={"Depth": "1", "Content-Type": "application/xml"},
            content=PROPFIND_ETAGS,
        )
        if response.status_code == 404:
            return None
        if response.status_code != 207:
            raise NextcloudError(f"PROPFIND {folder}", response.status_code, _message(response))
        own = unquote(self.dav_path(folder)).rstrip("/")
        out: dict[str, str] = {}
        for entry in ElementTree.fromstring(response.content).findall("d:response", DAV_NS):
            href = unquote(httpx.URL(entry.findtext("d:href", default="", namespaces=DAV_NS)).path).rstrip("/")
            if href == own:
                continue
            out[href.rsplit("/", 1)[-1]] = entry.findtext(".//d:getetag", default="", namespaces=DAV_NS)
        return out

    async def put(self, path: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.http.put(self.dav_path(path), content=content, headers=headers)

    async def get_text(self, path: str) -> str | None:
        response = await self.http.get(self.dav_path(path))
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise NextcloudError(f"GET {path}", response.status_code, _message(response))
        return response.content.decode("utf-8", errors="replace")

    # --- plain JSON apps (Deck) ------------------------------------------------------------------------

    async def json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self.http.request(method, path, json=body)
        if response.status_code not in (200, 201):
            raise NextcloudError(f"{method} {path}", response.status_code, _message(response))
        return response.json()


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict) and "ocs" in data:
        return str(data["ocs"].get("meta", {}).get("message", ""))
    return str(data.get("message", "")) if isinstance(data, dict) else ""
