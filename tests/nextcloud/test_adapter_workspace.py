"""brug's Nextcloud adapter against the local protocol-faithful server: Files, Teams, shares, Talk."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import pytest

from brug.adapters.nextcloud.talk import TalkChat
from brug.bot import Bot, add_nextcloud
from brug.content.library import load_library
from brug.meetings import agenda_for, render_agenda
from brug.settings import NextcloudSettings
from tests.nextcloud.conftest import PASSWORDS, FakeClock, make_client
from tests.nextcloud_server import NextcloudTestServer
from tests.runtime import local_runtime

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def library():  # type: ignore[no-untyped-def]
    return load_library()


def partnership(folder: Path, pid: str, members: list[str], *, chat: str = "nextcloud") -> None:
    orgs = "".join(
        textwrap.dedent(f"""\
          - id: org-{i}
            name: Organisatie {i}
            kind: {"basisschool" if i == 0 else "caw"}
            members:
              - {{name: Lid {user}, role: Lid, coordinator: {"true" if i == 0 else "false"}, nextcloud: "{user}"}}
        """)
        for i, user in enumerate(members)
    )
    (folder / f"{pid}.yaml").write_text(
        f"id: {pid}\nname: Samen {pid}\nworkflow: samenwerken\nphase: ja-graag\n"
        f"platforms: {{chat: [{chat}], files: nextcloud}}\n"
        'meetings: {start: "2026-12-01 14:00", rrule: "FREQ=MONTHLY;BYDAY=+1TU"}\n'
        f"organisations:\n{textwrap.indent(orgs, '  ')}",
        encoding="utf-8",
    )


def make_bot(nc: NextcloudTestServer, tmp_path: Path, library, clock: FakeClock) -> Bot:  # type: ignore[no-untyped-def]
    async def server_time_sleep(seconds: float) -> None:  # waiting for the share limit = the server's clock moving
        clock.advance(seconds)

    rt = local_runtime(tmp_path, library, lambda: NOW)
    add_nextcloud(
        rt,
        NextcloudSettings(url=nc.base_url, user="alice"),
        PASSWORDS["alice"],
        sleep=server_time_sleep,
    )
    bot = Bot(rt, [tmp_path / "partnerschappen"])
    assert bot.load() == []
    return bot


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "partnerschappen").mkdir()
    return tmp_path / "partnerschappen"


async def test_workspace_is_created_once_across_three_runs(nc, tmp_path, folder, library, clock) -> None:  # type: ignore[no-untyped-def]
    partnership(folder, "een", ["bob", "carol"])
    for _ in range(3):
        bot = make_bot(nc, tmp_path, library, clock)
        _, errors, report = await bot.apply()
        assert errors == [] and report.failed_invites == []
        await bot.rt.close()
    assert len(nc.state.circles) == 1 and len(nc.state.rooms) == 1
    assert nc.count("POST", "/apps/files_sharing/api/v1/shares") == 1 and len(nc.state.shares) == 1
    assert len(nc.state.boards) == 1 and len(nc.state.calendars) >= 1
    created = nc.count("PUT", "/remote.php/dav/files/alice/brug/een/", 201)
    assert created >= 5 and nc.count("PUT", "/remote.php/dav/files/alice/brug/een/", 204) == 0
    with make_client(nc, "bob") as bob:  # bob sees the shared folder's documents through the team
        rooms = bob.get("/ocs/v2.php/apps/spreed/api/v4/room", params={"format": "json"}).json()["ocs"]["data"]
        assert [r["displayName"] for r in rooms] == ["Samen een"]


async def test_one_share_per_partnership_however_many_members(nc, tmp_path, folder, library, clock) -> None:  # type: ignore[no-untyped-def]
    users = [f"lid{i}" for i in range(12)]
    for user in users:
        nc.add_user(user, f"{user}-app-password")
    partnership(folder, "groot", users)
    bot = make_bot(nc, tmp_path, library, clock)
    _, errors, _ = await bot.apply()
    assert errors == []
    assert nc.count("POST", "/apps/files_sharing/api/v1/shares") == 1
    members = bot.rt.store.resource("groot", "nextcloud", "team", "")
    assert members is not None
    await bot.rt.close()


async def test_a_429_burst_is_absorbed_and_nothing_is_lost(nc, tmp_path, folder, library, clock) -> None:  # type: ignore[no-untyped-def]
    for i in range(25):  # 25 partnerships, 25 shares: more than 20 per 10 minutes
        partnership(folder, f"p{i:02d}", ["bob"])
    bot = make_bot(nc, tmp_path, library, clock)
    _, errors, report = await bot.apply()
    assert errors == [] and not [line for line in report.failed_invites if "share" in line]
    assert nc.count("POST", "/apps/files_sharing/api/v1/shares", 429) >= 1  # the limit was really hit
    assert nc.count("POST", "/apps/files_sharing/api/v1/shares", 200) == 25
    for i in range(25):
        assert bot.rt.store.resource(f"p{i:02d}", "nextcloud", "share", "team") is not None
    await bot.rt.close()


async def test_a_document_a_person_edited_is_never_overwritten(nc, tmp_path, folder, library, clock) -> None:  # type: ignore[no-untyped-def]
    partnership(folder, "tekst", ["bob"])
    bot = make_bot(nc, tmp_path, library, clock)
    await bot.apply()
    nc.edit_as_person("alice", "brug/tekst/samenwerkingsakkoord.md", "Ons eigen akkoord, samen geschreven.\n")
    data = (folder / "tekst.yaml").read_text(encoding="utf-8")
    (folder / "tekst.yaml").write_text(
        data + "goal: Tegen juni 2027 een eerste gezamenlijke actie.\n", encoding="utf-8"
    )
    bot.load()
    _, errors, report = await bot.apply()
    assert errors == []
    files = bot.rt.file_spaces["nextcloud"]
    assert (
        await files.read("tekst", PurePosixPath("samenwerkingsakkoord.md")) == "Ons eigen akkoord, samen geschreven.\n"
    )
    sibling = await files.read("tekst", PurePosixPath("samenwerkingsakkoord (nieuwe versie).md"))
    assert sibling is not None and "Tegen juni 2027" in sibling
    assert any("samenwerkingsakkoord (nieuwe versie).md" in s for s in report.siblings)
    # a document someone has open (locked: 423) is not written either; its new version goes beside it
    nc.lock("brug/tekst/overzicht.md", "alice")
    (folder / "tekst.yaml").write_text(data + "goal: Een ander doel.\n", encoding="utf-8")
    bot.load()
    _, errors, report = await bot.apply()
    assert errors == [] and any("overzicht (nieuwe versie).md" in s for s in report.siblings)
    await bot.rt.close()


async def test_agendapunt_typed_in_talk_lands_in_the_next_agenda(nc, tmp_path, folder, library, clock) -> None:  # type: ignore[no-untyped-def]
    partnership(folder, "praat", ["bob"])
    bot = make_bot(nc, tmp_path, library, clock)
    await bot.apply()
    talk = bot.rt.chats["nextcloud"]
    assert isinstance(talk, TalkChat)
    await talk.sync_once(bot.handle)  # brug starts listening from here
    token = talk.token("praat")
    with make_client(nc, "bob") as bob:
        sent = bob.post(
            f"/ocs/v2.php/apps/spreed/api/v1/chat/{token}",
            params={"format": "json"},
            json={"message": "!agendapunt Vervoer naar de ouderavond"},
        )
        assert sent.status_code == 201
        command_id = sent.json()["ocs"]["data"]["id"]
    with make_client(nc, "alice") as alice:  # someone lets carol into the conversation; she is not in the file
        alice.post(
            f"/ocs/v2.php/apps/spreed/api/v4/room/{token}/participants",
            params={"format": "json"},
            json={"newParticipant": "carol", "source": "users"},
        )
    with make_client(nc, "carol") as carol:
        carol_msg = carol.post(
            f"/ocs/v2.php/apps/spreed/api/v1/chat/{token}",
            params={"format": "json"},
            json={"message": "!agendapunt Ik hoor hier niet"},
        )
        carol_id = carol_msg.json()["ocs"]["data"]["id"]
    assert await talk.sync_once(bot.handle) == 2
    assert await talk.sync_once(bot.handle) == 0  # nothing twice
    p = bot.partnerships()["praat"]
    agenda = render_agenda(
        agenda_for(p, p.meeting_times(NOW, 1)[0], bot.rt.store, bot.rt.library), p, bot.rt.library, bot.rt.renderer, NOW
    )
    assert "Vervoer naar de ouderavond" in agenda and "Ik hoor hier niet" not in agenda
    with make_client(nc, "bob") as bob:
        messages = bob.get(
            f"/ocs/v2.php/apps/spreed/api/v1/chat/{token}", params={"format": "json", "lookIntoFuture": 0, "limit": 50}
        ).json()["ocs"]["data"]
    replies = {m["parent"]["id"]: m["message"] for m in messages if m.get("parent") and m["actorId"] == "alice"}
    assert "Genoteerd" in replies[command_id]
    assert "alleen leden" in replies[carol_id]


async def test_a_pulse_poll_retried_after_a_crash_appears_once(nc, tmp_path, folder, library, clock) -> None:  # type: ignore[no-untyped-def]
    partnership(folder, "peiling", ["bob"])
    bot = make_bot(nc, tmp_path, library, clock)
    await bot.apply()
    talk = bot.rt.chats["nextcloud"]
    answers = [(str(n), str(n)) for n in range(1, 6)]
    first = await talk.post_poll("peiling", "reflectie", "peiling/pulse/1", "Hoe gaat het?", answers, "Peiling")
    await bot.rt.close()
    again = make_bot(nc, tmp_path, library, clock)  # a restarted brug: no memory of what it posted
    second = await again.rt.chats["nextcloud"].post_poll(
        "peiling", "reflectie", "peiling/pulse/1", "Hoe gaat het?", answers, "Peiling"
    )
    assert first == second
    room = next(r for r in nc.state.rooms.values() if r.name == "Samen peiling")
    assert len(room.polls) == 1
    captions = [m for m in room.messages if m.message == "Peiling"]
    assert len(captions) == 1
    await again.rt.close()


async def test_an_unreachable_nextcloud_is_a_clear_error_not_a_crash(tmp_path, folder, library) -> None:  # type: ignore[no-untyped-def]
    partnership(folder, "weg", ["bob"])
    rt = local_runtime(tmp_path, library, lambda: NOW)
    add_nextcloud(rt, NextcloudSettings(url="http://127.0.0.1:9", user="alice"), "pw")
    bot = Bot(rt, [folder])
    assert bot.load() == []
    _, errors, _ = await bot.apply()
    assert len(errors) == 1 and errors[0].startswith("weg: ") and "ConnectError" in errors[0]
    await bot.rt.close()
