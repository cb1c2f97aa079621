"""A partnership that chats in Matrix and keeps its documents in Nextcloud, end to end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path, PurePosixPath

import pytest

from brug.app.bot import add_nextcloud
from brug.app.jobs import post_agenda
from brug.devservers.synapse import LocalSynapse
from brug.settings import NextcloudSettings
from tests.matrix.world import NOW, Partner, World, bot_messages, room_of, unique
from tests.nextcloud_server import NextcloudTestServer

pytestmark = pytest.mark.slow


@pytest.fixture
def nextcloud() -> Iterator[NextcloudTestServer]:
    server = NextcloudTestServer()
    server.start()
    server.add_user("brug", "brug-app-password", "brug", admin=True)
    server.add_user("an", "an-app-password", "An Peeters")
    try:
        yield server
    finally:
        server.stop()


async def test_matrix_chat_with_nextcloud_files(
    synapse: LocalSynapse, nextcloud: NextcloudTestServer, tmp_path: Path, library
) -> None:  # type: ignore[no-untyped-def]
    an = Partner(synapse, synapse.register(unique("an"), "pw"))
    (tmp_path / "partnerschappen").mkdir()
    (tmp_path / "partnerschappen" / "mix.yaml").write_text(
        "id: mix\nname: Chat hier, documenten daar\nworkflow: samenwerken\nphase: ja-graag\n"
        "platforms: {chat: [matrix], files: nextcloud}\n"
        'meetings: {start: "2026-12-01 14:00", rrule: "FREQ=MONTHLY;BYDAY=+1TU"}\n'
        "organisations:\n  - id: a\n    name: Organisatie A\n    kind: cbe\n    members:\n"
        f'      - {{name: An Peeters, role: Coördinator, coordinator: true, matrix: "{an.user_id}", nextcloud: an}}\n',
        encoding="utf-8",
    )
    world = World(synapse, synapse.register(unique("brugmix"), "pw"), tmp_path, library)
    bot = world.bot()
    add_nextcloud(bot.rt, NextcloudSettings(url=nextcloud.base_url, user="brug"), "brug-app-password")
    _, errors, report = await bot.apply()
    assert errors == [] and report.failed_invites == []

    files = bot.rt.file_spaces["nextcloud"]
    agreement = await files.read("mix", PurePosixPath("samenwerkingsakkoord.md"))
    assert agreement is not None and "Organisatie A" in agreement
    assert not (tmp_path / "werkruimte" / "mix" / "samenwerkingsakkoord.md").exists()  # not in the local folder
    assert bot.rt.store.resource("mix", "nextcloud", "share", "team") is not None

    await world.matrix(bot).sync_once(bot.handle)
    await an.accept_invites()
    algemeen = room_of(bot, "mix", "algemeen")
    pinned = [
        e for e in bot_messages(await an.timeline(algemeen), world.bot_account.user_id) if "📌" in e["content"]["body"]
    ]
    assert len(pinned) == 1
    link = f'href="{nextcloud.base_url}/index.php/apps/files/?dir=/brug/mix'
    assert link in pinned[0]["content"]["formatted_body"]  # the overview links to the documents in Nextcloud

    overleg = room_of(bot, "mix", "overleg")
    await an.say(overleg, "!agendapunt Documenten samen nalezen")
    assert await world.matrix(bot).sync_once(bot.handle) == 1
    p = bot.partnerships()["mix"]
    meeting = p.meeting_times(NOW, 1)[0]
    bot.rt.clock = lambda: meeting - timedelta(days=3)  # type: ignore[method-assign]
    await post_agenda(p, meeting, bot.rt)
    agenda = await files.read("mix", PurePosixPath("overleg/2026-12-01 agenda en verslag.md"))
    assert agenda is not None and "Documenten samen nalezen" in agenda
    posted = bot_messages(await an.timeline(overleg), world.bot_account.user_id)
    assert any("Documenten samen nalezen" in e["content"]["body"] and "Overleg" in e["content"]["body"] for e in posted)
    await bot.rt.close()
    await an.close()
