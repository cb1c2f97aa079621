"""/readyz and /metrics on Nextcloud: a server that answers keeps brug ready; one that refuses
connections makes it not ready (once, whatever the number of adapters on it) and is counted as
`unreachable`; an HTTP error is counted by its status."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from brug import metrics
from brug.adapters.nextcloud.client import NextcloudError
from brug.app.bot import add_nextcloud
from brug.content.library import load_library
from brug.settings import NextcloudSettings
from brug.web.health import unreachable_platforms
from tests.nextcloud.conftest import PASSWORDS
from tests.nextcloud_server import NextcloudTestServer
from tests.runtime import local_runtime
from tests.web_world import free_port


def errors(status: str) -> float:
    return metrics.PLATFORM_ERRORS.labels("nextcloud", status)._value.get()


async def test_an_unreachable_nextcloud_makes_brug_not_ready_and_is_counted(
    nc: NextcloudTestServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    library = load_library()
    now = datetime(2026, 9, 25, tzinfo=UTC)
    up = local_runtime(tmp_path / "up", library, lambda: now)
    add_nextcloud(up, NextcloudSettings(url=nc.base_url, user="alice"), PASSWORDS["alice"])
    down = local_runtime(tmp_path / "down", library, lambda: now)
    add_nextcloud(down, NextcloudSettings(url=f"http://127.0.0.1:{free_port()}", user="alice"), "x")
    talk_up, talk_down = up.chats["nextcloud"], down.chats["nextcloud"]
    try:
        missing = errors("404")
        assert await talk_up.client.get_text("brug/no-such-file.md") is None  # type: ignore[attr-defined]
        assert errors("404") == missing + 1
        assert unreachable_platforms(up) == []

        refused = errors("unreachable")
        caplog.set_level(logging.INFO)
        for _ in range(3):
            with pytest.raises(NextcloudError):
                await talk_down.client.capabilities()  # type: ignore[attr-defined]
        assert errors("unreachable") == refused + 3
        assert unreachable_platforms(down) == ["nextcloud: unreachable (connection refused)"]
        said = [r.getMessage() for r in caplog.records if "is unreachable" in r.getMessage()]
        assert len(said) == 1 and "0 post(s) waiting" in said[0]  # once, with the cause and what waits
    finally:
        await up.close()
        await down.close()
