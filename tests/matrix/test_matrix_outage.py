"""An outage of the homeserver, as an administrator reads it in brug's log: said once, with its real
cause, and once when it is over, with how many posts were waiting. A real Synapse is stopped twice:
frozen (SIGSTOP: requests time out) and shut down (connection refused)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest

from brug.adapters.matrix import MatrixAccount, MatrixChat
from brug.devservers.synapse import LocalSynapse
from brug.ports import Unreachable
from tests.matrix.test_matrix_workspace import library  # noqa: F401 - the same fixture
from tests.matrix.world import Partner, World, partnership_file, room_of

pytestmark = pytest.mark.slow


async def until(check, timeout: float) -> None:  # type: ignore[no-untyped-def]
    """Wait (generously, for a loaded machine) until `check()` holds."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


async def try_post(matrix: MatrixChat, key: str) -> bool:
    matrix.store.enqueue("matrix", key, "storing", "overleg", "agenda", "Agenda")
    try:
        ref = await matrix.post("storing", "overleg", key, "agenda", "Agenda")
    except Unreachable:
        return False
    matrix.store.mark_sent("matrix", key, ref)
    return True


async def test_an_outage_is_said_once_with_its_cause_and_its_end(
    tmp_path: Path, library, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    hs = LocalSynapse(tmp_path / "synapse")
    hs.start()
    try:
        (tmp_path / "partnerschappen").mkdir()
        account = hs.register("brugstoring", "pw")
        world = World(hs, account, tmp_path, library)
        an = Partner(hs, hs.register("an", "pw"))
        partnership_file(tmp_path / "partnerschappen", "storing", "Storing", [("An", an.user_id, True)])
        bot = world.bot()
        matrix = MatrixChat(
            MatrixAccount(hs.base_url, account.user_id, account.device_id, account.access_token),
            bot.rt.store,
            request_timeout=2,
        )
        bot.rt.chats["matrix"] = bot.rt.provisioners["matrix"] = matrix
        _, errors, _ = await bot.apply()
        assert errors == []
        await matrix.sync_once(bot.handle)
        await an.accept_invites()
        caplog.set_level(logging.DEBUG)
        stop = asyncio.Event()
        listening = asyncio.create_task(matrix.listen(bot.handle, stop, timeout_ms=1000))

        assert hs.pid is not None
        os.kill(hs.pid, signal.SIGSTOP)  # frozen: it accepts connections but never answers
        try:
            assert not await try_post(matrix, "storing/a/1")
            assert not await try_post(matrix, "storing/a/2")
        finally:
            os.kill(hs.pid, signal.SIGCONT)
        assert await try_post(matrix, "storing/a/2") and await try_post(matrix, "storing/a/1")

        def sync_failures() -> int:
            return sum("Matrix sync failed" in r.getMessage() for r in caplog.records)

        failed_before = sync_failures()  # (the frozen server made the listener fail already)
        hs.stop()  # gone: connections are refused
        assert not await try_post(matrix, "storing/b/1")
        # the listener keeps trying meanwhile: wait until it has failed twice (its pause doubles), not a fixed 5 s
        await until(lambda: sync_failures() >= failed_before + 2, 60)
        hs.start()
        assert await try_post(matrix, "storing/b/1")
        stop.set()
        await asyncio.wait_for(listening, 60)
        overleg = room_of(bot, "storing", "overleg")
        bodies = [e["content"].get("body") for e in await an.timeline(overleg) if e["sender"] == account.user_id]
        assert bodies.count("Agenda") == 3  # every waiting post went out once
        await an.close()
        await bot.rt.close()
    finally:
        hs.stop()

    said = [r for r in caplog.records if r.levelno >= logging.INFO]
    down = [r.getMessage() for r in said if "is unreachable" in r.getMessage()]
    back = [r.getMessage() for r in said if "reachable again" in r.getMessage()]
    assert len(down) == 2 and len(back) == 2, [r.getMessage() for r in said]
    assert "timed out" in down[0] and "1 post(s) waiting" in down[0]
    assert "refused" in down[1].lower()
    assert "2 post(s) were waiting" in back[0] and "1 post(s) were waiting" in back[1]
    assert not [r for r in caplog.records if "Timed out, sleeping" in r.getMessage()]
    assert all(r.exc_info is None for r in said), "a traceback above debug level for an expected condition"
    assert len([r for r in said if r.name.startswith("brug.adapters.matrix")]) <= 2, [r.getMessage() for r in said]
