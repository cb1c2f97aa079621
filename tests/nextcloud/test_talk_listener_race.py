"""Two instances' Talk pollers on one PostgreSQL: a poller whose lease moved on handles nothing.

The same race as tests/matrix/test_listener_race.py, for Talk, against the Nextcloud test server and
the PostgreSQL the tests start: instance b holds the Talk listener and is in the middle of answering a
command when instance a (its lease ran out while it stalled) reads the same conversation. a must not
answer, nor move the conversation's read marker; b answers once.
"""

from __future__ import annotations

import asyncio

import pytest

from brug.adapters.nextcloud.client import NextcloudAccount, NextcloudClient
from brug.adapters.nextcloud.talk import TalkChat
from brug.app.leases import Coordinator, LeaseLost, listener_name
from brug.store import Store
from tests.listeners import HeldHandlers
from tests.nextcloud.conftest import PASSWORDS, FakeClock, make_client
from tests.nextcloud.test_server_talk import new_room
from tests.nextcloud.test_talk_listener_faults import replies_to, say
from tests.nextcloud_server import NextcloudTestServer
from tests.postgres import PostgresServer
from tests.nextcloud.test_adapter_workspace import NOW

TALK = listener_name("nextcloud")


@pytest.fixture
def nc(nc: NextcloudTestServer, clock: FakeClock) -> NextcloudTestServer:
    clock.now = NOW.timestamp()
    return nc


async def test_a_talk_poller_whose_lease_moved_on_handles_nothing(
    nc: NextcloudTestServer, postgres: PostgresServer
) -> None:
    with make_client(nc, "alice") as alice:
        token = new_room(alice, "Samen race")["token"]
        added = alice.post(
            f"/ocs/v2.php/apps/spreed/api/v4/room/{token}/participants",
            params={"format": "json"},
            json={"newParticipant": "bob", "source": "users"},
        )
        assert added.status_code == 200, added.text
    url = postgres.url()
    stores = {name: Store(url) for name in "ab"}  # two processes: a store (and lease holder) each
    stores["a"].put_resource("race", "nextcloud", "talk", "", token)
    leases = {name: Coordinator(stores[name].engine, ttl=2, renew=0.5, instance_id=name) for name in "ab"}
    clients = {name: NextcloudClient(NextcloudAccount(nc.base_url, "alice", PASSWORDS["alice"])) for name in "ab"}
    talks = {name: TalkChat(clients[name], stores[name]) for name in "ab"}
    for name in "ab":
        leases[name].register()
        stores[name].listener_guard = leases[name].guard_listener
    handlers = HeldHandlers("b")  # b is answering the command when a wakes

    try:
        assert leases["a"].tick([], [TALK]).listeners_gained == [TALK]
        assert await talks["a"].sync_once(handlers.of("a")) == 0  # a reads Talk from here on
        start = stores["a"].sync_token("nextcloud", f"talk:{token}")
        await asyncio.sleep(2.5)  # a stalls past its lease; b is elected
        assert leases["b"].tick([], [TALK]).listeners_gained == [TALK]
        command = say(nc, token, "!actie Verslag rondsturen")
        answering = asyncio.create_task(talks["b"].sync_once(handlers.of("b")))
        await handlers.holder_inside()
        lost = None
        try:  # a wakes and reads the same conversation: the command is b's
            await talks["a"].sync_once(handlers.of("a"))
        except LeaseLost as err:
            lost = err
        assert stores["a"].sync_token("nextcloud", f"talk:{token}") == start  # a moved nothing on
        handlers.release()
        assert await answering == 1
        assert handlers.handled == [("b", command)], "the poller that lost its lease handled the command too"
        assert replies_to(nc, token, command) == ["gezien door b"]
        assert lost is not None  # and says so: brug's listener loop stops on it
        assert stores["b"].sync_token("nextcloud", f"talk:{token}") == command
    finally:
        handlers.release()
        for name in "ab":
            await clients[name].close()
            stores[name].close()
        postgres.disconnect_all()
