"""Helpers for driving brug against a real Synapse: a bot built like `brug run`, and partners as
ordinary nio clients that join, type commands and read what brug answered."""

from __future__ import annotations

import itertools
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    JoinResponse,
    LoginResponse,
    MessageDirection,
    RoomMessagesResponse,
    RoomSendResponse,
    SyncResponse,
)
from sqlalchemy import update

from brug.adapters.local import LocalChat, LocalFiles
from brug.adapters.matrix import MatrixAccount, MatrixChat
from brug.app.bot import Bot
from brug.app.service import Runtime, content_digest
from brug.content.library import Library
from brug.devservers.synapse import Account, LocalSynapse
from brug.store import Store
from brug.store.schema import outbox
from tests.runtime import fresh_sqlite, shared_renderer

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
_names = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


def partnership_file(folder: Path, pid: str, name: str, members: list[tuple[str, str, bool]]) -> Path:
    """A partnership with one organisation per member: (display name, Matrix id, coordinator)."""
    orgs = "".join(
        textwrap.dedent(f"""\
          - id: org-{i}
            name: Organisatie {i}
            kind: {"basisschool" if i == 0 else "ocmw"}
            members:
              - name: {display}
                role: Medewerker
                coordinator: {"true" if coordinator else "false"}
                matrix: "{mxid}"
        """)
        for i, (display, mxid, coordinator) in enumerate(members)
    )
    text = (
        f"id: {pid}\nname: {name!r}\nworkflow: samenwerken\nphase: ja-graag\n"
        f"platforms: {{chat: [matrix], files: local}}\n"
        f'meetings: {{start: "2026-12-01 14:00", rrule: "FREQ=MONTHLY;BYDAY=+1TU", agenda_lead_days: 3}}\n'
        f"organisations:\n{textwrap.indent(orgs, '  ')}"
    )
    path = folder / f"{pid}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class World:
    synapse: LocalSynapse
    bot_account: Account
    folder: Path
    library: Library

    def runtime(self) -> Runtime:
        """A fresh runtime (as after a restart) on the same store, device and workspace."""
        store = Store.at(fresh_sqlite(self.folder / "state.db"))  # an existing store is opened as it is
        rt = Runtime(
            library=self.library,
            renderer=shared_renderer(),
            store=store,
            files=LocalFiles(self.folder / "werkruimte"),
            chats={"local": LocalChat(self.folder / "werkruimte", lambda: NOW)},
            clock=lambda: NOW,
            content_digest=content_digest(),
        )
        account = MatrixAccount(
            self.synapse.base_url, self.bot_account.user_id, self.bot_account.device_id, self.bot_account.access_token
        )
        matrix = MatrixChat(account, store)
        rt.chats["matrix"] = matrix
        rt.provisioners["matrix"] = matrix
        return rt

    def bot(self) -> Bot:
        bot = Bot(self.runtime(), [self.folder / "partnerschappen"])
        assert bot.load() == []
        return bot

    def matrix(self, bot: Bot) -> MatrixChat:
        chat = bot.rt.chats["matrix"]
        assert isinstance(chat, MatrixChat)
        return chat


def room_of(bot: Bot, pid: str, key: str) -> str:
    resource = bot.rt.store.resource(pid, "matrix", "room", key)
    assert resource is not None
    return resource.ref


class Partner:
    """A person in the partnership, with their own ordinary Matrix client."""

    def __init__(self, synapse: LocalSynapse, account: Account) -> None:
        self.account = account
        self.client = AsyncClient(synapse.base_url, account.user_id, device_id=account.device_id)
        self.client.restore_login(account.user_id, account.device_id, account.access_token)
        self.token: str | None = None
        self.invites = 0  # invites accepted so far

    @property
    def user_id(self) -> str:
        return self.account.user_id

    async def accept_invites(self) -> list[str]:
        """Accept every invite; in an invited space, join its rooms too, as Element does (they admit
        the space's members: no invite of their own). Returns the rooms joined."""
        response = await self.client.sync(timeout=0, since=self.token)
        assert isinstance(response, SyncResponse), response
        self.token = response.next_batch
        joined = []
        for room_id in response.rooms.invite:
            result = await self.client.join(room_id)
            assert isinstance(result, JoinResponse), result
            self.invites += 1
            joined.append(room_id)
            hierarchy = await self.client.space_get_hierarchy(room_id)
            children = [r["room_id"] for r in getattr(hierarchy, "rooms", []) if r["room_id"] != room_id]
            for child in children:
                result = await self.client.join(child)
                assert isinstance(result, JoinResponse), result
                joined.append(child)
        return joined

    async def say(self, room_id: str, text: str, thread_root: str | None = None) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": text}
        if thread_root:
            content["m.relates_to"] = {"rel_type": "m.thread", "event_id": thread_root}
        response = await self.client.room_send(room_id, "m.room.message", content)
        assert isinstance(response, RoomSendResponse), response
        return response.event_id

    async def timeline(self, room_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """The room's events, oldest first, as raw dicts."""
        response = await self.client.room_messages(room_id, direction=MessageDirection.back, limit=limit)
        assert isinstance(response, RoomMessagesResponse), response
        return [e.source for e in reversed(response.chunk)]

    async def close(self) -> None:
        await self.client.close()


def bot_messages(events: list[dict[str, Any]], bot_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["sender"] == bot_id and e["type"] == "m.room.message"]


async def forgetful_bot(world: World, store: Store) -> MatrixChat:
    """brug died two days ago before marking its posts sent, and comes back on a new device: the
    homeserver no longer remembers its transaction ids (it keeps them about a day)."""
    with store.engine.begin() as conn:
        conn.execute(update(outbox).values(created_at=datetime.now(UTC) - timedelta(days=2)))
    other = AsyncClient(world.synapse.base_url, world.bot_account.user_id)
    login = await other.login("pw")
    assert isinstance(login, LoginResponse), login
    await other.close()
    return MatrixChat(MatrixAccount(world.synapse.base_url, login.user_id, login.device_id, login.access_token), store)


async def listening_bot(
    world: World, pid: str, name: str, members: list[tuple[str, str, bool]], partner: Partner
) -> Bot:
    """A partnership provisioned, brug listening from now on, and `partner` in its rooms."""
    partnership_file(world.folder / "partnerschappen", pid, name, members)
    bot = world.bot()
    await bot.apply()
    await world.matrix(bot).sync_once(bot.handle)  # the first sync only marks where brug starts listening
    await partner.accept_invites()
    return bot
