"""Behaviour of brug.devservers.synapse.LocalSynapse against a real Synapse process.

The shared servers come from conftest.py; tests that need their own server (stop, failed
start) make one in ``tmp_path``.  User names are unique per test because the servers are
shared by the whole session.  No test asserts on timings.
"""

from __future__ import annotations

import itertools
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    JoinResponse,
    LoginResponse,
    RoomCreateResponse,
    RoomInviteResponse,
    RoomMessagesResponse,
    RoomMessageText,
    RoomSendError,
    RoomSendResponse,
    SyncResponse,
)

from brug.devservers.synapse import (  # noqa: E402
    Account,
    LocalSynapse,
    SynapseAdminError,
    SynapseNotInstalledError,
    SynapseStartError,
)

pytestmark = pytest.mark.slow  # starts real Synapse processes

T = TypeVar("T")
_serial = itertools.count(1)
SYNC_DEADLINE_MS = 10_000


def unique(prefix: str) -> str:
    """A localpart no other test in this session uses."""
    return f"{prefix}{os.getpid()}x{next(_serial)}"


def client_for(server: LocalSynapse, account: Account, *, max_limit_exceeded: int | None = None) -> AsyncClient:
    """A nio client that reuses the login made at registration (no extra login request)."""
    client = AsyncClient(
        server.base_url,
        account.user_id,
        config=AsyncClientConfig(max_limit_exceeded=max_limit_exceeded),
    )
    client.restore_login(account.user_id, account.device_id, account.access_token)
    return client


async def sync_until(client: AsyncClient, found: Callable[[SyncResponse], T | None]) -> T:
    """Sync until ``found`` returns something, or fail after about ten seconds."""
    waited_ms = 0
    while waited_ms < SYNC_DEADLINE_MS:
        response = await client.sync(timeout=1_000)
        assert isinstance(response, SyncResponse), response
        result = found(response)
        if result is not None:
            return result
        waited_ms += 1_000
    raise AssertionError(f"{client.user_id} did not see the expected event within 10 s")


async def create_room(client: AsyncClient, name: str) -> str:
    """Create a private room and return its id."""
    response = await client.room_create(name=name)
    assert isinstance(response, RoomCreateResponse), response
    return str(response.room_id)


async def send_text(client: AsyncClient, room_id: str, body: str) -> RoomSendResponse | RoomSendError:
    """Send one plain text message."""
    return await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})


async def bodies_in(client: AsyncClient, room_id: str) -> list[str]:
    """Text bodies stored in the room, oldest first."""
    response = await client.room_messages(room_id, limit=100)
    assert isinstance(response, RoomMessagesResponse), response
    return [event.body for event in reversed(response.chunk) if isinstance(event, RoomMessageText)]


async def send_until_refused(client: AsyncClient, room_id: str, *, attempts: int) -> bool:
    """Send messages until the server refuses one; True if that happened."""
    for n in range(attempts):
        if isinstance(await send_text(client, room_id, f"voor {n}"), RoomSendError):
            return True
    return False


def port_is_free(port: int) -> bool:
    """True when we can bind the loopback port ourselves."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


# -- users, rooms and messages ------------------------------------------------------------


async def test_two_users_meet_in_a_room(synapse: LocalSynapse) -> None:
    alice_account = synapse.register(unique("alice"), "alice-pw")
    bob_account = synapse.register(unique("bob"), "bob-pw")
    assert alice_account.user_id.endswith(":localhost")
    alice = AsyncClient(synapse.base_url, alice_account.user_id)
    bob = AsyncClient(synapse.base_url, bob_account.user_id)
    try:
        assert isinstance(await alice.login("alice-pw"), LoginResponse)
        assert isinstance(await bob.login("bob-pw"), LoginResponse)

        room_id = await create_room(alice, "Overleg school en CLB")
        assert isinstance(await alice.room_invite(room_id, bob.user_id), RoomInviteResponse)

        await sync_until(bob, lambda sync: room_id if room_id in sync.rooms.invite else None)
        assert isinstance(await bob.join(room_id), JoinResponse)

        sent = await send_text(alice, room_id, "Welkom in onze gedeelde ruimte!")
        assert isinstance(sent, RoomSendResponse), sent

        def welcome(sync: SyncResponse) -> RoomMessageText | None:
            joined = sync.rooms.join.get(room_id)
            events = joined.timeline.events if joined else []
            return next((e for e in events if isinstance(e, RoomMessageText) and e.event_id == sent.event_id), None)

        message = await sync_until(bob, welcome)
        assert message.sender == alice.user_id
        assert message.body == "Welkom in onze gedeelde ruimte!"
    finally:
        await alice.close()
        await bob.close()


def test_registering_the_same_user_twice_is_a_clear_error(synapse: LocalSynapse) -> None:
    localpart = unique("dubbel")
    synapse.register(localpart, "pw")
    with pytest.raises(SynapseAdminError) as caught:
        synapse.register(localpart, "other-pw")
    assert caught.value.errcode == "M_USER_IN_USE"
    assert caught.value.status_code == 400
    assert localpart in str(caught.value)
    assert "already taken" in str(caught.value)


def test_override_ratelimit_needs_an_admin_token(synapse: LocalSynapse) -> None:
    plain = synapse.register(unique("plain"), "pw")
    with pytest.raises(SynapseAdminError) as caught:
        synapse.override_ratelimit(plain.access_token, plain.user_id)
    assert caught.value.errcode == "M_FORBIDDEN"


# -- rate limits ------------------------------------------------------------------------------


async def test_default_limits_refuse_a_quick_burst(synapse_ratelimited: LocalSynapse) -> None:
    """Synapse's default (0.2 msg/s, burst 10) really applies with ratelimits=True."""
    account = synapse_ratelimited.register(unique("haastig"), "pw")
    client = client_for(synapse_ratelimited, account, max_limit_exceeded=0)
    try:
        room_id = await create_room(client, "Snel na elkaar")
        replies = [await send_text(client, room_id, f"bericht {n}") for n in range(11)]
    finally:
        await client.close()
    refused = [r for r in replies if isinstance(r, RoomSendError)]
    assert refused, "a room plus 11 messages should exceed the default limit"
    assert all(r.status_code == "M_LIMIT_EXCEEDED" and r.retry_after_ms for r in refused)


