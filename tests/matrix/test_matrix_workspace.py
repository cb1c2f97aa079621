"""brug in Matrix, against a real Synapse: spaces and rooms, invites, posts, commands, restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nio import RoomGetStateEventResponse

from brug.app.meetings import agenda_for, render_agenda
from brug.content.library import load_library
from brug.devservers.synapse import LocalSynapse
from tests.matrix.world import (
    NOW,
    Partner,
    World,
    bot_messages,
    forgetful_bot,
    listening_bot,
    partnership_file,
    room_of,
    unique,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def library():  # type: ignore[no-untyped-def]
    return load_library()


@pytest.fixture
async def world(synapse: LocalSynapse, tmp_path: Path, library) -> AsyncIterator[World]:  # type: ignore[no-untyped-def]
    (tmp_path / "partnerschappen").mkdir()
    bot = synapse.register(unique("brug"), "pw")
    yield World(synapse, bot, tmp_path, library)


@pytest.fixture
async def partners(synapse: LocalSynapse) -> AsyncIterator[list[Partner]]:
    people = [Partner(synapse, synapse.register(unique(name), "pw")) for name in ("an", "bert", "cas")]
    yield people
    for person in people:
        await person.close()


async def joined_rooms(world: World, bot) -> list[str]:  # type: ignore[no-untyped-def]
    response = await world.matrix(bot).client.joined_rooms()
    return list(response.rooms)


async def test_space_and_rooms_are_created_once_across_three_runs(world: World, partners: list[Partner]) -> None:
    an, bert, _ = partners
    partnership_file(
        world.folder / "partnerschappen", "proef", "Proef", [("An", an.user_id, True), ("Bert", bert.user_id, False)]
    )
    for _ in range(3):  # three runs of brug, each a fresh process on the same store
        bot = world.bot()
        plans, errors, report = await bot.apply()
        assert errors == [] and report.failed_invites == []
        await bot.rt.close()
    bot = world.bot()
    matrix = world.matrix(bot)
    rooms = await joined_rooms(world, bot)
    assert len(rooms) == 4  # a space and algemeen, overleg, reflectie
    space = room_of(bot, "proef", "space")
    hierarchy = await matrix.client.space_get_hierarchy(space)
    children = {r["room_id"] for r in hierarchy.rooms} - {space}
    assert children == {room_of(bot, "proef", key) for key in ("algemeen", "overleg", "reflectie")}
    for room in rooms:  # every room says whose it is
        tag = await matrix.client.room_get_state_event(room, "be.brug.partnership")
        assert isinstance(tag, RoomGetStateEventResponse) and tag.content["partnership"] == "proef"
    algemeen = room_of(bot, "proef", "algemeen")
    topic = await matrix.client.room_get_state_event(algemeen, "m.room.topic")
    assert "fase 2/6" in topic.content["topic"]
    pins = await matrix.client.room_get_state_event(algemeen, "m.room.pinned_events")
    assert len(pins.content["pinned"]) == 1
    power = await matrix.client.room_get_state_event(algemeen, "m.room.power_levels")
    assert power.content["users"].get(an.user_id) == 50 and bert.user_id not in power.content["users"]
    # each partner got one invite (to the space) and joined its rooms from there; the welcome was posted once
    assert len(await an.accept_invites()) == 4 and an.invites == 1
    events = await an.timeline(algemeen)
    assert len([e for e in bot_messages(events, world.bot_account.user_id) if "Welkom" in e["content"]["body"]]) == 1
    # nothing left to do
    assert (await bot.apply())[0][0].changes == []
    await bot.rt.close()

    # brug lost its memory: it finds its rooms again by their tag instead of making new ones
    (world.folder / "state.db").unlink()
    bot = world.bot()
    _, errors, _ = await bot.apply()
    assert errors == [] and sorted(await joined_rooms(world, bot)) == sorted(rooms)
    await bot.rt.close()


async def test_one_unreachable_invite_leaves_no_orphan_and_stops_nobody(world: World, partners: list[Partner]) -> None:
    an, bert, _ = partners
    ghost = "@ghost:unreachable.invalid"
    partnership_file(
        world.folder / "partnerschappen",
        "spook",
        "Spook",
        [("An", an.user_id, True), ("Geest", ghost, False), ("Bert", bert.user_id, False)],
    )
    bot = world.bot()
    _, errors, report = await bot.apply()
    assert errors == []
    assert len(report.failed_invites) == 1 and all(ghost in line for line in report.failed_invites)
    assert len(await joined_rooms(world, bot)) == 4  # no orphan rooms
    assert len(await an.accept_invites()) == 4 and len(await bert.accept_invites()) == 4
    # the next run tries the failed invite again (and reports it), without re-inviting the others
    _, _, report = await bot.apply()
    assert len(report.failed_invites) == 1
    failed = bot.rt.store.failed_invites("spook", "matrix")
    assert {f["attempts"] for f in failed} == {2}
    assert bot.rt.store.invite_status("spook", "matrix", "space", bert.user_id) == "invited"
    await bot.rt.close()


async def test_agendapunt_lands_in_the_next_agenda_and_outsiders_are_refused(
    world: World, partners: list[Partner], synapse: LocalSynapse
) -> None:
    an, bert, outsider = partners
    partnership_file(
        world.folder / "partnerschappen",
        "overleg",
        "Overleg",
        [("An", an.user_id, True), ("Bert", bert.user_id, False)],
    )
    bot = world.bot()
    await bot.apply()
    matrix = world.matrix(bot)
    await matrix.sync_once(bot.handle)  # the first sync only marks where brug starts listening
    await an.accept_invites()
    overleg = room_of(bot, "overleg", "overleg")
    command = await an.say(overleg, "!agendapunt Zomerwerking bespreken")
    # an outsider whom a partner let into the room gets a polite refusal, and changes nothing
    await an.client.room_invite(overleg, outsider.user_id)
    await outsider.accept_invites()
    refused = await outsider.say(overleg, "!agendapunt Ik hoor hier niet")
    assert await matrix.sync_once(bot.handle) == 2

    events = await an.timeline(overleg)
    replies = {
        e["content"]["m.relates_to"]["event_id"]: e["content"]["body"]
        for e in bot_messages(events, world.bot_account.user_id)
        if "m.relates_to" in e["content"]
    }
    assert "Genoteerd" in replies[command] and "Zomerwerking bespreken" in replies[command]
    assert "alleen leden" in replies[refused]
    p = bot.partnerships()["overleg"]
    agenda = render_agenda(
        agenda_for(p, p.meeting_times(NOW, 1)[0], bot.rt.store, bot.rt.library), p, bot.rt.library, bot.rt.renderer, NOW
    )
    assert "Zomerwerking bespreken" in agenda and "Ik hoor hier niet" not in agenda
    # !agenda shows it too, and wrong usage gets the command's help instead of silence
    shown = await an.say(overleg, "!agenda")
    wrong = await an.say(overleg, "!klaar een")
    await matrix.sync_once(bot.handle)
    events = await an.timeline(overleg)
    replies = {
        e["content"]["m.relates_to"]["event_id"]: e["content"]["body"]
        for e in bot_messages(events, world.bot_account.user_id)
        if "m.relates_to" in e["content"]
    }
    assert "Zomerwerking bespreken" in replies[shown]
    assert "!klaar" in replies[wrong] and "<nr>" in replies[wrong]
    await bot.rt.close()


async def test_a_restart_neither_replays_nor_misses_a_command(world: World, partners: list[Partner]) -> None:
    an, _, _ = partners
    bot = await listening_bot(world, "herstart", "Herstart", [("An", an.user_id, True)], an)
    overleg = room_of(bot, "herstart", "overleg")
    await an.say(overleg, "!status")
    assert await world.matrix(bot).sync_once(bot.handle) == 1
    await bot.rt.close()  # brug stops

    await an.say(overleg, "!agendapunt Terwijl brug uit stond")  # typed while brug is down
    for n in range(60):  # and enough chatter that the next sync is 'limited'
        await an.say(overleg, f"gewoon een bericht {n}")

    bot = world.bot()  # brug starts again
    assert await world.matrix(bot).sync_once(bot.handle) == 61  # the command and the chatter, nothing older
    assert [i.text for i in bot.rt.store.open_agenda_items("herstart")] == ["Terwijl brug uit stond"]
    assert await world.matrix(bot).sync_once(bot.handle) == 0
    await bot.rt.close()
    bot = world.bot()
    assert await world.matrix(bot).sync_once(bot.handle) == 0  # a second restart replays nothing
    events = await an.timeline(overleg)
    answers = [e for e in bot_messages(events, world.bot_account.user_id) if "m.relates_to" in e["content"]]
    assert len(answers) == 2  # one for !status, one for !agendapunt
    await bot.rt.close()


async def test_a_post_retried_after_a_crash_appears_once(world: World, partners: list[Partner], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    an, _, _ = partners
    partnership_file(world.folder / "partnerschappen", "crash", "Crash", [("An", an.user_id, True)])
    bot = world.bot()
    calls = {"n": 0}
    real_mark_sent = bot.rt.store.mark_sent

    def crash_after_posting(platform: str, key: str, ref: str) -> None:
        if platform == "matrix":
            calls["n"] += 1
            raise KeyboardInterrupt("brug is killed right after the homeserver accepted the post")
        real_mark_sent(platform, key, ref)

    monkeypatch.setattr(bot.rt.store, "mark_sent", crash_after_posting)
    with pytest.raises(KeyboardInterrupt):
        await bot.apply()
    assert calls["n"] == 1
    assert [row["key"] for row in bot.rt.store.pending("matrix")] == ["crash/welcome"]
    await bot.rt.close()

    bot = world.bot()  # the restarted brug sends the pending post again, with the same transaction id
    _, errors, _ = await bot.apply()
    assert errors == [] and bot.rt.store.pending("matrix") == []
    await an.accept_invites()
    events = await an.timeline(room_of(bot, "crash", "algemeen"))
    welcomes = [e for e in bot_messages(events, world.bot_account.user_id) if "Welkom" in e["content"]["body"]]
    assert len(welcomes) == 1
    await bot.rt.close()


async def test_html_in_a_name_or_a_command_is_shown_as_text(world: World, partners: list[Partner]) -> None:
    an, _, _ = partners
    hostile = "<script>alert(1)</script> & <b>Vet</b>"
    bot = await listening_bot(world, "html", hostile, [("An", an.user_id, True)], an)
    overleg = room_of(bot, "html", "overleg")
    await an.say(overleg, '!agendapunt <img src=x onerror="alert(2)"> **echt**')
    await an.say(overleg, "!agenda")
    await world.matrix(bot).sync_once(bot.handle)
    html = [
        e["content"].get("formatted_body", "")
        for room in ("algemeen", "overleg")
        for e in bot_messages(await an.timeline(room_of(bot, "html", room)), world.bot_account.user_id)
    ]
    assert html and all("<script" not in h and "<img" not in h and "<b>Vet" not in h for h in html)
    assert any("&lt;script&gt;" in h for h in html) and any("&lt;img src=x" in h for h in html)
    assert not any("<strong>echt</strong>" in h for h in html)
    state = await world.matrix(bot).client.room_get_state_event(room_of(bot, "html", "space"), "m.room.name")
    assert state.content["name"] == hostile  # room names are plain text in Matrix: stored exactly as typed
    await bot.rt.close()


@pytest.mark.long  # Synapse's default rate limits: minutes of waiting
async def test_rate_limits_on_three_partnerships_nothing_lost(
    synapse_ratelimited: LocalSynapse, tmp_path: Path, library
) -> None:  # type: ignore[no-untyped-def]
    """Synapse's default limits (room creation 0.016/s, messages 0.2/s, invites): slow, but nothing lost."""
    (tmp_path / "partnerschappen").mkdir()
    world = World(synapse_ratelimited, synapse_ratelimited.register("brugrl", "pw"), tmp_path, library)
    people = [Partner(synapse_ratelimited, synapse_ratelimited.register(f"rl{i}", "pw")) for i in range(3)]
    for i, person in enumerate(people):
        partnership_file(
            tmp_path / "partnerschappen", f"rl-{i}", f"Partnerschap {i}", [(f"P{i}", person.user_id, True)]
        )
    bot = world.bot()
    _, errors, report = await bot.apply()
    assert errors == [] and report.failed_invites == []
    assert world.matrix(bot).pacer.limited_count > 0, "the homeserver never rate-limited brug: this proves nothing"
    for i, person in enumerate(people):
        pid = f"rl-{i}"
        assert all(
            bot.rt.store.resource(pid, "matrix", "room", k) for k in ("space", "algemeen", "overleg", "reflectie")
        )
        assert len(await person.accept_invites()) == 4
        events = await person.timeline(room_of(bot, pid, "algemeen"))
        bodies = [e["content"]["body"] for e in bot_messages(events, world.bot_account.user_id)]
        assert len([b for b in bodies if "Welkom" in b]) == 1 and len([b for b in bodies if "📌" in b]) == 1
        await person.close()
    assert bot.rt.store.pending("matrix") == []
    await bot.rt.close()


async def test_a_post_pending_for_days_is_found_instead_of_sent_again(world: World, partners: list[Partner]) -> None:
    """Synapse forgets transaction ids after about a day; brug then looks for its key in the room."""
    an, _, _ = partners
    bot = await listening_bot(world, "laat", "Laat", [("An", an.user_id, True)], an)
    store = bot.rt.store
    store.enqueue("matrix", "laat/agenda/x", "laat", "overleg", "agenda", "De agenda van maandag")
    first = await world.matrix(bot).post("laat", "overleg", "laat/agenda/x", "agenda", "De agenda van maandag")
    fresh = await forgetful_bot(world, store)
    again = await fresh.post("laat", "overleg", "laat/agenda/x", "agenda", "De agenda van maandag")
    assert again == first
    posts = [
        e
        for e in bot_messages(await an.timeline(room_of(bot, "laat", "overleg")), world.bot_account.user_id)
        if e["content"]["body"] == "De agenda van maandag"
    ]
    assert len(posts) == 1
    await fresh.close()
    await bot.rt.close()
