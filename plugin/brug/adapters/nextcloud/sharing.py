"""A Team per partnership, and its workspace folder shared once — to the Team, not to every person.

Everything brug makes here it first looks for on the server (a Team brug owns with the same name, a
share of the folder with that Team), so a run that stopped between creating and remembering, or a
lost state database, never leaves a second Team or a share that is refused as "already shared".

Nextcloud allows 20 share creations per user per 10 minutes (then HTTP 429). brug counts its own
attempts and does not knock before a slot is free: a share that has to wait is reported as pending
with the time it will be tried, and the run goes on (it never sleeps with the lock held). After a 429
anyway (someone else used the account), brug waits a whole period before it tries again.

When Teams is not available (the app is off, or creating a Team is refused), brug says so and shares
the folder with each member directly instead.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from brug.adapters.nextcloud.client import NextcloudClient, NextcloudError
from brug.domain.partnership import Partnership
from brug.store import Store

log = logging.getLogger(__name__)

PLATFORM = "nextcloud"
SHARE_USER, SHARE_REMOTE, SHARE_EMAIL, SHARE_TEAM = 0, 6, 4, 7
PERMISSIONS_ALL = 31  # read, update, create, delete, share
SHARE_LIMIT, SHARE_PERIOD = 20, 600.0  # createShare: #[UserRateLimit(limit: 20, period: 600)]
TEAM_NAME_MAX = 127  # circles_circle.name is VARCHAR(127); a longer name is refused by the database
CIRCLES = "apps/circles/circles"
MEMBER_USER = 1
LEVEL_OWNER = 9


@dataclass
class SharingReport:
    done: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)


class ShareDeferred(NextcloudError):
    """Nextcloud's share limit: this share waits until `retry_at` (epoch seconds)."""

    def __init__(self, what: str, retry_at: float) -> None:
        when = datetime.fromtimestamp(retry_at, UTC).strftime("%H:%M UTC")
        super().__init__(what, 429, f"Nextcloud's share limit; tried again from {when}")
        self.retry_at = retry_at


def team_name(p: Partnership) -> str:
    """`<name> (brug)`, clipped to what Teams can store (whitespace collapsed, as Teams does)."""
    suffix = " (brug)"
    name = " ".join(p.name.split())
    if len(name) + len(suffix) > TEAM_NAME_MAX:
        name = name[: TEAM_NAME_MAX - len(suffix) - 1].rstrip() + "…"
    return name + suffix


