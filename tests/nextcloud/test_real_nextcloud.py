"""The same scenario against a real Nextcloud (30, 31 or 32), when one is given.

Set NEXTCLOUD_URL, NC_AUTH_USER and NC_AUTH_PASS (brug's account and an app password) and
NC_SECOND_USER and NC_SECOND_PASS (a second account, the partner) to run it; without them it is
reported as skipped with that reason (nc-py-api tests itself the same way). It creates a partnership
with a unique id, checks it, and removes everything it made: the Talk conversation, the Team, the
share, the Deck board, the calendar events (and brug's calendar when nothing else is in it) and the
folder. `scenario` also runs against the local test server in every test run
(test_adapter_reality.py), so this file cannot rot unnoticed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

import httpx
import pytest

from brug.adapters.nextcloud.talk import TalkChat
from brug.app.bot import Bot, add_nextcloud
from brug.content.library import load_library
from brug.settings import NextcloudSettings
from brug.store import Store
from tests.runtime import local_runtime

ENV = ("NEXTCLOUD_URL", "NC_AUTH_USER", "NC_AUTH_PASS", "NC_SECOND_USER", "NC_SECOND_PASS")
NOW = datetime.now(UTC)
OCS = {"OCS-APIRequest": "true", "Accept": "application/json"}
JSON = {"format": "json"}
SPREED = "/ocs/v2.php/apps/spreed/api"


@dataclass(frozen=True)
class Target:
    url: str
    user: str
    password: str = field(repr=False)
    second: str
    second_password: str = field(repr=False)

    def client(self, *, partner: bool = False) -> httpx.Client:
        auth = (self.second, self.second_password) if partner else (self.user, self.password)
        return httpx.Client(base_url=self.url, auth=auth, headers=OCS, timeout=60)


REAL = Target(*(os.environ.get(k, "") for k in ENV))


def user_id(http: httpx.Client) -> str:
    return str(http.get("/ocs/v2.php/cloud/user", params=JSON).json()["ocs"]["data"]["id"])


@contextmanager
def project(target: Target, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    pid = f"brug-test-{int(time.time())}"
    (tmp_path / "partnerschappen").mkdir()
    with target.client(partner=True) as partner:
        second_id = user_id(partner)
    with target.client() as http:
        me = user_id(http)
    (tmp_path / "partnerschappen" / "p.yaml").write_text(
        f"id: {pid}\nname: brug test {pid}\nworkflow: samenwerken\nphase: ja-graag\n"
        "platforms: {chat: [nextcloud], files: nextcloud}\n"
        'meetings: {start: "2026-12-01 14:00", rrule: "FREQ=MONTHLY;BYDAY=+1TU"}\n'
        "organisations:\n"
        "  - id: a\n    name: Organisatie A\n    kind: cbe\n    members:\n"
        f'      - {{name: Tester, role: Coördinator, coordinator: true, nextcloud: "{me}"}}\n'
        "  - id: b\n    name: Organisatie B\n    kind: caw\n    members:\n"
        f'      - {{name: Partner, role: Medewerker, nextcloud: "{second_id}"}}\n',
        encoding="utf-8",
    )
    try:
        yield pid, tmp_path
    finally:
        clean_up(target, pid, me, Store.at(tmp_path / "state.db"))


def clean_up(target: Target, pid: str, me: str, store: Store) -> None:
    """Remove what the test made, from what brug remembered (each step on its own)."""
    with target.client() as http:
        talk = store.resource(pid, "nextcloud", "talk", "")
        if talk is not None:
            http.delete(f"{SPREED}/v4/room/{talk.ref}", params=JSON)
        for share in store.resources("nextcloud", "share", pid):
            http.delete(f"/ocs/v2.php/apps/files_sharing/api/v1/shares/{share.ref}", params=JSON)
        team = store.resource(pid, "nextcloud", "team", "")
        if team is not None:
            http.delete(f"/ocs/v2.php/apps/circles/circles/{team.ref}", params=JSON)
        board = store.resource(pid, "nextcloud", "deck-board", "")
        if board is not None:
            http.delete(f"/index.php/apps/deck/api/v1.0/boards/{board.ref}")
        for event in store.resources("nextcloud", "cal-event", pid):
            http.delete(event.ref)
        calendar = store.resource(pid, "nextcloud", "calendar", "")
        if calendar is not None and not calendar_objects(http, calendar.ref):
            http.request("DELETE", calendar.ref)  # brug's calendar, when this test was all that was in it
        http.request("DELETE", f"/remote.php/dav/files/{me}/brug/{pid}")


def calendar_objects(http: httpx.Client, path: str) -> list[str]:
    listing = http.request("PROPFIND", path, headers={"Depth": "1"})
    if listing.status_code != 207:
        return []
    hrefs = [h.text or "" for h in ElementTree.fromstring(listing.content).iter("{DAV:}href")]
    return [h for h in hrefs if h.endswith(".ics")]


def make_bot(target: Target, folder: Path) -> Bot:
    rt = local_runtime(folder, load_library(), lambda: NOW)
    add_nextcloud(rt, NextcloudSettings(url=target.url, user=target.user), target.password)
    bot = Bot(rt, [folder / "partnerschappen"])
    assert bot.load() == []
    return bot


@pytest.mark.skipif(not all(astuple(REAL)), reason=f"set {', '.join(ENV)} to test a real Nextcloud")
async def test_real_workspace_once_412_command_and_poll(tmp_path: Path) -> None:
    await scenario(REAL, tmp_path)


async def scenario(target: Target, tmp_path: Path) -> None:
    """Workspace made once; a second member; a 412; a command answered and read back by long-poll; a poll."""
    with project(target, tmp_path) as (pid, folder):
        await _scenario(target, pid, folder)


async def _scenario(target: Target, pid: str, folder: Path) -> None:
    for _ in range(2):
        bot = make_bot(target, folder)
        _, errors, report = await bot.apply()
        assert errors == [], errors
        await bot.rt.close()
    bot = make_bot(target, folder)
    plans, _, _ = await bot.apply()
    assert plans[0].changes == []
    store = bot.rt.store
    for kind, key in [("team", ""), ("share", "team"), ("talk", ""), ("deck-board", ""), ("calendar", "")]:
        assert store.resource(pid, "nextcloud", kind, key) is not None, kind
    talk = bot.rt.chats["nextcloud"]
    assert isinstance(talk, TalkChat)
    me = await talk.client.identity()
    token = talk.token(pid)

    # the second member is in the Team and in the conversation
    with target.client(partner=True) as partner:
        rooms = partner.get(f"{SPREED}/v4/room", params=JSON).json()["ocs"]["data"]
        assert token in [r["token"] for r in rooms]
        shared = partner.get("/ocs/v2.php/apps/files_sharing/api/v1/shares", params={**JSON, "shared_with_me": "true"})
        assert any(s["path"].rstrip("/").endswith(pid) for s in shared.json()["ocs"]["data"])

    # a document a person edited: the real server answers 412 to a stale If-Match, brug writes beside it
    document = f"/remote.php/dav/files/{me}/brug/{pid}/samenwerkingsakkoord.md"
    with target.client() as http:
        before = http.request("PROPFIND", document, headers={"Depth": "0"})
        stale = ElementTree.fromstring(before.content).findtext(".//{DAV:}getetag")
        assert stale
        assert http.put(document, content=b"Ons akkoord.\n").status_code in (201, 204)
        refused = http.put(document, content=b"brug's version\n", headers={"If-Match": stale})
        assert refused.status_code == 412
    text = (folder / "partnerschappen" / "p.yaml").read_text(encoding="utf-8")
    (folder / "partnerschappen" / "p.yaml").write_text(text + "goal: Een doel.\n", encoding="utf-8")
    bot.load()
    _, errors, report = await bot.apply()
    files = bot.rt.file_spaces["nextcloud"]
    assert await files.read(pid, PurePosixPath("samenwerkingsakkoord.md")) == "Ons akkoord.\n"
    assert "Een doel" in (await files.read(pid, PurePosixPath("samenwerkingsakkoord (nieuwe versie).md")) or "")

    # a command from the second member, and brug's answer read back with a long-poll
    await talk.sync_once(bot.handle)  # brug starts listening here
    with target.client(partner=True) as partner:
        sent = partner.post(f"{SPREED}/v1/chat/{token}", params=JSON, data={"message": "!agendapunt Testpunt"})
        assert sent.status_code == 201
        command = sent.json()["ocs"]["data"]["id"]
        assert await talk.sync_once(bot.handle) == 1
        answer = partner.get(
            f"{SPREED}/v1/chat/{token}",
            params={**JSON, "lookIntoFuture": 1, "lastKnownMessageId": command, "timeout": 30, "limit": 10},
        )
        assert answer.status_code == 200
        replies = [m for m in answer.json()["ocs"]["data"] if (m.get("parent") or {}).get("id") == command]
        assert replies and replies[0]["actorId"] == me

        # a poll brug posts, the partner votes on, and brug reads
        ref = await talk.post_poll(pid, "algemeen", f"{pid}/poll/1", "Hoe gaat het?", [("1", "Goed"), ("2", "Matig")], "Peiling")
        poll_id = ref.removeprefix("poll:")
        voted = partner.post(f"{SPREED}/v1/poll/{token}/{poll_id}", params=JSON, data={"optionIds[]": [0]})
        assert voted.status_code == 200
    assert await talk.post_poll(pid, "algemeen", f"{pid}/poll/1", "Hoe gaat het?", [("1", "Goed"), ("2", "Matig")], "Peiling") == ref
    with target.client() as http:
        poll = http.get(f"{SPREED}/v1/poll/{token}/{poll_id}", params=JSON).json()["ocs"]["data"]
        assert poll["numVoters"] == 1
    await bot.rt.close()
