"""brug's Nextcloud adapter against the local protocol-faithful server: Files, Teams, shares, Talk.

Every test runs against Nextcloud 30, 31 and 32 (`versioned_nc`).
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import pytest

from brug.adapters.nextcloud.talk import TalkChat
from brug.app.bot import Bot, add_nextcloud
from brug.app.meetings import agenda_for, render_agenda
from brug.content.library import load_library
from brug.settings import NextcloudSettings
from tests.nextcloud.conftest import PASSWORDS, FakeClock, make_client
from tests.nextcloud_server import NextcloudTestServer
from tests.runtime import local_runtime

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SHARES = "/apps/files_sharing/api/v1/shares"


@pytest.fixture(scope="module")
def library():  # type: ignore[no-untyped-def]
    return load_library()


@pytest.fixture
def nc(versioned_nc: NextcloudTestServer, clock: FakeClock) -> NextcloudTestServer:
    clock.now = NOW.timestamp()  # brug and the server share one clock that moves only when told
    return versioned_nc


def partnership(folder: Path, pid: str, members: list[str], *, chat: str = "nextcloud", name: str = "") -> None:
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
        f"id: {pid}\nname: {name or 'Samen ' + pid}\nworkflow: samenwerken\nphase: ja-graag\n"
        f"platforms: {{chat: [{chat}], files: nextcloud}}\n"
        'meetings: {start: "2026-12-01 14:00", rrule: "FREQ=MONTHLY;BYDAY=+1TU"}\n'
        f"organisations:\n{textwrap.indent(orgs, '  ')}",
        encoding="utf-8",
    )


def make_bot(nc: NextcloudTestServer, tmp_path: Path, library, clock: FakeClock, *, user: str = "alice") -> Bot:  # type: ignore[no-untyped-def]
    async def server_time_sleep(seconds: float) -> None:  # a short wait = the server's clock moving
        clock.advance(seconds)

    rt = local_runtime(tmp_path, library, lambda: datetime.fromtimestamp(clock(), UTC))
    add_nextcloud(
        rt,
        NextcloudSettings(url=nc.base_url, user=user),
        PASSWORDS["alice"],
        sleep=server_time_sleep,
        clock=clock,
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


def done(bot: Bot, pid: str) -> bool:
    store = bot.rt.store
    return all(
        store.resource(pid, "nextcloud", kind, key) is not None
        for kind, key in [("team", ""), ("share", "team"), ("talk", ""), ("deck-board", ""), ("calendar", "")]
    )


@pytest.mark.long  # 35 workspaces on each release: handed out early in a parallel run
async def test_35_partnerships_on_one_account_get_their_workspace_within_the_limits(  # type: ignore[no-untyped-def]
    nc, tmp_path, folder, library, clock
) -> None:
    """20 shares per 10 minutes, 10 new calendars per hour, 30 calendars in all: brug stays inside them."""
    pids = [f"p{i:02d}" for i in range(35)]
    for pid in pids:
        partnership(folder, pid, ["bob", "carol"])
    bot = make_bot(nc, tmp_path, library, clock)
    start, runs = clock(), 0
    while not all(done(bot, pid) for pid in pids):
        runs += 1
        assert runs <= 4, [pid for pid in pids if not done(bot, pid)]
        bot.load()
        _, errors, report = await bot.apply()  # what `brug run` does every 15 minutes
        assert errors == []  # no apply aborted: what must wait is pending, not an error
        waiting = [line for line in report.failed_invites if "share limit" in line]
        assert len(waiting) == max(0, 35 - 20 * runs)  # reported, with the time it will be tried
        clock.advance(15 * 60)
    assert clock() - start <= 30 * 60  # 35 shares at 20 per 10 minutes: done in the second run
    assert nc.count("POST", SHARES, 429) == 0  # brug counted its own shares: no refused attempt
    assert nc.count("POST", SHARES, 200) == 35 == len(nc.state.shares)
    assert nc.count("MKCALENDAR") == 1 and nc.count("MKCALENDAR", status=429) == 0  # one calendar for all
    assert len(nc.state.circles) == 35 and len(nc.state.rooms) == 35 and len(nc.state.boards) == 35
    events = nc.state.calendars[("alice", "brug-overleggen")].objects
    assert {name.rsplit("-", 1)[0] for name in events} == {f"brug-{pid}" for pid in pids}
    await bot.rt.close()


async def test_after_a_refused_share_brug_waits_a_whole_period(nc, tmp_path, folder, library, clock) -> None:  # type: ignore[no-untyped-def]
    """Someone else used the account's 20 shares: one 429, then no attempt until the period is over."""
    nc.make_folder("alice", "elders")
    with make_client(nc, "alice") as alice:
        for _ in range(20):
            shared = alice.post("/ocs/v2.php" + SHARES, params={"format": "json"}, data={"path": "/elders", "shareType": 3})
            assert shared.status_code == 200
    partnership(folder, "later", ["bob"])
    bot = make_bot(nc, tmp_path, library, clock)
    _, errors, report = await bot.apply()
    assert errors == [] and any("share limit" in line for line in report.failed_invites)
    assert nc.count("POST", SHARES, 429) == 1
    assert done(bot, "later") is False and bot.rt.store.resource("later", "nextcloud", "talk", "") is not None
    clock.advance(5 * 60)
    bot.load()
    await bot.apply()
    assert nc.count("POST", SHARES, 429) == 1 and nc.count("POST", SHARES) == 21  # no attempt wasted
    clock.advance(6 * 60)
    bot.load()
    _, errors, _ = await bot.apply()
    assert errors == [] and done(bot, "later") and nc.count("POST", SHARES, 429) == 1
    await bot.rt.close()


async def test_a_full_calendar_account_stops_nothing_else(nc, tmp_path, folder, library, clock) -> None:  # type: ignore[no-untyped-def]
    with make_client(nc, "alice") as alice:  # the account already has its 30 calendars (personal + 29)
        alice.request("PROPFIND", "/remote.php/dav/calendars/alice/", headers={"Depth": "1"})
        for n in range(29):
            assert alice.request("MKCALENDAR", f"/remote.php/dav/calendars/alice/eigen-{n}/").status_code in (201, 429)
            clock.advance(400)  # past the hourly creation limit
    assert len([c for c in nc.state.calendars if c[0] == "alice"]) == 30
    partnership(folder, "vol", ["bob"])
    bot = make_bot(nc, tmp_path, library, clock)
    _, errors, report = await bot.apply()
    assert errors == []
    assert any("calendar" in line and "30 calendars" in line for line in report.failed_invites)
    store = bot.rt.store
    assert store.resource("vol", "nextcloud", "talk", "") and store.resource("vol", "nextcloud", "deck-board", "")
    assert store.resource("vol", "nextcloud", "share", "team") is not None
    attempts = nc.count("MKCALENDAR", "brug-overleggen")
    bot.load()
    await bot.apply()
    assert nc.count("MKCALENDAR", "brug-overleggen") == attempts == 1  # not again within the hour
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