class ShareQueue:
    """Creates shares within Nextcloud's limit, remembering its attempts across runs in the store."""

    def __init__(self, client: NextcloudClient, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.store = store
        self.clock = clock
        self.calls = 0

    def _key(self, what: str) -> str:
        return f"shares:{what}:{self.client.uid or self.client.account.user}"

    def _attempts(self, now: float) -> list[float]:
        raw = self.store.sync_token(PLATFORM, self._key("attempts"))
        return [t for t in (json.loads(raw) if raw else []) if t > now - SHARE_PERIOD]

    def next_slot(self) -> float | None:
        """When the next share may be tried (None: now)."""
        now = self.clock()
        blocked = float(self.store.sync_token(PLATFORM, self._key("blocked-until")) or 0)
        attempts = self._attempts(now)
        free = attempts[-SHARE_LIMIT] + SHARE_PERIOD if len(attempts) >= SHARE_LIMIT else 0.0
        at = max(blocked, free)
        return at if at > now else None

    async def create(self, path: str, share_type: int, share_with: str, permissions: int) -> str:
        what = f"sharing {path} with {share_with}"
        slot = self.next_slot()
        if slot is not None:
            raise ShareDeferred(what, slot)
        now = self.clock()
        self.store.put_sync_token(PLATFORM, self._key("attempts"), json.dumps([*self._attempts(now), now]))
        self.calls += 1
        response = await self.client.http.post(
            "/ocs/v2.php/apps/files_sharing/api/v1/shares",
            params={"format": "json"},
            data={"path": path, "shareType": share_type, "shareWith": share_with, "permissions": permissions},
        )
        if response.status_code == 200:
            return str(response.json()["ocs"]["data"]["id"])
        if response.status_code == 429:  # someone else used up the account's slots: wait a whole period
            retry = now + SHARE_PERIOD
            self.store.put_sync_token(PLATFORM, self._key("blocked-until"), str(retry))
            log.info("share limit reached: shares wait until %s", retry)
            raise ShareDeferred(what, retry)
        raise NextcloudError(what, response.status_code, _meta_message(response.text))


def _meta_message(text: str) -> str:
    try:
        return str(json.loads(text)["ocs"]["meta"]["message"])
    except (ValueError, KeyError, TypeError):
        return text[:200]


class NextcloudSharing:
    def __init__(self, client: NextcloudClient, store: Store, queue: ShareQueue) -> None:
        self.client = client
        self.store = store
        self.queue = queue

    def pending(self, p: Partnership) -> list[str]:
        """What reconcile would still do, from brug's store alone."""
        todo = []
        no_teams = self.store.resource(p.id, PLATFORM, "team", "") is None
        if no_teams and self.store.resource(p.id, PLATFORM, "team-unavailable", "") is None:
            todo.append("create team")
        if not no_teams and self.store.resource(p.id, PLATFORM, "share", "team") is None:
            todo.append("share the folder with the team")
        for _, m in p.members:
            if m.nextcloud and self.store.invite_status(p.id, PLATFORM, "team", m.nextcloud) != "invited":
                todo.append(f"add {m.nextcloud}")
        return todo

    async def reconcile(self, p: Partnership, folder: str) -> SharingReport:
        report = SharingReport()
        me = await self.client.identity()
        team_id = await self._team(p, report)
        for _, m in p.members:
            ident = m.nextcloud
            if not ident or self.store.invite_status(p.id, PLATFORM, "team", ident) == "invited":
                continue
            try:
                kind, who = await self.client.account_kind(ident)
                if kind == "user" and who == me:
                    pass
                elif kind == "user" and team_id is not None:
                    await self._add_to_team(team_id, who)
                elif kind == "user":  # no Team: the folder is shared with the person directly
                    await self._share_once(p, folder, f"user:{who}", SHARE_USER, who)
                else:  # a federated cloud id cannot join a local team: the folder is shared with it directly
                    await self._share_once(p, folder, f"remote:{who}", SHARE_REMOTE, who)
                self.store.record_invite(p.id, PLATFORM, "team", ident, "invited")
                report.done.append(f"{ident} added")
            except ShareDeferred as err:
                report.pending.append(f"{ident}: {err}")
            except NextcloudError as err:  # one failing member must not stop the others
                self.store.record_invite(p.id, PLATFORM, "team", ident, "failed", str(err))
                report.pending.append(f"{ident}: {err}")
        if team_id is not None:
            try:
                await self._share_once(p, folder, "team", SHARE_TEAM, team_id)
            except NextcloudError as err:
                report.pending.append(f"share of {folder}: {err}")
        return report

    async def local_members(self, p: Partnership) -> list[str]:
        """The user ids of the members with an account on this server (brug itself left out)."""
        me = await self.client.identity()
        found: list[str] = []
        for _, m in p.members:
            if m.nextcloud:
                kind, who = await self.client.account_kind(m.nextcloud)
                if kind == "user" and who != me and who not in found:
                    found.append(who)
        return found

    # --- the Team --------------------------------------------------------------------------------------

    async def _team(self, p: Partnership, report: SharingReport) -> str | None:
        known = self.store.resource(p.id, PLATFORM, "team", "")
        if known is not None:
            return known.ref
        name = team_name(p)
        try:
            team_id = await self._find_team(name)
            if team_id is None:
                data = await self.client.ocs("POST", CIRCLES, json={"name": name})
                team_id = str(data["id"])
                report.done.append(f"team {name} created")
                log.info("%s: created team %s", p.id, team_id)
        except NextcloudError as err:  # Teams is off, or refuses: share with the members one by one
            self.store.put_resource(p.id, PLATFORM, "team-unavailable", "", "", str(err))
            report.pending.append(f"Teams is not available ({err}); the folder is shared with each member instead")
            return None
        self.store.put_resource(p.id, PLATFORM, "team", "", team_id)
        return team_id

    async def _find_team(self, name: str) -> str | None:
        """A Team brug owns with this name that no other partnership uses (made by a run that stopped)."""
        me = await self.client.identity()
        taken = {r.ref for r in self.store.resources(PLATFORM, "team")}
        for team in await self.client.ocs("GET", CIRCLES) or []:
            owner = (team.get("owner") or {}).get("userId")
            if team.get("displayName") == name and owner == me and str(team.get("id")) not in taken:
                return str(team["id"])
        return None

    async def _add_to_team(self, team_id: str, user: str) -> None:
        try:
            await self.client.ocs("POST", f"{CIRCLES}/{team_id}/members", json={"userId": user, "type": MEMBER_USER})
        except NextcloudError as err:
            if err.status != 400:
                raise
            members = await self.client.ocs("GET", f"{CIRCLES}/{team_id}/members")
            if not any(m.get("userId") == user and m.get("userType") == MEMBER_USER for m in members or []):
                raise  # a real refusal, not "already a member"

    # --- shares ----------------------------------------------------------------------------------------

    async def _share_once(self, p: Partnership, folder: str, key: str, share_type: int, share_with: str) -> None:
        if self.store.resource(p.id, PLATFORM, "share", key) is not None:
            return
        path = f"/{folder}"
        share_id = await self._existing_share(path, share_type, share_with)
        if share_id is None:
            share_id = await self.queue.create(path, share_type, share_with, PERMISSIONS_ALL)
            log.info("%s: shared %s with %s", p.id, path, share_with)
        self.store.put_resource(p.id, PLATFORM, "share", key, share_id)

    async def _existing_share(self, path: str, share_type: int, share_with: str) -> str | None:
        """The share of `path` with `share_with`, when one is there already (brug forgot it)."""
        try:
            shares = await self.client.ocs("GET", "apps/files_sharing/api/v1/shares", params={"path": path})
        except NextcloudError as err:
            if err.status == 404:
                return None
            raise
        for share in shares or []:
            if int(share.get("share_type", -1)) == share_type and share.get("share_with") == share_with:
                return str(share["id"])
        return None
