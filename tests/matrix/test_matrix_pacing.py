"""Fewer events and pacing that recovers, against a real Synapse (also with its default rate limits)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from nio import AsyncClient, AsyncClientConfig, RoomCreateResponse, RoomGetStateEventResponse

from brug.adapters.matrix import KEY_FIELD, MatrixChat
from brug.app.jobs import post_reflection
from brug.app.scheduler import Scheduler
from brug.app.service import chat_workspaces
from brug.devservers.synapse import LocalSynapse
from tests.matrix.test_matrix_workspace import library, world  # noqa: F401 - the same fixtures
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


def count_events(matrix: MatrixChat) -> Counter[str]:
    """Count the requests brug's client sends that create an event, by kind; 429 answers apart."""
    counts: Counter[str] = Counter()
    send = matrix.client.send

    async def counted(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        plain = path.split("?", 1)[0]
        response = await send(method, path, *args, **kwargs)
        what = next((w for w in ("createRoom", "/send/", "/state/", "/invite", "/join") if w in plain), None)
        if method in ("POST", "PUT") and what:
            counted_as = "refused" if response.status == 429 else "events"
            counts[counted_as] += 1
            counts[f"{what.strip('/')} {counted_as}"] += 1
        return response

    matrix.client.send = counted  # type: ignore[method-assign]
    return counts


async def test_a_member_who_joins_through_the_space_is_recognised_like_an_invited_one(world: World) -> None:
    an = Partner(world.synapse, world.synapse.register(unique("an"), "pw"))
    bot = await listening_bot(world, "ruimte", "Ruimte", [("An", an.user_id, True)], an)
    matrix = world.matrix(bot)
    space = room_of(bot, "ruimte", "space")
    assert an.invites == 1  # one invite, to the space; An joined its rooms from there
    for key in ("algemeen", "overleg", "reflectie"):
        room = room_of(bot, "ruimte", key)
        rule = await matrix.client.room_get_state_event(room, "m.room.join_rules")
        assert isinstance(rule, RoomGetStateEventResponse)
        assert rule.content == {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": space}]}
        alias = await matrix.client.room_get_state_event(room, "m.room.canonical_alias")
        assert alias.content["alias"] == f"#ruimte-{key}:localhost"  # for clients that cannot use v12 room ids
        assert (await an.client.room_resolve_alias(alias.content["alias"])).room_id == room
    # the join is seen: brug counts An as arrived and will never send an invite to that room
    assert await matrix.sync_once(bot.handle) == 0
    assert bot.rt.store.invite_status("ruimte", "matrix", "overleg", an.user_id) == "joined"
    # what An says there counts like an invited member's: commands, and answers to a prompt
    overleg, reflectie = room_of(bot, "ruimte", "overleg"), room_of(bot, "ruimte", "reflectie")
    asked = await an.say(overleg, "!status")
    key = await post_reflection(bot.partnerships()["ruimte"], NOW, bot.rt)
    prompt = bot.rt.store.sent_post_by_key("matrix", key)
    await an.say(reflectie, "We spreken elkaar nu vaker.", thread_root=prompt)
    assert await matrix.sync_once(bot.handle) == 2
    replies = [e for e in bot_messages(await an.timeline(overleg), world.bot_account.user_id) if "m.relates_to" in e["content"]]
    assert [r["content"]["m.relates_to"]["event_id"] for r in replies] == [asked]
    assert [a.text for a in bot.rt.store.answers("ruimte")] == ["We spreken elkaar nu vaker."]
    power = await matrix.client.room_get_state_event(overleg, "m.room.power_levels")
    assert power.content["users"].get(an.user_id) == 50  # a coordinator, whichever way they came in
    # nothing is left to do, and a second apply sends no event at all
    want = chat_workspaces(bot.partnerships()["ruimte"], bot.rt, NOW)["matrix"]
    assert matrix.pending(want) == []
    counts = count_events(matrix)
    _, errors, report = await bot.apply()
    assert errors == [] and report.failed_invites == [] and counts["events"] == 0
    await an.close()
    await bot.rt.close()


async def test_every_event_carries_its_key_and_a_poll_pending_for_days_is_found_not_sent_again(
    world: World,
) -> None:
    an = Partner(world.synapse, world.synapse.register(unique("an"), "pw"))
    bot = await listening_bot(world, "peiling", "Peiling", [("An", an.user_id, True)], an)
    store, room = bot.rt.store, room_of(bot, "peiling", "reflectie")
    store.enqueue("matrix", "peiling/pulse/x", "peiling", "reflectie", "pulse", "Hoe gaat het?")
    answers = [("1", "slecht"), ("2", "goed")]
    first = await world.matrix(bot).post_poll("peiling", "reflectie", "peiling/pulse/x", "Hoe?", answers, "Hoe?")
    await world.matrix(bot).react(room, first, "👍", "peiling/reply/x/0")
    fresh = await forgetful_bot(world, store)
    again = await fresh.post_poll("peiling", "reflectie", "peiling/pulse/x", "Hoe?", answers, "Hoe?")
    assert again == first
    events = [e for e in await an.timeline(room) if e["sender"] == world.bot_account.user_id]
    polls = [e for e in events if e["type"] == "org.matrix.msc3381.poll.start"]
    assert len(polls) == 1
    sent = [e for e in events if e["type"] in ("m.room.message", "m.reaction", "org.matrix.msc3381.poll.start")]
    assert sent and all(KEY_FIELD in e["content"] for e in sent)
    await fresh.close()
    await an.close()
    await bot.rt.close()


class Seen:
    """Records what a long apply reports for its progress bar."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, str]] = []
        self.limited: list[tuple[float, float | None, str]] = []

    def step(self, partnership: str, what: str) -> None:
        self.steps.append((partnership, what))

    def rate_limited(self, platform: str, wait: float, left: float | None, hint: str) -> None:
        self.limited.append((wait, left, hint))


async def spend_invites_of(synapse: LocalSynapse, user: str) -> None:
    """Someone else invites `user` until the homeserver refuses: their invite budget is spent."""
    other = synapse.register(unique("ander"), "pw")
    client = AsyncClient(synapse.base_url, other.user_id, config=AsyncClientConfig(max_limit_exceeded=0))
    client.restore_login(other.user_id, other.device_id, other.access_token)
    room = await client.room_create(name="elders")
    assert isinstance(room, RoomCreateResponse), room
    for _ in range(10):
        answer = await client.room_invite(room.room_id, user)  # a repeated invite still counts
        if getattr(answer, "status_code", None) == "M_LIMIT_EXCEEDED":
            break
    else:
        pytest.fail("the homeserver never refused an invite: its per-invitee limit is off")
    await client.close()


@pytest.mark.long  # Synapse's default rate limits: minutes of waiting
async def test_one_member_in_two_partnerships_on_default_limits(
    synapse_ratelimited: LocalSynapse, tmp_path: Path, library
) -> None:  # type: ignore[no-untyped-def]
    """Synapse's default limits: events 0.2/s after a burst of 10, invites to one person 5 then one per
    ~333 s. Two partnerships cost 2 x (4 rooms + 3 space children + 1 invite + welcome + overview + its
    pin) = 22 events, so the limits allow the apply of both in about (22 - 10) x 5 s = 60 s; brug may
    only wait for its own event rate, never for a refusal about one person."""
    hs = synapse_ratelimited
    folder = tmp_path / "partnerschappen"
    folder.mkdir()
    world = World(hs, hs.register(unique("brugpace"), "pw"), tmp_path, library)
    an = Partner(hs, hs.register(unique("an"), "pw"))
    for pid in ("eerste", "tweede"):
        partnership_file(folder, pid, pid.title(), [("An", an.user_id, True)])
    bot = world.bot()
    matrix = world.matrix(bot)
    counts = count_events(matrix)
    seen = Seen()
    bot.rt.progress.show(seen)
    matrix.progress.show(seen)
    started = time.monotonic()
    _, errors, report = await bot.apply()
    took = time.monotonic() - started
    assert errors == [] and report.failed_invites == []
    assert counts["invite events"] == 2 and counts["events"] <= 22, counts
    allowed = max(0, counts["events"] - 10) * 5.0  # what Synapse's event rate allows, in seconds
    assert matrix.pacer.waited <= allowed * 1.15 + 5, (matrix.pacer.waited, allowed)
    print(f"\napply of both: {took:.1f} s for {counts['events']} events; the limits allow {allowed:.0f} s")
    assert len(await an.accept_invites()) == 8 and an.invites == 2
    # what the progress bar showed: each partnership and step, and why it slowed down, with the way out
    assert {"eerste", "tweede"} <= {pid for pid, _ in seen.steps}
    assert ("eerste", "matrix: invite 1/1 (space)") in seen.steps
    assert seen.limited and all(wait > 0 and "override_ratelimit" in hint for wait, _, hint in seen.limited)
    assert any(left is not None and left >= wait for wait, left, _ in seen.limited)

    # a newcomer whose invite budget others have spent: their invite waits, nothing else does
    cas = hs.register(unique("cas"), "pw")
    await spend_invites_of(hs, cas.user_id)
    partnership_file(folder, "eerste", "Eerste", [("An", an.user_id, True), ("Cas", cas.user_id, False)])
    assert bot.load() == []
    _, errors, report = await bot.apply()
    assert errors == [] and len(report.failed_invites) == 1 and "no more invites" in report.failed_invites[0]
    assert bot.rt.store.invite_status("eerste", "matrix", "space", cas.user_id) == "failed"
    assert matrix.pacer.interval("event") <= 5.5  # brug's own pace learned nothing from it

    # the agenda due now goes out at once, at brug's own pace
    p = bot.partnerships()["eerste"]
    meeting = p.meeting_times(NOW, 1)[0]
    due = meeting - timedelta(days=3)
    bot.rt.clock = lambda: due + timedelta(minutes=1)
    bot.rt.store.set_schedule_mark("eerste", "agenda", due - timedelta(minutes=1))
    bot.rt.store.set_schedule_mark("tweede", "agenda", due + timedelta(minutes=1))
    scheduler: Scheduler = bot.scheduler()
    waited = matrix.pacer.waited
    tick = await scheduler.tick()
    assert len(tick.done) == 1 and tick.late == [] and tick.failed == []
    assert matrix.pacer.waited - waited <= 5.5  # one token of the event rate at most, not a 333 s back-off
    assert bot.rt.store.pending("matrix") == []
    await bot.rt.close()

    # after a restart brug still knows: it asks nothing for Cas before the homeserver allows it
    bot = world.bot()
    counts = count_events(world.matrix(bot))
    _, errors, report = await bot.apply()
    assert errors == [] and len(report.failed_invites) == 1 and counts["invite events"] + counts["invite refused"] == 0
    await an.close()
    await bot.rt.close()
