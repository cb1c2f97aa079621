"""The HTTP side of Nextcloud that every part of the adapter shares: auth, OCS envelopes, WebDAV.

nc-py-api's `AsyncNextcloud` covers Teams and Talk conversations; what it does not cover (conditional
WebDAV writes, Talk chat with a stable referenceId and long-polling, Deck, CalDAV, shares with a
rate-limit queue) goes through this client, on the same user and app password.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote
from xml.etree import ElementTree

import httpx

from brug import metrics
from brug.adapters.reachability import Reachability
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


DESCRIPTION_LENGTH_BEFORE_CAPABILITY = 500  # Talk 20 and older: no capability, 500 characters


@dataclass(frozen=True)
class NextcloudAccount:
    url: str
    user: str  # the login name; the user id (for paths and ownership) comes from the server
    password: str = field(repr=False)


class _Http(httpx.AsyncClient):
    """httpx, with an unreachable server reported as a NextcloudError (a platform error) like any refusal;
    every request tells `reachability` whether the server answered (for /readyz and one log line)."""

    reachability: Reachability | None = None

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        try:
            response = await super().send(request, **kwargs)
        except httpx.TransportError as err:
            metrics.platform_error("nextcloud", "unreachable")
            if self.reachability is not None:
                self.reachability.failed(_first_os_error(err))
            raise NextcloudError(f"{request.method} {request.url.path}", 0, f"{type(err).__name__}: {err}") from err
        if self.reachability is not None:
            self.reachability.answered()
        if response.status_code >= 400:
            metrics.platform_error("nextcloud", response.status_code)
        return response


def _first_os_error(err: BaseException) -> BaseException:
    """The OSError with an errno under httpx's and anyio's wrappers ("All connection attempts failed"), so
    the log says "connection refused"; else the error itself."""
    seen: BaseException | None = err
    for _ in range(10):
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.errno:
            return seen
        if isinstance(seen, BaseExceptionGroup) and seen.exceptions:
            seen = seen.exceptions[0]
            continue
        seen = seen.__cause__ or seen.__context__
    return err


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

        # add_nextcloud tells it how many posts wait
        self.reachability = Reachability(f"Nextcloud {account.url}", lambda: 0, platform="nextcloud")
        self.http.reachability = self.reachability
        self.uid: str | None = None  # the user id behind the login, once asked
        self._capabilities: dict[str, Any] | None = None
        self._kinds: dict[str, tuple[str, str]] = {}

    async def close(self) -> None:
        await self.http.aclose()

    # --- who brug is, and what the server can -----------------------------------------------------------

    async def identity(self) -> str:
        """brug's user id. With LDAP or SSO the login name may differ from it; paths use the id."""
        if self.uid is None:
            data = await self.ocs("GET", "cloud/user")
            self.uid = str(data["id"])
        return self.uid

    async def capabilities(self) -> dict[str, Any]:
        if self._capabilities is None:
            data = await self.ocs("GET", "cloud/capabilities")
            self._capabilities = data.get("capabilities") or {}
        return self._capabilities

    async def description_limit(self) -> int:
        """How long a Talk conversation description may be (absent capability: the old 500)."""
        spreed = (await self.capabilities()).get("spreed") or {}
        conversations = (spreed.get("config") or {}).get("conversations") or {}
        return int(conversations.get("description-length") or DESCRIPTION_LENGTH_BEFORE_CAPABILITY)

    async def account_kind(self, ident: str) -> tuple[str, str]:
        """('user', user id) for an account on this server, ('remote', cloud id) for a federated one.

        An id may look like an e-mail address and still be local (LDAP and SSO set ups do that), so
        the server decides: its sharee search knows its own accounts. A plain id is always local.
        """
        if "@" not in ident:
            return "user", ident
        if ident not in self._kinds:
            user, host = ident.rsplit("@", 1)
            if host.split("/")[0] == httpx.URL(self.account.url).netloc.decode():
                self._kinds[ident] = ("user", user)
            else:
                data = await self.ocs(
                    "GET",
                    "apps/files_sharing/api/v1/sharees",
                    params={"search": ident, "itemType": "folder", "lookup": "false", "perPage": 5},
                )
                exact = (data or {}).get("exact") or {}
                local = [
                    u["value"]["shareWith"]
                    for u in exact.get("users") or []
                    if ident.lower()
                    in (str(u["value"]["shareWith"]).lower(), str(u.get("shareWithDisplayNameUnique", "")).lower())
                ]
                self._kinds[ident] = ("user", local[0]) if local else ("remote", ident)
        return self._kinds[ident]

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
        """The WebDAV URL path of a file of brug's (after `identity()` has been asked once)."""
        return f"/remote.php/dav/files/{quote(self.uid or self.account.user)}/{quote(path.strip('/'))}"

    async def mkcol(self, path: str) -> bool:
        """Create a folder; True when it was created, False when it was there."""
        await self.identity()
        response = await self.http.request("MKCOL", self.dav_path(path))
        if response.status_code == 201:
            return True
        if response.status_code == 405:
            return False
        raise NextcloudError(f"MKCOL {path}", response.status_code, _message(response))

    async def etags(self, folder: str) -> dict[str, str] | None:
        """The ETag of every entry directly in `folder` by name (None when the folder does not exist)."""
        await self.identity()
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

    async def put(self, path: str, content: bytes, headers: dict[str, str], *, busy_tries: int = 3) -> httpx.Response:
        """PUT a file. A 423 is tried again a few times first: Nextcloud's own locks last a moment."""
        await self.identity()
        wait = 0.5
        for _ in range(busy_tries):
            response = await self.http.put(self.dav_path(path), content=content, headers=headers)
            if response.status_code != 423:
                return response
            await self.sleep(wait)
            wait *= 2
        return await self.http.put(self.dav_path(path), content=content, headers=headers)

    async def get_text(self, path: str) -> str | None:
        await self.identity()
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
