"""The Talk listener's failure isolation, against the Nextcloud test server with injected faults.

One conversation that Talk refuses (404, 403, 500) or one message brug cannot handle stops neither
the other conversations nor the loop, and is logged once; an outage of the whole server says one
"unreachable" line and one "reachable again" line, however many rounds it lasts.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from brug.adapters.nextcloud.talk import TalkChat
from brug.app.conversation import Incoming, Reply
from tests.nextcloud.conftest import FakeClock, make_client
from tests.nextcloud.test_adapter_workspace import NOW, make_bot, partnership
from tests.nextcloud_server import NextcloudTestServer

CHAT = "/ocs/v2.php/apps/spreed/api/v1/chat/"


@pytest.fixture
def nc(nc: NextcloudTestServer, clock: FakeClock) -> NextcloudTestServer:  # Nextcloud 32 is enough here
    clock.now = NOW.timestamp()
    return nc


def say(nc: NextcloudTestServer, token: str, text: str) -> str:
    with make_client(nc, "bob") as bob:
        sent = bob.post(f"{CHAT}{token}", params={"format": "json"}, json={"message": text})
        assert sent.status_code == 201, sent.text
        return str(sent.json()["ocs"]["data"]["id"])


def replies_to(nc: NextcloudTestServer, token: str, message_id: str) -> list[str]:
    with make_client(nc, "bob") as bob:
        messages = bob.get(f"{CHAT}{token}", params={"format": "json", "lookIntoFuture": 0, "limit": 100}).json()
    return [
        m["message"]
        for m in messages["ocs"]["data"]
        if isinstance(m.get("parent"), dict) and str(m["parent"].get("id")) == message_id and m["actorId"] == "alice"
    ]


async def two_partnerships(nc, tmp_path, library, clock):  # type: ignore[no-untyped-def]
    folder = tmp_path / "partnerschappen"
    folder.mkdir(exist_ok=True)
    partnership(folder, "een", ["bob"])
    partnership(folder, "twee", ["bob"])
    bot = make_bot(nc, tmp_path, library, clock)
    await bot.apply()
    talk = bot.rt.chats["nextcloud"]
    assert isinstance(talk, TalkChat)
    assert await talk.sync_once(bot.handle) == 0  # brug starts listening from here
    return bot, talk, talk.token("een"), talk.token("twee")


def said(caplog: pytest.LogCaptureFixture, text: str, level: int = logging.WARNING) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage() and r.levelno >= level]


@pytest.mark.parametrize("status", [404, 403, 500])
async def test_one_refused_conversation_stops_neither_the_others_nor_the_next_round(  # type: ignore[no-untyped-def]
    nc, tmp_path, library, clock, caplog, status
) -> None:
    bot, talk, een, twee = await two_partnerships(nc, tmp_path, library, clock)
    first = say(nc, een, "!agendapunt Vervoer")
    other = say(nc, twee, "!agendapunt Zaal")
    fault = nc.fail("GET", f"{CHAT}{een}", status)  # Talk refuses reading this one conversation
    caplog.set_level(logging.DEBUG, logger="brug")
    for _ in range(3):  # three rounds: the other conversation is answered, the refused one said once
        assert await talk.sync_once(bot.handle) in (1, 0)
    assert replies_to(nc, twee, other) and not replies_to(nc, een, first)
    warned = said(caplog, f"conversation {een} could not be read")
    assert len(warned) == 1 and f"HTTP {status}" in warned[0], warned
    nc.faults.remove(fault)
    assert await talk.sync_once(bot.handle) == 1  # back: the waiting command is answered, once
    assert len(replies_to(nc, een, first)) == 1 and len(said(caplog, f"conversation {een} is read again")) == 1
    assert await talk.sync_once(bot.handle) == 0
    await bot.rt.close()


async def test_a_message_brug_cannot_handle_is_apologised_for_once_and_the_rest_goes_on(  # type: ignore[no-untyped-def]
    nc, tmp_path, library, clock, caplog
) -> None:
    bot, talk, een, twee = await two_partnerships(nc, tmp_path, library, clock)
    broken = say(nc, een, "!agendapunt Dit breekt")
    after = say(nc, een, "!agendapunt Daarna")
    other = say(nc, twee, "!agendapunt Zaal")

    async def handle(incoming: Incoming) -> list[Reply]:  # a bug in brug for this one message
        if "breekt" in incoming.text and incoming.failure is None:
            raise RuntimeError("a bug")
        return await bot.handle(incoming)

    assert await talk.sync_once(handle) == 3
    assert await talk.sync_once(handle) == 0  # nothing twice, nothing stuck
    apology = replies_to(nc, een, broken)
    assert len(apology) == 1 and apology[0]  # said once, in the thread of the message
    assert replies_to(nc, een, after) and replies_to(nc, twee, other)
    assert len(said(caplog, "failed for good", logging.ERROR)) == 1
    await bot.rt.close()


async def test_a_message_of_a_deleted_account_is_refused_without_stopping_the_conversation(  # type: ignore[no-untyped-def]
    nc, tmp_path, library, clock
) -> None:
    bot, talk, een, _ = await two_partnerships(nc, tmp_path, library, clock)
    room = next(r for r in nc.state.rooms.values() if r.token == een)
    say(nc, een, "!agendapunt Eerst")
    odd = room.messages[-1]
    odd.actor_type = odd.actor_id = "deleted_users"  # as Talk shows a message of an account that is gone
    later = say(nc, een, "!agendapunt Later")
    assert await talk.sync_once(bot.handle) == 2
    assert replies_to(nc, een, later)
    await bot.rt.close()


async def test_an_outage_says_unreachable_once_and_back_once_and_the_loop_goes_on(  # type: ignore[no-untyped-def]
    nc, tmp_path, library, clock, caplog
) -> None:
    bot, talk, een, _ = await two_partnerships(nc, tmp_path, library, clock)
    talk.poll_interval = 0.05
    caplog.set_level(logging.DEBUG, logger="brug")
    stop = asyncio.Event()
    listening = asyncio.create_task(talk.listen(bot.handle, stop))
    try:
        await asyncio.sleep(0.3)
        nc.stop()  # the whole server goes away: connections are refused
        try:
            await asyncio.sleep(1.0)  # many rounds
            assert talk.client.reachability.down and not listening.done()
        finally:
            nc.start(same_port=True)
        waiting = say(nc, een, "!agendapunt Na de storing")
        deadline = time.monotonic() + 60
        while not replies_to(nc, een, waiting):
            assert time.monotonic() < deadline and not listening.done()
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(listening, 30)
    assert len(said(caplog, "is unreachable")) == 1
    assert len(said(caplog, "is reachable again")) == 1
    assert not said(caplog, "could not be read")  # an outage is not blamed on a conversation
    await bot.rt.close()
