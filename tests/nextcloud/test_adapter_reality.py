"""brug's Nextcloud adapter where real installations differ from the happy path (30, 31 and 32 each).

E-mail-like user ids, federation off, Teams off, a login name that is not the user id, a deleted
conversation, short locks without files_lock, long names, and how brug listens to Talk.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from pathlib import Path, PurePosixPath

import pytest

from brug.adapters.nextcloud.client import NextcloudAccount
from brug.adapters.nextcloud.talk import TalkChat, fit_description
from brug.app.bot import Bot

from .conftest import PASSWORDS, make_client
from .test_adapter_workspace import NOW, SHARES, done, folder, library, make_bot, nc, partnership  # noqa: F401

ROOMS = "/ocs/v2.php/apps/spreed/api/v4/room"


async def until(condition, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    """Wait for something the listener does in the background: back as soon as it is done, and patient on a
    loaded machine (the test's own assertions then say what did not happen)."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def room_of(nc, bot: Bot, pid: str):  # type: ignore[no-untyped-def]
    return nc.state.rooms[bot.rt.store.resource(pid, "nextcloud", "talk", "").ref]


async def test_the_description_fits_what_the_server_allows(nc, tmp_path, folder, library, clock) -> None:  # type: ignore[no-untyped-def]
    partnership(folder, "lang", ["bob", "carol"], name="Samen " + "lang " * 30)
    bot = make_bot(nc, tmp_path, library, clock)
    _, errors, _ = await bot.apply()
    assert errors == []
    description = room_of(nc, bot, "lang").description
    if nc.version == 30:  # Talk 20: no capability, 500 characters; the short one keeps the overview link
        assert len(description) <= 500 and "overzicht.md" in description
    else:
        assert 500 < len(description) <= 2000 and "!hulp" in description  # the whole overview fits
    await bot.rt.close()


def test_fit_description_keeps_the_link() -> None:
    overview = "📌 **Naam**\n\n**Fase 1/6: Ja graag**\n\n" + "x" * 900 + "\n\n**Documenten:** [Overzicht](https://c.be/o.md)"
    short = fit_description(overview, 500)
    assert len(short) <= 500 and short.endswith("Overzicht: https://c.be/o.md") and short.startswith("📌 **Naam**")
    assert fit_description("kort", 500) == "kort"


async def test_an_email_like_id_is_a_local_account_when_the_server_says_so(nc, tmp_path, folder, library, clock) -> None:  # type: ignore[no-untyped-def]
    nc.add_user("m.jade@school.be", "jade-app-password", "Jade Maes")
    nc.add_federated_server("cloud.example.be")
    partnership(folder, "ldap", ["m.jade@school.be", "dirk@cloud.example.be"])
    bot = make_bot(nc, tmp_path, library, clock)
    _, errors, report = await bot.apply()
    assert errors == []
    team = next(iter(nc.state.circles.values()))
    assert {m.user_id for m in team.members} == {"alice", "m.jade@school.be"}
    room = room_of(nc, bot, "ldap")
    assert {(a.actor_type, a.actor_id) for a in room.attendees} == {("users", "alice"), ("users", "m.jade@school.be")}
    # the federated id gets its own share; in Talk federation is off: reported, nothing else stops
    assert {(s.share_type, s.share_with) for s in nc.state.shares.values()} == {
        (7, team.id),
        (6, "dirk@cloud.example.be"),
    }
    assert [line for line in report.failed_invites if "dirk@cloud.example.be" in line and "federation is off" in line]
    assert nc.count("POST", "/participants", 501) == 1
    bot.load()
    await bot.apply()  # a failed invite is tried again, nothing is doubled
    assert len(nc.state.shares) == 2 and len(nc.state.circles) == 1
    await bot.rt.close()


async def test_without_teams_the_folder_is_shared_with_each_member(nc, tmp_path, folder, library, clock) -> None:  # type: ignore[no-untyped-def]
    nc.disabled_apps.add("circles")
    partnership(folder, "zonder", ["bob", "carol"])
    bot = make_bot(nc, tmp_path, library, clock)
    _, errors, report = await bot.apply()
    assert errors == [] and any("Teams is not available" in line for line in report.failed_invites)
    assert {(s.share_type, s.share_with) for s in nc.state.shares.values()} == {(0, "bob"), (0, "carol")}
    assert done_but_team(bot, "zonder")
    [board] = nc.state.boards.values()  # the Deck board too: with each member
    assert {(a.type, a.participant) for a in board.acl} == {(0, "bob"), (0, "carol")}
    bot.load()
    _, errors, report = await bot.apply()
    assert errors == [] and nc.count("POST", SHARES) == 2  # nobody shared twice
    assert all("Teams is not available" in line for line in report.failed_invites)  # said again, tried again
    await bot.rt.close()


def done_but_team(bot: Bot, pid: str) -> bool:
    store = bot.rt.store
    return all(store.resource(pid, "nextcloud", k, "") is not None for k in ("talk", "deck-board", "calendar"))


async def test_a_login_name_that_is_not_the_user_id(nc, tmp_path, folder, library, clock) -> None:  # type: ignore[no-untyped-def]
    nc.add_user("7f3a-brug", PASSWORDS["alice"], "brug", login="brug")
    partnership(folder, "ldaplogin", ["bob"])
    bot = make_bot(nc, tmp_path, library, clock, user="brug")
    _, errors, _ = await bot.apply()
    assert errors == []
    assert nc.node("7f3a-brug", "brug/ldaplogin/overzicht.md") is not None
    board = next(iter(nc.state.boards.values()))
    assert board.owner == "7f3a-brug"
    talk = bot.rt.chats["nextcloud"]
    assert isinstance(talk, TalkChat)
    await talk.sync_once(bot.handle)
    token = talk.token("ldaplogin")
    await talk.post("ldaplogin", "algemeen", "ldaplogin/test/1", "post", "!status")  # brug's own words
    assert await talk.sync_once(bot.handle) == 0  # recognised as brug's, by its id, not its login
    made = len(nc.requests)
    bot.load()
    _, errors, _ = await bot.apply()  # a second run finds everything under the id, and makes nothing
    assert errors == [] and not [r for r in nc.requests[made:] if r[2] == 201 or r[0] == "POST"]
    assert "password" not in repr(talk.client.account) and PASSWORDS["alice"] not in repr(talk.client.account)
    assert repr(NextcloudAccount("u", "l", "geheim")) == "NextcloudAccount(url='u', user='l')"
    assert token
    await bot.rt.close()


async def test_long_team_names_are_clipped_to_what_teams_stores(nc, tmp_path, folder, library, clock) -> None:  # type: ignore[no-untyped-def]
    partnership(folder, "lang", ["bob"], name="Een heel lange naam " * 10)
    bot = make_bot(nc, tmp_path, library, clock)
    _, errors, _ = await bot.apply()
    assert errors == []
    [team] = nc.state.circles.values()
    assert len(team.name) <= 127 and team.name.endswith("… (brug)")
    await bot.rt.close()


async def test_a_deleted_conversation_is_reported_and_made_again(nc, tmp_path, folder, library, clock) -> None:  # type: ignore[no-untyped-def]
    partnership(folder, "weg", ["bob"])
    bot = make_bot(nc, tmp_path, library, clock)
    await bot.apply()
    talk = bot.rt.chats["nextcloud"]
    old = talk.token("weg")
    with make_client(nc, "alice") as alice:
        assert alice.delete(f"{ROOMS}/{old}", params={"format": "json"}).status_code == 200
    with pytest.raises(Exception, match="was deleted"):
        await talk.post("weg", "algemeen", "weg/post/1", "post", "Hallo")
    posts = nc.count("POST", f"/chat/{old}")
    with pytest.raises(Exception, match="not provisioned"):  # brug stops posting there at once
        await talk.post("weg", "algemeen", "weg/post/2", "post", "Hallo")
    assert nc.count("POST", f"/chat/{old}") == posts
    bot.load()
    _, errors, _ = await bot.apply()
    assert errors == [] and talk.token("weg") != old and len(nc.state.rooms) == 1
    await bot.rt.close()


async def test_a_short_lock_is_waited_out_without_files_lock(nc, tmp_path, folder, library, clock) -> None:  # type: ignore[no-untyped-def]
    nc.reset(version=nc.version, files_lock=False)
    nc.add_user("alice", PASSWORDS["alice"], admin=True)
    nc.add_user("bob", PASSWORDS["bob"])
    partnership(folder, "kort", ["bob"])
    bot = make_bot(nc, tmp_path, library, clock)
    await bot.apply()
    nc.busy("brug/kort/overzicht.md", "alice", times=2)  # Nextcloud's own lock, for a moment
    text = (folder / "kort.yaml").read_text(encoding="utf-8")
    (folder / "kort.yaml").write_text(text + "goal: Een doel.\n", encoding="utf-8")
    bot.load()
    _, errors, report = await bot.apply()
    assert errors == [] and report.siblings == []  # not a person: written after the short wait
    files = bot.rt.file_spaces["nextcloud"]
    assert "Een doel" in (await files.read("kort", PurePosixPath("overzicht.md")) or "")
    await bot.rt.close()


async def test_listening_holds_no_php_worker_per_conversation(nc, tmp_path, folder, library, clock) -> None:  # type: ignore[no-untyped-def]
    for i in range(8):
        partnership(folder, f"l{i}", ["bob"])
    bot = make_bot(nc, tmp_path, library, clock)
    await bot.apply()
    talk = bot.rt.chats["nextcloud"]
    talk.poll_interval = 0.05
    reads = nc.count("GET", "/apps/spreed/api/v1/chat/")
    stop = asyncio.Event()
    listening = asyncio.create_task(talk.listen(bot.handle, stop))
    await asyncio.sleep(0.3)  # brug has seen where every conversation stands
    with make_client(nc, "bob") as bob:
        for i in (2, 6):
            sent = bob.post(
                f"/ocs/v2.php/apps/spreed/api/v1/chat/{talk.token(f'l{i}')}",
                params={"format": "json"},
                json={"message": f"!agendapunt Punt {i}"},
            )
            assert sent.status_code == 201
    await until(lambda: all(bot.rt.store.open_agenda_items(f"l{i}") for i in (2, 6)))
    stop.set()
    await listening
    assert all(bot.rt.store.open_agenda_items(f"l{i}") for i in (2, 6))
    assert nc.most_long_polls == 0  # no request waited on the server
    assert nc.count("GET", "/apps/spreed/api/v1/chat/") - reads <= 4  # only conversations with news are read
    await bot.rt.close()


async def test_the_talk_bot_webhook_is_served_by_brug_run(nc, tmp_path, folder, library, clock) -> None:  # type: ignore[no-untyped-def]
    partnership(folder, "haak", ["bob"])
    bot = make_bot(nc, tmp_path, library, clock)
    await bot.apply()
    talk = bot.rt.chats["nextcloud"]
    secret = secrets.token_hex(24)
    with __import__("socket").socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    talk.webhook = ("127.0.0.1", port, secret)
    talk.poll_interval = 3600  # only the webhook can bring the message in time
    installed = nc.install_bot("brug", secret, f"http://127.0.0.1:{port}/", features=1)
    token = talk.token("haak")
    nc.enable_bot(installed.id, token)
    stop = asyncio.Event()
    listening = asyncio.create_task(talk.listen(bot.handle, stop))
    await asyncio.sleep(0.5)
    with make_client(nc, "bob") as bob:
        bob.post(
            f"/ocs/v2.php/apps/spreed/api/v1/chat/{token}",
            params={"format": "json"},
            json={"message": "!agendapunt Via de bot"},
        )
    await until(lambda: bot.rt.store.open_agenda_items("haak"))
    stop.set()
    await listening
    items = bot.rt.store.open_agenda_items("haak")
    assert [i.text for i in items] == ["Via de bot"]
    replies = [m for m in nc.state.rooms[token].messages if m.actor_id == "alice" and m.parent_id]
    assert len(replies) == 1 and re.search("Genoteerd", replies[0].message)
    await bot.rt.close()



async def test_the_real_server_scenario_against_the_test_server(nc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """test_real_nextcloud.py's scenario, so it stays runnable; it must also leave nothing behind."""
    from .test_real_nextcloud import Target, scenario

    nc.clock = __import__("time").time  # the scenario's long-poll waits in real time
    nc.add_user("partner", "partner-app-password", "Partner")
    await scenario(Target(nc.base_url, "alice", PASSWORDS["alice"], "partner", "partner-app-password"), tmp_path)
    assert (len(nc.state.rooms), len(nc.state.circles), len(nc.state.shares)) == (0, 0, 0)
    assert all(board.deleted_at for board in nc.state.boards.values())
    assert [uri for owner, uri in nc.state.calendars if uri != "personal"] == []
    assert list(nc.state.roots["alice"].children["brug"].children) == []
