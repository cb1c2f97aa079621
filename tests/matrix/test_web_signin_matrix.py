"""A coordinator named by Matrix id signs in with a link brug sends them as a direct message, on a
real Synapse: their own client gets the invite and the message, follows the link and sees exactly
their organisation's partnerships. A second sign-in uses the same direct room."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nio import JoinResponse, SyncResponse

from brug.adapters.matrix import MatrixAccount, MatrixChat
from brug.content.library import load_library
from brug.devservers.synapse import LocalSynapse
from brug.app.links import LinkSigner
from brug.settings import CoordinatorSettings
from brug.web.app import create_app, serve, viewers_from
from tests.matrix.world import Partner, unique
from tests.test_web_answer import csrf_of
from tests.test_web_portfolio import SECRET, three_partnerships
from tests.web_world import free_port

pytestmark = pytest.mark.slow
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/login/\S+)")


@pytest.fixture(scope="module")
def library():  # type: ignore[no-untyped-def]
    return load_library()


@pytest.fixture
async def signin_world(synapse: LocalSynapse, tmp_path: Path, library) -> AsyncIterator[tuple[str, Partner, Any, MatrixChat]]:  # type: ignore[no-untyped-def]
    bot = three_partnerships(tmp_path, library)
    rt = bot.rt
    account = synapse.register(unique("brug"), "pw")
    matrix = MatrixChat(MatrixAccount(synapse.base_url, account.user_id, account.device_id, account.access_token), rt.store)
    rt.chats["matrix"] = matrix
    viewer = Partner(synapse, synapse.register(unique("coord"), "pw"))
    port = free_port()
    rt.links = LinkSigner(SECRET, f"http://127.0.0.1:{port}")
    config = {
        "viewers": viewers_from(
            [CoordinatorSettings(organisation="gemeente", name="Gemeente Proef", viewers=[viewer.user_id, "x@example.org"])]
        )
    }
    app = create_app(rt, bot.partnerships, rt.links, viewers=lambda: config["viewers"])
    stop = asyncio.Event()
    server = asyncio.create_task(serve(app, "127.0.0.1", port, stop))
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(timeout=30) as probe:
        for _ in range(300):
            try:
                if (await probe.get(f"{base}/healthz")).status_code == 200:
                    break
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
    try:
        yield base, viewer, config, matrix
    finally:
        stop.set()
        await server
        await viewer.close()
        await matrix.close()
        rt.store.close()


async def sign_in_link(viewer: Partner, sent_before: int, timeout: float = 60) -> tuple[str, str]:
    """Wait (syncing as the viewer's own client would) for brug's next message; its room and link."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        response = await viewer.client.sync(timeout=2000, since=viewer.token)
        assert isinstance(response, SyncResponse), response
        viewer.token = response.next_batch
        for room_id in response.rooms.invite:
            assert isinstance(await viewer.client.join(room_id), JoinResponse)
        for room_id in viewer.client.rooms:
            found = [LINK.search(e["content"].get("body", "")) for e in await viewer.timeline(room_id)]
            links = [m[1] for m in found if m]
            if len(links) > sent_before:
                return room_id, links[-1]
    raise AssertionError("no sign-in message arrived")


async def ask_for_link(web: httpx.AsyncClient, base: str, who: str) -> None:
    form = await web.get(f"{base}/login")
    assert "E-mailadres of Matrix-id" in form.text
    sent = await web.post(f"{base}/login", data={"email": who, "csrf": csrf_of(form.text)})
    assert sent.status_code == 200 and "privébericht" in sent.text


async def test_a_matrix_viewer_gets_the_link_as_a_direct_message_and_sees_their_portfolio(signin_world) -> None:  # type: ignore[no-untyped-def]
    base, viewer, config, matrix = signin_world
    async with httpx.AsyncClient(timeout=30) as web:
        await ask_for_link(web, base, viewer.user_id)
        room_id, link = await sign_in_link(viewer, 0)
        signed_in = await web.get(link)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/portfolio"
        page = await web.get(f"{base}/portfolio")
        assert "2 van 2 samenwerkingen" in page.text and "Netwerk andere stad" not in page.text
        assert (await web.get(f"{base}/portfolio/andere-stad")).status_code == 404

        # the room is a direct one, between brug and the viewer only
        members = await viewer.client.joined_members(room_id)
        assert sorted(m.user_id for m in members.members) == sorted([viewer.user_id, matrix.account.user_id])

        # a second sign-in: a second message in the same direct room (its link is a timed signature of
        # the same identity: asked within the same second it may read exactly like the first)
        await ask_for_link(web, base, viewer.user_id)
        again_room, again = await sign_in_link(viewer, 1)
        assert again_room == room_id
        assert (await web.get(again)).status_code == 303

        # an unknown Matrix id gets the same page and no message
        await ask_for_link(web, base, "@nobody:localhost")

        # taken out of brug.toml: the open session ends, the link in the chat no longer signs in
        config["viewers"] = viewers_from([CoordinatorSettings(organisation="gemeente", viewers=["x@example.org"])])
        assert (await web.get(f"{base}/portfolio")).headers["location"] == "/login"
        assert (await web.get(again)).status_code == 403
