"""The same scenarios against a real Nextcloud, when one is given.

Set NEXTCLOUD_URL, NC_AUTH_USER and NC_AUTH_PASS (an app password) to run them; without them they
are reported as skipped with that reason (nc-py-api tests itself the same way). They create a
partnership with a unique id, check it, and remove what they made.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import httpx
import pytest

from brug.adapters.nextcloud.talk import TalkChat
from brug.bot import Bot, add_nextcloud
from brug.content.library import load_library
from brug.settings import NextcloudSettings
from tests.runtime import local_runtime

URL, USER, PASSWORD = (os.environ.get(k) for k in ("NEXTCLOUD_URL", "NC_AUTH_USER", "NC_AUTH_PASS"))
pytestmark = pytest.mark.skipif(
    not (URL and USER and PASSWORD), reason="set NEXTCLOUD_URL, NC_AUTH_USER and NC_AUTH_PASS to test a real Nextcloud"
)
NOW = datetime.now(UTC)


@pytest.fixture
def project(tmp_path: Path):  # type: ignore[no-untyped-def]
    pid = f"brug-test-{int(time.time())}"
    (tmp_path / "partnerschappen").mkdir()
    (tmp_path / "partnerschappen" / "p.yaml").write_text(
        f"id: {pid}\nname: brug test {pid}\nworkflow: samenwerken\nphase: ja-graag\n"
        "platforms: {chat: [nextcloud], files: nextcloud}\n"
        'meetings: {start: "2026-12-01 14:00", rrule: "FREQ=MONTHLY;BYDAY=+1TU"}\n'
        "organisations:\n  - id: a\n    name: Organisatie A\n    kind: cbe\n    members:\n"
        f'      - {{name: Tester, role: Coördinator, coordinator: true, nextcloud: "{USER}"}}\n',
        encoding="utf-8",
    )
    yield pid, tmp_path
    with httpx.Client(base_url=URL, auth=(USER, PASSWORD), headers={"OCS-APIRequest": "true"}) as http:
        http.request("DELETE", f"/remote.php/dav/files/{USER}/brug/{pid}")


def make_bot(folder: Path) -> Bot:
    rt = local_runtime(folder, load_library(), lambda: NOW)
    add_nextcloud(rt, NextcloudSettings(url=URL, user=USER), PASSWORD)
    bot = Bot(rt, [folder / "partnerschappen"])
    assert bot.load() == []
    return bot


async def test_real_workspace_once_edit_kept_and_talk_command(project) -> None:  # type: ignore[no-untyped-def]
    pid, folder = project
    for _ in range(2):
        bot = make_bot(folder)
        _, errors, _ = await bot.apply()
        assert errors == []
        await bot.rt.close()
    bot = make_bot(folder)
    plans, _, _ = await bot.apply()
    assert plans[0].changes == []
    files = bot.rt.file_spaces["nextcloud"]
    agreement = PurePosixPath("samenwerkingsakkoord.md")
    with httpx.Client(base_url=URL, auth=(USER, PASSWORD)) as http:  # a person edits the agreement
        http.put(f"/remote.php/dav/files/{USER}/brug/{pid}/samenwerkingsakkoord.md", content=b"Ons akkoord.\n")
    text = (folder / "partnerschappen" / "p.yaml").read_text(encoding="utf-8")
    (folder / "partnerschappen" / "p.yaml").write_text(text + "goal: Een doel.\n", encoding="utf-8")
    bot.load()
    await bot.apply()
    assert await files.read(pid, agreement) == "Ons akkoord.\n"
    assert "Een doel" in (await files.read(pid, PurePosixPath("samenwerkingsakkoord (nieuwe versie).md")) or "")
    talk = bot.rt.chats["nextcloud"]
    assert isinstance(talk, TalkChat)
    await talk.sync_once(bot.handle)
    await bot.rt.close()