async def test_nio_waits_out_the_limit_and_all_messages_arrive(synapse_ratelimited: LocalSynapse) -> None:
    """15 quick messages hit M_LIMIT_EXCEEDED; nio retries by itself and none are lost.

    Synapse's default (burst 10, then one message per 5 s) would make this take about 30 s,
    so an admin lets this sender's bucket drain at 1 msg/s after a burst of 3 (about 12 s).
    (Faster rates sometimes yield ``retry_after_ms: 0``, which nio reads as "wait 5 s"; and
    with a burst of 10 at 2 msg/s a loaded machine, taking a sixth of a second per send, never
    fills the bucket: here a send may take up to 0.8 s and the limit still bites.)
    """
    admin = synapse_ratelimited.register(unique("beheer"), "pw", admin=True)
    sender = synapse_ratelimited.register(unique("zender"), "pw")
    synapse_ratelimited.override_ratelimit(admin.access_token, sender.user_id, messages_per_second=1, burst_count=3)
    client = client_for(synapse_ratelimited, sender)
    limited: list[ErrorResponse] = []

    async def count_limited(response: ErrorResponse) -> None:
        if response.status_code == "M_LIMIT_EXCEEDED":
            limited.append(response)

    client.add_response_callback(count_limited, ErrorResponse)
    expected = [f"stap {n}" for n in range(1, 16)]
    try:
        room_id = await create_room(client, "Vijftien berichten")
        replies = [await send_text(client, room_id, body) for body in expected]
        assert all(isinstance(r, RoomSendResponse) for r in replies), replies
        assert limited, "the server should have answered M_LIMIT_EXCEEDED at least once"
        assert await bodies_in(client, room_id) == expected
    finally:
        await client.close()


async def test_override_ratelimit_lifts_the_limit(synapse_ratelimited: LocalSynapse) -> None:
    admin = synapse_ratelimited.register(unique("beheer"), "pw", admin=True)
    account = synapse_ratelimited.register(unique("bot"), "pw")
    client = client_for(synapse_ratelimited, account, max_limit_exceeded=0)
    try:
        room_id = await create_room(client, "Zonder rem")
        assert await send_until_refused(client, room_id, attempts=15), "the limit should bite first"

        synapse_ratelimited.override_ratelimit(admin.access_token, account.user_id)
        after = [await send_text(client, room_id, f"na {n}") for n in range(25)]
        assert all(isinstance(r, RoomSendResponse) for r in after), after
    finally:
        await client.close()


# -- lifecycle --------------------------------------------------------------------------------


def test_stop_ends_the_process_and_frees_the_port(tmp_path: Path) -> None:
    with LocalSynapse(tmp_path / "hs") as server:
        assert server.running
        pid, port = server.pid, server.port
        assert pid is not None
        assert not port_is_free(port)
        assert server.log_path.exists()
    assert not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert port_is_free(port)
    server.stop()  # a second stop is harmless
    with pytest.raises(RuntimeError, match="not running"):
        server.register("laat", "pw")


def test_start_on_a_taken_port_raises_with_the_log(tmp_path: Path, synapse: LocalSynapse) -> None:
    """The shared server holds the port and even answers /health: we must not mistake it for ours."""
    intruder = LocalSynapse(tmp_path / "hs", port=synapse.port)
    with pytest.raises(RuntimeError) as caught:
        intruder.start(timeout=30)
    assert isinstance(caught.value, SynapseStartError)
    message = str(caught.value)
    assert f"port {synapse.port} is already in use" in message
    assert "Address already in use" in message  # text from Synapse's own log
    assert not intruder.running
    assert synapse.running


def test_python_without_synapse_gets_an_install_hint(tmp_path: Path) -> None:
    """An interpreter that cannot import Synapse leads to a hint about brug's demo extra."""
    bare_python = tmp_path / "bare-python"
    bare_python.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n', encoding="utf-8")
    bare_python.chmod(0o755)
    server = LocalSynapse(tmp_path / "hs", python=str(bare_python))
    with pytest.raises(SynapseNotInstalledError, match=r"pip install 'brug\[demo\]'"):
        server.start(timeout=30)
    assert not server.running
