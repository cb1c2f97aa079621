"""A Team per partnership, and its workspace folder shared once — to the Team, not to every person.

Nextcloud allows 20 share creations per user per 10 minutes (then HTTP 429), so shares go through
a queue that backs off; a share still refused after the longest wait stays pending and is tried
again at the next reconcile (it is reported, never dropped).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from nc_py_api import AsyncNextcloud
from nc_py_api.teams import MemberType

from brug.adapters.nextcloud.client import NextcloudClient, NextcloudError
from brug.domain.partnership import Partnership
from brug.store import Store

log = logging.getLogger(__name__)

PLATFORM = "nextcloud"
SHARE_TEAM, SHARE_REMOTE, SHARE_EMAIL = 7, 6, 4
PERMISSIONS_ALL = 31  # read, update, create, delete, share


@dataclass
class SharingReport:
    done: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)


def split_member(nextcloud_id: str, server_url: str) -> tuple[str, str]:
    """('user', uid) for someone on this server, ('remote', cloud id) for a federated cloud id."""
    if "@" in nextcloud_id:
        user, host = nextcloud_id.rsplit("@", 1)
        ours = urlsplit(server_url).netloc
        if ("." in host or ":" in host) and host.split("/")[0] != ours:
            return "remote", nextcloud_id
        if host.split("/")[0] == ours:
            return "user", user
    return "user", nextcloud_id


class ShareQueue:
    """Creates shares one by one, waiting when Nextcloud says 429 (20 per user per 10 minutes)."""

    def __init__(self, client: NextcloudClient, *, first_wait: float = 15.0, longest_wait: float = 600.0) -> None:
        self.client = client
        self.first_wait = first_wait
        self.longest_wait = longest_wait
        self.calls = 0

    async def create(self, path: str, share_type: int, share_with: str, permissions: int) -> str:
        wait, waited = self.first_wait, 0.0
        while True:
            self.calls += 1
            response = await self.client.http.post(
                "/ocs/v2.php/apps/files_sharing/api/v1/shares",
                params={"format": "json"},
                data={"path": path, "shareType": share_type, "shareWith": share_with, "permissions": permissions},
            )
            if response.status_code == 200:
                return str(response.json()["ocs"]["data"]["id"])
            if response.status_code != 429:
                raise NextcloudError(f"sharing {path} with {share_with}", response.status_code, response.text[:200])
            if waited >= self.longest_wait:
                raise NextcloudError(f"sharing {path} with {share_with}", 429, "rate-limited; tried again next run")
            log.info("share rate limit reached: waiting %.0f s", wait)
            await self.client.sleep(wait)
            waited += wait
            wait = min(wait * 2, self.longest_wait)


class NextcloudSharing:
    def __init__(self, client: NextcloudClient, nc: AsyncNextcloud, store: Store, queue: ShareQueue) -> None:
        self.client = client
        self.nc = nc
        self.store = store
        self.queue = queue

    def pending(self, p: Partnership) -> list[str]:
        """What reconcile would still do, from brug's store alone."""
        todo = []
        if self.store.resource(p.id, PLATFORM, "team", "") is None:
            todo.append("create team")
        if self.store.resource(p.id, PLATFORM, "share", "team") is None:
            todo.append("share the folder with the team")
        for _, m in p.members:
            if m.nextcloud and self.store.invite_status(p.id, PLATFORM, "team", m.nextcloud) != "invited":
                todo.append(f"add {m.nextcloud}")
        return todo

    async def reconcile(self, p: Partnership, folder: str) -> SharingReport:
        report = SharingReport()
        team = self.store.resource(p.id, PLATFORM, "team", "")
        if team is None:
            circle = await self.nc.teams.create(f"{p.name} (brug)")
            self.store.put_resource(p.id, PLATFORM, "team", "", circle.circle_id)
            team_id = circle.circle_id
            report.done.append(f"team {p.name} created")
        else:
            team_id = team.ref
        for _, m in p.members:
            ident = m.nextcloud
            if not ident or self.store.invite_status(p.id, PLATFORM, "team", ident) == "invited":
                continue
            kind, who = split_member(ident, self.client.account.url)
            try:
                if kind == "user":
                    if who != self.client.account.user:
                        await self.nc.teams.add_member(team_id, who, MemberType.USER)
                else:  # a federated cloud id cannot join a local team: the folder is shared with it directly
                    await self._share_once(p, folder, f"remote:{who}", SHARE_REMOTE, who)
                self.store.record_invite(p.id, PLATFORM, "team", ident, "invited")
                report.done.append(f"{ident} added")
            except Exception as err:  # noqa: BLE001 - one failing member must not stop the others
                self.store.record_invite(p.id, PLATFORM, "team", ident, "failed", str(err))
                report.pending.append(f"{ident}: {err}")
        try:
            await self._share_once(p, folder, "team", SHARE_TEAM, team_id)
        except NextcloudError as err:
            report.pending.append(f"share of {folder}: {err}")
        return report

    async def _share_once(self, p: Partnership, folder: str, key: str, share_type: int, share_with: str) -> None:
        if self.store.resource(p.id, PLATFORM, "share", key) is not None:
            return
        share_id = await self.queue.create(f"/{folder}", share_type, share_with, PERMISSIONS_ALL)
        self.store.put_resource(p.id, PLATFORM, "share", key, share_id)
        log.info("%s: shared /%s with %s", p.id, folder, share_with)
