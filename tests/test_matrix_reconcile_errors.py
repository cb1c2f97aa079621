"""Matrix reconcile on a bad day: a passing homeserver error must never make brug build a second room."""

from __future__ import annotations

from pathlib import Path

import pytest
from nio import RoomGetStateEventError

from brug.adapters.matrix import MatrixAccount, MatrixChat, MatrixError
from brug.store import Store


async def test_a_transient_error_is_an_error_not_a_missing_room(tmp_path: Path) -> None:
    store = Store.at(tmp_path / "s.db")
    chat = MatrixChat(MatrixAccount("http://127.0.0.1:9", "@brug:localhost", "DEV", "token"), store)

    async def bad_gateway(room_id, event_type, state_key=""):  # type: ignore[no-untyped-def]
        return RoomGetStateEventError("Bad gateway", "M_UNKNOWN")

    chat.client.room_get_state_event = bad_gateway  # type: ignore[method-assign]
    with pytest.raises(MatrixError):
        await chat._is_ours("!room:localhost", "p", "algemeen")

    async def gone(room_id, event_type, state_key=""):  # type: ignore[no-untyped-def]
        return RoomGetStateEventError("Not found", "M_NOT_FOUND")

    chat.client.room_get_state_event = gone  # type: ignore[method-assign]
    assert await chat._is_ours("!room:localhost", "p", "algemeen") is False
    await chat.close()


def test_a_recreated_room_forgets_its_invites(tmp_path: Path) -> None:
    store = Store.at(tmp_path / "s.db")
    store.record_invite("p", "matrix", "overleg", "@an:x", "invited")
    store.record_invite("p", "matrix", "algemeen", "@an:x", "invited")
    store.put_resource("p", "matrix", "power", "overleg", "!old:x", "[]")
    store.forget_room_state("p", "matrix", "overleg")
    assert store.invite_status("p", "matrix", "overleg", "@an:x") is None
    assert store.invite_status("p", "matrix", "algemeen", "@an:x") == "invited"
    assert store.resource("p", "matrix", "power", "overleg") is None
